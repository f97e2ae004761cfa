//! The ReplicaSet controller: keeps `spec.replicas` pods matching the selector running.
//!
//! As Kubernetes': it claims pods (adopts orphans its selector matches, releases those it
//! no longer matches), creates missing pods in slow-start batches (1, 2, 4, ...; a
//! failure stops the rest) and deletes extra ones, least useful first; it writes nothing
//! while earlier creates and deletes are not yet in its cache (expectations), so a slow
//! cache never makes it create twice. Status: replicas, fullyLabeledReplicas,
//! readyReplicas, availableReplicas (ready for `minReadySeconds`), observedGeneration and
//! the `ReplicaFailure` condition.
//!
//! Two differences, both so that the Deployment controller can trust these counts to keep
//! a rolling update within its bounds: the status written after creating or deleting pods
//! counts the pods as they are *after* those writes (Kubernetes reports the count from
//! before them, so removed pods still look available), and no status is written while
//! earlier writes are not in the cache yet (Kubernetes writes one, from a cache that
//! misses pods it just created, with the current `observedGeneration`). So
//! `observedGeneration` says: these counts are the pods made for that spec.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::future::join_all;
use kube_api::client::{Api, Client, DeleteParams, PostParams};
use kube_api::informer::Cache;
use kube_core::{
    Action, ConditionStatus, ObjectKey, Pod, ReplicaSet, ReplicaSetCondition,
    ReplicaSetConditionType, ReplicaSetStatus, ResourceExt as _, Time,
};

use super::claim::{self, Owner};
use super::expectations::Expectations;
use super::pods;
use crate::error::{Error, Result};
use crate::runtime::{Controller, ControllerConfig, EventRecorder, RunContext, Runnable};

/// Settings of the ReplicaSet controller.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaSetConfig {
    /// Workers and retries.
    pub controller: ControllerConfig,
    /// The most pods created or deleted in one reconcile (Kubernetes' 500).
    pub burst_replicas: usize,
}

impl Default for ReplicaSetConfig {
    fn default() -> Self {
        Self {
            controller: ControllerConfig::default(),
            burst_replicas: 500,
        }
    }
}

/// The ReplicaSet controller; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct ReplicaSetController {
    config: ReplicaSetConfig,
}

