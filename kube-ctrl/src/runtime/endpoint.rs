//! The HTTP endpoint a controller process exposes: `/metrics` (Prometheus text),
//! `/healthz` and `/readyz`. [`serve_metrics`] serves one [`Metrics`];
//! [`serve_endpoint`] serves any [`MetricsSource`], for a process that runs more than
//! controllers (a scheduler's counters, several managers) behind one port.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::metrics::Metrics;
use crate::shutdown::Shutdown;

/// What an endpoint serves: the Prometheus text of `/metrics`, and whether `/readyz`
/// answers ready.
pub trait MetricsSource: Send + Sync + 'static {
    /// The whole `/metrics` body, in the Prometheus text format 0.0.4.
    fn render(&self) -> String;
    /// Whether the process is ready (`/readyz` answers 200, else 503). Ready by default.
    fn ready(&self) -> bool {
        true
    }
}

impl MetricsSource for Metrics {
    fn render(&self) -> String {
        Metrics::render(self)
    }
}

fn respond(source: &dyn MetricsSource, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            source.render(),
        ),
        (&Method::GET, "/healthz" | "/livez") => {
            (StatusCode::OK, "text/plain; charset=utf-8", "ok".to_owned())
        }
        (&Method::GET, "/readyz") if source.ready() => {
            (StatusCode::OK, "text/plain; charset=utf-8", "ok".to_owned())
        }
        (&Method::GET, "/readyz") => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "not ready\n".to_owned(),
        ),
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n".to_owned(),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "method not allowed\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    response
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `shutdown` fires.
pub async fn serve_metrics(listener: TcpListener, metrics: Metrics, shutdown: Shutdown) {
    serve_endpoint(listener, Arc::new(metrics), shutdown).await;
}

/// Serves `/metrics` (from `source`), `/healthz`, `/livez` and `/readyz` on `listener`
/// until `shutdown` fires.
pub async fn serve_endpoint(
    listener: TcpListener,
    source: Arc<dyn MetricsSource>,
    shutdown: Shutdown,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.triggered() => break,
        };
        let (stream, peer): (_, SocketAddr) = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a metrics connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let source = source.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let response = respond(source.as_ref(), &req);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "metrics connection ended with an error");
            }
        });
        // Reap finished connections.
        while connections.try_join_next().is_some() {}
    }
}
