//! `EtcdStore` against raw etcd-client, on a private etcd the benchmark starts itself.
//!
//! Each operation runs twice at the same concurrency, once through `EtcdStore` and once as
//! the same etcd request through etcd-client directly: create a new key (a put guarded by
//! `create_revision == 0`), a compare-and-swap update of a key, a get, a list of 10,000 keys,
//! and one write fanned out to 1,000 watchers. At the end it prints the ratio of the mean
//! time per operation (store / raw; the target is at most 1.10).
//!
//! ```text
//! cargo bench --features etcd --bench etcd
//! ```
//!
//! Needs the `etcd` binary (scripts/install-etcd.sh); without it, it says so and exits.
// A benchmark reports on stdout and stderr; setup failures end it with a message.
#![allow(clippy::print_stdout, clippy::print_stderr)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use kube_core::{RangeRequest, Store};
use kube_store::etcd_client::{
    Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp, WatchOptions,
};
use kube_store::etcd_testing::{TestEtcd, TestEtcdError};
use kube_store::{EtcdConfig, EtcdStore};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// Requests in flight at once, for the single-key operations.
const CONCURRENCY: usize = 16;
/// Lists in flight at once.
const LIST_CONCURRENCY: usize = 2;
const LIST_KEYS: usize = 10_000;
const WATCHERS: usize = 1_000;
const VALUE_SIZE: usize = 256;

/// The operations, in report order.
const OPS: [&str; 5] = ["put", "cas_update", "get", "list_10k", "watch_fanout_1k"];

/// Total nanoseconds and operations measured, per operation and side (0 store, 1 raw).
static TOTALS: [[(AtomicU64, AtomicU64); 2]; 5] =
    [const { [const { (AtomicU64::new(0), AtomicU64::new(0)) }; 2] }; 5];

fn record(op: usize, side: usize, iters: u64, elapsed: Duration) -> Duration {
    let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    TOTALS[op][side].0.fetch_add(nanos, Ordering::Relaxed);
    TOTALS[op][side].1.fetch_add(iters, Ordering::Relaxed);
    elapsed
}

fn value() -> Bytes {
    Bytes::from(vec![b'v'; VALUE_SIZE])
}

