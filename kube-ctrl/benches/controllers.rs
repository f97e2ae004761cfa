//! Controller runtime benchmarks, each against a baseline in the same run:
//!
//! - `workqueue`: 64 000 adds over 1 000 keys drained by 8 workers, through the
//!   `WorkQueue` (deduplication, one worker per key) and through a plain tokio channel
//!   (neither);
//! - `replicaset`: 300 pods through the ReplicaSet controller (informers, queue,
//!   expectations, status) on an in-process API server, and the same 300 creates made
//!   directly with the client in the same slow-start batches.
//!
//! `cargo bench -p kube-ctrl --bench controllers`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt as _;
use futures::future::join_all;
use kube_api::client::{Api, Client, PostParams};
use kube_api::informer::Informer;
use kube_api::server::ApiServer;
use kube_core::{
    Container, LabelSelector, ObjectMeta, Pod, PodSpec, PodTemplateSpec, ReplicaSet,
    ReplicaSetSpec, Store,
};
use kube_ctrl::controllers::ReplicaSetController;
use kube_ctrl::runtime::RateLimiterConfig;
use kube_ctrl::{ControllerManager, Shutdown, WorkQueue};
use kube_store::MemoryStore;

const KEYS: u32 = 1_000;
const ADDS: u32 = 64_000;
const WORKERS: usize = 8;
const PODS: usize = 300;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn through_workqueue() {
    let queue: WorkQueue<u32> = WorkQueue::new(RateLimiterConfig::default());
    let handled = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (q, handled) = (queue.clone(), handled.clone());
            tokio::spawn(async move {
                while let Some(k) = q.get().await {
                    handled.fetch_add(1, Ordering::Relaxed);
                    q.done(&k);
                }
            })
        })
        .collect();
    for i in 0..ADDS {
        queue.add(i % KEYS);
        if i % 1024 == 0 {
            tokio::task::yield_now().await;
        }
    }
    while !(queue.is_empty() && queue.processing() == 0) {
        tokio::task::yield_now().await;
    }
    queue.shut_down();
    for w in workers {
        w.await.unwrap();
    }
    assert!(handled.load(Ordering::Relaxed) >= KEYS as usize);
}

async fn through_channel() {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let handled = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (rx, handled) = (rx.clone(), handled.clone());
            tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    if next.is_none() {
                        break;
                    }
                    handled.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for i in 0..ADDS {
        tx.send(i % KEYS).unwrap();
        if i % 1024 == 0 {
            tokio::task::yield_now().await;
        }
    }
    drop(tx);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(handled.load(Ordering::Relaxed), ADDS as usize);
}

async fn cluster() -> Client {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    Client::new(api, "default")
}

fn template() -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: ObjectMeta {
            labels: BTreeMap::from([("app".to_owned(), "bench".to_owned())]),
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some("bench".into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        },
    }
}

/// Waits until `n` pods exist, watching.
async fn wait_for_pods(client: &Client, n: usize) {
    let informer = Informer::new(Api::<Pod>::namespaced(client.clone(), "default"));
    let cache = informer.cache();
    let mut events = informer.subscribe();
    let _task = informer.spawn();
    while cache.len() < n {
        events.next().await;
    }
}

/// The controller's way: create a ReplicaSet, wait for its pods.
async fn with_controller() -> Duration {
    let client = cluster().await;
    let manager = ControllerManager::builder(client.clone())
        .with(ReplicaSetController::default())
        .build()
        .unwrap();
    let (stop, shutdown) = Shutdown::new();
    let run = tokio::spawn(async move { manager.run(shutdown).await });
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some("bench".into()),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(i32::try_from(PODS).unwrap()),
            selector: Some(LabelSelector::from_match_labels([("app", "bench")])),
            template: template(),
            ..ReplicaSetSpec::default()
        },
        ..ReplicaSet::default()
    };
    let start = Instant::now();
    Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &rs)
        .await
        .unwrap();
    wait_for_pods(&client, PODS).await;
    let took = start.elapsed();
    stop.trigger();
    run.await.unwrap().unwrap();
    took
}

/// The floor: the same creates made directly, in the same slow-start batches.
async fn direct() -> Duration {
    let client = cluster().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let t = template();
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some("bench-".into()),
            labels: t.metadata.labels.clone(),
            ..ObjectMeta::default()
        },
        spec: t.spec,
        ..Pod::default()
    };
    let start = Instant::now();
    let pp = PostParams::default();
    let (mut left, mut batch) = (PODS, 1);
    while left > 0 {
        let n = batch.min(left);
        for r in join_all((0..n).map(|_| pods.create(&pp, &pod))).await {
            r.unwrap();
        }
        left -= n;
        batch *= 2;
    }
    wait_for_pods(&client, PODS).await;
    start.elapsed()
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("workqueue");
    g.sample_size(20);
    g.bench_function("workqueue_8_workers", |b| {
        b.to_async(&rt).iter(through_workqueue);
    });
    g.bench_function("baseline_mpsc_channel", |b| {
        b.to_async(&rt).iter(through_channel);
    });
    g.finish();

    let mut g = c.benchmark_group("replicaset_300_pods");
    g.sample_size(10);
    g.bench_function("controller", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += with_controller().await;
            }
            total
        });
    });
    g.bench_function("baseline_direct_creates", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += direct().await;
            }
            total
        });
    });
    g.finish();

    // Interleaved runs (so background load hits both alike), then the ratios.
    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for _ in 0..7 {
        let start = Instant::now();
        rt.block_on(through_workqueue());
        times.entry("workqueue").or_default().push(start.elapsed());
        let start = Instant::now();
        rt.block_on(through_channel());
        times.entry("channel").or_default().push(start.elapsed());
        times
            .entry("controller")
            .or_default()
            .push(rt.block_on(with_controller()));
        times
            .entry("direct")
            .or_default()
            .push(rt.block_on(direct()));
    }
    let median = |k: &str| {
        let mut v = times[k].clone();
        v.sort();
        v[v.len() / 2]
    };
    let ratio = |a: &str, b: &str| median(a).as_secs_f64() / median(b).as_secs_f64();
    println!(
        "workqueue: {:?} per {ADDS} adds ({:.0} adds/s); channel {:?}; workqueue/channel = {:.2}",
        median("workqueue"),
        f64::from(ADDS) / median("workqueue").as_secs_f64(),
        median("channel"),
        ratio("workqueue", "channel"),
    );
    println!(
        "replicaset {PODS} pods: controller {:?}, direct {:?}; controller/direct = {:.2}",
        median("controller"),
        median("direct"),
        ratio("controller", "direct"),
    );
}

criterion_group!(group, benches);
criterion_main!(group);
