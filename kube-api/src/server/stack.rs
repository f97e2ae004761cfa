//! The served stack: authentication -> authorization -> rate limit -> the API server,
//! built from a [`StackBuilder`], served over HTTPS (and plain HTTP on loopback when
//! asked), and reachable in process through the same layers.
//!
//! ```no_run
//! # async fn demo<S>(api_server: S) -> Result<(), Box<dyn std::error::Error>>
//! # where
//! #     S: tower::Service<http::Request<kube_api::server::ApiBody>, Response = kube_api::server::ApiResponse>
//! #         + Clone + Send + Sync + 'static,
//! #     S::Future: Send + 'static,
//! #     S::Error: Into<kube_core::BoxError>,
//! # {
//! use kube_api::server::stack::StackBuilder;
//!
//! let stack = StackBuilder::new(api_server)
//!     .pki_dir("/var/lib/kube-sdk/pki")
//!     .build()
//!     .await?;
//! let server = stack.serve("127.0.0.1:6443".parse()?).await?;
//! println!("kubectl --kubeconfig {}", server.kubeconfig_path().unwrap().display());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Request;
use kube_core::BoxError;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::util::BoxCloneSyncService;
use tower::{Layer as _, Service, ServiceExt as _};

use super::authn::{AuthenticationLayer, Authenticator, TokenFile, TokenFileError, TrustedUser};
use super::authz::{AllowAll, AuthorizationLayer, RbacAuthorizer};
use super::pki::{Pki, PkiConfig, PkiError};
use super::ratelimit::{RateLimitConfig, RateLimitLayer};
use super::tls::{self, TlsError};
use super::{ApiBody, ApiResponse, UserInfo};
use crate::client::Client;
use crate::informer::SharedInformerFactory;

/// The served service: every layer around the API server.
pub type StackService = BoxCloneSyncService<Request<ApiBody>, ApiResponse, BoxError>;

/// How requests are authorized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthorizationMode {
    /// Kubernetes RBAC over the cluster's Role, ClusterRole, RoleBinding and
    /// ClusterRoleBinding objects.
    #[default]
    Rbac,
    /// Everything is allowed (development only).
    AllowAll,
}

/// Why the stack could not be built or served.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The token file could not be loaded.
    #[error("loading the token file")]
    Tokens(#[from] TokenFileError),
    /// The PKI could not be loaded or created.
    #[error("loading the PKI")]
    Pki(#[from] PkiError),
    /// TLS could not be set up, or the address could not be bound.
    #[error("serving")]
    Serve(#[from] TlsError),
    /// HTTPS was asked for without a PKI directory.
    #[error("serving HTTPS needs a PKI directory (StackBuilder::pki_dir)")]
    NoPki,
    /// The RBAC caches did not fill in time: the API server does not serve the RBAC kinds.
    #[error("the RBAC informers did not sync within {0:?}")]
    RbacSync(Duration),
}

/// Builds a [`Stack`] around an API server service.
#[must_use]
pub struct StackBuilder<S> {
    api: S,
    pki: Option<PkiConfig>,
    tokens: TokenFile,
    token_file: Option<PathBuf>,
    authorization: AuthorizationMode,
    rate_limit: RateLimitConfig,
    client_certificates: bool,
    kubeconfig_path: Option<PathBuf>,
    sync_timeout: Duration,
}

impl<S> fmt::Debug for StackBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackBuilder")
            .field("pki", &self.pki)
            .field("token_file", &self.token_file)
            .field("authorization", &self.authorization)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

impl<S> StackBuilder<S>
where
    S: Service<Request<ApiBody>, Response = ApiResponse> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    /// A stack around `api`: RBAC, client certificates, no tokens, default rate limits,
    /// no PKI (in-process use only until [`pki_dir`](Self::pki_dir) is set).
    pub fn new(api: S) -> Self {
        Self {
            api,
            pki: None,
            tokens: TokenFile::new(),
            token_file: None,
            authorization: AuthorizationMode::Rbac,
            rate_limit: RateLimitConfig::default(),
            client_certificates: true,
            kubeconfig_path: None,
            sync_timeout: Duration::from_secs(30),
        }
    }

    /// Keeps the PKI in `dir` (created on first start, reused later).
    pub fn pki_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let hosts = self.pki.take().map(|p| p.hosts).unwrap_or_default();
        self.pki = Some(PkiConfig::new(dir).hosts(hosts));
        self
    }

    /// Adds hosts to the serving certificate (needs [`pki_dir`](Self::pki_dir) first).
    pub fn hosts<I: IntoIterator<Item = H>, H: Into<String>>(mut self, hosts: I) -> Self {
        if let Some(pki) = self.pki.take() {
            self.pki = Some(pki.hosts(hosts));
        }
        self
    }

    /// Accepts the bearer tokens of a token file (read when the stack is built).
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }

    /// Accepts these bearer tokens.
    pub fn tokens(mut self, tokens: TokenFile) -> Self {
        self.tokens = tokens;
        self
    }

    /// Chooses how requests are authorized.
    pub fn authorization(mut self, mode: AuthorizationMode) -> Self {
        self.authorization = mode;
        self
    }

    /// Sets the in-flight limits.
    pub fn rate_limit(mut self, config: RateLimitConfig) -> Self {
        self.rate_limit = config;
        self
    }

    /// Whether client certificates authenticate (on by default).
    pub fn client_certificates(mut self, enabled: bool) -> Self {
        self.client_certificates = enabled;
        self
    }

    /// Where [`Stack::serve`] writes the admin kubeconfig (default:
    /// `admin.kubeconfig` in the PKI directory).
    pub fn kubeconfig_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig_path = Some(path.into());
        self
    }

    /// Loads the PKI and tokens, starts the RBAC informers and waits for them to sync.
    pub async fn build(self) -> Result<Stack, StackError> {
        let mut tokens = self.tokens;
        if let Some(path) = &self.token_file {
            let from_file = TokenFile::read(path)?;
            tokens = from_file;
        }
        let pki = match &self.pki {
            Some(config) => Some(Pki::load_or_create(config)?),
            None => None,
        };
        let authenticator = Authenticator::new()
            .with_tokens(tokens)
            .with_client_certificates(self.client_certificates);

        // The RBAC informers read through the API server itself, below the layers.
        let mut factory = None;
        let authorization = match self.authorization {
            AuthorizationMode::AllowAll => AuthorizationLayer::new(AllowAll),
            AuthorizationMode::Rbac => {
                let internal = Client::new(self.api.clone(), "default");
                let f = SharedInformerFactory::new(internal);
                let rbac = RbacAuthorizer::from_factory(&f);
                f.start();
                tokio::time::timeout(self.sync_timeout, rbac.wait_until_synced())
                    .await
                    .map_err(|_| StackError::RbacSync(self.sync_timeout))?;
                factory = Some(f);
                AuthorizationLayer::new(rbac)
            }
        };
        let service = AuthenticationLayer::new(authenticator).layer(
            authorization.layer(
                RateLimitLayer::new(self.rate_limit)
                    .layer(self.api)
                    .map_err(Into::into),
            ),
        );
        Ok(Stack {
            service: BoxCloneSyncService::new(service),
            pki,
            kubeconfig_path: self.kubeconfig_path,
            informers: factory,
        })
    }
}

