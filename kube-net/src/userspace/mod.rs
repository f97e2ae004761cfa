//! The userspace data plane: tokio TCP and UDP forwarding on the services' real addresses.
//!
//! For every service port with ready endpoints, [`UserspaceProxy`] listens on each
//! ClusterIP, external IP and load-balancer IP at the service port, and on the node port
//! of the configured node addresses. A new TCP connection goes to the next endpoint in
//! round robin (or, with ClientIP affinity, to the client's endpoint while it is used
//! within the timeout); an endpoint that refuses or times out is skipped for the next one.
//! A sync replaces the endpoints at once for new connections, while open connections to a
//! removed endpoint drain on their own. A service port without endpoints has no listener,
//! so its clients are refused at once.
//!
//! # Serving ClusterIPs
//!
//! No interface carries the ClusterIPs, so they cannot be bound as they are. The proxy makes
//! the whole service range local with `ip route replace local <service-cidr> dev lo table
//! local` ([`LocalRoutes`]) and removes the route on [`shutdown`](UserspaceProxy::shutdown).
//! That needs CAP_NET_ADMIN: without it [`NetworkProxy::sync`] serves what it can (node
//! ports, addresses that are already local) and answers [`ProxyError::Unsupported`] naming
//! the ClusterIPs it cannot serve and why.
//!
//! The route is added, and every socket bound, in the network namespace of the thread that
//! calls `sync`: run the proxy on a runtime whose threads live in a namespace to keep
//! everything inside it.

mod balancer;
mod relay;
mod route;
mod service;
mod tcp;
mod udp;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube_core::network::{ProxyError, ServiceEntry, ServicePortName, TransportProtocol};
use kube_core::{NetworkProxy, ServiceTable};
use tokio::task::JoinHandle;
use tracing::{Instrument as _, debug, info, info_span, warn};

pub use route::{FakeLocalRoutes, IpRoute, LocalRoutes};
pub use service::ServiceStats;

use self::balancer::Balancer;
use self::service::ServiceState;
use crate::cidr::Cidr;

/// Settings of a [`UserspaceProxy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserspaceConfig {
    /// The ranges ClusterIPs come from, made local when the proxy starts so it can bind
    /// them (`10.96.0.0/12` by default, the API server's range). Empty: leave the routes
    /// alone (ClusterIPs must then be local already).
    pub service_cidrs: Vec<Cidr>,
    /// The addresses node ports listen on (`0.0.0.0`, every address, by default).
    pub node_port_addresses: Vec<IpAddr>,
    /// How long to wait for an endpoint to accept before trying the next.
    pub connect_timeout: Duration,
    /// How long a UDP session lives without traffic.
    pub udp_idle_timeout: Duration,
    /// How many bytes each direction of a relayed TCP connection holds between its two
    /// sockets: the size of its pipe on Linux (bytes move by `splice`, never copied by the
    /// proxy; the kernel may grant less, `fs.pipe-max-size`), of its buffer elsewhere.
    /// 256 KiB by default: large enough that a system call moves many segments, small
    /// enough that the bytes in flight stay in the CPU caches (see `socket_buffer`).
    pub buffer_size: usize,
    /// The send and receive buffer size (`SO_SNDBUF`, `SO_RCVBUF`) of both sockets of
    /// every relayed TCP connection: the accepted one (set on the listener, which accepted
    /// sockets inherit) and the one to the endpoint (set before connecting). `None` leaves
    /// them to the kernel's autotuning.
    ///
    /// 256 KiB by default (Linux doubles it for its bookkeeping). With autotuning, a bulk
    /// transfer through the proxy queues megabytes in the two connections' buffers, more
    /// than the CPU caches hold, and the end points' copies of every byte then miss the
    /// cache: with client and endpoint on the proxy's host (measured on loopback) that
    /// halved the proxy's throughput (`docs/benchmarks/proxy.md`). The price of a fixed
    /// buffer is a window limit on long paths: a connection has at most about twice this
    /// size unacknowledged (roughly 512 KiB per millisecond of round trip with the
    /// default), so raise it, or choose `None`, where endpoints are far away.
    pub socket_buffer: Option<usize>,
    /// The accept backlog of each TCP listener.
    pub backlog: u32,
}

