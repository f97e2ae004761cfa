//! A label selector compiled once per scheduling cycle, for the loops over every pod of
//! the cluster that InterPodAffinity and PodTopologySpread run.

use std::collections::BTreeMap;

use kube_core::LabelSelector;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// A compiled [`LabelSelector`]. `None` in the API (no selector) matches nothing; an
/// empty selector matches everything; an unknown operator matches nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSelector {
    nothing: bool,
    reqs: Vec<(String, Op)>,
}

impl PodSelector {
    /// Compiles an optional selector.
    pub fn new(sel: Option<&LabelSelector>) -> Self {
        let Some(sel) = sel else {
            return Self::nothing();
        };
        let mut reqs: Vec<(String, Op)> = sel
            .match_labels
            .iter()
            .map(|(k, v)| (k.clone(), Op::In(vec![v.clone()])))
            .collect();
        for e in &sel.match_expressions {
            let op = match e.operator.as_str() {
                "In" => Op::In(e.values.clone()),
                "NotIn" => Op::NotIn(e.values.clone()),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                _ => return Self::nothing(),
            };
            reqs.push((e.key.clone(), op));
        }
        Self {
            nothing: false,
            reqs,
        }
    }

    /// Matches nothing.
    pub fn nothing() -> Self {
        Self {
            nothing: true,
            reqs: Vec::new(),
        }
    }

    /// Adds `key In [value]` (used for `matchLabelKeys`).
    pub fn require(&mut self, key: &str, value: &str) {
        self.reqs
            .push((key.to_owned(), Op::In(vec![value.to_owned()])));
    }

    /// True when the labels satisfy every requirement.
    #[inline]
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        if self.nothing {
            return false;
        }
        self.reqs.iter().all(|(k, op)| {
            let v = labels.get(k);
            match op {
                Op::In(vals) => v.is_some_and(|v| vals.iter().any(|x| x == v)),
                Op::NotIn(vals) => v.is_none_or(|v| !vals.iter().any(|x| x == v)),
                Op::Exists => v.is_some(),
                Op::DoesNotExist => v.is_none(),
            }
        })
    }
}

/// Matches a selector as written, without compiling it (no allocation): for the terms of
/// pods already placed, read once per cycle.
#[inline]
pub fn selector_matches(sel: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(sel) = sel else {
        return false;
    };
    sel.match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && sel.match_expressions.iter().all(|e| {
            let v = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => v.is_some_and(|v| e.values.iter().any(|x| x == v)),
                "NotIn" => v.is_none_or(|v| !e.values.iter().any(|x| x == v)),
                "Exists" => v.is_some(),
                "DoesNotExist" => v.is_none(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_core::LabelSelectorRequirement;

    #[test]
    fn selector_semantics() {
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        assert!(!PodSelector::new(None).matches(&labels));
        assert!(PodSelector::new(Some(&LabelSelector::default())).matches(&labels));
        let sel = LabelSelector {
            match_labels: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
            match_expressions: vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "DoesNotExist".into(),
                values: vec![],
            }],
        };
        assert!(PodSelector::new(Some(&sel)).matches(&labels));
        let mut s = PodSelector::new(Some(&sel));
        s.require("rev", "1");
        assert!(!s.matches(&labels));
        let bad = LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: "Near".into(),
                values: vec![],
            }],
            ..LabelSelector::default()
        };
        assert!(!PodSelector::new(Some(&bad)).matches(&labels));
    }
}
