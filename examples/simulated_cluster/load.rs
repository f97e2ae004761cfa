//! The load: which pods the cluster is filled with, creating them through the API
//! server, and the churn after the fill.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kube_sdk::api::client::{Api, Client, DeleteParams, PostParams};
use kube_sdk::core::{Deployment, Namespace, Pod};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::observer::{Observer, Stage};
use crate::{Args, Samples};

/// Bare pods per namespace.
const PODS_PER_NAMESPACE: usize = 5000;

/// The workload mix.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Deployments and their replicas.
    pub(crate) deployments: Vec<usize>,
    /// Bare pods: the first `spread` with a spread constraint, the next `anti_affinity`
    /// with a required anti-affinity, the rest plain.
    pub(crate) bare: usize,
    pub(crate) spread: usize,
    pub(crate) anti_affinity: usize,
    pub(crate) group: usize,
}

impl Plan {
    pub(crate) fn new(args: &Args) -> Self {
        let share = |n: usize, s: f64| ((n as f64) * s.clamp(0.0, 1.0)).round() as usize;
        let deployed = share(args.pods, args.deployment_share);
        let replicas = args.replicas.max(1);
        let mut deployments = vec![replicas; deployed / replicas];
        if deployed % replicas > 0 {
            deployments.push(deployed % replicas);
        }
        let bare = args.pods - deployed;
        let spread = share(bare, args.spread_share);
        let anti_affinity = share(bare, args.anti_affinity_share).min(bare - spread);
        Self {
            deployments,
            bare,
            spread,
            anti_affinity,
            group: args.anti_affinity_group.clamp(1, args.nodes.max(1)),
        }
    }

    fn namespace(i: usize) -> String {
        format!("sim-{}", i / PODS_PER_NAMESPACE)
    }

    fn namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = (0..self.bare.div_ceil(PODS_PER_NAMESPACE))
            .map(|k| format!("sim-{k}"))
            .collect();
        out.push("sim-deploy".to_owned());
        out
    }

    /// The i-th bare pod.
    fn pod(&self, i: usize, name: &str) -> Pod {
        let mut labels = json!({"app": "sim"});
        let mut spec = json!({
            "containers": [container()],
            "terminationGracePeriodSeconds": 5,
        });
        if i < self.spread {
            let group = format!("s{}", i / 100);
            labels["spread-group"] = json!(group);
            spec["topologySpreadConstraints"] = json!([{
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"spread-group": group}},
            }]);
        } else if i < self.spread + self.anti_affinity {
            let group = format!("a{}", (i - self.spread) / self.group);
            labels["aa-group"] = json!(group);
            spec["affinity"] = json!({"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{
                    "labelSelector": {"matchLabels": {"aa-group": group}},
                    "topologyKey": "kubernetes.io/hostname",
                }],
            }});
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": Self::namespace(i), "labels": labels},
            "spec": spec,
        }))
        .expect("a valid pod")
    }
}

fn container() -> Value {
    json!({
        "name": "app",
        "image": "registry.example/sim/app:1",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    })
}

fn deployment(k: usize, replicas: usize) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": format!("deploy-{k}"), "namespace": "sim-deploy"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"deploy": format!("d{k}")}},
            "template": {
                "metadata": {"labels": {"deploy": format!("d{k}"), "app": "sim"}},
                "spec": {"containers": [container()], "terminationGracePeriodSeconds": 5},
            },
        },
    }))
    .expect("a valid deployment")
}

/// How the fill went.
#[derive(Debug, Clone)]
pub(crate) struct Fill {
    /// When the first create was sent.
    pub(crate) started: Instant,
    /// When the last create returned.
    pub(crate) creates_done: Instant,
    /// Whether every pod was Running before the timeout.
    pub(crate) complete: bool,
    /// The load generator's create calls, measured at the client.
    pub(crate) client_create: Samples,
    /// Creates that failed (after the client's retries).
    pub(crate) failures: usize,
}

/// How the churn went.
#[derive(Debug, Clone)]
pub(crate) struct Churn {
    pub(crate) deleted: usize,
    pub(crate) created: usize,
    pub(crate) elapsed: Duration,
    pub(crate) complete: bool,
    pub(crate) client_create: Samples,
    pub(crate) client_delete: Samples,
    pub(crate) failures: usize,
}

fn progress(observer: &Observer, total: usize, started: Instant, what: &str) {
    let (created, scheduled, running, _) = observer.counts();
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let bound = observer
        .bound()
        .map_or_else(String::new, |b| format!(" (bound {b:>7})"));
    eprint!(
        "\r{what} {:>6.1} s  created {created:>7}/{total}  scheduled {scheduled:>7}{bound}  Running {running:>7}  ({:>6.0} Running/s)   ",
        secs,
        running as f64 / secs
    );
}

