//! Relaying one TCP connection: bytes both ways, each direction shut down when its source
//! ends, until both are done.
//!
//! On Linux the bytes never enter user space: each direction moves them from one socket to
//! a pipe and from the pipe to the other socket with `splice(2)`, which passes page
//! references instead of copying (a userspace proxy otherwise copies every byte twice
//! more than a direct connection). Elsewhere, or when a pipe cannot be had, it copies
//! through buffers.

use std::io;

use tokio::net::TcpStream;

/// The largest buffer of the copying relay.
const COPY_BUFFER_MAX: usize = 256 * 1024;

/// Copies `client` to `upstream` and back until both directions ended; returns the bytes
/// sent each way (client to upstream, upstream to client).
pub(crate) async fn relay(
    client: TcpStream,
    upstream: TcpStream,
    buffer_size: usize,
) -> io::Result<(u64, u64)> {
    #[cfg(target_os = "linux")]
    {
        match (
            splice::Pipe::new(buffer_size),
            splice::Pipe::new(buffer_size),
        ) {
            (Ok(up), Ok(down)) => {
                // The first error ends both directions, as the connection is broken.
                return tokio::try_join!(
                    splice::copy(&client, &upstream, up),
                    splice::copy(&upstream, &client, down),
                );
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::debug!(error = %err, "no pipe for splice; copying through buffers");
            }
        }
    }
    copy_through_buffers(client, upstream, buffer_size).await
}

/// The portable relay: copies through a buffer per direction.
async fn copy_through_buffers(
    mut client: TcpStream,
    mut upstream: TcpStream,
    buffer_size: usize,
) -> io::Result<(u64, u64)> {
    // Buffers are allocated whole, unlike pipe pages: keep them modest.
    let size = buffer_size.min(COPY_BUFFER_MAX);
    tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, size, size).await
}

#[cfg(target_os = "linux")]
mod splice {
    use std::io;
    use std::os::fd::{AsFd as _, OwnedFd};

    use rustix::net::Shutdown;
    use rustix::pipe::{PipeFlags, SpliceFlags};
    use tokio::io::Interest;
    use tokio::net::TcpStream;

