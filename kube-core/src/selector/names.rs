//! Validation of label keys and values and of object names, with Kubernetes' messages
//! (`k8s.io/apimachinery/pkg/util/validation`).
//!
//! Each function returns the reasons a string is invalid, empty when it is valid.

const QUALIFIED_NAME_MAX: usize = 63;
const LABEL_VALUE_MAX: usize = 63;
const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and \
                                  must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
                               characters, '-', '_' or '.', and must start and end with an \
                               alphanumeric character";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case \
                                 alphanumeric characters or '-', and must start and end with an \
                                 alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
                                     alphanumeric characters, '-' or '.', and must start and end \
                                     with an alphanumeric character";

fn max_len_error(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// Kubernetes' `RegexError`: the message, examples, and the pattern checked.
fn regex_error(msg: &str, pattern: &str, examples: &[&str]) -> String {
    let mut out = format!("{msg} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(example);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(pattern);
    out.push_str("')");
    out
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`: the name part of a qualified name.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_dns1123_label_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && b.iter().all(|c| alnum(c) || *c == b'-')
        }
        _ => false,
    }
}

fn is_dns1123_subdomain_syntax(s: &str) -> bool {
    s.split('.').all(is_dns1123_label_syntax)
}

/// True when `key` is a valid label key; [`validate_label_key`] without allocating.
pub(crate) fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(|p| p.len() <= DNS1123_SUBDOMAIN_MAX && is_dns1123_subdomain_syntax(p))
        && name.len() <= QUALIFIED_NAME_MAX
        && is_qualified_name_part(name)
}

/// True when `value` is a valid label value; [`validate_label_value`] without allocating.
pub(crate) fn is_label_value(value: &str) -> bool {
    value.is_empty() || (value.len() <= LABEL_VALUE_MAX && is_qualified_name_part(value))
}

/// Why `key` is not a valid label or annotation key (a qualified name: an optional DNS-1123
/// subdomain prefix of at most 253 characters and `/`, then a name of at most 63
/// alphanumeric characters, `-`, `_` or `.`, alphanumeric at both ends). Empty when valid.
///
/// ```
/// use kube_core::selector::validate_label_key;
///
/// assert!(validate_label_key("app.kubernetes.io/name").is_empty());
/// assert_eq!(validate_label_key("a/b/c").len(), 1);
/// ```
pub fn validate_label_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                errs.extend(
                    validate_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. \
                 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > QUALIFIED_NAME_MAX {
        errs.push(format!("name part {}", max_len_error(QUALIFIED_NAME_MAX)));
    }
    if !is_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Why `value` is not a valid label value (empty, or at most 63 alphanumeric characters,
/// `-`, `_` or `.`, alphanumeric at both ends). Empty when valid.
///
/// ```
/// use kube_core::selector::validate_label_value;
///
/// assert!(validate_label_value("").is_empty());
/// assert!(validate_label_value("v1.2_rc-3").is_empty());
/// assert!(!validate_label_value("-x").is_empty());
/// ```
pub fn validate_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX {
        errs.push(max_len_error(LABEL_VALUE_MAX));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Why `value` is not a DNS-1123 subdomain (the names of most objects: at most 253
/// characters, dot-separated lowercase labels). Empty when valid.
///
/// ```
/// use kube_core::selector::validate_dns1123_subdomain;
///
/// assert!(validate_dns1123_subdomain("web-0.example.com").is_empty());
/// assert!(!validate_dns1123_subdomain("Web").is_empty());
/// ```
pub fn validate_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX));
    }
    if !is_dns1123_subdomain_syntax(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Why `value` is not a DNS-1123 label (the names of namespaces, services and nodes'
/// labels: at most 63 lowercase alphanumeric characters or `-`, alphanumeric at both
/// ends). Empty when valid.
///
/// ```
/// use kube_core::selector::validate_dns1123_label;
///
/// assert!(validate_dns1123_label("kube-system").is_empty());
/// assert_eq!(validate_dns1123_label("a.b"), vec!["must not contain dots".to_owned()]);
/// ```
pub fn validate_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX {
        errs.push(max_len_error(DNS1123_LABEL_MAX));
    }
    if !is_dns1123_label_syntax(value) {
        if is_dns1123_subdomain_syntax(value) {
            // A valid subdomain but not a label: the length was checked, so it is the dots.
            errs.push("must not contain dots".to_owned());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        let long_name = "a".repeat(63);
        let too_long_name = "a".repeat(64);
        let long_prefix = format!("{}.com/a", "a".repeat(249));
        let too_long_prefix = format!("{}.com/a", "a".repeat(250));
        for good in [
            "a",
            "A",
            "app",
            "a-b_c.d",
            "1",
            "app.kubernetes.io/name",
            "example.com/MyName",
            "k8s.io/x",
            &long_name,
            &long_prefix,
        ] {
            assert!(validate_label_key(good).is_empty(), "{good}");
            assert!(is_label_key(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a b",
            "a/b/c",
            "/a",
            "a/",
            "Example.com/a",
            "ex_ample.com/a",
            ".a",
            "a@b",
            "é",
            &too_long_name,
            &too_long_prefix,
        ] {
            assert!(!validate_label_key(bad).is_empty(), "{bad:?}");
            assert!(!is_label_key(bad), "{bad:?}");
        }
        assert_eq!(
            validate_label_key(&too_long_name),
            vec!["name part must be no more than 63 characters".to_owned()]
        );
        assert_eq!(
            validate_label_key("/a"),
            vec!["prefix part must be non-empty".to_owned()]
        );
        assert_eq!(
            validate_label_key("a-")[0],
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start \
             and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
             '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(validate_label_key("").len(), 2);
        assert!(validate_label_key("a/b/c")[0].starts_with("a qualified name must consist"));
        assert!(
            validate_label_key("Example.com/a")[0]
                .starts_with("prefix part a lowercase RFC 1123 subdomain")
        );
    }

    #[test]
    fn label_values() {
        let long = "v".repeat(63);
        for good in ["", "a", "1", "a.b-c_d", "MyValue", &long] {
            assert!(validate_label_value(good).is_empty(), "{good}");
            assert!(is_label_value(good), "{good}");
        }
        let too_long = "v".repeat(64);
        for bad in ["-a", "a-", "_", "a b", "a/b", "a,b", "é", &too_long] {
            assert!(!validate_label_value(bad).is_empty(), "{bad:?}");
            assert!(!is_label_value(bad), "{bad:?}");
        }
        assert_eq!(
            validate_label_value(&too_long),
            vec!["must be no more than 63 characters".to_owned()]
        );
        assert!(
            validate_label_value("a b")[0].starts_with("a valid label must be an empty string")
        );
    }

    #[test]
    fn dns_names() {
        for good in ["a", "a-b", "0", "web-0", "a.b.c"] {
            assert!(validate_dns1123_subdomain(good).is_empty(), "{good}");
        }
        for bad in [
            "",
            "A",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "a_b",
            &"a".repeat(254),
        ] {
            assert!(!validate_dns1123_subdomain(bad).is_empty(), "{bad:?}");
        }
        for good in ["a", "a-b", "0abc", &"a".repeat(63)] {
            assert!(validate_dns1123_label(good).is_empty(), "{good}");
        }
        for bad in ["", "A", "-a", "a-", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!validate_dns1123_label(bad).is_empty(), "{bad:?}");
        }
        assert_eq!(
            validate_dns1123_label(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_owned()]
        );
        assert!(validate_dns1123_label("A")[0].starts_with("a lowercase RFC 1123 label"));
    }
}
