//! `core/v1` Pod: spec, status and the pod template of the workload kinds.

use super::super::super::schema::{
    B, I32, I64, Message, OPT, PTR, QTY, REQ, S, TIME, f, m, map, rep,
};
use super::super::meta_v1::OBJECT_META;
use super::LOCAL_OBJECT_REFERENCE;
use super::container::{
    CONTAINER, EPHEMERAL_CONTAINER, POD_SECURITY_CONTEXT, RESOURCE_REQUIREMENTS,
};
use super::scheduling::{AFFINITY, TOLERATION, TOPOLOGY_SPREAD_CONSTRAINT};
use super::volume::VOLUME;

/// `Pod`.
pub(crate) static POD: Message = Message::new(
    "Pod",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&POD_SPEC), OPT),
        f(3, "status", m(&POD_STATUS), OPT),
    ],
);

/// `PodTemplateSpec`.
pub(crate) static POD_TEMPLATE_SPEC: Message = Message::new(
    "PodTemplateSpec",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&POD_SPEC), OPT),
    ],
);

/// `PodSpec`.
static POD_SPEC: Message = Message::new(
    "PodSpec",
    &[
        rep(1, "volumes", m(&VOLUME), OPT),
        rep(20, "initContainers", m(&CONTAINER), OPT),
        rep(2, "containers", m(&CONTAINER), REQ),
        rep(34, "ephemeralContainers", m(&EPHEMERAL_CONTAINER), OPT),
        f(3, "restartPolicy", S, OPT),
        f(4, "terminationGracePeriodSeconds", I64, PTR),
        f(5, "activeDeadlineSeconds", I64, PTR),
        f(6, "dnsPolicy", S, OPT),
        map(7, "nodeSelector", S, OPT),
        f(8, "serviceAccountName", S, OPT),
        f(9, "serviceAccount", S, OPT),
        f(21, "automountServiceAccountToken", B, PTR),
        f(10, "nodeName", S, OPT),
        f(11, "hostNetwork", B, OPT),
        f(12, "hostPID", B, OPT),
        f(13, "hostIPC", B, OPT),
        f(27, "shareProcessNamespace", B, PTR),
        f(14, "securityContext", m(&POD_SECURITY_CONTEXT), PTR),
        rep(15, "imagePullSecrets", m(&LOCAL_OBJECT_REFERENCE), OPT),
        f(16, "hostname", S, OPT),
        f(17, "subdomain", S, OPT),
        f(18, "affinity", m(&AFFINITY), PTR),
        f(19, "schedulerName", S, OPT),
        rep(22, "tolerations", m(&TOLERATION), OPT),
        rep(23, "hostAliases", m(&HOST_ALIAS), OPT),
        f(24, "priorityClassName", S, OPT),
        f(25, "priority", I32, PTR),
        f(26, "dnsConfig", m(&POD_DNS_CONFIG), PTR),
        rep(28, "readinessGates", m(&POD_READINESS_GATE), OPT),
        f(29, "runtimeClassName", S, PTR),
        f(30, "enableServiceLinks", B, PTR),
        f(31, "preemptionPolicy", S, PTR),
        map(32, "overhead", QTY, OPT),
        rep(
            33,
            "topologySpreadConstraints",
            m(&TOPOLOGY_SPREAD_CONSTRAINT),
            OPT,
        ),
        f(35, "setHostnameAsFQDN", B, PTR),
        f(36, "os", m(&NAME_ONLY), PTR),
        f(37, "hostUsers", B, PTR),
        rep(38, "schedulingGates", m(&NAME_ONLY), OPT),
        rep(39, "resourceClaims", m(&POD_RESOURCE_CLAIM), OPT),
        f(40, "resources", m(&RESOURCE_REQUIREMENTS), PTR),
    ],
);

/// `PodOS` and `PodSchedulingGate`: a required name.
static NAME_ONLY: Message = Message::new("PodOS", &[f(1, "name", S, REQ)]);

/// `HostAlias`.
static HOST_ALIAS: Message = Message::new(
    "HostAlias",
    &[f(1, "ip", S, REQ), rep(2, "hostnames", S, OPT)],
);

/// `PodDNSConfig`.
static POD_DNS_CONFIG: Message = Message::new(
    "PodDNSConfig",
    &[
        rep(1, "nameservers", S, OPT),
        rep(2, "searches", S, OPT),
        rep(3, "options", m(&POD_DNS_CONFIG_OPTION), OPT),
    ],
);

/// `PodDNSConfigOption`.
static POD_DNS_CONFIG_OPTION: Message = Message::new(
    "PodDNSConfigOption",
    &[f(1, "name", S, OPT), f(2, "value", S, PTR)],
);

/// `PodReadinessGate`.
static POD_READINESS_GATE: Message =
    Message::new("PodReadinessGate", &[f(1, "conditionType", S, REQ)]);

/// `PodResourceClaim`.
static POD_RESOURCE_CLAIM: Message = Message::new(
    "PodResourceClaim",
    &[
        f(1, "name", S, REQ),
        f(3, "resourceClaimName", S, PTR),
        f(4, "resourceClaimTemplateName", S, PTR),
    ],
);

