//! Where a pod may run: node and pod (anti-)affinity, tolerations and topology spread
//! constraints, as the scheduler reads them from a pod's spec.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::{Taint, TaintEffect};
use crate::selector::LabelSelector;

/// The affinity rules of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    /// Which nodes the pod may (or would rather) run on, by node labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    /// Which pods this pod must (or would rather) run near, in the same topology domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_affinity: Option<PodAffinity>,
    /// Which pods this pod must (or would rather) stay away from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_anti_affinity: Option<PodAffinity>,
}

/// Node affinity: hard and soft rules on the labels and fields of nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    /// The pod is only scheduled on nodes this selector matches; not re-checked once it
    /// runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    /// Terms that add their weight to the score of the nodes they match.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredSchedulingTerm>,
}

/// A node selector: the terms are ORed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    /// A node matches when any term matches it.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

impl NodeSelector {
    /// True when any term matches the node with these labels and this name.
    pub fn matches(&self, node_labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        self.node_selector_terms
            .iter()
            .any(|term| term.matches(node_labels, node_name))
    }
}

/// One term of a node selector: all its requirements must hold. A term without any
/// requirement matches no node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    /// Requirements on node labels.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Requirements on node fields; only `metadata.name` is supported.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

impl NodeSelectorTerm {
    /// True when the term has requirements and they all hold for the node with these labels
    /// and this name (an invalid requirement does not hold).
    pub fn matches(&self, node_labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        if self.match_expressions.is_empty() && self.match_fields.is_empty() {
            return false;
        }
        let fields = BTreeMap::from([("metadata.name".to_owned(), node_name.to_owned())]);
        self.match_expressions
            .iter()
            .all(|r| r.matches(node_labels))
            && self.match_fields.iter().all(|r| r.matches(&fields))
    }
}

/// A requirement on one node label (or field): a key, an operator and values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    /// The label key (or field path).
    #[serde(default)]
    pub key: String,
    /// How the key's value relates to `values`.
    #[serde(default)]
    pub operator: NodeSelectorOperator,
    /// Values for `In` and `NotIn` (one or more), `Gt` and `Lt` (exactly one integer);
    /// empty for `Exists` and `DoesNotExist`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub values: Vec<String>,
}

impl NodeSelectorRequirement {
    /// True when the requirement holds for these labels. An invalid requirement (no values
    /// for `In`, values for `Exists`, a non-integer for `Gt`, an unknown operator) does not
    /// hold.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match &self.operator {
            NodeSelectorOperator::In => {
                !self.values.is_empty() && value.is_some_and(|v| self.values.contains(v))
            }
            NodeSelectorOperator::NotIn => {
                !self.values.is_empty() && value.is_none_or(|v| !self.values.contains(v))
            }
            NodeSelectorOperator::Exists => self.values.is_empty() && value.is_some(),
            NodeSelectorOperator::DoesNotExist => self.values.is_empty() && value.is_none(),
            NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
                let [bound] = self.values.as_slice() else {
                    return false;
                };
                let (Ok(bound), Some(Ok(actual))) =
                    (bound.parse::<i64>(), value.map(|v| v.parse::<i64>()))
                else {
                    return false;
                };
                if self.operator == NodeSelectorOperator::Gt {
                    actual > bound
                } else {
                    actual < bound
                }
            }
            NodeSelectorOperator::Other(_) => false,
        }
    }
}

/// The operator of a [`NodeSelectorRequirement`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum NodeSelectorOperator {
    /// The label's value is one of the values.
    #[default]
    In,
    /// The label is missing or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is missing.
    DoesNotExist,
    /// The label's value, as an integer, is greater than the single value.
    Gt,
    /// The label's value, as an integer, is less than the single value.
    Lt,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// A weighted preference for nodes that match a term.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferredSchedulingTerm {
    /// Added to a node's score when the term matches it, 1 to 100.
    #[serde(default)]
    pub weight: i32,
    /// The term nodes are matched against.
    #[serde(default)]
    pub preference: NodeSelectorTerm,
}

/// Pod affinity or anti-affinity: hard and soft rules on the pods already running in a
/// topology domain (a node, a zone...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinity {
    /// Terms that must all hold for a node to be chosen; not re-checked once the pod runs.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    /// Terms that add (affinity) or subtract (anti-affinity) their weight from the score of
    /// the nodes they hold for.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

/// Pod anti-affinity has the same shape as pod affinity; the scheduler reads it inverted.
pub type PodAntiAffinity = PodAffinity;

