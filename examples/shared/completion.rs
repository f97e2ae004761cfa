//! What the examples that run to completion share: waiting for an outcome with a
//! deadline, and a `main` that logs (filter from `RUST_LOG`), runs the example and
//! says what it showed.

use std::future::Future;
use std::time::Duration;

/// Polls `check` until it holds, for at most a minute.
pub(crate) async fn wait_for<F, Fut>(what: &str, check: F) -> Result<(), Box<dyn std::error::Error>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool, kube_sdk::core::Error>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await? {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Sets up logging, runs `work` on a multi-threaded runtime and logs `shown` once it
/// succeeded; its error is the example's.
pub(crate) fn run<F>(work: F, shown: &str) -> Result<(), Box<dyn std::error::Error>>
where
    F: Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(work)?;
    tracing::info!("{shown}");
    Ok(())
}
