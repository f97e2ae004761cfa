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

use super::UserspaceConfig;
use super::relay::relay;
use super::service::ServiceState;

/// Binds a listening TCP socket on `addr` (address reuse on, so a restarted proxy binds at
/// once). Accepted connections inherit the listener's socket buffer sizes.
pub(crate) fn bind(
    addr: SocketAddr,
    backlog: u32,
    socket_buffer: Option<usize>,
) -> io::Result<TcpListener> {
    let socket = new_socket(addr, socket_buffer)?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// A TCP socket for `addr`'s family; with `socket_buffer`, its send and receive buffers
/// are that size, set before the handshake so that the window scale matches.
fn new_socket(addr: SocketAddr, socket_buffer: Option<usize>) -> io::Result<TcpSocket> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(size) = socket_buffer {
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        socket.set_send_buffer_size(size)?;
        socket.set_recv_buffer_size(size)?;
    }
    Ok(socket)
}

/// Connects to an endpoint with the configured socket buffer sizes.
async fn connect(endpoint: SocketAddr, socket_buffer: Option<usize>) -> io::Result<TcpStream> {
    new_socket(endpoint, socket_buffer)?.connect(endpoint).await
}

/// How each relayed connection is made: the settings of [`UserspaceConfig`] that apply
/// to one connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionSettings {
    /// How long connecting to one endpoint may take before the next is tried.
    pub(crate) connect_timeout: Duration,
    /// The bytes each direction holds between the two sockets.
    pub(crate) buffer_size: usize,
    /// Both sockets' send and receive buffer size; `None`: the kernel's autotuning.
    pub(crate) socket_buffer: Option<usize>,
}

impl From<&UserspaceConfig> for ConnectionSettings {
    fn from(config: &UserspaceConfig) -> Self {
        Self {
            connect_timeout: config.connect_timeout,
            buffer_size: config.buffer_size,
            socket_buffer: config.socket_buffer,
        }
    }
}

/// Accepts connections until the task is aborted; each is handled on a task of its own,
/// which outlives the listener (open connections drain when a service goes away).
pub(crate) async fn serve(
    listener: TcpListener,
    service: Arc<ServiceState>,
    settings: ConnectionSettings,
) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                let service = service.clone();
                let span = debug_span!("tcp", service = %service.name, client = %peer);
                tokio::spawn(handle(client, peer, service, settings).instrument(span));
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
    settings: ConnectionSettings,
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
        let connecting = connect(endpoint, settings.socket_buffer);
        match tokio::time::timeout(settings.connect_timeout, connecting).await {
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
    match relay(client, upstream, settings.buffer_size).await {
        Ok((up, down)) => debug!(%endpoint, up, down, "connection closed"),
        Err(err) => debug!(%endpoint, error = %err, "connection ended with an error"),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use rustix::net::sockopt;

    use super::*;

    #[tokio::test]
    async fn both_sockets_of_a_connection_get_the_configured_buffers() {
        const SIZE: usize = 96 * 1024;
        let listener = bind("127.0.0.1:0".parse().unwrap(), 16, Some(SIZE)).unwrap();
        let addr = listener.local_addr().unwrap();
        let (upstream, accepted) = tokio::join!(connect(addr, Some(SIZE)), listener.accept());
        let (upstream, (accepted, _)) = (upstream.unwrap(), accepted.unwrap());
        // Linux doubles the size asked for, for its bookkeeping.
        for socket in [&upstream, &accepted] {
            assert_eq!(sockopt::socket_send_buffer_size(socket).unwrap(), 2 * SIZE);
            assert_eq!(sockopt::socket_recv_buffer_size(socket).unwrap(), 2 * SIZE);
        }
    }
}
