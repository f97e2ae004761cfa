//! The userspace proxy with real traffic on loopback: ClusterIPs in 127.0.0.0/8 (local
//! without any route), backends on loopback ports. Needs no privileges.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{connect_named, echoes, eventually, free_port, spawn_tcp_backend, udp_backend, who};
use kube_core::network::{Endpoint, ProxyError, ServiceEntry, ServicePortName, TransportProtocol};
use kube_core::{NetworkProxy, ServiceTable};
use kube_net::userspace::FakeLocalRoutes;
use kube_net::{UserspaceConfig, UserspaceProxy};
use tokio::net::UdpSocket;

fn name(svc: &str, protocol: TransportProtocol) -> ServicePortName {
    ServicePortName {
        namespace: "default".into(),
        name: svc.into(),
        port: String::new(),
        protocol,
    }
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint {
        ip: addr.ip(),
        port: addr.port(),
        node_name: None,
    }
}

fn entry(vip: SocketAddr, backends: &[SocketAddr]) -> ServiceEntry {
    ServiceEntry {
        cluster_ips: vec![vip.ip()],
        port: vip.port(),
        endpoints: backends.iter().copied().map(endpoint).collect(),
        ..Default::default()
    }
}

fn table(entries: impl IntoIterator<Item = (ServicePortName, ServiceEntry)>) -> ServiceTable {
    ServiceTable {
        services: entries.into_iter().collect(),
    }
}

