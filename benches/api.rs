//! The API server under criterion, each figure beside its baseline in the same run:
//!
//! - creates per second (16 in flight) through the in-process client, over HTTPS (TLS,
//!   client certificate, RBAC, rate limits: the served stack), and as raw store creates of
//!   the same bytes;
//! - a list of 10,000 pods through the in-process client, against a raw range read of
//!   the same keys;
//! - one write delivered to 1,000 watchers (in-process client watch streams, each
//!   decoding its own copy), as events per second and the p99 latency from write to
//!   receipt;
//! - pod status writes (a node agent's merge patch of `pods/status`, 16 in flight) through
//!   the in-process client, against raw store updates of a stored pod's size;
//!
//! on `MemoryStore`, and with the root feature `etcd` on a private etcd as well, where
//! creates through the API server are compared with raw etcd create transactions at the
//! same concurrency (the target: at least 80%). The ratios and latencies are printed at
//! the end.
//!
//! ```text
//! cargo bench --bench api                        # MemoryStore
//! cargo bench --features etcd --bench api        # and etcd (scripts/install-etcd.sh)
//! ```
// A benchmark reports on stdout and stderr; setup failures end it with a message.
#![allow(clippy::print_stdout, clippy::print_stderr)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use kube_api::client::{Api, Client, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube_api::server::ApiServer;
use kube_api::server::stack::{RunningServer, Stack, StackBuilder};
use kube_core::{ConfigMap, ObjectMeta, PartialObjectMeta, Pod, RangeRequest, Store, WatchEvent};
use kube_store::MemoryStore;
use parking_lot::Mutex;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// Requests in flight at once for creates.
const CONCURRENCY: usize = 16;
const LIST_PODS: usize = 10_000;
const WATCHERS: usize = 1_000;
/// Pods whose status the status-write benchmark patches in turn.
const STATUS_PODS: usize = 1_000;

/// Mean nanoseconds per operation, per (backend, figure), for the report.
static TOTALS: Mutex<BTreeMap<String, (u64, u64)>> = Mutex::new(BTreeMap::new());
/// Watch latencies in nanoseconds, per backend.
static LATENCIES: Mutex<BTreeMap<String, Vec<u64>>> = Mutex::new(BTreeMap::new());

fn record(name: &str, iters: u64, elapsed: Duration) -> Duration {
    let mut t = TOTALS.lock();
    let e = t.entry(name.to_owned()).or_default();
    e.0 += u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    e.1 += iters;
    elapsed
}

fn ops_per_sec(name: &str) -> Option<f64> {
    let t = TOTALS.lock();
    let (nanos, iters) = *t.get(name)?;
    (nanos > 0).then(|| iters as f64 * 1e9 / nanos as f64)
}

/// Runs `iters` operations over `concurrency` workers; returns the wall time.
async fn workers<F, Fut>(iters: u64, concurrency: usize, work: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let c = concurrency as u64;
    let start = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|w| tokio::spawn(work(iters / c + u64::from(w < iters % c))))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}{:010}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn config_map(name: String) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            labels: [("app".to_owned(), "bench".to_owned())].into(),
            ..Default::default()
        },
        data: [("payload".to_owned(), "v".repeat(200))].into(),
        ..Default::default()
    }
}

/// An API server on a store, served over HTTPS, with its clients.
struct Cluster {
    name: &'static str,
    store: Arc<dyn Store>,
    in_process: Client,
    https: Client,
    _stack: Stack,
    _server: RunningServer,
    _dir: tempfile::TempDir,
}

async fn cluster(name: &'static str, store: Arc<dyn Store>) -> Cluster {
    let api = ApiServer::builder(store.clone()).build().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stack = StackBuilder::new(api.clone())
        .pki_dir(dir.path())
        .build()
        .await
        .unwrap();
    let server = stack.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let kubeconfig =
        kube_api::client::Kubeconfig::read_from(server.kubeconfig_path().unwrap()).unwrap();
    let https = Client::try_from_kubeconfig(&kubeconfig, None).unwrap();
    let in_process = Client::new(api, "default");
    for ns in ["bench", "list", "watch", "status"] {
        let nss: Api<kube_core::Namespace> = Api::all(in_process.clone());
        let n: kube_core::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
        nss.create(&PostParams::default(), &n).await.unwrap();
    }
    Cluster {
        name,
        store,
        in_process,
        https,
        _stack: stack,
        _server: server,
        _dir: dir,
    }
}

