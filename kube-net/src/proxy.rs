//! [`ServiceProxy`]: the kube-proxy loop. Informers on Services and Endpoints, the whole
//! desired [`ServiceTable`] built from their caches, bursts coalesced by a minimum sync
//! interval, and the table handed to a [`NetworkProxy`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube_api::client::Client;
use kube_api::informer::{SharedInformer, SharedInformerFactory};
use kube_core::{Endpoints, NetworkProxy, Service, ServiceTable};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument as _, debug, info, info_span, warn};

use crate::schedule::{SyncReason, SyncSchedule};
use crate::table::build_table;

/// Settings of a [`ServiceProxy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceProxyConfig {
    /// The shortest time between two syncs: changes arriving faster are coalesced into
    /// one sync (kube-proxy's `--iptables-min-sync-period`, 1 s by default).
    pub min_sync_interval: Duration,
    /// The longest time between two syncs: without changes the table is synced again this
    /// often, so that a data plane that drifted is repaired (kube-proxy's
    /// `--iptables-sync-period`, 30 s by default). A failed sync is retried sooner, with a
    /// delay doubling from `min_sync_interval` up to this.
    pub sync_interval: Duration,
}

impl Default for ServiceProxyConfig {
    fn default() -> Self {
        Self {
            min_sync_interval: Duration::from_secs(1),
            sync_interval: Duration::from_secs(30),
        }
    }
}

/// What the proxy loop has done so far, published after every sync.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Calls to [`NetworkProxy::sync`] that succeeded.
    pub syncs: u64,
    /// Calls that failed.
    pub failures: u64,
    /// The error of the last call, when it failed.
    pub last_error: Option<String>,
    /// The table of the last successful call.
    pub table: Arc<ServiceTable>,
}

/// The service proxy: keeps a [`NetworkProxy`] serving what the Services and Endpoints in
/// the API server say.
///
/// It waits for both informers to sync before the first sync (an empty table would cut
/// every open connection), then syncs after changes, at most once per
/// [`min_sync_interval`](ServiceProxyConfig::min_sync_interval), and at least once per
/// [`sync_interval`](ServiceProxyConfig::sync_interval). A table equal to the last one
/// applied is not applied again, except by the periodic sync.
///
/// ```no_run
/// # async fn demo(client: kube_api::client::Client) {
/// use kube_net::{ServiceProxy, UserspaceProxy, UserspaceConfig};
///
/// let dataplane = UserspaceProxy::new(UserspaceConfig::default());
/// let proxy = ServiceProxy::new(client, dataplane.clone()).spawn();
/// proxy.wait_for_first_sync().await;
/// // ... later
/// proxy.shutdown().await;
/// dataplane.shutdown().await;
/// # }
/// ```
pub struct ServiceProxy {
    factory: SharedInformerFactory,
    proxy: Arc<dyn NetworkProxy>,
    config: ServiceProxyConfig,
}

impl fmt::Debug for ServiceProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceProxy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ServiceProxy {
    /// A proxy with its own informers on `client`.
    pub fn new(client: Client, proxy: impl NetworkProxy) -> Self {
        Self::with_factory(SharedInformerFactory::new(client), proxy)
    }

    /// A proxy sharing informers with other components of the process (a node agent).
    pub fn with_factory(factory: SharedInformerFactory, proxy: impl NetworkProxy) -> Self {
        Self::with_shared(factory, Arc::new(proxy))
    }

    /// Like [`with_factory`](Self::with_factory), for a proxy already behind an `Arc`.
    pub fn with_shared(factory: SharedInformerFactory, proxy: Arc<dyn NetworkProxy>) -> Self {
        Self {
            factory,
            proxy,
            config: ServiceProxyConfig::default(),
        }
    }

