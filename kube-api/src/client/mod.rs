//! The client: [`Client`] sends requests to an API server, [`Api`] gives typed access to one
//! kind.
//!
//! A [`Client`] wraps a transport, which is any `tower::Service` over `http` requests:
//!
//! - in process, [`Client::new`] takes the API server's service itself (no socket; the
//!   requests pass the same layers as over the network, so behaviour is identical);
//! - over HTTPS (or plain HTTP on loopback), [`Client::try_from_kubeconfig`] and
//!   [`Client::try_from_config`] connect to a server from a kubeconfig's current context.
//!
//! The client retries a request that got 429 Too Many Requests (honouring `Retry-After`),
//! and an idempotent one that got a 5xx or hit a transport failure, with exponential
//! backoff and jitter ([`RetryPolicy`]). Error answers come back as [`kube_core::Error`],
//! decoded from the server's `Status`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kube_api::client::{Api, Client, ListParams};
//! use kube_core::ConfigMap;
//!
//! let client = Client::try_default()?;
//! let cms: Api<ConfigMap> = Api::default_namespaced(client);
//! for cm in cms.list(&ListParams::default()).await? {
//!     println!("{:?}", cm.metadata.name);
//! }
//! # Ok(())
//! # }
//! ```

mod api;
mod config;
mod error;
pub(crate) mod https;
mod kubeconfig;
mod params;
mod retry;
mod watch;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use kube_core::{BoxError, Error, Status, StatusReason};
use serde::de::DeserializeOwned;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt as _};
use tracing::Instrument as _;

pub use api::{Api, Deleted};
pub use config::ClientConfig;
pub use error::ClientError;
pub use kubeconfig::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
pub use params::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy,
    WatchParams,
};
pub use retry::RetryPolicy;
pub use watch::WatchStream;

/// The body of a response as the client hands it on: a boxed stream of bytes.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// The transport under a [`Client`]: any service from requests to responses.
type Transport = BoxCloneSyncService<Request<Bytes>, Response<ResponseBody>, BoxError>;

