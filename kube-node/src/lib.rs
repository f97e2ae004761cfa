//! The node agent of kube-sdk (the kubelet) and its container runtimes.
//!
//! This crate will own `Kubelet` (node registration, Lease heartbeats, one worker per pod,
//! restarts with backoff, probes, graceful termination, a log endpoint, adoption of running
//! containers after a restart) and implementations of [`kube_core::Runtime`]:
//! `ProcessRuntime` (real host processes), `SimRuntime` (no processes, for simulated
//! clusters) and a CRI client for containerd or CRI-O, plus a runtime conformance suite.
//!
//! Nothing is implemented here yet: the node agent lands with its own issue.
