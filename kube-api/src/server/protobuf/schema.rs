//! The protobuf messages of the kinds we model: field numbers, JSON names and types, as
//! Kubernetes' `generated.proto` files define them. Only what client-go's typed clients
//! send for our kinds is described; rarely used deep structures (volumes, probes,
//! affinity, security contexts) are marked unsupported, so such a body gets 415 and the
//! client can send JSON instead.

/// How a field is decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    /// A string; omitted when empty.
    Str,
    /// Bytes, written as base64.
    Bytes,
    /// An int32 Go omits when zero.
    I32,
    /// An int64 Go omits when zero.
    I64,
    /// A `*int32`: zero is kept.
    I32P,
    /// A `*int64`: zero is kept.
    I64P,
    /// A bool Go omits when false.
    Bool,
    /// A `*bool`: false is kept.
    BoolP,
    /// A nested message.
    Msg(&'static Msg),
    /// A message whose fields Go's JSON inlines into the parent.
    Inline(&'static Msg),
    /// `metav1.Time`.
    Time,
    /// `metav1.MicroTime`.
    MicroTime,
    /// `resource.Quantity`.
    Quantity,
    /// `intstr.IntOrString`.
    IntOrString,
    /// `runtime.RawExtension` or `FieldsV1`: raw JSON bytes.
    RawJson,
    /// `map<string, string>`.
    MapStr,
    /// `map<string, bytes>`.
    MapBytes,
    /// `map<string, Quantity>`.
    MapQuantity,
    /// Read and dropped (a status the server does not take on create).
    Ignore,
    /// Present in the message, not decoded: the body gets 415.
    Unsupported,
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) no: u32,
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    pub(crate) repeated: bool,
}

/// A message: its name (for errors) and fields.
#[derive(Debug)]
pub(crate) struct Msg {
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
}

const fn f(no: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        no,
        name,
        ty,
        repeated: false,
    }
}

const fn rep(no: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        no,
        name,
        ty,
        repeated: true,
    }
}

use Ty::*;

// --- meta/v1 -------------------------------------------------------------------------

static OBJECT_META: Msg = Msg {
    name: "ObjectMeta",
    fields: &[
        f(1, "name", Str),
        f(2, "generateName", Str),
        f(3, "namespace", Str),
        f(4, "selfLink", Str),
        f(5, "uid", Str),
        f(6, "resourceVersion", Str),
        f(7, "generation", I64),
        f(8, "creationTimestamp", Time),
        f(9, "deletionTimestamp", Time),
        f(10, "deletionGracePeriodSeconds", I64P),
        f(11, "labels", MapStr),
        f(12, "annotations", MapStr),
        rep(13, "ownerReferences", Msg(&OWNER_REFERENCE)),
        rep(14, "finalizers", Str),
        rep(17, "managedFields", Msg(&MANAGED_FIELDS_ENTRY)),
    ],
};

static OWNER_REFERENCE: Msg = Msg {
    name: "OwnerReference",
    fields: &[
        f(1, "kind", Str),
        f(3, "name", Str),
        f(4, "uid", Str),
        f(5, "apiVersion", Str),
        f(6, "controller", BoolP),
        f(7, "blockOwnerDeletion", BoolP),
    ],
};

static MANAGED_FIELDS_ENTRY: Msg = Msg {
    name: "ManagedFieldsEntry",
    fields: &[
        f(1, "manager", Str),
        f(2, "operation", Str),
        f(3, "apiVersion", Str),
        f(4, "time", Time),
        f(6, "fieldsType", Str),
        f(7, "fieldsV1", RawJson),
        f(8, "subresource", Str),
    ],
};

static LABEL_SELECTOR: Msg = Msg {
    name: "LabelSelector",
    fields: &[
        f(1, "matchLabels", MapStr),
        rep(2, "matchExpressions", Msg(&LABEL_SELECTOR_REQUIREMENT)),
    ],
};

static LABEL_SELECTOR_REQUIREMENT: Msg = Msg {
    name: "LabelSelectorRequirement",
    fields: &[
        f(1, "key", Str),
        f(2, "operator", Str),
        rep(3, "values", Str),
    ],
};

static DELETE_OPTIONS: Msg = Msg {
    name: "DeleteOptions",
    fields: &[
        f(1, "gracePeriodSeconds", I64P),
        f(2, "preconditions", Msg(&PRECONDITIONS)),
        f(3, "orphanDependents", BoolP),
        f(4, "propagationPolicy", Str),
        rep(5, "dryRun", Str),
        f(6, "ignoreStoreReadErrorWithClusterBreakingPotential", BoolP),
    ],
};

