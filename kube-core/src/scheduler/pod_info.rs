//! [`PodInfo`], what the scheduler derives once from a pod, and [`Resources`], the
//! amounts it counts.

use std::collections::HashMap;
use std::sync::Arc;

use crate::core_v1::{Node, Pod, Protocol};
use crate::quantity::{Quantity, ResourceList};
use crate::resource::{ObjectKey, ResourceExt};
use crate::time::Time;

/// Amounts of the resources the scheduler counts: CPU in millicores, memory and ephemeral
/// storage in bytes, a number of pods, and extended resources by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU, in thousandths of a core.
    pub milli_cpu: i64,
    /// Memory, in bytes.
    pub memory: i64,
    /// Ephemeral storage, in bytes.
    pub ephemeral_storage: i64,
    /// Pods (only meaningful for a node's allocatable).
    pub pods: i64,
    /// Extended resources (`example.com/gpu`, `hugepages-2Mi`), sorted by name.
    pub scalar: Vec<(String, i64)>,
}

/// The CPU a pod without a CPU request counts for, when scoring (Kubernetes: 100m).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory a pod without a memory request counts for, when scoring (Kubernetes: 200Mi).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

impl Resources {
    /// The amounts of a resource list; unparsable quantities count as zero.
    pub fn from_list(list: &ResourceList) -> Self {
        let mut r = Self::default();
        for (name, q) in list {
            r.set(name, q);
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = q.milli_value(),
            "memory" => self.memory = q.value(),
            "ephemeral-storage" => self.ephemeral_storage = q.value(),
            "pods" => self.pods = q.value(),
            _ => self.set_scalar(name, q.value()),
        }
    }

    /// The amount of an extended resource (zero when absent).
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    /// Sets the amount of an extended resource.
    pub fn set_scalar(&mut self, name: &str, value: i64) {
        match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].1 = value,
            Err(i) => self.scalar.insert(i, (name.to_owned(), value)),
        }
    }

    /// True when nothing is requested.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.iter().all(|(_, v)| *v == 0)
    }

    /// Adds `other` in place.
    pub fn add(&mut self, other: &Self) {
        self.combine(other, 1);
    }

    /// Subtracts `other` in place.
    pub fn sub(&mut self, other: &Self) {
        self.combine(other, -1);
    }

    /// The amount-wise maximum of `self` and `other`, in place.
    pub fn max_with(&mut self, other: &Self) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.pods = self.pods.max(other.pods);
        for (n, v) in &other.scalar {
            let cur = self.scalar(n);
            self.set_scalar(n, cur.max(*v));
        }
    }

    fn combine(&mut self, other: &Self, sign: i64) {
        self.milli_cpu += sign * other.milli_cpu;
        self.memory += sign * other.memory;
        self.ephemeral_storage += sign * other.ephemeral_storage;
        self.pods += sign * other.pods;
        for (n, v) in &other.scalar {
            let cur = self.scalar(n);
            self.set_scalar(n, cur + sign * v);
        }
    }

    pub(super) fn add_non_zero(&mut self, pod: &Self) {
        self.milli_cpu += non_zero(pod.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
        self.memory += non_zero(pod.memory, DEFAULT_MEMORY_REQUEST);
    }

    pub(super) fn sub_non_zero(&mut self, pod: &Self) {
        self.milli_cpu -= non_zero(pod.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
        self.memory -= non_zero(pod.memory, DEFAULT_MEMORY_REQUEST);
    }

    /// CPU and memory with the scoring defaults for unset amounts.
    pub fn non_zero(&self) -> (i64, i64) {
        (
            non_zero(self.milli_cpu, DEFAULT_MILLI_CPU_REQUEST),
            non_zero(self.memory, DEFAULT_MEMORY_REQUEST),
        )
    }

    /// What a node offers to pods: its `status.allocatable`, or its capacity when the
    /// kubelet reported no allocatable.
    pub fn allocatable(node: &Node) -> Self {
        let status = &node.status;
        if status.allocatable.is_empty() {
            Self::from_list(&status.capacity)
        } else {
            Self::from_list(&status.allocatable)
        }
    }
}

fn non_zero(v: i64, default: i64) -> i64 {
    if v == 0 { default } else { v }
}

/// A host port a pod takes on its node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host IP (`"0.0.0.0"` for all addresses).
    pub ip: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The port.
    pub port: i32,
}

