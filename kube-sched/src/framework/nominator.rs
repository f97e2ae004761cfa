//! Nominated pods: pods that preemption made room for on a node (`status.nominatedNodeName`)
//! and that have not been placed yet.
//!
//! Kubernetes keeps the room free for them: when another pod of equal or lower priority is
//! filtered against a node, the pods nominated there with a priority at least as high are
//! counted as if they already ran on it. Without that, the room the victims leave would go
//! to whichever pod came next in the queue, and the preemptor would preempt again.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use kube_core::{ObjectKey, PodInfo};

use crate::plugins::FxHasher;

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The pods nominated to each node. Kept by the scheduling loop; read by every cycle.
#[derive(Clone, Debug, Default)]
pub struct NominatedPods {
    by_node: FxMap<String, Vec<Arc<PodInfo>>>,
    by_pod: FxMap<ObjectKey, String>,
}

/// The node a pod was nominated to, as the framework hands it to its plugins through the
/// [`CycleState`](super::CycleState) (DefaultPreemption reads it to avoid preempting twice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NominatedNode(pub String);

impl NominatedPods {
    /// No nominations.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no pod is nominated anywhere.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.by_pod.is_empty()
    }

    /// How many pods are nominated.
    pub fn len(&self) -> usize {
        self.by_pod.len()
    }

    /// Nominates `pod` to `node`, replacing an earlier nomination of the same pod (and its
    /// pod object, which may have changed).
    pub fn add(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove(pod.key());
        self.by_pod.insert(pod.key().clone(), node.to_owned());
        self.by_node.entry(node.to_owned()).or_default().push(pod);
    }

    /// Replaces the pod object of a nominated pod, keeping its node. False when the pod is
    /// not nominated.
    pub fn refresh(&mut self, pod: &Arc<PodInfo>) -> bool {
        let Some(node) = self.by_pod.get(pod.key()) else {
            return false;
        };
        if let Some(list) = self.by_node.get_mut(node)
            && let Some(slot) = list.iter_mut().find(|p| p.key() == pod.key())
        {
            *slot = Arc::clone(pod);
        }
        true
    }

    /// Drops the nomination of a pod (placed, deleted, or nominated elsewhere).
    pub fn remove(&mut self, key: &ObjectKey) -> Option<String> {
        let node = self.by_pod.remove(key)?;
        if let Some(list) = self.by_node.get_mut(&node) {
            list.retain(|p| p.key() != key);
            if list.is_empty() {
                self.by_node.remove(&node);
            }
        }
        Some(node)
    }

    /// The node a pod is nominated to.
    pub fn node_of(&self, key: &ObjectKey) -> Option<&str> {
        self.by_pod.get(key).map(String::as_str)
    }

    /// The pods nominated to a node.
    #[inline]
    pub fn on_node(&self, node: &str) -> &[Arc<PodInfo>] {
        self.by_node.get(node).map_or(&[][..], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pod;

    #[test]
    fn nominations_move_and_go() {
        let mut n = NominatedPods::new();
        let a = pod("a").priority(5).arc();
        let b = pod("b").priority(7).arc();
        n.add(Arc::clone(&a), "n1");
        n.add(Arc::clone(&b), "n1");
        assert_eq!(n.on_node("n1").len(), 2);
        n.add(Arc::clone(&a), "n2");
        assert_eq!(n.node_of(a.key()), Some("n2"));
        assert_eq!(n.on_node("n1").len(), 1);
        assert!(n.refresh(&pod("a").priority(6).arc()));
        assert_eq!(n.on_node("n2")[0].priority(), 6);
        assert!(!n.refresh(&pod("c").arc()));
        assert_eq!(n.remove(b.key()).as_deref(), Some("n1"));
        assert!(n.on_node("n1").is_empty());
        assert_eq!(n.len(), 1);
        n.remove(a.key());
        assert!(n.is_empty());
    }
}
