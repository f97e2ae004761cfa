//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`.
//!
//! Candidates share a Lease. The holder renews it every `retry_period`; when it cannot for
//! `renew_deadline`, or sees another holder, it steps down. A candidate takes the Lease
//! once its record has not changed for `lease_duration` *as measured on the candidate's
//! own clock* since it last saw it change (so clock skew between machines does not
//! matter), or when the holder released it. Writes are compare-and-swap on the Lease's
//! resourceVersion, so two candidates never both win.
//!
//! `lease_duration > renew_deadline > retry_period` keeps one leader at a time: a holder
//! that cannot renew stops acting before anyone else may take over.

use std::sync::Arc;
use std::time::Duration;

use kube_api::client::{Api, Client, PostParams};
use kube_core::{Lease, LeaseSpec, MicroTime, ObjectMeta};
use parking_lot::Mutex;
use rand::Rng as _;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::shutdown::{Shutdown, ShutdownTrigger};

/// The settings of a [`LeaderElector`]; the durations default to Kubernetes' (15 s, 10 s,
/// 2 s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// The Lease's namespace (`kube-system`).
    pub namespace: String,
    /// The Lease's name (`kube-controller-manager`).
    pub name: String,
    /// This candidate's identity, unique among candidates (the Lease's `holderIdentity`).
    pub identity: String,
    /// How long others wait, after the Lease last changed, before taking it over.
    pub lease_duration: Duration,
    /// How long the holder keeps trying to renew before it steps down.
    pub renew_deadline: Duration,
    /// How often candidates try to take the Lease, and the holder renews it.
    pub retry_period: Duration,
    /// Give the Lease up when stopping, so that another candidate takes over at once.
    pub release_on_cancel: bool,
}

impl LeaderElectionConfig {
    /// Kubernetes' durations for a Lease `name` in `kube-system`, held as `identity`.
    pub fn new(name: &str, identity: &str) -> Self {
        Self {
            namespace: "kube-system".to_owned(),
            name: name.to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            release_on_cancel: true,
        }
    }

    /// Other durations (tests use short ones).
    #[must_use]
    pub fn durations(mut self, lease: Duration, renew: Duration, retry: Duration) -> Self {
        self.lease_duration = lease;
        self.renew_deadline = renew;
        self.retry_period = retry;
        self
    }

    /// The Lease's namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.namespace);
        self
    }

    /// Checks the durations keep one leader at a time, as client-go does.
    pub fn validate(&self) -> Result<()> {
        if self.identity.is_empty() || self.name.is_empty() {
            return Err(Error::Config(
                "leader election needs a Lease name and an identity".into(),
            ));
        }
        if self.lease_duration < Duration::from_secs(1) {
            return Err(Error::Config(
                "the lease duration must be at least one second (Leases count in seconds)".into(),
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(Error::Config(
                "the lease duration must be longer than the renew deadline".into(),
            ));
        }
        if self.renew_deadline.as_secs_f64() <= self.retry_period.as_secs_f64() * JITTER {
            return Err(Error::Config(format!(
                "the renew deadline must be longer than {JITTER} x the retry period"
            )));
        }
        Ok(())
    }

    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs_f64().ceil() as u64).unwrap_or(i32::MAX)
    }
}

/// client-go's jitter: a wait of `d` lasts between `d` and `d * (1 + JITTER)`.
const JITTER: f64 = 1.2;

fn jittered(d: Duration) -> Duration {
    d.mul_f64(1.0 + rand::rng().random::<f64>() * JITTER)
}

/// The last record seen, and when (on this machine's monotonic clock) it changed.
struct Observed {
    spec: LeaseSpec,
    at: Instant,
}

