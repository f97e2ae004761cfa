//! The Job controller: runs pods to completion.
//!
//! As Kubernetes' (`pkg/controller/job`):
//!
//! - **Pods**: `parallelism` at once, never more than the completions still needed; with
//!   no `completions`, the first success ends the Job. An `Indexed` Job runs each index
//!   below `completions` until it succeeds once, lowest first, one pod per index; the
//!   pod carries its index (annotation, label, `JOB_COMPLETION_INDEX`, name and
//!   hostname), and `status.completedIndexes` lists the indexes done (see [`indexed`]).
//!   Pods are created from the template with the `batch.kubernetes.io/job-tracking`
//!   finalizer; after failures, new pods wait an exponential backoff (10 s doubling, at
//!   most 6 minutes).
//! - **Counting** finished pods survives their deletion and restarts of the controller, as
//!   Kubernetes does it: a finished pod's uid is first recorded in
//!   `status.uncountedTerminatedPods`, then its finalizer removed, then the uid moved into
//!   `succeeded` or `failed`. A pod deleted before it finished counts as failed.
//!   An indexed Job's `succeeded` is the number of completed indexes: a second success
//!   of an index counts once.
//! - **Outcome**: `succeeded >= completions` gives `SuccessCriteriaMet`, then `Complete`
//!   once no pod runs; `failed > backoffLimit` (`BackoffLimitExceeded`) or running longer
//!   than `activeDeadlineSeconds` (`DeadlineExceeded`) gives `FailureTarget`, deletes the
//!   running pods, then `Failed`. A suspended Job deletes its pods (`Suspended`).
//!   `ttlSecondsAfterFinished` deletes a finished Job.
//!
//! Not modelled: `backoffLimitPerIndex` and `successPolicy` (an indexed Job counts its
//! failures against `backoffLimit`, as before those fields existed).

pub mod indexed;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::future::join_all;
use kube_api::client::{Api, Client, DeleteParams, Patch, PatchParams, PostParams};
use kube_api::informer::Cache;
use kube_core::{
    Action, CompletionMode, ConditionStatus, Job, JobCondition, JobConditionType, JobStatus,
    ObjectKey, Pod, PodPhase, ResourceExt as _, RestartPolicy, Time,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use self::indexed::Indexes;
use super::claim::{self, Owner};
use super::expectations::Expectations;
use super::pods;
use crate::error::{Error, Result};
use crate::runtime::{Controller, ControllerConfig, EventRecorder, RunContext, Runnable};

/// The finalizer that keeps a Job's pods until the Job has counted them.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// Settings of the Job controller.
#[derive(Clone, Debug, PartialEq)]
pub struct JobConfig {
    /// Workers and retries.
    pub controller: ControllerConfig,
    /// The wait before replacing a failed pod, doubled for each further failure.
    pub backoff: Duration,
    /// The longest such wait.
    pub max_backoff: Duration,
}

impl Default for JobConfig {
    fn default() -> Self {
        Self {
            controller: ControllerConfig::default(),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(360),
        }
    }
}

/// The Job controller; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct JobController {
    config: JobConfig,
}

