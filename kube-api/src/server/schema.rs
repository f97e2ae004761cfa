//! OpenAPI v3 schemas of the built-in kinds, converted from the `schemars` schemas of
//! kube-core's types, and the unknown-field check that `fieldValidation` asks for.
//!
//! A converted schema is self-contained: its named parts live under `$defs` and are
//! referred to as `#/$defs/Name`; the OpenAPI documents hoist them into
//! `components/schemas`. The conversion writes what Kubernetes' own documents hold:
//! `allOf: [{$ref}]` beside a description, `x-kubernetes-int-or-string` for
//! `IntOrString` and `Quantity`, plain strings for enums with an open last variant, and no
//! JSON Schema 2020-12 `null` unions.

use schemars::JsonSchema;
use serde_json::{Map, Value, json};

/// The converted schema of a kube-core type.
pub(crate) fn of<T: JsonSchema>() -> Value {
    let root = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
    let mut out = convert(root);
    if let Some(map) = out.as_object_mut() {
        map.remove("$schema");
        map.remove("title");
        if let Some(Value::Object(defs)) = map.get_mut("$defs") {
            if let Some(meta) = defs.get_mut("ObjectMeta") {
                complete_object_meta(meta);
            }
        }
    }
    out
}

/// kube-core's `ObjectMeta` leaves out what the server never reads; clients still send it.
fn complete_object_meta(meta: &mut Value) {
    if let Some(props) = meta.get_mut("properties").and_then(Value::as_object_mut) {
        props.entry("selfLink").or_insert_with(|| {
            json!({"type": "string", "description": "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."})
        });
        props.entry("managedFields").or_insert_with(|| {
            json!({"type": "array", "description": "Which field managers own which fields; not tracked by this server.", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}})
        });
    }
}

fn is_null_branch(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

fn branch_type(v: &Value) -> Option<&str> {
    v.get("type").and_then(Value::as_str)
}

fn convert(v: Value) -> Value {
    let mut m = match v {
        Value::Object(m) => m,
        // The schema `true` (anything goes): kubectl's explain templates want objects.
        Value::Bool(true) => {
            return json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        }
        other => return other,
    };
    m.remove("title");
    m.remove("const");
    // `type: ["string", "null"]` -> `type: string`.
    if let Some(Value::Array(types)) = m.get("type") {
        let non_null: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        let replacement = match non_null.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        match replacement {
            Some(t) => {
                m.insert("type".into(), t);
            }
            None => {
                m.remove("type");
            }
        }
    }
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = m.remove(key) else {
            continue;
        };
        let non_null: Vec<Value> = branches
            .into_iter()
            .filter(|b| !is_null_branch(b))
            .collect();
        let types: Vec<Option<&str>> = non_null.iter().map(branch_type).collect();
        if non_null.len() == 1 {
            let only = non_null.into_iter().next().unwrap_or(Value::Null);
            if let Value::Object(inner) = convert(only) {
                for (k, v) in inner {
                    m.entry(k).or_insert(v);
                }
            }
        } else if !types.is_empty() && types.iter().all(|t| *t == Some("string")) {
            m.insert("type".into(), json!("string"));
        } else if types.contains(&Some("integer")) && types.contains(&Some("string")) {
            m.remove("pattern");
            m.insert("type".into(), json!("string"));
            m.insert("format".into(), json!("int-or-string"));
            m.insert("x-kubernetes-int-or-string".into(), json!(true));
        } else {
            m.insert(
                key.into(),
                Value::Array(non_null.into_iter().map(convert).collect()),
            );
        }
    }
    if m.get("x-kubernetes-int-or-string") == Some(&json!(true)) && !m.contains_key("type") {
        m.remove("pattern");
        m.insert("type".into(), json!("string"));
        m.insert("format".into(), json!("int-or-string"));
    }
    // A `$ref` with siblings: OpenAPI 3.0 ignores siblings of `$ref`, so wrap it.
    if let Some(r) = m.remove("$ref") {
        if m.is_empty() {
            m.insert("$ref".into(), r);
        } else {
            m.insert("allOf".into(), json!([{"$ref": r}]));
        }
    }
    for key in ["properties", "$defs"] {
        if let Some(Value::Object(props)) = m.remove(key) {
            let converted: Map<String, Value> =
                props.into_iter().map(|(k, v)| (k, convert(v))).collect();
            m.insert(key.into(), Value::Object(converted));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = m.remove(key) {
            m.insert(key.into(), convert(v));
        }
    }
    if let Some(Value::Array(all)) = m.remove("allOf") {
        m.insert(
            "allOf".into(),
            Value::Array(all.into_iter().map(convert).collect()),
        );
    }
    Value::Object(m)
}

/// Follows `$ref` and single-`allOf` references within a self-contained schema.
fn resolve<'a>(root: &'a Value, mut s: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let reference = s.get("$ref").and_then(Value::as_str).or_else(|| {
            s.get("allOf")
                .and_then(Value::as_array)
                .filter(|a| a.len() == 1)
                .and_then(|a| a[0].get("$ref"))
                .and_then(Value::as_str)
        });
        let Some(name) = reference.and_then(|r| r.strip_prefix("#/$defs/")) else {
            return s;
        };
        match root.get("$defs").and_then(|d| d.get(name)) {
            Some(next) => s = next,
            None => return s,
        }
    }
    s
}