/// A set of pods (by labels and namespaces) and the topology key that defines "near".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinityTerm {
    /// The pods this term is about; no selector selects no pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Namespaces the pods are looked for in, together with `namespaceSelector`; both
    /// empty means the pod's own namespace.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub namespaces: Vec<String>,
    /// The node label whose value defines a domain (`kubernetes.io/hostname`,
    /// `topology.kubernetes.io/zone`).
    #[serde(default)]
    pub topology_key: String,
    /// Namespaces, by their labels, the pods are looked for in; an empty selector means
    /// every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Label keys of the incoming pod whose values are ANDed into `labelSelector` as
    /// `key in (value)`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub match_label_keys: Vec<String>,
    /// Label keys of the incoming pod whose values are ANDed into `labelSelector` as
    /// `key notin (value)`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub mismatch_label_keys: Vec<String>,
}

/// A weighted [`PodAffinityTerm`] for soft rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeightedPodAffinityTerm {
    /// The weight, 1 to 100.
    #[serde(default)]
    pub weight: i32,
    /// The term.
    #[serde(default)]
    pub pod_affinity_term: PodAffinityTerm,
}

/// A toleration: lets a pod run on (or stay on) nodes with matching taints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    /// The taint key this applies to; empty with `Exists` means every taint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Equal` (the default: values must match) or `Exists` (any value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<TolerationOperator>,
    /// The value the taint must have, for `Equal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The taint effect this applies to; empty means every effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
    /// For `NoExecute`: how long the pod stays once the taint appears; forever when unset,
    /// evicted at once when zero or negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// True when this toleration tolerates the taint, with Kubernetes' rules: the effects
    /// must match unless the toleration's is empty, the keys must match unless the
    /// toleration's is empty, and then `Exists` matches any value while `Equal` (or no
    /// operator) needs the same value.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        let effect_matches = match &self.effect {
            None => true,
            Some(TaintEffect::Other(e)) if e.is_empty() => true,
            Some(effect) => *effect == taint.effect,
        };
        let key = self.key.as_deref().unwrap_or("");
        if !effect_matches || (!key.is_empty() && key != taint.key) {
            return false;
        }
        match &self.operator {
            Some(TolerationOperator::Exists) => true,
            None | Some(TolerationOperator::Equal) => {
                self.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
            Some(TolerationOperator::Other(op)) if op.is_empty() => {
                self.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
            Some(TolerationOperator::Other(_)) => false,
        }
    }

    /// True when any of the tolerations tolerates the taint.
    pub fn any_tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
        tolerations.iter().any(|t| t.tolerates(taint))
    }
}

/// The operator of a [`Toleration`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TolerationOperator {
    /// Any value of the key is tolerated.
    Exists,
    /// Only the given value is tolerated; the default.
    #[default]
    Equal,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// Spreads matching pods evenly across the domains of a topology key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    /// The largest allowed difference between the number of matching pods in a domain and
    /// the global minimum; at least 1.
    #[serde(default)]
    pub max_skew: i32,
    /// The node label whose values are the domains.
    #[serde(default)]
    pub topology_key: String,
    /// What to do when the constraint cannot be met.
    #[serde(default)]
    pub when_unsatisfiable: UnsatisfiableConstraintAction,
    /// The pods counted in each domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// The number of eligible domains below which the global minimum is taken as 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_domains: Option<i32>,
    /// Whether the pod's node affinity and node selector limit the domains counted
    /// (`Honor`, the default, or `Ignore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity_policy: Option<NodeInclusionPolicy>,
    /// Whether node taints limit the domains counted (`Honor` or `Ignore`, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_taints_policy: Option<NodeInclusionPolicy>,
    /// Label keys of the incoming pod whose values are ANDed into `labelSelector`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub match_label_keys: Vec<String>,
}

