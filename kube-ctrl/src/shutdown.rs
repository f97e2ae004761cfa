//! [`Shutdown`]: a cloneable signal that tells controllers, managers and leader electors to
//! stop, and [`ShutdownTrigger`], the handle that fires it.

use std::fmt;

use tokio::sync::watch;

/// Fires a [`Shutdown`] signal. Dropping the trigger does not fire it.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl ShutdownTrigger {
    /// Fires the signal: every clone of the [`Shutdown`], and every child of it, sees it.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

/// A signal to stop, cheap to clone. A child signal ([`Shutdown::child`]) fires when its
/// parent fires or when its own trigger does, which is how a manager stops the controllers
/// of one leadership term without stopping itself.
#[derive(Clone)]
pub struct Shutdown {
    receivers: Vec<watch::Receiver<bool>>,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("fired", &self.is_triggered())
            .finish()
    }
}

impl Shutdown {
    /// A new signal and the trigger that fires it.
    pub fn new() -> (ShutdownTrigger, Self) {
        let (tx, rx) = watch::channel(false);
        (
            ShutdownTrigger { tx },
            Self {
                receivers: vec![rx],
            },
        )
    }

    /// A signal that never fires.
    pub fn never() -> Self {
        Self {
            receivers: Vec::new(),
        }
    }

    /// A signal that fires when this one does, or when the returned trigger does.
    pub fn child(&self) -> (ShutdownTrigger, Self) {
        let (tx, rx) = watch::channel(false);
        let mut receivers = self.receivers.clone();
        receivers.push(rx);
        (ShutdownTrigger { tx }, Self { receivers })
    }

    /// True once the signal fired.
    pub fn is_triggered(&self) -> bool {
        self.receivers.iter().any(|rx| *rx.borrow())
    }

    /// Waits until the signal fires (forever for [`Shutdown::never`]).
    pub async fn triggered(&self) {
        if self.receivers.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.receivers.iter().map(|rx| {
            let mut rx = rx.clone();
            Box::pin(async move {
                // A dropped trigger never fires: wait forever on that one.
                if rx.wait_for(|fired| *fired).await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
        });
        futures::future::select_all(waits).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_child_fires_with_its_parent_or_alone() {
        let (parent_trigger, parent) = Shutdown::new();
        let (child_trigger, child) = parent.child();
        child_trigger.trigger();
        assert!(child.is_triggered());
        assert!(!parent.is_triggered(), "a child never fires its parent");
        child.triggered().await;

        let (_t, other_child) = parent.child();
        let waiter = tokio::spawn(async move { other_child.triggered().await });
        parent_trigger.trigger();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn never_and_dropped_triggers_do_not_fire() {
        let never = Shutdown::never();
        assert!(!never.is_triggered());
        let (trigger, s) = Shutdown::new();
        drop(trigger);
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(never.triggered(), s.triggered())
        })
        .await;
        assert!(waited.is_err());
    }
}