/// A field of an object that its schema does not declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unknown {
    /// Where the field's parent is, from the object's root.
    parent: Vec<Step>,
    /// The field's name.
    field: String,
}

/// One step of a path: a field name or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
}

impl Unknown {
    /// The path as Kubernetes writes it: `spec.bogus`, `spec.containers[0].nope`.
    pub(crate) fn path(&self) -> String {
        let mut s = String::new();
        for step in &self.parent {
            match step {
                Step::Field(f) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(f);
                }
                Step::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(&self.field);
        s
    }

    /// Takes the field out of `obj` (as Kubernetes' decoding drops what a kind does not
    /// declare); nothing when it is not there.
    pub(crate) fn remove_from(&self, obj: &mut Value) {
        let mut at = obj;
        for step in &self.parent {
            let next = match step {
                Step::Field(f) => at.get_mut(f.as_str()),
                Step::Index(i) => at.get_mut(*i),
            };
            match next {
                Some(v) => at = v,
                None => return,
            }
        }
        if let Value::Object(fields) = at {
            fields.remove(&self.field);
        }
    }
}

/// The fields of `obj` that its schema does not declare, as Kubernetes' strict field
/// validation finds them.
pub(crate) fn unknown_fields(obj: &Value, schema: &Value) -> Vec<Unknown> {
    let mut out = Vec::new();
    walk(obj, schema, schema, &mut Vec::new(), &mut out, Nulls::Count);
    out
}

/// The fields a JSON merge patch (RFC 7386) would add that the schema does not declare.
/// A `null` removes the field it names, so it adds nothing and is not counted: applied to
/// an object with no unknown fields, the patch leaves exactly these in the result.
pub(crate) fn unknown_fields_of_merge_patch(patch: &Value, schema: &Value) -> Vec<Unknown> {
    let mut out = Vec::new();
    walk(
        patch,
        schema,
        schema,
        &mut Vec::new(),
        &mut out,
        Nulls::Skip,
    );
    out
}

/// Whether a field set to `null` counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nulls {
    Count,
    Skip,
}

/// A step of the path being walked, borrowed from the object (owned only for what is
/// reported).
#[derive(Clone, Copy)]
enum At<'a> {
    Field(&'a str),
    Index(usize),
}

impl At<'_> {
    fn owned(self) -> Step {
        match self {
            Self::Field(f) => Step::Field(f.to_owned()),
            Self::Index(i) => Step::Index(i),
        }
    }
}

