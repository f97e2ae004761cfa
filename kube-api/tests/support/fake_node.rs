//! A stand-in for a node agent's log endpoint (contract 4): HTTPS with its own
//! self-signed certificate, requiring a client certificate chained to the cluster CA, and
//! serving `GET /containerLogs/{namespace}/{pod}/{container}` from a fixed log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube_api::server::pki::{Pki, PkiConfig};
use parking_lot::Mutex;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The log every container has.
pub const LOG: [&str; 5] = ["one", "two", "three", "four", "five"];

/// What the fake node saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The path and query asked for.
    pub path_and_query: String,
    /// The common name of the client certificate.
    pub client: String,
}

/// A running fake node agent.
pub struct FakeNode {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The requests it served.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    _dir: tempfile::TempDir,
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn respond(path_and_query: &str) -> Response<BoxBody> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments.len() != 4 || segments[0] != "containerLogs" || segments[3] == "missing" {
        let mut res = Response::new(Full::new(Bytes::from("container not found")).boxed());
        *res.status_mut() = http::StatusCode::NOT_FOUND;
        return res;
    }
    let tail: usize = param("tailLines")
        .and_then(|t| t.parse().ok())
        .unwrap_or(LOG.len());
    let lines: Vec<String> = LOG[LOG.len() - tail.min(LOG.len())..]
        .iter()
        .map(|l| format!("{}/{} {l}\n", segments[2], segments[3]))
        .collect();
    if param("follow").as_deref() == Some("true") {
        // Everything so far, then one more line a little later, then stay open.
        let first =
            futures::stream::iter(lines.into_iter().map(|l| Ok(Frame::data(Bytes::from(l)))));
        let later = futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(Frame::data(Bytes::from("followed line\n")))
        });
        let forever = futures::stream::pending();
        let body = StreamBody::new(first.chain(later).chain(forever));
        return Response::new(http_body_util::BodyExt::boxed(body));
    }
    Response::new(Full::new(Bytes::from(lines.concat())).boxed())
}

impl FakeNode {
    /// Starts on 127.0.0.1, trusting client certificates of `cluster_ca`'s PKI.
    pub async fn start(cluster: &Pki) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let own = Pki::load_or_create(&PkiConfig::new(dir.path())).unwrap();
        let mut roots = RootCertStore::empty();
        for c in cluster.ca.cert_chain().unwrap() {
            roots.add(c).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                own.serving.cert_chain().unwrap(),
                own.serving.private_key().unwrap(),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let client = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| common_name(c.as_ref()))
                        .unwrap_or_default();
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let pq = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default();
                        seen.lock().push(Seen {
                            path_and_query: pq.clone(),
                            client: client.clone(),
                        });
                        async move { Ok::<_, Infallible>(respond(&pq)) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            seen,
            _dir: dir,
        }
    }
}

/// The CN of a DER certificate, found by its OID (2.5.4.3) followed by a string.
fn common_name(der: &[u8]) -> String {
    let oid = [0x06, 0x03, 0x55, 0x04, 0x03];
    let mut found = String::new();
    for i in 0..der.len().saturating_sub(oid.len() + 2) {
        if der[i..i + oid.len()] == oid {
            let len = der[i + oid.len() + 1] as usize;
            let start = i + oid.len() + 2;
            if let Some(b) = der.get(start..start + len) {
                found = String::from_utf8_lossy(b).into_owned();
            }
        }
    }
    found
}
