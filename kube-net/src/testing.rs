//! Test doubles and builders: [`RecordingProxy`], a [`NetworkProxy`] that records every
//! table it is given, and terse builders of Services and Endpoints.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use kube_core::network::ProxyError;
use kube_core::{
    ClientIpConfig, EndpointAddress, EndpointPort, EndpointSubset, Endpoints, NetworkProxy,
    ObjectMeta, Protocol, Service, ServicePort, ServiceTable, ServiceType, SessionAffinity,
    SessionAffinityConfig,
};
use parking_lot::Mutex;
use tokio::sync::watch;

/// A [`NetworkProxy`] that applies nothing and records every table, for testing what
/// drives a proxy. It can be told to fail.
#[derive(Clone)]
pub struct RecordingProxy {
    tables: Arc<Mutex<Vec<ServiceTable>>>,
    failures: Arc<Mutex<u32>>,
    count: watch::Sender<usize>,
}

impl fmt::Debug for RecordingProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingProxy")
            .field("syncs", &self.syncs())
            .finish_non_exhaustive()
    }
}

impl Default for RecordingProxy {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingProxy {
    /// A proxy that has seen nothing.
    pub fn new() -> Self {
        Self {
            tables: Arc::default(),
            failures: Arc::default(),
            count: watch::Sender::new(0),
        }
    }

    /// How many times `sync` was called (failed calls included).
    pub fn syncs(&self) -> usize {
        *self.count.borrow()
    }

    /// Every table `sync` was called with, in order.
    pub fn tables(&self) -> Vec<ServiceTable> {
        self.tables.lock().clone()
    }

    /// The last table `sync` was called with.
    pub fn last(&self) -> Option<ServiceTable> {
        self.tables.lock().last().cloned()
    }

    /// Makes the next `n` calls to `sync` fail (after recording their table).
    pub fn fail_next(&self, n: u32) {
        *self.failures.lock() = n;
    }

