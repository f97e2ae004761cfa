//! Range reads: prefix, start, limit, consistent pages at one revision, counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube_core::{KeyValue, RangeRequest, Store, StoreError};

use super::StoreFactory;
use super::support::{b, create, fresh, revision};

fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

/// A range lists exactly the keys under the prefix, in byte order, from the start key,
/// up to the limit, saying whether more remain and how many match in all; at a past
/// revision it lists what was there then.
pub async fn range_prefix_start_limit<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh(factory).await else {
        return;
    };
    create(&store, "/registry/pods/d", "4").await;
    create(&store, "/registry/pods/b", "2").await;
    let early = revision(&store).await;
    create(&store, "/registry/pods/a", "1").await;
    create(&store, "/registry/pods/c", "3").await;
    create(&store, "/registry/pod", "outside").await;
    create(&store, "/registry/podsx", "outside").await;
    create(&store, "/registry/nodes/n", "outside").await;
    let now = revision(&store).await;
    let prefix = "/registry/pods/";

    let all = store.range(RangeRequest::prefix(b(prefix))).await.unwrap();
    assert_eq!(
        keys(&all.kvs),
        [
            "/registry/pods/a",
            "/registry/pods/b",
            "/registry/pods/c",
            "/registry/pods/d"
        ]
    );
    assert_eq!((all.count, all.more, all.revision), (4, false, now));
    for kv in &all.kvs {
        assert_eq!(
            store.get(&kv.key).await.unwrap().as_ref(),
            Some(kv),
            "range and get agree"
        );
    }

    let first = store
        .range(RangeRequest::prefix(b(prefix)).limit(2))
        .await
        .unwrap();
    assert_eq!(keys(&first.kvs), ["/registry/pods/a", "/registry/pods/b"]);
    assert_eq!((first.count, first.more), (4, true));

    let exact = store
        .range(RangeRequest::prefix(b(prefix)).limit(4))
        .await
        .unwrap();
    assert_eq!((exact.kvs.len(), exact.count, exact.more), (4, 4, false));

    let from_b = store
        .range(RangeRequest::prefix(b(prefix)).start(b("/registry/pods/b")))
        .await
        .unwrap();
    assert_eq!(
        keys(&from_b.kvs),
        ["/registry/pods/b", "/registry/pods/c", "/registry/pods/d"],
        "the start key is inclusive"
    );
    assert_eq!(from_b.count, 3, "count covers the keys from the start on");

    let after_b = store
        .range(
            RangeRequest::prefix(b(prefix))
                .start(b("/registry/pods/b\0"))
                .limit(1),
        )
        .await
        .unwrap();
    assert_eq!(keys(&after_b.kvs), ["/registry/pods/c"]);
    assert_eq!((after_b.count, after_b.more), (2, true));

    let past = store
        .range(RangeRequest::prefix(b(prefix)).at_revision(early))
        .await
        .unwrap();
    assert_eq!(keys(&past.kvs), ["/registry/pods/b", "/registry/pods/d"]);
    assert_eq!((past.count, past.more, past.revision), (2, false, early));

    let none = store
        .range(RangeRequest::prefix(b("/registry/services/")))
        .await
        .unwrap();
    assert_eq!((none.kvs.len(), none.count, none.more), (0, 0, false));
}

