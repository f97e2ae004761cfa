//! The examples, run as `cargo run --example` runs them: the built binaries next to this
//! test's own (`target/<profile>/examples/<name>`), brought up to date first by the same
//! cargo.
//!
//! The short examples run to completion by themselves and check their own outcome: each
//! must exit 0. `control-plane` and `node-agent` run as two processes on loopback with
//! temporary directories: the node joins over HTTPS with the certificate the control
//! plane issued it, a pod runs on it, and both stop cleanly on SIGINT. Their clear errors
//! (a bad kubeconfig, a port in use, an unusable data directory) are checked too.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kube_sdk::api::client::{Client, Kubeconfig};
use kube_sdk::core::PodPhase;
use kube_sdk::prelude::*;

/// How long one example may take (the machines are shared and slow; this is a hang guard).
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The examples this file runs.
const EXAMPLES: [&str; 5] = [
    "custom-scheduler",
    "custom-controller",
    "custom-runtime",
    "control-plane",
    "node-agent",
];

/// The built example `name`. The first call has the cargo running this test bring every
/// example of [`EXAMPLES`] up to date (a no-op after `cargo test`, which builds them; it
/// matters after `cargo test --test examples`, which does not), so that no stale binary
/// is tested.
///
/// The build asks for the features this test was built with ([`feature_args`]): with
/// others, cargo would build the whole dependency graph a second time beside the first
/// (every workspace crate again, gigabytes of debug build), only to replace the examples
/// the test run had just built.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/examples-<hash> -> target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let built = BUILT.get_or_init(|| {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "--target-dir"]);
        build.arg(profile_dir.parent().unwrap());
        build.args(feature_args());
        for example in EXAMPLES {
            build.args(["--example", example]);
        }
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        match build.status() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("cargo could not build the examples ({status})")),
            Err(e) => Err(format!("cannot run cargo to build the examples: {e}")),
        }
    });
    if let Err(e) = built {
        panic!("{e}");
    }
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "no example binary at {}", path.display());
    path
}

/// The package and feature arguments that select what this test was built with. With
/// every feature of this package on, the build is taken to be the suite's own
/// (`cargo test --workspace --all-features`, what scripts/test.sh runs), whose feature
/// unification takes in every workspace member and its dev-dependencies (kube-store's
/// conformance suite, for one): `--workspace --all-features` resolves the same. Otherwise
/// this package alone, with the features it was built with.
fn feature_args() -> Vec<&'static str> {
    /// Every feature of this package (Cargo.toml's `[features]`), and whether it is on.
    const FEATURES: [(&str, bool); 2] = [
        ("etcd", cfg!(feature = "etcd")),
        ("cri", cfg!(feature = "cri")),
    ];
    if FEATURES.iter().all(|(_, on)| *on) {
        return vec!["--workspace", "--all-features"];
    }
    let mut args = vec!["-p", "kube-sdk"];
    for (feature, _) in FEATURES.iter().filter(|(_, on)| *on) {
        args.extend(["--features", feature]);
    }
    args
}

