//! The iptables data plane against [`FakeIptables`]: whatever sequence of tables, the
//! kernel's model ends up holding exactly the rendered rules, through restores that touch
//! only what changed.

use std::net::IpAddr;
use std::time::Duration;

use kube_core::network::{Endpoint, ServiceEntry, ServicePortName, TransportProtocol};
use kube_core::{NetworkProxy, ServiceTable};
use proptest::prelude::*;

use super::*;

fn spn(i: u8, protocol: TransportProtocol) -> ServicePortName {
    ServicePortName {
        namespace: "ns".into(),
        name: format!("svc{i}"),
        port: "p".into(),
        protocol,
    }
}

fn ep(i: u8) -> Endpoint {
    Endpoint {
        ip: IpAddr::from([10, 244, 0, i]),
        port: 8080,
        node_name: None,
    }
}

fn entry(i: u8, endpoints: &[u8]) -> ServiceEntry {
    ServiceEntry {
        cluster_ips: vec![IpAddr::from([10, 96, 0, i])],
        port: 80,
        endpoints: endpoints.iter().map(|e| ep(*e)).collect(),
        ..Default::default()
    }
}

/// Never the real conntrack program: these tests run in the host's namespace.
fn proxy(fake: &FakeIptables) -> IptablesProxy {
    IptablesProxy::with_iptables(IptablesConfig::default(), fake.clone())
        .with_conntrack(crate::conntrack::FakeConntrack::new())
}

/// The model holds exactly the rendered chains, and no other chain of ours.
fn assert_holds(fake: &FakeIptables, wanted: &Ruleset) {
    for (table, rules) in wanted.tables() {
        for (chain, expected) in rules.chains() {
            assert_eq!(
                fake.rules(table, chain).as_deref(),
                Some(expected),
                "{table} {chain}"
            );
        }
        for chain in fake.user_chains(table).into_iter().filter(|c| is_ours(c)) {
            assert!(rules.has_chain(&chain), "{table}: stale chain {chain} left");
        }
    }
}

#[tokio::test]
async fn only_changed_chains_are_restored_and_identical_tables_cost_nothing() {
    let fake = FakeIptables::new();
    let p = proxy(&fake);
    let mut t = ServiceTable::default();
    t.services
        .insert(spn(1, TransportProtocol::Tcp), entry(1, &[1, 2]));
    t.services
        .insert(spn(2, TransportProtocol::Tcp), entry(2, &[3]));
    p.sync(&t).await.unwrap();
    assert_holds(&fake, &p.render(&t));
    assert_eq!(fake.restores().len(), 1);

    p.sync(&t).await.unwrap();
    assert_eq!(
        fake.restores().len(),
        1,
        "an identical table restores nothing"
    );

    // Service 1 loses an endpoint: its KUBE-SVC chain is rewritten, the endpoint's
    // KUBE-SEP chain deleted; service 2 and KUBE-SERVICES are not touched.
    t.services
        .insert(spn(1, TransportProtocol::Tcp), entry(1, &[1]));
    p.sync(&t).await.unwrap();
    assert_holds(&fake, &p.render(&t));
    let input = fake.restores().pop().unwrap();
    let declared: Vec<&str> = input
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let svc1 = chain::service_chain(&spn(1, TransportProtocol::Tcp));
    let sep2 = chain::endpoint_chain(&spn(1, TransportProtocol::Tcp), &ep(2));
    assert_eq!(declared, [svc1.as_str(), sep2.as_str()], "{input}");
    assert!(input.contains(&format!("-X {sep2}")), "{input}");
    assert!(!input.contains("*filter"), "{input}");
}

#[tokio::test]
async fn stale_chains_of_an_earlier_run_are_deleted_and_others_kept() {
    let fake = FakeIptables::new();
    fake.add_chain(
        "nat",
        "KUBE-SVC-AAAAAAAAAAAAAAAA",
        &["-j KUBE-SEP-BBBBBBBBBBBBBBBB"],
    );
    fake.add_chain(
        "nat",
        "KUBE-SEP-BBBBBBBBBBBBBBBB",
        &["-j DNAT --to-destination 1.2.3.4:80"],
    );
    fake.add_chain("nat", "CNI-SOMETHING", &["-j ACCEPT"]);
    let p = proxy(&fake);
    let mut t = ServiceTable::default();
    t.services
        .insert(spn(1, TransportProtocol::Tcp), entry(1, &[1]));
    p.sync(&t).await.unwrap();
    assert_holds(&fake, &p.render(&t));
    assert!(fake.rules("nat", "CNI-SOMETHING").is_some());
    // The built-in chains jump to ours.
    let pre = fake.rules("nat", "PREROUTING").unwrap();
    assert!(
        pre.iter().any(|r| r.ends_with("-j KUBE-SERVICES")),
        "{pre:?}"
    );
    let output = fake.rules("filter", "OUTPUT").unwrap();
    assert!(
        output.iter().any(|r| r.ends_with("-j KUBE-SERVICES")),
        "{output:?}"
    );
}

