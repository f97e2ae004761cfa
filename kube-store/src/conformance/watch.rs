//! Watches: every change after a revision, in order, exactly once, with previous values.

use std::sync::Arc;

use kube_core::{EventKind, KeyValue, Store, StoreEvent};

use super::StoreFactory;
use super::support::{b, create, fresh, next_event, revision};

const WRITERS: usize = 4;
const WRITES_PER_WRITER: usize = 60;

/// The event a write must produce: built from what the writer was acknowledged.
fn put_event(kv: KeyValue, prev: Option<KeyValue>) -> StoreEvent {
    StoreEvent {
        kind: EventKind::Put,
        kv,
        prev_kv: prev,
    }
}

fn delete_event(deleted: KeyValue, prev: KeyValue) -> StoreEvent {
    StoreEvent {
        kind: EventKind::Delete,
        kv: deleted,
        prev_kv: Some(prev),
    }
}

/// Writes a sentinel key and checks it is the next event: nothing extra came before it.
async fn assert_nothing_more<S: Store>(
    store: &S,
    stream: &mut kube_core::WatchStream,
    key: &str,
    options: &super::Options,
) {
    let sentinel = create(store, key, "sentinel").await;
    let event = next_event(stream, options).await;
    assert_eq!(
        event,
        put_event(sentinel, None),
        "after the expected events, the next one must be the sentinel write"
    );
}

/// Writers create, update and delete keys while a watcher starts at a revision R in the
/// middle of their writes: it sees exactly the acknowledged writes after R, in revision
/// order (contiguous when revisions are), no gap, no duplicate, puts with their previous
/// value and deletes with the value deleted.
pub async fn watch_concurrent_writers_exactly_once<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let store = Arc::new(store);
    let base = revision(&*store).await;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut expected = Vec::with_capacity(WRITES_PER_WRITER);
            let mut live: [Option<KeyValue>; 3] = [None, None, None];
            for i in 0..WRITES_PER_WRITER {
                let slot = i % 3;
                let key = format!("/registry/pods/w{writer}/p{slot}");
                let value = format!("{writer}-{i}");
                let event = match live[slot].take() {
                    None => {
                        let kv = store.create(b(&key), b(&value), None).await.unwrap();
                        live[slot] = Some(kv.clone());
                        put_event(kv, None)
                    }
                    Some(prev) if i % 4 == 0 => {
                        let deleted = store
                            .delete(key.as_bytes(), Some(prev.mod_revision))
                            .await
                            .unwrap();
                        delete_event(deleted, prev)
                    }
                    Some(prev) => {
                        let kv = store
                            .update(b(&key), b(&value), prev.mod_revision)
                            .await
                            .unwrap();
                        live[slot] = Some(kv.clone());
                        put_event(kv, Some(prev))
                    }
                };
                expected.push(event);
                if i % 5 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            expected
        }));
    }
    // Start watching while the writers run.
    let mut start = revision(&*store).await;
    while start < base + 30 && !tasks.iter().all(tokio::task::JoinHandle::is_finished) {
        tokio::task::yield_now().await;
        start = revision(&*store).await;
    }
    let mut stream = store.watch(b("/registry/pods/"), start).await.unwrap();

    let mut expected = Vec::new();
    for task in tasks {
        expected.extend(task.await.expect("a writer panicked"));
    }
    expected.retain(|event| event.revision() > start);
    expected.sort_by_key(StoreEvent::revision);
    assert!(!expected.is_empty() || start > base, "the writers wrote");

    let mut previous = start;
    for want in &expected {
        let got = next_event(&mut stream, &options).await;
        if options.contiguous_revisions {
            assert_eq!(got.revision(), previous + 1, "no gap between watch events");
        }
        assert_eq!(&got, want, "watch event at revision {}", want.revision());
        previous = got.revision();
    }
    assert_nothing_more(&*store, &mut stream, "/registry/pods/zz-sentinel", &options).await;
}

/// A watch from the current revision sees only the writes made after it started.
pub async fn watch_from_current_sees_only_new<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    create(&store, "/registry/pods/default/old", "old").await;
    let now = revision(&store).await;
    let mut stream = store.watch(b("/registry/pods/"), now).await.unwrap();
    let kv = create(&store, "/registry/pods/default/new", "new").await;
    let event = next_event(&mut stream, &options).await;
    assert_eq!(
        event,
        put_event(kv, None),
        "the first event is the first new write"
    );
    assert_nothing_more(&store, &mut stream, "/registry/pods/sentinel", &options).await;
}

/// A watch from before a key's life reports its create (no previous value), its update
/// (with the previous value) and its delete (with the value deleted, at the delete's
/// revision).
pub async fn watch_reports_prev_values<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let start = revision(&store).await;
    let first = create(&store, "/registry/pods/default/web", "v1").await;
    let second = store
        .update(b("/registry/pods/default/web"), b("v2"), first.mod_revision)
        .await
        .unwrap();
    let deleted = store
        .delete(b"/registry/pods/default/web", None)
        .await
        .unwrap();
    let mut stream = store.watch(b("/registry/pods/"), start).await.unwrap();
    let e1 = next_event(&mut stream, &options).await;
    assert_eq!(e1, put_event(first.clone(), None), "the create");
    let e2 = next_event(&mut stream, &options).await;
    assert_eq!(e2, put_event(second.clone(), Some(first)), "the update");
    let e3 = next_event(&mut stream, &options).await;
    assert_eq!(e3.kind, EventKind::Delete, "the delete");
    assert_eq!(e3.revision(), deleted.mod_revision);
    assert_eq!(e3, delete_event(deleted, second), "the delete");
    assert_nothing_more(&store, &mut stream, "/registry/pods/sentinel", &options).await;
}

/// A watch sees only keys under its prefix.
pub async fn watch_filters_by_prefix<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let start = revision(&store).await;
    let mut stream = store.watch(b("/registry/pods/"), start).await.unwrap();
    create(&store, "/registry/nodes/n1", "n").await;
    let pod = create(&store, "/registry/pods/default/p1", "p").await;
    create(&store, "/registry/pod", "not under the prefix").await;
    create(&store, "/registry/podsx/p", "not under the prefix").await;
    let event = next_event(&mut stream, &options).await;
    assert_eq!(event, put_event(pod, None), "only keys under the prefix");
    assert_nothing_more(&store, &mut stream, "/registry/pods/sentinel", &options).await;
}
