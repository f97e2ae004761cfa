//! Validation shared by every kind: names (DNS-1123), labels, annotations, metadata.

use kube_core::StatusCause;
use serde_json::Value;

use super::selector::{check_key, check_value};

/// True for a DNS-1123 label: up to 63 lower-case alphanumerics or `-`, starting and
/// ending alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// True for a DNS-1123 subdomain: dot-separated DNS labels, up to 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// How a kind's names are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// A DNS-1123 subdomain (most kinds).
    Subdomain,
    /// A DNS-1123 label (namespaces, services).
    Label,
    /// Any name without `/` or `%`, not `.` or `..` (RBAC kinds).
    PathSegment,
}

impl NameRule {
    /// The cause when `name` breaks the rule.
    pub fn check(self, name: &str, field: &str) -> Option<StatusCause> {
        let ok = match self {
            Self::Subdomain => is_dns_subdomain(name),
            Self::Label => is_dns_label(name),
            Self::PathSegment => {
                !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
            }
        };
        (!ok).then(|| {
            let what = match self {
                Self::Subdomain => "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                Self::Label => "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                Self::PathSegment => "may not be '.' or '..' and may not contain '/' or '%'",
            };
            StatusCause::new("FieldValueInvalid", field, format!("Invalid value: {name:?}: {what}"))
        })
    }
}

/// A `FieldValueRequired` cause.
pub fn required(field: &str) -> StatusCause {
    StatusCause::new("FieldValueRequired", field, "Required value")
}

/// A `FieldValueInvalid` cause.
pub fn invalid(field: &str, value: &Value, why: &str) -> StatusCause {
    StatusCause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {value}: {why}"),
    )
}

/// A `FieldValueNotSupported` cause.
pub fn not_supported(field: &str, value: &Value, allowed: &[&str]) -> StatusCause {
    StatusCause::new(
        "FieldValueNotSupported",
        field,
        format!(
            "Unsupported value: {value}: supported values: {}",
            allowed
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// An immutable-field cause.
pub fn immutable(field: &str) -> StatusCause {
    StatusCause::new("FieldValueInvalid", field, "field is immutable")
}

/// Validates the metadata every object shares: name, labels, annotations, and, on update,
/// that uid and creationTimestamp are unchanged.
pub fn validate_meta(obj: &Value, old: Option<&Value>, rule: NameRule) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let meta = obj.get("metadata");
    match meta.and_then(|m| m.get("name")).and_then(Value::as_str) {
        Some(name) if !name.is_empty() => causes.extend(rule.check(name, "metadata.name")),
        _ => causes.push(StatusCause::new(
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required",
        )),
    }
    if let Some(labels) = meta.and_then(|m| m.get("labels")) {
        match labels.as_object() {
            Some(map) => {
                for (k, v) in map {
                    if let Err(e) = check_key(k) {
                        causes.push(invalid("metadata.labels", &Value::String(k.clone()), &e));
                    }
                    match v.as_str() {
                        Some(s) => {
                            if let Err(e) = check_value(s) {
                                causes.push(invalid("metadata.labels", v, &e));
                            }
                        }
                        None => causes.push(invalid("metadata.labels", v, "must be a string")),
                    }
                }
            }
            None if labels.is_null() => {}
            None => causes.push(invalid(
                "metadata.labels",
                labels,
                "must be a map of strings",
            )),
        }
    }
    if let Some(ann) = meta.and_then(|m| m.get("annotations")) {
        match ann.as_object() {
            Some(map) => {
                let mut total = 0;
                for (k, v) in map {
                    total += k.len() + v.as_str().map_or(0, str::len);
                    if let Err(e) = check_key(k) {
                        causes.push(invalid(
                            "metadata.annotations",
                            &Value::String(k.clone()),
                            &e,
                        ));
                    }
                    if !v.is_string() {
                        causes.push(invalid("metadata.annotations", v, "must be a string"));
                    }
                }
                if total > 256 * 1024 {
                    causes.push(StatusCause::new(
                        "FieldValueTooLong",
                        "metadata.annotations",
                        "Too long: must have at most 262144 bytes",
                    ));
                }
            }
            None if ann.is_null() => {}
            None => causes.push(invalid(
                "metadata.annotations",
                ann,
                "must be a map of strings",
            )),
        }
    }
    if let Some(old) = old {
        for field in ["uid", "creationTimestamp"] {
            let a = old.get("metadata").and_then(|m| m.get(field));
            let b = meta.and_then(|m| m.get(field));
            if b.is_some() && a != b {
                causes.push(immutable(&format!("metadata.{field}")));
            }
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns_label("web-1"));
        assert!(!is_dns_label("Web"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_dns_subdomain("a.b-c.d"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(NameRule::PathSegment.check("system:admin", "x").is_none());
        assert!(NameRule::PathSegment.check("a/b", "x").is_some());
    }

    #[test]
    fn metadata_causes_name_the_field() {
        let causes = validate_meta(
            &json!({"metadata": {"name": "Bad_Name", "labels": {"ok": "v", "bad key!": "v", "k": "bad value"}}}),
            None,
            NameRule::Subdomain,
        );
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["metadata.name", "metadata.labels", "metadata.labels"]
        );
        assert_eq!(
            validate_meta(&json!({"metadata": {}}), None, NameRule::Label)[0].reason,
            "FieldValueRequired"
        );
        let old = json!({"metadata": {"name": "a", "uid": "1"}});
        let new = json!({"metadata": {"name": "a", "uid": "2"}});
        assert_eq!(
            validate_meta(&new, Some(&old), NameRule::Label)[0].message,
            "field is immutable"
        );
    }
}
