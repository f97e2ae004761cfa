//! The scheduler under criterion: pods scheduled per second for 500 and 5,000 nodes, for
//! five workloads, three ways:
//!
//! - `framework/<workload>/<nodes>`: the scheduling thread's work alone, on one core: the
//!   queue, the cache and its incremental snapshot, every default plugin (parallelism 1),
//!   assume and the end of the binding cycle. Preemption victims are removed as soon as
//!   they are nominated, as a node agent would, and the queue's backoffs run on a virtual
//!   clock, so that only CPU work is timed. Timed in CPU time of the thread
//!   (`CLOCK_THREAD_CPUTIME_ID`): the machine is shared, and wall time would count the
//!   other processes' turns on the core.
//! - `end_to_end/<workload>/<nodes>`: the pods are created in an in-process API server on
//!   a MemoryStore, then the `SchedulerRunner` starts; timed from its start (informer list
//!   included) until every pod is bound through `pods/binding`.
//! - `baseline/<workload>/<nodes>`: a bare loop over the same nodes and pods that checks
//!   only CPU and memory, visiting as many nodes per pod as the framework's Filter phase
//!   does (Kubernetes' adaptive share, from a rotating start) and taking the first fit: the
//!   floor under any scheduler. Timed in thread CPU time too.
//!
//! Workloads (10,000 measured pods each, except preemption: 2 per node, at most 10,000):
//! `basic` (requests only), `affinity_taints` (required and preferred node affinity,
//! tainted nodes and tolerations), `anti_affinity` (required pod anti-affinity per
//! hostname within groups), `topology_spread` (zone `DoNotSchedule` and hostname
//! `ScheduleAnyway` constraints) and `preemption` (every node full of low-priority pods;
//! each measured pod must evict one).
//!
//! ```text
//! cargo bench --bench scheduler                         # everything (about 8 minutes)
//! KUBE_SCHED_BENCH_QUICK=1 cargo bench --bench scheduler  # 500 nodes, 1,000 pods
//! cargo bench --bench scheduler -- framework/basic      # one family
//! python3 scripts/scheduler_chart.py                    # table and docs/scheduler.svg
//! ```
// A benchmark's setup fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::StreamExt as _;
use kube_api::client::{Api, Client, Patch, PatchParams, PostParams};
use kube_api::server::ApiServer;
use kube_core::{BoxError, Node, ObjectKey, Pod, Store};
use kube_sched::framework::num_feasible_nodes_to_find;
use kube_sched::plugins::{self, PodBinder};
use kube_sched::testing::{node, pod, taint, toleration};
use kube_sched::{
    Cache, Engine, FrameworkConfig, FrameworkScheduler, Outcome, QueueConfig, RunnerConfig,
    SchedulerRunner,
};
use kube_store::MemoryStore;
use tokio::runtime::Runtime;

const PODS: usize = 10_000;
const QUICK_PODS: usize = 1_000;
const ZONES: usize = 10;

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

/// One workload at one cluster size.
#[derive(Clone, Copy, Debug)]
struct Workload {
    kind: Kind,
    nodes: usize,
    pods: usize,
}

impl Workload {
    fn new(kind: Kind, nodes: usize, pods: usize) -> Self {
        let pods = match kind {
            Kind::Preemption => pods.min(2 * nodes),
            _ => pods,
        };
        Self { kind, nodes, pods }
    }

