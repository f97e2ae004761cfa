//! A `Profile`: the plugins at each extension point, with score weights, under one
//! scheduler name (`spec.schedulerName`).

use std::fmt;
use std::sync::Arc;

use kube_core::{NodeInfo, PodInfo};

use super::node_ref::NodeRef;
use super::plugin::{
    BindPlugin, FilterPlugin, FilterRunner, PermitPlugin, PostBindPlugin, PostFilterPlugin,
    PreBindPlugin, PreFilterPlugin, PreScorePlugin, ReservePlugin, ScorePlugin,
};
use super::rejection::Rejection;
use super::state::CycleState;
use crate::events::ClusterEvent;

/// The name a pod's failure is tagged with when the cluster has no node at all: a node
/// being added is the event that can change that, in every profile.
pub(crate) const NO_NODES: &str = "NoNodes";

/// The plugins of one scheduler name. Build one with [`Profile::builder`], or take
/// [`crate::default_profile`].
#[derive(Clone)]
pub struct Profile {
    pub(crate) name: String,
    pub(crate) pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    pub(crate) filter: Vec<Arc<dyn FilterPlugin>>,
    pub(crate) post_filter: Vec<Arc<dyn PostFilterPlugin>>,
    pub(crate) pre_score: Vec<Arc<dyn PreScorePlugin>>,
    pub(crate) score: Vec<(Arc<dyn ScorePlugin>, i64)>,
    pub(crate) reserve: Vec<Arc<dyn ReservePlugin>>,
    pub(crate) permit: Vec<Arc<dyn PermitPlugin>>,
    pub(crate) pre_bind: Vec<Arc<dyn PreBindPlugin>>,
    pub(crate) bind: Vec<Arc<dyn BindPlugin>>,
    pub(crate) post_bind: Vec<Arc<dyn PostBindPlugin>>,
    pub(crate) events: Vec<(&'static str, &'static [ClusterEvent])>,
    pub(crate) percentage_of_nodes_to_score: Option<u32>,
}

impl Profile {
    /// An empty profile for `scheduler_name`.
    pub fn builder(scheduler_name: impl Into<String>) -> ProfileBuilder {
        ProfileBuilder(Self {
            name: scheduler_name.into(),
            pre_filter: Vec::new(),
            filter: Vec::new(),
            post_filter: Vec::new(),
            pre_score: Vec::new(),
            score: Vec::new(),
            reserve: Vec::new(),
            permit: Vec::new(),
            pre_bind: Vec::new(),
            bind: Vec::new(),
            post_bind: Vec::new(),
            events: Vec::new(),
            percentage_of_nodes_to_score: None,
        })
    }

    /// The scheduler name this profile serves.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when a plugin of this profile named `plugin` cares about `event`.
    pub fn is_interested(&self, plugin: &str, event: ClusterEvent) -> bool {
        if plugin == NO_NODES {
            return event == ClusterEvent::NODE_ADD;
        }
        self.events
            .iter()
            .any(|(p, evs)| *p == plugin && evs.contains(&event))
    }

    /// Every plugin name registered at some extension point.
    pub fn plugin_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.events.iter().map(|(p, _)| *p)
    }

    fn note(&mut self, name: &'static str, events: &'static [ClusterEvent]) {
        if !self.events.iter().any(|(p, _)| *p == name) {
            self.events.push((name, events));
        }
    }

    /// Runs the filters not skipped in `state` on one node; the first rejection wins,
    /// tagged with the rejecting plugin's name.
    #[inline]
    pub(crate) fn filter_node(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeRef<'_>,
    ) -> Result<(), (&'static str, Rejection)> {
        let n = self.filter.len();
        if let Some(skipped) = state.filter_mask
            && n <= 64
        {
            // Only the active plugins, by their bits: no test per skipped plugin.
            let all = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            let mut active = all & !skipped;
            while active != 0 {
                let i = active.trailing_zeros() as usize;
                active &= active - 1;
                let f = &self.filter[i];
                f.filter(state, pod, node).map_err(|r| (f.name(), r))?;
            }
            return Ok(());
        }
        for (i, f) in self.filter.iter().enumerate() {
            if state.skips_filter_at(i, || f.name()) {
                continue;
            }
            f.filter(state, pod, node).map_err(|r| (f.name(), r))?;
        }
        Ok(())
    }
}

impl FilterRunner for Profile {
    fn node_local_state(&self, state: &CycleState) -> bool {
        self.pre_filter
            .iter()
            .all(|p| p.node_local() || state.skips_filter(p.name()))
    }