/// The built stack.
pub struct Stack {
    service: StackService,
    pki: Option<Pki>,
    kubeconfig_path: Option<PathBuf>,
    informers: Option<SharedInformerFactory>,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("pki", &self.pki.as_ref().map(Pki::dir))
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// Stops the stack's own informers (the RBAC caches). Serving endpoints stop with
    /// their [`RunningServer`].
    pub async fn shutdown(&self) {
        if let Some(factory) = &self.informers {
            factory.stop().await;
        }
    }

    /// The served service, every layer included.
    pub fn service(&self) -> StackService {
        self.service.clone()
    }

    /// The PKI, when the stack has one.
    pub fn pki(&self) -> Option<&Pki> {
        self.pki.as_ref()
    }

    /// An in-process client acting as `user`, through every layer (authorization and rate
    /// limits apply as over the network).
    pub fn client_as(&self, user: UserInfo) -> Client {
        let service = self
            .service
            .clone()
            .map_request(move |mut req: Request<ApiBody>| {
                req.extensions_mut().insert(TrustedUser(user.clone()));
                req
            });
        Client::new(service, "default")
    }

    /// An in-process client acting as the built-in admin (`system:masters`).
    pub fn admin_client(&self) -> Client {
        self.client_as(UserInfo::admin())
    }

    /// Serves HTTPS on `addr` and writes the admin kubeconfig for it.
    pub async fn serve(&self, addr: SocketAddr) -> Result<RunningServer, StackError> {
        let pki = self.pki.as_ref().ok_or(StackError::NoPki)?;
        let tls_config = tls::server_config(pki)?;
        let listener = tls::bind(addr).await?;
        let local = listener
            .local_addr()
            .map_err(|source| TlsError::Bind { addr, source })?;
        let url = format!("https://{}", advertised(local));
        let kubeconfig = self
            .kubeconfig_path
            .clone()
            .unwrap_or_else(|| pki.dir().join("admin.kubeconfig"));
        pki.write_admin_kubeconfig(&url, &kubeconfig)?;
        let (tx, rx) = oneshot::channel::<()>();
        let service = self.service.clone();
        let task = tokio::spawn(async move {
            tls::serve_tls(listener, tls_config, service, async {
                let _ = rx.await;
            })
            .await;
        });
        tracing::info!(%url, kubeconfig = %kubeconfig.display(), "serving HTTPS");
        Ok(RunningServer {
            addr: local,
            url,
            kubeconfig: Some(kubeconfig),
            shutdown: Some(tx),
            task,
        })
    }

    /// Serves plain HTTP on a loopback `addr` (refused on any other address).
    pub async fn serve_plain(&self, addr: SocketAddr) -> Result<RunningServer, StackError> {
        if !addr.ip().is_loopback() {
            return Err(TlsError::NotLoopback(addr).into());
        }
        let listener = tls::bind(addr).await?;
        let local = listener
            .local_addr()
            .map_err(|source| TlsError::Bind { addr, source })?;
        let (tx, rx) = oneshot::channel::<()>();
        let service = self.service.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(err) = tls::serve_plain(listener, service, shutdown).await {
                tracing::error!(error = %err, "plain HTTP serving stopped");
            }
        });
        Ok(RunningServer {
            addr: local,
            url: format!("http://{local}"),
            kubeconfig: None,
            shutdown: Some(tx),
            task,
        })
    }
}

/// The address clients should use: loopback when bound to every address.
fn advertised(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// A server running on a task; dropping it stops accepting connections.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    url: String,
    kubeconfig: Option<PathBuf>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// The bound address (with the port chosen, when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients use (`https://127.0.0.1:6443`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin kubeconfig written for this server (HTTPS only).
    pub fn kubeconfig_path(&self) -> Option<&Path> {
        self.kubeconfig.as_deref()
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
