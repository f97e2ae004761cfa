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
        Self::new(Duration::ZERO)
    }
}

impl Cache {
    /// An empty cache; assumed pods expire `ttl` after their binding finished, or never
    /// with `Duration::ZERO` (the default, as in Kubernetes' scheduler: the informer
    /// confirms every binding, however late, or reports the pod's deletion).
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

    /// The binding of an assumed pod finished: it expires `ttl` from `now` (when the
    /// cache has one) unless the informer confirms it.
    pub fn finish_binding(&mut self, key: &ObjectKey, now: Instant) {
        if let Some(p) = self.pods.get_mut(key)
            && p.assumed
        {
            p.deadline = (!self.ttl.is_zero()).then(|| now + self.ttl);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod};
    use proptest::prelude::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::namespaced("default", name)
    }

    #[test]
    fn assumed_pods_count_until_forgotten_confirmed_or_expired() {
        let mut c = Cache::new(Duration::from_secs(30));
        let t0 = Instant::now();
        c.upsert_node(node("n1").cpu("2").arc_node());
        let p = pod("p").requests("1", "0").arc();
        c.assume(Arc::clone(&p), "n1").unwrap();
        assert_eq!(
            c.assume(Arc::clone(&p), "n1"),
            Err(CacheError::AlreadyPresent(key("p")))
        );
        assert_eq!(c.node("n1").unwrap().requested().milli_cpu, 1000);
        c.forget(&key("p")).unwrap();
        assert_eq!(c.node("n1").unwrap().requested().milli_cpu, 0);
        assert_eq!(c.forget(&key("p")), Err(CacheError::NotFound(key("p"))));

        // Confirmed by the informer: no longer assumed, never expires.
        c.assume(Arc::clone(&p), "n1").unwrap();
        c.finish_binding(&key("p"), t0);
        c.add_pod(pod("p").requests("1", "0").node_name("n1").arc(), "n1");
        assert!(!c.is_assumed(&key("p")));
        assert_eq!(c.forget(&key("p")), Err(CacheError::NotAssumed(key("p"))));
        assert!(c.cleanup_expired(t0 + Duration::from_secs(60)).is_empty());

        // Never confirmed: expires `ttl` after its binding finished.
        let q = pod("q").requests("1", "0").arc();
        c.assume(q, "n1").unwrap();
        assert!(c.cleanup_expired(t0 + Duration::from_secs(60)).is_empty());
        c.finish_binding(&key("q"), t0);
        assert!(c.cleanup_expired(t0 + Duration::from_secs(29)).is_empty());
        assert_eq!(c.cleanup_expired(t0 + Duration::from_secs(30)), [key("q")]);
        assert_eq!(c.node("n1").unwrap().requested().milli_cpu, 1000);
    }

    #[test]
    fn without_a_ttl_an_assumed_pod_waits_for_its_confirmation() {
        let mut c = Cache::default();
        c.upsert_node(node("n1").cpu("2").arc_node());
        let t0 = Instant::now();
        c.assume(pod("p").requests("1", "0").arc(), "n1").unwrap();
        c.finish_binding(&key("p"), t0);
        assert!(c.cleanup_expired(t0 + Duration::from_secs(3600)).is_empty());
        assert!(c.is_assumed(&key("p")));
        assert_eq!(c.node("n1").unwrap().requested().milli_cpu, 1000);
        c.add_pod(pod("p").requests("1", "0").node_name("n1").arc(), "n1");
        assert!(!c.is_assumed(&key("p")));
        assert_eq!(c.node("n1").unwrap().requested().milli_cpu, 1000);
    }

    #[test]
    fn a_pod_bound_elsewhere_than_assumed_moves() {
        let mut c = Cache::default();
        c.upsert_node(node("a").arc_node());
        c.upsert_node(node("b").arc_node());
        c.assume(pod("p").requests("1", "0").arc(), "a").unwrap();
        c.add_pod(pod("p").requests("1", "0").node_name("b").arc(), "b");
        assert_eq!(c.node("a").unwrap().requested().milli_cpu, 0);
        assert_eq!(c.node("b").unwrap().requested().milli_cpu, 1000);
        assert_eq!(c.pod_node(&key("p")), Some("b"));
    }