fn bench_creates(c: &mut Criterion, rt: &Runtime, cl: &Cluster) {
    let mut group = c.benchmark_group(format!("{}/create", cl.name));
    group.throughput(Throughput::Elements(1));
    for (via, client) in [("in_process", &cl.in_process), ("https", &cl.https)] {
        let fig = format!("{}/create/{via}", cl.name);
        group.bench_function(BenchmarkId::from_parameter(via), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), "bench");
                let fig = fig.clone();
                async move {
                    let elapsed = workers(iters, CONCURRENCY, |n| {
                        let api = api.clone();
                        async move {
                            for _ in 0..n {
                                let cm = config_map(unique("cm-"));
                                api.create(&PostParams::default(), &cm).await.unwrap();
                            }
                        }
                    })
                    .await;
                    record(&fig, iters, elapsed)
                }
            });
        });
    }
    // The baseline: the store's own create of an object of the same size.
    let fig = format!("{}/create/store", cl.name);
    let sample = Bytes::from(serde_json::to_vec(&config_map("sample-0000000000".into())).unwrap());
    let size = sample.len() + 180; // the metadata the server adds (uid, timestamps, ...)
    group.bench_function(BenchmarkId::from_parameter("store"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let store = cl.store.clone();
            let fig = fig.clone();
            async move {
                let elapsed = workers(iters, CONCURRENCY, |n| {
                    let store = store.clone();
                    async move {
                        for _ in 0..n {
                            let key = unique("/bench/raw/cm-");
                            store
                                .create(key.into(), Bytes::from(vec![b'v'; size]), None)
                                .await
                                .unwrap();
                        }
                    }
                })
                .await;
                record(&fig, iters, elapsed)
            }
        });
    });
    group.finish();
}

fn bench_list(c: &mut Criterion, rt: &Runtime, cl: &Cluster) {
    let pods: Api<Pod> = Api::namespaced(cl.in_process.clone(), "list");
    rt.block_on(async {
        workers(LIST_PODS as u64, CONCURRENCY, |n| {
            let pods = pods.clone();
            async move {
                for _ in 0..n {
                    let p: Pod = serde_json::from_value(serde_json::json!({
                        "metadata": {"name": unique("pod-"), "labels": {"app": "list"}},
                        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1.0",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}))
                    .unwrap();
                    pods.create(&PostParams::default(), &p).await.unwrap();
                }
            }
        })
        .await;
    });
    let mut group = c.benchmark_group(format!("{}/list_10k_pods", cl.name));
    group.throughput(Throughput::Elements(LIST_PODS as u64));
    let fig = format!("{}/list/in_process", cl.name);
    group.bench_function(BenchmarkId::from_parameter("in_process"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let pods = pods.clone();
            let fig = fig.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let list = pods.list(&ListParams::default()).await.unwrap();
                    assert_eq!(list.items.len(), LIST_PODS);
                }
                record(&fig, iters, start.elapsed())
            }
        });
    });
    let fig = format!("{}/list/store", cl.name);
    group.bench_function(BenchmarkId::from_parameter("store"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let store = cl.store.clone();
            let fig = fig.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    // Pages of 1,000 at one revision, as the server reads (a single
                    // response of every pod passes etcd's 4 MiB gRPC limit).
                    let (mut n, mut revision, mut from) = (0, 0, None::<Vec<u8>>);
                    loop {
                        let mut req = RangeRequest::prefix("/registry/pods/list/")
                            .limit(1000)
                            .at_revision(revision);
                        if let Some(f) = from.take() {
                            req = req.start(f);
                        }
                        let r = store.range(req).await.unwrap();
                        revision = r.revision;
                        n += r.kvs.len();
                        if let Some(last) = r.kvs.last() {
                            let mut next = last.key.to_vec();
                            next.push(0);
                            from = Some(next);
                        }
                        if !r.more || r.kvs.is_empty() {
                            break;
                        }
                    }
                    assert_eq!(n, LIST_PODS);
                }
                record(&fig, iters, start.elapsed())
            }
        });
    });
    group.finish();
}

