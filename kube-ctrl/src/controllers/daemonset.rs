//! The DaemonSet controller: one pod on every eligible node, following node changes, and
//! rolling updates node by node.
//!
//! As Kubernetes': a node is eligible when it matches the template's `nodeSelector` and
//! required node affinity and the pod tolerates its `NoSchedule` and `NoExecute` taints
//! (daemon pods get Kubernetes' default tolerations: not-ready, unreachable, the pressure
//! taints and unschedulable); a pod keeps running while it tolerates the `NoExecute`
//! ones. Pods are created with a required node affinity to their node's name (the
//! scheduler binds them), labelled with the template's `controller-revision-hash`;
//! failed pods are replaced, extra pods on a node deleted (the oldest stays; while
//! surging, the oldest updated and the oldest old pod), pods on nodes that no longer
//! qualify deleted. `RollingUpdate` without `maxSurge` replaces old pods within
//! `maxUnavailable` unavailable nodes (unavailable old pods first); with `maxSurge`, a
//! node's new pod starts beside its old one (on at most `maxSurge` nodes at once; at
//! once where the old pod is unavailable) and the old pod goes when the new one is
//! available, so no node is left without a daemon; `OnDelete` waits for old pods to be
//! deleted. Status: desired, current, misscheduled, ready, available, unavailable and
//! updated counts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::future::join_all;
use kube_api::client::{Api, Client, DeleteParams, PostParams};
use kube_api::informer::Cache;
use kube_core::{
    Action, DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategyType, Node, NodeSelector,
    NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, ObjectKey, Pod, PodPhase,
    PodSpec, ResourceExt as _, TaintEffect, Toleration, TolerationOperator,
};

use super::claim::{self, Owner};
use super::deployment::revision::template_hash;
use super::expectations::Expectations;
use super::pods;
use super::taints;
use crate::error::Result;
use crate::runtime::{Controller, ControllerConfig, EventRecorder, RunContext, Runnable};

/// The label carrying the hash of the template a daemon pod was made from.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// Settings of the DaemonSet controller.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonSetConfig {
    /// Workers (Kubernetes runs 2) and retries.
    pub controller: ControllerConfig,
    /// The most pods created in one reconcile.
    pub burst_replicas: usize,
}

impl Default for DaemonSetConfig {
    fn default() -> Self {
        Self {
            controller: ControllerConfig::default().workers(2),
            burst_replicas: 250,
        }
    }
}

/// The DaemonSet controller; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct DaemonSetController {
    config: DaemonSetConfig,
}