impl HostPort {
    /// True when both cannot be bound at once: same protocol and port, and the same IP or
    /// either on all addresses.
    pub fn conflicts(&self, other: &Self) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// A pod and the facts the scheduler derives from it once: its key, priority, effective
/// requests, host ports, images and whether it has pod (anti-)affinity.
#[derive(Clone, Debug)]
pub struct PodInfo {
    pod: Arc<Pod>,
    key: ObjectKey,
    priority: i32,
    requests: Resources,
    host_ports: Vec<HostPort>,
    images: Vec<String>,
    has_affinity: bool,
    has_required_anti_affinity: bool,
}

impl PodInfo {
    /// Derives the facts from a pod.
    pub fn new(pod: Arc<Pod>) -> Self {
        let mut info = Self {
            key: pod.key(),
            priority: pod.spec.priority.unwrap_or(0),
            requests: Resources::from_list(&pod.spec.resource_requests()),
            host_ports: Vec::new(),
            images: Vec::new(),
            has_affinity: false,
            has_required_anti_affinity: false,
            pod,
        };
        let spec = &info.pod.spec;
        for c in spec.containers.iter().chain(&spec.init_containers) {
            for p in &c.ports {
                if let Some(host_port) = p.host_port.filter(|p| *p > 0) {
                    info.host_ports.push(HostPort {
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|ip| !ip.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".to_owned()),
                        protocol: p.effective_protocol(),
                        port: host_port,
                    });
                }
            }
            if let Some(image) = c.image.as_deref() {
                info.images.push(normalized_image_name(image));
            }
        }
        if let Some(a) = spec.affinity.as_ref() {
            let aff = a.pod_affinity.as_ref();
            let anti = a.pod_anti_affinity.as_ref();
            info.has_affinity = aff.is_some_and(|x| {
                !x.required_during_scheduling_ignored_during_execution
                    .is_empty()
                    || !x
                        .preferred_during_scheduling_ignored_during_execution
                        .is_empty()
            }) || anti.is_some_and(|x| {
                !x.required_during_scheduling_ignored_during_execution
                    .is_empty()
                    || !x
                        .preferred_during_scheduling_ignored_during_execution
                        .is_empty()
            });
            info.has_required_anti_affinity = anti.is_some_and(|x| {
                !x.required_during_scheduling_ignored_during_execution
                    .is_empty()
            });
        }
        info
    }

    /// The pod.
    pub fn pod(&self) -> &Pod {
        &self.pod
    }

    /// The pod, shared.
    pub fn pod_arc(&self) -> &Arc<Pod> {
        &self.pod
    }

    /// Namespace and name.
    pub fn key(&self) -> &ObjectKey {
        &self.key
    }

    /// `spec.priority`, zero when unset.
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// When the pod was created.
    pub fn creation_timestamp(&self) -> Option<Time> {
        self.pod.metadata.creation_timestamp
    }

    /// The effective requests: the larger of the app containers' sum (with restartable
    /// init containers) and each init container's, plus the pod overhead.
    pub fn requests(&self) -> &Resources {
        &self.requests
    }

    /// The host ports the pod takes.
    pub fn host_ports(&self) -> &[HostPort] {
        &self.host_ports
    }

    /// The container images, normalised (`repo:latest` when untagged).
    pub fn images(&self) -> &[String] {
        &self.images
    }

    /// True when the pod has pod affinity or anti-affinity terms.
    pub fn has_affinity(&self) -> bool {
        self.has_affinity
    }

    /// True when the pod has required pod anti-affinity terms.
    pub fn has_required_anti_affinity(&self) -> bool {
        self.has_required_anti_affinity
    }
}

/// An image name as the scheduler compares them: `:latest` appended when the name has
/// neither a tag nor a digest.
pub fn normalized_image_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

pub(super) fn node_images(node: &Node) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    for image in &node.status.images {
        for name in &image.names {
            out.insert(normalized_image_name(name), image.size_bytes.unwrap_or(0));
        }
    }
    out
}
