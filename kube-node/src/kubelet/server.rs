//! The node agent's HTTPS server: `GET /containerLogs/{namespace}/{pod}/{container}` (what
//! the API server's `pods/log` proxies to), and `/healthz`.
//!
//! TLS as in Kubernetes: a serving certificate (self-signed for the node's names unless
//! one is configured), and, when the cluster CA is known, client certificates required and
//! verified against it.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt as _;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kube_api::informer::Cache;
use kube_core::runtime::{ContainerFilter, LogOptions};
use kube_core::{BoxError, ObjectKey, Pod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument as _;

use super::config::ServerConfig;
use super::error::Error;
use super::labels;

type Body = UnsyncBoxBody<Bytes, BoxError>;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_error(message: &str) -> impl FnOnce(rustls::Error) -> Error + '_ {
    move |e| Error::Server {
        message: message.to_owned(),
        source: Some(Box::new(e)),
    }
}

/// The TLS configuration of the server.
pub(crate) fn tls_config(
    config: &ServerConfig,
    node_name: &str,
    addresses: &[IpAddr],
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let (cert_pem, key_pem) = match &config.serving_cert {
        Some(pair) => pair.clone(),
        None => {
            let mut names: Vec<String> = vec![node_name.to_owned(), "localhost".to_owned()];
            names.extend(addresses.iter().map(ToString::to_string));
            let certified =
                rcgen::generate_simple_self_signed(names).map_err(|e| Error::Server {
                    message: "making a self-signed serving certificate".into(),
                    source: Some(Box::new(e)),
                })?;
            (certified.cert.pem(), certified.signing_key.serialize_pem())
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Config(format!("the serving certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| Error::Config(format!("the serving key: {e}")))?;
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(server_error("TLS versions"))?;
    let mut tls = match &config.client_ca_pem {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                let cert = cert.map_err(|e| Error::Config(format!("the client CA: {e}")))?;
                roots.add(cert).map_err(server_error("the client CA"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::Config(format!("the client CA: {e}")))?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
        }
        None => builder.with_no_client_auth().with_single_cert(chain, key),
    }
    .map_err(server_error("the serving certificate"))?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// What the log handler needs: the pods (to find a pod's uid) and the runtime.
#[derive(Clone)]
pub(crate) struct LogHandler {
    pub pods: Cache<Pod>,
    pub runtime: Arc<dyn Runtime>,
}

/// Serves until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    handler: LogHandler,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler.handle(&req).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended");
                },
                _ = stop.wait_for(|s| *s) => {},
            }
        });
    }
}

fn text(code: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(body.into()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = code;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The options of a log request, from its query string.
pub(crate) fn log_options(query: &str) -> Result<(LogOptions, bool), String> {
    let mut options = LogOptions::default();
    let mut previous = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        let flag = || v.is_empty() || v == "true" || v == "1";
        let number = |name: &str| -> Result<u64, String> {
            v.parse::<i64>()
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| format!("{name} must be a non-negative integer, not {v:?}"))
        };
        match k {
            "follow" => options.follow = flag(),
            "previous" => previous = flag(),
            "timestamps" => options.timestamps = flag(),
            "tailLines" => options.tail_lines = Some(number("tailLines")?),
            "limitBytes" => options.limit_bytes = Some(number("limitBytes")?),
            "sinceSeconds" => {
                let secs = number("sinceSeconds")?;
                options.since = SystemTime::now().checked_sub(Duration::from_secs(secs));
            }
            "sinceTime" => {
                let t = chrono::DateTime::parse_from_rfc3339(v)
                    .map_err(|e| format!("sinceTime: {e}"))?;
                options.since = Some(t.with_timezone(&chrono::Utc).into());
            }
            _ => {}
        }
    }
    Ok((options, previous))
}

