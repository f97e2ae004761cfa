//! CustomResourceDefinitions: the CRD kind itself, and the kinds a CRD registers (served
//! like built-in ones, validated and pruned against their OpenAPI v3 schema).

use std::borrow::Cow;
use std::sync::Arc;

use kube_core::{ApiResource, StatusCause};
use serde_json::{Value, json};

use super::builtin::merge_keys;
use super::kinds::{CellSource, Column, KindSpec, ScalePaths};
use super::validation::{NameRule, invalid, required, validate_meta};

/// The CustomResourceDefinition kind.
pub(crate) fn crd_kind() -> KindSpec {
    let mut k = KindSpec::new(ApiResource {
        group: Cow::Borrowed("apiextensions.k8s.io"),
        version: Cow::Borrowed("v1"),
        kind: Cow::Borrowed("CustomResourceDefinition"),
        plural: Cow::Borrowed("customresourcedefinitions"),
        namespaced: false,
        short_names: vec![Cow::Borrowed("crd"), Cow::Borrowed("crds")].into(),
        categories: Cow::Borrowed(&[]),
    })
    .with_status()
    .with_columns(vec![Column::new(
        "Created At",
        CellSource::Func(super::columns::created_at),
    )])
    .with_validator(validate_crd);
    k.merge_keys = merge_keys();
    k
}

/// True for the CRD kind.
pub(crate) fn is_crd(kind: &KindSpec) -> bool {
    kind.resource.group == "apiextensions.k8s.io"
        && kind.resource.plural == "customresourcedefinitions"
}

fn validate_crd(obj: &Value, old: Option<&Value>) -> Vec<StatusCause> {
    let mut causes = validate_meta(obj, old, NameRule::Subdomain);
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let group = s("/spec/group");
    let plural = s("/spec/names/plural");
    if group.is_empty() {
        causes.push(required("spec.group"));
    }
    if plural.is_empty() {
        causes.push(required("spec.names.plural"));
    }
    if s("/spec/names/kind").is_empty() {
        causes.push(required("spec.names.kind"));
    }
    let name = s("/metadata/name");
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if !matches!(s("/spec/scope"), "Namespaced" | "Cluster") {
        causes.push(super::validation::not_supported(
            "spec.scope",
            &json!(s("/spec/scope")),
            &["Cluster", "Namespaced"],
        ));
    }
    let versions = obj.pointer("/spec/versions").and_then(Value::as_array);
    match versions {
        Some(v) if !v.is_empty() => {
            if v.iter()
                .filter(|x| x.get("storage").and_then(Value::as_bool) == Some(true))
                .count()
                != 1
            {
                causes.push(invalid(
                    "spec.versions",
                    &json!(v.len()),
                    "must have exactly one version marked as storage version",
                ));
            }
        }
        _ => causes.push(required("spec.versions")),
    }
    causes
}

/// The kinds a CRD serves (one per served version).
pub(crate) fn kinds_of(crd: &Value) -> Vec<KindSpec> {
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let strs = |p: &str| -> Vec<Cow<'static, str>> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(|s| Cow::Owned(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let group = s("/spec/group");
    let mut out = Vec::new();
    for v in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let version = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("v1")
            .to_owned();
        let resource = ApiResource {
            group: Cow::Owned(group.clone()),
            version: Cow::Owned(version),
            kind: Cow::Owned(s("/spec/names/kind")),
            plural: Cow::Owned(s("/spec/names/plural")),
            namespaced: s("/spec/scope") != "Cluster",
            short_names: strs("/spec/names/shortNames").into(),
            categories: strs("/spec/names/categories").into(),
        };
        let mut k = KindSpec::new(resource);
        k.merge_keys = merge_keys();
        if v.pointer("/subresources/status").is_some() {
            k = k.with_status();
        } else {
            k.tracks_generation = true;
        }
        if let Some(scale) = v.pointer("/subresources/scale") {
            let g = |f: &str| scale.get(f).and_then(Value::as_str).map(str::to_owned);
            k = k.with_scale(ScalePaths {
                spec_replicas: g("specReplicasPath").unwrap_or_else(|| ".spec.replicas".into()),
                status_replicas: g("statusReplicasPath")
                    .unwrap_or_else(|| ".status.replicas".into()),
                label_selector: g("labelSelectorPath"),
            });
        }
        let mut cols = Vec::new();
        for c in v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let path = c
                .get("jsonPath")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let mut col = Column::new(name, CellSource::Path(path))
                .typed(c.get("type").and_then(Value::as_str).unwrap_or("string"))
                .priority(c.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32);
            col.description = c
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            col.format = c
                .get("format")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            cols.push(col);
        }
        if !cols.is_empty() {
            cols.push(Column::age());
            k = k.with_columns(cols);
        }
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema").cloned() {
            k.schema = Some(schema.clone());
            let schema = Arc::new(schema);
            let for_default = schema.clone();
            k = k
                .with_defaulter(move |obj| prune(obj, &for_default, true))
                .with_validator(move |obj, old| {
                    let mut causes = validate_meta(obj, old, NameRule::Subdomain);
                    check_schema(obj, &schema, "", &mut causes, true);
                    causes
                });
        } else {
            k = k.with_validator(|obj, old| validate_meta(obj, old, NameRule::Subdomain));
        }
        out.push(k);
    }
    out
}

