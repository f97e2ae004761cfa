//! Clearing UDP flows that point at endpoints that went away.
//!
//! The kernel data planes DNAT a flow once, when conntrack sees its first packet; later
//! packets follow the conntrack entry. For TCP that is what we want (open connections
//! drain), but UDP has no connection: a DNS client reusing its socket would keep sending
//! to a removed endpoint until the entry times out. So after each sync, as kube-proxy does,
//! the proxy deletes the UDP entries DNATed to endpoints that left a service, and the
//! entries of a service that had no endpoint (its packets were rejected) and now has some.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use kube_core::ServiceTable;
use kube_core::network::TransportProtocol;
use parking_lot::Mutex;

use crate::command;
use crate::error::{Error, Result};
use crate::family::Family;

/// UDP conntrack entries to delete: those matching every field given.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StaleFlow {
    /// The original destination (a service address).
    pub destination: Option<IpAddr>,
    /// The original destination port (a node port).
    pub destination_port: Option<u16>,
    /// The endpoint the flow was DNATed to.
    pub endpoint: Option<IpAddr>,
}

/// The flows a change from `old` to `new` leaves stale, for one family.
pub fn stale_udp_flows(old: &ServiceTable, new: &ServiceTable, family: Family) -> Vec<StaleFlow> {
    let ours = |ip: &IpAddr| Family::of(*ip) == family;
    let mut out = BTreeSet::new();
    for (name, before) in &old.services {
        if name.protocol != TransportProtocol::Udp {
            continue;
        }
        let after = new.services.get(name);
        let addresses: Vec<IpAddr> = before
            .cluster_ips
            .iter()
            .chain(&before.external_ips)
            .chain(&before.load_balancer_ips)
            .filter(|ip| ours(ip))
            .copied()
            .collect();
        let gone = before.endpoints.iter().filter(|e| ours(&e.ip)).filter(|e| {
            after.is_none_or(|a| !a.endpoints.iter().any(|n| n.ip == e.ip && n.port == e.port))
        });
        for endpoint in gone {
            for ip in &addresses {
                out.insert(StaleFlow {
                    destination: Some(*ip),
                    destination_port: None,
                    endpoint: Some(endpoint.ip),
                });
            }
            if let Some(port) = before.node_port {
                out.insert(StaleFlow {
                    destination: None,
                    destination_port: Some(port),
                    endpoint: Some(endpoint.ip),
                });
            }
        }
    }
    // Services that had no endpoint and have some now: flows rejected before may have
    // left entries that would keep the new endpoints from being reached.
    for (name, after) in &new.services {
        if name.protocol != TransportProtocol::Udp || after.endpoints.is_empty() {
            continue;
        }
        let was_empty = old
            .services
            .get(name)
            .is_some_and(|b| b.endpoints.is_empty());
        if !was_empty {
            continue;
        }
        for ip in after
            .cluster_ips
            .iter()
            .chain(&after.external_ips)
            .chain(&after.load_balancer_ips)
            .filter(|ip| ours(ip))
        {
            out.insert(StaleFlow {
                destination: Some(*ip),
                destination_port: None,
                endpoint: None,
            });
        }
    }
    out.into_iter().collect()
}

/// Deletes conntrack entries.
#[async_trait]
pub trait Conntrack: Send + Sync + 'static {
    /// Deletes the UDP entries matching `flow`; none matching is not an error.
    async fn clear_udp(&self, flow: &StaleFlow) -> Result<()>;
}

/// [`Conntrack`] with the `conntrack` program (conntrack-tools), in the network namespace
/// of the calling thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConntrackCommand {
    /// The program.
    pub program: String,
}

impl Default for ConntrackCommand {
    fn default() -> Self {
        Self {
            program: "conntrack".into(),
        }
    }
}

