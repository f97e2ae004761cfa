//! [`Controller`]: the typed controller builder, in the shape kube-rs users know:
//! `Controller::new(api).owns::<Child>().watches::<Other>(map).run(reconcile, error_policy, ctx)`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt as _;
use kube_api::client::Api;
use kube_api::informer::{Cache, SharedInformer, SharedInformerFactory};
use kube_core::{Action, ApiResource, BoxError, ObjectKey, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::metrics::Metrics;
use super::queue::WorkQueue;
use super::rate_limiter::RateLimiterConfig;
use super::runnable::{RunContext, Runnable};
use super::runner::{self, ErrorAction, Failure, ReconcileFn};
use super::source::Event;
use super::trigger::{self, KeysFn, TriggerFn};
use crate::error::Result;
use crate::shutdown::Shutdown;

/// Workers per controller unless configured: Kubernetes' controller manager runs 5 for
/// most of its controllers. Bounded, unlike an unlimited default, so that a burst of
/// changes cannot open thousands of requests at once.
pub const DEFAULT_WORKERS: usize = 5;

/// The settings of one controller.
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerConfig {
    /// Keys reconciled at once (different keys; one key never runs twice at once).
    pub workers: usize,
    /// How failed keys are retried.
    pub rate_limiter: RateLimiterConfig,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            workers: DEFAULT_WORKERS,
            rate_limiter: RateLimiterConfig::default(),
        }
    }
}

impl ControllerConfig {
    /// These settings with `workers` workers.
    #[must_use]
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }
}

/// A controller of kind `K`: informers for `K` and what it watches, a work queue, and
/// workers that call a reconcile function. See the [crate docs](crate) for an example.
///
/// Every informer comes from one [`SharedInformerFactory`]: give several controllers the
/// same factory ([`Controller::for_factory`]) and they share one list+watch and one cache
/// per kind.
pub struct Controller<K> {
    factory: SharedInformerFactory,
    owns_factory: bool,
    cache: Cache<K>,
    primary: ApiResource,
    triggers: Vec<TriggerFn>,
    name: String,
    config: ControllerConfig,
    metrics: Metrics,
    shutdown: Shutdown,
}

