//! Helpers shared by the checks: getting a store, waiting for events, asserting errors.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kube_core::{KeyValue, Revision, Store, StoreError, StoreEvent, WatchStream};

use super::{Options, StoreFactory};

/// A fresh store and the options it runs under, or `None` when the backend is absent.
pub(super) async fn fresh<F: StoreFactory>(factory: &F) -> Option<(F::Store, Options)> {
    let store = factory.new_store().await?;
    Some((store, factory.options()))
}

/// A fresh store on its own, for the checks that compact.
pub(super) async fn fresh_exclusive<F: StoreFactory>(factory: &F) -> Option<(F::Store, Options)> {
    let store = factory.new_exclusive_store().await?;
    Some((store, factory.options()))
}

/// Bytes from a string, for keys and values.
pub(super) fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// The current revision, which must be readable.
pub(super) async fn revision<S: Store>(store: &S) -> Revision {
    store
        .current_revision()
        .await
        .expect("current_revision must succeed")
}

/// Creates a key that must not exist yet.
pub(super) async fn create<S: Store>(store: &S, key: &str, value: &str) -> KeyValue {
    store
        .create(b(key), b(value), None)
        .await
        .unwrap_or_else(|err| panic!("create {key:?} must succeed: {err}"))
}

/// The next event of a watch, failing the check when none comes in time or the stream ends.
pub(super) async fn next_event(stream: &mut WatchStream, options: &Options) -> StoreEvent {
    match tokio::time::timeout(options.event_timeout, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(err))) => panic!("the watch failed: {err}"),
        Ok(None) => panic!("the watch ended while an event was expected"),
        Err(_) => panic!(
            "no watch event within {:?} while one was expected",
            options.event_timeout
        ),
    }
}

/// The error a watch yields next (it must yield one before ending).
pub(super) async fn next_error(stream: &mut WatchStream, timeout: Duration) -> StoreError {
    match tokio::time::timeout(timeout, stream.next()).await {
        Ok(Some(Err(err))) => err,
        Ok(Some(Ok(event))) => panic!("expected the watch to fail, got an event {event:?}"),
        Ok(None) => panic!("the watch ended without reporting an error"),
        Err(_) => panic!("the watch neither failed nor yielded within {timeout:?}"),
    }
}

/// Asserts the key-value has this key and value.
pub(super) fn assert_kv(kv: &KeyValue, key: &str, value: &str) {
    assert_eq!(kv.key, b(key), "key of {kv:?}");
    assert_eq!(kv.value, b(value), "value of {kv:?}");
}

/// Asserts a write got a revision after `previous`: exactly the next one when revisions
/// are contiguous.
pub(super) fn assert_next_revision(written: Revision, previous: Revision, options: &Options) {
    if options.contiguous_revisions {
        assert_eq!(
            written,
            previous + 1,
            "each write must add exactly one to the revision"
        );
    } else {
        assert!(
            written > previous,
            "revisions must grow with every write ({written} after {previous})"
        );
    }
}

/// Asserts an error is [`StoreError::NotFound`].
pub(super) fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Asserts an error is [`StoreError::Conflict`] and returns the current value it carries.
pub(super) fn expect_conflict<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    expected_revision: Revision,
    what: &str,
) -> KeyValue {
    match result {
        Err(StoreError::Conflict { expected, current }) => {
            assert_eq!(
                expected, expected_revision,
                "{what}: Conflict must carry the expected revision given"
            );
            *current
        }
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

/// Asserts an error is [`StoreError::Compacted`] at `requested`, and returns the
/// compacted revision it reports.
pub(super) fn expect_compacted<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    requested_revision: Revision,
    what: &str,
) -> Revision {
    match result {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!(requested, requested_revision, "{what}: requested revision");
            compacted
        }
        other => panic!("{what}: expected Compacted, got {other:?}"),
    }
}