/// Competes for a Lease; see the [module docs](self).
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    observed: Mutex<Option<Observed>>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// A candidate with these settings.
    pub fn new(client: Client, config: LeaderElectionConfig) -> Result<Arc<Self>> {
        config.validate()?;
        Ok(Arc::new(Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: Mutex::new(None),
        }))
    }

    /// The settings.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    /// Waits until this candidate holds the Lease, trying every `retry_period`; `None` if
    /// `shutdown` fires first. The [`Leadership`] keeps renewing until it is lost or
    /// released.
    pub async fn acquire(self: &Arc<Self>, shutdown: &Shutdown) -> Option<Leadership> {
        loop {
            if shutdown.is_triggered() {
                return None;
            }
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, "acquired the lease");
                    return Some(self.clone().lead());
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(lease = %self.config.name, error = %e, "cannot acquire the lease");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(jittered(self.config.retry_period)) => {}
                () = shutdown.triggered() => return None,
            }
        }
    }

    fn lead(self: Arc<Self>) -> Leadership {
        let (lost_trigger, lost) = Shutdown::new();
        let (stop_trigger, stop) = Shutdown::new();
        let me = self.clone();
        let task = tokio::spawn(async move { me.renew_loop(lost_trigger, stop).await });
        Leadership {
            elector: self,
            lost,
            stop: stop_trigger,
            task: Some(task),
        }
    }

    /// Renews until it fails for `renew_deadline`, another holder shows, or `stop` fires.
    /// Returns true if it still holds the Lease.
    async fn renew_loop(&self, lost: ShutdownTrigger, stop: Shutdown) -> bool {
        let mut last_renew = Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.config.retry_period) => {}
                () = stop.triggered() => return true,
            }
            let left = self
                .config
                .renew_deadline
                .saturating_sub(last_renew.elapsed());
            let attempt = tokio::time::timeout(left, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(true)) => last_renew = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::warn!(lease = %self.config.name, "another candidate holds the lease");
                    lost.trigger();
                    return false;
                }
                Ok(Err(e)) => {
                    tracing::warn!(lease = %self.config.name, error = %e, "cannot renew the lease");
                }
                Err(_) => tracing::warn!(lease = %self.config.name, "renewing the lease timed out"),
            }
            if last_renew.elapsed() >= self.config.renew_deadline {
                tracing::error!(lease = %self.config.name, "could not renew the lease within the deadline; stepping down");
                lost.trigger();
                return false;
            }
        }
    }

    /// One attempt: create the Lease, renew it, or take it over once expired. True when
    /// this candidate holds it afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = MicroTime::now();
        let me = &self.config.identity;
        let Some(current) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: LeaseSpec {
                    holder_identity: Some(me.clone()),
                    lease_duration_seconds: Some(self.config.lease_seconds()),
                    acquire_time: Some(now),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                },
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created.spec);
                    Ok(true)
                }
                Err(e) if e.code() == 409 => Ok(false),
                Err(e) => Err(e.into()),
            };
        };
        let observed_at = self.observe(&current.spec);
        let holder = current.spec.holder_identity.clone().unwrap_or_default();
        let held_by_me = holder == *me;
        if !holder.is_empty() && !held_by_me {
            let duration = current
                .spec
                .lease_duration_seconds
                .map_or(self.config.lease_duration, |s| {
                    Duration::from_secs(u64::try_from(s.max(0)).unwrap_or(0))
                });
            if observed_at.elapsed() < duration {
                return Ok(false);
            }
        }
        let mut lease = current.clone();
        lease.spec.holder_identity = Some(me.clone());
        lease.spec.lease_duration_seconds = Some(self.config.lease_seconds());
        lease.spec.renew_time = Some(now);
        if !held_by_me {
            lease.spec.acquire_time = Some(now);
            lease.spec.lease_transitions = Some(
                current
                    .spec
                    .lease_transitions
                    .unwrap_or(0)
                    .saturating_add(1),
            );
        }
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observe(&updated.spec);
                Ok(true)
            }
            Err(e) if e.code() == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Records the record seen; returns when it last changed.
    fn observe(&self, spec: &LeaseSpec) -> Instant {
        let mut observed = self.observed.lock();
        match &*observed {
            Some(o) if o.spec == *spec => o.at,
            _ => {
                let at = Instant::now();
                *observed = Some(Observed {
                    spec: spec.clone(),
                    at,
                });
                at
            }
        }
    }

    /// Gives the Lease up if this candidate still holds it: no holder, and a one-second
    /// duration, so that the next candidate takes it at its next try.
    async fn release(&self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        if lease.spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime::now();
        lease.spec.holder_identity = None;
        lease.spec.lease_duration_seconds = Some(1);
        lease.spec.renew_time = Some(now);
        lease.spec.acquire_time = Some(now);
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await?;
        tracing::info!(lease = %self.config.name, "released the lease");
        Ok(())
    }
}

/// Holding the Lease: renewed in the background until lost or released.
pub struct Leadership {
    elector: Arc<LeaderElector>,
    lost: Shutdown,
    stop: ShutdownTrigger,
    task: Option<JoinHandle<bool>>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("lease", &self.elector.config.name)
            .field("lost", &self.lost.is_triggered())
            .finish()
    }
}

impl Leadership {
    /// A signal that fires when the Lease is lost.
    pub fn lost(&self) -> Shutdown {
        self.lost.clone()
    }

    /// Stops renewing and, if configured, gives the Lease up.
    pub async fn release(mut self) {
        self.stop.trigger();
        let still_held = match self.task.take() {
            Some(task) => task.await.unwrap_or(false),
            None => false,
        };
        if still_held && self.elector.config.release_on_cancel {
            if let Err(e) = self.elector.release().await {
                tracing::warn!(lease = %self.elector.config.name, error = %e, "cannot release the lease");
            }
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // Dropped without release: stop renewing (a crash looks the same to others).
        self.stop.trigger();
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_must_keep_one_leader() {
        let ok = LeaderElectionConfig::new("kcm", "a");
        assert!(ok.validate().is_ok());
        assert_eq!(ok.lease_seconds(), 15);
        let short = ok.clone().durations(
            Duration::from_secs(2),
            Duration::from_secs(2),
            Duration::from_millis(100),
        );
        assert!(
            short.validate().is_err(),
            "lease must outlast the renew deadline"
        );
        let jitter = ok.clone().durations(
            Duration::from_secs(3),
            Duration::from_secs(2),
            Duration::from_secs(2),
        );
        assert!(
            jitter.validate().is_err(),
            "renew deadline must outlast jittered retries"
        );
        let sub_second = ok.durations(
            Duration::from_millis(900),
            Duration::from_millis(500),
            Duration::from_millis(100),
        );
        assert!(sub_second.validate().is_err());
        assert!(LeaderElectionConfig::new("kcm", "").validate().is_err());
        let d = jittered(Duration::from_secs(1));
        assert!(d >= Duration::from_secs(1) && d <= Duration::from_millis(2200));
    }
}