/// Creates the namespaces, the Deployments and the bare pods (`--concurrency` at once),
/// and waits until every pod is Running.
pub(crate) async fn fill(
    client: &Client,
    plan: &Plan,
    args: &Args,
    observer: &Observer,
) -> Result<Fill, kube_sdk::core::Error> {
    for ns in plan.namespaces() {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).expect("a valid namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
    }
    let started = Instant::now();
    let total = args.pods;
    let ticker = {
        let observer = observer.clone();
        tokio::spawn(async move {
            loop {
                progress(&observer, total, started, "fill");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "sim-deploy");
    for (k, replicas) in plan.deployments.iter().enumerate() {
        deployments
            .create(&PostParams::default(), &deployment(k, *replicas))
            .await?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let failures = Arc::new(AtomicUsize::new(0));
    let rate = args.rate;
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (client, plan, observer) = (client.clone(), plan.clone(), observer.clone());
            let (next, samples, failures) = (next.clone(), samples.clone(), failures.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= plan.bare {
                        return;
                    }
                    if rate > 0.0 {
                        // The i-th create is due i/rate seconds after the start.
                        let due = started + Duration::from_secs_f64(i as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let name = format!("pod-{i}");
                    let pod = plan.pod(i, &name);
                    let ns = Plan::namespace(i);
                    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                    observer.sending(&ns, &name);
                    let t = Instant::now();
                    let result = api.create(&PostParams::default(), &pod).await;
                    samples.lock().push(t.elapsed());
                    if let Err(e) = result {
                        failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(pod = %name, error = %e, "create failed");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let creates_done = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout);
    let complete = loop {
        let (created, _, running, _) = observer.counts();
        if running >= total && created >= total {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    ticker.abort();
    progress(observer, total, started, "fill");
    eprintln!();
    let client_create = samples.lock().clone();
    Ok(Fill {
        started,
        creates_done,
        complete,
        client_create,
        failures: failures.load(Ordering::Relaxed),
    })
}

/// Deletes `--churn` plain bare pods a second and creates as many new ones, for
/// `--churn-seconds`; then waits until the deletions are done and the new pods Running.
pub(crate) async fn churn(
    client: &Client,
    plan: &Plan,
    args: &Args,
    observer: &Observer,
) -> Result<Churn, kube_sdk::core::Error> {
    observer.set_stage(Stage::Churn);
    let (_, _, _, deleted_before) = observer.counts();
    let first_plain = plan.spread + plan.anti_affinity;
    let plain = plan.bare - first_plain;
    let wanted = (args.churn * args.churn_seconds as usize).min(plain);
    let creates = Arc::new(Mutex::new(Samples::default()));
    let deletes = Arc::new(Mutex::new(Samples::default()));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut tasks = Vec::new();
    let mut done = 0;
    while done < wanted {
        tick.tick().await;
        let batch = args.churn.min(wanted - done);
        for j in done..done + batch {
            let i = first_plain + j;
            let (client, plan) = (client.clone(), plan.clone());
            let (creates, deletes, failures, observer) = (
                creates.clone(),
                deletes.clone(),
                failures.clone(),
                observer.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let ns = Plan::namespace(i);
                let api: Api<Pod> = Api::namespaced(client, &ns);
                let t = Instant::now();
                let deleted = api
                    .delete(&format!("pod-{i}"), &DeleteParams::default())
                    .await;
                deletes.lock().push(t.elapsed());
                let name = format!("pod-{i}-again");
                let pod = plan.pod(i, &name);
                observer.sending(&ns, &name);
                let t = Instant::now();
                let created = api.create(&PostParams::default(), &pod).await;
                creates.lock().push(t.elapsed());
                if deleted.is_err() || created.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        done += batch;
        progress(observer, args.pods, started, "churn");
    }
    for t in tasks {
        let _ = t.await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let complete = loop {
        let (_, _, running, deleted) = observer.counts();
        if deleted - deleted_before >= wanted && running >= args.pods {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    progress(observer, args.pods, started, "churn");
    eprintln!();
    let client_create = creates.lock().clone();
    let client_delete = deletes.lock().clone();
    Ok(Churn {
        deleted: wanted,
        created: wanted,
        elapsed: started.elapsed(),
        complete,
        client_create,
        client_delete,
        failures: failures.load(Ordering::Relaxed),
    })
}
