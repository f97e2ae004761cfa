//! Pods held at Permit: each waits until every plugin that said "wait" allows it, one of
//! them rejects it, or its timeout passes.

use std::collections::HashMap;
use std::sync::Arc;

use kube_core::{ObjectKey, PodInfo};
use parking_lot::Mutex;
use tokio::sync::oneshot;

/// The verdict a waiting pod gets: `Ok` when allowed by all, or the rejecting plugin and
/// its message.
pub type Verdict = Result<(), (String, String)>;

#[derive(Debug)]
struct Waiting {
    info: Arc<PodInfo>,
    node: String,
    pending: Vec<&'static str>,
    tx: oneshot::Sender<Verdict>,
}

/// The pods held by Permit plugins. Cloning shares the set.
#[derive(Clone, Debug, Default)]
pub struct WaitingPods {
    inner: Arc<Mutex<HashMap<ObjectKey, Waiting>>>,
}

impl WaitingPods {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds a pod until each of `plugins` allows it; the receiver gets the verdict.
    pub fn add(
        &self,
        info: Arc<PodInfo>,
        node: &str,
        plugins: Vec<&'static str>,
    ) -> oneshot::Receiver<Verdict> {
        let (tx, rx) = oneshot::channel();
        let key = info.key().clone();
        let waiting = Waiting {
            info,
            node: node.to_owned(),
            pending: plugins,
            tx,
        };
        if let Some(old) = self.inner.lock().insert(key, waiting) {
            let _ = old.tx.send(Err(("framework".into(), "superseded".into())));
        }
        rx
    }

    /// `plugin` allows the pod; when no plugin is left pending the pod goes on to bind.
    /// False when the pod is not waiting.
    pub fn allow(&self, key: &ObjectKey, plugin: &str) -> bool {
        let mut map = self.inner.lock();
        let Some(w) = map.get_mut(key) else {
            return false;
        };
        w.pending.retain(|p| *p != plugin);
        if w.pending.is_empty()
            && let Some(w) = map.remove(key)
        {
            let _ = w.tx.send(Ok(()));
        }
        true
    }

    /// `plugin` rejects the pod: it stops waiting and is unreserved. False when the pod is
    /// not waiting.
    pub fn reject(&self, key: &ObjectKey, plugin: &str, message: &str) -> bool {
        let Some(w) = self.inner.lock().remove(key) else {
            return false;
        };
        let _ = w.tx.send(Err((plugin.to_owned(), message.to_owned())));
        true
    }

    /// Stops holding a pod without a verdict (its wait timed out or it was deleted).
    pub fn remove(&self, key: &ObjectKey) {
        self.inner.lock().remove(key);
    }

    /// The waiting pods and the nodes they are assumed on.
    pub fn pods(&self) -> Vec<(Arc<PodInfo>, String)> {
        self.inner
            .lock()
            .values()
            .map(|w| (Arc::clone(&w.info), w.node.clone()))
            .collect()
    }

    /// How many pods wait.
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// True when no pod waits.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().is_empty()
    }
}
