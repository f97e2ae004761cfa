//! [`Informer`]: list, then watch, into a cache; resume, relist on 410, back off on errors.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::channel::mpsc;
use kube_core::{Error, Resource, ResourceExt as _, WatchEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::cache::{Cache, CacheWriter, Change};
use super::event::{EventHandler, InformerEvent};
use crate::client::{Api, ListParams, RetryPolicy, WatchParams};

/// Settings of an [`Informer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InformerConfig {
    /// Only objects whose labels match.
    pub label_selector: Option<String>,
    /// Only objects whose fields match.
    pub field_selector: Option<String>,
    /// Objects per page of the initial list and relists; 0 lists in one request.
    pub page_size: u32,
    /// How long the server keeps one watch open before the informer opens the next.
    pub watch_timeout_seconds: u32,
    /// The delays between attempts after a failure (`max_retries` is not used: an informer
    /// never gives up).
    pub backoff: RetryPolicy,
}

impl Default for InformerConfig {
    fn default() -> Self {
        Self {
            label_selector: None,
            field_selector: None,
            page_size: 500,
            watch_timeout_seconds: 290,
            backoff: RetryPolicy {
                max_retries: u32::MAX,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(30),
            },
        }
    }
}

/// Keeps a cache of the objects of one kind in step with the API server: lists them, then
/// watches from the list's resourceVersion; resumes a watch that ended from the last
/// resourceVersion seen (bookmarks included); lists again when that version is gone (410);
/// backs off on errors.
///
/// ```no_run
/// # async fn demo(client: kube_api::client::Client) {
/// use kube_api::client::Api;
/// use kube_api::informer::Informer;
/// use kube_core::ConfigMap;
///
/// let informer = Informer::new(Api::<ConfigMap>::all(client));
/// let cache = informer.cache();
/// let _task = informer.spawn();
/// cache.wait_until_synced().await;
/// println!("{} config maps", cache.len());
/// # }
/// ```
pub struct Informer<K> {
    api: Api<K>,
    config: InformerConfig,
    writer: CacheWriter<K>,
}

impl<K> fmt::Debug for Informer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Informer")
            .field("api", &self.api)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The task running an informer; dropping it stops the informer.
#[derive(Debug)]
pub struct InformerTask(JoinHandle<()>);

impl InformerTask {
    /// Stops the informer now.
    pub fn abort(&self) {
        self.0.abort();
    }
}