/// The largest response body the client reads whole (lists of many objects fit).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// A handle to an API server: cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    default_namespace: Arc<str>,
    retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("default_namespace", &self.default_namespace)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over any service: the API server's own (in process), or a custom transport.
    ///
    /// Requests reach the service with bodies converted from [`Bytes`]; responses may carry
    /// any body of bytes, streamed (watches read it as it comes).
    pub fn new<S, ReqB, ResB>(service: S, default_namespace: &str) -> Self
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        ReqB: From<Bytes> + 'static,
        ResB: http_body::Body<Data = Bytes> + Send + 'static,
        ResB::Error: Into<BoxError>,
    {
        let transport = service
            .map_request(|req: Request<Bytes>| req.map(ReqB::from))
            .map_response(|res: Response<ResB>| {
                res.map(|body| UnsyncBoxBody::new(body.map_err(Into::into)))
            })
            .map_err(Into::into);
        Self {
            transport: BoxCloneSyncService::new(transport),
            default_namespace: Arc::from(default_namespace),
            retry: RetryPolicy::default(),
        }
    }

    /// A client from the current context of the kubeconfig named by `KUBECONFIG` (its
    /// first path), or else `~/.kube/config`.
    pub fn try_default() -> Result<Self, ClientError> {
        let kubeconfig = Kubeconfig::from_env()?;
        Self::try_from_kubeconfig(&kubeconfig, None)
    }

    /// A client from a kubeconfig: its current context, or the one named.
    pub fn try_from_kubeconfig(
        kubeconfig: &Kubeconfig,
        context: Option<&str>,
    ) -> Result<Self, ClientError> {
        Self::try_from_config(&ClientConfig::from_kubeconfig(kubeconfig, context)?)
    }

    /// A client over HTTPS (or plain HTTP) from a resolved configuration.
    pub fn try_from_config(config: &ClientConfig) -> Result<Self, ClientError> {
        let transport = https::HttpTransport::new(config)?;
        let mut client = Self::new(transport, &config.namespace);
        client.retry = config.retry.clone();
        Ok(client)
    }

    /// Replaces the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the default namespace (used by [`Api::default_namespaced`]).
    #[must_use]
    pub fn with_default_namespace(mut self, namespace: &str) -> Self {
        self.default_namespace = Arc::from(namespace);
        self
    }

    /// The namespace of the kubeconfig's context, or `default`.
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends a request and returns the response, whatever its status, retrying as the
    /// [`RetryPolicy`] says. Only a transport failure is an error here.
    pub async fn send(&self, request: Request<Bytes>) -> Result<Response<ResponseBody>, Error> {
        let request = with_default_headers(request);
        let mut attempt = 0;
        loop {
            let copy = clone_request(&request);
            let span = tracing::debug_span!(
                "request",
                method = %request.method(),
                uri = %request.uri(),
                attempt
            );
            // The span covers the request's future (held entered across an await, it would
            // stay entered on the thread while other tasks ran there).
            let result = self
                .transport
                .clone()
                .oneshot(copy)
                .instrument(span.clone())
                .await;
            // A request served in process (the API server's own service) can complete
            // without ever waiting, so a task sending one after another would keep its
            // worker thread to itself: every other task there, watches and informers
            // among them, would wait until it stopped. Each request counts against the
            // task's cooperative budget, as reading a socket would, so such a task yields
            // once that budget is spent.
            tokio::task::coop::consume_budget().await;
            let _entered = span.enter();
            let can_retry = attempt < self.retry.max_retries;
            let delay = match result {
                Ok(response)
                    if can_retry
                        && self
                            .retry
                            .should_retry_status(request.method(), response.status()) =>
                {
                    let after = retry::retry_after(response.headers());
                    tracing::debug!(status = %response.status(), "retrying");
                    self.retry.delay(attempt, after)
                }
                Ok(response) => return Ok(response),
                Err(err) if can_retry && self.retry.should_retry_transport(request.method()) => {
                    tracing::debug!(error = %err, "retrying after a transport failure");
                    self.retry.delay(attempt, None)
                }
                Err(err) => return Err(transport_error(&err)),
            };
            drop(_entered);
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Sends a request and decodes a successful answer as `T`; an error status becomes the
    /// [`Error`] its `Status` body says.
    pub async fn request<T: DeserializeOwned>(&self, request: Request<Bytes>) -> Result<T, Error> {
        let response = self.send(request).await?;
        let status = response.status();
        let body = read_body(response.into_body()).await?;
        if !status.is_success() {
            return Err(error_from_body(status, &body));
        }
        decode(&body)
    }

    /// Sends a request and returns the body of a successful answer as text.
    pub async fn request_text(&self, request: Request<Bytes>) -> Result<String, Error> {
        let response = self.send(request).await?;
        let status = response.status();
        let body = read_body(response.into_body()).await?;
        if !status.is_success() {
            return Err(error_from_body(status, &body));
        }
        String::from_utf8(body.to_vec()).map_err(|e| Error::internal("response is not UTF-8", e))
    }
}

/// Adds `Accept` and `User-Agent` when the caller did not set them.
fn with_default_headers(mut request: Request<Bytes>) -> Request<Bytes> {
    let headers = request.headers_mut();
    headers
        .entry(ACCEPT)
        .or_insert(HeaderValue::from_static("application/json"));
    headers
        .entry(USER_AGENT)
        .or_insert(HeaderValue::from_static(concat!(
            "kube-sdk/",
            env!("CARGO_PKG_VERSION")
        )));
    if !request.body().is_empty() {
        request
            .headers_mut()
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/json"));
    }
    request
}

fn clone_request(request: &Request<Bytes>) -> Request<Bytes> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Reads a whole body, up to [`MAX_RESPONSE_BYTES`].
pub(crate) async fn read_body(mut body: ResponseBody) -> Result<Bytes, Error> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| transport_error(&e))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_RESPONSE_BYTES {
                return Err(Error::internal(
                    "the response is too large",
                    format!("more than {MAX_RESPONSE_BYTES} bytes"),
                ));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Decodes a JSON body.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    kube_core::wire::from_json(body).map_err(|e| Error::internal("cannot decode the response", e))
}

/// The error an unsuccessful answer stands for: its `Status` body, or one made up from the
/// HTTP code when the body is not a `Status`.
pub(crate) fn error_from_body(code: StatusCode, body: &[u8]) -> Error {
    let parsed = serde_json::from_slice::<Status>(body)
        .ok()
        .filter(|s| s.kind == "Status" || s.code != 0 || !s.reason.is_empty());
    let status = match parsed {
        Some(mut s) => {
            if s.code == 0 {
                s.code = code.as_u16();
            }
            s
        }
        None => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            let message = if text.is_empty() {
                code.canonical_reason()
                    .unwrap_or("unknown error")
                    .to_owned()
            } else {
                text
            };
            let mut s = Status::failure(reason_for(code), message);
            s.code = code.as_u16();
            s
        }
    };
    Error::from(status)
}

fn reason_for(code: StatusCode) -> StatusReason {
    StatusReason::ALL
        .into_iter()
        .find(|r| r.code() == code.as_u16())
        .unwrap_or(StatusReason::InternalError)
}

/// A transport failure, as a 503 whose message names every cause.
pub(crate) fn transport_error(err: &BoxError) -> Error {
    let mut message = format!("cannot reach the API server: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::ServiceUnavailable(message)
}

#[cfg(test)]
mod tests;
