//! From Services and Endpoints to the [`ServiceTable`]: what kube-proxy's service and
//! endpoints change trackers compute, as one pure function.
//!
//! - Services without a cluster IP (headless, `ExternalName`, not yet allocated) are not
//!   proxied.
//! - Each service port becomes one entry named `namespace/name:port-name` with its protocol;
//!   its endpoints are the ready addresses of the Endpoints object of the same name whose
//!   subset has a port with the same name and protocol (not-ready addresses never receive
//!   traffic).
//! - Node ports count for `NodePort` and `LoadBalancer` Services; load-balancer ingress IPs
//!   for `LoadBalancer` Services, except those whose `ipMode` is `Proxy` (the load balancer
//!   rewrites the destination, so the node must not short-circuit it).
//! - `sessionAffinity: ClientIP` carries its timeout (10800 s when not set).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use kube_core::network::{Endpoint, ServiceEntry, ServicePortName, TransportProtocol};
use kube_core::{
    Endpoints, LoadBalancerIpMode, Protocol, ResourceExt as _, Service, ServiceType,
    SessionAffinity,
};
use tracing::warn;

/// The ClientIP affinity timeout when a Service does not set one (3 hours, as Kubernetes).
pub const DEFAULT_AFFINITY_TIMEOUT: Duration = Duration::from_secs(10_800);

/// Builds the whole service table from every Service and a lookup of Endpoints by
/// namespace and name.
///
/// ```
/// use kube_net::{build_table, testing};
///
/// let svc = testing::service("default", "web").cluster_ip("10.96.0.10").port("http", 80).build();
/// let eps = testing::endpoints("default", "web").ready("10.244.0.5", "http", 8080).build();
/// let table = build_table([&svc], |ns, name| (ns == "default" && name == "web").then_some(&eps));
/// let entry = table.services.values().next().unwrap();
/// assert_eq!(entry.port, 80);
/// assert_eq!(entry.endpoints[0].port, 8080);
/// ```
///
/// Services and Endpoints may be given by reference or behind an `Arc` (an informer's cache).
pub fn build_table<S, F, E>(services: S, mut endpoints: F) -> kube_core::ServiceTable
where
    S: IntoIterator,
    S::Item: Borrow<Service>,
    F: FnMut(&str, &str) -> Option<E>,
    E: Borrow<Endpoints>,
{
    let mut table = kube_core::ServiceTable::default();
    for svc in services {
        let svc = svc.borrow();
        let namespace = svc.namespace().unwrap_or_default();
        let name = svc.name_any();
        let eps = endpoints(namespace, name);
        add_service(&mut table.services, svc, eps.as_ref().map(Borrow::borrow));
    }
    table
}

fn protocol(p: &Protocol) -> Option<TransportProtocol> {
    match p {
        Protocol::Tcp => Some(TransportProtocol::Tcp),
        Protocol::Udp => Some(TransportProtocol::Udp),
        Protocol::Sctp => Some(TransportProtocol::Sctp),
        Protocol::Other(_) => None,
    }
}

fn parse_ips<'s>(what: &str, key: &str, ips: impl IntoIterator<Item = &'s str>) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for ip in ips {
        match ip.parse::<IpAddr>() {
            Ok(ip) if !out.contains(&ip) => out.push(ip),
            Ok(_) => {}
            Err(_) => warn!(service = key, ip, "ignoring an invalid {what}"),
        }
    }
    out
}

