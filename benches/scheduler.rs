//! The scheduler under criterion: pods scheduled per second for 500 and 5,000 nodes, for
//! five workloads, three ways.
//!
//! - `framework/<workload>/<nodes>`: the scheduling thread's work alone, on one core: the
//!   queue, the cache and its incremental snapshot, every default plugin (parallelism 1),
//!   assume and the end of the binding cycle. Preemption victims are removed as soon as
//!   they are nominated, as a node agent would, and the queue's backoffs run on a virtual
//!   clock, so that only CPU work is timed. Timed in CPU time of the thread
//!   (`CLOCK_THREAD_CPUTIME_ID`): the machine is shared, and wall time would count the
//!   other processes' turns on the core.
//! - `end_to_end/<workload>/<nodes>`: an in-process API server on a MemoryStore with the
//!   nodes, and the `SchedulerRunner` running on it, synced; the pods are created (64
//!   requests in flight) and the time runs from the first create until every pod is bound
//!   through `pods/binding`, as Kubernetes' scheduler_perf measures. Wall time: the API
//!   server, the informers and the scheduler share the machine's cores.
//! - `baseline/<workload>/<nodes>`: a bare loop over the same nodes and pods that checks
//!   only CPU and memory, visiting as many nodes per pod as the framework's Filter phase
//!   does (Kubernetes' adaptive share, from a rotating start) and taking the first fit: the
//!   floor under any scheduler. Timed in thread CPU time too.
//!
//! Every benchmark runs one workload on one cluster that is set up once (untimed): 10,000
//! measured pods (1,000 in quick mode) in batches of a tenth, one criterion sample per
//! batch after a warm-up batch, so the cluster fills up as in one long run and the
//! reported pods/s is the mean over the batches. Preemption measures one pod per node, as
//! Kubernetes' PreemptionBasic does, on nodes full of low-priority pods.
//!
//! Workloads: `basic` (requests only), `affinity_taints` (required and preferred node
//! affinity, tainted nodes and tolerations), `anti_affinity` (required pod anti-affinity
//! per hostname within groups), `topology_spread` (zone `DoNotSchedule` and hostname
//! `ScheduleAnyway` constraints, five interleaved apps) and `preemption` (each measured
//! pod must evict one).
//!
//! ```text
//! cargo bench --bench scheduler                             # everything
//! KUBE_SCHED_BENCH_QUICK=1 cargo bench --bench scheduler    # 500 nodes, 1,000 pods
//! cargo bench --bench scheduler -- framework/basic          # one family
//! python3 scripts/scheduler_chart.py                        # table and docs/scheduler.svg
//! ```
// A benchmark's setup fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use futures::StreamExt as _;
use kube_api::client::{Api, Client, Patch, PatchParams, PostParams};
use kube_api::server::ApiServer;
use kube_core::{BoxError, Node, ObjectKey, Pod, Store};
use kube_sched::framework::num_feasible_nodes_to_find;
use kube_sched::plugins::{self, PodBinder};
use kube_sched::testing::{node, pod, taint, toleration};
use kube_sched::{
    Cache, Engine, FrameworkConfig, FrameworkScheduler, Outcome, QueueConfig, RunnerConfig,
    RunnerHandle, SchedulerRunner,
};
use kube_store::MemoryStore;
use tokio::runtime::Runtime;

const PODS: usize = 10_000;
const QUICK_PODS: usize = 1_000;
const ZONES: usize = 10;
/// Criterion takes one sample per batch: a warm-up batch, then ten measured ones.
const BATCHES: usize = 10;
/// Batches a session takes before its cluster is full; criterion asks for 11 when a batch
/// takes more than a millisecond, and a fresh session takes over if it asks for more.
const MAX_BATCHES: usize = 12;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Basic,
    AffinityTaints,
    AntiAffinity,
    TopologySpread,
    Preemption,
}

const KINDS: [Kind; 5] = [
    Kind::Basic,
    Kind::AffinityTaints,
    Kind::AntiAffinity,
    Kind::TopologySpread,
    Kind::Preemption,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::AffinityTaints => "affinity_taints",
            Self::AntiAffinity => "anti_affinity",
            Self::TopologySpread => "topology_spread",
            Self::Preemption => "preemption",
        }
    }
}

/// One workload at one cluster size, run in batches.
#[derive(Clone, Copy, Debug)]
struct Workload {
    kind: Kind,
    nodes: usize,
    /// Pods per batch: a tenth of the workload's measured pods.
    batch: usize,
}

