//! The rollout strategies and scaling: rolling update, recreate, proportional scaling and
//! the cleanup of old ReplicaSets.

use std::collections::HashMap;
use std::sync::Arc;

use kube_api::client::{DeleteParams, PostParams};
use kube_core::{Deployment, PodPhase, ReplicaSet, ResourceExt as _};

use super::Sync;
use super::revision::{self, max_surge, max_unavailable, sort_by_creation};
use super::status::{self, spec_replicas};
use crate::error::Result;

/// The pods a ReplicaSet may have at most right now: what it should run, or what it
/// still reports if more (pods it has not deleted yet).
fn counted(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas_or_default().max(rs.status.replicas)
}

/// The size of the new ReplicaSet for the next step (Kubernetes' `NewRSNewReplicas`,
/// counting pods not yet deleted; see the module docs).
pub(crate) fn new_rs_new_replicas(
    d: &Deployment,
    old: &[Arc<ReplicaSet>],
    new: &Arc<ReplicaSet>,
) -> i32 {
    let replicas = d.spec.replicas_or_default();
    let current_new = new.spec.replicas_or_default();
    if !revision::is_rolling(d) {
        return replicas;
    }
    // An old ReplicaSet whose controller has not acted on its latest spec yet may still
    // be creating pods for an earlier, larger one: wait for it.
    if old
        .iter()
        .any(|rs| rs.status.observed_generation < rs.metadata.generation)
    {
        return current_new;
    }
    let current = old.iter().map(|rs| counted(rs)).sum::<i32>() + counted(new);
    let max_total = replicas + max_surge(d);
    if current >= max_total {
        return current_new;
    }
    let up = (max_total - current).min(replicas - current_new).max(0);
    current_new + up
}

fn active(sets: &[Arc<ReplicaSet>]) -> Vec<Arc<ReplicaSet>> {
    sets.iter()
        .filter(|rs| rs.spec.replicas_or_default() > 0)
        .cloned()
        .collect()
}