/// `PodStatus`.
static POD_STATUS: Message = Message::new(
    "PodStatus",
    &[
        f(17, "observedGeneration", I64, OPT),
        f(1, "phase", S, OPT),
        rep(2, "conditions", m(&POD_CONDITION), OPT),
        f(3, "message", S, OPT),
        f(4, "reason", S, OPT),
        f(11, "nominatedNodeName", S, OPT),
        f(5, "hostIP", S, OPT),
        rep(16, "hostIPs", m(&IP), OPT),
        f(6, "podIP", S, OPT),
        rep(12, "podIPs", m(&IP), OPT),
        f(7, "startTime", TIME, PTR),
        rep(10, "initContainerStatuses", m(&CONTAINER_STATUS), OPT),
        rep(8, "containerStatuses", m(&CONTAINER_STATUS), OPT),
        f(9, "qosClass", S, OPT),
        rep(13, "ephemeralContainerStatuses", m(&CONTAINER_STATUS), OPT),
        f(14, "resize", S, OPT),
        rep(
            15,
            "resourceClaimStatuses",
            m(&POD_RESOURCE_CLAIM_STATUS),
            OPT,
        ),
        map(19, "allocatedResources", QTY, OPT),
        f(20, "resources", m(&RESOURCE_REQUIREMENTS), PTR),
    ],
);

/// `PodCondition`.
static POD_CONDITION: Message = Message::new(
    "PodCondition",
    &[
        f(1, "type", S, REQ),
        f(7, "observedGeneration", I64, OPT),
        f(2, "status", S, REQ),
        f(3, "lastProbeTime", TIME, OPT),
        f(4, "lastTransitionTime", TIME, OPT),
        f(5, "reason", S, OPT),
        f(6, "message", S, OPT),
    ],
);

/// `HostIP` and `PodIP`.
static IP: Message = Message::new("PodIP", &[f(1, "ip", S, REQ)]);

/// `PodResourceClaimStatus`.
static POD_RESOURCE_CLAIM_STATUS: Message = Message::new(
    "PodResourceClaimStatus",
    &[f(1, "name", S, REQ), f(2, "resourceClaimName", S, PTR)],
);

/// `ContainerStatus`.
static CONTAINER_STATUS: Message = Message::new(
    "ContainerStatus",
    &[
        f(1, "name", S, REQ),
        f(2, "state", m(&CONTAINER_STATE), OPT),
        f(3, "lastState", m(&CONTAINER_STATE), OPT),
        f(4, "ready", B, REQ),
        f(5, "restartCount", I32, REQ),
        f(6, "image", S, REQ),
        f(7, "imageID", S, REQ),
        f(8, "containerID", S, OPT),
        f(9, "started", B, PTR),
        map(10, "allocatedResources", QTY, OPT),
        f(11, "resources", m(&RESOURCE_REQUIREMENTS), PTR),
        rep(12, "volumeMounts", m(&VOLUME_MOUNT_STATUS), OPT),
        f(13, "user", m(&CONTAINER_USER), PTR),
        rep(14, "allocatedResourcesStatus", m(&RESOURCE_STATUS), OPT),
        f(15, "stopSignal", S, PTR),
    ],
);

/// `ContainerState`.
static CONTAINER_STATE: Message = Message::new(
    "ContainerState",
    &[
        f(1, "waiting", m(&CONTAINER_STATE_WAITING), PTR),
        f(2, "running", m(&CONTAINER_STATE_RUNNING), PTR),
        f(3, "terminated", m(&CONTAINER_STATE_TERMINATED), PTR),
    ],
);

/// `ContainerStateWaiting`.
static CONTAINER_STATE_WAITING: Message = Message::new(
    "ContainerStateWaiting",
    &[f(1, "reason", S, OPT), f(2, "message", S, OPT)],
);

/// `ContainerStateRunning`.
static CONTAINER_STATE_RUNNING: Message =
    Message::new("ContainerStateRunning", &[f(1, "startedAt", TIME, OPT)]);

/// `ContainerStateTerminated`.
static CONTAINER_STATE_TERMINATED: Message = Message::new(
    "ContainerStateTerminated",
    &[
        f(1, "exitCode", I32, REQ),
        f(2, "signal", I32, OPT),
        f(3, "reason", S, OPT),
        f(4, "message", S, OPT),
        f(5, "startedAt", TIME, OPT),
        f(6, "finishedAt", TIME, OPT),
        f(7, "containerID", S, OPT),
    ],
);

/// `VolumeMountStatus`.
static VOLUME_MOUNT_STATUS: Message = Message::new(
    "VolumeMountStatus",
    &[
        f(1, "name", S, REQ),
        f(2, "mountPath", S, REQ),
        f(3, "readOnly", B, OPT),
        f(4, "recursiveReadOnly", S, PTR),
    ],
);

/// `ContainerUser`.
static CONTAINER_USER: Message = Message::new(
    "ContainerUser",
    &[f(1, "linux", m(&LINUX_CONTAINER_USER), PTR)],
);

/// `LinuxContainerUser`.
static LINUX_CONTAINER_USER: Message = Message::new(
    "LinuxContainerUser",
    &[
        f(1, "uid", I64, REQ),
        f(2, "gid", I64, REQ),
        rep(3, "supplementalGroups", I64, OPT),
    ],
);

/// `ResourceStatus`.
static RESOURCE_STATUS: Message = Message::new(
    "ResourceStatus",
    &[
        f(1, "name", S, REQ),
        rep(2, "resources", m(&RESOURCE_HEALTH), OPT),
    ],
);

/// `ResourceHealth`.
static RESOURCE_HEALTH: Message = Message::new(
    "ResourceHealth",
    &[f(1, "resourceID", S, REQ), f(2, "health", S, OPT)],
);
