//! The node agent of kube-sdk (a kubelet) and its container runtimes.
#![warn(missing_docs)]

pub mod conformance;
#[cfg(feature = "cri")]
pub mod cri;
pub mod logs;
mod process;
mod sim;

pub use sim::{
    Faults, SIM_EXEC_EXIT_CODE, SIM_EXIT_CODE, SIM_IGNORE_TERM, SIM_OUTPUT, SIM_RUN_MILLIS,
    SimConfig, SimOp, SimProgram, SimRuntime,
};
pub mod kubelet;

#[cfg(feature = "cri")]
pub use cri::{CriRuntime, CriServer};
pub use kubelet::{Kubelet, KubeletBuilder, KubeletConfig, RunningKubelet};
pub use process::{CatalogImage, DEFAULT_PATH, ImageCatalog, ProcessRuntime, ProcessRuntimeConfig};
