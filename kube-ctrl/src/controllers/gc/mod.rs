//! The garbage collector: deletes objects whose owners are gone, and carries out
//! foreground and orphan deletion, from `metadata.ownerReferences`.
//!
//! As Kubernetes' (`pkg/controller/garbagecollector`): informers on every kind the API
//! server can list, watch and delete (events aside; new kinds, such as custom resources,
//! are picked up by rediscovery) feed a graph of owners and dependents, and workers look
//! at the objects a change concerns:
//!
//! - **Background** (the default): once every owner of an object is gone, it is deleted
//!   (with the propagation its own finalizers ask for). An owner counts as gone only when
//!   a live read says so (404, or another uid), never on the word of a cache.
//! - **Foreground**: an owner the API server marked `foregroundDeletion` has its
//!   dependents deleted, themselves in the foreground; once no dependent with
//!   `blockOwnerDeletion` remains, the finalizer is removed and the owner goes.
//! - **Orphan**: an owner marked `orphan` has its reference removed from every dependent,
//!   then the finalizer removed.
//! - An object with some owners gone and some not keeps living, without the references
//!   to the gone ones.

mod graph;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube_api::client::{
    Api, Client, DeleteParams, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube_api::informer::SharedInformerFactory;
use kube_core::{Action, ApiResource, DynamicObject, ObjectKey, OwnerReference, ResourceExt as _};
use parking_lot::{Mutex, RwLock};
use tokio::task::{JoinHandle, JoinSet};

pub use graph::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use graph::{Graph, GraphNode, Identity, Work};

use super::discovery::{self, KindMap};
use crate::error::{Error, Result};
use crate::runtime::{ControllerConfig, KindRegistry, RunContext, Runnable, WorkQueue};
use crate::shutdown::Shutdown;

/// Settings of the garbage collector.
#[derive(Clone, Debug, PartialEq)]
pub struct GarbageCollectorConfig {
    /// Workers (Kubernetes runs 20) and retries.
    pub controller: ControllerConfig,
    /// How often to look for new kinds.
    pub rediscovery_period: Duration,
    /// Resources not collected, as (group, plural).
    pub ignored: Vec<(String, String)>,
}

impl Default for GarbageCollectorConfig {
    fn default() -> Self {
        Self {
            controller: ControllerConfig::default().workers(20),
            rediscovery_period: Duration::from_secs(30),
            ignored: vec![
                (String::new(), "events".to_owned()),
                ("events.k8s.io".to_owned(), "events".to_owned()),
            ],
        }
    }
}

/// The garbage collector; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct GarbageCollector {
    config: GarbageCollectorConfig,
}

impl GarbageCollector {
    /// A garbage collector with these settings.
    pub fn new(config: GarbageCollectorConfig) -> Self {
        Self { config }
    }
}

struct State {
    client: Client,
    graph: Mutex<Graph>,
    /// Shared, so that each event takes a reference to the map rather than a copy of it
    /// (the feeders read it once per event of every watched resource).
    kinds: RwLock<Arc<KindMap>>,
    queue: WorkQueue<ObjectKey>,
}

#[async_trait]
impl Runnable for GarbageCollector {
    fn name(&self) -> &str {
        "garbagecollector"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let Some(found) = discover(&ctx.client, &ctx.shutdown).await else {
            return Ok(());
        };
        let metrics = ctx.metrics.controller(self.name());
        let queue: WorkQueue<ObjectKey> =
            WorkQueue::with_metrics(self.config.controller.rate_limiter.clone(), metrics.clone());
        let state = Arc::new(State {
            client: ctx.client.clone(),
            graph: Mutex::new(Graph::default()),
            kinds: RwLock::new(Arc::new(KindMap::new(&found))),
            queue: queue.clone(),
        });
        let mut feeders = Feeders {
            state: state.clone(),
            factory: ctx.factory.clone(),
            registry: ctx.registry.clone(),
            queue: queue.clone(),
            ignored: self.config.ignored.clone(),
            watched: HashSet::new(),
            tasks: JoinSet::new(),
        };
        let informers = feeders.add(&found);
        let synced = tokio::select! {
            () = async { for i in &informers { i.wait_until_synced().await; } } => true,
            () = ctx.shutdown.triggered() => false,
        };
        if !synced {
            return Ok(());
        }
        tracing::info!(
            objects = state.graph.lock().len(),
            "garbage collector graph synced"
        );
        let period = self.config.rediscovery_period;
        let client = ctx.client.clone();
        let builder: JoinHandle<()> = tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                match discovery::resources(&client).await {
                    Ok(found) => {
                        *feeders.state.kinds.write() = Arc::new(KindMap::new(&found));
                        feeders.add(&found);
                    }
                    Err(e) => tracing::warn!(error = %e, "rediscovery failed"),
                }
            }
        });
        let reconcile_state = state.clone();
        let reconcile: crate::runtime::runner::ReconcileFn = Arc::new(move |key: ObjectKey| {
            let state = reconcile_state.clone();
            Box::pin(async move {
                state
                    .process(&key.name)
                    .await
                    .map_err(|e| crate::runtime::runner::Failure {
                        error: Box::new(e),
                        then: crate::ErrorAction::Backoff,
                    })
            })
        });
        crate::runtime::runner::run(
            Arc::from(self.name()),
            queue,
            vec![builder],
            self.config.controller.workers,
            reconcile,
            metrics,
            ctx.shutdown.clone(),
        )
        .await;
        Ok(())
    }
}

