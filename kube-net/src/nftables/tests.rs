//! The nftables data plane's scripts against a model of nft's table semantics: whatever
//! sequence of tables, incremental scripts are valid (nothing refers to a missing chain,
//! set or map; nothing still referenced is deleted) and leave the table equal to a full
//! render.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use kube_core::network::{Endpoint, ServiceEntry, ServicePortName, TransportProtocol};
use kube_core::{NetworkProxy, ServiceTable};
use proptest::prelude::*;

use super::render::{Chain, Collection};
use super::*;
use crate::conntrack::FakeConntrack;

/// The table as nft would hold it after a sequence of scripts.
#[derive(Debug, Default, Clone, PartialEq)]
struct Model {
    chains: BTreeMap<String, Chain>,
    maps: BTreeMap<String, Collection>,
    sets: BTreeMap<String, Collection>,
}

fn refs(text: &str) -> Vec<String> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if (*w == "goto" || *w == "jump") && i + 1 < words.len() {
            out.push(words[i + 1].to_owned());
        }
        if let Some(name) = w.strip_prefix('@') {
            out.push(name.to_owned());
        }
    }
    out
}

fn split_elements(body: &str) -> Vec<String> {
    body.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(", ")
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect()
}

impl Model {
    fn referenced(&self, name: &str) -> bool {
        self.chains
            .values()
            .flat_map(|c| &c.rules)
            .chain(self.maps.values().flat_map(|m| &m.elements))
            .any(|text| refs(text).iter().any(|r| r == name))
    }

    fn exists(&self, name: &str) -> bool {
        self.chains.contains_key(name)
            || self.maps.contains_key(name)
            || self.sets.contains_key(name)
    }

    /// Applies a script in one transaction: on any error the model is unchanged.
    fn apply(&mut self, prefix: &str, script: &str) -> Result<(), String> {
        let mut next = self.clone();
        for line in script.lines() {
            let err = |m: &str| format!("{m}: {line}");
            let (verb, rest) = line.split_once(' ').ok_or_else(|| err("no verb"))?;
            let (kind, rest) = rest.split_once(' ').ok_or_else(|| err("no kind"))?;
            if kind == "table" {
                match verb {
                    "add" => {}
                    "delete" => next = Self::default(),
                    _ => return Err(err("bad table command")),
                }
                continue;
            }
            let rest = rest
                .strip_prefix(prefix)
                .ok_or_else(|| err("other table"))?
                .trim_start();
            let (name, body) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = name.to_owned();
            match (verb, kind) {
                ("add", "chain") => {
                    let base = body
                        .trim()
                        .trim_start_matches('{')
                        .trim_end_matches('}')
                        .trim();
                    next.chains.entry(name).or_insert(Chain {
                        base: (!base.is_empty()).then(|| base.to_owned()),
                        rules: Vec::new(),
                    });
                }
                ("add", "set" | "map") => {
                    let decl = body
                        .trim()
                        .trim_start_matches('{')
                        .trim_end_matches('}')
                        .trim();
                    let target = if kind == "set" {
                        &mut next.sets
                    } else {
                        &mut next.maps
                    };
                    target.entry(name).or_insert(Collection {
                        decl: decl.to_owned(),
                        elements: BTreeSet::new(),
                    });
                }
                ("add", "rule") => {
                    for r in refs(body) {
                        if !next.exists(&r) {
                            return Err(err(&format!("{r} does not exist")));
                        }
                    }
                    next.chains
                        .get_mut(&name)
                        .ok_or_else(|| err("no such chain"))?
                        .rules
                        .push(body.to_owned());
                }
                ("add" | "delete", "element") => {
                    let elements = split_elements(body);
                    for e in &elements {
                        for r in refs(e) {
                            if verb == "add" && !next.exists(&r) {
                                return Err(err(&format!("{r} does not exist")));
                            }
                        }
                    }
                    let map = next.maps.get_mut(&name).ok_or_else(|| err("no such map"))?;
                    for e in elements {
                        if verb == "add" {
                            map.elements.insert(e);
                        } else if !map.elements.remove(&e) {
                            return Err(err("no such element"));
                        }
                    }
                }
                ("flush", "chain") => {
                    next.chains
                        .get_mut(&name)
                        .ok_or_else(|| err("no such chain"))?
                        .rules
                        .clear();
                }
                ("delete", "chain" | "set") => {
                    if next.referenced(&name) {
                        return Err(err("still referenced"));
                    }
                    let gone = if kind == "chain" {
                        next.chains.remove(&name).is_some()
                    } else {
                        next.sets.remove(&name).is_some()
                    };
                    if !gone {
                        return Err(err("does not exist"));
                    }
                }
                _ => return Err(err("unknown command")),
            }
        }
        *self = next;
        Ok(())
    }

    fn matches(&self, rs: &NftRuleset) -> bool {
        self.chains == rs.chains && self.maps == rs.maps && self.sets == rs.sets
    }
}

