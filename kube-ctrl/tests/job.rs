//! The Job controller: completions and parallelism, indexed Jobs, backoff limit,
//! deadline, suspension, counting that survives pod deletion, TTL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Cluster, active_pods, eventually, meta, run, set_pod_status, template};
use futures::StreamExt as _;
use kube_api::client::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_core::{
    ConditionStatus, Job, JobConditionType, JobSpec, Pod, PodPhase, ResourceExt as _, RestartPolicy,
};
use kube_ctrl::controllers::job::TRACKING_FINALIZER;
use kube_ctrl::controllers::job::indexed::{COMPLETION_INDEX, COMPLETION_INDEX_ENV};
use kube_ctrl::controllers::{GarbageCollector, JobConfig, JobController};

fn controller() -> Arc<JobController> {
    Arc::new(JobController::new(JobConfig {
        backoff: Duration::from_millis(20),
        ..JobConfig::default()
    }))
}

fn job(name: &str, completions: Option<i32>, parallelism: i32) -> Job {
    let mut t = template(&[], "worker:1");
    t.spec.restart_policy = Some(RestartPolicy::Never);
    Job {
        metadata: meta(name),
        spec: JobSpec {
            completions,
            parallelism: Some(parallelism),
            template: t,
            ..JobSpec::default()
        },
        ..Job::default()
    }
}

fn condition(job: &Job, type_: &JobConditionType) -> Option<(ConditionStatus, String)> {
    job.condition(type_)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

/// Finishes every running pod of the namespace with `phase`, as a node agent would.
fn finisher(
    pods: Api<Pod>,
    phase: PodPhase,
    finished: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let informer = kube_api::informer::Informer::new(pods.clone());
        let mut events = informer.subscribe();
        let _task = informer.spawn();
        while let Some(e) = events.next().await {
            let p = e.object().clone();
            if p.status.phase.is_none() || p.status.phase == Some(PodPhase::Pending) {
                if p.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let phase = phase.clone();
                set_pod_status(&pods, p.name_any(), move |x| {
                    x.status.phase = Some(phase.clone());
                })
                .await;
                finished.fetch_add(1, Ordering::SeqCst);
            }
        }
    })
}