    #[test]
    fn nodes_known_only_through_pods_stay_out_of_the_snapshot() {
        let mut c = Cache::default();
        let mut snap = Snapshot::new();
        c.add_pod(pod("early").node_name("late").arc(), "late");
        c.update_snapshot(&mut snap);
        assert!(snap.is_empty());
        c.upsert_node(node("late").arc_node());
        c.update_snapshot(&mut snap);
        assert_eq!(snap.get("late").unwrap().pods().len(), 1);
        // Deleted while it still has pods: out of the snapshot, its pods still counted.
        c.remove_node("late");
        c.update_snapshot(&mut snap);
        assert!(snap.is_empty());
        assert_eq!(c.node("late").unwrap().pods().len(), 1);
        c.remove_pod(&key("early"));
        assert!(c.node("late").is_none());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Node(u8, u8),
        RemoveNode(u8),
        Assume(u8, u8),
        Bind(u8, u8),
        Remove(u8),
        Forget(u8),
        Snapshot,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, 1u8..8).prop_map(|(n, cpu)| Op::Node(n, cpu)),
            (0u8..6).prop_map(Op::RemoveNode),
            (0u8..20, 0u8..6).prop_map(|(p, n)| Op::Assume(p, n)),
            (0u8..20, 0u8..6).prop_map(|(p, n)| Op::Bind(p, n)),
            (0u8..20).prop_map(Op::Remove),
            (0u8..20).prop_map(Op::Forget),
            Just(Op::Snapshot),
        ]
    }

    /// What a snapshot must say: per node with an object, its pods and requests.
    fn view(snap: &Snapshot) -> Vec<(String, i64, i64, Vec<String>)> {
        let mut v: Vec<_> = snap
            .nodes()
            .iter()
            .map(|n| {
                let mut pods: Vec<String> = n.pods().iter().map(|p| p.key().name.clone()).collect();
                pods.sort();
                (
                    n.name().to_owned(),
                    n.allocatable().milli_cpu,
                    n.requested().milli_cpu,
                    pods,
                )
            })
            .collect();
        v.sort();
        v
    }

    proptest! {
        /// The snapshot refreshed incrementally, at any points, always equals one built
        /// from scratch from the cache.
        #[test]
        fn incremental_snapshots_equal_fresh_ones(ops in proptest::collection::vec(op(), 1..120)) {
            let mut c = Cache::default();
            let mut snap = Snapshot::new();
            for op in ops {
                match op {
                    Op::Node(n, cpu) => {
                        c.upsert_node(node(&format!("n{n}")).cpu(&cpu.to_string()).arc_node());
                    }
                    Op::RemoveNode(n) => c.remove_node(&format!("n{n}")),
                    Op::Assume(p, n) => {
                        let _ = c.assume(pod(&format!("p{p}")).requests("1", "0").arc(), &format!("n{n}"));
                    }
                    Op::Bind(p, n) => {
                        let name = format!("n{n}");
                        c.add_pod(pod(&format!("p{p}")).requests("1", "0").node_name(&name).arc(), &name);
                    }
                    Op::Remove(p) => {
                        c.remove_pod(&key(&format!("p{p}")));
                    }
                    Op::Forget(p) => {
                        let _ = c.forget(&key(&format!("p{p}")));
                    }
                    Op::Snapshot => c.update_snapshot(&mut snap),
                }
            }
            c.update_snapshot(&mut snap);
            let mut fresh = Snapshot::new();
            let mut rebuilt = Cache::default();
            std::mem::swap(&mut rebuilt.nodes, &mut c.nodes);
            rebuilt.by_generation = c.by_generation.clone();
            rebuilt.update_snapshot(&mut fresh);
            prop_assert_eq!(view(&snap), view(&fresh));
        }
    }
}