/// The status the server gives an accepted CRD.
pub(crate) fn established_status(crd: &Value) -> Value {
    let now = super::registry::now();
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({})),
        "conditions": [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": crd.pointer("/spec/versions").and_then(Value::as_array).map(|v| v.iter().filter(|x| x.get("storage").and_then(Value::as_bool) == Some(true)).filter_map(|x| x.get("name").cloned()).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

fn preserves(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

/// Drops fields the schema does not declare (unless it preserves unknown fields).
fn prune(obj: &mut Value, schema: &Value, root: bool) {
    let Value::Object(map) = obj else {
        if let (Value::Array(items), Some(s)) = (obj, schema.get("items")) {
            for i in items {
                prune(i, s, false);
            }
        }
        return;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    if !preserves(schema) {
        if let Some(props) = props {
            map.retain(|k, _| {
                props.contains_key(k)
                    || (root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
            });
        } else if additional.is_none() && !root {
            map.clear();
        }
    }
    for (k, v) in map.iter_mut() {
        if root && k == "metadata" {
            continue;
        }
        if let Some(s) = props.and_then(|p| p.get(k)).or(additional) {
            prune(v, s, false);
        }
    }
}

fn type_ok(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    }
}

fn check_schema(v: &Value, schema: &Value, path: &str, causes: &mut Vec<StatusCause>, root: bool) {
    let field = if path.is_empty() { "<root>" } else { path };
    if v.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let ok = type_ok(v, t) || (int_or_string && (v.is_string() || v.is_i64()));
        if !ok {
            causes.push(StatusCause::new(
                "FieldValueTypeInvalid",
                field,
                format!("Invalid value: {v}: {field} in body must be of type {t}"),
            ));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            let allowed: Vec<String> = e.iter().map(ToString::to_string).collect();
            causes.push(StatusCause::new(
                "FieldValueNotSupported",
                field,
                format!(
                    "Unsupported value: {v}: supported values: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    if let (Some(n), Some(min)) = (v.as_f64(), schema.get("minimum").and_then(Value::as_f64)) {
        if n < min {
            causes.push(StatusCause::new(
                "FieldValueInvalid",
                field,
                format!(
                    "Invalid value: {v}: {field} in body should be greater than or equal to {min}"
                ),
            ));
        }
    }
    if let (Some(n), Some(max)) = (v.as_f64(), schema.get("maximum").and_then(Value::as_f64)) {
        if n > max {
            causes.push(StatusCause::new(
                "FieldValueInvalid",
                field,
                format!(
                    "Invalid value: {v}: {field} in body should be less than or equal to {max}"
                ),
            ));
        }
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(map) => {
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !map.contains_key(r) {
                    causes.push(StatusCause::new(
                        "FieldValueRequired",
                        join(r),
                        "Required value",
                    ));
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in map {
                if root && matches!(k.as_str(), "metadata" | "apiVersion" | "kind") {
                    continue;
                }
                if let Some(s) = props.and_then(|p| p.get(k)).or(additional) {
                    check_schema(child, s, &join(k), causes, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_schema(item, s, &format!("{path}[{i}]"), causes, false);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "required": ["size"], "properties": {
                            "size": {"type": "integer", "minimum": 1},
                            "color": {"type": "string", "enum": ["red", "blue"]}}},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
        })
    }

    #[test]
    fn crds_register_validated_kinds() {
        assert!(validate_crd(&crd(), None).is_empty());
        let kinds = kinds_of(&crd());
        assert_eq!(kinds.len(), 1);
        let k = &kinds[0];
        assert_eq!(k.resource.kind, "Widget");
        assert!(k.status && k.resource.namespaced);
        assert_eq!(k.columns[0].name, "Size");
        let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 0, "color": "green", "extra": 1}, "status": {"anything": true}});
        (k.defaulter.as_ref().unwrap())(&mut obj);
        assert!(obj["spec"].get("extra").is_none());
        assert_eq!(obj["status"]["anything"], true);
        let causes = (k.validator.as_ref().unwrap())(&obj, None);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.color", "spec.size"]);
        let bad = json!({"metadata": {"name": "x"}, "spec": {"group": "g", "names": {"plural": "p", "kind": "K"}, "scope": "Both", "versions": []}});
        assert_eq!(validate_crd(&bad, None).len(), 3);
        assert_eq!(
            established_status(&crd())["conditions"][1]["type"],
            "Established"
        );
    }
}