    /// Nodes like scheduler_perf's: 4 CPUs, 32Gi, 110 pods; zones and types as labels.
    fn node(&self, i: usize) -> Node {
        let mut n = node(&format!("node-{i:05}"))
            .cpu("4")
            .memory("32Gi")
            .pods(110)
            .label("topology.kubernetes.io/zone", &format!("zone-{}", i % ZONES));
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

    /// The measured pods.
    fn pods(&self) -> Vec<Pod> {
        (0..self.pods).map(|i| self.pod(i)).collect()
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
                    .spread(1, "topology.kubernetes.io/zone", "DoNotSchedule", "app", &app)
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

/// The scheduling thread's work for one workload: returns the time it took.
fn run_framework(w: &Workload) -> Duration {
    let fw = FrameworkScheduler::new(
        [plugins::default_profile(Arc::new(NoBinder))],
        FrameworkConfig {
            parallelism: 1,
            ..FrameworkConfig::default()
        },
    );
    let mut engine = Engine::new(Arc::new(fw), QueueConfig::default(), Cache::default());
    let mut clock = Instant::now();
    for i in 0..w.nodes {
        engine.add_node(Arc::new(w.node(i)), clock);
    }
    for p in w.init_pods() {
        engine.upsert_pod(Arc::new(p), clock);
    }
    let pods: Vec<Arc<Pod>> = w.pods().into_iter().map(Arc::new).collect();

    let start = thread_cpu_time();
    for p in pods {
        engine.upsert_pod(p, clock);
    }
    let mut placed = 0;
    while placed < w.pods {
        match engine.schedule_next(clock) {
            Some(Outcome::Assumed(binding)) => {
                let (_, _, _, _, queued) = binding.into_parts();
                engine.binding_finished(queued, true, clock);
                placed += 1;
            }
            Some(Outcome::Unschedulable(_, why)) => {
                let Some(nomination) = why.nomination.as_deref() else {
                    panic!("{:?}: a pod does not fit: {}", w.kind, why.message())
                };
                for victim in &nomination.victims {
                    engine.delete_pod(victim, clock);
                }
            }
            Some(Outcome::Rejected(p, e)) => panic!("{} rejected: {e}", p.key()),
            None => {
                clock = engine
                    .queue()
                    .next_backoff_expiry()
                    .expect("pods left, none backing off");
            }
        }
    }
    thread_cpu_time() - start
}

/// The bare loop: CPU and memory only, the same number of node visits per pod as the
/// framework's Filter phase.
fn run_baseline(w: &Workload) -> Duration {
    let amounts = |p: &Pod| {
        let r = kube_core::PodInfo::new(Arc::new(p.clone()));
        (r.requests().milli_cpu, r.requests().memory)
    };
    let nodes: Vec<(i64, i64)> = (0..w.nodes)
        .map(|i| {
            let n = kube_core::NodeInfo::new(Arc::new(w.node(i)));
            (n.allocatable().milli_cpu, n.allocatable().memory)
        })
        .collect();
    let pods: Vec<(i64, i64)> = w.pods().iter().map(amounts).collect();
    let to_find = num_feasible_nodes_to_find(0, nodes.len());

    let start = thread_cpu_time();
    let mut used = vec![(0i64, 0i64); nodes.len()];
    let mut next = 0;
    for &(cpu, mem) in &pods {
        let (mut first, mut found, mut visited) = (None, 0, 0);
        for k in 0..nodes.len() {
            let i = (next + k) % nodes.len();
            visited += 1;
            if used[i].0 + cpu <= nodes[i].0 && used[i].1 + mem <= nodes[i].1 {
                first.get_or_insert(i);
                found += 1;
                if found >= to_find {
                    break;
                }
            }
        }
        next = (next + visited) % nodes.len();
        let i = first.expect("the baseline found no fit");
        used[i].0 += cpu;
        used[i].1 += mem;
    }
    black_box(&used);
    thread_cpu_time() - start
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

/// A fresh cluster with the workload's nodes, init pods and measured pods created; then
/// the scheduler runs until every measured pod is bound. Returns the scheduler's time.
async fn run_end_to_end(w: &Workload) -> Duration {
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
            let status = serde_json::json!({ "status": serde_json::to_value(&n.status).unwrap() });
            api.create(&PostParams::default(), &n).await.unwrap();
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                .await
                .unwrap();
        }
    })
    .await;
    let create_pod = |p: Pod| {
        let api = pods_api.clone();
        async move {
            api.create(&PostParams::default(), &p).await.unwrap();
        }
    };
    create_all(w.init_pods(), create_pod).await;
    create_all(w.pods(), create_pod).await;

    let start = Instant::now();
    let handle = SchedulerRunner::builder(client)
        .config(RunnerConfig::default())
        .build()
        .spawn();
    while (handle.stats().bound as usize) < w.pods {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = start.elapsed();
    handle.shutdown().await.unwrap();
    elapsed
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

fn timed(c: &mut Criterion, family: &str, run: &dyn Fn(&Workload) -> Duration) {
    let mut group = c.benchmark_group(family);
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_millis(1));
    for w in workloads() {
        group.throughput(Throughput::Elements(w.pods as u64));
        group.bench_with_input(BenchmarkId::new(w.kind.name(), w.nodes), &w, |b, w| {
            b.iter_custom(|iters| (0..iters).map(|_| run(w)).sum());
        });
    }
    group.finish();
}

fn framework(c: &mut Criterion) {
    timed(c, "framework", &run_framework);
}

fn baseline(c: &mut Criterion) {
    timed(c, "baseline", &run_baseline);
}

fn end_to_end(c: &mut Criterion) {
    let rt: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    timed(c, "end_to_end", &|w| rt.block_on(run_end_to_end(w)));
}

criterion_group!(benches, baseline, framework, end_to_end);
criterion_main!(benches);
