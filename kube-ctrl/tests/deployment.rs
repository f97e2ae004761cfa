//! The Deployment controller with the ReplicaSet controller, against the API server:
//! rolling updates, Recreate, rollback, pause, scaling, history, the progress deadline,
//! and a restart of the manager mid-rollout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, active_pods, eventually, fake_kubelet, meta, run, selector, template};
use kube_api::client::{Api, Patch, PatchParams, PostParams};
use kube_core::{
    ConditionStatus, Deployment, DeploymentConditionType, DeploymentSpec, DeploymentStrategy,
    DeploymentStrategyType, IntOrString, Pod, ReplicaSet, ResourceExt as _,
    RollingUpdateDeployment,
};
use kube_ctrl::Runnable;
use kube_ctrl::controllers::deployment::{
    self, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, RolloutStatus, rollout_status,
};
use kube_ctrl::controllers::{DeploymentController, ReplicaSetController};

fn controllers() -> Vec<Arc<dyn Runnable>> {
    vec![
        Arc::new(DeploymentController::default()),
        Arc::new(ReplicaSetController::default()),
    ]
}

fn deploy(name: &str, replicas: i32, image: &str) -> Deployment {
    Deployment {
        metadata: meta(name),
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: Some(selector(&[("app", name)])),
            template: template(&[("app", name)], image),
            strategy: DeploymentStrategy {
                type_: Some(DeploymentStrategyType::RollingUpdate),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(1)),
                }),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}

async fn set_image(api: &Api<Deployment>, name: &str, image: &str) {
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}});
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
}

async fn rolled_out(api: &Api<Deployment>, name: &str) -> Deployment {
    eventually(&format!("{name} rolled out"), || async {
        let d = api.get(name).await.unwrap();
        matches!(rollout_status(&d), RolloutStatus::Done(_)).then_some(d)
    })
    .await
}

fn image_of(pod: &Pod) -> String {
    pod.spec.containers[0].image.clone().unwrap_or_default()
}

async fn owned_sets(cluster: &Cluster, d: &Deployment) -> Vec<ReplicaSet> {
    let api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), "default");
    let mut sets: Vec<ReplicaSet> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|rs| rs.controller_owner().map(|r| r.uid.as_str()) == d.uid())
        .collect();
    sets.sort_by_key(|rs| rs.metadata.annotations.get(REVISION_ANNOTATION).cloned());
    sets
}

