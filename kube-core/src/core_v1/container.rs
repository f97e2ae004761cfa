//! `Container`: one process image of a pod, with its ports, environment, resources, probes
//! and lifecycle hooks.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::Protocol;
use crate::int_or_string::IntOrString;
use crate::quantity::{Quantity, ResourceList};

/// A container of a pod (`v1.Container`): the image to run, how to run it and what it needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// The container's name, unique within the pod (a DNS label).
    #[serde(default)]
    pub name: String,
    /// The image reference (`nginx:1.27`); workload templates may leave it to be filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// When the kubelet pulls the image; Kubernetes defaults it from the tag (`Always` for
    /// `:latest` or no tag, `IfNotPresent` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// The entrypoint, replacing the image's `ENTRYPOINT`; `$(VAR)` references expand.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub command: Vec<String>,
    /// Arguments to the entrypoint, replacing the image's `CMD`; `$(VAR)` references expand.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub args: Vec<String>,
    /// The working directory; the image's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Ports the container exposes; informational, except `hostPort`, which the scheduler
    /// and the kubelet honour.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub ports: Vec<ContainerPort>,
    /// Sources whose keys all become environment variables; `env` wins on conflicts.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub env_from: Vec<EnvFromSource>,
    /// Environment variables, in order (later ones may refer to earlier ones).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub env: Vec<EnvVar>,
    /// Compute resources requested (for scheduling) and limited (enforced at run time).
    /// Always encoded, as Kubernetes does (`"resources": {}`).
    #[serde(default)]
    pub resources: ResourceRequirements,
    /// How the container's resources may be resized in place, kept as written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub resize_policy: Vec<serde_json::Value>,
    /// For init containers only: `Always` makes it a sidecar that starts before the app
    /// containers and keeps running beside them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<ContainerRestartPolicy>,
    /// Volumes mounted into the container's filesystem.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub volume_mounts: Vec<VolumeMount>,
    /// Block devices the container uses, kept as written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub volume_devices: Vec<serde_json::Value>,
    /// Restarts the container when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Removes the pod from service endpoints while it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Holds back the other probes until it first succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// Hooks run after the container starts and before it stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// The file whose content becomes the termination message (`/dev/termination-log` by
    /// default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message_path: Option<String>,
    /// Where the termination message comes from; `File` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message_policy: Option<TerminationMessagePolicy>,
    /// Security options (user, capabilities, privileges), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<serde_json::Value>,
    /// Allocates a buffer for stdin; reads fail when false.
    #[serde(default, skip_serializing_if = "crate::wire::is_false")]
    pub stdin: bool,
    /// Closes stdin after the first attach session ends.
    #[serde(default, skip_serializing_if = "crate::wire::is_false")]
    pub stdin_once: bool,
    /// Allocates a TTY (needs `stdin`).
    #[serde(default, skip_serializing_if = "crate::wire::is_false")]
    pub tty: bool,
}

impl Container {
    /// The port declared with this name, for probes and services that name their port.
    pub fn port_named(&self, name: &str) -> Option<&ContainerPort> {
        self.ports.iter().find(|p| p.name.as_deref() == Some(name))
    }

    /// The image pull policy in effect: the one set, or Kubernetes' default for the image
    /// (`Always` when the tag is `latest` or missing, `IfNotPresent` otherwise; an image
    /// pinned by digest counts as tagged).
    pub fn effective_image_pull_policy(&self) -> PullPolicy {
        if let Some(policy) = &self.image_pull_policy {
            return policy.clone();
        }
        let image = self.image.as_deref().unwrap_or("");
        if image.contains('@') {
            return PullPolicy::IfNotPresent;
        }
        // The tag follows the last ':' after the last '/' (a registry may carry a port).
        let last_segment = image.rsplit('/').next().unwrap_or(image);
        match last_segment.rsplit_once(':') {
            Some((_, tag)) if tag != "latest" => PullPolicy::IfNotPresent,
            _ => PullPolicy::Always,
        }
    }
}

/// When the kubelet pulls a container's image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull on every container start.
    Always,
    /// Never pull: the image must be present on the node.
    Never,
    /// Pull only when the image is missing; the default for tagged images.
    #[default]
    IfNotPresent,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The restart policy of one init container: `Always` makes it a sidecar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ContainerRestartPolicy {
    /// Restart whenever it exits: a sidecar that runs beside the app containers.
    #[default]
    Always,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// Where a container's termination message comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TerminationMessagePolicy {
    /// Only from the termination message file; the default.
    #[default]
    File,
    /// From the file, or the tail of the log when the file is empty and the container
    /// failed.
    FallbackToLogsOnError,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// A network port a container exposes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// An IANA service name unique within the pod, which probes and services may refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The node port the container port is published on; the scheduler keeps two pods
    /// that want the same host port, IP and protocol off the same node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    /// The port number in the pod's network namespace.
    #[serde(default)]
    pub container_port: i32,
    /// The protocol; `TCP` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The host IP the host port binds to; all addresses when unset.
    #[serde(rename = "hostIP", default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

impl ContainerPort {
    /// The protocol in effect: the one set, or `TCP`.
    pub fn effective_protocol(&self) -> Protocol {
        self.protocol.clone().unwrap_or_default()
    }
}

/// One environment variable: a literal value, or a reference resolved when the container
/// starts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// The variable's name.
    #[serde(default)]
    pub name: String,
    /// The literal value; `$(VAR)` references to earlier variables expand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Where the value comes from when it is not literal (a ConfigMap or Secret key, a pod
    /// field, a resource limit), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<serde_json::Value>,
}

