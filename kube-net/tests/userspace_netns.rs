//! The userspace proxy on real ClusterIPs, inside a network namespace each test creates:
//! the proxy makes the service range local with a route, serves the ClusterIPs the API
//! server allocated, and removes the route on shutdown. Needs root (CAP_NET_ADMIN) and
//! iproute2; without them the tests fail under `CI` and say they skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::{NetNs, connect_named, spawn_tcp_backend, who};
use kube_api::client::{Api, Client, PostParams};
use kube_api::server::ApiServer;
use kube_core::network::{Endpoint, ServiceEntry, ServicePortName, TransportProtocol};
use kube_core::{Endpoints, NetworkProxy, Service, ServiceTable, Store};
use kube_net::testing::{endpoints, service};
use kube_net::{ServiceProxy, ServiceProxyConfig, UserspaceConfig, UserspaceProxy};
use kube_store::MemoryStore;

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

#[test]
fn cluster_ips_are_served_through_a_local_route_removed_on_shutdown() {
    let Some(ns) = NetNs::create("cluster_ips_are_served_through_a_local_route") else {
        return;
    };
    let name = ns.name.clone();
    let routes_before = ns.ip(&["route", "show", "table", "local"]);
    assert!(!routes_before.contains("10.96.0.0/12"));
    let routes_during = ns.block_on(move || async move {
        let (backend, _task) = spawn_tcp_backend(localhost(), "b").await;
        let proxy = UserspaceProxy::new(UserspaceConfig::default());
        let vip: SocketAddr = "10.96.0.10:80".parse().unwrap();
        let table = ServiceTable {
            services: [(
                ServicePortName {
                    namespace: "default".into(),
                    name: "web".into(),
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
            )]
            .into_iter()
            .collect(),
        };
        proxy.sync(&table).await.unwrap();
        assert_eq!(who(vip).await, "b");
        let routes = common::must(&["ip", "-n", &name, "route", "show", "table", "local"]);
        proxy.shutdown().await;
        assert!(tokio::net::TcpStream::connect(vip).await.is_err());
        routes
    });
    assert!(
        routes_during.contains("local 10.96.0.0/12 dev lo"),
        "{routes_during}"
    );
    let routes_after = ns.ip(&["route", "show", "table", "local"]);
    assert!(!routes_after.contains("10.96.0.0/12"), "{routes_after}");
}

async fn tally(vip: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        *counts.entry(who(vip).await).or_default() += 1;
    }
    counts
}

/// The scenario, end to end: API server, service proxy, userspace data plane.
#[test]
fn a_service_with_three_backends_from_the_api_server() {
    let Some(ns) = NetNs::create("a_service_with_three_backends_from_the_api_server") else {
        return;
    };
    ns.block_on(|| async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let api = ApiServer::builder(store).build().await.unwrap();
        let client = Client::new(api.clone(), "default");
        let services: Api<Service> = Api::default_namespaced(client.clone());
        let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
        let pp = PostParams::default();

        let mut backends = Vec::new();
        let mut tasks = Vec::new();
        for i in 1..=3 {
            let (addr, task) = spawn_tcp_backend(localhost(), &format!("b{i}")).await;
            backends.push(addr);
            tasks.push(task);
        }
        let web = services
            .create(&pp, &service("default", "web").port("http", 80).build())
            .await
            .unwrap();
        let vip = SocketAddr::new(web.cluster_ip().unwrap().parse().unwrap(), 80);
        let all = backends.iter().fold(endpoints("default", "web"), |b, a| {
            b.ready(&a.ip().to_string(), "http", i32::from(a.port()))
        });
        eps.create(&pp, &all.build()).await.unwrap();

        let dataplane = UserspaceProxy::new(UserspaceConfig::default());
        let handle = ServiceProxy::new(client.clone(), dataplane.clone())
            .config(ServiceProxyConfig {
                min_sync_interval: Duration::from_millis(50),
                sync_interval: Duration::from_secs(600),
            })
            .spawn();
        let key = ServicePortName {
            namespace: "default".into(),
            name: "web".into(),
            port: "http".into(),
            protocol: TransportProtocol::Tcp,
        };
        let endpoint_count = |n: usize| {
            let key = key.clone();
            move |s: &kube_net::SyncStatus| {
                s.table
                    .services
                    .get(&key)
                    .is_some_and(|e| e.endpoints.len() == n)
            }
        };
        tokio::time::timeout(common::TIMEOUT, handle.wait_for(endpoint_count(3)))
            .await
            .expect("the proxy to serve three endpoints");

        // 300 connections to the real ClusterIP reach each backend at least 20% of the time.
        let counts = tally(vip, 300).await;
        assert_eq!(counts.len(), 3, "{counts:?}");
        for (b, n) in &counts {
            assert!(*n >= 60, "{b}: {n} of 300: {counts:?}");
        }

        // b3 leaves the Endpoints: once the proxy has synced, no new connection reaches it,
        // while one opened before keeps working.
        let mut open_b3 = loop {
            let (stream, b) = connect_named(vip, None).await.unwrap();
            if b == "b3" {
                break stream;
            }
        };
        let two = backends[..2]
            .iter()
            .fold(endpoints("default", "web"), |b, a| {
                b.ready(&a.ip().to_string(), "http", i32::from(a.port()))
            });
        eps.replace("web", &pp, &two.build()).await.unwrap();
        tokio::time::timeout(common::TIMEOUT, handle.wait_for(endpoint_count(2)))
            .await
            .expect("the proxy to drop b3");
        let counts = tally(vip, 60).await;
        assert!(!counts.contains_key("b3"), "{counts:?}");
        assert!(common::echoes(&mut open_b3, b"drain").await);

        // ClientIP affinity: each client keeps reaching one backend.
        let mut sticky = services.get("web").await.unwrap();
        sticky.spec.session_affinity = Some(kube_core::SessionAffinity::ClientIP);
        services.replace("web", &pp, &sticky).await.unwrap();
        let with_affinity = key.clone();
        tokio::time::timeout(
            common::TIMEOUT,
            handle.wait_for(move |s| {
                s.table
                    .services
                    .get(&with_affinity)
                    .is_some_and(|e| e.session_affinity.is_some())
            }),
        )
        .await
        .expect("the proxy to apply the affinity");
        for client in 2..=5u8 {
            let source = IpAddr::from([127, 0, 0, client]);
            let mut seen = BTreeSet::new();
            for _ in 0..15 {
                seen.insert(connect_named(vip, Some(source)).await.unwrap().1);
            }
            assert_eq!(seen.len(), 1, "client {source} reached {seen:?}");
        }

        handle.shutdown().await;
        dataplane.shutdown().await;
    });
}
