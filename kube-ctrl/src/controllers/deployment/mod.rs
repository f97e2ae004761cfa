//! The Deployment controller: rolls a pod template out through ReplicaSets.
//!
//! Kubernetes' algorithm, step by step (`pkg/controller/deployment`): claim the
//! ReplicaSets the selector matches; find the *new* one (its template is the
//! Deployment's, `pod-template-hash` aside), creating it named `{name}-{hash}` when a
//! rollout needs it; then
//!
//! - **RollingUpdate**: scale the new ReplicaSet up while the total stays within
//!   `replicas + maxSurge`, and the old ones down (unhealthy pods first) while the
//!   available pods stay at least `replicas - maxUnavailable`;
//! - **Recreate**: scale every old ReplicaSet to zero, wait until their pods are gone,
//!   then scale the new one up;
//! - a change of `replicas` alone (a *scaling event*) or a paused Deployment scales the
//!   ReplicaSets proportionally, without a rollout;
//! - revisions: the new ReplicaSet's `deployment.kubernetes.io/revision` is one above
//!   every other's (a rolled-back template moves its old ReplicaSet to the top), copied
//!   to the Deployment; old, empty ReplicaSets beyond `revisionHistoryLimit` are deleted;
//! - status: observedGeneration, replicas, updatedReplicas, readyReplicas,
//!   availableReplicas, unavailableReplicas; `Available` (`MinimumReplicasAvailable`)
//!   and `Progressing` (`NewReplicaSetCreated`, `ReplicaSetUpdated`,
//!   `NewReplicaSetAvailable`, `ProgressDeadlineExceeded`, `DeploymentPaused`), which
//!   `kubectl rollout status` reads.
//!
//! [`rollback`] does what `kubectl rollout undo` does; [`rollout_status`] what `kubectl
//! rollout status` prints.
//!
//! Differences, so that the bounds hold for the pods that exist at every moment, not only
//! for the `spec.replicas` the controller writes (a property test checks this at every
//! state the API server goes through):
//!
//! - when it computes how far it may surge, the controller counts each ReplicaSet as the
//!   larger of its `spec.replicas` and its reported `status.replicas`, and does not surge
//!   while an old ReplicaSet's controller has not yet acted on its latest spec
//!   (`status.observedGeneration` behind): pods an old ReplicaSet has not deleted yet, or
//!   is still creating for an earlier spec, count against `maxSurge`. Kubernetes counts
//!   `spec.replicas` only and may briefly run more pods than the surge allows;
//! - when it scales old ReplicaSets down for availability, each counts at most
//!   `spec.replicas` available pods (those above are being deleted already);
//! - it reads its own writes: a ReplicaSet it created or scaled counts as written until
//!   the cache shows that version or a later one, so a slow cache never makes it decide
//!   from a state older than its own last step.

pub(crate) mod revision;
mod rollback;
mod rolling;
mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube_api::client::{Api, Client, Patch, PatchParams, PostParams};
use kube_api::informer::Cache;
use kube_core::{
    Action, ConditionStatus, Deployment, DeploymentConditionType, DeploymentStatus, ObjectKey,
    ObjectMeta, Pod, ReplicaSet, ReplicaSetSpec, ResourceExt as _,
};

pub use revision::{
    CHANGE_CAUSE_ANNOTATION, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
};
pub use rollback::{RollbackError, RolloutStatus, rollback, rollout_status};
pub use status::{
    FAILED_RS_CREATE_REASON, FOUND_NEW_RS_REASON, MIN_AVAILABLE_REASON, MIN_UNAVAILABLE_REASON,
    NEW_RS_AVAILABLE_REASON, NEW_RS_CREATED_REASON, PAUSED_REASON, RESUMED_REASON,
    RS_UPDATED_REASON, TIMED_OUT_REASON,
};

use super::claim::{self, Owner};
use crate::error::{Error, Result};
use crate::runtime::{Controller, ControllerConfig, EventRecorder, RunContext, Runnable};

/// Settings of the Deployment controller.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentConfig {
    /// Workers and retries.
    pub controller: ControllerConfig,
}

/// The Deployment controller; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct DeploymentController {
    config: DeploymentConfig,
}

