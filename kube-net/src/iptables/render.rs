//! Rendering a [`ServiceTable`] into the rules of kube-proxy's iptables mode.
//!
//! nat table:
//! - `KUBE-SERVICES` (from PREROUTING and OUTPUT): one rule per ClusterIP of each service
//!   port with endpoints, to its `KUBE-SVC-` chain; one per external and load-balancer IP,
//!   to its `KUBE-EXT-` chain; last, local destinations go to `KUBE-NODEPORTS`.
//! - `KUBE-NODEPORTS`: one rule per node port, to the `KUBE-EXT-` chain.
//! - `KUBE-EXT-…`: marks the traffic for masquerade (it came from outside, the reply must
//!   come back through this node), then `KUBE-SVC-…`.
//! - `KUBE-SVC-…`: marks traffic from outside the cluster CIDR for masquerade, then with
//!   ClientIP affinity sends a client seen recently to its endpoint (`-m recent --rcheck`),
//!   then picks an endpoint: the i-th of n with probability 1/(n-i), the last always.
//! - `KUBE-SEP-…`: marks hairpin traffic (an endpoint reaching itself) for masquerade,
//!   records the client for affinity (`-m recent --set`), and DNATs to the endpoint.
//! - `KUBE-MARK-MASQ` sets the mark bit; `KUBE-POSTROUTING` (from POSTROUTING)
//!   masquerades marked packets and clears the bit.
//!
//! filter table: `KUBE-SERVICES` (from OUTPUT and FORWARD, new connections) and
//! `KUBE-EXTERNAL-SERVICES` (from INPUT and FORWARD) reject traffic to service ports
//! without endpoints, so clients see a refusal rather than a timeout; `KUBE-FORWARD`
//! accepts forwarded service traffic and drops invalid packets.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use kube_core::ServiceTable;
use kube_core::network::{ServiceEntry, ServicePortName};

use super::chain::{self, protocol_name};
use super::{Family, IptablesConfig};

/// One iptables table: chains and their rules, in the order they are written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleTable {
    chains: Vec<(String, Vec<String>)>,
    index: HashMap<String, usize>,
}

impl RuleTable {
    /// The rules of `chain` (each without the `-A CHAIN` prefix), created empty if new.
    fn chain(&mut self, name: &str) -> &mut Vec<String> {
        let i = match self.index.get(name) {
            Some(i) => *i,
            None => {
                self.chains.push((name.to_owned(), Vec::new()));
                self.index.insert(name.to_owned(), self.chains.len() - 1);
                self.chains.len() - 1
            }
        };
        &mut self.chains[i].1
    }

    fn push(&mut self, chain: &str, rule: String) {
        self.chain(chain).push(rule);
    }

    /// The chains, in order, with their rules.
    pub fn chains(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.chains.iter().map(|(n, r)| (n.as_str(), r.as_slice()))
    }

    /// The rules of one chain.
    pub fn rules(&self, chain: &str) -> Option<&[String]> {
        self.index.get(chain).map(|i| self.chains[*i].1.as_slice())
    }

    /// True when the table has `chain`.
    pub fn has_chain(&self, chain: &str) -> bool {
        self.index.contains_key(chain)
    }
}

/// The rules for a service table: what `iptables-save` would show of the proxy's chains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// The filter table's chains.
    pub filter: RuleTable,
    /// The nat table's chains.
    pub nat: RuleTable,
}

