//! The [`Runtime`] trait: how the node agent runs pods, shaped like Kubernetes' CRI.
//!
//! A pod runs as a *sandbox* (the shared environment: network namespace, cgroup parent, log
//! directory) holding *containers*. The node agent drives the runtime through this trait and
//! keeps no state of its own that it could not rebuild: after a restart it lists sandboxes and
//! containers and adopts them by their labels.
//!
//! # The contract
//!
//! Every implementation must honour all of this; kube-node's conformance suite checks it.
//!
//! - Ids are opaque, unique strings chosen by the runtime. Every method that takes an id of
//!   something that does not exist fails with [`RuntimeError::NotFound`].
//! - [`Runtime::run_pod_sandbox`] creates and starts a sandbox in one step; the sandbox is
//!   `Ready` until stopped. Stopping a sandbox stops all its containers; removing it removes
//!   them. Both are idempotent: stopping a stopped sandbox, or removing a removed one, is `Ok`.
//! - A container is created (`Created`), started (`Running`), and ends `Exited` with an exit
//!   code, whether it exited by itself or was stopped. It never goes back to `Running`: the
//!   node agent restarts a container by creating a new one with the next `attempt` number.
//! - [`Runtime::stop_container`] asks the container to stop (SIGTERM or the equivalent),
//!   waits at most `grace`, then kills it (SIGKILL). It returns once the container has
//!   exited. A zero grace kills at once. Stopping an exited container is `Ok`.
//! - Labels and annotations given at creation come back unchanged from status and list calls:
//!   the node agent stores the pod's namespace, name, uid and the container name there.
//! - List calls reflect every sandbox and container that has not been removed, including those
//!   created by an earlier instance of the node agent; that is how a restarted agent adopts
//!   running pods instead of starting them twice.
//! - [`Runtime::container_logs`] yields what the container wrote to stdout and stderr, in order,
//!   and with `follow` keeps yielding until the container exits.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;

use crate::error::BoxError;

/// Labels or annotations: string keys to string values.
pub type Labels = BTreeMap<String, String>;

/// The runtime's name and version, as `kubectl get nodes -o wide` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeVersion {
    /// The runtime's name (`"process"`, `"containerd"`).
    pub runtime_name: String,
    /// The runtime's version.
    pub runtime_version: String,
    /// The version of the runtime API it speaks (`"v1"` for the CRI).
    pub runtime_api_version: String,
}

/// Identifies the pod a sandbox belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodSandboxMetadata {
    /// The pod's name.
    pub name: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's uid.
    pub uid: String,
    /// How many sandboxes were created for this pod before this one.
    pub attempt: u32,
}

/// A host port a sandbox exposes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortMapping {
    /// `"TCP"`, `"UDP"` or `"SCTP"`.
    pub protocol: String,
    /// The port inside the sandbox.
    pub container_port: u16,
    /// The port on the host, when mapped.
    pub host_port: Option<u16>,
    /// The host address to bind, when not all.
    pub host_ip: Option<IpAddr>,
}

/// How to create a pod sandbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSandboxConfig {
    /// Which pod this sandbox is for.
    pub metadata: PodSandboxMetadata,
    /// The hostname inside the sandbox.
    pub hostname: String,
    /// The directory where container logs go (container log paths are relative to it).
    pub log_directory: String,
    /// Share the host's network namespace instead of getting one of its own.
    pub host_network: bool,
    /// Host ports to expose.
    pub port_mappings: Vec<PortMapping>,
    /// The cgroup parent for the pod's containers, if the runtime manages cgroups.
    pub cgroup_parent: Option<String>,
    /// Labels to keep with the sandbox.
    pub labels: Labels,
    /// Annotations to keep with the sandbox.
    pub annotations: Labels,
}

/// A sandbox's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SandboxState {
    /// Running and able to hold containers.
    #[default]
    Ready,
    /// Stopped.
    NotReady,
}

/// A sandbox, as list calls return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSandbox {
    /// The runtime's id for it.
    pub id: String,
    /// Which pod it is for.
    pub metadata: PodSandboxMetadata,
    /// Ready or not.
    pub state: SandboxState,
    /// When it was created.
    pub created_at: SystemTime,
    /// The labels it was created with.
    pub labels: Labels,
    /// The annotations it was created with.
    pub annotations: Labels,
}

