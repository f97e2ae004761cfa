//! The conformance suite every [`Runtime`] must pass: ours (`SimRuntime`, `ProcessRuntime`,
//! `CriRuntime`) or a platform's own.
//!
//! Each check is a public `async fn` generic over a [`Harness`], which knows how to make
//! the runtime (again, over the same state, for the restart check) and how to express the
//! few [`Workload`]s the checks need in that runtime's terms. A check drives one part of
//! the contract in [`kube_core::runtime`] and panics with a message naming what went
//! wrong. [`runtime_conformance_tests!`](crate::runtime_conformance_tests) expands to one
//! `#[tokio::test]` per check:
//!
//! ```
//! use kube_core::runtime::ContainerConfig;
//! use kube_node::SimRuntime;
//! use kube_node::conformance::{Harness, Workload};
//!
//! struct Sim(SimRuntime);
//!
//! #[async_trait::async_trait]
//! impl Harness for Sim {
//!     type Runtime = SimRuntime;
//!     async fn runtime(&self) -> SimRuntime {
//!         self.0.clone() // clones share state, like a restarted client of one runtime
//!     }
//!     fn container(&self, name: &str, workload: &Workload) -> ContainerConfig {
//!         kube_node::conformance::sim_container(name, workload)
//!     }
//! }
//!
//! kube_node::runtime_conformance_tests!(|| async { Sim(SimRuntime::new()) });
//! ```
//!
//! The checks wait for containers with generous timeouts ([`Harness::timeout`]) and make
//! no assertion about how long anything took.

// A conformance check reports a departure from the contract by panicking, like any test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use kube_core::runtime::{
    ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState, ImageSpec, LogOptions,
    PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata, SandboxState,
};
use kube_core::{Runtime, RuntimeError};

use crate::sim::{SIM_EXIT_CODE, SIM_IGNORE_TERM, SIM_OUTPUT, SIM_RUN_MILLIS};

/// What a test container does; each harness writes it in its runtime's terms (a shell
/// script for real processes, `KUBE_SIM_*` variables for the simulator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Runs until stopped, and exits at once on SIGTERM.
    Sleep,
    /// Exits by itself at once with this code.
    Exit(i32),
    /// Writes these lines to stdout, then exits 0.
    Print(Vec<String>),
    /// Writes these lines to stdout, then runs until stopped.
    PrintThenSleep(Vec<String>),
    /// Runs until killed: SIGTERM is ignored.
    IgnoreTerm,
}

/// How the suite makes and drives a runtime.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The runtime under test.
    type Runtime: Runtime;

    /// A runtime instance. Called again by the restart check: the new instance must see
    /// what the earlier one created (as a restarted node agent does).
    async fn runtime(&self) -> Self::Runtime;

    /// A container configuration (name, image, command) that does what `workload` says.
    fn container(&self, name: &str, workload: &Workload) -> ContainerConfig;

    /// A sandbox configuration for a pod named `name`; the default has metadata, a log
    /// directory under the system temporary directory, and host networking.
    fn sandbox(&self, name: &str) -> PodSandboxConfig {
        let uid = format!("{name}-{}", std::process::id());
        PodSandboxConfig {
            metadata: PodSandboxMetadata {
                name: name.to_owned(),
                namespace: "conformance".into(),
                uid: uid.clone(),
                attempt: 0,
            },
            // Host-network sandboxes keep the host's name (runtimes refuse to set one).
            hostname: String::new(),
            log_directory: std::env::temp_dir()
                .join("kube-node-conformance")
                .join(uid)
                .to_string_lossy()
                .into_owned(),
            host_network: true,
            labels: BTreeMap::from([("suite".to_owned(), name.to_owned())]),
            ..Default::default()
        }
    }

    /// How long a check waits for a container to reach a state.
    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
}

