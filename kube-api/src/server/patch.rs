//! Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes' strategic
//! merge patch, with the merge keys of each kind and the `$patch`, `$retainKeys`,
//! `$setElementOrder` and `$deleteFromPrimitiveList` directives kubectl sends.

use kube_core::Error;
use serde_json::{Map, Value};

use super::kinds::{KindSpec, MergeStrategy};

/// The kinds of patch the server accepts, by content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a content type.
    pub(crate) fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

/// Applies a patch of the given type to `original`.
pub(crate) fn apply(
    kind: &KindSpec,
    type_: PatchType,
    original: &Value,
    patch: &Value,
) -> Result<Value, Error> {
    match type_ {
        PatchType::Json => json_patch(original, patch),
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(bad("a merge patch must be a JSON object"));
            }
            let mut out = original.clone();
            merge_patch(&mut out, patch);
            Ok(out)
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(bad("a strategic merge patch must be a JSON object"));
            }
            let mut out = original.clone();
            strategic(kind, &mut out, patch, "")?;
            Ok(out)
        }
        PatchType::Apply => Err(Error::UnsupportedMediaType(
            "server-side apply (application/apply-patch+yaml) is not supported; use client-side apply".into(),
        )),
    }
}

/// RFC 7386: objects merge recursively, `null` removes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(ptr: &str) -> Result<Vec<String>, Error> {
    if ptr.is_empty() {
        return Ok(Vec::new());
    }
    let rest = ptr
        .strip_prefix('/')
        .ok_or_else(|| bad(format!("invalid JSON pointer {ptr:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, Error> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| bad(format!("path segment {t:?} not found")))?,
            Value::Array(a) => {
                let i: usize = t
                    .parse()
                    .map_err(|_| bad(format!("invalid array index {t:?}")))?;
                a.get_mut(i)
                    .ok_or_else(|| bad(format!("array index {i} out of range")))?
            }
            _ => return Err(bad(format!("cannot descend into a scalar at {t:?}"))),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), Error> {
    let tokens = split_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| bad(format!("invalid array index {last:?}")))?;
                if i > a.len() {
                    return Err(bad(format!("array index {i} out of range")));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(bad(format!("cannot add to a scalar at {path:?}"))),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, Error> {
    let tokens = split_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err(bad("cannot remove the whole document"));
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| {
            bad(format!(
                "unable to remove nonexistent key: {last}: missing value"
            ))
        }),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| bad(format!("invalid array index {last:?}")))?;
            if i >= a.len() {
                return Err(bad(format!("array index {i} out of range")));
            }
            Ok(a.remove(i))
        }
        _ => Err(bad(format!("cannot remove from a scalar at {path:?}"))),
    }
}

fn get<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, Error> {
    let tokens = split_pointer(path)?;
    let mut cur = doc;
    for t in &tokens {
        cur = match cur {
            Value::Object(m) => m.get(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| bad(format!("path {path:?} not found")))?;
    }
    Ok(cur)
}

/// RFC 6902: a list of operations applied in order; any failure fails the whole patch.
pub(crate) fn json_patch(original: &Value, patch: &Value) -> Result<Value, Error> {
    let ops = patch
        .as_array()
        .ok_or_else(|| bad("a JSON patch must be an array of operations"))?;
    // A malformed operation is a bad request (400); a well-formed one that does not apply
    // to this object is unprocessable (422), as Kubernetes answers.
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a JSON patch operation needs an \"op\""))?;
        if op.get("path").and_then(Value::as_str).is_none() {
            return Err(bad("a JSON patch operation needs a \"path\""));
        }
        let needs_value = matches!(name, "add" | "replace" | "test");
        let needs_from = matches!(name, "move" | "copy");
        if !needs_value && !needs_from && name != "remove" {
            return Err(bad(format!("unknown JSON patch operation {name:?}")));
        }
        if needs_value && op.get("value").is_none() {
            return Err(bad(format!("operation {name:?} needs a \"value\"")));
        }
        if needs_from && op.get("from").and_then(Value::as_str).is_none() {
            return Err(bad(format!("operation {name:?} needs a \"from\"")));
        }
    }
    apply_operations(original, ops).map_err(|e| match e {
        Error::BadRequest(message) => Error::Status(Box::new(kube_core::Status::failure(
            kube_core::StatusReason::Invalid,
            message,
        ))),
        other => other,
    })
}

