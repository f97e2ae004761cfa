//! The watch cache: one store watch per resource, its objects held in memory and its
//! events fanned out to every watcher through a bounded broadcast channel.
//!
//! Objects are held as the JSON they are served as: a store write costs a copy of its
//! bytes with the resourceVersion spliced in, and an object is decoded only when a
//! selector, a table or a check asks for its value (see [`CachedObject`]).
//!
//! A watcher that falls behind by more than the channel's capacity is cut off (its stream
//! ends and the client relists), so a slow reader never stalls the others or grows memory.
//!
//! Pods are also indexed by `spec.nodeName`, as Kubernetes' watch cache does: a watch
//! whose field selector pins `spec.nodeName` (every kubelet's) gets its own bounded
//! channel and only the events of pods that are or were on that node, instead of every
//! pod event of the cluster. Without the index each pod event wakes every kubelet's
//! watch, O(nodes) work per event.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kube_core::{Error, EventKind, RangeRequest, Revision, Store};
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::{OnceCell, broadcast, mpsc, watch};

use super::followers::Followers;
use super::selector::FieldSelector;
use super::splice::splice;

/// How long a follower waits, once the store has nothing ready, before it waits on the
/// store's watch: the delay it may add to an event, against one wake-up of the follower
/// thread per write under load.
const FOLLOW_PAUSE: Duration = Duration::from_millis(1);

/// The resources whose watchers are indexed, and the field they are indexed by.
const INDEXES: &[(&str, &str)] = &[("/registry/pods/", "spec.nodeName")];

/// The live events of a subscription.
pub(crate) enum Receiver {
    /// Every event of the resource.
    Broadcast(broadcast::Receiver<Arc<CacheEvent>>),
    /// Only the events of objects whose indexed field has (or had) the watcher's value,
    /// and the cache's progress, so that bookmarks can move past events meant for
    /// others.
    Indexed {
        /// The events; the sender is dropped when the watcher falls too far behind.
        events: mpsc::Receiver<Arc<CacheEvent>>,
        /// The revision the cache has dispatched every event up to.
        progress: watch::Receiver<Revision>,
    },
}

/// One object as the cache holds it: its JSON as served (with its resourceVersion), and
/// its decoded value only once something asks for it.
///
/// Most watchers and every list without selectors are served the JSON as it is, so a
/// write costs a copy of the store's bytes with the revision spliced in (see
/// [`super::splice`]), not a decode and an encode. The value is decoded the first time a
/// selector, a table or a check needs it and kept with the object: one decode per object
/// version however many watchers ask (decoding per watcher would make a selector
/// watcher's cost grow with their number).
#[derive(Debug)]
pub(crate) struct CachedObject {
    /// The store key.
    pub(crate) key: String,
    /// The object encoded as JSON, with its resourceVersion.
    pub(crate) json: Bytes,
    /// Its revision.
    pub(crate) revision: Revision,
    /// The value of the resource's indexed field (see [`INDEXES`]), read when the object
    /// was stored.
    index: Option<IndexValue>,
    /// The object decoded from `json`, once asked for; `None` inside when it does not
    /// decode (deeper than the decoder's nesting limit).
    value: OnceLock<Option<Value>>,
}

/// The value an object has in its resource's indexed field.
#[derive(Clone, Debug)]
struct IndexValue {
    field: &'static str,
    value: Box<str>,
}

impl CachedObject {
    /// Makes a store value servable: its bytes with the resourceVersion set to
    /// `revision`, and the value of `index_field` when the resource has one. Fails when
    /// the bytes are not a JSON object with an object `metadata`.
    pub(crate) fn decode(
        key: &[u8],
        bytes: &[u8],
        revision: Revision,
        index_field: Option<&'static str>,
    ) -> Result<Self, Error> {
        let spliced = splice(bytes, revision, index_field)?;
        Ok(Self {
            key: String::from_utf8_lossy(key).into_owned(),
            json: Bytes::from(spliced.json),
            revision,
            index: index_field
                .zip(spliced.field)
                .map(|(field, value)| IndexValue {
                    field,
                    value: value.into_boxed_str(),
                }),
            value: OnceLock::new(),
        })
    }

