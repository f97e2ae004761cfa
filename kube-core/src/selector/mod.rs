//! Label and field selectors, and the validation of label keys, label values and names.
//!
//! - [`LabelSelector`] and [`LabelSelectorRequirement`]: the wire form (`metav1.LabelSelector`)
//!   found in specs, with [`LabelSelector::matches`] and a conversion to [`Selector`].
//! - [`Selector`]: a parsed label selector in Kubernetes' string syntax
//!   (`app=web,tier in (db,cache),!canary,replicas>2`), as the `labelSelector` query
//!   parameter carries it; evaluates against label maps.
//! - [`FieldSelector`]: the `fieldSelector` query parameter (`spec.nodeName=n1`).
//! - [`validate_label_key`], [`validate_label_value`], [`validate_dns1123_subdomain`] and
//!   [`validate_dns1123_label`]: Kubernetes' validation rules and messages.
//!
//! ```
//! use std::collections::BTreeMap;
//! use kube_core::selector::{LabelSelector, Selector};
//!
//! let spec = LabelSelector::from_match_labels([("app", "web")]);
//! let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
//! assert!(spec.matches(&labels));
//!
//! let sel: Selector = spec.to_selector().unwrap();
//! assert_eq!(sel.to_string(), "app=web");
//! assert_eq!(sel, "app==web".parse().unwrap());
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod error;
mod field;
mod label;
mod names;

pub use error::{Location, SelectorError};
pub use field::{FieldOperator, FieldRequirement, FieldSelector, escape_value};
pub use label::{Operator, Requirement, Selector};
pub use names::{
    validate_dns1123_label, validate_dns1123_subdomain, validate_label_key, validate_label_value,
};

use names::{is_label_key, is_label_value};

/// `metav1.LabelSelector`: matchLabels and matchExpressions, all of which must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// Expressions that must all hold.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One expression of a [`LabelSelector`]: a key, an operator and values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values for `In` and `NotIn`; empty for the others.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// The selector requiring exactly these labels (`matchLabels` only).
    pub fn from_match_labels<K, V>(labels: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            match_labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// True when the selector has neither labels nor expressions: it matches everything.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// The parsed form (Kubernetes' `LabelSelectorAsSelector`): an empty selector is
    /// [`Selector::everything`]; an unknown operator, a bad key or value, or values that do
    /// not suit the operator is an error.
    pub fn to_selector(&self) -> Result<Selector, SelectorError> {
        Selector::try_from(self)
    }

    /// Whether a label set satisfies every label and expression. An invalid selector
    /// matches nothing. Allocation-free.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// [`LabelSelector::matches`] with labels looked up by `get` (`None` when absent).
    pub fn matches_with<'a, F>(&self, get: F) -> bool
    where
        F: Fn(&str) -> Option<&'a str>,
    {
        let labels_hold = self
            .match_labels
            .iter()
            .all(|(k, v)| is_label_key(k) && is_label_value(v) && get(k) == Some(v.as_str()));
        labels_hold
            && self.match_expressions.iter().all(|e| {
                if !is_label_key(&e.key) || !e.values.iter().all(|v| is_label_value(v)) {
                    return false;
                }
                let actual = get(&e.key);
                let has = |v: &str| e.values.iter().any(|x| x == v);
                match e.operator.as_str() {
                    "In" => !e.values.is_empty() && actual.is_some_and(has),
                    "NotIn" => !e.values.is_empty() && actual.is_none_or(|v| !has(v)),
                    "Exists" => e.values.is_empty() && actual.is_some(),
                    "DoesNotExist" => e.values.is_empty() && actual.is_none(),
                    _ => false,
                }
            })
    }
}

impl TryFrom<&LabelSelector> for Selector {
    type Error = SelectorError;

    fn try_from(spec: &LabelSelector) -> Result<Self, Self::Error> {
        let mut requirements =
            Vec::with_capacity(spec.match_labels.len() + spec.match_expressions.len());
        for (key, value) in &spec.match_labels {
            requirements.push(Requirement::build(
                key.clone(),
                Operator::Equals,
                vec![value.clone()],
                &Location::Field(format!("matchLabels[{key}]")),
            )?);
        }
        for (i, expr) in spec.match_expressions.iter().enumerate() {
            let location = Location::Field(format!("matchExpressions[{i}]"));
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                _ => {
                    return Err(SelectorError::UnknownOperator {
                        operator: expr.operator.clone(),
                        location,
                    });
                }
            };
            requirements.push(Requirement::build(
                expr.key.clone(),
                operator,
                expr.values.clone(),
                &location,
            )?);
        }
        Ok(Self::from_requirements(requirements))
    }
}

impl TryFrom<LabelSelector> for Selector {
    type Error = SelectorError;

    fn try_from(spec: LabelSelector) -> Result<Self, Self::Error> {
        Self::try_from(&spec)
    }
}
