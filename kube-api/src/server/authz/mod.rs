//! Authorization: may this user do this?
//!
//! A request with impersonation headers (`kubectl --as`) is first checked for them and
//! then goes on as the impersonated user (see `impersonation.rs`).
//!
//! [`Authorization`] reads the [`UserInfo`] the authentication layer left in the request's
//! extensions (a request without one is the built-in admin, as for the API server on its
//! own), works out the [`RequestAttributes`] (verb, group, resource, namespace, name, or
//! non-resource path) and asks an [`Authorizer`]. Unless it allows, the answer is 403
//! Forbidden with a `Status` worded as Kubernetes words it:
//! `pods is forbidden: User "x" cannot list resource "pods" in API group "" in the
//! namespace "default"`. An allowed access or rules review (`kubectl auth can-i`, with
//! `--list`; a `SubjectAccessReview` from a component that delegates authorization)
//! carries the authorizer on to the server, which answers the review with it.
//!
//! Authorizers: [`RbacAuthorizer`] (Kubernetes RBAC) and [`AllowAll`] (development).

mod attributes;
mod future;
mod impersonation;
mod layer;
mod rbac;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use kube_core::{PolicyRule, Status, StatusDetails, StatusReason};
use tower::Service;

pub use attributes::RequestAttributes;
pub use future::ResponseFuture;
pub use layer::AuthorizationLayer;
pub use rbac::RbacAuthorizer;

use crate::server::review::{Review, ReviewAuthorizer};
use crate::server::{ApiResponse, UserInfo};

/// What an authorizer decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request may go on.
    Allow,
    /// The request is refused, for this reason (appended to the message).
    Deny(String),
    /// No rule allows it: refused, with no particular reason.
    NoOpinion,
}

/// Decides whether a request may go on.
pub trait Authorizer: Send + Sync + 'static {
    /// The decision for one request.
    fn authorize(&self, attributes: &RequestAttributes) -> Decision;

    /// The rules that allow `user` to do things in `namespace` (cluster-wide rules
    /// included; `""` for cluster-wide rules only), as `kubectl auth can-i --list` shows
    /// them. `None` when this authorizer cannot list its rules: the review then says its
    /// answer is incomplete. The default.
    fn rules(&self, user: &UserInfo, namespace: &str) -> Option<Vec<PolicyRule>> {
        let _ = (user, namespace);
        None
    }
}

/// Allows everything: for development, never for a shared cluster.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &RequestAttributes) -> Decision {
        Decision::Allow
    }

    fn rules(&self, _: &UserInfo, _: &str) -> Option<Vec<PolicyRule>> {
        Some(rbac::everything())
    }
}

impl<A: Authorizer> Authorizer for Arc<A> {
    fn authorize(&self, attributes: &RequestAttributes) -> Decision {
        (**self).authorize(attributes)
    }

    fn rules(&self, user: &UserInfo, namespace: &str) -> Option<Vec<PolicyRule>> {
        (**self).rules(user, namespace)
    }
}

/// The 403 `Status` for a refused request.
pub fn forbidden(attributes: &RequestAttributes, reason: Option<&str>) -> Status {
    let mut why = attributes.forbidden_message();
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        why.push_str(": ");
        why.push_str(reason);
    }
    if !attributes.resource_request {
        return Status::failure(StatusReason::Forbidden, format!("forbidden: {why}"));
    }
    let qualified = if attributes.api_group.is_empty() {
        attributes.resource.clone()
    } else {
        format!("{}.{}", attributes.resource, attributes.api_group)
    };
    let message = if attributes.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {:?} is forbidden: {why}", attributes.name)
    };
    Status::failure(StatusReason::Forbidden, message).with_details(StatusDetails {
        name: attributes.name.clone(),
        group: attributes.api_group.clone(),
        kind: attributes.resource.clone(),
        ..StatusDetails::default()
    })
}

