//! Helpers over objects as JSON values: metadata access, resourceVersion injection, paths,
//! and an object's namespace and name from its store key.

use kube_core::{Error, Revision};
use serde_json::{Map, Value};

use super::kinds::KindSpec;

/// A string field of `metadata`.
pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// The `metadata` map, created when missing (and replacing a non-object).
pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("just made an object"));
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
        .unwrap_or_else(|| unreachable!("just made an object"))
}

/// Sets or removes (with `Value::Null`) a metadata field.
pub(crate) fn set_meta(obj: &mut Value, field: &str, value: Value) {
    let meta = meta_mut(obj);
    if value.is_null() {
        meta.remove(field);
    } else {
        meta.insert(field.to_owned(), value);
    }
}

/// The namespace (for a namespaced kind) and name of an object, read from its store key
/// (`/registry/{group}/{plural}/{namespace}/{name}`) rather than from its JSON.
pub(crate) fn split_key<'k>(kind: &KindSpec, key: &'k str) -> Option<(Option<&'k str>, &'k str)> {
    let rest = key.strip_prefix(kind.key_prefix().as_str())?;
    if kind.resource.namespaced {
        let (ns, name) = rest.split_once('/')?;
        Some((Some(ns), name))
    } else {
        Some((None, rest))
    }
}

/// The labels of an object.
pub(crate) fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.get("labels")?.as_object()
}

/// The finalizers of an object.
pub(crate) fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The value at a dotted path such as `.spec.replicas` or `spec.nodeName`.
pub(crate) fn at_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
    {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Sets the value at a dotted path, creating objects on the way.
pub(crate) fn set_path(obj: &mut Value, path: &str, value: Value) {
    let segs: Vec<&str> = path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect();
    let mut cur = obj;
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == segs.len() {
            map.insert((*seg).to_owned(), value);
            return;
        }
        cur = map
            .entry((*seg).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// A field selector value of an object: strings as they are, numbers and booleans printed,
/// missing fields as the empty string (as Kubernetes' field sets do).
pub(crate) fn field_value(obj: &Value, path: &str) -> String {
    match at_path(obj, path) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Decodes a stored value and sets its resourceVersion.
pub(crate) fn decode_stored(bytes: &[u8], revision: Revision) -> Result<Value, Error> {
    let mut obj: Value = kube_core::wire::from_json(bytes).map_err(|e| Error::Internal {
        message: format!("decoding a stored object failed: {e}"),
        source: Some(Box::new(e)),
    })?;
    set_revision(&mut obj, revision);
    Ok(obj)
}

/// Sets an object's resourceVersion to a store revision.
pub(crate) fn set_revision(obj: &mut Value, revision: Revision) {
    set_meta(obj, "resourceVersion", Value::String(revision.to_string()));
}

/// Encodes an object for the store, without its resourceVersion.
pub(crate) fn encode_for_store(obj: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(1024);
    serde_json::to_writer(&mut out, &WithoutResourceVersion(obj)).map_err(|e| Error::Internal {
        message: format!("encoding an object failed: {e}"),
        source: Some(Box::new(e)),
    })?;
    Ok(out)
}

/// An object as written to the store: `metadata.resourceVersion` left out, without
/// copying the object (this runs on every write).
struct WithoutResourceVersion<'a>(&'a Value);

/// A `metadata` map without its `resourceVersion`.
struct MetaWithoutResourceVersion<'a>(&'a Map<String, Value>);

impl serde::Serialize for WithoutResourceVersion<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let Value::Object(map) = self.0 else {
            return self.0.serialize(s);
        };
        let mut m = s.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            match (k.as_str(), v) {
                ("metadata", Value::Object(meta)) => {
                    m.serialize_entry(k, &MetaWithoutResourceVersion(meta))?;
                }
                _ => m.serialize_entry(k, v)?,
            }
        }
        m.end()
    }
}