fn add_service(
    out: &mut BTreeMap<ServicePortName, ServiceEntry>,
    svc: &Service,
    eps: Option<&Endpoints>,
) {
    let Some(cluster_ip) = svc.cluster_ip() else {
        return;
    };
    let service_type = svc.service_type();
    if service_type == ServiceType::ExternalName {
        return;
    }
    let namespace = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let key = format!("{namespace}/{name}");
    let spec = &svc.spec;

    let cluster_ips = if spec.cluster_ips.is_empty() {
        parse_ips("cluster IP", &key, [cluster_ip])
    } else {
        parse_ips(
            "cluster IP",
            &key,
            spec.cluster_ips.iter().map(String::as_str),
        )
    };
    if cluster_ips.is_empty() {
        return;
    }
    let external_ips = parse_ips(
        "external IP",
        &key,
        spec.external_ips.iter().map(String::as_str),
    );
    let load_balancer_ips = if service_type == ServiceType::LoadBalancer {
        parse_ips(
            "load-balancer IP",
            &key,
            svc.status
                .load_balancer
                .ingress
                .iter()
                .filter(|i| i.ip_mode != Some(LoadBalancerIpMode::Proxy))
                .filter_map(|i| i.ip.as_deref()),
        )
    } else {
        Vec::new()
    };
    let session_affinity = (spec.session_affinity == Some(SessionAffinity::ClientIP)).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map_or(DEFAULT_AFFINITY_TIMEOUT, Duration::from_secs)
    });
    let has_node_ports = matches!(
        service_type,
        ServiceType::NodePort | ServiceType::LoadBalancer
    );

    for port in &spec.ports {
        let Some(proto) = protocol(&port.protocol()) else {
            warn!(
                service = key,
                port = port.port,
                "ignoring a port of unknown protocol"
            );
            continue;
        };
        let Ok(number) = u16::try_from(port.port) else {
            warn!(
                service = key,
                port = port.port,
                "ignoring an out-of-range port"
            );
            continue;
        };
        if number == 0 {
            continue;
        }
        let port_name = port.name.clone().unwrap_or_default();
        let node_port = if has_node_ports {
            port.node_port
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
        } else {
            None
        };
        let endpoints = eps
            .map(|e| ready_endpoints(e, &port_name, proto, &key))
            .unwrap_or_default();
        out.insert(
            ServicePortName {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                port: port_name,
                protocol: proto,
            },
            ServiceEntry {
                cluster_ips: cluster_ips.clone(),
                port: number,
                node_port,
                external_ips: external_ips.clone(),
                load_balancer_ips: load_balancer_ips.clone(),
                session_affinity,
                endpoints,
            },
        );
    }
}

/// The ready endpoints of one service port: every ready address of every subset that has a
/// port of this name and protocol, sorted and without duplicates.
fn ready_endpoints(
    eps: &Endpoints,
    port_name: &str,
    proto: TransportProtocol,
    key: &str,
) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for subset in &eps.subsets {
        let Some(port) = subset.ports.iter().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && p.protocol
                    .as_ref()
                    .map_or(Some(TransportProtocol::Tcp), protocol)
                    == Some(proto)
        }) else {
            continue;
        };
        let Ok(number) = u16::try_from(port.port) else {
            continue;
        };
        if number == 0 {
            continue;
        }
        for addr in &subset.addresses {
            match addr.ip.parse::<IpAddr>() {
                Ok(ip) => out.push(Endpoint {
                    ip,
                    port: number,
                    node_name: addr.node_name.clone(),
                }),
                Err(_) => warn!(
                    service = key,
                    ip = addr.ip,
                    "ignoring an invalid endpoint IP"
                ),
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.ip == b.ip && a.port == b.port);
    out
}

#[cfg(test)]
mod tests {
    use kube_core::{LoadBalancerIngress, ServiceTable};

    use super::*;
    use crate::testing::{endpoints, service};

    fn table(svcs: &[Service], eps: &[Endpoints]) -> ServiceTable {
        build_table(svcs, |ns, name| {
            eps.iter()
                .find(|e| e.namespace() == Some(ns) && e.name_any() == name)
        })
    }

    fn spn(ns: &str, name: &str, port: &str, protocol: TransportProtocol) -> ServicePortName {
        ServicePortName {
            namespace: ns.into(),
            name: name.into(),
            port: port.into(),
            protocol,
        }
    }

