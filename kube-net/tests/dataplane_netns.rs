//! Real traffic through the kernel data planes (iptables rules, the nftables table),
//! between two network namespaces each test creates: a "node" holding the rules and a
//! "pod" namespace holding three backends on a veth pair. DNAT of a ClusterIP, spreading
//! over endpoints, endpoint removal while an open connection drains, ClientIP affinity,
//! node ports from outside with masquerade, rejection without endpoints, UDP, removal of
//! stale rules, stale UDP conntrack entries and cleanup. Needs root, iproute2, iptables
//! 1.8, nft and conntrack (scripts/install-net-tools.sh); fails under `CI` without them, else says it skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::time::Duration;

use common::{NetNs, connect_named, echoes, skip, tcp_backend, udp_backend, veth, who};
use kube_core::network::{Endpoint, ServiceEntry, ServicePortName, TransportProtocol};
use kube_core::{NetworkProxy, ServiceTable};
use kube_net::{IptablesConfig, IptablesProxy, NftablesConfig, NftablesProxy};
use std::future::Future;
use std::pin::Pin;
use tokio::net::{TcpListener, UdpSocket};

const NODE_IP: &str = "10.201.0.1";
const POD_IPS: [&str; 3] = ["10.201.0.2", "10.201.0.3", "10.201.0.4"];

fn web() -> ServicePortName {
    ServicePortName {
        namespace: "default".into(),
        name: "web".into(),
        port: "http".into(),
        protocol: TransportProtocol::Tcp,
    }
}

fn dns() -> ServicePortName {
    ServicePortName {
        namespace: "kube-system".into(),
        name: "dns".into(),
        port: "dns".into(),
        protocol: TransportProtocol::Udp,
    }
}

fn endpoints(ips: &[&str], port: u16) -> Vec<Endpoint> {
    ips.iter()
        .map(|ip| Endpoint {
            ip: ip.parse().unwrap(),
            port,
            node_name: None,
        })
        .collect()
}

fn table(web_backends: &[&str], affinity: Option<Duration>) -> ServiceTable {
    table_with_dns(web_backends, affinity, &POD_IPS[..1])
}

fn table_with_dns(
    web_backends: &[&str],
    affinity: Option<Duration>,
    dns_backends: &[&str],
) -> ServiceTable {
    let mut t = ServiceTable::default();
    t.services.insert(
        web(),
        ServiceEntry {
            cluster_ips: vec!["10.96.0.10".parse().unwrap()],
            port: 80,
            node_port: Some(30080),
            session_affinity: affinity,
            endpoints: endpoints(web_backends, 8080),
            ..Default::default()
        },
    );
    t.services.insert(
        dns(),
        ServiceEntry {
            cluster_ips: vec!["10.96.0.53".parse().unwrap()],
            port: 53,
            endpoints: endpoints(dns_backends, 5353),
            ..Default::default()
        },
    );
    t
}

async fn tally(vip: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        *counts.entry(who(vip).await).or_default() += 1;
    }
    counts
}

fn tools_present(test: &str, tools: &[&str]) -> bool {
    for tool in tools {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            skip(
                test,
                &format!("`{tool}` is not installed (run scripts/install-net-tools.sh)"),
            );
            return false;
        }
    }
    true
}

/// A data plane under test: how to make one (inside the node namespace), and what it
/// must leave in the node's tables once the table is empty, then after cleanup.
trait Plane: NetworkProxy + Clone {
    fn make() -> Self;
    fn cleanup(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// Checks the node's rules after an empty table was synced.
    fn check_emptied(ns: &str);
    /// Checks the node's rules after cleanup.
    fn check_cleaned(ns: &str);
}

impl Plane for IptablesProxy {
    fn make() -> Self {
        IptablesProxy::new(IptablesConfig::default())
    }
    fn cleanup(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move { IptablesProxy::cleanup(self).await.unwrap() })
    }
    fn check_emptied(ns: &str) {
        let nat = common::must(&["ip", "netns", "exec", ns, "iptables-save", "-t", "nat"]);
        assert!(
            !nat.contains(":KUBE-SVC-") && !nat.contains(":KUBE-SEP-"),
            "{nat}"
        );
        assert!(nat.contains(":KUBE-SERVICES"), "{nat}");
    }
    fn check_cleaned(ns: &str) {
        let all = common::must(&["ip", "netns", "exec", ns, "iptables-save"]);
        assert!(!all.contains("KUBE-"), "cleanup left rules: {all}");
    }
}

impl Plane for NftablesProxy {
    fn make() -> Self {
        NftablesProxy::new(NftablesConfig::default())
    }
    fn cleanup(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move { NftablesProxy::cleanup(self).await.unwrap() })
    }
    fn check_emptied(ns: &str) {
        let t = common::must(&[
            "ip", "netns", "exec", ns, "nft", "list", "table", "ip", "kube-net",
        ]);
        // Per-service chains are named `…-namespace/name/protocol/port`.
        assert!(!t.contains("/tcp/") && !t.contains("/udp/"), "{t}");
        assert!(t.contains("chain services"), "{t}");
    }
    fn check_cleaned(ns: &str) {
        let all = common::must(&["ip", "netns", "exec", ns, "nft", "list", "ruleset"]);
        assert!(!all.contains("kube-net"), "cleanup left the table: {all}");
    }
}