/// Runs `iters` operations split over `concurrency` workers; each worker gets its index and
/// its share, and does them in sequence. Returns the wall time.
async fn workers<F, Fut>(iters: u64, concurrency: usize, work: F) -> Duration
where
    F: Fn(usize, u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let concurrency_u64 = concurrency as u64;
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|worker| {
            let share =
                iters / concurrency_u64 + u64::from((worker as u64) < iters % concurrency_u64);
            tokio::spawn(work(worker, share))
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

/// A fresh key name per call, so that creates never collide across iterations.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}{:012}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn bench_single_key(c: &mut Criterion, rt: &Runtime, store: &EtcdStore, raw: &Client) {
    let mut group = c.benchmark_group("etcd");
    group.throughput(Throughput::Elements(1));

    // Create a new key: Txn(create_revision == 0).Then(Put).
    group.bench_function(BenchmarkId::new("put", "store"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let store = store.clone();
            async move {
                let elapsed = workers(iters, CONCURRENCY, |_, n| {
                    let store = store.clone();
                    async move {
                        for _ in 0..n {
                            store
                                .create(Bytes::from(unique("/bench/put/store/")), value(), None)
                                .await
                                .unwrap();
                        }
                    }
                })
                .await;
                record(0, 0, iters, elapsed)
            }
        });
    });
    group.bench_function(BenchmarkId::new("put", "raw"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let raw = raw.clone();
            async move {
                let elapsed = workers(iters, CONCURRENCY, |_, n| {
                    let mut kv = raw.kv_client();
                    async move {
                        for _ in 0..n {
                            let key = unique("/bench/put/raw/");
                            let txn = Txn::new()
                                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                                .and_then([TxnOp::put(key, value().to_vec(), None)]);
                            assert!(kv.txn(txn).await.unwrap().succeeded());
                        }
                    }
                })
                .await;
                record(0, 1, iters, elapsed)
            }
        });
    });

    // Compare-and-swap update: each worker updates its own key with the revision it read.
    let cas_keys: Vec<String> = (0..CONCURRENCY)
        .map(|w| format!("/bench/cas/{w}"))
        .collect();
    rt.block_on(async {
        for key in &cas_keys {
            let mut kv = raw.kv_client();
            kv.put(key.clone(), value().to_vec(), None).await.unwrap();
        }
    });
    group.bench_function(BenchmarkId::new("cas_update", "store"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let store = store.clone();
            let keys = cas_keys.clone();
            async move {
                let elapsed = workers(iters, CONCURRENCY, |w, n| {
                    let store = store.clone();
                    let key = Bytes::from(keys[w].clone());
                    async move {
                        let mut revision = store.get(&key).await.unwrap().unwrap().mod_revision;
                        for _ in 0..n {
                            revision = store
                                .update(key.clone(), value(), revision)
                                .await
                                .unwrap()
                                .mod_revision;
                        }
                    }
                })
                .await;
                record(1, 0, iters, elapsed)
            }
        });
    });
    group.bench_function(BenchmarkId::new("cas_update", "raw"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let raw = raw.clone();
            let keys = cas_keys.clone();
            async move {
                let elapsed = workers(iters, CONCURRENCY, |w, n| {
                    let mut kv = raw.kv_client();
                    let key = keys[w].clone();
                    async move {
                        let mut got = kv.get(key.clone(), None).await.unwrap();
                        let mut revision = got.take_kvs()[0].mod_revision();
                        for _ in 0..n {
                            let txn = Txn::new()
                                .when([Compare::mod_revision(
                                    key.clone(),
                                    CompareOp::Equal,
                                    revision,
                                )])
                                .and_then([TxnOp::put(key.clone(), value().to_vec(), None)])
                                .or_else([TxnOp::get(key.clone(), None)]);
                            let response = kv.txn(txn).await.unwrap();
                            assert!(response.succeeded());
                            revision = response.header().unwrap().revision();
                        }
                    }
                })
                .await;
                record(1, 1, iters, elapsed)
            }
        });
    });

    // Get one key.
    group.bench_function(BenchmarkId::new("get", "store"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let store = store.clone();
            let keys = cas_keys.clone();
            async move {
                let elapsed = workers(iters, CONCURRENCY, |w, n| {
                    let store = store.clone();
                    let key = keys[w].clone();
                    async move {
                        for _ in 0..n {
                            assert!(store.get(key.as_bytes()).await.unwrap().is_some());
                        }
                    }
                })
                .await;
                record(2, 0, iters, elapsed)
            }
        });
    });
    group.bench_function(BenchmarkId::new("get", "raw"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let raw = raw.clone();
            let keys = cas_keys.clone();
            async move {
                let elapsed = workers(iters, CONCURRENCY, |w, n| {
                    let mut kv = raw.kv_client();
                    let key = keys[w].clone();
                    async move {
                        for _ in 0..n {
                            let response = kv.get(key.clone(), None).await.unwrap();
                            assert_eq!(response.kvs().len(), 1);
                        }
                    }
                })
                .await;
                record(2, 1, iters, elapsed)
            }
        });
    });
    group.finish();
}

/// Where the list benchmark's keys are.
const LIST_PREFIX: &str = "/bench/list/";

