//! The `batch/v1` API group: `Job`.

mod job;

pub use job::*;
