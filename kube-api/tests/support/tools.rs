//! Finding and running the external clients the end-to-end tests drive: kubectl (two
//! versions) and the official Python client, installed by `scripts/install-kubectl.sh` and
//! `scripts/install-python-client.sh` into the workspace's `.tools/`.
//!
//! A missing tool fails the test when the `CI` environment variable is set; elsewhere the
//! test says loudly that it skipped and returns.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (where `.tools/` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Fails under CI, else prints a loud skip notice. Returns `None` for the caller to return.
pub fn missing<T>(what: &str, install: &str) -> Option<T> {
    let message = format!("{what} is not installed; run `bash scripts/{install}`");
    assert!(!in_ci(), "CI is set and {message}");
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    None
}

/// One kubectl binary and its client version.
#[derive(Clone, Debug)]
pub struct Kubectl {
    /// The binary.
    pub path: PathBuf,
    /// `major.minor`, such as `1.32`.
    pub version: String,
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Ran {
    /// True when it exited 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(o: Output) -> Self {
        Self {
            success: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Waits for a child for at most `limit`, killing it past that.
pub fn wait_with_limit(mut child: Child, limit: Duration) -> Ran {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        success: status.success(),
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

fn client_version(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .args(["version", "--client", "-o", "json"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let major = v.pointer("/clientVersion/major")?.as_str()?;
    let minor = v.pointer("/clientVersion/minor")?.as_str()?;
    Some(format!("{major}.{}", minor.trim_end_matches('+')))
}

/// The kubectl binaries to run every kubectl test with: `KUBE_SDK_KUBECTL` (paths separated
/// by `:`) when set, else `.tools/bin/kubectl-*`. Under CI, fewer than two versions fail.
pub fn kubectls() -> Option<Vec<Kubectl>> {
    let candidates: Vec<PathBuf> = match std::env::var_os("KUBE_SDK_KUBECTL") {
        Some(list) => std::env::split_paths(&list).collect(),
        None => {
            let dir = workspace_root().join(".tools/bin");
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| {
                            p.file_name()
                                .and_then(|n| n.to_str())
                                .is_some_and(|n| n.starts_with("kubectl-"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            found
        }
    };
    let mut out: Vec<Kubectl> = Vec::new();
    for path in candidates {
        match client_version(&path) {
            Some(version) if !out.iter().any(|k| k.version == version) => {
                out.push(Kubectl { path, version });
            }
            Some(_) => {}
            None => eprintln!("kubectl {} does not run; ignored", path.display()),
        }
    }
    if out.len() < 2 {
        let what = format!(
            "kubectl in two versions (found {:?})",
            out.iter().map(|k| &k.version).collect::<Vec<_>>()
        );
        if out.is_empty() {
            return missing(&what, "install-kubectl.sh");
        }
        assert!(!in_ci(), "CI is set and only {what}");
        eprintln!(
            "\n!!!!!!!! only one kubectl: {what}; run `bash scripts/install-kubectl.sh` !!!!!!!!\n"
        );
    }
    Some(out)
}

/// The `PYTHONPATH` where the official Python client is installed, if it is.
pub fn python_client() -> Option<PathBuf> {
    let dir = std::env::var_os("KUBE_SDK_PYTHONPATH")
        .map_or_else(|| workspace_root().join(".tools/python"), PathBuf::from);
    let usable = dir.join("kubernetes/__init__.py").is_file()
        && Command::new("python3")
            .arg("-c")
            .arg("import kubernetes")
            .env("PYTHONPATH", &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if usable {
        Some(dir)
    } else {
        missing(
            "the Python client `kubernetes` (in .tools/python)",
            "install-python-client.sh",
        )
    }
}

impl Kubectl {
    /// A command for this kubectl against a kubeconfig, with a private cache directory.
    pub fn command(&self, kubeconfig: &Path, args: &[&str]) -> Command {
        let cache = kubeconfig.with_file_name(format!("kubectl-cache-{}", self.version));
        let mut c = Command::new(&self.path);
        c.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg("--request-timeout=30s")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs a command to its end (at most a minute).
    pub fn run(&self, kubeconfig: &Path, args: &[&str]) -> Ran {
        let child = self.command(kubeconfig, args).spawn().unwrap();
        wait_with_limit(child, Duration::from_secs(60))
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, kubeconfig: &Path, args: &[&str]) -> String {
        let ran = self.run(kubeconfig, args);
        assert!(
            ran.success,
            "kubectl {} {args:?} failed:\n{}\n{}",
            self.version, ran.stdout, ran.stderr
        );
        ran.stdout
    }

    /// Runs a command that must fail; returns its standard error.
    pub fn fails(&self, kubeconfig: &Path, args: &[&str]) -> String {
        let ran = self.run(kubeconfig, args);
        assert!(
            !ran.success,
            "kubectl {} {args:?} succeeded:\n{}",
            self.version, ran.stdout
        );
        ran.stderr
    }
}
