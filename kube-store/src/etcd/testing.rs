//! A private etcd server for tests and benchmarks.
//!
//! [`TestEtcd::start`] runs the `etcd` binary on free loopback ports (client and peer) with
//! a fresh temporary data directory, waits until it serves clients, and kills it (and
//! removes the directory) when dropped. [`TestEtcd::restart`] kills it and starts it again
//! on the same ports and data, to test what survives a server restart.
//!
//! etcd runs under a small `sh` guard that holds the read end of a pipe whose write end
//! only this process holds. When the process ends in any way (a panic, `abort`, a kill, or
//! simply exiting with the server in a `static` that is never dropped), the pipe closes and
//! the guard kills etcd and removes its directory: no server outlives its test run.
//!
//! The binary is looked up in `$ETCD_BIN`, then on the `PATH`; Debian's `etcd-server`
//! package provides it (`scripts/install-etcd.sh` installs it).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kube_store::etcd_testing::TestEtcd;
//! use kube_store::{EtcdConfig, EtcdStore};
//!
//! let etcd = TestEtcd::start().await?;
//! let store = EtcdStore::connect(EtcdConfig::new([etcd.endpoint()])).await?;
//! # drop(store);
//! # Ok(())
//! # }
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

/// How long etcd may take to serve clients after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// What etcd logs once its client listener serves (`insecurely` or `securely`).
const READY_MARKER: &str = "serving client traffic";

/// The guard: `sh -c GUARD sh DIR ETCD ARGS...`. It starts etcd, and a watcher that waits
/// for a line (or end of file) on its standard input, then kills etcd; unless the line was
/// `keep`, it also removes DIR. The shell itself exits when etcd does, with its status.
const GUARD: &str = r#"
dir="$1"; shift
exec 3<&0
"$@" </dev/null 3<&- &
pid=$!
(
    read -r keep <&3 || keep=""
    kill -9 "$pid" 2>/dev/null
    if [ "$keep" != keep ]; then
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
        rm -rf "$dir"
    fi
) </dev/null >/dev/null 2>&1 &
wait "$pid"
"#;

/// Why a test etcd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TestEtcdError {
    /// No `etcd` binary in `$ETCD_BIN` or on the `PATH`.
    #[error(
        "the etcd binary was not found (set ETCD_BIN or put etcd on the PATH; on Debian run scripts/install-etcd.sh)"
    )]
    BinaryNotFound,
    /// Creating the data directory, the log file, or the process failed.
    #[error("could not start etcd: {0}")]
    Io(#[from] std::io::Error),
    /// etcd exited before serving; its log says why.
    #[error("etcd exited during start-up ({status}); its log:\n{log}")]
    Exited {
        /// How it exited.
        status: std::process::ExitStatus,
        /// The end of its log.
        log: String,
    },
    /// etcd did not serve clients in time.
    #[error("etcd did not serve clients within {timeout:?}; its log:\n{log}")]
    Timeout {
        /// How long it was given.
        timeout: Duration,
        /// The end of its log.
        log: String,
    },
}

/// Files that make the test etcd serve TLS and require client certificates.
#[derive(Clone, Debug)]
pub struct TestEtcdTls {
    /// The CA that client certificates must chain to (`--trusted-ca-file`).
    pub ca_file: PathBuf,
    /// The server certificate (`--cert-file`); it must name `127.0.0.1`.
    pub cert_file: PathBuf,
    /// The server key (`--key-file`).
    pub key_file: PathBuf,
}

/// A private etcd server on loopback, killed (and its data removed) on drop.
#[derive(Debug)]
pub struct TestEtcd {
    binary: PathBuf,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    tls: Option<TestEtcdTls>,
    child: Option<Guarded>,
}

/// The guard shell and the write end of its pipe.
#[derive(Debug)]
struct Guarded {
    shell: Child,
    stdin: Option<ChildStdin>,
}

