//! The controller runtime against an API server in process: triggers from primary, owned
//! and mapped objects, shared informers, retries, finalizers, events, metrics and
//! graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::{Cluster, eventually, meta};
use kube_api::client::{Api, DeleteParams, PostParams};
use kube_api::informer::SharedInformerFactory;
use kube_core::{
    Action, ApiResource, BoxError, ConfigMap, EventType, ObjectKey, ResourceExt as _, Secret,
    StaticResource, Watch,
};
use kube_ctrl::runtime::{ControllerConfig, FinalizerEvent, RateLimiterConfig, finalizer};
use kube_ctrl::{
    Controller, ControllerManager, DynController, ErrorAction, EventRecorder, Metrics, Shutdown,
};
use parking_lot::Mutex;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

fn cm(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(name),
        ..ConfigMap::default()
    }
}

fn secret_owned_by(name: &str, owner: &ConfigMap) -> Secret {
    Secret {
        metadata: kube_core::ObjectMeta {
            name: Some(name.to_owned()),
            owner_references: vec![owner.controller_owner_ref(&()).unwrap()],
            ..kube_core::ObjectMeta::default()
        },
        ..Secret::default()
    }
}

/// Records which keys were reconciled, in order.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Seen {
    fn push(&self, k: &impl ToString) {
        self.0.lock().push(k.to_string());
    }
    fn count(&self, k: &str) -> usize {
        self.0.lock().iter().filter(|x| *x == k).count()
    }
}

