//! The cluster's PKI: a CA, the API server's serving certificate and an admin client
//! certificate, created on first start in a directory and reused on later starts, and a
//! kubeconfig that kubectl uses as it is.
//!
//! Files in the directory (keys readable by the owner only):
//!
//! | file | what |
//! |---|---|
//! | `ca.crt`, `ca.key` | the cluster CA, which signs the others |
//! | `apiserver.crt`, `apiserver.key` | the serving certificate: `localhost`, `127.0.0.1`, `::1` and the configured hosts |
//! | `apiserver.hosts` | the hosts the serving certificate was issued for; another list reissues it |
//! | `admin.crt`, `admin.key` | a client certificate for `kubernetes-admin` in `system:masters` |
//!
//! ```no_run
//! use kube_api::server::pki::{Pki, PkiConfig};
//!
//! let pki = Pki::load_or_create(&PkiConfig::new("/var/lib/kube-sdk/pki"))?;
//! let kubeconfig = pki.admin_kubeconfig("https://127.0.0.1:6443");
//! std::fs::write("/var/lib/kube-sdk/admin.kubeconfig", kubeconfig.to_yaml()?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{Datelike as _, Duration as ChronoDuration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::client::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use crate::server::user::GROUP_MASTERS;

/// The common name of the CA.
const CA_NAME: &str = "kube-sdk-ca";
/// The user the API server is when it calls node agents, as kubeadm names it.
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";
/// The user name of the admin client certificate, as kubeadm names it.
pub const ADMIN_USER: &str = "kubernetes-admin";

/// Where the PKI lives and what the serving certificate covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiConfig {
    /// The directory of the files.
    pub dir: PathBuf,
    /// Host names and addresses the serving certificate covers, besides `localhost`,
    /// `127.0.0.1` and `::1`.
    pub hosts: Vec<String>,
    /// The name of the cluster, user and context in kubeconfigs.
    pub cluster_name: String,
    /// Days the serving and client certificates are valid (the CA: ten times as long).
    pub validity_days: i64,
}

impl PkiConfig {
    /// The PKI in `dir`, with default settings.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            hosts: Vec::new(),
            cluster_name: "kube-sdk".to_owned(),
            validity_days: 365,
        }
    }

    /// Adds hosts to the serving certificate.
    #[must_use]
    pub fn hosts<I: IntoIterator<Item = S>, S: Into<String>>(mut self, hosts: I) -> Self {
        self.hosts.extend(hosts.into_iter().map(Into::into));
        self
    }
}

/// Why the PKI could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("PKI file {}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key or certificate could not be generated or parsed.
    #[error("{what}")]
    Crypto {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: rcgen::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("invalid PEM in {}: {reason}", .path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A certificate and its key, PEM-encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
}

impl fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem_len", &self.cert_pem.len())
            .finish_non_exhaustive()
    }
}

impl CertifiedKey {
    /// The certificate chain, DER.
    pub fn cert_chain(&self) -> Result<Vec<CertificateDer<'static>>, PkiError> {
        let invalid = |reason: String| PkiError::Pem {
            path: PathBuf::from("<certificate>"),
            reason,
        };
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        if chain.is_empty() {
            return Err(invalid("no certificate found".into()));
        }
        Ok(chain)
    }

    /// The private key, DER.
    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>, PkiError> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| PkiError::Pem {
            path: PathBuf::from("<key>"),
            reason: e.to_string(),
        })
    }
}

/// The loaded (or freshly created) PKI.
#[derive(Clone, Debug)]
pub struct Pki {
    config: PkiConfig,
    /// The CA.
    pub ca: CertifiedKey,
    /// The API server's serving certificate.
    pub serving: CertifiedKey,
    /// The admin client certificate (`kubernetes-admin`, `system:masters`).
    pub admin: CertifiedKey,
}

fn crypto(what: &str) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |source| PkiError::Crypto {
        what: what.to_owned(),
        source,
    }
}