fn apply_operations(original: &Value, ops: &[Value]) -> Result<Value, Error> {
    let mut doc = original.clone();
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a JSON patch operation needs an \"op\""))?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a JSON patch operation needs a \"path\""))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| bad(format!("operation {name:?} needs a \"value\"")))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("operation {name:?} needs a \"from\"")))
        };
        match name {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                get(&doc, path)?;
                let v = value()?;
                if path.is_empty() {
                    doc = v;
                } else {
                    remove(&mut doc, path)?;
                    add(&mut doc, path, v)?;
                }
            }
            "move" => {
                let f = from()?;
                let v = remove(&mut doc, f)?;
                add(&mut doc, path, v)?;
            }
            "copy" => {
                let v = get(&doc, from()?)?.clone();
                add(&mut doc, path, v)?;
            }
            "test" => {
                if *get(&doc, path)? != value()? {
                    return Err(bad(format!("test operation failed at {path:?}")));
                }
            }
            other => return Err(bad(format!("unknown JSON patch operation {other:?}"))),
        }
    }
    Ok(doc)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Applies a strategic merge patch object to `target` at `path`.
fn strategic(kind: &KindSpec, target: &mut Value, patch: &Value, path: &str) -> Result<(), Error> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = strip_directives(patch);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(bad(format!("unknown patch directive {other:?}"))),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            if let Some(list) = v.as_array() {
                orders.push((field.to_owned(), list.clone()));
            }
            continue;
        }
        let Value::Object(t) = target else { continue };
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        let sub = join(path, k);
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(o) => {
                if o.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.remove(k);
                } else {
                    strategic(kind, t.entry(k.clone()).or_insert(Value::Null), v, &sub)?;
                }
            }
            Value::Array(items) => {
                let merged = merge_list(kind, t.get(k), items, &sub)?;
                t.insert(k.clone(), merged);
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
    if let Some(retain) = p.get("$retainKeys").and_then(Value::as_array) {
        if let Value::Object(t) = target {
            t.retain(|k, _| retain.iter().any(|r| r.as_str() == Some(k.as_str())));
        }
    }
    for (field, order) in orders {
        let sub = join(path, &field);
        if let Some(Value::Array(list)) = target.get_mut(&field) {
            reorder(kind, list, &order, &sub);
        }
    }
    Ok(())
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn merge_list(
    kind: &KindSpec,
    current: Option<&Value>,
    items: &[Value],
    path: &str,
) -> Result<Value, Error> {
    let replace_all = items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let strategy = kind.merge_strategy(path);
    let mut list: Vec<Value> = match (current, replace_all) {
        (Some(Value::Array(a)), false) => a.clone(),
        _ => Vec::new(),
    };
    match strategy {
        Some(MergeStrategy::Key(key)) if !replace_all => {
            for item in items {
                let Some(kv) = item.get(key) else {
                    if item.get("$patch").is_some() {
                        continue;
                    }
                    return Err(bad(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    )));
                };
                let pos = list.iter().position(|x| x.get(key) == Some(kv));
                match (item.get("$patch").and_then(Value::as_str), pos) {
                    (Some("delete"), Some(i)) => {
                        list.remove(i);
                    }
                    (Some("delete"), None) => {}
                    (_, Some(i)) => strategic(kind, &mut list[i], item, path)?,
                    (_, None) => list.push(strip_directives(item)),
                }
            }
            Ok(Value::Array(list))
        }
        Some(MergeStrategy::Primitives) if !replace_all => {
            for item in items {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
            Ok(Value::Array(list))
        }
        _ => Ok(Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        )),
    }
}