impl Ruleset {
    /// The tables by name, in the order they are written.
    pub fn tables(&self) -> [(&'static str, &RuleTable); 2] {
        [("filter", &self.filter), ("nat", &self.nat)]
    }

    /// The whole ruleset as `iptables-restore` input, every chain declared (so flushed)
    /// and rewritten.
    pub fn to_restore_input(&self) -> String {
        let mut out = String::new();
        for (name, table) in self.tables() {
            let _ = writeln!(out, "*{name}");
            for (chain, _) in table.chains() {
                let _ = writeln!(out, ":{chain} - [0:0]");
            }
            for (chain, rules) in table.chains() {
                for rule in rules {
                    let _ = writeln!(out, "-A {chain} {rule}");
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// Quotes a comment as iptables-save prints it: bare when it has no blank.
fn comment(text: &str) -> String {
    if text.contains([' ', '"', '\'']) {
        format!("-m comment --comment \"{}\"", text.replace('"', "'"))
    } else {
        format!("-m comment --comment {text}")
    }
}

fn proto(name: &ServicePortName) -> String {
    let p = protocol_name(name.protocol);
    format!("-m {p} -p {p}")
}

fn host(ip: IpAddr) -> String {
    ip.to_string()
}

/// Renders the rules for `table`, for the configured address family.
pub(crate) fn render(table: &ServiceTable, config: &IptablesConfig) -> Ruleset {
    let mut rs = Ruleset::default();
    let masq_mark = format!("{:#x}", 1u32 << config.masquerade_bit);

    // filter: the top-level chains, always present.
    rs.filter.chain(chain::SERVICES);
    rs.filter.chain(chain::EXTERNAL_SERVICES);
    rs.filter.push(
        chain::FORWARD,
        "-m conntrack --ctstate INVALID -j DROP".into(),
    );
    rs.filter.push(
        chain::FORWARD,
        format!(
            "{} -m mark --mark {masq_mark}/{masq_mark} -j ACCEPT",
            comment("kubernetes forwarding rules")
        ),
    );
    rs.filter.push(
        chain::FORWARD,
        format!(
            "{} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            comment("kubernetes forwarding conntrack rule")
        ),
    );

    // nat: the top-level chains, always present.
    rs.nat.chain(chain::SERVICES);
    rs.nat.chain(chain::NODE_PORTS);
    rs.nat.push(
        chain::POSTROUTING,
        format!("-m mark ! --mark {masq_mark}/{masq_mark} -j RETURN"),
    );
    rs.nat.push(
        chain::POSTROUTING,
        format!("-j MARK --xor-mark {masq_mark}"),
    );
    let random_fully = if config.masquerade_random_fully {
        " --random-fully"
    } else {
        ""
    };
    rs.nat.push(
        chain::POSTROUTING,
        format!(
            "{} -j MASQUERADE{random_fully}",
            comment("kubernetes service traffic requiring SNAT")
        ),
    );
    rs.nat
        .push(chain::MARK_MASQ, format!("-j MARK --or-mark {masq_mark}"));

    let mut node_ports = Vec::new();
    for (name, entry) in &table.services {
        render_service(&mut rs, name, entry, config, &mut node_ports);
    }
    rs.nat.push(
        chain::SERVICES,
        format!(
            "{} -m addrtype --dst-type LOCAL -j {}",
            comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain"),
            chain::NODE_PORTS
        ),
    );
    for rule in node_ports {
        rs.nat.push(chain::NODE_PORTS, rule);
    }
    rs
}

fn render_service(
    rs: &mut Ruleset,
    name: &ServicePortName,
    entry: &ServiceEntry,
    config: &IptablesConfig,
    node_ports: &mut Vec<String>,
) {
    let ours = |ip: &&IpAddr| Family::of(**ip) == config.family;
    let cluster_ips: Vec<IpAddr> = entry.cluster_ips.iter().filter(ours).copied().collect();
    if cluster_ips.is_empty() {
        // A service of the other family only.
        return;
    }
    let external: Vec<(IpAddr, &str)> = entry
        .external_ips
        .iter()
        .filter(ours)
        .map(|ip| (*ip, "external IP"))
        .chain(
            entry
                .load_balancer_ips
                .iter()
                .filter(ours)
                .map(|ip| (*ip, "loadbalancer IP")),
        )
        .collect();
    let endpoints: Vec<_> = entry
        .endpoints
        .iter()
        .filter(|e| Family::of(e.ip) == config.family)
        .collect();
    let p = proto(name);
    let port = entry.port;

    if endpoints.is_empty() {
        let why = comment(&format!("{name} has no endpoints"));
        for ip in &cluster_ips {
            rs.filter.push(
                chain::SERVICES,
                format!("{why} {p} -d {} --dport {port} -j REJECT", host(*ip)),
            );
        }
        for (ip, _) in &external {
            rs.filter.push(
                chain::EXTERNAL_SERVICES,
                format!("{why} {p} -d {} --dport {port} -j REJECT", host(*ip)),
            );
        }
        if let Some(np) = entry.node_port {
            rs.filter.push(
                chain::EXTERNAL_SERVICES,
                format!("{why} -m addrtype --dst-type LOCAL {p} --dport {np} -j REJECT"),
            );
        }
        return;
    }

    let svc_chain = chain::service_chain(name);
    let ext_chain = chain::external_chain(name);
    let has_external = !external.is_empty() || entry.node_port.is_some();

    for ip in &cluster_ips {
        rs.nat.push(
            chain::SERVICES,
            format!(
                "{} {p} -d {} --dport {port} -j {svc_chain}",
                comment(&format!("{name} cluster IP")),
                host(*ip)
            ),
        );
    }
    for (ip, kind) in &external {
        rs.nat.push(
            chain::SERVICES,
            format!(
                "{} {p} -d {} --dport {port} -j {ext_chain}",
                comment(&format!("{name} {kind}")),
                host(*ip)
            ),
        );
    }
    if let Some(np) = entry.node_port {
        node_ports.push(format!(
            "{} {p} --dport {np} -j {ext_chain}",
            comment(&name.to_string())
        ));
    }

    // KUBE-SVC: masquerade what comes from outside the cluster, then pick an endpoint.
    let svc = rs.nat.chain(&svc_chain);
    for ip in &cluster_ips {
        let masq_source = match (&config.cluster_cidr, config.masquerade_all) {
            (_, true) => Some(String::new()),
            (Some(cidr), false) if cidr.is_ipv6() == ip.is_ipv6() => Some(format!(" ! -s {cidr}")),
            _ => None,
        };
        if let Some(src) = masq_source {
            svc.push(format!(
                "{} {p} -d {} --dport {port}{src} -j {}",
                comment(&format!("{name} cluster IP")),
                host(*ip),
                chain::MARK_MASQ
            ));
        }
    }
    let sep_chains: Vec<String> = endpoints
        .iter()
        .map(|e| chain::endpoint_chain(name, e))
        .collect();
    let ep_addr = |i: usize| SocketAddr::new(endpoints[i].ip, endpoints[i].port);
    if let Some(timeout) = entry.session_affinity {
        for (i, sep) in sep_chains.iter().enumerate() {
            svc.push(format!(
                "{} -m recent --name {sep} --rcheck --seconds {} --reap -j {sep}",
                comment(&format!("{name} -> {}", ep_addr(i))),
                timeout.as_secs().max(1)
            ));
        }
    }
    let n = sep_chains.len();
    for (i, sep) in sep_chains.iter().enumerate() {
        let left = n - i;
        let statistic = if left > 1 {
            format!(
                " -m statistic --mode random --probability {:.10}",
                1.0 / left as f64
            )
        } else {
            String::new()
        };
        svc.push(format!(
            "{}{statistic} -j {sep}",
            comment(&format!("{name} -> {}", ep_addr(i)))
        ));
    }

    // KUBE-SEP: hairpin masquerade, affinity record, DNAT.
    for (i, sep) in sep_chains.iter().enumerate() {
        let c = comment(&name.to_string());
        let rules = rs.nat.chain(sep);
        rules.push(format!(
            "{c} -s {} -j {}",
            host(endpoints[i].ip),
            chain::MARK_MASQ
        ));
        let recent = if entry.session_affinity.is_some() {
            format!(" -m recent --name {sep} --set")
        } else {
            String::new()
        };
        rules.push(format!(
            "{c}{recent} {p} -j DNAT --to-destination {}",
            ep_addr(i)
        ));
    }

    if has_external {
        let ext = rs.nat.chain(&ext_chain);
        ext.push(format!(
            "{} -j {}",
            comment(&format!(
                "masquerade traffic for {name} external destinations"
            )),
            chain::MARK_MASQ
        ));
        ext.push(format!("-j {svc_chain}"));
    }
}
