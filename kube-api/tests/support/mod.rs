//! The served stack for tests that point real clients (kubectl, the Python client) at the
//! API server: an `ApiServer` on a `MemoryStore`, inside the `StackBuilder` stack (TLS,
//! authentication, RBAC, rate limits) with a PKI in a temporary directory, serving HTTPS on
//! `127.0.0.1:0` and writing an admin kubeconfig.
//!
//! The server runs on its own multi-threaded runtime in the background, so tests drive
//! external processes with plain blocking calls without stalling it.

#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

pub mod fake_node;
pub mod tools;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube_api::client::{Client, ClientConfig, RetryPolicy};
use kube_api::server::authn::TokenFile;
use kube_api::server::stack::{RunningServer, Stack, StackBuilder};
use kube_api::server::{ApiServer, ApiServerConfig};
use kube_core::Store;
use kube_store::MemoryStore;

/// The bearer token of a user with no role bindings: authenticated, never authorized.
pub const NOBODY_TOKEN: &str = "nobody-token-0123456789";
/// The name of that user.
pub const NOBODY_USER: &str = "nobody";

/// A served API server, its PKI directory and its kubeconfig.
pub struct Served {
    /// The runtime the server runs on; dropped last.
    pub runtime: tokio::runtime::Runtime,
    /// The PKI directory and anything tests write next to it.
    pub dir: tempfile::TempDir,
    /// The API server (below the layers).
    pub api: ApiServer,
    /// The stack around it.
    pub stack: Stack,
    /// The HTTPS server.
    pub server: Option<RunningServer>,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
}

/// What to change from the defaults.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The API server's configuration.
    pub config: Option<ApiServerConfig>,
}

impl Served {
    /// Starts a server with the default configuration.
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    /// Starts a server.
    pub fn start_with(options: Options) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pki_dir = dir.path().join("pki");
        let (api, stack, server) = runtime.block_on(async {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let mut builder = ApiServer::builder(store);
            if let Some(config) = options.config {
                builder = builder.config(config);
            }
            let api = builder.build().await.unwrap();
            let tokens =
                TokenFile::parse(&format!("{NOBODY_TOKEN},{NOBODY_USER},u-nobody\n")).unwrap();
            let stack = StackBuilder::new(api.clone())
                .pki_dir(&pki_dir)
                .tokens(tokens)
                .build()
                .await
                .unwrap();
            let server = stack.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
            (api, stack, server)
        });
        let kubeconfig = server.kubeconfig_path().unwrap().to_owned();
        Self {
            runtime,
            dir,
            api,
            stack,
            server: Some(server),
            kubeconfig,
        }
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        self.server.as_ref().unwrap().url().to_owned()
    }

    /// A scratch directory for manifests and scripts.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file in the scratch directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// An in-process admin client (through every layer).
    pub fn admin(&self) -> Client {
        self.stack.admin_client()
    }

    /// An HTTPS client from the written kubeconfig, without retries.
    pub fn https_client(&self) -> Client {
        let kubeconfig = kube_api::client::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let mut config = ClientConfig::from_kubeconfig(&kubeconfig, None).unwrap();
        config.retry = RetryPolicy::none();
        self.runtime
            .block_on(async { Client::try_from_config(&config) })
            .unwrap()
    }

    /// Runs a future on the server's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}
