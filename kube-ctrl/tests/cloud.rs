//! The cloud controller manager: nodes initialized from the provider, nodes whose machine
//! is gone deleted, load balancers for Services with their cleanup.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, eventually, meta};
use kube_api::client::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_core::{
    ConditionStatus, Node, NodeAddressType, NodeCondition, NodeConditionType, NodeSpec, Service,
    ServicePort, ServiceSpec, ServiceType, Taint, TaintEffect, Time,
};
use kube_ctrl::Shutdown;
use kube_ctrl::cloud::{
    CloudConfig, CloudControllerManager, CloudNodeConfig, FakeCloud, LABEL_INSTANCE_TYPE,
    LABEL_ZONE, LB_CLEANUP_FINALIZER, LocalCloud, LocalCloudConfig, TAINT_SHUTDOWN,
    TAINT_UNINITIALIZED,
};

fn fast() -> CloudConfig {
    CloudConfig {
        node: CloudNodeConfig {
            monitor_period: Duration::from_millis(200),
            ..CloudNodeConfig::default()
        },
        ..CloudConfig::default()
    }
}

fn start(
    cluster: &Cluster,
    provider: Arc<dyn kube_core::CloudProvider>,
) -> kube_ctrl::ShutdownTrigger {
    let ccm = CloudControllerManager::builder_arc(cluster.client.clone(), provider)
        .config(fast())
        .build()
        .unwrap();
    let (stop, shutdown) = Shutdown::new();
    tokio::spawn(async move { ccm.run(shutdown).await });
    stop
}

async fn node(cluster: &Cluster, name: &str, ready: bool, taints: Vec<Taint>) {
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let created = nodes
        .create(
            &PostParams::default(),
            &Node {
                metadata: meta(name),
                spec: NodeSpec {
                    taints,
                    ..NodeSpec::default()
                },
                ..Node::default()
            },
        )
        .await
        .unwrap();
    let mut n = created;
    n.status.conditions = vec![NodeCondition {
        type_: NodeConditionType::Ready,
        status: ConditionStatus::from(ready),
        last_heartbeat_time: Some(Time::now()),
        ..NodeCondition::default()
    }];
    nodes
        .replace_status(name, &PostParams::default(), &n)
        .await
        .unwrap();
}

