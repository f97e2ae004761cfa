//! `Event` (core v1): a report that something happened to an object, as `kubectl describe`
//! and `kubectl get events` show them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::ObjectReference;
use crate::meta::ObjectMeta;
use crate::time::{MicroTime, Time};

/// A report of something that happened to an object (`v1.Event`).
///
/// Older reporters set `source`, `firstTimestamp`, `lastTimestamp` and `count`; newer ones
/// set `eventTime`, `series`, `reportingComponent` and `reportingInstance`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Standard object metadata; the namespace is the involved object's.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The object this event is about.
    #[serde(default)]
    pub involved_object: ObjectReference,
    /// A short, machine-readable, UpperCamelCase reason (`"FailedScheduling"`).
    #[serde(default)]
    pub reason: Option<String>,
    /// A human-readable description.
    #[serde(default)]
    pub message: Option<String>,
    /// The component and host that reported the event (older reporters).
    #[serde(default)]
    pub source: EventSource,
    /// When the event was first recorded.
    #[serde(default)]
    pub first_timestamp: Option<Time>,
    /// When the most recent occurrence was recorded.
    #[serde(default)]
    pub last_timestamp: Option<Time>,
    /// How many times the event occurred.
    #[serde(default)]
    pub count: Option<i32>,
    /// `Normal` or `Warning`.
    #[serde(rename = "type", default)]
    pub type_: Option<EventType>,
    /// When the event was first observed, with microseconds (newer reporters).
    #[serde(default)]
    pub event_time: Option<MicroTime>,
    /// Data about the series of repeated occurrences, if the event repeats.
    #[serde(default)]
    pub series: Option<EventSeries>,
    /// What action was taken or failed about the involved object (`"Binding"`).
    #[serde(default)]
    pub action: Option<String>,
    /// A secondary object involved, such as the node a pod was bound to.
    #[serde(default)]
    pub related: Option<ObjectReference>,
    /// The controller that emitted the event (`"kubernetes.io/kubelet"`).
    #[serde(default)]
    pub reporting_component: String,
    /// The instance of the controller that emitted it (`"kubelet-node-1"`).
    #[serde(default)]
    pub reporting_instance: String,
}

crate::impl_resource!(Event {
    group: "", version: "v1", kind: "Event", plural: "events", namespaced: true,
    short_names: ["ev"], categories: [],
    fields: {
        metadata: "metadata",
        involved_object: "involvedObject",
        source: "source",
        reporting_component: "reportingComponent",
        reporting_instance: "reportingInstance"
    },
    omit_empty: {
        reason: "reason",
        message: "message",
        first_timestamp: "firstTimestamp",
        last_timestamp: "lastTimestamp",
        count: "count",
        type_: "type",
        event_time: "eventTime",
        series: "series",
        action: "action",
        related: "related"
    }
});

impl Event {
    /// True for `Warning` events.
    pub fn is_warning(&self) -> bool {
        self.type_ == Some(EventType::Warning)
    }
}

/// The component (and host) that reported an [`Event`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    /// The reporting component (`"kubelet"`, `"default-scheduler"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The node the component runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A series of repeated occurrences of an [`Event`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSeries {
    /// How many times the event occurred in this series so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// When the last occurrence was observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_time: Option<MicroTime>,
}

/// The severity of an [`Event`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum EventType {
    /// Nothing wrong: information.
    #[default]
    Normal,
    /// Something may need attention.
    Warning,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_style_events_with_null_times_decode() {
        let ev: Event = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"p.1"},
                "involvedObject":{"kind":"Pod","name":"p"},"type":"Warning","count":3,
                "eventTime":null,"reportingComponent":"","reportingInstance":"",
                "source":{"component":"kubelet","host":"n1"}}"#,
        )
        .unwrap();
        assert!(ev.is_warning());
        assert_eq!(ev.event_time, None);
        assert_eq!(ev.source.host.as_deref(), Some("n1"));
        let out = serde_json::to_value(&ev).unwrap();
        assert!(out.get("eventTime").is_none());
        assert_eq!(out["reportingComponent"], "");
    }
}