fn reorder(kind: &KindSpec, list: &mut Vec<Value>, order: &[Value], path: &str) {
    let key = match kind.merge_strategy(path) {
        Some(MergeStrategy::Key(k)) => Some(k.clone()),
        Some(MergeStrategy::Primitives) => None,
        None => return,
    };
    let id = |v: &Value| -> Value {
        match &key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for o in order {
        let want = id(o);
        if let Some(i) = list.iter().position(|x| id(x) == want) {
            out.push(list.remove(i));
        }
    }
    out.append(list);
    *list = out;
}

#[cfg(test)]
mod tests {
    use kube_core::ApiResource;
    use serde_json::json;

    use super::*;

    fn pods() -> KindSpec {
        let mut k = KindSpec::new(ApiResource::new("", "v1", "Pod", "pods", true));
        k.merge_keys = vec![
            ("spec.containers".into(), MergeStrategy::Key("name".into())),
            (
                "containers.ports".into(),
                MergeStrategy::Key("containerPort".into()),
            ),
            ("metadata.finalizers".into(), MergeStrategy::Primitives),
        ];
        k
    }

    #[test]
    fn json_patch_operations() {
        let doc = json!({"a": {"b": [1, 2]}, "c": "x"});
        let out = json_patch(
            &doc,
            &json!([
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "replace", "path": "/c", "value": "y"},
                {"op": "copy", "from": "/c", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/e"},
                {"op": "remove", "path": "/a/b/0"},
                {"op": "test", "path": "/e", "value": "y"},
                {"op": "add", "path": "/f~1g", "value": 1}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"a": {"b": [2, 3]}, "c": "y", "e": "y", "f/g": 1})
        );
        assert!(json_patch(&doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(json_patch(&doc, &json!([{"op": "test", "path": "/c", "value": "z"}])).is_err());
        assert!(json_patch(&doc, &json!({"op": "add"})).is_err());
    }

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
    }

    #[test]
    fn strategic_merge_uses_merge_keys_and_directives() {
        let k = pods();
        let pod = json!({"metadata": {"finalizers": ["a"]}, "spec": {"containers": [
            {"name": "app", "image": "v1", "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "s1"}
        ], "volumes": [{"name": "x"}]}});
        let patch = json!({"metadata": {"finalizers": ["b"]}, "spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
            "containers": [
                {"name": "app", "image": "v2", "ports": [{"containerPort": 443}]},
                {"name": "side", "$patch": "delete"},
                {"name": "new", "image": "n"}
            ],
            "volumes": [{"name": "y"}]
        }});
        let out = apply(&k, PatchType::Strategic, &pod, &patch).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let names: Vec<&str> = out["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "new"]);
        assert_eq!(out["spec"]["containers"][0]["image"], "v2");
        assert_eq!(
            out["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80}, {"containerPort": 443}])
        );
        assert_eq!(out["spec"]["volumes"], json!([{"name": "y"}]));

        let retain = apply(&k, PatchType::Strategic, &json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})).unwrap();
        assert_eq!(retain, json!({"spec": {"strategy": {"type": "Recreate"}}}));
        let del = apply(
            &k,
            PatchType::Strategic,
            &json!({"metadata": {"finalizers": ["a", "b"]}}),
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        )
        .unwrap();
        assert_eq!(del, json!({"metadata": {"finalizers": ["b"]}}));
        assert_eq!(
            apply(&k, PatchType::Strategic, &pod, &json!([1]))
                .unwrap_err()
                .code(),
            400
        );
        assert_eq!(
            apply(&k, PatchType::Apply, &pod, &json!({}))
                .unwrap_err()
                .code(),
            415
        );
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
    }
}