/// A child process whose output goes to a file, killed if the test fails first.
struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn start(name: &str, args: &[&str], dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new(example(name))
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit by itself.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}; its output:\n{}",
                self.name,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits for a clean exit.
    fn interrupt(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(sent, 0, "cannot signal {}", self.name);
        let status = self.wait(Duration::from_secs(60));
        assert!(
            status.success(),
            "{} did not exit cleanly on SIGINT ({status}); its output:\n{}",
            self.name,
            self.output()
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a short example to completion and checks that it succeeded.
fn run_to_completion(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut process = Process::start(name, &[], dir.path());
    let status = process.wait(EXAMPLE_TIMEOUT);
    assert!(
        status.success(),
        "the example {name} failed ({status}); its output:\n{}",
        process.output()
    );
}

#[test]
fn custom_scheduler_runs_to_completion() {
    run_to_completion("custom-scheduler");
}

#[test]
fn custom_controller_runs_to_completion() {
    run_to_completion("custom-controller");
}

#[test]
fn custom_runtime_runs_to_completion() {
    run_to_completion("custom-runtime");
}

/// Polls `check` until it holds, for at most a minute, failing early (with its output)
/// when one of `running` exits.
async fn eventually<F, Fut>(what: &str, running: &mut [&mut Process], check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        for process in running.iter_mut() {
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", process.name, process.output());
            }
        }
        if Instant::now() > deadline {
            let outputs: Vec<String> = running
                .iter()
                .map(|p| format!("--- {}:\n{}", p.name, p.output()))
                .collect();
            panic!("timed out waiting for {what}\n{}", outputs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts the control-plane example in `dir` (PKI in `dir/pki`) with a kubeconfig for
/// `node`; returns once that kubeconfig is written (the API serves and nodes are granted
/// their role), with its path.
async fn start_control_plane(dir: &Path, node: &str) -> (Process, PathBuf) {
    let pki = dir.join("pki");
    let mut control_plane = Process::start(
        "control-plane",
        &[
            "--listen",
            "127.0.0.1:0",
            "--pki-dir",
            pki.to_str().unwrap(),
            "--node",
            node,
        ],
        dir,
    );
    let node_kubeconfig = pki.join(format!("{node}.kubeconfig"));
    eventually("the node kubeconfig", &mut [&mut control_plane], || async {
        node_kubeconfig.exists()
    })
    .await;
    (control_plane, node_kubeconfig)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_and_node_agent_run_a_pod_over_https_and_stop_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let (mut control_plane, node_kubeconfig) = start_control_plane(dir.path(), "node-a").await;
    let state = dir.path().join("node-a");
    let mut node = Process::start(
        "node-agent",
        &[
            "--kubeconfig",
            node_kubeconfig.to_str().unwrap(),
            "--node-name",
            "node-a",
            "--runtime",
            "sim",
            "--proxy",
            "none",
            "--listen",
            "127.0.0.1:0",
            "--label",
            "example=yes",
            // Whatever the test machine's free disk: no DiskPressure taint.
            "--eviction-disk-available",
            "0",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        dir.path(),
    );

    let admin = Kubeconfig::read_from(pki.join("admin.kubeconfig")).unwrap();
    let client = Client::try_from_kubeconfig(&admin, None).unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let both = &mut [&mut control_plane, &mut node];
    eventually("node-a to be Ready", both, || async {
        nodes
            .get_opt("node-a")
            .await
            .ok()
            .flatten()
            .is_some_and(|n| {
                n.is_ready() && n.metadata.labels.get("example").map(String::as_str) == Some("yes")
            })
    })
    .await;

    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "hello"},
        "spec": {"containers": [{"name": "hello", "image": "hello:1"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    eventually("the pod to run on node-a", both, || async {
        pods.get("hello").await.is_ok_and(|p| {
            p.status.phase == Some(PodPhase::Running)
                && p.spec.node_name.as_deref() == Some("node-a")
        })
    })
    .await;

    node.interrupt();
    assert!(
        node.output().contains("the node's pods are stopped"),
        "the node agent stops its pods on SIGINT:\n{}",
        node.output()
    );
    drop(client);
    control_plane.interrupt();
}

#[test]
fn a_bad_kubeconfig_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.kubeconfig");
    std::fs::write(&bad, "clusters: [").unwrap();
    let mut node = Process::start(
        "node-agent",
        &["--kubeconfig", bad.to_str().unwrap(), "--runtime", "sim"],
        dir.path(),
    );
    assert!(!node.wait(EXAMPLE_TIMEOUT).success());
    let output = node.output();
    assert!(
        output.contains("using the kubeconfig") && output.contains("bad.kubeconfig"),
        "{output}"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let pki = dir.path().join("pki");
    let mut control_plane = Process::start(
        "control-plane",
        &["--listen", &addr, "--pki-dir", pki.to_str().unwrap()],
        dir.path(),
    );
    assert!(!control_plane.wait(EXAMPLE_TIMEOUT).success());
    let output = control_plane.output();
    assert!(
        output.contains(&addr) && output.contains("in use"),
        "{output}"
    );
}

#[test]
fn an_unusable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let data_dir = file.join("below");
    let pki = dir.path().join("pki");
    let mut control_plane = Process::start(
        "control-plane",
        &[
            "--listen",
            "127.0.0.1:0",
            "--pki-dir",
            pki.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!control_plane.wait(EXAMPLE_TIMEOUT).success());
    let output = control_plane.output();
    assert!(
        output.contains("opening the durable store") && output.contains("below"),
        "{output}"
    );
}

/// The running container of `pod`: its id and restart count, once it runs.
async fn running_container(pods: &Api<Pod>, pod: &str) -> Option<(String, i32)> {
    let pod = pods.get(pod).await.ok()?;
    if pod.status.phase != Some(PodPhase::Running) {
        return None;
    }
    let status = pod.status.container_statuses.first()?;
    Some((status.container_id.clone()?, status.restart_count))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_agent_restarted_with_keep_pods_adopts_its_running_containers() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let (mut control_plane, node_kubeconfig) = start_control_plane(dir.path(), "node-b").await;
    let state = dir.path().join("node-b");
    let node_args = |keep: bool| {
        let mut args = vec![
            "--kubeconfig".to_owned(),
            node_kubeconfig.to_str().unwrap().to_owned(),
            "--node-name".to_owned(),
            "node-b".to_owned(),
            "--runtime".to_owned(),
            "process".to_owned(),
            "--proxy".to_owned(),
            "none".to_owned(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--state-dir".to_owned(),
            state.to_str().unwrap().to_owned(),
            "--grace".to_owned(),
            "2".to_owned(),
            "--eviction-disk-available".to_owned(),
            "0".to_owned(),
        ];
        if keep {
            args.push("--keep-pods".to_owned());
        }
        args
    };
    let start_node = |keep: bool| {
        let args = node_args(keep);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Process::start("node-agent", &args, dir.path())
    };

    let mut node = start_node(true);
    let admin = Kubeconfig::read_from(pki.join("admin.kubeconfig")).unwrap();
    let client = Client::try_from_kubeconfig(&admin, None).unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    eventually(
        "node-b to be Ready",
        &mut [&mut control_plane, &mut node],
        || async { nodes.get("node-b").await.is_ok_and(|n| n.is_ready()) },
    )
    .await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "sleeper"},
        "spec": {"terminationGracePeriodSeconds": 2,
                 "containers": [{"name": "sleeper", "image": "host", "command": ["sleep", "600"]}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    eventually(
        "the pod to run",
        &mut [&mut control_plane, &mut node],
        || async { running_container(&pods, "sleeper").await.is_some() },
    )
    .await;
    let (first, _) = running_container(&pods, "sleeper").await.unwrap();

    node.interrupt();
    assert!(node.output().contains("keep running"), "{}", node.output());
    // A new agent over the same state directory finds the container and adopts it: the
    // same container, never restarted.
    let mut node = start_node(false);
    let log = node.log.clone();
    eventually(
        "the restarted node agent",
        &mut [&mut control_plane, &mut node],
        || async {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("the node agent is running"))
                && nodes.get("node-b").await.is_ok_and(|n| n.is_ready())
        },
    )
    .await;
    let adopted = running_container(&pods, "sleeper").await;
    assert_eq!(adopted, Some((first, 0)), "{}", node.output());
    node.interrupt();
    assert!(
        node.output().contains("the node's pods are stopped"),
        "{}",
        node.output()
    );
    drop(client);
    control_plane.interrupt();
}
