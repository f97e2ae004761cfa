//! Kubernetes' default plugins, with their semantics, and Coscheduling as the worked
//! example of a plugin from outside the default set.

pub mod coscheduling;
pub mod default_binder;
pub mod default_preemption;
mod domain_memo;
pub(crate) use domain_memo::FxHasher;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
mod node_memo;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_selector;
pub mod pod_topology_spread;
mod spread_counts;
pub mod taint_toleration;

use std::sync::Arc;

pub use coscheduling::Coscheduling;
pub use default_binder::{DefaultBinder, PodBinder};
pub use default_preemption::DefaultPreemption;
pub use image_locality::ImageLocality;
pub use inter_pod_affinity::InterPodAffinity;
pub use node_affinity::NodeAffinity;
pub use node_name::NodeName;
pub use node_ports::NodePorts;
pub use node_resources_balanced_allocation::BalancedAllocation;
pub use node_resources_fit::{NodeResourcesFit, ResourceName, ScoringStrategy};
pub use node_unschedulable::NodeUnschedulable;
pub use pod_topology_spread::PodTopologySpread;
pub use taint_toleration::TaintToleration;

use crate::framework::{Profile, ProfileBuilder};

/// Kubernetes' default plugin set under `scheduler_name`, without a Bind plugin: PreFilter,
/// Filter, PostFilter (preemption), PreScore and Score in Kubernetes' order and with its
/// default weights (TaintToleration 3; NodeAffinity, PodTopologySpread and
/// InterPodAffinity 2; the rest 1). Add a Bind plugin (or use [`default_profile`]) before
/// binding with it.
pub fn default_plugins(scheduler_name: &str) -> ProfileBuilder {
    let name = Arc::new(NodeName);
    let unschedulable = Arc::new(NodeUnschedulable);
    let taints = Arc::new(TaintToleration);
    let affinity = Arc::new(NodeAffinity::default());
    let ports = Arc::new(NodePorts);
    let fit = Arc::new(NodeResourcesFit::default());
    let spread = Arc::new(PodTopologySpread::default());
    let pods = Arc::new(InterPodAffinity::default());
    Profile::builder(scheduler_name)
        .pre_filter(name.clone())
        .pre_filter(affinity.clone())
        .pre_filter(ports.clone())
        .pre_filter(spread.clone())
        .pre_filter(pods.clone())
        .filter(unschedulable)
        .filter(name)
        .filter(taints.clone())
        .filter(affinity.clone())
        .filter(ports)
        .filter(fit.clone())
        .filter(spread.clone())
        .filter(pods.clone())
        .post_filter(Arc::new(DefaultPreemption::default()))
        .pre_score(taints.clone())
        .pre_score(affinity.clone())
        .pre_score(spread.clone())
        .pre_score(pods.clone())
        .pre_score(Arc::new(ImageLocality))
        .score(taints, 3)
        .score(affinity, 2)
        .score(spread, 2)
        .score(pods, 2)
        .score(fit, 1)
        .score(Arc::new(BalancedAllocation::default()), 1)
        .score(Arc::new(ImageLocality), 1)
}

/// The default profile (`default-scheduler`), binding through `binder`.
pub fn default_profile(binder: Arc<dyn PodBinder>) -> Profile {
    default_plugins(crate::DEFAULT_SCHEDULER_NAME)
        .bind(Arc::new(DefaultBinder::new(binder)))
        .build()
}