#[async_trait]
impl Conntrack for ConntrackCommand {
    async fn clear_udp(&self, flow: &StaleFlow) -> Result<()> {
        let mut args: Vec<String> = vec!["-D".into(), "-p".into(), "udp".into()];
        let family = flow.destination.or(flow.endpoint).map(Family::of);
        if family == Some(Family::Ipv6) {
            args.extend(["-f".into(), "ipv6".into()]);
        }
        if let Some(ip) = flow.destination {
            args.extend(["--orig-dst".into(), ip.to_string()]);
        }
        if let Some(port) = flow.destination_port {
            args.extend(["--orig-port-dst".into(), port.to_string()]);
        }
        if let Some(ip) = flow.endpoint {
            args.extend(["--dst-nat".into(), ip.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match command::run(&self.program, &args, None).await {
            // "0 flow entries have been deleted" exits with 1.
            Err(Error::Command { stderr, .. }) if stderr.contains("0 flow entries") => Ok(()),
            other => other.map(drop),
        }
    }
}

/// A [`Conntrack`] test double that records what it is asked to clear.
#[derive(Clone, Default)]
pub struct FakeConntrack {
    cleared: Arc<Mutex<Vec<StaleFlow>>>,
}

impl fmt::Debug for FakeConntrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeConntrack")
            .field("cleared", &self.cleared.lock().len())
            .finish()
    }
}

impl FakeConntrack {
    /// A double that has cleared nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every flow cleared, in order.
    pub fn cleared(&self) -> Vec<StaleFlow> {
        self.cleared.lock().clone()
    }
}

#[async_trait]
impl Conntrack for FakeConntrack {
    async fn clear_udp(&self, flow: &StaleFlow) -> Result<()> {
        self.cleared.lock().push(flow.clone());
        Ok(())
    }
}

/// Clears the flows a successful sync left stale; failures are logged, not returned (the
/// rules are in place; stale entries only delay the switch until they time out).
pub(crate) async fn clear(
    conntrack: &dyn Conntrack,
    old: &ServiceTable,
    new: &ServiceTable,
    family: Family,
) {
    for flow in stale_udp_flows(old, new, family) {
        if let Err(err) = conntrack.clear_udp(&flow).await {
            tracing::warn!(?flow, error = %err, "cannot clear stale UDP conntrack entries");
        }
    }
}

#[cfg(test)]
mod tests {
    use kube_core::network::{Endpoint, ServiceEntry, ServicePortName};

    use super::*;

    fn ep(last: u8) -> Endpoint {
        Endpoint {
            ip: IpAddr::from([10, 244, 0, last]),
            port: 53,
            node_name: None,
        }
    }

    fn table(protocol: TransportProtocol, eps: &[u8]) -> ServiceTable {
        let mut t = ServiceTable::default();
        t.services.insert(
            ServicePortName {
                namespace: "kube-system".into(),
                name: "dns".into(),
                port: "dns".into(),
                protocol,
            },
            ServiceEntry {
                cluster_ips: vec![IpAddr::from([10, 96, 0, 10])],
                port: 53,
                node_port: Some(30053),
                endpoints: eps.iter().map(|e| ep(*e)).collect(),
                ..Default::default()
            },
        );
        t
    }

    #[test]
    fn removed_udp_endpoints_and_revived_services_are_stale() {
        let vip = Some(IpAddr::from([10, 96, 0, 10]));
        let flows = stale_udp_flows(
            &table(TransportProtocol::Udp, &[1, 2]),
            &table(TransportProtocol::Udp, &[2]),
            Family::Ipv4,
        );
        assert_eq!(
            flows,
            vec![
                StaleFlow {
                    destination: None,
                    destination_port: Some(30053),
                    endpoint: Some(ep(1).ip)
                },
                StaleFlow {
                    destination: vip,
                    destination_port: None,
                    endpoint: Some(ep(1).ip)
                },
            ]
        );
        let revived = stale_udp_flows(
            &table(TransportProtocol::Udp, &[]),
            &table(TransportProtocol::Udp, &[3]),
            Family::Ipv4,
        );
        assert_eq!(
            revived,
            vec![StaleFlow {
                destination: vip,
                destination_port: None,
                endpoint: None
            }]
        );
        // A deleted service: all its endpoints' flows.
        let deleted = stale_udp_flows(
            &table(TransportProtocol::Udp, &[1]),
            &ServiceTable::default(),
            Family::Ipv4,
        );
        assert_eq!(deleted.len(), 2);
    }

    #[test]
    fn tcp_and_the_other_family_are_left_alone() {
        assert!(
            stale_udp_flows(
                &table(TransportProtocol::Tcp, &[1, 2]),
                &table(TransportProtocol::Tcp, &[]),
                Family::Ipv4
            )
            .is_empty()
        );
        assert!(
            stale_udp_flows(
                &table(TransportProtocol::Udp, &[1, 2]),
                &table(TransportProtocol::Udp, &[]),
                Family::Ipv6
            )
            .is_empty()
        );
    }
}
