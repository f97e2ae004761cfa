//! The watch cache: one store watch per resource, its objects held in memory and its
//! events fanned out to every watcher through a bounded broadcast channel.
//!
//! A watcher that falls behind by more than the channel's capacity is cut off (its stream
//! ends and the client relists), so a slow reader never stalls the others or grows memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kube_core::{Error, EventKind, RangeRequest, Revision, Store};
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::{OnceCell, broadcast, watch};

use super::object::decode_stored;

/// One object as the cache holds it: decoded, and encoded once for every reader.
#[derive(Debug)]
pub(crate) struct CachedObject {
    /// The store key.
    pub(crate) key: String,
    /// The object, with its resourceVersion.
    pub(crate) value: Value,
    /// The object encoded as JSON.
    pub(crate) json: Bytes,
    /// Its revision.
    pub(crate) revision: Revision,
}

impl CachedObject {
    pub(crate) fn new(key: String, value: Value, revision: Revision) -> Self {
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        Self {
            key,
            value,
            json,
            revision,
        }
    }

    /// Decodes a store value.
    pub(crate) fn decode(key: &[u8], bytes: &[u8], revision: Revision) -> Result<Self, Error> {
        let value = decode_stored(bytes, revision)?;
        Ok(Self::new(
            String::from_utf8_lossy(key).into_owned(),
            value,
            revision,
        ))
    }
}

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    /// Created (or present when the watch started).
    Added,
    /// Changed.
    Modified,
    /// Removed; the object is its last state.
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, shared by every watcher.
#[derive(Debug)]
pub(crate) struct CacheEvent {
    pub(crate) kind: EventType,
    pub(crate) object: Arc<CachedObject>,
    pub(crate) prev: Option<Arc<CachedObject>>,
    pub(crate) revision: Revision,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, Arc<CachedObject>>,
    history: VecDeque<Arc<CacheEvent>>,
    /// The revision the cache has seen everything up to.
    revision: Revision,
    /// The history holds every event after this revision.
    floor: Revision,
}

/// How a subscription begins: the events to replay first, and the live channel.
pub(crate) struct Subscription {
    pub(crate) initial: Vec<Arc<CacheEvent>>,
    pub(crate) receiver: broadcast::Receiver<Arc<CacheEvent>>,
    pub(crate) revision: Revision,
}

