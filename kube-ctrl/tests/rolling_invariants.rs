//! Property test: a rolling update never runs more pods than `replicas + maxSurge`, and
//! never fewer ready pods than `replicas - maxUnavailable`, at any state the API server
//! went through, whatever the bounds, the replica count, the pace of readiness, and
//! template changes made in the middle of a rollout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Cluster, eventually, fake_kubelet, meta, run, selector, template};
use futures::StreamExt as _;
use kube_api::client::{Api, Patch, PatchParams, PostParams};
use kube_api::informer::{Informer, InformerEvent};
use kube_core::{
    Deployment, DeploymentSpec, DeploymentStrategy, DeploymentStrategyType, IntOrString, Pod,
    ResourceExt as _, RollingUpdateDeployment,
};
use kube_ctrl::controllers::deployment::{RolloutStatus, rollout_status};
use kube_ctrl::controllers::{DeploymentController, ReplicaSetController};
use parking_lot::Mutex;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    replicas: i32,
    surge: i32,
    unavailable: i32,
    ready_delay_ms: u64,
    /// Template changes, each after this many milliseconds (short: mid-rollout).
    changes: Vec<u64>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1i32..=5,
        0i32..=2,
        0i32..=2,
        0u64..40,
        proptest::collection::vec(0u64..200, 1..=2),
    )
        .prop_map(
            |(replicas, surge, unavailable, ready_delay_ms, changes)| Case {
                replicas,
                surge,
                // Both 0 is refused by the API server (the update could never move).
                unavailable: if surge == 0 {
                    unavailable.max(1)
                } else {
                    unavailable
                },
                ready_delay_ms,
                changes,
            },
        )
}

async fn check(case: Case) -> Result<(), String> {
    let cluster = Cluster::start().await;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    // Every pod event, from an empty namespace on: each is one state of the store.
    let informer = Informer::new(pods.clone());
    let mut events = informer.subscribe();
    let _informer = informer.spawn();
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let updating = Arc::new(AtomicBool::new(false));
    let ready_now: Arc<Mutex<usize>> = Arc::default();
    let (surge, unavailable) = (case.surge, case.unavailable.min(case.replicas));
    let max_pods = usize::try_from(case.replicas + surge).unwrap();
    let min_ready = usize::try_from(case.replicas - unavailable).unwrap();
    let watcher = {
        let (violations, updating, ready_now) =
            (violations.clone(), updating.clone(), ready_now.clone());
        tokio::spawn(async move {
            let mut state: HashMap<String, Arc<Pod>> = HashMap::new();
            while let Some(event) = events.next().await {
                match &event {
                    InformerEvent::Added(p) | InformerEvent::Updated { new: p, .. } => {
                        state.insert(p.name_any().to_owned(), p.clone());
                    }
                    InformerEvent::Deleted(p) => {
                        state.remove(p.name_any());
                    }
                }
                let live: Vec<&Arc<Pod>> = state
                    .values()
                    .filter(|p| p.metadata.deletion_timestamp.is_none() && !p.is_terminal())
                    .collect();
                let ready = live.iter().filter(|p| p.is_ready()).count();
                *ready_now.lock() = ready;
                if live.len() > max_pods {
                    violations
                        .lock()
                        .push(format!("{} pods, more than {max_pods}", live.len()));
                }
                if updating.load(Ordering::SeqCst) && ready < min_ready {
                    violations
                        .lock()
                        .push(format!("{ready} ready pods, fewer than {min_ready}"));
                }
            }
        })
    };
    let delay = Duration::from_millis(case.ready_delay_ms);
    let _kubelet = fake_kubelet(&cluster.client, move || delay);
    let _m = run(
        &cluster.client,
        vec![
            Arc::new(DeploymentController::default()),
            Arc::new(ReplicaSetController::default()),
        ],
    );
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let d = Deployment {
        metadata: meta("prop"),
        spec: DeploymentSpec {
            replicas: Some(case.replicas),
            selector: Some(selector(&[("app", "prop")])),
            template: template(&[("app", "prop")], "img:0"),
            strategy: DeploymentStrategy {
                type_: Some(DeploymentStrategyType::RollingUpdate),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(case.surge)),
                    max_unavailable: Some(IntOrString::Int(case.unavailable)),
                }),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    };
    api.create(&PostParams::default(), &d).await.unwrap();
    let expected = usize::try_from(case.replicas).unwrap();
    eventually("the first rollout", || async {
        let d = api.get("prop").await.unwrap();
        (matches!(rollout_status(&d), RolloutStatus::Done(_)) && *ready_now.lock() == expected)
            .then_some(())
    })
    .await;
    updating.store(true, Ordering::SeqCst);
    for (i, wait) in case.changes.iter().enumerate() {
        let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
            {"name": "main", "image": format!("img:{}", i + 1)}
        ]}}}});
        api.patch("prop", &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(*wait)).await;
    }
    let last = format!("img:{}", case.changes.len());
    eventually("the last rollout", || async {
        let d = api.get("prop").await.unwrap();
        let done = matches!(rollout_status(&d), RolloutStatus::Done(_))
            && d.status.observed_generation == d.metadata.generation;
        let pods_now = common::active_pods(&pods).await;
        (done
            && pods_now.len() == expected
            && pods_now
                .iter()
                .all(|p| p.spec.containers[0].image.as_deref() == Some(last.as_str())))
        .then_some(())
    })
    .await;
    watcher.abort();
    let v = violations.lock().clone();
    if v.is_empty() {
        Ok(())
    } else {
        Err(format!("{case:?}: {v:?}"))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn rolling_updates_stay_within_their_bounds(case in case()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(check(case));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
