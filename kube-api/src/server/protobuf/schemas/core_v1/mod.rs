//! `core/v1`: the kinds of the core group and the subresource body `Binding`.

mod container;
mod node;
mod pod;
mod scheduling;
mod service;
mod volume;

pub(crate) use node::NODE;
pub(crate) use pod::{POD, POD_TEMPLATE_SPEC};
pub(crate) use service::SERVICE;

use super::super::schema::{B, BYTES, I32, MICRO, Message, OPT, PTR, REQ, S, TIME, f, m, map, rep};
use super::meta_v1::OBJECT_META;

/// `LocalObjectReference`.
pub(crate) static LOCAL_OBJECT_REFERENCE: Message =
    Message::new("LocalObjectReference", &[f(1, "name", S, OPT)]);

/// `ObjectReference`.
static OBJECT_REFERENCE: Message = Message::new(
    "ObjectReference",
    &[
        f(1, "kind", S, OPT),
        f(2, "namespace", S, OPT),
        f(3, "name", S, OPT),
        f(4, "uid", S, OPT),
        f(5, "apiVersion", S, OPT),
        f(6, "resourceVersion", S, OPT),
        f(7, "fieldPath", S, OPT),
    ],
);

/// `Namespace`.
pub(crate) static NAMESPACE: Message = Message::new(
    "Namespace",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&NAMESPACE_SPEC), OPT),
        f(3, "status", m(&NAMESPACE_STATUS), OPT),
    ],
);

/// `NamespaceSpec`.
static NAMESPACE_SPEC: Message = Message::new("NamespaceSpec", &[rep(1, "finalizers", S, OPT)]);

/// `NamespaceStatus`.
static NAMESPACE_STATUS: Message = Message::new(
    "NamespaceStatus",
    &[
        f(1, "phase", S, OPT),
        rep(2, "conditions", m(&NAMESPACE_CONDITION), OPT),
    ],
);

/// `NamespaceCondition`.
static NAMESPACE_CONDITION: Message = Message::new(
    "NamespaceCondition",
    &[
        f(1, "type", S, REQ),
        f(2, "status", S, REQ),
        f(4, "lastTransitionTime", TIME, OPT),
        f(5, "reason", S, OPT),
        f(6, "message", S, OPT),
    ],
);

/// `ConfigMap`.
pub(crate) static CONFIG_MAP: Message = Message::new(
    "ConfigMap",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(4, "immutable", B, PTR),
        map(2, "data", S, OPT),
        map(3, "binaryData", BYTES, OPT),
    ],
);

/// `Secret`.
pub(crate) static SECRET: Message = Message::new(
    "Secret",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(5, "immutable", B, PTR),
        map(2, "data", BYTES, OPT),
        map(4, "stringData", S, OPT),
        f(3, "type", S, OPT),
    ],
);

/// `ServiceAccount`.
pub(crate) static SERVICE_ACCOUNT: Message = Message::new(
    "ServiceAccount",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        rep(2, "secrets", m(&OBJECT_REFERENCE), OPT),
        rep(3, "imagePullSecrets", m(&LOCAL_OBJECT_REFERENCE), OPT),
        f(4, "automountServiceAccountToken", B, PTR),
    ],
);

/// `Endpoints`.
pub(crate) static ENDPOINTS: Message = Message::new(
    "Endpoints",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        rep(2, "subsets", m(&ENDPOINT_SUBSET), OPT),
    ],
);

/// `EndpointSubset`.
static ENDPOINT_SUBSET: Message = Message::new(
    "EndpointSubset",
    &[
        rep(1, "addresses", m(&ENDPOINT_ADDRESS), OPT),
        rep(2, "notReadyAddresses", m(&ENDPOINT_ADDRESS), OPT),
        rep(3, "ports", m(&ENDPOINT_PORT), OPT),
    ],
);

/// `EndpointAddress`.
static ENDPOINT_ADDRESS: Message = Message::new(
    "EndpointAddress",
    &[
        f(1, "ip", S, REQ),
        f(3, "hostname", S, OPT),
        f(4, "nodeName", S, PTR),
        f(2, "targetRef", m(&OBJECT_REFERENCE), PTR),
    ],
);

/// `EndpointPort`.
static ENDPOINT_PORT: Message = Message::new(
    "EndpointPort",
    &[
        f(1, "name", S, OPT),
        f(2, "port", I32, REQ),
        f(3, "protocol", S, OPT),
        f(4, "appProtocol", S, PTR),
    ],
);

/// `Event` (core/v1).
pub(crate) static EVENT: Message = Message::new(
    "Event",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "involvedObject", m(&OBJECT_REFERENCE), REQ),
        f(3, "reason", S, OPT),
        f(4, "message", S, OPT),
        f(5, "source", m(&EVENT_SOURCE), OPT),
        f(6, "firstTimestamp", TIME, OPT),
        f(7, "lastTimestamp", TIME, OPT),
        f(8, "count", I32, OPT),
        f(9, "type", S, OPT),
        f(10, "eventTime", MICRO, OPT),
        f(11, "series", m(&EVENT_SERIES), PTR),
        f(12, "action", S, OPT),
        f(13, "related", m(&OBJECT_REFERENCE), PTR),
        f(14, "reportingComponent", S, REQ),
        f(15, "reportingInstance", S, REQ),
    ],
);

/// `EventSource`.
static EVENT_SOURCE: Message = Message::new(
    "EventSource",
    &[f(1, "component", S, OPT), f(2, "host", S, OPT)],
);

/// `EventSeries`.
static EVENT_SERIES: Message = Message::new(
    "EventSeries",
    &[
        f(1, "count", I32, OPT),
        f(2, "lastObservedTime", MICRO, REQ),
    ],
);

/// `Binding`, the body of `pods/binding`.
pub(crate) static BINDING: Message = Message::new(
    "Binding",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "target", m(&OBJECT_REFERENCE), REQ),
    ],
);
