//! [`FakeCloud`]: a scriptable [`CloudProvider`] test double that records its calls.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use kube_core::{
    CloudError, CloudProvider, InstanceMetadata, LoadBalancerIngress, LoadBalancerStatus, Node,
    ResourceExt as _, Service,
};
use parking_lot::Mutex;

#[derive(Debug, Default)]
struct FakeState {
    metadata: BTreeMap<String, InstanceMetadata>,
    removed: BTreeSet<String>,
    shut_down: BTreeSet<String>,
    balancers: BTreeMap<String, LoadBalancerStatus>,
    next: u32,
    failing: Option<String>,
    calls: Vec<String>,
}

/// A cloud provider whose answers tests set: instances exist unless removed, with the
/// metadata given (or a default); load balancers get `192.0.2.N` addresses unless
/// failures are switched on. Every call is recorded.
#[derive(Debug, Default)]
pub struct FakeCloud {
    state: Mutex<FakeState>,
}

impl FakeCloud {
    /// A provider where every instance exists.
    pub fn new() -> Self {
        Self::default()
    }

    /// What `instance_metadata` answers for this node.
    pub fn set_metadata(&self, node: &str, metadata: InstanceMetadata) {
        self.state.lock().metadata.insert(node.to_owned(), metadata);
    }

    /// The node's instance is gone.
    pub fn remove_instance(&self, node: &str) {
        self.state.lock().removed.insert(node.to_owned());
    }

    /// The node's instance is shut down, or running again.
    pub fn set_shutdown(&self, node: &str, shut_down: bool) {
        let mut s = self.state.lock();
        if shut_down {
            s.shut_down.insert(node.to_owned());
        } else {
            s.shut_down.remove(node);
        }
    }

    /// Makes every load-balancer call fail with this message (`None`: succeed again).
    pub fn fail_load_balancers(&self, message: Option<&str>) {
        self.state.lock().failing = message.map(str::to_owned);
    }

    /// The calls so far, as `"method target"`.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().calls.clone()
    }

    /// The load balancers that exist, by Service `namespace/name`.
    pub fn load_balancers(&self) -> BTreeMap<String, LoadBalancerStatus> {
        self.state.lock().balancers.clone()
    }

    fn record(&self, call: String) {
        self.state.lock().calls.push(call);
    }

    fn lb_call(&self, what: &str, service: &Service) -> Result<String, CloudError> {
        let key = service.key().to_string();
        self.record(format!("{what} {key}"));
        match &self.state.lock().failing {
            Some(message) => Err(CloudError::Provider {
                message: message.clone(),
                source: None,
            }),
            None => Ok(key),
        }
    }
}

#[async_trait]
impl CloudProvider for FakeCloud {
    fn name(&self) -> &str {
        "fake"
    }

    async fn instance_exists(&self, node: &Node) -> Result<bool, CloudError> {
        self.record(format!("instance_exists {}", node.name_any()));
        Ok(!self.state.lock().removed.contains(node.name_any()))
    }

    async fn instance_shutdown(&self, node: &Node) -> Result<bool, CloudError> {
        self.record(format!("instance_shutdown {}", node.name_any()));
        Ok(self.state.lock().shut_down.contains(node.name_any()))
    }

    async fn instance_metadata(&self, node: &Node) -> Result<InstanceMetadata, CloudError> {
        self.record(format!("instance_metadata {}", node.name_any()));
        let s = self.state.lock();
        Ok(s.metadata
            .get(node.name_any())
            .cloned()
            .unwrap_or_else(|| InstanceMetadata {
                provider_id: format!("fake://{}", node.name_any()),
                ..InstanceMetadata::default()
            }))
    }

    async fn ensure_load_balancer(
        &self,
        _cluster_name: &str,
        service: &Service,
        nodes: &[Node],
    ) -> Result<LoadBalancerStatus, CloudError> {
        let key = self.lb_call("ensure_load_balancer", service)?;
        self.record(format!(
            "  nodes {}",
            nodes
                .iter()
                .map(|n| n.name_any())
                .collect::<Vec<_>>()
                .join(",")
        ));
        let mut s = self.state.lock();
        if let Some(existing) = s.balancers.get(&key) {
            return Ok(existing.clone());
        }
        s.next += 1;
        let status = LoadBalancerStatus {
            ingress: vec![LoadBalancerIngress {
                ip: Some(format!("192.0.2.{}", s.next)),
                ..LoadBalancerIngress::default()
            }],
        };
        s.balancers.insert(key, status.clone());
        Ok(status)
    }

    async fn get_load_balancer(
        &self,
        _cluster_name: &str,
        service: &Service,
    ) -> Result<Option<LoadBalancerStatus>, CloudError> {
        let key = self.lb_call("get_load_balancer", service)?;
        Ok(self.state.lock().balancers.get(&key).cloned())
    }

    async fn delete_load_balancer(
        &self,
        _cluster_name: &str,
        service: &Service,
    ) -> Result<(), CloudError> {
        let key = self.lb_call("delete_load_balancer", service)?;
        self.state.lock().balancers.remove(&key);
        Ok(())
    }
}
