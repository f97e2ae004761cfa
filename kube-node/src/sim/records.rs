//! The simulator's records: sandboxes, containers and images, with an index of each
//! pod's sandboxes and containers by its UID label.
//!
//! The node agent lists a pod's records by that label on every sync of the pod; without
//! the index each list scanned every record of the node (quadratic in the pods per node).
//! Records go in and out only through [`State`]'s methods, which keep the index in step.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kube_core::runtime::{Image, Labels};

use super::{SimContainer, SimSandbox};
use crate::kubelet::labels::POD_UID;

/// Everything a simulated runtime holds.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) sandboxes: HashMap<Arc<str>, SimSandbox>,
    pub(super) containers: HashMap<Arc<str>, SimContainer>,
    /// The ids of each pod's records, by their pod UID label.
    by_pod: HashMap<String, PodRecords>,
    pub(super) images: BTreeMap<String, Image>,
    pub(super) next_ip: u32,
}

/// One pod's records, in [`State::by_pod`].
#[derive(Debug, Default)]
struct PodRecords {
    sandboxes: Vec<Arc<str>>,
    containers: Vec<Arc<str>>,
}

/// Which of a pod's records.
#[derive(Clone, Copy)]
pub(super) enum Record {
    Sandbox,
    Container,
}

impl PodRecords {
    fn ids(&mut self, record: Record) -> &mut Vec<Arc<str>> {
        match record {
            Record::Sandbox => &mut self.sandboxes,
            Record::Container => &mut self.containers,
        }
    }
}

impl State {
    pub(super) fn insert_sandbox(&mut self, id: Arc<str>, sandbox: SimSandbox) {
        self.index(Record::Sandbox, &sandbox.labels, &id);
        self.sandboxes.insert(id, sandbox);
    }

    pub(super) fn remove_sandbox(&mut self, id: &str) {
        if let Some(sandbox) = self.sandboxes.remove(id) {
            self.unindex(Record::Sandbox, &sandbox.labels, id);
        }
    }

    pub(super) fn insert_container(&mut self, id: Arc<str>, container: SimContainer) {
        self.index(Record::Container, &container.labels, &id);
        self.containers.insert(id, container);
    }

    pub(super) fn remove_container(&mut self, id: &str) {
        if let Some(c) = self.containers.remove(id) {
            self.unindex(Record::Container, &c.labels, id);
        }
    }

    /// The containers created in a sandbox.
    pub(super) fn containers_in_sandbox(&self, sandbox: &str) -> Vec<Arc<str>> {
        self.containers
            .iter()
            .filter(|(_, c)| &*c.sandbox_id == sandbox)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The ids a list with `selector` needs to look at: the pod's, when it selects one
    /// pod by its UID label; `None` when it does not (look at every record).
    pub(super) fn candidates(&self, record: Record, selector: &Labels) -> Option<Vec<Arc<str>>> {
        let uid = selector.get(POD_UID)?;
        Some(match (self.by_pod.get(uid), record) {
            (None, _) => Vec::new(),
            (Some(r), Record::Sandbox) => r.sandboxes.clone(),
            (Some(r), Record::Container) => r.containers.clone(),
        })
    }

    /// Whether the index holds anything for a pod UID.
    #[cfg(test)]
    pub(super) fn indexes(&self, uid: &str) -> bool {
        self.by_pod.contains_key(uid)
    }

    fn index(&mut self, record: Record, labels: &Labels, id: &Arc<str>) {
        if let Some(uid) = labels.get(POD_UID) {
            let ids = self.by_pod.entry(uid.clone()).or_default().ids(record);
            ids.push(id.clone());
        }
    }

    fn unindex(&mut self, record: Record, labels: &Labels, id: &str) {
        let Some(uid) = labels.get(POD_UID) else {
            return;
        };
        if let Some(records) = self.by_pod.get_mut(uid) {
            records.ids(record).retain(|i| &**i != id);
            if records.sandboxes.is_empty() && records.containers.is_empty() {
                self.by_pod.remove(uid);
            }
        }
    }
}