static PRECONDITIONS: Msg = Msg {
    name: "Preconditions",
    fields: &[f(1, "uid", Str), f(2, "resourceVersion", Str)],
};

// --- core/v1 -------------------------------------------------------------------------

static LOCAL_OBJECT_REFERENCE: Msg = Msg {
    name: "LocalObjectReference",
    fields: &[f(1, "name", Str)],
};

static OBJECT_REFERENCE: Msg = Msg {
    name: "ObjectReference",
    fields: &[
        f(1, "kind", Str),
        f(2, "namespace", Str),
        f(3, "name", Str),
        f(4, "uid", Str),
        f(5, "apiVersion", Str),
        f(6, "resourceVersion", Str),
        f(7, "fieldPath", Str),
    ],
};

static CONFIG_MAP: Msg = Msg {
    name: "ConfigMap",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "data", MapStr),
        f(3, "binaryData", MapBytes),
        f(4, "immutable", BoolP),
    ],
};

static SECRET: Msg = Msg {
    name: "Secret",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "data", MapBytes),
        f(3, "type", Str),
        f(4, "stringData", MapStr),
        f(5, "immutable", BoolP),
    ],
};

static NAMESPACE: Msg = Msg {
    name: "Namespace",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&NAMESPACE_SPEC)),
        f(3, "status", Ignore),
    ],
};

static NAMESPACE_SPEC: Msg = Msg {
    name: "NamespaceSpec",
    fields: &[rep(1, "finalizers", Str)],
};

static SERVICE_ACCOUNT: Msg = Msg {
    name: "ServiceAccount",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        rep(2, "secrets", Msg(&OBJECT_REFERENCE)),
        rep(3, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        f(4, "automountServiceAccountToken", BoolP),
    ],
};

static SERVICE: Msg = Msg {
    name: "Service",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&SERVICE_SPEC)),
        f(3, "status", Ignore),
    ],
};

static SERVICE_SPEC: Msg = Msg {
    name: "ServiceSpec",
    fields: &[
        rep(1, "ports", Msg(&SERVICE_PORT)),
        f(2, "selector", MapStr),
        f(3, "clusterIP", Str),
        f(4, "type", Str),
        rep(5, "externalIPs", Str),
        f(7, "sessionAffinity", Str),
        f(8, "loadBalancerIP", Str),
        rep(9, "loadBalancerSourceRanges", Str),
        f(10, "externalName", Str),
        f(11, "externalTrafficPolicy", Str),
        f(12, "healthCheckNodePort", I32),
        f(13, "publishNotReadyAddresses", Bool),
        f(14, "sessionAffinityConfig", Msg(&SESSION_AFFINITY_CONFIG)),
        f(17, "ipFamilyPolicy", Str),
        rep(18, "clusterIPs", Str),
        rep(19, "ipFamilies", Str),
        f(20, "allocateLoadBalancerNodePorts", BoolP),
        f(21, "loadBalancerClass", Str),
        f(22, "internalTrafficPolicy", Str),
        f(23, "trafficDistribution", Str),
    ],
};

static SERVICE_PORT: Msg = Msg {
    name: "ServicePort",
    fields: &[
        f(1, "name", Str),
        f(2, "protocol", Str),
        f(3, "port", I32P),
        f(4, "targetPort", IntOrString),
        f(5, "nodePort", I32),
        f(6, "appProtocol", Str),
    ],
};

static SESSION_AFFINITY_CONFIG: Msg = Msg {
    name: "SessionAffinityConfig",
    fields: &[f(1, "clientIP", Msg(&CLIENT_IP_CONFIG))],
};

static CLIENT_IP_CONFIG: Msg = Msg {
    name: "ClientIPConfig",
    fields: &[f(1, "timeoutSeconds", I32P)],
};

static POD: Msg = Msg {
    name: "Pod",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&POD_SPEC)),
        f(3, "status", Ignore),
    ],
};

static POD_TEMPLATE_SPEC: Msg = Msg {
    name: "PodTemplateSpec",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&POD_SPEC)),
    ],
};