/// The cache of one resource (one store prefix).
#[derive(Debug)]
pub(crate) struct WatchCache {
    state: RwLock<State>,
    sender: broadcast::Sender<Arc<CacheEvent>>,
    progress: watch::Sender<Revision>,
    history_len: usize,
    /// The task that follows the store, stopped with the cache.
    follower: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl WatchCache {
    /// Lists the prefix and starts following it.
    async fn start(
        store: Arc<dyn Store>,
        prefix: String,
        capacity: usize,
        history_len: usize,
    ) -> Result<Arc<Self>, Error> {
        let (sender, _) = broadcast::channel(capacity.max(1));
        let (progress, _) = watch::channel(0);
        let cache = Arc::new(Self {
            state: RwLock::new(State::default()),
            sender,
            progress,
            history_len,
            follower: Mutex::new(None),
        });
        let revision = cache.resync(&*store, &prefix).await?;
        let weak = Arc::downgrade(&cache);
        let follower = tokio::spawn(async move {
            let mut after = revision;
            loop {
                let stream = store.watch(prefix.clone().into(), after).await;
                if let Ok(mut stream) = stream {
                    while let Some(item) = stream.next().await {
                        let Some(cache) = weak.upgrade() else { return };
                        match item {
                            Ok(ev) => {
                                after = ev.revision();
                                cache.apply(&ev);
                            }
                            Err(e) => {
                                tracing::warn!(prefix, error = %e, "watch cache lost its store watch");
                                break;
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Some(cache) = weak.upgrade() else { return };
                match cache.resync(&*store, &prefix).await {
                    Ok(rev) => after = rev,
                    Err(e) => tracing::warn!(prefix, error = %e, "watch cache resync failed"),
                }
            }
        });
        *cache.follower.lock() = Some(follower);
        Ok(cache)
    }

    /// Stops following the store; the returned task ends soon after (await it to be sure).
    fn stop(&self) -> Option<tokio::task::JoinHandle<()>> {
        let task = self.follower.lock().take();
        if let Some(task) = &task {
            task.abort();
        }
        task
    }

    /// Lists the prefix and replaces the objects, emitting the differences as events.
    async fn resync(&self, store: &dyn Store, prefix: &str) -> Result<Revision, Error> {
        let resp = store
            .range(RangeRequest::prefix(prefix.to_owned()))
            .await
            .map_err(super::registry::store_error)?;
        let mut fresh = BTreeMap::new();
        for kv in &resp.kvs {
            let obj = CachedObject::decode(&kv.key, &kv.value, kv.mod_revision)?;
            fresh.insert(obj.key.clone(), Arc::new(obj));
        }
        let mut state = self.state.write();
        let rev = resp.revision;
        let mut events = Vec::new();
        for (k, old) in &state.objects {
            match fresh.get(k) {
                None => events.push(CacheEvent {
                    kind: EventType::Deleted,
                    object: old.clone(),
                    prev: Some(old.clone()),
                    revision: rev,
                }),
                Some(new) if new.revision != old.revision => events.push(CacheEvent {
                    kind: EventType::Modified,
                    object: new.clone(),
                    prev: Some(old.clone()),
                    revision: rev,
                }),
                Some(_) => {}
            }
        }
        for (k, new) in &fresh {
            if !state.objects.contains_key(k) {
                events.push(CacheEvent {
                    kind: EventType::Added,
                    object: new.clone(),
                    prev: None,
                    revision: rev,
                });
            }
        }
        state.objects = fresh;
        state.history.clear();
        state.revision = state.revision.max(rev);
        state.floor = state.revision;
        for ev in events {
            let _ = self.sender.send(Arc::new(ev));
        }
        self.progress.send_replace(state.revision);
        Ok(rev)
    }

    fn apply(&self, ev: &kube_core::StoreEvent) {
        let rev = ev.revision();
        let key = String::from_utf8_lossy(&ev.kv.key).into_owned();
        let mut state = self.state.write();
        if rev <= state.revision {
            return;
        }
        let prev = state.objects.get(&key).cloned();
        let event = match ev.kind {
            EventKind::Put => match CachedObject::decode(&ev.kv.key, &ev.kv.value, rev) {
                Ok(obj) => {
                    let obj = Arc::new(obj);
                    state.objects.insert(key, obj.clone());
                    CacheEvent {
                        kind: if prev.is_some() {
                            EventType::Modified
                        } else {
                            EventType::Added
                        },
                        object: obj,
                        prev,
                        revision: rev,
                    }
                }
                Err(e) => {
                    tracing::warn!(key, error = %e, "undecodable object in the store");
                    state.revision = rev;
                    return;
                }
            },
            EventKind::Delete => {
                state.objects.remove(&key);
                let last = match prev.clone() {
                    Some(p) => {
                        let mut value = p.value.clone();
                        super::object::set_meta(
                            &mut value,
                            "resourceVersion",
                            Value::String(rev.to_string()),
                        );
                        Arc::new(CachedObject::new(key, value, rev))
                    }
                    None => match CachedObject::decode(&ev.kv.key, &ev.kv.value, rev) {
                        Ok(o) => Arc::new(o),
                        Err(_) => {
                            state.revision = rev;
                            return;
                        }
                    },
                };
                CacheEvent {
                    kind: EventType::Deleted,
                    object: last,
                    prev,
                    revision: rev,
                }
            }
        };
        let event = Arc::new(event);
        state.revision = rev;
        state.history.push_back(event.clone());
        while state.history.len() > self.history_len {
            if let Some(old) = state.history.pop_front() {
                state.floor = old.revision;
            }
        }
        let _ = self.sender.send(event);
        self.progress.send_replace(rev);
    }

    /// Waits until the cache has seen `revision` (bounded by a timeout).
    pub(crate) async fn wait_for(&self, revision: Revision) -> Result<(), Error> {
        let mut rx = self.progress.subscribe();
        let wait = rx.wait_for(|r| *r >= revision);
        match tokio::time::timeout(Duration::from_secs(3), wait).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::Timeout(format!(
                "Too large resource version: {revision}, the cache has not caught up"
            ))),
        }
    }

    /// Every object, in key order, and the revision they are at.
    pub(crate) fn snapshot(&self, prefix: &str) -> (Vec<Arc<CachedObject>>, Revision) {
        let state = self.state.read();
        let items = state
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect();
        (items, state.revision)
    }

    /// One object by key.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.state.read().objects.get(key).cloned()
    }

    /// The revision the cache is at.
    pub(crate) fn revision(&self) -> Revision {
        self.state.read().revision
    }

    /// Subscribes: from now with every current object as `Added` (`None`), or after a
    /// revision still in the cache's history. `Err` carries the oldest revision the
    /// history can replay after, when `after` is older.
    pub(crate) fn subscribe(
        &self,
        after: Option<Revision>,
        prefix: &str,
    ) -> Result<Subscription, Revision> {
        let state = self.state.read();
        let initial = match after {
            None => state
                .objects
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, o)| {
                    Arc::new(CacheEvent {
                        kind: EventType::Added,
                        object: o.clone(),
                        prev: None,
                        revision: o.revision,
                    })
                })
                .collect(),
            Some(rev) => {
                let oldest = state.floor;
                if rev < oldest {
                    return Err(oldest);
                }
                state
                    .history
                    .iter()
                    .filter(|e| e.revision > rev)
                    .cloned()
                    .collect()
            }
        };
        Ok(Subscription {
            initial,
            receiver: self.sender.subscribe(),
            revision: state.revision,
        })
    }

