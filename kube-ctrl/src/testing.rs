//! Test doubles: [`RecordingController`], a [`kube_core::Controller`] that records what it
//! is asked to reconcile (run it in a manager with [`DynController`](crate::DynController)
//! to test wiring, leader election or shutdown without a real controller). For the
//! [`CloudProvider`](kube_core::CloudProvider) double, see
//! [`FakeCloud`](crate::cloud::FakeCloud).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use kube_core::{Action, ApiResource, BoxError, ObjectKey, Watch};
use parking_lot::Mutex;
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Record {
    reconciled: Vec<ObjectKey>,
    failures_left: BTreeMap<ObjectKey, u32>,
}

/// Reconciles nothing, records every key, and fails keys as told.
#[derive(Debug)]
pub struct RecordingController {
    name: String,
    primary: ApiResource,
    watches: Vec<Watch>,
    record: Mutex<Record>,
    changed: Notify,
}

impl RecordingController {
    /// A controller of `primary` named `name`.
    pub fn new(name: &str, primary: ApiResource) -> Arc<Self> {
        Self::with_watches(name, primary, Vec::new())
    }

    /// A controller of `primary` that also watches these.
    pub fn with_watches(name: &str, primary: ApiResource, watches: Vec<Watch>) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            primary,
            watches,
            record: Mutex::new(Record::default()),
            changed: Notify::new(),
        })
    }

    /// Makes the next `times` reconciles of `key` fail.
    pub fn fail(&self, key: ObjectKey, times: u32) {
        self.record.lock().failures_left.insert(key, times);
    }

    /// Every key reconciled so far, in order (failed attempts included).
    pub fn reconciled(&self) -> Vec<ObjectKey> {
        self.record.lock().reconciled.clone()
    }

    /// How many times `key` was reconciled.
    pub fn count(&self, key: &ObjectKey) -> usize {
        self.record
            .lock()
            .reconciled
            .iter()
            .filter(|k| *k == key)
            .count()
    }

    /// Waits until `key` was reconciled at least `times` times.
    pub async fn wait_for(&self, key: &ObjectKey, times: usize) {
        loop {
            let notified = self.changed.notified();
            if self.count(key) >= times {
                return;
            }
            notified.await;
        }
    }
}

#[async_trait]
impl kube_core::Controller for RecordingController {
    fn name(&self) -> &str {
        &self.name
    }

    fn primary(&self) -> ApiResource {
        self.primary.clone()
    }

    fn watches(&self) -> Vec<Watch> {
        self.watches.clone()
    }

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, BoxError> {
        let fail = {
            let mut record = self.record.lock();
            record.reconciled.push(key.clone());
            match record.failures_left.get_mut(key) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        };
        self.changed.notify_waiters();
        if fail {
            return Err(format!("{key} fails as told").into());
        }
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests {
    use kube_core::{ConfigMap, Controller as _, StaticResource};

    use super::*;

    #[tokio::test]
    async fn records_and_fails_as_told() {
        let c = RecordingController::new("rec", ConfigMap::API_RESOURCE);
        let key = ObjectKey::namespaced("ns", "a");
        c.fail(key.clone(), 1);
        assert!(c.reconcile(&key).await.is_err());
        assert_eq!(c.reconcile(&key).await.unwrap(), Action::Done);
        c.wait_for(&key, 2).await;
        assert_eq!(c.reconciled(), vec![key.clone(), key]);
        assert_eq!(c.name(), "rec");
    }
}
