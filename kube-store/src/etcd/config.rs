//! Connection settings of an [`EtcdStore`](super::EtcdStore).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

/// How an [`EtcdStore`](super::EtcdStore) reaches etcd: endpoints, key prefix, timeouts and
/// TLS.
///
/// ```
/// use std::time::Duration;
/// use kube_store::EtcdConfig;
///
/// let config = EtcdConfig::new(["http://127.0.0.1:2379"])
///     .prefix("/kube-sdk")
///     .request_timeout(Duration::from_secs(5));
/// assert_eq!(&config.prefix[..], b"/kube-sdk");
/// ```
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// The etcd client URLs, such as `https://10.0.0.1:2379`. With [`EtcdConfig::tls`] set,
    /// they must be `https://` URLs (or bare `host:port`).
    pub endpoints: Vec<String>,
    /// Every key of the store lives under this prefix in etcd: the store's key `k` is
    /// `prefix + k` there, and ranges and watches never leave the prefix. Empty by default,
    /// so that keys look in etcd as the API server writes them (`/registry/...`).
    pub prefix: Bytes,
    /// How long to wait for a connection to an endpoint.
    pub connect_timeout: Duration,
    /// How long one request may take, from sending it to its response (a watch's stream
    /// itself is not limited).
    pub request_timeout: Duration,
    /// How often HTTP/2 keep-alive pings go out on an idle connection, so that a dead
    /// server is noticed even while only watches are open.
    pub keep_alive_interval: Duration,
    /// How long to wait for the answer to a keep-alive ping before the connection counts
    /// as broken.
    pub keep_alive_timeout: Duration,
    /// How long a watch keeps trying to resume after its stream broke (etcd restart,
    /// network error) before it yields [`StoreError::Unavailable`](kube_core::StoreError)
    /// and ends. The clock restarts at every message received.
    pub watch_retry_timeout: Duration,
    /// TLS settings; `None` talks plain HTTP/2 (only for a loopback or test etcd: see the
    /// module docs on securing etcd).
    pub tls: Option<EtcdTls>,
}

impl EtcdConfig {
    /// Settings for these endpoints, with an empty prefix, default timeouts and no TLS.
    pub fn new<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            prefix: Bytes::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            keep_alive_interval: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            watch_retry_timeout: Duration::from_secs(60),
            tls: None,
        }
    }

    /// Sets the key prefix.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<Bytes>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the per-request timeout.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the HTTP/2 keep-alive interval and timeout.
    #[must_use]
    pub fn keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keep_alive_interval = interval;
        self.keep_alive_timeout = timeout;
        self
    }

    /// Sets how long a broken watch keeps trying to resume.
    #[must_use]
    pub fn watch_retry_timeout(mut self, timeout: Duration) -> Self {
        self.watch_retry_timeout = timeout;
        self
    }

    /// Sets the TLS settings.
    #[must_use]
    pub fn tls(mut self, tls: EtcdTls) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// TLS settings for talking to etcd: the CA that signed etcd's server certificate, and the
/// client certificate and key this store authenticates with (etcd's `--client-cert-auth`).
///
/// PEM-encoded. The private key never shows in `Debug` output.
#[derive(Clone, Default)]
pub struct EtcdTls {
    /// The CA certificate(s) that etcd's server certificate must chain to; `None` trusts
    /// nothing but what the TLS library trusts by default (which, without the platform's
    /// roots compiled in, is nothing: set it).
    pub ca_pem: Option<Vec<u8>>,
    /// The client certificate chain and its private key, for client-certificate
    /// authentication.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name to check etcd's certificate against, when it differs from the endpoint's
    /// host (for example when connecting by IP to a certificate issued for a name).
    pub domain: Option<String>,
}

impl EtcdTls {
    /// TLS trusting this CA, without a client certificate.
    pub fn new(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_pem: Some(ca_pem.into()),
            ..Self::default()
        }
    }

    /// Reads the CA certificate, client certificate and client key from PEM files, as etcd's
    /// own `--cacert`, `--cert` and `--key` flags take them.
    pub fn from_pem_files(
        ca: impl AsRef<Path>,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            ca_pem: Some(std::fs::read(ca)?),
            identity: Some((std::fs::read(cert)?, std::fs::read(key)?)),
            domain: None,
        })
    }

    /// Sets the client certificate (chain) and key.
    #[must_use]
    pub fn identity(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.identity = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Sets the name etcd's certificate is checked against.
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    pub(super) fn to_options(&self) -> etcd_client::TlsOptions {
        let mut tls = etcd_client::TlsOptions::new();
        if let Some(ca) = &self.ca_pem {
            tls = tls.ca_certificate(etcd_client::Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = &self.identity {
            tls = tls.identity(etcd_client::Identity::from_pem(cert, key));
        }
        if let Some(domain) = &self.domain {
            tls = tls.domain_name(domain.clone());
        }
        tls
    }
}

impl fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdTls")
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field(
                "identity",
                &self
                    .identity
                    .as_ref()
                    .map(|(cert, _)| (cert.len(), "<key redacted>")),
            )
            .field("domain", &self.domain)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_private_key() {
        let tls = EtcdTls::new("CA").identity("CERT", "SECRET-KEY");
        let shown = format!("{tls:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn builder_sets_fields() {
        let config = EtcdConfig::new(["a:1", "b:2"])
            .prefix("/p/")
            .request_timeout(Duration::from_secs(3))
            .tls(EtcdTls::new("CA").domain("etcd.local"));
        assert_eq!(config.endpoints, ["a:1", "b:2"]);
        assert_eq!(&config.prefix[..], b"/p/");
        assert_eq!(config.request_timeout, Duration::from_secs(3));
        assert_eq!(
            config.tls.and_then(|tls| tls.domain).as_deref(),
            Some("etcd.local")
        );
    }
}
