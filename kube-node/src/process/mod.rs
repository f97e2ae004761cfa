//! [`ProcessRuntime`]: every container a real host process.
//!
//! - A container runs its `command` (looked up on the host's `PATH`) with its args, env and
//!   working directory, whatever its image; with no `command`, the [`ImageCatalog`] decides.
//! - Each runs in its own process group under a small `sh` wrapper (see `proc.rs`) that
//!   records its exit code; stdout and stderr go through FIFOs into CRI log files rotated
//!   by size.
//! - As root on Linux, a pod gets its own network namespace with a veth on a node bridge
//!   and an IP from the pod CIDR ([`Runtime::update_runtime_config`]), and containers get
//!   cgroup cpu and memory limits (v2, or v1 on hybrid machines). Without root, pods share
//!   the host's network, and the runtime says so once.
//! - Sandbox and container records live as JSON under the state directory: a new
//!   instance over the same directory finds the running processes (pid and start time) and
//!   adopts them, and reads the exit codes of those that ended meanwhile.

mod catalog;
mod cgroup;
mod network;
mod proc;
mod state;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use kube_core::runtime::{
    Container, ContainerConfig, ContainerFilter, ContainerState, ContainerStatus, ExecResult,
    Image, ImageSpec, LogOptions, LogStream, PodSandbox, PodSandboxConfig, PodSandboxFilter,
    PodSandboxStatus, RuntimeVersion, SandboxState,
};
use kube_core::{Runtime, RuntimeError};
use parking_lot::Mutex;
use rustix::process::Signal;

pub use catalog::{CatalogImage, ImageCatalog};

use crate::logs::{AliveFn, LogStreamKind, LogWriter, LogWriterConfig, file_log_stream};
use state::{ContainerRecord, Phase, SandboxRecord};

/// The `PATH` containers get (and commands are looked up in) when none is set.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Settings of a [`ProcessRuntime`].
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessRuntimeConfig {
    /// Where sandbox and container records, FIFOs and exit codes live.
    pub state_dir: PathBuf,
    /// How images without a `command` resolve.
    pub catalog: ImageCatalog,
    /// Give pods their own network namespace when running as root.
    pub pod_network: bool,
    /// The node bridge's name.
    pub bridge: String,
    /// Apply cgroup limits when running as root.
    pub cgroups: bool,
    /// The cgroup under which containers get theirs.
    pub cgroup_parent: String,
    /// Log rotation.
    pub log: LogWriterConfig,
    /// How often a stop or a followed log checks on a process.
    pub poll: Duration,
    /// The host `PATH` commands are looked up in.
    pub path: String,
}

impl ProcessRuntimeConfig {
    /// Defaults, with records under `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            catalog: ImageCatalog::new(),
            pod_network: true,
            bridge: "kube-br0".into(),
            cgroups: true,
            cgroup_parent: "kube-sdk".into(),
            log: LogWriterConfig::default(),
            poll: Duration::from_millis(50),
            path: std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned()),
        }
    }
}

struct Inner {
    config: ProcessRuntimeConfig,
    root: bool,
    cgroups: Option<cgroup::Layout>,
    sandboxes: Mutex<HashMap<String, SandboxRecord>>,
    containers: Mutex<HashMap<String, ContainerRecord>>,
    /// Exit statuses the reapers saw, for wrappers that died without writing one.
    reaped: Mutex<HashMap<String, i32>>,
    /// Log pumps still copying, per container.
    pumps: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    pod_cidr: Mutex<Option<network::Cidr>>,
    net: tokio::sync::Mutex<()>,
    ids: AtomicU64,
}

/// A runtime whose containers are host processes; see the [module docs](self).
#[derive(Clone)]
pub struct ProcessRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ProcessRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRuntime")
            .field("state_dir", &self.inner.config.state_dir)
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::other(what.to_owned(), e)
}

