//! The Endpoints controller: ready and not-ready addresses, named target ports, changes,
//! deletion, Services without selectors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Cluster, eventually, labels, mark_ready, meta, run, set_pod_status};
use kube_api::client::{Api, DeleteParams, PostParams};
use kube_core::{
    Container, ContainerPort, EndpointAddress, EndpointSubset, Endpoints, IntOrString, ObjectMeta,
    Pod, PodSpec, Service, ServicePort, ServiceSpec,
};
use kube_ctrl::controllers::EndpointsController;

fn pod(name: &str, app: &str, named_port: Option<(&str, i32)>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: labels(&[("app", app)]),
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            node_name: Some("node-1".into()),
            containers: vec![Container {
                name: "main".into(),
                image: Some("web".into()),
                ports: named_port
                    .map(|(n, p)| ContainerPort {
                        name: Some(n.into()),
                        container_port: p,
                        ..ContainerPort::default()
                    })
                    .into_iter()
                    .collect(),
                ..Container::default()
            }],
            ..PodSpec::default()
        },
        ..Pod::default()
    }
}

fn service(name: &str, app: Option<&str>) -> Service {
    Service {
        metadata: meta(name),
        spec: ServiceSpec {
            selector: app.map(|a| labels(&[("app", a)])).unwrap_or_default(),
            ports: vec![
                ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    target_port: Some(IntOrString::String("http".into())),
                    ..ServicePort::default()
                },
                ServicePort {
                    name: Some("metrics".into()),
                    port: 9090,
                    target_port: Some(IntOrString::Int(9100)),
                    ..ServicePort::default()
                },
            ],
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

fn ips(addresses: &[EndpointAddress]) -> Vec<&str> {
    addresses.iter().map(|a| a.ip.as_str()).collect()
}

fn summary(subsets: &[EndpointSubset]) -> Vec<(Vec<&str>, Vec<&str>, Vec<i32>)> {
    subsets
        .iter()
        .map(|s| {
            (
                ips(&s.addresses),
                ips(&s.not_ready_addresses),
                s.ports.iter().map(|p| p.port).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn endpoints_follow_the_selected_pods() {
    let cluster = Cluster::start().await;
    let _m = run(
        &cluster.client,
        vec![Arc::new(EndpointsController::default())],
    );
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), "default");
    let endpoints: Api<Endpoints> = Api::namespaced(cluster.client.clone(), "default");
    let pp = PostParams::default();
    pods.create(&pp, &pod("web-1", "web", Some(("http", 8080))))
        .await
        .unwrap();
    pods.create(&pp, &pod("web-2", "web", None)).await.unwrap();
    pods.create(&pp, &pod("web-3", "web", Some(("http", 8080))))
        .await
        .unwrap();
    pods.create(&pp, &pod("db-1", "db", Some(("http", 8080))))
        .await
        .unwrap();
    mark_ready(&pods, "web-1", "10.244.0.1").await;
    // Running with an IP, not ready, and without the named port.
    set_pod_status(&pods, "web-2", |p| {
        p.status.pod_ip = Some("10.244.0.2".into());
    })
    .await;
    // web-3 has no IP yet; db-1 is not selected.
    mark_ready(&pods, "db-1", "10.244.0.9").await;
    services
        .create(&pp, &service("web", Some("web")))
        .await
        .unwrap();

    let ep = eventually("the endpoints", || async {
        endpoints
            .get_opt("web")
            .await
            .unwrap()
            .filter(|e| !e.subsets.is_empty())
    })
    .await;
    assert_eq!(
        summary(&ep.subsets),
        vec![
            (vec!["10.244.0.1"], vec![], vec![8080, 9100]),
            (vec![], vec!["10.244.0.2"], vec![9100]),
        ]
    );
    let addr = &ep.subsets[0].addresses[0];
    assert_eq!(addr.node_name.as_deref(), Some("node-1"));
    let target = addr.target_ref.as_ref().unwrap();
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref()),
        (Some("Pod"), Some("web-1"))
    );
    let http = &ep.subsets[0].ports[0];
    assert_eq!(http.name.as_deref(), Some("http"));

    // web-3 gets an IP and becomes ready; web-1 goes away.
    mark_ready(&pods, "web-3", "10.244.0.3").await;
    pods.delete("web-1", &DeleteParams::immediate())
        .await
        .unwrap();
    eventually("web-3 in, web-1 out", || async {
        let ep = endpoints.get("web").await.unwrap();
        (summary(&ep.subsets)
            == vec![
                (vec!["10.244.0.3"], vec![], vec![8080, 9100]),
                (vec![], vec!["10.244.0.2"], vec![9100]),
            ])
        .then_some(())
    })
    .await;

    // Hand edits are put back.
    let mut ep = endpoints.get("web").await.unwrap();
    ep.subsets.clear();
    endpoints.replace("web", &pp, &ep).await.unwrap();
    eventually("the endpoints restored", || async {
        (!endpoints.get("web").await.unwrap().subsets.is_empty()).then_some(())
    })
    .await;

    // Publishing not-ready addresses puts every pod with an IP in `addresses`.
    let mut svc = services.get("web").await.unwrap();
    svc.spec.publish_not_ready_addresses = true;
    services.replace("web", &pp, &svc).await.unwrap();
    eventually("not-ready addresses published", || async {
        let ep = endpoints.get("web").await.unwrap();
        ep.subsets
            .iter()
            .all(|s| s.not_ready_addresses.is_empty())
            .then_some(())
    })
    .await;

    // The Service goes: its Endpoints go.
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the endpoints deleted", || async {
        endpoints
            .get_opt("web")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn services_without_a_selector_keep_their_hand_written_endpoints() {
    let cluster = Cluster::start().await;
    let _m = run(
        &cluster.client,
        vec![Arc::new(EndpointsController::default())],
    );
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), "default");
    let endpoints: Api<Endpoints> = Api::namespaced(cluster.client.clone(), "default");
    let pp = PostParams::default();
    services
        .create(&pp, &service("external", None))
        .await
        .unwrap();
    let manual = Endpoints {
        metadata: meta("external"),
        subsets: vec![EndpointSubset {
            addresses: vec![EndpointAddress {
                ip: "192.0.2.10".into(),
                ..EndpointAddress::default()
            }],
            ..EndpointSubset::default()
        }],
    };
    endpoints.create(&pp, &manual).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let ep = endpoints.get("external").await.unwrap();
    assert_eq!(ips(&ep.subsets[0].addresses), vec!["192.0.2.10"]);
}