/// The container configuration the simulator runs as `workload` (for [`Harness`]
/// implementations over [`SimRuntime`](crate::SimRuntime)).
pub fn sim_container(name: &str, workload: &Workload) -> ContainerConfig {
    let env = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let envs = match workload {
        Workload::Sleep => Vec::new(),
        Workload::Exit(code) => env(&[
            (SIM_EXIT_CODE, code.to_string()),
            (SIM_RUN_MILLIS, "0".into()),
        ]),
        Workload::Print(lines) => {
            env(&[(SIM_OUTPUT, lines.join("\n")), (SIM_RUN_MILLIS, "0".into())])
        }
        Workload::PrintThenSleep(lines) => env(&[(SIM_OUTPUT, lines.join("\n"))]),
        Workload::IgnoreTerm => env(&[(SIM_IGNORE_TERM, "true".into())]),
    };
    ContainerConfig {
        metadata: ContainerMetadata {
            name: name.to_owned(),
            attempt: 0,
        },
        image: "sim".into(),
        envs,
        log_path: format!("{name}/0.log"),
        ..Default::default()
    }
}

/// The container configuration a POSIX shell runs as `workload` (for runtimes that run
/// real processes: `sh -c` with a small script).
pub fn shell_container(name: &str, image: &str, workload: &Workload) -> ContainerConfig {
    let printf = |lines: &[String]| -> String {
        lines
            .iter()
            .map(|l| format!("echo '{}'; ", l.replace('\'', "'\\''")))
            .collect()
    };
    let script = match workload {
        // `exec` so that the signal reaches sleep itself, which dies of it.
        Workload::Sleep => "exec sleep 3600".to_owned(),
        Workload::Exit(code) => format!("exit {code}"),
        Workload::Print(lines) => printf(lines),
        Workload::PrintThenSleep(lines) => format!("{}exec sleep 3600", printf(lines)),
        Workload::IgnoreTerm => "trap '' TERM; while true; do sleep 1; done".to_owned(),
    };
    ContainerConfig {
        metadata: ContainerMetadata {
            name: name.to_owned(),
            attempt: 0,
        },
        image: image.to_owned(),
        command: vec!["sh".into(), "-c".into(), script],
        log_path: format!("{name}/0.log"),
        ..Default::default()
    }
}

