//! What an application built on the SDK usually needs, in one `use`.

pub use kube_api::client::{
    Api, Client, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams,
};
pub use kube_api::informer::{Cache, Informer, SharedInformerFactory};
pub use kube_core::{
    ConfigMap, Deployment, Error, Namespace, Node, ObjectMeta, Pod, Resource, ResourceExt, Service,
    WatchEvent,
};

pub use crate::{
    BuildError, ControlPlane, ControlPlaneBuilder, NodeAgent, NodeAgentBuilder, ReferenceCluster,
    ReferenceClusterConfig, RunningControlPlane, RunningNodeAgent, SchedulerChoice, StoreChoice,
};
