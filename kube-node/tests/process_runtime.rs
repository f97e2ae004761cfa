//! `ProcessRuntime` against the runtime conformance suite, with real processes, plus what
//! only it does: the image catalog, cgroups and pod network namespaces as root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kube_core::Runtime;
use kube_core::runtime::{ContainerConfig, ContainerState, ImageSpec, PodSandboxConfig};
use kube_node::conformance::{Harness, Workload, shell_container};
use kube_node::{CatalogImage, ImageCatalog, ProcessRuntime, ProcessRuntimeConfig};

struct Processes {
    dir: tempfile::TempDir,
}

#[async_trait::async_trait]
impl Harness for Processes {
    type Runtime = ProcessRuntime;

    async fn runtime(&self) -> ProcessRuntime {
        let mut config = ProcessRuntimeConfig::new(self.dir.path().join("state"));
        config.poll = Duration::from_millis(20);
        // Host networking: these checks are about processes; pod networks have a test
        // of their own below.
        config.pod_network = false;
        ProcessRuntime::new(config).unwrap()
    }

    fn container(&self, name: &str, workload: &Workload) -> ContainerConfig {
        shell_container(name, "anything:latest", workload)
    }

    fn sandbox(&self, name: &str) -> PodSandboxConfig {
        let mut config = PodSandboxConfig {
            log_directory: self
                .dir
                .path()
                .join("logs")
                .join(name)
                .to_string_lossy()
                .into_owned(),
            ..Default::default()
        };
        config.metadata.name = name.to_owned();
        config.metadata.namespace = "conformance".into();
        config.metadata.uid = format!("uid-{name}");
        config.host_network = true;
        config.labels.insert("suite".into(), name.to_owned());
        config
    }
}

kube_node::runtime_conformance_tests!(|| async {
    Processes {
        dir: tempfile::tempdir().unwrap(),
    }
});

#[tokio::test]
async fn images_without_a_command_come_from_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ProcessRuntimeConfig::new(dir.path().join("state"));
    config.pod_network = false;
    config.catalog = ImageCatalog::new().with(
        "greeter",
        CatalogImage {
            command: vec!["sh".into(), "-c".into()],
            args: vec!["echo hello from $WHO".into()],
            env: [("WHO".to_owned(), "the catalog".to_owned())].into(),
            ..Default::default()
        },
    );
    let rt = ProcessRuntime::new(config).unwrap();
    let sandbox_config = PodSandboxConfig {
        log_directory: dir.path().join("logs").to_string_lossy().into_owned(),
        host_network: true,
        ..Default::default()
    };
    let sandbox = rt.run_pod_sandbox(&sandbox_config).await.unwrap();
    let image = rt
        .pull_image(&ImageSpec {
            image: "docker.io/library/greeter:1.0".into(),
        })
        .await
        .unwrap();
    let mut c = ContainerConfig {
        image,
        log_path: "greeter/0.log".into(),
        ..Default::default()
    };
    c.metadata.name = "greeter".into();
    let id = rt
        .create_container(&sandbox, &c, &sandbox_config)
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    let status = wait_exited(&rt, &id).await;
    assert_eq!(status, Some(0));
    let logs = collect(&rt, &id).await;
    assert_eq!(logs, "hello from the catalog\n");

    // An unknown image with no command cannot be created, with a reason saying why.
    let unknown = ContainerConfig {
        image: rt
            .pull_image(&ImageSpec {
                image: "nginx:1.27".into(),
            })
            .await
            .unwrap(),
        metadata: kube_core::runtime::ContainerMetadata {
            name: "web".into(),
            attempt: 0,
        },
        ..Default::default()
    };
    let err = rt
        .create_container(&sandbox, &unknown, &sandbox_config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("local image catalog"), "{err}");
    // A command runs from the host's PATH whatever the image.
    let mut anything = unknown.clone();
    anything.command = vec!["true".into()];
    let id = rt
        .create_container(&sandbox, &anything, &sandbox_config)
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(wait_exited(&rt, &id).await, Some(0));
    let mut missing = unknown;
    missing.command = vec!["no-such-command-anywhere".into()];
    let err = rt
        .create_container(&sandbox, &missing, &sandbox_config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found in $PATH"), "{err}");
    rt.stop_pod_sandbox(&sandbox).await.unwrap();
    rt.remove_pod_sandbox(&sandbox).await.unwrap();
}