fn walk<'a>(
    v: &'a Value,
    root: &Value,
    s: &Value,
    path: &mut Vec<At<'a>>,
    out: &mut Vec<Unknown>,
    nulls: Nulls,
) {
    let s = resolve(root, s);
    if s.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)) {
        return;
    }
    match v {
        Value::Object(fields) => {
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties");
            if props.is_none() && additional.is_none() {
                return;
            }
            for (k, child) in fields {
                if child.is_null() && nulls == Nulls::Skip {
                    continue;
                }
                let schema = match (props.and_then(|p| p.get(k)), additional) {
                    (Some(cs), _) => cs,
                    (None, Some(a)) if a.is_object() => a,
                    (None, Some(Value::Bool(true))) => continue,
                    // Custom resources' schemas leave the type and metadata out.
                    (None, _)
                        if path.is_empty()
                            && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") =>
                    {
                        continue;
                    }
                    (None, _) => {
                        out.push(Unknown {
                            parent: path.iter().map(|at| at.owned()).collect(),
                            field: k.clone(),
                        });
                        continue;
                    }
                };
                if child.is_object() || child.is_array() {
                    path.push(At::Field(k));
                    walk(child, root, schema, path, out, nulls);
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    if item.is_object() || item.is_array() {
                        path.push(At::Index(i));
                        // A merge patch's list replaces the list as it is, nulls and all.
                        walk(item, root, is, path, out, Nulls::Count);
                        path.pop();
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_convert_to_openapi_three() {
        let s = of::<kube_core::Deployment>();
        assert!(s.get("$schema").is_none());
        let replicas = &s["$defs"]["DeploymentSpec"]["properties"]["replicas"];
        assert_eq!(replicas["type"], "integer", "{replicas}");
        let template = &s["$defs"]["DeploymentSpec"]["properties"]["template"];
        assert_eq!(
            template["allOf"][0]["$ref"], "#/$defs/PodTemplateSpec",
            "{template}"
        );
        let text = s.to_string();
        assert!(!text.contains("\"null\""), "null unions remain");
        let max = &s["$defs"]["IntOrString"];
        assert_eq!(max["x-kubernetes-int-or-string"], true, "{max}");
        assert_eq!(max["type"], "string", "{max}");
    }

    /// A small schema with what the walk must follow: a reference, a recursive type,
    /// lists, a map and a part that keeps unknown fields.
    fn tree_schema() -> Value {
        json!({"type": "object", "properties": {
            "a": {"type": "string"},
            "b": {"$ref": "#/$defs/B"},
            "l": {"type": "array", "items": {"$ref": "#/$defs/B"}},
            "m": {"type": "object", "additionalProperties": {"type": "string"}},
            "p": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
          "$defs": {"B": {"type": "object", "properties": {
            "a": {"type": "string"},
            "b": {"allOf": [{"$ref": "#/$defs/B"}], "description": "nested"},
            "l": {"type": "array", "items": {"$ref": "#/$defs/B"}}}}}})
    }

    fn paths(found: &[Unknown]) -> Vec<String> {
        let mut p: Vec<String> = found.iter().map(Unknown::path).collect();
        p.sort();
        p
    }

    #[test]
    fn unknown_fields_are_removed_where_they_were_found() {
        let s = tree_schema();
        let mut obj = json!({"a": "keep", "x": 1,
            "b": {"a": "keep", "y": null, "b": {"z": {"deep": true}}},
            "l": [{"a": "keep"}, {"w": [1], "l": [{"v": "s"}]}],
            "m": {"any": "keep"}, "p": {"free": "keep"}});
        let found = unknown_fields(&obj, &s);
        assert_eq!(
            paths(&found),
            ["b.b.z", "b.y", "l[1].l[0].v", "l[1].w", "x"]
        );
        for u in &found {
            u.remove_from(&mut obj);
        }
        assert_eq!(
            obj,
            json!({"a": "keep", "b": {"a": "keep", "b": {}},
                "l": [{"a": "keep"}, {"l": [{}]}], "m": {"any": "keep"}, "p": {"free": "keep"}})
        );
        assert_eq!(unknown_fields(&obj, &s), []);
    }

    #[test]
    fn a_merge_patch_names_only_the_unknown_fields_it_adds() {
        let s = tree_schema();
        let patch = json!({"x": null, "y": 1, "b": {"z": null, "a": null},
            "l": [{"v": null}]});
        // `x` and `b.z` are removals; a list is copied whole, nulls included.
        assert_eq!(
            paths(&unknown_fields_of_merge_patch(&patch, &s)),
            ["l[0].v", "y"]
        );
    }

    mod merge_patches {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::{unknown_fields, unknown_fields_of_merge_patch};
        use super::{paths, tree_schema};
        use crate::server::patch::merge_patch;

        /// JSON values over the tree schema's field names and one it does not declare.
        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![Just(Value::Null), Just(json!("s")), Just(json!(1))];
            leaf.prop_recursive(4, 48, 4, |inner| {
                let names = prop::sample::select(vec!["a", "b", "l", "m", "p", "x"]);
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    prop::collection::btree_map(names.prop_map(String::from), inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn object() -> impl Strategy<Value = Value> {
            value().prop_filter("an object", Value::is_object)
        }

        proptest! {
            /// On a stored object (no unknown fields), the patch alone tells which
            /// unknown fields the patched object has.
            #[test]
            fn the_patch_alone_finds_what_the_patched_object_has(
                mut stored in object(),
                patch in object(),
            ) {
                let s = tree_schema();
                for u in unknown_fields(&stored, &s) {
                    u.remove_from(&mut stored);
                }
                prop_assert_eq!(unknown_fields(&stored, &s), []);
                let mut patched = stored.clone();
                merge_patch(&mut patched, &patch);
                prop_assert_eq!(
                    paths(&unknown_fields(&patched, &s)),
                    paths(&unknown_fields_of_merge_patch(&patch, &s))
                );
            }
        }
    }

    #[test]
    fn unknown_fields_are_found_and_known_ones_pass() {
        let s = of::<kube_core::Deployment>();
        let ok = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "labels": {"x": "y"}, "managedFields": [{"manager": "m"}]},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i",
                "resources": {"limits": {"cpu": "1"}}}],
                // A volume's source is kept as written, whatever its type: never unknown.
                "volumes": [{"name": "d", "configMap": {"name": "c"}},
                    {"name": "e", "csi": {"driver": "x", "volumeAttributes": {"k": "v"}}}]}}}});
        assert_eq!(unknown_fields(&ok, &s), []);
        let bad = json!({"metadata": {"name": "a", "nope": 1}, "bogus": true,
            "spec": {"template": {"spec": {"containers": [{"name": "c", "imagee": "i"}]}}}});
        let mut found: Vec<String> = unknown_fields(&bad, &s).iter().map(Unknown::path).collect();
        found.sort();
        assert_eq!(
            found,
            [
                "bogus",
                "metadata.nope",
                "spec.template.spec.containers[0].imagee"
            ]
        );
    }
}
