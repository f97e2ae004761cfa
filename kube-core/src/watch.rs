//! [`WatchEvent`], one line of a watch stream.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::status::Status;

/// One event of a watch, as the API server streams them (newline-delimited JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "object", rename_all = "UPPERCASE")]
#[serde(bound(deserialize = "K: DeserializeOwned"))]
// The object variants hold a whole object (a Pod is far larger than a Status), so the
// Status variant is not the outlier the lint assumes when it sizes `K` as nothing.
#[allow(clippy::large_enum_variant)]
pub enum WatchEvent<K> {
    /// An object was created (or existed when the watch started from an empty version).
    Added(K),
    /// An object changed.
    Modified(K),
    /// An object was removed; this is its last state.
    Deleted(K),
    /// The stream has seen everything up to this resourceVersion.
    Bookmark(Bookmark),
    /// The watch failed, for example with 410 Gone; the stream ends after this.
    Error(Status),
}

/// The object of a `BOOKMARK` event: only a resourceVersion (and annotations).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bookmark {
    /// API version of the watched kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The watched kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The resourceVersion the stream has reached.
    pub metadata: BookmarkMeta,
}

/// The metadata of a [`Bookmark`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookmarkMeta {
    /// The resourceVersion the stream has reached.
    pub resource_version: String,
    /// Annotations, such as `k8s.io/initial-events-end`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub annotations: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_use_kubernetes_framing() {
        let ev: WatchEvent<serde_json::Value> =
            serde_json::from_str(r#"{"type":"ADDED","object":{"kind":"Pod"}}"#).unwrap();
        assert_eq!(ev, WatchEvent::Added(serde_json::json!({"kind": "Pod"})));
        let bm: WatchEvent<serde_json::Value> = serde_json::from_str(
            r#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}}"#,
        )
        .unwrap();
        match bm {
            WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, "12"),
            other => panic!("not a bookmark: {other:?}"),
        }
        let err = WatchEvent::<serde_json::Value>::Error(Status::failure(
            crate::StatusReason::Gone,
            "too old resource version",
        ));
        let line = serde_json::to_string(&err).unwrap();
        assert!(line.starts_with(r#"{"type":"ERROR","object":{"apiVersion":"v1","kind":"Status""#));
    }
}