impl DaemonSetController {
    /// A controller with these settings.
    pub fn new(config: DaemonSetConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Runnable for DaemonSetController {
    fn name(&self) -> &str {
        "daemonset"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let sets = ctx.factory.informer::<DaemonSet>().cache();
        let state = Arc::new(State {
            client: ctx.client.clone(),
            sets: sets.clone(),
            nodes: ctx.factory.informer::<Node>().cache(),
            pods: ctx.factory.informer::<Pod>().cache(),
            expectations: Expectations::default(),
            recorder: ctx.recorder("daemonset-controller"),
            config: self.config.clone(),
        });
        let all_sets = sets.clone();
        Controller::<DaemonSet>::for_factory(&ctx.factory)
            .name(self.name())
            .config(self.config.controller.clone())
            .metrics(&ctx.metrics)
            .graceful_shutdown_on(ctx.shutdown.clone())
            .owns::<Pod>()
            // Orphans go to the DaemonSets that would adopt them.
            .watches(move |pod: &Pod| {
                if pod.controller_owner().is_some() {
                    return Vec::new();
                }
                sets.list_namespace(pod.namespace().unwrap_or_default())
                    .iter()
                    .filter(|ds| {
                        ds.spec.selector.as_ref().is_some_and(|s| {
                            !s.is_empty() && s.matches(&pod.metadata.labels)
                        })
                    })
                    .map(|ds| ds.key())
                    .collect()
            })
            // A node change may change where every DaemonSet runs.
            .watches(move |_: &Node| all_sets.keys())
            .run_keyed(
                |key, state: Arc<State>| async move { state.reconcile(&key).await },
                state,
            )
            .await;
        Ok(())
    }
}

struct State {
    client: Client,
    sets: Cache<DaemonSet>,
    nodes: Cache<Node>,
    pods: Cache<Pod>,
    expectations: Expectations,
    recorder: EventRecorder,
    config: DaemonSetConfig,
}

/// Kubernetes' default tolerations of daemon pods.
fn default_tolerations(spec: &PodSpec) -> Vec<Toleration> {
    let t = |key: &str, effect: TaintEffect| Toleration {
        key: Some(key.to_owned()),
        operator: Some(TolerationOperator::Exists),
        value: None,
        effect: Some(effect),
        toleration_seconds: None,
    };
    let mut out = vec![
        t(taints::TAINT_NOT_READY, TaintEffect::NoExecute),
        t(taints::TAINT_UNREACHABLE, TaintEffect::NoExecute),
        t(taints::TAINT_DISK_PRESSURE, TaintEffect::NoSchedule),
        t(taints::TAINT_MEMORY_PRESSURE, TaintEffect::NoSchedule),
        t(taints::TAINT_PID_PRESSURE, TaintEffect::NoSchedule),
        t(taints::TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule),
    ];
    if spec.host_network {
        out.push(t(
            taints::TAINT_NETWORK_UNAVAILABLE,
            TaintEffect::NoSchedule,
        ));
    }
    out
}

/// The template's tolerations plus the defaults it lacks.
fn tolerations(spec: &PodSpec) -> Vec<Toleration> {
    let mut all = spec.tolerations.clone();
    for d in default_tolerations(spec) {
        if !all.iter().any(|t| t.key == d.key && t.effect == d.effect) {
            all.push(d);
        }
    }
    all
}

/// Whether a daemon pod should be started on the node, and whether one there may stay.
fn eligibility(ds: &DaemonSet, node: &Node) -> (bool, bool) {
    let spec = &ds.spec.template.spec;
    let selects = spec
        .node_selector
        .iter()
        .all(|(k, v)| node.metadata.labels.get(k) == Some(v));
    let affinity = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|req| req.matches(&node.metadata.labels, node.name_any()));
    if !selects || !affinity {
        return (false, false);
    }
    let tolerations = tolerations(spec);
    let tolerated = |effect: TaintEffect| {
        node.spec
            .taints
            .iter()
            .filter(|t| t.effect == effect)
            .all(|t| Toleration::any_tolerates(&tolerations, t))
    };
    let continue_running = tolerated(TaintEffect::NoExecute);
    (
        continue_running && tolerated(TaintEffect::NoSchedule),
        continue_running,
    )
}

/// The node a daemon pod is for: its `nodeName`, or its node affinity to one name.
fn target_node(pod: &Pod) -> Option<String> {
    if let Some(n) = pod.spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    let terms = &pod
        .spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields
            .iter()
            .find(|r| {
                r.key == "metadata.name"
                    && r.operator == NodeSelectorOperator::In
                    && r.values.len() == 1
            })
            .map(|r| r.values[0].clone())
    })
}

/// The template's pod for one node.
fn pod_for(ds: &DaemonSet, node: &str, hash: &str) -> Option<Pod> {
    let owner = ds.controller_owner_ref(&())?;
    let namespace = ds.namespace().unwrap_or_default();
    let mut pod = pods::from_template(&ds.spec.template, namespace, ds.name_any(), owner);
    pod.metadata
        .labels
        .insert(REVISION_HASH_LABEL.to_owned(), hash.to_owned());
    pod.spec.tolerations = tolerations(&pod.spec);
    let mut affinity = pod.spec.affinity.take().unwrap_or_default();
    let mut node_affinity = affinity.node_affinity.take().unwrap_or_default();
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: Vec::new(),
            match_fields: vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: NodeSelectorOperator::In,
                values: vec![node.to_owned()],
            }],
        }],
    });
    affinity.node_affinity = Some(node_affinity);
    pod.spec.affinity = Some(affinity);
    Some(pod)
}

fn is_updated(pod: &Pod, hash: &str) -> bool {
    pod.metadata
        .labels
        .get(REVISION_HASH_LABEL)
        .map(String::as_str)
        == Some(hash)
}

