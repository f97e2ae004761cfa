//! The Namespace controller: empties a terminating namespace, then lets it go.
//!
//! As Kubernetes': for a namespace being deleted that still holds the `kubernetes`
//! finalizer, every namespaced kind discovery reports (custom resources included) is
//! deleted with `deletecollection` (or one by one where that is not served), and the
//! namespace's conditions say what remains (`NamespaceContentRemaining`,
//! `NamespaceFinalizersRemaining`, `NamespaceDeletionDiscoveryFailure`,
//! `NamespaceDeletionContentFailure`, `NamespaceDeletionGroupVersionParsingFailure`).
//! Once nothing remains, the `kubernetes` finalizer is removed through the `finalize`
//! subresource and the API server removes the namespace.
//!
//! The reference API server also empties terminating namespaces itself; both do the same
//! idempotent work, so running this controller beside it is safe, and it is what a
//! platform whose API server does not do it needs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request};
use kube_api::client::{Api, Client, DeleteParams, ListParams, PostParams};
use kube_api::informer::Cache;
use kube_core::{
    Action, ConditionStatus, DynamicObject, Namespace, NamespaceCondition, NamespacePhase,
    ObjectKey, ResourceExt as _, Time,
};

use super::discovery;
use crate::error::{Error, Result};
use crate::runtime::{Controller, ControllerConfig, RunContext, Runnable};

/// The finalizer in `spec.finalizers` that this controller clears.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// Settings of the Namespace controller.
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceConfig {
    /// Workers (Kubernetes runs 10) and retries.
    pub controller: ControllerConfig,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        Self {
            controller: ControllerConfig::default().workers(10),
        }
    }
}

/// The Namespace controller; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct NamespaceController {
    config: NamespaceConfig,
}

