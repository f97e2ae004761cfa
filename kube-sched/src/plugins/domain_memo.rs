//! Counts of pods per topology domain, carried from one cycle to the next.
//!
//! PodTopologySpread and InterPodAffinity count, at every cycle, the pods of the whole
//! cluster that match the incoming pod's terms, per topology domain (zone, hostname...).
//! Done afresh, that is a pass over every pod for every pod scheduled: quadratic in the
//! cluster's size. Pods of one workload share their terms, and between two cycles only
//! the node the last pod went to changed; so the counts are kept per node, for the terms
//! of the last pod (its *signature*), and only the nodes whose info was replaced since
//! are counted again. A pod with other terms starts over.
//!
//! A node's info is immutable while shared, and the memo holds the `Arc` it counted, so
//! "the same pointer at the same position" means "nothing changed there".

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use kube_core::{NodeInfo, Snapshot};

/// One domain's tally: matching pods, and how many nodes make up the domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Domain {
    /// Matching pods (or, for scores, the summed weights).
    pub(crate) pods: i64,
    /// Nodes counted in the domain.
    pub(crate) nodes: u32,
}

/// A fast, non-cryptographic hasher (the multiply-rotate of Firefox and rustc) for the
/// domain maps, looked up for every node a cycle visits. Their keys are node label keys
/// and values, which only cluster administrators set.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Domains of one counter: topology key, then value.
pub(crate) type Domains = FxMap<Arc<str>, FxMap<Arc<str>, Domain>>;

/// Reads a count.
pub(crate) fn domain(counts: &Domains, key: &str, value: &str) -> Option<Domain> {
    counts.get(key).and_then(|m| m.get(value)).copied()
}

/// Adds `delta` (pods and nodes) to one domain, dropping it once empty.
pub(crate) fn bump(counts: &mut Domains, key: &Arc<str>, value: &Arc<str>, pods: i64, nodes: i64) {
    let by_value = match counts.get_mut(&**key) {
        Some(m) => m,
        None => counts.entry(Arc::clone(key)).or_default(),
    };
    let d = match by_value.get_mut(&**value) {
        Some(d) => d,
        None => by_value.entry(Arc::clone(value)).or_default(),
    };
    d.pods += pods;
    d.nodes = (i64::from(d.nodes) + nodes).max(0) as u32;
    if d.nodes == 0 && d.pods == 0 {
        by_value.remove(&**value);
        if by_value.is_empty() {
            counts.remove(&**key);
        }
    }
}

/// What one node adds to the counters: `(counter, key, value, pods)`. A node adds to a
/// domain's node count once per entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Contribution(pub(crate) Vec<(u32, Arc<str>, Arc<str>, i64)>);

/// Strings shared by every contribution: topology keys and values.
#[derive(Debug, Default)]
pub(crate) struct Interner(HashSet<Arc<str>>);

impl Interner {
    /// The shared copy of `s`.
    pub(crate) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(Arc::clone(&a));
        a
    }
}

/// The per-node counts for the last signature, and their totals per counter.
#[derive(Debug)]
pub(crate) struct DomainMemo<S> {
    signature: Option<S>,
    nodes: Vec<Arc<NodeInfo>>,
    contributions: Vec<Contribution>,
    totals: Arc<Vec<Domains>>,
    counters: usize,
    interner: Interner,
}

impl<S> Default for DomainMemo<S> {
    fn default() -> Self {
        Self {
            signature: None,
            nodes: Vec::new(),
            contributions: Vec::new(),
            totals: Arc::default(),
            counters: 0,
            interner: Interner::default(),
        }
    }
}

impl<S: PartialEq> DomainMemo<S> {
    /// The totals of `counters` counters over every node of `snapshot`, for a pod with
    /// `signature`; `contribute` gives one node's contribution (it must depend only on the
    /// node and on what `signature` holds).
    pub(crate) fn totals(
        &mut self,
        signature: S,
        counters: usize,
        snapshot: &Snapshot,
        mut contribute: impl FnMut(&NodeInfo, &mut Interner, &mut Contribution),
    ) -> Arc<Vec<Domains>> {
        let nodes = snapshot.nodes();
        let same = self.signature.as_ref() == Some(&signature)
            && self.counters == counters
            && self.nodes.len() == nodes.len();
        if !same {
            self.signature = Some(signature);
            self.counters = counters;
            self.nodes.clear();
            self.contributions.clear();
            let mut totals = vec![Domains::default(); counters];
            for n in nodes {
                let mut c = Contribution::default();
                contribute(n, &mut self.interner, &mut c);
                apply(&mut totals, &c, 1);
                self.nodes.push(Arc::clone(n));
                self.contributions.push(c);
            }
            self.totals = Arc::new(totals);
            return Arc::clone(&self.totals);
        }
        for (i, n) in nodes.iter().enumerate() {
            if Arc::ptr_eq(&self.nodes[i], n) {
                continue;
            }
            let mut c = Contribution::default();
            contribute(n, &mut self.interner, &mut c);
            if c != self.contributions[i] {
                let totals = Arc::make_mut(&mut self.totals);
                apply(totals, &self.contributions[i], -1);
                apply(totals, &c, 1);
                self.contributions[i] = c;
            }
            self.nodes[i] = Arc::clone(n);
        }
        Arc::clone(&self.totals)
    }
}

