//! The embedded stores under criterion: put, compare-and-swap update, get, a list of
//! 10,000 keys (whole and in pages of 500), and one write fanned out to 1,000 watchers.
//!
//! ```text
//! cargo bench --bench store                       # everything
//! cargo bench --bench store -- memory/cas_update  # the single-core CAS figure
//! ```
//!
//! Every operation runs on a current-thread tokio runtime: one core, through the `Store`
//! trait as the API server calls it (`Arc<dyn Store>`). Each benchmark function takes any
//! `Arc<dyn Store>`, so another backend joins by adding one entry to [`backends`].
// A benchmark's setup fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use kube_core::{RangeRequest, Store};
use kube_store::{DurableStore, MemoryStore};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

const LIST_KEYS: usize = 10_000;
const PAGE: usize = 500;
const WATCHERS: usize = 1_000;
const VALUE_SIZE: usize = 256;

/// A store under test, with whatever must live as long as it (a temporary directory).
struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    _keep: Option<tempfile::TempDir>,
}

/// The backends benchmarked.
fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let durable = DurableStore::open(dir.path()).unwrap();
    vec![
        Backend {
            name: "memory",
            store: Arc::new(MemoryStore::new()),
            _keep: None,
        },
        Backend {
            name: "durable",
            store: Arc::new(durable),
            _keep: Some(dir),
        },
    ]
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn value() -> Bytes {
    Bytes::from(vec![b'x'; VALUE_SIZE])
}

/// Creates of new keys.
fn put(c: &mut Criterion, rt: &Runtime, backend: &Backend) {
    let mut group = c.benchmark_group(backend.name);
    group.throughput(Throughput::Elements(1));
    let next = AtomicU64::new(0);
    group.bench_function("put", |b| {
        b.to_async(rt).iter(|| async {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let key = Bytes::from(format!("/bench/put/{i:012}"));
            backend.store.create(key, value(), None).await.unwrap();
        });
    });
    group.finish();
}

/// Compare-and-swap updates of one key, each with the revision the last one returned.
fn cas_update(c: &mut Criterion, rt: &Runtime, backend: &Backend) {
    let key = Bytes::from_static(b"/bench/cas/key");
    let first = rt
        .block_on(backend.store.create(key.clone(), value(), None))
        .unwrap();
    let revision = AtomicI64::new(first.mod_revision);
    let value = value();
    let mut group = c.benchmark_group(backend.name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("cas_update", |b| {
        b.to_async(rt).iter(|| async {
            let kv = backend
                .store
                .update(key.clone(), value.clone(), revision.load(Ordering::Relaxed))
                .await
                .unwrap();
            revision.store(kv.mod_revision, Ordering::Relaxed);
        });
    });
    group.finish();
}

/// Gets of one key among the 10,000 listed.
fn get(c: &mut Criterion, rt: &Runtime, backend: &Backend) {
    let mut group = c.benchmark_group(backend.name);
    group.throughput(Throughput::Elements(1));
    let key = format!("/bench/list/{:06}", LIST_KEYS / 2);
    group.bench_function("get", |b| {
        b.to_async(rt).iter(|| async {
            let kv = backend.store.get(key.as_bytes()).await.unwrap();
            assert!(kv.is_some());
        });
    });
    group.finish();
}

/// Writes the 10,000 keys the list and get benchmarks read.
fn fill_list(rt: &Runtime, backend: &Backend) {
    rt.block_on(async {
        for i in 0..LIST_KEYS {
            let key = Bytes::from(format!("/bench/list/{i:06}"));
            backend.store.create(key, value(), None).await.unwrap();
        }
    });
}

/// A list of 10,000 keys in one response, and in pages of 500 at one revision.
fn list(c: &mut Criterion, rt: &Runtime, backend: &Backend) {
    let mut group = c.benchmark_group(backend.name);
    group.throughput(Throughput::Elements(LIST_KEYS as u64));
    group.bench_function("list_10k_whole", |b| {
        b.to_async(rt).iter(|| async {
            let list = backend
                .store
                .range(RangeRequest::prefix("/bench/list/"))
                .await
                .unwrap();
            assert_eq!(list.kvs.len(), LIST_KEYS);
        });
    });
    group.bench_function("list_10k_paged", |b| {
        b.to_async(rt).iter(|| async {
            let mut request = RangeRequest::prefix("/bench/list/").limit(PAGE);
            let mut seen = 0;
            loop {
                let page = backend.store.range(request.clone()).await.unwrap();
                seen += page.kvs.len();
                if !page.more {
                    break;
                }
                let mut start = page.kvs.last().unwrap().key.to_vec();
                start.push(0);
                request = request.start(start).at_revision(page.revision);
            }
            assert_eq!(seen, LIST_KEYS);
        });
    });
    group.finish();
}

/// One write, timed until each of 1,000 watchers (tasks) has received it.
fn watch_fanout(c: &mut Criterion, rt: &Runtime, backend: &Backend) {
    let received = Arc::new(AtomicUsize::new(0));
    let all_received = Arc::new(Notify::new());
    let key = Bytes::from_static(b"/bench/watch/key");
    let first = rt
        .block_on(backend.store.create(key.clone(), value(), None))
        .unwrap();
    let revision = AtomicI64::new(first.mod_revision);
    let target = AtomicUsize::new(0);
    let watchers: Vec<_> = (0..WATCHERS)
        .map(|_| {
            let mut stream = rt
                .block_on(
                    backend
                        .store
                        .watch("/bench/watch/".into(), first.mod_revision),
                )
                .unwrap();
            let received = Arc::clone(&received);
            let all_received = Arc::clone(&all_received);
            rt.spawn(async move {
                while let Some(event) = stream.next().await {
                    event.unwrap();
                    received.fetch_add(1, Ordering::AcqRel);
                    all_received.notify_one();
                }
            })
        })
        .collect();
    let mut group = c.benchmark_group(backend.name);
    group.throughput(Throughput::Elements(WATCHERS as u64));
    group.bench_function("watch_fanout_1k", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (received, all_received) = (Arc::clone(&received), Arc::clone(&all_received));
            let (key, revision, target) = (key.clone(), &revision, &target);
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let goal = target.fetch_add(WATCHERS, Ordering::Relaxed) + WATCHERS;
                    let kv = backend
                        .store
                        .update(key.clone(), value(), revision.load(Ordering::Relaxed))
                        .await
                        .unwrap();
                    revision.store(kv.mod_revision, Ordering::Relaxed);
                    while received.load(Ordering::Acquire) < goal {
                        all_received.notified().await;
                    }
                }
                start.elapsed()
            }
        });
    });
    group.finish();
    for watcher in watchers {
        watcher.abort();
    }
}

fn all(c: &mut Criterion) {
    let rt = runtime();
    for backend in backends() {
        put(c, &rt, &backend);
        cas_update(c, &rt, &backend);
        fill_list(&rt, &backend);
        get(c, &rt, &backend);
        list(c, &rt, &backend);
        watch_fanout(c, &rt, &backend);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = all
}
criterion_main!(benches);