async fn wait_exited(rt: &ProcessRuntime, id: &str) -> Option<i32> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = rt.container_status(id).await.unwrap();
        if s.container.state == ContainerState::Exited {
            return s.exit_code;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the container did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn collect(rt: &ProcessRuntime, id: &str) -> String {
    use futures::StreamExt as _;
    let mut s = rt.container_logs(id, &Default::default()).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(out).unwrap()
}

/// Before the node has a pod CIDR, a pod that wants its own network is refused (as the
/// kubelet refuses while its network plugin is not ready) rather than started on the
/// host's network, where it would stay; a host-network pod still starts.
#[tokio::test]
async fn as_root_a_pod_network_waits_for_the_pod_cidr() {
    if !rustix_is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "this test needs root (network namespaces), and CI is set"
        );
        eprintln!("SKIPPED as_root_a_pod_network_waits_for_the_pod_cidr: not root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().join("state"))).unwrap();
    let pod_network = PodSandboxConfig {
        host_network: false,
        ..Default::default()
    };
    let err = rt.run_pod_sandbox(&pod_network).await.unwrap_err();
    assert!(err.to_string().contains("no pod CIDR"), "{err}");
    let host_network = PodSandboxConfig {
        host_network: true,
        ..Default::default()
    };
    let sandbox = rt.run_pod_sandbox(&host_network).await.unwrap();
    rt.stop_pod_sandbox(&sandbox).await.unwrap();
    rt.remove_pod_sandbox(&sandbox).await.unwrap();
}

/// As root, a pod gets its own network namespace with an IP from the pod CIDR, reachable
/// from the host through the node bridge, and containers get cgroup limits.
#[tokio::test]
async fn as_root_pods_get_a_network_namespace_and_cgroup_limits() {
    if !rustix_is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "this test needs root (network namespaces, cgroups), and CI is set"
        );
        eprintln!("SKIPPED as_root_pods_get_a_network_namespace_and_cgroup_limits: not root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bridge = format!("kbt{}", std::process::id() % 100_000);
    let _cleanup = HostCleanup {
        state: dir.path().join("state"),
        bridge: bridge.clone(),
    };
    let mut config = ProcessRuntimeConfig::new(dir.path().join("state"));
    config.bridge.clone_from(&bridge);
    let rt = ProcessRuntime::new(config).unwrap();
    rt.update_runtime_config("10.213.77.0/24").await.unwrap();
    let sandbox_config = PodSandboxConfig {
        log_directory: dir.path().join("logs").to_string_lossy().into_owned(),
        host_network: false,
        ..Default::default()
    };
    let sandbox = rt.run_pod_sandbox(&sandbox_config).await.unwrap();
    let status = rt.pod_sandbox_status(&sandbox).await.unwrap();
    assert_eq!(
        status.ips,
        ["10.213.77.2".parse::<std::net::IpAddr>().unwrap()]
    );
    // The node answers on the bridge address; the pod must reach it through its veth.
    let listener = tokio::net::TcpListener::bind("10.213.77.1:0")
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s
                .write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 15\r\n\r\nhello-from-node")
                .await;
        }
    });
    let script = format!(
        "ip -4 -o addr show eth0; curl -s -m 10 http://10.213.77.1:{port}/; echo; cat /proc/self/cgroup"
    );
    let mut c = ContainerConfig {
        image: "host:anything".into(),
        command: vec!["sh".into(), "-c".into(), script],
        log_path: "net/0.log".into(),
        ..Default::default()
    };
    c.metadata.name = "net".into();
    c.resources.memory_limit_bytes = Some(64 << 20);
    c.resources.cpu_shares = Some(512);
    let id = rt
        .create_container(&sandbox, &c, &sandbox_config)
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(wait_exited(&rt, &id).await, Some(0));
    let out = collect(&rt, &id).await;
    assert!(out.contains("inet 10.213.77.2/24"), "{out}");
    assert!(
        out.contains("hello-from-node"),
        "the pod reaches the node through the bridge: {out}"
    );
    assert!(
        out.contains(&format!("kube-sdk/{id}")),
        "the process ran in its cgroup: {out}"
    );
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory/kube-sdk")
        .join(&id)
        .join("memory.limit_in_bytes");
    let v2 = std::path::Path::new("/sys/fs/cgroup/kube-sdk")
        .join(&id)
        .join("memory.max");
    let limit = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2))
        .unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
    rt.stop_pod_sandbox(&sandbox).await.unwrap();
    rt.remove_pod_sandbox(&sandbox).await.unwrap();
    assert!(
        !v1.exists() && !v2.exists(),
        "the cgroup is removed with the container"
    );
}

/// Removes what a failed run may leave on the host: processes, network namespaces,
/// cgroups, the bridge.
struct HostCleanup {
    state: std::path::PathBuf,
    bridge: String,
}

impl Drop for HostCleanup {
    fn drop(&mut self) {
        let records = |kind: &str, file: &str| -> Vec<serde_json::Value> {
            std::fs::read_dir(self.state.join(kind))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter_map(|e| std::fs::read(e.path().join(file)).ok())
                        .filter_map(|b| serde_json::from_slice(&b).ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        for c in records("containers", "container.json") {
            if let Some(pid) = c["pid"].as_i64() {
                let _ = std::process::Command::new("kill")
                    .args(["-9", "--", &format!("-{pid}")])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(100));
            for dir in c["cgroups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str())
            {
                let _ = std::fs::remove_dir(dir);
            }
        }
        for sb in records("sandboxes", "sandbox.json") {
            if let Some(ns) = sb["netns"].as_str() {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "del", ns])
                    .status();
            }
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
