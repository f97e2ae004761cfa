//! `FrameworkScheduler`: the scheduling cycle (PreFilter, Filter over an adaptive share of
//! the nodes from a rotating start, PostFilter, PreScore, Score, selection) run from a
//! profile's plugins. It implements kube-core's [`Scheduler`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kube_core::{Decision, NodeRejectionAll, PodInfo, Scheduler, Snapshot, Unschedulable};
use parking_lot::Mutex;

use super::filter::{Filtering, NominatedFilters};
use super::node_ref::{NodeRef, SummaryTable};
use super::nominator::{NominatedNode, NominatedPods};
use super::plugin::{PreFilterResult, PreScoreResult};
use super::profile::Profile;
use super::state::CycleState;
use super::waiting::WaitingPods;

/// The scheduler name pods get when they name none.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Settings of a [`FrameworkScheduler`].
#[derive(Clone, Debug)]
pub struct FrameworkConfig {
    /// Threads of the pool that filters and scores one pod's nodes; 1 keeps everything on
    /// the calling thread (and starts no pool).
    pub parallelism: usize,
    /// A cycle spreads over the pool only when it looks for at least this many feasible
    /// nodes (or scores that many): below, handing the work over costs more than it saves.
    pub parallel_threshold: usize,
    /// Percentage of nodes to find feasible before scoring (1 to 100); 0 for Kubernetes'
    /// adaptive default (50% minus 1% per 125 nodes, at least 5%, at least 100 nodes).
    pub percentage_of_nodes_to_score: u32,
    /// Seed of the tie-breaking random sequence (between equally scored nodes).
    pub seed: u64,
}

