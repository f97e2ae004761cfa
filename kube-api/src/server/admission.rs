//! Admission: user plugins that mutate or validate objects before they are stored.
//!
//! Built-in defaulting and validation live with each kind ([`KindSpec`]); plugins added
//! through [`ApiServerBuilder`](super::ApiServerBuilder) run after them, mutating ones
//! first, then validating ones, as Kubernetes' admission chain does.
//!
//! [`KindSpec`]: super::kinds::KindSpec

use std::fmt;

use kube_core::{ApiResource, Error};
use serde_json::Value;

use super::user::UserInfo;

/// The operation being admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A create.
    Create,
    /// An update or patch.
    Update,
    /// A delete.
    Delete,
}

/// What an admission plugin is asked about.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionRequest<'a> {
    /// Create, update or delete.
    pub operation: Operation,
    /// The kind.
    pub resource: &'a ApiResource,
    /// The subresource (`status`, `scale`), if any.
    pub subresource: Option<&'a str>,
    /// The namespace, for namespaced kinds.
    pub namespace: Option<&'a str>,
    /// The object's name.
    pub name: &'a str,
    /// Who asks.
    pub user: &'a UserInfo,
    /// The object before the change (update, delete).
    pub old: Option<&'a Value>,
    /// True when nothing will be persisted.
    pub dry_run: bool,
}

/// A plugin that may change objects before they are validated and stored.
pub trait MutatingAdmission: Send + Sync + 'static {
    /// The plugin's name, for errors and logs.
    fn name(&self) -> &str;

    /// Changes the object, or rejects the request with an error (usually 403 or 422).
    fn admit(&self, request: &AdmissionRequest<'_>, object: &mut Value) -> Result<(), Error>;
}

/// A plugin that accepts or rejects objects, after every mutation.
pub trait ValidatingAdmission: Send + Sync + 'static {
    /// The plugin's name, for errors and logs.
    fn name(&self) -> &str;

    /// Accepts the object, or rejects the request with an error (usually 403 or 422).
    fn validate(&self, request: &AdmissionRequest<'_>, object: &Value) -> Result<(), Error>;
}

/// The plugins of a server, in the order they were added.
#[derive(Default, Clone)]
pub(crate) struct AdmissionChain {
    pub(crate) mutating: Vec<std::sync::Arc<dyn MutatingAdmission>>,
    pub(crate) validating: Vec<std::sync::Arc<dyn ValidatingAdmission>>,
}

impl fmt::Debug for AdmissionChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionChain")
            .field(
                "mutating",
                &self
                    .mutating
                    .iter()
                    .map(|p| p.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .field(
                "validating",
                &self
                    .validating
                    .iter()
                    .map(|p| p.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl AdmissionChain {
    /// Runs every plugin: mutating ones (on create and update), then validating ones.
    pub(crate) fn run(
        &self,
        request: &AdmissionRequest<'_>,
        object: &mut Value,
    ) -> Result<(), Error> {
        if request.operation != Operation::Delete {
            for p in &self.mutating {
                p.admit(request, object)?;
            }
        }
        for p in &self.validating {
            p.validate(request, object)?;
        }
        Ok(())
    }
}