impl serde::Serialize for MetaWithoutResourceVersion<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let len = self.0.len() - usize::from(self.0.contains_key("resourceVersion"));
        let mut m = s.serialize_map(Some(len))?;
        for (k, v) in self.0 {
            if k != "resourceVersion" {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// Parses a resourceVersion; empty is `None`.
pub(crate) fn parse_rv(rv: &str) -> Result<Option<Revision>, Error> {
    if rv.is_empty() {
        return Ok(None);
    }
    rv.parse::<Revision>()
        .map(Some)
        .map_err(|_| Error::BadRequest(format!("invalid resource version {rv:?}")))
}

/// The top-level fields a `generation` does not count changes of, when the status is
/// written apart (through its subresource).
pub(crate) const NOT_SPEC: &[&str] = &["metadata", "status", "apiVersion", "kind"];

/// Whether two objects are equal in every top-level field but those in `skip`, compared
/// in place (nothing is copied: this runs on every update of a kind with a generation).
pub(crate) fn equal_except<'a>(a: &'a Value, b: &'a Value, skip: &[&str]) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let kept =
                |m: &'a Map<String, Value>| m.iter().filter(|(k, _)| !skip.contains(&k.as_str()));
            kept(a).count() == kept(b).count() && kept(a).all(|(k, v)| b.get(k) == Some(v))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_compare_but_for_the_skipped_fields() {
        let a = json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "status": {"s": 1}});
        let b = json!({"metadata": {"name": "b"}, "spec": {"x": 1}});
        assert!(equal_except(&a, &b, NOT_SPEC));
        assert!(!equal_except(&a, &b, &["metadata"]), "the status differs");
        let c = json!({"metadata": {}, "spec": {"x": 2}});
        assert!(!equal_except(&a, &c, NOT_SPEC));
        let d = json!({"metadata": {}, "spec": {"x": 1}, "extra": true});
        assert!(!equal_except(&a, &d, NOT_SPEC), "a field only one has");
        assert!(!equal_except(&d, &a, NOT_SPEC), "either way");
    }

    #[test]
    fn paths_read_and_write() {
        let mut v = json!({"spec": {"replicas": 3, "containers": [{"name": "a"}]}});
        assert_eq!(at_path(&v, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(at_path(&v, "spec.containers.0.name"), Some(&json!("a")));
        set_path(&mut v, ".status.replicas", json!(2));
        assert_eq!(field_value(&v, "status.replicas"), "2");
        assert_eq!(field_value(&v, "status.nope"), "");
        set_meta(&mut v, "name", json!("x"));
        assert_eq!(meta_str(&v, "name"), Some("x"));
    }

    #[test]
    fn keys_give_namespace_and_name() {
        use kube_core::ApiResource;
        let pods = KindSpec::new(ApiResource::new("", "v1", "Pod", "pods", true));
        let nodes = KindSpec::new(ApiResource::new("", "v1", "Node", "nodes", false));
        let roles = KindSpec::new(ApiResource::new(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        ));
        assert_eq!(
            split_key(&pods, "/registry/pods/default/web"),
            Some((Some("default"), "web"))
        );
        assert_eq!(split_key(&nodes, "/registry/nodes/n1"), Some((None, "n1")));
        assert_eq!(
            split_key(
                &roles,
                "/registry/rbac.authorization.k8s.io/clusterroles/admin"
            ),
            Some((None, "admin"))
        );
        assert_eq!(split_key(&pods, "/registry/nodes/n1"), None);
        assert_eq!(split_key(&pods, "/registry/pods/no-name"), None);
    }

    #[test]
    fn stored_objects_carry_their_revision() {
        let v = json!({"metadata": {"name": "a", "resourceVersion": "9"}});
        let bytes = encode_for_store(&v).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        let back = decode_stored(&bytes, 12).unwrap();
        assert_eq!(meta_str(&back, "resourceVersion"), Some("12"));
        assert!(parse_rv("x").is_err());
        assert_eq!(parse_rv("").unwrap(), None);
    }
}