static POD_SPEC: Msg = Msg {
    name: "PodSpec",
    fields: &[
        rep(1, "volumes", Unsupported),
        rep(2, "containers", Msg(&CONTAINER)),
        f(3, "restartPolicy", Str),
        f(4, "terminationGracePeriodSeconds", I64P),
        f(5, "activeDeadlineSeconds", I64P),
        f(6, "dnsPolicy", Str),
        f(7, "nodeSelector", MapStr),
        f(8, "serviceAccountName", Str),
        f(9, "serviceAccount", Str),
        f(10, "nodeName", Str),
        f(11, "hostNetwork", Bool),
        f(12, "hostPID", Bool),
        f(13, "hostIPC", Bool),
        f(14, "securityContext", Unsupported),
        rep(15, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        f(16, "hostname", Str),
        f(17, "subdomain", Str),
        f(18, "affinity", Unsupported),
        f(19, "schedulerName", Str),
        rep(20, "initContainers", Msg(&CONTAINER)),
        f(21, "automountServiceAccountToken", BoolP),
        rep(22, "tolerations", Msg(&TOLERATION)),
        rep(23, "hostAliases", Msg(&HOST_ALIAS)),
        f(24, "priorityClassName", Str),
        f(25, "priority", I32P),
        f(26, "dnsConfig", Unsupported),
        f(27, "shareProcessNamespace", BoolP),
        rep(28, "readinessGates", Msg(&READINESS_GATE)),
        f(29, "runtimeClassName", Str),
        f(30, "enableServiceLinks", BoolP),
        f(31, "preemptionPolicy", Str),
        f(32, "overhead", MapQuantity),
        rep(33, "topologySpreadConstraints", Unsupported),
        rep(34, "ephemeralContainers", Unsupported),
        f(35, "setHostnameAsFQDN", BoolP),
        f(36, "os", Msg(&POD_OS)),
        f(37, "hostUsers", BoolP),
        rep(38, "schedulingGates", Msg(&LOCAL_OBJECT_REFERENCE)),
        rep(39, "resourceClaims", Unsupported),
        f(40, "resources", Msg(&RESOURCE_REQUIREMENTS)),
    ],
};

static POD_OS: Msg = Msg {
    name: "PodOS",
    fields: &[f(1, "name", Str)],
};

static READINESS_GATE: Msg = Msg {
    name: "PodReadinessGate",
    fields: &[f(1, "conditionType", Str)],
};

static HOST_ALIAS: Msg = Msg {
    name: "HostAlias",
    fields: &[f(1, "ip", Str), rep(2, "hostnames", Str)],
};

static TOLERATION: Msg = Msg {
    name: "Toleration",
    fields: &[
        f(1, "key", Str),
        f(2, "operator", Str),
        f(3, "value", Str),
        f(4, "effect", Str),
        f(5, "tolerationSeconds", I64P),
    ],
};

static CONTAINER: Msg = Msg {
    name: "Container",
    fields: &[
        f(1, "name", Str),
        f(2, "image", Str),
        rep(3, "command", Str),
        rep(4, "args", Str),
        f(5, "workingDir", Str),
        rep(6, "ports", Msg(&CONTAINER_PORT)),
        rep(7, "env", Msg(&ENV_VAR)),
        f(8, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        rep(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
        f(10, "livenessProbe", Unsupported),
        f(11, "readinessProbe", Unsupported),
        f(12, "lifecycle", Unsupported),
        f(13, "terminationMessagePath", Str),
        f(14, "imagePullPolicy", Str),
        f(15, "securityContext", Unsupported),
        f(16, "stdin", Bool),
        f(17, "stdinOnce", Bool),
        f(18, "tty", Bool),
        rep(19, "envFrom", Msg(&ENV_FROM_SOURCE)),
        f(20, "terminationMessagePolicy", Str),
        rep(21, "volumeDevices", Msg(&VOLUME_DEVICE)),
        f(22, "startupProbe", Unsupported),
        rep(23, "resizePolicy", Msg(&RESIZE_POLICY)),
        f(24, "restartPolicy", Str),
    ],
};

static CONTAINER_PORT: Msg = Msg {
    name: "ContainerPort",
    fields: &[
        f(1, "name", Str),
        f(2, "hostPort", I32),
        f(3, "containerPort", I32P),
        f(4, "protocol", Str),
        f(5, "hostIP", Str),
    ],
};

static ENV_VAR: Msg = Msg {
    name: "EnvVar",
    fields: &[
        f(1, "name", Str),
        f(2, "value", Str),
        f(3, "valueFrom", Msg(&ENV_VAR_SOURCE)),
    ],
};

static ENV_VAR_SOURCE: Msg = Msg {
    name: "EnvVarSource",
    fields: &[
        f(1, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
        f(2, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
        f(3, "configMapKeyRef", Msg(&KEY_SELECTOR)),
        f(4, "secretKeyRef", Msg(&KEY_SELECTOR)),
    ],
};

static OBJECT_FIELD_SELECTOR: Msg = Msg {
    name: "ObjectFieldSelector",
    fields: &[f(1, "apiVersion", Str), f(2, "fieldPath", Str)],
};

static RESOURCE_FIELD_SELECTOR: Msg = Msg {
    name: "ResourceFieldSelector",
    fields: &[
        f(1, "containerName", Str),
        f(2, "resource", Str),
        f(3, "divisor", Quantity),
    ],
};

/// `ConfigMapKeySelector` and `SecretKeySelector` share their layout.
static KEY_SELECTOR: Msg = Msg {
    name: "KeySelector",
    fields: &[
        f(1, "localObjectReference", Inline(&LOCAL_OBJECT_REFERENCE)),
        f(2, "key", Str),
        f(3, "optional", BoolP),
    ],
};

static ENV_FROM_SOURCE: Msg = Msg {
    name: "EnvFromSource",
    fields: &[
        f(1, "prefix", Str),
        f(2, "configMapRef", Msg(&ENV_SOURCE)),
        f(3, "secretRef", Msg(&ENV_SOURCE)),
    ],
};

/// `ConfigMapEnvSource` and `SecretEnvSource` share their layout.
static ENV_SOURCE: Msg = Msg {
    name: "EnvSource",
    fields: &[
        f(1, "localObjectReference", Inline(&LOCAL_OBJECT_REFERENCE)),
        f(2, "optional", BoolP),
    ],
};

static RESOURCE_REQUIREMENTS: Msg = Msg {
    name: "ResourceRequirements",
    fields: &[
        f(1, "limits", MapQuantity),
        f(2, "requests", MapQuantity),
        rep(3, "claims", Msg(&RESOURCE_CLAIM)),
    ],
};

static RESOURCE_CLAIM: Msg = Msg {
    name: "ResourceClaim",
    fields: &[f(1, "name", Str), f(2, "request", Str)],
};

static VOLUME_MOUNT: Msg = Msg {
    name: "VolumeMount",
    fields: &[
        f(1, "name", Str),
        f(2, "readOnly", Bool),
        f(3, "mountPath", Str),
        f(4, "subPath", Str),
        f(5, "mountPropagation", Str),
        f(6, "subPathExpr", Str),
        f(7, "recursiveReadOnly", Str),
    ],
};

static VOLUME_DEVICE: Msg = Msg {
    name: "VolumeDevice",
    fields: &[f(1, "name", Str), f(2, "devicePath", Str)],
};

static RESIZE_POLICY: Msg = Msg {
    name: "ContainerResizePolicy",
    fields: &[f(1, "resourceName", Str), f(2, "restartPolicy", Str)],
};

// --- apps/v1, batch/v1 ---------------------------------------------------------------

static DEPLOYMENT: Msg = Msg {
    name: "Deployment",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&DEPLOYMENT_SPEC)),
        f(3, "status", Ignore),
    ],
};

static DEPLOYMENT_SPEC: Msg = Msg {
    name: "DeploymentSpec",
    fields: &[
        f(1, "replicas", I32P),
        f(2, "selector", Msg(&LABEL_SELECTOR)),
        f(3, "template", Msg(&POD_TEMPLATE_SPEC)),
        f(4, "strategy", Msg(&DEPLOYMENT_STRATEGY)),
        f(5, "minReadySeconds", I32),
        f(6, "revisionHistoryLimit", I32P),
        f(7, "paused", Bool),
        f(9, "progressDeadlineSeconds", I32P),
    ],
};

static DEPLOYMENT_STRATEGY: Msg = Msg {
    name: "DeploymentStrategy",
    fields: &[
        f(1, "type", Str),
        f(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT)),
    ],
};

static ROLLING_UPDATE_DEPLOYMENT: Msg = Msg {
    name: "RollingUpdateDeployment",
    fields: &[
        f(1, "maxUnavailable", IntOrString),
        f(2, "maxSurge", IntOrString),
    ],
};

static JOB: Msg = Msg {
    name: "Job",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&JOB_SPEC)),
        f(3, "status", Ignore),
    ],
};

