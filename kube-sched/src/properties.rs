//! Properties of whole scheduling runs, checked on random clusters and workloads: every
//! pod placed passes every filter on its node, as a fresh profile computes it from
//! scratch (so the per-node memos and summaries must agree with it), no node is
//! over-committed, and preemption evicts a minimal set of lower-priority pods.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use kube_core::{FitCode, NodeInfo, NodeRejection, PodInfo, Snapshot};
use proptest::prelude::*;

use crate::cache::Cache;
use crate::engine::{Engine, Outcome};
use crate::framework::{
    CycleState, FilterRunner, FrameworkConfig, FrameworkScheduler, NodeRef, NodeSummary,
    PostFilterPlugin, PreFilterResult, Profile,
};
use crate::plugins::{self, DefaultPreemption, NodeResourcesFit};
use crate::queue::QueueConfig;
use crate::testing::{node, pod, taint, toleration};

const ZONE: &str = "topology.kubernetes.io/zone";
const HOST: &str = "kubernetes.io/hostname";

#[derive(Clone, Debug)]
struct NodeSpec {
    cpu: u32,
    gib: u32,
    pods: i64,
    zone: u8,
    tainted: bool,
    cordoned: bool,
}

#[derive(Clone, Debug)]
struct PodSpec {
    milli: u32,
    gib: u32,
    zone: Option<u8>,
    tolerates: bool,
    port: Option<i32>,
    group: Option<u8>,
    spread: Option<u8>,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        1u32..8,
        1u32..16,
        2i64..10,
        0u8..3,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(cpu, gib, pods, zone, tainted, cordoned)| NodeSpec {
            cpu,
            gib,
            pods,
            zone,
            tainted,
            cordoned,
        })
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        0u32..3000,
        0u32..4,
        prop::option::weighted(0.3, 0u8..3),
        any::<bool>(),
        prop::option::weighted(0.2, 80i32..82),
        prop::option::weighted(0.3, 0u8..3),
        prop::option::weighted(0.3, 0u8..2),
    )
        .prop_map(
            |(milli, gib, zone, tolerates, port, group, spread)| PodSpec {
                milli,
                gib,
                zone,
                tolerates,
                port,
                group,
                spread,
            },
        )
}

fn build_node(i: usize, s: &NodeSpec) -> kube_core::Node {
    let mut n = node(&format!("n{i}"))
        .cpu(&s.cpu.to_string())
        .memory(&format!("{}Gi", s.gib))
        .pods(s.pods)
        .label(ZONE, &format!("z{}", s.zone))
        .unschedulable(s.cordoned);
    if s.tainted {
        n = n.taint(taint("dedicated", "x", "NoSchedule"));
    }
    n.node()
}

fn build_pod(i: usize, s: &PodSpec) -> kube_core::Pod {
    let mut p = pod(&format!("p{i}")).requests(&format!("{}m", s.milli), &format!("{}Gi", s.gib));
    if let Some(z) = s.zone {
        p = p.node_selector(ZONE, &format!("z{z}"));
    }
    if s.tolerates {
        p = p.toleration(toleration("dedicated", "Equal", "x", "NoSchedule"));
    }
    if let Some(port) = s.port {
        p = p.host_port("", port, "TCP");
    }
    if let Some(g) = s.group {
        let g = format!("g{g}");
        p = p.label("group", &g).anti_affinity("group", &g, HOST);
    }
    if let Some(a) = s.spread {
        let a = format!("a{a}");
        p = p
            .label("app", &a)
            .spread(1, ZONE, "DoNotSchedule", "app", &a);
    }
    p.pod()
}

