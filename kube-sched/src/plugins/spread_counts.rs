//! PodTopologySpread's counts of matching pods per topology domain, kept per node
//! position from one cycle to the next.
//!
//! Every domain value of a constraint gets a small id; the tables give, for each node of
//! the snapshot (by position), the id of its domain, and for each id the domain's tally.
//! Filter and Score then answer a node with two array reads, instead of a label lookup
//! and two hash lookups. As in [`DomainMemo`](super::domain_memo::DomainMemo), the tables
//! are kept for the last few pod signatures and updated only where the snapshot replaced a
//! node.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use kube_core::{NodeInfo, Snapshot};

use super::domain_memo::{Domain, FxHasher, SIGNATURES};
use crate::framework::NodeRef;

/// The id of "no such label on the node".
pub(crate) const NO_DOMAIN: u32 = u32::MAX;

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The counts a cycle reads, per constraint. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub(crate) struct SpreadTables {
    /// Each snapshot node's domain id, by position ([`NO_DOMAIN`] without the label).
    ids: Vec<Arc<Vec<u32>>>,
    /// Domain value to id.
    value_ids: Vec<Arc<FxMap<Arc<str>, u32>>>,
    /// Each domain's tally, by id; a domain no counted node belongs to has `nodes == 0`.
    totals: Vec<Arc<Vec<Domain>>>,
}

impl SpreadTables {
    /// The domain id of `node` for constraint `i` (whose key is `key`): `None` when the
    /// node lacks the label, `Some(NO_DOMAIN)` for a value no node was counted under.
    #[inline]
    pub(crate) fn domain_of(&self, i: usize, key: &str, node: &NodeRef<'_>) -> Option<u32> {
        if let Some(at) = node.position()
            && let Some(&id) = self.ids[i].get(at)
        {
            return (id != NO_DOMAIN).then_some(id);
        }
        let value = node.node()?.metadata.labels.get(key)?;
        Some(
            self.value_ids[i]
                .get(value.as_str())
                .copied()
                .unwrap_or(NO_DOMAIN),
        )
    }

    /// Matching pods in domain `id` of constraint `i`.
    #[inline]
    pub(crate) fn pods(&self, i: usize, id: u32) -> i64 {
        self.totals[i].get(id as usize).map_or(0, |d| d.pods)
    }

    /// Adds `delta` matching pods to the domain of `value` (preemption's what-ifs).
    pub(crate) fn add_pods(&mut self, i: usize, value: &str, delta: i64) {
        if let Some(&id) = self.value_ids[i].get(value)
            && let Some(d) = Arc::make_mut(&mut self.totals[i]).get_mut(id as usize)
        {
            d.pods += delta;
        }
    }

    /// The domains of constraint `i` that counted nodes belong to.
    pub(crate) fn domains(&self, i: usize) -> impl Iterator<Item = &Domain> {
        self.totals[i].iter().filter(|d| d.nodes > 0)
    }
}

#[derive(Debug)]
struct Memo<S> {
    signature: S,
    nodes: Vec<Arc<NodeInfo>>,
    /// Per constraint, per position: the node's matching pods when it counts.
    contributions: Vec<Vec<Option<i64>>>,
    tables: SpreadTables,
}

impl<S> Memo<S> {
    /// Counts node `at` anew into every constraint (after taking its old counts out).
    fn recount(
        &mut self,
        at: usize,
        node: &NodeInfo,
        keys: &[&str],
        contribute: &mut impl FnMut(usize, &NodeInfo) -> Option<i64>,
    ) {
        let labels = node.node().map(|n| &n.metadata.labels);
        for (i, key) in keys.iter().enumerate() {
            let old_id = self.tables.ids[i][at];
            if let Some(pods) = self.contributions[i][at].take()
                && let Some(d) = Arc::make_mut(&mut self.tables.totals[i]).get_mut(old_id as usize)
            {
                d.pods -= pods;
                d.nodes -= 1;
            }
            let id = match labels.and_then(|l| l.get(*key)) {
                None => NO_DOMAIN,
                Some(value) => match self.tables.value_ids[i].get(value.as_str()) {
                    Some(&id) => id,
                    None => {
                        let id = self.tables.totals[i].len() as u32;
                        Arc::make_mut(&mut self.tables.value_ids[i])
                            .insert(Arc::from(value.as_str()), id);
                        Arc::make_mut(&mut self.tables.totals[i]).push(Domain::default());
                        id
                    }
                },
            };
            if id != old_id {
                Arc::make_mut(&mut self.tables.ids[i])[at] = id;
            }
            if id != NO_DOMAIN
                && let Some(pods) = contribute(i, node)
            {
                let d = &mut Arc::make_mut(&mut self.tables.totals[i])[id as usize];
                d.pods += pods;
                d.nodes += 1;
                self.contributions[i][at] = Some(pods);
            }
        }
    }
}

/// Spread tables for the most recently used signatures.
#[derive(Debug)]
pub(crate) struct SpreadMemos<S> {
    memos: Vec<Memo<S>>,
}

