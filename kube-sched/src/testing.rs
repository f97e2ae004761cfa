//! Builders of nodes and pods for tests, examples and benchmarks: one line per object
//! instead of a page of struct literals.
//!
//! Quantities are parsed leniently: an invalid quantity counts as zero.
//!
//! ```
//! use kube_sched::testing::{node, pod};
//!
//! let n = node("n1").cpu("4").memory("8Gi").label("zone", "a").info();
//! let p = pod("web").requests("500m", "1Gi").priority(10).arc();
//! assert_eq!(n.allocatable().milli_cpu, 4000);
//! assert_eq!(p.requests().milli_cpu, 500);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use kube_core::{
    Affinity, Container, ContainerImage, ContainerPort, LabelSelector, Node, NodeAffinity,
    NodeInfo, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
    ObjectMeta, Pod, PodAffinity, PodAffinityTerm, PodInfo, PreemptionPolicy,
    PreferredSchedulingTerm, Protocol, Quantity, Taint, TaintEffect, Time, Toleration,
    TolerationOperator, TopologySpreadConstraint, UnsatisfiableConstraintAction,
    WeightedPodAffinityTerm,
};

/// The label every node carries with its own name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

fn quantity(s: &str) -> Quantity {
    s.parse().unwrap_or_default()
}

fn effect(s: &str) -> Option<TaintEffect> {
    match s {
        "" => None,
        "NoSchedule" => Some(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
        "NoExecute" => Some(TaintEffect::NoExecute),
        other => Some(TaintEffect::Other(other.to_owned())),
    }
}

/// A taint: key, value (empty for none) and effect.
pub fn taint(key: &str, value: &str, effect_name: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        value: (!value.is_empty()).then(|| value.to_owned()),
        effect: effect(effect_name).unwrap_or_default(),
        time_added: None,
    }
}

/// A toleration: key, operator (`Equal`, `Exists`, or empty), value and effect (empty
/// strings for unset fields).
pub fn toleration(key: &str, operator: &str, value: &str, effect_name: &str) -> Toleration {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Toleration {
        key: opt(key),
        operator: match operator {
            "" => None,
            "Equal" => Some(TolerationOperator::Equal),
            "Exists" => Some(TolerationOperator::Exists),
            other => Some(TolerationOperator::Other(other.to_owned())),
        },
        value: opt(value),
        effect: effect(effect_name),
        toleration_seconds: None,
    }
}

/// A node selector requirement from an operator name.
pub fn node_requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.to_owned(),
        operator: match operator {
            "In" => NodeSelectorOperator::In,
            "NotIn" => NodeSelectorOperator::NotIn,
            "Exists" => NodeSelectorOperator::Exists,
            "DoesNotExist" => NodeSelectorOperator::DoesNotExist,
            "Gt" => NodeSelectorOperator::Gt,
            "Lt" => NodeSelectorOperator::Lt,
            other => NodeSelectorOperator::Other(other.to_owned()),
        },
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn term(reqs: &[(&str, &str, &[&str])]) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: reqs
            .iter()
            .map(|(k, op, vals)| node_requirement(k, op, vals))
            .collect(),
        match_fields: Vec::new(),
    }
}

fn selector(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: BTreeMap::from([(key.to_owned(), value.to_owned())]),
        ..LabelSelector::default()
    }
}

fn pod_term(key: &str, value: &str, topology_key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(selector(key, value)),
        topology_key: topology_key.to_owned(),
        ..PodAffinityTerm::default()
    }
}

/// Starts a node named `name`: 4 CPUs, 16Gi of memory, 110 pods, labelled with its
/// hostname.
pub fn node(name: &str) -> NodeBuilder {
    let mut n = Node::default();
    n.metadata.name = Some(name.to_owned());
    n.metadata
        .labels
        .insert(HOSTNAME_LABEL.to_owned(), name.to_owned());
    NodeBuilder(n).cpu("4").memory("16Gi").pods(110)
}

/// Builds a [`Node`].
#[derive(Clone, Debug)]
#[must_use]
pub struct NodeBuilder(Node);

impl NodeBuilder {
    fn allocatable(mut self, name: &str, q: Quantity) -> Self {
        self.0.status.capacity.insert(name.to_owned(), q.clone());
        self.0.status.allocatable.insert(name.to_owned(), q);
        self
    }

    /// Allocatable CPU (`"4"`, `"500m"`).
    pub fn cpu(self, q: &str) -> Self {
        self.allocatable("cpu", quantity(q))
    }

    /// Allocatable memory (`"16Gi"`).
    pub fn memory(self, q: &str) -> Self {
        self.allocatable("memory", quantity(q))
    }

