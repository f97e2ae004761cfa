//! The UDP side of the userspace proxy. Datagrams from one client address form a session
//! with one endpoint: a socket connected to it, whose replies go back to the client from
//! the service address. A session ends after an idle timeout, when its endpoint is
//! removed (the next datagram picks another: UDP has no connection to drain), or when the
//! endpoint refuses (an ICMP port unreachable), in which case the client's next datagram
//! goes elsewhere.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{Instrument as _, debug, debug_span, warn};

use super::service::ServiceState;

/// The largest datagram relayed.
const MAX_DATAGRAM: usize = 65_535;

#[derive(Debug)]
struct Session {
    id: u64,
    endpoint: SocketAddr,
    generation: u64,
    last_active: Instant,
    upstream: Arc<UdpSocket>,
    task: AbortHandle,
}

type Sessions = Arc<Mutex<HashMap<SocketAddr, Session>>>;

/// Ends every session's reply task when the listener's task ends.
struct AbortSessions(Sessions);

impl Drop for AbortSessions {
    fn drop(&mut self) {
        for (_, session) in self.0.lock().drain() {
            session.task.abort();
        }
    }
}

/// Serves datagrams on `socket` until the task is aborted.
pub(crate) async fn serve(socket: UdpSocket, service: Arc<ServiceState>, idle_timeout: Duration) {
    let socket = Arc::new(socket);
    let sessions: Sessions = Arc::default();
    let _abort = AbortSessions(sessions.clone());
    let mut next_id = 0u64;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(err) => {
                // An ICMP error for an earlier reply to a client: nothing to do but go on.
                debug!(service = %service.name, error = %err, "receive failed");
                continue;
            }
        };
        let upstream = match session_for(&sessions, client, &service) {
            Some(up) => up,
            None => {
                next_id += 1;
                match open(&socket, &sessions, client, &service, idle_timeout, next_id).await {
                    Some(up) => up,
                    None => continue,
                }
            }
        };
        if let Err(err) = upstream.send(&buf[..n]).await {
            debug!(service = %service.name, %client, error = %err, "forwarding failed");
            end_session(&sessions, client, &service, &err);
        }
    }
}

/// The upstream socket of `client`'s session, unless it has none or its endpoint was
/// removed since.
fn session_for(
    sessions: &Sessions,
    client: SocketAddr,
    service: &ServiceState,
) -> Option<Arc<UdpSocket>> {
    let mut map = sessions.lock();
    let session = map.get_mut(&client)?;
    let generation = service.balancer.generation();
    if session.generation == generation || service.balancer.contains(session.endpoint) {
        session.generation = generation;
        session.last_active = Instant::now();
        return Some(session.upstream.clone());
    }
    if let Some(old) = map.remove(&client) {
        debug!(service = %service.name, %client, endpoint = %old.endpoint, "endpoint removed; ending the session");
        old.task.abort();
    }
    None
}

/// A session's endpoint refused or failed: forget the session (and the client's
/// affinity to it), so the next datagram picks another endpoint.
fn end_session(sessions: &Sessions, client: SocketAddr, service: &ServiceState, err: &io::Error) {
    if let Some(old) = sessions.lock().remove(&client) {
        if err.kind() == io::ErrorKind::ConnectionRefused {
            service.balancer.failed(client.ip(), old.endpoint);
        }
        old.task.abort();
    }
}

async fn open(
    socket: &Arc<UdpSocket>,
    sessions: &Sessions,
    client: SocketAddr,
    service: &Arc<ServiceState>,
    idle_timeout: Duration,
    id: u64,
) -> Option<Arc<UdpSocket>> {
    let mut failed = Vec::new();
    loop {
        let generation = service.balancer.generation();
        let endpoint = service
            .balancer
            .pick(client.ip(), &failed, Instant::now())?;
        let unspecified = if endpoint.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        let connected = async {
            let up = UdpSocket::bind((unspecified, 0)).await?;
            up.connect(endpoint).await?;
            Ok::<_, io::Error>(up)
        }
        .await;
        let upstream = match connected {
            Ok(up) => Arc::new(up),
            Err(err) => {
                warn!(service = %service.name, %endpoint, error = %err, "cannot open a socket to the endpoint");
                service.balancer.failed(client.ip(), endpoint);
                failed.push(endpoint);
                continue;
            }
        };
        let span = debug_span!("udp", service = %service.name, %client, %endpoint);
        let task = tokio::spawn(
            replies(
                socket.clone(),
                upstream.clone(),
                sessions.clone(),
                service.clone(),
                client,
                idle_timeout,
                id,
            )
            .instrument(span),
        )
        .abort_handle();
        let session = Session {
            id,
            endpoint,
            generation,
            last_active: Instant::now(),
            upstream: upstream.clone(),
            task,
        };
        if let Some(old) = sessions.lock().insert(client, session) {
            old.task.abort();
        }
        return Some(upstream);
    }
}

/// Sends the endpoint's replies to the client from the service address, until the session
/// is idle for `idle_timeout` or the endpoint refuses.
async fn replies(
    socket: Arc<UdpSocket>,
    upstream: Arc<UdpSocket>,
    sessions: Sessions,
    service: Arc<ServiceState>,
    client: SocketAddr,
    idle_timeout: Duration,
    id: u64,
) {
    let _open = service.stats.session_opened();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut deadline = Instant::now() + idle_timeout;
    loop {
        match tokio::time::timeout_at(deadline, upstream.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                deadline = Instant::now() + idle_timeout;
                if let Err(err) = socket.send_to(&buf[..n], client).await {
                    debug!(error = %err, "cannot reply to the client");
                }
            }
            Ok(Err(err)) => {
                debug!(error = %err, "the endpoint failed; ending the session");
                let mut map = sessions.lock();
                if map.get(&client).is_some_and(|s| s.id == id) {
                    if let Some(old) = map.remove(&client) {
                        if err.kind() == io::ErrorKind::ConnectionRefused {
                            service.balancer.failed(client.ip(), old.endpoint);
                        }
                    }
                }
                return;
            }
            Err(_) => {
                // No reply for a while: the session is idle unless the client sent since.
                let mut map = sessions.lock();
                match map.get(&client) {
                    Some(s) if s.id == id => {
                        let active_until = s.last_active + idle_timeout;
                        if active_until > Instant::now() {
                            deadline = active_until;
                            continue;
                        }
                        map.remove(&client);
                    }
                    // A newer session replaced this one.
                    _ => {}
                }
                debug!("session idle; closed");
                return;
            }
        }
    }
}