impl Drop for InformerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<K> Informer<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// An informer over everything the `Api` reaches, with default settings.
    pub fn new(api: Api<K>) -> Self {
        Self::with_config(api, InformerConfig::default())
    }

    /// An informer with settings.
    pub fn with_config(api: Api<K>, config: InformerConfig) -> Self {
        Self {
            api,
            config,
            writer: CacheWriter::new(),
        }
    }

    /// A reader of the cache.
    pub fn cache(&self) -> Cache<K> {
        self.writer.cache()
    }

    /// Adds an index; see [`Cache::index_by`].
    #[must_use]
    pub fn index_by<F>(self, name: &str, f: F) -> Self
    where
        F: Fn(&K) -> Vec<String> + Send + Sync + 'static,
    {
        self.writer.cache().index_by(name, f);
        self
    }

    /// A stream of the changes to the cache; see [`Cache::subscribe`].
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<InformerEvent<K>> {
        self.writer.cache().subscribe()
    }

    /// Runs the callbacks of `handler` for every change, on a task of their own.
    pub fn add_event_handler(&self, handler: EventHandler<K>) -> JoinHandle<()> {
        handler.spawn(self.subscribe())
    }

    /// Runs the informer on a new task; dropping the returned task stops it.
    pub fn spawn(self) -> InformerTask {
        InformerTask(tokio::spawn(self.run()))
    }

    /// Runs the informer until the task is dropped or aborted.
    pub async fn run(self) {
        let mut resource_version: Option<String> = None;
        // The newest version this informer has seen: a relist asks for a state not older,
        // so that the cache never goes back in time.
        let mut seen: Option<String> = None;
        let mut failures: u32 = 0;
        loop {
            let rv = match resource_version.take() {
                Some(rv) => rv,
                None => match self.list(seen.as_deref()).await {
                    Ok(rv) => {
                        failures = 0;
                        rv
                    }
                    Err(err) => {
                        tracing::warn!(resource = %self.api.resource().plural, error = %err, "list failed");
                        self.back_off(&mut failures).await;
                        continue;
                    }
                },
            };
            seen = Some(rv.clone());
            match self.watch(&rv).await {
                WatchEnd::Resume(last, true) => {
                    failures = 0;
                    resource_version = Some(last);
                }
                WatchEnd::Resume(last, false) => {
                    // Closed without a single event: do not spin on a server that ends
                    // watches at once.
                    resource_version = Some(last);
                    self.back_off(&mut failures).await;
                }
                WatchEnd::Failed(last, err) => {
                    tracing::debug!(resource = %self.api.resource().plural, error = %err, "watch failed");
                    resource_version = Some(last);
                    self.back_off(&mut failures).await;
                }
                WatchEnd::Relist(err, last) => {
                    seen = Some(last);
                    tracing::debug!(resource = %self.api.resource().plural, error = %err, "relisting");
                }
            }
        }
    }

    async fn back_off(&self, failures: &mut u32) {
        let delay = self.config.backoff.delay(*failures, None);
        *failures = failures.saturating_add(1);
        tokio::time::sleep(delay).await;
    }

    fn list_params(&self) -> ListParams {
        ListParams {
            label_selector: self.config.label_selector.clone(),
            field_selector: self.config.field_selector.clone(),
            ..ListParams::default()
        }
    }

    /// Lists everything (page by page), replaces the cache and returns the list's
    /// resourceVersion. As client-go's reflector does, the first list asks for
    /// resourceVersion 0 and a relist for a state not older than `seen`: the API server
    /// answers both from its watch cache, not with a read of every object in the store.
    /// A continue token that expired mid-way restarts the list whole.
    async fn list(&self, seen: Option<&str>) -> Result<String, Error> {
        let mut params = self.list_params();
        params.resource_version = Some(seen.unwrap_or("0").to_owned());
        params.resource_version_match = seen.map(|_| "NotOlderThan".to_owned());
        if self.config.page_size > 0 {
            params.limit = Some(self.config.page_size);
        }
        let mut items = Vec::new();
        let mut list_rv = String::new();
        loop {
            let page = match self.api.list(&params).await {
                Ok(page) => page,
                Err(err) if err.code() == 410 && params.continue_token.is_some() => {
                    // The snapshot the pages were read from was compacted: start over in
                    // one request.
                    items.clear();
                    params = self.list_params();
                    continue;
                }
                Err(err) => return Err(err),
            };
            if params.continue_token.is_none() {
                list_rv = page.metadata.resource_version.clone().unwrap_or_default();
            }
            items.extend(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.next_page(&token),
                _ => break,
            }
        }
        self.writer.replace(items, &list_rv);
        self.writer.mark_synced();
        Ok(list_rv)
    }

    /// Watches from `rv` until the watch ends, applying every event to the cache.
    async fn watch(&self, rv: &str) -> WatchEnd {
        let params = WatchParams {
            label_selector: self.config.label_selector.clone(),
            field_selector: self.config.field_selector.clone(),
            timeout_seconds: Some(self.config.watch_timeout_seconds),
            bookmarks: true,
        };
        let mut last = rv.to_owned();
        let mut stream = match self.api.watch(&params, rv).await {
            Ok(stream) => stream,
            Err(err) if err.code() == 410 => return WatchEnd::Relist(err, last),
            Err(err) => return WatchEnd::Failed(last, err),
        };
        let mut any = false;
        while let Some(event) = stream.next().await {
            any = true;
            match event {
                Ok(WatchEvent::Added(obj) | WatchEvent::Modified(obj)) => {
                    if let Some(v) = obj.resource_version() {
                        v.clone_into(&mut last);
                    }
                    self.writer.apply(Change::Upsert(obj));
                }
                Ok(WatchEvent::Deleted(obj)) => {
                    if let Some(v) = obj.resource_version() {
                        v.clone_into(&mut last);
                    }
                    self.writer.apply(Change::Delete(obj));
                }
                Ok(WatchEvent::Bookmark(bookmark)) => {
                    last = bookmark.metadata.resource_version;
                    self.writer.bookmark(&last);
                }
                Ok(WatchEvent::Error(status)) if status.code == 410 => {
                    return WatchEnd::Relist(Error::from(status), last);
                }
                Ok(WatchEvent::Error(status)) => return WatchEnd::Failed(last, status.into()),
                Err(err) => return WatchEnd::Failed(last, err),
            }
        }
        WatchEnd::Resume(last, any)
    }
}

/// How a watch ended.
enum WatchEnd {
    /// The server closed it: watch again from this resourceVersion. The flag says whether
    /// any event arrived.
    Resume(String, bool),
    /// It failed: back off, then watch again from this resourceVersion.
    Failed(String, Error),
    /// The resourceVersion is gone: list again, a state not older than the version last
    /// seen.
    Relist(Error, String),
}

/// An informer whose cache and subscriptions are shared: what [`SharedInformerFactory`]
/// hands out.
///
/// [`SharedInformerFactory`]: super::SharedInformerFactory
pub struct SharedInformer<K> {
    pub(crate) cache: Cache<K>,
    pub(crate) handlers: Arc<parking_lot::Mutex<Vec<JoinHandle<()>>>>,
}

impl<K> Clone for SharedInformer<K> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            handlers: self.handlers.clone(),
        }
    }
}

impl<K> fmt::Debug for SharedInformer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedInformer")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl<K: Resource + Send + Sync + 'static> SharedInformer<K> {
    /// A reader of the shared cache.
    pub fn cache(&self) -> Cache<K> {
        self.cache.clone()
    }

    /// A stream of the changes, starting with the current objects as added.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<InformerEvent<K>> {
        self.cache.subscribe()
    }

    /// Runs the callbacks of `handler` for every change; the factory stops them with the
    /// informers.
    pub fn add_event_handler(&self, handler: EventHandler<K>) {
        let task = handler.spawn(self.subscribe());
        self.handlers.lock().push(task);
    }

    /// Adds an index; see [`Cache::index_by`].
    pub fn index_by<F>(&self, name: &str, f: F)
    where
        F: Fn(&K) -> Vec<String> + Send + Sync + 'static,
    {
        self.cache.index_by(name, f);
    }

    /// True once the cache holds a complete list.
    pub fn has_synced(&self) -> bool {
        self.cache.has_synced()
    }

    /// Waits until the cache holds a complete list.
    pub async fn wait_until_synced(&self) {
        self.cache.wait_until_synced().await;
    }
}
