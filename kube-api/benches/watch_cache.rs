//! The watch cache's cost per store write, beside its baseline in the same run: applying
//! one store event (a 3.7 KB Pod written by a kubelet, a Lease renewal) to a watch cache,
//! against `serde_json::from_slice::<Value>` of the same bytes (what decoding the object
//! once costs). Then the heap the cache holds per object, counted by a counting global
//! allocator over 100,000 pods (and leases) applied as creates with 100,000 events of
//! history, as the scale runs keep.
//!
//! And what a label-selector watch costs: a pod write seen by `WATCHERS` watchers with
//! a label selector, the object decoded once and kept (what the cache does) against
//! decoded by every watcher (the alternative), and the heap once every object was
//! decoded.
//!
//! ```text
//! cargo bench -p kube-api --bench watch_cache
//! ```
// A benchmark reports on stdout; setup failures end it with a message.
#![allow(clippy::print_stdout, clippy::print_stderr)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use kube_api::server::bench_hook::WatchCacheBench;
use kube_core::{EventKind, KeyValue, Lease, Pod, StoreEvent};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// The system allocator, counting the bytes live on the heap.
struct Counting;

/// Bytes allocated and not yet freed, over the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn size(layout: Layout) -> isize {
    isize::try_from(layout.size()).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counter is only arithmetic on the sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see above).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(size(layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see above).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(size(layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is (see above).
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(size(layout), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is (see above).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                isize::try_from(new_size).unwrap_or(isize::MAX) - size(layout),
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[allow(unsafe_code)]
#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Objects in the cache while the time is measured (writes cycle over them).
const OBJECTS: usize = 1_000;
/// Events of history kept while the time is measured.
const HISTORY: usize = 10_000;
/// Objects (and events of history) for the memory count.
const MEMORY_OBJECTS: usize = 100_000;
/// Label-selector watchers of one resource.
const WATCHERS: usize = 10;

/// Mean nanoseconds per operation, per figure, for the report.
static TOTALS: Mutex<BTreeMap<String, (u128, u64)>> = Mutex::new(BTreeMap::new());

fn record(name: &str, iters: u64, elapsed: Duration) -> Duration {
    let mut t = TOTALS.lock();
    let e = t.entry(name.to_owned()).or_default();
    e.0 += elapsed.as_nanos();
    e.1 += iters;
    elapsed
}

fn mean(name: &str) -> f64 {
    let t = TOTALS.lock();
    t.get(name)
        .map_or(f64::NAN, |(ns, n)| *ns as f64 / (*n).max(1) as f64)
}

/// A pod as a kubelet leaves it running: two containers with ports, environment,
/// resources, probes and mounts, labels and annotations, an owner, and its status with
/// conditions and container statuses. Built through the kube-core type, so it is the
/// shape the API server stores.
fn pod(name: &str) -> Pod {
    let container = |n: &str, port: i32| {
        json!({
            "name": n,
            "image": format!("registry.example.com/team/{n}:v1.24.3"),
            "imagePullPolicy": "IfNotPresent",
            "args": ["--listen", format!(":{port}"), "--log-level=info"],
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
            "env": [
                {"name": "POD_NAME", "value": name},
                {"name": "LOG_FORMAT", "value": "json"},
                {"name": "CACHE_SIZE", "value": "256Mi"},
            ],
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
            "readinessProbe": {
                "httpGet": {"path": "/healthz", "port": port},
                "periodSeconds": 10,
                "failureThreshold": 3,
            },
            "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true}],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        })
    };
    let condition = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": "2025-01-01T00:00:05Z"});
    let status = |n: &str| {
        json!({
            "name": n,
            "image": format!("registry.example.com/team/{n}:v1.24.3"),
            "imageID": format!("registry.example.com/team/{n}@sha256:4f1c9d2e7a8b3c6d5e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"),
            "containerID": format!("sim://{name}-{n}"),
            "ready": true,
            "restartCount": 0,
            "started": true,
            "state": {"running": {"startedAt": "2025-01-01T00:00:04Z"}},
        })
    };
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "load-7",
            "uid": "8d2f6a3e-5b1c-4e7f-9a0d-3c6b8e1f2a4d",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "generateName": "web-7f9c6d5b8-",
            "labels": {
                "app": "web",
                "pod-template-hash": "7f9c6d5b8",
                "tier": "frontend",
                "team": "payments",
            },
            "annotations": {"kubectl.kubernetes.io/default-container": "app"},
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7f9c6d5b8",
                "uid": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "nodeName": "node-1234",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "containers": [container("app", 8080), container("sidecar", 9090)],
            "volumes": [{"name": "config", "configMap": {"name": "web-config"}}],
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": "10.0.4.210",
            "podIP": "10.244.18.77",
            "podIPs": [{"ip": "10.244.18.77"}],
            "startTime": "2025-01-01T00:00:01Z",
            "qosClass": "Burstable",
            "conditions": [
                condition("PodReadyToStartContainers"),
                condition("Initialized"),
                condition("Ready"),
                condition("ContainersReady"),
                condition("PodScheduled"),
            ],
            "containerStatuses": [status("app"), status("sidecar")],
        },
    }))
    .expect("the pod decodes as a kube-core Pod")
}

/// A node's lease as its kubelet renews it.
fn lease(name: &str) -> Lease {
    serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": "kube-node-lease",
            "uid": "5c2e8f1a-3b7d-4c9e-8a6f-2d4b1e7c9a3f",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "ownerReferences": [{
                "apiVersion": "v1",
                "kind": "Node",
                "name": name,
                "uid": "9e7d5c3b-1a2f-4e6d-8c0b-7a5f3e1d9c2b",
            }],
        },
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": 40,
            "renewTime": "2025-01-01T00:10:00.123456Z",
        },
    }))
    .expect("the lease decodes as a kube-core Lease")
}

