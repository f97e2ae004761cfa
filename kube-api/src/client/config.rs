//! [`ClientConfig`]: a kubeconfig context resolved into what a connection needs.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::ClientError;
use super::kubeconfig::Kubeconfig;
use super::retry::RetryPolicy;

/// Everything needed to talk to one API server: its URL, how to trust it, who we are.
pub struct ClientConfig {
    /// The server's URL (`https://127.0.0.1:6443`); `http://` is allowed for loopback use.
    pub server: http::Uri,
    /// The CA certificates the server's certificate must chain to. Empty: no HTTPS trust
    /// (only usable with `insecure_skip_tls_verify`).
    pub root_certificates: Vec<CertificateDer<'static>>,
    /// A client certificate chain and its key, for x509 authentication.
    pub client_identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// A bearer token, sent in `Authorization`.
    pub token: Option<String>,
    /// Accept any server certificate (development only).
    pub insecure_skip_tls_verify: bool,
    /// The name to verify the server certificate against, instead of the URL's host.
    pub tls_server_name: Option<String>,
    /// The namespace `Api::default_namespaced` uses.
    pub namespace: String,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
}

impl Clone for ClientConfig {
    fn clone(&self) -> Self {
        Self {
            server: self.server.clone(),
            root_certificates: self.root_certificates.clone(),
            client_identity: self
                .client_identity
                .as_ref()
                .map(|(certs, key)| (certs.clone(), key.clone_key())),
            token: self.token.clone(),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            tls_server_name: self.tls_server_name.clone(),
            namespace: self.namespace.clone(),
            retry: self.retry.clone(),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("server", &self.server)
            .field("root_certificates", &self.root_certificates.len())
            .field("has_client_identity", &self.client_identity.is_some())
            .field("has_token", &self.token.is_some())
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A configuration for a server URL, with no trust roots and no credentials yet.
    pub fn new(server: &str) -> Result<Self, ClientError> {
        Ok(Self {
            server: parse_server(server)?,
            root_certificates: Vec::new(),
            client_identity: None,
            token: None,
            insecure_skip_tls_verify: false,
            tls_server_name: None,
            namespace: "default".to_owned(),
            retry: RetryPolicy::default(),
        })
    }

    /// Resolves a context of a kubeconfig (the current one when `context` is `None`):
    /// reads the files it names and decodes its inline data.
    pub fn from_kubeconfig(
        kubeconfig: &Kubeconfig,
        context: Option<&str>,
    ) -> Result<Self, ClientError> {
        let ctx = &kubeconfig.context(context)?.context;
        let cluster = kubeconfig.cluster(&ctx.cluster)?;
        let user = kubeconfig.user(&ctx.user)?;
        let mut config = Self::new(&cluster.server)?;
        config.namespace = ctx
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        config.insecure_skip_tls_verify = cluster.insecure_skip_tls_verify.unwrap_or(false);
        config.tls_server_name = cluster.tls_server_name.clone();

        if let Some(pem) = load(
            kubeconfig,
            cluster.certificate_authority_data.as_deref(),
            cluster.certificate_authority.as_deref(),
            "certificate-authority-data",
            "certificate authority",
        )? {
            config.root_certificates = certificates(&pem, "certificate-authority")?;
        }

        if user.username.is_some() {
            return Err(ClientError::Unsupported(
                "basic authentication (username/password)".into(),
            ));
        }
        if user.exec.is_some() && user.token.is_none() && user.token_file.is_none() {
            return Err(ClientError::Unsupported("exec credential plugins".into()));
        }
        let cert = load(
            kubeconfig,
            user.client_certificate_data.as_deref(),
            user.client_certificate.as_deref(),
            "client-certificate-data",
            "client certificate",
        )?;
        let key = load(
            kubeconfig,
            user.client_key_data.as_deref(),
            user.client_key.as_deref(),
            "client-key-data",
            "client key",
        )?;
        config.client_identity = match (cert, key) {
            (Some(cert), Some(key)) => {
                let certs = certificates(&cert, "client-certificate")?;
                let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| ClientError::Pem {
                    what: "client-key",
                    reason: e.to_string(),
                })?;
                Some((certs, key))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(ClientError::Pem {
                    what: "client-key",
                    reason: "a client certificate is given without its key".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ClientError::Pem {
                    what: "client-certificate",
                    reason: "a client key is given without its certificate".into(),
                });
            }
        };

        config.token = match (&user.token, &user.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(file)) => {
                let path = kubeconfig.resolve(file);
                let text =
                    std::fs::read_to_string(&path).map_err(|source| ClientError::ReadFile {
                        what: "token",
                        path,
                        source,
                    })?;
                Some(text.trim().to_owned())
            }
            (None, None) => None,
        };
        Ok(config)
    }
}

fn parse_server(server: &str) -> Result<http::Uri, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidServer {
        url: server.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: http::Uri = server
        .trim_end_matches('/')
        .parse()
        .map_err(|e| invalid(&format!("{e}")))?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err(invalid("the scheme must be https or http")),
    }
    if uri.host().is_none() {
        return Err(invalid("no host"));
    }
    Ok(uri)
}

