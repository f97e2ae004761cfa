//! The controller manager with every built-in controller, under leader election: one
//! acts, the other takes over when it dies, and the work carries on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Cluster, active_pods, eventually, fake_kubelet, meta, selector, template};
use kube_api::client::{Api, Patch, PatchParams, PostParams};
use kube_api::informer::SharedInformerFactory;
use kube_core::{Deployment, DeploymentSpec, Pod};
use kube_ctrl::controllers::ControllersConfig;
use kube_ctrl::controllers::deployment::{RolloutStatus, rollout_status};
use kube_ctrl::{ControllerManager, LeaderElectionConfig, Shutdown};

fn manager(cluster: &Cluster, id: &str) -> ControllerManager {
    ControllerManager::builder(cluster.client.clone())
        .identity(id)
        .leader_election(
            LeaderElectionConfig::new("kube-controller-manager", id).durations(
                Duration::from_secs(2),
                Duration::from_millis(1500),
                Duration::from_millis(200),
            ),
        )
        .builtin_controllers(ControllersConfig::default())
        .build()
        .unwrap()
}

async fn reporters(cluster: &Cluster) -> BTreeSet<String> {
    let events: Api<kube_core::Event> = Api::namespaced(cluster.client.clone(), "default");
    events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.reporting_instance)
        .collect()
}

#[tokio::test]
async fn only_the_leader_acts_and_the_standby_takes_over() {
    let cluster = Cluster::start().await;
    let _kubelet = fake_kubelet(&cluster.client, || Duration::from_millis(10));
    let (m1, m2) = (manager(&cluster, "first"), manager(&cluster, "second"));
    let metrics2 = m2.metrics().clone();
    let (_stop1, s1) = Shutdown::new();
    let t1 = tokio::spawn(async move { m1.run(s1).await });
    let leases: Api<kube_core::Lease> = Api::namespaced(cluster.client.clone(), "kube-system");
    eventually("the first leads", || async {
        let l = leases.get_opt("kube-controller-manager").await.unwrap()?;
        (l.spec.holder_identity.as_deref() == Some("first")).then_some(())
    })
    .await;
    let (stop2, s2) = Shutdown::new();
    let t2 = tokio::spawn(async move { m2.run(s2).await });

    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let d = Deployment {
        metadata: meta("web"),
        spec: DeploymentSpec {
            replicas: Some(3),
            selector: Some(selector(&[("app", "web")])),
            template: template(&[("app", "web")], "web:1"),
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    };
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    eventually("the first rollout", || async {
        let d = deployments.get("web").await.unwrap();
        matches!(rollout_status(&d), RolloutStatus::Done(_)).then_some(())
    })
    .await;
    assert_eq!(
        reporters(&cluster).await,
        BTreeSet::from(["first".to_owned()])
    );
    assert_eq!(metrics2.is_leader("kube-controller-manager"), Some(false));

    // The leader dies without a word.
    t1.abort();
    let _ = t1.await;
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "web:2"}]}}}})),
        )
        .await
        .unwrap();
    eventually("the standby rolls the new image out", || async {
        let d = deployments.get("web").await.unwrap();
        let list = active_pods(&pods).await;
        (matches!(rollout_status(&d), RolloutStatus::Done(_))
            && list.len() == 3
            && list
                .iter()
                .all(|p| p.spec.containers[0].image.as_deref() == Some("web:2")))
        .then_some(())
    })
    .await;
    assert!(reporters(&cluster).await.contains("second"));
    assert_eq!(metrics2.is_leader("kube-controller-manager"), Some(true));
    let text = metrics2.render();
    assert!(text.contains("workqueue_adds_total{name=\"deployment\"}"));
    assert!(text.contains("leader_election_master_status{name=\"kube-controller-manager\"} 1"));
    stop2.trigger();
    tokio::time::timeout(Duration::from_secs(15), t2)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_shared_informer_factory_serves_the_controllers_and_outlives_the_manager() {
    let cluster = Cluster::start().await;
    let factory = SharedInformerFactory::new(cluster.client.clone());
    let manager = ControllerManager::builder(cluster.client.clone())
        .informer_factory(factory.clone())
        .builtin_controllers(ControllersConfig::default())
        .build()
        .unwrap();
    let (stop, shutdown) = Shutdown::new();
    let run = tokio::spawn(async move { manager.run(shutdown).await });
    // The controllers' pod informer is the factory's: taking it opens no second watch.
    let pods = factory.informer::<Pod>();
    eventually("the pod informer to sync", || {
        let synced = pods.has_synced();
        async move { synced.then_some(()) }
    })
    .await;
    let pod_watches = cluster
        .requests
        .lock()
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/pods?") && r.contains("watch=true"))
        .count();
    assert_eq!(pod_watches, 1, "{:?}", cluster.requests.lock());

    stop.trigger();
    run.await.unwrap().unwrap();
    // Its owner stops the factory, not the manager: a pod created now still arrives.
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let pod = Pod {
        metadata: meta("after"),
        spec: template(&[("app", "a")], "img").spec,
        ..Pod::default()
    };
    api.create(&PostParams::default(), &pod).await.unwrap();
    let cache = pods.cache();
    eventually("the pod in the shared cache", || {
        let found = cache
            .list()
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some("after"));
        async move { found.then_some(()) }
    })
    .await;
    factory.stop().await;
}
