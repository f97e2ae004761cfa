//! kube-sdk: build your own orchestrator from Kubernetes' parts.
//!
//! This root package will hold the builders (`ControlPlane::builder()`,
//! `NodeAgent::builder()`) and a prelude; for now it re-exports the crates of the SDK.
//!
//! ```
//! use kube_sdk::core::{ObjectMeta, ResourceExt};
//! # let _ = std::any::type_name::<ObjectMeta>();
//! ```
#![warn(missing_docs)]

pub use kube_api as api;
pub use kube_core as core;
pub use kube_ctrl as ctrl;
pub use kube_net as net;
pub use kube_node as node;
pub use kube_sched as sched;
pub use kube_store as store;
