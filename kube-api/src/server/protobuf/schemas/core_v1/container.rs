//! `core/v1` containers: ports, environment, resources, probes, lifecycle hooks, security
//! context and mounts.

use super::super::super::schema::{
    B, I32, I64, INT_OR_STR, Message, OPT, PTR, PTR_NULL, QTY, REQ, S, f, inline, m, map, rep,
};
use super::LOCAL_OBJECT_REFERENCE;

/// The fields `Container` and `EphemeralContainerCommon` share, field for field.
macro_rules! container_fields {
    () => {
        [
            f(1, "name", S, REQ),
            f(2, "image", S, OPT),
            rep(3, "command", S, OPT),
            rep(4, "args", S, OPT),
            f(5, "workingDir", S, OPT),
            rep(6, "ports", m(&CONTAINER_PORT), OPT),
            rep(19, "envFrom", m(&ENV_FROM_SOURCE), OPT),
            rep(7, "env", m(&ENV_VAR), OPT),
            f(8, "resources", m(&RESOURCE_REQUIREMENTS), OPT),
            rep(23, "resizePolicy", m(&CONTAINER_RESIZE_POLICY), OPT),
            f(24, "restartPolicy", S, PTR),
            rep(25, "restartPolicyRules", m(&CONTAINER_RESTART_RULE), OPT),
            rep(9, "volumeMounts", m(&VOLUME_MOUNT), OPT),
            rep(21, "volumeDevices", m(&VOLUME_DEVICE), OPT),
            f(10, "livenessProbe", m(&PROBE), PTR),
            f(11, "readinessProbe", m(&PROBE), PTR),
            f(22, "startupProbe", m(&PROBE), PTR),
            f(12, "lifecycle", m(&LIFECYCLE), PTR),
            f(13, "terminationMessagePath", S, OPT),
            f(20, "terminationMessagePolicy", S, OPT),
            f(14, "imagePullPolicy", S, OPT),
            f(15, "securityContext", m(&SECURITY_CONTEXT), PTR),
            f(16, "stdin", B, OPT),
            f(17, "stdinOnce", B, OPT),
            f(18, "tty", B, OPT),
        ]
    };
}

/// `Container`.
pub(crate) static CONTAINER: Message = Message::new("Container", &container_fields!());

/// `EphemeralContainer`: the container fields, inlined, and the target.
pub(crate) static EPHEMERAL_CONTAINER: Message = Message::new(
    "EphemeralContainer",
    &[
        inline(1, &EPHEMERAL_CONTAINER_COMMON),
        f(2, "targetContainerName", S, OPT),
    ],
);

/// `EphemeralContainerCommon`.
static EPHEMERAL_CONTAINER_COMMON: Message =
    Message::new("EphemeralContainerCommon", &container_fields!());

/// `ContainerPort`.
static CONTAINER_PORT: Message = Message::new(
    "ContainerPort",
    &[
        f(1, "name", S, OPT),
        f(2, "hostPort", I32, OPT),
        f(3, "containerPort", I32, REQ),
        f(4, "protocol", S, OPT),
        f(5, "hostIP", S, OPT),
    ],
);

/// `EnvVar`.
static ENV_VAR: Message = Message::new(
    "EnvVar",
    &[
        f(1, "name", S, REQ),
        f(2, "value", S, OPT),
        f(3, "valueFrom", m(&ENV_VAR_SOURCE), PTR),
    ],
);

/// `EnvVarSource`.
static ENV_VAR_SOURCE: Message = Message::new(
    "EnvVarSource",
    &[
        f(1, "fieldRef", m(&OBJECT_FIELD_SELECTOR), PTR),
        f(2, "resourceFieldRef", m(&RESOURCE_FIELD_SELECTOR), PTR),
        f(3, "configMapKeyRef", m(&KEY_SELECTOR), PTR),
        f(4, "secretKeyRef", m(&KEY_SELECTOR), PTR),
        f(5, "fileKeyRef", m(&FILE_KEY_SELECTOR), PTR),
    ],
);

/// `ObjectFieldSelector`.
pub(crate) static OBJECT_FIELD_SELECTOR: Message = Message::new(
    "ObjectFieldSelector",
    &[f(1, "apiVersion", S, OPT), f(2, "fieldPath", S, REQ)],
);

/// `ResourceFieldSelector`.
pub(crate) static RESOURCE_FIELD_SELECTOR: Message = Message::new(
    "ResourceFieldSelector",
    &[
        f(1, "containerName", S, OPT),
        f(2, "resource", S, REQ),
        f(3, "divisor", QTY, OPT),
    ],
);

/// `ConfigMapKeySelector` and `SecretKeySelector`, which have the same fields.
static KEY_SELECTOR: Message = Message::new(
    "KeySelector",
    &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        f(2, "key", S, REQ),
        f(3, "optional", B, PTR),
    ],
);

