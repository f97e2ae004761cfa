//! cgroup CPU and memory limits for [`ProcessRuntime`](super::ProcessRuntime)'s containers:
//! cgroup v2 (the unified hierarchy) where the machine has it, else v1 (`cpu` and `memory`
//! controllers, as on hybrid machines).

use std::path::{Path, PathBuf};

use kube_core::RuntimeError;
use kube_core::runtime::ContainerResources;

const ROOT: &str = "/sys/fs/cgroup";

/// Which cgroup layout the machine has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    V2,
    V1,
}

pub(crate) fn detect() -> Option<Layout> {
    let root = Path::new(ROOT);
    if root.join("cgroup.controllers").exists() {
        Some(Layout::V2)
    } else if root.join("cpu").is_dir() && root.join("memory").is_dir() {
        Some(Layout::V1)
    } else {
        None
    }
}

fn write(path: &Path, value: &str) -> Result<(), RuntimeError> {
    std::fs::write(path, value)
        .map_err(|e| RuntimeError::other(format!("writing {value:?} to {}", path.display()), e))
}

/// Creates the container's cgroups with its limits; returns their directories (whose
/// `cgroup.procs` the process joins). Blocking.
pub(crate) fn create(
    layout: Layout,
    group: &str,
    id: &str,
    r: &ContainerResources,
) -> Result<Vec<PathBuf>, RuntimeError> {
    let mk = |dir: &Path| {
        std::fs::create_dir_all(dir)
            .map_err(|e| RuntimeError::other(format!("creating the cgroup {}", dir.display()), e))
    };
    match layout {
        Layout::V2 => {
            let parent = Path::new(ROOT).join(group);
            mk(&parent)?;
            // Delegate cpu and memory to the children (best effort: may be on already).
            let _ = std::fs::write(
                Path::new(ROOT).join("cgroup.subtree_control"),
                "+cpu +memory",
            );
            let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+cpu +memory");
            let dir = parent.join(id);
            mk(&dir)?;
            if let Some(shares) = r.cpu_shares {
                let weight = 1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
                write(&dir.join("cpu.weight"), &weight.to_string())?;
            }
            if let (Some(quota), Some(period)) = (r.cpu_quota, r.cpu_period) {
                write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
            }
            if let Some(mem) = r.memory_limit_bytes {
                write(&dir.join("memory.max"), &mem.to_string())?;
            }
            Ok(vec![dir])
        }
        Layout::V1 => {
            let cpu = Path::new(ROOT).join("cpu").join(group).join(id);
            let memory = Path::new(ROOT).join("memory").join(group).join(id);
            mk(&cpu)?;
            mk(&memory)?;
            if let Some(shares) = r.cpu_shares {
                write(&cpu.join("cpu.shares"), &shares.to_string())?;
            }
            if let Some(period) = r.cpu_period {
                write(&cpu.join("cpu.cfs_period_us"), &period.to_string())?;
            }
            if let Some(quota) = r.cpu_quota {
                write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
            }
            if let Some(mem) = r.memory_limit_bytes {
                write(&memory.join("memory.limit_in_bytes"), &mem.to_string())?;
            }
            Ok(vec![cpu, memory])
        }
    }
}

/// True when the kernel's OOM killer struck in one of these cgroups.
pub(crate) fn oom_killed(dirs: &[PathBuf]) -> bool {
    dirs.iter().any(|d| {
        ["memory.events", "memory.oom_control"].iter().any(|f| {
            std::fs::read_to_string(d.join(f)).is_ok_and(|text| {
                text.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
        })
    })
}

/// Removes the cgroups (they must be empty). Best effort.
pub(crate) fn remove(dirs: &[PathBuf]) {
    for d in dirs {
        if let Err(e) = std::fs::remove_dir(d) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!(cgroup = %d.display(), error = %e, "removing a cgroup");
            }
        }
    }
}