impl ProcessRuntime {
    /// A runtime over `config.state_dir`, adopting the containers recorded there.
    pub fn new(config: ProcessRuntimeConfig) -> Result<Self, RuntimeError> {
        std::fs::create_dir_all(config.state_dir.join("containers"))
            .and_then(|()| std::fs::create_dir_all(config.state_dir.join("sandboxes")))
            .map_err(io_err("creating the state directory"))?;
        let root = rustix::process::geteuid().is_root();
        if !root {
            tracing::warn!(
                "not running as root: pods share the host's network and get no cgroup limits"
            );
        }
        let sandboxes: HashMap<String, SandboxRecord> =
            state::load_all::<SandboxRecord>(&config.state_dir.join("sandboxes"), "sandbox.json")
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
        let containers: HashMap<String, ContainerRecord> = state::load_all::<ContainerRecord>(
            &config.state_dir.join("containers"),
            "container.json",
        )
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
        let cgroups = (root && config.cgroups).then(cgroup::detect).flatten();
        let rt = Self {
            inner: Arc::new(Inner {
                config,
                root,
                cgroups,
                sandboxes: Mutex::new(sandboxes),
                containers: Mutex::new(containers),
                reaped: Mutex::new(HashMap::new()),
                pumps: Mutex::new(HashMap::new()),
                pod_cidr: Mutex::new(None),
                net: tokio::sync::Mutex::new(()),
                ids: AtomicU64::new(0),
            }),
        };
        // Adopt: resume copying the output of containers that still run.
        let running: Vec<ContainerRecord> = rt
            .inner
            .containers
            .lock()
            .values()
            .filter(|c| {
                c.phase == Phase::Running && c.pid.is_some_and(|p| proc::alive(p, c.pid_start))
            })
            .cloned()
            .collect();
        for c in running {
            tracing::info!(container = %c.id, name = %c.name, "adopting a running container");
            // The running process holds the FIFOs open: nothing else to hold.
            rt.start_pumps(&c, None);
        }
        Ok(rt)
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.inner.config.state_dir.join("containers").join(id)
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.inner.config.state_dir.join("sandboxes").join(id)
    }

    fn new_id(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let n = self.inner.ids.fetch_add(1, Ordering::Relaxed);
        format!(
            "{:016x}{:04x}{:04x}",
            nanos as u64,
            std::process::id() & 0xffff,
            n & 0xffff
        )
    }

    async fn save_container(&self, record: &ContainerRecord) -> Result<(), RuntimeError> {
        state::save(
            &self.container_dir(&record.id).join("container.json"),
            record,
        )
        .await
        .map_err(io_err("saving the container record"))
    }

    async fn save_sandbox(&self, record: &SandboxRecord) -> Result<(), RuntimeError> {
        state::save(&self.sandbox_dir(&record.id).join("sandbox.json"), record)
            .await
            .map_err(io_err("saving the sandbox record"))
    }

    /// Starts the log pumps of a container; `outputs` are the held ends of its stdout and
    /// stderr FIFOs, for a process just started (see [`proc::Spawned`]).
    fn start_pumps(&self, c: &ContainerRecord, outputs: Option<[std::fs::File; 2]>) {
        let Some(log_path) = &c.log_path else { return };
        let writer = match LogWriter::open(log_path, self.inner.config.log.clone()) {
            Ok(w) => Arc::new(Mutex::new(w)),
            Err(e) => {
                tracing::warn!(container = %c.id, error = %e, "opening the container log");
                return;
            }
        };
        let active = Arc::new(AtomicUsize::new(0));
        self.inner.pumps.lock().insert(c.id.clone(), active.clone());
        let dir = self.container_dir(&c.id);
        let held = outputs.map_or([None, None], |[out, err]| [Some(out), Some(err)]);
        let streams = [
            ("stdout", LogStreamKind::Stdout),
            ("stderr", LogStreamKind::Stderr),
        ];
        for ((fifo, stream), held) in streams.into_iter().zip(held) {
            proc::pump(dir.join(fifo), stream, writer.clone(), &active, held);
        }
    }

    fn pumps_active(&self, id: &str) -> bool {
        self.inner
            .pumps
            .lock()
            .get(id)
            .is_some_and(|n| n.load(Ordering::SeqCst) > 0)
    }