    #[test]
    fn ports_match_endpoints_by_name_and_protocol() {
        let svc = service("ns", "dns")
            .cluster_ip("10.96.0.10")
            .port("dns", 53)
            .udp_port("dns", 53)
            .port("metrics", 9153)
            .build();
        let eps = endpoints("ns", "dns")
            .ready("10.244.1.2", "dns", 5353)
            .ready_udp("10.244.1.2", "dns", 5353)
            .ready("10.244.1.3", "dns", 5353)
            .not_ready("10.244.1.9", "dns", 5353)
            .build();
        let t = table(&[svc], &[eps]);
        assert_eq!(t.services.len(), 3);
        let tcp = &t.services[&spn("ns", "dns", "dns", TransportProtocol::Tcp)];
        assert_eq!(
            tcp.cluster_ips,
            vec!["10.96.0.10".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            tcp.endpoints
                .iter()
                .map(|e| e.ip.to_string())
                .collect::<Vec<_>>(),
            ["10.244.1.2", "10.244.1.3"]
        );
        let udp = &t.services[&spn("ns", "dns", "dns", TransportProtocol::Udp)];
        assert_eq!(udp.endpoints.len(), 1);
        assert_eq!(udp.endpoints[0].port, 5353);
        let metrics = &t.services[&spn("ns", "dns", "metrics", TransportProtocol::Tcp)];
        assert!(
            metrics.endpoints.is_empty(),
            "no endpoint port of that name"
        );
    }

    #[test]
    fn headless_external_name_and_unallocated_services_are_skipped() {
        let headless = service("ns", "h").cluster_ip("None").port("", 80).build();
        let unallocated = service("ns", "u").port("", 80).build();
        let mut ext = service("ns", "e")
            .cluster_ip("10.96.0.3")
            .port("", 80)
            .build();
        ext.spec.type_ = Some(ServiceType::ExternalName);
        assert!(
            table(&[headless, unallocated, ext], &[])
                .services
                .is_empty()
        );
    }

    #[test]
    fn node_ports_load_balancers_and_affinity() {
        let mut svc = service("ns", "web")
            .cluster_ip("10.96.0.20")
            .port("", 80)
            .node_port(30080)
            .external_ip("192.0.2.7")
            .client_ip_affinity(Some(60))
            .build();
        svc.status.load_balancer.ingress = vec![
            LoadBalancerIngress {
                ip: Some("203.0.113.5".into()),
                ..Default::default()
            },
            LoadBalancerIngress {
                ip: Some("203.0.113.6".into()),
                ip_mode: Some(LoadBalancerIpMode::Proxy),
                ..Default::default()
            },
            LoadBalancerIngress {
                hostname: Some("lb.example.com".into()),
                ..Default::default()
            },
        ];
        // A ClusterIP service ignores node ports and load balancers it may still carry.
        svc.spec.type_ = Some(ServiceType::ClusterIP);
        let as_cluster_ip = table(std::slice::from_ref(&svc), &[]);
        let entry = as_cluster_ip.services.values().next().unwrap();
        assert_eq!(entry.node_port, None);
        assert!(entry.load_balancer_ips.is_empty());
        assert_eq!(entry.session_affinity, Some(Duration::from_secs(60)));

        svc.spec.type_ = Some(ServiceType::LoadBalancer);
        let t = table(&[svc], &[]);
        let entry = t.services.values().next().unwrap();
        assert_eq!(entry.node_port, Some(30080));
        assert_eq!(
            entry.external_ips,
            vec!["192.0.2.7".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            entry.load_balancer_ips,
            vec!["203.0.113.5".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn affinity_defaults_to_three_hours() {
        let svc = service("ns", "a")
            .cluster_ip("10.96.0.2")
            .port("", 80)
            .client_ip_affinity(None)
            .build();
        let t = table(&[svc], &[]);
        assert_eq!(
            t.services.values().next().unwrap().session_affinity,
            Some(DEFAULT_AFFINITY_TIMEOUT)
        );
    }

    #[test]
    fn invalid_addresses_are_skipped_not_fatal() {
        let svc = service("ns", "a")
            .cluster_ip("10.96.0.2")
            .port("", 80)
            .external_ip("not-an-ip")
            .build();
        let eps = endpoints("ns", "a")
            .ready("bogus", "", 80)
            .ready("10.0.0.1", "", 80)
            .ready("10.0.0.1", "", 80)
            .build();
        let t = table(&[svc], &[eps]);
        let entry = t.services.values().next().unwrap();
        assert!(entry.external_ips.is_empty());
        assert_eq!(entry.endpoints.len(), 1);
    }

    #[test]
    fn dual_stack_cluster_ips() {
        let mut svc = service("ns", "a")
            .cluster_ip("10.96.0.2")
            .port("", 80)
            .build();
        svc.spec.cluster_ips = vec!["10.96.0.2".into(), "fd00::2".into()];
        let t = table(&[svc], &[]);
        assert_eq!(t.services.values().next().unwrap().cluster_ips.len(), 2);
    }
}
