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

pub mod apps_v1;
pub mod batch_v1;
pub mod cloud;
pub mod controller;
pub mod coordination_v1;
pub mod core_v1;
mod custom_resource;
mod dynamic;
mod error;
mod int_or_string;
mod list;
mod meta;
pub mod network;
mod partial;
pub mod quantity;
pub mod rbac_v1;
pub mod resource;
pub mod runtime;
pub mod scheduler;
pub mod selector;
mod status;
pub mod store;
mod time;
mod watch;
#[doc(hidden)]
pub mod wire;

pub use apps_v1::*;
pub use batch_v1::*;
pub use cloud::{CloudError, CloudProvider, InstanceMetadata};
pub use controller::{Action, Controller, MapFn, Watch};
pub use coordination_v1::*;
pub use core_v1::*;
pub use custom_resource::{
    ConversionStrategy, CustomResourceColumnDefinition, CustomResourceConversion,
    CustomResourceDefinition, CustomResourceDefinitionCondition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionStatus, CustomResourceDefinitionVersion,
    CustomResourceExt, CustomResourceSubresourceScale, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, ResourceScope, SelectableField,
    ServiceReference, WebhookClientConfig, WebhookConversion, structural_schema,
};
pub use dynamic::{DynamicObject, DynamicObjectError};
pub use error::{BoxError, Error, ObjectRef, Result};
pub use int_or_string::IntOrString;
pub use list::ObjectList;
pub use meta::{ListMeta, ObjectMeta, OwnerReference, TypeMeta};
pub use network::{NetworkProxy, ProxyError, ServiceTable};
pub use partial::PartialObjectMeta;
pub use quantity::{Quantity, QuantityError, ResourceList};
pub use rbac_v1::*;
pub use resource::{ApiResource, ObjectKey, Resource, ResourceExt, StaticResource};
pub use runtime::{Runtime, RuntimeError};
pub use scheduler::{
    Decision, FitCode, HostPort, NodeInfo, NodeRejection, NodeRejectionAll, Nomination, PodInfo,
    Resources, Scheduler, Snapshot, Unschedulable, next_generation,
};
pub use selector::{
    FieldSelector, LabelSelector, LabelSelectorRequirement, Selector, SelectorError,
};
pub use status::{Status, StatusCause, StatusDetails, StatusReason};
pub use store::{
    EventKind, KeyValue, LeaseId, RangeRequest, RangeResponse, Revision, Store, StoreError,
    StoreEvent, WatchStream,
};
pub use time::{MicroTime, Time};
pub use watch::{Bookmark, BookmarkMeta, WatchEvent};