impl DeploymentController {
    /// A controller with these settings.
    pub fn new(config: DeploymentConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Runnable for DeploymentController {
    fn name(&self) -> &str {
        "deployment"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let deployments = ctx.factory.informer::<Deployment>().cache();
        let sets = ctx.factory.informer::<ReplicaSet>().cache();
        let state = Arc::new(State {
            client: ctx.client.clone(),
            deployments: deployments.clone(),
            sets: sets.clone(),
            pods: ctx.factory.informer::<Pod>().cache(),
            recorder: ctx.recorder("deployment-controller"),
            written: parking_lot::Mutex::new(HashMap::new()),
        });
        let orphan_deployments = deployments.clone();
        Controller::<Deployment>::for_factory(&ctx.factory)
            .name(self.name())
            .config(self.config.controller.clone())
            .metrics(&ctx.metrics)
            .graceful_shutdown_on(ctx.shutdown.clone())
            .owns::<ReplicaSet>()
            // Orphaned ReplicaSets go to the Deployments that would adopt them.
            .watches(move |rs: &ReplicaSet| {
                if rs.controller_owner().is_some() {
                    return Vec::new();
                }
                orphan_deployments
                    .list_namespace(rs.namespace().unwrap_or_default())
                    .iter()
                    .filter(|d| {
                        d.spec.selector.as_ref().is_some_and(|s| {
                            !s.is_empty() && s.matches(&rs.metadata.labels)
                        })
                    })
                    .map(|d| d.key())
                    .collect()
            })
            // Recreate waits for the old pods to go: their changes reconcile the Deployment
            // of their ReplicaSet.
            .watches(move |pod: &Pod| pod_to_deployment(&sets, &deployments, pod))
            .run_keyed(
                |key, state: Arc<State>| async move { state.reconcile(&key).await },
                state,
            )
            .await;
        Ok(())
    }
}

fn pod_to_deployment(
    sets: &Cache<ReplicaSet>,
    deployments: &Cache<Deployment>,
    pod: &Pod,
) -> Vec<ObjectKey> {
    let ns = pod.namespace().unwrap_or_default();
    let Some(rs_ref) = pod.controller_owner().filter(|r| r.kind == "ReplicaSet") else {
        return Vec::new();
    };
    let Some(rs) = sets.get_named(Some(ns), &rs_ref.name) else {
        return Vec::new();
    };
    let Some(d_ref) = rs.controller_owner().filter(|r| r.kind == "Deployment") else {
        return Vec::new();
    };
    match deployments.get_named(Some(ns), &d_ref.name) {
        Some(d) if !revision::is_rolling(&d) => vec![d.key()],
        _ => Vec::new(),
    }
}

pub(crate) struct State {
    client: Client,
    deployments: Cache<Deployment>,
    sets: Cache<ReplicaSet>,
    pods: Cache<Pod>,
    recorder: EventRecorder,
    /// The ReplicaSets this controller wrote, by uid, until the cache catches up.
    written: parking_lot::Mutex<HashMap<String, Arc<ReplicaSet>>>,
}

fn revision_of(rv: Option<&str>) -> Option<u64> {
    rv.and_then(|v| v.parse().ok())
}

impl State {
    /// The ReplicaSets of a namespace: the cached ones, each replaced by the version this
    /// controller wrote if that is newer, plus those it created that the cache has not
    /// shown yet.
    fn replica_sets(&self, namespace: &str) -> Vec<Arc<ReplicaSet>> {
        let cached = self.sets.list_namespace(namespace);
        let reached = revision_of(Some(&self.sets.resource_version()));
        let mut written = self.written.lock();
        let mut out = Vec::with_capacity(cached.len());
        let mut seen = std::collections::HashSet::new();
        for rs in cached {
            let uid = rs.uid().unwrap_or_default().to_owned();
            seen.insert(uid.clone());
            match written.get(&uid) {
                Some(w)
                    if revision_of(w.resource_version()) > revision_of(rs.resource_version()) =>
                {
                    out.push(w.clone());
                }
                Some(_) => {
                    written.remove(&uid);
                    out.push(rs);
                }
                None => out.push(rs),
            }
        }
        written.retain(|uid, w| {
            if seen.contains(uid) {
                return true;
            }
            // Not cached: not seen yet (keep it), or deleted since (the cache passed it).
            let passed = matches!((reached, revision_of(w.resource_version())), (Some(r), Some(v)) if r >= v);
            if !passed && w.namespace() == Some(namespace) {
                out.push(w.clone());
            }
            !passed
        });
        out
    }

    fn wrote(&self, rs: &Arc<ReplicaSet>) {
        if let Some(uid) = rs.uid() {
            self.written.lock().insert(uid.to_owned(), rs.clone());
        }
    }

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(cached) = self.deployments.get(key) else {
            return Ok(Action::Done);
        };
        let namespace = key.namespace.clone().unwrap_or_default();
        let mut sync = Sync {
            state: self,
            d: (*cached).clone(),
            sets: Api::namespaced(self.client.clone(), &namespace),
            deployments: Api::namespaced(self.client.clone(), &namespace),
            requeue: None,
        };
        sync.run().await?;
        Ok(sync.requeue.map_or(Action::Done, Action::RequeueAfter))
    }
}

/// One reconcile of one Deployment: its working copy and the APIs it writes through.
pub(crate) struct Sync<'a> {
    state: &'a State,
    d: Deployment,
    sets: Api<ReplicaSet>,
    deployments: Api<Deployment>,
    requeue: Option<Duration>,
}