impl<S> Default for SpreadMemos<S> {
    fn default() -> Self {
        Self { memos: Vec::new() }
    }
}

impl<S: PartialEq> SpreadMemos<S> {
    /// The tables of the constraints with topology `keys` over every node of `snapshot`,
    /// for a pod with `signature`. `contribute(i, node)` gives the node's matching pods for
    /// constraint `i`, or `None` when the node does not count for it (it must depend only
    /// on the node and on what the signature holds).
    pub(crate) fn tables(
        &mut self,
        signature: S,
        keys: &[&str],
        snapshot: &Snapshot,
        mut contribute: impl FnMut(usize, &NodeInfo) -> Option<i64>,
    ) -> SpreadTables {
        let nodes = snapshot.nodes();
        let found = self.memos.iter().position(|m| {
            m.signature == signature
                && m.nodes.len() == nodes.len()
                && m.tables.ids.len() == keys.len()
        });
        let mut memo = match found {
            Some(i) => self.memos.remove(i),
            None => {
                if self.memos.len() >= SIGNATURES {
                    self.memos.pop();
                }
                let mut memo = Memo {
                    signature,
                    nodes: nodes.to_vec(),
                    contributions: vec![vec![None; nodes.len()]; keys.len()],
                    tables: SpreadTables {
                        ids: keys
                            .iter()
                            .map(|_| Arc::new(vec![NO_DOMAIN; nodes.len()]))
                            .collect(),
                        value_ids: keys.iter().map(|_| Arc::default()).collect(),
                        totals: keys.iter().map(|_| Arc::default()).collect(),
                    },
                };
                for (at, n) in nodes.iter().enumerate() {
                    memo.recount(at, n, keys, &mut contribute);
                }
                let tables = memo.tables.clone();
                self.memos.insert(0, memo);
                return tables;
            }
        };
        for (at, n) in nodes.iter().enumerate() {
            if !Arc::ptr_eq(&memo.nodes[at], n) {
                memo.recount(at, n, keys, &mut contribute);
                memo.nodes[at] = Arc::clone(n);
            }
        }
        let tables = memo.tables.clone();
        self.memos.insert(0, memo);
        tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeSummary;
    use crate::testing::{node, pod};

    fn web_pods(n: &NodeInfo) -> i64 {
        n.pods()
            .iter()
            .filter(|p| p.pod().metadata.labels.get("app").map(String::as_str) == Some("web"))
            .count() as i64
    }

    /// Per node (by name): its zone's matching pods, or None without a zone.
    fn view(t: &SpreadTables, snap: &Snapshot) -> Vec<Option<i64>> {
        snap.nodes()
            .iter()
            .enumerate()
            .map(|(at, n)| {
                let r = NodeRef::at(n, NodeSummary::of(n), at);
                t.domain_of(0, "zone", &r).map(|id| t.pods(0, id))
            })
            .collect()
    }

    #[test]
    fn tables_follow_replaced_nodes_and_label_changes() {
        let mut a = node("a").label("zone", "z1").info();
        a.add_pod(pod("w1").label("app", "web").arc());
        let snap0 =
            Snapshot::from_nodes([a, node("b").label("zone", "z1").info(), node("c").info()]);
        let mut memos = SpreadMemos::default();
        let mut tables =
            |snap: &Snapshot| memos.tables("web", &["zone"], snap, |_, n| Some(web_pods(n)));
        let t = tables(&snap0);
        assert_eq!(view(&t, &snap0), [Some(1), Some(1), None]);
        assert_eq!(t.domains(0).count(), 1);

        let mut snap = snap0.clone();
        snap.upsert(Arc::new({
            let mut c = node("c").label("zone", "z2").info();
            c.add_pod(pod("w2").label("app", "web").arc());
            c.add_pod(pod("w3").label("app", "web").arc());
            c
        }));
        let t1 = t;
        let t = tables(&snap);
        assert_eq!(view(&t, &snap), [Some(1), Some(1), Some(2)]);
        assert_eq!(t.domains(0).count(), 2);
        // The tables an earlier cycle still holds did not change under it.
        assert_eq!(view(&t1, &snap0), [Some(1), Some(1), None]);
        // Back to the old snapshot: node c is counted again, without a zone.
        let back = tables(&snap0);
        assert_eq!(view(&back, &snap0), [Some(1), Some(1), None]);
        assert_eq!(back.domains(0).count(), 1);

        // A node without a position (a copy preemption changed) is looked up by label.
        let copy = node("x").label("zone", "z2").info();
        let t = tables(&snap);
        assert_eq!(
            t.domain_of(0, "zone", &NodeRef::of(&copy))
                .map(|id| t.pods(0, id)),
            Some(2)
        );
        let unknown = node("y").label("zone", "z9").info();
        assert_eq!(
            t.domain_of(0, "zone", &NodeRef::of(&unknown)),
            Some(NO_DOMAIN)
        );
    }
}
