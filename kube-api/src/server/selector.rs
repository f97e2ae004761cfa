//! Label and field selectors as they arrive in query strings, parsed and matched against
//! objects as JSON.

use kube_core::Error;
use serde_json::Value;

use super::object::{field_value, labels};

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector (`app=web,tier in (a,b),!canary`); empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    reqs: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the string form of a label selector.
    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::BadRequest(format!(
                "unable to parse requirement: {why} in label selector {s:?}"
            ))
        };
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(check_key(key.trim()).map_err(|e| bad(&e))?)
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEq(
                    check_key(k.trim()).map_err(|e| bad(&e))?,
                    check_value(v.trim()).map_err(|e| bad(&e))?,
                )
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Eq(
                    check_key(k.trim()).map_err(|e| bad(&e))?,
                    check_value(v.trim()).map_err(|e| bad(&e))?,
                )
            } else if let Some((k, set)) = split_set(part, " notin ") {
                Requirement::NotIn(
                    check_key(k).map_err(|e| bad(&e))?,
                    parse_set(set).map_err(|e| bad(&e))?,
                )
            } else if let Some((k, set)) = split_set(part, " in ") {
                Requirement::In(
                    check_key(k).map_err(|e| bad(&e))?,
                    parse_set(set).map_err(|e| bad(&e))?,
                )
            } else {
                Requirement::Exists(check_key(part).map_err(|e| bad(&e))?)
            };
            reqs.push(req);
        }
        Ok(Self { reqs })
    }

    /// True when the selector has no requirement.
    pub(crate) fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// True when the object's labels satisfy every requirement.
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        let labels = labels(obj);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn split_set<'a>(part: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let (k, rest) = part.split_once(op)?;
    Some((k.trim(), rest.trim()))
}

fn parse_set(s: &str) -> Result<Vec<String>, String> {
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set, found {s:?}"))?;
    inner.split(',').map(|v| check_value(v.trim())).collect()
}

/// Checks a label key: an optional DNS subdomain prefix and a name of up to 63 characters.
pub(crate) fn check_key(k: &str) -> Result<String, String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        if p.is_empty() || p.len() > 253 || !super::validation::is_dns_subdomain(p) {
            return Err(format!("invalid label key prefix {p:?}"));
        }
    }
    if name.is_empty() || name.len() > 63 || !is_label_chars(name) {
        return Err(format!("invalid label key {k:?}"));
    }
    Ok(k.to_owned())
}

/// Checks a label value: empty, or up to 63 alphanumerics, `-`, `_`, `.`, starting and
/// ending alphanumeric.
pub(crate) fn check_value(v: &str) -> Result<String, String> {
    if v.is_empty() || (v.len() <= 63 && is_label_chars(v)) {
        Ok(v.to_owned())
    } else {
        Err(format!("invalid label value {v:?}"))
    }
}

fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A parsed field selector (`metadata.name=web,status.phase!=Running`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses a field selector, accepting only `allowed` fields (plus `metadata.name` and
    /// `metadata.namespace`); any other field is a 400.
    pub(crate) fn parse(s: &str, allowed: &[String]) -> Result<Self, Error> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, eq, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(Error::BadRequest(format!(
                    "invalid selector: {part:?}; can't understand {part:?}"
                )));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace")
                && !allowed.iter().any(|a| a == field)
            {
                return Err(Error::BadRequest(format!(
                    "field label not supported: {field}"
                )));
            }
            reqs.push((field.to_owned(), eq, value.trim().to_owned()));
        }
        Ok(Self { reqs })
    }

    /// True when the selector has no requirement.
    pub(crate) fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// The name an equality on `metadata.name` pins, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.reqs
            .iter()
            .find(|(f, eq, _)| *eq && f == "metadata.name")
            .map(|(_, _, v)| v.as_str())
    }

    /// The value an equality on `field` pins, if any.
    pub(crate) fn equal_to(&self, field: &str) -> Option<&str> {
        self.reqs
            .iter()
            .find(|(f, eq, _)| *eq && f == field)
            .map(|(_, _, v)| v.as_str())
    }

    /// Whether an object satisfies every requirement, from the fields `known` gives
    /// without decoding it; `None` when a requirement is on a field it does not know.
    pub(crate) fn matches_known<'a>(
        &self,
        known: impl Fn(&str) -> Option<&'a str>,
    ) -> Option<bool> {
        let mut all = true;
        for (f, eq, v) in &self.reqs {
            all &= (known(f)? == v) == *eq;
        }
        Some(all)
    }

    /// True when the object satisfies every requirement.
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        self.reqs
            .iter()
            .all(|(f, eq, v)| (field_value(obj, f) == *v) == *eq)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn label_selectors_match_like_kubernetes() {
        let pod = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("tier in (front, back)", true),
            ("tier notin (front)", false),
            ("canary", false),
            ("!canary", true),
            ("app,!tier", false),
            ("example.com/x notin (a)", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&pod),
                want,
                "{sel}"
            );
        }
        for bad in ["app=we b", "tier in front", "-x=y", "a/b/c=d"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors_check_their_fields() {
        let pod = json!({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"nodeName": "n1"}});
        let allowed = vec!["spec.nodeName".to_owned()];
        let s = FieldSelector::parse("spec.nodeName=n1,metadata.name!=b", &allowed).unwrap();
        assert!(s.matches(&pod));
        assert!(
            !FieldSelector::parse("spec.nodeName=", &allowed)
                .unwrap()
                .matches(&pod)
        );
        assert_eq!(
            FieldSelector::parse("metadata.name=a", &allowed)
                .unwrap()
                .name(),
            Some("a")
        );
        let known = |f: &str| (f == "spec.nodeName").then_some("n1");
        assert_eq!(s.matches_known(known), None, "metadata.name is not known");
        let on_node = |n: &str| {
            FieldSelector::parse(n, &allowed)
                .unwrap()
                .matches_known(known)
        };
        assert_eq!(on_node("spec.nodeName=n1"), Some(true));
        assert_eq!(on_node("spec.nodeName=n2"), Some(false));
        assert_eq!(on_node("spec.nodeName!=n2"), Some(true));
        assert_eq!(on_node("spec.nodeName="), Some(false));
        let err = FieldSelector::parse("spec.bogus=x", &allowed).unwrap_err();
        assert_eq!(err.code(), 400);
        assert!(FieldSelector::parse("nonsense", &allowed).is_err());
    }
}