/// Inline base64 data, or else the file, or nothing.
fn load(
    kubeconfig: &Kubeconfig,
    data: Option<&str>,
    file: Option<&str>,
    field: &'static str,
    what: &'static str,
) -> Result<Option<Vec<u8>>, ClientError> {
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        let clean: String = data.split_whitespace().collect();
        return STANDARD
            .decode(clean)
            .map(Some)
            .map_err(|source| ClientError::Base64 { field, source });
    }
    match file.filter(|f| !f.is_empty()) {
        Some(file) => {
            let path = kubeconfig.resolve(file);
            std::fs::read(&path)
                .map(Some)
                .map_err(|source| ClientError::ReadFile { what, path, source })
        }
        None => Ok(None),
    }
}

fn certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ClientError::Pem {
            what,
            reason: "no certificate found".into(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_checked() {
        assert!(ClientConfig::new("https://127.0.0.1:6443/").is_ok());
        assert!(ClientConfig::new("http://localhost:8080").is_ok());
        for bad in ["ftp://x", "127.0.0.1:6443", "https://"] {
            assert!(
                matches!(
                    ClientConfig::new(bad),
                    Err(ClientError::InvalidServer { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_inline_data_is_named() {
        let kc = Kubeconfig::from_yaml(
            "clusters: [{name: c, cluster: {server: 'https://h:1', certificate-authority-data: '!!'}}]\n\
             contexts: [{name: x, context: {cluster: c, user: ''}}]\ncurrent-context: x\n",
        )
        .unwrap();
        let err = ClientConfig::from_kubeconfig(&kc, None).unwrap_err();
        assert!(matches!(
            err,
            ClientError::Base64 {
                field: "certificate-authority-data",
                ..
            }
        ));
    }

    #[test]
    fn tokens_and_namespaces_come_from_the_context() {
        let kc = Kubeconfig::from_yaml(
            "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:8080'}}]\n\
             users: [{name: u, user: {token: abc}}]\n\
             contexts: [{name: x, context: {cluster: c, user: u, namespace: ns1}}]\ncurrent-context: x\n",
        )
        .unwrap();
        let cfg = ClientConfig::from_kubeconfig(&kc, None).unwrap();
        assert_eq!(cfg.token.as_deref(), Some("abc"));
        assert_eq!(cfg.namespace, "ns1");
        assert!(cfg.client_identity.is_none());
    }

    #[test]
    fn a_missing_file_is_named() {
        let kc = Kubeconfig::from_yaml(
            "clusters: [{name: c, cluster: {server: 'https://h:1', certificate-authority: /nonexistent/ca.crt}}]\n\
             contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
        )
        .unwrap();
        let err = ClientConfig::from_kubeconfig(&kc, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read the certificate authority file /nonexistent/ca.crt"
        );
    }
}