/// `FileKeySelector`.
static FILE_KEY_SELECTOR: Message = Message::new(
    "FileKeySelector",
    &[
        f(1, "volumeName", S, REQ),
        f(2, "path", S, REQ),
        f(3, "key", S, REQ),
        f(4, "optional", B, PTR),
    ],
);

/// `EnvFromSource`.
static ENV_FROM_SOURCE: Message = Message::new(
    "EnvFromSource",
    &[
        f(1, "prefix", S, OPT),
        f(2, "configMapRef", m(&ENV_SOURCE), PTR),
        f(3, "secretRef", m(&ENV_SOURCE), PTR),
    ],
);

/// `ConfigMapEnvSource` and `SecretEnvSource`, which have the same fields.
static ENV_SOURCE: Message = Message::new(
    "EnvSource",
    &[inline(1, &LOCAL_OBJECT_REFERENCE), f(2, "optional", B, PTR)],
);

/// `ResourceRequirements`.
pub(crate) static RESOURCE_REQUIREMENTS: Message = Message::new(
    "ResourceRequirements",
    &[
        map(1, "limits", QTY, OPT),
        map(2, "requests", QTY, OPT),
        rep(3, "claims", m(&RESOURCE_CLAIM), OPT),
    ],
);

/// `ResourceClaim`, a container's use of a pod's resource claim.
static RESOURCE_CLAIM: Message = Message::new(
    "ResourceClaim",
    &[f(1, "name", S, REQ), f(2, "request", S, OPT)],
);

/// `ContainerResizePolicy`.
static CONTAINER_RESIZE_POLICY: Message = Message::new(
    "ContainerResizePolicy",
    &[f(1, "resourceName", S, REQ), f(2, "restartPolicy", S, REQ)],
);

/// `ContainerRestartRule`.
static CONTAINER_RESTART_RULE: Message = Message::new(
    "ContainerRestartRule",
    &[
        f(1, "action", S, OPT),
        f(
            2,
            "exitCodes",
            m(&CONTAINER_RESTART_RULE_ON_EXIT_CODES),
            PTR,
        ),
    ],
);

/// `ContainerRestartRuleOnExitCodes`.
static CONTAINER_RESTART_RULE_ON_EXIT_CODES: Message = Message::new(
    "ContainerRestartRuleOnExitCodes",
    &[f(1, "operator", S, OPT), rep(2, "values", I32, OPT)],
);

/// `VolumeMount`.
static VOLUME_MOUNT: Message = Message::new(
    "VolumeMount",
    &[
        f(1, "name", S, REQ),
        f(2, "readOnly", B, OPT),
        f(7, "recursiveReadOnly", S, PTR),
        f(3, "mountPath", S, REQ),
        f(4, "subPath", S, OPT),
        f(5, "mountPropagation", S, PTR),
        f(6, "subPathExpr", S, OPT),
    ],
);

/// `VolumeDevice`.
static VOLUME_DEVICE: Message = Message::new(
    "VolumeDevice",
    &[f(1, "name", S, REQ), f(2, "devicePath", S, REQ)],
);

/// `Probe`: the handler inlined, then the timings.
static PROBE: Message = Message::new(
    "Probe",
    &[
        inline(1, &PROBE_HANDLER),
        f(2, "initialDelaySeconds", I32, OPT),
        f(3, "timeoutSeconds", I32, OPT),
        f(4, "periodSeconds", I32, OPT),
        f(5, "successThreshold", I32, OPT),
        f(6, "failureThreshold", I32, OPT),
        f(7, "terminationGracePeriodSeconds", I64, PTR),
    ],
);

/// `ProbeHandler`.
static PROBE_HANDLER: Message = Message::new(
    "ProbeHandler",
    &[
        f(1, "exec", m(&EXEC_ACTION), PTR),
        f(2, "httpGet", m(&HTTP_GET_ACTION), PTR),
        f(3, "tcpSocket", m(&TCP_SOCKET_ACTION), PTR),
        f(4, "grpc", m(&GRPC_ACTION), PTR),
    ],
);

/// `ExecAction`.
static EXEC_ACTION: Message = Message::new("ExecAction", &[rep(1, "command", S, OPT)]);

/// `HTTPGetAction`.
static HTTP_GET_ACTION: Message = Message::new(
    "HTTPGetAction",
    &[
        f(1, "path", S, OPT),
        f(2, "port", INT_OR_STR, REQ),
        f(3, "host", S, OPT),
        f(4, "scheme", S, OPT),
        rep(5, "httpHeaders", m(&HTTP_HEADER), OPT),
    ],
);

/// `HTTPHeader`.
static HTTP_HEADER: Message =
    Message::new("HTTPHeader", &[f(1, "name", S, REQ), f(2, "value", S, REQ)]);