#[tokio::test]
async fn owned_and_watched_changes_reconcile_the_owner() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), "default");
    let owner = cms
        .create(&PostParams::default(), &cm("app"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("other"))
        .await
        .unwrap();

    let seen = Arc::new(Seen::default());
    let (stop, shutdown) = Shutdown::new();
    let controller = Controller::new(cms.clone())
        .owns::<Secret>()
        // A secret labelled `for=<name>` concerns that config map.
        .watches::<Secret, _>(|s: &Secret| {
            s.metadata
                .labels
                .get("for")
                .map(|n| ObjectKey::namespaced(s.namespace().unwrap_or_default(), n))
                .into_iter()
                .collect()
        })
        .graceful_shutdown_on(shutdown);
    let task = tokio::spawn(controller.run(
        |cm: Arc<ConfigMap>, seen: Arc<Seen>| async move {
            seen.push(&cm.name_any());
            Ok::<_, Failed>(Action::Done)
        },
        |_, _: &Failed, _| Action::Done,
        seen.clone(),
    ));
    eventually("the initial reconciles", || async {
        (seen.count("app") >= 1 && seen.count("other") >= 1).then_some(())
    })
    .await;
    let before = seen.count("app");
    secrets
        .create(&PostParams::default(), &secret_owned_by("s1", &owner))
        .await
        .unwrap();
    eventually("the owner's reconcile", || async {
        (seen.count("app") > before).then_some(())
    })
    .await;
    let before = seen.count("other");
    let mut mapped = Secret {
        metadata: meta("s2"),
        ..Secret::default()
    };
    mapped.metadata.labels.insert("for".into(), "other".into());
    secrets
        .create(&PostParams::default(), &mapped)
        .await
        .unwrap();
    eventually("the mapped reconcile", || async {
        (seen.count("other") > before).then_some(())
    })
    .await;
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn controllers_on_one_factory_share_one_list_and_watch_per_kind() {
    let cluster = Cluster::start().await;
    let factory = SharedInformerFactory::new(cluster.client.clone());
    let (stop, shutdown) = Shutdown::new();
    let seen = Arc::new(Seen::default());
    let mut tasks = Vec::new();
    for name in ["one", "two", "three"] {
        let c = Controller::<ConfigMap>::for_factory(&factory)
            .name(name)
            .owns::<Secret>()
            .graceful_shutdown_on(shutdown.clone());
        let seen = seen.clone();
        tasks.push(tokio::spawn(c.run(
            move |cm: Arc<ConfigMap>, seen: Arc<Seen>| async move {
                seen.push(&format!("{name}/{}", cm.name_any()));
                Ok::<_, Failed>(Action::Done)
            },
            |_, _: &Failed, _| Action::Done,
            seen,
        )));
    }
    factory.start();
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    cms.create(&PostParams::default(), &cm("shared"))
        .await
        .unwrap();
    eventually("every controller reconciles", || async {
        ["one", "two", "three"]
            .iter()
            .all(|n| seen.count(&format!("{n}/shared")) > 0)
            .then_some(())
    })
    .await;
    // One list and one watch per kind, whatever the number of controllers.
    assert_eq!(cluster.count("GET /api/v1/configmaps?limit="), 1);
    assert_eq!(cluster.count("GET /api/v1/secrets?limit="), 1);
    assert_eq!(cluster.count("GET /api/v1/configmaps?watch=true"), 1);
    assert_eq!(cluster.count("GET /api/v1/secrets?watch=true"), 1);
    stop.trigger();
    for t in tasks {
        t.await.unwrap();
    }
    factory.stop().await;
}

/// A `kube_core::Controller`: fails twice for each key, then succeeds.
struct Flaky {
    attempts: Mutex<BTreeMap<ObjectKey, u32>>,
    done: Seen,
}

#[async_trait]
impl kube_core::Controller for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn primary(&self) -> ApiResource {
        ConfigMap::API_RESOURCE
    }
    fn watches(&self) -> Vec<Watch> {
        vec![
            Watch::Owned(Secret::API_RESOURCE),
            Watch::Mapped(
                ApiResource::new("", "v1", "Namespace", "namespaces", false),
                Arc::new(|ns| {
                    // A namespace labelled `poke` reconciles `default/poked`.
                    if ns.metadata.labels.contains_key("poke") {
                        vec![ObjectKey::namespaced("default", "poked")]
                    } else {
                        Vec::new()
                    }
                }),
            ),
        ]
    }
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, BoxError> {
        let n = {
            let mut attempts = self.attempts.lock();
            let n = attempts.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        if n <= 2 {
            return Err(format!("attempt {n} of {key} fails").into());
        }
        self.done.push(key);
        Ok(Action::Done)
    }
}

#[tokio::test]
async fn trait_controllers_retry_with_backoff_and_count_in_metrics() {
    let cluster = Cluster::start().await;
    let flaky = Arc::new(Flaky {
        attempts: Mutex::default(),
        done: Seen::default(),
    });
    let manager = ControllerManager::builder(cluster.client.clone())
        .with(DynController::from_arc(flaky.clone()))
        .build()
        .unwrap();
    let (stop, shutdown) = Shutdown::new();
    let metrics = manager.metrics().clone();
    let run = tokio::spawn(async move { manager.run(shutdown).await });
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    eventually("the third attempt succeeds", || async {
        (flaky.done.count("default/a") == 1).then_some(())
    })
    .await;
    // A mapped kind, known to the registry only by its ApiResource, reaches the controller;
    // the key need not exist (it is reconciled to clean up).
    let nss: Api<kube_core::Namespace> = Api::all(cluster.client.clone());
    let mut ns = kube_core::Namespace {
        metadata: meta("poker"),
        ..kube_core::Namespace::default()
    };
    ns.metadata.labels.insert("poke".into(), "yes".into());
    nss.create(&PostParams::default(), &ns).await.unwrap();
    eventually("the mapped key", || async {
        (flaky.done.count("default/poked") == 1).then_some(())
    })
    .await;
    let snap = metrics.snapshot("flaky").unwrap();
    assert!(snap.errors >= 4, "{snap:?}");
    assert!(snap.retries >= 4, "{snap:?}");
    assert!(snap.success >= 2, "{snap:?}");
    let text = metrics.render();
    assert!(text.contains("controller_runtime_reconcile_errors_total{controller=\"flaky\"}"));
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn error_policy_and_requeue_after_are_honoured() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    cms.create(&PostParams::default(), &cm("tick"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("broken"))
        .await
        .unwrap();
    let seen = Arc::new(Seen::default());
    let (stop, shutdown) = Shutdown::new();
    let metrics = Metrics::new();
    let task = tokio::spawn(
        Controller::new(cms.clone())
            .metrics(&metrics)
            .config(ControllerConfig::default().workers(2))
            .graceful_shutdown_on(shutdown)
            .run(
                |cm: Arc<ConfigMap>, seen: Arc<Seen>| async move {
                    seen.push(&cm.name_any());
                    if cm.name_any() == "broken" {
                        return Err(Failed("broken".into()));
                    }
                    Ok(Action::RequeueAfter(Duration::from_millis(50)))
                },
                // The policy's delay replaces the backoff.
                |_, _: &Failed, _| ErrorAction::RequeueAfter(Duration::from_millis(50)),
                seen.clone(),
            ),
    );
    eventually("periodic requeues", || async {
        (seen.count("tick") >= 4 && seen.count("broken") >= 4).then_some(())
    })
    .await;
    stop.trigger();
    task.await.unwrap();
    let snap = metrics.snapshot("configmap").unwrap();
    assert!(snap.requeues >= 4 && snap.errors >= 4, "{snap:?}");
    assert_eq!(snap.retries, 0, "no rate-limited retries with this policy");
}

#[tokio::test]
async fn shutdown_lets_the_reconcile_in_flight_finish() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    cms.create(&PostParams::default(), &cm("slow"))
        .await
        .unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let finished = Arc::new(AtomicUsize::new(0));
    let (stop, shutdown) = Shutdown::new();
    let task =
        tokio::spawn(
            Controller::new(cms.clone())
                .graceful_shutdown_on(shutdown)
                .run(
                    |_cm: Arc<ConfigMap>,
                     ctx: Arc<(Arc<tokio::sync::Notify>, Arc<AtomicUsize>)>| async move {
                        ctx.0.notify_one();
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        ctx.1.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Failed>(Action::Done)
                    },
                    |_, _: &Failed, _| Action::Done,
                    Arc::new((started.clone(), finished.clone())),
                ),
        );
    started.notified().await;
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the reconcile was not cut short"
    );
}

