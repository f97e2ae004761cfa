//! Serving a stack over HTTPS with rustls (client certificates optional, verified against
//! the cluster CA, and handed to authentication as [`PeerCertificates`]), or over plain
//! HTTP on a loopback address when asked.
//!
//! Each connection speaks HTTP/1.1 or HTTP/2 (ALPN), as kubectl and the client libraries
//! choose.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kube_core::BoxError;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::{Service, ServiceExt as _};

use super::authn::PeerCertificates;
use super::pki::{Pki, PkiError};
use super::{ApiBody, ApiResponse};

/// Why TLS could not be set up or a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificates or keys could not be loaded.
    #[error("loading the PKI")]
    Pki(#[from] PkiError),
    /// rustls refused the configuration.
    #[error("invalid TLS configuration")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("invalid client CA: {0}")]
    ClientVerifier(String),
    /// Plain HTTP was asked for on an address that is not loopback.
    #[error("plain HTTP is only served on loopback addresses, not {0}")]
    NotLoopback(SocketAddr),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The rustls server configuration of a PKI: its serving certificate, and client
/// certificates verified against its CA, optional so that token and anonymous requests
/// still connect.
pub fn server_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in pki.ca.cert_chain()? {
        roots.add(cert)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::ClientVerifier(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.serving.cert_chain()?, pki.serving.private_key()?)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Binds a listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, TlsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| TlsError::Bind { addr, source })
}

/// Serves `service` over HTTPS on `listener` until `shutdown` completes. Each connection
/// runs on its own task; a failed handshake or a broken connection ends only that one.
pub async fn serve_tls<S, E>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: S,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<ApiBody>, Response = ApiResponse, Error = E> + Clone + Send + 'static,
    S::Future: Send + 'static,
    E: Into<BoxError>,
{
    let acceptor = TlsAcceptor::from(tls);
    accept_loop(listener, shutdown, move |tcp, peer, stop| {
        let acceptor = acceptor.clone();
        let service = service.clone();
        async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(stream) => stream,
                Err(err) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
            };
            let peer_certs = stream
                .get_ref()
                .1
                .peer_certificates()
                .filter(|c| !c.is_empty())
                .map(|certs| {
                    PeerCertificates(certs.iter().map(|c| c.clone().into_owned()).collect())
                });
            serve_connection(TokioIo::new(stream), service, peer_certs, peer, stop).await;
        }
    })
    .await;
}

/// Serves `service` over plain HTTP on a loopback listener until `shutdown` completes.
/// Refuses a listener on any other address: credentials would cross the network in
/// clear.
pub async fn serve_plain<S, E>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> Result<(), TlsError>
where
    S: Service<Request<ApiBody>, Response = ApiResponse, Error = E> + Clone + Send + 'static,
    S::Future: Send + 'static,
    E: Into<BoxError>,
{
    let addr = listener.local_addr().map_err(|source| TlsError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    if !addr.ip().is_loopback() {
        return Err(TlsError::NotLoopback(addr));
    }
    accept_loop(listener, shutdown, move |tcp, peer, stop| {
        let service = service.clone();
        async move { serve_connection(TokioIo::new(tcp), service, None, peer, stop).await }
    })
    .await;
    Ok(())
}

/// How long open connections get to finish their requests after shutdown begins; then
/// they are closed (long-lived watches never finish by themselves).
const DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

async fn accept_loop<F, Fut>(listener: TcpListener, shutdown: impl Future<Output = ()>, handle: F)
where
    F: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        // Reap the connections that ended, so the set stays the size of the open ones.
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                connections.spawn(handle(tcp, peer, stopped.clone()));
            }
            Err(err) => {
                // Out of file descriptors and the like: wait a little, then go on.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    // Stop accepting (the listener closes here), ask every connection to finish what it
    // is doing, and close the ones still open after the drain time.
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN + std::time::Duration::from_secs(1), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            open = connections.len(),
            "closing connections still open after the drain time"
        );
        connections.shutdown().await;
    }
}

async fn serve_connection<I, S, E>(
    io: TokioIo<I>,
    service: S,
    peer_certs: Option<PeerCertificates>,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<ApiBody>, Response = ApiResponse, Error = E> + Clone + Send + 'static,
    S::Future: Send + 'static,
    E: Into<BoxError>,
{
    let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let service = service.clone();
        let peer_certs = peer_certs.clone();
        async move {
            let mut request = request.map(ApiBody::new);
            if let Some(certs) = peer_certs {
                request.extensions_mut().insert(certs);
            }
            match service.oneshot(request).await {
                Ok(response) => Ok::<_, Infallible>(response),
                Err(err) => {
                    let err: BoxError = err.into();
                    tracing::error!(error = %err, "the API service failed");
                    let status = kube_core::Error::Internal {
                        message: err.to_string(),
                        source: None,
                    }
                    .to_status();
                    Ok(super::response::status(&status))
                }
            }
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(io, hyper_service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
            // Finish the requests in flight, take no new ones; the accept loop closes
            // what is still open after the drain time.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}