/// What the scheduler does with a pod whose spread constraint cannot be met.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum UnsatisfiableConstraintAction {
    /// Do not schedule the pod: a hard constraint.
    #[default]
    DoNotSchedule,
    /// Schedule it anyway, preferring nodes that reduce the skew: a soft constraint.
    ScheduleAnyway,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// Whether a topology spread constraint takes node affinity or taints into account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum NodeInclusionPolicy {
    /// Only nodes the pod could go to count.
    #[default]
    Honor,
    /// Every node counts.
    Ignore,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect,
            time_added: None,
        }
    }

    fn toleration(json: serde_json::Value) -> Toleration {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn tolerations_follow_kubernetes_rules() {
        let gpu = taint("gpu", Some("true"), TaintEffect::NoSchedule);
        let cases = [
            // Empty key with Exists tolerates everything.
            (serde_json::json!({"operator": "Exists"}), true),
            (
                serde_json::json!({"key": "gpu", "operator": "Exists"}),
                true,
            ),
            (
                serde_json::json!({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}),
                false,
            ),
            (serde_json::json!({"key": "gpu", "value": "true"}), true),
            (
                serde_json::json!({"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}),
                true,
            ),
            (
                serde_json::json!({"key": "gpu", "operator": "Equal", "value": "false"}),
                false,
            ),
            (
                serde_json::json!({"key": "gpu", "operator": "Equal"}),
                false,
            ),
            (
                serde_json::json!({"key": "disk", "operator": "Exists"}),
                false,
            ),
            (
                serde_json::json!({"key": "gpu", "operator": "Exists", "effect": ""}),
                true,
            ),
            (
                serde_json::json!({"key": "gpu", "operator": "Matches"}),
                false,
            ),
        ];
        for (json, expected) in cases {
            let t = toleration(json.clone());
            assert_eq!(t.tolerates(&gpu), expected, "{json}");
        }
        let no_value = taint("node.kubernetes.io/not-ready", None, TaintEffect::NoExecute);
        let t = toleration(serde_json::json!({
            "key": "node.kubernetes.io/not-ready", "operator": "Exists",
            "effect": "NoExecute", "tolerationSeconds": 300
        }));
        assert!(t.tolerates(&no_value));
        assert!(
            toleration(serde_json::json!({"key": "node.kubernetes.io/not-ready"}))
                .tolerates(&no_value)
        );
        assert!(Toleration::any_tolerates(
            &[toleration(serde_json::json!({"key": "x"})), t],
            &no_value
        ));
        assert!(!Toleration::any_tolerates(&[], &no_value));
    }

    fn requirement(json: serde_json::Value) -> NodeSelectorRequirement {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn node_selector_requirements_follow_kubernetes_rules() {
        let labels = BTreeMap::from([
            ("zone".to_owned(), "a".to_owned()),
            ("cores".to_owned(), "16".to_owned()),
        ]);
        let cases = [
            (
                serde_json::json!({"key": "zone", "operator": "In", "values": ["a", "b"]}),
                true,
            ),
            (
                serde_json::json!({"key": "zone", "operator": "In", "values": ["c"]}),
                false,
            ),
            (
                serde_json::json!({"key": "zone", "operator": "In", "values": []}),
                false,
            ),
            (
                serde_json::json!({"key": "zone", "operator": "NotIn", "values": ["c"]}),
                true,
            ),
            (
                serde_json::json!({"key": "rack", "operator": "NotIn", "values": ["c"]}),
                true,
            ),
            (
                serde_json::json!({"key": "zone", "operator": "NotIn", "values": ["a"]}),
                false,
            ),
            (
                serde_json::json!({"key": "zone", "operator": "Exists"}),
                true,
            ),
            (
                serde_json::json!({"key": "rack", "operator": "Exists"}),
                false,
            ),
            (
                serde_json::json!({"key": "rack", "operator": "DoesNotExist"}),
                true,
            ),
            (
                serde_json::json!({"key": "zone", "operator": "DoesNotExist"}),
                false,
            ),
            (
                serde_json::json!({"key": "cores", "operator": "Gt", "values": ["8"]}),
                true,
            ),
            (
                serde_json::json!({"key": "cores", "operator": "Gt", "values": ["16"]}),
                false,
            ),
            (
                serde_json::json!({"key": "cores", "operator": "Lt", "values": ["32"]}),
                true,
            ),
            (
                serde_json::json!({"key": "cores", "operator": "Lt", "values": ["x"]}),
                false,
            ),
            (
                serde_json::json!({"key": "zone", "operator": "Gt", "values": ["1"]}),
                false,
            ),
            (
                serde_json::json!({"key": "rack", "operator": "Lt", "values": ["1"]}),
                false,
            ),
            (
                serde_json::json!({"key": "zone", "operator": "Near", "values": ["a"]}),
                false,
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(
                requirement(json.clone()).matches(&labels),
                expected,
                "{json}"
            );
        }
    }

    #[test]
    fn node_selectors_or_their_terms_and_and_their_requirements() {
        let labels = BTreeMap::from([("zone".to_owned(), "a".to_owned())]);
        let selector: NodeSelector = serde_json::from_value(serde_json::json!({
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "Exists"}],
                 "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}
            ]
        }))
        .unwrap();
        assert!(selector.matches(&labels, "node-1"));
        assert!(!selector.matches(&labels, "node-2"));
        assert!(!NodeSelectorTerm::default().matches(&labels, "node-1"));
        assert!(!NodeSelector::default().matches(&labels, "node-1"));
    }

    #[test]
    fn enums_keep_unknown_values_and_have_schemas() {
        let op: NodeSelectorOperator = serde_json::from_str(r#""DoesNotExist""#).unwrap();
        assert_eq!(op, NodeSelectorOperator::DoesNotExist);
        let w: UnsatisfiableConstraintAction = serde_json::from_str(r#""Maybe""#).unwrap();
        assert_eq!(serde_json::to_string(&w).unwrap(), r#""Maybe""#);
        let schema = serde_json::to_value(schemars::schema_for!(Affinity)).unwrap();
        assert!(schema["properties"]["nodeAffinity"].is_object());
        let schema = serde_json::to_value(schemars::schema_for!(TopologySpreadConstraint)).unwrap();
        assert!(schema["properties"]["whenUnsatisfiable"].is_object());
    }
}
