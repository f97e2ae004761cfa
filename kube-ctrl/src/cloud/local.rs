//! [`LocalCloud`]: the reference [`CloudProvider`] for a cluster on one machine.
//!
//! Every node runs on this machine: its instance exists (unless [`LocalCloud::remove_instance`]
//! says it was removed), its address is the one it reports (or the machine's), its zone,
//! region and instance type are configured. Load balancers are addresses handed out from
//! a configured range, one per Service, which the service proxy then serves. A Service
//! keeps its address across restarts of the controller: the address already in its
//! status, or the one it asks for in `spec.loadBalancerIP`, is reused when free.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use async_trait::async_trait;
use kube_core::{
    CloudError, CloudProvider, InstanceMetadata, LoadBalancerIngress, LoadBalancerIpMode,
    LoadBalancerStatus, Node, NodeAddress, NodeAddressType, ResourceExt as _, Service,
};
use parking_lot::Mutex;

use crate::error::{Error, Result};

/// Settings of a [`LocalCloud`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalCloudConfig {
    /// The provider's name, in provider ids (`local://node-1`).
    pub name: String,
    /// The instance type label of every node.
    pub instance_type: String,
    /// The zone label of every node.
    pub zone: String,
    /// The region label of every node.
    pub region: String,
    /// The machine's address, for nodes that report none.
    pub address: Ipv4Addr,
    /// The first load-balancer address.
    pub lb_first: Ipv4Addr,
    /// The last load-balancer address.
    pub lb_last: Ipv4Addr,
}

impl Default for LocalCloudConfig {
    fn default() -> Self {
        Self {
            name: "local".to_owned(),
            instance_type: "local".to_owned(),
            zone: "local".to_owned(),
            region: "local".to_owned(),
            address: Ipv4Addr::LOCALHOST,
            lb_first: Ipv4Addr::new(172, 30, 255, 1),
            lb_last: Ipv4Addr::new(172, 30, 255, 254),
        }
    }
}

#[derive(Debug, Default)]
struct LocalState {
    /// Service uid -> address.
    allocated: BTreeMap<String, Ipv4Addr>,
    removed: BTreeSet<String>,
    shut_down: BTreeSet<String>,
}

/// The reference cloud provider for one machine; see the [module docs](self).
#[derive(Debug)]
pub struct LocalCloud {
    config: LocalCloudConfig,
    state: Mutex<LocalState>,
}

impl LocalCloud {
    /// A provider with these settings; fails on an empty or reversed address range.
    pub fn new(config: LocalCloudConfig) -> Result<Self> {
        if u32::from(config.lb_first) > u32::from(config.lb_last) {
            return Err(Error::Config(format!(
                "load-balancer range {}-{} is empty",
                config.lb_first, config.lb_last
            )));
        }
        Ok(Self {
            config,
            state: Mutex::new(LocalState::default()),
        })
    }

    /// Marks a node's machine as removed: its Node is deleted by the cloud node
    /// controller once it stops being ready.
    pub fn remove_instance(&self, node: &str) {
        self.state.lock().removed.insert(node.to_owned());
    }

    /// Marks a node's machine as shut down (or running again).
    pub fn set_shutdown(&self, node: &str, shut_down: bool) {
        let mut state = self.state.lock();
        if shut_down {
            state.shut_down.insert(node.to_owned());
        } else {
            state.shut_down.remove(node);
        }
    }

    /// The addresses handed out, by Service uid.
    pub fn allocations(&self) -> BTreeMap<String, Ipv4Addr> {
        self.state.lock().allocated.clone()
    }

    fn in_range(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.config.lb_first)..=u32::from(self.config.lb_last)).contains(&u32::from(ip))
    }

    fn allocate(&self, service: &Service) -> Result<Ipv4Addr, CloudError> {
        let uid = service
            .uid()
            .ok_or_else(|| CloudError::Provider {
                message: "the Service has no uid".into(),
                source: None,
            })?
            .to_owned();
        let mut state = self.state.lock();
        if let Some(ip) = state.allocated.get(&uid) {
            return Ok(*ip);
        }
        let used: BTreeSet<Ipv4Addr> = state.allocated.values().copied().collect();
        let wanted = service
            .status
            .load_balancer
            .ingress
            .iter()
            .filter_map(|i| i.ip.as_deref())
            .chain(service.spec.load_balancer_ip.as_deref())
            .filter_map(|ip| ip.parse::<Ipv4Addr>().ok())
            .find(|ip| self.in_range(*ip) && !used.contains(ip));
        let ip = match wanted {
            Some(ip) => ip,
            None => (u32::from(self.config.lb_first)..=u32::from(self.config.lb_last))
                .map(Ipv4Addr::from)
                .find(|ip| !used.contains(ip))
                .ok_or_else(|| {
                    CloudError::Exhausted(format!(
                        "no free load-balancer address in {}-{}",
                        self.config.lb_first, self.config.lb_last
                    ))
                })?,
        };
        state.allocated.insert(uid, ip);
        Ok(ip)
    }
}

fn status(ip: Ipv4Addr) -> LoadBalancerStatus {
    LoadBalancerStatus {
        ingress: vec![LoadBalancerIngress {
            ip: Some(ip.to_string()),
            hostname: None,
            ip_mode: Some(LoadBalancerIpMode::Vip),
            ports: Vec::new(),
        }],
    }
}

