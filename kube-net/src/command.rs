//! Running the programs that configure the kernel (`ip`, `iptables-restore`, `nft`) without
//! blocking the async runtime, with their failures turned into [`Error`]s.
//!
//! A child process inherits the network namespace of the thread that starts it, so a
//! data plane driven from a thread inside a namespace programs that namespace.

use std::process::Stdio;

use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;
use tracing::trace;

use crate::error::{Error, Result};

/// Runs `program args...`, feeding `stdin` when given, and returns its standard output.
pub(crate) async fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<String> {
    let line = if args.is_empty() {
        program.to_owned()
    } else {
        format!("{program} {}", args.join(" "))
    };
    trace!(command = %line, "running");
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        command: program.to_owned(),
        source,
    })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A program that exits early closes its stdin: its exit status tells why.
        let _ = pipe.write_all(input).await;
        drop(pipe);
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| Error::Spawn {
            command: program.to_owned(),
            source,
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if is_permission_error(&stderr) {
        return Err(Error::PermissionDenied {
            command: line,
            stderr,
        });
    }
    Err(Error::Command {
        command: line,
        status: out.status,
        stderr,
    })
}

fn is_permission_error(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("operation not permitted") || s.contains("permission denied")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_failure_and_missing_programs() {
        assert_eq!(run("echo", &["hi"], None).await.unwrap(), "hi\n");
        assert_eq!(run("cat", &[], Some(b"in")).await.unwrap(), "in");
        let err = run("sh", &["-c", "echo boom >&2; exit 3"], None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Command { stderr, .. } if stderr == "boom"),
            "{err:?}"
        );
        let err = run(
            "sh",
            &[
                "-c",
                "echo 'RTNETLINK answers: Operation not permitted' >&2; exit 2",
            ],
            None,
        )
        .await
        .unwrap_err();
        assert!(err.is_permission_denied(), "{err:?}");
        let err = run("kube-net-no-such-program", &[], None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
    }
}