    /// How many pods fit.
    pub fn pods(self, n: i64) -> Self {
        self.allocatable("pods", Quantity::from_value(n))
    }

    /// An extended resource.
    pub fn scalar(self, name: &str, n: i64) -> Self {
        self.allocatable(name, Quantity::from_value(n))
    }

    /// A label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .labels
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// A taint.
    pub fn taint(mut self, t: Taint) -> Self {
        self.0.spec.taints.push(t);
        self
    }

    /// Cordoned or not.
    pub fn unschedulable(mut self, yes: bool) -> Self {
        self.0.spec.unschedulable = yes;
        self
    }

    /// An image present on the node, with its size in bytes.
    pub fn image(mut self, name: &str, size: i64) -> Self {
        self.0.status.images.push(ContainerImage {
            names: vec![name.to_owned()],
            size_bytes: Some(size),
        });
        self
    }

    /// The node.
    pub fn node(self) -> Node {
        self.0
    }

    /// The node, shared.
    pub fn arc_node(self) -> Arc<Node> {
        Arc::new(self.0)
    }

    /// A [`NodeInfo`] of the node, without pods.
    pub fn info(self) -> NodeInfo {
        NodeInfo::new(Arc::new(self.0))
    }

    /// A shared [`NodeInfo`] of the node, without pods.
    pub fn arc(self) -> Arc<NodeInfo> {
        Arc::new(self.info())
    }
}

/// Starts a pod named `name` in namespace `default`, with one container (`app`) and no
/// requests.
pub fn pod(name: &str) -> PodBuilder {
    let mut p = Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("default".to_owned()),
            uid: Some(format!("uid-{name}")),
            ..ObjectMeta::default()
        },
        ..Pod::default()
    };
    p.spec.containers.push(Container {
        name: "app".to_owned(),
        ..Container::default()
    });
    PodBuilder(p)
}

/// Builds a [`Pod`].
#[derive(Clone, Debug)]
#[must_use]
pub struct PodBuilder(Pod);

impl PodBuilder {
    fn container(&mut self) -> &mut Container {
        if self.0.spec.containers.is_empty() {
            self.0.spec.containers.push(Container::default());
        }
        let last = self.0.spec.containers.len() - 1;
        &mut self.0.spec.containers[last]
    }

    fn affinity_mut(&mut self) -> &mut Affinity {
        self.0.spec.affinity.get_or_insert_with(Affinity::default)
    }

