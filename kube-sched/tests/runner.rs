//! The scheduling loop against an in-process API server on a MemoryStore: binding through
//! `pods/binding`, the `PodScheduled` condition through `pods/status`, retries on cluster
//! events, preemption, gang scheduling, a platform's own `Scheduler`, and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kube_core::{
    ConditionStatus, Decision, FitCode, NodeRejection, PodConditionType, PodInfo, Scheduler,
    Snapshot, Unschedulable,
};
use kube_sched::framework::FrameworkScheduler;
use kube_sched::plugins::coscheduling::{MIN_AVAILABLE_ANNOTATION, POD_GROUP_LABEL};
use kube_sched::plugins::{self, Coscheduling, DefaultBinder};
use kube_sched::testing::{node, pod};
use kube_sched::{ApiBinder, FrameworkConfig, SchedulerRunner, WaitingPods};
use support::{Cluster, PATIENCE, fast_config, is_unschedulable, scheduled_condition, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_pods_are_bound_within_capacity() {
    let c = Cluster::new().await;
    for i in 0..3 {
        c.add_node(node(&format!("n{i}")).cpu("4").memory("8Gi"))
            .await;
    }
    let handle = SchedulerRunner::builder(c.client.clone())
        .config(fast_config())
        .build()
        .spawn();
    for i in 0..20 {
        c.add_pod(pod(&format!("p{i}")).requests("500m", "256Mi"))
            .await;
    }
    let mut per_node: HashMap<String, i64> = HashMap::new();
    for i in 0..20 {
        let name = format!("p{i}");
        let node = c.wait_bound(&name).await;
        *per_node.entry(node).or_default() += 500;
        let p = c.pod(&name).await;
        let cond = scheduled_condition(&p).expect("PodScheduled");
        assert_eq!(cond.status, ConditionStatus::True);
    }
    assert!(per_node.values().all(|m| *m <= 4000), "{per_node:?}");
    // LeastAllocated spreads the pods over every node.
    assert_eq!(per_node.len(), 3, "{per_node:?}");
    // The loop counts a binding when the API's answer reaches its thread, which may be
    // just after the pod shows as bound.
    wait("the loop to count 20 bindings", || async {
        (handle.stats().bound >= 20).then_some(())
    })
    .await;
    assert_eq!(handle.stats().bound, 20);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unschedulable_pod_says_why_and_is_placed_once_a_node_fits() {
    let c = Cluster::new().await;
    c.add_node(node("small").cpu("1")).await;
    let handle = SchedulerRunner::builder(c.client.clone())
        .config(fast_config())
        .build()
        .spawn();
    c.add_pod(pod("big").requests("2", "1Gi")).await;
    let p = c
        .wait_pod("big", "PodScheduled=False", is_unschedulable)
        .await;
    assert_eq!(
        scheduled_condition(&p).unwrap().message.as_deref(),
        Some("0/1 nodes are available: 1 Insufficient cpu.")
    );
    assert_eq!(p.spec.node_name, None);
    c.add_node(node("large").cpu("4")).await;
    assert_eq!(c.wait_bound("big").await, "large");
    let p = c.pod("big").await;
    assert_eq!(
        scheduled_condition(&p).map(|c| c.status.clone()),
        Some(ConditionStatus::True)
    );
    handle.shutdown().await.unwrap();
}

/// A late `PodScheduled=False` of a failed attempt must not land on the pod once a later
/// attempt has bound it. The scheduler's status writes take half a second here, so the
/// binding that follows a new node comes while the failure's write is in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_written_late_does_not_overwrite_the_binding() {
    use tower::ServiceExt as _;

    let c = Cluster::new().await;
    c.add_node(node("small").cpu("1")).await;
    let server = c._server.clone();
    let slow = tower::service_fn(move |req: http::Request<kube_api::server::ApiBody>| {
        let server = server.clone();
        async move {
            if req.method() == http::Method::PATCH && req.uri().path().ends_with("/status") {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            server.oneshot(req).await
        }
    });
    let handle = SchedulerRunner::builder(kube_api::client::Client::new(slow, "default"))
        .config(fast_config())
        .build()
        .spawn();
    c.add_pod(pod("big").requests("2", "1Gi")).await;
    // The first attempt fails at once; its write is on its way while a node that fits
    // arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.add_node(node("large").cpu("4")).await;
    assert_eq!(c.wait_bound("big").await, "large");
    // Past the delay: whatever was in flight has landed.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let p = c.pod("big").await;
    assert_eq!(
        scheduled_condition(&p).map(|c| c.status.clone()),
        Some(ConditionStatus::True),
        "{:?}",
        scheduled_condition(&p)
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_of_other_schedulers_and_deleted_pods_are_left_alone() {
    let c = Cluster::new().await;
    c.add_node(node("n1").cpu("1")).await;
    let handle = SchedulerRunner::builder(c.client.clone())
        .config(fast_config())
        .build()
        .spawn();
    c.add_pod(pod("theirs").scheduler_name("someone-else"))
        .await;
    c.add_pod(pod("huge").requests("8", "0")).await;
    c.wait_pod("huge", "PodScheduled=False", is_unschedulable)
        .await;
    c.pods().delete("huge", &Default::default()).await.unwrap();
    c.add_pod(pod("mine")).await;
    assert_eq!(c.wait_bound("mine").await, "n1");
    let theirs = c.pod("theirs").await;
    assert_eq!(theirs.spec.node_name, None);
    assert!(scheduled_condition(&theirs).is_none(), "{theirs:?}");
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_evicts_the_victims_and_places_the_preemptor() {
    let c = Cluster::new().await;
    c.add_node(node("n1").cpu("2")).await;
    c.add_node(node("n2").cpu("2")).await;
    // n1 holds one low-priority pod, n2 one of higher priority: n1's is the victim.
    c.add_pod(pod("low").priority(1).requests("2", "0").node_name("n1"))
        .await;
    c.add_pod(pod("mid").priority(50).requests("2", "0").node_name("n2"))
        .await;
    let handle = SchedulerRunner::builder(c.client.clone())
        .config(fast_config())
        .build()
        .spawn();
    c.add_pod(pod("high").priority(100).requests("2", "0"))
        .await;

    let victim = c
        .wait_pod("low", "the victim is being deleted", |p| {
            p.metadata.deletion_timestamp.is_some()
        })
        .await;
    let disruption = victim
        .status
        .condition(&PodConditionType::DisruptionTarget)
        .expect("DisruptionTarget");
    assert_eq!(disruption.reason.as_deref(), Some("PreemptionByScheduler"));
    let preemptor = c
        .wait_pod("high", "nominated to n1", |p| {
            p.status.nominated_node_name.as_deref() == Some("n1")
        })
        .await;
    assert!(is_unschedulable(&preemptor), "{preemptor:?}");
    assert!(c.pod("mid").await.metadata.deletion_timestamp.is_none());

    // The node agent finishes the graceful deletion; the room goes to the preemptor.
    assert_eq!(c.finish_deletions().await, 1);
    assert_eq!(c.wait_bound("high").await, "n1");
    assert_eq!(handle.stats().victims, 1);
    handle.shutdown().await.unwrap();
}

fn gang_framework(c: &Cluster, timeout: Duration) -> Arc<FrameworkScheduler> {
    let waiting = WaitingPods::new();
    let gang = Arc::new(Coscheduling::new(timeout, waiting.clone()));
    let binder = Arc::new(ApiBinder::new(c.client.clone()));
    let profile = plugins::default_plugins(kube_sched::DEFAULT_SCHEDULER_NAME)
        .reserve(gang.clone())
        .permit(gang)
        .bind(Arc::new(DefaultBinder::new(binder)))
        .build();
    Arc::new(
        FrameworkScheduler::new([profile], FrameworkConfig::default()).with_waiting_pods(waiting),
    )
}

fn gang_member(name: &str, group: &str, size: usize) -> kube_sched::testing::PodBuilder {
    pod(name)
        .requests("1", "0")
        .label(POD_GROUP_LABEL, group)
        .annotation(MIN_AVAILABLE_ANNOTATION, &size.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gang_binds_all_together_or_not_at_all() {
    let c = Cluster::new().await;
    c.add_node(node("n1").cpu("1")).await;
    c.add_node(node("n2").cpu("1")).await;
    let runner = SchedulerRunner::builder(c.client.clone())
        .framework(gang_framework(&c, Duration::from_millis(500)))
        .config(fast_config())
        .build();
    let handle = runner.spawn();
    for i in 0..3 {
        c.add_pod(gang_member(&format!("g{i}"), "trio", 3)).await;
    }
    // Two members fit, the third does not: the two wait at Permit, time out, and are
    // released, over and over, never bound.
    wait("a gang member's wait to time out", || async {
        (handle.stats().bind_failures >= 2).then_some(())
    })
    .await;
    for i in 0..3 {
        let p = c.pod(&format!("g{i}")).await;
        assert_eq!(p.spec.node_name, None, "g{i} bound without its gang");
    }
    assert_eq!(handle.stats().bound, 0);

    c.add_node(node("n3").cpu("1")).await;
    let mut nodes: Vec<String> = Vec::new();
    for i in 0..3 {
        nodes.push(c.wait_bound(&format!("g{i}")).await);
    }
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_pods_held_at_permit() {
    let c = Cluster::new().await;
    c.add_node(node("n1").cpu("1")).await;
    let handle = SchedulerRunner::builder(c.client.clone())
        .framework(gang_framework(&c, Duration::from_secs(3600)))
        .config(fast_config())
        .build()
        .spawn();
    c.add_pod(gang_member("a", "pair", 2)).await;
    wait("the first member to be held", || async {
        (handle.stats().cycles >= 1).then_some(())
    })
    .await;
    tokio::time::timeout(PATIENCE, handle.shutdown())
        .await
        .expect("shutdown does not wait out the permit timeout")
        .unwrap();
    assert_eq!(c.pod("a").await.spec.node_name, None);
}

/// A platform's own algorithm: the last node by name with enough free CPU.
#[derive(Debug)]
struct LastByName;

impl Scheduler for LastByName {
    fn schedule(&self, pod: &Arc<PodInfo>, snapshot: &Snapshot) -> Result<Decision, Unschedulable> {
        let want = pod.requests().milli_cpu;
        let mut rejections = Vec::new();
        let mut best: Option<&str> = None;
        for n in snapshot.nodes() {
            if n.allocatable().milli_cpu - n.requested().milli_cpu >= want {
                best = best.max(Some(n.name()));
            } else {
                rejections.push(NodeRejection {
                    node: Arc::clone(n.name_arc()),
                    code: FitCode::Unschedulable,
                    plugin: "LastByName".into(),
                    reasons: vec!["not enough cpu for LastByName".into()],
                });
            }
        }
        match best {
            Some(node) => Ok(Decision {
                node: node.to_owned(),
                evaluated_nodes: snapshot.len(),
                feasible_nodes: snapshot.len() - rejections.len(),
            }),
            None => Err(Unschedulable {
                num_nodes: snapshot.len(),
                plugins: vec!["LastByName".into()],
                rejections,
                ..Unschedulable::default()
            }),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platforms_own_scheduler_runs_in_the_same_loop() {
    let c = Cluster::new().await;
    c.add_node(node("alpha").cpu("2")).await;
    c.add_node(node("omega").cpu("2")).await;
    let handle = SchedulerRunner::builder(c.client.clone())
        .scheduler(Arc::new(LastByName), ["last-by-name"])
        .config(fast_config())
        .build()
        .spawn();
    c.add_pod(pod("default-one")).await;
    for i in 0..5 {
        c.add_pod(
            pod(&format!("m{i}"))
                .scheduler_name("last-by-name")
                .requests("1", "0"),
        )
        .await;
    }
    // Sequential decisions: omega fills first, then alpha; the fifth finds no room.
    let mut placed = HashMap::new();
    for i in 0..4 {
        *placed
            .entry(c.wait_bound(&format!("m{i}")).await)
            .or_insert(0) += 1;
    }
    assert_eq!(
        placed,
        HashMap::from([("alpha".into(), 2), ("omega".into(), 2)])
    );
    let fifth = c
        .wait_pod("m4", "PodScheduled=False", is_unschedulable)
        .await;
    assert_eq!(
        scheduled_condition(&fifth).unwrap().message.as_deref(),
        Some("0/2 nodes are available: 2 not enough cpu for LastByName.")
    );
    // The default scheduler is not running: its pod is untouched.
    assert_eq!(c.pod("default-one").await.spec.node_name, None);
    handle.shutdown().await.unwrap();
}
