//! The Kubernetes-compatible API server of kube-sdk, its client and its informers.
//!
//! This crate will own:
//!
//! - `ApiServer`, a `tower::Service` that speaks the Kubernetes REST API (discovery, CRUD,
//!   watch, patches, subresources, tables) over a [`kube_core::Store`], behind layers for
//!   authentication, authorization (RBAC), rate limiting and admission, served over HTTPS;
//! - `Client` and the typed `Api<K>`, in-process or over HTTPS from a kubeconfig;
//! - informers: list, then watch, with a cache, indexes and event handlers.
//!
//! Every other component talks to the cluster through this crate. Nothing is implemented
//! here yet: the API server lands with its own issue.

pub mod client;
pub mod informer;
pub mod server;
