//! The cloud service controller: `LoadBalancer` Services get a load balancer from the
//! provider, its ingress in `status.loadBalancer`, and give it back on deletion.
//!
//! As Kubernetes': a Service of type `LoadBalancer` (without a `loadBalancerClass`, which
//! hands it to another implementation) first gets the
//! `service.kubernetes.io/load-balancer-cleanup` finalizer, then
//! [`CloudProvider::ensure_load_balancer`] over the ready nodes (not those labelled
//! `node.kubernetes.io/exclude-from-external-load-balancers`), again whenever the Service
//! or the set of nodes changes. When the Service is deleted or changes type, the load
//! balancer is deleted, the status cleared and the finalizer removed, so no address
//! leaks.

use std::sync::Arc;

use async_trait::async_trait;
use kube_api::client::{Api, Client, Patch, PatchParams};
use kube_api::informer::Cache;
use kube_core::{
    Action, CloudProvider, LoadBalancerStatus, Node, ObjectKey, ResourceExt as _, Service,
    ServiceType,
};
use serde_json::json;

use crate::error::Result;
use crate::runtime::{Controller, ControllerConfig, EventRecorder, RunContext, Runnable};

/// The finalizer that holds a Service until its load balancer is deleted.
pub const LB_CLEANUP_FINALIZER: &str = "service.kubernetes.io/load-balancer-cleanup";
/// Nodes with this label do not serve load balancers.
pub const EXCLUDE_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// Settings of the cloud service controller.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceLbConfig {
    /// Workers and retries.
    pub controller: ControllerConfig,
    /// The cluster name passed to the provider (Kubernetes' `kubernetes`).
    pub cluster_name: String,
}

impl Default for ServiceLbConfig {
    fn default() -> Self {
        Self {
            controller: ControllerConfig::default(),
            cluster_name: "kubernetes".to_owned(),
        }
    }
}

/// The cloud service controller; see the [module docs](self).
pub struct ServiceLbController {
    provider: Arc<dyn CloudProvider>,
    config: ServiceLbConfig,
}

impl std::fmt::Debug for ServiceLbController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceLbController")
            .field("provider", &self.provider.name())
            .field("config", &self.config)
            .finish()
    }
}

impl ServiceLbController {
    /// A controller over this provider.
    pub fn new(provider: Arc<dyn CloudProvider>, config: ServiceLbConfig) -> Self {
        Self { provider, config }
    }
}

#[async_trait]
impl Runnable for ServiceLbController {
    fn name(&self) -> &str {
        "cloud-service"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let services = ctx.factory.informer::<Service>().cache();
        let state = Arc::new(State {
            client: ctx.client.clone(),
            services: services.clone(),
            nodes: ctx.factory.informer::<Node>().cache(),
            provider: self.provider.clone(),
            recorder: ctx.recorder("service-controller"),
            config: self.config.clone(),
        });
        Controller::<Service>::for_factory(&ctx.factory)
            .name(self.name())
            .config(self.config.controller.clone())
            .metrics(&ctx.metrics)
            .graceful_shutdown_on(ctx.shutdown.clone())
            // The nodes behind every load balancer follow node changes.
            .watches(move |_: &Node| {
                services
                    .list()
                    .iter()
                    .filter(|s| s.service_type() == ServiceType::LoadBalancer)
                    .map(|s| s.key())
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

struct State {
    client: Client,
    services: Cache<Service>,
    nodes: Cache<Node>,
    provider: Arc<dyn CloudProvider>,
    recorder: EventRecorder,
    config: ServiceLbConfig,
}

fn wants_load_balancer(svc: &Service) -> bool {
    svc.service_type() == ServiceType::LoadBalancer
        && svc.spec.load_balancer_class.is_none()
        && !svc.is_being_deleted()
}

impl State {
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(svc) = self.services.get(key) else {
            return Ok(Action::Done);
        };
        let api: Api<Service> = Api::namespaced(
            self.client.clone(),
            key.namespace.as_deref().unwrap_or_default(),
        );
        let has_finalizer = svc
            .metadata
            .finalizers
            .iter()
            .any(|f| f == LB_CLEANUP_FINALIZER);
        if !wants_load_balancer(&svc) {
            if has_finalizer {
                self.recorder
                    .normal(&*svc, "DeletingLoadBalancer", "Deleting load balancer");
                if let Err(e) = self
                    .provider
                    .delete_load_balancer(&self.config.cluster_name, &svc)
                    .await
                {
                    self.recorder.warning(
                        &*svc,
                        "SyncLoadBalancerFailed",
                        &format!("Error deleting load balancer: {e}"),
                    );
                    return Err(e.into());
                }
                if !svc.is_being_deleted() && !svc.status.load_balancer.ingress.is_empty() {
                    self.set_status(&api, &svc, &LoadBalancerStatus::default())
                        .await?;
                }
                // A test on the entry: a finalizer list changed meanwhile is a conflict.
                let i = svc
                    .metadata
                    .finalizers
                    .iter()
                    .position(|f| f == LB_CLEANUP_FINALIZER)
                    .unwrap_or_default();
                let patch = json!([
                    {"op": "test", "path": format!("/metadata/finalizers/{i}"), "value": LB_CLEANUP_FINALIZER},
                    {"op": "remove", "path": format!("/metadata/finalizers/{i}")},
                ]);
                match api
                    .patch(
                        &key.name,
                        &PatchParams::default(),
                        &Patch::<()>::Json(patch),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.code() == 404 => {}
                    Err(e) => return Err(e.into()),
                }
                self.recorder
                    .normal(&*svc, "DeletedLoadBalancer", "Deleted load balancer");
            }
            return Ok(Action::Done);
        }
        if !has_finalizer {
            let mut finalizers = svc.metadata.finalizers.clone();
            finalizers.push(LB_CLEANUP_FINALIZER.to_owned());
            let patch = json!({"metadata": {
                "finalizers": finalizers,
                "resourceVersion": svc.resource_version(),
            }});
            api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            // The change comes back as the next reconcile.
            return Ok(Action::Done);
        }
        let nodes: Vec<Node> = self
            .nodes
            .list()
            .iter()
            .filter(|n| n.is_ready() && !n.metadata.labels.contains_key(EXCLUDE_LB_LABEL))
            .map(|n| (**n).clone())
            .collect();
        let first = svc.status.load_balancer.ingress.is_empty();
        if first {
            self.recorder
                .normal(&*svc, "EnsuringLoadBalancer", "Ensuring load balancer");
        }
        let status = match self
            .provider
            .ensure_load_balancer(&self.config.cluster_name, &svc, &nodes)
            .await
        {
            Ok(status) => status,
            Err(e) => {
                self.recorder.warning(
                    &*svc,
                    "SyncLoadBalancerFailed",
                    &format!("Error syncing load balancer: {e}"),
                );
                return Err(e.into());
            }
        };
        if status != svc.status.load_balancer {
            self.set_status(&api, &svc, &status).await?;
            self.recorder
                .normal(&*svc, "EnsuredLoadBalancer", "Ensured load balancer");
        }
        Ok(Action::Done)
    }

    async fn set_status(
        &self,
        api: &Api<Service>,
        svc: &Service,
        status: &LoadBalancerStatus,
    ) -> Result<()> {
        // A merge patch replaces the ingress list whole; `null` removes it.
        let ingress = if status.ingress.is_empty() {
            serde_json::Value::Null
        } else {
            json!(status.ingress)
        };
        let patch = json!({"status": {"loadBalancer": {"ingress": ingress}}});
        match api
            .patch_status(
                svc.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