#[async_trait]
impl CloudProvider for LocalCloud {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn instance_exists(&self, node: &Node) -> Result<bool, CloudError> {
        Ok(!self.state.lock().removed.contains(node.name_any()))
    }

    async fn instance_shutdown(&self, node: &Node) -> Result<bool, CloudError> {
        Ok(self.state.lock().shut_down.contains(node.name_any()))
    }

    async fn instance_metadata(&self, node: &Node) -> Result<InstanceMetadata, CloudError> {
        let internal = node
            .internal_ip()
            .map_or_else(|| self.config.address.to_string(), str::to_owned);
        Ok(InstanceMetadata {
            provider_id: format!("{}://{}", self.config.name, node.name_any()),
            instance_type: self.config.instance_type.clone(),
            addresses: vec![
                NodeAddress {
                    type_: NodeAddressType::InternalIP,
                    address: internal,
                },
                NodeAddress {
                    type_: NodeAddressType::Hostname,
                    address: node.name_any().to_owned(),
                },
            ],
            zone: Some(self.config.zone.clone()),
            region: Some(self.config.region.clone()),
        })
    }

    async fn ensure_load_balancer(
        &self,
        _cluster_name: &str,
        service: &Service,
        _nodes: &[Node],
    ) -> Result<LoadBalancerStatus, CloudError> {
        self.allocate(service).map(status)
    }

    async fn get_load_balancer(
        &self,
        _cluster_name: &str,
        service: &Service,
    ) -> Result<Option<LoadBalancerStatus>, CloudError> {
        let state = self.state.lock();
        Ok(service
            .uid()
            .and_then(|uid| state.allocated.get(uid))
            .map(|ip| status(*ip)))
    }

    async fn delete_load_balancer(
        &self,
        _cluster_name: &str,
        service: &Service,
    ) -> Result<(), CloudError> {
        if let Some(uid) = service.uid() {
            self.state.lock().allocated.remove(uid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use kube_core::ObjectMeta;

    use super::*;

    fn svc(uid: &str) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(format!("svc-{uid}")),
                uid: Some(uid.into()),
                ..ObjectMeta::default()
            },
            ..Service::default()
        }
    }

    fn ip(s: &LoadBalancerStatus) -> &str {
        s.ingress[0].ip.as_deref().unwrap()
    }

    #[tokio::test]
    async fn addresses_come_from_the_range_and_go_back() {
        let cloud = LocalCloud::new(LocalCloudConfig {
            lb_first: Ipv4Addr::new(10, 0, 0, 1),
            lb_last: Ipv4Addr::new(10, 0, 0, 2),
            ..LocalCloudConfig::default()
        })
        .unwrap();
        let a = cloud
            .ensure_load_balancer("k", &svc("a"), &[])
            .await
            .unwrap();
        assert_eq!(ip(&a), "10.0.0.1");
        let again = cloud
            .ensure_load_balancer("k", &svc("a"), &[])
            .await
            .unwrap();
        assert_eq!(a, again, "idempotent");
        let b = cloud
            .ensure_load_balancer("k", &svc("b"), &[])
            .await
            .unwrap();
        assert_eq!(ip(&b), "10.0.0.2");
        let err = cloud
            .ensure_load_balancer("k", &svc("c"), &[])
            .await
            .unwrap_err();
        assert!(matches!(err, CloudError::Exhausted(_)));
        cloud.delete_load_balancer("k", &svc("a")).await.unwrap();
        cloud.delete_load_balancer("k", &svc("a")).await.unwrap();
        let c = cloud
            .ensure_load_balancer("k", &svc("c"), &[])
            .await
            .unwrap();
        assert_eq!(ip(&c), "10.0.0.1");
        assert_eq!(cloud.get_load_balancer("k", &svc("a")).await.unwrap(), None);

        // After a restart, a Service keeps the address its status shows.
        let fresh = LocalCloud::new(LocalCloudConfig {
            lb_first: Ipv4Addr::new(10, 0, 0, 1),
            lb_last: Ipv4Addr::new(10, 0, 0, 2),
            ..LocalCloudConfig::default()
        })
        .unwrap();
        let mut known = svc("b");
        known.status.load_balancer = b.clone();
        assert_eq!(
            fresh.ensure_load_balancer("k", &known, &[]).await.unwrap(),
            b
        );
        assert!(
            LocalCloud::new(LocalCloudConfig {
                lb_first: Ipv4Addr::new(10, 0, 0, 2),
                lb_last: Ipv4Addr::new(10, 0, 0, 1),
                ..LocalCloudConfig::default()
            })
            .is_err()
        );
    }

    #[tokio::test]
    async fn instances_follow_what_the_machine_says() {
        let cloud = LocalCloud::new(LocalCloudConfig::default()).unwrap();
        let mut node = Node::default();
        node.metadata.name = Some("n1".into());
        assert!(cloud.instance_exists(&node).await.unwrap());
        let meta = cloud.instance_metadata(&node).await.unwrap();
        assert_eq!(meta.provider_id, "local://n1");
        assert_eq!(meta.addresses[0].address, "127.0.0.1");
        cloud.set_shutdown("n1", true);
        assert!(cloud.instance_shutdown(&node).await.unwrap());
        cloud.remove_instance("n1");
        assert!(!cloud.instance_exists(&node).await.unwrap());
    }
}
