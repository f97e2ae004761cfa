//! The single-key operations: get, create, compare-and-swap update and delete, and the
//! versions and revisions they leave on a key.

use kube_core::{Store, StoreError};

use super::StoreFactory;
use super::support::{
    assert_kv, assert_next_revision, assert_not_found, b, create, expect_conflict, fresh, revision,
};

/// `get` of a key never written is `None`, and a fresh store is at revision 1 when
/// revisions are contiguous.
pub async fn get_missing_is_none<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let got = store.get(b"/registry/pods/default/absent").await.unwrap();
    assert_eq!(got, None, "a key never written must read as None");
    if options.contiguous_revisions {
        assert_eq!(revision(&store).await, 1, "a fresh store is at revision 1");
    }
    assert_eq!(store.compacted_revision().await.unwrap(), 0);
}

/// `create` writes a key at a new revision with version 1, and `get` reads it back.
pub async fn create_then_get<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let before = revision(&store).await;
    let kv = create(&store, "/registry/pods/default/web", "v1").await;
    assert_kv(&kv, "/registry/pods/default/web", "v1");
    assert_next_revision(kv.mod_revision, before, &options);
    assert_eq!(
        kv.create_revision, kv.mod_revision,
        "a new key: create == mod revision"
    );
    assert_eq!(kv.version, 1, "a new key has version 1");
    assert_eq!(kv.lease, None);
    assert_eq!(
        revision(&store).await,
        kv.mod_revision,
        "the store is at the write"
    );
    let got = store.get(b"/registry/pods/default/web").await.unwrap();
    assert_eq!(got, Some(kv), "get returns the key-value as written");
}

/// `create` of an existing key fails with `AlreadyExists` and leaves it as it was.
pub async fn create_existing_fails<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh(factory).await else {
        return;
    };
    let kv = create(&store, "/registry/pods/default/web", "v1").await;
    let again = store
        .create(b("/registry/pods/default/web"), b("v2"), None)
        .await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists)),
        "create of an existing key: expected AlreadyExists, got {again:?}"
    );
    let got = store.get(b"/registry/pods/default/web").await.unwrap();
    assert_eq!(got, Some(kv), "a failed create leaves the key unchanged");
}

/// A write with an empty key is an `InvalidRequest`.
pub async fn empty_key_is_rejected<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh(factory).await else {
        return;
    };
    let created = store.create(b(""), b("v"), None).await;
    assert!(
        matches!(created, Err(StoreError::InvalidRequest(_))),
        "create with an empty key: expected InvalidRequest, got {created:?}"
    );
}

/// `update` with the current `mod_revision` writes, bumping version and mod revision and
/// keeping the create revision.
pub async fn update_with_current_revision<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let first = create(&store, "/registry/pods/default/web", "v1").await;
    let second = store
        .update(b("/registry/pods/default/web"), b("v2"), first.mod_revision)
        .await
        .unwrap();
    assert_kv(&second, "/registry/pods/default/web", "v2");
    assert_next_revision(second.mod_revision, first.mod_revision, &options);
    assert_eq!(second.create_revision, first.create_revision);
    assert_eq!(second.version, 2);
    let third = store
        .update(
            b("/registry/pods/default/web"),
            b("v3"),
            second.mod_revision,
        )
        .await
        .unwrap();
    assert_next_revision(third.mod_revision, second.mod_revision, &options);
    assert_eq!(third.create_revision, first.create_revision);
    assert_eq!(third.version, 3);
    let got = store.get(b"/registry/pods/default/web").await.unwrap();
    assert_eq!(got, Some(third));
}

/// `update` with a stale `mod_revision` fails with `Conflict` carrying the current value,
/// and changes nothing.
pub async fn update_conflict_carries_current<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh(factory).await else {
        return;
    };
    let first = create(&store, "/registry/pods/default/web", "v1").await;
    let second = store
        .update(b("/registry/pods/default/web"), b("v2"), first.mod_revision)
        .await
        .unwrap();
    let stale = store
        .update(b("/registry/pods/default/web"), b("v3"), first.mod_revision)
        .await;
    let current = expect_conflict(stale, first.mod_revision, "update with a stale revision");
    assert_eq!(current, second, "Conflict carries the key as it is now");
    let future = store
        .update(
            b("/registry/pods/default/web"),
            b("v3"),
            second.mod_revision + 1000,
        )
        .await;
    let current = expect_conflict(
        future,
        second.mod_revision + 1000,
        "update with a revision the key never had",
    );
    assert_eq!(current, second);
    let got = store.get(b"/registry/pods/default/web").await.unwrap();
    assert_eq!(
        got,
        Some(second),
        "a failed update leaves the key unchanged"
    );
}

/// `update` of a key that does not exist, or no longer does, fails with `NotFound`.
pub async fn update_missing_is_not_found<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh(factory).await else {
        return;
    };
    let never = store
        .update(b("/registry/pods/default/absent"), b("v"), 1)
        .await;
    assert_not_found(never, "update of a key never created");
    let kv = create(&store, "/registry/pods/default/web", "v1").await;
    store
        .delete(b"/registry/pods/default/web", Some(kv.mod_revision))
        .await
        .unwrap();
    let gone = store
        .update(b("/registry/pods/default/web"), b("v2"), kv.mod_revision)
        .await;
    assert_not_found(gone, "update of a deleted key");
}