/// One write, delivered to 1,000 watchers: the time until every watcher has it.
fn bench_watch(c: &mut Criterion, rt: &Runtime, cl: &Cluster) {
    let api: Api<ConfigMap> = Api::namespaced(cl.in_process.clone(), "watch");
    let received = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let starts: Arc<Mutex<BTreeMap<u64, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<u64>>> = Arc::default();
    let rv = rt.block_on(async {
        let cm = api
            .create(&PostParams::default(), &config_map("w".into()))
            .await
            .unwrap();
        cm.metadata.resource_version.unwrap()
    });
    let ready = Arc::new(AtomicUsize::new(0));
    for _ in 0..WATCHERS {
        let api = api.clone();
        let rv = rv.clone();
        let (received, done, starts, latencies, ready) = (
            received.clone(),
            done.clone(),
            starts.clone(),
            latencies.clone(),
            ready.clone(),
        );
        rt.spawn(async move {
            let params = WatchParams {
                timeout_seconds: Some(3600),
                bookmarks: false,
                ..WatchParams::default()
            };
            let mut stream = api.watch(&params, &rv).await.unwrap();
            ready.fetch_add(1, Ordering::SeqCst);
            while let Some(ev) = stream.next().await {
                if let Ok(WatchEvent::Modified(cm)) = ev {
                    let seq: u64 = cm.data.get("seq").and_then(|s| s.parse().ok()).unwrap_or(0);
                    if let Some(t) = starts.lock().get(&seq) {
                        let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        latencies.lock().push(ns);
                    }
                    if received.fetch_add(1, Ordering::SeqCst) + 1 == WATCHERS {
                        done.notify_one();
                    }
                }
            }
        });
    }
    while ready.load(Ordering::SeqCst) < WATCHERS {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut group = c.benchmark_group(format!("{}/watch_1k", cl.name));
    group.throughput(Throughput::Elements(WATCHERS as u64));
    let fig = format!("{}/watch", cl.name);
    let seq = Arc::new(AtomicU64::new(0));
    group.bench_function(BenchmarkId::from_parameter("in_process"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (api, received, done, starts, seq, fig) = (
                api.clone(),
                received.clone(),
                done.clone(),
                starts.clone(),
                seq.clone(),
                fig.clone(),
            );
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let n = seq.fetch_add(1, Ordering::SeqCst) + 1;
                    received.store(0, Ordering::SeqCst);
                    let mut cm = api.get("w").await.unwrap();
                    cm.data.insert("seq".into(), n.to_string());
                    let start = Instant::now();
                    starts.lock().insert(n, start);
                    api.replace("w", &PostParams::default(), &cm).await.unwrap();
                    tokio::time::timeout(Duration::from_secs(60), done.notified())
                        .await
                        .expect("a watcher never got the event");
                    total += start.elapsed();
                }
                record(&fig, iters, total)
            }
        });
    });
    group.finish();
    LATENCIES
        .lock()
        .insert(cl.name.to_owned(), std::mem::take(&mut *latencies.lock()));
}