/// A sandbox's status: the list entry plus its network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSandboxStatus {
    /// The sandbox.
    pub sandbox: PodSandbox,
    /// The pod's IP addresses, the primary first; empty with host networking.
    pub ips: Vec<IpAddr>,
}

/// Which sandboxes to list; empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSandboxFilter {
    /// Only this id.
    pub id: Option<String>,
    /// Only sandboxes in this state.
    pub state: Option<SandboxState>,
    /// Only sandboxes with all these labels.
    pub label_selector: Labels,
}

/// Identifies a container within its sandbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ContainerMetadata {
    /// The container's name in the pod spec.
    pub name: String,
    /// How many containers of this name were created in the sandbox before this one.
    pub attempt: u32,
}

/// CPU and memory limits for a container (cgroup settings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ContainerResources {
    /// CPU shares, from the CPU request (1024 per core).
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per `cpu_period`, from the CPU limit.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
    /// Memory limit in bytes.
    pub memory_limit_bytes: Option<i64>,
}

/// A volume mount.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Mount {
    /// Path inside the container.
    pub container_path: String,
    /// Path on the host.
    pub host_path: String,
    /// Mount read-only.
    pub readonly: bool,
}

/// How to create a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// The image reference, as returned by [`Runtime::pull_image`].
    pub image: String,
    /// The entrypoint; empty means the image's.
    pub command: Vec<String>,
    /// Arguments; empty means the image's.
    pub args: Vec<String>,
    /// The working directory; empty means the image's.
    pub working_dir: String,
    /// Environment variables, in order.
    pub envs: Vec<(String, String)>,
    /// Volume mounts.
    pub mounts: Vec<Mount>,
    /// Log file path, relative to the sandbox's log directory.
    pub log_path: String,
    /// CPU and memory limits.
    pub resources: ContainerResources,
    /// Keep stdin open.
    pub stdin: bool,
    /// Allocate a TTY.
    pub tty: bool,
    /// Labels to keep with the container.
    pub labels: Labels,
    /// Annotations to keep with the container.
    pub annotations: Labels,
}

/// A container's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// Created, not started.
    #[default]
    Created,
    /// Running.
    Running,
    /// Exited (by itself or stopped); see the exit code.
    Exited,
    /// The runtime cannot tell.
    Unknown,
}

/// A container, as list calls return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The runtime's id for it.
    pub id: String,
    /// The sandbox it runs in.
    pub pod_sandbox_id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// The image reference.
    pub image: String,
    /// Its state.
    pub state: ContainerState,
    /// When it was created.
    pub created_at: SystemTime,
    /// The labels it was created with.
    pub labels: Labels,
    /// The annotations it was created with.
    pub annotations: Labels,
}

/// A container's full status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    /// The list entry.
    pub container: Container,
    /// When it started, once started.
    pub started_at: Option<SystemTime>,
    /// When it exited, once exited.
    pub finished_at: Option<SystemTime>,
    /// Its exit code, once exited (128 + signal number when killed by a signal).
    pub exit_code: Option<i32>,
    /// A short machine-readable reason (`"Completed"`, `"Error"`, `"OOMKilled"`).
    pub reason: String,
    /// A human-readable message.
    pub message: String,
    /// The absolute path of its log file, if it has one.
    pub log_path: Option<String>,
}

/// Which containers to list; empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Only this id.
    pub id: Option<String>,
    /// Only containers in this sandbox.
    pub pod_sandbox_id: Option<String>,
    /// Only containers in this state.
    pub state: Option<ContainerState>,
    /// Only containers with all these labels.
    pub label_selector: Labels,
}

/// An image reference to pull or inspect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ImageSpec {
    /// The image name as the pod spec gives it (`"nginx:1.27"`).
    pub image: String,
}

/// An image known to the runtime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// The runtime's id for it.
    pub id: String,
    /// The names it is known by.
    pub repo_tags: Vec<String>,
    /// Its size in bytes.
    pub size: u64,
}