/// `delete` with the current revision or none deletes and returns the last value with
/// the delete's revision; with a stale one it fails with `Conflict`.
pub async fn delete_checks_expected_revision<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let a = create(&store, "/registry/pods/default/a", "va").await;
    let a2 = store
        .update(b("/registry/pods/default/a"), b("va2"), a.mod_revision)
        .await
        .unwrap();
    let stale = store
        .delete(b"/registry/pods/default/a", Some(a.mod_revision))
        .await;
    let current = expect_conflict(stale, a.mod_revision, "delete with a stale revision");
    assert_eq!(current, a2, "Conflict carries the key as it is now");
    assert_eq!(
        store.get(b"/registry/pods/default/a").await.unwrap(),
        Some(a2.clone()),
        "a failed delete leaves the key"
    );

    let deleted = store
        .delete(b"/registry/pods/default/a", Some(a2.mod_revision))
        .await
        .unwrap();
    assert_kv(&deleted, "/registry/pods/default/a", "va2");
    assert_next_revision(deleted.mod_revision, a2.mod_revision, &options);
    assert_eq!(deleted.create_revision, a.create_revision);
    assert_eq!(deleted.version, a2.version, "the deleted value's version");
    assert_eq!(revision(&store).await, deleted.mod_revision);
    assert_eq!(store.get(b"/registry/pods/default/a").await.unwrap(), None);

    let b_kv = create(&store, "/registry/pods/default/b", "vb").await;
    let deleted = store
        .delete(b"/registry/pods/default/b", None)
        .await
        .unwrap();
    assert_kv(&deleted, "/registry/pods/default/b", "vb");
    assert_next_revision(deleted.mod_revision, b_kv.mod_revision, &options);
    assert_eq!(store.get(b"/registry/pods/default/b").await.unwrap(), None);
}

/// `delete` of a key that does not exist fails with `NotFound`, with or without an
/// expected revision.
pub async fn delete_missing_is_not_found<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh(factory).await else {
        return;
    };
    assert_not_found(
        store.delete(b"/registry/pods/default/absent", None).await,
        "delete of a key never created",
    );
    assert_not_found(
        store
            .delete(b"/registry/pods/default/absent", Some(1))
            .await,
        "delete with a revision of a key never created",
    );
    let kv = create(&store, "/registry/pods/default/web", "v").await;
    store
        .delete(b"/registry/pods/default/web", None)
        .await
        .unwrap();
    assert_not_found(
        store.delete(b"/registry/pods/default/web", None).await,
        "delete of a deleted key",
    );
    assert_not_found(
        store
            .delete(b"/registry/pods/default/web", Some(kv.mod_revision))
            .await,
        "delete with a revision of a deleted key",
    );
}

/// A key deleted and created again starts over: version 1 and a new create revision.
pub async fn recreate_resets_versions<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let first = create(&store, "/registry/pods/default/web", "v1").await;
    let second = store
        .update(b("/registry/pods/default/web"), b("v2"), first.mod_revision)
        .await
        .unwrap();
    let deleted = store
        .delete(b"/registry/pods/default/web", None)
        .await
        .unwrap();
    let again = create(&store, "/registry/pods/default/web", "v3").await;
    assert_next_revision(again.mod_revision, deleted.mod_revision, &options);
    assert_eq!(again.version, 1, "a re-created key starts at version 1");
    assert_eq!(again.create_revision, again.mod_revision);
    assert!(again.create_revision > second.mod_revision);
    let stale = store
        .update(
            b("/registry/pods/default/web"),
            b("v4"),
            second.mod_revision,
        )
        .await;
    let current = expect_conflict(
        stale,
        second.mod_revision,
        "update with a revision of the previous incarnation",
    );
    assert_eq!(current, again);
}

/// Every successful write, whatever its kind, moves the revision on, and the store's
/// revision is that of the last write.
pub async fn revisions_count_every_write<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let mut last = revision(&store).await;
    for i in 0..10 {
        let key = format!("/registry/configmaps/default/c{i}");
        let kv = create(&store, &key, "0").await;
        assert_next_revision(kv.mod_revision, last, &options);
        let kv = store
            .update(b(&key), b("1"), kv.mod_revision)
            .await
            .unwrap();
        assert_next_revision(kv.mod_revision, kv.create_revision, &options);
        assert_eq!(kv.version, 2);
        last = kv.mod_revision;
        if i % 2 == 0 {
            let deleted = store.delete(key.as_bytes(), None).await.unwrap();
            assert_next_revision(deleted.mod_revision, last, &options);
            last = deleted.mod_revision;
        }
        assert_eq!(
            revision(&store).await,
            last,
            "the store is at its last write"
        );
    }
    if options.contiguous_revisions {
        assert_eq!(
            last,
            1 + 10 * 2 + 5,
            "25 writes on a fresh store at revision 1"
        );
    }
}

/// Failed writes (AlreadyExists, Conflict, NotFound) do not move the revision.
pub async fn failed_writes_change_nothing<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    if !options.contiguous_revisions {
        // Other clients of a shared server move the revision on: nothing to observe.
        return;
    }
    let kv = create(&store, "/registry/pods/default/web", "v").await;
    let before = revision(&store).await;
    let _ = store
        .create(b("/registry/pods/default/web"), b("x"), None)
        .await
        .unwrap_err();
    let _ = store
        .update(b("/registry/pods/default/web"), b("x"), kv.mod_revision - 1)
        .await
        .unwrap_err();
    let _ = store
        .update(b("/registry/pods/default/absent"), b("x"), 1)
        .await
        .unwrap_err();
    let _ = store
        .delete(b"/registry/pods/default/web", Some(kv.mod_revision + 5))
        .await
        .unwrap_err();
    let _ = store
        .delete(b"/registry/pods/default/absent", None)
        .await
        .unwrap_err();
    assert_eq!(
        revision(&store).await,
        before,
        "failed writes change no revision"
    );
    assert_eq!(
        store.get(b"/registry/pods/default/web").await.unwrap(),
        Some(kv)
    );
}
