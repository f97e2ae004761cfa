//! `EtcdStore` against a real etcd: the contract on a server shared by all tests (each on a
//! fresh prefix), and on private servers what a shared one cannot show (compaction,
//! exact revisions, a restart during a watch, TLS with client certificates).
//!
//! Without the `etcd` binary these tests fail under `CI=true` (run
//! scripts/install-etcd.sh) and otherwise say loudly that they skipped.
#![cfg(feature = "etcd")]
// Saying loudly that a test skipped is the point of the prints here.
#![allow(clippy::print_stderr)]
// Test helpers fail the test by panicking, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kube_core::{EventKind, RangeRequest, Store, StoreError, StoreEvent, WatchStream};
use kube_store::etcd_testing::{TestEtcd, TestEtcdError, TestEtcdTls};
use kube_store::{EtcdConfig, EtcdStore, EtcdTls};

/// How long a test waits for a watch event before it counts as missing.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// The skip-or-fail policy for a missing etcd binary.
fn etcd_or_skip(result: Result<TestEtcd, TestEtcdError>) -> Option<TestEtcd> {
    match result {
        Ok(etcd) => Some(etcd),
        Err(TestEtcdError::BinaryNotFound) => {
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!(
                    "the etcd binary is missing, and CI=true: run scripts/install-etcd.sh \
                     (Debian's etcd-server and protobuf-compiler) before the tests"
                );
            }
            eprintln!(
                "\n**********************************************************************\n\
                 ** SKIPPED: etcd tests need the `etcd` binary (run                  **\n\
                 ** scripts/install-etcd.sh, or set ETCD_BIN). This test did NOTHING. **\n\
                 **********************************************************************\n"
            );
            None
        }
        Err(err) => panic!("could not start etcd: {err}"),
    }
}

/// A private etcd, for tests that need a server of their own.
async fn private_etcd() -> Option<TestEtcd> {
    etcd_or_skip(TestEtcd::start().await)
}

/// The endpoint of the server the tests of this file share (started once; its guard kills
/// it when the test process exits).
fn shared_endpoint() -> Option<String> {
    static SERVER: OnceLock<Option<TestEtcd>> = OnceLock::new();
    start_once(&SERVER)
}

fn start_once(server: &'static OnceLock<Option<TestEtcd>>) -> Option<String> {
    server
        .get_or_init(|| {
            // Started on a runtime of its own, outside the test's.
            std::thread::spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                etcd_or_skip(runtime.block_on(TestEtcd::start()))
            })
            .join()
            .unwrap()
        })
        .as_ref()
        .map(TestEtcd::endpoint)
}

/// The conformance suite on `EtcdStore`: each check gets a fresh prefix on the shared
/// server, and the compaction checks a server of their own (compaction is server-wide).
mod conformance {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use bytes::Bytes;
    use kube_core::{
        KeyValue, LeaseId, RangeRequest, RangeResponse, Revision, Store, StoreError, WatchStream,
    };
    use kube_store::EtcdStore;
    use kube_store::conformance::{Options, StoreFactory};
    use kube_store::etcd_testing::TestEtcd;

    use std::sync::OnceLock;

    use tokio::sync::{Mutex, MutexGuard};

    use super::{connect, fresh_prefix, private_etcd, start_once};

    /// An `EtcdStore` that keeps its private server (if any) running, or its turn on the
    /// shared one, while it lives.
    struct TestStore {
        store: EtcdStore,
        _server: Option<Arc<TestEtcd>>,
        _turn: Option<MutexGuard<'static, ()>>,
    }

