//! The Kubernetes-compatible API server of kube-sdk, its client and its informers.
//!
//! - [`server`]: [`ApiServer`](server::ApiServer), a `tower::Service` that speaks the
//!   Kubernetes REST API over any [`kube_core::Store`]: discovery (`/api`, `/apis`),
//!   `/version`, health, Prometheus `/metrics`, OpenAPI v2 and v3 built from kube-core's
//!   schemas (enough for `kubectl explain` and server-side field validation), and for
//!   every kind get, list, create, update, patch (JSON, merge and strategic merge),
//!   delete, deletecollection and watch, with selectors, paging, resourceVersion
//!   semantics, bookmarks, dry run, Table output and the `status`, `scale`, `binding`,
//!   `eviction` and `log` subresources. Request bodies may be JSON, YAML or Kubernetes'
//!   protobuf (what client-go's typed clients send). Admission defaults and validates
//!   every built-in kind, allocates ClusterIPs and NodePorts (persisted in the store), and
//!   runs the user's admission plugins. Custom resources registered at run time are served
//!   like built-in kinds. [`server::stack::StackBuilder`] wraps it in authentication (x509
//!   client certificates, bearer tokens), authorization (RBAC or allow-all) and rate
//!   limits, creates the PKI and a kubeconfig, and serves HTTPS.
//! - [`client`]: [`Client`](client::Client) and the typed [`Api<K>`](client::Api), in
//!   process (calling the server's service directly, through the same layers) or over
//!   HTTPS from a kubeconfig, retrying 429 and 5xx with backoff.
//! - [`informer`]: list, then watch, into a cache with indexes and event handlers, shared
//!   per kind by a [`SharedInformerFactory`](informer::SharedInformerFactory).
//!
//! kubectl (1.32 and 1.37) and the official Python client are tested against the served
//! stack in this crate's `tests/`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use kube_api::client::{Api, Client, PostParams};
//! use kube_api::server::ApiServer;
//! use kube_api::server::stack::StackBuilder;
//! use kube_core::{ConfigMap, ObjectMeta, Store};
//!
//! # fn memory_store() -> Arc<dyn Store> { unimplemented!() }
//! // Any `Store`: kube-store's MemoryStore, its durable store, or etcd.
//! let store: Arc<dyn Store> = memory_store();
//! let api = ApiServer::builder(store).build().await?;
//!
//! // In process: no socket, the same behaviour as over the network.
//! let client = Client::new(api.clone(), "default");
//! let cms: Api<ConfigMap> = Api::default_namespaced(client);
//! let cm = ConfigMap {
//!     metadata: ObjectMeta { name: Some("settings".into()), ..Default::default() },
//!     ..Default::default()
//! };
//! cms.create(&PostParams::default(), &cm).await?;
//!
//! // Over HTTPS, for kubectl: a PKI, RBAC, and an admin kubeconfig next to the PKI.
//! let stack = StackBuilder::new(api).pki_dir("/var/lib/kube-sdk/pki").build().await?;
//! let server = stack.serve("127.0.0.1:6443".parse()?).await?;
//! println!("kubectl --kubeconfig {}", server.kubeconfig_path().unwrap().display());
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod informer;
pub mod server;
