//! [`AuthenticationLayer`]: wraps a service in [`Authentication`].

use std::sync::Arc;

use tower::Layer;

use super::{Authentication, Authenticator};

/// Adds authentication in front of a service.
#[derive(Clone, Debug)]
pub struct AuthenticationLayer {
    authenticator: Arc<Authenticator>,
}

impl AuthenticationLayer {
    /// A layer that authenticates with `authenticator`.
    pub fn new(authenticator: Authenticator) -> Self {
        Self {
            authenticator: Arc::new(authenticator),
        }
    }
}

impl<S> Layer<S> for AuthenticationLayer {
    type Service = Authentication<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authentication {
            inner,
            authenticator: self.authenticator.clone(),
        }
    }
}