/// Discovers until it works or shutdown fires.
async fn discover(client: &Client, shutdown: &Shutdown) -> Option<Vec<discovery::Discovered>> {
    loop {
        match discovery::resources(client).await {
            Ok(found) => return Some(found),
            Err(e) => tracing::warn!(error = %e, "discovery failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.triggered() => return None,
        }
    }
}

/// The tasks feeding the graph from every watched kind.
struct Feeders {
    state: Arc<State>,
    factory: SharedInformerFactory,
    registry: KindRegistry,
    queue: WorkQueue<ObjectKey>,
    ignored: Vec<(String, String)>,
    watched: HashSet<(String, String, String)>,
    tasks: JoinSet<()>,
}

impl Feeders {
    /// Starts feeding the graph from the kinds not watched yet; returns their informers.
    fn add(&mut self, found: &[discovery::Discovered]) -> Vec<crate::runtime::AnyInformer> {
        use futures::StreamExt as _;
        let mut added = Vec::new();
        for d in found {
            let ar = &d.resource;
            let ignored = self
                .ignored
                .iter()
                .any(|(g, p)| *g == ar.group && *p == ar.plural);
            if ignored || !d.supports(&["list", "watch", "delete"]) {
                continue;
            }
            let key = (
                ar.group.to_string(),
                ar.version.to_string(),
                ar.plural.to_string(),
            );
            if !self.watched.insert(key) {
                continue;
            }
            let informer = self.registry.informer(&self.factory, ar);
            let mut events = informer.subscribe();
            let (state, queue, ar) = (self.state.clone(), self.queue.clone(), ar.clone());
            self.tasks.spawn(async move {
                while let Some(event) = events.next().await {
                    let work = {
                        let kinds = Arc::clone(&state.kinds.read());
                        let resolve = |v: &str, k: &str| kinds.resolve(v, k);
                        let mut graph = state.graph.lock();
                        match &event {
                            crate::runtime::source::Event::Added(o)
                            | crate::runtime::source::Event::Updated(_, o) => {
                                graph.upsert(&ar, o.object_meta(), &resolve)
                            }
                            crate::runtime::source::Event::Deleted(o) => o
                                .object_meta()
                                .uid
                                .as_deref()
                                .map(|uid| graph.remove(uid))
                                .unwrap_or_default(),
                        }
                    };
                    enqueue(&queue, work);
                }
            });
            added.push(informer);
        }
        added
    }
}

fn enqueue(queue: &WorkQueue<ObjectKey>, work: Work) {
    for uid in work.uids {
        // The queue is keyed by uid.
        queue.add(ObjectKey::cluster(uid));
    }
}

/// How an object stands towards one of its owners.
enum OwnerState {
    /// Exists and is not deleting its dependents.
    Solid,
    /// Gone (or never existed).
    Dangling,
    /// Exists and is deleting its dependents first.
    Waiting,
}

fn api_for(client: &Client, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace.filter(|_| ar.namespaced) {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

impl State {
    fn resource(&self, identity: &Identity) -> Option<ApiResource> {
        identity.resource.clone().or_else(|| {
            self.kinds
                .read()
                .resolve(&identity.api_version, &identity.kind)
        })
    }

    async fn process(&self, uid: &str) -> Result<Action> {
        let node = self.graph.lock().get(uid).cloned();
        let Some(node) = node else {
            return Ok(Action::Done);
        };
        let span =
            tracing::debug_span!("gc", kind = %node.identity.kind, name = %node.identity.name);
        tracing::Instrument::instrument(self.act(&node), span).await?;
        Ok(Action::Done)
    }

    async fn act(&self, node: &GraphNode) -> Result<()> {
        let node = node.clone();
        if node.virtual_ {
            self.verify_virtual(&node).await?;
        } else if node.deleting_dependents() {
            self.delete_dependents_first(&node).await?;
        } else if node.orphaning() {
            self.orphan_dependents(&node).await?;
        } else if !node.owners.is_empty() && !node.deleting {
            self.attempt_to_delete(&node).await?;
        }
        Ok(())
    }

    /// The live object, if it is still the one the graph knows.
    async fn live(
        &self,
        identity: &Identity,
    ) -> Result<Option<(Api<DynamicObject>, DynamicObject)>> {
        let Some(ar) = self.resource(identity) else {
            return Ok(None);
        };
        let api = api_for(&self.client, &ar, identity.namespace.as_deref());
        match api.get_opt(&identity.name).await? {
            Some(obj) if obj.uid() == Some(identity.uid.as_str()) => Ok(Some((api, obj))),
            _ => Ok(None),
        }
    }

    /// A node known only as an owner: if it does not exist, its dependents are orphans.
    async fn verify_virtual(&self, node: &GraphNode) -> Result<()> {
        if self.resource(&node.identity).is_none() {
            tracing::debug!(kind = %node.identity.kind, "owner of an unknown kind; left alone");
            return Ok(());
        }
        if self.live(&node.identity).await?.is_some() {
            return Ok(());
        }
        let dependents = self.graph.lock().forget_virtual(&node.identity.uid);
        enqueue(
            &self.queue,
            Work {
                uids: dependents.into_iter().collect(),
            },
        );
        Ok(())
    }

    async fn owner_state(
        &self,
        dependent: &DynamicObject,
        r: &OwnerReference,
    ) -> Result<OwnerState> {
        let known = self.graph.lock().get(&r.uid).cloned();
        if let Some(owner) = known.filter(|n| !n.virtual_) {
            return Ok(if owner.deleting_dependents() {
                OwnerState::Waiting
            } else {
                OwnerState::Solid
            });
        }
        let Some(ar) = self.kinds.read().resolve(&r.api_version, &r.kind) else {
            // An owner of a kind this server does not serve: never collect on its account.
            return Ok(OwnerState::Solid);
        };
        if ar.namespaced && dependent.namespace().is_none() {
            // A cluster-scoped object cannot have a namespaced owner.
            return Ok(OwnerState::Dangling);
        }
        let api = api_for(&self.client, &ar, dependent.namespace());
        Ok(match api.get_opt(&r.name).await? {
            Some(owner) if owner.uid() == Some(r.uid.as_str()) => {
                let waiting = owner.is_being_deleted()
                    && owner
                        .metadata
                        .finalizers
                        .iter()
                        .any(|f| f == FOREGROUND_FINALIZER);
                if waiting {
                    OwnerState::Waiting
                } else {
                    OwnerState::Solid
                }
            }
            _ => OwnerState::Dangling,
        })
    }

    /// Kubernetes' `attemptToDeleteItem`.
    async fn attempt_to_delete(&self, node: &GraphNode) -> Result<()> {
        let Some((api, latest)) = self.live(&node.identity).await? else {
            return Ok(());
        };
        let foreground = latest
            .metadata
            .finalizers
            .iter()
            .any(|f| f == FOREGROUND_FINALIZER);
        if latest.is_being_deleted() && !foreground {
            return Ok(());
        }
        let mut solid = Vec::new();
        let mut dangling = Vec::new();
        let mut waiting = Vec::new();
        for r in &latest.metadata.owner_references {
            match self.owner_state(&latest, r).await? {
                OwnerState::Solid => solid.push(r.clone()),
                OwnerState::Dangling => dangling.push(r.clone()),
                OwnerState::Waiting => waiting.push(r.clone()),
            }
        }
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                return Ok(());
            }
            // Some owners remain: drop only the references to the others.
            let gone: HashSet<&str> = dangling
                .iter()
                .chain(&waiting)
                .map(|r| r.uid.as_str())
                .collect();
            let keep: Vec<&OwnerReference> = latest
                .metadata
                .owner_references
                .iter()
                .filter(|r| !gone.contains(r.uid.as_str()))
                .collect();
            tracing::info!(object = %latest.name_any(), removed = gone.len(), "removing references to owners that are gone");
            let patch = serde_json::json!({"metadata": {
                "ownerReferences": keep,
                "resourceVersion": latest.resource_version(),
            }});
            return ignore_not_found(
                api.patch(
                    latest.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map(drop),
            );
        }
        let policy = if !waiting.is_empty() && !node.dependents.is_empty() {
            // An owner waits for its dependents: this one goes in the foreground too, its
            // own dependents first. A dependent already deleting its dependents would
            // make a cycle: unblock this object's owners instead of waiting forever.
            let cycle = self
                .graph
                .lock()
                .dependents(&node.identity.uid)
                .iter()
                .any(GraphNode::deleting_dependents);
            if cycle {
                let unblocked: Vec<OwnerReference> = latest
                    .metadata
                    .owner_references
                    .iter()
                    .map(|r| OwnerReference {
                        block_owner_deletion: Some(false),
                        ..r.clone()
                    })
                    .collect();
                let patch = serde_json::json!({"metadata": {
                    "ownerReferences": unblocked,
                    "resourceVersion": latest.resource_version(),
                }});
                ignore_not_found(
                    api.patch(
                        latest.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map(drop),
                )?;
            }
            PropagationPolicy::Foreground
        } else if latest
            .metadata
            .finalizers
            .iter()
            .any(|f| f == ORPHAN_FINALIZER)
        {
            PropagationPolicy::Orphan
        } else if foreground {
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        tracing::info!(object = %latest.name_any(), kind = %node.identity.kind, ?policy, "deleting an object whose owners are gone");
        let params = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: latest.uid().map(str::to_owned),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        ignore_not_found(api.delete(latest.name_any(), &params).await.map(drop))
    }

    /// Foreground deletion of an owner: its blocking dependents go first, then the
    /// finalizer.
    async fn delete_dependents_first(&self, owner: &GraphNode) -> Result<()> {
        let blocking = self.graph.lock().blocking_dependents(&owner.identity.uid);
        if blocking.is_empty() {
            return self.remove_finalizer(owner, FOREGROUND_FINALIZER).await;
        }
        for dep in blocking {
            if !dep.deleting_dependents() && !dep.virtual_ {
                self.attempt_to_delete(&dep).await?;
            }
        }
        Ok(())
    }

    /// Orphan deletion of an owner: every dependent loses its reference, then the
    /// finalizer goes.
    async fn orphan_dependents(&self, owner: &GraphNode) -> Result<()> {
        let dependents = self.graph.lock().dependents(&owner.identity.uid);
        for dep in dependents {
            let Some((api, latest)) = self.live(&dep.identity).await? else {
                continue;
            };
            let keep: Vec<&OwnerReference> = latest
                .metadata
                .owner_references
                .iter()
                .filter(|r| r.uid != owner.identity.uid)
                .collect();
            if keep.len() == latest.metadata.owner_references.len() {
                continue;
            }
            let patch = serde_json::json!({"metadata": {
                "ownerReferences": keep,
                "resourceVersion": latest.resource_version(),
            }});
            ignore_not_found(
                api.patch(
                    latest.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map(drop),
            )?;
        }
        self.remove_finalizer(owner, ORPHAN_FINALIZER).await
    }

    async fn remove_finalizer(&self, node: &GraphNode, finalizer: &str) -> Result<()> {
        let Some((api, latest)) = self.live(&node.identity).await? else {
            return Ok(());
        };
        if !latest.metadata.finalizers.iter().any(|f| f == finalizer) {
            return Ok(());
        }
        let keep: Vec<&String> = latest
            .metadata
            .finalizers
            .iter()
            .filter(|f| *f != finalizer)
            .collect();
        tracing::info!(object = %latest.name_any(), finalizer, "removing the finalizer");
        let patch = serde_json::json!({"metadata": {
            "finalizers": keep,
            "resourceVersion": latest.resource_version(),
        }});
        ignore_not_found(
            api.patch(
                latest.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map(drop),
        )
    }
}

fn ignore_not_found(r: std::result::Result<(), kube_core::Error>) -> Result<()> {
    match r {
        Err(e) if e.code() == 404 => Ok(()),
        Err(e) => Err(Error::Api(e)),
        Ok(()) => Ok(()),
    }
}
