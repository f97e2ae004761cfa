//! What Filter and Score plugins see of a node: a [`NodeRef`], the node's [`NodeInfo`] plus
//! a [`NodeSummary`] of the facts most plugins read for every node of every cycle.
//!
//! A cycle visits hundreds or thousands of nodes; reading a node's resources and taints
//! from its `NodeInfo` and `Node` costs several cache misses per node, because every node
//! lives in allocations of its own. The framework keeps the summaries of a snapshot's
//! nodes in one contiguous table, in snapshot order, refreshed only where a node changed,
//! so the common checks stream through memory.

use std::ops::Deref;
use std::sync::Arc;

use kube_core::{NodeInfo, Snapshot, TaintEffect};

/// The per-node facts the default plugins read on every visit, in 88 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeSummary {
    /// The node object is known (not only pods pointing at it).
    pub known: bool,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// Some taint has effect `NoSchedule` or `NoExecute`.
    pub hard_taints: bool,
    /// Some taint has effect `PreferNoSchedule`.
    pub prefer_taints: bool,
    /// Pods on the node (bound and assumed).
    pub pod_count: i64,
    /// Allocatable CPU, in millicores.
    pub allocatable_milli_cpu: i64,
    /// Allocatable memory, in bytes.
    pub allocatable_memory: i64,
    /// Allocatable ephemeral storage, in bytes.
    pub allocatable_ephemeral_storage: i64,
    /// How many pods the node takes.
    pub allocatable_pods: i64,
    /// CPU requested by the pods, in millicores.
    pub requested_milli_cpu: i64,
    /// Memory requested by the pods, in bytes.
    pub requested_memory: i64,
    /// Ephemeral storage requested by the pods, in bytes.
    pub requested_ephemeral_storage: i64,
    /// CPU requested with the scoring defaults for pods that request none.
    pub non_zero_milli_cpu: i64,
    /// Memory requested with the scoring defaults for pods that request none.
    pub non_zero_memory: i64,
}

impl NodeSummary {
    /// The summary of a node info.
    pub fn of(info: &NodeInfo) -> Self {
        let (hard_taints, prefer_taints, unschedulable) =
            info.node().map_or((false, false, false), |n| {
                let hard =
                    n.spec.taints.iter().any(|t| {
                        matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
                    });
                let prefer = n
                    .spec
                    .taints
                    .iter()
                    .any(|t| t.effect == TaintEffect::PreferNoSchedule);
                (hard, prefer, n.spec.unschedulable)
            });
        let alloc = info.allocatable();
        let req = info.requested();
        let nz = info.non_zero_requested();
        Self {
            known: info.node().is_some(),
            unschedulable,
            hard_taints,
            prefer_taints,
            pod_count: info.pods().len() as i64,
            allocatable_milli_cpu: alloc.milli_cpu,
            allocatable_memory: alloc.memory,
            allocatable_ephemeral_storage: alloc.ephemeral_storage,
            allocatable_pods: alloc.pods,
            requested_milli_cpu: req.milli_cpu,
            requested_memory: req.memory,
            requested_ephemeral_storage: req.ephemeral_storage,
            non_zero_milli_cpu: nz.milli_cpu,
            non_zero_memory: nz.memory,
        }
    }
}

/// A node as Filter and Score plugins see it: its [`NodeInfo`] (through `Deref`) and its
/// [`NodeSummary`].
#[derive(Clone, Copy, Debug)]
pub struct NodeRef<'a> {
    info: &'a NodeInfo,
    summary: NodeSummary,
    position: u32,
}

const NO_POSITION: u32 = u32::MAX;

impl<'a> NodeRef<'a> {
    /// A node with its summary, computed now.
    pub fn of(info: &'a NodeInfo) -> Self {
        Self {
            info,
            summary: NodeSummary::of(info),
            position: NO_POSITION,
        }
    }

    /// A node with a summary computed before (it must be the node's).
    pub fn with_summary(info: &'a NodeInfo, summary: NodeSummary) -> Self {
        Self {
            info,
            summary,
            position: NO_POSITION,
        }
    }

    /// The node at `position` in the cycle's snapshot, with its summary.
    pub fn at(info: &'a NodeInfo, summary: NodeSummary, position: usize) -> Self {
        Self {
            info,
            summary,
            position: u32::try_from(position).unwrap_or(NO_POSITION),
        }
    }

    /// The node's position in the cycle's snapshot ([`Snapshot::nodes`]), when it is one
    /// of its nodes as they are (not a copy a plugin changed, as preemption makes): plugins
    /// index what they computed per node in PreFilter or PreScore with it.
    #[inline]
    pub fn position(&self) -> Option<usize> {
        (self.position != NO_POSITION).then_some(self.position as usize)
    }

