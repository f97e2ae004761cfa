//! [`NodeInfo`], a node with its pods and their aggregates, and [`Snapshot`], the
//! consistent set of node infos a scheduling cycle reads.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::pod_info::{HostPort, PodInfo, Resources, node_images};
use crate::core_v1::Node;
use crate::resource::{ObjectKey, ResourceExt};

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// A fresh generation number, greater than every one handed out before in this process.
pub fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// A node and everything scheduled on it: the view every scheduling decision reads.
///
/// Aggregates (requested resources, host ports, pods with affinity) are kept up to date by
/// [`NodeInfo::add_pod`] and [`NodeInfo::remove_pod`]; every change takes a new
/// [generation](NodeInfo::generation), which is how a [`Snapshot`] knows what to refresh.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    name: Arc<str>,
    node: Option<Arc<Node>>,
    pods: Vec<Arc<PodInfo>>,
    pods_with_affinity: usize,
    pods_with_required_anti_affinity: usize,
    requested: Resources,
    non_zero_requested: Resources,
    allocatable: Resources,
    used_ports: Vec<HostPort>,
    images: Arc<HashMap<String, i64>>,
    generation: u64,
}

impl NodeInfo {
    /// A node without pods.
    pub fn new(node: Arc<Node>) -> Self {
        let mut info = Self::named(node.name_any());
        info.set_node(node);
        info
    }

    /// A placeholder for a node the cache heard of through a pod before the node itself.
    pub fn named(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            node: None,
            pods: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            allocatable: Resources::default(),
            used_ports: Vec::new(),
            images: Arc::default(),
            generation: next_generation(),
        }
    }

    /// Replaces the node object (labels, taints, allocatable and images may change).
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.allocatable = Resources::allocatable(&node);
        let images = node_images(&node);
        if *self.images != images {
            self.images = Arc::new(images);
        }
        self.node = Some(node);
        self.generation = next_generation();
    }

    /// Forgets the node object, keeping the pods (the node was deleted while pods still
    /// point at it).
    pub fn clear_node(&mut self) {
        self.node = None;
        self.allocatable = Resources::default();
        self.images = Arc::default();
        self.generation = next_generation();
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's name, shared.
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The node object, unless only its pods are known so far.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_deref()
    }

    /// The node object, shared.
    pub fn node_arc(&self) -> Option<&Arc<Node>> {
        self.node.as_ref()
    }

    /// The pods on the node, bound and assumed.
    pub fn pods(&self) -> &[Arc<PodInfo>] {
        &self.pods
    }

    /// True when some pod on the node has pod affinity or anti-affinity terms.
    pub fn has_pods_with_affinity(&self) -> bool {
        self.pods_with_affinity > 0
    }

    /// True when some pod on the node has required pod anti-affinity terms.
    pub fn has_pods_with_required_anti_affinity(&self) -> bool {
        self.pods_with_required_anti_affinity > 0
    }

    /// The sum of the pods' requests (as the fit check counts them).
    pub fn requested(&self) -> &Resources {
        &self.requested
    }

    /// The sum of the pods' requests with defaults for unset CPU and memory (100m, 200Mi),
    /// as scoring counts them.
    pub fn non_zero_requested(&self) -> &Resources {
        &self.non_zero_requested
    }

    /// What the node offers to pods.
    pub fn allocatable(&self) -> &Resources {
        &self.allocatable
    }

    /// Host ports taken by the pods.
    pub fn used_ports(&self) -> &[HostPort] {
        &self.used_ports
    }

    /// Images present on the node (normalised names, `repo:tag`) and their sizes in bytes.
    pub fn images(&self) -> &HashMap<String, i64> {
        &self.images
    }

    /// The generation: changes with every change to the node or its pods.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds a pod (bound or assumed) and its requests.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(pod.requests());
        self.non_zero_requested.add_non_zero(pod.requests());
        self.used_ports.extend_from_slice(pod.host_ports());
        if pod.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if pod.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
        self.generation = next_generation();
    }

    /// Removes a pod by key; false when it was not there.
    pub fn remove_pod(&mut self, key: &ObjectKey) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.key() == key) else {
            return false;
        };
        let pod = self.pods.swap_remove(i);
        self.requested.sub(pod.requests());
        self.non_zero_requested.sub_non_zero(pod.requests());
        for port in pod.host_ports() {
            if let Some(j) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity() {
            self.pods_with_affinity -= 1;
        }
        if pod.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity -= 1;
        }
        self.generation = next_generation();
        true
    }
}

