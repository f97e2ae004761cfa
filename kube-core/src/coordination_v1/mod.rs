//! The `coordination.k8s.io/v1` API group: `Lease`.

mod lease;

pub use lease::*;
