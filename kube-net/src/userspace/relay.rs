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
    mut client: TcpStream,
    mut upstream: TcpStream,
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