impl<K> Clone for Controller<K> {
    fn clone(&self) -> Self {
        Self {
            factory: self.factory.clone(),
            owns_factory: self.owns_factory,
            cache: self.cache.clone(),
            primary: self.primary.clone(),
            triggers: self.triggers.clone(),
            name: self.name.clone(),
            config: self.config.clone(),
            metrics: self.metrics.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

impl<K> fmt::Debug for Controller<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.name)
            .field("triggers", &self.triggers.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<K> Controller<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
{
    /// A controller with its own informers, for the objects `api` reaches (one namespace
    /// or all). Its informers start and stop with [`Controller::run`].
    #[allow(clippy::needless_pass_by_value)] // kube-rs's signature: `Controller::new(api, ..)`
    pub fn new(api: Api<K>) -> Self {
        Self::new_with(&api, &K::DynamicType::default())
    }

    /// A controller on a shared factory, whose owner starts and stops it.
    pub fn for_factory(factory: &SharedInformerFactory) -> Self {
        Self::for_factory_with(factory, &K::DynamicType::default())
    }
}

impl<K> Controller<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// [`Controller::new`] for a kind known at run time.
    pub fn new_with(api: &Api<K>, dt: &K::DynamicType) -> Self {
        let mut factory = SharedInformerFactory::new(api.client().clone());
        if let Some(ns) = api.namespace() {
            factory = factory.namespaced(ns);
        }
        let mut c = Self::for_factory_with(&factory, dt);
        c.owns_factory = true;
        c
    }

    /// [`Controller::for_factory`] for a kind known at run time.
    pub fn for_factory_with(factory: &SharedInformerFactory, dt: &K::DynamicType) -> Self {
        let informer = factory.informer_with::<K>(dt);
        let primary = K::api_resource(dt).into_owned();
        let name = primary.singular();
        let primary_trigger: TriggerFn = {
            let informer = informer.clone();
            let map: KeysFn<K> = Arc::new(|o: &K| trigger::own_key(o.meta()));
            Arc::new(move |queue| trigger::spawn(events(&informer), map.clone(), queue))
        };
        Self {
            factory: factory.clone(),
            owns_factory: false,
            cache: informer.cache(),
            primary,
            triggers: vec![primary_trigger],
            name,
            config: ControllerConfig::default(),
            metrics: Metrics::new(),
            shutdown: Shutdown::never(),
        }
    }

    /// The name in logs and metrics (the kind's singular name by default).
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// Workers and retry settings.
    #[must_use]
    pub fn config(mut self, config: ControllerConfig) -> Self {
        self.config = config;
        self
    }

    /// Counts into this registry (a private one by default).
    #[must_use]
    pub fn metrics(mut self, metrics: &Metrics) -> Self {
        self.metrics = metrics.clone();
        self
    }

    /// Stops when this fires: no new reconciles start, those in flight finish, and `run`
    /// returns.
    #[must_use]
    pub fn graceful_shutdown_on(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Reconciles the owner of each object of kind `C` whose controller reference points
    /// to a `K`.
    #[must_use]
    pub fn owns<C>(self) -> Self
    where
        C: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
        C::DynamicType: Default,
    {
        self.owns_with::<C>(&C::DynamicType::default())
    }

    /// [`Controller::owns`] for a kind known at run time.
    #[must_use]
    pub fn owns_with<C>(self, dt: &C::DynamicType) -> Self
    where
        C: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let owner = self.primary.clone();
        let informer = self.factory.informer_with::<C>(dt);
        let map: KeysFn<C> = Arc::new(move |o: &C| trigger::owner_key(o.meta(), &owner));
        self.trigger(informer, map)
    }

    /// Reconciles the keys `mapper` returns for each changed object of kind `O` (for an
    /// update, for its old and its new state).
    #[must_use]
    pub fn watches<O, F>(self, mapper: F) -> Self
    where
        O: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
        O::DynamicType: Default,
        F: Fn(&O) -> Vec<ObjectKey> + Send + Sync + 'static,
    {
        self.watches_with::<O, F>(&O::DynamicType::default(), mapper)
    }

    /// [`Controller::watches`] for a kind known at run time.
    #[must_use]
    pub fn watches_with<O, F>(self, dt: &O::DynamicType, mapper: F) -> Self
    where
        O: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
        F: Fn(&O) -> Vec<ObjectKey> + Send + Sync + 'static,
    {
        let informer = self.factory.informer_with::<O>(dt);
        self.trigger(informer, Arc::new(mapper))
    }

    fn trigger<T>(mut self, informer: SharedInformer<T>, map: KeysFn<T>) -> Self
    where
        T: Resource + Send + Sync + 'static,
    {
        self.triggers.push(Arc::new(move |queue| {
            trigger::spawn(events(&informer), map.clone(), queue)
        }));
        self
    }

    /// The cache of `K` the controller reads.
    pub fn cache(&self) -> Cache<K> {
        self.cache.clone()
    }

    /// The factory the controller's informers come from.
    pub fn factory(&self) -> &SharedInformerFactory {
        &self.factory
    }

    /// Runs until the shutdown signal fires: `reconcile` gets each changed object that
    /// still exists (use a [finalizer](mod@super::finalizer) to act on deletion); when it
    /// fails, `error_policy` says what happens next ([`Action`] as in kube-rs, or an
    /// [`ErrorAction`] such as [`ErrorAction::Backoff`]).
    pub async fn run<R, Fut, E, P, A, Ctx>(self, reconcile: R, error_policy: P, ctx: Arc<Ctx>)
    where
        R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
        P: Fn(Arc<K>, &E, Arc<Ctx>) -> A + Send + Sync + 'static,
        A: Into<ErrorAction>,
        Ctx: Send + Sync + 'static,
    {
        let f = object_reconciler(self.cache.clone(), reconcile, error_policy, ctx);
        self.run_inner(f).await;
    }

    /// Runs until the shutdown signal fires, reconciling by key: `reconcile` also runs for
    /// objects that are gone (it finds them missing in the cache), as
    /// [`kube_core::Controller`] does. Errors retry with per-key backoff.
    pub async fn run_keyed<R, Fut, E, Ctx>(self, reconcile: R, ctx: Arc<Ctx>)
    where
        R: Fn(ObjectKey, Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: Into<BoxError> + Send + 'static,
        Ctx: Send + Sync + 'static,
    {
        self.run_inner(key_reconciler(reconcile, ctx)).await;
    }

    /// This controller with its reconcile function, as something a manager runs; the
    /// manager's shutdown and metrics replace the controller's own.
    pub fn into_runnable<R, Fut, E, P, A, Ctx>(
        self,
        reconcile: R,
        error_policy: P,
        ctx: Arc<Ctx>,
    ) -> impl Runnable
    where
        R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
        P: Fn(Arc<K>, &E, Arc<Ctx>) -> A + Send + Sync + 'static,
        A: Into<ErrorAction>,
        Ctx: Send + Sync + 'static,
    {
        let f = object_reconciler(self.cache.clone(), reconcile, error_policy, ctx);
        TypedRunnable {
            controller: self,
            reconcile: f,
        }
    }

    pub(crate) async fn run_inner(self, reconcile: ReconcileFn) {
        let metrics = self.metrics.controller(&self.name);
        let queue = WorkQueue::with_metrics(self.config.rate_limiter.clone(), metrics.clone());
        if self.owns_factory {
            self.factory.start();
        }
        let synced = tokio::select! {
            () = self.factory.wait_for_cache_sync() => true,
            () = self.shutdown.triggered() => false,
        };
        if synced {
            tracing::debug!(controller = %self.name, "caches synced, starting workers");
            let triggers = self.triggers.iter().map(|t| t(queue.clone())).collect();
            runner::run(
                Arc::from(self.name.as_str()),
                queue,
                triggers,
                self.config.workers,
                reconcile,
                metrics,
                self.shutdown.clone(),
            )
            .await;
        }
        if self.owns_factory {
            self.factory.stop().await;
        }
    }
}

fn events<T: Resource + Send + Sync + 'static>(
    informer: &SharedInformer<T>,
) -> futures::stream::BoxStream<'static, Event<T>> {
    informer.subscribe().map(Event::from).boxed()
}

fn object_reconciler<K, R, Fut, E, P, A, Ctx>(
    cache: Cache<K>,
    reconcile: R,
    error_policy: P,
    ctx: Arc<Ctx>,
) -> ReconcileFn
where
    K: Resource + Send + Sync + 'static,
    R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
    P: Fn(Arc<K>, &E, Arc<Ctx>) -> A + Send + Sync + 'static,
    A: Into<ErrorAction>,
    Ctx: Send + Sync + 'static,
{
    let reconcile = Arc::new(reconcile);
    let error_policy = Arc::new(error_policy);
    Arc::new(move |key: ObjectKey| {
        let obj = cache.get(&key);
        let (reconcile, error_policy, ctx) = (reconcile.clone(), error_policy.clone(), ctx.clone());
        Box::pin(async move {
            let Some(obj) = obj else {
                return Ok(Action::Done);
            };
            match reconcile(obj.clone(), ctx.clone()).await {
                Ok(action) => Ok(action),
                Err(error) => {
                    let then = error_policy(obj, &error, ctx).into();
                    Err(Failure {
                        error: Box::new(error),
                        then,
                    })
                }
            }
        })
    })
}

fn key_reconciler<R, Fut, E, Ctx>(reconcile: R, ctx: Arc<Ctx>) -> ReconcileFn
where
    R: Fn(ObjectKey, Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: Into<BoxError> + Send + 'static,
    Ctx: Send + Sync + 'static,
{
    let reconcile = Arc::new(reconcile);
    Arc::new(move |key: ObjectKey| {
        let fut = reconcile(key, ctx.clone());
        Box::pin(async move {
            fut.await.map_err(|e| Failure {
                error: e.into(),
                then: ErrorAction::Backoff,
            })
        })
    })
}

/// A typed controller with its reconcile function, run by a manager.
struct TypedRunnable<K> {
    controller: Controller<K>,
    reconcile: ReconcileFn,
}

#[async_trait]
impl<K> Runnable for TypedRunnable<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.controller.name
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let mut controller = self.controller.clone();
        controller.shutdown = ctx.shutdown;
        controller.metrics = ctx.metrics;
        controller.run_inner(self.reconcile.clone()).await;
        Ok(())
    }
}