    /// Waits until a recorded table satisfies `pred`, and returns it.
    pub async fn wait_for(&self, pred: impl Fn(&ServiceTable) -> bool) -> ServiceTable {
        let mut rx = self.count.subscribe();
        let mut seen = 0;
        loop {
            {
                let tables = self.tables.lock();
                if let Some(found) = tables[seen..].iter().find(|t| pred(t)) {
                    return found.clone();
                }
                seen = tables.len();
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`: this cannot happen, but never spin.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Waits until `sync` has been called at least `n` times.
    pub async fn wait_for_syncs(&self, n: usize) {
        let mut rx = self.count.subscribe();
        let _ = rx.wait_for(|c| *c >= n).await;
    }
}

#[async_trait]
impl NetworkProxy for RecordingProxy {
    async fn sync(&self, table: &ServiceTable) -> Result<(), ProxyError> {
        self.tables.lock().push(table.clone());
        let fail = {
            let mut failures = self.failures.lock();
            let fail = *failures > 0;
            *failures = failures.saturating_sub(1);
            fail
        };
        self.count.send_modify(|c| *c += 1);
        if fail {
            return Err(ProxyError::Apply {
                message: "injected failure".into(),
                source: None,
            });
        }
        Ok(())
    }
}

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

/// Starts a [`Service`] named `namespace/name`.
pub fn service(namespace: &str, name: &str) -> ServiceBuilder {
    ServiceBuilder {
        svc: Service {
            metadata: meta(namespace, name),
            ..Default::default()
        },
    }
}

/// Builds a [`Service`] for tests.
#[derive(Debug, Clone)]
pub struct ServiceBuilder {
    svc: Service,
}

impl ServiceBuilder {
    /// Sets `spec.clusterIP` (and `clusterIPs`).
    #[must_use]
    pub fn cluster_ip(mut self, ip: &str) -> Self {
        self.svc.spec.cluster_ip = Some(ip.into());
        self.svc.spec.cluster_ips = if ip == "None" {
            Vec::new()
        } else {
            vec![ip.into()]
        };
        self
    }

    fn add_port(mut self, name: &str, port: i32, protocol: Protocol) -> Self {
        self.svc.spec.ports.push(ServicePort {
            name: (!name.is_empty()).then(|| name.into()),
            protocol: Some(protocol),
            port,
            ..Default::default()
        });
        self
    }

    /// Adds a TCP port.
    #[must_use]
    pub fn port(self, name: &str, port: i32) -> Self {
        self.add_port(name, port, Protocol::Tcp)
    }

    /// Adds a UDP port.
    #[must_use]
    pub fn udp_port(self, name: &str, port: i32) -> Self {
        self.add_port(name, port, Protocol::Udp)
    }

    /// Gives the last port a node port and makes the Service a `NodePort` one (unless it
    /// is a `LoadBalancer` already).
    #[must_use]
    pub fn node_port(mut self, node_port: i32) -> Self {
        if let Some(p) = self.svc.spec.ports.last_mut() {
            p.node_port = Some(node_port);
        }
        if self.svc.spec.type_ != Some(ServiceType::LoadBalancer) {
            self.svc.spec.type_ = Some(ServiceType::NodePort);
        }
        self
    }

    /// Sets the Service type.
    #[must_use]
    pub fn type_(mut self, type_: ServiceType) -> Self {
        self.svc.spec.type_ = Some(type_);
        self
    }

    /// Adds an external IP.
    #[must_use]
    pub fn external_ip(mut self, ip: &str) -> Self {
        self.svc.spec.external_ips.push(ip.into());
        self
    }

    /// Sets `sessionAffinity: ClientIP`, with a timeout in seconds or the default.
    #[must_use]
    pub fn client_ip_affinity(mut self, timeout_seconds: Option<i32>) -> Self {
        self.svc.spec.session_affinity = Some(SessionAffinity::ClientIP);
        self.svc.spec.session_affinity_config = timeout_seconds.map(|t| SessionAffinityConfig {
            client_ip: Some(ClientIpConfig {
                timeout_seconds: Some(t),
            }),
        });
        self
    }

    /// The Service.
    pub fn build(self) -> Service {
        self.svc
    }
}

/// Starts an [`Endpoints`] named `namespace/name`.
pub fn endpoints(namespace: &str, name: &str) -> EndpointsBuilder {
    EndpointsBuilder {
        eps: Endpoints {
            metadata: meta(namespace, name),
            ..Default::default()
        },
    }
}

/// Builds an [`Endpoints`] for tests: each call adds one subset.
#[derive(Debug, Clone)]
pub struct EndpointsBuilder {
    eps: Endpoints,
}

impl EndpointsBuilder {
    fn subset(mut self, ip: &str, name: &str, port: i32, protocol: Protocol, ready: bool) -> Self {
        let addr = vec![EndpointAddress {
            ip: ip.into(),
            ..Default::default()
        }];
        let (addresses, not_ready_addresses) = if ready {
            (addr, Vec::new())
        } else {
            (Vec::new(), addr)
        };
        self.eps.subsets.push(EndpointSubset {
            addresses,
            not_ready_addresses,
            ports: vec![EndpointPort {
                name: (!name.is_empty()).then(|| name.into()),
                port,
                protocol: Some(protocol),
                app_protocol: None,
            }],
        });
        self
    }

    /// Adds a ready TCP address and port.
    #[must_use]
    pub fn ready(self, ip: &str, port_name: &str, port: i32) -> Self {
        self.subset(ip, port_name, port, Protocol::Tcp, true)
    }

    /// Adds a ready UDP address and port.
    #[must_use]
    pub fn ready_udp(self, ip: &str, port_name: &str, port: i32) -> Self {
        self.subset(ip, port_name, port, Protocol::Udp, true)
    }

    /// Adds a TCP address that is not ready.
    #[must_use]
    pub fn not_ready(self, ip: &str, port_name: &str, port: i32) -> Self {
        self.subset(ip, port_name, port, Protocol::Tcp, false)
    }

    /// The Endpoints.
    pub fn build(self) -> Endpoints {
        self.eps
    }
}