impl Default for FrameworkConfig {
    fn default() -> Self {
        Self {
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            parallel_threshold: 1_000,
            percentage_of_nodes_to_score: 0,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

/// How many feasible nodes a cycle looks for before it stops filtering, as Kubernetes
/// computes it: every node below 100 nodes or at 100%; otherwise `percentage` of the
/// nodes (adaptive when 0: `50 - nodes/125`, at least 5), and never fewer than 100.
pub fn num_feasible_nodes_to_find(percentage: u32, num_nodes: usize) -> usize {
    const MIN_NODES: usize = 100;
    const MIN_PERCENT: usize = 5;
    if num_nodes < MIN_NODES || percentage >= 100 {
        return num_nodes;
    }
    let mut adaptive = percentage as usize;
    if adaptive == 0 {
        adaptive = 50usize.saturating_sub(num_nodes / 125).max(MIN_PERCENT);
    }
    (num_nodes * adaptive / 100).max(MIN_NODES)
}

/// A [`Scheduler`] built from plugins: one [`Profile`] per scheduler name.
#[derive(Debug)]
pub struct FrameworkScheduler {
    profiles: HashMap<String, Profile>,
    config: FrameworkConfig,
    next_start: AtomicUsize,
    rng: AtomicU64,
    waiting: WaitingPods,
    summaries: Mutex<SummaryTable>,
    pool: Option<rayon::ThreadPool>,
}

impl FrameworkScheduler {
    /// A scheduler with these profiles. With `parallelism > 1` it starts a pool of that
    /// many threads for the cycles that examine many nodes.
    pub fn new(profiles: impl IntoIterator<Item = Profile>, config: FrameworkConfig) -> Self {
        let rng = config.seed | 1;
        let pool = (config.parallelism > 1)
            .then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(config.parallelism)
                    .thread_name(|i| format!("kube-sched-filter-{i}"))
                    .build()
                    .map_err(|e| {
                        tracing::warn!(error = %e, "cannot start the filter pool, scheduling on one thread");
                    })
                    .ok()
            })
            .flatten();
        Self {
            pool,
            profiles: profiles.into_iter().map(|p| (p.name.clone(), p)).collect(),
            config,
            next_start: AtomicUsize::new(0),
            rng: AtomicU64::new(rng),
            waiting: WaitingPods::new(),
            summaries: Mutex::new(SummaryTable::default()),
        }
    }

    /// Holds pods at Permit in `waiting`: the set given to plugins that release or reject
    /// waiting pods (such as Coscheduling).
    #[must_use]
    pub fn with_waiting_pods(mut self, waiting: WaitingPods) -> Self {
        self.waiting = waiting;
        self
    }

    /// The pods held at Permit.
    pub fn waiting_pods(&self) -> &WaitingPods {
        &self.waiting
    }

    /// The settings.
    pub fn config(&self) -> &FrameworkConfig {
        &self.config
    }

    /// The profile serving `scheduler_name`.
    pub fn profile(&self, scheduler_name: &str) -> Option<&Profile> {
        self.profiles.get(scheduler_name)
    }

    /// The profile serving a pod (`spec.schedulerName`, default `default-scheduler`).
    pub fn profile_for(&self, pod: &PodInfo) -> Option<&Profile> {
        self.profiles.get(scheduler_name(pod))
    }

    /// Every profile.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    /// True when some profile serves the pod's scheduler name.
    pub fn responsible_for(&self, pod: &PodInfo) -> bool {
        self.profile_for(pod).is_some()
    }

    /// Runs the scheduling cycle for `pod` and returns the cycle state with the answer;
    /// the binding cycle (Reserve, Permit, Bind) reads the same state.
    pub fn schedule_with_state(
        &self,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
    ) -> (CycleState, Result<Decision, Unschedulable>) {
        self.schedule_nominated(pod, snapshot, &NominatedPods::new())
    }

    /// Like [`schedule_with_state`](Self::schedule_with_state), keeping room for the pods
    /// preemption nominated to nodes: a pod of lower or equal priority fits a node only if
    /// it also fits with the node's nominated pods of higher or equal priority. A pod that
    /// is itself nominated tries its node first.
    pub fn schedule_nominated(
        &self,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
        nominated: &NominatedPods,
    ) -> (CycleState, Result<Decision, Unschedulable>) {
        let mut state = CycleState::new();
        let Some(profile) = self.profile_for(pod) else {
            let name = scheduler_name(pod).to_owned();
            return (
                state,
                Err(Unschedulable::error(
                    snapshot.len(),
                    format!("no profile for scheduler name {name:?}"),
                )),
            );
        };
        let mut summaries = self.summaries.lock();
        summaries.refresh(snapshot);
        let result = self.run_cycle(profile, &mut state, pod, snapshot, &summaries, nominated);
        (state, result)
    }

    /// Like [`schedule_nominated`](Self::schedule_nominated), with the node summaries of
    /// `snapshot` kept by the caller (who knows which nodes changed between cycles).
    pub(crate) fn schedule_summarized(
        &self,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
        summaries: &SummaryTable,
        nominated: &NominatedPods,
    ) -> (CycleState, Result<Decision, Unschedulable>) {
        let mut state = CycleState::new();
        let Some(profile) = self.profile_for(pod) else {
            let name = scheduler_name(pod).to_owned();
            return (
                state,
                Err(Unschedulable::error(
                    snapshot.len(),
                    format!("no profile for scheduler name {name:?}"),
                )),
            );
        };
        let result = self.run_cycle(profile, &mut state, pod, snapshot, summaries, nominated);
        (state, result)
    }

    fn run_cycle(
        &self,
        profile: &Profile,
        state: &mut CycleState,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
        summaries: &SummaryTable,
        nominated: &NominatedPods,
    ) -> Result<Decision, Unschedulable> {
        let rows = summaries.rows();
        let names = summaries.names();
        let num_nodes = snapshot.len();
        if num_nodes == 0 {
            return Err(Unschedulable {
                num_nodes,
                plugins: vec![Cow::Borrowed(super::profile::NO_NODES)],
                ..Unschedulable::default()
            });
        }
        let nominated_node = nominated
            .node_of(pod.key())
            .or(pod.pod().status.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty());
        if let Some(node) = nominated_node {
            state.write(NominatedNode(node.to_owned()));
        }
        // PreFilter.
        let mut allowed: Option<HashSet<String>> = None;
        for p in &profile.pre_filter {
            match p.pre_filter(state, pod, snapshot) {
                Ok(PreFilterResult::Proceed) => {}
                Ok(PreFilterResult::Skip) => state.skip_filter.push(p.name()),
                Ok(PreFilterResult::Nodes(nodes)) => {
                    allowed = Some(match allowed.take() {
                        None => nodes,
                        Some(prev) => prev.intersection(&nodes).cloned().collect(),
                    });
                }
                Err(r) => {
                    return Err(Unschedulable {
                        num_nodes,
                        pre_filter: Some(Box::new(NodeRejectionAll {
                            code: r.code,
                            plugin: Cow::Borrowed(p.name()),
                            reason: r.reasons.into_vec().into_iter().next().unwrap_or_default(),
                        })),
                        plugins: vec![Cow::Borrowed(p.name())],
                        ..Unschedulable::default()
                    });
                }
            }
        }
        state.freeze_filter_skips(profile.filter.iter().map(|p| p.name()));
        let filtering = Filtering {
            profile,
            state,
            pod,
            nominated,
        };
        // A nominated pod goes to its node when it fits there now (the victims are gone).
        if let Some(name) = nominated_node
            && allowed.as_ref().is_none_or(|a| a.contains(name))
            && let Some(at) = snapshot.position(name)
            && filtering
                .node(&NodeRef::at(&snapshot.nodes()[at], rows[at], at))
                .is_ok()
        {
            return Ok(Decision {
                node: name.to_owned(),
                evaluated_nodes: 1,
                feasible_nodes: 1,
            });
        }
        // Filter.
        let percentage = profile
            .percentage_of_nodes_to_score
            .unwrap_or(self.config.percentage_of_nodes_to_score);
        let filtered = match &allowed {
            Some(names) => filtering.listed(snapshot.nodes(), rows, names),
            None => {
                let to_find = num_feasible_nodes_to_find(percentage, num_nodes);
                let start = self.next_start.load(Ordering::Relaxed) % num_nodes;
                let pool = self
                    .pool
                    .as_ref()
                    .filter(|_| to_find >= self.config.parallel_threshold);
                let f = filtering.rotating(snapshot.nodes(), rows, start, to_find, pool);
                self.next_start
                    .store((start + f.processed) % num_nodes, Ordering::Relaxed);
                f
            }
        };
        if filtered.feasible.is_empty() {
            let rejections = filtered.into_rejections(names);
            let mut plugins: Vec<Cow<'static, str>> = Vec::new();
            for r in &rejections {
                if !plugins.contains(&r.plugin) {
                    plugins.push(r.plugin.clone());
                }
            }
            let mut nomination = None;
            let filters = NominatedFilters {
                profile,
                nominated,
                pool: self.pool.as_ref(),
            };
            for p in &profile.post_filter {
                nomination = p
                    .post_filter(state, pod, snapshot, &rejections, &filters)
                    .map(Box::new);
                if nomination.is_some() {
                    break;
                }
            }
            return Err(Unschedulable {
                num_nodes,
                rejections,
                pre_filter: None,
                plugins,
                nomination,
                error: None,
            });
        }
        let evaluated_nodes = filtered.feasible.len() + filtered.rejected.len();
        let feasible_nodes = filtered.feasible.len();
        if feasible_nodes == 1 {
            return Ok(Decision {
                node: filtered.feasible[0].name().to_owned(),
                evaluated_nodes,
                feasible_nodes,
            });
        }
        // PreScore and Score.
        for p in &profile.pre_score {
            if p.pre_score(state, pod, snapshot, &filtered.feasible) == PreScoreResult::Skip {
                state.skip_score.push(p.name());
            }
        }
        state.freeze_score_skips(profile.score.iter().map(|(p, _)| p.name()));
        let totals = self.score(profile, state, pod, &filtered.feasible);
        let best = self.select(&totals);
        Ok(Decision {
            node: filtered.feasible[best].name().to_owned(),
            evaluated_nodes,
            feasible_nodes,
        })
    }

    fn score(
        &self,
        profile: &Profile,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[NodeRef<'_>],
    ) -> Vec<i64> {
        let mut totals = vec![0i64; nodes.len()];
        let mut scores = vec![0i64; nodes.len()];
        let pool = self
            .pool
            .as_ref()
            .filter(|_| nodes.len() >= self.config.parallel_threshold);
        for (i, (p, weight)) in profile.score.iter().enumerate() {
            if state.skips_score_at(i, || p.name()) {
                continue;
            }
            match pool {
                Some(pool) => {
                    use rayon::prelude::*;
                    let chunk = nodes.len().div_ceil(pool.current_num_threads().max(1));
                    pool.install(|| {
                        scores
                            .par_chunks_mut(chunk)
                            .zip(nodes.par_chunks(chunk))
                            .for_each(|(out, ns)| p.score_nodes(state, pod, ns, out));
                    });
                }
                None => p.score_nodes(state, pod, nodes, &mut scores),
            }
            p.normalize(state, pod, &mut scores);
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t += s * weight;
            }
        }
        totals
    }

    /// The index of the highest total; ties broken at random (reservoir sampling), as
    /// Kubernetes does, so equal nodes share the load.
    fn select(&self, totals: &[i64]) -> usize {
        let mut best = 0;
        let mut ties = 1u64;
        for (i, &t) in totals.iter().enumerate().skip(1) {
            if t > totals[best] {
                best = i;
                ties = 1;
            } else if t == totals[best] {
                ties += 1;
                if self.random() % ties == 0 {
                    best = i;
                }
            }
        }
        best
    }

    fn random(&self) -> u64 {
        // xorshift64: cheap, good enough to break ties.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        x
    }
}

/// The scheduler name of a pod: `spec.schedulerName`, or `default-scheduler`.
pub fn scheduler_name(pod: &PodInfo) -> &str {
    pod.pod()
        .spec
        .scheduler_name
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SCHEDULER_NAME)
}

impl Scheduler for FrameworkScheduler {
    fn schedule(&self, pod: &Arc<PodInfo>, snapshot: &Snapshot) -> Result<Decision, Unschedulable> {
        self.schedule_with_state(pod, snapshot).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feasible_nodes_to_find_follows_kubernetes() {
        let cases = [
            (0, 10, 10),
            (0, 99, 99),
            (0, 100, 100),
            (0, 500, 230),
            (0, 1000, 420),
            (0, 5000, 500),
            (0, 6000, 300),
            (0, 10_000, 500),
            (0, 100_000, 5_000),
            (30, 1000, 300),
            (100, 5000, 5000),
            (1, 1000, 100),
        ];
        for (pct, nodes, want) in cases {
            assert_eq!(
                num_feasible_nodes_to_find(pct, nodes),
                want,
                "{pct}% of {nodes}"
            );
        }
    }
}
