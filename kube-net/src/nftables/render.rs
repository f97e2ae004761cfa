//! Rendering a [`ServiceTable`] into one nftables table, with the semantics of the
//! iptables rules (and the layout of kube-proxy's nftables mode): verdict maps from
//! `address . protocol . port` to per-service chains instead of one rule per address.
//!
//! - `nat-prerouting` / `nat-output` jump to `services`, which looks the destination up in
//!   the `service-ips` map (ClusterIPs to `service-…` chains, external and load-balancer
//!   IPs to `external-…` chains) and, for local destinations other than loopback, the
//!   port in `service-nodeports`.
//! - `service-…`: masquerade marking for traffic from outside the cluster CIDR, ClientIP
//!   affinity (a dynamic set of recent clients per endpoint, with the timeout), then
//!   `numgen random mod n` to an `endpoint-…` chain.
//! - `endpoint-…`: hairpin masquerade marking, affinity update, DNAT.
//! - `external-…`: masquerade marking, then the service chain.
//! - `filter-*` chains reject new connections to service ports without endpoints
//!   (`no-endpoint-services`, `no-endpoint-nodeports`).
//! - `nat-postrouting` masquerades marked packets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use kube_core::ServiceTable;
use kube_core::network::{ServiceEntry, ServicePortName, TransportProtocol};

use super::NftablesConfig;
use crate::family::Family;
use crate::hash::hash16;

/// One chain: its hook (for base chains) and rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Chain {
    /// `type nat hook prerouting priority dstnat; policy accept;` for base chains.
    pub(crate) base: Option<String>,
    pub(crate) rules: Vec<String>,
}

/// A set or map: its declaration and elements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Collection {
    /// What goes between the braces of `add map …` / `add set …`.
    pub(crate) decl: String,
    pub(crate) elements: BTreeSet<String>,
}

/// Everything in the proxy's table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NftRuleset {
    pub(crate) chains: BTreeMap<String, Chain>,
    pub(crate) maps: BTreeMap<String, Collection>,
    pub(crate) sets: BTreeMap<String, Collection>,
}

impl NftRuleset {
    /// The chain names, sorted.
    pub fn chain_names(&self) -> impl Iterator<Item = &str> {
        self.chains.keys().map(String::as_str)
    }

    /// The rules of one chain.
    pub fn rules(&self, chain: &str) -> Option<&[String]> {
        self.chains.get(chain).map(|c| c.rules.as_slice())
    }

    /// The elements of one map.
    pub fn map_elements(&self, map: &str) -> Option<&BTreeSet<String>> {
        self.maps.get(map).map(|m| &m.elements)
    }
}

const SERVICES: &str = "services";
const MARK_MASQ: &str = "mark-for-masquerade";
const MASQUERADING: &str = "masquerading";
const ENDPOINTS_CHECK: &str = "service-endpoints-check";
const REJECT: &str = "reject-chain";
const SERVICE_IPS: &str = "service-ips";
const SERVICE_NODEPORTS: &str = "service-nodeports";
const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";

struct Syntax {
    /// `ip` or `ip6` (the expression prefix of addresses).
    ip: &'static str,
    /// `ipv4_addr` or `ipv6_addr`.
    addr_type: &'static str,
    loopback: &'static str,
}

fn syntax(family: Family) -> Syntax {
    match family {
        Family::Ipv4 => Syntax {
            ip: "ip",
            addr_type: "ipv4_addr",
            loopback: "127.0.0.0/8",
        },
        Family::Ipv6 => Syntax {
            ip: "ip6",
            addr_type: "ipv6_addr",
            loopback: "::1",
        },
    }
}

fn proto(p: TransportProtocol) -> &'static str {
    match p {
        TransportProtocol::Tcp => "tcp",
        TransportProtocol::Udp => "udp",
        TransportProtocol::Sctp => "sctp",
    }
}

/// `ns/name/proto/port`, the readable tail of chain names (as kube-proxy's nftables mode).
fn readable(name: &ServicePortName) -> String {
    format!(
        "{}/{}/{}/{}",
        name.namespace,
        name.name,
        proto(name.protocol),
        name.port
    )
}

fn short_hash(input: &str) -> String {
    hash16(input)[..8].to_owned()
}

pub(crate) fn service_chain(name: &ServicePortName) -> String {
    let r = readable(name);
    format!("service-{}-{r}", short_hash(&r))
}

