//! The order of one pod's API writes. A failed attempt's `PodScheduled=False` is written
//! by a task, and so is a later binding of the same pod: were the binding to overtake the
//! status write, the stale `False` would land on the bound pod. Each write of a pod
//! waits for the pod's previous one, and a binding for the last of them.

use std::collections::HashMap;

use futures::FutureExt as _;
use futures::channel::oneshot;
use futures::future::Shared;
use kube_core::ObjectKey;

/// A write in flight: resolves when it is done (or its task is gone).
pub(crate) type InFlight = Shared<oneshot::Receiver<()>>;

/// Past this many pods with a write on record, the finished ones are forgotten.
const PRUNE_ABOVE: usize = 1024;

/// The last status write of each pod, while it may still be in flight.
#[derive(Default)]
pub(crate) struct PodWrites {
    last: HashMap<ObjectKey, InFlight>,
}

impl PodWrites {
    /// Records a write of `key` about to start: returns the write it must wait for (the
    /// pod's previous one) and the sender to complete (or drop) when it is done.
    pub(crate) fn start(&mut self, key: &ObjectKey) -> (Option<InFlight>, oneshot::Sender<()>) {
        if self.last.len() > PRUNE_ABOVE {
            self.last.retain(|_, w| w.peek().is_none());
        }
        let (done, rx) = oneshot::channel();
        let previous = self.last.insert(key.clone(), rx.shared());
        (previous, done)
    }

    /// What a binding of `key` must wait for: the pod's last write, forgotten here.
    pub(crate) fn before_binding(&mut self, key: &ObjectKey) -> Option<InFlight> {
        self.last.remove(key)
    }

    /// How many pods have a write on record.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.last.len()
    }
}

/// Waits for a write, if there is one (a dropped sender counts as done).
pub(crate) async fn after(write: Option<InFlight>) {
    if let Some(w) = write {
        let _ = w.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::namespaced("default", name)
    }

    #[tokio::test]
    async fn a_binding_waits_for_the_last_write_which_waits_for_the_one_before() {
        let mut writes = PodWrites::default();
        let (none, first) = writes.start(&key("a"));
        assert!(none.is_none());
        let (previous, second) = writes.start(&key("a"));
        let previous = previous.expect("the first write");
        let binding = writes.before_binding(&key("a")).expect("the second write");
        assert!(writes.before_binding(&key("a")).is_none(), "forgotten");

        assert!(previous.peek().is_none() && binding.peek().is_none());
        first.send(()).unwrap();
        after(Some(previous.clone())).await;
        assert!(binding.peek().is_none(), "the second is still in flight");
        drop(second);
        after(Some(binding)).await;
        after(None).await;
    }

    #[tokio::test]
    async fn finished_writes_are_forgotten_past_the_bound() {
        let mut writes = PodWrites::default();
        for i in 0..=PRUNE_ABOVE {
            let (_, done) = writes.start(&key(&format!("p{i}")));
            done.send(()).unwrap();
        }
        // The sends are seen on the next poll of each shared future.
        for w in writes.last.values() {
            after(Some(w.clone())).await;
        }
        let (_, _pending) = writes.start(&key("last"));
        assert_eq!(writes.len(), 1);
    }
}
