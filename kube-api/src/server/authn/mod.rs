//! Authentication: who sent a request.
//!
//! [`Authentication`] finds the user of each request and puts a [`UserInfo`] in its
//! extensions, for authorization, admission and audit. In order:
//!
//! 1. a [`TrustedUser`] extension, which only in-process callers can set (nothing from the
//!    network becomes an extension);
//! 2. the verified x509 client certificate of the TLS connection ([`PeerCertificates`],
//!    put there by the TLS server): the subject's `CN` is the user, each `O` a group;
//! 3. a bearer token (`Authorization: Bearer ...`) from the [`TokenFile`]; the header is
//!    removed before the request goes on.
//!
//! A `TokenReview` (`authentication.k8s.io/v1`, what components that delegate
//! authentication ask) is handed this authenticator, which answers it for the review's
//! token.
//!
//! A request with none of these is anonymous (`system:anonymous`, group
//! `system:unauthenticated`) on the health and version endpoints (`/healthz`, `/livez`,
//! `/readyz`, `/version` and below), and rejected with 401 Unauthorized elsewhere; so is
//! any request with a token that is not in the file. Every authenticated user is in
//! `system:authenticated`.

mod error;
mod future;
mod layer;
mod token;
mod x509;

use std::task::{Context, Poll};

use http::Request;
use http::header::AUTHORIZATION;
use kube_core::{Status, StatusReason};
use tower::Service;

pub use error::TokenFileError;
pub use future::ResponseFuture;
pub use layer::AuthenticationLayer;
pub use token::TokenFile;
pub use x509::{CertificateParseError, PeerCertificates, Subject, subject};

use crate::server::{ApiResponse, UserInfo};

/// A user vouched for by an in-process caller, taken as is by [`Authentication`].
///
/// Only code in the same process can put an extension on a request, so this never comes
/// from the network. The in-process client of the served stack uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedUser(pub UserInfo);

/// The authenticator that guards this server, handed to a `TokenReview` in the request's
/// extensions.
#[derive(Clone, Debug)]
pub(crate) struct ReviewAuthenticator(pub(crate) std::sync::Arc<Authenticator>);

/// The paths anonymous requests may reach (and everything below them).
const ANONYMOUS_PATHS: [&str; 4] = ["/healthz", "/livez", "/readyz", "/version"];

/// Decides who a request comes from.
#[derive(Clone, Debug)]
pub struct Authenticator {
    tokens: TokenFile,
    client_certificates: bool,
}

impl Default for Authenticator {
    fn default() -> Self {
        Self::new()
    }
}

impl Authenticator {
    /// Accepts client certificates and no tokens.
    pub fn new() -> Self {
        Self {
            tokens: TokenFile::new(),
            client_certificates: true,
        }
    }

    /// Accepts the bearer tokens of a token file.
    #[must_use]
    pub fn with_tokens(mut self, tokens: TokenFile) -> Self {
        self.tokens = tokens;
        self
    }

    /// Whether client certificates authenticate (on by default).
    #[must_use]
    pub fn with_client_certificates(mut self, enabled: bool) -> Self {
        self.client_certificates = enabled;
        self
    }

    /// The user a bearer token stands for, if it is one this authenticator accepts.
    pub fn authenticate_token(&self, token: &str) -> Option<UserInfo> {
        self.tokens.user(token).cloned()
    }

    /// The user of a request, or why it has none.
    pub fn authenticate<B>(&self, request: &Request<B>) -> Result<UserInfo, Rejection> {
        if let Some(TrustedUser(user)) = request.extensions().get::<TrustedUser>() {
            return Ok(user.clone());
        }
        if self.client_certificates {
            if let Some(PeerCertificates(chain)) = request.extensions().get::<PeerCertificates>() {
                if let Some(leaf) = chain.first() {
                    let subject = subject(leaf).map_err(|_| Rejection::BadCertificate)?;
                    return match subject.common_name.filter(|cn| !cn.is_empty()) {
                        Some(cn) => Ok(UserInfo::new(cn, subject.organizations)),
                        None => Err(Rejection::BadCertificate),
                    };
                }
            }
        }
        if let Some(value) = request.headers().get(AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    let (scheme, token) = v.trim().split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .filter(|t| !t.is_empty())
                .ok_or(Rejection::BadToken)?;
            return self.tokens.user(token).cloned().ok_or(Rejection::BadToken);
        }
        if is_anonymous_path(request.uri().path()) {
            return Ok(UserInfo::anonymous());
        }
        Err(Rejection::NoCredentials)
    }
}

fn is_anonymous_path(path: &str) -> bool {
    ANONYMOUS_PATHS.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Why a request was not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No credentials, on a path that needs them.
    NoCredentials,
    /// A bearer token that is malformed or unknown.
    BadToken,
    /// A client certificate without a usable subject.
    BadCertificate,
}

impl Rejection {
    /// The 401 response, worded as Kubernetes words it.
    pub fn response(self) -> ApiResponse {
        crate::server::response::status(&Status::failure(
            StatusReason::Unauthorized,
            "Unauthorized",
        ))
    }
}

/// The authentication service: see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Authentication<S> {
    inner: S,
    authenticator: std::sync::Arc<Authenticator>,
}

