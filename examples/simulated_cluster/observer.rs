//! The observer: one watch on every pod, timing each pod from its creation to scheduled
//! and to Running (Kubernetes' pod startup latency, observed through a watch).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kube_sdk::api::client::{Api, Client, ListParams, WatchParams};
use kube_sdk::core::{ApiResource, ObjectMeta, Pod, PodPhase, Resource, WatchEvent};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{Samples, Shared};

/// Which part of the run a pod was created in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Filling the cluster.
    Fill,
    /// Deleting and recreating pods in a full cluster.
    Churn,
}

#[derive(Debug)]
struct PodTimes {
    created: Instant,
    stage: Stage,
    scheduled: bool,
    running: bool,
}

/// What the observer has seen so far.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// Pods seen created (through the watch).
    pub(crate) created: usize,
    /// Pods seen with a node.
    pub(crate) scheduled: usize,
    /// Pods seen Running.
    pub(crate) running: usize,
    /// Pods seen deleted.
    pub(crate) deleted: usize,
    /// When the last pod was seen created, scheduled, Running.
    pub(crate) last_created: Option<Instant>,
    pub(crate) last_scheduled: Option<Instant>,
    pub(crate) last_running: Option<Instant>,
    /// Creation to Running, per stage.
    pub(crate) startup_fill: Samples,
    pub(crate) startup_churn: Samples,
    /// Creation to bound.
    pub(crate) scheduling: Samples,
    /// Times the watch was cut off and resumed.
    pub(crate) rewatches: usize,
}

#[derive(Debug)]
struct State {
    pods: HashMap<String, PodTimes>,
    /// When the load generator sent each create (the pod's creation as the client saw it).
    sent: HashMap<String, Instant>,
    stage: Stage,
    seen: Seen,
}

/// Watches every pod and times them.
#[derive(Debug, Clone)]
pub(crate) struct Observer {
    state: Shared<State>,
    /// The scheduler's own count of bindings, shown beside what the watch saw.
    scheduler: Option<kube_sdk::sched::StatsReader>,
}

