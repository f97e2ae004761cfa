//! The contract of kube-sdk: the Kubernetes object model, the component traits and their
//! errors.
//!
//! Every other crate of the SDK, and every platform that replaces one of its parts, builds
//! on this crate. It does no I/O and starts no runtime: it holds types, traits and errors.
//!
//! - **Object model**: [`ObjectMeta`], [`TypeMeta`], [`ListMeta`], [`Status`],
//!   [`WatchEvent`], and the kinds, wire-compatible with Kubernetes JSON.
//! - **[`Resource`]**: what every kind tells about itself (group, version, kind, plural,
//!   scope) and access to its metadata.
//! - **Errors**: [`Error`], with one mapping to a Kubernetes [`Status`] and HTTP code.
//!
//! ```
//! use kube_core::{ObjectMeta, Status, StatusReason};
//!
//! let meta: ObjectMeta =
//!     serde_json::from_str(r#"{"name": "web", "creationTimestamp": null}"#).unwrap();
//! assert_eq!(meta.name.as_deref(), Some("web"));
//!
//! let status = Status::failure(StatusReason::Conflict, "the object has been modified");
//! assert_eq!(status.code, 409);
//! ```
#![warn(missing_docs)]

mod error;
mod int_or_string;
mod list;
mod meta;
pub mod quantity;
pub mod resource;
pub mod selector;
mod status;
pub mod store;
mod time;
mod watch;
#[doc(hidden)]
pub mod wire;

pub use error::{BoxError, Error, ObjectRef, Result};
pub use int_or_string::IntOrString;
pub use list::ObjectList;
pub use meta::{ListMeta, ObjectMeta, OwnerReference, TypeMeta};
pub use quantity::{Quantity, ResourceList};
pub use resource::{ApiResource, ObjectKey, Resource, ResourceExt, StaticResource};
pub use selector::{LabelSelector, LabelSelectorRequirement};
pub use status::{Status, StatusCause, StatusDetails, StatusReason};
pub use store::{
    EventKind, KeyValue, LeaseId, RangeRequest, RangeResponse, Revision, Store, StoreError,
    StoreEvent, WatchStream,
};
pub use time::{MicroTime, Time};
pub use watch::{Bookmark, BookmarkMeta, WatchEvent};
