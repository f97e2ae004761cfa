//! Leases: keys that go when their lease is revoked or expires, as ordinary deletes.

use std::time::Duration;

use kube_core::{EventKind, LeaseId, Store, StoreError, StoreEvent};

use super::StoreFactory;
use super::support::{b, create, fresh, next_event, revision};

/// A lease id no store hands out in these checks.
const UNKNOWN_LEASE: LeaseId = 0x7a11_ed0c;

fn assert_lease_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::LeaseNotFound(_)) => {}
        other => panic!("{what}: expected LeaseNotFound, got {other:?}"),
    }
}

/// Keys attached to a lease keep it through updates; revoking the lease deletes them (and
/// only them), each deletion a watch event with the value deleted; the lease is gone after.
pub async fn lease_revoke_deletes_keys<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let lease = store.grant_lease(Duration::from_secs(600)).await.unwrap();
    store.keep_alive(lease).await.unwrap();
    let e1 = store
        .create(b("/registry/events/e1"), b("1"), Some(lease))
        .await
        .unwrap();
    assert_eq!(e1.lease, Some(lease), "the key carries its lease");
    let e1 = store
        .update(b("/registry/events/e1"), b("1b"), e1.mod_revision)
        .await
        .unwrap();
    assert_eq!(e1.lease, Some(lease), "an update keeps the lease");
    let e2 = store
        .create(b("/registry/events/e2"), b("2"), Some(lease))
        .await
        .unwrap();
    let kept = create(&store, "/registry/events/kept", "k").await;
    let before = revision(&store).await;
    let mut stream = store.watch(b("/registry/events/"), before).await.unwrap();

    store.revoke_lease(lease).await.unwrap();
    let mut events: Vec<StoreEvent> = vec![
        next_event(&mut stream, &options).await,
        next_event(&mut stream, &options).await,
    ];
    assert!(
        events[0].revision() < events[1].revision(),
        "each deletion is a write of its own"
    );
    if options.contiguous_revisions {
        assert_eq!(events[0].revision(), before + 1);
        assert_eq!(events[1].revision(), before + 2);
    }
    events.sort_by(|x, y| x.kv.key.cmp(&y.kv.key));
    for (event, was) in events.iter().zip([&e1, &e2]) {
        assert_eq!(event.kind, EventKind::Delete);
        assert_eq!(event.kv.key, was.key);
        assert_eq!(
            event.prev_kv.as_ref(),
            Some(was),
            "the delete carries the value"
        );
    }
    assert_eq!(store.get(b"/registry/events/e1").await.unwrap(), None);
    assert_eq!(store.get(b"/registry/events/e2").await.unwrap(), None);
    assert_eq!(
        store.get(b"/registry/events/kept").await.unwrap(),
        Some(kept)
    );

    assert_lease_not_found(
        store.keep_alive(lease).await,
        "keep-alive of a revoked lease",
    );
    assert_lease_not_found(
        store
            .create(b("/registry/events/e3"), b("3"), Some(lease))
            .await,
        "create with a revoked lease",
    );
    let sentinel = create(&store, "/registry/events/sentinel", "s").await;
    let next = next_event(&mut stream, &options).await;
    assert_eq!(next.kv, sentinel, "no other event came before the sentinel");
}

/// A key on a lease that is not kept alive is deleted once the TTL passes, and the
/// deletion is a watch event.
pub async fn lease_expiry_deletes_keys<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let lease = store.grant_lease(options.lease_ttl).await.unwrap();
    let kv = store
        .create(b("/registry/events/short"), b("x"), Some(lease))
        .await
        .unwrap();
    let mut stream = store
        .watch(b("/registry/events/"), kv.mod_revision)
        .await
        .unwrap();
    let event = next_event(&mut stream, &options).await;
    assert_eq!(event.kind, EventKind::Delete, "the expiry deletes the key");
    assert_eq!(event.kv.key, kv.key);
    assert_eq!(event.prev_kv, Some(kv));
    assert_eq!(store.get(b"/registry/events/short").await.unwrap(), None);
    assert_lease_not_found(
        store.keep_alive(lease).await,
        "keep-alive of an expired lease",
    );
}

/// Unknown leases: keep-alive, revoke and create with one fail with `LeaseNotFound`.
pub async fn lease_unknown_fails<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh(factory).await else {
        return;
    };
    assert_lease_not_found(store.keep_alive(UNKNOWN_LEASE).await, "keep-alive");
    assert_lease_not_found(store.revoke_lease(UNKNOWN_LEASE).await, "revoke");
    assert_lease_not_found(
        store
            .create(b("/registry/events/e"), b("x"), Some(UNKNOWN_LEASE))
            .await,
        "create with an unknown lease",
    );
    assert_eq!(store.get(b"/registry/events/e").await.unwrap(), None);
}
