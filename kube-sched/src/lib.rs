//! Scheduling for kube-sdk.
//!
//! This crate will own `FrameworkScheduler`, an implementation of [`kube_core::Scheduler`]
//! built from plugins at Kubernetes' extension points (PreFilter, Filter, PostFilter,
//! PreScore, Score, Reserve, Permit, PreBind, Bind, PostBind) with Kubernetes' default
//! plugins; the scheduling queue with its backoff and unschedulable pools; the node cache
//! with assumed pods and an incrementally updated snapshot; and the loop that feeds a
//! scheduler from informers and binds its decisions.
//!
//! Nothing is implemented here yet: the scheduler lands with its own issue.