#[tokio::test]
async fn runs_completions_with_bounded_parallelism() {
    let cluster = Cluster::start().await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let _m = run(&cluster.client, vec![controller()]);
    jobs.create(&PostParams::default(), &job("batch", Some(5), 2))
        .await
        .unwrap();
    // At most two at once, until five succeeded.
    let mut seen_active = 0;
    let finished = Arc::new(AtomicUsize::new(0));
    loop {
        let list = active_pods(&pods).await;
        let running: Vec<&Pod> = list
            .iter()
            .filter(|p| p.status.phase != Some(PodPhase::Succeeded))
            .collect();
        seen_active = seen_active.max(running.len());
        assert!(running.len() <= 2, "{} pods at once", running.len());
        if let Some(p) = running.first() {
            assert!(
                p.metadata
                    .finalizers
                    .contains(&TRACKING_FINALIZER.to_owned())
            );
            set_pod_status(&pods, p.name_any(), |x| {
                x.status.phase = Some(PodPhase::Succeeded);
            })
            .await;
            finished.fetch_add(1, Ordering::SeqCst);
        }
        let j = jobs.get("batch").await.unwrap();
        if j.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let j = jobs.get("batch").await.unwrap();
    assert_eq!(
        condition(&j, &JobConditionType::Complete),
        Some((ConditionStatus::True, "CompletionsReached".into()))
    );
    assert_eq!(j.status.succeeded, Some(5));
    assert_eq!(j.status.failed, Some(0));
    assert_eq!(j.status.active, Some(0));
    assert!(j.status.completion_time.is_some() && j.status.start_time.is_some());
    assert_eq!(
        finished.load(Ordering::SeqCst),
        5,
        "no pod beyond the completions"
    );
    assert_eq!(seen_active, 2);
    // Every pod was released.
    eventually("finalizers removed", || async {
        pods.list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .all(|p| {
                !p.metadata
                    .finalizers
                    .contains(&TRACKING_FINALIZER.to_owned())
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn indexed_jobs_run_each_index_until_it_succeeds_once() {
    let cluster = Cluster::start().await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let _m = run(&cluster.client, vec![controller()]);
    let mut j = job("shards", Some(4), 2);
    j.spec.completion_mode = Some(kube_core::CompletionMode::Indexed);
    jobs.create(&PostParams::default(), &j).await.unwrap();

    // At most two at once, lowest indexes first; index 1 fails once and runs again.
    // Every pod seen, by uid, in the order they appeared, with its index.
    let mut started: Vec<(String, i32)> = Vec::new();
    let mut failed_once = false;
    let j = loop {
        let running = active_pods(&pods).await;
        assert!(running.len() <= 2, "{} pods at once", running.len());
        for p in &running {
            let index: i32 = p.metadata.annotations[COMPLETION_INDEX].parse().unwrap();
            let uid = p.uid().unwrap().to_owned();
            if !started.iter().any(|(u, _)| *u == uid) {
                started.push((uid, index));
            }
            assert_eq!(p.metadata.labels[COMPLETION_INDEX], index.to_string());
            let name = p.name_any();
            assert!(name.starts_with(&format!("shards-{index}-")), "{name}");
            let hostname = format!("shards-{index}");
            assert_eq!(p.spec.hostname.as_deref(), Some(hostname.as_str()));
            let env = &p.spec.containers[0].env;
            assert!(
                env.iter().any(|e| e.name == COMPLETION_INDEX_ENV),
                "{env:?}"
            );
        }
        if let Some(p) = running.first() {
            let index = &p.metadata.annotations[COMPLETION_INDEX];
            let phase = if index == "1" && !failed_once {
                failed_once = true;
                PodPhase::Failed
            } else {
                PodPhase::Succeeded
            };
            set_pod_status(&pods, p.name_any(), move |x| {
                x.status.phase = Some(phase.clone());
            })
            .await;
        }
        let j = jobs.get("shards").await.unwrap();
        if j.is_finished() {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        condition(&j, &JobConditionType::Complete),
        Some((ConditionStatus::True, "CompletionsReached".into()))
    );
    assert_eq!(j.status.completed_indexes.as_deref(), Some("0-3"));
    assert_eq!((j.status.succeeded, j.status.failed), (Some(4), Some(1)));
    let mut indexes: Vec<i32> = started.iter().map(|(_, i)| *i).collect();
    // The first two pods are created together: either may be seen first.
    let mut first_two = indexes[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(first_two, [0, 1], "the lowest indexes first");
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        [0, 1, 1, 2, 3],
        "index 1 ran again after its failure"
    );
}

#[tokio::test]
async fn fails_past_the_backoff_limit() {
    let cluster = Cluster::start().await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let _m = run(&cluster.client, vec![controller()]);
    let finished = Arc::new(AtomicUsize::new(0));
    let _f = finisher(pods.clone(), PodPhase::Failed, finished.clone());
    let mut j = job("flaky", Some(1), 1);
    j.spec.backoff_limit = Some(2);
    jobs.create(&PostParams::default(), &j).await.unwrap();
    let j = eventually("the job failed", || async {
        let j = jobs.get("flaky").await.unwrap();
        j.is_finished().then_some(j)
    })
    .await;
    assert_eq!(
        condition(&j, &JobConditionType::Failed),
        Some((ConditionStatus::True, "BackoffLimitExceeded".into()))
    );
    assert_eq!(
        condition(&j, &JobConditionType::FailureTarget).map(|c| c.0),
        Some(ConditionStatus::True)
    );
    assert_eq!(
        j.status.failed,
        Some(3),
        "backoffLimit 2: the third failure ends it"
    );
    assert_eq!(finished.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn counting_survives_pod_deletion() {
    let cluster = Cluster::start().await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let _m = run(&cluster.client, vec![controller()]);
    jobs.create(&PostParams::default(), &job("careful", Some(2), 1))
        .await
        .unwrap();
    // The first pod succeeds and is deleted at once: it still counts as a success.
    let first = eventually("a pod", || async {
        active_pods(&pods).await.into_iter().next()
    })
    .await;
    set_pod_status(&pods, first.name_any(), |x| {
        x.status.phase = Some(PodPhase::Succeeded);
    })
    .await;
    pods.delete(first.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    // The second is deleted while running: a failure, and it is replaced.
    let second = eventually("another pod", || async {
        active_pods(&pods)
            .await
            .into_iter()
            .find(|p| p.uid() != first.uid() && p.status.phase != Some(PodPhase::Succeeded))
    })
    .await;
    pods.delete(second.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    let third = eventually("a replacement", || async {
        active_pods(&pods)
            .await
            .into_iter()
            .find(|p| p.uid() != first.uid() && p.uid() != second.uid())
    })
    .await;
    set_pod_status(&pods, third.name_any(), |x| {
        x.status.phase = Some(PodPhase::Succeeded);
    })
    .await;
    let j = eventually("completion", || async {
        let j = jobs.get("careful").await.unwrap();
        j.is_finished().then_some(j)
    })
    .await;
    assert_eq!((j.status.succeeded, j.status.failed), (Some(2), Some(1)));
    assert!(j.status.uncounted_terminated_pods.is_none());
    eventually("the deleted pods are gone", || async {
        let left = pods.list(&Default::default()).await.unwrap().items;
        left.iter()
            .all(|p| p.uid() != first.uid() && p.uid() != second.uid())
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_active_deadline_fails_the_job() {
    let cluster = Cluster::start().await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let _m = run(&cluster.client, vec![controller()]);
    let mut j = job("slow", Some(1), 2);
    j.spec.active_deadline_seconds = Some(1);
    jobs.create(&PostParams::default(), &j).await.unwrap();
    let j = eventually("the deadline", || async {
        let j = jobs.get("slow").await.unwrap();
        j.is_finished().then_some(j)
    })
    .await;
    assert_eq!(
        condition(&j, &JobConditionType::Failed),
        Some((ConditionStatus::True, "DeadlineExceeded".into()))
    );
    eventually("the pods deleted", || async {
        active_pods(&pods).await.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn suspended_jobs_run_nothing_until_resumed_and_finished_jobs_expire() {
    let cluster = Cluster::start().await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    // The TTL deletes in the foreground, which the garbage collector completes.
    let _m = run(
        &cluster.client,
        vec![controller(), Arc::new(GarbageCollector::default())],
    );
    let mut j = job("later", Some(1), 1);
    j.spec.suspend = Some(true);
    j.spec.ttl_seconds_after_finished = Some(1);
    jobs.create(&PostParams::default(), &j).await.unwrap();
    eventually("suspended", || async {
        let j = jobs.get("later").await.unwrap();
        (condition(&j, &JobConditionType::Suspended)
            == Some((ConditionStatus::True, "JobSuspended".into())))
        .then_some(())
    })
    .await;
    assert!(active_pods(&pods).await.is_empty());
    jobs.patch(
        "later",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"suspend": false}})),
    )
    .await
    .unwrap();
    let finished = Arc::new(AtomicUsize::new(0));
    let _f = finisher(pods.clone(), PodPhase::Succeeded, finished.clone());
    eventually("completed", || async {
        let j = jobs.get_opt("later").await.unwrap();
        j.is_none_or(|j| j.is_finished()).then_some(())
    })
    .await;
    // One second after finishing, the Job is deleted.
    eventually("expired", || async {
        jobs.get_opt("later").await.unwrap().is_none().then_some(())
    })
    .await;
}
