//! Test harness shared by the integration tests: network namespaces the tests create and
//! remove, backends that say who they are, and clients.

// Each test file uses part of the harness.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd as _;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// Generous: the machines are shared and slow at times.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// True when the test must fail rather than skip (the `CI` environment variable is set).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Fails under CI, else says loudly that the test is skipped and why.
#[allow(clippy::print_stderr)] // The point: the skip must show in the test output.
pub fn skip(test: &str, why: &str) {
    assert!(!in_ci(), "{test}: cannot run under CI: {why}");
    eprintln!("\n!!!!! SKIPPED {test}: {why} !!!!!\n");
}

/// A network namespace created by the test (`ip netns add`), deleted on drop with
/// everything in it (interfaces, routes, rules).
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A short unique tag for names of this process (interface names are at most 15 bytes).
pub fn unique(prefix: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}{n}", std::process::id() % 0x10_0000)
}

fn run(args: &[&str]) -> io::Result<String> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Runs a command, panicking with its error output if it fails.
pub fn must(args: &[&str]) -> String {
    run(args).unwrap_or_else(|e| panic!("{e}"))
}

impl NetNs {
    /// Creates a namespace with its loopback up; `None` (after [`skip`]) when this
    /// machine or user cannot.
    pub fn create(test: &str) -> Option<Self> {
        let tools = ["ip"];
        for tool in tools {
            if run(&["sh", "-c", &format!("command -v {tool}")]).is_err() {
                skip(
                    test,
                    &format!("`{tool}` is not installed (run scripts/install-net-tools.sh)"),
                );
                return None;
            }
        }
        let name = unique("kn");
        if let Err(e) = run(&["ip", "netns", "add", &name]) {
            skip(
                test,
                &format!("cannot create a network namespace (needs root): {e}"),
            );
            return None;
        }
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    /// `ip -n <ns> args...`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", &self.name];
        full.extend_from_slice(args);
        must(&full)
    }

    /// `ip netns exec <ns> args...`.
    pub fn exec(&self, args: &[&str]) -> io::Result<String> {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs `f` on a thread inside the namespace (a new thread, so the caller's namespace
    /// never changes).
    pub fn on_thread<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(&self.name, f)
    }

    /// Runs a future to completion on a tokio runtime whose threads live in the namespace:
    /// every socket it opens and every program it starts (`ip`, `iptables-restore`) is
    /// in the namespace.
    pub fn block_on<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        self.on_thread(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(f())
        })
    }

    /// A listening TCP socket bound inside the namespace (usable from any runtime).
    pub fn tcp_listener(&self, addr: SocketAddr) -> std::net::TcpListener {
        self.on_thread(move || {
            let l = std::net::TcpListener::bind(addr).expect("bind in the namespace");
            l.set_nonblocking(true).expect("nonblocking");
            l
        })
    }

    /// A UDP socket bound inside the namespace.
    pub fn udp_socket(&self, addr: SocketAddr) -> std::net::UdpSocket {
        self.on_thread(move || {
            let s = std::net::UdpSocket::bind(addr).expect("bind in the namespace");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
    }
}

/// Runs `f` on a new thread inside the namespace called `name`.
pub fn in_netns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{name}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open the namespace");
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("enter the namespace");
        f()
    })
    .join()
    .expect("the thread in the namespace panicked")
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.name]);
    }
}

/// Two namespaces joined by a veth pair: `a` holds `a_ip/24`, `b` holds `b_ips`.
pub fn veth(a: &NetNs, a_ip: &str, b: &NetNs, b_ips: &[&str]) -> (String, String) {
    let tag = unique("v");
    let (va, vb) = (format!("{tag}a"), format!("{tag}b"));
    must(&[
        "ip", "link", "add", &va, "type", "veth", "peer", "name", &vb,
    ]);
    must(&["ip", "link", "set", &va, "netns", &a.name]);
    must(&["ip", "link", "set", &vb, "netns", &b.name]);
    a.ip(&["addr", "add", &format!("{a_ip}/24"), "dev", &va]);
    for ip in b_ips {
        b.ip(&["addr", "add", &format!("{ip}/24"), "dev", &vb]);
    }
    a.ip(&["link", "set", &va, "up"]);
    b.ip(&["link", "set", &vb, "up"]);
    (va, vb)
}

/// A TCP backend: greets each connection with its name and a newline, then echoes.
pub fn tcp_backend(listener: TcpListener, name: &str) -> JoinHandle<()> {
    let name = name.to_owned();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let greeting = format!("{name}\n");
            tokio::spawn(async move {
                if conn.write_all(greeting.as_bytes()).await.is_err() {
                    return;
                }
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    })
}

/// Binds a TCP backend on `ip` (any free port); returns its address.
pub async fn spawn_tcp_backend(ip: IpAddr, name: &str) -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    (addr, tcp_backend(l, name))
}

/// A UDP backend: answers each datagram with `name:payload`.
pub fn udp_backend(socket: UdpSocket, name: &str) -> JoinHandle<()> {
    let name = name.to_owned();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let mut reply = format!("{name}:").into_bytes();
            reply.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&reply, from).await;
        }
    })
}

/// Connects to `addr` (from `source` when given), reads the backend's greeting, and
/// returns the connection and the backend's name.
pub async fn connect_named(
    addr: SocketAddr,
    source: Option<IpAddr>,
) -> io::Result<(TcpStream, String)> {
    let stream = tokio::time::timeout(TIMEOUT, async {
        match source {
            None => TcpStream::connect(addr).await,
            Some(src) => {
                let socket = if src.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                socket.bind(SocketAddr::new(src, 0))?;
                socket.connect(addr).await
            }
        }
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    tokio::time::timeout(TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no greeting"))??;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed without a greeting",
        ));
    }
    Ok((reader.into_inner(), line.trim_end().to_owned()))
}

/// The name of the backend a new connection to `addr` reaches (the connection is closed).
pub async fn who(addr: SocketAddr) -> String {
    connect_named(addr, None)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
        .1
}

/// Checks that an open connection still echoes.
pub async fn echoes(stream: &mut TcpStream, payload: &[u8]) -> bool {
    if stream.write_all(payload).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; payload.len()];
    matches!(
        tokio::time::timeout(TIMEOUT, stream.read_exact(&mut buf)).await,
        Ok(Ok(_))
    ) && buf == payload
}

/// An address on `ip` with a port free right now.
pub fn free_port(ip: IpAddr) -> SocketAddr {
    let l = std::net::TcpListener::bind((ip, 0)).unwrap();
    let u = std::net::UdpSocket::bind(l.local_addr().unwrap());
    match u {
        Ok(_) => l.local_addr().unwrap(),
        // Taken for UDP: try another.
        Err(_) => free_port(ip),
    }
}

/// Polls `check` until it holds or the timeout passes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
