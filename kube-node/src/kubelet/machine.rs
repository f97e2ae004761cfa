//! What the machine has and how it fares: CPUs, memory, disk and process ids, read from
//! `/proc` and `statvfs`, for the Node's capacity and its pressure conditions; and what
//! it is (kernel, OS image, machine and boot ids), for the Node's system info.

use std::path::Path;

use kube_core::{Quantity, ResourceList};

/// A reading of the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Machine {
    pub cpus: u64,
    pub memory_total: u64,
    pub memory_available: u64,
    pub disk_total: u64,
    pub disk_available: u64,
    pub pids_used: u64,
    pub pids_max: u64,
}

fn meminfo_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Machine {
    /// Reads the machine; what cannot be read stays 0. Blocking (small reads of `/proc`).
    pub(crate) fn read(disk: &Path) -> Self {
        let mut m = Self {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(1),
            ..Self::default()
        };
        if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
            m.memory_total = meminfo_field(&text, "MemTotal:").unwrap_or(0);
            m.memory_available = meminfo_field(&text, "MemAvailable:").unwrap_or(0);
        }
        let mut dir = disk;
        while !dir.exists() {
            match dir.parent() {
                Some(p) => dir = p,
                None => break,
            }
        }
        if let Ok(st) = rustix::fs::statvfs(dir) {
            m.disk_total = st.f_blocks.saturating_mul(st.f_frsize);
            m.disk_available = st.f_bavail.saturating_mul(st.f_frsize);
        }
        m.pids_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        m.pids_used = std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    })
                    .count() as u64
            })
            .unwrap_or(0);
        m
    }

    /// The capacity this machine gives the Node.
    pub(crate) fn capacity(&self, max_pods: u32) -> ResourceList {
        let mut list = ResourceList::new();
        list.insert(
            "cpu".into(),
            Quantity::from_value(i64::try_from(self.cpus).unwrap_or(i64::MAX)),
        );
        list.insert(
            "memory".into(),
            Quantity::from_bytes(i64::try_from(self.memory_total).unwrap_or(i64::MAX)),
        );
        list.insert(
            "ephemeral-storage".into(),
            Quantity::from_bytes(i64::try_from(self.disk_total).unwrap_or(i64::MAX)),
        );
        list.insert("pods".into(), Quantity::from_value(i64::from(max_pods)));
        list
    }
}

/// What the node reports about its system that does not change while the agent runs:
/// a kubelet reads it once, at start (a new boot id means a reboot, which restarts the
/// agent). Read on every status update, it cost each node agent three file reads and a
/// `uname` every 10 s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SystemFacts {
    /// `uname -r`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of `/etc/os-release`, else the OS's name.
    pub os_image: String,
    /// `/etc/machine-id`, empty when unreadable.
    pub machine_id: String,
    /// `/proc/sys/kernel/random/boot_id`, empty when unreadable.
    pub boot_id: String,
}

impl SystemFacts {
    /// Reads the facts of this machine (blocking: small reads of `/etc` and `/proc`).
    pub(crate) fn read() -> Self {
        let trimmed = |path: &str| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            kernel_version: rustix::system::uname()
                .release()
                .to_string_lossy()
                .into_owned(),
            os_image: os_image(),
            machine_id: trimmed("/etc/machine-id"),
            boot_id: trimmed("/proc/sys/kernel/random/boot_id"),
        }
    }
}

/// The OS image a Node reports: `PRETTY_NAME` of `/etc/os-release`, else the OS's name.
fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned())
}

/// Capacity less the reserved resources, never below zero.
pub(crate) fn allocatable(capacity: &ResourceList, reserved: &ResourceList) -> ResourceList {
    capacity
        .iter()
        .map(|(name, q)| {
            let left = match reserved.get(name) {
                Some(r) => q.saturating_sub(r),
                None => q.clone(),
            };
            let left = if left.is_negative() {
                Quantity::from_value(0)
            } else {
                left
            };
            (name.clone(), left)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let m = Machine::read(Path::new("/nonexistent/dir/below/root"));
        assert!(m.cpus >= 1);
        assert!(m.memory_total > 0 && m.memory_available <= m.memory_total);
        assert!(m.disk_total > 0, "statvfs of the nearest existing parent");
        let cap = m.capacity(110);
        assert_eq!(cap["pods"], Quantity::from_value(110));
        let reserved = ResourceList::from([
            ("cpu".to_owned(), "500m".parse().unwrap()),
            ("pods".to_owned(), "500".parse().unwrap()),
        ]);
        let alloc = allocatable(&cap, &reserved);
        assert_eq!(alloc["cpu"].milli_value(), cap["cpu"].milli_value() - 500);
        assert_eq!(alloc["pods"].value(), 0, "never negative");
        assert_eq!(
            meminfo_field("MemTotal:  2048 kB\n", "MemTotal:"),
            Some(2 << 20)
        );
    }

    #[test]
    fn system_facts_are_read_from_this_machine() {
        let facts = SystemFacts::read();
        assert!(!facts.kernel_version.is_empty());
        assert!(!facts.os_image.is_empty(), "the OS name at least");
    }
}
