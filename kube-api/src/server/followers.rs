//! The thread the watch caches follow the store on.
//!
//! Each watch cache reads the store's watch and fans the events out to every watcher. On
//! the server's runtime that task is one among thousands (every request, every watch, in
//! an embedded cluster every kubelet's pod worker): under load it was polled too rarely,
//! fell behind the store's compaction and lost its watch, and every watcher of that
//! resource had to relist. On a thread of their own, with a runtime of their own, the
//! followers get their share of the CPU however many tasks the server's runtime holds, as
//! Kubernetes gives its watch cache goroutines to the Go scheduler apart from the
//! requests' priority levels.

use std::future::Future;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where the followers run: a dedicated thread, or (if it could not start) the caller's
/// runtime.
#[derive(Debug)]
pub(crate) struct Followers {
    handle: Option<Handle>,
    /// Dropping it ends the thread, and with it every follower still running.
    _stop: Option<oneshot::Sender<()>>,
}

impl Followers {
    /// Starts the thread; when the system refuses one, followers run on the caller's
    /// runtime instead (and say so).
    pub(crate) fn start() -> Self {
        match Self::thread() {
            Ok((handle, stop)) => Self {
                handle: Some(handle),
                _stop: Some(stop),
            },
            Err(e) => {
                tracing::warn!(error = %e, "no thread for the watch caches; they share the server's runtime");
                Self {
                    handle: None,
                    _stop: None,
                }
            }
        }
    }

    fn thread() -> std::io::Result<(Handle, oneshot::Sender<()>)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("kube-api-watch-cache".to_owned())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok((handle, stop))
    }

    /// Runs a follower.
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.handle {
            Some(handle) => handle.spawn(task),
            None => tokio::spawn(task),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_run_on_their_own_thread_and_stop_with_it() {
        let followers = Followers::start();
        let (tx, rx) = oneshot::channel();
        followers
            .spawn(async move {
                let _ = tx.send(std::thread::current().name().map(str::to_owned));
            })
            .await
            .unwrap();
        assert_eq!(rx.await.unwrap().as_deref(), Some("kube-api-watch-cache"));
        let forever = followers.spawn(std::future::pending());
        drop(followers);
        assert!(forever.await.unwrap_err().is_cancelled());
    }
}