#[tokio::test]
async fn a_failed_restore_makes_the_next_sync_full() {
    let fake = FakeIptables::new();
    let p = proxy(&fake);
    let mut t = ServiceTable::default();
    t.services
        .insert(spn(1, TransportProtocol::Tcp), entry(1, &[1]));
    p.sync(&t).await.unwrap();
    t.services
        .insert(spn(2, TransportProtocol::Tcp), entry(2, &[2]));
    fake.fail_next_restore();
    assert!(p.sync(&t).await.is_err());
    p.sync(&t).await.unwrap();
    let input = fake.restores().pop().unwrap();
    assert!(
        input.contains(":KUBE-POSTROUTING - [0:0]"),
        "a full rewrite: {input}"
    );
    assert_holds(&fake, &p.render(&t));
}

#[tokio::test]
async fn cleanup_removes_every_chain_and_jump() {
    let fake = FakeIptables::new();
    let p = proxy(&fake);
    let mut t = ServiceTable::default();
    t.services
        .insert(spn(1, TransportProtocol::Tcp), entry(1, &[1, 2]));
    p.sync(&t).await.unwrap();
    p.cleanup().await.unwrap();
    assert!(fake.user_chains("nat").is_empty(), "{fake:?}");
    assert!(fake.user_chains("filter").is_empty(), "{fake:?}");
    assert!(fake.rules("nat", "PREROUTING").unwrap().is_empty());
    // And the proxy starts afresh.
    p.sync(&t).await.unwrap();
    assert_holds(&fake, &p.render(&t));
}

#[test]
fn probabilities_make_each_endpoint_equally_likely() {
    let mut t = ServiceTable::default();
    t.services
        .insert(spn(1, TransportProtocol::Tcp), entry(1, &[1, 2, 3, 4]));
    let rs = render::render(&t, &IptablesConfig::default());
    let svc = rs
        .nat
        .rules(&chain::service_chain(&spn(1, TransportProtocol::Tcp)))
        .unwrap();
    let probabilities: Vec<f64> = svc
        .iter()
        .map(|r| {
            r.split("--probability ")
                .nth(1)
                .map_or(1.0, |p| p.split(' ').next().unwrap().parse().unwrap())
        })
        .collect();
    // P(endpoint i) = p_i * prod_{j<i} (1 - p_j): 1/4 each.
    let mut left = 1.0;
    for p in probabilities {
        assert!((left * p - 0.25).abs() < 1e-9, "{svc:?}");
        left *= 1.0 - p;
    }
    assert!(left.abs() < 1e-9);
}

#[derive(Debug, Clone)]
struct Svc {
    id: u8,
    udp: bool,
    endpoints: Vec<u8>,
    node_port: bool,
    external: bool,
    affinity: bool,
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        0u8..6,
        any::<bool>(),
        prop::collection::vec(1u8..8, 0..4),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
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
        if s.affinity {
            e.session_affinity = Some(Duration::from_secs(60));
        }
        t.services.insert(spn(s.id, protocol), e);
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any sequence of tables, applied incrementally, leaves the kernel's model holding
    /// exactly what a full render of the last table says (and every restore is one the
    /// kernel accepts: no dangling jump, no deleting a referenced chain).
    #[test]
    fn incremental_restores_converge_on_the_rendered_rules(
        tables in prop::collection::vec(prop::collection::vec(svc(), 0..5), 1..8)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let fake = FakeIptables::new();
            let p = proxy(&fake);
            for svcs in &tables {
                let t = build(svcs);
                p.sync(&t).await.unwrap();
                assert_holds(&fake, &p.render(&t));
            }
        });
    }
}
