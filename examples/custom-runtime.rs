//! A container runtime of your own: replacing the `kube_core::Runtime` trait.
//!
//! What it shows: [`TaskRuntime`], which "runs" each container as a tokio task that follows
//! a tiny program given as the container's command (`print:<line>`, `exit:<code>`,
//! `ignore-term`; at the end of the program it runs until stopped, exiting 143 on SIGTERM
//! and 137 on a kill). It first passes kube-node's runtime conformance suite (the contract
//! every runtime honours), then serves a node agent: a pod runs on it as a task whose
//! output the runtime keeps, and deleting the pod stops the task before the pod is gone.
//! The example checks each step and exits.
//!
//! Run it: `cargo run --example custom-runtime`

#[path = "shared/completion.rs"]
mod completion;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use kube_sdk::core::runtime::{
    Container, ContainerConfig, ContainerFilter, ContainerState, ContainerStatus, ExecResult,
    Image, ImageSpec, LogOptions, LogStream, PodSandbox, PodSandboxConfig, PodSandboxFilter,
    PodSandboxStatus, RuntimeVersion, SandboxState,
};
use kube_sdk::core::{PodPhase, Runtime, RuntimeError};
use kube_sdk::node::conformance::{self, Harness, Workload};
use kube_sdk::node::logs::{LogEntry, LogStreamKind, format_entries, select_entries};
use kube_sdk::prelude::*;
use parking_lot::Mutex;
use tokio::sync::watch;

/// Containers as tokio tasks. Clones share the state, as clients of one runtime do.
#[derive(Clone)]
struct TaskRuntime(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
    /// Bumped on every change: what stop and followed logs wait on.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    sandboxes: HashMap<String, PodSandbox>,
    tasks: HashMap<String, Task>,
    images: HashMap<String, Image>,
}

struct Task {
    status: ContainerStatus,
    program: Vec<String>,
    log: Vec<LogEntry>,
    /// The last signal sent (15 or 9), read by the task.
    signal: watch::Sender<i32>,
}

impl TaskRuntime {
    fn new() -> Self {
        let shared = Shared {
            state: Mutex::default(),
            changed: watch::Sender::new(0),
        };
        Self(Arc::new(shared))
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.0.state.lock())
    }

    fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.0.state.lock());
        self.0.changed.send_modify(|v| *v += 1);
        result
    }

    fn with_task<R>(&self, id: &str, f: impl FnOnce(&mut Task) -> R) -> Result<R, RuntimeError> {
        self.update(|s| s.tasks.get_mut(id).map(f))
            .ok_or_else(|| RuntimeError::container_not_found(id))
    }

    fn print(&self, id: &str, line: &str) {
        let entry = LogEntry::line(SystemTime::now(), LogStreamKind::Stdout, line.to_owned());
        let _gone_is_fine = self.with_task(id, |t| t.log.push(entry));
    }

    fn exit(&self, id: &str, code: i32) {
        let _gone_is_fine = self.with_task(id, |t| {
            let s = &mut t.status;
            if s.container.state != ContainerState::Exited {
                s.container.state = ContainerState::Exited;
                (s.exit_code, s.finished_at) = (Some(code), Some(SystemTime::now()));
                s.reason = if code == 0 { "Completed" } else { "Error" }.into();
            }
        });
    }

    fn running(&self, id: &str) -> bool {
        self.read(|s| {
            s.tasks
                .get(id)
                .is_some_and(|t| t.status.container.state != ContainerState::Exited)
        })
    }

    async fn wait_exited(&self, id: &str) {
        let mut changes = self.0.changed.subscribe();
        while self.running(id) && changes.changed().await.is_ok() {}
    }

    /// The body of a container: its program, then waiting for a signal.
    async fn run_task(self, id: String, program: Vec<String>, mut signal: watch::Receiver<i32>) {
        let mut ignore_term = false;
        for step in program {
            match step.split_once(':') {
                Some(("print", line)) => self.print(&id, line),
                Some(("exit", code)) => return self.exit(&id, code.parse().unwrap_or(1)),
                None if step == "ignore-term" => ignore_term = true,
                _ => return self.exit(&id, 127),
            }
        }
        while signal.changed().await.is_ok() {
            let sig = *signal.borrow_and_update();
            if sig == 9 || (sig == 15 && !ignore_term) {
                return self.exit(&id, 128 + sig);
            }
        }
    }
}

