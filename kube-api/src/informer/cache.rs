//! The informer's cache: one [`CacheWriter`] (the informer) and many cheap, cloneable
//! [`Cache`] readers, with indexes and event subscriptions.
//!
//! Every change goes through the writer, which updates the objects, the indexes and the
//! subscribers under one lock, so a reader never sees an index out of step with the
//! objects, and a subscriber that joins late gets the current objects as `Added` events
//! followed by every later change, none lost and none twice.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use futures::channel::mpsc;
use kube_core::{ObjectKey, Resource, ResourceExt as _};
use parking_lot::RwLock;
use tokio::sync::watch;

use super::event::InformerEvent;

/// The name of the built-in index by namespace (values: the namespace, or `""`).
pub const NAMESPACE_INDEX: &str = "namespace";
/// The name of the built-in index by label (values: `key=value`).
pub const LABEL_INDEX: &str = "labels";
/// The conventional name of an index by `spec.nodeName`, for kinds that have one.
pub const NODE_NAME_INDEX: &str = "spec.nodeName";

/// A function giving the index values of an object.
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// Whether two versions of an object have the same values in an index.
type SameValues<K> = fn(&K, &K) -> bool;

/// One index: the function giving an object's values, and the keys under each value.
struct Index<K> {
    values_of: IndexFn<K>,
    /// For the built-in indexes: whether two versions of an object have the same values,
    /// told without computing them (a status write leaves namespace and labels alone, and
    /// formatting every label of both versions on each update is most of its cost).
    unchanged: Option<SameValues<K>>,
    keys: HashMap<String, BTreeSet<ObjectKey>>,
}

impl<K> Index<K> {
    /// An index over `objects`.
    fn build<'a>(
        values_of: IndexFn<K>,
        unchanged: Option<SameValues<K>>,
        objects: impl IntoIterator<Item = (&'a ObjectKey, &'a Arc<K>)>,
    ) -> Self
    where
        K: 'a,
    {
        let mut keys: HashMap<String, BTreeSet<ObjectKey>> = HashMap::new();
        for (key, obj) in objects {
            for value in values_of(obj) {
                keys.entry(value).or_default().insert(key.clone());
            }
        }
        Self {
            values_of,
            unchanged,
            keys,
        }
    }
}

struct State<K> {
    objects: HashMap<ObjectKey, Arc<K>>,
    /// The indexes, by name.
    indexes: HashMap<String, Index<K>>,
    subscribers: Vec<mpsc::UnboundedSender<InformerEvent<K>>>,
    resource_version: String,
}

struct Shared<K> {
    state: RwLock<State<K>>,
    synced: watch::Sender<bool>,
}

/// A read handle on an informer's cache: cheap to clone, safe to share between tasks.
pub struct Cache<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K> fmt::Debug for Cache<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.read();
        f.debug_struct("Cache")
            .field("objects", &state.objects.len())
            .field("indexes", &state.indexes.keys().collect::<Vec<_>>())
            .field("resource_version", &state.resource_version)
            .field("synced", &*self.shared.synced.borrow())
            .finish()
    }
}

/// The single write handle of a cache, held by the informer that fills it.
pub struct CacheWriter<K> {
    shared: Arc<Shared<K>>,
}

impl<K> fmt::Debug for CacheWriter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheWriter").finish_non_exhaustive()
    }
}

fn namespace_values<K: Resource>(obj: &K) -> Vec<String> {
    vec![obj.namespace().unwrap_or_default().to_owned()]
}