/// Paging through 50 keys, 7 at a time, at the revision of the first page while a writer
/// keeps updating, deleting and creating keys under the same prefix: the pages together
/// are exactly the snapshot the first page saw.
pub async fn range_pages_see_one_snapshot<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh(factory).await else {
        return;
    };
    let store = Arc::new(store);
    let mut snapshot = Vec::new();
    for i in 0..50 {
        snapshot.push(
            create(
                &*store,
                &format!("/registry/pods/p{i:03}"),
                &format!("v{i}"),
            )
            .await,
        );
    }
    let prefix = b("/registry/pods/");
    let first = store
        .range(RangeRequest::prefix(prefix.clone()).limit(7))
        .await
        .unwrap();
    assert_eq!(first.count, 50);
    assert!(first.more);
    let at = first.revision;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = Arc::clone(&store);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut writes = 0usize;
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) || writes < 20 {
                let key = format!("/registry/pods/p{:03}", i % 50);
                match i % 3 {
                    0 => {
                        let kv = store.get(key.as_bytes()).await.unwrap();
                        if let Some(kv) = kv {
                            store
                                .update(b(&key), b("changed"), kv.mod_revision)
                                .await
                                .unwrap();
                        }
                    }
                    1 => {
                        let _ = store.delete(key.as_bytes(), None).await;
                    }
                    _ => {
                        let new = format!("/registry/pods/p{:03}x", i % 50);
                        let _ = store.create(b(&new), b("new"), None).await;
                    }
                }
                writes += 1;
                i += 1;
                tokio::task::yield_now().await;
            }
            writes
        })
    };

    let mut seen = first.kvs;
    let mut more = first.more;
    while more {
        // Let the writer get ahead between pages.
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        let last = seen.last().expect("a page with more has keys").key.clone();
        let mut start = last.to_vec();
        start.push(0);
        let page = store
            .range(
                RangeRequest::prefix(prefix.clone())
                    .start(start)
                    .limit(7)
                    .at_revision(at),
            )
            .await
            .unwrap();
        assert_eq!(
            page.revision, at,
            "a page at a revision reports that revision"
        );
        assert_eq!(
            page.count,
            50 - seen.len(),
            "count: the snapshot's keys from the start on"
        );
        assert!(page.kvs.len() <= 7, "the limit holds");
        more = page.more;
        seen.extend(page.kvs);
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.await.expect("the writer panicked");
    assert!(writes >= 20);
    assert!(
        revision(&*store).await > at,
        "writes went on during the paging"
    );
    assert_eq!(seen, snapshot, "the pages are exactly the snapshot");
}

/// `count_only` returns the count and no key-values, at the latest revision and a past one.
pub async fn range_count_only<F: StoreFactory>(factory: &F) {
    let Some((store, _)) = fresh(factory).await else {
        return;
    };
    for i in 0..5 {
        create(&store, &format!("/registry/events/e{i}"), "x").await;
    }
    let at_five = revision(&store).await;
    for i in 5..8 {
        create(&store, &format!("/registry/events/e{i}"), "x").await;
    }
    create(&store, "/registry/other", "x").await;
    let mut request = RangeRequest::prefix(b("/registry/events/"));
    request.count_only = true;
    let now = store.range(request.clone()).await.unwrap();
    assert!(now.kvs.is_empty(), "count_only returns no key-values");
    assert_eq!(now.count, 8);
    let then = store
        .range(request.clone().at_revision(at_five))
        .await
        .unwrap();
    assert!(then.kvs.is_empty());
    assert_eq!(then.count, 5);
    assert_eq!(then.revision, at_five);
    let limited = store.range(request.limit(2)).await.unwrap();
    assert!(limited.kvs.is_empty());
    assert_eq!(limited.count, 8, "the count ignores the limit");
}

/// A range at a revision newer than the current one fails with `FutureRevision`.
pub async fn range_future_revision_fails<F: StoreFactory>(factory: &F) {
    let Some((store, options)) = fresh(factory).await else {
        return;
    };
    create(&store, "/registry/pods/a", "1").await;
    let now = revision(&store).await;
    // On a shared server, others may write meanwhile: ask far enough ahead.
    let ahead = if options.contiguous_revisions {
        1
    } else {
        1_000_000
    };
    let result = store
        .range(RangeRequest::prefix(b("/registry/pods/")).at_revision(now + ahead))
        .await;
    match result {
        Err(StoreError::FutureRevision { requested, current }) => {
            assert_eq!(requested, now + ahead);
            assert!(current >= now && current < now + ahead);
        }
        other => panic!("range at a future revision: expected FutureRevision, got {other:?}"),
    }
}