impl Pki {
    /// Loads the PKI from its directory, creating what is missing: a new CA (which then
    /// reissues everything), a serving certificate (also when the hosts changed), an admin
    /// certificate.
    pub fn load_or_create(config: &PkiConfig) -> Result<Self, PkiError> {
        std::fs::create_dir_all(&config.dir).map_err(|source| PkiError::Io {
            path: config.dir.clone(),
            source,
        })?;
        let dir = &config.dir;
        let (ca, ca_is_new) = match read_pair(dir, "ca")? {
            Some(ca) => (ca, false),
            None => {
                let ca = create_ca(config)?;
                write_pair(dir, "ca", &ca)?;
                (ca, true)
            }
        };
        let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(crypto("reading the CA key"))?;
        let issuer = Issuer::new(ca_params(config)?, &ca_key);

        let hosts = serving_hosts(config);
        let hosts_file = dir.join("apiserver.hosts");
        let recorded = std::fs::read_to_string(&hosts_file).unwrap_or_default();
        let serving = match read_pair(dir, "apiserver")? {
            Some(pair) if !ca_is_new && recorded == hosts.join("\n") => pair,
            _ => {
                let pair = create_serving(config, &hosts, &issuer)?;
                write_pair(dir, "apiserver", &pair)?;
                write_file(&hosts_file, hosts.join("\n").as_bytes(), false)?;
                pair
            }
        };
        let admin = match read_pair(dir, "admin")? {
            Some(pair) if !ca_is_new => pair,
            _ => {
                let pair = issue_client(config, &issuer, ADMIN_USER, &[GROUP_MASTERS])?;
                write_pair(dir, "admin", &pair)?;
                pair
            }
        };
        Ok(Self {
            config: config.clone(),
            ca,
            serving,
            admin,
        })
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Issues a client certificate for a user in groups (`CN` = user, `O` = group). Only
    /// one group fits: the certificate library keeps one value per subject attribute.
    pub fn issue_client_certificate(
        &self,
        user: &str,
        group: Option<&str>,
    ) -> Result<CertifiedKey, PkiError> {
        let ca_key = KeyPair::from_pem(&self.ca.key_pem).map_err(crypto("reading the CA key"))?;
        let issuer = Issuer::new(ca_params(&self.config)?, &ca_key);
        let groups: Vec<&str> = group.into_iter().collect();
        issue_client(&self.config, &issuer, user, &groups)
    }

    /// The client certificate the API server presents to node agents (contract:
    /// `CN=kube-apiserver-kubelet-client`, `O=system:masters`).
    pub fn kubelet_client_certificate(&self) -> Result<CertifiedKey, PkiError> {
        self.issue_client_certificate(KUBELET_CLIENT_USER, Some(GROUP_MASTERS))
    }

    /// A kubeconfig for the admin certificate, with the CA and client credentials inline,
    /// for a server at `server_url`.
    pub fn admin_kubeconfig(&self, server_url: &str) -> Kubeconfig {
        self.kubeconfig(server_url, ADMIN_USER, &self.admin)
    }

    /// A kubeconfig for any client certificate issued by this CA.
    pub fn kubeconfig(
        &self,
        server_url: &str,
        user: &str,
        credentials: &CertifiedKey,
    ) -> Kubeconfig {
        let name = &self.config.cluster_name;
        let context = format!("{user}@{name}");
        Kubeconfig {
            api_version: Some("v1".into()),
            kind: Some("Config".into()),
            clusters: vec![NamedCluster {
                name: name.clone(),
                cluster: Cluster {
                    server: server_url.to_owned(),
                    certificate_authority_data: Some(STANDARD.encode(&self.ca.cert_pem)),
                    ..Cluster::default()
                },
            }],
            users: vec![NamedAuthInfo {
                name: user.to_owned(),
                user: AuthInfo {
                    client_certificate_data: Some(STANDARD.encode(&credentials.cert_pem)),
                    client_key_data: Some(STANDARD.encode(&credentials.key_pem)),
                    ..AuthInfo::default()
                },
            }],
            contexts: vec![NamedContext {
                name: context.clone(),
                context: Context {
                    cluster: name.clone(),
                    user: user.to_owned(),
                    namespace: None,
                },
            }],
            current_context: Some(context),
            base_dir: None,
        }
    }

    /// Writes the admin kubeconfig to a file (owner-only permissions).
    pub fn write_admin_kubeconfig(&self, server_url: &str, path: &Path) -> Result<(), PkiError> {
        let yaml = self
            .admin_kubeconfig(server_url)
            .to_yaml()
            .map_err(|e| PkiError::Pem {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        write_file(path, yaml.as_bytes(), true)
    }
}

fn serving_hosts(config: &PkiConfig) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for h in &config.hosts {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    hosts
}

/// The validity window: from a day ago (clock skew) for `days` days.
fn validity(params: &mut CertificateParams, days: i64) {
    let from = Utc::now() - ChronoDuration::days(1);
    let to = from + ChronoDuration::days(days.max(1) + 1);
    let ymd = |d: chrono::DateTime<Utc>| {
        rcgen::date_time_ymd(
            d.year(),
            u8::try_from(d.month()).unwrap_or(1),
            u8::try_from(d.day()).unwrap_or(1),
        )
    };
    params.not_before = ymd(from);
    params.not_after = ymd(to);
}

fn ca_params(config: &PkiConfig) -> Result<CertificateParams, PkiError> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(crypto("CA parameters"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, config.validity_days.saturating_mul(10));
    Ok(params)
}

fn create_ca(config: &PkiConfig) -> Result<CertifiedKey, PkiError> {
    let key = KeyPair::generate().map_err(crypto("generating the CA key"))?;
    let cert = ca_params(config)?
        .self_signed(&key)
        .map_err(crypto("signing the CA"))?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn create_serving(
    config: &PkiConfig,
    hosts: &[String],
    issuer: &Issuer<'_, &KeyPair>,
) -> Result<CertifiedKey, PkiError> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(crypto("serving parameters"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kube-apiserver");
    params.distinguished_name = dn;
    for host in hosts {
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                host.clone()
                    .try_into()
                    .map_err(crypto("a serving certificate host name"))?,
            ),
        };
        params.subject_alt_names.push(san);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, config.validity_days);
    let key = KeyPair::generate().map_err(crypto("generating the serving key"))?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(crypto("signing the serving certificate"))?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn issue_client(
    config: &PkiConfig,
    issuer: &Issuer<'_, &KeyPair>,
    user: &str,
    groups: &[&str],
) -> Result<CertifiedKey, PkiError> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(crypto("client parameters"))?;
    let mut dn = DistinguishedName::new();
    for group in groups {
        dn.push(DnType::OrganizationName, *group);
    }
    dn.push(DnType::CommonName, user);
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, config.validity_days);
    let key = KeyPair::generate().map_err(crypto("generating a client key"))?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(crypto("signing a client certificate"))?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Reads `{name}.crt` and `{name}.key`; `None` when either is missing.
fn read_pair(dir: &Path, name: &str) -> Result<Option<CertifiedKey>, PkiError> {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    if !cert.exists() || !key.exists() {
        return Ok(None);
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| PkiError::Io {
            path: path.to_owned(),
            source,
        })
    };
    let pair = CertifiedKey {
        cert_pem: read(&cert)?,
        key_pem: read(&key)?,
    };
    // Both must parse, or the files are not ours to reuse.
    pair.cert_chain().map_err(|e| PkiError::Pem {
        path: cert.clone(),
        reason: e.to_string(),
    })?;
    pair.private_key().map_err(|e| PkiError::Pem {
        path: key,
        reason: e.to_string(),
    })?;
    Ok(Some(pair))
}

fn write_pair(dir: &Path, name: &str, pair: &CertifiedKey) -> Result<(), PkiError> {
    write_file(
        &dir.join(format!("{name}.key")),
        pair.key_pem.as_bytes(),
        true,
    )?;
    write_file(
        &dir.join(format!("{name}.crt")),
        pair.cert_pem.as_bytes(),
        false,
    )
}

/// Writes a file whole, through a temporary file renamed over it; secrets get mode 0600.
fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::authn::subject;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = PkiConfig::new(dir.path());
        let first = Pki::load_or_create(&config).unwrap();
        let second = Pki::load_or_create(&config).unwrap();
        assert_eq!(first.ca, second.ca);
        assert_eq!(first.serving, second.serving);
        assert_eq!(first.admin, second.admin);

        let admin = subject(&first.admin.cert_chain().unwrap()[0]).unwrap();
        assert_eq!(admin.common_name.as_deref(), Some(ADMIN_USER));
        assert_eq!(admin.organizations, [GROUP_MASTERS]);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("ca.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "keys are private");
        }
    }

