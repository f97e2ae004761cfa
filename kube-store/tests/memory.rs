//! `MemoryStore` against the conformance suite, and what is particular to it: automatic
//! compaction, slow watchers, life outside a tokio runtime.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube_core::{RangeRequest, Store, StoreError};
use kube_store::{MemoryStore, Retention};

kube_store::store_conformance_tests!(|| async { MemoryStore::new() });

/// The suite again, on a store that compacts every few writes by itself: nothing the
/// suite checks may depend on history beyond what it reads right away... except that it
/// must hold long enough, so this one keeps a generous count.
mod small_history {
    use kube_store::conformance::{Options, WithOptions};
    use kube_store::{MemoryStore, Retention};

    kube_store::store_conformance_tests!(WithOptions::new(
        || async { MemoryStore::with_retention(Retention::default().max_revisions(2_000)) },
        Options::default().model_cases(16),
    ));
}

fn key(i: usize) -> bytes::Bytes {
    format!("/registry/pods/p{i}").into()
}

#[tokio::test]
async fn automatic_compaction_keeps_the_last_revisions() {
    let store = MemoryStore::with_retention(Retention::unbounded().max_revisions(100));
    let kv = store.create(key(0), "0".into(), None).await.unwrap();
    let mut revision = kv.mod_revision;
    for i in 1..1_000 {
        revision = store
            .update(key(0), i.to_string().into(), revision)
            .await
            .unwrap()
            .mod_revision;
    }
    let compacted = store.compacted_revision().await.unwrap();
    assert!(compacted > 0, "history was compacted by count");
    assert!(
        revision - compacted >= 100,
        "at least the last 100 revisions are kept ({compacted} of {revision})"
    );
    let old = store
        .range(RangeRequest::prefix("/registry/").at_revision(compacted - 1))
        .await;
    assert!(matches!(old, Err(StoreError::Compacted { .. })), "{old:?}");
    let kept = store
        .range(RangeRequest::prefix("/registry/").at_revision(revision - 100))
        .await
        .unwrap();
    assert_eq!(kept.kvs[0].mod_revision, revision - 100);
}

#[tokio::test]
async fn a_watcher_left_behind_the_history_gets_compacted_and_ends() {
    let store = MemoryStore::with_retention(Retention::unbounded().max_revisions(50));
    let start = store.current_revision().await.unwrap();
    let mut slow = store.watch("/registry/".into(), start).await.unwrap();
    let mut kv = store.create(key(0), "0".into(), None).await.unwrap();
    for i in 0..500 {
        kv = store
            .update(key(0), i.to_string().into(), kv.mod_revision)
            .await
            .unwrap();
    }
    match slow.next().await {
        Some(Err(StoreError::Compacted {
            requested,
            compacted,
        })) => {
            assert_eq!(requested, start);
            assert!(compacted > start);
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(
        slow.next().await.is_none(),
        "the watch ends after the error"
    );
}

#[tokio::test]
async fn a_watcher_that_keeps_up_sees_everything_past_many_compactions() {
    let store = MemoryStore::with_retention(Retention::unbounded().max_revisions(20));
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/registry/".into(), start).await.unwrap();
    let mut kv = store.create(key(0), "0".into(), None).await.unwrap();
    assert_eq!(watch.next().await.unwrap().unwrap().kv, kv);
    for i in 0..300 {
        kv = store
            .update(key(0), i.to_string().into(), kv.mod_revision)
            .await
            .unwrap();
        let event = watch.next().await.unwrap().unwrap();
        assert_eq!(event.kv, kv);
    }
    assert!(store.compacted_revision().await.unwrap() > start);
}

#[tokio::test]
async fn a_watcher_of_a_quiet_prefix_polled_rarely_keeps_its_place() {
    // History of 5,000 revisions; the watcher of a quiet prefix is polled once per 3,000
    // writes elsewhere (a busy runtime), and must not fall behind the compaction.
    let store = MemoryStore::with_retention(Retention::unbounded().max_revisions(5_000));
    let start = store.current_revision().await.unwrap();
    let mut quiet = store.watch("/registry/quiet/".into(), start).await.unwrap();
    for round in 0..20 {
        for i in 0..3_000 {
            store
                .create(key(round * 3_000 + i), "busy".into(), None)
                .await
                .unwrap();
        }
        assert!(
            futures::FutureExt::now_or_never(quiet.next()).is_none(),
            "nothing for the quiet watcher yet (round {round})"
        );
    }
    store
        .create("/registry/quiet/q".into(), "q".into(), None)
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), quiet.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&event.kv.key[..], b"/registry/quiet/q");
}