    /// Brings a record up to date with its process: a dead process becomes `Exited`, with
    /// the exit code its wrapper wrote (or 137 when the runtime killed it).
    async fn refresh(&self, id: &str) -> Result<ContainerRecord, RuntimeError> {
        let record = self
            .inner
            .containers
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        if record.phase != Phase::Running
            || record.pid.is_some_and(|p| proc::alive(p, record.pid_start))
        {
            return Ok(record);
        }
        // Give the log pumps time to copy the last output, so that an exited container's
        // log is complete (a loaded machine can take a while to run their threads). The
        // bound is for a child that left a process holding the output open; the wait is
        // paid once, when the container turns Exited.
        for _ in 0..120 {
            if !self.pumps_active(id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let exit_file = self.container_dir(id).join("exit");
        let from_file = tokio::fs::read_to_string(&exit_file)
            .await
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let finished = tokio::fs::metadata(&exit_file)
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .unwrap_or_else(SystemTime::now)
            // The file's time is coarser than the clock: never before the start.
            .max(record.started_at.unwrap_or(SystemTime::UNIX_EPOCH));
        let mut updated = record;
        if let Some(pid) = updated.pid {
            // Whatever the wrapper left behind in its group goes too.
            proc::signal_group(pid, Signal::KILL);
        }
        let code = from_file
            .or_else(|| updated.killed.then_some(137))
            .or_else(|| self.inner.reaped.lock().get(id).copied())
            .unwrap_or(137);
        updated.phase = Phase::Exited;
        updated.exit_code = Some(code);
        updated.finished_at = Some(finished);
        updated.reason = if code == 0 {
            "Completed".into()
        } else if code == 137 && cgroup::oom_killed(&updated.cgroups) {
            "OOMKilled".into()
        } else {
            "Error".into()
        };
        self.inner
            .containers
            .lock()
            .insert(id.to_owned(), updated.clone());
        self.save_container(&updated).await?;
        Ok(updated)
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let record = self.refresh(id).await?;
        match record.phase {
            Phase::Exited => return Ok(()),
            Phase::Created => {
                let mut r = record;
                r.phase = Phase::Exited;
                r.exit_code = Some(137);
                r.finished_at = Some(SystemTime::now());
                r.reason = "Error".into();
                self.inner
                    .containers
                    .lock()
                    .insert(id.to_owned(), r.clone());
                return self.save_container(&r).await;
            }
            Phase::Running => {}
        }
        let Some(pid) = record.pid else { return Ok(()) };
        let deadline = tokio::time::Instant::now() + grace;
        if !grace.is_zero() {
            proc::signal_group(pid, Signal::TERM);
            while proc::alive(pid, record.pid_start) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(self.inner.config.poll).await;
            }
        }
        if proc::alive(pid, record.pid_start) {
            if let Some(r) = self.inner.containers.lock().get_mut(id) {
                r.killed = true;
            }
            proc::signal_group(pid, Signal::KILL);
            let kill_deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while proc::alive(pid, record.pid_start) && tokio::time::Instant::now() < kill_deadline
            {
                tokio::time::sleep(self.inner.config.poll).await;
            }
        }
        self.refresh(id).await.map(|_| ())
    }

    fn status_of(&self, r: &ContainerRecord) -> ContainerStatus {
        ContainerStatus {
            container: container_entry(r),
            started_at: r.started_at,
            finished_at: r.finished_at,
            exit_code: r.exit_code,
            reason: r.reason.clone(),
            message: r.message.clone(),
            log_path: r
                .log_path
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        }
    }

    /// The command line prefix that puts a process in the sandbox (its network namespace)
    /// and the container's root filesystem.
    fn prefix(&self, sandbox_netns: Option<&str>, rootfs: Option<&Path>) -> Vec<String> {
        let mut prefix = Vec::new();
        if let Some(ns) = sandbox_netns {
            prefix.extend(["ip", "netns", "exec", ns].map(String::from));
        }
        if let Some(root) = rootfs {
            prefix.push("chroot".into());
            prefix.push(root.to_string_lossy().into_owned());
        }
        prefix
    }
}

fn container_entry(r: &ContainerRecord) -> Container {
    Container {
        id: r.id.clone(),
        pod_sandbox_id: r.sandbox_id.clone(),
        metadata: r.metadata(),
        image: r.image.clone(),
        state: match r.phase {
            Phase::Created => ContainerState::Created,
            Phase::Running => ContainerState::Running,
            Phase::Exited => ContainerState::Exited,
        },
        created_at: r.created_at,
        labels: r.labels.clone(),
        annotations: r.annotations.clone(),
    }
}

fn sandbox_entry(r: &SandboxRecord) -> PodSandbox {
    PodSandbox {
        id: r.id.clone(),
        metadata: r.metadata(),
        state: if r.ready {
            SandboxState::Ready
        } else {
            SandboxState::NotReady
        },
        created_at: r.created_at,
        labels: r.labels.clone(),
        annotations: r.annotations.clone(),
    }
}

fn matches(labels: &kube_core::runtime::Labels, selector: &kube_core::runtime::Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

mod runtime_impl;