    #[async_trait]
    impl Store for TestStore {
        async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
            self.store.get(key).await
        }
        async fn range(&self, request: RangeRequest) -> Result<RangeResponse, StoreError> {
            self.store.range(request).await
        }
        async fn create(
            &self,
            key: Bytes,
            value: Bytes,
            lease: Option<LeaseId>,
        ) -> Result<KeyValue, StoreError> {
            self.store.create(key, value, lease).await
        }
        async fn update(
            &self,
            key: Bytes,
            value: Bytes,
            expected: Revision,
        ) -> Result<KeyValue, StoreError> {
            self.store.update(key, value, expected).await
        }
        async fn delete(
            &self,
            key: &[u8],
            expected: Option<Revision>,
        ) -> Result<KeyValue, StoreError> {
            self.store.delete(key, expected).await
        }
        async fn watch(&self, prefix: Bytes, after: Revision) -> Result<WatchStream, StoreError> {
            self.store.watch(prefix, after).await
        }
        async fn current_revision(&self) -> Result<Revision, StoreError> {
            self.store.current_revision().await
        }
        async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
            self.store.compact(revision).await
        }
        async fn compacted_revision(&self) -> Result<Revision, StoreError> {
            self.store.compacted_revision().await
        }
        async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
            self.store.grant_lease(ttl).await
        }
        async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
            self.store.keep_alive(lease).await
        }
        async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError> {
            self.store.revoke_lease(lease).await
        }
    }

    struct EtcdFactory;

    /// The conformance checks' own shared server, and the lock that lets one check at a
    /// time use it. Some checks of the suite compare the current revision with their own
    /// last write even with relaxed revisions, which only holds while nobody else writes;
    /// until the suite guards those comparisons, the checks take turns.
    fn conformance_server() -> Option<String> {
        static SERVER: OnceLock<Option<TestEtcd>> = OnceLock::new();
        start_once(&SERVER)
    }

    static TURN: Mutex<()> = Mutex::const_new(());

    impl StoreFactory for EtcdFactory {
        type Store = TestStore;

        async fn new_store(&self) -> Option<TestStore> {
            let endpoint = conformance_server()?;
            let turn = TURN.lock().await;
            Some(TestStore {
                store: connect(&endpoint, &fresh_prefix()).await,
                _server: None,
                _turn: Some(turn),
            })
        }

        async fn new_exclusive_store(&self) -> Option<TestStore> {
            let server = private_etcd().await?;
            Some(TestStore {
                store: connect(&server.endpoint(), &fresh_prefix()).await,
                _server: Some(Arc::new(server)),
                _turn: None,
            })
        }

        fn options(&self) -> Options {
            // Other tests write to the shared server at the same time; etcd grants leases
            // of at least about 2 s.
            Options::default()
                .relaxed_revisions()
                .lease_ttl(Duration::from_secs(2))
                .model_cases(24)
        }
    }

    kube_store::store_conformance_tests!(EtcdFactory);
}

/// A fresh prefix, unique in this run.
fn fresh_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "/kube-store-test/{}-{}/",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on the shared server, under a fresh prefix.
async fn shared_store() -> Option<EtcdStore> {
    let endpoint = shared_endpoint()?;
    Some(connect(&endpoint, &fresh_prefix()).await)
}

async fn connect(endpoint: &str, prefix: &str) -> EtcdStore {
    EtcdStore::connect(EtcdConfig::new([endpoint]).prefix(prefix.to_owned()))
        .await
        .unwrap()
}

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

async fn next_event(watch: &mut WatchStream) -> StoreEvent {
    tokio::time::timeout(EVENT_TIMEOUT, watch.next())
        .await
        .expect("no watch event in time")
        .expect("the watch ended")
        .expect("the watch failed")
}