/// A consistent view of the cluster for one scheduling cycle: every node with its pods.
///
/// The scheduler's cache keeps it current incrementally: it replaces only the
/// [`NodeInfo`]s whose generation is newer than the snapshot's, so a cycle costs what
/// changed since the last one, not the size of the cluster. Node infos are shared
/// (`Arc`), so replacing one copies nothing else.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    nodes: Vec<Arc<NodeInfo>>,
    index: HashMap<Arc<str>, usize>,
    with_affinity: Vec<u32>,
    with_required_anti_affinity: Vec<u32>,
    image_nodes: HashMap<String, usize>,
    generation: u64,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// A snapshot of these nodes, in this order (tests and one-off callers).
    pub fn from_nodes(nodes: impl IntoIterator<Item = NodeInfo>) -> Self {
        let mut s = Self::new();
        for n in nodes {
            s.upsert(Arc::new(n));
        }
        s
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node, in a stable order.
    pub fn nodes(&self) -> &[Arc<NodeInfo>] {
        &self.nodes
    }

    /// One node by name.
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// The position of a node in [`Snapshot::nodes`].
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The nodes that hold pods with pod affinity or anti-affinity terms.
    pub fn nodes_with_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> + '_ {
        self.with_affinity.iter().map(|&i| &self.nodes[i as usize])
    }

    /// The nodes that hold pods with required pod anti-affinity terms.
    pub fn nodes_with_required_anti_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> + '_ {
        self.with_required_anti_affinity
            .iter()
            .map(|&i| &self.nodes[i as usize])
    }

    /// On how many nodes an image (normalised name) is present.
    pub fn image_node_count(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    /// The newest generation the snapshot has seen.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Records that the snapshot reflects every change up to `generation`.
    pub fn set_generation(&mut self, generation: u64) {
        self.generation = self.generation.max(generation);
    }

    /// Adds a node, or replaces the node of the same name.
    pub fn upsert(&mut self, info: Arc<NodeInfo>) {
        self.generation = self.generation.max(info.generation);
        match self.index.get(info.name()).copied() {
            Some(i) => {
                let old = std::mem::replace(&mut self.nodes[i], info);
                let new = &self.nodes[i];
                if !Arc::ptr_eq(&old.images, &new.images) {
                    Self::count_images(&mut self.image_nodes, &old.images, false);
                    Self::count_images(&mut self.image_nodes, &new.images, true);
                }
                let i = i as u32;
                Self::mark(&mut self.with_affinity, i, new.has_pods_with_affinity());
                Self::mark(
                    &mut self.with_required_anti_affinity,
                    i,
                    new.has_pods_with_required_anti_affinity(),
                );
            }
            None => {
                let i = self.nodes.len();
                Self::count_images(&mut self.image_nodes, &info.images, true);
                Self::mark(
                    &mut self.with_affinity,
                    i as u32,
                    info.has_pods_with_affinity(),
                );
                Self::mark(
                    &mut self.with_required_anti_affinity,
                    i as u32,
                    info.has_pods_with_required_anti_affinity(),
                );
                self.index.insert(Arc::clone(&info.name), i);
                self.nodes.push(info);
            }
        }
    }

    /// Removes a node; false when it was not there.
    pub fn remove(&mut self, name: &str) -> bool {
        let Some(i) = self.index.remove(name) else {
            return false;
        };
        let old = self.nodes.remove(i);
        Self::count_images(&mut self.image_nodes, &old.images, false);
        for (j, n) in self.nodes.iter().enumerate().skip(i) {
            self.index.insert(Arc::clone(&n.name), j);
        }
        self.reindex_affinity();
        true
    }

    fn reindex_affinity(&mut self) {
        self.with_affinity.clear();
        self.with_required_anti_affinity.clear();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.has_pods_with_affinity() {
                self.with_affinity.push(i as u32);
            }
            if n.has_pods_with_required_anti_affinity() {
                self.with_required_anti_affinity.push(i as u32);
            }
        }
    }

    fn mark(list: &mut Vec<u32>, i: u32, on: bool) {
        match (list.binary_search(&i), on) {
            (Err(at), true) => list.insert(at, i),
            (Ok(at), false) => {
                list.remove(at);
            }
            _ => {}
        }
    }

    fn count_images(counts: &mut HashMap<String, usize>, images: &HashMap<String, i64>, add: bool) {
        for name in images.keys() {
            if add {
                *counts.entry(name.clone()).or_default() += 1;
            } else if let Some(c) = counts.get_mut(name) {
                *c -= 1;
                if *c == 0 {
                    counts.remove(name);
                }
            }
        }
    }
}