impl JobController {
    /// A controller with these settings.
    pub fn new(config: JobConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Runnable for JobController {
    fn name(&self) -> &str {
        "job"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let jobs = ctx.factory.informer::<Job>().cache();
        let state = Arc::new(State {
            client: ctx.client.clone(),
            jobs: jobs.clone(),
            pods: ctx.factory.informer::<Pod>().cache(),
            expectations: Expectations::default(),
            recorder: ctx.recorder("job-controller"),
            failures: Mutex::new(HashMap::new()),
            status_writes: Expectations::default(),
            config: self.config.clone(),
        });
        Controller::<Job>::for_factory(&ctx.factory)
            .name(self.name())
            .config(self.config.controller.clone())
            .metrics(&ctx.metrics)
            .graceful_shutdown_on(ctx.shutdown.clone())
            .owns::<Pod>()
            .watches(move |pod: &Pod| {
                if pod.controller_owner().is_some() {
                    return Vec::new();
                }
                jobs.list_namespace(pod.namespace().unwrap_or_default())
                    .iter()
                    .filter(|j| {
                        j.spec
                            .selector
                            .as_ref()
                            .is_some_and(|s| !s.is_empty() && s.matches(&pod.metadata.labels))
                    })
                    .map(|j| j.key())
                    .collect()
            })
            .run_keyed(
                |key, state: Arc<State>| async move { state.reconcile(&key).await },
                state,
            )
            .await;
        Ok(())
    }
}

/// `status.uncountedTerminatedPods`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Uncounted {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    succeeded: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    failed: BTreeSet<String>,
}

impl Uncounted {
    fn of(status: &JobStatus) -> Self {
        status
            .uncounted_terminated_pods
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    fn write(&self, status: &mut JobStatus) {
        status.uncounted_terminated_pods = if self.succeeded.is_empty() && self.failed.is_empty() {
            None
        } else {
            serde_json::to_value(self).ok()
        };
    }
}

struct State {
    client: Client,
    jobs: Cache<Job>,
    pods: Cache<Pod>,
    expectations: Expectations,
    recorder: EventRecorder,
    /// Per Job: the failure count last seen and when it last grew (for the backoff).
    failures: Mutex<HashMap<ObjectKey, (i32, Instant)>>,
    /// This controller's status writes to each Job, until the Job cache shows them. A Job
    /// from an older cache counts pods it no longer holds, whose finalizers were removed
    /// when they were counted, and would replace them.
    status_writes: Expectations,
    config: JobConfig,
}

fn has_tracking(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .any(|f| f == TRACKING_FINALIZER)
}

/// Whether a pod finished: `Some(true)` succeeded, `Some(false)` failed (or deleted before
/// finishing), `None` still running.
fn outcome(pod: &Pod) -> Option<bool> {
    match pod.status.phase {
        Some(PodPhase::Succeeded) => Some(true),
        Some(PodPhase::Failed) => Some(false),
        _ if pod.is_being_deleted() => Some(false),
        _ => None,
    }
}

fn set_condition(
    status: &mut JobStatus,
    type_: JobConditionType,
    value: bool,
    reason: &str,
    message: &str,
) -> bool {
    let now = Time::now();
    let status_value = ConditionStatus::from(value);
    match status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == status_value && c.reason.as_deref() == Some(reason) => false,
        Some(c) => {
            if c.status != status_value {
                c.last_transition_time = Some(now);
            }
            c.status = status_value;
            c.reason = Some(reason.to_owned());
            c.message = Some(message.to_owned());
            c.last_probe_time = Some(now);
            true
        }
        None => {
            status.conditions.push(JobCondition {
                type_,
                status: status_value,
                last_probe_time: Some(now),
                last_transition_time: Some(now),
                reason: Some(reason.to_owned()),
                message: Some(message.to_owned()),
            });
            true
        }
    }
}

impl State {
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(job) = self.jobs.get(key) else {
            self.expectations.forget(key);
            self.failures.lock().remove(key);
            self.status_writes.forget(key);
            return Ok(Action::Done);
        };
        if !self.status_writes.satisfied(key, &self.jobs) {
            // The Job's update event brings it back here.
            return Ok(Action::Done);
        }
        let namespace = job.namespace().unwrap_or_default().to_owned();
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let Some(selector) = job.spec.selector.clone().filter(|s| !s.is_empty()) else {
            self.recorder
                .warning(&*job, "SelectorRequired", "the Job has no selector");
            return Ok(Action::Done);
        };
        let owned = claim::claim(
            &self.client,
            Owner {
                object: &*job,
                selector: &selector,
            },
            self.pods.list_namespace(&namespace),
        )
        .await?;
        if job.is_finished() {
            // Counted long ago, or never: nothing may hold these pods now.
            self.release(key, &pods_api, owned.iter().filter(|p| has_tracking(p)))
                .await?;
            // Nothing is counted any more: no write of this Job needs waiting for.
            self.expectations.forget(key);
            return self.expire(&job).await;
        }
        let indexed = job.spec.completion_mode == Some(CompletionMode::Indexed);
        let completions = job.spec.completions;
        if indexed && completions.is_none() {
            self.recorder.warning(
                &*job,
                "CompletionsRequired",
                "an Indexed Job needs spec.completions",
            );
            return Ok(Action::Done);
        }
        // Creates, deletes and finalizer removals not yet in the pod cache: a pod released
        // earlier must not be seen with its finalizer and counted a second time.
        if !self.expectations.satisfied(key, &self.pods) {
            return Ok(Action::Done);
        }
        let mut status = job.status.clone();
        let mut uncounted = Uncounted::of(&status);
        let completions_or_0 = completions.unwrap_or(0);
        let mut completed = Indexes::parse(status.completed_indexes.as_deref(), completions_or_0);
        // 1. Record the uids of finished pods that still carry our finalizer (and, in the
        // same write, the indexes that succeeded: a pod gone later keeps its index).
        let mut newly = false;
        for pod in owned.iter().filter(|p| has_tracking(p)) {
            let (Some(done), Some(uid)) = (outcome(pod), pod.uid()) else {
                continue;
            };
            let set = if done {
                &mut uncounted.succeeded
            } else {
                &mut uncounted.failed
            };
            newly |= set.insert(uid.to_owned());
            if let (true, true, Some(i)) = (indexed, done, indexed::index_of(pod)) {
                if i < completions_or_0 {
                    newly |= completed.insert(i);
                }
            }
        }
        if indexed {
            status.completed_indexes = completed.written();
        }
        // The Job as last written by this reconcile.
        let mut current = (*job).clone();
        if newly {
            uncounted.write(&mut status);
            current = self.write_status(&current, &status).await?;
        }
        // 2. Release them, 3. count those released (or gone).
        let recorded: Vec<&Arc<Pod>> = owned
            .iter()
            .filter(|p| has_tracking(p))
            .filter(|p| {
                p.uid().is_some_and(|u| {
                    uncounted.succeeded.contains(u) || uncounted.failed.contains(u)
                })
            })
            .collect();
        self.release(key, &pods_api, recorded.iter().copied())
            .await?;
        let still_held: BTreeSet<&str> = owned
            .iter()
            .filter(|p| has_tracking(p) && !recorded.iter().any(|r| r.uid() == p.uid()))
            .filter_map(|p| p.uid())
            .collect();
        let (s, f) = (uncounted.succeeded.len(), uncounted.failed.len());
        uncounted
            .succeeded
            .retain(|u| still_held.contains(u.as_str()));
        uncounted.failed.retain(|u| still_held.contains(u.as_str()));
        let as_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        status.succeeded =
            Some(status.succeeded.unwrap_or(0) + as_i32(s - uncounted.succeeded.len()));
        status.failed = Some(status.failed.unwrap_or(0) + as_i32(f - uncounted.failed.len()));
        uncounted.write(&mut status);

