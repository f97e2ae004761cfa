//! [`ApiServer`]: the `tower::Service`, its builder and configuration.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use kube_core::{Error, RangeRequest, Status, StatusReason, Store};

use super::admission::{AdmissionChain, MutatingAdmission, ValidatingAdmission};
use super::allocator::{Allocator, ServiceRanges};
use super::body::{ApiRequest, ApiResponse, MAX_REQUEST_BODY_BYTES};
use super::kinds::{KindSpec, Kinds};
use super::metrics::Metrics;
use super::query::Query;
use super::registry::{Registry, store_error};
use super::route::{self, Route};
use super::watch_cache::WatchCaches;
use super::{builtin, crd, discovery, handler, namespace, openapi, response, review};

/// Settings of an [`ApiServer`].
#[derive(Clone, Debug)]
pub struct ApiServerConfig {
    /// Where services get ClusterIPs and node ports.
    pub service_ranges: ServiceRanges,
    /// Events a watcher may fall behind before it is cut off.
    pub watch_channel_capacity: usize,
    /// Events each resource's watch cache keeps, to resume watches from.
    pub watch_history: usize,
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
    /// How long a watch without `timeoutSeconds` lasts.
    pub default_watch_timeout: Duration,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// Create `default`, `kube-system`, `kube-public` and `kube-node-lease` at start.
    pub create_system_namespaces: bool,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        Self {
            service_ranges: ServiceRanges::default(),
            watch_channel_capacity: 4096,
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(10),
            default_watch_timeout: Duration::from_secs(30 * 60),
            max_body_bytes: MAX_REQUEST_BODY_BYTES,
            create_system_namespaces: true,
        }
    }
}

/// The state shared by every clone of an [`ApiServer`].
#[derive(Debug)]
pub(crate) struct ApiInner {
    pub(crate) registry: Registry,
    pub(crate) config: ApiServerConfig,
    pub(crate) metrics: Metrics,
    pub(crate) kubelet: super::logs::KubeletClient,
}

/// The Kubernetes API server as a `tower::Service` over a [`Store`].
///
/// Requests without a [`UserInfo`](super::UserInfo) extension are served as the built-in
/// admin; the authentication layer in front puts the real user there.
///
/// ```no_run
/// # async fn run(store: std::sync::Arc<dyn kube_core::Store>) -> Result<(), kube_core::Error> {
/// use kube_api::server::ApiServer;
///
/// let server = ApiServer::builder(store).build().await?;
/// let (addr, _task) = server.serve_plain("127.0.0.1:0".parse().unwrap()).await.unwrap();
/// println!("serving on http://{addr}");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ApiServer {
    pub(crate) inner: Arc<ApiInner>,
}

/// Builds an [`ApiServer`]: configuration, extra kinds and admission plugins.
#[must_use]
pub struct ApiServerBuilder {
    store: Arc<dyn Store>,
    config: ApiServerConfig,
    kinds: Vec<KindSpec>,
    admission: AdmissionChain,
}

impl std::fmt::Debug for ApiServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerBuilder")
            .field("config", &self.config)
            .field("admission", &self.admission)
            .finish_non_exhaustive()
    }
}

