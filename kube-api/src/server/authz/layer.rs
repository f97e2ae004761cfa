//! [`AuthorizationLayer`]: wraps a service in [`Authorization`].

use std::sync::Arc;

use tower::Layer;

use super::{Authorization, Authorizer};

/// Adds authorization in front of a service.
#[derive(Clone)]
pub struct AuthorizationLayer {
    authorizer: Arc<dyn Authorizer>,
}

impl std::fmt::Debug for AuthorizationLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationLayer").finish_non_exhaustive()
    }
}

impl AuthorizationLayer {
    /// A layer that asks `authorizer`.
    pub fn new(authorizer: impl Authorizer) -> Self {
        Self {
            authorizer: Arc::new(authorizer),
        }
    }

    /// A layer that asks a shared authorizer.
    pub fn from_arc(authorizer: Arc<dyn Authorizer>) -> Self {
        Self { authorizer }
    }
}

impl<S> Layer<S> for AuthorizationLayer {
    type Service = Authorization<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorization {
            inner,
            authorizer: self.authorizer.clone(),
        }
    }
}
