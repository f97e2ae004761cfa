//! The ReplicaSet controller: replicas, scaling, replacement, adoption and release,
//! status, and a property test under random deletions and scale changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, active_pods, eventually, mark_ready, meta, run, selector, template};
use kube_api::client::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_core::{Pod, ReplicaSet, ReplicaSetSpec, ResourceExt as _};
use kube_ctrl::Runnable;
use kube_ctrl::controllers::ReplicaSetController;
use proptest::prelude::*;

fn rs(name: &str, replicas: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: meta(name),
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            selector: Some(selector(&[("app", name)])),
            template: template(&[("app", name)], "nginx:1.27"),
            ..ReplicaSetSpec::default()
        },
        ..ReplicaSet::default()
    }
}

fn controllers() -> Vec<Arc<dyn Runnable>> {
    vec![Arc::new(ReplicaSetController::default())]
}

async fn wait_for_pods(pods: &Api<Pod>, app: &str, n: usize) -> Vec<Pod> {
    eventually(&format!("{n} pods of {app}"), || async {
        let list: Vec<Pod> = active_pods(pods)
            .await
            .into_iter()
            .filter(|p| p.metadata.labels.get("app").map(String::as_str) == Some(app))
            .collect();
        (list.len() == n).then_some(list)
    })
    .await
}

#[tokio::test]
async fn keeps_replicas_running_and_reports_status() {
    let cluster = Cluster::start().await;
    let _m = run(&cluster.client, controllers());
    let sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let created = sets
        .create(&PostParams::default(), &rs("web", 3))
        .await
        .unwrap();

    let list = wait_for_pods(&pods, "web", 3).await;
    for p in &list {
        let owner = p.controller_owner().unwrap();
        assert_eq!(owner.uid, created.uid().unwrap());
        assert!(p.name_any().starts_with("web-"));
    }
    // A deleted pod is replaced.
    pods.delete(list[0].name_any(), &DeleteParams::default())
        .await
        .unwrap();
    let list = wait_for_pods(&pods, "web", 3).await;
    // Ready pods show in the status.
    for (i, p) in list.iter().enumerate() {
        mark_ready(&pods, p.name_any(), &format!("10.0.0.{i}")).await;
    }
    eventually("status with 3 available", || async {
        let s = sets.get("web").await.unwrap().status;
        (s.replicas == 3
            && s.ready_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.fully_labeled_replicas == Some(3)
            && s.observed_generation == created.metadata.generation)
            .then_some(())
    })
    .await;

    // Scale down: the extra pods go; up again: new ones come.
    sets.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    wait_for_pods(&pods, "web", 1).await;
    sets.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 4}})),
    )
    .await
    .unwrap();
    wait_for_pods(&pods, "web", 4).await;
    eventually("status follows", || async {
        let s = sets.get("web").await.unwrap().status;
        (s.replicas == 4 && s.observed_generation == Some(3)).then_some(())
    })
    .await;
    let events: Api<kube_core::Event> = Api::namespaced(cluster.client.clone(), "default");
    let reasons: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r == "SuccessfulCreate"),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r == "SuccessfulDelete"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn adopts_matching_orphans_and_releases_pods_that_stop_matching() {
    let cluster = Cluster::start().await;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    // An orphan that matches exists before the ReplicaSet.
    let orphan = Pod {
        metadata: kube_core::ObjectMeta {
            name: Some("orphan".into()),
            labels: common::labels(&[("app", "api")]),
            ..kube_core::ObjectMeta::default()
        },
        spec: template(&[], "nginx").spec,
        ..Pod::default()
    };
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    let _m = run(&cluster.client, controllers());
    let sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), "default");
    let created = sets
        .create(&PostParams::default(), &rs("api", 2))
        .await
        .unwrap();
    let list = wait_for_pods(&pods, "api", 2).await;
    assert!(
        list.iter().any(|p| p.name_any() == "orphan"),
        "adopted, not replaced"
    );
    let adopted = pods.get("orphan").await.unwrap();
    assert_eq!(
        adopted.controller_owner().map(|r| r.uid.clone()),
        created.metadata.uid
    );

    // Relabelled, it no longer matches: released, and replaced.
    pods.patch(
        "orphan",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": {"app": "debug"}}})),
    )
    .await
    .unwrap();
    wait_for_pods(&pods, "api", 2).await;
    eventually("the owner reference is gone", || async {
        pods.get("orphan")
            .await
            .unwrap()
            .metadata
            .owner_references
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_restarted_controller_does_not_create_twice() {
    let cluster = Cluster::start().await;
    let sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    sets.create(&PostParams::default(), &rs("db", 5))
        .await
        .unwrap();
    for _ in 0..3 {
        let m = run(&cluster.client, controllers());
        wait_for_pods(&pods, "db", 5).await;
        m.stop().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(active_pods(&pods).await.len(), 5);
}

#[derive(Clone, Debug)]
enum Step {
    Scale(i32),
    DeletePods(usize),
    Pause,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0i32..8).prop_map(Step::Scale),
        (1usize..4).prop_map(Step::DeletePods),
        Just(Step::Pause),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Whatever the sequence of scale changes and pod deletions (made without waiting for
    /// the controller), the ReplicaSet ends with exactly `replicas` pods, none twice.
    #[test]
    fn reaches_exactly_n_pods(steps in proptest::collection::vec(step(), 1..12)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let cluster = Cluster::start().await;
            let _m = run(&cluster.client, controllers());
            let sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), "default");
            let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
            sets.create(&PostParams::default(), &rs("prop", 3)).await.unwrap();
            let mut replicas = 3;
            for step in steps {
                match step {
                    Step::Scale(n) => {
                        replicas = n;
                        sets.patch(
                            "prop",
                            &PatchParams::default(),
                            &Patch::Merge(serde_json::json!({"spec": {"replicas": n}})),
                        )
                        .await
                        .unwrap();
                    }
                    Step::DeletePods(n) => {
                        for p in active_pods(&pods).await.into_iter().take(n) {
                            match pods.delete(p.name_any(), &DeleteParams::default()).await {
                                Ok(_) => {}
                                Err(e) if e.code() == 404 => {}
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                    Step::Pause => tokio::time::sleep(Duration::from_millis(30)).await,
                }
            }
            let n = usize::try_from(replicas).unwrap();
            wait_for_pods(&pods, "prop", n).await;
            // And it stays there: no late duplicate creates.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(active_pods(&pods).await.len(), n);
            eventually("the status agrees", || async {
                (sets.get("prop").await.unwrap().status.replicas == replicas).then_some(())
            })
            .await;
        });
    }
}
