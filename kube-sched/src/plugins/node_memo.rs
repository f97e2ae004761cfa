//! Per-node answers carried from one cycle to the next: whether each node matches a pod's
//! node selector, what each node scores for its preferred terms.
//!
//! Matching labels reads every node's label map, a few cache misses per node for every pod
//! scheduled. Pods of one workload ask the same question, and between two cycles only the
//! nodes the scheduler placed pods on (or that changed) were replaced in the snapshot; so
//! the answers are kept per node for the last few signatures (the parts of the pod the
//! answer depends on) and recomputed only where the node info is not the one answered for.
//! The memo holds the `Arc`s it answered for, so a pointer cannot be reused meanwhile.

use std::sync::Arc;

use kube_core::{NodeInfo, Snapshot};

use super::domain_memo::SIGNATURES;

#[derive(Debug)]
struct Entry<S, T> {
    signature: S,
    nodes: Vec<Arc<NodeInfo>>,
    values: Arc<Vec<T>>,
}

/// Per-node values for the most recently used signatures.
#[derive(Debug)]
pub(crate) struct NodeValues<S, T> {
    entries: Vec<Entry<S, T>>,
}

impl<S, T> Default for NodeValues<S, T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<S: PartialEq, T: Clone> NodeValues<S, T> {
    /// `f` of every node of `snapshot`, in snapshot order, for a pod with `signature`
    /// (`f` must depend only on the node and on what the signature holds).
    pub(crate) fn values(
        &mut self,
        signature: S,
        snapshot: &Snapshot,
        mut f: impl FnMut(&NodeInfo) -> T,
    ) -> Arc<Vec<T>> {
        let nodes = snapshot.nodes();
        let found = self
            .entries
            .iter()
            .position(|e| e.signature == signature && e.nodes.len() == nodes.len());
        let Some(i) = found else {
            if self.entries.len() >= SIGNATURES {
                self.entries.pop();
            }
            let values: Arc<Vec<T>> = Arc::new(nodes.iter().map(|n| f(n)).collect());
            self.entries.insert(
                0,
                Entry {
                    signature,
                    nodes: nodes.to_vec(),
                    values: Arc::clone(&values),
                },
            );
            return values;
        };
        let mut entry = self.entries.remove(i);
        for (j, n) in nodes.iter().enumerate() {
            if !Arc::ptr_eq(&entry.nodes[j], n) {
                Arc::make_mut(&mut entry.values)[j] = f(n);
                entry.nodes[j] = Arc::clone(n);
            }
        }
        let values = Arc::clone(&entry.values);
        self.entries.insert(0, entry);
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::node;

    #[test]
    fn values_are_recomputed_where_nodes_changed_only() {
        let mut snap = Snapshot::from_nodes([
            node("a").label("zone", "z1").info(),
            node("b").label("zone", "z2").info(),
        ]);
        let mut memo: NodeValues<&str, bool> = NodeValues::default();
        let mut calls = 0;
        let mut in_zone = |snap: &Snapshot, zone: &'static str, calls: &mut usize| {
            memo.values(zone, snap, |n| {
                *calls += 1;
                n.node()
                    .and_then(|n| n.metadata.labels.get("zone"))
                    .map(String::as_str)
                    == Some(zone)
            })
        };
        assert_eq!(*in_zone(&snap, "z1", &mut calls), [true, false]);
        assert_eq!(*in_zone(&snap, "z1", &mut calls), [true, false]);
        assert_eq!(calls, 2);
        snap.upsert(Arc::new(node("b").label("zone", "z1").info()));
        assert_eq!(*in_zone(&snap, "z1", &mut calls), [true, true]);
        assert_eq!(calls, 3);
        assert_eq!(*in_zone(&snap, "z2", &mut calls), [false, false]);
        assert_eq!(calls, 5);
        snap.remove("a");
        assert_eq!(*in_zone(&snap, "z1", &mut calls), [true]);
    }
}