#[tokio::test]
async fn the_finalizer_helper_adds_cleans_up_and_removes() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    let cleaned = Arc::new(Seen::default());
    let (stop, shutdown) = Shutdown::new();
    let ctx = Arc::new((cms.clone(), cleaned.clone()));
    let task = tokio::spawn(
        Controller::new(cms.clone())
            .graceful_shutdown_on(shutdown)
            .run(
                |cm: Arc<ConfigMap>, ctx: Arc<(Api<ConfigMap>, Arc<Seen>)>| async move {
                    let cleaned = ctx.1.clone();
                    finalizer(&ctx.0, "example.com/cleanup", cm, |event| async move {
                        match event {
                            FinalizerEvent::Apply(_) => Ok::<_, Failed>(Action::Done),
                            FinalizerEvent::Cleanup(cm) => {
                                cleaned.push(&cm.name_any());
                                Ok(Action::Done)
                            }
                        }
                    })
                    .await
                },
                |_, _, _| ErrorAction::Backoff,
                ctx,
            ),
    );
    cms.create(&PostParams::default(), &cm("guarded"))
        .await
        .unwrap();
    eventually("the finalizer is added", || async {
        cms.get("guarded")
            .await
            .unwrap()
            .metadata
            .finalizers
            .contains(&"example.com/cleanup".to_owned())
            .then_some(())
    })
    .await;
    cms.delete("guarded", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the object goes after cleanup", || async {
        cms.get_opt("guarded")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(cleaned.count("guarded"), 1);
    stop.trigger();
    task.await.unwrap();
}

#[tokio::test]
async fn the_recorder_folds_repeated_events() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    let obj = cms
        .create(&PostParams::default(), &cm("noisy"))
        .await
        .unwrap();
    let recorder = EventRecorder::new(cluster.client.clone(), "test-controller", "instance-1");
    for _ in 0..3 {
        recorder.warning(&obj, "FailedSync", "it failed");
    }
    recorder.normal(&obj, "Synced", "it worked");
    recorder.flush().await;
    let events: Api<kube_core::Event> = Api::namespaced(cluster.client.clone(), "default");
    let list = events.list(&Default::default()).await.unwrap().items;
    assert_eq!(list.len(), 2, "{list:#?}");
    let failed = list
        .iter()
        .find(|e| e.reason.as_deref() == Some("FailedSync"))
        .unwrap();
    assert_eq!(failed.count, Some(3));
    assert_eq!(failed.type_, Some(EventType::Warning));
    assert!(failed.last_timestamp >= failed.first_timestamp);
    assert_eq!(failed.involved_object.name.as_deref(), Some("noisy"));
    assert_eq!(failed.involved_object.uid, obj.metadata.uid);
    assert_eq!(failed.source.component.as_deref(), Some("test-controller"));
    assert_eq!(failed.reporting_instance, "instance-1");
    // An event deleted meanwhile is written again, its count kept.
    events
        .delete(failed.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    recorder.warning(&obj, "FailedSync", "it failed");
    recorder.flush().await;
    let again = events.list(&Default::default()).await.unwrap().items;
    let failed = again
        .iter()
        .find(|e| e.reason.as_deref() == Some("FailedSync"))
        .unwrap();
    assert_eq!(failed.count, Some(4));
}

#[tokio::test]
async fn a_panicking_reconcile_is_retried_not_fatal() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    cms.create(&PostParams::default(), &cm("boom"))
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (stop, shutdown) = Shutdown::new();
    let task = tokio::spawn(
        Controller::new(cms.clone())
            .config(ControllerConfig {
                workers: 1,
                rate_limiter: RateLimiterConfig {
                    base_delay: Duration::from_millis(1),
                    ..RateLimiterConfig::default()
                },
            })
            .graceful_shutdown_on(shutdown)
            .run(
                |_cm: Arc<ConfigMap>, calls: Arc<AtomicUsize>| async move {
                    assert!(
                        calls.fetch_add(1, Ordering::SeqCst) >= 1,
                        "first call panics"
                    );
                    Ok::<_, Failed>(Action::Done)
                },
                |_, _, _| ErrorAction::Backoff,
                calls.clone(),
            ),
    );
    eventually("the retry after the panic", || async {
        (calls.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    stop.trigger();
    task.await.unwrap();
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn metrics_and_health_are_served_over_http() {
    let metrics = Metrics::new();
    metrics.controller("demo");
    metrics.set_leader("demo-lease", true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = Shutdown::new();
    let server = tokio::spawn(kube_ctrl::serve_metrics(listener, metrics, shutdown));
    let text = http_get(addr, "/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("text/plain; version=0.0.4"));
    assert!(text.contains("workqueue_depth{name=\"demo\"} 0"));
    assert!(text.contains("leader_election_master_status{name=\"demo-lease\"} 1"));
    assert!(http_get(addr, "/healthz").await.ends_with("ok"));
    assert!(http_get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
    assert!(http_get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}