/// The result of a command run in a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecResult {
    /// What the command wrote to stdout.
    pub stdout: Vec<u8>,
    /// What the command wrote to stderr.
    pub stderr: Vec<u8>,
    /// Its exit code.
    pub exit_code: i32,
}

/// What part of a container's log to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new output until the container exits.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<u64>,
    /// Only output written at or after this time.
    pub since: Option<SystemTime>,
    /// Stop after this many bytes.
    pub limit_bytes: Option<u64>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
}

/// A stream of log bytes.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<Bytes, RuntimeError>> + Send>>;

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No sandbox, container or image with this id.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// `"sandbox"`, `"container"` or `"image"`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The image cannot be found or resolved; the message says why.
    #[error("image {image:?} cannot be pulled: {reason}")]
    ImageUnavailable {
        /// The image asked for.
        image: String,
        /// Why it cannot be had.
        reason: String,
    },
    /// The call does not fit the object's state (start of a running container, ...).
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The request is not valid (empty name, bad command, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The runtime cannot be reached.
    #[error("runtime unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The call timed out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Any other failure, with its cause.
    #[error("{message}")]
    Other {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
}

impl RuntimeError {
    /// A not-found error for a container.
    pub fn container_not_found(id: impl Into<String>) -> Self {
        Self::NotFound {
            kind: "container",
            id: id.into(),
        }
    }

    /// A not-found error for a sandbox.
    pub fn sandbox_not_found(id: impl Into<String>) -> Self {
        Self::NotFound {
            kind: "sandbox",
            id: id.into(),
        }
    }

    /// Any other failure with a cause.
    pub fn other(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Other {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// A container runtime, shaped like the CRI's RuntimeService and ImageService. See the
/// [module docs](self) for the contract every implementation must honour.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// The runtime's name and version.
    async fn version(&self) -> Result<RuntimeVersion, RuntimeError>;

    /// Creates and starts a sandbox; returns its id.
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError>;

    /// Stops a sandbox and all its containers. Idempotent.
    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError>;

    /// Removes a stopped sandbox and its containers. Idempotent.
    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError>;

    /// A sandbox's status.
    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, RuntimeError>;

    /// The sandboxes that match a filter.
    async fn list_pod_sandboxes(
        &self,
        filter: &PodSandboxFilter,
    ) -> Result<Vec<PodSandbox>, RuntimeError>;

    /// Creates a container in a sandbox; returns its id.
    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String, RuntimeError>;

    /// Starts a created container.
    async fn start_container(&self, id: &str) -> Result<(), RuntimeError>;

    /// Stops a container: a polite signal, at most `grace`, then a kill. Returns once it has
    /// exited.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError>;

    /// Removes a container (stopping it first if needed). Idempotent.
    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError>;

    /// A container's status.
    async fn container_status(&self, id: &str) -> Result<ContainerStatus, RuntimeError>;

    /// The containers that match a filter.
    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<Container>, RuntimeError>;

    /// Runs a command in a running container and waits for it, at most `timeout` (exec
    /// probes use this).
    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError>;

    /// Makes an image available; returns the reference to create containers with.
    async fn pull_image(&self, image: &ImageSpec) -> Result<String, RuntimeError>;

    /// An image's details, or `None` when the runtime does not have it.
    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>, RuntimeError>;

    /// The images the runtime has.
    async fn list_images(&self) -> Result<Vec<Image>, RuntimeError>;

    /// A container's log output.
    async fn container_logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<LogStream, RuntimeError>;

    /// Tells the runtime the node's pod CIDR (the CRI's `UpdateRuntimeConfig`), once the
    /// node agent knows it: runtimes that give pods their own network take pod IPs from
    /// it. Runtimes that do not manage pod networking keep the default, which does
    /// nothing.
    async fn update_runtime_config(&self, pod_cidr: &str) -> Result<(), RuntimeError> {
        let _ = pod_cidr;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn runtime_is_object_safe() {
        fn takes(_: Option<Arc<dyn Runtime>>) {}
        takes(None);
    }

    #[test]
    fn errors_say_what_is_missing() {
        assert_eq!(
            RuntimeError::container_not_found("abc").to_string(),
            r#"container "abc" not found"#
        );
    }
}