    #[test]
    fn new_hosts_reissue_only_the_serving_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pki::load_or_create(&PkiConfig::new(dir.path())).unwrap();
        let second =
            Pki::load_or_create(&PkiConfig::new(dir.path()).hosts(["api.example.com", "10.0.0.1"]))
                .unwrap();
        assert_eq!(first.ca, second.ca);
        assert_eq!(first.admin, second.admin);
        assert_ne!(first.serving, second.serving);
    }

    #[test]
    fn garbage_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "not a cert").unwrap();
        std::fs::write(dir.path().join("ca.key"), "not a key").unwrap();
        let err = Pki::load_or_create(&PkiConfig::new(dir.path())).unwrap_err();
        assert!(matches!(err, PkiError::Pem { .. }), "{err}");
    }

    #[test]
    fn kubeconfigs_carry_everything_inline() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(&PkiConfig::new(dir.path())).unwrap();
        let path = dir.path().join("admin.kubeconfig");
        pki.write_admin_kubeconfig("https://127.0.0.1:6443", &path)
            .unwrap();
        let kc = Kubeconfig::read_from(&path).unwrap();
        let cfg = crate::client::ClientConfig::from_kubeconfig(&kc, None).unwrap();
        assert_eq!(cfg.root_certificates.len(), 1);
        assert!(cfg.client_identity.is_some());
        assert_eq!(cfg.server.to_string(), "https://127.0.0.1:6443/");
    }
}
