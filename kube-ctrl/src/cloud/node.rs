//! The cloud node controller: what the provider knows of each node's machine, on the
//! Node; and Nodes whose machine is gone, deleted.
//!
//! As Kubernetes' cloud-node and cloud-node-lifecycle controllers:
//!
//! - a Node is given the provider id, the addresses and the `node.kubernetes.io/instance-type`,
//!   `topology.kubernetes.io/zone` and `topology.kubernetes.io/region` labels (and their
//!   beta twins) the provider reports, and loses the
//!   `node.cloudprovider.kubernetes.io/uninitialized` taint its agent put there; this is
//!   kept up to date every `status_update_period`;
//! - a Node that is not ready is deleted when its machine no longer exists, and tainted
//!   `node.cloudprovider.kubernetes.io/shutdown:NoSchedule` while its machine is shut
//!   down; checked every `monitor_period`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube_api::client::{Api, Client, DeleteParams, Patch, PatchParams, PostParams};
use kube_api::informer::Cache;
use kube_core::{
    Action, CloudProvider, Node, NodeAddressType, ObjectKey, ResourceExt as _, Taint, TaintEffect,
    Time,
};

use crate::error::Result;
use crate::runtime::{Controller, ControllerConfig, EventRecorder, RunContext, Runnable};

/// The taint a node agent started with an external cloud provider puts on its Node.
pub const TAINT_UNINITIALIZED: &str = "node.cloudprovider.kubernetes.io/uninitialized";
/// The taint on a Node whose machine is shut down.
pub const TAINT_SHUTDOWN: &str = "node.cloudprovider.kubernetes.io/shutdown";
/// The instance type label.
pub const LABEL_INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// The zone label.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// The region label.
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";

/// Settings of the cloud node controller.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudNodeConfig {
    /// Workers and retries.
    pub controller: ControllerConfig,
    /// How often a not-ready Node's machine is checked (Kubernetes' 5 s).
    pub monitor_period: Duration,
    /// How often a Node's metadata is refreshed (Kubernetes' 5 minutes).
    pub status_update_period: Duration,
}

impl Default for CloudNodeConfig {
    fn default() -> Self {
        Self {
            controller: ControllerConfig::default(),
            monitor_period: Duration::from_secs(5),
            status_update_period: Duration::from_secs(300),
        }
    }
}

/// The cloud node controller; see the [module docs](self).
pub struct CloudNodeController {
    provider: Arc<dyn CloudProvider>,
    config: CloudNodeConfig,
}

impl std::fmt::Debug for CloudNodeController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudNodeController")
            .field("provider", &self.provider.name())
            .field("config", &self.config)
            .finish()
    }
}

impl CloudNodeController {
    /// A controller over this provider.
    pub fn new(provider: Arc<dyn CloudProvider>, config: CloudNodeConfig) -> Self {
        Self { provider, config }
    }
}

#[async_trait]
impl Runnable for CloudNodeController {
    fn name(&self) -> &str {
        "cloud-node"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let state = Arc::new(State {
            client: ctx.client.clone(),
            nodes: ctx.factory.informer::<Node>().cache(),
            provider: self.provider.clone(),
            recorder: ctx.recorder("cloud-node-controller"),
            config: self.config.clone(),
        });
        Controller::<Node>::for_factory(&ctx.factory)
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
    nodes: Cache<Node>,
    provider: Arc<dyn CloudProvider>,
    recorder: EventRecorder,
    config: CloudNodeConfig,
}

impl State {
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(node) = self.nodes.get(key) else {
            return Ok(Action::Done);
        };
        let api: Api<Node> = Api::all(self.client.clone());
        if !node.is_ready() && !self.provider.instance_exists(&node).await? {
            tracing::info!(node = %key.name, "the node's machine is gone; deleting the Node");
            self.recorder.normal(
                &*node,
                "DeletingNode",
                &format!(
                    "Deleting node {} because it does not exist in the cloud provider",
                    key.name
                ),
            );
            return match api.delete(&key.name, &DeleteParams::default()).await {
                Ok(_) => Ok(Action::Done),
                Err(e) if e.code() == 404 => Ok(Action::Done),
                Err(e) => Err(e.into()),
            };
        }
        let shut_down = !node.is_ready() && self.provider.instance_shutdown(&node).await?;
        let metadata = self.provider.instance_metadata(&node).await?;