        if indexed {
            // One success per index, however many pods succeeded for it.
            status.succeeded = Some(as_i32(completed.len()));
        }
        let succeeded = if indexed {
            as_i32(completed.len())
        } else {
            status.succeeded.unwrap_or(0) + as_i32(uncounted.succeeded.len())
        };
        let failed = status.failed.unwrap_or(0) + as_i32(uncounted.failed.len());
        let active: Vec<Arc<Pod>> = owned
            .iter()
            .filter(|p| pods::is_active(p))
            .cloned()
            .collect();
        let terminating = owned
            .iter()
            .filter(|p| p.is_being_deleted() && !p.is_terminal())
            .count();
        let now = Utc::now();
        let mut requeue: Option<Duration> = None;

        // Suspension.
        if job.is_suspended() {
            if set_condition(
                &mut status,
                JobConditionType::Suspended,
                true,
                "JobSuspended",
                "Job suspended",
            ) {
                self.recorder.normal(&*job, "Suspended", "Job suspended");
            }
            self.delete_pods(&job, &pods_api, &active).await?;
            status.start_time = None;
        } else {
            if status
                .condition(&JobConditionType::Suspended)
                .is_some_and(|c| c.status.is_true())
            {
                set_condition(
                    &mut status,
                    JobConditionType::Suspended,
                    false,
                    "JobResumed",
                    "Job resumed",
                );
                self.recorder.normal(&*job, "Resumed", "Job resumed");
            }
            if status.start_time.is_none() {
                status.start_time = Some(Time::now());
            }
        }

