//! OpenAPI documents: `/openapi/v3` (a root listing each group version, and one document
//! per group version) and `/openapi/v2`, enough for `kubectl explain` and for kubectl to
//! see that the server validates fields itself (`fieldValidation`).

use std::collections::HashMap;

use http::{HeaderMap, StatusCode};
use kube_core::Error;
use serde_json::{Map, Value, json};

use super::body::ApiResponse;
use super::kinds::{KindSpec, Kinds};
use super::response;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The definition name of a kind (`io.k8s.api.core.v1.Pod`-like, reversed group).
pub(crate) fn definition_name(kind: &KindSpec) -> String {
    let group = if kind.resource.group.is_empty() {
        "io.k8s.api.core".to_owned()
    } else {
        let mut parts: Vec<&str> = kind.resource.group.split('.').collect();
        parts.reverse();
        parts.join(".")
    };
    format!("{group}.{}.{}", kind.resource.version, kind.resource.kind)
}

/// `/openapi/v3`: where each group version's document is.
pub(crate) fn v3_root(kinds: &Kinds) -> Value {
    let mut paths = Map::new();
    for (group, versions) in kinds.groups() {
        for v in versions {
            let p = gv_path(&group, &v);
            let hash = format!("{:016X}", fnv(&doc_fingerprint(kinds, &group, &v)));
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

fn doc_fingerprint(kinds: &Kinds, group: &str, version: &str) -> String {
    let mut names: Vec<String> = kinds
        .of_group_version(group, version)
        .iter()
        .map(|k| {
            format!(
                "{}:{}",
                k.resource.plural,
                k.schema
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    names.join(";")
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn schema_of(kind: &KindSpec) -> Value {
    let mut schema = kind.schema.clone().unwrap_or_else(|| {
        json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "description": format!("The desired state of the {}.", kind.resource.kind), "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "description": format!("The observed state of the {}.", kind.resource.kind), "x-kubernetes-preserve-unknown-fields": true},
            },
            "x-kubernetes-preserve-unknown-fields": true,
        })
    });
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
        props.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
        props.entry("metadata").or_insert_with(|| json!({"type": "object", "description": "Standard object's metadata.", "x-kubernetes-preserve-unknown-fields": true}));
    }
    if let Some(m) = schema.as_object_mut() {
        m.entry("description").or_insert_with(|| {
            json!(format!(
                "{} is a {} resource.",
                kind.resource.kind,
                kind.qualified()
            ))
        });
        m.insert("x-kubernetes-group-version-kind".into(), json!([{"group": kind.resource.group, "version": kind.resource.version, "kind": kind.resource.kind}]));
    }
    schema
}

/// The prefix of the names of a kind's schema parts (`io.k8s.api.apps.v1`).
fn def_prefix(kind: &KindSpec) -> String {
    let full = definition_name(kind);
    full.rsplit_once('.')
        .map_or(full.clone(), |(p, _)| p.to_owned())
}

/// A kind's schema with its `$defs` moved into `out` under global names, and every
/// reference rewritten to `{ref_base}{name}`. Parts shared between kinds (the same name
/// and content) are stored once; a clash of names gets the kind's name in the prefix.
fn hoist(
    kind: &KindSpec,
    ref_base: &str,
    out: &mut Map<String, Value>,
    seen: &mut HashMap<String, Value>,
) -> Value {
    let mut schema = schema_of(kind);
    let defs = match schema.as_object_mut().and_then(|m| m.remove("$defs")) {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    let prefix = def_prefix(kind);
    let mut names = HashMap::new();
    for (name, def) in &defs {
        let mut global = format!("{prefix}.{name}");
        if seen.get(&global).is_some_and(|v| v != def) {
            global = format!(
                "{prefix}.{}.{name}",
                kind.resource.kind.to_ascii_lowercase()
            );
        }
        names.insert(name.clone(), global);
    }
    for (name, mut def) in defs {
        let global = names.get(&name).cloned().unwrap_or_default();
        if seen.contains_key(&global) {
            continue;
        }
        seen.insert(global.clone(), def.clone());
        rewrite_refs(&mut def, ref_base, &names);
        out.insert(global, def);
    }
    rewrite_refs(&mut schema, ref_base, &names);
    schema
}

fn rewrite_refs(v: &mut Value, ref_base: &str, names: &HashMap<String, String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                if let Some(global) = r.strip_prefix("#/$defs/").and_then(|n| names.get(n)) {
                    *r = format!("{ref_base}{global}");
                }
            }
            for child in m.values_mut() {
                rewrite_refs(child, ref_base, names);
            }
        }
        Value::Array(a) => {
            for child in a {
                rewrite_refs(child, ref_base, names);
            }
        }
        _ => {}
    }
}

fn operations(kind: &KindSpec, reference: &str) -> Value {
    let gvk = json!({"group": kind.resource.group, "version": kind.resource.version, "kind": kind.resource.kind});
    let body = json!({"content": {"application/json": {"schema": {"$ref": reference}}}});
    let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": reference}}}}});
    let field_validation = json!({"name": "fieldValidation", "in": "query", "description": "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.", "schema": {"type": "string", "uniqueItems": true}});
    let dry_run =
        json!({"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let op = |id: &str, action: &str, with_body: bool| {
        let mut o = json!({
            "operationId": format!("{id}{}", kind.resource.kind),
            "responses": ok,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        });
        if with_body {
            o["requestBody"] = body.clone();
            o["parameters"] = json!([field_validation, dry_run]);
        }
        o
    };
    json!({
        "get": op("read", "get", false),
        "put": op("replace", "put", true),
        "patch": op("patch", "patch", true),
        "delete": op("delete", "delete", false),
        "post": op("create", "post", true),
    })
}

/// `/openapi/v3/{api/v1 | apis/group/version}`: schemas and paths of one group version.
pub(crate) fn v3(kinds: &Kinds, group: &str, version: &str) -> Option<Value> {
    let list = kinds.of_group_version(group, version);
    if list.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    let mut seen = HashMap::new();
    let mut paths = Map::new();
    for k in &list {
        let name = definition_name(k);
        let schema = hoist(k, "#/components/schemas/", &mut schemas, &mut seen);
        schemas.insert(name.clone(), schema);
        let reference = format!("#/components/schemas/{name}");
        let ops = operations(k, &reference);
        let base = k.resource.object_path(Some("{namespace}"), "{name}");
        paths.insert(base, ops.clone());
        let coll = k.resource.collection_path(Some("{namespace}"));
        let mut coll_ops = Map::new();
        if let Some(post) = ops.get("post") {
            coll_ops.insert("post".into(), post.clone());
        }
        if let Some(get) = ops.get("get") {
            coll_ops.insert("get".into(), get.clone());
        }
        paths.insert(coll, Value::Object(coll_ops));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v2`: a JSON Swagger document when JSON is acceptable; kubectl asks for
/// protobuf only, which we do not produce (406, and it uses `/openapi/v3`).
pub(crate) fn v2(kinds: &Kinds, headers: &HeaderMap) -> Result<ApiResponse, Error> {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(accept.is_empty() || accept.contains("json") || accept.contains("*/*")) {
        return Err(Error::NotAcceptable(
            "only application/json is served for /openapi/v2".into(),
        ));
    }
    let mut defs = Map::new();
    let mut seen = HashMap::new();
    for k in kinds.all() {
        let s = hoist(&k, "#/definitions/", &mut defs, &mut seen);
        defs.insert(definition_name(&k), s);
    }
    for s in defs.values_mut() {
        strip_v3_only(s);
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": {},
            "definitions": defs,
        }),
    ))
}

fn strip_v3_only(v: &mut Value) {
    if let Value::Object(m) = v {
        m.remove("nullable");
        for child in m.values_mut() {
            strip_v3_only(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_list_group_versions_and_schemas() {
        let kinds = Kinds::default();
        for k in super::super::builtin::kinds() {
            kinds.register(k);
        }
        let root = v3_root(&kinds);
        assert!(
            root["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/api/v1?hash=")
        );
        assert!(root["paths"].get("apis/apps/v1").is_some());
        let doc = v3(&kinds, "apps", "v1").unwrap();
        assert!(
            doc["components"]["schemas"]
                .get("io.k8s.api.apps.v1.Deployment")
                .is_none()
        );
        assert!(
            doc["components"]["schemas"]
                .get("apps.v1.Deployment")
                .is_some()
        );
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
        assert!(v3(&kinds, "nope", "v1").is_none());
    }
}