#[tokio::test]
async fn rolling_update_then_rollback() {
    let cluster = Cluster::start().await;
    let _kubelet = fake_kubelet(&cluster.client, || Duration::from_millis(20));
    let _m = run(&cluster.client, controllers());
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    api.create(&PostParams::default(), &deploy("web", 4, "nginx:1.26"))
        .await
        .unwrap();

    let d = rolled_out(&api, "web").await;
    assert_eq!(d.metadata.annotations[REVISION_ANNOTATION], "1");
    let first = owned_sets(&cluster, &d).await;
    assert_eq!(first.len(), 1);
    let hash = first[0].metadata.labels[POD_TEMPLATE_HASH_LABEL].clone();
    assert_eq!(first[0].name_any(), format!("web-{hash}"));
    let available = d.condition(&DeploymentConditionType::Available).unwrap();
    assert_eq!(
        (available.status.clone(), available.reason.as_deref()),
        (ConditionStatus::True, Some("MinimumReplicasAvailable"))
    );
    let progressing = d.condition(&DeploymentConditionType::Progressing).unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );
    let list = active_pods(&pods).await;
    assert_eq!(list.len(), 4);
    assert!(
        list.iter()
            .all(|p| p.metadata.labels[POD_TEMPLATE_HASH_LABEL] == hash)
    );

    // Roll out a new image.
    set_image(&api, "web", "nginx:1.27").await;
    let d = eventually("the rollout of revision 2", || async {
        let d = api.get("web").await.unwrap();
        (matches!(rollout_status(&d), RolloutStatus::Done(_))
            && d.metadata
                .annotations
                .get(REVISION_ANNOTATION)
                .map(String::as_str)
                == Some("2"))
        .then_some(d)
    })
    .await;
    assert_eq!(d.status.updated_replicas, Some(4));
    assert_eq!(d.status.observed_generation, d.metadata.generation);
    let sets = owned_sets(&cluster, &d).await;
    assert_eq!(sets.len(), 2);
    assert_eq!(
        sets[0].spec.replicas,
        Some(0),
        "the old ReplicaSet is scaled down"
    );
    assert_eq!(sets[1].spec.replicas, Some(4));
    eventually("only new pods", || async {
        let list = active_pods(&pods).await;
        (list.len() == 4 && list.iter().all(|p| image_of(p) == "nginx:1.27")).then_some(())
    })
    .await;

    // `kubectl rollout undo`: back to revision 1's template, on its old ReplicaSet.
    assert_eq!(
        deployment::rollback(&cluster.client, "default", "web", 0)
            .await
            .unwrap(),
        Some(1)
    );
    let d = eventually("the rollback as revision 3", || async {
        let d = api.get("web").await.unwrap();
        (matches!(rollout_status(&d), RolloutStatus::Done(_))
            && d.metadata
                .annotations
                .get(REVISION_ANNOTATION)
                .map(String::as_str)
                == Some("3"))
        .then_some(d)
    })
    .await;
    let sets = owned_sets(&cluster, &d).await;
    assert_eq!(
        sets.len(),
        2,
        "no third ReplicaSet: the first one came back"
    );
    let back = sets
        .iter()
        .find(|rs| rs.name_any() == first[0].name_any())
        .unwrap();
    assert_eq!(back.metadata.annotations[REVISION_ANNOTATION], "3");
    assert_eq!(
        back.metadata.annotations[deployment::REVISION_HISTORY_ANNOTATION],
        "1"
    );
    eventually("only old-image pods", || async {
        let list = active_pods(&pods).await;
        (list.len() == 4 && list.iter().all(|p| image_of(p) == "nginx:1.26")).then_some(())
    })
    .await;
    // Undoing to the current template is skipped.
    assert_eq!(
        deployment::rollback(&cluster.client, "default", "web", 3)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn recreate_removes_old_pods_before_creating_new_ones() {
    let cluster = Cluster::start().await;
    let _kubelet = fake_kubelet(&cluster.client, || Duration::ZERO);
    let _m = run(&cluster.client, controllers());
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let mut d = deploy("batch", 3, "worker:1");
    d.spec.strategy = DeploymentStrategy {
        type_: Some(DeploymentStrategyType::Recreate),
        rolling_update: None,
    };
    api.create(&PostParams::default(), &d).await.unwrap();
    rolled_out(&api, "batch").await;

    // Watch every pod state during the rollout: old and new never run together.
    let informer = kube_api::informer::Informer::new(pods.clone());
    let cache = informer.cache();
    let mut events = informer.subscribe();
    let _task = informer.spawn();
    cache.wait_until_synced().await;
    let watcher = tokio::spawn(async move {
        use futures::StreamExt as _;
        let mut mixed = false;
        while tokio::time::timeout(Duration::from_secs(3), events.next())
            .await
            .ok()
            .flatten()
            .is_some()
        {
            let images: std::collections::BTreeSet<String> = cache
                .list()
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| image_of(p))
                .collect();
            mixed |= images.len() > 1;
        }
        mixed
    });
    set_image(&api, "batch", "worker:2").await;
    eventually("the recreate rollout", || async {
        let d = api.get("batch").await.unwrap();
        (matches!(rollout_status(&d), RolloutStatus::Done(_))
            && d.status.updated_replicas == Some(3))
        .then_some(())
    })
    .await;
    let list = active_pods(&pods).await;
    assert!(list.iter().all(|p| image_of(p) == "worker:2"));
    assert!(
        !watcher.await.unwrap(),
        "old and new pods ran at the same time"
    );
}