impl Default for UserspaceConfig {
    fn default() -> Self {
        Self {
            service_cidrs: Cidr::new(IpAddr::V4(Ipv4Addr::new(10, 96, 0, 0)), 12)
                .into_iter()
                .collect(),
            node_port_addresses: vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
            connect_timeout: Duration::from_secs(2),
            udp_idle_timeout: Duration::from_secs(30),
            buffer_size: 256 * 1024,
            socket_buffer: Some(256 * 1024),
            backlog: 1024,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ListenKey {
    protocol: TransportProtocol,
    addr: SocketAddr,
}

#[derive(Debug)]
struct Listener {
    service: ServicePortName,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct State {
    services: HashMap<ServicePortName, Arc<ServiceState>>,
    listeners: HashMap<ListenKey, Listener>,
    /// Service ranges made local, and the error of the last attempt for those that are not.
    routes: BTreeMap<Cidr, Option<String>>,
    shut_down: bool,
}

struct Inner {
    config: UserspaceConfig,
    routes: Arc<dyn LocalRoutes>,
    state: tokio::sync::Mutex<State>,
}

/// The userspace data plane; see the [module docs](self). Cheap to clone: clones share
/// one proxy.
#[derive(Clone)]
pub struct UserspaceProxy {
    inner: Arc<Inner>,
}

impl fmt::Debug for UserspaceProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserspaceProxy")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What one sync could not do.
#[derive(Default)]
struct Problems {
    /// What cannot be served, and why.
    unsupported: Vec<(String, String)>,
    bind: Option<(String, io::Error)>,
}

impl UserspaceProxy {
    /// A proxy that makes the service ranges local with iproute2.
    pub fn new(config: UserspaceConfig) -> Self {
        Self::with_routes(config, IpRoute::default())
    }

    /// A proxy with another way of making the service ranges local (or a test double).
    pub fn with_routes(config: UserspaceConfig, routes: impl LocalRoutes) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                routes: Arc::new(routes),
                state: tokio::sync::Mutex::new(State::default()),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &UserspaceConfig {
        &self.inner.config
    }

    /// The counters of one service port, while it is in the table.
    pub async fn stats(&self, name: &ServicePortName) -> Option<ServiceStats> {
        let state = self.inner.state.lock().await;
        state.services.get(name).map(|s| s.stats.snapshot())
    }

    /// The addresses listened on now, with their protocol, sorted.
    pub async fn listening(&self) -> Vec<(TransportProtocol, SocketAddr)> {
        let state = self.inner.state.lock().await;
        let mut out: Vec<_> = state
            .listeners
            .keys()
            .map(|k| (k.protocol, k.addr))
            .collect();
        out.sort();
        out
    }

    /// Stops every listener and removes the routes the proxy added. Open connections are
    /// left to finish. Later syncs fail.
    pub async fn shutdown(&self) {
        let mut state = self.inner.state.lock().await;
        state.shut_down = true;
        for (_, listener) in state.listeners.drain() {
            close(listener).await;
        }
        state.services.clear();
        let routes = std::mem::take(&mut state.routes);
        for (cidr, error) in routes {
            if error.is_some() {
                continue;
            }
            match self.inner.routes.remove(cidr).await {
                Ok(()) => info!(%cidr, "service range no longer local"),
                Err(err) => warn!(%cidr, error = %err, "cannot remove the local route"),
            }
        }
    }

    async fn ensure_routes(&self, state: &mut State, problems: &mut Problems) {
        for cidr in &self.inner.config.service_cidrs {
            if matches!(state.routes.get(cidr), Some(None)) {
                continue;
            }
            match self.inner.routes.add(*cidr).await {
                Ok(()) => {
                    info!(%cidr, "service range made local");
                    state.routes.insert(*cidr, None);
                }
                Err(err) => {
                    let first = !state.routes.contains_key(cidr);
                    let message = err.to_string();
                    if first {
                        warn!(%cidr, error = %message, "cannot make the service range local");
                    }
                    problems.unsupported.push((
                        format!("ClusterIPs in {cidr}"),
                        format!("making the range local failed: {message}"),
                    ));
                    state.routes.insert(*cidr, Some(message));
                }
            }
        }
    }

    fn desired_listeners(
        &self,
        table: &ServiceTable,
        problems: &mut Problems,
    ) -> HashMap<ListenKey, ServicePortName> {
        let mut out = HashMap::new();
        for (name, entry) in &table.services {
            if entry.endpoints.is_empty() {
                continue;
            }
            if name.protocol == TransportProtocol::Sctp {
                problems.unsupported.push((
                    name.to_string(),
                    "SCTP is not proxied in userspace".to_owned(),
                ));
                continue;
            }
            for addr in self.addresses(entry) {
                let key = ListenKey {
                    protocol: name.protocol,
                    addr,
                };
                if let Some(other) = out.insert(key, name.clone()) {
                    warn!(%addr, first = %other, second = %name, "two service ports claim one address");
                }
            }
        }
        out
    }

    fn addresses(&self, entry: &ServiceEntry) -> Vec<SocketAddr> {
        let vips = entry
            .cluster_ips
            .iter()
            .chain(&entry.external_ips)
            .chain(&entry.load_balancer_ips);
        let mut out: Vec<SocketAddr> = vips.map(|ip| SocketAddr::new(*ip, entry.port)).collect();
        if let Some(node_port) = entry.node_port {
            out.extend(
                self.inner
                    .config
                    .node_port_addresses
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, node_port)),
            );
        }
        out
    }

    fn listen(
        &self,
        key: ListenKey,
        service: &Arc<ServiceState>,
        state: &State,
        problems: &mut Problems,
    ) -> Option<JoinHandle<()>> {
        let cfg = &self.inner.config;
        let span = info_span!("listener", service = %service.name, addr = %key.addr, protocol = %key.protocol);
        let bound = match key.protocol {
            TransportProtocol::Tcp => tcp::bind(key.addr, cfg.backlog, cfg.socket_buffer)
                .map(|l| tokio::spawn(tcp::serve(l, service.clone(), cfg.into()).instrument(span))),
            TransportProtocol::Udp => std::net::UdpSocket::bind(key.addr)
                .and_then(|s| {
                    s.set_nonblocking(true)?;
                    tokio::net::UdpSocket::from_std(s)
                })
                .map(|s| {
                    tokio::spawn(
                        udp::serve(s, service.clone(), cfg.udp_idle_timeout).instrument(span),
                    )
                }),
            TransportProtocol::Sctp => return None,
        };
        match bound {
            Ok(task) => {
                debug!(service = %service.name, addr = %key.addr, protocol = %key.protocol, "listening");
                Some(task)
            }
            Err(err) if err.kind() == io::ErrorKind::AddrNotAvailable => {
                let why = match self.covering_route(state, key.addr.ip()) {
                    Some((cidr, Some(route_error))) => {
                        format!("the service range {cidr} could not be made local: {route_error}")
                    }
                    _ => "the address is not local to this host".to_owned(),
                };
                problems.unsupported.push((
                    format!("{} {} for {}", key.protocol, key.addr, service.name),
                    why,
                ));
                None
            }
            Err(err) => {
                warn!(service = %service.name, addr = %key.addr, error = %err, "cannot listen");
                if problems.bind.is_none() {
                    problems.bind = Some((format!("{} {}", key.protocol, key.addr), err));
                }
                None
            }
        }
    }

    fn covering_route<'s>(
        &self,
        state: &'s State,
        ip: IpAddr,
    ) -> Option<(Cidr, &'s Option<String>)> {
        state
            .routes
            .iter()
            .find(|(cidr, _)| cidr.contains(ip))
            .map(|(c, e)| (*c, e))
    }
}

#[async_trait]
impl NetworkProxy for UserspaceProxy {
    async fn sync(&self, table: &ServiceTable) -> Result<(), ProxyError> {
        let mut guard = self.inner.state.lock().await;
        let state = &mut *guard;
        if state.shut_down {
            return Err(crate::Error::ShutDown.into());
        }
        let mut problems = Problems::default();
        self.ensure_routes(state, &mut problems).await;

        // Endpoints first: new connections see the new endpoints before anything else
        // changes, and listeners created below find their service.
        for (name, entry) in &table.services {
            let endpoints: Vec<SocketAddr> = entry
                .endpoints
                .iter()
                .map(|e| SocketAddr::new(e.ip, e.port))
                .collect();
            match state.services.get(name) {
                Some(svc) => svc.balancer.update(endpoints, entry.session_affinity),
                None => {
                    let svc = ServiceState::new(
                        name.clone(),
                        Balancer::new(endpoints, entry.session_affinity),
                    );
                    state.services.insert(name.clone(), svc);
                }
            }
        }

        let desired = self.desired_listeners(table, &mut problems);
        let closing: Vec<ListenKey> = state
            .listeners
            .iter()
            .filter(|(key, l)| desired.get(key) != Some(&l.service))
            .map(|(key, _)| *key)
            .collect();
        for key in closing {
            if let Some(listener) = state.listeners.remove(&key) {
                debug!(addr = %key.addr, protocol = %key.protocol, service = %listener.service, "closing listener");
                close(listener).await;
            }
        }
        state
            .services
            .retain(|name, _| table.services.contains_key(name));

        let mut missing: Vec<_> = desired
            .into_iter()
            .filter(|(key, _)| !state.listeners.contains_key(key))
            .collect();
        missing.sort();
        for (key, name) in missing {
            let Some(service) = state.services.get(&name).cloned() else {
                continue;
            };
            if let Some(task) = self.listen(key, &service, state, &mut problems) {
                state.listeners.insert(
                    key,
                    Listener {
                        service: name,
                        task,
                    },
                );
            }
        }

        if let Some((address, source)) = problems.bind {
            return Err(ProxyError::Bind { address, source });
        }
        if !problems.unsupported.is_empty() {
            let (what, why): (Vec<_>, Vec<_>) = problems.unsupported.into_iter().unzip();
            let mut reasons: Vec<String> = Vec::new();
            for r in why {
                if !reasons.contains(&r) {
                    reasons.push(r);
                }
            }
            return Err(ProxyError::Unsupported {
                what: what.join(", "),
                reason: format!("{}; the rest of the table is served", reasons.join("; ")),
            });
        }
        Ok(())
    }
}

/// Stops a listener and waits until its socket is closed, so that once a sync returns
/// the address is no longer served (new connections are refused, not accepted then reset).
async fn close(listener: Listener) {
    listener.task.abort();
    let _ = listener.task.await;
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        for (_, listener) in state.listeners.drain() {
            listener.task.abort();
        }
        let left: Vec<String> = state
            .routes
            .iter()
            .filter(|(_, e)| e.is_none())
            .map(|(c, _)| c.to_string())
            .collect();
        if !left.is_empty() {
            warn!(routes = ?left, "userspace proxy dropped without shutdown: its local routes remain");
        }
    }
}
