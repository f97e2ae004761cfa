//! Chain names, hashed as kube-proxy hashes them, so a node moved from kube-proxy to this
//! proxy (or back) recognises its chains: `KUBE-SVC-`, `KUBE-EXT-` or `KUBE-SEP-`
//! followed by the first 16 characters of the base32 (RFC 4648) encoding of the SHA-256 of
//! the service port's name, its lower-case protocol and, for an endpoint, `ip:port`.

use std::net::SocketAddr;

use kube_core::network::{Endpoint, ServicePortName, TransportProtocol};

use crate::hash::hash16;

/// The top-level chains of the nat table.
pub(crate) const SERVICES: &str = "KUBE-SERVICES";
pub(crate) const NODE_PORTS: &str = "KUBE-NODEPORTS";
pub(crate) const POSTROUTING: &str = "KUBE-POSTROUTING";
pub(crate) const MARK_MASQ: &str = "KUBE-MARK-MASQ";
/// The top-level chains of the filter table.
pub(crate) const EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
pub(crate) const FORWARD: &str = "KUBE-FORWARD";

/// Prefixes of the per-service chains this proxy owns (and deletes when stale).
pub(crate) const SERVICE_PREFIXES: [&str; 3] = ["KUBE-SVC-", "KUBE-EXT-", "KUBE-SEP-"];

fn protocol(p: TransportProtocol) -> &'static str {
    match p {
        TransportProtocol::Tcp => "tcp",
        TransportProtocol::Udp => "udp",
        TransportProtocol::Sctp => "sctp",
    }
}

fn port_proto_hash(name: &ServicePortName) -> String {
    hash16(&format!("{name}{}", protocol(name.protocol)))
}

/// `KUBE-SVC-…`: picks an endpoint of a service port.
pub(crate) fn service_chain(name: &ServicePortName) -> String {
    format!("KUBE-SVC-{}", port_proto_hash(name))
}

/// `KUBE-EXT-…`: traffic to a service port from outside (node ports, external and
/// load-balancer IPs).
pub(crate) fn external_chain(name: &ServicePortName) -> String {
    format!("KUBE-EXT-{}", port_proto_hash(name))
}

/// `KUBE-SEP-…`: DNAT to one endpoint of a service port.
pub(crate) fn endpoint_chain(name: &ServicePortName, endpoint: &Endpoint) -> String {
    let ep = SocketAddr::new(endpoint.ip, endpoint.port);
    hash_endpoint(name, &ep.to_string())
}

fn hash_endpoint(name: &ServicePortName, endpoint: &str) -> String {
    format!(
        "KUBE-SEP-{}",
        hash16(&format!("{name}{}{endpoint}", protocol(name.protocol)))
    )
}

/// The name iptables protocol matches use (`tcp`, `udp`, `sctp`).
pub(crate) fn protocol_name(p: TransportProtocol) -> &'static str {
    protocol(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spn(ns: &str, name: &str, port: &str) -> ServicePortName {
        ServicePortName {
            namespace: ns.into(),
            name: name.into(),
            port: port.into(),
            protocol: TransportProtocol::Tcp,
        }
    }

    #[test]
    fn names_match_kube_proxy() {
        // Names kube-proxy gives these (from its own test expectations), so nodes can
        // switch between the two without leaving chains behind.
        let svc = spn("ns1", "svc1", "p80");
        assert_eq!(service_chain(&svc), "KUBE-SVC-XPGD46QRK7WJZT7O");
        let ep = Endpoint {
            ip: "10.180.0.1".parse().unwrap(),
            port: 80,
            node_name: None,
        };
        assert_eq!(endpoint_chain(&svc, &ep), "KUBE-SEP-SXIVWICOYRO3J4NJ");
    }

    #[test]
    fn names_fit_iptables_limits_and_differ() {
        let a = service_chain(&spn("ns", "a", ""));
        let b = service_chain(&spn("ns", "b", ""));
        assert_ne!(a, b);
        assert!(
            a.len() <= 28,
            "iptables chain names are at most 28 characters"
        );
        let mut udp = spn("ns", "a", "");
        udp.protocol = TransportProtocol::Udp;
        assert_ne!(service_chain(&udp), a);
        assert_eq!(external_chain(&spn("ns", "a", ""))[..9], *"KUBE-EXT-");
        let v6 = Endpoint {
            ip: "fd00::1".parse().unwrap(),
            port: 80,
            node_name: None,
        };
        assert_eq!(
            endpoint_chain(&spn("ns", "a", ""), &v6),
            hash_endpoint(&spn("ns", "a", ""), "[fd00::1]:80")
        );
    }
}
