//! Many writers racing on one key through read, compare-and-swap, retry.

use std::sync::Arc;

use bytes::Bytes;
use kube_core::{KeyValue, Store, StoreError};

use super::StoreFactory;
use super::support::{b, create, fresh, revision};

const TASKS: usize = 8;
const INCREMENTS: usize = 50;

fn counter(kv: &KeyValue) -> u64 {
    std::str::from_utf8(&kv.value)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the counter holds a number, found {kv:?}"))
}

/// 8 tasks each add one to a counter key 50 times, reading it, writing with the revision
/// read, and retrying on `Conflict` (from the value the conflict carries). Nothing is
/// lost: the final value is the number of successful writes, 400, and (with contiguous
/// revisions) the revision moved by exactly 400.
pub async fn concurrent_cas_increments<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    let store = Arc::new(store);
    let start = create(&*store, "/registry/counters/c", "0").await;
    let mut tasks = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let key = b("/registry/counters/c");
            let mut successes = 0usize;
            let mut conflicts = 0usize;
            let mut revisions = Vec::with_capacity(INCREMENTS);
            let mut current = store.get(&key).await.unwrap().expect("the counter exists");
            while successes < INCREMENTS {
                let next = Bytes::from((counter(&current) + 1).to_string());
                match store.update(key.clone(), next, current.mod_revision).await {
                    Ok(written) => {
                        assert_eq!(counter(&written), counter(&current) + 1);
                        assert!(written.mod_revision > current.mod_revision);
                        revisions.push(written.mod_revision);
                        successes += 1;
                        current = written;
                    }
                    Err(StoreError::Conflict { current: now, .. }) => {
                        assert!(
                            now.mod_revision > current.mod_revision,
                            "a conflict carries a newer value"
                        );
                        conflicts += 1;
                        current = *now;
                    }
                    Err(err) => panic!("update failed: {err}"),
                }
                if successes % 7 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            (successes, conflicts, revisions)
        }));
    }
    let mut total = 0;
    let mut all_revisions = Vec::new();
    for task in tasks {
        let (successes, _conflicts, revisions) = task.await.expect("a writer panicked");
        total += successes;
        all_revisions.extend(revisions);
    }
    let last = store
        .get(b"/registry/counters/c")
        .await
        .unwrap()
        .expect("the counter exists");
    assert_eq!(total, TASKS * INCREMENTS);
    assert_eq!(
        counter(&last),
        total as u64,
        "the counter equals the number of successful writes"
    );
    assert_eq!(
        last.version,
        1 + total as i64,
        "one version per successful write"
    );
    all_revisions.sort_unstable();
    all_revisions.dedup();
    assert_eq!(
        all_revisions.len(),
        total,
        "no two successful writes share a revision"
    );
    if options.contiguous_revisions {
        assert_eq!(last.mod_revision, start.mod_revision + total as i64);
        assert_eq!(revision(&*store).await, last.mod_revision);
        let expected: Vec<_> = (1..=total as i64).map(|i| start.mod_revision + i).collect();
        assert_eq!(
            all_revisions, expected,
            "the writes took every revision in turn"
        );
    }
}