fn spn(i: u8, protocol: TransportProtocol) -> ServicePortName {
    ServicePortName {
        namespace: "ns".into(),
        name: format!("svc{i}"),
        port: "p".into(),
        protocol,
    }
}

fn entry(i: u8, endpoints: &[u8]) -> ServiceEntry {
    ServiceEntry {
        cluster_ips: vec![IpAddr::from([10, 96, 0, i])],
        port: 80,
        endpoints: endpoints
            .iter()
            .map(|e| Endpoint {
                ip: IpAddr::from([10, 244, 0, *e]),
                port: 8080,
                node_name: None,
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn only_differences_are_sent_and_identical_tables_cost_nothing() {
    let fake = FakeNft::new();
    let p = NftablesProxy::with_nft(NftablesConfig::default(), fake.clone())
        .with_conntrack(FakeConntrack::new());
    let mut t = ServiceTable::default();
    t.services
        .insert(spn(1, TransportProtocol::Tcp), entry(1, &[1, 2]));
    t.services
        .insert(spn(2, TransportProtocol::Tcp), entry(2, &[3]));
    p.sync(&t).await.unwrap();
    p.sync(&t).await.unwrap();
    assert_eq!(fake.scripts().len(), 1, "an identical table sends nothing");
    assert!(fake.scripts()[0].starts_with("add table ip kube-net\ndelete table ip kube-net\n"));

    t.services
        .insert(spn(1, TransportProtocol::Tcp), entry(1, &[1]));
    p.sync(&t).await.unwrap();
    let script = fake.scripts().pop().unwrap();
    assert!(!script.contains("delete table"), "{script}");
    let svc1 = render::service_chain(&spn(1, TransportProtocol::Tcp));
    let svc2 = render::service_chain(&spn(2, TransportProtocol::Tcp));
    assert!(
        script.contains(&format!("flush chain ip kube-net {svc1}")),
        "{script}"
    );
    assert!(!script.contains(&svc2), "service 2 is untouched: {script}");
    assert_eq!(script.matches("delete chain").count(), 1, "{script}");
}

#[tokio::test]
async fn a_failed_script_makes_the_next_sync_full() {
    let fake = FakeNft::new();
    let p = NftablesProxy::with_nft(NftablesConfig::default(), fake.clone())
        .with_conntrack(FakeConntrack::new());
    let mut t = ServiceTable::default();
    t.services
        .insert(spn(1, TransportProtocol::Tcp), entry(1, &[1]));
    p.sync(&t).await.unwrap();
    t.services
        .insert(spn(2, TransportProtocol::Tcp), entry(2, &[2]));
    fake.fail_next();
    assert!(p.sync(&t).await.is_err());
    p.sync(&t).await.unwrap();
    assert!(
        fake.scripts()
            .pop()
            .unwrap()
            .contains("delete table ip kube-net")
    );
}

#[derive(Debug, Clone)]
struct Svc {
    id: u8,
    udp: bool,
    endpoints: Vec<u8>,
    node_port: bool,
    external: bool,
    affinity: Option<u64>,
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        0u8..6,
        any::<bool>(),
        prop::collection::vec(1u8..8, 0..4),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop_oneof![Just(60u64), Just(600u64)]),
    )
        .prop_map(|(id, udp, endpoints, node_port, external, affinity)| Svc {
            id,
            udp,
            endpoints,
            node_port,
            external,
            affinity,
        })
}

fn build(svcs: &[Svc]) -> ServiceTable {
    let mut t = ServiceTable::default();
    for s in svcs {
        let protocol = if s.udp {
            TransportProtocol::Udp
        } else {
            TransportProtocol::Tcp
        };
        let mut eps = s.endpoints.clone();
        eps.sort_unstable();
        eps.dedup();
        let mut e = entry(s.id, &eps);
        if s.node_port {
            e.node_port = Some(30_000 + u16::from(s.id));
        }
        if s.external {
            e.external_ips = vec![IpAddr::from([192, 0, 2, s.id])];
        }
        e.session_affinity = s.affinity.map(Duration::from_secs);
        t.services.insert(spn(s.id, protocol), e);
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_scripts_converge_on_the_rendered_table(
        tables in prop::collection::vec(prop::collection::vec(svc(), 0..5), 1..8)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let fake = FakeNft::new();
            let p = NftablesProxy::with_nft(NftablesConfig::default(), fake.clone())
        .with_conntrack(FakeConntrack::new());
            let mut model = Model::default();
            let mut seen = 0;
            for svcs in &tables {
                let t = build(svcs);
                p.sync(&t).await.unwrap();
                for script in &fake.scripts()[seen..] {
                    model.apply("ip kube-net", script).unwrap();
                }
                seen = fake.scripts().len();
                assert!(model.matches(&p.render(&t)), "model {model:#?}");
            }
        });
    }
}