    /// How many watchers are subscribed.
    pub(crate) fn watchers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// The caches of every resource, started on first use.
#[derive(Debug)]
pub(crate) struct WatchCaches {
    caches: Mutex<HashMap<String, Arc<OnceCell<Arc<WatchCache>>>>>,
    written: Mutex<HashMap<String, Revision>>,
    capacity: usize,
    history_len: usize,
}

impl WatchCaches {
    pub(crate) fn new(capacity: usize, history_len: usize) -> Self {
        Self {
            caches: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
            capacity,
            history_len,
        }
    }

    /// The cache of a resource prefix, started if needed.
    pub(crate) async fn get(
        &self,
        store: &Arc<dyn Store>,
        prefix: &str,
    ) -> Result<Arc<WatchCache>, Error> {
        let cell = self
            .caches
            .lock()
            .entry(prefix.to_owned())
            .or_default()
            .clone();
        let cache = cell
            .get_or_try_init(|| {
                WatchCache::start(
                    store.clone(),
                    prefix.to_owned(),
                    self.capacity,
                    self.history_len,
                )
            })
            .await?;
        Ok(cache.clone())
    }

    /// Records a write this server made under a prefix, so that a consistent read from the
    /// cache waits for it.
    pub(crate) fn wrote(&self, prefix: &str, revision: Revision) {
        let mut w = self.written.lock();
        let e = w.entry(prefix.to_owned()).or_insert(0);
        *e = (*e).max(revision);
    }

    /// The last revision this server wrote under a prefix.
    pub(crate) fn last_write(&self, prefix: &str) -> Revision {
        self.written.lock().get(prefix).copied().unwrap_or(0)
    }

    /// Stops every cache's store watch and forgets the caches (the server is shutting
    /// down: nothing may keep the store open after it).
    pub(crate) async fn shutdown(&self) {
        let caches: Vec<_> = self.caches.lock().drain().map(|(_, c)| c).collect();
        let tasks: Vec<_> = caches
            .iter()
            .filter_map(|cell| cell.get().and_then(|cache| cache.stop()))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// The number of watchers over every cache.
    pub(crate) fn watcher_count(&self) -> usize {
        self.caches
            .lock()
            .values()
            .filter_map(|c| c.get())
            .map(|c| c.watchers())
            .sum()
    }
}
