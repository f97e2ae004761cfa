//! An informer cache's cost per watch event: one pod update (a new resourceVersion, its
//! namespace and labels unchanged, as a status write is) applied to a cache that holds
//! 100 pods and one that holds 100,000, every pod in one namespace with the same labels
//! (the shape of a large Deployment). Beside them, in the same run, the floor: the same
//! `Arc<Pod>` put into a bare `HashMap` by its key. The 100,000 / 100 ratio tells whether
//! an update costs more as the cache grows.
//!
//! ```text
//! cargo bench -p kube-api --bench informer_cache
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use kube_api::informer::{CacheWriter, Change};
use kube_core::{Container, ObjectMeta, Pod, PodSpec, ResourceExt as _};

fn pod(i: usize, rv: u64) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("web-{i:06}")),
            namespace: Some("default".into()),
            resource_version: Some(rv.to_string()),
            labels: BTreeMap::from([
                ("app".to_owned(), "web".to_owned()),
                ("pod-template-hash".to_owned(), "5d4f8b7c9".to_owned()),
            ]),
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some("nginx".into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        },
        ..Pod::default()
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("informer_cache/update");
    for size in [100, 100_000] {
        let writer = CacheWriter::<Pod>::new();
        for i in 0..size {
            writer.apply(Change::Upsert(pod(i, 1)));
        }
        let mut rv = 1;
        let mut i = 0;
        group.bench_function(BenchmarkId::new("cache", size), |b| {
            b.iter_batched(
                || {
                    rv += 1;
                    i = (i + 7919) % size;
                    pod(i, rv)
                },
                |p| writer.apply(Change::Upsert(p)),
                BatchSize::SmallInput,
            );
        });
    }
    let mut map = HashMap::new();
    for i in 0..100_000 {
        let p = pod(i, 1);
        map.insert(p.key(), Arc::new(p));
    }
    let mut rv = 1;
    let mut i = 0;
    group.bench_function(BenchmarkId::new("hashmap_floor", 100_000), |b| {
        b.iter_batched(
            || {
                rv += 1;
                i = (i + 7919) % 100_000;
                pod(i, rv)
            },
            |p| black_box(map.insert(p.key(), Arc::new(p))),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
