//! `CriRuntime` against a real containerd (Debian's, with runc): the runtime conformance
//! suite, then the node agent running a pod on it.
//!
//! Each test starts a private containerd with its root, state and socket under a temporary
//! directory. There is no registry, so the harness builds a tiny OCI image itself from
//! Debian's static busybox (a layer with `/bin/busybox` and its applet links, a config, a
//! manifest and an index) and imports it with `ctr -n k8s.io images import`; the same
//! image, tagged as the sandbox image, serves as the pause container. Sandboxes use the
//! host network (no CNI plugins are installed).
//!
//! `scripts/install-containerd.sh` installs containerd, runc and busybox-static. Without
//! them the tests fail when `CI` is set, and otherwise say loudly that they skipped.

#![cfg(feature = "cri")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kube_core::runtime::{ContainerConfig, PodSandboxConfig};
use kube_node::CriRuntime;
use kube_node::conformance::{Harness, Workload, shell_container};

const IMAGE: &str = "kube-sdk.local/busybox:1";
const PAUSE: &str = "kube-sdk.local/pause:1";
const BUSYBOX: &str = "/bin/busybox";

/// True when the tools are here; otherwise fails under CI, or says it skips.
fn tools_present(test: &str) -> bool {
    let missing: Vec<&str> = ["containerd", "ctr", "runc", "containerd-shim-runc-v2"]
        .into_iter()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    // Debian's busybox-static puts a static binary at /bin/busybox.
    let busybox_static = Path::new(BUSYBOX).exists()
        && Command::new("dpkg")
            .args(["-s", "busybox-static"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if missing.is_empty() && busybox_static && is_root() {
        return true;
    }
    let why = format!(
        "missing: {missing:?}, static busybox: {busybox_static}, root: {}; run scripts/install-containerd.sh as root",
        is_root()
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} cannot run under CI: {why}"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("\n!!! SKIPPED {test}: {why}\n");
    }
    false
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
            .unwrap_or(false)
    })
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes an OCI image layout tarball holding a static busybox; returns its path.
fn build_image(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "sleep", "echo", "true", "false", "test", "cat", "trap", "ls",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let layer = dir.join("layer.tar");
    run(Command::new("tar")
        .args(["--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    let layer_digest = sha256(&layer);
    let layer_size = std::fs::metadata(&layer).unwrap().len();
    std::fs::rename(&layer, blobs.join(&layer_digest)).unwrap();
    let blob = |json: serde_json::Value| -> (String, u64) {
        let path = dir.join("blob.json");
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        let digest = sha256(&path);
        let size = std::fs::metadata(&path).unwrap().len();
        std::fs::rename(&path, blobs.join(&digest)).unwrap();
        (digest, size)
    };
    let (config_digest, config_size) = blob(serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sleep", "2147483647"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]}
    }));
    let (manifest_digest, manifest_size) = blob(serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_digest}"), "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{layer_digest}"), "size": layer_size}]
    }));
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"), "size": manifest_size,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "1"}
        }]
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let tarball = dir.join("busybox-oci.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&tarball)
        .arg("."));
    tarball
}

/// A private containerd, killed (with its shims and containers) on drop.
struct Containerd {
    dir: tempfile::TempDir,
    process: std::process::Child,
}

impl Containerd {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  # The test machines do not let even root lower oom_score_adj (the pause container's
  # -998): keep it at containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}/bin"
    conf_dir = "{cni}/conf"
"#,
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("containerd.sock").display(),
            cni = d.join("cni").display(),
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let process = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let this = Self { dir, process };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !this.socket().exists() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "containerd did not start: {}",
                this.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let image = build_image(this.dir.path());
        let ctr = |args: &[&str]| {
            let mut cmd = Command::new("ctr");
            cmd.arg("--address")
                .arg(this.socket())
                .args(["-n", "k8s.io"])
                .args(args);
            cmd
        };
        run(ctr(&["images", "import"]).arg(&image));
        run(&mut ctr(&["images", "tag", "--force", IMAGE, PAUSE]));
        this
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Containers first (ctr kills every task; their shims then exit), then any shim
        // left, then containerd.
        let sock = self.socket();
        let script = format!(
            "c='ctr --address {s} -n k8s.io'; for t in $($c tasks ls -q); do $c tasks kill -s SIGKILL $t; done; \
             sleep 0.5; for p in $(pgrep -f 'containerd-shim-runc-v2 .*{s}'); do pkill -9 -P $p; kill -9 $p; done",
            s = sock.display()
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep ' {}' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l",
                self.dir.path().display()
            ))
            .stderr(Stdio::null())
            .status();
    }
}

#[async_trait::async_trait]
impl Harness for Containerd {
    type Runtime = CriRuntime;

    async fn runtime(&self) -> CriRuntime {
        CriRuntime::connect(self.socket()).unwrap()
    }

    fn container(&self, name: &str, workload: &Workload) -> ContainerConfig {
        shell_container(name, IMAGE, workload)
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
            host_network: true,
            ..Default::default()
        };
        config.metadata.name = name.to_owned();
        config.metadata.namespace = "conformance".into();
        config.metadata.uid = format!("uid-{name}");
        config.labels.insert("suite".into(), name.to_owned());
        config
    }
}

/// The whole conformance suite, in order, against one containerd (starting one per check
/// would cost more than the checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_passes_the_runtime_conformance_suite() {
    if !tools_present("containerd_passes_the_runtime_conformance_suite") {
        return;
    }
    let h = Containerd::start().await;
    use kube_node::conformance as c;
    c::sandbox_lifecycle(&h).await;
    c::container_lifecycle(&h).await;
    c::exit_codes(&h).await;
    c::stop_with_grace(&h).await;
    c::restart(&h).await;
    c::logs(&h).await;
    c::list_after_restart(&h).await;
}