impl Workload {
    /// `pods` measured pods in ten batches; preemption measures one pod per node, as
    /// Kubernetes' PreemptionBasic does.
    fn new(kind: Kind, nodes: usize, pods: usize) -> Self {
        let pods = match kind {
            Kind::Preemption => nodes,
            _ => pods,
        };
        Self {
            kind,
            nodes,
            batch: (pods / BATCHES).max(1),
        }
    }

    /// Nodes like scheduler_perf's: 4 CPUs, 32Gi, 110 pods; zones and types as labels.
    fn node(&self, i: usize) -> Node {
        let mut n = node(&format!("node-{i:05}"))
            .cpu("4")
            .memory("32Gi")
            .pods(110)
            .label(
                "topology.kubernetes.io/zone",
                &format!("zone-{}", i % ZONES),
            );
        if let Kind::AffinityTaints = self.kind {
            n = n.label("node-type", &format!("type-{}", i % 4));
            if i % 5 == 0 {
                n = n.taint(taint("dedicated", "gpu", "NoSchedule"));
            }
        }
        n.node()
    }

    /// Pods already running before the measurement: four low-priority 1-CPU pods per
    /// node for preemption (the nodes are full), none otherwise.
    fn init_pods(&self) -> Vec<Pod> {
        let Kind::Preemption = self.kind else {
            return Vec::new();
        };
        (0..self.nodes * 4)
            .map(|i| {
                let mut p = pod(&format!("low-{i:06}"))
                    .priority(0)
                    .requests("1", "1Gi")
                    .image("registry.example/low:1")
                    .node_name(&format!("node-{:05}", i / 4))
                    .pod();
                p.spec.termination_grace_period_seconds = Some(0);
                p
            })
            .collect()
    }

    /// The measured pods of batch `b`.
    fn batch_pods(&self, b: usize) -> Vec<Pod> {
        assert!(
            b < MAX_BATCHES,
            "the cluster is sized for {MAX_BATCHES} batches"
        );
        (b * self.batch..(b + 1) * self.batch)
            .map(|i| self.pod(i))
            .collect()
    }

    fn pod(&self, i: usize) -> Pod {
        let name = format!("pod-{i:06}");
        let p = pod(&name).image("registry.example/app:1");
        match self.kind {
            Kind::Basic => p.requests("100m", "500Mi"),
            Kind::AffinityTaints => {
                let zones: Vec<String> = (0..7).map(|z| format!("zone-{z}")).collect();
                let zones: Vec<&str> = zones.iter().map(String::as_str).collect();
                let mut p = p
                    .requests("100m", "500Mi")
                    .required_node_term(&[("topology.kubernetes.io/zone", "In", &zones)])
                    .preferred_node_term(10, &[("node-type", "In", &["type-1"])]);
                if i % 2 == 0 {
                    p = p.toleration(toleration("dedicated", "Equal", "gpu", "NoSchedule"));
                }
                p
            }
            Kind::AntiAffinity => {
                let group = format!("group-{}", i / (self.nodes / 2).max(1));
                p.requests("100m", "500Mi")
                    .label("group", &group)
                    .anti_affinity("group", &group, "kubernetes.io/hostname")
            }
            Kind::TopologySpread => {
                let app = format!("app-{}", i % 5);
                p.requests("100m", "500Mi")
                    .label("app", &app)
                    .spread(
                        1,
                        "topology.kubernetes.io/zone",
                        "DoNotSchedule",
                        "app",
                        &app,
                    )
                    .spread(1, "kubernetes.io/hostname", "ScheduleAnyway", "app", &app)
            }
            Kind::Preemption => p.priority(100).requests("1", "1Gi"),
        }
        .pod()
    }
}

/// CPU time consumed by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
    // CLOCK_THREAD_CPUTIME_ID is a clock every Linux kernel since 2.6.12 provides.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Bindings are not run by the framework benchmark: this binder is never called.
#[derive(Debug)]
struct NoBinder;

#[async_trait]
impl PodBinder for NoBinder {
    async fn bind(&self, _: &ObjectKey, _: Option<&str>, _: &str) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A workload being run batch after batch by one kind of scheduler.
trait Session {
    /// Schedules the next batch; returns the time it took.
    fn batch(&mut self) -> Duration;