/// The bytes the store holds for an object: its JSON without `resourceVersion`.
fn stored(object: &impl serde::Serialize) -> Bytes {
    let mut value = serde_json::to_value(object).expect("encodes");
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    Bytes::from(serde_json::to_vec(&value).expect("encodes"))
}

fn put(key: Bytes, value: Bytes, revision: i64) -> StoreEvent {
    StoreEvent {
        kind: EventKind::Put,
        kv: KeyValue {
            key,
            value,
            create_revision: 1,
            mod_revision: revision,
            version: 1,
            lease: None,
        },
        prev_kv: None,
    }
}

/// One resource: its prefix, a name for the report, and how to make an object's bytes.
struct Kind {
    name: &'static str,
    prefix: &'static str,
    namespace: &'static str,
    bytes: fn(&str) -> Bytes,
}

const KINDS: &[Kind] = &[
    Kind {
        name: "pod",
        prefix: "/registry/pods/",
        namespace: "load-7",
        bytes: |n| stored(&pod(n)),
    },
    Kind {
        name: "lease",
        prefix: "/registry/coordination.k8s.io/leases/",
        namespace: "kube-node-lease",
        bytes: |n| stored(&lease(n)),
    },
];

fn key(kind: &Kind, name: &str) -> Bytes {
    Bytes::from(format!("{}{}/{name}", kind.prefix, kind.namespace))
}

/// Writes cycle over `OBJECTS` keys, each event a new revision: the cache replaces the
/// object, appends to its history and drops the oldest event, as in a steady state.
fn bench_apply(c: &mut Criterion, kind: &Kind) {
    let body = (kind.bytes)("web-7f9c6d5b8-x2k4q");
    let keys: Vec<Bytes> = (0..OBJECTS)
        .map(|i| key(kind, &format!("web-7f9c6d5b8-{i:05}")))
        .collect();
    let mut group = c.benchmark_group(format!("watch_cache/{}", kind.name));
    group.throughput(Throughput::Bytes(body.len() as u64));
    let cache = WatchCacheBench::new(kind.prefix, HISTORY);
    let revision = AtomicI64::new(0);
    let apply = format!("{}/apply", kind.name);
    group.bench_function("apply", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let rev = revision.fetch_add(1, Ordering::Relaxed) + 1;
                let k = keys[usize::try_from(rev).unwrap_or(0) % OBJECTS].clone();
                cache.apply(&put(k, body.clone(), rev));
            }
            record(&apply, iters, start.elapsed())
        });
    });
    let baseline = format!("{}/from_slice", kind.name);
    group.bench_function("baseline_from_slice_value", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let v: Value = serde_json::from_slice(black_box(&body)).expect("decodes");
                black_box(v);
            }
            record(&baseline, iters, start.elapsed())
        });
    });
    group.finish();
    black_box(cache.len());
}