fn label_values<K: Resource>(obj: &K) -> Vec<String> {
    obj.meta()
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

impl<K: Resource + Send + Sync + 'static> CacheWriter<K> {
    /// An empty cache with the built-in indexes (namespace and labels), not yet synced.
    pub fn new() -> Self {
        let builtin: [(&str, IndexFn<K>, SameValues<K>); 2] = [
            (NAMESPACE_INDEX, Arc::new(namespace_values::<K>), |a, b| {
                a.namespace() == b.namespace()
            }),
            (LABEL_INDEX, Arc::new(label_values::<K>), |a, b| {
                a.meta().labels == b.meta().labels
            }),
        ];
        let indexes = builtin
            .into_iter()
            .map(|(name, f, unchanged)| (name.to_owned(), Index::build(f, Some(unchanged), [])))
            .collect();
        let (synced, _) = watch::channel(false);
        Self {
            shared: Arc::new(Shared {
                state: RwLock::new(State {
                    objects: HashMap::new(),
                    indexes,
                    subscribers: Vec::new(),
                    resource_version: String::new(),
                }),
                synced,
            }),
        }
    }

    /// A reader of this cache.
    pub fn cache(&self) -> Cache<K> {
        Cache {
            shared: self.shared.clone(),
        }
    }

    /// Applies one change seen by a watch. An object with the resourceVersion the cache
    /// already holds is not a change (a watch resumed over events it had seen).
    pub fn apply(&self, event: Change<K>) {
        let mut guard = self.shared.state.write();
        let state = &mut *guard;
        match event {
            Change::Upsert(obj) => {
                let obj = Arc::new(obj);
                if let Some(rv) = obj.resource_version() {
                    state.resource_version = rv.to_owned();
                }
                state.upsert(obj);
            }
            Change::Delete(obj) => {
                if let Some(rv) = obj.resource_version() {
                    state.resource_version = rv.to_owned();
                }
                let key = obj.key();
                if state.remove(&key).is_some() {
                    // The last state the server reported, newer than the cached one.
                    state.notify(&InformerEvent::Deleted(Arc::new(obj)));
                }
            }
        }
    }

    /// Replaces the whole contents with a fresh list (after a list or relist), at the
    /// list's resourceVersion, and reports the differences as events: new objects as
    /// added, changed ones (another resourceVersion) as updated, missing ones as deleted.
    pub fn replace(&self, objects: Vec<K>, resource_version: &str) {
        let mut guard = self.shared.state.write();
        let state = &mut *guard;
        let mut seen = std::collections::HashSet::with_capacity(objects.len());
        for obj in objects {
            seen.insert(obj.key());
            state.upsert(Arc::new(obj));
        }
        let gone: Vec<ObjectKey> = state
            .objects
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(old) = state.remove(&key) {
                state.notify(&InformerEvent::Deleted(old));
            }
        }
        state.resource_version = resource_version.to_owned();
    }

    /// Records the resourceVersion a bookmark reached.
    pub fn bookmark(&self, resource_version: &str) {
        self.shared.state.write().resource_version = resource_version.to_owned();
    }

    /// Marks the cache as synced: it holds a complete list.
    pub fn mark_synced(&self) {
        self.shared.synced.send_replace(true);
    }
}

impl<K: Resource + Send + Sync + 'static> Default for CacheWriter<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// A change for [`CacheWriter::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum Change<K> {
    /// The object was added or modified.
    Upsert(K),
    /// The object was deleted; this is its last state.
    Delete(K),
}

/// The values `f` gives `obj`, sorted and without repeats.
fn sorted_values<K>(f: &IndexFn<K>, obj: &K) -> Vec<String> {
    let mut values = f(obj);
    values.sort_unstable();
    values.dedup();
    values
}

impl<K: Resource> State<K> {
    fn upsert(&mut self, obj: Arc<K>) {
        let key = obj.key();
        match self.objects.get(&key).cloned() {
            Some(old) if old.resource_version() == obj.resource_version() => {}
            Some(old) => {
                self.reindex(&key, Some(&old), Some(&obj));
                self.objects.insert(key, obj.clone());
                self.notify(&InformerEvent::Updated { old, new: obj });
            }
            None => {
                self.reindex(&key, None, Some(&obj));
                self.objects.insert(key, obj.clone());
                self.notify(&InformerEvent::Added(obj));
            }
        }
    }

    fn remove(&mut self, key: &ObjectKey) -> Option<Arc<K>> {
        let old = self.objects.remove(key)?;
        self.reindex(key, Some(&old), None);
        Some(old)
    }