    /// True when the cluster has taken every batch it is sized for.
    fn full(&self) -> bool;
}

/// The scheduling thread's work: the engine with every default plugin on one core.
struct FrameworkSession {
    w: Workload,
    engine: Engine,
    clock: Instant,
    next: usize,
}

impl FrameworkSession {
    fn new(w: Workload) -> Self {
        let fw = FrameworkScheduler::new(
            [plugins::default_profile(Arc::new(NoBinder))],
            FrameworkConfig {
                parallelism: 1,
                ..FrameworkConfig::default()
            },
        );
        let mut engine = Engine::new(Arc::new(fw), QueueConfig::default(), Cache::default());
        let clock = Instant::now();
        for i in 0..w.nodes {
            engine.add_node(Arc::new(w.node(i)), clock);
        }
        for p in w.init_pods() {
            engine.upsert_pod(Arc::new(p), clock);
        }
        Self {
            w,
            engine,
            clock,
            next: 0,
        }
    }
}

impl Session for FrameworkSession {
    fn batch(&mut self) -> Duration {
        let pods: Vec<Arc<Pod>> = self
            .w
            .batch_pods(self.next)
            .into_iter()
            .map(Arc::new)
            .collect();
        self.next += 1;
        let engine = &mut self.engine;
        let start = thread_cpu_time();
        for p in pods {
            engine.upsert_pod(p, self.clock);
        }
        let mut placed = 0;
        while placed < self.w.batch {
            match engine.schedule_next(self.clock) {
                Some(Outcome::Assumed(binding)) => {
                    let (_, _, _, _, queued) = binding.into_parts();
                    engine.binding_finished(queued, true, self.clock);
                    placed += 1;
                }
                Some(Outcome::Unschedulable(_, why)) => {
                    let Some(nomination) = why.nomination.as_deref() else {
                        panic!("{:?}: a pod does not fit: {}", self.w.kind, why.message())
                    };
                    // The node agent stops the victims at once.
                    for victim in &nomination.victims {
                        engine.delete_pod(victim, self.clock);
                    }
                }
                Some(Outcome::Rejected(p, e)) => panic!("{} rejected: {e}", p.key()),
                None => {
                    // Only backoffs left: the virtual clock jumps to the first expiry.
                    self.clock = engine
                        .queue()
                        .next_backoff_expiry()
                        .expect("pods left, none backing off");
                }
            }
        }
        thread_cpu_time() - start
    }

    fn full(&self) -> bool {
        self.next >= MAX_BATCHES
    }
}

/// The bare loop: CPU and memory only, the same number of node visits per pod as the
/// framework's Filter phase, the first fit taken.
struct BaselineSession {
    w: Workload,
    nodes: Vec<(i64, i64)>,
    used: Vec<(i64, i64)>,
    to_find: usize,
    start: usize,
    next: usize,
}

impl BaselineSession {
    fn new(w: Workload) -> Self {
        let nodes: Vec<(i64, i64)> = (0..w.nodes)
            .map(|i| {
                let n = kube_core::NodeInfo::new(Arc::new(w.node(i)));
                (n.allocatable().milli_cpu, n.allocatable().memory)
            })
            .collect();
        Self {
            w,
            used: vec![(0, 0); nodes.len()],
            to_find: num_feasible_nodes_to_find(0, nodes.len()),
            nodes,
            start: 0,
            next: 0,
        }
    }
}

impl Session for BaselineSession {
    fn batch(&mut self) -> Duration {
        let pods: Vec<(i64, i64)> = self
            .w
            .batch_pods(self.next)
            .into_iter()
            .map(|p| {
                let r = kube_core::PodInfo::new(Arc::new(p));
                (r.requests().milli_cpu, r.requests().memory)
            })
            .collect();
        self.next += 1;
        let n = self.nodes.len();
        let begin = thread_cpu_time();
        for &(cpu, mem) in &pods {
            let (mut first, mut found, mut visited) = (None, 0, 0);
            for k in 0..n {
                let i = (self.start + k) % n;
                visited += 1;
                let (used, cap) = (self.used[i], self.nodes[i]);
                if used.0 + cpu <= cap.0 && used.1 + mem <= cap.1 {
                    first.get_or_insert(i);
                    found += 1;
                    if found >= self.to_find {
                        break;
                    }
                }
            }
            self.start = (self.start + visited) % n;
            let i = first.expect("the baseline found no fit");
            self.used[i].0 += cpu;
            self.used[i].1 += mem;
        }
        black_box(&self.used);
        thread_cpu_time() - begin
    }

