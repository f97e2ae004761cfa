//! The bodies of subresources from other groups: `policy/v1` Eviction (`pods/eviction`)
//! and `autoscaling/v1` Scale (`deployments/scale`, `replicasets/scale`).

use super::super::schema::{I32, Message, OPT, PTR, REQ, S, f, m};
use super::meta_v1::{DELETE_OPTIONS, OBJECT_META};

/// `policy/v1 Eviction`.
pub(crate) static EVICTION: Message = Message::new(
    "Eviction",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "deleteOptions", m(&DELETE_OPTIONS), PTR),
    ],
);

/// `autoscaling/v1 Scale`.
pub(crate) static SCALE: Message = Message::new(
    "Scale",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&SCALE_SPEC), OPT),
        f(3, "status", m(&SCALE_STATUS), OPT),
    ],
);

/// `ScaleSpec`.
static SCALE_SPEC: Message = Message::new("ScaleSpec", &[f(1, "replicas", I32, OPT)]);

/// `ScaleStatus`.
static SCALE_STATUS: Message = Message::new(
    "ScaleStatus",
    &[f(1, "replicas", I32, REQ), f(2, "selector", S, OPT)],
);