    /// A pipe both of whose ends are non-blocking, sized for the relay's buffer.
    pub(super) struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
        size: usize,
    }

    impl Pipe {
        pub(super) fn new(size: usize) -> io::Result<Self> {
            let (read, write) = rustix::pipe::pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
            // Larger pipes mean fewer system calls per byte; the kernel may cap the size
            // (fs.pipe-max-size, 1 MiB by default), so use what it grants.
            let size = rustix::pipe::fcntl_setpipe_size(&write, size)
                .or_else(|_| rustix::pipe::fcntl_getpipe_size(&write))?;
            Ok(Self { read, write, size })
        }
    }

    const FLAGS: SpliceFlags = SpliceFlags::MOVE.union(SpliceFlags::NONBLOCK);

    /// Moves everything `from` sends to `to` through `pipe`; when `from` ends, shuts down
    /// the writing side of `to`. Returns the bytes moved.
    pub(super) async fn copy(from: &TcpStream, to: &TcpStream, pipe: Pipe) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            // Socket to pipe: the pipe is empty here, so WouldBlock means the socket has
            // nothing to read yet.
            let n = loop {
                from.readable().await?;
                match from.try_io(Interest::READABLE, || {
                    rustix::pipe::splice(from.as_fd(), None, &pipe.write, None, pipe.size, FLAGS)
                        .map_err(io::Error::from)
                }) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                // The source finished sending: pass the end on.
                let _ = rustix::net::shutdown(to.as_fd(), Shutdown::Write);
                return Ok(total);
            }
            // Pipe to socket, until the pipe is empty again.
            let mut left = n;
            while left > 0 {
                to.writable().await?;
                match to.try_io(Interest::WRITABLE, || {
                    rustix::pipe::splice(&pipe.read, None, to.as_fd(), None, left, FLAGS)
                        .map_err(io::Error::from)
                }) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(m) => left -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            total += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(60);

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        /// What `relay` uses: splice on Linux.
        Default,
        /// The portable fallback.
        Buffers,
    }

    /// A connected pair of loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (connected, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (connected.unwrap(), accepted.unwrap().0)
    }

    /// A client application and a server application with a relay between them.
    struct Relayed {
        client: TcpStream,
        server: TcpStream,
        relay: JoinHandle<io::Result<(u64, u64)>>,
    }

    async fn relayed(kind: Kind, buffer_size: usize) -> Relayed {
        let (client, proxy_client) = pair().await;
        let (proxy_upstream, server) = pair().await;
        let relay = tokio::spawn(async move {
            match kind {
                Kind::Default => relay(proxy_client, proxy_upstream, buffer_size).await,
                Kind::Buffers => {
                    copy_through_buffers(proxy_client, proxy_upstream, buffer_size).await
                }
            }
        });
        Relayed {
            client,
            server,
            relay,
        }
    }

    /// The byte at `offset` of the stream tagged `seed`.
    fn byte(seed: u8, offset: usize) -> u8 {
        (offset as u8).wrapping_mul(31).wrapping_add(seed) ^ ((offset >> 12) as u8)
    }

    /// Sends `len` bytes of the stream `seed` in writes of various sizes.
    async fn send(w: &mut (impl tokio::io::AsyncWrite + Unpin), seed: u8, len: usize) {
        let mut offset = 0;
        let mut round = 0usize;
        while offset < len {
            let n = [1, 100, 4096, 65_536, 300_000][round % 5].min(len - offset);
            let chunk: Vec<u8> = (offset..offset + n).map(|i| byte(seed, i)).collect();
            w.write_all(&chunk).await.unwrap();
            offset += n;
            round += 1;
        }
    }

    /// Reads the stream `seed` to its end and checks every byte; slowly when asked (small
    /// reads and a pause now and then), so the relay meets a full destination.
    async fn receive(r: &mut (impl tokio::io::AsyncRead + Unpin), seed: u8, slow: bool) -> usize {
        let mut buf = vec![0u8; if slow { 1500 } else { 256 * 1024 }];
        let mut offset = 0;
        let mut reads = 0usize;
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                return offset;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(
                    *b,
                    byte(seed, offset + i),
                    "byte {} of stream {seed}",
                    offset + i
                );
            }
            offset += n;
            reads += 1;
            if slow && reads % 200 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    async fn both_ways_at_once(kind: Kind, buffer_size: usize) {
        const LEN: usize = 6 * 1024 * 1024 + 12_345;
        let Relayed {
            client,
            server,
            relay,
        } = relayed(kind, buffer_size).await;
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let work = async {
            tokio::join!(
                async {
                    send(&mut client_write, 1, LEN).await;
                    client_write.shutdown().await.unwrap();
                },
                async {
                    send(&mut server_write, 2, LEN).await;
                    server_write.shutdown().await.unwrap();
                },
                // The server reads slowly: the relay's client-to-server direction backs
                // up while the other flows at full speed.
                receive(&mut server_read, 1, true),
                receive(&mut client_read, 2, false),
            )
        };
        let ((), (), at_server, at_client) = tokio::time::timeout(TIMEOUT, work).await.unwrap();
        assert_eq!((at_server, at_client), (LEN, LEN));
        let moved = tokio::time::timeout(TIMEOUT, relay)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(moved, (LEN as u64, LEN as u64), "{kind:?}");
    }

    #[tokio::test]
    async fn large_transfers_both_ways_at_once_with_a_slow_reader() {
        both_ways_at_once(Kind::Default, 256 * 1024).await;
        both_ways_at_once(Kind::Buffers, 256 * 1024).await;
    }

    #[tokio::test]
    async fn a_one_page_pipe_still_moves_everything() {
        // The smallest pipe the kernel grants: a page per splice at most.
        both_ways_at_once(Kind::Default, 4096).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_transfers_on_a_multi_thread_runtime() {
        both_ways_at_once(Kind::Default, 64 * 1024).await;
    }

    async fn half_close(kind: Kind) {
        const RESPONSE: usize = 3 * 1024 * 1024;
        let Relayed {
            mut client,
            mut server,
            relay,
        } = relayed(kind, 64 * 1024).await;
        let work = async {
            client.write_all(b"request").await.unwrap();
            client.shutdown().await.unwrap();
            // The end of the request reaches the server while the response has not started.
            let mut request = Vec::new();
            server.read_to_end(&mut request).await.unwrap();
            assert_eq!(request, b"request");
            // The other direction still flows, to its own end.
            let (mut server_read, mut server_write) = server.split();
            tokio::join!(
                async {
                    send(&mut server_write, 3, RESPONSE).await;
                    server_write.shutdown().await.unwrap();
                },
                async { assert_eq!(receive(&mut client, 3, true).await, RESPONSE) },
            );
            // Nothing more comes the closed way.
            assert_eq!(server_read.read(&mut [0u8; 16]).await.unwrap(), 0);
        };
        tokio::time::timeout(TIMEOUT, work).await.unwrap();
        let moved = tokio::time::timeout(TIMEOUT, relay)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(moved, (7, RESPONSE as u64), "{kind:?}");
    }

    #[tokio::test]
    async fn a_half_close_passes_on_while_the_other_direction_flows() {
        half_close(Kind::Default).await;
        half_close(Kind::Buffers).await;
    }

    async fn reset(kind: Kind) {
        let Relayed {
            mut client,
            server,
            relay,
        } = relayed(kind, 64 * 1024).await;
        // Some bytes through first, so both directions are running.
        client.write_all(b"hello").await.unwrap();
        let mut server = server;
        let mut hello = [0u8; 5];
        server.read_exact(&mut hello).await.unwrap();
        // The server aborts: a reset, not an orderly close.
        server.set_zero_linger().unwrap();
        drop(server);
        let result = tokio::time::timeout(TIMEOUT, relay).await.unwrap().unwrap();
        assert!(result.is_err(), "{kind:?}: {result:?}");
        // The client's direction ended too: the client sees its connection end.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(TIMEOUT, client.read_to_end(&mut rest))
            .await
            .unwrap();
        assert!(rest.is_empty(), "{kind:?}");
        let _ = read;
    }

    #[tokio::test]
    async fn an_error_ends_both_directions() {
        reset(Kind::Default).await;
        reset(Kind::Buffers).await;
    }
}