#[tokio::test]
async fn paused_deployments_scale_but_do_not_roll_out() {
    let cluster = Cluster::start().await;
    let _kubelet = fake_kubelet(&cluster.client, || Duration::ZERO);
    let _m = run(&cluster.client, controllers());
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    api.create(&PostParams::default(), &deploy("api", 2, "api:1"))
        .await
        .unwrap();
    rolled_out(&api, "api").await;
    api.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"paused": true}})),
    )
    .await
    .unwrap();
    set_image(&api, "api", "api:2").await;
    api.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();
    let d = eventually("paused, scaled to 3", || async {
        let d = api.get("api").await.unwrap();
        let paused = d
            .condition(&DeploymentConditionType::Progressing)
            .is_some_and(|c| c.reason.as_deref() == Some("DeploymentPaused"));
        (paused && d.status.available_replicas == Some(3)).then_some(d)
    })
    .await;
    assert_eq!(
        owned_sets(&cluster, &d).await.len(),
        1,
        "no rollout while paused"
    );
    assert!(
        active_pods(&pods)
            .await
            .iter()
            .all(|p| image_of(p) == "api:1")
    );
    assert!(matches!(
        deployment::rollback(&cluster.client, "default", "api", 0).await,
        Err(deployment::RollbackError::Paused)
    ));

    api.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"paused": false}})),
    )
    .await
    .unwrap();
    eventually("the rollout after resume", || async {
        let list = active_pods(&pods).await;
        let d = api.get("api").await.unwrap();
        (matches!(rollout_status(&d), RolloutStatus::Done(_))
            && list.len() == 3
            && list.iter().all(|p| image_of(p) == "api:2"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn old_replica_sets_beyond_the_history_limit_are_deleted() {
    let cluster = Cluster::start().await;
    let _kubelet = fake_kubelet(&cluster.client, || Duration::ZERO);
    let _m = run(&cluster.client, controllers());
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let mut d = deploy("hist", 1, "v:0");
    d.spec.revision_history_limit = Some(1);
    api.create(&PostParams::default(), &d).await.unwrap();
    rolled_out(&api, "hist").await;
    for v in 1..=3 {
        set_image(&api, "hist", &format!("v:{v}")).await;
        eventually("each rollout", || async {
            let d = api.get("hist").await.unwrap();
            (matches!(rollout_status(&d), RolloutStatus::Done(_))
                && d.metadata.annotations.get(REVISION_ANNOTATION) == Some(&(v + 1).to_string()))
            .then_some(())
        })
        .await;
    }
    let d = api.get("hist").await.unwrap();
    let sets = eventually("two ReplicaSets left", || async {
        let sets = owned_sets(&cluster, &d).await;
        (sets.len() == 2).then_some(sets)
    })
    .await;
    let revisions: Vec<&str> = sets
        .iter()
        .map(|rs| rs.metadata.annotations[REVISION_ANNOTATION].as_str())
        .collect();
    assert_eq!(revisions, ["3", "4"]);
}

#[tokio::test]
async fn a_stuck_rollout_passes_its_progress_deadline() {
    let cluster = Cluster::start().await;
    // No kubelet: pods never become ready.
    let _m = run(&cluster.client, controllers());
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let mut d = deploy("stuck", 2, "never:1");
    d.spec.progress_deadline_seconds = Some(1);
    api.create(&PostParams::default(), &d).await.unwrap();
    let d = eventually("the deadline", || async {
        let d = api.get("stuck").await.unwrap();
        matches!(rollout_status(&d), RolloutStatus::Failed(_)).then_some(d)
    })
    .await;
    let c = d.condition(&DeploymentConditionType::Progressing).unwrap();
    assert_eq!(c.status, ConditionStatus::False);
    assert_eq!(c.reason.as_deref(), Some("ProgressDeadlineExceeded"));
    let available = d.condition(&DeploymentConditionType::Available).unwrap();
    assert_eq!(available.status, ConditionStatus::False);
}

#[tokio::test]
async fn a_manager_restarted_mid_rollout_converges() {
    let cluster = Cluster::start().await;
    let _kubelet = fake_kubelet(&cluster.client, || Duration::from_millis(150));
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let m = run(&cluster.client, controllers());
    api.create(&PostParams::default(), &deploy("restart", 6, "app:1"))
        .await
        .unwrap();
    rolled_out(&api, "restart").await;
    set_image(&api, "restart", "app:2").await;
    // Stop the manager as soon as the rollout is under way, then start another.
    eventually("the rollout under way", || async {
        let d = api.get("restart").await.unwrap();
        (d.status.updated_replicas.unwrap_or(0) >= 1).then_some(())
    })
    .await;
    m.stop().await;
    let _m2 = run(&cluster.client, controllers());
    eventually("the rollout finishes under the new manager", || async {
        let d = api.get("restart").await.unwrap();
        let list = active_pods(&pods).await;
        (matches!(rollout_status(&d), RolloutStatus::Done(_))
            && d.metadata
                .annotations
                .get(REVISION_ANNOTATION)
                .map(String::as_str)
                == Some("2")
            && list.len() == 6
            && list.iter().all(|p| image_of(p) == "app:2"))
        .then_some(())
    })
    .await;
    let d = api.get("restart").await.unwrap();
    assert_eq!(owned_sets(&cluster, &d).await.len(), 2);
}