fn bench_list(c: &mut Criterion, rt: &Runtime, store: &EtcdStore, raw: &Client) {
    const PREFIX: &str = LIST_PREFIX;
    rt.block_on(async {
        workers(LIST_KEYS as u64, 32, |w, n| {
            let mut kv = raw.kv_client();
            async move {
                for i in 0..n {
                    let key = format!("{PREFIX}{w:02}-{i:06}");
                    kv.put(key, value().to_vec(), None).await.unwrap();
                }
            }
        })
        .await;
    });
    let mut group = c.benchmark_group("etcd");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("list_10k", "store"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let store = store.clone();
            async move {
                let elapsed = workers(iters, LIST_CONCURRENCY, |_, n| {
                    let store = store.clone();
                    async move {
                        for _ in 0..n {
                            let list = store.range(RangeRequest::prefix(PREFIX)).await.unwrap();
                            assert_eq!(list.kvs.len(), LIST_KEYS);
                        }
                    }
                })
                .await;
                record(3, 0, iters, elapsed)
            }
        });
    });
    group.bench_function(BenchmarkId::new("list_10k", "raw"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let raw = raw.clone();
            async move {
                let elapsed = workers(iters, LIST_CONCURRENCY, |_, n| {
                    let mut kv = raw.kv_client();
                    async move {
                        for _ in 0..n {
                            let options = GetOptions::new().with_prefix();
                            let list = kv.get(PREFIX, Some(options)).await.unwrap();
                            assert_eq!(list.kvs().len(), LIST_KEYS);
                        }
                    }
                })
                .await;
                record(3, 1, iters, elapsed)
            }
        });
    });
    group.finish();
}

/// Counts events across all watchers and wakes the writer when a round is complete.
#[derive(Default)]
struct FanOut {
    events: AtomicUsize,
    round_done: Notify,
}

impl FanOut {
    fn seen(&self, count: usize) {
        let before = self.events.fetch_add(count, Ordering::AcqRel);
        if (before + count) / WATCHERS > before / WATCHERS {
            self.round_done.notify_one();
        }
    }

    /// Writes one key (through the raw client, the same for both sides) and waits until
    /// every watcher has seen it.
    async fn round(&self, kv: &mut kube_store::etcd_client::KvClient, prefix: &str) {
        let target = self.events.load(Ordering::Acquire) + WATCHERS;
        kv.put(unique(prefix), "x", Some(PutOptions::new()))
            .await
            .unwrap();
        while self.events.load(Ordering::Acquire) < target {
            self.round_done.notified().await;
        }
    }
}

fn bench_watch(c: &mut Criterion, rt: &Runtime, store: &EtcdStore, raw: &Client) {
    let mut group = c.benchmark_group("etcd");
    group.throughput(Throughput::Elements(1));

    // Through the store.
    let fan = Arc::new(FanOut::default());
    let tasks = rt.block_on(async {
        let from = store.current_revision().await.unwrap();
        let mut tasks = Vec::with_capacity(WATCHERS);
        for _ in 0..WATCHERS {
            let mut stream = store
                .watch(Bytes::from("/bench/fan/store/"), from)
                .await
                .unwrap();
            let fan = fan.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(event) = stream.next().await {
                    event.unwrap();
                    fan.seen(1);
                }
            }));
        }
        // Every watcher is caught up with etcd before the clock runs.
        fan.round(&mut raw.kv_client(), "/bench/fan/store/").await;
        tasks
    });
    group.bench_function(BenchmarkId::new("watch_fanout_1k", "store"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let fan = fan.clone();
            let mut kv = raw.kv_client();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    fan.round(&mut kv, "/bench/fan/store/").await;
                }
                record(4, 0, iters, start.elapsed())
            }
        });
    });
    for task in tasks {
        task.abort();
    }

    // Raw etcd-client watches, one gRPC stream each like the store's.
    let fan = Arc::new(FanOut::default());
    let tasks = rt.block_on(async {
        let mut tasks = Vec::with_capacity(WATCHERS);
        for _ in 0..WATCHERS {
            let mut watch_client = raw.watch_client();
            let options = WatchOptions::new().with_prefix().with_prev_key();
            let mut stream = watch_client
                .watch("/bench/fan/raw/", Some(options))
                .await
                .unwrap();
            let fan = fan.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(response) = stream.message().await.unwrap() {
                    if !response.events().is_empty() {
                        fan.seen(response.events().len());
                    }
                }
            }));
        }
        fan.round(&mut raw.kv_client(), "/bench/fan/raw/").await;
        tasks
    });
    group.bench_function(BenchmarkId::new("watch_fanout_1k", "raw"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let fan = fan.clone();
            let mut kv = raw.kv_client();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    fan.round(&mut kv, "/bench/fan/raw/").await;
                }
                record(4, 1, iters, start.elapsed())
            }
        });
    });
    for task in tasks {
        task.abort();
    }
    group.finish();
}