impl State {
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(ds) = self.sets.get(key) else {
            self.expectations.forget(key);
            return Ok(Action::Done);
        };
        let Some(selector) = ds.spec.selector.clone().filter(|s| !s.is_empty()) else {
            self.recorder
                .warning(&*ds, "SelectorRequired", "the DaemonSet has no selector");
            return Ok(Action::Done);
        };
        if !self.expectations.satisfied(key, &self.pods) {
            return Ok(Action::Done);
        }
        let namespace = ds.namespace().unwrap_or_default().to_owned();
        let owned = claim::claim(
            &self.client,
            Owner {
                object: &*ds,
                selector: &selector,
            },
            self.pods.list_namespace(&namespace),
        )
        .await?;
        let hash = template_hash(&ds.spec.template, ds.status.collision_count);
        let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
        for pod in owned {
            if let Some(node) = target_node(&pod) {
                by_node.entry(node).or_default().push(pod);
            }
        }
        for pods in by_node.values_mut() {
            pods.sort_by_key(|p| {
                (
                    p.metadata.creation_timestamp.map(|t| t.0),
                    p.name_any().to_owned(),
                )
            });
        }
        let nodes = self.nodes.list();
        let mut create_on: Vec<String> = Vec::new();
        let mut delete: Vec<Arc<Pod>> = Vec::new();
        for node in &nodes {
            let (should_run, may_stay) = eligibility(&ds, node);
            let on_node = by_node.get(node.name_any()).cloned().unwrap_or_default();
            if should_run && on_node.is_empty() {
                create_on.push(node.name_any().to_owned());
            } else if may_stay {
                let mut running = Vec::new();
                for pod in on_node.iter().filter(|p| !p.is_being_deleted()) {
                    if pod.status.phase == Some(PodPhase::Failed) {
                        self.recorder.warning(
                            &*ds,
                            "FailedDaemonPod",
                            &format!(
                                "Found failed daemon pod {} on node {}, will try to kill it",
                                pod.key(),
                                node.name_any()
                            ),
                        );
                        delete.push(pod.clone());
                    } else {
                        running.push(pod.clone());
                    }
                }
                delete.extend(extra_pods(&ds, running, &hash));
            } else {
                delete.extend(on_node.into_iter().filter(|p| !p.is_being_deleted()));
            }
        }
        // Pods for nodes that no longer exist.
        for (node, pods) in &by_node {
            if !nodes.iter().any(|n| n.name_any() == node) {
                delete.extend(pods.iter().filter(|p| !p.is_being_deleted()).cloned());
            }
        }
        // Rolling updates wait for the nodes to be settled (as Kubernetes checks its
        // expectations again after managing them).
        let settled = create_on.is_empty() && delete.is_empty();
        let rolling = !matches!(
            ds.spec.update_strategy.type_,
            Some(DaemonSetUpdateStrategyType::OnDelete)
        );
        if settled && rolling {
            let (old, surge_on) = self.rolling_update(&ds, &by_node, &nodes, &hash);
            delete.extend(old);
            create_on.extend(surge_on);
        }
        delete.sort_by(|a, b| a.name_any().cmp(b.name_any()));
        delete.dedup_by(|a, b| a.name_any() == b.name_any());
        self.sync_nodes(&ds, &create_on, &delete, &hash).await?;
        let (status, requeue) = status(&ds, &nodes, &by_node, &hash);
        if status != ds.status {
            let mut updated = (*ds).clone();
            updated.status = status;
            let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), &namespace);
            api.replace_status(ds.name_any(), &PostParams::default(), &updated)
                .await?;
        }
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }

    /// The old pods to delete and the nodes to start a new pod on, now (Kubernetes'
    /// `rollingUpdate`).
    fn rolling_update(
        &self,
        ds: &DaemonSet,
        by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
        nodes: &[Arc<Node>],
        hash: &str,
    ) -> (Vec<Arc<Pod>>, Vec<String>) {
        let desired = i32::try_from(nodes.iter().filter(|n| eligibility(ds, n).0).count())
            .unwrap_or(i32::MAX);
        let max_surge = max_surge(ds, desired);
        if max_surge > 0 {
            return surge(ds, by_node, hash, max_surge);
        }
        let max_unavailable = ds
            .spec
            .update_strategy
            .rolling_update
            .as_ref()
            .and_then(|r| r.max_unavailable.clone())
            .unwrap_or(kube_core::IntOrString::Int(1))
            .scaled_value(desired, true)
            .unwrap_or(1)
            .max(if desired == 0 { 0 } else { 1 });
        let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
        let now = Utc::now();
        // Eligible nodes without a pod count as unavailable.
        let mut unavailable = i32::try_from(
            nodes
                .iter()
                .filter(|n| eligibility(ds, n).0)
                .filter(|n| {
                    by_node
                        .get(n.name_any())
                        .is_none_or(|pods| pods.iter().all(|p| p.is_being_deleted()))
                })
                .count(),
        )
        .unwrap_or(i32::MAX);
        let mut must_replace = Vec::new();
        let mut candidates = Vec::new();
        for pods in by_node.values() {
            let live: Vec<&Arc<Pod>> = pods.iter().filter(|p| !p.is_being_deleted()).collect();
            let new: Vec<&&Arc<Pod>> = live.iter().filter(|p| is_updated(p, hash)).collect();
            let old: Vec<&&Arc<Pod>> = live.iter().filter(|p| !is_updated(p, hash)).collect();
            if new.len() > 1 || old.len() > 1 {
                unavailable += 1;
                continue;
            }
            match (new.first(), old.first()) {
                // Only pods being deleted: counted above.
                (None, None) => {}
                (Some(_), Some(_)) => unavailable += 1,
                (Some(n), None) => {
                    if !pods::is_available(n, min_ready, now) {
                        unavailable += 1;
                    }
                }
                (None, Some(o)) => {
                    if !pods::is_available(o, min_ready, now) {
                        must_replace.push((**o).clone());
                    } else if unavailable < max_unavailable {
                        candidates.push((**o).clone());
                    }
                }
            }
        }
        let room = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0);
        must_replace.extend(candidates.into_iter().take(room));
        (must_replace, Vec::new())
    }

    async fn sync_nodes(
        &self,
        ds: &Arc<DaemonSet>,
        create_on: &[String],
        delete: &[Arc<Pod>],
        hash: &str,
    ) -> Result<()> {
        let key = ds.key();
        let namespace = ds.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let dp = DeleteParams::default();
        let results = join_all(delete.iter().map(|p| api.delete(p.name_any(), &dp))).await;
        for (pod, result) in delete.iter().zip(results) {
            match result {
                Ok(deleted) => {
                    let rv = match &deleted {
                        kube_api::client::Deleted::Object(p) => {
                            p.resource_version().map(str::to_owned)
                        }
                        kube_api::client::Deleted::Status(_) => None,
                    };
                    self.expectations.deleted(&key, pod.key(), rv.as_deref());
                    self.recorder.normal(
                        &**ds,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {}", pod.name_any()),
                    );
                }
                Err(e) if e.code() == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut batch = 1;
        let mut todo: Vec<&String> = create_on.iter().take(self.config.burst_replicas).collect();
        let pp = PostParams::default();
        while !todo.is_empty() {
            let now: Vec<&String> = todo.drain(..batch.min(todo.len())).collect();
            let results = join_all(now.iter().map(|node| async {
                match pod_for(ds, node, hash) {
                    Some(pod) => Some(api.create(&pp, &pod).await),
                    None => None,
                }
            }))
            .await;
            for (node, result) in now.iter().zip(results) {
                match result {
                    Some(Ok(pod)) => {
                        self.expectations
                            .created(&key, pod.key(), pod.resource_version());
                        self.recorder.normal(
                            &**ds,
                            "SuccessfulCreate",
                            &format!("Created pod: {}", pod.name_any()),
                        );
                    }
                    Some(Err(e)) => {
                        self.recorder.warning(
                            &**ds,
                            "FailedCreate",
                            &format!("Error creating: {e} (node {node})"),
                        );
                        return Err(e.into());
                    }
                    None => {}
                }
            }
            batch *= 2;
        }
        Ok(())
    }
}

/// `maxSurge` of a rolling update over `desired` nodes (a percentage rounds up), 0 when
/// unset.
fn max_surge(ds: &DaemonSet, desired: i32) -> i32 {
    ds.spec
        .update_strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.max_surge.clone())
        .and_then(|s| s.scaled_value(desired, true).ok())
        .unwrap_or(0)
        .max(0)
}