    /// The object as a delete at `revision` reports it: this last state with the
    /// delete's resourceVersion.
    pub(crate) fn deleted_at(&self, revision: Revision) -> Result<Self, Error> {
        let spliced = splice(&self.json, revision, None)?;
        Ok(Self {
            key: self.key.clone(),
            json: Bytes::from(spliced.json),
            revision,
            index: self.index.clone(),
            value: OnceLock::new(),
        })
    }

    /// The value of the resource's indexed field, when it has one and it is not empty.
    fn indexed_value(&self) -> Option<&str> {
        Some(self.index_value()).filter(|v| !v.is_empty())
    }

    /// The object decoded, the first time it is asked for (then kept). `None` when its
    /// JSON, valid as it is, still does not decode (nested too deep).
    pub(crate) fn value(&self) -> Option<&Value> {
        self.value
            .get_or_init(|| match kube_core::wire::from_json(&self.json) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(key = %self.key, error = %e, "a cached object does not decode");
                    None
                }
            })
            .as_ref()
    }

    /// A field known without decoding the object: the resource's indexed field, as a
    /// field selector sees it. `None` for any other field.
    pub(crate) fn known_field(&self, field: &str) -> Option<&str> {
        self.index
            .as_ref()
            .filter(|i| i.field == field)
            .map(|i| &*i.value)
    }

    /// The value of the resource's indexed field (empty when the object has none).
    fn index_value(&self) -> &str {
        self.index.as_ref().map_or("", |i| &i.value)
    }
}

/// The field the watchers of a resource (by its key prefix, such as `/registry/pods/`)
/// are indexed by, if any.
pub(crate) fn index_field(prefix: &str) -> Option<&'static str> {
    INDEXES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, field)| *field)
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
    /// The keys of the objects by their non-empty indexed field (pods by node), so that
    /// a kubelet's list is O(its pods), not a scan of every pod.
    by_index: HashMap<Box<str>, BTreeSet<String>>,
    history: VecDeque<Arc<CacheEvent>>,
    /// The revision the cache has seen everything up to.
    revision: Revision,
    /// The history holds every event after this revision.
    floor: Revision,
}

impl State {
    /// Files `obj` under its indexed value, and takes `prev` (the key's previous
    /// version) out of its own.
    fn reindex(&mut self, prev: Option<&CachedObject>, obj: Option<&CachedObject>) {
        let old = prev.and_then(CachedObject::indexed_value);
        let new = obj.and_then(CachedObject::indexed_value);
        if old == new {
            return;
        }
        if let (Some(old), Some(p)) = (old, prev) {
            if let Some(keys) = self.by_index.get_mut(old) {
                keys.remove(&p.key);
                if keys.is_empty() {
                    self.by_index.remove(old);
                }
            }
        }
        if let (Some(new), Some(o)) = (new, obj) {
            self.by_index
                .entry(new.into())
                .or_default()
                .insert(o.key.clone());
        }
    }
}

/// How a subscription begins: the events to replay first, and the live channel.
pub(crate) struct Subscription {
    pub(crate) initial: Vec<Arc<CacheEvent>>,
    pub(crate) receiver: Receiver,
    pub(crate) revision: Revision,
}