pub(crate) fn external_chain(name: &ServicePortName) -> String {
    let r = readable(name);
    format!("external-{}-{r}", short_hash(&r))
}

pub(crate) fn endpoint_chain(name: &ServicePortName, ep: SocketAddr) -> String {
    let tail = format!("{}__{}/{}", readable(name), ep.ip(), ep.port());
    format!("endpoint-{}-{tail}", short_hash(&tail))
}

/// The set of clients recently sent to an endpoint. The timeout is part of the name: a
/// set's timeout cannot change, so a new timeout makes a new set (and new rules).
fn affinity_set(endpoint_chain: &str, timeout: u64) -> String {
    format!(
        "affinity-{}",
        short_hash(&format!("{endpoint_chain}/{timeout}"))
    )
}

fn base(spec: &str) -> Chain {
    Chain {
        base: Some(spec.to_owned()),
        rules: Vec::new(),
    }
}

/// Renders the table's contents for the configured family.
pub(crate) fn render(table: &ServiceTable, config: &NftablesConfig) -> NftRuleset {
    let sx = syntax(config.family);
    let mark = format!("{:#x}", 1u32 << config.masquerade_bit);
    let mut rs = NftRuleset::default();
    let vmap_decl = format!(
        "type {} . inet_proto . inet_service : verdict;",
        sx.addr_type
    );
    let port_vmap_decl = "type inet_proto . inet_service : verdict;".to_owned();
    for (name, decl) in [
        (SERVICE_IPS, &vmap_decl),
        (SERVICE_NODEPORTS, &port_vmap_decl),
        (NO_ENDPOINT_SERVICES, &vmap_decl),
        (NO_ENDPOINT_NODEPORTS, &port_vmap_decl),
    ] {
        rs.maps.insert(
            name.to_owned(),
            Collection {
                decl: decl.clone(),
                elements: BTreeSet::new(),
            },
        );
    }

    let mut chain = |name: &str, c: Chain| {
        rs.chains.insert(name.to_owned(), c);
    };
    let mut c = base("type nat hook prerouting priority dstnat; policy accept;");
    c.rules.push(format!("jump {SERVICES}"));
    chain("nat-prerouting", c);
    let mut c = base("type nat hook output priority -100; policy accept;");
    c.rules.push(format!("jump {SERVICES}"));
    chain("nat-output", c);
    let mut c = base("type nat hook postrouting priority srcnat; policy accept;");
    c.rules.push(format!("jump {MASQUERADING}"));
    chain("nat-postrouting", c);
    for (name, hook) in [
        ("filter-input", "input"),
        ("filter-forward", "forward"),
        ("filter-output", "output"),
    ] {
        let mut c = base(&format!(
            "type filter hook {hook} priority -110; policy accept;"
        ));
        c.rules.push(format!("ct state new jump {ENDPOINTS_CHECK}"));
        chain(name, c);
    }
    chain(
        ENDPOINTS_CHECK,
        Chain {
            base: None,
            rules: vec![
                format!(
                    "{} daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",
                    sx.ip
                ),
                format!(
                    "fib daddr type local {} daddr != {} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}",
                    sx.ip, sx.loopback
                ),
            ],
        },
    );
    chain(
        REJECT,
        Chain {
            base: None,
            rules: vec!["reject".into()],
        },
    );
    chain(
        MARK_MASQ,
        Chain {
            base: None,
            rules: vec![format!("mark set mark or {mark}")],
        },
    );
    let random = if config.masquerade_random_fully {
        " fully-random"
    } else {
        ""
    };
    chain(
        MASQUERADING,
        Chain {
            base: None,
            rules: vec![
                format!("mark and {mark} == 0 return"),
                format!("mark set mark xor {mark}"),
                format!("masquerade{random}"),
            ],
        },
    );
    chain(
        SERVICES,
        Chain {
            base: None,
            rules: vec![
                format!(
                    "{} daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
                    sx.ip
                ),
                format!(
                    "fib daddr type local {} daddr != {} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}",
                    sx.ip, sx.loopback
                ),
            ],
        },
    );

    for (name, entry) in &table.services {
        render_service(&mut rs, name, entry, config, &sx);
    }
    rs
}

