//! The service proxy loop against an in-process API server on a MemoryStore, with a data
//! plane that records the tables it is given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use kube_api::client::{Api, Client, DeleteParams, PostParams};
use kube_api::server::ApiServer;
use kube_core::network::{ServicePortName, TransportProtocol};
use kube_core::{Endpoints, LoadBalancerIngress, Service, ServiceTable, ServiceType, Store};
use kube_net::testing::{RecordingProxy, endpoints, service};
use kube_net::{ServiceProxy, ServiceProxyConfig};
use kube_store::MemoryStore;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn cluster() -> (ApiServer, Client) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    let client = Client::new(api.clone(), "default");
    (api, client)
}

fn fast() -> ServiceProxyConfig {
    ServiceProxyConfig {
        min_sync_interval: Duration::from_millis(20),
        sync_interval: Duration::from_secs(600),
    }
}

fn key(name: &str, port: &str) -> ServicePortName {
    ServicePortName {
        namespace: "default".into(),
        name: name.into(),
        port: port.into(),
        protocol: TransportProtocol::Tcp,
    }
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn endpoint_ips(table: &ServiceTable, name: &str) -> Vec<String> {
    table
        .services
        .get(&key(name, "http"))
        .map(|e| e.endpoints.iter().map(|e| e.ip.to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_table_follows_services_and_endpoints() {
    let (_api, client) = cluster().await;
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();

    // Objects that exist before the proxy starts are in its first table.
    let web = services
        .create(&pp, &service("default", "web").port("http", 80).build())
        .await
        .unwrap();
    let vip: IpAddr = web.cluster_ip().unwrap().parse().unwrap();
    eps.create(
        &pp,
        &endpoints("default", "web")
            .ready("10.244.0.5", "http", 8080)
            .not_ready("10.244.0.6", "http", 8080)
            .build(),
    )
    .await
    .unwrap();

    let recorder = RecordingProxy::new();
    let handle = ServiceProxy::new(client.clone(), recorder.clone())
        .config(fast())
        .spawn();
    let status = within("the first sync", handle.wait_for_first_sync()).await;
    let first = recorder.tables().remove(0);
    assert_eq!(*status.table, first);
    let entry = &first.services[&key("web", "http")];
    assert_eq!(entry.cluster_ips, vec![vip]);
    assert_eq!(entry.port, 80);
    assert_eq!(
        endpoint_ips(&first, "web"),
        ["10.244.0.5"],
        "not-ready addresses get no traffic"
    );

    // A new endpoint becomes ready.
    let mut current = eps.get("web").await.unwrap();
    current.subsets[1].addresses = std::mem::take(&mut current.subsets[1].not_ready_addresses);
    eps.replace("web", &pp, &current).await.unwrap();
    within(
        "the second endpoint",
        recorder.wait_for(|t| endpoint_ips(t, "web") == ["10.244.0.5", "10.244.0.6"]),
    )
    .await;

    // The endpoints go away: the entry stays, without endpoints (its clients are refused).
    eps.delete("web", &DeleteParams::default()).await.unwrap();
    let t = within(
        "the endpoints to go",
        recorder.wait_for(|t| {
            t.services
                .get(&key("web", "http"))
                .is_some_and(|e| e.endpoints.is_empty())
        }),
    )
    .await;
    assert_eq!(t.services.len(), 1);

    // The service goes away.
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    within(
        "the service to go",
        recorder.wait_for(|t| t.services.is_empty()),
    )
    .await;
    handle.shutdown().await;
}

#[tokio::test]
async fn node_ports_and_load_balancer_ingress_reach_the_table() {
    let (_api, client) = cluster().await;
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    let recorder = RecordingProxy::new();
    let handle = ServiceProxy::new(client.clone(), recorder.clone())
        .config(fast())
        .spawn();
    within("the first sync", handle.wait_for_first_sync()).await;

    let lb = services
        .create(
            &pp,
            &service("default", "lb")
                .port("http", 80)
                .type_(ServiceType::LoadBalancer)
                .client_ip_affinity(Some(30))
                .build(),
        )
        .await
        .unwrap();
    let node_port = lb.spec.ports[0]
        .node_port
        .expect("the API server allocates a node port");
    let t = within(
        "the load balancer service",
        recorder.wait_for(|t| t.services.contains_key(&key("lb", "http"))),
    )
    .await;
    let entry = &t.services[&key("lb", "http")];
    assert_eq!(entry.node_port, Some(u16::try_from(node_port).unwrap()));
    assert_eq!(entry.session_affinity, Some(Duration::from_secs(30)));
    assert!(entry.load_balancer_ips.is_empty());

    // The cloud controller reports the load balancer's address.
    let mut with_status = services.get("lb").await.unwrap();
    with_status.status.load_balancer.ingress = vec![LoadBalancerIngress {
        ip: Some("203.0.113.9".into()),
        ..Default::default()
    }];
    services
        .replace_status("lb", &pp, &with_status)
        .await
        .unwrap();
    within(
        "the ingress IP",
        recorder.wait_for(|t| {
            t.services
                .get(&key("lb", "http"))
                .is_some_and(|e| e.load_balancer_ips == ["203.0.113.9".parse::<IpAddr>().unwrap()])
        }),
    )
    .await;
    handle.shutdown().await;
}

#[tokio::test]
async fn bursts_of_changes_are_coalesced() {
    let (_api, client) = cluster().await;
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    services
        .create(&pp, &service("default", "web").port("http", 80).build())
        .await
        .unwrap();
    let recorder = RecordingProxy::new();
    let min = Duration::from_secs(2);
    let handle = ServiceProxy::new(client.clone(), recorder.clone())
        .config(ServiceProxyConfig {
            min_sync_interval: min,
            sync_interval: Duration::from_secs(600),
        })
        .spawn();
    within("the first sync", handle.wait_for_first_sync()).await;

    // 40 changes in a row, as a rollout would make.
    let started = tokio::time::Instant::now();
    let updates = 40;
    eps.create(&pp, &endpoints("default", "web").build())
        .await
        .unwrap();
    for i in 0..updates {
        let next = endpoints("default", "web")
            .ready(&format!("10.244.1.{i}"), "http", 8080)
            .build();
        eps.replace("web", &pp, &next).await.unwrap();
    }
    let last = format!("10.244.1.{}", updates - 1);
    within(
        "the last change",
        recorder.wait_for(|t| endpoint_ips(t, "web") == [last.as_str()]),
    )
    .await;
    let elapsed = started.elapsed();
    let syncs = recorder.syncs() - 1;
    // Syncs are at least `min` apart, so however slow the machine, the burst costs at most
    // one sync per interval it lasted (plus the one that ends it), never one per change.
    let bound = usize::try_from(elapsed.as_millis() / min.as_millis()).unwrap() + 2;
    assert!(syncs <= bound, "{syncs} syncs in {elapsed:?}");
    assert!(syncs < updates, "{syncs} syncs for {updates} changes");
    handle.shutdown().await;
}

#[tokio::test]
async fn failed_syncs_are_retried_and_reported() {
    let (_api, client) = cluster().await;
    let recorder = RecordingProxy::new();
    recorder.fail_next(2);
    let handle = ServiceProxy::new(client.clone(), recorder.clone())
        .config(ServiceProxyConfig {
            min_sync_interval: Duration::from_millis(10),
            sync_interval: Duration::from_secs(600),
        })
        .spawn();
    let status = within("a successful sync", handle.wait_for_first_sync()).await;
    assert_eq!(status.failures, 2);
    assert_eq!(status.last_error, None);
    assert_eq!(recorder.syncs(), 3);
    handle.shutdown().await;
}

#[tokio::test]
async fn an_unchanged_table_is_not_applied_again() {
    let (_api, client) = cluster().await;
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    let recorder = RecordingProxy::new();
    let handle = ServiceProxy::new(client.clone(), recorder.clone())
        .config(fast())
        .spawn();
    within("the first sync", handle.wait_for_first_sync()).await;

    // A label changes nothing the data plane sees; then a real change follows.
    services
        .create(&pp, &service("default", "a").port("http", 80).build())
        .await
        .unwrap();
    within("service a", recorder.wait_for(|t| t.services.len() == 1)).await;
    let mut a = services.get("a").await.unwrap();
    a.metadata.labels.insert("team".into(), "blue".into());
    services.replace("a", &pp, &a).await.unwrap();
    services
        .create(&pp, &service("default", "b").port("http", 80).build())
        .await
        .unwrap();
    within("service b", recorder.wait_for(|t| t.services.len() == 2)).await;

    let tables = recorder.tables();
    for pair in tables.windows(2) {
        assert_ne!(
            pair[0], pair[1],
            "the same table was applied twice in a row"
        );
    }
    handle.shutdown().await;
}
