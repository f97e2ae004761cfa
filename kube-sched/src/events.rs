//! Cluster events: what changed in the cluster, so that the queue moves back only the
//! unschedulable pods a change could make fit.

/// The kind of object an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventResource {
    /// A node.
    Node,
    /// A pod that is assigned to a node (scheduled, or assumed).
    AssignedPod,
    /// A pod that is not yet assigned.
    UnassignedPod,
}

/// What happened to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventAction {
    /// Created.
    Add,
    /// Changed.
    Update,
    /// Deleted.
    Delete,
}

/// One cluster event: a resource and an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClusterEvent {
    /// The kind of object.
    pub resource: EventResource,
    /// What happened to it.
    pub action: EventAction,
}

impl ClusterEvent {
    /// A node was added.
    pub const NODE_ADD: Self = Self::new(EventResource::Node, EventAction::Add);
    /// A node changed (labels, taints, allocatable, unschedulable).
    pub const NODE_UPDATE: Self = Self::new(EventResource::Node, EventAction::Update);
    /// A node was deleted.
    pub const NODE_DELETE: Self = Self::new(EventResource::Node, EventAction::Delete);
    /// An assigned pod appeared (it may satisfy pod affinity).
    pub const POD_ADD: Self = Self::new(EventResource::AssignedPod, EventAction::Add);
    /// An assigned pod changed (labels).
    pub const POD_UPDATE: Self = Self::new(EventResource::AssignedPod, EventAction::Update);
    /// An assigned pod went (freeing resources, ports, anti-affinity domains).
    pub const POD_DELETE: Self = Self::new(EventResource::AssignedPod, EventAction::Delete);
    /// An unassigned pod appeared (a gang member, for example).
    pub const UNASSIGNED_POD_ADD: Self = Self::new(EventResource::UnassignedPod, EventAction::Add);

    /// An event from its parts.
    pub const fn new(resource: EventResource, action: EventAction) -> Self {
        Self { resource, action }
    }
}
