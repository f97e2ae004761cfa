//! The README's five-minute tour, end to end: a reference cluster (control plane and two
//! node agents running real processes, a network namespace per pod, the userspace proxy)
//! started in process, driven by `scripts/tour.sh` with every kubectl that
//! `scripts/install-kubectl.sh` put in `.tools/bin` (1.32 and 1.37).
//!
//! It needs root (pod network namespaces, the service range made local), `python3` (the
//! pods' HTTP server) and kubectl: without them it fails when `CI` is set, and says loudly
//! that it skipped otherwise.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A skipped or slow step says so on stderr, outside the test harness's capture.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kube_sdk::{ReferenceCluster, ReferenceClusterConfig};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails under CI, else prints that the test skipped. Returns whether to go on.
fn require(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the tour needs {what}, and CI is set (scripts/test.sh installs the tools; run it as root)"
    );
    eprintln!("SKIPPED the tour: it needs {what}");
    false
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The kubectl binaries the install script put in place, oldest first.
fn kubectls() -> Vec<PathBuf> {
    let dir = repository().join(".tools/bin");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("kubectl-1."))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn run_tour(kubectl: &Path, kubeconfig: &Path) {
    let started = std::time::Instant::now();
    let output = Command::new("bash")
        .arg(repository().join("scripts/tour.sh"))
        .env("KUBECTL", kubectl)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the tour failed with {}:\n{stdout}\n{stderr}",
        kubectl.display()
    );
    assert!(stdout.contains("tour: every step passed"), "{stdout}");
    eprintln!(
        "the tour passed with {} in {:?}",
        kubectl.display(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_passes_with_real_kubectl() {
    if !(require("root", is_root()) && require("python3", has("python3"))) {
        return;
    }
    let kubectls = kubectls();
    if !require(
        "kubectl 1.32 and 1.37 in .tools/bin (scripts/install-kubectl.sh)",
        kubectls.len() >= 2,
    ) {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let config = ReferenceClusterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: state.path().to_owned(),
        termination_grace: Duration::from_secs(5),
        // The tour is not about eviction: a build machine's disk can be fuller than the
        // kubelet's 10 % threshold, which would keep every pod Pending.
        eviction_disk_available_fraction: 0.0,
        ..ReferenceClusterConfig::default()
    };
    let cluster = ReferenceCluster::start(config, |b| b).await.unwrap();
    let kubeconfig = cluster
        .control_plane()
        .kubeconfig_path()
        .unwrap()
        .to_owned();

    // The script blocks on kubectl; keep it off the runtime the cluster runs on.
    for kubectl in kubectls {
        let kubeconfig = kubeconfig.clone();
        tokio::task::spawn_blocking(move || run_tour(&kubectl, &kubeconfig))
            .await
            .unwrap();
    }
    cluster.shutdown().await;
}
