//! The node IPAM controller (contract 2): gives every Node without one a `spec.podCIDR`,
//! a /24 (by default) carved from the cluster CIDR (`10.244.0.0/16` by default), as
//! Kubernetes' range allocator does.
//!
//! The CIDRs in use are those of the cached Nodes plus those this controller handed out
//! that the cache does not show yet, so two Nodes never get the same one; a deleted
//! Node's CIDR is free again. They are kept in a bitmap updated by each reconcile, so a
//! node costs O(1) whatever the cluster's size. IPv4 only.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube_api::client::{Api, Client, Patch, PatchParams};
use kube_api::informer::Cache;
use kube_core::{Action, Node, ObjectKey, ResourceExt as _};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::runtime::{Controller, ControllerConfig, EventRecorder, RunContext, Runnable};

mod allocator;

use allocator::{Allocator, Recorded};

/// Settings of the node IPAM controller.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeIpamConfig {
    /// Workers and retries.
    pub controller: ControllerConfig,
    /// The range pod CIDRs come from.
    pub cluster_cidr: String,
    /// The prefix length of each node's CIDR.
    pub node_mask: u8,
}

impl Default for NodeIpamConfig {
    fn default() -> Self {
        Self {
            controller: ControllerConfig::default(),
            cluster_cidr: "10.244.0.0/16".to_owned(),
            node_mask: 24,
        }
    }
}

/// An IPv4 range cut into equal subnets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CidrSet {
    base: u32,
    prefix: u8,
    node_mask: u8,
}

impl CidrSet {
    /// The subnets of length `node_mask` of `cidr` (`"10.244.0.0/16"`).
    pub fn new(cidr: &str, node_mask: u8) -> Result<Self> {
        let bad = |why: &str| Error::Config(format!("cluster CIDR {cidr:?}: {why}"));
        let (ip, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| bad("no prefix length"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| bad("bad prefix length"))?;
        if prefix > 32 || node_mask > 32 || node_mask < prefix || node_mask - prefix > 24 {
            return Err(bad(&format!(
                "a /{node_mask} per node does not fit a /{prefix} (at most 2^24 subnets)"
            )));
        }
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        Ok(Self {
            base: u32::from(ip) & mask,
            prefix,
            node_mask,
        })
    }

    /// How many subnets there are.
    pub fn len(&self) -> u32 {
        1 << (self.node_mask - self.prefix)
    }

    /// True when there are none (never: a range has at least one subnet).
    pub fn is_empty(&self) -> bool {
        false
    }

    fn step(&self) -> u64 {
        1u64 << (32 - u32::from(self.node_mask))
    }

    /// The `i`th subnet, as `a.b.c.d/n`.
    pub fn subnet(&self, i: u32) -> Option<String> {
        if i >= self.len() {
            return None;
        }
        let ip = u64::from(self.base) + u64::from(i) * self.step();
        let ip = Ipv4Addr::from(u32::try_from(ip).ok()?);
        Some(format!("{ip}/{}", self.node_mask))
    }

    /// The index of a subnet of this range, if `cidr` is one.
    pub fn index_of(&self, cidr: &str) -> Option<u32> {
        let (ip, len) = cidr.split_once('/')?;
        if len.parse::<u8>().ok()? != self.node_mask {
            return None;
        }
        let ip = u64::from(u32::from(ip.parse::<Ipv4Addr>().ok()?));
        let offset = ip.checked_sub(u64::from(self.base))?;
        if offset % self.step() != 0 {
            return None;
        }
        u32::try_from(offset / self.step())
            .ok()
            .filter(|i| *i < self.len())
    }
}

/// The node IPAM controller; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct NodeIpamController {
    config: NodeIpamConfig,
}

impl NodeIpamController {
    /// A controller with these settings; fails on a CIDR that does not parse.
    pub fn new(config: NodeIpamConfig) -> Result<Self> {
        CidrSet::new(&config.cluster_cidr, config.node_mask)?;
        Ok(Self { config })
    }
}