fn render_service(
    rs: &mut NftRuleset,
    name: &ServicePortName,
    entry: &ServiceEntry,
    config: &NftablesConfig,
    sx: &Syntax,
) {
    let ours = |ip: &&IpAddr| Family::of(**ip) == config.family;
    let cluster_ips: Vec<IpAddr> = entry.cluster_ips.iter().filter(ours).copied().collect();
    if cluster_ips.is_empty() {
        return;
    }
    let external: Vec<IpAddr> = entry
        .external_ips
        .iter()
        .chain(&entry.load_balancer_ips)
        .filter(ours)
        .copied()
        .collect();
    let endpoints: Vec<SocketAddr> = entry
        .endpoints
        .iter()
        .filter(|e| Family::of(e.ip) == config.family)
        .map(|e| SocketAddr::new(e.ip, e.port))
        .collect();
    let p = proto(name.protocol);
    let port = entry.port;
    let mut element = |map: &str, element: String| {
        if let Some(m) = rs.maps.get_mut(map) {
            m.elements.insert(element);
        }
    };

    if endpoints.is_empty() {
        for ip in cluster_ips.iter().chain(&external) {
            element(
                NO_ENDPOINT_SERVICES,
                format!("{ip} . {p} . {port} : goto {REJECT}"),
            );
        }
        if let Some(np) = entry.node_port {
            element(NO_ENDPOINT_NODEPORTS, format!("{p} . {np} : goto {REJECT}"));
        }
        return;
    }

    let svc = service_chain(name);
    let ext = external_chain(name);
    for ip in &cluster_ips {
        element(SERVICE_IPS, format!("{ip} . {p} . {port} : goto {svc}"));
    }
    for ip in &external {
        element(SERVICE_IPS, format!("{ip} . {p} . {port} : goto {ext}"));
    }
    if let Some(np) = entry.node_port {
        element(SERVICE_NODEPORTS, format!("{p} . {np} : goto {ext}"));
    }
    if !external.is_empty() || entry.node_port.is_some() {
        rs.chains.insert(
            ext,
            Chain {
                base: None,
                rules: vec![format!("jump {MARK_MASQ}"), format!("goto {svc}")],
            },
        );
    }

    let mut rules = Vec::new();
    for ip in &cluster_ips {
        let masq = match (&config.cluster_cidr, config.masquerade_all) {
            (_, true) => Some(String::new()),
            (Some(cidr), false) if cidr.is_ipv6() == ip.is_ipv6() => {
                Some(format!(" {} saddr != {cidr}", sx.ip))
            }
            _ => None,
        };
        if let Some(src) = masq {
            rules.push(format!(
                "{} daddr {ip} {p} dport {port}{src} jump {MARK_MASQ}",
                sx.ip
            ));
        }
    }
    let ep_chains: Vec<String> = endpoints.iter().map(|e| endpoint_chain(name, *e)).collect();
    let affinity = entry.session_affinity.map(|t| t.as_secs().max(1));
    if let Some(timeout) = affinity {
        for ep in &ep_chains {
            rules.push(format!(
                "{} saddr @{} goto {ep}",
                sx.ip,
                affinity_set(ep, timeout)
            ));
        }
    }
    if ep_chains.len() == 1 {
        rules.push(format!("goto {}", ep_chains[0]));
    } else {
        let arms: Vec<String> = ep_chains
            .iter()
            .enumerate()
            .map(|(i, ep)| format!("{i} : goto {ep}"))
            .collect();
        rules.push(format!(
            "numgen random mod {} vmap {{ {} }}",
            ep_chains.len(),
            arms.join(", ")
        ));
    }
    rs.chains.insert(svc, Chain { base: None, rules });

    for (ep, chain_name) in endpoints.iter().zip(&ep_chains) {
        let mut rules = vec![format!("{} saddr {} jump {MARK_MASQ}", sx.ip, ep.ip())];
        if let Some(timeout) = affinity {
            let set = affinity_set(chain_name, timeout);
            rs.sets.insert(
                set.clone(),
                Collection {
                    decl: format!(
                        "type {}; flags dynamic,timeout; timeout {timeout}s;",
                        sx.addr_type
                    ),
                    elements: BTreeSet::new(),
                },
            );
            rules.push(format!("update @{set} {{ {} saddr }}", sx.ip));
        }
        rules.push(format!("meta l4proto {p} dnat to {ep}"));
        rs.chains
            .insert(chain_name.clone(), Chain { base: None, rules });
    }
}
