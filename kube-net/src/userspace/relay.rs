//! Relaying one TCP connection: bytes both ways, each direction shut down when its
//! source ends, until both are done.

use std::io;

use tokio::net::TcpStream;

/// Copies `client` to `upstream` and back until both directions ended; returns the bytes
/// sent each way (client to upstream, upstream to client).
pub(crate) async fn relay(
    mut client: TcpStream,
    mut upstream: TcpStream,
    buffer_size: usize,
) -> io::Result<(u64, u64)> {
    tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, buffer_size, buffer_size)
        .await
}