/// A pod write seen by `WATCHERS` label-selector watchers: each asks the cache whether
/// the object matches (decoded once, then kept), against each decoding the served JSON
/// itself.
fn bench_selector_watchers(c: &mut Criterion) {
    let kind = &KINDS[0];
    let body = (kind.bytes)("web-7f9c6d5b8-x2k4q");
    let keys: Vec<(Bytes, String)> = (0..OBJECTS)
        .map(|i| {
            let k = key(kind, &format!("web-7f9c6d5b8-{i:05}"));
            let s = String::from_utf8(k.to_vec()).unwrap();
            (k, s)
        })
        .collect();
    let mut group = c.benchmark_group(format!("watch_cache/{WATCHERS}_label_watchers"));
    let cache = WatchCacheBench::new(kind.prefix, HISTORY);
    let revision = AtomicI64::new(0);
    let write = |i: u64| {
        let rev = revision.fetch_add(1, Ordering::Relaxed) + 1;
        let (k, s) = &keys[usize::try_from(i).unwrap_or(0) % OBJECTS];
        cache.apply(&put(k.clone(), body.clone(), rev));
        s
    };
    group.bench_function("decoded_once", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let key = write(i);
                for _ in 0..WATCHERS {
                    assert!(cache.matches(key, "app=web,tier in (frontend)").unwrap());
                }
            }
            record("watchers/once", iters, start.elapsed())
        });
    });
    group.bench_function("decoded_per_watcher", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let key = write(i);
                for _ in 0..WATCHERS {
                    let json = cache.json(key).unwrap();
                    let v: Value = serde_json::from_slice(&json).unwrap();
                    let labels = &v["metadata"]["labels"];
                    assert!(labels["app"] == "web" && labels["tier"] == "frontend");
                }
            }
            record("watchers/each", iters, start.elapsed())
        });
    });
    group.finish();
}

/// Heap bytes per object held by a cache of `MEMORY_OBJECTS` objects applied as creates,
/// with as many events of history (every create still in it).
fn memory(kind: &Kind) -> (usize, f64, f64) {
    let mut json_len = 0;
    let before = live();
    let cache = WatchCacheBench::new(kind.prefix, MEMORY_OBJECTS);
    for i in 0..MEMORY_OBJECTS {
        let name = format!("web-7f9c6d5b8-{i:06}");
        let body = (kind.bytes)(&name);
        json_len = body.len();
        let rev = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        cache.apply(&put(key(kind, &name), body, rev));
    }
    assert_eq!(cache.len(), MEMORY_OBJECTS);
    let held = live() - before;
    assert_eq!(cache.decode_all(), MEMORY_OBJECTS);
    let decoded = live() - before;
    drop(cache);
    let per = |bytes: isize| bytes as f64 / MEMORY_OBJECTS as f64;
    (json_len, per(held), per(decoded))
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for kind in KINDS {
        bench_apply(&mut criterion, kind);
    }
    bench_selector_watchers(&mut criterion);
    criterion.final_summary();
    println!();
    println!("per store write (mean of every sample):");
    for kind in KINDS {
        let apply = mean(&format!("{}/apply", kind.name));
        let base = mean(&format!("{}/from_slice", kind.name));
        println!(
            "  {:<6} apply {:>8.0} ns   from_slice::<Value> {:>8.0} ns   apply / from_slice {:.2}",
            kind.name,
            apply,
            base,
            apply / base
        );
    }
    let once = mean("watchers/once");
    let each = mean("watchers/each");
    println!(
        "a pod write and {WATCHERS} label-selector watchers: decoded once {once:.0} ns, \
         decoded per watcher {each:.0} ns, per watcher / once {:.2}",
        each / once
    );
    println!(
        "heap held per object ({MEMORY_OBJECTS} objects, {MEMORY_OBJECTS} events of history):"
    );
    for kind in KINDS {
        let (json_len, per_object, decoded) = memory(kind);
        println!(
            "  {:<6} {:>8.0} bytes, {:>8.0} once every object was decoded (its stored JSON: {json_len} bytes)",
            kind.name, per_object, decoded
        );
    }
}
