//! [`DynController`]: runs a [`kube_core::Controller`] (key-based, kinds named by
//! [`ApiResource`](kube_core::ApiResource)) on a manager's shared informers.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use kube_core::{ObjectKey, Watch};

use super::controller::ControllerConfig;
use super::queue::WorkQueue;
use super::runnable::{RunContext, Runnable};
use super::runner::{self, ErrorAction, Failure, ReconcileFn};
use super::source::AnyObject;
use super::trigger::{self, KeysFn};
use crate::error::Result;

/// A [`kube_core::Controller`] made [`Runnable`]: its primary kind and every watched kind
/// come from the manager's factory through the [`KindRegistry`](super::KindRegistry), so
/// they share informers with every other controller of the manager.
pub struct DynController {
    controller: Arc<dyn kube_core::Controller>,
    config: ControllerConfig,
}

impl fmt::Debug for DynController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynController")
            .field("name", &self.controller.name())
            .field("config", &self.config)
            .finish()
    }
}

impl DynController {
    /// Wraps a controller, with the default settings.
    pub fn new(controller: impl kube_core::Controller) -> Self {
        Self::from_arc(Arc::new(controller))
    }

    /// Wraps a shared controller.
    pub fn from_arc(controller: Arc<dyn kube_core::Controller>) -> Self {
        Self {
            controller,
            config: ControllerConfig::default(),
        }
    }

    /// Workers and retry settings.
    #[must_use]
    pub fn config(mut self, config: ControllerConfig) -> Self {
        self.config = config;
        self
    }
}

#[async_trait]
impl Runnable for DynController {
    fn name(&self) -> &str {
        self.controller.name()
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let name: Arc<str> = Arc::from(self.controller.name());
        let primary = self.controller.primary();
        let mut sources: Vec<(super::source::AnyInformer, KeysFn<dyn AnyObject>)> = Vec::new();
        sources.push((
            ctx.registry.informer(&ctx.factory, &primary),
            Arc::new(|o: &dyn AnyObject| trigger::own_key(o.object_meta())),
        ));
        for watch in self.controller.watches() {
            match watch {
                Watch::Owned(ar) => {
                    let owner = primary.clone();
                    sources.push((
                        ctx.registry.informer(&ctx.factory, &ar),
                        Arc::new(move |o: &dyn AnyObject| {
                            trigger::owner_key(o.object_meta(), &owner)
                        }),
                    ));
                }
                Watch::Mapped(ar, map) => {
                    let map_name = name.clone();
                    sources.push((
                        ctx.registry.informer(&ctx.factory, &ar),
                        Arc::new(move |o: &dyn AnyObject| match o.to_dynamic() {
                            Ok(d) => map(&d),
                            Err(e) => {
                                tracing::warn!(controller = %map_name, error = %e, "cannot map a watched object");
                                Vec::new()
                            }
                        }),
                    ));
                }
            }
        }
        let synced = tokio::select! {
            () = ctx.factory.wait_for_cache_sync() => true,
            () = ctx.shutdown.triggered() => false,
        };
        if !synced {
            return Ok(());
        }
        let metrics = ctx.metrics.controller(&name);
        let queue: WorkQueue<ObjectKey> =
            WorkQueue::with_metrics(self.config.rate_limiter.clone(), metrics.clone());
        let triggers = sources
            .into_iter()
            .map(|(informer, map)| trigger::spawn(informer.subscribe(), map, queue.clone()))
            .collect();
        let controller = self.controller.clone();
        let reconcile: ReconcileFn = Arc::new(move |key: ObjectKey| {
            let controller = controller.clone();
            Box::pin(async move {
                controller.reconcile(&key).await.map_err(|error| Failure {
                    error,
                    then: ErrorAction::Backoff,
                })
            })
        });
        runner::run(
            name,
            queue,
            triggers,
            self.config.workers,
            reconcile,
            metrics,
            ctx.shutdown,
        )
        .await;
        Ok(())
    }
}
