//! The TCP side of the userspace proxy: accept on a service address, choose an endpoint,
//! connect (skipping endpoints that fail), then relay bytes both ways until both sides
//! are done.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;
use tracing::{Instrument as _, debug, debug_span, warn};

use super::relay::relay;
use super::service::ServiceState;

/// Binds a listening TCP socket on `addr` (address reuse on, so a restarted proxy binds at
/// once).
pub(crate) fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Accepts connections until the task is aborted; each is handled on a task of its own,
/// which outlives the listener (open connections drain when a service goes away).
pub(crate) async fn serve(
    listener: TcpListener,
    service: Arc<ServiceState>,
    connect_timeout: Duration,
    buffer_size: usize,
) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                let service = service.clone();
                let span = debug_span!("tcp", service = %service.name, client = %peer);
                tokio::spawn(
                    handle(client, peer, service, connect_timeout, buffer_size).instrument(span),
                );
            }
            Err(err) => {
                // Out of file descriptors or memory: wait a little rather than spin.
                warn!(service = %service.name, error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handle(
    client: TcpStream,
    peer: SocketAddr,
    service: Arc<ServiceState>,
    connect_timeout: Duration,
    buffer_size: usize,
) {
    let mut failed = Vec::new();
    let (upstream, endpoint) = loop {
        let Some(endpoint) = service.balancer.pick(peer.ip(), &failed, Instant::now()) else {
            debug!(
                failed = failed.len(),
                "no endpoint could take the connection; resetting"
            );
            // A reset, not an orderly close: the client sees a refusal at once.
            let _ = client.set_zero_linger();
            return;
        };
        match tokio::time::timeout(connect_timeout, TcpStream::connect(endpoint)).await {
            Ok(Ok(stream)) => break (stream, endpoint),
            Ok(Err(err)) => debug!(%endpoint, error = %err, "endpoint failed; trying the next"),
            Err(_) => debug!(%endpoint, "endpoint timed out; trying the next"),
        }
        service.balancer.failed(peer.ip(), endpoint);
        failed.push(endpoint);
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let _guard = service.stats.connection_opened();
    debug!(%endpoint, "relaying");
    match relay(client, upstream, buffer_size).await {
        Ok((up, down)) => debug!(%endpoint, up, down, "connection closed"),
        Err(err) => debug!(%endpoint, error = %err, "connection ended with an error"),
    }
}