impl ApiServerBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: ApiServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the service ClusterIP range and NodePort range.
    pub fn service_ranges(mut self, ranges: ServiceRanges) -> Self {
        self.config.service_ranges = ranges;
        self
    }

    /// Serves an extra kind (a custom resource known at build time).
    pub fn kind(mut self, kind: KindSpec) -> Self {
        self.kinds.push(kind);
        self
    }

    /// Adds a mutating admission plugin; plugins run in the order added.
    pub fn mutating_admission(mut self, plugin: impl MutatingAdmission) -> Self {
        self.admission.mutating.push(Arc::new(plugin));
        self
    }

    /// Adds a validating admission plugin; plugins run in the order added.
    pub fn validating_admission(mut self, plugin: impl ValidatingAdmission) -> Self {
        self.admission.validating.push(Arc::new(plugin));
        self
    }

    /// Builds the server: registers the kinds (and the CRDs found in the store) and
    /// creates the system namespaces.
    pub async fn build(self) -> Result<ApiServer, Error> {
        let kinds = Arc::new(Kinds::default());
        for k in builtin::kinds() {
            kinds.register(k);
        }
        for k in self.kinds {
            kinds.register(k);
        }
        let crds = self
            .store
            .range(RangeRequest::prefix(
                "/registry/apiextensions.k8s.io/customresourcedefinitions/",
            ))
            .await
            .map_err(store_error)?;
        for kv in &crds.kvs {
            if let Ok(obj) = serde_json::from_slice::<serde_json::Value>(&kv.value) {
                for k in crd::kinds_of(&obj) {
                    kinds.register(k);
                }
            }
        }
        let registry = Registry {
            allocator: Allocator::new(self.store.clone(), self.config.service_ranges.clone()),
            caches: WatchCaches::new(
                self.config.watch_channel_capacity,
                self.config.watch_history,
            ),
            store: self.store,
            kinds,
            admission: self.admission,
        };
        let inner = Arc::new(ApiInner {
            registry,
            config: self.config,
            metrics: Metrics::default(),
            kubelet: super::logs::KubeletClient::new()?,
        });
        if inner.config.create_system_namespaces {
            namespace::ensure_system_namespaces(&inner).await?;
        }
        Ok(ApiServer { inner })
    }
}

impl ApiServer {
    /// Stops the server's background work (the watch caches' store watches), so that
    /// nothing holds the store once every clone of the server is dropped. Requests after
    /// this still work, each cache starting again on first use.
    pub async fn shutdown(&self) {
        self.inner.registry.caches.shutdown().await;
    }

    /// A builder over a store.
    pub fn builder(store: Arc<dyn Store>) -> ApiServerBuilder {
        ApiServerBuilder {
            store,
            config: ApiServerConfig::default(),
            kinds: Vec::new(),
            admission: AdmissionChain::default(),
        }
    }

    /// The kinds this server serves; register custom resources here at run time.
    pub fn kinds(&self) -> &Arc<Kinds> {
        &self.inner.registry.kinds
    }

    /// The store behind the server.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.registry.store
    }

    /// Presents this client certificate to node agents when proxying `pods/log` (issue it
    /// with [`Pki::kubelet_client_certificate`](super::pki::Pki::kubelet_client_certificate));
    /// without one the API server connects with no client certificate.
    pub fn set_kubelet_client_certificate(
        &self,
        certificate: &super::pki::CertifiedKey,
    ) -> Result<(), Error> {
        self.inner.kubelet.set_identity(certificate)
    }

    /// Serves one request.
    pub async fn handle(&self, req: ApiRequest) -> ApiResponse {
        let inner = self.inner.clone();
        inner.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let span = tracing::debug_span!("request", %method, path);
        let (verb, resource, res) =
            tracing::Instrument::instrument(dispatch(&inner, req), span).await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "request failed");
                let mut res = response::error(&e);
                if res.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    // The rest of the body was never read: the connection cannot carry
                    // another request, and the client must not reuse it.
                    res.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                res
            }
        };
        inner.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        inner
            .metrics
            .record(&verb, &resource, res.status().as_u16(), start.elapsed());
        res
    }
}

fn verb_of(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match *method {
        Method::GET if watch => "WATCH",
        Method::GET if has_name => "GET",
        Method::GET => "LIST",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE if has_name => "DELETE",
        Method::DELETE => "DELETECOLLECTION",
        _ => "OTHER",
    }
}