fn lb_service(name: &str) -> Service {
    Service {
        metadata: meta(name),
        spec: ServiceSpec {
            type_: Some(ServiceType::LoadBalancer),
            ports: vec![ServicePort {
                port: 80,
                ..ServicePort::default()
            }],
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

fn ingress_ip(svc: &Service) -> Option<String> {
    svc.status
        .load_balancer
        .ingress
        .first()
        .and_then(|i| i.ip.clone())
}

#[tokio::test]
async fn nodes_are_initialized_and_removed_with_their_machine() {
    let cluster = Cluster::start().await;
    let cloud = Arc::new(
        LocalCloud::new(LocalCloudConfig {
            zone: "zone-a".into(),
            region: "region-1".into(),
            instance_type: "metal".into(),
            ..LocalCloudConfig::default()
        })
        .unwrap(),
    );
    let uninitialized = Taint {
        key: TAINT_UNINITIALIZED.into(),
        value: Some("true".into()),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    };
    node(&cluster, "n1", true, vec![uninitialized]).await;
    node(&cluster, "gone-ready", true, vec![]).await;
    node(&cluster, "gone", false, vec![]).await;
    node(&cluster, "sleeping", false, vec![]).await;
    cloud.remove_instance("gone");
    cloud.remove_instance("gone-ready");
    cloud.set_shutdown("sleeping", true);
    let _stop = start(&cluster, cloud.clone());
    let nodes: Api<Node> = Api::all(cluster.client.clone());

    let n1 = eventually("n1 initialized", || async {
        let n = nodes.get("n1").await.unwrap();
        (!n.spec.taints.iter().any(|t| t.key == TAINT_UNINITIALIZED)
            && !n.status.addresses.is_empty())
        .then_some(n)
    })
    .await;
    assert_eq!(n1.spec.provider_id.as_deref(), Some("local://n1"));
    assert_eq!(n1.metadata.labels[LABEL_ZONE], "zone-a");
    assert_eq!(n1.metadata.labels[LABEL_INSTANCE_TYPE], "metal");
    assert_eq!(
        n1.metadata.labels["topology.kubernetes.io/region"],
        "region-1"
    );
    assert_eq!(n1.address(&NodeAddressType::InternalIP), Some("127.0.0.1"));
    assert_eq!(n1.address(&NodeAddressType::Hostname), Some("n1"));

    eventually(
        "the not-ready node whose machine is gone is deleted",
        || async { nodes.get_opt("gone").await.unwrap().is_none().then_some(()) },
    )
    .await;
    eventually("the shut-down node is tainted", || async {
        let n = nodes.get("sleeping").await.unwrap();
        n.spec
            .taints
            .iter()
            .any(|t| t.key == TAINT_SHUTDOWN)
            .then_some(())
    })
    .await;
    assert!(
        nodes.get_opt("gone-ready").await.unwrap().is_some(),
        "a ready node stays"
    );
    // The machine wakes up: the taint goes.
    cloud.set_shutdown("sleeping", false);
    eventually("the shutdown taint removed", || async {
        let n = nodes.get("sleeping").await.unwrap();
        (!n.spec.taints.iter().any(|t| t.key == TAINT_SHUTDOWN)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn load_balancers_are_handed_out_and_released() {
    let cluster = Cluster::start().await;
    let cloud = Arc::new(
        LocalCloud::new(LocalCloudConfig {
            lb_first: Ipv4Addr::new(198, 51, 100, 10),
            lb_last: Ipv4Addr::new(198, 51, 100, 20),
            ..LocalCloudConfig::default()
        })
        .unwrap(),
    );
    node(&cluster, "n1", true, vec![]).await;
    let _stop = start(&cluster, cloud.clone());
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), "default");
    let pp = PostParams::default();
    services.create(&pp, &lb_service("web")).await.unwrap();
    services.create(&pp, &lb_service("api")).await.unwrap();
    let mut plain = lb_service("internal");
    plain.spec.type_ = Some(ServiceType::ClusterIP);
    services.create(&pp, &plain).await.unwrap();

    let web = eventually("web's ingress", || async {
        let s = services.get("web").await.unwrap();
        ingress_ip(&s).map(|ip| (s, ip))
    })
    .await;
    let api = eventually("api's ingress", || async {
        ingress_ip(&services.get("api").await.unwrap())
    })
    .await;
    assert_ne!(web.1, api);
    for ip in [&web.1, &api] {
        let ip: Ipv4Addr = ip.parse().unwrap();
        assert!((Ipv4Addr::new(198, 51, 100, 10)..=Ipv4Addr::new(198, 51, 100, 20)).contains(&ip));
    }
    assert!(
        web.0
            .metadata
            .finalizers
            .contains(&LB_CLEANUP_FINALIZER.to_owned())
    );
    assert!(ingress_ip(&services.get("internal").await.unwrap()).is_none());
    assert_eq!(cloud.allocations().len(), 2);

    // Changing the type gives the address back and drops the finalizer.
    services
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .unwrap();
    eventually("api released", || async {
        let s = services.get("api").await.unwrap();
        (ingress_ip(&s).is_none() && s.metadata.finalizers.is_empty()).then_some(())
    })
    .await;
    // Deleting the Service waits for the load balancer to go.
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("web gone", || async {
        services
            .get_opt("web")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(cloud.allocations().is_empty(), "no address leaked");
}

#[tokio::test]
async fn provider_failures_are_retried_and_node_changes_update_the_balancer() {
    let cluster = Cluster::start().await;
    let cloud = Arc::new(FakeCloud::new());
    cloud.fail_load_balancers(Some("quota exceeded"));
    node(&cluster, "n1", true, vec![]).await;
    let _stop = start(&cluster, cloud.clone());
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), "default");
    services
        .create(&PostParams::default(), &lb_service("web"))
        .await
        .unwrap();
    let events: Api<kube_core::Event> = Api::namespaced(cluster.client.clone(), "default");
    eventually("the failure reported", || async {
        events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("SyncLoadBalancerFailed"))
            .then_some(())
    })
    .await;
    cloud.fail_load_balancers(None);
    eventually("the ingress after recovery", || async {
        ingress_ip(&services.get("web").await.unwrap())
    })
    .await;
    // A new ready node is added to the balancer.
    node(&cluster, "n2", true, vec![]).await;
    eventually("the balancer updated with n2", || async {
        cloud
            .calls()
            .iter()
            .any(|c| c.contains("nodes") && c.contains("n1") && c.contains("n2"))
            .then_some(())
    })
    .await;
    // While the provider fails, a deleted Service waits; then it goes.
    cloud.fail_load_balancers(Some("api down"));
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = services.get("web").await.unwrap();
    assert!(waiting.metadata.deletion_timestamp.is_some());
    cloud.fail_load_balancers(None);
    eventually("web gone", || async {
        services
            .get_opt("web")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(cloud.load_balancers().is_empty());
}
