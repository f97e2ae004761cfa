//! The node cache: every node with its bound and *assumed* pods, and the incremental
//! update of the per-cycle [`Snapshot`].
//!
//! A pod is assumed on its node as soon as the scheduling cycle chose it, so the next cycle
//! already counts it while the binding is in flight. The informer's add of the bound pod
//! confirms it; a failed binding forgets it; an assumed pod whose binding finished but whose
//! confirmation never came expires after a TTL.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_core::{Node, NodeInfo, ObjectKey, PodInfo, ResourceExt, Snapshot};

/// A failure of a cache operation: the caller's view and the cache's disagree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    /// The pod is already in the cache (assumed or bound).
    #[error("pod {0} is already in the cache")]
    AlreadyPresent(ObjectKey),
    /// The pod is not in the cache.
    #[error("pod {0} is not in the cache")]
    NotFound(ObjectKey),
    /// The pod is in the cache but not assumed.
    #[error("pod {0} is not assumed")]
    NotAssumed(ObjectKey),
}

#[derive(Debug)]
struct PodState {
    info: Arc<PodInfo>,
    node: String,
    assumed: bool,
    /// When an assumed pod whose binding finished expires.
    deadline: Option<Instant>,
}

/// Nodes and the pods on them, with assumed pods. One writer (the scheduling loop and the
/// informer handlers, under one lock); cycles read the [`Snapshot`] it refreshes.
#[derive(Debug)]
pub struct Cache {
    nodes: HashMap<String, Arc<NodeInfo>>,
    by_generation: BTreeMap<u64, String>,
    removed: BTreeMap<u64, String>,
    pods: HashMap<ObjectKey, PodState>,
    ttl: Duration,
}

impl Default for Cache {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

impl Cache {
    /// An empty cache; assumed pods expire `ttl` after their binding finished.
    pub fn new(ttl: Duration) -> Self {
        Self {
            nodes: HashMap::new(),
            by_generation: BTreeMap::new(),
            removed: BTreeMap::new(),
            pods: HashMap::new(),
            ttl,
        }
    }

    /// Number of nodes known (with a node object).
    pub fn node_count(&self) -> usize {
        self.nodes.values().filter(|n| n.node().is_some()).count()
    }

    /// Number of pods (bound and assumed).
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// One node's info.
    pub fn node(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.nodes.get(name)
    }

    /// True when the pod is assumed (not yet confirmed by the informer).
    pub fn is_assumed(&self, key: &ObjectKey) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// The node a pod is on (bound or assumed).
    pub fn pod_node(&self, key: &ObjectKey) -> Option<&str> {
        self.pods.get(key).map(|p| p.node.as_str())
    }

    fn touch<R>(&mut self, name: &str, f: impl FnOnce(&mut NodeInfo) -> R) -> R {
        let entry = self
            .nodes
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(NodeInfo::named(name)));
        let old = entry.generation();
        let r = f(Arc::make_mut(entry));
        let new = entry.generation();
        if new != old {
            self.by_generation.remove(&old);
            self.by_generation.insert(new, name.to_owned());
        }
        r
    }

