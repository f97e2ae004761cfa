//! Golden tests of the iptables rules and the nftables table: the full rules for a table
//! covering every kind of service port, and the incremental update that follows a change.
//! The expected files are under `tests/golden/`; after a deliberate change of the rules,
//! regenerate them with `KUBE_NET_UPDATE_GOLDEN=1 cargo test -p kube-net --test golden`
//! and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use kube_core::network::{Endpoint, ServiceEntry, ServicePortName, TransportProtocol};
use kube_core::{NetworkProxy, ServiceTable};
use kube_net::conntrack::FakeConntrack;
use kube_net::iptables::{FakeIptables, Family};
use kube_net::nftables::FakeNft;
use kube_net::{IptablesConfig, IptablesProxy, NftablesConfig, NftablesProxy};

fn golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name]
        .iter()
        .collect();
    if std::env::var_os("KUBE_NET_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with KUBE_NET_UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the rendered rules at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             whole output:\n{actual}",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first),
        );
    }
}

fn spn(ns: &str, name: &str, port: &str, protocol: TransportProtocol) -> ServicePortName {
    ServicePortName {
        namespace: ns.into(),
        name: name.into(),
        port: port.into(),
        protocol,
    }
}

fn eps(list: &[&str]) -> Vec<Endpoint> {
    list.iter()
        .map(|s| {
            let addr: std::net::SocketAddr = s.parse().unwrap();
            Endpoint {
                ip: addr.ip(),
                port: addr.port(),
                node_name: None,
            }
        })
        .collect()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// One of each: a plain ClusterIP service, a NodePort one with external and load-balancer
/// IPs and three endpoints, UDP with ClientIP affinity, and one without endpoints.
fn fixture() -> ServiceTable {
    let mut t = ServiceTable::default();
    t.services.insert(
        spn("ns1", "svc1", "p80", TransportProtocol::Tcp),
        ServiceEntry {
            cluster_ips: ips(&["10.96.0.41"]),
            port: 80,
            endpoints: eps(&["10.180.0.1:80"]),
            ..Default::default()
        },
    );
    t.services.insert(
        spn("ns2", "svc2", "http", TransportProtocol::Tcp),
        ServiceEntry {
            cluster_ips: ips(&["10.96.0.42"]),
            port: 80,
            node_port: Some(30080),
            external_ips: ips(&["192.0.2.10"]),
            load_balancer_ips: ips(&["203.0.113.10"]),
            endpoints: eps(&["10.180.0.2:8080", "10.180.0.3:8080", "10.180.0.4:8080"]),
            ..Default::default()
        },
    );
    t.services.insert(
        spn("ns3", "dns", "dns", TransportProtocol::Udp),
        ServiceEntry {
            cluster_ips: ips(&["10.96.0.10"]),
            port: 53,
            session_affinity: Some(Duration::from_secs(10_800)),
            endpoints: eps(&["10.180.1.1:5353", "10.180.1.2:5353"]),
            ..Default::default()
        },
    );
    t.services.insert(
        spn("ns4", "svc4", "", TransportProtocol::Tcp),
        ServiceEntry {
            cluster_ips: ips(&["10.96.0.44"]),
            port: 80,
            node_port: Some(30044),
            external_ips: ips(&["192.0.2.44"]),
            ..Default::default()
        },
    );
    t
}

fn config() -> IptablesConfig {
    IptablesConfig {
        cluster_cidr: Some("10.244.0.0/16".parse().unwrap()),
        ..Default::default()
    }
}

#[test]
fn full_ruleset() {
    let proxy = IptablesProxy::with_iptables(config(), FakeIptables::new());
    golden("full.txt", &proxy.render(&fixture()).to_restore_input());
}

#[test]
fn full_ruleset_ipv6() {
    let mut t = ServiceTable::default();
    t.services.insert(
        spn("ns1", "web", "http", TransportProtocol::Tcp),
        ServiceEntry {
            // Dual stack: the IPv6 proxy programs only the IPv6 addresses.
            cluster_ips: ips(&["10.96.0.50", "fd00:10:96::50"]),
            port: 80,
            node_port: Some(30050),
            endpoints: eps(&["10.180.0.5:8080", "[fd00:10:180::5]:8080"]),
            ..Default::default()
        },
    );
    let proxy = IptablesProxy::with_iptables(
        IptablesConfig {
            family: Family::Ipv6,
            cluster_cidr: Some("fd00:10:244::/64".parse().unwrap()),
            ..Default::default()
        },
        FakeIptables::new(),
    );
    golden("full-ipv6.txt", &proxy.render(&t).to_restore_input());
}

#[tokio::test]
async fn incremental_restore() {
    let fake = FakeIptables::new();
    let proxy =
        IptablesProxy::with_iptables(config(), fake.clone()).with_conntrack(FakeConntrack::new());
    let mut t = fixture();
    proxy.sync(&t).await.unwrap();

    t = changed(t);
    proxy.sync(&t).await.unwrap();
    let restores = fake.restores();
    assert_eq!(restores.len(), 2);
    golden("incremental.txt", &restores[1]);

    // The rules the kernel holds now are those of a full render.
    for (table, rules) in proxy.render(&t).tables() {
        for (chain, expected) in rules.chains() {
            assert_eq!(
                fake.rules(table, chain).as_deref(),
                Some(expected),
                "{chain}"
            );
        }
    }
}

/// The change `incremental_*` tests apply to the fixture: svc1 is deleted, svc2 loses an
/// endpoint, svc4 gets its first one.
fn changed(mut t: ServiceTable) -> ServiceTable {
    t.services
        .remove(&spn("ns1", "svc1", "p80", TransportProtocol::Tcp));
    t.services
        .get_mut(&spn("ns2", "svc2", "http", TransportProtocol::Tcp))
        .unwrap()
        .endpoints
        .pop();
    t.services
        .get_mut(&spn("ns4", "svc4", "", TransportProtocol::Tcp))
        .unwrap()
        .endpoints = eps(&["10.180.4.1:80"]);
    t
}

fn nft_config() -> NftablesConfig {
    NftablesConfig {
        cluster_cidr: Some("10.244.0.0/16".parse().unwrap()),
        ..Default::default()
    }
}

#[tokio::test]
async fn nftables_full_and_incremental() {
    let fake = FakeNft::new();
    let proxy =
        NftablesProxy::with_nft(nft_config(), fake.clone()).with_conntrack(FakeConntrack::new());
    proxy.sync(&fixture()).await.unwrap();
    proxy.sync(&changed(fixture())).await.unwrap();
    let scripts = fake.scripts();
    assert_eq!(scripts.len(), 2);
    golden("full.nft", &scripts[0]);
    golden("incremental.nft", &scripts[1]);
}
