//! The core API group, version v1: `Pod`, `Node`, `Service`, `Endpoints`, `Namespace`,
//! `ConfigMap`, `Secret`, `Event`, and the types they share.

mod config;
mod container;
mod endpoints;
mod event;
mod namespace;
mod node;
mod object_reference;
mod pod;
mod scheduling;
mod service;

pub use config::*;
pub use container::*;
pub use endpoints::*;
pub use event::*;
pub use namespace::*;
pub use node::*;
pub use object_reference::*;
pub use pod::*;
pub use scheduling::*;
pub use service::*;