/// Counts its wakes.
struct Wakes(std::sync::atomic::AtomicUsize);

impl futures::task::ArcWake for Wakes {
    fn wake_by_ref(this: &Arc<Self>) {
        this.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn writes_wake_only_the_watchers_of_their_prefix_and_the_others_keep_up() {
    let store = MemoryStore::with_retention(Retention::unbounded().max_revisions(1_000));
    let start = store.current_revision().await.unwrap();
    let mut quiet = store.watch("/registry/quiet/".into(), start).await.unwrap();
    let wakes = Arc::new(Wakes(std::sync::atomic::AtomicUsize::new(0)));
    let waker = futures::task::waker(wakes.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(quiet.poll_next_unpin(&mut cx).is_pending());
    // Writes elsewhere, far past the history the store keeps: no wake, and no
    // compaction error later.
    for i in 0..5_000 {
        store.create(key(i), "busy".into(), None).await.unwrap();
    }
    store
        .compact(store.current_revision().await.unwrap() - 10)
        .await
        .unwrap();
    let after_compaction = wakes.0.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        after_compaction <= 1,
        "woken {after_compaction} times by writes elsewhere"
    );
    assert!(quiet.poll_next_unpin(&mut cx).is_pending());
    store
        .create("/registry/quiet/q".into(), "q".into(), None)
        .await
        .unwrap();
    assert_eq!(
        wakes.0.load(std::sync::atomic::Ordering::SeqCst),
        after_compaction + 1,
        "a write under the prefix wakes it"
    );
    match quiet.poll_next_unpin(&mut cx) {
        std::task::Poll::Ready(Some(Ok(event))) => {
            assert_eq!(&event.kv.key[..], b"/registry/quiet/q");
        }
        other => panic!("expected the quiet prefix's event, got {other:?}"),
    }
}

#[tokio::test]
async fn watches_end_when_the_store_is_dropped() {
    let store = MemoryStore::new();
    let mut watch = store.watch("/".into(), 1).await.unwrap();
    let waiting = tokio::spawn(async move { watch.next().await.is_none() });
    tokio::task::yield_now().await;
    drop(store);
    assert!(waiting.await.unwrap(), "the watch ended without an item");
}

#[test]
fn works_without_a_tokio_runtime_until_a_lease_is_granted() {
    let store = MemoryStore::new();
    futures::executor::block_on(async {
        let kv = store.create(key(1), "v".into(), None).await.unwrap();
        assert_eq!(kv.mod_revision, 2);
        let mut watch = store.watch("/registry/".into(), 1).await.unwrap();
        assert_eq!(watch.next().await.unwrap().unwrap().kv, kv);
        let lease = store.grant_lease(Duration::from_secs(10)).await;
        assert!(
            matches!(lease, Err(StoreError::Unavailable { .. })),
            "leases need a runtime: {lease:?}"
        );
    });
}

#[tokio::test]
async fn watch_and_range_arguments_are_checked() {
    let store = MemoryStore::new();
    assert!(matches!(
        store.watch("/".into(), 5).await,
        Err(StoreError::FutureRevision {
            requested: 5,
            current: 1
        })
    ));
    assert!(matches!(
        store.watch("/".into(), -1).await,
        Err(StoreError::InvalidRequest(_))
    ));
    assert!(matches!(
        store.range(RangeRequest::prefix("/").at_revision(-3)).await,
        Err(StoreError::InvalidRequest(_))
    ));
    assert!(matches!(
        store.grant_lease(Duration::ZERO).await,
        Err(StoreError::InvalidRequest(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_sees_every_write_under_its_prefix_while_others_write_elsewhere() {
    let store = MemoryStore::new();
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/a/".into(), start).await.unwrap();
    let (mine, other) = (store.clone(), store.clone());
    let writers = [
        tokio::spawn(async move {
            for i in 0..2_000 {
                mine.create(format!("/a/{i:05}").into(), "x".into(), None)
                    .await
                    .unwrap();
                if i % 7 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }),
        tokio::spawn(async move {
            for i in 0..4_000 {
                other
                    .create(format!("/b/{i:05}").into(), "x".into(), None)
                    .await
                    .unwrap();
            }
        }),
    ];
    let mut seen = Vec::new();
    while seen.len() < 2_000 {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap_or_else(|_| panic!("no wake after {} events", seen.len()))
            .unwrap()
            .unwrap();
        seen.push(String::from_utf8(event.kv.key.to_vec()).unwrap());
    }
    for w in writers {
        w.await.unwrap();
    }
    let expected: Vec<String> = (0..2_000).map(|i| format!("/a/{i:05}")).collect();
    assert_eq!(seen, expected, "every write, once, in order");
}
