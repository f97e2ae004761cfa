//! Serving a service over HTTP/1 and HTTP/2 connections (plain TCP on loopback, or any
//! stream such as a TLS one).

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::{Service, ServiceExt};

use super::api_server::ApiServer;
use super::body::{ApiBody, ApiRequest, ApiResponse};

/// Serves one connection (plain or TLS) with a service until the client closes it.
pub async fn serve_connection<I, S>(io: I, service: S)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<ApiRequest, Response = ApiResponse, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let hyper_service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let svc = service.clone();
        async move { svc.oneshot(req.map(ApiBody::new)).await }
    });
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), hyper_service)
        .await
    {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Accepts plain-HTTP connections on a listener and serves each with the service.
pub fn serve_listener<S>(listener: TcpListener, service: S) -> JoinHandle<()>
where
    S: Service<ApiRequest, Response = ApiResponse, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(stream, service.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    })
}

/// Why plain serving could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Plain HTTP is only served on loopback addresses.
    #[error("plain HTTP is only served on loopback, not on {0}")]
    NotLoopback(SocketAddr),
    /// Binding the address failed.
    #[error("binding {addr} failed")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ApiServer {
    /// Serves plain HTTP on a loopback address (port 0 picks a free one). Returns the
    /// bound address and the accept task; abort the task to stop accepting.
    pub async fn serve_plain(
        &self,
        addr: SocketAddr,
    ) -> Result<(SocketAddr, JoinHandle<()>), ServeError> {
        if !addr.ip().is_loopback() {
            return Err(ServeError::NotLoopback(addr));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok((local, serve_listener(listener, self.clone())))
    }
}