/// A ConfigMap or Secret whose keys all become environment variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    /// A prefix added to every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The ConfigMap to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<EnvSourceRef>,
    /// The Secret to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<EnvSourceRef>,
}

/// A reference to a ConfigMap or Secret in the pod's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvSourceRef {
    /// The object's name.
    #[serde(default)]
    pub name: String,
    /// When true, a missing object is not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// The compute resources of a container (or, where set, of the whole pod).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// The most the container may use; the runtime enforces it.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub limits: ResourceList,
    /// What the container is guaranteed, and what the scheduler reserves on the node; when
    /// only a limit is set, Kubernetes defaults the request to it.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub requests: ResourceList,
    /// Dynamic resource claims of the pod this container uses, kept as written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub claims: Vec<serde_json::Value>,
}

impl ResourceRequirements {
    /// The request for a resource, falling back to its limit as Kubernetes' defaulting
    /// does when only the limit is set.
    pub fn effective_request(&self, resource: &str) -> Option<&Quantity> {
        self.requests
            .get(resource)
            .or_else(|| self.limits.get(resource))
    }
}

/// A volume mounted into a container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// The name of a volume of the pod.
    #[serde(default)]
    pub name: String,
    /// Mounts read-only when true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Whether read-only mounts are recursively read-only (`Disabled`, `IfPossible`,
    /// `Enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive_read_only: Option<String>,
    /// Where in the container the volume is mounted.
    #[serde(default)]
    pub mount_path: String,
    /// A path inside the volume to mount instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// How mounts propagate between host and container (`None`, `HostToContainer`,
    /// `Bidirectional`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_propagation: Option<String>,
    /// Like `subPath`, with `$(VAR)` references to the container's environment expanded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path_expr: Option<String>,
}

/// A health check the kubelet runs against a container (`v1.Probe`): exactly one of
/// `exec`, `httpGet`, `tcpSocket` and `grpc`, and its timing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// Runs a command in the container; exit status 0 is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Sends an HTTP GET; a status in 200..400 is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// Opens a TCP connection; connecting is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Calls the gRPC health checking protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAction>,
    /// Seconds after the container starts before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds before one probe attempt times out (1 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Seconds between probes (10 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    /// Consecutive successes after a failure to count as succeeding (1 by default; must be
    /// 1 for liveness and startup probes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    /// Consecutive failures to count as failing (3 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    /// Grace period when a failed liveness or startup probe kills the container; overrides
    /// the pod's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

impl Probe {
    /// Seconds before one attempt times out, with Kubernetes' default of 1.
    pub fn timeout_seconds_or_default(&self) -> i32 {
        self.timeout_seconds.unwrap_or(1)
    }

    /// Seconds between probes, with Kubernetes' default of 10.
    pub fn period_seconds_or_default(&self) -> i32 {
        self.period_seconds.unwrap_or(10)
    }

    /// Consecutive successes needed, with Kubernetes' default of 1.
    pub fn success_threshold_or_default(&self) -> i32 {
        self.success_threshold.unwrap_or(1)
    }

    /// Consecutive failures needed, with Kubernetes' default of 3.
    pub fn failure_threshold_or_default(&self) -> i32 {
        self.failure_threshold.unwrap_or(3)
    }
}

/// Hooks the kubelet runs around a container's life.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// Runs right after the container is created; the container is killed if it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<LifecycleHandler>,
    /// Runs before the container is stopped; the grace period keeps counting meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<LifecycleHandler>,
    /// The signal that stops the container (`SIGTERM`...), instead of the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// What a lifecycle hook does: exactly one of `exec`, `httpGet`, `tcpSocket` and `sleep`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHandler {
    /// Runs a command in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Sends an HTTP GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// Opens a TCP connection (deprecated for hooks; accepted and ignored by Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Sleeps for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepAction>,
}

/// A command run inside the container, without a shell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecAction {
    /// The command line; run a shell explicitly for pipes and expansion.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub command: Vec<String>,
}

/// An HTTP GET against the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetAction {
    /// The request path (`/healthz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The port: a number, or the name of a container port.
    #[serde(default)]
    pub port: IntOrString,
    /// The host to connect to; the pod IP by default (set a `Host` header instead for
    /// virtual hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `HTTP` (the default) or `HTTPS` (certificates are not verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<UriScheme>,
    /// Extra request headers.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub http_headers: Vec<HttpHeader>,
}