/// The etcd binary: `$ETCD_BIN`, else the first `etcd` on the `PATH`.
pub fn etcd_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ETCD_BIN") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
}

impl TestEtcd {
    /// Starts a plain-HTTP etcd on free loopback ports.
    pub async fn start() -> Result<Self, TestEtcdError> {
        Self::start_with(None).await
    }

    /// Starts an etcd serving TLS to clients and requiring client certificates.
    pub async fn start_tls(tls: TestEtcdTls) -> Result<Self, TestEtcdError> {
        Self::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<TestEtcdTls>) -> Result<Self, TestEtcdError> {
        let binary = etcd_binary().ok_or(TestEtcdError::BinaryNotFound)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (client_port, peer_port) = free_ports()?;
            let mut etcd = Self {
                binary: binary.clone(),
                dir: tempfile::Builder::new().prefix("test-etcd-").tempdir()?,
                client_port,
                peer_port,
                tls: tls.clone(),
                child: None,
            };
            match etcd.launch().await {
                Ok(()) => return Ok(etcd),
                // Another process may have taken a port between our probe and etcd's bind.
                Err(TestEtcdError::Exited { log, .. })
                    if attempt < 3 && log.contains("address already in use") => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// The client URL, `http://127.0.0.1:PORT` (or `https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// The data directory (removed on drop).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Whether the etcd process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.shell.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills etcd at once (SIGKILL: no clean shutdown), keeping its data and ports.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The guard kills etcd on this line; if etcd exited already, the write may fail
            // and nothing is left to kill. Either way `wait` reaps the guard.
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(b"keep\n");
            }
            let _ = child.shell.wait();
        }
    }

    /// Kills etcd and starts it again on the same ports and data directory.
    pub async fn restart(&mut self) -> Result<(), TestEtcdError> {
        self.kill();
        self.launch().await
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Starts the process and waits until it serves clients.
    async fn launch(&mut self) -> Result<(), TestEtcdError> {
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let log_start = log.metadata()?.len();
        let client_scheme = if self.tls.is_some() { "https" } else { "http" };
        let client_url = format!("{client_scheme}://127.0.0.1:{}", self.client_port);
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(GUARD)
            .arg("sh")
            .arg(self.dir.path())
            .arg(&self.binary)
            .arg("--name=test")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"))
            .arg("--initial-cluster-state=new")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        // Settings for a system etcd must not leak into the private one.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(name);
            }
        }
        if let Some(tls) = &self.tls {
            command
                .arg(format!("--cert-file={}", tls.cert_file.display()))
                .arg(format!("--key-file={}", tls.key_file.display()))
                .arg(format!("--trusted-ca-file={}", tls.ca_file.display()))
                .arg("--client-cert-auth");
        }
        let mut shell = command.spawn()?;
        let stdin = shell.stdin.take();
        self.child = Some(Guarded { shell, stdin });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = &mut self.child {
                if let Some(status) = child.shell.try_wait()? {
                    self.kill();
                    return Err(TestEtcdError::Exited {
                        status,
                        log: log_tail(&log_path, log_start),
                    });
                }
            }
            if read_from(&log_path, log_start).contains(READY_MARKER)
                && TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, self.client_port)),
                    Duration::from_secs(1),
                )
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = log_tail(&log_path, log_start);
                self.kill();
                return Err(TestEtcdError::Timeout {
                    timeout: START_TIMEOUT,
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for TestEtcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two distinct free loopback ports.
fn free_ports() -> std::io::Result<(u16, u16)> {
    let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let second = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok((first.local_addr()?.port(), second.local_addr()?.port()))
}

/// The log from byte `start` on (empty if unreadable).
fn read_from(path: &Path, start: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(start)).is_ok() {
            let mut bytes = Vec::new();
            if file.read_to_end(&mut bytes).is_ok() {
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
    }
    text
}

/// The last lines of the log written since byte `start`.
fn log_tail(path: &Path, start: u64) -> String {
    let text = read_from(path, start);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