impl ReplicaSetController {
    /// A controller with these settings.
    pub fn new(config: ReplicaSetConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Runnable for ReplicaSetController {
    fn name(&self) -> &str {
        "replicaset"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let sets = ctx.factory.informer::<ReplicaSet>().cache();
        let state = Arc::new(State {
            client: ctx.client.clone(),
            sets: sets.clone(),
            pods: ctx.factory.informer::<Pod>().cache(),
            expectations: Expectations::default(),
            recorder: ctx.recorder("replicaset-controller"),
            config: self.config.clone(),
        });
        Controller::<ReplicaSet>::for_factory(&ctx.factory)
            .name(self.name())
            .config(self.config.controller.clone())
            .metrics(&ctx.metrics)
            .graceful_shutdown_on(ctx.shutdown.clone())
            .owns::<Pod>()
            .watches(move |pod: &Pod| orphan_owners(&sets, pod))
            .run_keyed(
                |key, state: Arc<State>| async move { state.reconcile(&key).await },
                state,
            )
            .await;
        Ok(())
    }
}

/// For a pod without a controller: the ReplicaSets whose selector matches it (one of them
/// adopts it).
fn orphan_owners(sets: &Cache<ReplicaSet>, pod: &Pod) -> Vec<ObjectKey> {
    if pod.controller_owner().is_some() {
        return Vec::new();
    }
    sets.list_namespace(pod.namespace().unwrap_or_default())
        .iter()
        .filter(|rs| {
            rs.spec
                .selector
                .as_ref()
                .is_some_and(|s| !s.is_empty() && s.matches(&pod.metadata.labels))
        })
        .map(|rs| rs.key())
        .collect()
}

struct State {
    client: Client,
    sets: Cache<ReplicaSet>,
    pods: Cache<Pod>,
    expectations: Expectations,
    recorder: EventRecorder,
    config: ReplicaSetConfig,
}

/// What one round of creates and deletes did.
#[derive(Default)]
struct Managed {
    created: Vec<Arc<Pod>>,
    deleted: Vec<ObjectKey>,
    error: Option<(ReplicaSetFailure, Error)>,
}

#[derive(Clone, Copy)]
enum ReplicaSetFailure {
    Create,
    Delete,
}

impl State {
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(rs) = self.sets.get(key) else {
            self.expectations.forget(key);
            return Ok(Action::Done);
        };
        let Some(selector) = rs.spec.selector.clone().filter(|s| !s.is_empty()) else {
            self.recorder
                .warning(&*rs, "SelectorRequired", "the ReplicaSet has no selector");
            return Ok(Action::Done);
        };
        let namespace = rs.namespace().unwrap_or_default().to_owned();
        let needs_sync = self.expectations.satisfied(key, &self.pods);
        let candidates: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(&namespace)
            .into_iter()
            .filter(|p| pods::is_active(p))
            .collect();
        let mut owned = claim::claim(
            &self.client,
            Owner {
                object: &*rs,
                selector: &selector,
            },
            candidates,
        )
        .await?;
        if !needs_sync {
            // Earlier writes are not in the cache yet: its counts would be wrong. Their
            // arrival reconciles this key again.
            return Ok(Action::Done);
        }
        let mut managed = Managed::default();
        if !rs.is_being_deleted() {
            managed = self.manage(&rs, &owned).await;
            owned.retain(|p| !managed.deleted.contains(&p.key()));
            owned.extend(managed.created.iter().cloned());
        }
        let now = Utc::now();
        let status = status(&rs, &owned, managed.error.as_ref(), now);
        if status != rs.status {
            self.write_status(&rs, status).await?;
        }
        if let Some((_, e)) = managed.error {
            return Err(e);
        }
        let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
        let next = owned
            .iter()
            .filter_map(|p| pods::until_available(p, min_ready, now))
            .min();
        Ok(next.map_or(Action::Done, |d| {
            Action::RequeueAfter(d + Duration::from_millis(100))
        }))
    }

    /// Writes the status; on a conflict (the spec changed meanwhile) writes it onto the
    /// fresh object, since it describes the pods, not the spec: `observedGeneration` says
    /// which spec they were made for.
    async fn write_status(&self, rs: &ReplicaSet, status: ReplicaSetStatus) -> Result<()> {
        let api: Api<ReplicaSet> =
            Api::namespaced(self.client.clone(), rs.namespace().unwrap_or_default());
        let mut current = rs.clone();
        for _ in 0..3 {
            current.status = status.clone();
            match api
                .replace_status(rs.name_any(), &PostParams::default(), &current)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == 409 => {
                    let Some(fresh) = api.get_opt(rs.name_any()).await? else {
                        return Ok(());
                    };
                    if fresh.uid() != rs.uid() {
                        return Ok(());
                    }
                    current = fresh;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::invalid(
            &rs.key(),
            "the status kept conflicting with other writers",
        ))
    }

    /// Creates or deletes pods towards `spec.replicas`.
    async fn manage(&self, rs: &Arc<ReplicaSet>, owned: &[Arc<Pod>]) -> Managed {
        let key = rs.key();
        let want = usize::try_from(rs.spec.replicas_or_default().max(0)).unwrap_or(0);
        let mut managed = Managed::default();
        let namespace = rs.namespace().unwrap_or_default().to_owned();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        if owned.len() < want {
            let Some(owner) = rs.controller_owner_ref(&()) else {
                return managed;
            };
            let template = pods::from_template(&rs.spec.template, &namespace, rs.name_any(), owner);
            let mut left = (want - owned.len()).min(self.config.burst_replicas);
            let mut batch = 1;
            while left > 0 {
                let n = batch.min(left);
                let pp = PostParams::default();
                let results = join_all((0..n).map(|_| api.create(&pp, &template))).await;
                let mut failed = None;
                for result in results {
                    match result {
                        Ok(pod) => {
                            self.expectations
                                .created(&key, pod.key(), pod.resource_version());
                            self.recorder.normal(
                                &**rs,
                                "SuccessfulCreate",
                                &format!("Created pod: {}", pod.name_any()),
                            );
                            managed.created.push(Arc::new(pod));
                        }
                        Err(e) => {
                            self.recorder.warning(
                                &**rs,
                                "FailedCreate",
                                &format!("Error creating: {e}"),
                            );
                            failed = Some(e);
                        }
                    }
                }
                if let Some(e) = failed {
                    managed.error = Some((ReplicaSetFailure::Create, Error::Api(e)));
                    break;
                }
                left -= n;
                batch *= 2;
            }
        } else if owned.len() > want {
            let mut victims = owned.to_vec();
            pods::sort_for_deletion(&mut victims);
            victims.truncate((owned.len() - want).min(self.config.burst_replicas));
            let dp = DeleteParams::default();
            let results = join_all(victims.iter().map(|p| api.delete(p.name_any(), &dp))).await;
            for (pod, result) in victims.iter().zip(results) {
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
                            &**rs,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", pod.name_any()),
                        );
                        managed.deleted.push(pod.key());
                    }
                    Err(e) if e.code() == 404 => managed.deleted.push(pod.key()),
                    Err(e) => {
                        self.recorder.warning(
                            &**rs,
                            "FailedDelete",
                            &format!("Error deleting: {e}"),
                        );
                        managed.error = Some((ReplicaSetFailure::Delete, Error::Api(e)));
                    }
                }
            }
        }
        managed
    }
}

/// The status the pods give.
fn status(
    rs: &ReplicaSet,
    owned: &[Arc<Pod>],
    failure: Option<&(ReplicaSetFailure, Error)>,
    now: chrono::DateTime<Utc>,
) -> ReplicaSetStatus {
    let template_labels = &rs.spec.template.metadata.labels;
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(owned.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let mut status = ReplicaSetStatus {
        replicas: count(&|_| true),
        fully_labeled_replicas: Some(count(&|p| {
            template_labels
                .iter()
                .all(|(k, v)| p.metadata.labels.get(k) == Some(v))
        })),
        ready_replicas: Some(count(&|p| p.is_ready())),
        available_replicas: Some(count(&|p| pods::is_available(p, min_ready, now))),
        terminating_replicas: rs.status.terminating_replicas,
        observed_generation: rs.metadata.generation,
        conditions: rs
            .status
            .conditions
            .iter()
            .filter(|c| c.type_ != ReplicaSetConditionType::ReplicaFailure)
            .cloned()
            .collect(),
    };
    if let Some((kind, e)) = failure {
        let reason = match kind {
            ReplicaSetFailure::Create => "FailedCreate",
            ReplicaSetFailure::Delete => "FailedDelete",
        };
        let previous = rs.condition(&ReplicaSetConditionType::ReplicaFailure);
        status.conditions.push(ReplicaSetCondition {
            type_: ReplicaSetConditionType::ReplicaFailure,
            status: ConditionStatus::True,
            last_transition_time: previous
                .and_then(|c| c.last_transition_time)
                .or_else(|| Some(Time::from(now))),
            reason: Some(reason.to_owned()),
            message: Some(e.to_string()),
        });
    }
    status
}
