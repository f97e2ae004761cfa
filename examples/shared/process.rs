//! What the long-running examples share as processes: logging set up from a `--log`
//! filter, a multi-threaded runtime, waiting for Ctrl-C or SIGTERM, and an error printed
//! with its whole cause chain ("using the kubeconfig x: ...: No such file or directory").

use std::future::Future;
use std::process::ExitCode;

/// Sets up `tracing` with `log` (a level or a filter), runs `work` on a multi-threaded
/// runtime, and turns its outcome into the exit code, logging a failure's causes.
pub(crate) fn run_main<F>(log: &str, work: F) -> ExitCode
where
    F: Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    let filter = tracing_subscriber::EnvFilter::try_new(log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Returns on Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = term.recv() => Ok(()),
    }
}
