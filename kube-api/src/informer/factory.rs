//! [`SharedInformerFactory`]: one list+watch and one cache per kind, shared by every
//! consumer (controllers, scheduler, node agent, proxy) that asks for that kind.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kube_core::Resource;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::reflector::{Informer, InformerConfig, SharedInformer};
use crate::client::{Api, Client};

type SyncFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Entry {
    informer: Box<dyn Any + Send + Sync>,
    start: Option<Box<dyn FnOnce() -> JoinHandle<()> + Send>>,
    task: Option<JoinHandle<()>>,
    wait_synced: Box<dyn Fn() -> SyncFuture + Send + Sync>,
    handlers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

#[derive(Default)]
struct State {
    entries: HashMap<(TypeId, String), Entry>,
    started: bool,
}

impl Drop for State {
    fn drop(&mut self) {
        for entry in self.entries.values() {
            if let Some(task) = &entry.task {
                task.abort();
            }
            for handler in entry.handlers.lock().iter() {
                handler.abort();
            }
        }
    }
}

/// Hands out [`SharedInformer`]s: the first request for a kind creates its informer, every
/// later one shares it (one list+watch, one cache). Informers run once
/// [`start`](Self::start) is called (those asked for later start at once), and stop when
/// the last clone of the factory is dropped.
///
/// ```no_run
/// # async fn demo(client: kube_api::client::Client) {
/// use kube_api::informer::SharedInformerFactory;
/// use kube_core::ConfigMap;
///
/// let factory = SharedInformerFactory::new(client);
/// let a = factory.informer::<ConfigMap>();
/// let b = factory.informer::<ConfigMap>(); // the same cache as `a`
/// factory.start();
/// factory.wait_for_cache_sync().await;
/// assert_eq!(a.cache().len(), b.cache().len());
/// # }
/// ```
#[derive(Clone)]
pub struct SharedInformerFactory {
    client: Client,
    namespace: Option<String>,
    config: InformerConfig,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SharedInformerFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("SharedInformerFactory")
            .field("namespace", &self.namespace)
            .field("informers", &state.entries.len())
            .field("started", &state.started)
            .finish_non_exhaustive()
    }
}

impl SharedInformerFactory {
    /// A factory whose informers watch all namespaces.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            namespace: None,
            config: InformerConfig::default(),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Restricts namespaced kinds to one namespace (cluster-scoped kinds are unaffected).
    #[must_use]
    pub fn namespaced(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Settings for every informer the factory creates (selectors, page size, backoff).
    #[must_use]
    pub fn with_config(mut self, config: InformerConfig) -> Self {
        self.config = config;
        self
    }

    /// The client the informers use.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The shared informer of kind `K`, created on first request.
    pub fn informer<K>(&self) -> SharedInformer<K>
    where
        K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
        K::DynamicType: Default,
    {
        self.informer_with::<K>(&K::DynamicType::default())
    }

    /// Like [`informer`](Self::informer), for a kind known at run time.
    pub fn informer_with<K>(&self, dt: &K::DynamicType) -> SharedInformer<K>
    where
        K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let api: Api<K> = match &self.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, dt),
            None => Api::all_with(self.client.clone(), dt),
        };
        let key = (
            TypeId::of::<K>(),
            api.resource().collection_path(api.namespace()),
        );
        let mut state = self.state.lock();
        if let Some(entry) = state.entries.get(&key) {
            if let Some(shared) = entry.informer.downcast_ref::<SharedInformer<K>>() {
                return shared.clone();
            }
        }
        let informer = Informer::with_config(api, self.config.clone());
        let cache = informer.cache();
        let handlers = Arc::new(Mutex::new(Vec::new()));
        let shared = SharedInformer {
            cache: cache.clone(),
            handlers: handlers.clone(),
        };
        let mut entry = Entry {
            informer: Box::new(shared.clone()),
            start: Some(Box::new(move || tokio::spawn(informer.run()))),
            task: None,
            wait_synced: Box::new(move || {
                let cache = cache.clone();
                Box::pin(async move { cache.wait_until_synced().await })
            }),
            handlers,
        };
        if state.started {
            entry.task = entry.start.take().map(|start| start());
        }
        state.entries.insert(key, entry);
        shared
    }

    /// Starts every informer created so far; later ones start when created.
    pub fn start(&self) {
        let mut state = self.state.lock();
        state.started = true;
        for entry in state.entries.values_mut() {
            if let Some(start) = entry.start.take() {
                entry.task = Some(start());
            }
        }
    }

    /// Waits until every informer created so far has synced its cache.
    pub async fn wait_for_cache_sync(&self) {
        let waits: Vec<SyncFuture> = self
            .state
            .lock()
            .entries
            .values()
            .map(|e| (e.wait_synced)())
            .collect();
        futures::future::join_all(waits).await;
    }

    /// Stops every informer and handler, and waits until their tasks have ended (so that
    /// nothing they held, such as the client, outlives this call).
    pub async fn stop(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut state = self.state.lock();
            let mut tasks = Vec::new();
            for entry in state.entries.values_mut() {
                tasks.extend(entry.task.take());
                tasks.extend(entry.handlers.lock().drain(..));
            }
            tasks
        };
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Stops every informer and handler now (dropping the last clone does the same).
    pub fn shutdown(&self) {
        let mut state = self.state.lock();
        for entry in state.entries.values_mut() {
            if let Some(task) = entry.task.take() {
                task.abort();
            }
            for handler in entry.handlers.lock().drain(..) {
                handler.abort();
            }
        }
    }
}