impl Sync<'_> {
    /// Scales a ReplicaSet to `size` for this Deployment (and its replicas annotations);
    /// returns the ReplicaSet as it is now.
    pub(super) async fn scale_rs(
        &mut self,
        rs: &Arc<ReplicaSet>,
        size: i32,
    ) -> Result<Arc<ReplicaSet>> {
        let replicas = self.d.spec.replicas_or_default();
        let current = rs.spec.replicas_or_default();
        let mut copy = (**rs).clone();
        copy.spec.replicas = Some(size);
        let annotations =
            revision::set_replicas_annotations(&mut copy, replicas, replicas + max_surge(&self.d));
        if current == size && !annotations {
            return Ok(rs.clone());
        }
        let updated = Arc::new(
            self.sets
                .replace(rs.name_any(), &PostParams::default(), &copy)
                .await?,
        );
        self.state.wrote(&updated);
        if current != size {
            let op = if size > current { "up" } else { "down" };
            self.state.recorder.normal(
                &self.d,
                "ScalingReplicaSet",
                &format!(
                    "Scaled {op} replica set {} from {current} to {size}",
                    rs.name_any()
                ),
            );
        }
        Ok(updated)
    }

    /// One rolling update step (Kubernetes' `rolloutRolling`).
    pub(super) async fn rollout_rolling(&mut self, sets: Vec<Arc<ReplicaSet>>) -> Result<()> {
        let (new, mut old) = self.new_and_old(sets, true).await?;
        let Some(mut new) = new else {
            return Ok(());
        };
        let replicas = self.d.spec.replicas_or_default();
        // Scale the new ReplicaSet up, within the surge.
        let current_new = new.spec.replicas_or_default();
        if current_new != replicas {
            let target = if current_new > replicas {
                replicas
            } else {
                new_rs_new_replicas(&self.d, &old, &new)
            };
            if target != current_new {
                new = self.scale_rs(&new, target).await?;
                return self.rollout_status(&old, &new).await;
            }
        }
        // Scale the old ones down, within the availability.
        if self.reconcile_old(&mut old, &new).await? {
            return self.rollout_status(&old, &new).await;
        }
        let all: Vec<Arc<ReplicaSet>> = old.iter().cloned().chain([new.clone()]).collect();
        let (s, _) = status::rollout(&self.d, &all, Some(&new));
        if status::complete(&self.d, &s) {
            self.cleanup(&old).await?;
        }
        self.rollout_status(&old, &new).await
    }

    /// Scales old ReplicaSets down as far as availability allows (Kubernetes'
    /// `reconcileOldReplicaSets`). True when it scaled any.
    async fn reconcile_old(
        &mut self,
        old: &mut [Arc<ReplicaSet>],
        new: &Arc<ReplicaSet>,
    ) -> Result<bool> {
        let old_count: i32 = active(old)
            .iter()
            .map(|rs| rs.spec.replicas_or_default())
            .sum();
        if old_count == 0 {
            return Ok(false);
        }
        let all: Vec<Arc<ReplicaSet>> = old.iter().cloned().chain([new.clone()]).collect();
        let all_count = spec_replicas(&all);
        let min_available = self.d.spec.replicas_or_default() - max_unavailable(&self.d);
        let new_unavailable =
            new.spec.replicas_or_default() - new.status.available_replicas.unwrap_or(0);
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        // First the unhealthy pods of old ReplicaSets: they cost no availability.
        sort_by_creation(old);
        let mut cleaned = 0;
        for slot in old.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let rs = slot.clone();
            let spec = rs.spec.replicas_or_default();
            let available = rs.status.available_replicas.unwrap_or(0);
            if spec == 0 || spec <= available {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(spec - available);
            *slot = self.scale_rs(&rs, spec - down).await?;
            cleaned += down;
        }
        // Then available ones, down to the minimum availability. A ReplicaSet counts at
        // most `spec.replicas` available pods: those above are being deleted already.
        let all: Vec<Arc<ReplicaSet>> = old.iter().cloned().chain([new.clone()]).collect();
        let available: i32 = all
            .iter()
            .map(|rs| {
                rs.status
                    .available_replicas
                    .unwrap_or(0)
                    .min(rs.spec.replicas_or_default())
            })
            .sum();
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for slot in old.iter_mut() {
                if scaled >= total {
                    break;
                }
                let rs = slot.clone();
                let spec = rs.spec.replicas_or_default();
                if spec == 0 {
                    continue;
                }
                let down = spec.min(total - scaled);
                *slot = self.scale_rs(&rs, spec - down).await?;
                scaled += down;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    /// One Recreate step (Kubernetes' `rolloutRecreate`).
    pub(super) async fn rollout_recreate(&mut self, sets: Vec<Arc<ReplicaSet>>) -> Result<()> {
        let (new, mut old) = self.new_and_old(sets.clone(), false).await?;
        let mut scaled_down = false;
        for rs in &mut old {
            if rs.spec.replicas_or_default() > 0 {
                *rs = self.scale_rs(rs, 0).await?;
                scaled_down = true;
            }
        }
        let placeholder = new.clone();
        if scaled_down || self.old_pods_running(new.as_ref(), &old) {
            return match placeholder {
                Some(new) => self.rollout_status(&old, &new).await,
                None => self.rollout_status_without_new(&old).await,
            };
        }
        let (new, old) = match new {
            Some(new) => (new, old),
            None => match self.new_and_old(sets, true).await? {
                (Some(new), old) => (new, old),
                (None, _) => return Ok(()),
            },
        };
        let replicas = self.d.spec.replicas_or_default();
        let new = if new.spec.replicas_or_default() == replicas {
            new
        } else {
            self.scale_rs(&new, replicas).await?
        };
        let all: Vec<Arc<ReplicaSet>> = old.iter().cloned().chain([new.clone()]).collect();
        let (s, _) = status::rollout(&self.d, &all, Some(&new));
        if status::complete(&self.d, &s) {
            self.cleanup(&old).await?;
        }
        self.rollout_status(&old, &new).await
    }

    /// True while pods of the old ReplicaSets still run (or may: phase unknown).
    fn old_pods_running(&self, new: Option<&Arc<ReplicaSet>>, old: &[Arc<ReplicaSet>]) -> bool {
        if old.iter().any(|rs| rs.status.replicas > 0) {
            return true;
        }
        let old_uids: Vec<&str> = old.iter().filter_map(|rs| rs.uid()).collect();
        let new_uid = new.and_then(|rs| rs.uid());
        self.state
            .pods
            .list_namespace(self.d.namespace().unwrap_or_default())
            .iter()
            .filter(|p| {
                p.controller_owner().is_some_and(|r| {
                    old_uids.contains(&r.uid.as_str()) && Some(r.uid.as_str()) != new_uid
                })
            })
            .any(|p| !matches!(p.status.phase, Some(PodPhase::Failed | PodPhase::Succeeded)))
    }

    /// Writes the status after a rollout step and remembers when to look again.
    async fn rollout_status(
        &mut self,
        old: &[Arc<ReplicaSet>],
        new: &Arc<ReplicaSet>,
    ) -> Result<()> {
        let all: Vec<Arc<ReplicaSet>> = old.iter().cloned().chain([new.clone()]).collect();
        let (s, requeue) = status::rollout(&self.d, &all, Some(new));
        self.requeue = requeue;
        self.write_status(s).await
    }

    async fn rollout_status_without_new(&mut self, old: &[Arc<ReplicaSet>]) -> Result<()> {
        let (s, requeue) = status::rollout(&self.d, old, None);
        self.requeue = requeue;
        self.write_status(s).await
    }

    /// Proportional scaling when `replicas` changed mid-rollout (Kubernetes' `scale`).
    pub(super) async fn scale(
        &mut self,
        mut new: Option<Arc<ReplicaSet>>,
        mut old: Vec<Arc<ReplicaSet>>,
    ) -> Result<(Option<Arc<ReplicaSet>>, Vec<Arc<ReplicaSet>>)> {
        let replicas = self.d.spec.replicas_or_default();
        // One active ReplicaSet (or none: the newest) takes the whole count.
        let mut newest_first = old.clone();
        sort_by_creation(&mut newest_first);
        newest_first.reverse();
        let all_active = active(
            &newest_first
                .iter()
                .cloned()
                .chain(new.clone())
                .collect::<Vec<_>>(),
        );
        let only = match all_active.len() {
            0 => new.clone().or_else(|| newest_first.first().cloned()),
            1 => all_active.first().cloned(),
            _ => None,
        };
        if let Some(rs) = only {
            if rs.spec.replicas_or_default() != replicas {
                let scaled = self.scale_rs(&rs, replicas).await?;
                return Ok(self.replace(new, old, scaled));
            }
            return Ok((new, old));
        }
        // A saturated new ReplicaSet: the old ones go.
        if let Some(n) = &new {
            let saturated = n.spec.replicas_or_default() == replicas
                && revision::desired_replicas(n) == Some(replicas)
                && n.status.available_replicas == Some(replicas);
            if saturated {
                for rs in &mut old {
                    if rs.spec.replicas_or_default() > 0 {
                        *rs = self.scale_rs(rs, 0).await?;
                    }
                }
                return Ok((new, old));
            }
        }
        if !revision::is_rolling(&self.d) {
            return Ok((new, old));
        }
        let mut sets = active(&old.iter().cloned().chain(new.clone()).collect::<Vec<_>>());
        let current = spec_replicas(&sets);
        let allowed = if replicas > 0 {
            replicas + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - current;
        // Larger first; ties: newer first when growing, older first when shrinking.
        sets.sort_by(|a, b| {
            let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.map(|t| t.0);
            b.spec
                .replicas_or_default()
                .cmp(&a.spec.replicas_or_default())
                .then_with(|| {
                    if to_add > 0 {
                        created(b).cmp(&created(a))
                    } else {
                        created(a).cmp(&created(b))
                    }
                })
        });
        let mut added = 0;
        let mut sizes: HashMap<String, i32> = HashMap::new();
        for rs in &sets {
            let size = rs.spec.replicas_or_default();
            if to_add == 0 {
                sizes.insert(rs.name_any().to_owned(), size);
                continue;
            }
            let p = self.proportion(rs, to_add, added);
            sizes.insert(rs.name_any().to_owned(), size + p);
            added += p;
        }
        for (i, rs) in sets.iter().enumerate() {
            let mut size = sizes.get(rs.name_any()).copied().unwrap_or(0);
            if i == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            let scaled = self.scale_rs(rs, size).await?;
            let (n, o) = self.replace(new, old, scaled);
            new = n;
            old = o;
        }
        Ok((new, old))
    }

    /// This ReplicaSet's share of `to_add` (Kubernetes' `GetProportion`).
    fn proportion(&self, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
        let size = rs.spec.replicas_or_default();
        if size == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let replicas = self.d.spec.replicas_or_default();
        let fraction = if replicas == 0 {
            -size
        } else {
            let deployment_replicas = replicas + max_surge(&self.d);
            let annotated =
                revision::max_replicas(rs).unwrap_or_else(|| self.d.status.replicas.unwrap_or(0));
            if annotated == 0 {
                0
            } else {
                let scaled =
                    f64::from(size) * f64::from(deployment_replicas) / f64::from(annotated);
                #[allow(clippy::cast_possible_truncation)] // bounded by the replica counts
                let rounded = scaled.round() as i32;
                rounded - size
            }
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    fn replace(
        &self,
        new: Option<Arc<ReplicaSet>>,
        mut old: Vec<Arc<ReplicaSet>>,
        scaled: Arc<ReplicaSet>,
    ) -> (Option<Arc<ReplicaSet>>, Vec<Arc<ReplicaSet>>) {
        if new.as_ref().is_some_and(|n| n.uid() == scaled.uid()) {
            return (Some(scaled), old);
        }
        for rs in &mut old {
            if rs.uid() == scaled.uid() {
                *rs = scaled.clone();
            }
        }
        (new, old)
    }

    /// Deletes old, empty ReplicaSets beyond `revisionHistoryLimit`, oldest revision
    /// first.
    pub(super) async fn cleanup(&mut self, old: &[Arc<ReplicaSet>]) -> Result<()> {
        let Some(limit) = self.d.spec.revision_history_limit else {
            return Ok(());
        };
        let mut alive: Vec<&Arc<ReplicaSet>> =
            old.iter().filter(|rs| !rs.is_being_deleted()).collect();
        let excess = alive
            .len()
            .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
        if excess == 0 {
            return Ok(());
        }
        alive.sort_by(|a, b| {
            revision::revision(a)
                .cmp(&revision::revision(b))
                .then_with(|| {
                    a.metadata
                        .creation_timestamp
                        .map(|t| t.0)
                        .cmp(&b.metadata.creation_timestamp.map(|t| t.0))
                })
        });
        for rs in alive.into_iter().take(excess) {
            let busy = rs.status.replicas != 0
                || rs.spec.replicas_or_default() != 0
                || rs.metadata.generation > rs.status.observed_generation;
            if busy {
                continue;
            }
            tracing::info!(replicaset = %rs.name_any(), "deleting an old ReplicaSet beyond the history limit");
            match self
                .sets
                .delete(rs.name_any(), &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(e) if e.code() == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
