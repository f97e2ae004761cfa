//! `core/v1` Node.

use super::super::super::schema::{
    B, I32, I64, Message, OPT, PTR, QTY, REQ, S, TIME, f, m, map, rep,
};
use super::super::meta_v1::OBJECT_META;

/// `Node`.
pub(crate) static NODE: Message = Message::new(
    "Node",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&NODE_SPEC), OPT),
        f(3, "status", m(&NODE_STATUS), OPT),
    ],
);

/// `NodeSpec`.
static NODE_SPEC: Message = Message::new(
    "NodeSpec",
    &[
        f(1, "podCIDR", S, OPT),
        rep(7, "podCIDRs", S, OPT),
        f(3, "providerID", S, OPT),
        f(4, "unschedulable", B, OPT),
        rep(5, "taints", m(&TAINT), OPT),
        f(2, "externalID", S, OPT),
    ],
);

/// `Taint`.
static TAINT: Message = Message::new(
    "Taint",
    &[
        f(1, "key", S, REQ),
        f(2, "value", S, OPT),
        f(3, "effect", S, REQ),
        f(4, "timeAdded", TIME, PTR),
    ],
);

/// `NodeStatus`.
static NODE_STATUS: Message = Message::new(
    "NodeStatus",
    &[
        map(1, "capacity", QTY, OPT),
        map(2, "allocatable", QTY, OPT),
        f(3, "phase", S, OPT),
        rep(4, "conditions", m(&NODE_CONDITION), OPT),
        rep(5, "addresses", m(&NODE_ADDRESS), OPT),
        f(6, "daemonEndpoints", m(&NODE_DAEMON_ENDPOINTS), OPT),
        f(7, "nodeInfo", m(&NODE_SYSTEM_INFO), OPT),
        rep(8, "images", m(&CONTAINER_IMAGE), OPT),
        rep(9, "volumesInUse", S, OPT),
        rep(10, "volumesAttached", m(&ATTACHED_VOLUME), OPT),
        rep(12, "runtimeHandlers", m(&NODE_RUNTIME_HANDLER), OPT),
        f(13, "features", m(&NODE_FEATURES), PTR),
    ],
);

/// `NodeCondition`.
static NODE_CONDITION: Message = Message::new(
    "NodeCondition",
    &[
        f(1, "type", S, REQ),
        f(2, "status", S, REQ),
        f(3, "lastHeartbeatTime", TIME, OPT),
        f(4, "lastTransitionTime", TIME, OPT),
        f(5, "reason", S, OPT),
        f(6, "message", S, OPT),
    ],
);

/// `NodeAddress`.
static NODE_ADDRESS: Message = Message::new(
    "NodeAddress",
    &[f(1, "type", S, REQ), f(2, "address", S, REQ)],
);

/// `NodeDaemonEndpoints`.
static NODE_DAEMON_ENDPOINTS: Message = Message::new(
    "NodeDaemonEndpoints",
    &[f(1, "kubeletEndpoint", m(&DAEMON_ENDPOINT), OPT)],
);

/// `DaemonEndpoint`: Go names its one field `Port`, capitalised.
static DAEMON_ENDPOINT: Message = Message::new("DaemonEndpoint", &[f(1, "Port", I32, REQ)]);

/// `NodeSystemInfo`: every string is always written.
static NODE_SYSTEM_INFO: Message = Message::new(
    "NodeSystemInfo",
    &[
        f(1, "machineID", S, REQ),
        f(2, "systemUUID", S, REQ),
        f(3, "bootID", S, REQ),
        f(4, "kernelVersion", S, REQ),
        f(5, "osImage", S, REQ),
        f(6, "containerRuntimeVersion", S, REQ),
        f(7, "kubeletVersion", S, REQ),
        f(8, "kubeProxyVersion", S, REQ),
        f(9, "operatingSystem", S, REQ),
        f(10, "architecture", S, REQ),
        f(11, "swap", m(&NODE_SWAP_STATUS), PTR),
    ],
);

/// `NodeSwapStatus`.
static NODE_SWAP_STATUS: Message = Message::new("NodeSwapStatus", &[f(1, "capacity", I64, PTR)]);

/// `ContainerImage`: `names` has no `omitempty`.
static CONTAINER_IMAGE: Message = Message::new(
    "ContainerImage",
    &[rep(1, "names", S, REQ), f(2, "sizeBytes", I64, OPT)],
);

/// `AttachedVolume`.
static ATTACHED_VOLUME: Message = Message::new(
    "AttachedVolume",
    &[f(1, "name", S, REQ), f(2, "devicePath", S, REQ)],
);

/// `NodeRuntimeHandler`.
static NODE_RUNTIME_HANDLER: Message = Message::new(
    "NodeRuntimeHandler",
    &[
        f(1, "name", S, REQ),
        f(2, "features", m(&NODE_RUNTIME_HANDLER_FEATURES), PTR),
    ],
);

/// `NodeRuntimeHandlerFeatures`.
static NODE_RUNTIME_HANDLER_FEATURES: Message = Message::new(
    "NodeRuntimeHandlerFeatures",
    &[
        f(1, "recursiveReadOnlyMounts", B, PTR),
        f(2, "userNamespaces", B, PTR),
    ],
);

/// `NodeFeatures`.
static NODE_FEATURES: Message =
    Message::new("NodeFeatures", &[f(1, "supplementalGroupsPolicy", B, PTR)]);