/// The pods of a node beyond the ones it keeps: the oldest one, or while surging is
/// allowed the oldest updated and the oldest old pod (`running` is oldest first).
fn extra_pods(ds: &DaemonSet, running: Vec<Arc<Pod>>, hash: &str) -> Vec<Arc<Pod>> {
    if max_surge(ds, 1) == 0 {
        return running.into_iter().skip(1).collect();
    }
    let (mut new_kept, mut old_kept) = (false, false);
    running
        .into_iter()
        .filter(|p| {
            let kept = if is_updated(p, hash) {
                &mut new_kept
            } else {
                &mut old_kept
            };
            // Already one of its kind kept: this one is extra.
            std::mem::replace(kept, true)
        })
        .collect()
}

/// A rolling update with surge (Kubernetes' `rollingUpdate` when `maxSurge` > 0): where
/// a node has an old pod and no new one, a new pod starts beside it, at once if the old
/// pod is unavailable, else while fewer than `max_surge` new pods are not yet available;
/// where the new pod is available, the old one goes. Returns the old pods to delete and
/// the nodes to start a new pod on.
fn surge(
    ds: &DaemonSet,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    max_surge: i32,
) -> (Vec<Arc<Pod>>, Vec<String>) {
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let now = Utc::now();
    let mut surging = 0;
    let (mut delete, mut at_once, mut candidates) = (Vec::new(), Vec::new(), Vec::new());
    for (node, pods) in by_node {
        let live: Vec<&Arc<Pod>> = pods.iter().filter(|p| !p.is_being_deleted()).collect();
        let new = live.iter().find(|p| is_updated(p, hash));
        let old = live.iter().find(|p| !is_updated(p, hash));
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) if !pods::is_available(old, min_ready, now) => {
                at_once.push(node.clone());
            }
            (None, Some(_)) => candidates.push(node.clone()),
            (Some(new), Some(_)) if !pods::is_available(new, min_ready, now) => surging += 1,
            (Some(_), Some(old)) => delete.push((*old).clone()),
        }
    }
    let room = usize::try_from((max_surge - surging).max(0)).unwrap_or(0);
    at_once.extend(candidates.into_iter().take(room));
    (delete, at_once)
}

