//! What every integration test needs: an API server in process on a MemoryStore, a client
//! that counts the requests it sends, and a way to wait for a condition.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube_api::client::{Api, Client, PostParams};
use kube_api::server::{ApiRequest, ApiServer};
use kube_core::{
    ConditionStatus, Container, Namespace, ObjectMeta, Pod, PodCondition, PodConditionType,
    PodPhase, PodSpec, PodTemplateSpec, Store, Time,
};
use kube_store::MemoryStore;
use parking_lot::Mutex;
use tower::ServiceExt as _;

/// An API server in process, and a client whose requests are logged as `METHOD path?query`.
pub struct Cluster {
    pub api: ApiServer,
    pub client: Client,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Cluster {
    pub async fn start() -> Self {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let api = ApiServer::builder(store).build().await.unwrap();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = requests.clone();
        let service = api.clone().map_request(move |req: ApiRequest| {
            log.lock().push(format!("{} {}", req.method(), req.uri()));
            req
        });
        let client = Client::new(service, "default");
        Self {
            api,
            client,
            requests,
        }
    }

    /// The logged requests that start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.requests
            .lock()
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }

    pub async fn namespace(&self, name: &str) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = Namespace {
            metadata: meta(name),
            ..Namespace::default()
        };
        api.create(&PostParams::default(), &ns).await.unwrap();
    }
}

pub fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A pod template with one container and these labels.
pub fn template(pairs: &[(&str, &str)], image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: ObjectMeta {
            labels: labels(pairs),
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        },
    }
}

/// Waits (up to 30 s) until `check` returns `Some`, polling every 20 ms.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a node agent would write: the pod runs and is Ready, with an IP.
pub async fn mark_ready(pods: &Api<Pod>, name: &str, ip: &str) {
    set_pod_status(pods, name, |pod| {
        pod.status.phase = Some(PodPhase::Running);
        pod.status.pod_ip = Some(ip.to_owned());
        pod.status.set_condition(
            PodCondition::new(PodConditionType::Ready, ConditionStatus::True),
            Time::now(),
        );
    })
    .await;
}

/// Changes a pod's status through `pods/status`, retrying on conflicts.
pub async fn set_pod_status(pods: &Api<Pod>, name: &str, change: impl Fn(&mut Pod)) {
    for _ in 0..20 {
        let mut pod = pods.get(name).await.unwrap();
        change(&mut pod);
        match pods
            .replace_status(name, &PostParams::default(), &pod)
            .await
        {
            Ok(_) => return,
            Err(e) if e.code() == 409 => continue,
            Err(e) => panic!("cannot update the status of {name}: {e}"),
        }
    }
    panic!("too many conflicts updating {name}");
}

/// A manager running `runnables`, stopped when the returned guard drops.
pub struct Running {
    stop: kube_ctrl::ShutdownTrigger,
    task: Option<tokio::task::JoinHandle<kube_ctrl::Result<()>>>,
    pub metrics: kube_ctrl::Metrics,
}

impl Running {
    /// Stops the manager gracefully and waits for it.
    pub async fn stop(mut self) {
        self.stop.trigger();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the manager stops")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub fn run(client: &Client, runnables: Vec<Arc<dyn kube_ctrl::Runnable>>) -> Running {
    let mut builder = kube_ctrl::ControllerManager::builder(client.clone());
    for r in runnables {
        builder = builder.add_arc(r);
    }
    let manager = builder.build().unwrap();
    let metrics = manager.metrics().clone();
    let (stop, shutdown) = kube_ctrl::Shutdown::new();
    let task = tokio::spawn(async move { manager.run(shutdown).await });
    Running {
        stop,
        task: Some(task),
        metrics,
    }
}

/// A label selector matching these labels.
pub fn selector(pairs: &[(&str, &str)]) -> kube_core::LabelSelector {
    kube_core::LabelSelector::from_match_labels(pairs.iter().map(|(k, v)| (*k, *v)))
}

/// The pods of a namespace that are not being deleted and not finished.
pub async fn active_pods(pods: &Api<Pod>) -> Vec<Pod> {
    pods.list(&kube_api::client::ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && !p.is_terminal())
        .collect()
}

/// Stands in for node agents: marks every new pod Running and Ready (with an IP), after
/// `delay` (0 for at once). Stops when dropped.
pub struct FakeKubelet {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn fake_kubelet(
    client: &Client,
    delay: impl Fn() -> Duration + Send + Sync + 'static,
) -> FakeKubelet {
    use futures::StreamExt as _;
    let client = client.clone();
    let delay = Arc::new(delay);
    let task = tokio::spawn(async move {
        let informer = kube_api::informer::Informer::new(Api::<Pod>::all(client.clone()));
        let mut events = informer.subscribe();
        let _running = informer.spawn();
        let next_ip = Arc::new(std::sync::atomic::AtomicU32::new(1));
        while let Some(event) = events.next().await {
            let pod = event.object().clone();
            if pod.is_ready() || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if !matches!(event, kube_api::informer::InformerEvent::Added(_)) {
                continue;
            }
            let (client, delay, next_ip) = (client.clone(), delay.clone(), next_ip.clone());
            tokio::spawn(async move {
                let d = delay();
                if !d.is_zero() {
                    tokio::time::sleep(d).await;
                }
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                let name = pod.metadata.name.clone().unwrap_or_default();
                let pods: Api<Pod> = Api::namespaced(client, &ns);
                let n = next_ip.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let ip = format!("10.244.{}.{}", n / 250, n % 250 + 1);
                for _ in 0..20 {
                    let Ok(mut p) = pods.get(&name).await else {
                        return;
                    };
                    if p.metadata.deletion_timestamp.is_some() {
                        return;
                    }
                    p.status.phase = Some(PodPhase::Running);
                    p.status.pod_ip = Some(ip.clone());
                    p.status.set_condition(
                        PodCondition::new(PodConditionType::Ready, ConditionStatus::True),
                        Time::now(),
                    );
                    match pods.replace_status(&name, &PostParams::default(), &p).await {
                        Ok(_) => return,
                        Err(e) if e.code() == 409 => continue,
                        Err(_) => return,
                    }
                }
            });
        }
    });
    FakeKubelet { task }
}