fn report() {
    println!("\nEtcdStore vs raw etcd-client (mean time per operation, same concurrency):");
    println!(
        "{:<18} {:>14} {:>14} {:>8}",
        "operation", "store", "raw", "ratio"
    );
    for (op, name) in OPS.iter().enumerate() {
        let mean = |side: usize| {
            let (nanos, iters) = &TOTALS[op][side];
            let iters = iters.load(Ordering::Relaxed);
            (iters > 0).then(|| nanos.load(Ordering::Relaxed) as f64 / iters as f64)
        };
        if let (Some(store), Some(raw)) = (mean(0), mean(1)) {
            println!(
                "{name:<18} {:>11.1} us {:>11.1} us {:>8.3}",
                store / 1e3,
                raw / 1e3,
                store / raw
            );
        }
    }
}

/// Lists through the store and raw in alternating turns (the order flipped every round),
/// so that load from elsewhere on the machine weighs on both alike; prints the medians.
fn interleaved_lists(rt: &Runtime, store: &EtcdStore, raw: &Client) {
    const ROUNDS: usize = 15;
    const LISTS: usize = 4;
    let (mut store_times, mut raw_times) = (Vec::new(), Vec::new());
    rt.block_on(async {
        let mut kv = raw.kv_client();
        for round in 0..ROUNDS {
            for turn in 0..2 {
                let start = Instant::now();
                if (round + turn) % 2 == 0 {
                    for _ in 0..LISTS {
                        let list = store
                            .range(RangeRequest::prefix(LIST_PREFIX))
                            .await
                            .unwrap();
                        assert_eq!(list.kvs.len(), LIST_KEYS);
                    }
                    store_times.push(start.elapsed() / LISTS as u32);
                } else {
                    for _ in 0..LISTS {
                        let options = GetOptions::new().with_prefix();
                        let list = kv.get(LIST_PREFIX, Some(options)).await.unwrap();
                        assert_eq!(list.kvs().len(), LIST_KEYS);
                    }
                    raw_times.push(start.elapsed() / LISTS as u32);
                }
            }
        }
    });
    let median = |times: &mut Vec<Duration>| {
        times.sort_unstable();
        times[times.len() / 2]
    };
    let (s, r) = (median(&mut store_times), median(&mut raw_times));
    println!(
        "list_10k, interleaved ({ROUNDS} rounds of {LISTS}, one at a time): store {:.1} ms, raw {:.1} ms, ratio {:.3}",
        s.as_secs_f64() * 1e3,
        r.as_secs_f64() * 1e3,
        s.as_secs_f64() / r.as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let etcd = match rt.block_on(TestEtcd::start()) {
        Ok(etcd) => etcd,
        Err(TestEtcdError::BinaryNotFound) => {
            eprintln!(
                "SKIPPED: the etcd benchmark needs the etcd binary (scripts/install-etcd.sh)"
            );
            return;
        }
        Err(err) => panic!("could not start etcd: {err}"),
    };
    let (store, raw) = rt.block_on(async {
        let store = EtcdStore::connect(EtcdConfig::new([etcd.endpoint()]))
            .await
            .unwrap();
        let raw = Client::connect([etcd.endpoint()], None).await.unwrap();
        (store, raw)
    });

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    bench_single_key(&mut criterion, &rt, &store, &raw);
    bench_list(&mut criterion, &rt, &store, &raw);
    bench_watch(&mut criterion, &rt, &store, &raw);
    criterion.final_summary();
    report();
    interleaved_lists(&rt, &store, &raw);
}