/// The scheme of an HTTP probe or hook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum UriScheme {
    /// Plain HTTP, the default.
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    /// HTTPS, without verifying the certificate.
    #[serde(rename = "HTTPS")]
    Https,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// A header of an HTTP probe or hook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeader {
    /// The header name.
    #[serde(default)]
    pub name: String,
    /// The header value.
    #[serde(default)]
    pub value: String,
}

/// A TCP connection attempt against the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TcpSocketAction {
    /// The port: a number, or the name of a container port.
    #[serde(default)]
    pub port: IntOrString,
    /// The host to connect to; the pod IP by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A call to the gRPC health checking protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrpcAction {
    /// The port number of the gRPC service.
    #[serde(default)]
    pub port: i32,
    /// The service name sent in the health check request; empty for the server's overall
    /// health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// A pause in a lifecycle hook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SleepAction {
    /// How many seconds to sleep.
    #[serde(default)]
    pub seconds: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_keep_kubernetes_spelling_and_unknown_values() {
        let p: PullPolicy = serde_json::from_str(r#""IfNotPresent""#).unwrap();
        assert_eq!(p, PullPolicy::IfNotPresent);
        let p: PullPolicy = serde_json::from_str(r#""Sometimes""#).unwrap();
        assert_eq!(p, PullPolicy::Other("Sometimes".into()));
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""Sometimes""#);
        assert_eq!(
            serde_json::to_string(&UriScheme::Https).unwrap(),
            r#""HTTPS""#
        );
        let t: TerminationMessagePolicy =
            serde_json::from_str(r#""FallbackToLogsOnError""#).unwrap();
        assert_eq!(t, TerminationMessagePolicy::FallbackToLogsOnError);
        let schema = serde_json::to_value(schemars::schema_for!(Container)).unwrap();
        assert!(schema["properties"]["imagePullPolicy"].is_object());
    }

    #[test]
    fn image_pull_policy_defaults_from_the_tag() {
        let with = |image: &str| Container {
            image: Some(image.into()),
            ..Default::default()
        };
        assert_eq!(
            with("nginx").effective_image_pull_policy(),
            PullPolicy::Always
        );
        assert_eq!(
            with("nginx:latest").effective_image_pull_policy(),
            PullPolicy::Always
        );
        assert_eq!(
            with("nginx:1.27").effective_image_pull_policy(),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            with("registry:5000/team/app").effective_image_pull_policy(),
            PullPolicy::Always
        );
        assert_eq!(
            with("registry:5000/team/app:v2").effective_image_pull_policy(),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            with("app@sha256:0123abcd").effective_image_pull_policy(),
            PullPolicy::IfNotPresent
        );
        let mut pinned = with("nginx");
        pinned.image_pull_policy = Some(PullPolicy::Never);
        assert_eq!(pinned.effective_image_pull_policy(), PullPolicy::Never);
    }

    #[test]
    fn ports_resolve_by_name_and_default_to_tcp() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "web",
            "ports": [{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}]
        }))
        .unwrap();
        assert_eq!(c.port_named("http").map(|p| p.container_port), Some(8080));
        assert_eq!(
            c.port_named("http").unwrap().effective_protocol(),
            Protocol::Tcp
        );
        assert_eq!(
            c.port_named("dns").unwrap().effective_protocol(),
            Protocol::Udp
        );
        assert!(c.port_named("grpc").is_none());
    }

    #[test]
    fn requests_fall_back_to_limits() {
        let r: ResourceRequirements = serde_json::from_value(serde_json::json!({
            "limits": {"cpu": "1", "memory": "1Gi"},
            "requests": {"cpu": "250m"}
        }))
        .unwrap();
        assert_eq!(r.effective_request("cpu"), Some(&"250m".parse().unwrap()));
        assert_eq!(r.effective_request("memory"), Some(&"1Gi".parse().unwrap()));
        assert_eq!(r.effective_request("nvidia.com/gpu"), None);
    }

    #[test]
    fn probes_decode_every_handler_and_default_their_timing() {
        let p: Probe = serde_json::from_value(serde_json::json!({
            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTPS",
                        "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
            "periodSeconds": 5
        }))
        .unwrap();
        let get = p.http_get.as_ref().unwrap();
        assert_eq!(get.port, IntOrString::from("http"));
        assert_eq!(get.scheme, Some(UriScheme::Https));
        assert_eq!(p.period_seconds_or_default(), 5);
        assert_eq!(p.timeout_seconds_or_default(), 1);
        assert_eq!(p.failure_threshold_or_default(), 3);
        assert_eq!(p.success_threshold_or_default(), 1);
        let h: LifecycleHandler =
            serde_json::from_value(serde_json::json!({"sleep": {"seconds": 5}})).unwrap();
        assert_eq!(h.sleep, Some(SleepAction { seconds: 5 }));
    }
}