impl LogHandler {
    async fn handle(&self, req: &Request<Incoming>) -> Response<Body> {
        let path = req.uri().path();
        if req.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        if path == "/healthz" {
            return text(StatusCode::OK, "ok");
        }
        if path == "/metrics" {
            return match super::metrics::render(self.runtime.as_ref(), &self.pods.list()).await {
                Ok(body) => {
                    let mut response = text(StatusCode::OK, body);
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    response
                }
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("asking the runtime: {e}"),
                ),
            };
        }
        let Some(rest) = path.strip_prefix("/containerLogs/") else {
            return text(StatusCode::NOT_FOUND, "404 page not found");
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let [namespace, pod, container] = parts.as_slice() else {
            return text(StatusCode::NOT_FOUND, "404 page not found");
        };
        let (options, previous) = match log_options(req.uri().query().unwrap_or("")) {
            Ok(o) => o,
            Err(e) => return text(StatusCode::BAD_REQUEST, e),
        };
        let span =
            tracing::debug_span!("containerLogs", pod = %format!("{namespace}/{pod}"), %container);
        match self
            .logs(namespace, pod, container, previous, &options)
            .instrument(span)
            .await
        {
            Ok(body) => {
                let mut response = Response::new(body);
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain"),
                );
                response
            }
            Err((code, message)) => text(code, message),
        }
    }

    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        options: &LogOptions,
    ) -> Result<Body, (StatusCode, String)> {
        let Some(object) = self.pods.get(&ObjectKey::namespaced(namespace, pod)) else {
            return Err((
                StatusCode::NOT_FOUND,
                format!("pod {namespace}/{pod} is not on this node"),
            ));
        };
        let uid = object.metadata.uid.clone().unwrap_or_default();
        let mut selector = labels::by_pod_uid(&uid);
        selector.insert(labels::CONTAINER_NAME.into(), container.to_owned());
        let mut found = self
            .runtime
            .list_containers(&ContainerFilter {
                label_selector: selector,
                ..Default::default()
            })
            .await
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        found.sort_by_key(|c| (c.metadata.attempt, c.created_at));
        let chosen = if previous {
            found.len().checked_sub(2).and_then(|i| found.get(i))
        } else {
            found.last()
        };
        let Some(chosen) = chosen else {
            let what = if previous {
                "previous terminated container"
            } else {
                "container"
            };
            return Err((
                StatusCode::BAD_REQUEST,
                format!("{what} {container:?} in pod {pod:?} not found"),
            ));
        };
        let stream = self
            .runtime
            .container_logs(&chosen.id, options)
            .await
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let frames = stream.map(|chunk| chunk.map(Frame::data).map_err(BoxError::from));
        Ok(http_body_util::BodyExt::boxed_unsync(StreamBody::new(
            frames,
        )))
    }
}

/// A client configuration that accepts any server certificate (HTTPS probes, like the
/// kubelet's, do not verify).
pub(crate) fn insecure_client_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any server certificate, still checking the handshake signature.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_options_parse_like_kubectl_sends_them() {
        let (o, prev) =
            log_options("follow=true&tailLines=10&timestamps=true&previous=true&limitBytes=5")
                .unwrap();
        assert!(o.follow && o.timestamps && prev);
        assert_eq!((o.tail_lines, o.limit_bytes), (Some(10), Some(5)));
        let (o, prev) = log_options("sinceSeconds=60").unwrap();
        assert!(!prev && !o.follow);
        let since = o.since.unwrap();
        let ago = SystemTime::now().duration_since(since).unwrap();
        assert!(ago >= Duration::from_secs(60));
        assert!(log_options("tailLines=-1").is_err());
        assert!(log_options("tailLines=x").is_err());
        let (o, _) = log_options("sinceTime=2024-05-01T12:00:00Z").unwrap();
        assert!(o.since.is_some());
    }

    #[test]
    fn a_self_signed_certificate_is_made_when_none_is_given() {
        let config = ServerConfig::default();
        tls_config(&config, "node-1", &["127.0.0.1".parse().unwrap()]).unwrap();
        let bad = ServerConfig {
            client_ca_pem: Some("not pem".into()),
            ..ServerConfig::default()
        };
        assert!(tls_config(&bad, "node-1", &[]).is_err());
        insecure_client_config().unwrap();
    }
}
