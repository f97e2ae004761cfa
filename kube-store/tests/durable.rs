//! `DurableStore` against the conformance suite, across restarts, after `kill -9`, and on
//! data directories it cannot use.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use kube_core::{
    EventKind, KeyValue, LeaseId, RangeRequest, RangeResponse, Revision, Store, StoreError,
    WatchStream,
};
use kube_store::conformance::{Options, WithOptions};
use kube_store::{DurableStore, OpenError, Retention};
use tempfile::TempDir;

/// A durable store in a temporary directory removed with it.
#[derive(Debug)]
struct TempStore {
    store: DurableStore,
    _dir: TempDir,
}

fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    TempStore {
        store: DurableStore::open(dir.path()).unwrap(),
        _dir: dir,
    }
}

#[async_trait]
impl Store for TempStore {
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
    async fn delete(&self, key: &[u8], expected: Option<Revision>) -> Result<KeyValue, StoreError> {
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

// Every write is an fsync: fewer model cases keep the suite to seconds.
kube_store::store_conformance_tests!(WithOptions::new(
    || async { temp_store() },
    Options::default().model_cases(16),
));

fn key(i: usize) -> Bytes {
    format!("/registry/pods/p{i:05}").into()
}

#[tokio::test]
async fn state_history_and_revision_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = DurableStore::open(dir.path()).unwrap();
    let a = store.create(key(1), "a1".into(), None).await.unwrap();
    let a = store
        .update(key(1), "a2".into(), a.mod_revision)
        .await
        .unwrap();
    let b = store.create(key(2), "b1".into(), None).await.unwrap();
    store.delete(&key(2), Some(b.mod_revision)).await.unwrap();
    let lease = store.grant_lease(Duration::from_secs(600)).await.unwrap();
    let c = store
        .create(key(3), "c1".into(), Some(lease))
        .await
        .unwrap();
    let before = store
        .range(RangeRequest::prefix("/registry/"))
        .await
        .unwrap();
    let revision = store.current_revision().await.unwrap();
    let mut history = Vec::new();
    let mut watch = store.watch("/registry/".into(), 1).await.unwrap();
    for _ in 2..=revision {
        history.push(watch.next().await.unwrap().unwrap());
    }
    drop(watch);
    drop(store);

    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), revision);
    assert_eq!(
        store
            .range(RangeRequest::prefix("/registry/"))
            .await
            .unwrap(),
        before
    );
    assert_eq!(store.get(&key(1)).await.unwrap(), Some(a));
    let mut watch = store.watch("/registry/".into(), 1).await.unwrap();
    for event in &history {
        assert_eq!(
            &watch.next().await.unwrap().unwrap(),
            event,
            "history survives"
        );
    }
    let old = store
        .range(RangeRequest::prefix("/registry/").at_revision(b.mod_revision))
        .await
        .unwrap();
    assert_eq!(
        old.count, 2,
        "ranges at past revisions work after a restart"
    );

    // The lease came back too: revoking it deletes its key.
    store.revoke_lease(lease).await.unwrap();
    let event = watch.next().await.unwrap().unwrap();
    assert_eq!((event.kind, event.prev_kv), (EventKind::Delete, Some(c)));
    let next = store.create(key(4), "d".into(), None).await.unwrap();
    assert_eq!(
        next.mod_revision,
        revision + 2,
        "revisions continue where they were"
    );
}

#[tokio::test]
async fn compaction_is_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = DurableStore::open(dir.path()).unwrap();
    let mut kv = store.create(key(1), "0".into(), None).await.unwrap();
    store.create(key(2), "x".into(), None).await.unwrap();
    store.delete(&key(2), None).await.unwrap();
    for i in 1..10 {
        kv = store
            .update(key(1), i.to_string().into(), kv.mod_revision)
            .await
            .unwrap();
    }
    let at = kv.mod_revision - 3;
    store.compact(at).await.unwrap();
    let at_compaction = store
        .range(RangeRequest::prefix("/registry/").at_revision(at))
        .await
        .unwrap();
    let latest = store
        .range(RangeRequest::prefix("/registry/"))
        .await
        .unwrap();
    drop(store);

    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), at);
    assert_eq!(
        store
            .range(RangeRequest::prefix("/registry/"))
            .await
            .unwrap(),
        latest
    );
    assert_eq!(
        store
            .range(RangeRequest::prefix("/registry/").at_revision(at))
            .await
            .unwrap(),
        at_compaction
    );
    assert!(matches!(
        store.watch("/registry/".into(), at - 1).await,
        Err(StoreError::Compacted { .. })
    ));
    let mut watch = store.watch("/registry/".into(), at).await.unwrap();
    assert_eq!(watch.next().await.unwrap().unwrap().revision(), at + 1);
    let next = store
        .update(key(1), "new".into(), kv.mod_revision)
        .await
        .unwrap();
    assert_eq!(next.mod_revision, kv.mod_revision + 1);
    assert_eq!(
        next.version, 11,
        "the version counts from the key's creation"
    );
}

#[tokio::test]
async fn automatic_compaction_reaches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::unbounded().max_revisions(20);
    let store = DurableStore::open_with_retention(dir.path(), retention).unwrap();
    let mut kv = store.create(key(1), "0".into(), None).await.unwrap();
    for i in 0..100 {
        kv = store
            .update(key(1), i.to_string().into(), kv.mod_revision)
            .await
            .unwrap();
    }
    let compacted = store.compacted_revision().await.unwrap();
    assert!(compacted > 0);
    drop(store);
    let store = DurableStore::open_with_retention(dir.path(), retention).unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), compacted);
    assert_eq!(store.get(&key(1)).await.unwrap(), Some(kv));
}