/// Runs a fresh copy of the default profile's PreFilter and Filter for `pod` on the node
/// named `chosen`, with nothing carried over from earlier cycles.
fn fresh_verdict(pod: &PodInfo, snapshot: &Snapshot, chosen: &str) -> Result<(), String> {
    let profile = plugins::default_plugins("default-scheduler").build();
    let mut state = CycleState::new();
    for p in &profile.pre_filter {
        match p.pre_filter(&mut state, pod, snapshot) {
            Ok(PreFilterResult::Skip) => state.skip_filter.push(p.name()),
            Ok(PreFilterResult::Proceed) => {}
            Ok(PreFilterResult::Nodes(names)) => {
                if !names.contains(chosen) {
                    return Err(format!("{} excluded {chosen}", p.name()));
                }
            }
            Err(r) => return Err(format!("{} rejected the pod: {:?}", p.name(), r.reasons)),
        }
    }
    let node = snapshot
        .get(chosen)
        .ok_or("the node is not in the snapshot")?;
    profile
        .filter_node(&state, pod, &NodeRef::of(node))
        .map_err(|(plugin, r)| format!("{plugin}: {:?}", r.reasons))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Scheduling a random workload on a random cluster: every placement passes every
    /// filter as a fresh profile computes it, the node summaries match the nodes, and in
    /// the end no node is over-committed, no host port is taken twice, no two pods of an
    /// anti-affinity group share a node, and no spread constraint is skewed beyond 1.
    #[test]
    fn placed_pods_pass_every_filter_and_no_node_is_overcommitted(
        nodes in prop::collection::vec(node_spec(), 1..10),
        pods in prop::collection::vec(pod_spec(), 1..50),
    ) {
        let fw = FrameworkScheduler::new(
            [plugins::default_plugins("default-scheduler").build()],
            FrameworkConfig { parallelism: 1, ..FrameworkConfig::default() },
        );
        let mut e = Engine::new(Arc::new(fw), QueueConfig::default(), Cache::default());
        let now = Instant::now();
        for (i, s) in nodes.iter().enumerate() {
            e.add_node(Arc::new(build_node(i, s)), now);
        }
        for (i, s) in pods.iter().enumerate() {
            e.upsert_pod(Arc::new(build_pod(i, s)), now);
        }
        while let Some(outcome) = e.schedule_next(now) {
            for (info, row) in e.snapshot().nodes().iter().zip(e.summaries.rows()) {
                prop_assert_eq!(*row, NodeSummary::of(info));
            }
            if let Outcome::Assumed(b) = outcome {
                let verdict = fresh_verdict(&b.pod, e.snapshot(), &b.node);
                prop_assert!(verdict.is_ok(), "{} on {}: {:?}", b.pod.key(), b.node, verdict);
                let (_, _, _, _, queued) = b.into_parts();
                e.binding_finished(queued, true, now);
            }
        }
        let mut spread: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for (i, s) in nodes.iter().enumerate() {
            let name = format!("n{i}");
            let Some(info) = e.cache().node(&name) else { continue };
            let alloc = info.allocatable();
            prop_assert!(info.requested().milli_cpu <= alloc.milli_cpu, "{name} cpu");
            prop_assert!(info.requested().memory <= alloc.memory, "{name} memory");
            prop_assert!(info.pods().len() as i64 <= alloc.pods, "{name} pods");
            let mut ports = HashSet::new();
            let mut groups = HashSet::new();
            for p in info.pods() {
                for port in p.host_ports() {
                    prop_assert!(ports.insert(port.port), "{name}: port {} twice", port.port);
                }
                if let Some(g) = p.pod().metadata.labels.get("group") {
                    prop_assert!(groups.insert(g.clone()), "{name}: two pods of {g}");
                }
                if let Some(a) = p.pod().metadata.labels.get("app") {
                    *spread.entry(a.clone()).or_default().entry(format!("z{}", s.zone)).or_default() += 1;
                }
            }
        }
        // Every zone with a node counts, empty or not; the pods' node selectors do not
        // narrow the domains of spread pods (the workload gives them none).
        let zones: HashSet<String> = nodes.iter().map(|s| format!("z{}", s.zone)).collect();
        for (app, counts) in &spread {
            let pods_have_selector = pods.iter().any(|p| {
                p.spread.is_some_and(|a| format!("a{a}") == *app) && p.zone.is_some()
            });
            if pods_have_selector {
                continue;
            }
            let max = counts.values().copied().max().unwrap_or(0);
            let min = zones.iter().map(|z| counts.get(z).copied().unwrap_or(0)).min().unwrap_or(0);
            prop_assert!(max - min <= 1, "{app} skewed: {counts:?} over {zones:?}");
        }
    }

    /// Preemption on one node: the victims are of lower priority, evicting them makes
    /// room, and each of them is needed (giving any one back leaves no room).
    #[test]
    fn preemption_evicts_a_minimal_set_of_lower_priority_pods(
        running in prop::collection::vec((0i32..10, 100u32..2000), 1..8),
        priority in 0i32..12,
        milli in 100u32..4000,
    ) {
        let mut info = node("n").cpu("4").memory("64Gi").pods(20).info();
        for (i, (prio, m)) in running.iter().enumerate() {
            info.add_pod(pod(&format!("r{i}")).priority(*prio).requests(&format!("{m}m"), "0").arc());
        }
        let profile = Profile::builder("t").filter(Arc::new(NodeResourcesFit::default())).build();
        let preemptor = pod("preemptor").priority(priority).requests(&format!("{milli}m"), "0").arc();
        let state = CycleState::new();
        let fits = |info: &NodeInfo| profile.run_filters(&state, &preemptor, info).is_ok();
        prop_assume!(!fits(&info));
        let snap = Snapshot::from_nodes([info.clone()]);
        let rejections = [NodeRejection {
            node: Arc::from("n"),
            code: FitCode::Unschedulable,
            plugin: "NodeResourcesFit".into(),
            reasons: vec!["Insufficient cpu".into()],
        }];
        let nomination = DefaultPreemption::default().post_filter(&state, &preemptor, &snap, &rejections, &profile);
        // Room exists by evicting pods iff evicting every lower-priority pod makes room.
        let mut without_lower = info.clone();
        let lower: Vec<_> = info
            .pods()
            .iter()
            .filter(|p| p.priority() < priority)
            .map(|p| p.key().clone())
            .collect();
        for key in &lower {
            without_lower.remove_pod(key);
        }
        prop_assert_eq!(nomination.is_some(), fits(&without_lower));
        let Some(nomination) = nomination else { return Ok(()) };
        prop_assert_eq!(nomination.node.as_str(), "n");
        let victims: HashSet<_> = nomination.victims.iter().cloned().collect();
        let mut after = info.clone();
        for v in &victims {
            let p = info.pods().iter().find(|p| p.key() == v).expect("a victim on the node");
            prop_assert!(p.priority() < priority, "{v} is not of lower priority");
            after.remove_pod(v);
        }
        prop_assert!(fits(&after), "no room after evicting {victims:?}");
        for v in &victims {
            let p = info.pods().iter().find(|p| p.key() == v).expect("a victim on the node");
            let mut spared = after.clone();
            spared.add_pod(Arc::clone(p));
            prop_assert!(!fits(&spared), "{v} need not be evicted");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Preemption over many cycles, with answers remembered from cycle to cycle: every
    /// nomination evicts exactly what a fresh dry run on that node, with the pods
    /// nominated so far, would evict.
    #[test]
    fn remembered_dry_runs_match_fresh_ones(
        nodes in prop::collection::vec(prop::collection::vec((0i32..5, 1u32..3), 1..5), 2..12),
        preemptors in prop::collection::vec((5i32..9, 1u32..4), 1..25),
    ) {
        let fw = FrameworkScheduler::new(
            [plugins::default_plugins("default-scheduler").build()],
            FrameworkConfig { parallelism: 1, ..FrameworkConfig::default() },
        );
        let mut e = Engine::new(Arc::new(fw), QueueConfig::default(), Cache::default());
        let now = Instant::now();
        for (i, running) in nodes.iter().enumerate() {
            let name = format!("n{i}");
            e.add_node(Arc::new(node(&name).cpu("4").memory("64Gi").node()), now);
            for (j, (prio, cpu)) in running.iter().enumerate() {
                let p = pod(&format!("r{i}-{j}")).priority(*prio).requests(&cpu.to_string(), "0").node_name(&name);
                e.upsert_pod(p.arc_pod(), now);
            }
        }
        for (k, (prio, cpu)) in preemptors.iter().enumerate() {
            // Two shapes at most, so answers get reused.
            let p = pod(&format!("p{k}")).priority(*prio).requests(&cpu.to_string(), "0");
            e.upsert_pod(p.arc_pod(), now);
        }
        let mut clock = now;
        for _ in 0..200 {
            let Some(outcome) = e.schedule_next(clock) else {
                match e.queue().next_backoff_expiry() {
                    Some(at) => { clock = at; continue; }
                    None => break,
                }
            };
            match outcome {
                Outcome::Assumed(b) => {
                    let (_, _, _, _, queued) = b.into_parts();
                    e.binding_finished(queued, true, clock);
                }
                Outcome::Unschedulable(preemptor, why) => {
                    let Some(n) = why.nomination.as_deref() else { continue };
                    let info = e.snapshot().get(&n.node).expect("a nominated node");
                    let single = Snapshot::from_nodes([(**info).clone()]);
                    let profile = plugins::default_plugins("default-scheduler").build();
                    let mut state = CycleState::new();
                    for p in &profile.pre_filter {
                        if let Ok(PreFilterResult::Skip) = p.pre_filter(&mut state, &preemptor, &single) {
                            state.skip_filter.push(p.name());
                        }
                    }
                    // The engine nominated the preemptor already: fresh runs must not count
                    // it against itself, which the filters ensure by key.
                    let filters = crate::framework::NominatedFilters {
                        profile: &profile,
                        nominated: e.nominated(),
                        pool: None,
                    };
                    let rejection = [NodeRejection {
                        node: Arc::from(n.node.as_str()),
                        code: FitCode::Unschedulable,
                        plugin: "NodeResourcesFit".into(),
                        reasons: vec!["Insufficient cpu".into()],
                    }];
                    let fresh = DefaultPreemption::default()
                        .post_filter(&state, &preemptor, &single, &rejection, &filters);
                    prop_assert_eq!(fresh.map(|f| f.victims), Some(n.victims.clone()));
                    for v in &n.victims {
                        e.delete_pod(v, clock);
                    }
                }
                Outcome::Rejected(p, err) => prop_assert!(false, "{} rejected: {err}", p.key()),
            }
        }
    }
}

#[test]
fn the_message_counts_reasons_per_node_as_kubernetes_writes_it() {
    let fw = FrameworkScheduler::new(
        [plugins::default_plugins("default-scheduler").build()],
        FrameworkConfig {
            parallelism: 1,
            ..FrameworkConfig::default()
        },
    );
    let snap = Snapshot::from_nodes([
        node("a").taint(taint("a", "b", "NoSchedule")).info(),
        node("b").cpu("1").info(),
        node("c").cpu("1").info(),
    ]);
    let err =
        kube_core::Scheduler::schedule(&fw, &pod("p").requests("2", "0").arc(), &snap).unwrap_err();
    assert_eq!(
        err.message(),
        "0/3 nodes are available: 1 node(s) had untolerated taint {a: b}, 2 Insufficient cpu."
    );
}
