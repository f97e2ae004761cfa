//! Metadata-only output (`Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`),
//! the format of metadata clients and informers (Kubernetes' garbage collector and quota
//! controller read every kind this way): each object as a `PartialObjectMetadata`
//! (`kind`, `apiVersion` and `metadata` only), lists as a `PartialObjectMetadataList`,
//! watch events with `PartialObjectMetadata` objects.
//!
//! Objects come from their encoded JSON: the `metadata` member is cut out of the bytes as
//! written (the rest is skipped, not decoded) and wrapped.

use bytes::{BufMut as _, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::list::{ListPage, list_document};
use super::watch::ObjectEncoder;
use super::watch_cache::CachedObject;

/// The `meta.k8s.io` version a client asked its partial objects in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetaVersion {
    /// `meta.k8s.io/v1`.
    V1,
    /// `meta.k8s.io/v1beta1`, which older clients ask for.
    V1beta1,
}

impl MetaVersion {
    /// The version of an `Accept` media type's `v=` parameter.
    pub(crate) fn parse(v: &str) -> Option<Self> {
        match v {
            "v1" => Some(Self::V1),
            "v1beta1" => Some(Self::V1beta1),
            _ => None,
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Self::V1 => "meta.k8s.io/v1",
            Self::V1beta1 => "meta.k8s.io/v1beta1",
        }
    }

    /// The start of a `PartialObjectMetadata` up to its metadata's value.
    fn object_head(self) -> &'static str {
        match self {
            Self::V1 => {
                r#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":"#
            }
            Self::V1beta1 => {
                r#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1beta1","metadata":"#
            }
        }
    }
}

/// The `metadata` member of an encoded object, as written.
#[derive(Deserialize)]
struct MetadataOf<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
}

/// Appends a `PartialObjectMetadata` to `out`: `head` (its opening up to the metadata's
/// value), the encoded metadata, and the closing brace.
fn put_wrapped(out: &mut BytesMut, head: &str, meta: &[u8]) {
    out.put_slice(head.as_bytes());
    out.put_slice(meta);
    out.put_u8(b'}');
}

/// Appends an object's `PartialObjectMetadata` to `out`, cut from its JSON. An object
/// without metadata gets an empty one.
fn put_object(out: &mut BytesMut, head: &str, json: &[u8]) {
    let meta = match kube_core::wire::from_json::<MetadataOf<'_>>(json) {
        Ok(MetadataOf {
            metadata: Some(meta),
        }) => meta.get().as_bytes(),
        _ => b"{}",
    };
    put_wrapped(out, head, meta);
}

/// An object's `PartialObjectMetadata`, from its encoded JSON.
pub(crate) fn object_from_json(version: MetaVersion, json: &[u8]) -> Bytes {
    let head = version.object_head();
    let mut out = BytesMut::with_capacity(head.len() + json.len().min(1024) + 2);
    put_object(&mut out, head, json);
    out.freeze()
}

/// The encoded `metadata` member of an object's value (`{}` when it has none).
fn metadata_of_value(obj: &Value) -> Vec<u8> {
    obj.get("metadata").map_or_else(
        || b"{}".to_vec(),
        |m| serde_json::to_vec(m).unwrap_or_else(|_| b"{}".to_vec()),
    )
}

/// An object's `PartialObjectMetadata`, from its value (the answer of a write).
pub(crate) fn object_from_value(version: MetaVersion, obj: &Value) -> Bytes {
    let head = version.object_head();
    let meta = metadata_of_value(obj);
    let mut out = BytesMut::with_capacity(head.len() + meta.len() + 1);
    put_wrapped(&mut out, head, &meta);
    out.freeze()
}

/// A list's value (the answer of a delete-collection) as a `PartialObjectMetadataList`:
/// the list's own metadata as it is, each item cut to its metadata.
pub(crate) fn list_from_value(version: MetaVersion, list: &Value) -> Bytes {
    let head = version.object_head();
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    list_document(
        "PartialObjectMetadataList",
        version.api_version(),
        list.get("metadata").unwrap_or(&Value::Object(Map::new())),
        items,
        |_| head.len() + 256,
        |out, obj| put_wrapped(out, head, &metadata_of_value(obj)),
    )
}

/// A page of a list as a `PartialObjectMetadataList`.
pub(crate) fn list(version: MetaVersion, page: &ListPage) -> Bytes {
    let head = version.object_head();
    page.document(
        "PartialObjectMetadataList",
        version.api_version(),
        |o| head.len() + o.json.len().min(1024),
        |out, o| put_object(out, head, &o.json),
    )
}

/// A watch's objects as `PartialObjectMetadata`.
pub(crate) fn watch_encoder(version: MetaVersion) -> ObjectEncoder {
    std::sync::Arc::new(move |o: &CachedObject| object_from_json(version, &o.json))
}

/// The `kind` and `apiVersion` of a watch's bookmarks in this format.
pub(crate) fn bookmark_type(version: MetaVersion) -> (&'static str, &'static str) {
    ("PartialObjectMetadata", version.api_version())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default","resourceVersion":"7","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx","args":["{\"metadata\":1}"]}]},"status":{"phase":"Running"}}"#;

    #[test]
    fn an_object_keeps_its_metadata_as_written_and_nothing_else() {
        let out = object_from_json(MetaVersion::V1, POD.as_bytes());
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7",
                             "labels": {"app": "web"}},
            })
        );
        let pod: Value = serde_json::from_str(POD).unwrap();
        let from_value: Value =
            serde_json::from_slice(&object_from_value(MetaVersion::V1, &pod)).unwrap();
        assert_eq!(from_value, v);
    }

    #[test]
    fn an_object_without_metadata_gets_an_empty_one() {
        let out = object_from_json(MetaVersion::V1beta1, br#"{"kind":"Pod"}"#);
        assert_eq!(
            &out[..],
            br#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1beta1","metadata":{}}"#
        );
        let out = object_from_value(MetaVersion::V1beta1, &serde_json::json!({"kind": "Pod"}));
        assert_eq!(
            &out[..],
            br#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1beta1","metadata":{}}"#
        );
    }

    #[test]
    fn a_list_value_keeps_its_metadata_and_cuts_each_item() {
        let pod: Value = serde_json::from_str(POD).unwrap();
        let list = serde_json::json!({
            "kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "9"},
            "items": [pod, {"kind": "Pod"}],
        });
        let out: Value = serde_json::from_slice(&list_from_value(MetaVersion::V1, &list)).unwrap();
        let web: Value =
            serde_json::from_slice(&object_from_json(MetaVersion::V1, POD.as_bytes())).unwrap();
        assert_eq!(
            out,
            serde_json::json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": "9"},
                "items": [web, {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                "metadata": {}}],
            })
        );
        let empty = list_from_value(MetaVersion::V1beta1, &serde_json::json!({}));
        assert_eq!(
            &empty[..],
            br#"{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1beta1","metadata":{},"items":[]}"#
        );
    }

    #[test]
    fn only_known_versions_are_served() {
        assert_eq!(MetaVersion::parse("v1"), Some(MetaVersion::V1));
        assert_eq!(MetaVersion::parse("v1beta1"), Some(MetaVersion::V1beta1));
        assert_eq!(MetaVersion::parse("v2"), None);
    }
}