/// The authorization service: see the [module docs](self).
#[derive(Clone)]
pub struct Authorization<S> {
    inner: S,
    authorizer: Arc<dyn Authorizer>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Authorization<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for Authorization<S>
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
        let mut user = request
            .extensions()
            .get::<UserInfo>()
            .cloned()
            .unwrap_or_else(UserInfo::admin);
        // `kubectl --as`: the request goes on as the impersonated user, if this one may.
        match impersonation::impersonate(&mut request, &user, &*self.authorizer) {
            Ok(None) => {}
            Ok(Some(impersonated)) => {
                tracing::debug!(user = %user.name, as_user = %impersonated.name, "impersonating");
                request.extensions_mut().insert(impersonated.clone());
                user = impersonated;
            }
            Err(status) => {
                tracing::debug!(user = %user.name, message = %status.message, "impersonation refused");
                return ResponseFuture::rejected(crate::server::response::status(&status));
            }
        }
        let attributes = RequestAttributes::from_request(&request, user);
        let reason = match self.authorizer.authorize(&attributes) {
            Decision::Allow => {
                // The access and rules reviews are answered by this same authorizer.
                if Review::of_path(
                    &attributes.api_group,
                    &attributes.api_version,
                    &attributes.resource,
                )
                .is_some_and(Review::needs_authorizer)
                {
                    let authorizer = ReviewAuthorizer(self.authorizer.clone());
                    request.extensions_mut().insert(authorizer);
                }
                return ResponseFuture::inner(self.inner.call(request));
            }
            Decision::Deny(reason) => Some(reason),
            Decision::NoOpinion => None,
        };
        let status = forbidden(&attributes, reason.as_deref());
        tracing::debug!(user = %attributes.user.name, message = %status.message, "forbidden");
        ResponseFuture::rejected(crate::server::response::status(&status))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer as _, ServiceExt as _};

    use super::*;
    use crate::server::ApiBody;

    struct OnlyGets;

    impl Authorizer for OnlyGets {
        fn authorize(&self, a: &RequestAttributes) -> Decision {
            match a.verb.as_str() {
                "get" => Decision::Allow,
                "delete" => Decision::Deny("deletes are off today".into()),
                _ => Decision::NoOpinion,
            }
        }
    }

    async fn call(
        layer: &AuthorizationLayer,
        method: &str,
        uri: &str,
        user: Option<UserInfo>,
    ) -> (u16, Status) {
        let svc = layer.layer(tower::service_fn(|_req: Request<ApiBody>| async {
            Ok::<_, Infallible>(crate::server::response::status(&Status::success()))
        }));
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .body(ApiBody::empty())
            .unwrap();
        if let Some(user) = user {
            req.extensions_mut().insert(user);
        }
        let res = svc.oneshot(req).await.unwrap();
        let code = res.status().as_u16();
        let body = res.into_body().collect_bytes().await.unwrap();
        (code, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn refusals_are_403_worded_as_kubernetes() {
        let layer = AuthorizationLayer::new(OnlyGets);
        let x = Some(UserInfo::new("x", Vec::<String>::new()));
        let (code, _) = call(
            &layer,
            "GET",
            "/api/v1/namespaces/default/pods/a",
            x.clone(),
        )
        .await;
        assert_eq!(code, 200);
        let (code, status) =
            call(&layer, "GET", "/api/v1/namespaces/default/pods", x.clone()).await;
        assert_eq!(code, 403);
        assert_eq!(status.reason, "Forbidden");
        assert_eq!(
            status.message,
            r#"pods is forbidden: User "x" cannot list resource "pods" in API group "" in the namespace "default""#
        );
        assert_eq!(status.details.unwrap().kind, "pods");
        let (_, status) = call(
            &layer,
            "POST",
            "/apis/apps/v1/namespaces/ns/deployments/web/scale",
            x.clone(),
        )
        .await;
        assert_eq!(
            status.message,
            r#"deployments.apps "web" is forbidden: User "x" cannot create resource "deployments/scale" in API group "apps" in the namespace "ns""#
        );
        let (_, status) = call(&layer, "DELETE", "/api/v1/nodes/n1", x.clone()).await;
        assert_eq!(
            status.message,
            r#"nodes "n1" is forbidden: User "x" cannot delete resource "nodes" in API group "" at the cluster scope: deletes are off today"#
        );
        let (_, status) = call(&layer, "POST", "/metrics", x).await;
        assert_eq!(
            status.message,
            r#"forbidden: User "x" cannot post path "/metrics""#
        );
    }

    #[tokio::test]
    async fn no_user_is_the_admin_and_allow_all_allows() {
        let layer = AuthorizationLayer::new(rbac_without_objects());
        assert_eq!(
            call(&layer, "DELETE", "/api/v1/nodes/n1", None).await.0,
            200
        );
        let layer = AuthorizationLayer::new(AllowAll);
        let nobody = Some(UserInfo::anonymous());
        assert_eq!(
            call(&layer, "DELETE", "/api/v1/nodes/n1", nobody).await.0,
            200
        );
    }

    fn rbac_without_objects() -> RbacAuthorizer {
        use crate::informer::CacheWriter;
        RbacAuthorizer::new(
            CacheWriter::new().cache(),
            CacheWriter::new().cache(),
            CacheWriter::new().cache(),
            CacheWriter::new().cache(),
        )
    }
}
