//! The userspace service proxy against a direct connection, in the same run: bulk
//! throughput (64 MiB per connection) and the round-trip latency of small messages on an
//! open connection.
//!
//! ```text
//! cargo bench --bench proxy                 # criterion figures, then the ratios
//! cargo bench --bench proxy -- throughput   # one group
//! ```
//!
//! Everything runs on loopback in one process, on a two-worker tokio runtime: client,
//! proxy and server share the machine's cores, as they would on a node. The "service" is
//! a ClusterIP in 127.0.0.0/8 (local without a route), so no privileges are needed.
//!
//! After the criterion groups, the bench measures direct and proxied runs interleaved
//! (so that noise from other work on the machine hits both alike) and prints the
//! medians and their ratios: the figures in docs/benchmarks/proxy.md.
// A benchmark's setup fails loudly, and reports on standard output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kube_core::network::{Endpoint, ServiceEntry, ServicePortName, TransportProtocol};
use kube_core::{NetworkProxy, ServiceTable};
use kube_net::{UserspaceConfig, UserspaceProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Bytes sent per bulk connection.
const BULK: usize = 64 * 1024 * 1024;
/// The size of each write of the bulk sender and each read of the sink.
const CHUNK: usize = 256 * 1024;
/// The size of a latency probe.
const PING: usize = 64;

/// The proxy's runtime threads are named, so their CPU time can be told apart.
const PROXY_THREADS: &str = "bench-proxy";

fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(name)
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Reads each connection to its end, then answers with the byte count.
async fn sink(listener: TcpListener) {
    loop {
        let (mut conn, _) = listener.accept().await.unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0u64;
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n as u64,
                }
            }
            let _ = conn.write_all(&total.to_be_bytes()).await;
        });
    }
}

/// Echoes each connection.
async fn echo(listener: TcpListener) {
    loop {
        let (mut conn, _) = listener.accept().await.unwrap();
        let _ = conn.set_nodelay(true);
        tokio::spawn(async move {
            let (mut r, mut w) = conn.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
    }
}

/// Sends `BULK` bytes and waits until the sink has them all.
async fn bulk(addr: SocketAddr, data: &[u8]) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let mut sent = 0;
    while sent < BULK {
        conn.write_all(data).await.unwrap();
        sent += data.len();
    }
    conn.shutdown().await.unwrap();
    let mut count = [0u8; 8];
    conn.read_exact(&mut count).await.unwrap();
    assert_eq!(u64::from_be_bytes(count), BULK as u64);
}

/// One round trip of a small message.
async fn ping(conn: &mut TcpStream) {
    let msg = [7u8; PING];
    let mut back = [0u8; PING];
    conn.write_all(&msg).await.unwrap();
    conn.read_exact(&mut back).await.unwrap();
}

struct Setup {
    sink_direct: SocketAddr,
    sink_proxied: SocketAddr,
    echo_direct: SocketAddr,
    echo_proxied: SocketAddr,
    _proxy: UserspaceProxy,
    _proxy_rt: Runtime,
}

fn service(name: &str, vip: SocketAddr, backend: SocketAddr) -> (ServicePortName, ServiceEntry) {
    (
        ServicePortName {
            namespace: "bench".into(),
            name: name.into(),
            port: String::new(),
            protocol: TransportProtocol::Tcp,
        },
        ServiceEntry {
            cluster_ips: vec![vip.ip()],
            port: vip.port(),
            endpoints: vec![Endpoint {
                ip: backend.ip(),
                port: backend.port(),
                node_name: None,
            }],
            ..Default::default()
        },
    )
}

fn free(ip: IpAddr) -> SocketAddr {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Backends on the benchmark's runtime; the proxy on a runtime of its own, as it would
/// be in its own process.
fn setup(rt: &Runtime) -> Setup {
    let localhost = IpAddr::from([127, 0, 0, 1]);
    let (sink_direct, echo_direct) = rt.block_on(async {
        let s = TcpListener::bind((localhost, 0)).await.unwrap();
        let sink_direct = s.local_addr().unwrap();
        tokio::spawn(sink(s));
        let e = TcpListener::bind((localhost, 0)).await.unwrap();
        let echo_direct = e.local_addr().unwrap();
        tokio::spawn(echo(e));
        (sink_direct, echo_direct)
    });
    let sink_proxied = free(IpAddr::from([127, 0, 0, 91]));
    let echo_proxied = free(IpAddr::from([127, 0, 0, 92]));
    let proxy_rt = runtime(PROXY_THREADS);
    let proxy = proxy_rt.block_on(async {
        let proxy = UserspaceProxy::new(UserspaceConfig {
            service_cidrs: Vec::new(),
            ..Default::default()
        });
        let table = ServiceTable {
            services: [
                service("sink", sink_proxied, sink_direct),
                service("echo", echo_proxied, echo_direct),
            ]
            .into_iter()
            .collect(),
        };
        proxy.sync(&table).await.unwrap();
        proxy
    });
    Setup {
        sink_direct,
        sink_proxied,
        echo_direct,
        echo_proxied,
        _proxy: proxy,
        _proxy_rt: proxy_rt,
    }
}

fn bench(c: &mut Criterion) {
    let rt = runtime("bench");
    let s = setup(&rt);
    let data = vec![0x5au8; CHUNK];

    let mut group = c.benchmark_group("throughput");
    group
        .throughput(Throughput::Bytes(BULK as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, addr) in [("direct", s.sink_direct), ("proxied", s.sink_proxied)] {
        group.bench_function(name, |b| b.to_async(&rt).iter(|| bulk(addr, &data)));
    }
    group.finish();

    let mut group = c.benchmark_group("latency");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, addr) in [("direct", s.echo_direct), ("proxied", s.echo_proxied)] {
        let mut conn = rt.block_on(async {
            let c = TcpStream::connect(addr).await.unwrap();
            c.set_nodelay(true).unwrap();
            c
        });
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(ping(&mut conn)));
        });
    }
    group.finish();

    ratios(&rt, &s, &data);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU seconds used so far by the whole process and by the proxy's threads (Linux: from