/// A pod status as a node agent writes it for a running pod; `message` makes each write
/// a change.
fn running_status(message: &str) -> serde_json::Value {
    let conditions: Vec<serde_json::Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodScheduled",
    ]
    .iter()
    .map(|t| {
        serde_json::json!({"type": t, "status": "True",
            "lastTransitionTime": "2026-01-01T00:00:01Z"})
    })
    .collect();
    serde_json::json!({"status": {
        "phase": "Running", "message": message, "hostIP": "10.0.0.7", "podIP": "10.244.3.9",
        "podIPs": [{"ip": "10.244.3.9"}], "startTime": "2026-01-01T00:00:00Z",
        "qosClass": "Burstable", "conditions": conditions,
        "containerStatuses": [{"name": "c", "image": "registry.example/app:1.0",
            "imageID": "registry.example/app@sha256:0123", "containerID": "sim://0123456789abcdef",
            "ready": true, "started": true, "restartCount": 0,
            "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}]}})
}

fn bench_status_patch(c: &mut Criterion, rt: &Runtime, cl: &Cluster) {
    let pods: Api<Pod> = Api::namespaced(cl.in_process.clone(), "status");
    // The node agent reads only the metadata of the answer (its resourceVersion).
    let statuses: Api<PartialObjectMeta<Pod>> = Api::namespaced(cl.in_process.clone(), "status");
    let names: Vec<String> = (0..STATUS_PODS).map(|i| format!("pod-{i:05}")).collect();
    let size = rt.block_on(async {
        for name in &names {
            let p: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"app": "status"}},
                "spec": {"nodeName": "node-1", "containers": [{"name": "c",
                    "image": "registry.example/app:1.0",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}))
            .unwrap();
            pods.create(&PostParams::default(), &p).await.unwrap();
        }
        let first = cl
            .store
            .get(format!("/registry/pods/status/{}", names[0]).as_bytes())
            .await
            .unwrap()
            .unwrap();
        first.value.len() + serde_json::to_vec(&running_status("")).unwrap().len()
    });
    let names = Arc::new(names);
    let mut group = c.benchmark_group(format!("{}/status_patch", cl.name));
    group.throughput(Throughput::Elements(1));
    let fig = format!("{}/status/in_process", cl.name);
    group.bench_function(BenchmarkId::from_parameter("in_process"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let pods = statuses.clone();
            let names = names.clone();
            let fig = fig.clone();
            async move {
                let next = Arc::new(AtomicUsize::new(0));
                let elapsed = workers(iters, CONCURRENCY, |n| {
                    let (pods, names, next) = (pods.clone(), names.clone(), next.clone());
                    async move {
                        for _ in 0..n {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let patch = running_status(&unique("m-"));
                            pods.patch_status(
                                &names[i % names.len()],
                                &PatchParams::default(),
                                &Patch::Merge(&patch),
                            )
                            .await
                            .unwrap();
                        }
                    }
                })
                .await;
                record(&fig, iters, elapsed)
            }
        });
    });
    // The baseline: the store's own update of a value of a stored pod's size.
    let fig = format!("{}/status/store", cl.name);
    let keys: Arc<Vec<Bytes>> = Arc::new(
        (0..STATUS_PODS)
            .map(|i| Bytes::from(format!("/bench/raw-status/pod-{i:05}")))
            .collect(),
    );
    let revisions: Arc<Vec<AtomicI64>> = Arc::new(rt.block_on(async {
        let mut revisions = Vec::new();
        for key in keys.iter() {
            let kv = cl
                .store
                .create(key.clone(), Bytes::from(vec![b'v'; size]), None)
                .await
                .unwrap();
            revisions.push(AtomicI64::new(kv.mod_revision));
        }
        revisions
    }));
    group.bench_function(BenchmarkId::from_parameter("store"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (store, keys, revisions) = (cl.store.clone(), keys.clone(), revisions.clone());
            let fig = fig.clone();
            async move {
                let next = Arc::new(AtomicUsize::new(0));
                let elapsed = workers(iters, CONCURRENCY, |n| {
                    let (store, keys, revisions, next) =
                        (store.clone(), keys.clone(), revisions.clone(), next.clone());
                    async move {
                        for _ in 0..n {
                            let i = next.fetch_add(1, Ordering::Relaxed) % keys.len();
                            // Two workers meet on a key only when one is a thousand
                            // writes behind; then the later one reads and writes again.
                            loop {
                                let expected = revisions[i].load(Ordering::Relaxed);
                                let value = Bytes::from(vec![b'v'; size]);
                                if let Ok(kv) = store.update(keys[i].clone(), value, expected).await
                                {
                                    revisions[i].store(kv.mod_revision, Ordering::Relaxed);
                                    break;
                                }
                                let kv = store.get(&keys[i]).await.unwrap().unwrap();
                                revisions[i].store(kv.mod_revision, Ordering::Relaxed);
                            }
                        }
                    }
                })
                .await;
                record(&fig, iters, elapsed)
            }
        });
    });
    group.finish();
}