/// The cache of one resource (one store prefix).
#[derive(Debug)]
pub(crate) struct WatchCache {
    state: RwLock<State>,
    sender: broadcast::Sender<Arc<CacheEvent>>,
    progress: watch::Sender<Revision>,
    history_len: usize,
    /// The events an indexed watcher may fall behind before it is cut off.
    capacity: usize,
    /// The field this resource's watchers may be indexed by.
    index: Option<&'static str>,
    /// The indexed watchers, by the value of the field they select.
    indexed: Mutex<HashMap<String, Vec<mpsc::Sender<Arc<CacheEvent>>>>>,
    /// The task that follows the store, stopped with the cache.
    follower: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl WatchCache {
    /// An empty cache of a prefix that follows nothing yet.
    pub(crate) fn new(prefix: &str, capacity: usize, history_len: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        let (progress, _) = watch::channel(0);
        Self {
            state: RwLock::new(State::default()),
            sender,
            progress,
            history_len,
            capacity: capacity.max(1),
            index: index_field(prefix),
            indexed: Mutex::new(HashMap::new()),
            follower: Mutex::new(None),
        }
    }

    /// Lists the prefix and starts following it.
    async fn start(
        store: Arc<dyn Store>,
        prefix: String,
        capacity: usize,
        history_len: usize,
        followers: &Followers,
    ) -> Result<Arc<Self>, Error> {
        let cache = Arc::new(Self::new(&prefix, capacity, history_len));
        let revision = cache.resync(&*store, &prefix).await?;
        let weak = Arc::downgrade(&cache);
        let follower = followers.spawn(async move {
            let mut after = revision;
            loop {
                let stream = store.watch(prefix.clone().into(), after).await;
                if let Ok(mut stream) = stream {
                    loop {
                        // What the store has ready is applied at once; when it has
                        // nothing, the follower pauses before it waits, so that a busy
                        // resource's writes come in batches instead of waking this thread
                        // once per write (a system call and a context switch each).
                        let item = match futures::FutureExt::now_or_never(stream.next()) {
                            Some(item) => item,
                            None => {
                                tokio::time::sleep(FOLLOW_PAUSE).await;
                                stream.next().await
                            }
                        };
                        let Some(item) = item else { break };
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
        let (kvs, rev) = read_all(store, prefix).await?;
        let mut fresh = BTreeMap::new();
        for kv in &kvs {
            // One undecodable value must not make the whole resource unservable: it is
            // skipped, as `apply` skips it when it arrives through the watch.
            match CachedObject::decode(&kv.key, &kv.value, kv.mod_revision, self.index) {
                Ok(obj) => {
                    fresh.insert(obj.key.clone(), Arc::new(obj));
                }
                Err(e) => {
                    let key = String::from_utf8_lossy(&kv.key);
                    tracing::warn!(%key, error = %e, "undecodable object in the store");
                }
            }
        }
        let mut state = self.state.write();
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
        state.by_index.clear();
        for obj in fresh.values() {
            state.reindex(None, Some(obj));
        }
        state.objects = fresh;
        state.history.clear();
        state.revision = state.revision.max(rev);
        state.floor = state.revision;
        for ev in events {
            let ev = Arc::new(ev);
            self.dispatch_indexed(&ev);
            let _ = self.sender.send(ev);
        }
        self.progress.send_replace(state.revision);
        Ok(rev)
    }

    /// Applies one event of the store's watch.
    pub(crate) fn apply(&self, ev: &kube_core::StoreEvent) {
        let rev = ev.revision();
        // A written object is made servable before the state is locked: readers wait for
        // the insert only.
        let written = (ev.kind == EventKind::Put)
            .then(|| CachedObject::decode(&ev.kv.key, &ev.kv.value, rev, self.index));
        let key = String::from_utf8_lossy(&ev.kv.key).into_owned();
        let mut state = self.state.write();
        if rev <= state.revision {
            return;
        }
        let prev = state.objects.get(&key).cloned();
        let event = match written {
            Some(written) => match written {
                Ok(obj) => {
                    let obj = Arc::new(obj);
                    state.reindex(prev.as_deref(), Some(&obj));
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
            None => {
                state.objects.remove(&key);
                state.reindex(prev.as_deref(), None);
                // The last state is the previous object with the delete's revision.
                let last = match &prev {
                    Some(p) => p.deleted_at(rev),
                    None => CachedObject::decode(&ev.kv.key, &ev.kv.value, rev, self.index),
                };
                let Ok(last) = last.map(Arc::new) else {
                    state.revision = rev;
                    return;
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
        self.dispatch_indexed(&event);
        let _ = self.sender.send(event);
        self.progress.send_replace(rev);
    }

    /// Hands an event to the indexed watchers of its object's field value (and of its
    /// previous value, so that a watcher sees the object leave). A watcher whose channel
    /// is full is cut off, as a lagging broadcast receiver is. Called under the state's
    /// write lock, before the progress moves past the event.
    fn dispatch_indexed(&self, event: &Arc<CacheEvent>) {
        if self.index.is_none() {
            return;
        }
        let mut indexed = self.indexed.lock();
        if indexed.is_empty() {
            return;
        }
        let current = event.object.index_value();
        let previous = event
            .prev
            .as_ref()
            .map(|p| p.index_value())
            .filter(|p| *p != current);
        for value in std::iter::once(current).chain(previous) {
            if let Some(senders) = indexed.get_mut(value) {
                senders.retain(|s| s.try_send(event.clone()).is_ok());
                if senders.is_empty() {
                    indexed.remove(value);
                }
            }
        }
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

    /// The objects under `prefix` whose indexed field `field` is `value`, from the index;
    /// `None` when `field` is not this resource's indexed field or `value` is empty
    /// (then the caller scans).
    pub(crate) fn snapshot_indexed(
        &self,
        prefix: &str,
        field: &str,
        value: &str,
    ) -> Option<(Vec<Arc<CachedObject>>, Revision)> {
        if self.index != Some(field) || value.is_empty() {
            return None;
        }
        let state = self.state.read();
        let items = state
            .by_index
            .get(value)
            .into_iter()
            .flatten()
            .filter(|k| k.starts_with(prefix))
            .filter_map(|k| state.objects.get(k).cloned())
            .collect();
        Some((items, state.revision))
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
    ///
    /// A watch whose field selector pins the resource's indexed field gets only the
    /// events of its objects (see the module's documentation).
    pub(crate) fn subscribe(
        &self,
        after: Option<Revision>,
        prefix: &str,
        fields: &FieldSelector,
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
        // The state's read lock keeps `apply` out: nothing is dispatched between the
        // initial events and the registration.
        let indexed_value = self.index.and_then(|field| fields.equal_to(field));
        let receiver = match indexed_value {
            Some(value) => {
                let (tx, rx) = mpsc::channel(self.capacity);
                let mut indexed = self.indexed.lock();
                let senders = indexed.entry(value.to_owned()).or_default();
                senders.retain(|s| !s.is_closed());
                senders.push(tx);
                Receiver::Indexed {
                    events: rx,
                    progress: self.progress.subscribe(),
                }
            }
            None => Receiver::Broadcast(self.sender.subscribe()),
        };
        Ok(Subscription {
            initial,
            receiver,
            revision: state.revision,
        })
    }

    /// How many objects the cache holds.
    pub(crate) fn len(&self) -> usize {
        self.state.read().objects.len()
    }

    /// How many watchers are subscribed.
    pub(crate) fn watchers(&self) -> usize {
        let indexed: usize = self
            .indexed
            .lock()
            .values()
            .flatten()
            .filter(|s| !s.is_closed())
            .count();
        self.sender.receiver_count() + indexed
    }
}

/// Keys read from the store per request: whole prefixes are read in pages at one
/// revision, since one response for every object of a kind can exceed what the store
/// answers at once (etcd's gRPC messages stop at 4 MiB by default).
pub(crate) const STORE_PAGE: usize = 1000;

/// Every key under a prefix at one revision, read page by page.
pub(crate) async fn read_all(
    store: &dyn Store,
    prefix: &str,
) -> Result<(Vec<kube_core::KeyValue>, Revision), Error> {
    let mut kvs = Vec::new();
    let mut revision = 0;
    let mut start: Option<Vec<u8>> = None;
    loop {
        let mut req = RangeRequest::prefix(prefix.to_owned())
            .limit(STORE_PAGE)
            .at_revision(revision);
        if let Some(s) = start.take() {
            req = req.start(s);
        }
        let resp = store
            .range(req)
            .await
            .map_err(super::registry::store_error)?;
        revision = resp.revision;
        if let Some(last) = resp.kvs.last() {
            let mut next = last.key.to_vec();
            next.push(0);
            start = Some(next);
        }
        let more = resp.more && !resp.kvs.is_empty();
        kvs.extend(resp.kvs);
        if !more {
            return Ok((kvs, revision));
        }
    }
}

/// The caches of every resource, started on first use.
#[derive(Debug)]
pub(crate) struct WatchCaches {
    caches: Mutex<HashMap<String, Arc<OnceCell<Arc<WatchCache>>>>>,
    written: Mutex<HashMap<String, Revision>>,
    capacity: usize,
    history_len: usize,
    followers: Followers,
}

impl WatchCaches {
    pub(crate) fn new(capacity: usize, history_len: usize) -> Self {
        Self {
            caches: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
            capacity,
            history_len,
            followers: Followers::start(),
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
                    &self.followers,
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