    /// The summary.
    #[inline]
    pub fn summary(&self) -> &NodeSummary {
        &self.summary
    }

    /// The node info.
    #[inline]
    pub fn info(&self) -> &'a NodeInfo {
        self.info
    }
}

impl Deref for NodeRef<'_> {
    type Target = NodeInfo;

    #[inline]
    fn deref(&self) -> &NodeInfo {
        self.info
    }
}

/// The summaries of a snapshot's nodes, in snapshot order. Refreshing compares the node
/// infos it holds with the snapshot's, pointer by pointer, and recomputes only those that
/// were replaced; holding them keeps their addresses from being reused meanwhile.
#[derive(Debug, Default)]
pub(crate) struct SummaryTable {
    nodes: Vec<Arc<NodeInfo>>,
    rows: Vec<NodeSummary>,
    /// The nodes' names, allocated together: rejections clone them without reaching into
    /// the scattered node infos.
    names: Vec<Arc<str>>,
}

impl SummaryTable {
    /// Brings the table in line with `snapshot`.
    pub(crate) fn refresh(&mut self, snapshot: &Snapshot) {
        let nodes = snapshot.nodes();
        if nodes.len() != self.nodes.len() {
            self.nodes.clear();
            self.rows.clear();
            self.names.clear();
            self.nodes.extend(nodes.iter().cloned());
            self.rows.extend(nodes.iter().map(|n| NodeSummary::of(n)));
            self.names.extend(nodes.iter().map(|n| Arc::from(n.name())));
            return;
        }
        for (i, n) in nodes.iter().enumerate() {
            if !Arc::ptr_eq(&self.nodes[i], n) {
                self.replace(i, n);
            }
        }
    }

    fn replace(&mut self, i: usize, n: &Arc<NodeInfo>) {
        if *self.names[i] != *n.name() {
            self.names[i] = Arc::from(n.name());
        }
        self.nodes[i] = Arc::clone(n);
        self.rows[i] = NodeSummary::of(n);
    }

    /// Brings the table in line with `snapshot` when only the nodes at `positions` may
    /// have been replaced since the last refresh (and none added or removed); anything
    /// else refreshes the whole table.
    pub(crate) fn refresh_at(&mut self, snapshot: &Snapshot, positions: &[usize]) {
        let nodes = snapshot.nodes();
        if nodes.len() != self.nodes.len() {
            self.refresh(snapshot);
            return;
        }
        for &i in positions {
            if let Some(n) = nodes.get(i)
                && !Arc::ptr_eq(&self.nodes[i], n)
            {
                self.replace(i, n);
            }
        }
    }

    /// The summaries, in snapshot order.
    pub(crate) fn rows(&self) -> &[NodeSummary] {
        &self.rows
    }

    /// The names, in snapshot order.
    pub(crate) fn names(&self) -> &[Arc<str>] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod, taint};

    #[test]
    fn summaries_follow_the_snapshot() {
        let mut a = node("a").cpu("4").memory("8Gi").info();
        a.add_pod(pod("p").requests("1", "1Gi").arc());
        a.add_pod(pod("q").arc());
        let b = node("b")
            .taint(taint("x", "", "PreferNoSchedule"))
            .unschedulable(true)
            .info();
        let mut snap = Snapshot::from_nodes([a, b]);
        let mut table = SummaryTable::default();
        table.refresh(&snap);
        let [sa, sb] = table.rows() else {
            panic!("two rows")
        };
        assert_eq!(sa.pod_count, 2);
        assert_eq!(sa.requested_milli_cpu, 1000);
        assert_eq!(sa.non_zero_milli_cpu, 1100);
        assert_eq!(sa.allocatable_memory, 8 << 30);
        assert!(sa.known && !sa.hard_taints && !sa.unschedulable);
        assert!(sb.prefer_taints && !sb.hard_taints && sb.unschedulable);

        let mut changed = (**snap.get("b").unwrap()).clone();
        changed.add_pod(pod("r").requests("2", "0").arc());
        snap.upsert(Arc::new(changed));
        table.refresh(&snap);
        assert_eq!(table.rows()[1].requested_milli_cpu, 2000);
        assert_eq!(table.rows()[0], NodeSummary::of(&snap.nodes()[0]));

        snap.remove("a");
        table.refresh(&snap);
        assert_eq!(table.rows().len(), 1);
        assert_eq!(table.rows()[0].requested_milli_cpu, 2000);
    }
}