/// How many signatures a [`DomainMemos`] keeps: workloads whose pods arrive interleaved
/// each keep their counts.
pub(crate) const SIGNATURES: usize = 8;

/// A [`DomainMemo`] per recently seen signature, the least recently used dropped first.
#[derive(Debug)]
pub(crate) struct DomainMemos<S> {
    memos: Vec<DomainMemo<S>>,
}

impl<S> Default for DomainMemos<S> {
    fn default() -> Self {
        Self { memos: Vec::new() }
    }
}

impl<S: PartialEq> DomainMemos<S> {
    /// Like [`DomainMemo::totals`], with the memo of this signature if one is kept.
    pub(crate) fn totals(
        &mut self,
        signature: S,
        counters: usize,
        snapshot: &Snapshot,
        contribute: impl FnMut(&NodeInfo, &mut Interner, &mut Contribution),
    ) -> Arc<Vec<Domains>> {
        let at = self
            .memos
            .iter()
            .position(|m| m.signature.as_ref() == Some(&signature));
        let memo = match at {
            Some(i) => self.memos.remove(i),
            None if self.memos.len() >= SIGNATURES => self.memos.pop().unwrap_or_default(),
            None => DomainMemo::default(),
        };
        self.memos.insert(0, memo);
        self.memos[0].totals(signature, counters, snapshot, contribute)
    }
}

fn apply(totals: &mut [Domains], c: &Contribution, sign: i64) {
    for (counter, key, value, pods) in &c.0 {
        if let Some(t) = totals.get_mut(*counter as usize) {
            bump(t, key, value, sign * pods, sign);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod};

    /// Counts pods labelled `app=<signature>` per zone.
    fn count(memo: &mut DomainMemo<String>, app: &str, snap: &Snapshot) -> Vec<(String, Domain)> {
        let totals = memo.totals(app.to_owned(), 1, snap, |n, interner, c| {
            let Some(zone) = n.node().and_then(|n| n.metadata.labels.get("zone")) else {
                return;
            };
            let pods = n
                .pods()
                .iter()
                .filter(|p| p.pod().metadata.labels.get("app").map(String::as_str) == Some(app))
                .count() as i64;
            c.0.push((0, interner.get("zone"), interner.get(zone), pods));
        });
        let mut out: Vec<(String, Domain)> = totals[0]
            .get("zone")
            .map(|m| m.iter().map(|(k, v)| (k.to_string(), *v)).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn d(pods: i64, nodes: u32) -> Domain {
        Domain { pods, nodes }
    }

    #[test]
    fn counts_follow_changed_nodes_only_and_restart_for_another_signature() {
        let mut a = node("a").label("zone", "z1").info();
        a.add_pod(pod("p1").label("app", "web").arc());
        let b = node("b").label("zone", "z1").info();
        let c = node("c").label("zone", "z2").info();
        let mut snap = Snapshot::from_nodes([a, b, c]);
        let mut memo = DomainMemo::default();
        assert_eq!(
            count(&mut memo, "web", &snap),
            [("z1".into(), d(1, 2)), ("z2".into(), d(0, 1))]
        );
        let mut c2 = (**snap.get("c").unwrap()).clone();
        c2.add_pod(pod("p2").label("app", "web").arc());
        c2.add_pod(pod("p3").label("app", "db").arc());
        snap.upsert(Arc::new(c2));
        assert_eq!(
            count(&mut memo, "web", &snap),
            [("z1".into(), d(1, 2)), ("z2".into(), d(1, 1))]
        );
        assert_eq!(
            count(&mut memo, "db", &snap),
            [("z1".into(), d(0, 2)), ("z2".into(), d(1, 1))]
        );
        snap.remove("a");
        assert_eq!(
            count(&mut memo, "db", &snap),
            [("z1".into(), d(0, 1)), ("z2".into(), d(1, 1))]
        );
    }
}