#[async_trait]
impl Runnable for NodeIpamController {
    fn name(&self) -> &str {
        "nodeipam"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let cidrs = CidrSet::new(&self.config.cluster_cidr, self.config.node_mask)?;
        let state = Arc::new(State {
            client: ctx.client.clone(),
            nodes: ctx.factory.informer::<Node>().cache(),
            cidrs,
            allocator: Mutex::new(None),
            recorder: ctx.recorder("node-ipam-controller"),
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
    cidrs: CidrSet,
    /// Built from the synced cache at the first reconcile, then kept up to date by every
    /// reconcile: the subnets of the cached Nodes and those handed out but not yet shown.
    allocator: Mutex<Option<Allocator>>,
    recorder: EventRecorder,
}

impl State {
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(node) = self.nodes.get(key) else {
            self.with_allocator(|a| a.release(&key.name));
            return Ok(Action::Done);
        };
        if let Some(cidr) = node_cidr(&node) {
            let index = self.cidrs.index_of(cidr);
            let taken = self.with_allocator(|a| match index {
                Some(index) => a.record(&key.name, index),
                None => {
                    a.release(&key.name);
                    Recorded::Held
                }
            });
            if let Recorded::TakenFrom(other) = taken {
                tracing::warn!(
                    node = %key.name, other, cidr,
                    "pod CIDR handed out to another node; that one gets a new one"
                );
            }
            return Ok(Action::Done);
        }
        let Some(index) = self.with_allocator(|a| a.allocate(&key.name)) else {
            self.recorder.warning(
                &*node,
                "CIDRNotAvailable",
                &format!("Node {} status is now: CIDRNotAvailable", key.name),
            );
            return Ok(Action::RequeueAfter(Duration::from_secs(5)));
        };
        let cidr = self
            .cidrs
            .subnet(index)
            .ok_or_else(|| Error::Config(format!("subnet {index} outside the cluster CIDR")))?;
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": node.resource_version()},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        });
        let api: Api<Node> = Api::all(self.client.clone());
        // On failure the node keeps its hand-out, so the retry asks for the same subnet and
        // a write that did land cannot leave it with a subnet given to another node too.
        api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        tracing::info!(node = %key.name, cidr, "allocated a pod CIDR");
        self.recorder.normal(
            &*node,
            "CIDRAssignmentSucceeded",
            &format!("Assigned pod CIDR {cidr}"),
        );
        Ok(Action::Done)
    }

    /// Runs `f` on the allocator, first filling it from the cache (synced before the
    /// first reconcile) if this is the first call.
    fn with_allocator<R>(&self, f: impl FnOnce(&mut Allocator) -> R) -> R {
        let mut guard = self.allocator.lock();
        let allocator = guard.get_or_insert_with(|| {
            let mut a = Allocator::new(self.cidrs.len());
            for n in self.nodes.list() {
                if let Some(index) = node_cidr(&n).and_then(|c| self.cidrs.index_of(c)) {
                    a.record(n.name_any(), index);
                }
            }
            a
        });
        f(allocator)
    }
}

/// The node's pod CIDR, if it has one.
fn node_cidr(node: &Node) -> Option<&str> {
    node.spec
        .pod_cidr
        .as_deref()
        .filter(|c| !c.is_empty())
        .or_else(|| node.spec.pod_cidrs.first().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_carved_in_order() {
        let set = CidrSet::new("10.244.0.0/16", 24).unwrap();
        assert_eq!(set.len(), 256);
        assert_eq!(set.subnet(0).as_deref(), Some("10.244.0.0/24"));
        assert_eq!(set.subnet(255).as_deref(), Some("10.244.255.0/24"));
        assert_eq!(set.subnet(256), None);
        assert_eq!(set.index_of("10.244.7.0/24"), Some(7));
        assert_eq!(set.index_of("10.244.7.1/24"), None, "not a subnet boundary");
        assert_eq!(set.index_of("10.245.0.0/24"), None, "outside");
        assert_eq!(set.index_of("10.244.7.0/25"), None, "another size");
        let small = CidrSet::new("192.168.0.0/30", 31).unwrap();
        assert_eq!(
            (small.subnet(0).unwrap(), small.subnet(1).unwrap()),
            ("192.168.0.0/31".to_owned(), "192.168.0.2/31".to_owned())
        );
        // The host bits of the range are ignored.
        assert_eq!(
            CidrSet::new("10.244.3.4/16", 24)
                .unwrap()
                .subnet(0)
                .as_deref(),
            Some("10.244.0.0/24")
        );
        for bad in ["10.244.0.0", "10.244.0.0/33", "nope/16", "10.0.0.0/24"] {
            assert!(
                CidrSet::new(bad, 16).is_err() || bad == "10.0.0.0/24",
                "{bad}"
            );
        }
        assert!(
            CidrSet::new("10.0.0.0/24", 16).is_err(),
            "node mask shorter than range"
        );
        assert!(CidrSet::new("10.0.0.0/0", 30).is_err(), "too many subnets");
    }
}