/// `TCPSocketAction`.
static TCP_SOCKET_ACTION: Message = Message::new(
    "TCPSocketAction",
    &[f(1, "port", INT_OR_STR, REQ), f(2, "host", S, OPT)],
);

/// `GRPCAction`: `service` is a pointer Go writes as `null` when unset.
static GRPC_ACTION: Message = Message::new(
    "GRPCAction",
    &[f(1, "port", I32, REQ), f(2, "service", S, PTR_NULL)],
);

/// `Lifecycle`.
static LIFECYCLE: Message = Message::new(
    "Lifecycle",
    &[
        f(1, "postStart", m(&LIFECYCLE_HANDLER), PTR),
        f(2, "preStop", m(&LIFECYCLE_HANDLER), PTR),
        f(3, "stopSignal", S, PTR),
    ],
);

/// `LifecycleHandler`.
static LIFECYCLE_HANDLER: Message = Message::new(
    "LifecycleHandler",
    &[
        f(1, "exec", m(&EXEC_ACTION), PTR),
        f(2, "httpGet", m(&HTTP_GET_ACTION), PTR),
        f(3, "tcpSocket", m(&TCP_SOCKET_ACTION), PTR),
        f(4, "sleep", m(&SLEEP_ACTION), PTR),
    ],
);

/// `SleepAction`.
static SLEEP_ACTION: Message = Message::new("SleepAction", &[f(1, "seconds", I64, REQ)]);

/// `SecurityContext` of a container.
static SECURITY_CONTEXT: Message = Message::new(
    "SecurityContext",
    &[
        f(1, "capabilities", m(&CAPABILITIES), PTR),
        f(2, "privileged", B, PTR),
        f(3, "seLinuxOptions", m(&SE_LINUX_OPTIONS), PTR),
        f(
            10,
            "windowsOptions",
            m(&WINDOWS_SECURITY_CONTEXT_OPTIONS),
            PTR,
        ),
        f(4, "runAsUser", I64, PTR),
        f(8, "runAsGroup", I64, PTR),
        f(5, "runAsNonRoot", B, PTR),
        f(6, "readOnlyRootFilesystem", B, PTR),
        f(7, "allowPrivilegeEscalation", B, PTR),
        f(9, "procMount", S, PTR),
        f(11, "seccompProfile", m(&SECCOMP_PROFILE), PTR),
        f(12, "appArmorProfile", m(&SECCOMP_PROFILE), PTR),
    ],
);

/// `PodSecurityContext`.
pub(crate) static POD_SECURITY_CONTEXT: Message = Message::new(
    "PodSecurityContext",
    &[
        f(1, "seLinuxOptions", m(&SE_LINUX_OPTIONS), PTR),
        f(
            8,
            "windowsOptions",
            m(&WINDOWS_SECURITY_CONTEXT_OPTIONS),
            PTR,
        ),
        f(2, "runAsUser", I64, PTR),
        f(6, "runAsGroup", I64, PTR),
        f(3, "runAsNonRoot", B, PTR),
        rep(4, "supplementalGroups", I64, OPT),
        f(12, "supplementalGroupsPolicy", S, PTR),
        f(5, "fsGroup", I64, PTR),
        rep(7, "sysctls", m(&SYSCTL), OPT),
        f(9, "fsGroupChangePolicy", S, PTR),
        f(10, "seccompProfile", m(&SECCOMP_PROFILE), PTR),
        f(11, "appArmorProfile", m(&SECCOMP_PROFILE), PTR),
        f(13, "seLinuxChangePolicy", S, PTR),
    ],
);

/// `Capabilities`.
static CAPABILITIES: Message = Message::new(
    "Capabilities",
    &[rep(1, "add", S, OPT), rep(2, "drop", S, OPT)],
);

/// `SELinuxOptions`.
static SE_LINUX_OPTIONS: Message = Message::new(
    "SELinuxOptions",
    &[
        f(1, "user", S, OPT),
        f(2, "role", S, OPT),
        f(3, "type", S, OPT),
        f(4, "level", S, OPT),
    ],
);

/// `WindowsSecurityContextOptions`.
static WINDOWS_SECURITY_CONTEXT_OPTIONS: Message = Message::new(
    "WindowsSecurityContextOptions",
    &[
        f(1, "gmsaCredentialSpecName", S, PTR),
        f(2, "gmsaCredentialSpec", S, PTR),
        f(3, "runAsUserName", S, PTR),
        f(4, "hostProcess", B, PTR),
    ],
);

/// `SeccompProfile` and `AppArmorProfile`, which have the same fields.
static SECCOMP_PROFILE: Message = Message::new(
    "SeccompProfile",
    &[f(1, "type", S, REQ), f(2, "localhostProfile", S, PTR)],
);

/// `Sysctl`.
static SYSCTL: Message = Message::new("Sysctl", &[f(1, "name", S, REQ), f(2, "value", S, REQ)]);
