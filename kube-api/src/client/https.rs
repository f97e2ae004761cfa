//! The network transport: HTTP/1.1 over TLS (rustls) or, on loopback, plain TCP, with
//! pooled connections, the server URL prefixed to every path and a bearer token added.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube_core::BoxError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig as TlsConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::config::ClientConfig;
use super::error::ClientError;

/// A `tower::Service` that sends requests (with paths only) to the configured server.
#[derive(Clone)]
pub(crate) struct HttpTransport {
    client: HyperClient<Connector, Full<Bytes>>,
    base: Uri,
    authorization: Option<HeaderValue>,
}

impl HttpTransport {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, ClientError> {
        let tls = match config.server.scheme_str() {
            Some("https") => Some(tls_config(config)?),
            _ => None,
        };
        let server_name = match &config.tls_server_name {
            Some(name) => Some(name.clone()),
            None => config
                .server
                .host()
                .map(|h| h.trim_matches(['[', ']']).to_owned()),
        };
        let server_name = match server_name {
            Some(name) => {
                Some(
                    ServerName::try_from(name).map_err(|e| ClientError::InvalidServer {
                        url: config.server.to_string(),
                        reason: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        let connector = Connector {
            tls: tls.map(|c| TlsConnector::from(Arc::new(c))),
            server_name,
        };
        let client = HyperClient::builder(TokioExecutor::new()).build(connector);
        let authorization = match &config.token {
            Some(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        ClientError::Unsupported(
                            "a bearer token with characters not allowed in a header".into(),
                        )
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            client,
            base: config.server.clone(),
            authorization,
        })
    }
}

impl tower::Service<Request<Full<Bytes>>> for HttpTransport {
    type Response = Response<Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Full<Bytes>>) -> Self::Future {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .to_owned();
        let base_path = self.base.path().trim_end_matches('/');
        let mut parts = self.base.clone().into_parts();
        let joined = format!("{base_path}{path}");
        let client = self.client.clone();
        let authorization = self.authorization.clone();
        Box::pin(async move {
            parts.path_and_query = Some(joined.parse()?);
            *request.uri_mut() = Uri::from_parts(parts)?;
            if let Some(auth) = authorization {
                request.headers_mut().entry(AUTHORIZATION).or_insert(auth);
            }
            Ok(client.request(request).await?)
        })
    }
}

/// Builds the rustls client configuration: trust roots (or none, when verification is
/// off) and the client certificate.
fn tls_config(config: &ClientConfig) -> Result<TlsConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = TlsConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(ClientError::Tls)?;
    let builder = if config.insecure_skip_tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        for cert in &config.root_certificates {
            roots.add(cert.clone()).map_err(ClientError::Tls)?;
        }
        builder.with_root_certificates(roots)
    };
    let mut tls = match &config.client_identity {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs.clone(), key.clone_key())
            .map_err(ClientError::Tls)?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// Opens TCP connections, with TLS on top for `https`.
#[derive(Clone)]
struct Connector {
    tls: Option<TlsConnector>,
    server_name: Option<ServerName<'static>>,
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host"))?
                .trim_matches(['[', ']'])
                .to_owned();
            let https = uri.scheme_str() == Some("https");
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            match (https, tls, server_name) {
                (true, Some(tls), Some(name)) => {
                    let stream = tls.connect(name, tcp).await?;
                    Ok(TokioIo::new(Stream::Tls(Box::new(stream))))
                }
                (true, _, _) => Err("https requested without a TLS configuration".into()),
                (false, _, _) => Ok(TokioIo::new(Stream::Plain(tcp))),
            }
        })
    }
}

/// A connection: plain TCP or TLS over TCP.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Self::Plain(tcp) => tcp.connected(),
            Self::Tls(tls) => tls.get_ref().0.connected(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts any server certificate, still checking that the handshake is signed by it
/// (`insecure-skip-tls-verify`).
#[derive(Debug)]
pub(crate) struct NoVerification(pub(crate) Arc<rustls::crypto::CryptoProvider>);

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
