//! Host processes: spawning a container's process (through a small `sh` wrapper that
//! records its exit code), telling whether it still runs (pid and start time), signalling
//! its process group, and pumping its output into CRI log files.
//!
//! The process first joins the container's cgroups (before `ip netns exec`, which mounts
//! a `/sys` of its own), then becomes the wrapper, which leads the process group and is
//! the parent of the container's command:
//!
//! ```sh
//! g=$1; shift; for p in $g; do echo $$ > "$p" || exit 125; done; exec "$@"
//! # then, maybe through `ip netns exec <ns>`:
//! e=$1; shift
//! trap : TERM INT      # survive the stop signal long enough to record the exit code
//! "$@"                 # the container's command (signals reset to default in it)
//! echo $? > "$e"       # 143 after SIGTERM, 137 after an OOM kill, ...
//! ```
//!
//! Its stdout and stderr are FIFOs it opens read-write, so that it never gets SIGPIPE
//! while no agent reads them (output waits in the pipe until the next agent does).

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use parking_lot::Mutex;
use rustix::process::{Pid, Signal};

use crate::logs::{LogEntry, LogStreamKind, LogWriter};

const JOIN: &str = r#"g=$1; shift; for p in $g; do echo $$ > "$p" || exit 125; done; exec "$@""#;

const WRAPPER: &str = r#"e=$1; shift
trap : TERM INT
"$@"
echo $? > "$e""#;

/// Lines longer than this are split into partial entries.
const MAX_LINE: usize = 16 * 1024;

/// The start time of a process, in clock ticks after boot, and whether it is a zombie;
/// `None` when there is no such process.
pub(crate) fn stat(pid: i32) -> Option<(u64, bool)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let zombie = fields.first().is_some_and(|s| *s == "Z" || *s == "X");
    let start = fields.get(19)?.parse().ok()?;
    Some((start, zombie))
}

/// True while the process `pid` that started at `start` runs.
pub(crate) fn alive(pid: i32, start: Option<u64>) -> bool {
    match stat(pid) {
        Some((s, zombie)) => !zombie && start.is_none_or(|want| want == s),
        None => false,
    }
}

/// Sends `signal` to the process group led by `pid`.
pub(crate) fn signal_group(pid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        if let Err(e) = rustix::process::kill_process_group(pid, signal) {
            if e != rustix::io::Errno::SRCH {
                tracing::warn!(pid = pid.as_raw_nonzero(), error = %e, "signalling a container");
            }
        }
    }
}

/// Makes a FIFO at `path` (if missing).
pub(crate) fn mkfifo(path: &Path) -> io::Result<()> {
    match rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    ) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What to spawn.
pub(crate) struct Spawn<'a> {
    /// Put in front of the wrapper (`ip netns exec <ns>`).
    pub prefix: Vec<String>,
    /// Put in front of the command, after the wrapper (`chroot <dir>`).
    pub inner_prefix: Vec<String>,
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub working_dir: Option<&'a str>,
    pub exit_file: &'a Path,
    pub cgroup_procs: &'a [PathBuf],
    pub stdout_fifo: &'a Path,
    pub stderr_fifo: &'a Path,
}

/// A started wrapper, and an open end of each output FIFO (stdout, stderr) for the caller
/// to hand to the log pumps: a FIFO drops what is in it once no one has it open, so a
/// process that writes and exits before a pump opens the FIFO would lose its output,
/// were these not held until then (see [`pump`]).
pub(crate) struct Spawned {
    /// The wrapper (to reap).
    pub child: tokio::process::Child,
    /// The held ends of the stdout and stderr FIFOs.
    pub outputs: [File; 2],
}

/// Starts the wrapper in a process group of its own.
pub(crate) fn spawn(s: &Spawn<'_>) -> io::Result<Spawned> {
    let rw = |p: &Path| OpenOptions::new().read(true).write(true).open(p);
    let stdout: File = rw(s.stdout_fifo)?;
    let stderr: File = rw(s.stderr_fifo)?;
    let outputs = [stdout.try_clone()?, stderr.try_clone()?];
    let groups: Vec<String> = s
        .cgroup_procs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut argv: Vec<String> = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        JOIN.to_owned(),
        "kube-cgroups".to_owned(),
        groups.join(" "),
    ];
    argv.extend(s.prefix.iter().cloned());
    argv.extend([
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        WRAPPER.to_owned(),
        "kube-container".to_owned(),
        s.exit_file.to_string_lossy().into_owned(),
    ]);
    argv.extend(s.inner_prefix.iter().cloned());
    argv.extend(s.argv.iter().cloned());
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .envs(s.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = s.working_dir.filter(|d| !d.is_empty()) {
        cmd.current_dir(dir);
    }
    let child = cmd.spawn()?;
    Ok(Spawned { child, outputs })
}