/// What the observer reads of a pod: its name, node and phase. Every other field is
/// skipped as the watch's JSON is decoded, as a density test's client reads only what it
/// times; decoding whole pods made the observer's thread 7 % of the run's CPU.
#[derive(Debug, Default, Deserialize, Serialize)]
struct PodProgress {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: ProgressSpec,
    #[serde(default)]
    status: ProgressStatus,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProgressSpec {
    #[serde(default)]
    node_name: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct ProgressStatus {
    #[serde(default)]
    phase: Option<PodPhase>,
}

impl Resource for PodProgress {
    type DynamicType = ();

    fn api_resource(dt: &()) -> std::borrow::Cow<'_, ApiResource> {
        Pod::api_resource(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn key(pod: &PodProgress) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

impl Observer {
    /// Lists the pods (none yet) and starts watching from there.
    pub(crate) async fn start(client: Client) -> Result<Self, kube_sdk::core::Error> {
        let state = Arc::new(Mutex::new(State {
            pods: HashMap::new(),
            sent: HashMap::new(),
            stage: Stage::Fill,
            seen: Seen {
                created: 0,
                scheduled: 0,
                running: 0,
                deleted: 0,
                last_created: None,
                last_scheduled: None,
                last_running: None,
                startup_fill: Samples::default(),
                startup_churn: Samples::default(),
                scheduling: Samples::default(),
                rewatches: 0,
            },
        }));
        let api: Api<PodProgress> = Api::all(client);
        let list = api.list_all(&ListParams::default(), LIST_PAGE).await?;
        let rv = list.metadata.resource_version.clone().unwrap_or_default();
        {
            let mut s = state.lock();
            for pod in &list.items {
                s.observe(pod, Instant::now());
            }
        }
        watch_on_own_thread(api, rv, state.clone()).map_err(|e| {
            kube_sdk::core::Error::internal("no thread for the observer's watch", e)
        })?;
        Ok(Self {
            state,
            scheduler: None,
        })
    }

    /// The load generator is about to create this pod.
    pub(crate) fn sending(&self, namespace: &str, name: &str) {
        self.state
            .lock()
            .sent
            .insert(format!("{namespace}/{name}"), Instant::now());
    }

    /// Pods created from now on count as churn.
    pub(crate) fn set_stage(&self, stage: Stage) {
        self.state.lock().stage = stage;
    }

    /// What has been seen so far.
    pub(crate) fn snapshot(&self) -> Seen {
        self.state.lock().seen.clone()
    }

    /// Counts without copying the samples.
    /// Shows the scheduler's own count of bindings in the progress line.
    pub(crate) fn with_scheduler(mut self, reader: Option<kube_sdk::sched::StatsReader>) -> Self {
        self.scheduler = reader;
        self
    }

    /// Pods the scheduler has bound, by its own count (not yet seen by the watch, maybe).
    pub(crate) fn bound(&self) -> Option<u64> {
        self.scheduler.as_ref().map(|r| r.stats().bound)
    }

    pub(crate) fn counts(&self) -> (usize, usize, usize, usize) {
        let s = self.state.lock();
        (
            s.seen.created,
            s.seen.scheduled,
            s.seen.running,
            s.seen.deleted,
        )
    }
}

impl State {
    fn observe(&mut self, pod: &PodProgress, now: Instant) {
        let key = key(pod);
        let stage = self.stage;
        let sent = self.sent.remove(&key);
        let times = self.pods.entry(key).or_insert_with(|| {
            self.seen.created += 1;
            self.seen.last_created = Some(now);
            PodTimes {
                created: sent.unwrap_or(now),
                stage,
                scheduled: false,
                running: false,
            }
        });
        if !times.scheduled && pod.spec.node_name.is_some() {
            times.scheduled = true;
            self.seen.scheduled += 1;
            self.seen.last_scheduled = Some(now);
            self.seen
                .scheduling
                .push(now.saturating_duration_since(times.created));
        }
        if !times.running && pod.status.phase == Some(PodPhase::Running) {
            times.running = true;
            self.seen.running += 1;
            self.seen.last_running = Some(now);
            let latency = now.saturating_duration_since(times.created);
            match times.stage {
                Stage::Fill => self.seen.startup_fill.push(latency),
                Stage::Churn => self.seen.startup_churn.push(latency),
            }
        }
    }

    fn forget(&mut self, pod: &PodProgress) {
        if let Some(times) = self.pods.remove(&key(pod)) {
            self.seen.deleted += 1;
            if times.running {
                self.seen.running -= 1;
            }
            if times.scheduled {
                self.seen.scheduled -= 1;
            }
            self.seen.created -= 1;
        }
    }
}

/// Pods per page of the observer's lists: a list of 150,000 pods in one response passes
/// the client's response size limit.
const LIST_PAGE: u32 = 5_000;

/// Runs [`watch_loop`] on a thread of its own, as Kubernetes' density tests watch from a
/// process of their own. On the cluster's runtime the watch was one task among the node
/// agents' thousands: in an unpaced fill it fell 65,536 events behind, was cut off and
/// relisted, and recorded transitions up to 15 s after they happened.
fn watch_on_own_thread(
    api: Api<PodProgress>,
    rv: String,
    state: Shared<State>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("observer".to_owned())
        .spawn(move || runtime.block_on(watch_loop(api, rv, state)))?;
    Ok(())
}

/// Follows the pods from `rv`, resuming where it stopped; relists after a 410.
async fn watch_loop(api: Api<PodProgress>, mut rv: String, state: Shared<State>) {
    let params = WatchParams {
        timeout_seconds: Some(3600),
        ..WatchParams::default()
    };
    loop {
        let mut stream = match api.watch(&params, &rv).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "the observer's watch failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut gone = false;
        while let Some(event) = stream.next().await {
            let now = Instant::now();
            match event {
                Ok(WatchEvent::Added(pod) | WatchEvent::Modified(pod)) => {
                    rv = pod.metadata.resource_version.clone().unwrap_or(rv);
                    state.lock().observe(&pod, now);
                }
                Ok(WatchEvent::Deleted(pod)) => {
                    rv = pod.metadata.resource_version.clone().unwrap_or(rv);
                    state.lock().forget(&pod);
                }
                Ok(WatchEvent::Bookmark(b)) => rv = b.metadata.resource_version,
                Ok(WatchEvent::Error(status)) => {
                    gone = status.code == 410;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the observer's watch broke");
                    break;
                }
            }
        }
        state.lock().seen.rewatches += 1;
        if gone {
            match api.list_all(&ListParams::default(), LIST_PAGE).await {
                Ok(list) => {
                    let now = Instant::now();
                    let mut s = state.lock();
                    for pod in &list.items {
                        s.observe(pod, now);
                    }
                    rv = list.metadata.resource_version.unwrap_or_default();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the observer's relist failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}