static JOB_SPEC: Msg = Msg {
    name: "JobSpec",
    fields: &[
        f(1, "parallelism", I32P),
        f(2, "completions", I32P),
        f(3, "activeDeadlineSeconds", I64P),
        f(4, "selector", Msg(&LABEL_SELECTOR)),
        f(5, "manualSelector", BoolP),
        f(6, "template", Msg(&POD_TEMPLATE_SPEC)),
        f(7, "backoffLimit", I32P),
        f(8, "ttlSecondsAfterFinished", I32P),
        f(9, "completionMode", Str),
        f(10, "suspend", BoolP),
        f(11, "podFailurePolicy", Unsupported),
        f(12, "backoffLimitPerIndex", I32P),
        f(13, "maxFailedIndexes", I32P),
        f(14, "podReplacementPolicy", Str),
        f(15, "managedBy", Str),
        f(16, "successPolicy", Unsupported),
    ],
};

// --- rbac.authorization.k8s.io/v1, policy/v1, coordination.k8s.io/v1 ------------------

static POLICY_RULE: Msg = Msg {
    name: "PolicyRule",
    fields: &[
        rep(1, "verbs", Str),
        rep(2, "apiGroups", Str),
        rep(3, "resources", Str),
        rep(4, "resourceNames", Str),
        rep(5, "nonResourceURLs", Str),
    ],
};