/// Waits until the container's state is `want`; returns its status.
async fn wait_state<R: Runtime>(
    rt: &R,
    id: &str,
    want: ContainerState,
    timeout: Duration,
) -> kube_core::runtime::ContainerStatus {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let status = rt.container_status(id).await.unwrap();
        if status.container.state == want {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "container {id} did not reach {want:?} (it is {:?})",
            status.container.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start<H: Harness>(
    h: &H,
    rt: &H::Runtime,
    pod: &str,
    name: &str,
    workload: &Workload,
) -> (String, String, PodSandboxConfig) {
    let sandbox_config = h.sandbox(pod);
    let sandbox = rt.run_pod_sandbox(&sandbox_config).await.unwrap();
    let id = start_in(h, rt, &sandbox, &sandbox_config, name, workload, 0).await;
    (sandbox, id, sandbox_config)
}

async fn start_in<H: Harness>(
    h: &H,
    rt: &H::Runtime,
    sandbox: &str,
    sandbox_config: &PodSandboxConfig,
    name: &str,
    workload: &Workload,
    attempt: u32,
) -> String {
    let mut config = h.container(name, workload);
    config.metadata.attempt = attempt;
    config.log_path = format!("{name}/{attempt}.log");
    config
        .labels
        .insert("container-name".into(), name.to_owned());
    config.image = image_ref(rt, &config.image).await;
    let id = rt
        .create_container(sandbox, &config, sandbox_config)
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    id
}

/// The image's reference: the one the runtime has, else pulled (as the node agent does
/// with `IfNotPresent`; a runtime without a registry has its images imported).
async fn image_ref<R: Runtime>(rt: &R, image: &str) -> String {
    let spec = ImageSpec {
        image: image.to_owned(),
    };
    match rt.image_status(&spec).await.unwrap() {
        Some(found) => found.id,
        None => rt.pull_image(&spec).await.unwrap(),
    }
}

async fn cleanup<R: Runtime>(rt: &R, sandbox: &str) {
    rt.stop_pod_sandbox(sandbox).await.unwrap();
    rt.remove_pod_sandbox(sandbox).await.unwrap();
}

/// Sandboxes: run, status, list by label, stop (idempotent), remove (idempotent), and
/// not-found afterwards.
pub async fn sandbox_lifecycle<H: Harness>(h: &H) {
    let rt = h.runtime().await;
    rt.version().await.expect("version");
    let config = h.sandbox("sandbox-lifecycle");
    let id = rt.run_pod_sandbox(&config).await.unwrap();
    let status = rt.pod_sandbox_status(&id).await.unwrap();
    assert_eq!(status.sandbox.state, SandboxState::Ready);
    assert_eq!(status.sandbox.metadata, config.metadata);
    assert_eq!(
        status.sandbox.labels.get("suite").map(String::as_str),
        Some("sandbox-lifecycle"),
        "labels come back unchanged"
    );
    let listed = rt
        .list_pod_sandboxes(&PodSandboxFilter {
            label_selector: config.labels.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.iter().any(|s| s.id == id), "listed by label");
    rt.stop_pod_sandbox(&id).await.unwrap();
    assert_eq!(
        rt.pod_sandbox_status(&id).await.unwrap().sandbox.state,
        SandboxState::NotReady
    );
    rt.stop_pod_sandbox(&id).await.expect("stop is idempotent");
    rt.remove_pod_sandbox(&id).await.unwrap();
    rt.remove_pod_sandbox(&id)
        .await
        .expect("remove is idempotent");
    assert!(matches!(
        rt.pod_sandbox_status(&id).await,
        Err(RuntimeError::NotFound { .. })
    ));
}

/// A container: created, running, listed with its labels, stopped with grace (it exits on
/// SIGTERM), exited with a non-zero code; unknown ids are not found.
pub async fn container_lifecycle<H: Harness>(h: &H) {
    let rt = h.runtime().await;
    let config = h.sandbox("container-lifecycle");
    let sandbox = rt.run_pod_sandbox(&config).await.unwrap();
    let mut c = h.container("app", &Workload::Sleep);
    c.labels.insert("container-name".into(), "app".into());
    c.image = image_ref(&rt, &c.image).await;
    let id = rt.create_container(&sandbox, &c, &config).await.unwrap();
    let created = rt.container_status(&id).await.unwrap();
    assert_eq!(created.container.state, ContainerState::Created);
    assert_eq!(created.container.pod_sandbox_id, sandbox);
    rt.start_container(&id).await.unwrap();
    let running = wait_state(&rt, &id, ContainerState::Running, h.timeout()).await;
    assert!(
        running.started_at.is_some(),
        "a running container has a start time"
    );
    assert_eq!(running.container.metadata.name, "app");
    let listed = rt
        .list_containers(&ContainerFilter {
            pod_sandbox_id: Some(sandbox.clone()),
            label_selector: BTreeMap::from([("container-name".into(), "app".into())]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "one container listed by sandbox and label");
    assert_eq!(listed[0].id, id);
    rt.stop_container(&id, Duration::from_secs(30))
        .await
        .unwrap();
    let stopped = rt.container_status(&id).await.unwrap();
    assert_eq!(stopped.container.state, ContainerState::Exited);
    assert_ne!(
        stopped.exit_code,
        Some(0),
        "a stopped container did not succeed"
    );
    assert!(stopped.finished_at.is_some());
    rt.stop_container(&id, Duration::from_secs(1))
        .await
        .expect("stopping an exited container is Ok");
    rt.remove_container(&id).await.unwrap();
    rt.remove_container(&id)
        .await
        .expect("remove is idempotent");
    assert!(matches!(
        rt.container_status(&id).await,
        Err(RuntimeError::NotFound { .. })
    ));
    assert!(matches!(
        rt.start_container("no-such-container").await,
        Err(RuntimeError::NotFound { .. })
    ));
    cleanup(&rt, &sandbox).await;
}

/// Exit codes come back as the process gave them: 0 is `Completed`, others not.
pub async fn exit_codes<H: Harness>(h: &H) {
    let rt = h.runtime().await;
    let config = h.sandbox("exit-codes");
    let sandbox = rt.run_pod_sandbox(&config).await.unwrap();
    for (i, code) in [0, 3, 42].into_iter().enumerate() {
        let name = format!("exit{i}");
        let id = start_in(h, &rt, &sandbox, &config, &name, &Workload::Exit(code), 0).await;
        let status = wait_state(&rt, &id, ContainerState::Exited, h.timeout()).await;
        assert_eq!(status.exit_code, Some(code), "exit code of `exit {code}`");
        if code == 0 {
            assert_eq!(status.reason, "Completed");
        } else {
            assert_ne!(status.reason, "Completed");
        }
        // Both times are known; a runtime may record a fast exit a hair before the start
        // (containerd does), so they are only checked to be in the same second.
        let (started, finished) = (status.started_at.unwrap(), status.finished_at.unwrap());
        assert!(
            finished + Duration::from_secs(1) >= started,
            "{started:?} then {finished:?}"
        );
    }
    cleanup(&rt, &sandbox).await;
}

/// Stopping a container that ignores SIGTERM kills it after the grace period (exit code
/// 137); a zero grace kills at once.
pub async fn stop_with_grace<H: Harness>(h: &H) {
    let rt = h.runtime().await;
    let (sandbox, id, config) =
        start(h, &rt, "stop-with-grace", "stubborn", &Workload::IgnoreTerm).await;
    wait_state(&rt, &id, ContainerState::Running, h.timeout()).await;
    // Give the shell time to install its trap before the signal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    rt.stop_container(&id, Duration::from_secs(1))
        .await
        .unwrap();
    let status = rt.container_status(&id).await.unwrap();
    assert_eq!(status.container.state, ContainerState::Exited);
    assert_eq!(status.exit_code, Some(137), "killed after the grace period");
    let id2 = start_in(
        h,
        &rt,
        &sandbox,
        &config,
        "stubborn2",
        &Workload::IgnoreTerm,
        0,
    )
    .await;
    wait_state(&rt, &id2, ContainerState::Running, h.timeout()).await;
    rt.stop_container(&id2, Duration::ZERO).await.unwrap();
    let status = rt.container_status(&id2).await.unwrap();
    assert_eq!(status.exit_code, Some(137), "a zero grace kills");
    cleanup(&rt, &sandbox).await;
}

/// A restart is a new container with the next attempt number beside the exited one; both
/// are listed, with their attempts.
pub async fn restart<H: Harness>(h: &H) {
    let rt = h.runtime().await;
    let (sandbox, first, config) = start(h, &rt, "restart", "app", &Workload::Exit(1)).await;
    wait_state(&rt, &first, ContainerState::Exited, h.timeout()).await;
    let second = start_in(h, &rt, &sandbox, &config, "app", &Workload::Sleep, 1).await;
    assert_ne!(first, second, "a restart is a new container");
    wait_state(&rt, &second, ContainerState::Running, h.timeout()).await;
    let listed = rt
        .list_containers(&ContainerFilter {
            pod_sandbox_id: Some(sandbox.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut attempts: Vec<(u32, ContainerState)> = listed
        .iter()
        .map(|c| (c.metadata.attempt, c.state))
        .collect();
    attempts.sort_by_key(|(a, _)| *a);
    assert_eq!(
        attempts,
        [(0, ContainerState::Exited), (1, ContainerState::Running)]
    );
    cleanup(&rt, &sandbox).await;
    let gone = rt
        .list_containers(&ContainerFilter {
            pod_sandbox_id: Some(sandbox.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(gone.is_empty(), "removing a sandbox removes its containers");
}

/// Logs: what the container wrote, in order; `tail_lines`; `follow` ends when the
/// container exits.
pub async fn logs<H: Harness>(h: &H) {
    let rt = h.runtime().await;
    let lines: Vec<String> = ["one", "two", "three"].map(String::from).to_vec();
    let (sandbox, id, config) = start(h, &rt, "logs", "printer", &Workload::Print(lines)).await;
    wait_state(&rt, &id, ContainerState::Exited, h.timeout()).await;
    let all = collect(&rt, &id, &LogOptions::default(), h.timeout()).await;
    assert_eq!(all, "one\ntwo\nthree\n");
    let tail = collect(
        &rt,
        &id,
        &LogOptions {
            tail_lines: Some(1),
            ..Default::default()
        },
        h.timeout(),
    )
    .await;
    assert_eq!(tail, "three\n");
    let stamped = collect(
        &rt,
        &id,
        &LogOptions {
            timestamps: true,
            tail_lines: Some(1),
            ..Default::default()
        },
        h.timeout(),
    )
    .await;
    assert!(
        stamped.ends_with(" three\n") && stamped.len() > "three\n".len() + 20,
        "{stamped:?}"
    );

    // Following a running container streams until it is stopped.
    let running = start_in(
        h,
        &rt,
        &sandbox,
        &config,
        "talker",
        &Workload::PrintThenSleep(vec!["hello".into()]),
        0,
    )
    .await;
    let mut stream = rt
        .container_logs(
            &running,
            &LogOptions {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"hello\n") {
        let chunk = tokio::time::timeout(h.timeout(), stream.next())
            .await
            .expect("the followed log yields the line")
            .expect("the stream is open while the container runs")
            .unwrap();
        got.extend_from_slice(&chunk);
    }
    rt.stop_container(&running, Duration::from_secs(10))
        .await
        .unwrap();
    let end = tokio::time::timeout(h.timeout(), async {
        while let Some(chunk) = stream.next().await {
            chunk.unwrap();
        }
    })
    .await;
    assert!(end.is_ok(), "a followed log ends when the container exits");
    cleanup(&rt, &sandbox).await;
}

async fn collect<R: Runtime>(rt: &R, id: &str, options: &LogOptions, timeout: Duration) -> String {
    let mut stream = rt.container_logs(id, options).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(timeout, async {
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
    })
    .await
    .expect("a log that is not followed ends");
    String::from_utf8(out).unwrap()
}

/// A new runtime instance (a restarted node agent) lists the sandboxes and containers of
/// the earlier one, still running with their labels, and can stop them.
pub async fn list_after_restart<H: Harness>(h: &H) {
    let (sandbox, id) = {
        let rt = h.runtime().await;
        let (sandbox, id, _) = start(h, &rt, "list-after-restart", "app", &Workload::Sleep).await;
        wait_state(&rt, &id, ContainerState::Running, h.timeout()).await;
        (sandbox, id)
    };
    let rt = h.runtime().await;
    let sandboxes = rt
        .list_pod_sandboxes(&PodSandboxFilter {
            label_selector: BTreeMap::from([("suite".into(), "list-after-restart".into())]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        sandboxes
            .iter()
            .any(|s| s.id == sandbox && s.state == SandboxState::Ready),
        "the sandbox survives a restart of its client"
    );
    let containers = rt
        .list_containers(&ContainerFilter {
            label_selector: BTreeMap::from([("container-name".into(), "app".into())]),
            pod_sandbox_id: Some(sandbox.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].id, id);
    assert_eq!(
        containers[0].state,
        ContainerState::Running,
        "still running"
    );
    rt.stop_container(&id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        rt.container_status(&id).await.unwrap().container.state,
        ContainerState::Exited
    );
    cleanup(&rt, &sandbox).await;
}

/// Expands to one `#[tokio::test]` per conformance check, each with a fresh harness from
/// `$make` (a closure returning a future of a [`Harness`]).
#[macro_export]
macro_rules! runtime_conformance_tests {
    ($make:expr) => {
        $crate::runtime_conformance_tests!(@each $make;
            sandbox_lifecycle, container_lifecycle, exit_codes, stop_with_grace, restart,
            logs, list_after_restart);
    };
    (@each $make:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let harness = ($make)().await;
                $crate::conformance::$check(&harness).await;
            }
        )*
    };
}
