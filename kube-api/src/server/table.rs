//! Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), the format
//! `kubectl get` asks for: column definitions and one row of cells per object.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::kinds::{CellSource, Column, KindSpec};
use super::object::{at_path, meta_str};

/// What each row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    /// Nothing.
    None,
    /// The object's metadata as a `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    pub(crate) fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// Kubernetes' short human duration (`5s`, `3m2s`, `5h`, `2d3h`, `3y`).
pub(crate) fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        let d = hours / 24;
        return if h == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    let years = hours / 24 / 365;
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        };
    }
    format!("{years}y")
}

/// The age of a timestamp, as a table cell.
pub(crate) fn age_of(ts: Option<&str>) -> Value {
    match ts.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => json!(human_duration(
            (Utc::now() - t.with_timezone(&Utc)).num_seconds()
        )),
        None => json!("<unknown>"),
    }
}

fn columns(kind: &KindSpec) -> Vec<Column> {
    let mut cols = vec![Column {
        name: "Name".into(),
        type_: "string".into(),
        format: "name".into(),
        description: "Name must be unique within a namespace.".into(),
        priority: 0,
        source: CellSource::Path(".metadata.name".into()),
    }];
    if kind.columns.is_empty() {
        cols.push(Column::age());
    } else {
        cols.extend(kind.columns.iter().cloned());
    }
    cols
}

fn cell(col: &Column, obj: &Value) -> Value {
    match &col.source {
        CellSource::Path(p) => match at_path(obj, p) {
            Some(Value::Array(a)) => json!(
                a.iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Some(Value::Object(_)) => {
                json!(at_path(obj, p).map(ToString::to_string).unwrap_or_default())
            }
            Some(v) if col.type_ == "date" => v.as_str().map_or(Value::Null, |s| age_of(Some(s))),
            Some(v) => v.clone(),
            None => Value::Null,
        },
        CellSource::Age => age_of(meta_str(obj, "creationTimestamp")),
        CellSource::Func(f) => f(obj),
    }
}

fn row(kind: &KindSpec, cols: &[Column], obj: &Value, include: IncludeObject) -> Value {
    let cells: Vec<Value> = cols.iter().map(|c| cell(c, obj)).collect();
    let mut row = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Object => row["object"] = obj.clone(),
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            });
        }
    }
    let _ = kind;
    row
}

/// A table of objects.
pub(crate) fn table<'a>(
    kind: &KindSpec,
    objects: impl IntoIterator<Item = &'a Value>,
    list_meta: Value,
    include: IncludeObject,
    with_headers: bool,
) -> Value {
    let cols = columns(kind);
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| row(kind, &cols, o, include))
        .collect();
    let defs: Vec<Value> = if with_headers {
        cols.iter()
            .map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}))
            .collect()
    } else {
        Vec::new()
    };
    let mut table = serde_json::Map::with_capacity(5);
    table.insert("kind".into(), "Table".into());
    table.insert("apiVersion".into(), "meta.k8s.io/v1".into());
    table.insert("metadata".into(), list_meta);
    table.insert("columnDefinitions".into(), Value::Array(defs));
    table.insert("rows".into(), Value::Array(rows));
    Value::Object(table)
}

#[cfg(test)]
mod tests {
    use kube_core::ApiResource;

    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        for (s, want) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (10 * 3600, "10h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400, "3y"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
        assert_eq!(age_of(None), json!("<unknown>"));
    }

    #[test]
    fn default_tables_have_name_and_age() {
        let kind = KindSpec::new(ApiResource::new("", "v1", "ConfigMap", "configmaps", true));
        let obj = json!({"metadata": {"name": "a", "creationTimestamp": "2010-01-01T00:00:00Z"}});
        let t = table(
            &kind,
            [&obj],
            json!({"resourceVersion": "3"}),
            IncludeObject::Metadata,
            true,
        );
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["columnDefinitions"][1]["name"], "Age");
        assert_eq!(t["rows"][0]["cells"][0], "a");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert!(t["rows"][0]["cells"][1].as_str().unwrap().ends_with('y'));
    }
}
