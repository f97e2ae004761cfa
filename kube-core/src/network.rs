//! The [`NetworkProxy`] trait: the data plane of Services (what kube-proxy programs).
//!
//! The service proxy watches Services and Endpoints, builds the whole desired
//! [`ServiceTable`] and hands it to a `NetworkProxy`. The table is complete every time: a
//! backend never has to remember what it was told before to know what is wanted now, and
//! applies only the difference between the table and what it has.
//!
//! # The contract
//!
//! - After [`NetworkProxy::sync`] returns `Ok`, every entry of the table is served: a
//!   connection to any of its addresses (cluster IPs, external and load-balancer IPs on the
//!   service port, and the node port on the node's addresses) reaches one of its endpoints,
//!   and nothing that is not in the table is served any more.
//! - New connections never go to an endpoint that is no longer in the table; connections that
//!   are open when an endpoint goes may finish.
//! - With `session_affinity`, connections from one client IP go to the same endpoint while it
//!   stays in the table and the client was seen within the timeout.
//! - An entry without endpoints rejects connections (the client sees a refusal, not a hang).
//! - `sync` may be called often, with identical tables; that must be cheap.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::BoxError;

/// A transport protocol of a service port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransportProtocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl fmt::Display for TransportProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        })
    }
}

/// Names one port of one Service: `namespace/name:port-name`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The port's name (empty for a Service's single unnamed port).
    pub port: String,
    /// The port's protocol.
    pub protocol: TransportProtocol,
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// One backend of a service port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// The pod's IP.
    pub ip: IpAddr,
    /// The target port on the pod.
    pub port: u16,
    /// The node the pod runs on, when known.
    pub node_name: Option<String>,
}

/// What one service port should do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceEntry {
    /// The virtual IPs (ClusterIPs) of the Service.
    pub cluster_ips: Vec<IpAddr>,
    /// The service port on those IPs.
    pub port: u16,
    /// The port on every node's addresses, for NodePort and LoadBalancer Services.
    pub node_port: Option<u16>,
    /// External IPs the Service is also reachable at, on `port`.
    pub external_ips: Vec<IpAddr>,
    /// Load-balancer ingress IPs, on `port`.
    pub load_balancer_ips: Vec<IpAddr>,
    /// ClientIP session affinity and its timeout; `None` for no affinity.
    pub session_affinity: Option<Duration>,
    /// The ready endpoints, sorted.
    pub endpoints: Vec<Endpoint>,
}

/// The whole desired state of the data plane: every service port and its ready endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceTable {
    /// One entry per service port.
    pub services: BTreeMap<ServicePortName, ServiceEntry>,
}

/// Why a proxy could not apply a table.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// This backend cannot serve part of the table here (no privileges for the service
    /// range, a missing kernel feature); the rest was applied.
    #[error("cannot serve {what}: {reason}")]
    Unsupported {
        /// What cannot be served.
        what: String,
        /// Why.
        reason: String,
    },
    /// A port or address could not be bound.
    #[error("cannot bind {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Programming the data plane failed (iptables-restore, nft, ...).
    #[error("{message}")]
    Apply {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
}

/// A service data plane. See the [module docs](self) for the contract.
#[async_trait]
pub trait NetworkProxy: Send + Sync + 'static {
    /// Makes the data plane serve exactly this table.
    async fn sync(&self, table: &ServiceTable) -> Result<(), ProxyError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn proxy_is_object_safe() {
        fn takes(_: Option<Arc<dyn NetworkProxy>>) {}
        takes(None);
    }

    #[test]
    fn port_names_print_like_kube_proxy() {
        let mut name = ServicePortName {
            namespace: "default".into(),
            name: "web".into(),
            port: "http".into(),
            protocol: TransportProtocol::Tcp,
        };
        assert_eq!(name.to_string(), "default/web:http");
        name.port.clear();
        assert_eq!(name.to_string(), "default/web");
    }
}