impl NamespaceController {
    /// A controller with these settings.
    pub fn new(config: NamespaceConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Runnable for NamespaceController {
    fn name(&self) -> &str {
        "namespace"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let state = Arc::new(State {
            client: ctx.client.clone(),
            namespaces: ctx.factory.informer::<Namespace>().cache(),
        });
        Controller::<Namespace>::for_factory(&ctx.factory)
            .name(self.name())
            .config(self.config.controller.clone())
            .metrics(&ctx.metrics)
            .graceful_shutdown_on(ctx.shutdown.clone())
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
    namespaces: Cache<Namespace>,
}

/// What is left in a namespace after one pass.
#[derive(Debug, Default)]
struct Remaining {
    /// Plural -> objects left.
    by_resource: BTreeMap<String, usize>,
    /// Finalizer -> objects it holds.
    by_finalizer: BTreeMap<String, usize>,
    /// Longest grace period among the objects left.
    grace: i64,
    failures: Vec<String>,
}

impl State {
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(ns) = self.namespaces.get(key) else {
            return Ok(Action::Done);
        };
        if !ns.is_being_deleted() || !ns.spec.finalizers.iter().any(|f| f == KUBERNETES_FINALIZER) {
            return Ok(Action::Done);
        }
        let (remaining, discovery_error) = match discovery::resources(&self.client).await {
            Ok(found) => (self.delete_content(&key.name, &found).await, None),
            Err(e) => (Remaining::default(), Some(e.to_string())),
        };
        self.report(&ns, &remaining, discovery_error.as_deref())
            .await?;
        if discovery_error.is_some() || !remaining.failures.is_empty() {
            return Err(Error::invalid(
                key,
                "namespace content could not all be deleted; retrying",
            ));
        }
        if !remaining.by_resource.is_empty() {
            let wait =
                Duration::from_secs(u64::try_from(remaining.grace.clamp(1, 30)).unwrap_or(1));
            return Ok(Action::RequeueAfter(wait));
        }
        self.finalize(&ns).await?;
        Ok(Action::Done)
    }

    /// Deletes everything in the namespace; returns what is left.
    async fn delete_content(&self, namespace: &str, found: &[discovery::Discovered]) -> Remaining {
        let mut remaining = Remaining::default();
        for d in found {
            if !d.resource.namespaced || !d.supports(&["list", "delete"]) {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), namespace, &d.resource);
            let deleted = if d.supports(&["deletecollection"]) {
                api.delete_collection(&DeleteParams::background(), &ListParams::default())
                    .await
                    .map(drop)
            } else {
                Ok(())
            };
            if let Err(e) = deleted {
                if e.code() != 404 && e.code() != 405 {
                    remaining
                        .failures
                        .push(format!("{}: {e}", d.resource.plural));
                }
            }
            let left = match api.list(&ListParams::default()).await {
                Ok(list) => list.items,
                Err(e) if e.code() == 404 => continue,
                Err(e) => {
                    remaining
                        .failures
                        .push(format!("{}: {e}", d.resource.plural));
                    continue;
                }
            };
            for obj in &left {
                if !obj.is_being_deleted() {
                    // Not covered by a collection delete: one by one.
                    if let Err(e) = api
                        .delete(obj.name_any(), &DeleteParams::background())
                        .await
                    {
                        if e.code() != 404 {
                            remaining
                                .failures
                                .push(format!("{}: {e}", d.resource.plural));
                        }
                    }
                }
                for f in &obj.metadata.finalizers {
                    *remaining.by_finalizer.entry(f.clone()).or_default() += 1;
                }
                remaining.grace = remaining
                    .grace
                    .max(obj.metadata.deletion_grace_period_seconds.unwrap_or(0));
            }
            if !left.is_empty() {
                // Kubernetes names a resource `plural.group` (`deployments.apps`).
                let name = if d.resource.group.is_empty() {
                    d.resource.plural.to_string()
                } else {
                    format!("{}.{}", d.resource.plural, d.resource.group)
                };
                remaining.by_resource.insert(name, left.len());
            }
        }
        remaining
    }

    /// Writes the deletion conditions Kubernetes reports.
    async fn report(
        &self,
        ns: &Namespace,
        remaining: &Remaining,
        discovery_error: Option<&str>,
    ) -> Result<()> {
        let cond = |type_: &str, failed: bool, bad: &str, good: &str, message: String| {
            NamespaceCondition {
                type_: type_.to_owned(),
                status: ConditionStatus::from(failed),
                last_transition_time: None,
                reason: Some(if failed { bad } else { good }.to_owned()),
                message: Some(message),
            }
        };
        let content = remaining
            .by_resource
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect::<Vec<_>>()
            .join(", ");
        let finalizers = remaining
            .by_finalizer
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect::<Vec<_>>()
            .join(", ");
        let wanted = [
            cond(
                "NamespaceDeletionDiscoveryFailure",
                discovery_error.is_some(),
                "DiscoveryFailed",
                "ResourcesDiscovered",
                discovery_error.map_or_else(
                    || "All resources successfully discovered".to_owned(),
                    |e| format!("Discovery failed for some groups: {e}"),
                ),
            ),
            cond(
                "NamespaceDeletionGroupVersionParsingFailure",
                false,
                "GroupVersionParsingFailed",
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed".to_owned(),
            ),
            cond(
                "NamespaceDeletionContentFailure",
                !remaining.failures.is_empty(),
                "ContentDeletionFailed",
                "ContentDeleted",
                if remaining.failures.is_empty() {
                    "All content successfully deleted, may be waiting on finalization".to_owned()
                } else {
                    format!(
                        "Failed to delete all resource types, {} remaining: {}",
                        remaining.failures.len(),
                        remaining.failures.join(", ")
                    )
                },
            ),
            cond(
                "NamespaceContentRemaining",
                !remaining.by_resource.is_empty(),
                "SomeResourcesRemain",
                "ContentRemoved",
                if content.is_empty() {
                    "All content successfully removed".to_owned()
                } else {
                    format!("Some resources are remaining: {content}")
                },
            ),
            cond(
                "NamespaceFinalizersRemaining",
                !remaining.by_finalizer.is_empty(),
                "SomeFinalizersRemain",
                "ContentHasNoFinalizers",
                if finalizers.is_empty() {
                    "All content-preserving finalizers finished".to_owned()
                } else {
                    format!("Some content in the namespace has finalizers remaining: {finalizers}")
                },
            ),
        ];
        let mut status = ns.status.clone();
        status.phase = Some(NamespacePhase::Terminating);
        let now = Time::now();
        for mut w in wanted {
            match status.conditions.iter_mut().find(|c| c.type_ == w.type_) {
                Some(c)
                    if c.status == w.status && c.reason == w.reason && c.message == w.message => {}
                Some(c) => {
                    w.last_transition_time = if c.status == w.status {
                        c.last_transition_time
                    } else {
                        Some(now)
                    };
                    *c = w;
                }
                None => {
                    w.last_transition_time = Some(now);
                    status.conditions.push(w);
                }
            }
        }
        if status == ns.status {
            return Ok(());
        }
        let mut updated = ns.clone();
        updated.status = status;
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api
            .replace_status(ns.name_any(), &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the `kubernetes` finalizer through the `finalize` subresource.
    async fn finalize(&self, ns: &Namespace) -> Result<()> {
        let mut body = ns.clone();
        body.spec.finalizers.retain(|f| f != KUBERNETES_FINALIZER);
        let path = format!("/api/v1/namespaces/{}/finalize", ns.name_any());
        let bytes = serde_json::to_vec(&body).map_err(|source| Error::Serde {
            what: "a namespace".into(),
            source,
        })?;
        let request = Request::builder()
            .method(Method::PUT)
            .uri(&path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(bytes))
            .map_err(|e| Error::Config(format!("bad request to {path}: {e}")))?;
        match self.client.request::<serde_json::Value>(request).await {
            Ok(_) => {
                tracing::info!(namespace = %ns.name_any(), "namespace content removed; finalized");
                Ok(())
            }
            Err(e) if e.code() == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
