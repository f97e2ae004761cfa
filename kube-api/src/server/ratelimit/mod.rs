//! Rate limiting: at most so many requests in flight, as Kubernetes' max-in-flight filter.
//!
//! Mutating requests (create, update, patch, delete) and read-only ones (get, list) have
//! separate limits, so a flood of reads never starves writes or the other way round. Past
//! a limit the answer is 429 Too Many Requests with `Retry-After`, which clients (ours
//! included) honour. Long-running requests (watches, logs, exec, attach, port-forward,
//! proxy) are not counted: they would hold their slot for minutes.

mod future;
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use kube_core::{Status, StatusDetails, StatusReason};
use tokio::sync::Semaphore;
use tower::Service;

pub use future::ResponseFuture;
pub use layer::RateLimitLayer;

use crate::server::authz::RequestAttributes;
use crate::server::{ApiResponse, UserInfo};

/// The limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Mutating requests in flight at most (Kubernetes' default: 200).
    pub max_mutating_in_flight: usize,
    /// Read-only requests in flight at most (Kubernetes' default: 400).
    pub max_read_only_in_flight: usize,
    /// The `Retry-After` of a 429, in seconds.
    pub retry_after_seconds: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            max_mutating_in_flight: 200,
            max_read_only_in_flight: 400,
            retry_after_seconds: 1,
        }
    }
}

/// The rate limiting service: see the [module docs](self).
#[derive(Clone, Debug)]
pub struct RateLimit<S> {
    inner: S,
    mutating: Arc<Semaphore>,
    read_only: Arc<Semaphore>,
    retry_after_seconds: u32,
}

/// True for requests that stay open for long (watches and streaming subresources).
pub fn is_long_running(attributes: &RequestAttributes) -> bool {
    matches!(attributes.verb.as_str(), "watch" | "proxy")
        || matches!(
            attributes.subresource.as_str(),
            "log" | "exec" | "attach" | "portforward" | "proxy"
        )
}

impl<S, B> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>, Response = ApiResponse>,
{
    type Response = ApiResponse;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let attributes = RequestAttributes::from_request(&request, UserInfo::default());
        if is_long_running(&attributes) {
            return ResponseFuture::inner(self.inner.call(request), None);
        }
        let semaphore = if attributes.is_mutating() {
            &self.mutating
        } else {
            &self.read_only
        };
        match semaphore.clone().try_acquire_owned() {
            Ok(permit) => ResponseFuture::inner(self.inner.call(request), Some(permit)),
            Err(_) => {
                tracing::debug!(verb = %attributes.verb, path = %attributes.path, "too many requests in flight");
                let status = Status::failure(
                    StatusReason::TooManyRequests,
                    "Too many requests, please try again later.",
                )
                .with_details(StatusDetails {
                    retry_after_seconds: Some(
                        i32::try_from(self.retry_after_seconds).unwrap_or(i32::MAX),
                    ),
                    ..StatusDetails::default()
                });
                ResponseFuture::rejected(crate::server::response::status(&status))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::FutureExt as _;
    use tokio::sync::Notify;
    use tower::{Layer as _, ServiceExt as _};

    use super::*;
    use crate::server::ApiBody;

    fn req(method: &str, uri: &str) -> Request<ApiBody> {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(ApiBody::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn limits_apply_per_kind_and_free_up() {
        let gate = Arc::new(Notify::new());
        let inner = tower::service_fn({
            let gate = gate.clone();
            move |_req: Request<ApiBody>| {
                let gate = gate.clone();
                async move {
                    gate.notified().await;
                    Ok::<_, Infallible>(crate::server::response::status(&Status::success()))
                }
            }
        });
        let svc = RateLimitLayer::new(RateLimitConfig {
            max_mutating_in_flight: 1,
            max_read_only_in_flight: 1,
            retry_after_seconds: 3,
        })
        .layer(inner);

        // One read and one write in flight.
        let mut read = svc.clone().oneshot(req("GET", "/api/v1/pods")).boxed();
        let mut write = svc
            .clone()
            .oneshot(req("POST", "/api/v1/namespaces/a/pods"))
            .boxed();
        assert!((&mut read).now_or_never().is_none());
        assert!((&mut write).now_or_never().is_none());

        // A second of each is refused with 429 and Retry-After.
        for (method, uri) in [("GET", "/api/v1/nodes/n1"), ("DELETE", "/api/v1/nodes/n1")] {
            let res = svc.clone().oneshot(req(method, uri)).await.unwrap();
            assert_eq!(res.status().as_u16(), 429, "{method}");
            assert_eq!(res.headers()["retry-after"], "3");
            let body = res.into_body().collect_bytes().await.unwrap();
            let status: Status = serde_json::from_slice(&body).unwrap();
            assert_eq!(status.reason, "TooManyRequests");
        }

        // A watch is not counted.
        let mut watch = svc
            .clone()
            .oneshot(req("GET", "/api/v1/pods?watch=true"))
            .boxed();
        assert!(
            (&mut watch).now_or_never().is_none(),
            "the watch went through to the gate"
        );

        // Once the requests finish, their slots are free again.
        gate.notify_waiters();
        assert_eq!(read.await.unwrap().status().as_u16(), 200);
        assert_eq!(write.await.unwrap().status().as_u16(), 200);
        assert_eq!(watch.await.unwrap().status().as_u16(), 200);
        let mut again = svc.clone().oneshot(req("GET", "/api/v1/pods")).boxed();
        assert!(
            (&mut again).now_or_never().is_none(),
            "admitted, waiting at the gate"
        );
        gate.notify_waiters();
        assert_eq!(again.await.unwrap().status().as_u16(), 200);
    }

    #[test]
    fn long_running_requests() {
        let cases = [
            ("GET", "/api/v1/pods?watch=1", true),
            ("GET", "/api/v1/watch/namespaces/a/pods", true),
            ("GET", "/api/v1/namespaces/a/pods/p/log", true),
            ("POST", "/api/v1/namespaces/a/pods/p/exec", true),
            ("GET", "/api/v1/namespaces/a/pods", false),
            ("GET", "/api/v1/namespaces/a/pods/p", false),
        ];
        for (method, uri, want) in cases {
            let r = req(method, uri);
            let a = RequestAttributes::from_request(&r, UserInfo::default());
            assert_eq!(is_long_running(&a), want, "{method} {uri}");
        }
    }
}