/// /proc; zeros elsewhere).
fn cpu_seconds() -> (f64, f64) {
    let ticks = |stat: &str| -> Option<(String, f64)> {
        let (head, rest) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1.to_owned();
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime, in clock ticks of 1/100 s.
        Some((
            name,
            (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0,
        ))
    };
    let total = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .map_or(0.0, |(_, t)| t);
    let mut proxy = 0.0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            if let Some((name, t)) = ticks(&stat) {
                if name.starts_with(PROXY_THREADS) {
                    proxy += t;
                }
            }
        }
    }
    (total, proxy)
}

/// Direct and proxied runs interleaved; prints the medians, their ratio, and where the
/// CPU time goes.
fn ratios(rt: &Runtime, s: &Setup, data: &[u8]) {
    const ROUNDS: usize = 15;
    let gib = BULK as f64 / f64::from(1u32 << 30);
    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    let mut cpu = [(0.0, 0.0); 2];
    for _ in 0..ROUNDS {
        for (i, addr) in [s.sink_direct, s.sink_proxied].into_iter().enumerate() {
            let before = cpu_seconds();
            let t = Instant::now();
            rt.block_on(bulk(addr, data));
            let elapsed = t.elapsed().as_secs_f64();
            let after = cpu_seconds();
            cpu[i].0 += after.0 - before.0;
            cpu[i].1 += after.1 - before.1;
            [&mut direct, &mut proxied][i].push(gib / elapsed);
        }
    }
    let (d, p) = (median(direct), median(proxied));
    let per_gib = |c: f64| c / (ROUNDS as f64 * gib);
    println!(
        "throughput: direct {d:.2} GiB/s, proxied {p:.2} GiB/s, proxied/direct {:.0}%",
        100.0 * p / d
    );
    println!(
        "cpu per GiB: direct {:.2} s, proxied {:.2} s (of which the proxy's threads {:.2} s)",
        per_gib(cpu[0].0),
        per_gib(cpu[1].0),
        per_gib(cpu[1].1),
    );

    const PINGS: usize = 2_000;
    let mut rtt = Vec::new();
    for addr in [s.echo_direct, s.echo_proxied] {
        let mut samples = Vec::new();
        rt.block_on(async {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            conn.set_nodelay(true).unwrap();
            for _ in 0..PINGS {
                let t = Instant::now();
                ping(&mut conn).await;
                samples.push(t.elapsed().as_secs_f64() * 1e6);
            }
        });
        rtt.push(median(samples));
    }
    println!(
        "round trip ({PING} B): direct {:.1} us, proxied {:.1} us, added {:.1} us ({:.2}x)",
        rtt[0],
        rtt[1],
        rtt[1] - rtt[0],
        rtt[1] / rtt[0]
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