    fn full(&self) -> bool {
        self.next >= MAX_BATCHES
    }
}

/// Creates `objects` through `create`, 64 requests at a time.
async fn create_all<K, F, Fut>(objects: Vec<K>, create: F)
where
    F: Fn(K) -> Fut,
    Fut: Future<Output = ()>,
{
    futures::stream::iter(objects)
        .map(create)
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
}

/// An in-process API server on a MemoryStore with the workload's nodes and init pods,
/// and the scheduler running on it, synced.
struct EndToEndSession {
    w: Workload,
    rt: Arc<Runtime>,
    pods: Api<Pod>,
    handle: Option<RunnerHandle>,
    next: usize,
}

impl EndToEndSession {
    fn new(w: Workload, rt: Arc<Runtime>) -> Self {
        let (pods, handle) = rt.block_on(async {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let server = ApiServer::builder(store).build().await.unwrap();
            let client = Client::new(server, "default");
            let nodes_api: Api<Node> = Api::all(client.clone());
            let pods_api: Api<Pod> = Api::default_namespaced(client.clone());
            let nodes: Vec<Node> = (0..w.nodes).map(|i| w.node(i)).collect();
            create_all(nodes, |n| {
                let api = nodes_api.clone();
                async move {
                    let name = n.metadata.name.clone().unwrap();
                    let status =
                        serde_json::json!({ "status": serde_json::to_value(&n.status).unwrap() });
                    api.create(&PostParams::default(), &n).await.unwrap();
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                        .await
                        .unwrap();
                }
            })
            .await;
            create_all(w.init_pods(), |p| create_pod(&pods_api, p)).await;
            let handle = SchedulerRunner::builder(client)
                .config(RunnerConfig::default())
                .build()
                .spawn();
            while !handle.stats().synced {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (pods_api, handle)
        });
        Self {
            w,
            rt,
            pods,
            handle: Some(handle),
            next: 0,
        }
    }
}

async fn create_pod(api: &Api<Pod>, p: Pod) {
    api.create(&PostParams::default(), &p).await.unwrap();
}

impl Session for EndToEndSession {
    /// Creates the batch's pods (64 requests in flight) and waits until the scheduler has
    /// bound them all: wall time from the first create to the last binding.
    fn batch(&mut self) -> Duration {
        let pods = self.w.batch_pods(self.next);
        self.next += 1;
        let handle = self.handle.as_ref().expect("running");
        let target = handle.stats().bound as usize + pods.len();
        let api = &self.pods;
        self.rt.block_on(async {
            let start = Instant::now();
            create_all(pods, |p| create_pod(api, p)).await;
            while (handle.stats().bound as usize) < target {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            start.elapsed()
        })
    }

    fn full(&self) -> bool {
        self.next >= MAX_BATCHES
    }
}

impl Drop for EndToEndSession {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.rt.block_on(handle.shutdown()).unwrap();
        }
    }
}

fn quick() -> bool {
    std::env::var_os("KUBE_SCHED_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

fn workloads() -> Vec<Workload> {
    let (sizes, pods): (&[usize], usize) = if quick() {
        (&[500], QUICK_PODS)
    } else {
        (&[500, 5_000], PODS)
    };
    sizes
        .iter()
        .flat_map(|&n| KINDS.iter().map(move |&k| Workload::new(k, n, pods)))
        .collect()
}

/// One benchmark per workload in `family`, each sample one batch of a session that
/// `start` sets up (untimed) on first use, and again whenever it is full.
fn batched(c: &mut Criterion, family: &str, start: &dyn Fn(Workload) -> Box<dyn Session>) {
    let mut group = c.benchmark_group(family);
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(BATCHES);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_millis(1));
    for w in workloads() {
        group.throughput(Throughput::Elements(w.batch as u64));
        let mut session: Option<Box<dyn Session>> = None;
        group.bench_function(BenchmarkId::new(w.kind.name(), w.nodes), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        if session.as_ref().is_some_and(|s| s.full()) {
                            session = None;
                        }
                        session.get_or_insert_with(|| start(w)).batch()
                    })
                    .sum()
            });
        });
    }
    group.finish();
}

fn baseline(c: &mut Criterion) {
    batched(c, "baseline", &|w| Box::new(BaselineSession::new(w)));
}

fn framework(c: &mut Criterion) {
    batched(c, "framework", &|w| Box::new(FrameworkSession::new(w)));
}

fn end_to_end(c: &mut Criterion) {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
    batched(c, "end_to_end", &|w| {
        Box::new(EndToEndSession::new(w, Arc::clone(&rt)))
    });
}

criterion_group!(benches, baseline, framework, end_to_end);
criterion_main!(benches);