        // Outcome.
        let backoff_limit = job.spec.backoff_limit_or_default();
        let restarts: i32 =
            if job.spec.template.spec.effective_restart_policy() == RestartPolicy::OnFailure {
                active
                    .iter()
                    .flat_map(|p| &p.status.container_statuses)
                    .map(|c| c.restart_count)
                    .sum()
            } else {
                0
            };
        let deadline_passed = job.spec.active_deadline_seconds.and_then(|d| {
            let start = status.start_time?;
            let at = start.0 + chrono::Duration::seconds(d);
            if at <= now {
                Some(true)
            } else {
                let wait = (at - now).to_std().unwrap_or_default();
                requeue = Some(wait + Duration::from_millis(100));
                None
            }
        });
        let failure = if status
            .condition(&JobConditionType::FailureTarget)
            .is_some_and(|c| c.status.is_true())
        {
            None
        } else if failed + restarts > backoff_limit {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else if deadline_passed == Some(true) && !job.is_suspended() {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else {
            None
        };
        if let Some((reason, message)) = failure {
            set_condition(
                &mut status,
                JobConditionType::FailureTarget,
                true,
                reason,
                message,
            );
            self.recorder.warning(&*job, reason, message);
        }
        let complete = match completions {
            Some(c) => succeeded >= c,
            None => succeeded > 0 && active.is_empty(),
        };
        let failing = status
            .condition(&JobConditionType::FailureTarget)
            .is_some_and(|c| c.status.is_true());
        if complete && !failing {
            set_condition(
                &mut status,
                JobConditionType::SuccessCriteriaMet,
                true,
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
        }
        let succeeding = status
            .condition(&JobConditionType::SuccessCriteriaMet)
            .is_some_and(|c| c.status.is_true());
        if failing || succeeding {
            self.delete_pods(&job, &pods_api, &active).await?;
            if terminating == 0
                && active.is_empty()
                && uncounted.succeeded.is_empty()
                && uncounted.failed.is_empty()
            {
                if failing {
                    let (reason, message) = status
                        .condition(&JobConditionType::FailureTarget)
                        .map(|c| {
                            (
                                c.reason.clone().unwrap_or_default(),
                                c.message.clone().unwrap_or_default(),
                            )
                        })
                        .unwrap_or_default();
                    set_condition(
                        &mut status,
                        JobConditionType::Failed,
                        true,
                        &reason,
                        &message,
                    );
                } else {
                    set_condition(
                        &mut status,
                        JobConditionType::Complete,
                        true,
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    );
                    status.completion_time = Some(Time::now());
                    self.recorder.normal(&*job, "Completed", "Job completed");
                }
            }
        } else if !job.is_suspended() {
            // Pods: as many as parallelism allows and completions still need.
            let parallelism = job.spec.parallelism_or_default().max(0);
            let want = match completions {
                Some(c) => parallelism.min((c - succeeded).max(0)),
                None if succeeded > 0 => 0,
                None => parallelism,
            };
            // An indexed Job keeps one pod per index still needed, and deletes the others.
            let (mut kept, sorted) = if indexed {
                let sorted = indexed::sort_active(&active, &completed, completions_or_0);
                self.delete_pods(&job, &pods_api, &sorted.extra).await?;
                (sorted.kept.values().cloned().collect(), Some(sorted.kept))
            } else {
                (active.clone(), None)
            };
            let running = as_i32(kept.len());
            if running > want {
                pods::sort_for_deletion(&mut kept);
                kept.truncate(usize::try_from(running - want).unwrap_or(0));
                self.delete_pods(&job, &pods_api, &kept).await?;
            } else if running < want {
                let n = usize::try_from(want - running).unwrap_or(0);
                match self.backoff_left(key, failed) {
                    Some(wait) => requeue = Some(requeue.map_or(wait, |r| r.min(wait))),
                    None => {
                        let indexes = sorted
                            .map(|kept| indexed::missing(&completed, &kept, completions_or_0, n));
                        self.create_pods(&job, &pods_api, n, indexes).await?;
                    }
                }
            }
        }

        status.active = Some(as_i32(active.len()));
        status.ready = Some(as_i32(active.iter().filter(|p| p.is_ready()).count()));
        status.terminating = Some(as_i32(terminating));
        if status != current.status {
            self.write_status(&current, &status).await?;
        }
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }

    /// The time left before pods may be created after `failed` failures.
    fn backoff_left(&self, key: &ObjectKey, failed: i32) -> Option<Duration> {
        if failed <= 0 {
            return None;
        }
        let mut failures = self.failures.lock();
        let entry = failures
            .entry(key.clone())
            .or_insert((failed, Instant::now()));
        if entry.0 != failed {
            *entry = (failed, Instant::now());
        }
        let exponent = u32::try_from(failed - 1).unwrap_or(0).min(16);
        let delay = self
            .config
            .backoff
            .saturating_mul(1u32 << exponent)
            .min(self.config.max_backoff);
        let elapsed = entry.1.elapsed();
        (elapsed < delay).then(|| delay - elapsed)
    }

    /// Creates `n` pods from the template, or for an indexed Job one for each of
    /// `indexes`.
    async fn create_pods(
        &self,
        job: &Arc<Job>,
        api: &Api<Pod>,
        n: usize,
        indexes: Option<Vec<i32>>,
    ) -> Result<()> {
        let Some(owner) = job.controller_owner_ref(&()) else {
            return Ok(());
        };
        let mut pod = pods::from_template(
            &job.spec.template,
            job.namespace().unwrap_or_default(),
            job.name_any(),
            owner,
        );
        if !has_tracking(&pod) {
            pod.metadata.finalizers.push(TRACKING_FINALIZER.to_owned());
        }
        let pods: Vec<Pod> = match indexes {
            Some(indexes) => indexes
                .into_iter()
                .map(|i| indexed::pod_for_index(pod.clone(), job.name_any(), i))
                .collect(),
            None => vec![pod; n],
        };
        let pp = PostParams::default();
        let results = join_all(pods.iter().map(|p| api.create(&pp, p))).await;
        let mut failed = None;
        for r in results {
            match r {
                Ok(p) => {
                    self.expectations
                        .created(&job.key(), p.key(), p.resource_version());
                    self.recorder.normal(
                        &**job,
                        "SuccessfulCreate",
                        &format!("Created pod: {}", p.name_any()),
                    );
                }
                Err(e) => {
                    self.recorder
                        .warning(&**job, "FailedCreate", &format!("Error creating: {e}"));
                    failed = Some(e);
                }
            }
        }
        failed.map_or(Ok(()), |e| Err(e.into()))
    }

    async fn delete_pods(
        &self,
        job: &Arc<Job>,
        api: &Api<Pod>,
        victims: &[Arc<Pod>],
    ) -> Result<()> {
        let dp = DeleteParams::default();
        let results = join_all(victims.iter().map(|p| api.delete(p.name_any(), &dp))).await;
        for (pod, r) in victims.iter().zip(results) {
            match r {
                Ok(d) => {
                    let rv = match &d {
                        kube_api::client::Deleted::Object(p) => {
                            p.resource_version().map(str::to_owned)
                        }
                        kube_api::client::Deleted::Status(_) => None,
                    };
                    self.expectations
                        .deleted(&job.key(), pod.key(), rv.as_deref());
                    self.recorder.normal(
                        &**job,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {}", pod.name_any()),
                    );
                }
                Err(e) if e.code() == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Removes the tracking finalizer from these pods of the Job `owner`, expecting to see
    /// the removal in the pod cache before the Job is counted again.
    async fn release<'a>(
        &self,
        owner: &ObjectKey,
        api: &Api<Pod>,
        pods: impl Iterator<Item = &'a Arc<Pod>>,
    ) -> Result<()> {
        for pod in pods {
            let keep: Vec<&String> = pod
                .metadata
                .finalizers
                .iter()
                .filter(|f| *f != TRACKING_FINALIZER)
                .collect();
            let patch = serde_json::json!({"metadata": {
                "finalizers": keep,
                "resourceVersion": pod.resource_version(),
            }});
            match api
                .patch(
                    pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(released) => {
                    self.expectations
                        .updated(owner, released.key(), released.resource_version());
                }
                Err(e) if e.code() == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Deletes a finished Job once its `ttlSecondsAfterFinished` has passed.
    async fn expire(&self, job: &Job) -> Result<Action> {
        let Some(ttl) = job.spec.ttl_seconds_after_finished else {
            return Ok(Action::Done);
        };
        let finished = job
            .status
            .conditions
            .iter()
            .filter(|c| {
                matches!(
                    c.type_,
                    JobConditionType::Complete | JobConditionType::Failed
                ) && c.status.is_true()
            })
            .filter_map(|c| c.last_transition_time)
            .max()
            .or(job.status.completion_time)
            .map_or_else(Utc::now, |t| t.0);
        let at = finished + chrono::Duration::seconds(i64::from(ttl));
        let now = Utc::now();
        if at > now {
            return Ok(Action::RequeueAfter(
                (at - now).to_std().unwrap_or_default() + Duration::from_millis(100),
            ));
        }
        let api: Api<Job> =
            Api::namespaced(self.client.clone(), job.namespace().unwrap_or_default());
        match api
            .delete(job.name_any(), &DeleteParams::foreground())
            .await
        {
            Ok(_) => Ok(Action::Done),
            Err(e) if e.code() == 404 => Ok(Action::Done),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the status onto `job`; on a conflict (a spec change), onto the fresh object
    /// if its status is still `job`'s. Returns the Job written.
    async fn write_status(&self, job: &Job, status: &JobStatus) -> Result<Job> {
        let api: Api<Job> =
            Api::namespaced(self.client.clone(), job.namespace().unwrap_or_default());
        let mut current = job.clone();
        for _ in 0..3 {
            current.status = status.clone();
            match api
                .replace_status(job.name_any(), &PostParams::default(), &current)
                .await
            {
                Ok(written) => {
                    self.status_writes.updated(
                        &job.key(),
                        written.key(),
                        written.resource_version(),
                    );
                    return Ok(written);
                }
                Err(e) if e.code() == 409 => {
                    let Some(fresh) = api.get_opt(job.name_any()).await? else {
                        return Err(Error::Api(e));
                    };
                    if fresh.uid() != job.uid() || fresh.status != job.status {
                        // Someone else changed the status: start over from it.
                        return Err(Error::invalid(
                            &job.key(),
                            "the Job status changed meanwhile",
                        ));
                    }
                    current = fresh;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::invalid(
            &job.key(),
            "the status kept conflicting with other writers",
        ))
    }
}