    /// Replaces the settings.
    #[must_use]
    pub fn config(mut self, config: ServiceProxyConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs the loop on a task of its own.
    pub fn spawn(self) -> ServiceProxyHandle {
        let (status_tx, status) = watch::channel(SyncStatus::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(
            self.run_until(status_tx, stop_rx)
                .instrument(info_span!("service_proxy")),
        );
        ServiceProxyHandle {
            task: Some(task),
            status,
            stop: stop_tx,
        }
    }

    /// Runs the loop until the process ends.
    pub async fn run(self) {
        let (status_tx, _status) = watch::channel(SyncStatus::default());
        let (_stop_tx, stop_rx) = watch::channel(false);
        self.run_until(status_tx, stop_rx).await;
    }

    async fn run_until(self, status: watch::Sender<SyncStatus>, mut stop: watch::Receiver<bool>) {
        let services: SharedInformer<Service> = self.factory.informer();
        let endpoints: SharedInformer<Endpoints> = self.factory.informer();
        let mut service_events = services.subscribe();
        let mut endpoint_events = endpoints.subscribe();
        self.factory.start();
        tokio::select! {
            () = async {
                services.wait_until_synced().await;
                endpoints.wait_until_synced().await;
            } => {}
            () = stopped(&mut stop) => return,
        }
        info!("caches synced, starting to sync the data plane");

        let mut schedule =
            SyncSchedule::new(self.config.min_sync_interval, self.config.sync_interval);
        let mut applied: Option<ServiceTable> = None;
        loop {
            let (due, reason) = schedule.next(Instant::now());
            tokio::select! {
                biased;
                () = stopped(&mut stop) => return,
                Some(_) = service_events.next() => schedule.request(),
                Some(_) = endpoint_events.next() => schedule.request(),
                () = tokio::time::sleep_until(due) => {
                    let started = Instant::now();
                    let table = build_table(services.cache().list(), |ns, name| {
                        endpoints.cache().get_named(Some(ns), name)
                    });
                    if reason == SyncReason::Changed && applied.as_ref() == Some(&table) {
                        debug!("table unchanged, nothing to sync");
                        schedule.ran(started, true);
                        continue;
                    }
                    let ok = self.sync_once(&table, reason, &status).await;
                    schedule.ran(started, ok);
                    applied = ok.then_some(table);
                }
            }
        }
    }

    async fn sync_once(
        &self,
        table: &ServiceTable,
        reason: SyncReason,
        status: &watch::Sender<SyncStatus>,
    ) -> bool {
        let span = info_span!("sync", services = table.services.len(), ?reason);
        match self.proxy.sync(table).instrument(span).await {
            Ok(()) => {
                debug!(services = table.services.len(), "data plane synced");
                status.send_modify(|s| {
                    s.syncs += 1;
                    s.last_error = None;
                    s.table = Arc::new(table.clone());
                });
                true
            }
            Err(err) => {
                let message = err.to_string();
                let repeated = status.borrow().last_error.as_deref() == Some(message.as_str());
                if !repeated {
                    warn!(error = %err, "syncing the data plane failed; retrying");
                }
                status.send_modify(|s| {
                    s.failures += 1;
                    s.last_error = Some(message);
                });
                false
            }
        }
    }
}

/// Resolves once a stop was asked for, or the handle that could ask is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The running [`ServiceProxy`]: its status, and the way to stop it. Dropping the handle
/// stops the loop too.
#[derive(Debug)]
pub struct ServiceProxyHandle {
    task: Option<JoinHandle<()>>,
    status: watch::Receiver<SyncStatus>,
    stop: watch::Sender<bool>,
}

impl ServiceProxyHandle {
    /// The status as of the last sync.
    pub fn status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }

    /// A receiver of every status change.
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// Waits until the status satisfies `pred`, and returns it.
    pub async fn wait_for(&self, pred: impl FnMut(&SyncStatus) -> bool) -> SyncStatus {
        let mut rx = self.status.clone();
        if let Ok(s) = rx.wait_for(pred).await {
            return s.clone();
        }
        // The loop ended: the last status is all there will be.
        rx.borrow().clone()
    }

    /// Waits until the first table was applied.
    pub async fn wait_for_first_sync(&self) -> SyncStatus {
        self.wait_for(|s| s.syncs > 0).await
    }

    /// Stops the loop and waits for it to end. The data plane keeps what it was last
    /// told; stopping it is the data plane's business.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServiceProxyHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