static ROLE: Msg = Msg {
    name: "Role",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        rep(2, "rules", Msg(&POLICY_RULE)),
    ],
};

static CLUSTER_ROLE: Msg = Msg {
    name: "ClusterRole",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        rep(2, "rules", Msg(&POLICY_RULE)),
        f(3, "aggregationRule", Msg(&AGGREGATION_RULE)),
    ],
};

static AGGREGATION_RULE: Msg = Msg {
    name: "AggregationRule",
    fields: &[rep(1, "clusterRoleSelectors", Msg(&LABEL_SELECTOR))],
};

static SUBJECT: Msg = Msg {
    name: "Subject",
    fields: &[
        f(1, "kind", Str),
        f(2, "apiGroup", Str),
        f(3, "name", Str),
        f(4, "namespace", Str),
    ],
};

static ROLE_REF: Msg = Msg {
    name: "RoleRef",
    fields: &[f(1, "apiGroup", Str), f(2, "kind", Str), f(3, "name", Str)],
};

/// `RoleBinding` and `ClusterRoleBinding` share their layout.
static BINDING: Msg = Msg {
    name: "RoleBinding",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        rep(2, "subjects", Msg(&SUBJECT)),
        f(3, "roleRef", Msg(&ROLE_REF)),
    ],
};

static EVICTION: Msg = Msg {
    name: "Eviction",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "deleteOptions", Msg(&DELETE_OPTIONS)),
    ],
};

static POD_BINDING: Msg = Msg {
    name: "Binding",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "target", Msg(&OBJECT_REFERENCE)),
    ],
};

static LEASE: Msg = Msg {
    name: "Lease",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&LEASE_SPEC)),
    ],
};

static LEASE_SPEC: Msg = Msg {
    name: "LeaseSpec",
    fields: &[
        f(1, "holderIdentity", Str),
        f(2, "leaseDurationSeconds", I32P),
        f(3, "acquireTime", MicroTime),
        f(4, "renewTime", MicroTime),
        f(5, "leaseTransitions", I32P),
        f(6, "strategy", Str),
        f(7, "preferredHolder", Str),
    ],
};

/// The message of a top-level kind.
pub(crate) fn top_level(api_version: &str, kind: &str) -> Option<&'static Msg> {
    Some(match (api_version, kind) {
        ("v1", "ConfigMap") => &CONFIG_MAP,
        ("v1", "Secret") => &SECRET,
        ("v1", "Namespace") => &NAMESPACE,
        ("v1", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("v1", "Service") => &SERVICE,
        ("v1", "Pod") => &POD,
        ("v1", "Binding") => &POD_BINDING,
        ("v1" | "meta.k8s.io/v1", "DeleteOptions") => &DELETE_OPTIONS,
        ("apps/v1", "Deployment") => &DEPLOYMENT,
        ("batch/v1", "Job") => &JOB,
        ("rbac.authorization.k8s.io/v1", "Role") => &ROLE,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => &CLUSTER_ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => &BINDING,
        ("policy/v1", "Eviction") => &EVICTION,
        ("coordination.k8s.io/v1", "Lease") => &LEASE,
        _ => return None,
    })
}