    fn run_filters(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Result<(), Rejection> {
        if node.node().is_none() {
            return Err(Rejection::unresolvable("node not found"));
        }
        self.filter_node(state, pod, &NodeRef::of(node))
            .map_err(|(_, r)| r)
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo) {
        for p in &self.pre_filter {
            if !state.skips_filter(p.name()) {
                p.add_pod(state, pod, added, node);
            }
        }
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
    ) {
        for p in &self.pre_filter {
            if !state.skips_filter(p.name()) {
                p.remove_pod(state, pod, removed, node);
            }
        }
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: &mut dyn Iterator<Item = &'static str>| v.collect::<Vec<_>>();
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field(
                "pre_filter",
                &names(&mut self.pre_filter.iter().map(|p| p.name())),
            )
            .field("filter", &names(&mut self.filter.iter().map(|p| p.name())))
            .field(
                "post_filter",
                &names(&mut self.post_filter.iter().map(|p| p.name())),
            )
            .field(
                "pre_score",
                &names(&mut self.pre_score.iter().map(|p| p.name())),
            )
            .field(
                "score",
                &self
                    .score
                    .iter()
                    .map(|(p, w)| (p.name(), *w))
                    .collect::<Vec<_>>(),
            )
            .field(
                "reserve",
                &names(&mut self.reserve.iter().map(|p| p.name())),
            )
            .field("permit", &names(&mut self.permit.iter().map(|p| p.name())))
            .field(
                "pre_bind",
                &names(&mut self.pre_bind.iter().map(|p| p.name())),
            )
            .field("bind", &names(&mut self.bind.iter().map(|p| p.name())))
            .field(
                "post_bind",
                &names(&mut self.post_bind.iter().map(|p| p.name())),
            )
            .finish()
    }
}

/// Builds a [`Profile`], one extension point at a time. Register one plugin instance
/// (`Arc`) at every point it implements; order is the order of calls.
#[derive(Debug)]
#[must_use]
pub struct ProfileBuilder(Profile);

impl ProfileBuilder {
    /// Adds a PreFilter plugin.
    pub fn pre_filter(mut self, p: Arc<dyn PreFilterPlugin>) -> Self {
        self.0.note(p.name(), p.events());
        self.0.pre_filter.push(p);
        self
    }

    /// Adds a Filter plugin.
    pub fn filter(mut self, p: Arc<dyn FilterPlugin>) -> Self {
        self.0.note(p.name(), p.events());
        self.0.filter.push(p);
        self
    }

    /// Adds a PostFilter plugin.
    pub fn post_filter(mut self, p: Arc<dyn PostFilterPlugin>) -> Self {
        self.0.note(p.name(), p.events());
        self.0.post_filter.push(p);
        self
    }

    /// Adds a PreScore plugin.
    pub fn pre_score(mut self, p: Arc<dyn PreScorePlugin>) -> Self {
        self.0.note(p.name(), p.events());
        self.0.pre_score.push(p);
        self
    }

    /// Adds a Score plugin with its weight (Kubernetes' default weights: 1, 2 or 3).
    pub fn score(mut self, p: Arc<dyn ScorePlugin>, weight: i64) -> Self {
        self.0.note(p.name(), p.events());
        self.0.score.push((p, weight));
        self
    }

    /// Adds a Reserve plugin.
    pub fn reserve(mut self, p: Arc<dyn ReservePlugin>) -> Self {
        self.0.note(p.name(), p.events());
        self.0.reserve.push(p);
        self
    }

    /// Adds a Permit plugin.
    pub fn permit(mut self, p: Arc<dyn PermitPlugin>) -> Self {
        self.0.note(p.name(), p.events());
        self.0.permit.push(p);
        self
    }

    /// Adds a PreBind plugin.
    pub fn pre_bind(mut self, p: Arc<dyn PreBindPlugin>) -> Self {
        self.0.note(p.name(), p.events());
        self.0.pre_bind.push(p);
        self
    }

    /// Adds a Bind plugin.
    pub fn bind(mut self, p: Arc<dyn BindPlugin>) -> Self {
        self.0.note(p.name(), p.events());
        self.0.bind.push(p);
        self
    }

    /// Adds a PostBind plugin.
    pub fn post_bind(mut self, p: Arc<dyn PostBindPlugin>) -> Self {
        self.0.note(p.name(), p.events());
        self.0.post_bind.push(p);
        self
    }

    /// Scores only this percentage of the nodes (1 to 100); unset, the framework's
    /// adaptive default applies.
    pub fn percentage_of_nodes_to_score(mut self, percent: u32) -> Self {
        self.0.percentage_of_nodes_to_score = Some(percent.clamp(1, 100));
        self
    }

    /// Removes every plugin named `name` from every extension point.
    pub fn without(mut self, name: &str) -> Self {
        let p = &mut self.0;
        p.pre_filter.retain(|x| x.name() != name);
        p.filter.retain(|x| x.name() != name);
        p.post_filter.retain(|x| x.name() != name);
        p.pre_score.retain(|x| x.name() != name);
        p.score.retain(|x| x.0.name() != name);
        p.reserve.retain(|x| x.name() != name);
        p.permit.retain(|x| x.name() != name);
        p.pre_bind.retain(|x| x.name() != name);
        p.bind.retain(|x| x.name() != name);
        p.post_bind.retain(|x| x.name() != name);
        p.events.retain(|x| x.0 != name);
        self
    }

    /// The profile.
    pub fn build(self) -> Profile {
        self.0
    }
}