    /// A node appeared or changed.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let name = node.name_any().to_owned();
        self.touch(&name, |info| info.set_node(node));
    }

    /// A node was deleted. Its pods stay accounted until they are deleted too.
    pub fn remove_node(&mut self, name: &str) {
        let Some(info) = self.nodes.get(name) else {
            return;
        };
        if info.pods().is_empty() {
            if let Some(info) = self.nodes.remove(name) {
                self.by_generation.remove(&info.generation());
            }
        } else {
            self.touch(name, NodeInfo::clear_node);
        }
        self.removed
            .insert(kube_core::next_generation(), name.to_owned());
    }

    /// Assumes `pod` on `node` before it is bound.
    pub fn assume(&mut self, pod: Arc<PodInfo>, node: &str) -> Result<(), CacheError> {
        let key = pod.key().clone();
        if self.pods.contains_key(&key) {
            return Err(CacheError::AlreadyPresent(key));
        }
        self.touch(node, |n| n.add_pod(Arc::clone(&pod)));
        self.pods.insert(
            key,
            PodState {
                info: pod,
                node: node.to_owned(),
                assumed: true,
                deadline: None,
            },
        );
        Ok(())
    }

    /// The binding of an assumed pod finished: it expires `ttl` from `now` unless the
    /// informer confirms it.
    pub fn finish_binding(&mut self, key: &ObjectKey, now: Instant) {
        if let Some(p) = self.pods.get_mut(key)
            && p.assumed
        {
            p.deadline = Some(now + self.ttl);
        }
    }

    /// The binding of an assumed pod failed: it leaves its node.
    pub fn forget(&mut self, key: &ObjectKey) -> Result<(), CacheError> {
        match self.pods.get(key) {
            None => return Err(CacheError::NotFound(key.clone())),
            Some(p) if !p.assumed => return Err(CacheError::NotAssumed(key.clone())),
            Some(_) => {}
        }
        self.remove_pod(key);
        Ok(())
    }

    /// A pod bound to a node appeared (informer add): confirms an assumed pod, moving it
    /// if it was bound elsewhere, or adds it.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>, node: &str) {
        let key = pod.key().clone();
        if self.pods.contains_key(&key) {
            self.remove_pod(&key);
        }
        self.touch(node, |n| n.add_pod(Arc::clone(&pod)));
        self.pods.insert(
            key,
            PodState {
                info: pod,
                node: node.to_owned(),
                assumed: false,
                deadline: None,
            },
        );
    }

    /// A bound pod changed (labels, requests): same as a fresh add.
    pub fn update_pod(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.add_pod(pod, node);
    }

    /// A pod went: it leaves its node. Returns the pod when it was there.
    pub fn remove_pod(&mut self, key: &ObjectKey) -> Option<Arc<PodInfo>> {
        let state = self.pods.remove(key)?;
        let node = state.node.clone();
        self.touch(&node, |n| n.remove_pod(key));
        if let Some(info) = self.nodes.get(&node)
            && info.node().is_none()
            && info.pods().is_empty()
            && let Some(info) = self.nodes.remove(&node)
        {
            self.by_generation.remove(&info.generation());
        }
        Some(state.info)
    }

    /// Forgets assumed pods whose binding finished more than `ttl` ago without
    /// confirmation. Returns their keys.
    pub fn cleanup_expired(&mut self, now: Instant) -> Vec<ObjectKey> {
        let expired: Vec<ObjectKey> = self
            .pods
            .iter()
            .filter(|(_, p)| p.assumed && p.deadline.is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            self.remove_pod(k);
        }
        expired
    }

    /// Brings `snapshot` up to date: replaces only the node infos changed since the
    /// snapshot's generation and drops deleted nodes. Nodes known only through their pods
    /// are left out.
    pub fn update_snapshot(&mut self, snapshot: &mut Snapshot) {
        let mut changed = Vec::new();
        self.update_snapshot_tracked(snapshot, &mut changed);
    }

    /// Like [`update_snapshot`](Self::update_snapshot), reporting the positions of the
    /// nodes replaced in place into `changed`; returns true when nodes were added or
    /// removed (positions moved).
    pub(crate) fn update_snapshot_tracked(
        &mut self,
        snapshot: &mut Snapshot,
        changed: &mut Vec<usize>,
    ) -> bool {
        changed.clear();
        let since = snapshot.generation();
        let mut newest = since;
        let before = snapshot.len();
        let mut structural = false;
        for (&generation, name) in self.removed.range(since + 1..) {
            newest = newest.max(generation);
            if self.nodes.get(name).is_none_or(|n| n.node().is_none()) {
                structural |= snapshot.remove(name);
            }
        }
        for (&generation, name) in self.by_generation.range(since + 1..) {
            newest = newest.max(generation);
            if let Some(info) = self.nodes.get(name) {
                if info.node().is_some() {
                    snapshot.upsert(Arc::clone(info));
                    if let Some(at) = snapshot.position(name) {
                        changed.push(at);
                    }
                } else {
                    structural |= snapshot.remove(name);
                }
            }
        }
        snapshot.set_generation(newest);
        // Tombstones older than what this snapshot saw are no longer needed by it.
        self.removed = self.removed.split_off(&(newest + 1));
        structural || snapshot.len() != before
    }
}
