//! What [`ProcessRuntime`](super::ProcessRuntime) keeps on disk, one JSON file per sandbox
//! and per container, written atomically, so that a restarted agent finds its containers
//! (process ids and start times) and their ends (exit codes).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use kube_core::runtime::{ContainerMetadata, PodSandboxMetadata};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A sandbox record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SandboxRecord {
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub attempt: u32,
    pub ready: bool,
    pub created_at: SystemTime,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub log_directory: String,
    pub hostname: String,
    /// The network namespace, when the pod has its own.
    pub netns: Option<String>,
    /// The host side of its veth.
    pub veth: Option<String>,
    /// Its IP.
    pub ip: Option<String>,
}

impl SandboxRecord {
    pub(crate) fn metadata(&self) -> PodSandboxMetadata {
        PodSandboxMetadata {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            uid: self.uid.clone(),
            attempt: self.attempt,
        }
    }
}

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Phase {
    Created,
    Running,
    Exited,
}

/// A container record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContainerRecord {
    pub id: String,
    pub sandbox_id: String,
    pub name: String,
    pub attempt: u32,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub created_at: SystemTime,
    /// What runs: the full argv (the wrapper adds itself in front).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub rootfs: Option<PathBuf>,
    /// The absolute log path.
    pub log_path: Option<PathBuf>,
    /// cgroup directories the process is put in.
    pub cgroups: Vec<PathBuf>,
    pub phase: Phase,
    pub pid: Option<i32>,
    /// The process's start time in clock ticks after boot (`/proc/<pid>/stat`, field 22):
    /// with the pid, it tells our process from a later one that reused the pid.
    pub pid_start: Option<u64>,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub exit_code: Option<i32>,
    pub reason: String,
    pub message: String,
    /// The runtime killed it with SIGKILL (so a missing exit file means 137).
    pub killed: bool,
}

impl ContainerRecord {
    pub(crate) fn metadata(&self) -> ContainerMetadata {
        ContainerMetadata {
            name: self.name.clone(),
            attempt: self.attempt,
        }
    }
}

/// Writes a record atomically (a temporary file, then a rename).
pub(crate) async fn save<T: Serialize>(path: &Path, record: &T) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, data).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Reads every record `<dir>/<id>/<file>`; unreadable ones are skipped with a warning.
pub(crate) fn load_all<T: DeserializeOwned>(dir: &Path, file: &str) -> Vec<T> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path().join(file);
        match std::fs::read(&path) {
            Ok(data) => match serde_json::from_slice(&data) {
                Ok(record) => out.push(record),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable record");
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable record");
            }
        }
    }
    out
}