#[async_trait]
impl Runtime for TaskRuntime {
    async fn version(&self) -> Result<RuntimeVersion, RuntimeError> {
        Ok(RuntimeVersion {
            runtime_name: "tasks".into(),
            runtime_version: "0.1.0".into(),
            runtime_api_version: "v1".into(),
        })
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        Ok(self.update(|s| {
            s.next_id += 1;
            let id = format!("pod-{}", s.next_id);
            let (metadata, labels, annotations) = (
                config.metadata.clone(),
                config.labels.clone(),
                config.annotations.clone(),
            );
            let sandbox = PodSandbox {
                id: id.clone(),
                metadata,
                state: SandboxState::Ready,
                created_at: SystemTime::now(),
                labels,
                annotations,
            };
            s.sandboxes.insert(id.clone(), sandbox);
            id
        }))
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        let ids = self.update(|s| {
            s.sandboxes
                .get_mut(id)
                .into_iter()
                .for_each(|sb| sb.state = SandboxState::NotReady);
            s.tasks
                .iter()
                .filter(|(_, t)| t.status.container.pod_sandbox_id == id)
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        });
        for task in ids {
            self.stop_container(&task, Duration::ZERO).await?;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        self.stop_pod_sandbox(id).await?;
        self.update(|s| {
            s.sandboxes.remove(id);
            s.tasks
                .retain(|_, t| t.status.container.pod_sandbox_id != id);
        });
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, RuntimeError> {
        let sandbox = self
            .read(|s| s.sandboxes.get(id).cloned())
            .ok_or_else(|| RuntimeError::sandbox_not_found(id))?;
        Ok(PodSandboxStatus {
            sandbox,
            ips: Vec::new(),
        })
    }

    async fn list_pod_sandboxes(
        &self,
        f: &PodSandboxFilter,
    ) -> Result<Vec<PodSandbox>, RuntimeError> {
        Ok(self.read(|s| {
            s.sandboxes
                .values()
                .filter(|sb| {
                    f.id.as_ref().is_none_or(|id| *id == sb.id)
                        && f.state.is_none_or(|st| st == sb.state)
                })
                .filter(|sb| {
                    f.label_selector
                        .iter()
                        .all(|(k, v)| sb.labels.get(k) == Some(v))
                })
                .cloned()
                .collect()
        }))
    }

    async fn create_container(
        &self,
        sandbox: &str,
        config: &ContainerConfig,
        _: &PodSandboxConfig,
    ) -> Result<String, RuntimeError> {
        self.update(|s| {
            if !s.sandboxes.contains_key(sandbox) {
                return Err(RuntimeError::sandbox_not_found(sandbox));
            }
            s.next_id += 1;
            let id = format!("task-{}", s.next_id);
            let container = Container {
                id: id.clone(),
                pod_sandbox_id: sandbox.to_owned(),
                metadata: config.metadata.clone(),
                image: config.image.clone(),
                state: ContainerState::Created,
                created_at: SystemTime::now(),
                labels: config.labels.clone(),
                annotations: config.annotations.clone(),
            };
            let status = ContainerStatus {
                container,
                started_at: None,
                finished_at: None,
                exit_code: None,
                reason: String::new(),
                message: String::new(),
                log_path: None,
            };
            let program = config.command.iter().chain(&config.args).cloned().collect();
            s.tasks.insert(
                id.clone(),
                Task {
                    status,
                    program,
                    log: Vec::new(),
                    signal: watch::Sender::new(0),
                },
            );
            Ok(id)
        })
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        let (program, signal) = self.with_task(id, |t| {
            if t.status.container.state != ContainerState::Created {
                return Err(RuntimeError::InvalidState(format!(
                    "container {id} was started before"
                )));
            }
            (t.status.container.state, t.status.started_at) =
                (ContainerState::Running, Some(SystemTime::now()));
            Ok((t.program.clone(), t.signal.subscribe()))
        })??;
        tokio::spawn(self.clone().run_task(id.to_owned(), program, signal));
        Ok(())
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let (state, signal) =
            self.with_task(id, |t| (t.status.container.state, t.signal.clone()))?;
        match state {
            ContainerState::Running => {
                signal.send_replace(if grace.is_zero() { 9 } else { 15 });
                if tokio::time::timeout(grace, self.wait_exited(id))
                    .await
                    .is_err()
                {
                    signal.send_replace(9);
                    self.wait_exited(id).await;
                }
            }
            _ => self.exit(id, 137), // never started: nothing to signal
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        if self.running(id) {
            self.stop_container(id, Duration::ZERO).await?;
        }
        self.update(|s| s.tasks.remove(id));
        Ok(())
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.read(|s| s.tasks.get(id).map(|t| t.status.clone()))
            .ok_or_else(|| RuntimeError::container_not_found(id))
    }

    async fn list_containers(&self, f: &ContainerFilter) -> Result<Vec<Container>, RuntimeError> {
        Ok(self.read(|s| {
            s.tasks
                .values()
                .map(|t| &t.status.container)
                .filter(|c| {
                    f.id.as_ref().is_none_or(|id| *id == c.id)
                        && f.state.is_none_or(|st| st == c.state)
                })
                .filter(|c| {
                    f.pod_sandbox_id
                        .as_ref()
                        .is_none_or(|sb| *sb == c.pod_sandbox_id)
                })
                .filter(|c| {
                    f.label_selector
                        .iter()
                        .all(|(k, v)| c.labels.get(k) == Some(v))
                })
                .cloned()
                .collect()
        }))
    }

    async fn exec_sync(
        &self,
        id: &str,
        _: &[String],
        _: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        Err(RuntimeError::InvalidArgument(format!(
            "container {id} is a task: nothing to exec in"
        )))
    }

    async fn pull_image(&self, image: &ImageSpec) -> Result<String, RuntimeError> {
        let id = format!("task:{}", image.image);
        let found = Image {
            id: id.clone(),
            repo_tags: vec![image.image.clone()],
            size: 0,
        };
        self.update(|s| s.images.insert(image.image.clone(), found));
        Ok(id)
    }

    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>, RuntimeError> {
        Ok(self.read(|s| s.images.get(&image.image).cloned()))
    }

    async fn list_images(&self) -> Result<Vec<Image>, RuntimeError> {
        Ok(self.read(|s| s.images.values().cloned().collect()))
    }

    async fn container_logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<LogStream, RuntimeError> {
        let log = self
            .read(|s| s.tasks.get(id).map(|t| t.log.clone()))
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        let (sent, timestamps) = (log.len(), options.timestamps);
        let first = format_entries(&select_entries(log, options), timestamps);
        let head = futures::stream::once(async move { Ok(first) });
        if !options.follow {
            return Ok(Box::pin(head));
        }
        // Following: every change, what was written since; the end once the task exited.
        let (rt, id, changes) = (self.clone(), id.to_owned(), self.0.changed.subscribe());
        let rest = futures::stream::unfold((sent, changes), move |(sent, mut changes)| {
            let (rt, id) = (rt.clone(), id.clone());
            async move {
                loop {
                    let (new, running) = rt.read(|s| {
                        let t = s.tasks.get(&id)?;
                        Some((
                            t.log[sent.min(t.log.len())..].to_vec(),
                            t.status.container.state != ContainerState::Exited,
                        ))
                    })?;
                    if !new.is_empty() {
                        return Some((
                            Ok(format_entries(&new, timestamps)),
                            (sent + new.len(), changes),
                        ));
                    }
                    if !running || changes.changed().await.is_err() {
                        return None;
                    }
                }
            }
        });
        Ok(Box::pin(futures::StreamExt::chain(head, rest)))
    }
}

/// How the conformance suite makes a `TaskRuntime` and writes its workloads.
struct Tasks(TaskRuntime);

#[async_trait]
impl Harness for Tasks {
    type Runtime = TaskRuntime;

    async fn runtime(&self) -> TaskRuntime {
        self.0.clone()
    }

    fn container(&self, name: &str, workload: &Workload) -> ContainerConfig {
        let print = |lines: &[String]| {
            lines
                .iter()
                .map(|l| format!("print:{l}"))
                .collect::<Vec<_>>()
        };
        let command = match workload {
            Workload::Sleep => Vec::new(),
            Workload::Exit(code) => vec![format!("exit:{code}")],
            Workload::Print(lines) => [print(lines), vec!["exit:0".into()]].concat(),
            Workload::PrintThenSleep(lines) => print(lines),
            Workload::IgnoreTerm => vec!["ignore-term".into()],
        };
        let mut config = conformance::sim_container(name, workload);
        (config.image, config.command, config.envs) = ("task".into(), command, Vec::new());
        config
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let harness = Tasks(TaskRuntime::new());
    conformance::sandbox_lifecycle(&harness).await;
    conformance::container_lifecycle(&harness).await;
    conformance::exit_codes(&harness).await;
    conformance::stop_with_grace(&harness).await;
    conformance::restart(&harness).await;
    conformance::logs(&harness).await;
    conformance::list_after_restart(&harness).await;
    tracing::info!("TaskRuntime passes the runtime conformance suite");

    let cluster = ControlPlane::builder().build().await?.start().await?;
    let (client, ca) = cluster.node_client("tasks-1");
    let logs = tempfile::tempdir()?;
    let runtime = TaskRuntime::new();
    let node = kube_sdk::NodeAgent::builder()
        // A full disk on the machine running this must not taint the node away.
        .kubelet_config(kube_sdk::node::KubeletConfig {
            eviction_disk_available_fraction: 0.0,
            ..kube_sdk::node::KubeletConfig::default()
        })
        .client(client, ca)
        .node_name("tasks-1")
        .server_addr("127.0.0.1:0".parse()?)
        .log_dir(logs.path())
        .runtime(runtime.clone())
        .build()?
        .start()
        .await?;
    let pods: Api<Pod> = Api::default_namespaced(cluster.client());
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "greeter"},
        "spec": {"containers": [{"name": "greeter", "image": "task",
            "command": ["print:hello from a tokio task", "print:still running"]}]},
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    completion::wait_for("the pod Running", || async {
        Ok(pods.get("greeter").await?.status.phase == Some(PodPhase::Running))
    })
    .await?;
    let task = runtime.list_containers(&ContainerFilter::default()).await?;
    let [task] = task.as_slice() else {
        return Err(format!("expected one task, got {task:?}").into());
    };
    let mut log = runtime
        .container_logs(&task.id, &LogOptions::default())
        .await?;
    let text = futures::StreamExt::next(&mut log)
        .await
        .transpose()?
        .unwrap_or_default();
    if text.as_ref() != b"hello from a tokio task\nstill running\n" {
        return Err(format!("unexpected output {text:?}").into());
    }
    pods.delete("greeter", &DeleteParams::default()).await?;
    completion::wait_for("the pod deleted", || async {
        Ok(pods.get_opt("greeter").await?.is_none())
    })
    .await?;
    if runtime.running(&task.id) {
        return Err("the pod is gone but its task still runs".into());
    }
    node.shutdown().await;
    cluster.shutdown().await;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    completion::run(run(), "custom-runtime: a pod ran as a tokio task")
}
