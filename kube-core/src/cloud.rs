//! The [`CloudProvider`] trait: what the cloud controller manager asks of the infrastructure.
//!
//! # The contract
//!
//! - Instances: for a Node, say whether its machine still exists (a Node whose instance is gone
//!   is deleted by the cloud node controller), whether it is shut down, and its metadata
//!   (provider id, addresses, instance type, zone and region, which become Node labels).
//! - Load balancers: [`CloudProvider::ensure_load_balancer`] makes a load balancer for a
//!   `LoadBalancer` Service exist and point at the given nodes (on the Service's node ports),
//!   and returns its ingress; it is idempotent and is called again whenever the Service or the
//!   set of nodes changes. [`CloudProvider::delete_load_balancer`] releases it; deleting one
//!   that does not exist is `Ok`. The Service controller holds a finalizer on the Service until
//!   the delete succeeds, so no address leaks.

use async_trait::async_trait;

use crate::core_v1::{LoadBalancerStatus, Node, NodeAddress, Service};
use crate::error::BoxError;

/// What the provider knows of a node's machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceMetadata {
    /// The provider's id for the machine (`"aws:///us-east-1a/i-0123"`), set on the Node.
    pub provider_id: String,
    /// The machine type, for the `node.kubernetes.io/instance-type` label.
    pub instance_type: String,
    /// The machine's addresses.
    pub addresses: Vec<NodeAddress>,
    /// The zone, for the `topology.kubernetes.io/zone` label.
    pub zone: Option<String>,
    /// The region, for the `topology.kubernetes.io/region` label.
    pub region: Option<String>,
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The provider does not offer this (no load balancers, say).
    #[error("not supported by this cloud provider: {0}")]
    NotSupported(String),
    /// The provider ran out of something (addresses in the load-balancer range, quota).
    #[error("exhausted: {0}")]
    Exhausted(String),
    /// The provider could not be reached or failed; retrying may help.
    #[error("{message}")]
    Provider {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
}

/// The infrastructure under a cluster. See the [module docs](self) for the contract.
#[async_trait]
pub trait CloudProvider: Send + Sync + 'static {
    /// The provider's name (`"local"`), used in provider ids and logs.
    fn name(&self) -> &str;

    /// Whether the node's machine still exists.
    async fn instance_exists(&self, node: &Node) -> Result<bool, CloudError>;

    /// Whether the node's machine is shut down (it exists but does not run).
    async fn instance_shutdown(&self, node: &Node) -> Result<bool, CloudError>;

    /// The node's machine: provider id, addresses, type, zone and region.
    async fn instance_metadata(&self, node: &Node) -> Result<InstanceMetadata, CloudError>;

    /// Makes the Service's load balancer exist and point at these nodes; returns its ingress.
    async fn ensure_load_balancer(
        &self,
        cluster_name: &str,
        service: &Service,
        nodes: &[Node],
    ) -> Result<LoadBalancerStatus, CloudError>;

    /// The Service's load balancer, if it has one.
    async fn get_load_balancer(
        &self,
        cluster_name: &str,
        service: &Service,
    ) -> Result<Option<LoadBalancerStatus>, CloudError>;

    /// Releases the Service's load balancer. Releasing one that does not exist is `Ok`.
    async fn delete_load_balancer(
        &self,
        cluster_name: &str,
        service: &Service,
    ) -> Result<(), CloudError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn cloud_provider_is_object_safe() {
        fn takes(_: Option<Arc<dyn CloudProvider>>) {}
        takes(None);
    }
}