fn run(c: &mut Criterion, rt: &Runtime, cl: &Cluster) {
    bench_creates(c, rt, cl);
    bench_list(c, rt, cl);
    bench_watch(c, rt, cl);
    bench_status_patch(c, rt, cl);
}

#[cfg(feature = "etcd")]
mod etcd {
    use super::*;
    use kube_store::etcd_client::{Client as EtcdClient, Compare, CompareOp, Txn, TxnOp};
    use kube_store::etcd_testing::{TestEtcd, TestEtcdError};
    use kube_store::{EtcdConfig, EtcdStore};

    /// Runs the etcd part: returns the etcd process, to keep it alive until the report.
    pub(super) fn run_etcd(c: &mut Criterion, rt: &Runtime) -> Option<TestEtcd> {
        let etcd = match rt.block_on(TestEtcd::start()) {
            Ok(e) => e,
            Err(TestEtcdError::BinaryNotFound) => {
                eprintln!("SKIPPED etcd: the etcd binary is missing (scripts/install-etcd.sh)");
                return None;
            }
            Err(e) => panic!("could not start etcd: {e}"),
        };
        let (store, raw) = rt.block_on(async {
            let store = EtcdStore::connect(EtcdConfig::new([etcd.endpoint()]))
                .await
                .unwrap();
            let raw = EtcdClient::connect([etcd.endpoint()], None).await.unwrap();
            (store, raw)
        });
        let cl = rt.block_on(cluster("etcd", Arc::new(store)));
        // The raw baseline: etcd's create transaction, as EtcdStore sends it.
        let mut group = c.benchmark_group("etcd/create");
        group.throughput(Throughput::Elements(1));
        let size = serde_json::to_vec(&config_map("sample-0000000000".into()))
            .unwrap()
            .len()
            + 180;
        group.bench_function(BenchmarkId::from_parameter("raw_etcd"), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let raw = raw.clone();
                async move {
                    let elapsed = workers(iters, CONCURRENCY, |n| {
                        let mut kv = raw.kv_client();
                        async move {
                            for _ in 0..n {
                                let key = unique("/bench/raw/cm-");
                                let txn = Txn::new()
                                    .when([Compare::create_revision(
                                        key.clone(),
                                        CompareOp::Equal,
                                        0,
                                    )])
                                    .and_then([TxnOp::put(key, vec![b'v'; size], None)]);
                                assert!(kv.txn(txn).await.unwrap().succeeded());
                            }
                        }
                    })
                    .await;
                    record("etcd/create/raw_etcd", iters, elapsed)
                }
            });
        });
        group.finish();
        paired(rt, &raw, &cl, size);
        run(c, rt, &cl);
        Some(etcd)
    }

    /// Creates for `window` with [`CONCURRENCY`] workers; returns how many were done.
    async fn creates_for<F, Fut>(window: Duration, one: F) -> u64
    where
        F: Fn() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + window;
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let one = one.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        one().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        done.load(Ordering::Relaxed)
    }

    /// Raw etcd creates, `EtcdStore` creates and API server creates in rotating one-second
    /// windows, so that the load others put on the machine weighs on all three alike;
    /// the ratios of the totals are the figures the target is checked against.
    fn paired(rt: &Runtime, raw: &EtcdClient, cl: &Cluster, size: usize) {
        const ROUNDS: usize = 9;
        let window = Duration::from_secs(1);
        let mut ops = [0u64; 3];
        rt.block_on(async {
            for round in 0..ROUNDS {
                for step in 0..3 {
                    let side = (round + step) % 3;
                    ops[side] += match side {
                        0 => {
                            let raw = raw.clone();
                            creates_for(window, move || {
                                let mut kv = raw.kv_client();
                                async move {
                                    let key = unique("/bench/paired/raw-");
                                    let txn = Txn::new()
                                        .when([Compare::create_revision(
                                            key.clone(),
                                            CompareOp::Equal,
                                            0,
                                        )])
                                        .and_then([TxnOp::put(key, vec![b'v'; size], None)]);
                                    assert!(kv.txn(txn).await.unwrap().succeeded());
                                }
                            })
                            .await
                        }
                        1 => {
                            let store = cl.store.clone();
                            creates_for(window, move || {
                                let store = store.clone();
                                async move {
                                    let key = unique("/bench/paired/store-");
                                    store
                                        .create(key.into(), Bytes::from(vec![b'v'; size]), None)
                                        .await
                                        .unwrap();
                                }
                            })
                            .await
                        }
                        _ => {
                            let api: Api<ConfigMap> =
                                Api::namespaced(cl.in_process.clone(), "bench");
                            creates_for(window, move || {
                                let api = api.clone();
                                async move {
                                    let cm = config_map(unique("paired-"));
                                    api.create(&PostParams::default(), &cm).await.unwrap();
                                }
                            })
                            .await
                        }
                    };
                }
            }
        });
        let secs = ROUNDS as f64 * window.as_secs_f64();
        *PAIRED.lock() = Some((
            ops[0] as f64 / secs,
            ops[1] as f64 / secs,
            ops[2] as f64 / secs,
        ));
    }
}