    /// Moves `key` in every index from the values of `old` to those of `new` (either
    /// `None` for an object that appears or goes). Only the values that differ are
    /// touched: an update that leaves an object's namespace and labels alone, as most
    /// do, costs no set operation (each is a search among every key of that value, such
    /// as every pod of a namespace), and the built-in indexes do not even compute their
    /// values for it.
    fn reindex(&mut self, key: &ObjectKey, old: Option<&K>, new: Option<&K>) {
        for index in self.indexes.values_mut() {
            if let (Some(old), Some(new), Some(unchanged)) = (old, new, index.unchanged) {
                if unchanged(old, new) {
                    continue;
                }
            }
            let f = &index.values_of;
            let before = old.map(|o| sorted_values(f, o)).unwrap_or_default();
            let after = new.map(|o| sorted_values(f, o)).unwrap_or_default();
            for value in before.iter().filter(|v| after.binary_search(v).is_err()) {
                if let Some(keys) = index.keys.get_mut(value) {
                    keys.remove(key);
                    if keys.is_empty() {
                        index.keys.remove(value);
                    }
                }
            }
            for value in after {
                if before.binary_search(&value).is_err() {
                    index.keys.entry(value).or_default().insert(key.clone());
                }
            }
        }
    }

    fn notify(&mut self, event: &InformerEvent<K>) {
        self.subscribers
            .retain(|tx| tx.unbounded_send(event.clone()).is_ok());
    }
}

impl<K: Resource + Send + Sync + 'static> Cache<K> {
    /// The object with this key.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.shared.state.read().objects.get(key).cloned()
    }

    /// The object with this namespace (`None` for cluster-scoped kinds) and name.
    pub fn get_named(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        self.get(&ObjectKey {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        })
    }

    /// Every object, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.shared.state.read().objects.values().cloned().collect()
    }

    /// The keys of every object.
    pub fn keys(&self) -> Vec<ObjectKey> {
        self.shared.state.read().objects.keys().cloned().collect()
    }

    /// How many objects the cache holds.
    pub fn len(&self) -> usize {
        self.shared.state.read().objects.len()
    }

    /// True when the cache holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects of one namespace.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.by_index(NAMESPACE_INDEX, namespace)
    }

    /// The objects with this label.
    pub fn by_label(&self, key: &str, value: &str) -> Vec<Arc<K>> {
        self.by_index(LABEL_INDEX, &format!("{key}={value}"))
    }

    /// The objects an index maps this value to (none for an unknown index).
    pub fn by_index(&self, index: &str, value: &str) -> Vec<Arc<K>> {
        let state = self.shared.state.read();
        state
            .indexes
            .get(index)
            .and_then(|idx| idx.keys.get(value))
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| state.objects.get(k).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The values an index holds, such as every namespace with objects.
    pub fn index_values(&self, index: &str) -> Vec<String> {
        self.shared
            .state
            .read()
            .indexes
            .get(index)
            .map(|idx| idx.keys.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Adds (or replaces) an index: `f` gives the values an object is found under. The
    /// index is built over the objects already cached and kept up to date after.
    pub fn index_by<F>(&self, name: &str, f: F)
    where
        F: Fn(&K) -> Vec<String> + Send + Sync + 'static,
    {
        let mut state = self.shared.state.write();
        // Opaque: its values are computed for every update.
        let index = Index::build(Arc::new(f), None, &state.objects);
        state.indexes.insert(name.to_owned(), index);
    }

    /// The resourceVersion the cache has reached.
    pub fn resource_version(&self) -> String {
        self.shared.state.read().resource_version.clone()
    }

    /// True once the cache holds a complete list.
    pub fn has_synced(&self) -> bool {
        *self.shared.synced.borrow()
    }

    /// Waits until the cache holds a complete list.
    pub async fn wait_until_synced(&self) {
        let mut rx = self.shared.synced.subscribe();
        // The sender lives in `shared`, which `self` keeps alive: this cannot fail.
        let _ = rx.wait_for(|synced| *synced).await;
    }

    /// A stream of every change from now on, preceded by the current objects as
    /// [`InformerEvent::Added`]: nothing is missed and nothing is seen twice.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<InformerEvent<K>> {
        let (tx, rx) = mpsc::unbounded();
        let mut state = self.shared.state.write();
        for obj in state.objects.values() {
            let _ = tx.unbounded_send(InformerEvent::Added(obj.clone()));
        }
        state.subscribers.push(tx);
        rx
    }
}