fn traffic_follows_the_rules<P: Plane>(test: &str, tools: &[&str]) {
    if !tools_present(test, tools) {
        return;
    }
    let (Some(node), Some(pod)) = (NetNs::create(test), NetNs::create(test)) else {
        return;
    };
    let (node_if, _) = veth(&node, NODE_IP, &pod, &POD_IPS);
    node.ip(&["route", "add", "default", "dev", &node_if]);
    pod.ip(&["route", "add", "default", "via", NODE_IP]);
    node.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        .unwrap();

    // Backends live in the pod namespace; their sockets stay there whichever runtime
    // serves them.
    let listeners: Vec<_> = POD_IPS
        .iter()
        .map(|ip| pod.tcp_listener(SocketAddr::new(ip.parse().unwrap(), 8080)))
        .collect();
    let udp = pod.udp_socket(SocketAddr::new(POD_IPS[0].parse().unwrap(), 5353));
    let udp2 = pod.udp_socket(SocketAddr::new(POD_IPS[1].parse().unwrap(), 5353));
    let node_name = node.name.clone();
    let pod_name = pod.name.clone();

    // A client from outside the node: the pod namespace connects to the node port.
    let pod_client = move || -> String {
        let addr: SocketAddr = format!("{NODE_IP}:30080").parse().unwrap();
        let stream =
            std::net::TcpStream::connect_timeout(&addr, common::TIMEOUT).expect("node port");
        stream.set_read_timeout(Some(common::TIMEOUT)).unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    };

    node.block_on(move || async move {
        let mut tasks = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            tasks.push(tcp_backend(
                TcpListener::from_std(l).unwrap(),
                &format!("b{}", i + 1),
            ));
        }
        tasks.push(udp_backend(UdpSocket::from_std(udp).unwrap(), "dns"));
        tasks.push(udp_backend(UdpSocket::from_std(udp2).unwrap(), "dns2"));

        let proxy = P::make();
        let vip: SocketAddr = "10.96.0.10:80".parse().unwrap();
        proxy.sync(&table(&POD_IPS, None)).await.unwrap();

        // 300 connections spread over the three backends.
        let counts = tally(vip, 300).await;
        assert_eq!(counts.len(), 3, "{counts:?}");
        for (b, n) in &counts {
            assert!(*n >= 60, "{b}: {n} of 300 connections: {counts:?}");
        }

        // UDP through DNAT, the reply from the service address.
        let client = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        client.send_to(b"q", "10.96.0.53:53").await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = tokio::time::timeout(common::TIMEOUT, client.recv_from(&mut buf))
            .await
            .expect("a DNS reply")
            .unwrap();
        assert_eq!(&buf[..n], b"dns:q");
        assert_eq!(from, "10.96.0.53:53".parse::<SocketAddr>().unwrap());

        // The DNS endpoint moves: the same client socket (the same conntrack flow) reaches
        // the new one, because the proxy clears the stale UDP entry.
        proxy
            .sync(&table_with_dns(&POD_IPS, None, &POD_IPS[1..2]))
            .await
            .unwrap();
        client.send_to(b"r", "10.96.0.53:53").await.unwrap();
        let (n, _) = tokio::time::timeout(common::TIMEOUT, client.recv_from(&mut buf))
            .await
            .expect("a DNS reply from the new endpoint")
            .unwrap();
        assert_eq!(&buf[..n], b"dns2:r");

        // b3 leaves: no new connection reaches it, one opened before still works.
        let mut open_b3 = loop {
            let (s, b) = connect_named(vip, None).await.unwrap();
            if b == "b3" {
                break s;
            }
        };
        proxy.sync(&table(&POD_IPS[..2], None)).await.unwrap();
        let counts = tally(vip, 100).await;
        assert!(!counts.contains_key("b3"), "{counts:?}");
        assert!(
            echoes(&mut open_b3, b"drain").await,
            "the open connection was cut"
        );

        // ClientIP affinity: this client keeps one backend.
        proxy
            .sync(&table(&POD_IPS, Some(Duration::from_secs(600))))
            .await
            .unwrap();
        let counts = tally(vip, 30).await;
        assert_eq!(counts.len(), 1, "{counts:?}");

        // Without endpoints, clients are refused rather than left hanging.
        proxy.sync(&table(&[], None)).await.unwrap();
        let err = tokio::net::TcpStream::connect(vip).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");

        // From outside the node, through the node port: DNAT, forwarded back to the pod
        // namespace, masqueraded so the reply returns through the node.
        proxy.sync(&table(&POD_IPS, None)).await.unwrap();
        let reached = tokio::task::spawn_blocking(move || common::in_netns(&pod_name, pod_client))
            .await
            .unwrap();
        assert!(["b1", "b2", "b3"].contains(&reached.as_str()), "{reached}");

        // A removed service leaves nothing behind; cleanup removes everything.
        proxy.sync(&ServiceTable::default()).await.unwrap();
        P::check_emptied(&node_name);
        proxy.cleanup().await;
        P::check_cleaned(&node_name);
    });
}

#[test]
fn iptables_traffic_follows_the_rules() {
    traffic_follows_the_rules::<IptablesProxy>(
        "iptables_traffic_follows_the_rules",
        &["iptables-restore", "iptables-save", "iptables", "conntrack"],
    );
}

#[test]
fn nftables_traffic_follows_the_rules() {
    traffic_follows_the_rules::<NftablesProxy>(
        "nftables_traffic_follows_the_rules",
        &["nft", "conntrack"],
    );
}