impl<S, B> Service<Request<B>> for Authentication<S>
where
    S: Service<Request<B>, Response = ApiResponse>,
{
    type Response = ApiResponse;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match self.authenticator.authenticate(&request) {
            Ok(user) => {
                tracing::trace!(user = %user.name, "authenticated");
                request.headers_mut().remove(AUTHORIZATION);
                request.extensions_mut().remove::<TrustedUser>();
                request.extensions_mut().insert(user);
                // A token review is answered by this same authenticator.
                if request.uri().path().ends_with("/tokenreviews") {
                    let authenticator = ReviewAuthenticator(self.authenticator.clone());
                    request.extensions_mut().insert(authenticator);
                }
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(rejection) => {
                tracing::debug!(?rejection, path = request.uri().path(), "unauthenticated");
                ResponseFuture::rejected(rejection.response())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;

    use tower::{Layer as _, ServiceExt as _};

    use super::*;
    use crate::server::ApiBody;

    /// A service that answers with the user it was given.
    fn echo()
    -> impl Service<Request<ApiBody>, Response = ApiResponse, Error = Infallible, Future = impl Send>
    + Clone {
        tower::service_fn(|req: Request<ApiBody>| async move {
            let user = req
                .extensions()
                .get::<UserInfo>()
                .cloned()
                .unwrap_or_default();
            let auth = req.headers().contains_key(AUTHORIZATION);
            let body = format!("{}|{}|{auth}", user.name, user.groups.join(","));
            Ok::<_, Infallible>(http::Response::new(ApiBody::from(body)))
        })
    }

    async fn call(authn: &Authenticator, req: Request<ApiBody>) -> (u16, String) {
        let svc = AuthenticationLayer::new(authn.clone()).layer(echo());
        let res = svc.oneshot(req).await.unwrap();
        let code = res.status().as_u16();
        let body = res.into_body().collect_bytes().await.unwrap();
        (code, String::from_utf8(body.to_vec()).unwrap())
    }

    fn get(path: &str) -> Request<ApiBody> {
        Request::get(path).body(ApiBody::empty()).unwrap()
    }

    fn authn() -> Authenticator {
        Authenticator::new().with_tokens(TokenFile::parse("t0k3n,alice,u1,\"dev,ops\"\n").unwrap())
    }

    #[tokio::test]
    async fn tokens_name_the_user_and_are_removed() {
        let mut req = get("/api/v1/pods");
        req.headers_mut()
            .insert(AUTHORIZATION, "Bearer t0k3n".parse().unwrap());
        let (code, body) = call(&authn(), req).await;
        assert_eq!(code, 200);
        assert_eq!(body, "alice|dev,ops,system:authenticated|false");
    }

    #[tokio::test]
    async fn wrong_or_missing_credentials_get_401_with_a_status() {
        for header in [
            Some("Bearer nope"),
            Some("Basic YTpi"),
            Some("Bearer"),
            None,
        ] {
            let mut req = get("/api/v1/pods");
            if let Some(h) = header {
                req.headers_mut().insert(AUTHORIZATION, h.parse().unwrap());
            }
            let (code, body) = call(&authn(), req).await;
            assert_eq!(code, 401, "{header:?}");
            let status: Status = serde_json::from_str(&body).unwrap();
            assert_eq!(status.reason, "Unauthorized");
            assert_eq!(status.message, "Unauthorized");
        }
    }

    #[tokio::test]
    async fn anonymous_only_on_health_and_version() {
        for path in ["/healthz", "/livez", "/readyz/ping", "/version"] {
            let (code, body) = call(&authn(), get(path)).await;
            assert_eq!(code, 200, "{path}");
            assert_eq!(body, "system:anonymous|system:unauthenticated|false");
        }
        for path in ["/healthzz", "/api", "/apis/apps/v1", "/metrics", "/"] {
            let (code, _) = call(&authn(), get(path)).await;
            assert_eq!(code, 401, "{path}");
        }
        // A bad token is rejected even where anonymous requests pass.
        let mut req = get("/healthz");
        req.headers_mut()
            .insert(AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert_eq!(call(&authn(), req).await.0, 401);
    }

    #[tokio::test]
    async fn client_certificates_name_user_and_groups() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "bob");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "system:masters");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let mut req = get("/api/v1/pods");
        req.extensions_mut()
            .insert(PeerCertificates(Arc::from(vec![cert.der().clone()])));
        let (code, body) = call(&authn(), req).await;
        assert_eq!(code, 200);
        assert_eq!(body, "bob|system:masters,system:authenticated|false");

        // With certificates turned off, the same request has no credentials.
        let mut req = get("/api/v1/pods");
        req.extensions_mut()
            .insert(PeerCertificates(Arc::from(vec![cert.der().clone()])));
        let off = authn().with_client_certificates(false);
        assert_eq!(call(&off, req).await.0, 401);
    }

    #[tokio::test]
    async fn trusted_users_pass_as_they_are() {
        let mut req = get("/api/v1/pods");
        req.extensions_mut().insert(TrustedUser(UserInfo::new(
            "system:kube-scheduler",
            Vec::<String>::new(),
        )));
        let (code, body) = call(&authn(), req).await;
        assert_eq!(code, 200);
        assert_eq!(body, "system:kube-scheduler|system:authenticated|false");
    }
}
