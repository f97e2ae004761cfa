//! Controllers for kube-sdk.
//!
//! This crate will own the controller runtime (work queue with deduplication, per-key
//! backoff and rate limits, shared informers, finalizers, event recording, leader election on
//! a Lease), the `ControllerManager` with Kubernetes' built-in controllers (ReplicaSet,
//! Deployment, Endpoints, NodeLifecycle, GarbageCollector, Namespace, DaemonSet, Job), and
//! the `CloudControllerManager` over a [`kube_core::CloudProvider`].
//!
//! Nothing is implemented here yet: the controllers land with their own issue.
