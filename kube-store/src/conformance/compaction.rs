//! Compaction: old revisions go, the latest values stay.

use kube_core::{EventKind, RangeRequest, Store, StoreError};

use super::StoreFactory;
use super::support::{
    b, create, expect_compacted, fresh_exclusive, next_error, next_event, revision,
};

/// After compaction at C: a range below C and a watch from below C fail with
/// `Compacted`; a range at C still sees the state at C, a watch from C sees what came
/// after, and the latest values stay readable.
pub async fn compaction_fails_old_reads_keeps_latest<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh_exclusive(factory).await else {
        return;
    };
    let a1 = create(&store, "/registry/pods/a", "a1").await;
    let a2 = store
        .update(b("/registry/pods/a"), b("a2"), a1.mod_revision)
        .await
        .unwrap();
    create(&store, "/registry/pods/b", "b1").await;
    store.delete(b"/registry/pods/b", None).await.unwrap();
    let c1 = create(&store, "/registry/pods/c", "c1").await;
    let compact_at = revision(&store).await;
    let a3 = store
        .update(b("/registry/pods/a"), b("a3"), a2.mod_revision)
        .await
        .unwrap();
    let d1 = create(&store, "/registry/pods/d", "d1").await;

    store.compact(compact_at).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), compact_at);

    let below = compact_at - 1;
    let result = store
        .range(RangeRequest::prefix(b("/registry/pods/")).at_revision(below))
        .await;
    let reported = expect_compacted(result, below, "range below the compaction");
    assert_eq!(
        reported, compact_at,
        "Compacted reports the compacted revision"
    );

    match store.watch(b("/registry/pods/"), below).await {
        Err(err) => {
            expect_compacted::<()>(Err(err), below, "watch from below the compaction");
        }
        Ok(mut stream) => {
            let err = next_error(&mut stream, options.event_timeout).await;
            expect_compacted::<()>(Err(err), below, "watch from below the compaction");
        }
    }

    let at = store
        .range(RangeRequest::prefix(b("/registry/pods/")).at_revision(compact_at))
        .await
        .unwrap();
    assert_eq!(
        at.kvs,
        vec![a2, c1.clone()],
        "the state at the compacted revision stays"
    );

    let mut stream = store.watch(b("/registry/pods/"), compact_at).await.unwrap();
    let first = next_event(&mut stream, &options).await;
    assert_eq!((first.kind, first.kv.clone()), (EventKind::Put, a3.clone()));
    let second = next_event(&mut stream, &options).await;
    assert_eq!(
        (second.kind, second.kv.clone()),
        (EventKind::Put, d1.clone())
    );

    let latest = store
        .range(RangeRequest::prefix(b("/registry/pods/")))
        .await
        .unwrap();
    assert_eq!(
        latest.kvs,
        vec![a3.clone(), c1, d1],
        "the latest values stay"
    );
    assert_eq!(store.get(b"/registry/pods/a").await.unwrap(), Some(a3));
    assert_eq!(store.get(b"/registry/pods/b").await.unwrap(), None);
}

/// Compacting at or below an earlier compaction is a no-op.
pub async fn compact_below_previous_is_noop<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh_exclusive(factory).await else {
        return;
    };
    for i in 0..4 {
        create(&store, &format!("/registry/pods/p{i}"), "x").await;
    }
    let at = revision(&store).await;
    store.compact(at).await.unwrap();
    store.compact(at).await.unwrap();
    store.compact(at - 2).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), at);
    let all = store
        .range(RangeRequest::prefix(b("/registry/pods/")))
        .await
        .unwrap();
    assert_eq!(all.count, 4);
}

/// Compacting above the current revision fails with `FutureRevision`.
pub async fn compact_future_revision_fails<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh_exclusive(factory).await else {
        return;
    };
    create(&store, "/registry/pods/p", "x").await;
    let now = revision(&store).await;
    match store.compact(now + 1_000_000).await {
        Err(StoreError::FutureRevision { requested, .. }) => {
            assert_eq!(requested, now + 1_000_000);
        }
        other => panic!("compact in the future: expected FutureRevision, got {other:?}"),
    }
    assert!(store.compacted_revision().await.unwrap() < now);
}