#[test]
fn a_data_dir_it_cannot_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();

    let err = DurableStore::open(&file).unwrap_err();
    assert!(matches!(err, OpenError::DataDir { .. }), "{err:?}");
    assert!(
        err.to_string().contains("a-file"),
        "the message names the path: {err}"
    );

    let err = DurableStore::open(file.join("below")).unwrap_err();
    assert!(matches!(err, OpenError::DataDir { .. }), "{err:?}");

    let garbage = dir.path().join("garbage");
    std::fs::create_dir(&garbage).unwrap();
    let mut bytes = Vec::new();
    for i in 0..100_000u32 {
        bytes.extend_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
    }
    std::fs::write(garbage.join("store.redb"), &bytes).unwrap();
    let err = DurableStore::open(&garbage).unwrap_err();
    assert!(
        matches!(err, OpenError::Database { .. } | OpenError::Corrupt { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("store.redb"), "{err}");
}

#[test]
fn a_data_dir_open_elsewhere_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = DurableStore::open(dir.path()).unwrap();
    let err = DurableStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, OpenError::AlreadyOpen { .. }), "{err:?}");
    drop(store);
    DurableStore::open(dir.path()).unwrap();
}

/// Set for the child process of the crash test: the data directory to write to.
const CRASH_DIR: &str = "KUBE_STORE_CRASH_TEST_DIR";

/// The child of `acknowledged_writes_survive_kill_9`: writes until killed, printing each
/// acknowledged write. Does nothing when run as an ordinary test.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = DurableStore::open(&dir).unwrap();
        let mut counter = match store.get(b"/registry/counter").await.unwrap() {
            Some(kv) => kv,
            None => store
                .create("/registry/counter".into(), "0".into(), None)
                .await
                .unwrap(),
        };
        println!(
            "ack /registry/counter {} {}",
            String::from_utf8_lossy(&counter.value),
            counter.mod_revision
        );
        for i in 0..1_000_000usize {
            let kv = if i % 2 == 0 {
                let value = format!("v{i}");
                store.create(key(i), value.into(), None).await.unwrap()
            } else {
                let next = (String::from_utf8_lossy(&counter.value)
                    .parse::<u64>()
                    .unwrap()
                    + 1)
                .to_string();
                counter = store
                    .update(
                        "/registry/counter".into(),
                        next.into(),
                        counter.mod_revision,
                    )
                    .await
                    .unwrap();
                counter.clone()
            };
            println!(
                "ack {} {} {}",
                String::from_utf8_lossy(&kv.key),
                String::from_utf8_lossy(&kv.value),
                kv.mod_revision
            );
        }
    });
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CRASH_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked: BTreeMap<String, (String, Revision)> = BTreeMap::new();
    let mut last = 0;
    let mut parse = |line: &str, acked: &mut BTreeMap<String, (String, Revision)>| {
        let mut parts = line.split(' ');
        if parts.next() != Some("ack") {
            return;
        }
        let (Some(key), Some(value), Some(revision)) = (parts.next(), parts.next(), parts.next())
        else {
            // The last line may be cut by the kill.
            return;
        };
        let Ok(revision) = revision.parse::<Revision>() else {
            return;
        };
        assert!(revision >= last, "acknowledged revisions grow");
        last = revision;
        acked.insert(key.to_owned(), (value.to_owned(), revision));
    };
    while acked.len() < 150 {
        let line = lines
            .next()
            .expect("the child stopped before writing enough")
            .unwrap();
        parse(&line, &mut acked);
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Lines already written before the kill are acknowledged writes too.
    for line in lines.map_while(Result::ok) {
        parse(&line, &mut acked);
    }
    let last_acked = acked.values().map(|(_, r)| *r).max().unwrap();

    let store = DurableStore::open(dir.path()).unwrap();
    let revision = store.current_revision().await.unwrap();
    assert!(
        revision == last_acked || revision == last_acked + 1,
        "the store is at the last acknowledged write, or one not yet acknowledged \
         ({revision} for {last_acked})"
    );
    for (key, (value, acked_revision)) in &acked {
        let kv = store.get(key.as_bytes()).await.unwrap().unwrap_or_else(|| {
            panic!("acknowledged key {key} at revision {acked_revision} is lost")
        });
        if kv.mod_revision == *acked_revision {
            assert_eq!(kv.value, value.as_bytes(), "{key}");
        } else {
            // Only the counter may have moved on, by the one write not yet acknowledged.
            assert_eq!(key, "/registry/counter");
            assert_eq!(kv.mod_revision, revision);
        }
    }
    // History is whole: every revision since the start is there, in order.
    let mut watch = store.watch("/registry/".into(), 1).await.unwrap();
    for expected in 2..=revision {
        assert_eq!(watch.next().await.unwrap().unwrap().revision(), expected);
    }
    let next = store
        .create("/registry/after".into(), "x".into(), None)
        .await
        .unwrap();
    assert_eq!(
        next.mod_revision,
        revision + 1,
        "writes continue from the last revision"
    );
}