async fn dispatch(
    inner: &Arc<ApiInner>,
    req: ApiRequest,
) -> (String, String, Result<ApiResponse, Error>) {
    let kinds = inner.registry.kinds.clone();
    let route = route::parse(req.uri().path(), &|g, v, p| kinds.has_plural(g, v, p));
    let q = Query::parse(req.uri().query());
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let method = req.method().clone();
    let get_only = |res: Result<ApiResponse, Error>| {
        if method == Method::GET || method == Method::HEAD {
            res
        } else {
            Err(Error::MethodNotAllowed(format!(
                "{method} is not allowed here"
            )))
        }
    };
    let not_found = || {
        Error::Status(Box::new(Status::failure(
            StatusReason::NotFound,
            "the server could not find the requested resource",
        )))
    };
    let json = |v: Option<serde_json::Value>| {
        v.map(|v| response::json(StatusCode::OK, &v))
            .ok_or_else(not_found)
    };
    match route {
        Route::CoreVersions => (
            "GET".into(),
            "discovery".into(),
            get_only(Ok(response::json(
                StatusCode::OK,
                &discovery::core_versions(&host),
            ))),
        ),
        Route::Groups => (
            "GET".into(),
            "discovery".into(),
            get_only(Ok(response::json(
                StatusCode::OK,
                &discovery::groups(&kinds),
            ))),
        ),
        Route::Group(g) => (
            "GET".into(),
            "discovery".into(),
            get_only(json(discovery::group(&kinds, &g))),
        ),
        Route::Resources { group, version } => (
            "GET".into(),
            "discovery".into(),
            get_only(json(discovery::resources(&kinds, &group, &version))),
        ),
        Route::Version => (
            "GET".into(),
            "version".into(),
            get_only(Ok(response::json(StatusCode::OK, &discovery::version()))),
        ),
        Route::Health(check) => {
            let res = match inner.registry.store.current_revision().await {
                Ok(_) => Ok(response::text(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    if q.get("verbose").is_some() {
                        format!("[+]ping ok\n[+]etcd ok\n{check} check passed\n")
                    } else {
                        "ok".into()
                    },
                )),
                Err(e) if check.starts_with("livez") => {
                    tracing::debug!(error = %e, "store unreachable");
                    Ok(response::text(
                        StatusCode::OK,
                        "text/plain; charset=utf-8",
                        "ok",
                    ))
                }
                Err(e) => Ok(response::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("[-]etcd failed: {e}\n{check} check failed\n"),
                )),
            };
            ("GET".into(), "health".into(), get_only(res))
        }
        Route::Metrics => {
            let text = inner.metrics.render(inner.registry.caches.watcher_count());
            (
                "GET".into(),
                "metrics".into(),
                get_only(Ok(response::text(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    text,
                ))),
            )
        }
        Route::OpenApiV2 => {
            let res = openapi::v2(&kinds, req.headers());
            ("GET".into(), "openapi".into(), get_only(res))
        }
        Route::OpenApiV3Root => (
            "GET".into(),
            "openapi".into(),
            get_only(Ok(response::json(
                StatusCode::OK,
                &openapi::v3_root(&kinds),
            ))),
        ),
        Route::OpenApiV3 { group, version } => (
            "GET".into(),
            "openapi".into(),
            get_only(json(openapi::v3(&kinds, &group, &version))),
        ),
        Route::NotFound => ("OTHER".into(), "unknown".into(), Err(not_found())),
        Route::Review(review, namespace) => {
            let verb = verb_of(req.method(), false, false).to_owned();
            let res = review::answer(inner, review, namespace.as_deref(), req).await;
            (verb, review.resource().into(), res)
        }
        Route::Resource(path) => {
            let watch = path.legacy_watch || q.flag("watch").unwrap_or(false);
            let verb = verb_of(req.method(), path.name.is_some(), watch).to_owned();
            let mut resource = path.plural.clone();
            if let Some(s) = &path.subresource {
                resource = format!("{resource}/{s}");
            }
            if watch {
                inner.metrics.watches.fetch_add(1, Ordering::Relaxed);
            }
            let res = handler::resource(inner, req, path, &q).await;
            (verb, resource, res)
        }
    }
}

impl tower::Service<ApiRequest> for ApiServer {
    type Response = ApiResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<ApiResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ApiRequest) -> Self::Future {
        let server = self.clone();
        Box::pin(async move { Ok(server.handle(req).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn futures_are_send() {
        fn is_send<T: Send>(_: &T) {}
        fn check(s: &ApiServer, req: ApiRequest) {
            is_send(&s.handle(req));
        }
        let _ = check;
    }
}
