//! The API server: a `tower::Service` that speaks the Kubernetes REST API over a
//! [`kube_core::Store`].
//!
//! [`ApiServer`] routes Kubernetes paths (discovery, `/version`, health, `/metrics`,
//! OpenAPI, and every kind's resources and subresources) to a registry generic over kinds,
//! with a watch cache, list and watch semantics, patches, tables and admission. Build one
//! with [`ApiServer::builder`], then call it as a service or serve it with
//! [`ApiServer::serve_plain`] (loopback only) or [`serve_connection`].

pub mod admission;
mod allocator;
mod api_server;
pub mod authn;
pub mod authz;
#[doc(hidden)]
pub mod bench_hook;
mod body;
mod builtin;
mod columns;
mod crd;
mod defaults;
mod discovery;
mod followers;
mod handler;
mod kind_validation;
pub mod kinds;
mod list;
mod logs;
mod metrics;
mod namespace;
mod negotiate;
mod object;
mod openapi;
mod partial;
mod patch;
pub mod pki;
pub mod protobuf;
mod query;
pub mod ratelimit;
mod registry;
mod response;
mod review;
mod route;
mod schema;
mod selector;
mod serve;
mod splice;
pub mod stack;
mod subresource;
mod table;
pub mod tls;
pub mod user;
pub mod validation;
mod watch;
mod watch_cache;

pub use admission::{AdmissionRequest, MutatingAdmission, Operation, ValidatingAdmission};
pub use allocator::ServiceRanges;
pub use api_server::{ApiServer, ApiServerBuilder, ApiServerConfig};
pub use body::{ApiBody, ApiRequest, ApiResponse, BodyError, MAX_REQUEST_BODY_BYTES, ReqBody};
pub use kinds::{CellSource, Column, KindSpec, Kinds, MergeStrategy, ScalePaths};
pub use serve::{ServeError, serve_connection, serve_listener};
pub use user::UserInfo;

pub(crate) use api_server::ApiInner;
