//! `apps/v1`: Deployment, ReplicaSet and DaemonSet.

use super::super::schema::{B, I32, I64, INT_OR_STR, Message, OPT, PTR, REQ, S, TIME, f, m, rep};
use super::core_v1::POD_TEMPLATE_SPEC;
use super::meta_v1::{LABEL_SELECTOR, OBJECT_META};

/// `Deployment`.
pub(crate) static DEPLOYMENT: Message = Message::new(
    "Deployment",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&DEPLOYMENT_SPEC), OPT),
        f(3, "status", m(&DEPLOYMENT_STATUS), OPT),
    ],
);

/// `DeploymentSpec`.
static DEPLOYMENT_SPEC: Message = Message::new(
    "DeploymentSpec",
    &[
        f(1, "replicas", I32, PTR),
        f(2, "selector", m(&LABEL_SELECTOR), PTR),
        f(3, "template", m(&POD_TEMPLATE_SPEC), REQ),
        f(4, "strategy", m(&DEPLOYMENT_STRATEGY), OPT),
        f(5, "minReadySeconds", I32, OPT),
        f(6, "revisionHistoryLimit", I32, PTR),
        f(7, "paused", B, OPT),
        f(9, "progressDeadlineSeconds", I32, PTR),
    ],
);

/// `DeploymentStrategy`.
static DEPLOYMENT_STRATEGY: Message = Message::new(
    "DeploymentStrategy",
    &[
        f(1, "type", S, OPT),
        f(2, "rollingUpdate", m(&ROLLING_UPDATE), PTR),
    ],
);

/// `RollingUpdateDeployment` and `RollingUpdateDaemonSet`, which have the same fields.
static ROLLING_UPDATE: Message = Message::new(
    "RollingUpdateDeployment",
    &[
        f(1, "maxUnavailable", INT_OR_STR, PTR),
        f(2, "maxSurge", INT_OR_STR, PTR),
    ],
);

/// `DeploymentStatus`.
static DEPLOYMENT_STATUS: Message = Message::new(
    "DeploymentStatus",
    &[
        f(1, "observedGeneration", I64, OPT),
        f(2, "replicas", I32, OPT),
        f(3, "updatedReplicas", I32, OPT),
        f(7, "readyReplicas", I32, OPT),
        f(4, "availableReplicas", I32, OPT),
        f(5, "unavailableReplicas", I32, OPT),
        f(9, "terminatingReplicas", I32, PTR),
        rep(6, "conditions", m(&DEPLOYMENT_CONDITION), OPT),
        f(8, "collisionCount", I32, PTR),
    ],
);

/// `DeploymentCondition`.
static DEPLOYMENT_CONDITION: Message = Message::new(
    "DeploymentCondition",
    &[
        f(1, "type", S, REQ),
        f(2, "status", S, REQ),
        f(6, "lastUpdateTime", TIME, OPT),
        f(7, "lastTransitionTime", TIME, OPT),
        f(4, "reason", S, OPT),
        f(5, "message", S, OPT),
    ],
);

/// `ReplicaSet`.
pub(crate) static REPLICA_SET: Message = Message::new(
    "ReplicaSet",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&REPLICA_SET_SPEC), OPT),
        f(3, "status", m(&REPLICA_SET_STATUS), OPT),
    ],
);

/// `ReplicaSetSpec`.
static REPLICA_SET_SPEC: Message = Message::new(
    "ReplicaSetSpec",
    &[
        f(1, "replicas", I32, PTR),
        f(4, "minReadySeconds", I32, OPT),
        f(2, "selector", m(&LABEL_SELECTOR), PTR),
        f(3, "template", m(&POD_TEMPLATE_SPEC), OPT),
    ],
);

/// `ReplicaSetStatus`: `replicas` has no `omitempty`.
static REPLICA_SET_STATUS: Message = Message::new(
    "ReplicaSetStatus",
    &[
        f(1, "replicas", I32, REQ),
        f(2, "fullyLabeledReplicas", I32, OPT),
        f(4, "readyReplicas", I32, OPT),
        f(5, "availableReplicas", I32, OPT),
        f(7, "terminatingReplicas", I32, PTR),
        f(3, "observedGeneration", I64, OPT),
        rep(6, "conditions", m(&WORKLOAD_CONDITION), OPT),
    ],
);

/// `ReplicaSetCondition` and `DaemonSetCondition`, which have the same fields.
static WORKLOAD_CONDITION: Message = Message::new(
    "ReplicaSetCondition",
    &[
        f(1, "type", S, REQ),
        f(2, "status", S, REQ),
        f(3, "lastTransitionTime", TIME, OPT),
        f(4, "reason", S, OPT),
        f(5, "message", S, OPT),
    ],
);

/// `DaemonSet`.
pub(crate) static DAEMON_SET: Message = Message::new(
    "DaemonSet",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&DAEMON_SET_SPEC), OPT),
        f(3, "status", m(&DAEMON_SET_STATUS), OPT),
    ],
);

/// `DaemonSetSpec`.
static DAEMON_SET_SPEC: Message = Message::new(
    "DaemonSetSpec",
    &[
        f(1, "selector", m(&LABEL_SELECTOR), PTR),
        f(2, "template", m(&POD_TEMPLATE_SPEC), REQ),
        f(3, "updateStrategy", m(&DAEMON_SET_UPDATE_STRATEGY), OPT),
        f(4, "minReadySeconds", I32, OPT),
        f(6, "revisionHistoryLimit", I32, PTR),
    ],
);

/// `DaemonSetUpdateStrategy`.
static DAEMON_SET_UPDATE_STRATEGY: Message = Message::new(
    "DaemonSetUpdateStrategy",
    &[
        f(1, "type", S, OPT),
        f(2, "rollingUpdate", m(&ROLLING_UPDATE), PTR),
    ],
);

/// `DaemonSetStatus`: the four counts have no `omitempty`.
static DAEMON_SET_STATUS: Message = Message::new(
    "DaemonSetStatus",
    &[
        f(1, "currentNumberScheduled", I32, REQ),
        f(2, "numberMisscheduled", I32, REQ),
        f(3, "desiredNumberScheduled", I32, REQ),
        f(4, "numberReady", I32, REQ),
        f(5, "observedGeneration", I64, OPT),
        f(6, "updatedNumberScheduled", I32, OPT),
        f(7, "numberAvailable", I32, OPT),
        f(8, "numberUnavailable", I32, OPT),
        f(9, "collisionCount", I32, PTR),
        rep(10, "conditions", m(&WORKLOAD_CONDITION), OPT),
    ],
);