/// Raw etcd, `EtcdStore` and API server creates/s from rotating windows (etcd only).
static PAIRED: Mutex<Option<(f64, f64, f64)>> = Mutex::new(None);

fn report() {
    println!("\n==== kube-api benchmark summary ====");
    for backend in ["memory", "etcd"] {
        if let Some(in_process) = ops_per_sec(&format!("{backend}/create/in_process")) {
            let https = ops_per_sec(&format!("{backend}/create/https")).unwrap_or(0.0);
            let store = ops_per_sec(&format!("{backend}/create/store")).unwrap_or(0.0);
            println!(
                "{backend}: creates/s in-process {in_process:.0}, https {https:.0}, store {store:.0} \
                 (in-process/store {:.2}, https/store {:.2})",
                in_process / store,
                https / store
            );
            if let (Some((raw, store, api)), "etcd") = (*PAIRED.lock(), backend) {
                println!(
                    "{backend}: rotating 1 s windows, 16 in flight: raw etcd create txns {raw:.0}/s, EtcdStore creates {store:.0}/s, API server creates (in-process) {api:.0}/s; API/raw {:.2} (target >= 0.80), EtcdStore/raw {:.2}, API/EtcdStore {:.2}",
                    api / raw,
                    store / raw,
                    api / store
                );
            }
            if let Some(raw) = ops_per_sec(&format!("{backend}/create/raw_etcd")) {
                println!(
                    "{backend}: creates/s raw etcd txn {raw:.0}; API server in-process / raw etcd = {:.2}, https / raw etcd = {:.2} (target >= 0.80)",
                    in_process / raw,
                    https / raw
                );
            }
        }
        if let (Some(list), Some(store)) = (
            ops_per_sec(&format!("{backend}/list/in_process")),
            ops_per_sec(&format!("{backend}/list/store")),
        ) {
            println!(
                "{backend}: list of 10,000 pods {:.1} ms in-process, {:.1} ms raw range (ratio {:.2})",
                1e3 / list,
                1e3 / store,
                store / list
            );
        }
        if let (Some(api), Some(store)) = (
            ops_per_sec(&format!("{backend}/status/in_process")),
            ops_per_sec(&format!("{backend}/status/store")),
        ) {
            println!(
                "{backend}: pod status merge patches/s in-process {api:.0}, store updates {store:.0} (in-process/store {:.3})",
                api / store
            );
        }
        if let Some(w) = ops_per_sec(&format!("{backend}/watch")) {
            let mut lat = LATENCIES.lock().get(backend).cloned().unwrap_or_default();
            lat.sort_unstable();
            let pct = |p: f64| {
                lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                    .map_or(0.0, |n| *n as f64 / 1e6)
            };
            println!(
                "{backend}: watch fan-out to {WATCHERS}: {:.0} events/s delivered, latency p50 {:.1} ms, p99 {:.1} ms ({} samples)",
                w * WATCHERS as f64,
                pct(0.50),
                pct(0.99),
                lat.len()
            );
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let memory = rt.block_on(cluster("memory", Arc::new(MemoryStore::new())));
    run(&mut criterion, &rt, &memory);
    #[cfg(feature = "etcd")]
    let _etcd = etcd::run_etcd(&mut criterion, &rt);
    criterion.final_summary();
    report();
}
