//! `Endpoints`: the addresses and ports that implement a Service, kept up to date by the
//! endpoints controller and read by service proxies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::{ObjectReference, Protocol};
use crate::meta::ObjectMeta;

/// The endpoints of a service (`v1.Endpoints`), named like the service.
///
/// The full set is the union of all subsets, each a cross product of its addresses and its
/// ports.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Groups of addresses that share the same ports.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub subsets: Vec<EndpointSubset>,
}

crate::impl_resource!(Endpoints {
    group: "", version: "v1", kind: "Endpoints", plural: "endpoints", namespaced: true,
    short_names: ["ep"], categories: [],
    fields: { metadata: "metadata" },
    omit_empty: { subsets: "subsets" }
});

impl Endpoints {
    /// Every ready address of every subset, each with the ports of its subset.
    pub fn ready_addresses(
        &self,
    ) -> impl Iterator<Item = (&EndpointAddress, &[EndpointPort])> + '_ {
        self.subsets.iter().flat_map(|subset| {
            subset
                .addresses
                .iter()
                .map(move |addr| (addr, subset.ports.as_slice()))
        })
    }
}

/// A set of addresses that all serve the same ports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSubset {
    /// Addresses ready to receive traffic.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub addresses: Vec<EndpointAddress>,
    /// Addresses not ready yet (failing readiness, or still starting), or being
    /// terminated.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub not_ready_addresses: Vec<EndpointAddress>,
    /// The ports served by every address of the subset.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub ports: Vec<EndpointPort>,
}

/// One endpoint address: usually a pod IP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    /// The IP address (IPv4 or IPv6; not a loopback, link-local or cluster IP).
    #[serde(default)]
    pub ip: String,
    /// The hostname of the endpoint, for DNS records of headless services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The node that hosts the endpoint, for topology-aware routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The object that provides the endpoint, usually a Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
}

/// One port of an [`EndpointSubset`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    /// The port's name, matching the service port's name; may be empty when the service
    /// has a single port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The port number.
    #[serde(default)]
    pub port: i32,
    /// The protocol; `TCP` when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The application protocol (`"http"`, `"kubernetes.io/h2c"`, ...), a hint for
    /// implementations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_addresses_skip_not_ready_ones_and_carry_ports() {
        let ep: Endpoints = serde_json::from_value(serde_json::json!({
            "subsets": [
                {
                    "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                    "notReadyAddresses": [{"ip": "10.0.0.3"}],
                    "ports": [{"port": 8080, "protocol": "TCP"}]
                },
                {"notReadyAddresses": [{"ip": "10.0.0.4"}], "ports": [{"port": 53}]},
                {"addresses": [{"ip": "10.0.0.5"}], "ports": null}
            ]
        }))
        .unwrap();
        let ready: Vec<_> = ep
            .ready_addresses()
            .map(|(a, ports)| {
                (
                    a.ip.as_str(),
                    ports.iter().map(|p| p.port).collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            ready,
            vec![
                ("10.0.0.1", vec![8080]),
                ("10.0.0.2", vec![8080]),
                ("10.0.0.5", vec![]),
            ]
        );
    }
}
