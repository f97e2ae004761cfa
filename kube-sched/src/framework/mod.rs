//! The scheduling framework: plugin traits at Kubernetes' extension points, profiles, the
//! scheduling cycle and the binding cycle.

mod binding;
mod filter;
mod node_ref;
mod nominator;
mod parallel;
mod plugin;
mod profile;
mod rejection;
mod scheduler;
mod state;
mod waiting;

pub use binding::PermitOutcome;
#[cfg(test)]
pub(crate) use filter::NominatedFilters;
pub(crate) use node_ref::SummaryTable;
pub use node_ref::{NodeRef, NodeSummary};
pub use nominator::{NominatedNode, NominatedPods};
pub use parallel::Parallelizer;
pub use plugin::{
    ALL_EVENTS, BindPlugin, BindResult, FilterPlugin, FilterRunner, MAX_NODE_SCORE, Permit,
    PermitContext, PermitPlugin, Plugin, PostBindPlugin, PostFilterPlugin, PreBindPlugin,
    PreFilterPlugin, PreFilterResult, PreScorePlugin, PreScoreResult, ReservePlugin, ScorePlugin,
    default_normalize_score,
};
pub use profile::{Profile, ProfileBuilder};
pub use rejection::{Reasons, Rejection};
pub use scheduler::{
    DEFAULT_SCHEDULER_NAME, FrameworkConfig, FrameworkScheduler, num_feasible_nodes_to_find,
    scheduler_name,
};
pub use state::{CycleState, StateData};
pub use waiting::{Verdict, WaitingPods};