/// The status the pods give, and when a pod becomes available.
fn status(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
) -> (DaemonSetStatus, Option<Duration>) {
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let now = Utc::now();
    let (mut desired, mut current, mut misscheduled, mut ready, mut available, mut updated) =
        (0, 0, 0, 0, 0, 0);
    let mut requeue: Option<Duration> = None;
    for node in nodes {
        let (should_run, _) = eligibility(ds, node);
        let pods: Vec<&Arc<Pod>> = by_node
            .get(node.name_any())
            .map(|v| v.iter().filter(|p| !p.is_being_deleted()).collect())
            .unwrap_or_default();
        if should_run {
            desired += 1;
            if let Some(pod) = pods.first() {
                current += 1;
                if pod.is_ready() {
                    ready += 1;
                    if pods::is_available(pod, min_ready, now) {
                        available += 1;
                    } else if let Some(d) = pods::until_available(pod, min_ready, now) {
                        requeue = Some(requeue.map_or(d, |r: Duration| r.min(d)));
                    }
                }
                if is_updated(pod, hash) {
                    updated += 1;
                }
            }
        } else if !pods.is_empty() {
            misscheduled += 1;
        }
    }
    let status = DaemonSetStatus {
        current_number_scheduled: current,
        number_misscheduled: misscheduled,
        desired_number_scheduled: desired,
        number_ready: ready,
        observed_generation: ds.metadata.generation,
        updated_number_scheduled: Some(updated),
        number_available: Some(available),
        number_unavailable: Some(desired - available),
        collision_count: ds.status.collision_count,
        conditions: ds.status.conditions.clone(),
    };
    (status, requeue.map(|d| d + Duration::from_millis(100)))
}