    /// The namespace.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.to_owned());
        self
    }

    /// A label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .labels
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// An annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// CPU and memory requests of the container (`"0"` for none).
    pub fn requests(mut self, cpu: &str, memory: &str) -> Self {
        let r = &mut self.container().resources.requests;
        for (name, q) in [("cpu", cpu), ("memory", memory)] {
            if q != "0" {
                r.insert(name.to_owned(), quantity(q));
            }
        }
        self
    }

    /// An extended resource request.
    pub fn scalar(mut self, name: &str, n: i64) -> Self {
        self.container()
            .resources
            .requests
            .insert(name.to_owned(), Quantity::from_value(n));
        self
    }

    /// `spec.priority`.
    pub fn priority(mut self, p: i32) -> Self {
        self.0.spec.priority = Some(p);
        self
    }

    /// `preemptionPolicy: Never`.
    pub fn preemption_never(mut self) -> Self {
        self.0.spec.preemption_policy = Some(PreemptionPolicy::Never);
        self
    }

    /// `spec.schedulerName`.
    pub fn scheduler_name(mut self, name: &str) -> Self {
        self.0.spec.scheduler_name = Some(name.to_owned());
        self
    }

    /// `spec.nodeName`: the pod is bound.
    pub fn node_name(mut self, node: &str) -> Self {
        self.0.spec.node_name = Some(node.to_owned());
        self
    }

    /// Created `secs` seconds after 2024-01-01T00:00:00Z.
    pub fn created(mut self, secs: u32) -> Self {
        self.0.metadata.creation_timestamp = at(secs);
        self
    }

    /// Started `secs` seconds after 2024-01-01T00:00:00Z.
    pub fn started(mut self, secs: u32) -> Self {
        self.0.status.start_time = at(secs);
        self
    }

    /// A toleration.
    pub fn toleration(mut self, t: Toleration) -> Self {
        self.0.spec.tolerations.push(t);
        self
    }

    /// A host port on the container (`ip` empty for all addresses).
    pub fn host_port(mut self, ip: &str, port: i32, protocol: &str) -> Self {
        let protocol = match protocol {
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            _ => Protocol::Tcp,
        };
        self.container().ports.push(ContainerPort {
            host_port: Some(port),
            container_port: port,
            protocol: Some(protocol),
            host_ip: (!ip.is_empty()).then(|| ip.to_owned()),
            ..ContainerPort::default()
        });
        self
    }

    /// A container running `image`.
    pub fn image(mut self, image: &str) -> Self {
        let c = self.container();
        if c.image.is_none() {
            c.image = Some(image.to_owned());
        } else {
            let n = self.0.spec.containers.len();
            self.0.spec.containers.push(Container {
                name: format!("c{n}"),
                image: Some(image.to_owned()),
                ..Container::default()
            });
        }
        self
    }

    /// A `nodeSelector` entry.
    pub fn node_selector(mut self, key: &str, value: &str) -> Self {
        self.0
            .spec
            .node_selector
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// A required node affinity term (terms are ORed, requirements ANDed).
    pub fn required_node_term(mut self, reqs: &[(&str, &str, &[&str])]) -> Self {
        let na = self
            .affinity_mut()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        na.required_during_scheduling_ignored_during_execution
            .get_or_insert_with(NodeSelector::default)
            .node_selector_terms
            .push(term(reqs));
        self
    }

    /// A preferred node affinity term with its weight.
    pub fn preferred_node_term(mut self, weight: i32, reqs: &[(&str, &str, &[&str])]) -> Self {
        let na = self
            .affinity_mut()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        na.preferred_during_scheduling_ignored_during_execution
            .push(PreferredSchedulingTerm {
                weight,
                preference: term(reqs),
            });
        self
    }

    /// A topology spread constraint over pods labelled `key=value`; `when` is
    /// `DoNotSchedule` or `ScheduleAnyway`.
    pub fn spread(
        mut self,
        max_skew: i32,
        topology_key: &str,
        when: &str,
        key: &str,
        value: &str,
    ) -> Self {
        self.0
            .spec
            .topology_spread_constraints
            .push(TopologySpreadConstraint {
                max_skew,
                topology_key: topology_key.to_owned(),
                when_unsatisfiable: if when == "ScheduleAnyway" {
                    UnsatisfiableConstraintAction::ScheduleAnyway
                } else {
                    UnsatisfiableConstraintAction::DoNotSchedule
                },
                label_selector: Some(selector(key, value)),
                ..TopologySpreadConstraint::default()
            });
        self
    }

    /// A required pod affinity term to pods labelled `key=value` in the same domain of
    /// `topology_key`.
    pub fn affinity(mut self, key: &str, value: &str, topology_key: &str) -> Self {
        self.affinity_mut()
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .push(pod_term(key, value, topology_key));
        self
    }

    /// A required pod anti-affinity term.
    pub fn anti_affinity(mut self, key: &str, value: &str, topology_key: &str) -> Self {
        self.affinity_mut()
            .pod_anti_affinity
            .get_or_insert_with(PodAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .push(pod_term(key, value, topology_key));
        self
    }

    /// A preferred pod affinity term with its weight.
    pub fn preferred_affinity(
        mut self,
        weight: i32,
        key: &str,
        value: &str,
        topology_key: &str,
    ) -> Self {
        self.affinity_mut()
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .push(WeightedPodAffinityTerm {
                weight,
                pod_affinity_term: pod_term(key, value, topology_key),
            });
        self
    }

    /// A preferred pod anti-affinity term with its weight.
    pub fn preferred_anti_affinity(
        mut self,
        weight: i32,
        key: &str,
        value: &str,
        topology_key: &str,
    ) -> Self {
        self.affinity_mut()
            .pod_anti_affinity
            .get_or_insert_with(PodAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .push(WeightedPodAffinityTerm {
                weight,
                pod_affinity_term: pod_term(key, value, topology_key),
            });
        self
    }

    /// The pod.
    pub fn pod(self) -> Pod {
        self.0
    }

    /// The pod, shared.
    pub fn arc_pod(self) -> Arc<Pod> {
        Arc::new(self.0)
    }

    /// The pod's [`PodInfo`].
    pub fn info(self) -> PodInfo {
        PodInfo::new(Arc::new(self.0))
    }

    /// The pod's [`PodInfo`], shared.
    pub fn arc(self) -> Arc<PodInfo> {
        Arc::new(self.info())
    }
}

fn at(secs: u32) -> Option<Time> {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let day = 1 + h / 24;
    Time::parse(&format!("2024-01-{day:02}T{:02}:{m:02}:{s:02}Z", h % 24)).ok()
}