#[tokio::test]
async fn create_update_delete_follow_etcd_semantics() {
    let Some(store) = shared_store().await else {
        return;
    };
    let created = store.create(b("/a"), b("1"), None).await.unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.create_revision, created.mod_revision);
    assert_eq!(store.get(b"/a").await.unwrap(), Some(created.clone()));
    assert!(matches!(
        store.create(b("/a"), b("again"), None).await,
        Err(StoreError::AlreadyExists)
    ));

    let updated = store
        .update(b("/a"), b("2"), created.mod_revision)
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.create_revision, created.create_revision);
    assert!(updated.mod_revision > created.mod_revision);
    assert_eq!(store.get(b"/a").await.unwrap(), Some(updated.clone()));

    // A stale revision conflicts, and the error carries the current value.
    match store.update(b("/a"), b("3"), created.mod_revision).await {
        Err(StoreError::Conflict { expected, current }) => {
            assert_eq!(expected, created.mod_revision);
            assert_eq!(*current, updated);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    match store.delete(b"/a", Some(created.mod_revision)).await {
        Err(StoreError::Conflict { current, .. }) => assert_eq!(*current, updated),
        other => panic!("expected a conflict, got {other:?}"),
    }

    let deleted = store
        .delete(b"/a", Some(updated.mod_revision))
        .await
        .unwrap();
    assert_eq!(deleted.value, b("2"));
    assert!(deleted.mod_revision > updated.mod_revision);
    // Other tests write to this server too: the revision is at least this store's last.
    assert!(store.current_revision().await.unwrap() >= deleted.mod_revision);
    assert_eq!(store.get(b"/a").await.unwrap(), None);

    // Gone: every guarded write says so, whatever revision it expects (0 included, which
    // a missing key "has" in etcd).
    for expected in [0, deleted.mod_revision] {
        assert!(matches!(
            store.update(b("/a"), b("x"), expected).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.delete(b"/a", Some(expected)).await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(matches!(
        store.delete(b"/a", None).await,
        Err(StoreError::NotFound)
    ));

    // Created again, it starts over.
    let again = store.create(b("/a"), b("new"), None).await.unwrap();
    assert_eq!(again.version, 1);
    assert!(again.create_revision > deleted.mod_revision);
    let unguarded = store.delete(b"/a", None).await.unwrap();
    assert_eq!(unguarded.value, b("new"));
}

#[tokio::test]
async fn a_range_larger_than_grpcs_default_message_limit_is_read_whole() {
    let Some(store) = shared_store().await else {
        return;
    };
    // Six values of 1 MiB (under etcd's 1.5 MiB request limit): 6 MiB in one response,
    // over gRPC's 4 MiB default.
    let value = Bytes::from(vec![b'x'; 1 << 20]);
    for i in 0..6 {
        store
            .create(b(&format!("/big/{i}")), value.clone(), None)
            .await
            .unwrap();
    }
    let listed = store.range(RangeRequest::prefix("/big/")).await.unwrap();
    assert_eq!(listed.kvs.len(), 6);
    assert!(listed.kvs.iter().all(|kv| kv.value.len() == 1 << 20));
}

#[tokio::test]
async fn empty_keys_and_negative_revisions_are_refused() {
    let Some(store) = shared_store().await else {
        return;
    };
    assert!(matches!(
        store.get(b"").await,
        Err(StoreError::InvalidRequest(_))
    ));
    assert!(matches!(
        store.create(Bytes::new(), b("v"), None).await,
        Err(StoreError::InvalidRequest(_))
    ));
    assert!(matches!(
        store.range(RangeRequest::prefix("/").at_revision(-1)).await,
        Err(StoreError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn prefixes_isolate_stores_on_one_etcd() {
    let Some(endpoint) = shared_endpoint() else {
        return;
    };
    let base = fresh_prefix();
    // The second prefix extends the first: only the separator keeps them apart.
    let outer = connect(&endpoint, &base).await;
    let inner = connect(&endpoint, &format!("{base}x/")).await;
    let rev = outer.current_revision().await.unwrap();
    let mut outer_watch = outer.watch(Bytes::new(), rev).await.unwrap();

    inner.create(b("k"), b("inner"), None).await.unwrap();
    let written = outer.create(b("k"), b("outer"), None).await.unwrap();

    assert_eq!(inner.get(b"k").await.unwrap().unwrap().value, b("inner"));
    assert_eq!(outer.get(b"k").await.unwrap().unwrap().value, b("outer"));
    let inner_list = inner.range(RangeRequest::prefix("")).await.unwrap();
    assert_eq!(inner_list.count, 1);
    assert_eq!(inner_list.kvs[0].key, b("k"));

    // The outer store's range and watch cover the inner store's keys (they are under its
    // prefix, as `x/k`), with the outer prefix stripped, and nothing else.
    let outer_list = outer.range(RangeRequest::prefix("")).await.unwrap();
    let keys: Vec<_> = outer_list.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, [b("k"), b("x/k")]);
    let first = next_event(&mut outer_watch).await;
    assert_eq!(first.kv.key, b("x/k"));
    let second = next_event(&mut outer_watch).await;
    assert_eq!(second.kv, written);
}

#[tokio::test]
async fn range_pages_at_a_fixed_revision_while_writes_continue() {
    let Some(store) = shared_store().await else {
        return;
    };
    for i in 0..10 {
        store
            .create(b(&format!("/items/{i:02}")), b("v"), None)
            .await
            .unwrap();
    }
    store.create(b("/other"), b("v"), None).await.unwrap();

    let first = store
        .range(RangeRequest::prefix("/items/").limit(4))
        .await
        .unwrap();
    assert_eq!(first.kvs.len(), 4);
    assert!(first.more);
    assert_eq!(first.count, 10);
    let at = first.revision;
    assert!(at <= store.current_revision().await.unwrap());

    // Writes after the first page change nothing for the next pages.
    store.delete(b"/items/05", None).await.unwrap();
    store.create(b("/items/99"), b("v"), None).await.unwrap();

    let mut keys: Vec<Bytes> = first.kvs.iter().map(|kv| kv.key.clone()).collect();
    let mut last = first;
    while last.more {
        let mut start = last.kvs.last().unwrap().key.to_vec();
        start.push(0);
        last = store
            .range(
                RangeRequest::prefix("/items/")
                    .limit(4)
                    .at_revision(at)
                    .start(start),
            )
            .await
            .unwrap();
        assert_eq!(last.revision, at);
        keys.extend(last.kvs.iter().map(|kv| kv.key.clone()));
    }
    let expected: Vec<Bytes> = (0..10).map(|i| b(&format!("/items/{i:02}"))).collect();
    assert_eq!(keys, expected);

    // The latest view sees the writes; a start before the prefix stays inside it.
    let latest = store
        .range(RangeRequest::prefix("/items/").start("/"))
        .await
        .unwrap();
    assert_eq!(latest.count, 10);
    assert!(latest.kvs.iter().any(|kv| kv.key == b("/items/99")));
    let counted = store
        .range(RangeRequest {
            count_only: true,
            ..RangeRequest::prefix("/items/")
        })
        .await
        .unwrap();
    assert_eq!((counted.count, counted.kvs.len()), (10, 0));

    // A revision in the future is refused.
    let future = store.current_revision().await.unwrap() + 1000;
    assert!(matches!(
        store.range(RangeRequest::prefix("/").at_revision(future)).await,
        Err(StoreError::FutureRevision { requested, .. }) if requested == future
    ));
}

#[tokio::test]
async fn watch_streams_puts_and_deletes_with_previous_values() {
    let Some(store) = shared_store().await else {
        return;
    };
    let before = store.create(b("/w/old"), b("0"), None).await.unwrap();
    let from = before.mod_revision;
    let mut watch = store.watch(b("/w/"), from).await.unwrap();

    let created = store.create(b("/w/a"), b("1"), None).await.unwrap();
    store.create(b("/elsewhere"), b("x"), None).await.unwrap();
    let updated = store
        .update(b("/w/a"), b("2"), created.mod_revision)
        .await
        .unwrap();
    let deleted = store.delete(b"/w/a", None).await.unwrap();

    let event = next_event(&mut watch).await;
    assert_eq!(event.kind, EventKind::Put);
    assert_eq!(event.kv, created);
    assert_eq!(event.prev_kv, None);

    let event = next_event(&mut watch).await;
    assert_eq!(event.kind, EventKind::Put);
    assert_eq!(event.kv, updated);
    assert_eq!(event.prev_kv, Some(created));

    let event = next_event(&mut watch).await;
    assert_eq!(event.kind, EventKind::Delete);
    assert_eq!(event.kv, deleted);
    assert_eq!(event.kv.value, b("2"));
    assert_eq!(event.revision(), deleted.mod_revision);
    assert_eq!(event.prev_kv, Some(updated));

    // A watch from an older revision replays the same history, the create of `old` first
    // (it is after `from - 1`).
    let mut replay = store.watch(b("/w/"), from - 1).await.unwrap();
    assert_eq!(next_event(&mut replay).await.kv, before);
    assert_eq!(next_event(&mut replay).await.kind, EventKind::Put);
}

#[tokio::test]
async fn leases_expire_renew_and_revoke_through_etcd() {
    let Some(store) = shared_store().await else {
        return;
    };
    assert!(matches!(
        store.create(b("/l/bad"), b("v"), Some(0x7eadbeef)).await,
        Err(StoreError::LeaseNotFound(0x7eadbeef))
    ));

    let lease = store.grant_lease(Duration::from_secs(30)).await.unwrap();
    let kv = store.create(b("/l/k"), b("v"), Some(lease)).await.unwrap();
    assert_eq!(kv.lease, Some(lease));
    // An update keeps the lease.
    let kv = store
        .update(b("/l/k"), b("w"), kv.mod_revision)
        .await
        .unwrap();
    assert_eq!(kv.lease, Some(lease));
    assert_eq!(
        store.get(b"/l/k").await.unwrap().unwrap().lease,
        Some(lease)
    );
    store.keep_alive(lease).await.unwrap();

    let mut watch = store.watch(b("/l/"), kv.mod_revision).await.unwrap();
    store.revoke_lease(lease).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!(event.kind, EventKind::Delete);
    assert_eq!(event.kv.key, b("/l/k"));
    assert_eq!(store.get(b"/l/k").await.unwrap(), None);
    assert!(matches!(
        store.keep_alive(lease).await,
        Err(StoreError::LeaseNotFound(id)) if id == lease
    ));
    assert!(matches!(
        store.revoke_lease(lease).await,
        Err(StoreError::LeaseNotFound(id)) if id == lease
    ));

    // A short lease expires by itself (etcd's minimum TTL applies) and deletes its key.
    let short = store.grant_lease(Duration::from_millis(100)).await.unwrap();
    let kv = store
        .create(b("/l/short"), b("v"), Some(short))
        .await
        .unwrap();
    let mut watch = store.watch(b("/l/short"), kv.mod_revision).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!(event.kind, EventKind::Delete);
    assert_eq!(event.kv.value, b("v"));
}

/// On a private server, revisions are exactly the contract's: 1 when empty, +1 per write.
#[tokio::test]
async fn revisions_start_at_one_and_count_every_write() {
    let Some(etcd) = private_etcd().await else {
        return;
    };
    let store = connect(&etcd.endpoint(), "/p/").await;
    assert_eq!(store.current_revision().await.unwrap(), 1);
    let kv = store.create(b("a"), b("1"), None).await.unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision), (2, 2));
    assert!(store.create(b("a"), b("1"), None).await.is_err());
    let kv = store.update(b("a"), b("2"), 2).await.unwrap();
    assert_eq!(kv.mod_revision, 3);
    assert!(store.update(b("a"), b("3"), 2).await.is_err());
    let kv = store.delete(b"a", Some(3)).await.unwrap();
    assert_eq!(kv.mod_revision, 4);
    assert_eq!(store.current_revision().await.unwrap(), 4);
}

#[tokio::test]
async fn compaction_is_physical_and_old_revisions_fail_with_compacted() {
    let Some(etcd) = private_etcd().await else {
        return;
    };
    let store = connect(&etcd.endpoint(), "/c/").await;
    assert_eq!(store.compacted_revision().await.unwrap(), 0);
    let first = store.create(b("k"), b("1"), None).await.unwrap();
    let second = store
        .update(b("k"), b("2"), first.mod_revision)
        .await
        .unwrap();
    let third = store
        .update(b("k"), b("3"), second.mod_revision)
        .await
        .unwrap();

    store.compact(second.mod_revision).await.unwrap();
    assert_eq!(
        store.compacted_revision().await.unwrap(),
        second.mod_revision
    );
    // At or below an earlier compaction: a no-op.
    store.compact(first.mod_revision).await.unwrap();
    store.compact(second.mod_revision).await.unwrap();
    assert_eq!(
        store.compacted_revision().await.unwrap(),
        second.mod_revision
    );
    // Beyond the current revision: refused.
    let current = store.current_revision().await.unwrap();
    assert!(matches!(
        store.compact(current + 10).await,
        Err(StoreError::FutureRevision { requested, current: now })
            if requested == current + 10 && now == current
    ));

    match store
        .range(RangeRequest::prefix("").at_revision(first.mod_revision))
        .await
    {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!(requested, first.mod_revision);
            assert_eq!(compacted, second.mod_revision);
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    // History below the compaction is gone for watches too.
    match store.watch(Bytes::new(), first.mod_revision).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!(requested, first.mod_revision);
            assert_eq!(compacted, second.mod_revision);
        }
        Err(other) => panic!("expected Compacted, got {other:?}"),
        Ok(_) => panic!("expected Compacted, got a watch"),
    }
    // At the compaction revision, reads and watches still work.
    let page = store
        .range(RangeRequest::prefix("").at_revision(second.mod_revision))
        .await
        .unwrap();
    assert_eq!(page.kvs, [second]);
    let mut watch = store
        .watch(Bytes::new(), third.mod_revision - 1)
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.kv, third);
}

/// Waits until the watch has delivered `count` events, and returns them.
async fn collect(watch: &mut WatchStream, count: usize) -> Vec<StoreEvent> {
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        events.push(next_event(watch).await);
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_across_an_etcd_restart_without_loss_or_repeat() {
    let Some(mut etcd) = private_etcd().await else {
        return;
    };
    let store = EtcdStore::connect(
        EtcdConfig::new([etcd.endpoint()])
            .prefix("/r/")
            .request_timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch(Bytes::new(), start).await.unwrap();

    // One etcd transaction may change several keys at one revision (here written through
    // the raw client; etcd does it itself when a lease expires): all events of that
    // revision must come through once, across the break.
    let mut raw = store.client().clone();
    let multi = etcd_client::Txn::new().and_then(
        (0..3)
            .map(|i| etcd_client::TxnOp::put(format!("/r/multi/{i}"), "v", None))
            .collect::<Vec<_>>(),
    );
    let shared_revision = raw.txn(multi).await.unwrap().header().unwrap().revision();
    let mut written = Vec::new();
    for i in 0..20 {
        let kv = store
            .create(b(&format!("before/{i:02}")), b("v"), None)
            .await
            .unwrap();
        written.push(kv.mod_revision);
    }
    let mut deleted = raw
        .txn(
            etcd_client::Txn::new().and_then(
                (0..3)
                    .map(|i| etcd_client::TxnOp::delete(format!("/r/multi/{i}"), None))
                    .collect::<Vec<_>>(),
            ),
        )
        .await
        .unwrap();
    let deleted_revision = deleted.take_header().unwrap().revision();
    // 3 puts at one revision + 20 before + 3 deletes at one revision + 1 + 20 after.
    let total = 3 + 20 + 3 + 1 + 20;

    // The consumer reads on while etcd goes down and comes back: it sees the broken
    // stream, fails to reconnect for a while, then resumes.
    let first = collect(&mut watch, 10).await;
    let consumer = tokio::spawn(async move {
        let rest = collect(&mut watch, total - 10).await;
        (rest, watch)
    });
    etcd.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    etcd.restart().await.unwrap();

    // The store's own requests recover once etcd is back.
    let mut resumed = None;
    for _ in 0..100 {
        match store.create(b("after/first"), b("v"), None).await {
            Ok(kv) => {
                resumed = Some(kv);
                break;
            }
            Err(StoreError::Unavailable { .. }) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // A try that timed out may have been applied all the same.
            Err(StoreError::AlreadyExists) => {
                resumed = store.get(b"after/first").await.unwrap();
                break;
            }
            Err(err) => panic!("unexpected error after the restart: {err}"),
        }
    }
    let resumed = resumed.expect("etcd did not come back");
    for i in 0..20 {
        store
            .create(b(&format!("after/{i:02}")), b("v"), None)
            .await
            .unwrap();
    }
    let (rest, mut watch) = consumer.await.unwrap();
    let seen: Vec<StoreEvent> = first.into_iter().chain(rest).collect();

    // Every write exactly once, in revision order.
    assert!(
        seen.windows(2)
            .all(|pair| pair[0].revision() <= pair[1].revision())
    );
    let keys_at = |revision| {
        let mut keys: Vec<_> = seen
            .iter()
            .filter(|e| e.revision() == revision)
            .map(|e| (e.kind, e.kv.key.clone()))
            .collect();
        keys.sort_by(|x, y| x.1.cmp(&y.1));
        keys
    };
    let multi = |kind| {
        (0..3)
            .map(|i| (kind, b(&format!("multi/{i}"))))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys_at(shared_revision), multi(EventKind::Put));
    assert_eq!(keys_at(deleted_revision), multi(EventKind::Delete));
    let singles: Vec<_> = seen
        .iter()
        .filter(|e| e.revision() != shared_revision && e.revision() != deleted_revision)
        .map(StoreEvent::revision)
        .collect();
    assert_eq!(singles.len(), 41);
    assert!(
        singles.windows(2).all(|pair| pair[0] < pair[1]),
        "an event was repeated"
    );
    assert_eq!(singles[..20], written[..]);
    assert!(singles.contains(&resumed.mod_revision));
    assert_eq!(
        seen.last().unwrap().revision(),
        store.current_revision().await.unwrap()
    );

    // Nothing more is pending.
    let extra = tokio::time::timeout(Duration::from_millis(300), watch.next()).await;
    assert!(extra.is_err(), "unexpected extra event: {extra:?}");
}

/// A CA, and certificates it signed, as PEM files in a directory.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Pki {
    fn new() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test etcd CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(params, ca_key).unwrap();
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
            ca_pem: ca.pem(),
        };
        std::fs::write(pki.path("ca.pem"), &pki.ca_pem).unwrap();
        pki.issue(&ca, "server", rcgen::ExtendedKeyUsagePurpose::ServerAuth);
        pki.issue(&ca, "client", rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        pki
    }

    fn issue(
        &self,
        ca: &rcgen::CertifiedIssuer<'_, rcgen::KeyPair>,
        name: &str,
        usage: rcgen::ExtendedKeyUsagePurpose,
    ) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, ca).unwrap();
        std::fs::write(self.path(&format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    }

    fn path(&self, file: &str) -> std::path::PathBuf {
        self.dir.path().join(file)
    }
}

#[tokio::test]
async fn tls_with_client_certificates() {
    let pki = Pki::new();
    let Some(etcd) = etcd_or_skip(
        TestEtcd::start_tls(TestEtcdTls {
            ca_file: pki.path("ca.pem"),
            cert_file: pki.path("server.pem"),
            key_file: pki.path("server-key.pem"),
        })
        .await,
    ) else {
        return;
    };
    assert!(etcd.endpoint().starts_with("https://"));

    let tls = EtcdTls::from_pem_files(
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client-key.pem"),
    )
    .unwrap();
    let store = EtcdStore::connect(EtcdConfig::new([etcd.endpoint()]).prefix("/tls/").tls(tls))
        .await
        .unwrap();
    let kv = store.create(b("k"), b("secret"), None).await.unwrap();
    assert_eq!(store.get(b"k").await.unwrap(), Some(kv.clone()));
    let mut watch = store
        .watch(Bytes::new(), kv.mod_revision - 1)
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.kv, kv);

    // Without a client certificate, etcd refuses the connection.
    let quick = |config: EtcdConfig| {
        config
            .connect_timeout(Duration::from_secs(2))
            .request_timeout(Duration::from_secs(2))
    };
    let anonymous = EtcdStore::connect(quick(
        EtcdConfig::new([etcd.endpoint()]).tls(EtcdTls::new(pki.ca_pem.clone())),
    ))
    .await;
    assert!(anonymous.is_err(), "connected without a client certificate");
    // Nor does plain HTTP get in.
    let plain = EtcdStore::connect(quick(EtcdConfig::new([etcd
        .endpoint()
        .replace("https://", "http://")])))
    .await;
    assert!(plain.is_err(), "connected over plain HTTP");
}

#[tokio::test]
async fn the_harness_restarts_on_the_same_data_and_cleans_up() {
    let Some(mut etcd) = private_etcd().await else {
        return;
    };
    let store = connect(&etcd.endpoint(), "/h/").await;
    let kv = store.create(b("k"), b("kept"), None).await.unwrap();
    let data = etcd.data_dir();
    assert!(data.exists());

    etcd.restart().await.unwrap();
    assert!(etcd.is_running());
    let store = connect(&etcd.endpoint(), "/h/").await;
    assert_eq!(store.get(b"k").await.unwrap(), Some(kv));

    drop(etcd);
    assert!(!data.exists(), "the data directory outlived the server");
    assert!(
        EtcdStore::connect(
            EtcdConfig::new([store.config().endpoints[0].clone()])
                .connect_timeout(Duration::from_millis(500))
                .request_timeout(Duration::from_millis(500))
        )
        .await
        .is_err(),
        "etcd still answers after drop"
    );
}