/// A proxy that leaves routes alone: 127.0.0.0/8 is local already.
fn proxy() -> UserspaceProxy {
    UserspaceProxy::new(UserspaceConfig {
        service_cidrs: Vec::new(),
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    })
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

async fn three_backends() -> (Vec<SocketAddr>, Vec<tokio::task::JoinHandle<()>>) {
    let mut addrs = Vec::new();
    let mut tasks = Vec::new();
    for i in 1..=3 {
        let (addr, task) = spawn_tcp_backend(loopback(1), &format!("b{i}")).await;
        addrs.push(addr);
        tasks.push(task);
    }
    (addrs, tasks)
}

async fn tally(vip: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        *counts.entry(who(vip).await).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn three_backends_share_300_connections() {
    let (backends, _tasks) = three_backends().await;
    let vip = free_port(loopback(41));
    let p = proxy();
    p.sync(&table([(
        name("web", TransportProtocol::Tcp),
        entry(vip, &backends),
    )]))
    .await
    .unwrap();

    let counts = tally(vip, 300).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (backend, n) in &counts {
        assert!(*n >= 60, "{backend} got {n} of 300 connections: {counts:?}");
    }
    p.shutdown().await;
}

#[tokio::test]
async fn a_removed_endpoint_gets_no_new_connection_while_open_ones_drain() {
    let (backends, _tasks) = three_backends().await;
    let vip = free_port(loopback(42));
    let svc = name("drain", TransportProtocol::Tcp);
    let p = proxy();
    p.sync(&table([(svc.clone(), entry(vip, &backends))]))
        .await
        .unwrap();

    // Hold one connection open on each backend.
    let mut open = BTreeMap::new();
    while open.len() < 3 {
        let (stream, backend) = connect_named(vip, None).await.unwrap();
        open.entry(backend).or_insert(stream);
    }
    let stats = p.stats(&svc).await.unwrap();
    assert!(stats.active_connections >= 3, "{stats:?}");

    // b3 goes away.
    p.sync(&table([(svc.clone(), entry(vip, &backends[..2]))]))
        .await
        .unwrap();
    let counts = tally(vip, 90).await;
    assert!(
        !counts.contains_key("b3"),
        "a removed endpoint got new connections: {counts:?}"
    );
    assert_eq!(counts.len(), 2, "{counts:?}");

    // The connection opened before the removal still works.
    let b3 = open.get_mut("b3").unwrap();
    assert!(
        echoes(b3, b"still here").await,
        "the open connection to b3 was cut"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn client_ip_affinity_keeps_each_client_on_one_backend() {
    let (backends, _tasks) = three_backends().await;
    let vip = free_port(loopback(43));
    let mut e = entry(vip, &backends);
    e.session_affinity = Some(Duration::from_secs(600));
    let p = proxy();
    p.sync(&table([(name("sticky", TransportProtocol::Tcp), e)]))
        .await
        .unwrap();

    let mut chosen = BTreeMap::new();
    for client in 2..=7u8 {
        let source = IpAddr::from([127, 0, 1, client]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            seen.insert(connect_named(vip, Some(source)).await.unwrap().1);
        }
        assert_eq!(seen.len(), 1, "client {source} reached {seen:?}");
        chosen.insert(source, seen.into_iter().next().unwrap());
    }
    let distinct: std::collections::BTreeSet<_> = chosen.values().collect();
    assert_eq!(distinct.len(), 3, "new clients are spread: {chosen:?}");
    p.shutdown().await;
}

#[tokio::test]
async fn a_failing_endpoint_is_skipped_on_connect() {
    let (live, _task) = spawn_tcp_backend(loopback(1), "live").await;
    // Nothing listens there.
    let dead = free_port(loopback(1));
    let vip = free_port(loopback(44));
    let p = proxy();
    p.sync(&table([(
        name("flaky", TransportProtocol::Tcp),
        entry(vip, &[dead, live]),
    )]))
    .await
    .unwrap();
    let counts = tally(vip, 20).await;
    assert_eq!(counts.get("live"), Some(&20), "{counts:?}");
    p.shutdown().await;
}

#[tokio::test]
async fn a_service_without_endpoints_refuses_connections() {
    let vip = free_port(loopback(45));
    let svc = name("empty", TransportProtocol::Tcp);
    let (backend, _task) = spawn_tcp_backend(loopback(1), "b").await;
    let p = proxy();
    p.sync(&table([(svc.clone(), entry(vip, &[backend]))]))
        .await
        .unwrap();
    assert_eq!(who(vip).await, "b");
    p.sync(&table([(svc, entry(vip, &[]))])).await.unwrap();
    let err = tokio::net::TcpStream::connect(vip).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    // And when every endpoint fails, the client is reset rather than left hanging.
    let dead = free_port(loopback(1));
    p.sync(&table([(
        name("dead", TransportProtocol::Tcp),
        entry(vip, &[dead]),
    )]))
    .await
    .unwrap();
    assert!(connect_named(vip, None).await.is_err());
    p.shutdown().await;
}

#[tokio::test]
async fn node_ports_external_and_load_balancer_ips_are_served() {
    let (backend, _task) = spawn_tcp_backend(loopback(1), "b").await;
    let vip = free_port(loopback(46));
    let external = free_port(loopback(47)).ip();
    let lb = free_port(loopback(48)).ip();
    let node_port = free_port(loopback(49)).port();
    let mut e = entry(vip, &[backend]);
    e.external_ips = vec![external];
    e.load_balancer_ips = vec![lb];
    e.node_port = Some(node_port);
    let p = UserspaceProxy::new(UserspaceConfig {
        service_cidrs: Vec::new(),
        node_port_addresses: vec![loopback(49)],
        ..Default::default()
    });
    p.sync(&table([(name("np", TransportProtocol::Tcp), e)]))
        .await
        .unwrap();
    for addr in [
        vip,
        SocketAddr::new(external, vip.port()),
        SocketAddr::new(lb, vip.port()),
        SocketAddr::new(loopback(49), node_port),
    ] {
        assert_eq!(who(addr).await, "b", "through {addr}");
    }
    assert_eq!(p.listening().await.len(), 4);
    p.sync(&ServiceTable::default()).await.unwrap();
    assert!(p.listening().await.is_empty());
    p.shutdown().await;
}

#[tokio::test]
async fn udp_is_relayed_and_sessions_move_off_removed_endpoints() {
    let mut backends = Vec::new();
    let mut tasks = Vec::new();
    for i in 1..=2 {
        let s = UdpSocket::bind((loopback(1), 0)).await.unwrap();
        backends.push(s.local_addr().unwrap());
        tasks.push(udp_backend(s, &format!("u{i}")));
    }
    let vip = free_port(loopback(50));
    let svc = name("dns", TransportProtocol::Udp);
    let p = proxy();
    p.sync(&table([(svc.clone(), entry(vip, &backends))]))
        .await
        .unwrap();

    let client = UdpSocket::bind((loopback(1), 0)).await.unwrap();
    let ask = |payload: &'static [u8]| {
        let client = &client;
        async move {
            client.send_to(payload, vip).await.unwrap();
            let mut buf = [0u8; 512];
            let (n, from) = tokio::time::timeout(common::TIMEOUT, client.recv_from(&mut buf))
                .await
                .expect("no reply")
                .unwrap();
            assert_eq!(from, vip, "replies come from the service address");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        }
    };
    let first = ask(b"q1").await;
    let (backend, payload) = first.split_once(':').unwrap();
    assert_eq!(payload, "q1");
    // One client, one session: the same backend answers.
    assert_eq!(ask(b"q2").await, format!("{backend}:q2"));
    assert_eq!(p.stats(&svc).await.unwrap().udp_sessions, 1);

    // Remove the session's backend: the next datagram goes to the other one.
    let keep: Vec<SocketAddr> = backends
        .iter()
        .zip(["u1", "u2"])
        .filter(|(_, n)| *n != backend)
        .map(|(a, _)| *a)
        .collect();
    p.sync(&table([(svc.clone(), entry(vip, &keep))]))
        .await
        .unwrap();
    let other = ask(b"q3").await;
    assert!(!other.starts_with(backend), "{other}");
    assert!(other.ends_with(":q3"));
    p.shutdown().await;
}

#[tokio::test]
async fn without_privileges_it_says_what_it_cannot_serve_and_serves_the_rest() {
    let (backend, _task) = spawn_tcp_backend(loopback(1), "b").await;
    let node_port = free_port(loopback(51)).port();
    let routes = FakeLocalRoutes::unprivileged();
    let p = UserspaceProxy::with_routes(
        UserspaceConfig {
            node_port_addresses: vec![loopback(51)],
            ..Default::default()
        },
        routes.clone(),
    );
    let mut e = entry("10.96.0.10:80".parse().unwrap(), &[backend]);
    e.node_port = Some(node_port);
    let err = p
        .sync(&table([(name("web", TransportProtocol::Tcp), e)]))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ProxyError::Unsupported { .. }), "{err:?}");
    assert!(message.contains("10.96.0.0/12"), "{message}");
    assert!(message.contains("10.96.0.10:80"), "{message}");
    assert!(message.contains("CAP_NET_ADMIN"), "{message}");
    assert!(routes.routes().is_empty());
    // The node port works all the same.
    assert_eq!(who(SocketAddr::new(loopback(51), node_port)).await, "b");
    p.shutdown().await;
}

#[tokio::test]
async fn routes_are_added_once_and_removed_on_shutdown() {
    let routes = FakeLocalRoutes::new();
    let p = UserspaceProxy::with_routes(UserspaceConfig::default(), routes.clone());
    p.sync(&ServiceTable::default()).await.unwrap();
    p.sync(&ServiceTable::default()).await.unwrap();
    assert_eq!(routes.routes(), vec!["10.96.0.0/12".parse().unwrap()]);
    p.shutdown().await;
    assert!(routes.routes().is_empty());
    assert!(
        p.sync(&ServiceTable::default()).await.is_err(),
        "no sync after shutdown"
    );
}

#[tokio::test]
async fn shutdown_closes_listeners_but_not_open_connections() {
    let (backend, _task) = spawn_tcp_backend(loopback(1), "b").await;
    let vip = free_port(loopback(52));
    let p = proxy();
    p.sync(&table([(
        name("web", TransportProtocol::Tcp),
        entry(vip, &[backend]),
    )]))
    .await
    .unwrap();
    let (mut open, _) = connect_named(vip, None).await.unwrap();
    p.shutdown().await;
    eventually("the listener to close", || async {
        tokio::net::TcpStream::connect(vip).await.is_err()
    })
    .await;
    assert!(echoes(&mut open, b"draining").await);
}