impl Sync<'_> {
    async fn run(&mut self) -> Result<()> {
        let Some(selector) = self.d.spec.selector.clone().filter(|s| !s.is_empty()) else {
            self.state.recorder.warning(
                &self.d,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            );
            if self.d.status.observed_generation < self.d.metadata.generation {
                let mut status = self.d.status.clone();
                status.observed_generation = self.d.metadata.generation;
                self.write_status(status).await?;
            }
            return Ok(());
        };
        let candidates = self
            .state
            .replica_sets(self.d.namespace().unwrap_or_default());
        let sets = claim::claim(
            &self.state.client,
            Owner {
                object: &self.d,
                selector: &selector,
            },
            candidates,
        )
        .await?;
        if self.d.is_being_deleted() {
            return self.sync_status_only(sets).await;
        }
        if let Some(status) = status::paused_condition(&self.d) {
            self.write_status(status).await?;
        }
        if self.d.spec.paused {
            return self.sync(sets).await;
        }
        if self.is_scaling_event(&sets) {
            return self.sync(sets).await;
        }
        if revision::is_rolling(&self.d) {
            self.rollout_rolling(sets).await
        } else {
            self.rollout_recreate(sets).await
        }
    }

    /// Only the status (for a Deployment being deleted).
    async fn sync_status_only(&mut self, sets: Vec<Arc<ReplicaSet>>) -> Result<()> {
        let (new, old) = revision::split_new_and_old(&self.d, sets);
        let all: Vec<Arc<ReplicaSet>> = old.iter().cloned().chain(new.clone()).collect();
        let status = status::calculate(&self.d, &all, new.as_ref());
        self.write_status(status).await
    }

    /// Scaling without a rollout: paused, or only `replicas` changed.
    async fn sync(&mut self, sets: Vec<Arc<ReplicaSet>>) -> Result<()> {
        let (new, old) = self.new_and_old(sets, false).await?;
        let (new, old) = self.scale(new, old).await?;
        if self.d.spec.paused {
            self.cleanup(&old).await?;
        }
        let all: Vec<Arc<ReplicaSet>> = old.iter().cloned().chain(new.clone()).collect();
        let status = status::calculate(&self.d, &all, new.as_ref());
        self.write_status(status).await
    }

    /// True when an active ReplicaSet was last scaled for another `replicas`.
    fn is_scaling_event(&self, sets: &[Arc<ReplicaSet>]) -> bool {
        let replicas = self.d.spec.replicas_or_default();
        sets.iter()
            .filter(|rs| rs.spec.replicas_or_default() > 0)
            .filter_map(|rs| revision::desired_replicas(rs))
            .any(|desired| desired != replicas)
    }

    /// The new ReplicaSet (created if `create` and missing) and the old ones, with the
    /// revisions brought up to date (Kubernetes' `getAllReplicaSetsAndSyncRevision`).
    async fn new_and_old(
        &mut self,
        sets: Vec<Arc<ReplicaSet>>,
        create: bool,
    ) -> Result<(Option<Arc<ReplicaSet>>, Vec<Arc<ReplicaSet>>)> {
        let (existing, old) = revision::split_new_and_old(&self.d, sets);
        let new_revision = revision::max_revision(&old) + 1;
        if let Some(rs) = existing {
            let mut copy = (*rs).clone();
            let mut changed =
                revision::set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
            if copy.spec.min_ready_seconds != self.d.spec.min_ready_seconds {
                copy.spec.min_ready_seconds = self.d.spec.min_ready_seconds;
                changed = true;
            }
            let rs = if changed {
                let updated = Arc::new(
                    self.sets
                        .replace(rs.name_any(), &PostParams::default(), &copy)
                        .await?,
                );
                self.state.wrote(&updated);
                updated
            } else {
                rs
            };
            self.set_revision(revision::revision(&rs)).await?;
            if self
                .d
                .status
                .condition(&DeploymentConditionType::Progressing)
                .is_none()
                && status::has_progress_deadline(&self.d)
            {
                let mut s = self.d.status.clone();
                status::set_condition(
                    &mut s,
                    status::condition(
                        DeploymentConditionType::Progressing,
                        ConditionStatus::True,
                        FOUND_NEW_RS_REASON,
                        format!("Found new replica set \"{}\"", rs.name_any()),
                    ),
                );
                self.write_status(s).await?;
            }
            return Ok((Some(rs), old));
        }
        if !create {
            return Ok((None, old));
        }
        let rs = self.create_new(&old, new_revision).await?;
        Ok((rs, old))
    }

    /// Creates the new ReplicaSet; on a name collision with a ReplicaSet that is not
    /// ours, bumps `collisionCount` so that the next try hashes differently.
    async fn create_new(
        &mut self,
        old: &[Arc<ReplicaSet>],
        new_revision: i64,
    ) -> Result<Option<Arc<ReplicaSet>>> {
        let d = &self.d;
        let hash = revision::template_hash(&d.spec.template, d.status.collision_count);
        let selector = d.spec.selector.clone().unwrap_or_default();
        let (labels, rs_selector) =
            revision::with_hash(&d.spec.template.metadata.labels, &selector, &hash);
        let mut template = d.spec.template.clone();
        template.metadata.labels.clone_from(&labels);
        let Some(owner) = d.controller_owner_ref(&()) else {
            return Ok(None);
        };
        let name = format!("{}-{hash}", d.name_any());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: d.metadata.namespace.clone(),
                labels,
                owner_references: vec![owner],
                ..ObjectMeta::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: d.spec.min_ready_seconds,
                selector: Some(rs_selector),
                template,
            },
            ..ReplicaSet::default()
        };
        let all: Vec<Arc<ReplicaSet>> = old.to_vec();
        let replicas = rolling::new_rs_new_replicas(d, &all, &Arc::new(rs.clone()));
        rs.spec.replicas = Some(replicas);
        revision::set_new_rs_annotations(d, &mut rs, new_revision, false);
        let created = match self.sets.create(&PostParams::default(), &rs).await {
            Ok(created) => {
                let created = Arc::new(created);
                self.state.wrote(&created);
                created
            }
            Err(e) if e.code() == 409 => {
                let existing = self.sets.get_opt(&name).await?;
                let ours = existing.as_ref().is_some_and(|x| {
                    x.controller_owner().map(|r| &r.uid) == self.d.metadata.uid.as_ref()
                        && revision::equal_ignore_hash(&x.spec.template, &self.d.spec.template)
                });
                if let (true, Some(existing)) = (ours, existing) {
                    // Created by an earlier reconcile whose answer we never saw.
                    return Ok(Some(Arc::new(existing)));
                }
                let mut s = self.d.status.clone();
                s.collision_count = Some(s.collision_count.unwrap_or(0).saturating_add(1));
                self.write_status(s).await?;
                return Err(Error::Api(e));
            }
            Err(e) => {
                let message = format!("Failed to create new replica set \"{name}\": {e}");
                self.state
                    .recorder
                    .warning(&self.d, FAILED_RS_CREATE_REASON, &message);
                if status::has_progress_deadline(&self.d) {
                    let mut s = self.d.status.clone();
                    status::set_condition(
                        &mut s,
                        status::condition(
                            DeploymentConditionType::Progressing,
                            ConditionStatus::False,
                            FAILED_RS_CREATE_REASON,
                            message,
                        ),
                    );
                    self.write_status(s).await?;
                }
                return Err(Error::Api(e));
            }
        };
        if replicas > 0 {
            self.state.recorder.normal(
                &self.d,
                "ScalingReplicaSet",
                &format!("Scaled up replica set {name} from 0 to {replicas}"),
            );
        }
        self.set_revision(new_revision).await?;
        if status::has_progress_deadline(&self.d) {
            let mut s = self.d.status.clone();
            status::set_condition(
                &mut s,
                status::condition(
                    DeploymentConditionType::Progressing,
                    ConditionStatus::True,
                    NEW_RS_CREATED_REASON,
                    format!("Created new replica set \"{name}\""),
                ),
            );
            self.write_status(s).await?;
        }
        Ok(Some(created))
    }

    /// Puts `revision` in the Deployment's revision annotation.
    async fn set_revision(&mut self, revision: i64) -> Result<()> {
        let value = revision.to_string();
        if self.d.metadata.annotations.get(REVISION_ANNOTATION) == Some(&value) {
            return Ok(());
        }
        let patch = serde_json::json!({"metadata": {
            "annotations": {REVISION_ANNOTATION: value},
            "resourceVersion": self.d.metadata.resource_version,
        }});
        self.d = self
            .deployments
            .patch(
                self.d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        Ok(())
    }

    /// Writes `status` if it differs from the Deployment's.
    async fn write_status(&mut self, status: DeploymentStatus) -> Result<()> {
        if status == self.d.status {
            return Ok(());
        }
        let mut d = self.d.clone();
        d.status = status;
        self.d = self
            .deployments
            .replace_status(self.d.name_any(), &PostParams::default(), &d)
            .await?;
        Ok(())
    }
}