/// Resolves an executable name on the host's `PATH` (a name with a `/` is taken as is).
pub(crate) fn which(name: &str, path: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt as _;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
}

/// Copies a FIFO into the log, one entry per line, until every writer has closed it. Runs
/// on a thread of its own (blocking reads and writes). `held`, an open end of the FIFO
/// kept since the process started (see [`Spawned`]), is closed once the pump has opened
/// its own: until then it keeps what the process wrote, and it must not keep the pump
/// from seeing the end of the output after.
pub(crate) fn pump(
    fifo: PathBuf,
    stream: LogStreamKind,
    writer: Arc<Mutex<LogWriter>>,
    active: &Arc<std::sync::atomic::AtomicUsize>,
    held: Option<File>,
) {
    active.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let counter = active.clone();
    let spawned = std::thread::Builder::new()
        .name("kube-log-pump".into())
        .spawn(move || {
            let opened = File::open(&fifo);
            drop(held);
            let mut file = match opened {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(fifo = %fifo.display(), error = %e, "opening the container's output");
                    counter.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
            };
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            let write = |content: &[u8], partial: bool| {
                let entry = LogEntry {
                    time: SystemTime::now(),
                    stream,
                    partial,
                    content: Bytes::copy_from_slice(content),
                };
                if let Err(e) = writer.lock().write(&entry) {
                    tracing::warn!(error = %e, "writing the container log");
                }
            };
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = pending.drain(..=pos).collect();
                            write(&line[..line.len() - 1], false);
                        }
                        while pending.len() >= MAX_LINE {
                            let part: Vec<u8> = pending.drain(..MAX_LINE).collect();
                            write(&part, true);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the container's output");
                        break;
                    }
                }
            }
            if !pending.is_empty() {
                write(&pending, false);
            }
            counter.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        active.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        tracing::warn!(error = %e, "starting a log pump");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_its_start_time_is_stable() {
        let me = i32::try_from(std::process::id()).unwrap();
        let (start, zombie) = stat(me).unwrap();
        assert!(!zombie);
        assert!(alive(me, Some(start)));
        assert!(
            !alive(me, Some(start + 1)),
            "a reused pid is not our process"
        );
        assert!(!alive(i32::MAX, None));
        assert_eq!(
            which("sh", "/nonexistent:/bin:/usr/bin").map(|p| p.is_file()),
            Some(true)
        );
        assert!(which("no-such-binary-anywhere", "/bin").is_none());
    }

    /// A process that writes and exits before its pump opens the FIFO: what it wrote is
    /// still there, held by the end `spawn` returns, and the pump sees the end of it.
    #[tokio::test]
    async fn output_written_before_the_pump_starts_reaches_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
        mkfifo(&out).unwrap();
        mkfifo(&err).unwrap();
        let argv = [
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            "echo early".to_owned(),
        ];
        let exit_file = dir.path().join("exit");
        let Spawned {
            mut child,
            outputs: [held_out, held_err],
        } = spawn(&Spawn {
            prefix: Vec::new(),
            inner_prefix: Vec::new(),
            argv: &argv,
            env: &[],
            working_dir: None,
            exit_file: &exit_file,
            cgroup_procs: &[],
            stdout_fifo: &out,
            stderr_fifo: &err,
        })
        .unwrap();
        assert!(child.wait().await.unwrap().success());

        let log = dir.path().join("0.log");
        let writer = Arc::new(Mutex::new(
            LogWriter::open(&log, crate::logs::LogWriterConfig::default()).unwrap(),
        ));
        let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        pump(
            out,
            LogStreamKind::Stdout,
            writer.clone(),
            &active,
            Some(held_out),
        );
        pump(err, LogStreamKind::Stderr, writer, &active, Some(held_err));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while active.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the pumps never saw the end"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.trim_end().ends_with("stdout F early"), "{text:?}");
    }
}