        // Spec and labels: provider id, topology, taints.
        let mut labels: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut want = |k: &str, v: Option<&String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                if node.metadata.labels.get(k) != Some(v) {
                    labels.insert(k.to_owned(), Some(v.clone()));
                }
            }
        };
        let instance_type = Some(&metadata.instance_type);
        want(LABEL_INSTANCE_TYPE, instance_type);
        want("beta.kubernetes.io/instance-type", instance_type);
        want(LABEL_ZONE, metadata.zone.as_ref());
        want(
            "failure-domain.beta.kubernetes.io/zone",
            metadata.zone.as_ref(),
        );
        want(LABEL_REGION, metadata.region.as_ref());
        want(
            "failure-domain.beta.kubernetes.io/region",
            metadata.region.as_ref(),
        );
        let mut taints: Vec<Taint> = node
            .spec
            .taints
            .iter()
            .filter(|t| t.key != TAINT_UNINITIALIZED && t.key != TAINT_SHUTDOWN)
            .cloned()
            .collect();
        if shut_down {
            let existing = node
                .spec
                .taints
                .iter()
                .find(|t| t.key == TAINT_SHUTDOWN)
                .cloned();
            taints.push(existing.unwrap_or(Taint {
                key: TAINT_SHUTDOWN.to_owned(),
                value: None,
                effect: TaintEffect::NoSchedule,
                time_added: Some(Time::now()),
            }));
        }
        let taints_changed = taints != node.spec.taints;
        let provider_id = node
            .spec
            .provider_id
            .as_deref()
            .filter(|p| !p.is_empty())
            .is_none()
            .then(|| metadata.provider_id.clone())
            .filter(|p| !p.is_empty());
        if !labels.is_empty() || taints_changed || provider_id.is_some() {
            let mut spec = serde_json::Map::new();
            if taints_changed {
                spec.insert("taints".into(), serde_json::json!(taints));
            }
            if let Some(id) = &provider_id {
                spec.insert("providerID".into(), serde_json::json!(id));
            }
            let patch = serde_json::json!({
                "metadata": {"labels": labels, "resourceVersion": node.resource_version()},
                "spec": spec,
            });
            let updated = api
                .patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            if node
                .spec
                .taints
                .iter()
                .any(|t| t.key == TAINT_UNINITIALIZED)
            {
                tracing::info!(node = %key.name, "initialized the node from the cloud provider");
                self.recorder
                    .normal(&updated, "Synced", "Node synced successfully");
            }
            // The status goes on the fresh object.
            return self.sync_addresses(&api, &updated, &metadata).await;
        }
        self.sync_addresses(&api, &node, &metadata).await
    }

    /// Puts the provider's addresses on the Node (keeping the agent's host name if the
    /// provider has none).
    async fn sync_addresses(
        &self,
        api: &Api<Node>,
        node: &Node,
        metadata: &kube_core::InstanceMetadata,
    ) -> Result<Action> {
        let period = if node.is_ready() {
            self.config.status_update_period
        } else {
            self.config
                .monitor_period
                .min(self.config.status_update_period)
        };
        if metadata.addresses.is_empty() {
            return Ok(Action::RequeueAfter(period));
        }
        let mut addresses = metadata.addresses.clone();
        if !addresses
            .iter()
            .any(|a| a.type_ == NodeAddressType::Hostname)
        {
            if let Some(h) = node
                .status
                .addresses
                .iter()
                .find(|a| a.type_ == NodeAddressType::Hostname)
            {
                addresses.push(h.clone());
            }
        }
        if addresses != node.status.addresses {
            let mut updated = node.clone();
            updated.status.addresses = addresses;
            api.replace_status(node.name_any(), &PostParams::default(), &updated)
                .await?;
        }
        Ok(Action::RequeueAfter(period))
    }
}
