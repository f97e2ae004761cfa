//! The garbage collector's graph: every object with its owners and dependents, by uid.

use std::collections::{BTreeSet, HashMap};

use kube_core::{ApiResource, ObjectMeta, OwnerReference};

/// `metadata.finalizers` entry: delete dependents first.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// `metadata.finalizers` entry: orphan dependents first.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// Where an object lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The kind, if known (an owner seen only through references may be of an unknown
    /// kind).
    pub(crate) resource: Option<ApiResource>,
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    pub(crate) uid: String,
}

/// One object of the graph.
#[derive(Clone, Debug)]
pub(crate) struct GraphNode {
    pub(crate) identity: Identity,
    pub(crate) owners: Vec<OwnerReference>,
    pub(crate) dependents: BTreeSet<String>,
    pub(crate) deleting: bool,
    pub(crate) finalizers: Vec<String>,
    /// Known only because something names it as its owner.
    pub(crate) virtual_: bool,
}

impl GraphNode {
    pub(crate) fn deleting_dependents(&self) -> bool {
        self.deleting && self.finalizers.iter().any(|f| f == FOREGROUND_FINALIZER)
    }

    pub(crate) fn orphaning(&self) -> bool {
        self.deleting && self.finalizers.iter().any(|f| f == ORPHAN_FINALIZER)
    }
}

/// The objects to look at after a change.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Work {
    pub(crate) uids: BTreeSet<String>,
}

/// All objects, by uid.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    nodes: HashMap<String, GraphNode>,
}

impl Graph {
    pub(crate) fn get(&self, uid: &str) -> Option<&GraphNode> {
        self.nodes.get(uid)
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Adds or updates an observed object. `resolve` gives the resource of an owner's
    /// `apiVersion` and `kind`.
    pub(crate) fn upsert(
        &mut self,
        resource: &ApiResource,
        meta: &ObjectMeta,
        resolve: &dyn Fn(&str, &str) -> Option<ApiResource>,
    ) -> Work {
        let mut work = Work::default();
        let Some(uid) = meta.uid.clone() else {
            return work;
        };
        if self.unchanged(&uid, meta) {
            return work;
        }
        let identity = Identity {
            resource: Some(resource.clone()),
            api_version: resource.api_version(),
            kind: resource.kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            uid: uid.clone(),
        };
        let deleting = meta.deletion_timestamp.is_some();
        let old = self.nodes.get(&uid).cloned();
        let old_owners = old.as_ref().map(|n| n.owners.clone()).unwrap_or_default();
        // Unlink from owners no longer named.
        for r in &old_owners {
            if !meta.owner_references.iter().any(|x| x.uid == r.uid) {
                if let Some(owner) = self.nodes.get_mut(&r.uid) {
                    owner.dependents.remove(&uid);
                    if owner.deleting_dependents() {
                        work.uids.insert(r.uid.clone());
                    }
                }
            }
        }
        // Link to owners, creating virtual nodes for those never seen (each is looked at
        // itself). An owner already in the graph that does not match the reference makes
        // the object doubtful.
        let mut doubtful = false;
        for r in &meta.owner_references {
            if let Some(known) = self.nodes.get(&r.uid) {
                doubtful |= doubtful_owner(known, r, meta.namespace.as_deref());
            }
            let owner = self.nodes.entry(r.uid.clone()).or_insert_with(|| {
                let resource = resolve(&r.api_version, &r.kind);
                let namespace = match &resource {
                    Some(ar) if !ar.namespaced => None,
                    _ => meta.namespace.clone(),
                };
                work.uids.insert(r.uid.clone());
                GraphNode {
                    identity: Identity {
                        resource,
                        api_version: r.api_version.clone(),
                        kind: r.kind.clone(),
                        namespace,
                        name: r.name.clone(),
                        uid: r.uid.clone(),
                    },
                    owners: Vec::new(),
                    dependents: BTreeSet::new(),
                    deleting: false,
                    finalizers: Vec::new(),
                    virtual_: true,
                }
            });
            owner.dependents.insert(uid.clone());
            if owner.deleting_dependents() {
                work.uids.insert(r.uid.clone());
            }
        }
        let dependents = old
            .as_ref()
            .map(|n| n.dependents.clone())
            .unwrap_or_default();
        let node = GraphNode {
            identity,
            owners: meta.owner_references.clone(),
            dependents,
            deleting,
            finalizers: meta.finalizers.clone(),
            virtual_: false,
        };
        // New owners of which one may not be what the reference says, or an object now
        // deleting dependents or orphaning: look at it. As in Kubernetes' graph builder,
        // an object whose owners match the graph is left alone (an owner never seen is
        // verified itself, and its dependents are looked at if it is gone): a look reads
        // the object from the API server, and every pod of a ReplicaSet would cost one.
        let owners_changed = old.is_none() || old_owners != node.owners;
        let started_deleting = node.deleting_dependents() || node.orphaning();
        if (owners_changed && doubtful) || started_deleting {
            work.uids.insert(uid.clone());
        }
        // Deleting dependents first: each dependent must be looked at.
        if node.deleting_dependents() && !old.as_ref().is_some_and(GraphNode::deleting_dependents) {
            work.uids.extend(node.dependents.iter().cloned());
        }
        // A virtual node observed at last: the dependents whose reference does not match
        // what was observed are looked at.
        if old.as_ref().is_some_and(|n| n.virtual_) {
            for dep in &node.dependents {
                let mismatched = self.nodes.get(dep).is_some_and(|d| {
                    d.owners
                        .iter()
                        .filter(|r| r.uid == node.identity.uid)
                        .any(|r| doubtful_owner(&node, r, d.identity.namespace.as_deref()))
                });
                if mismatched {
                    work.uids.insert(dep.clone());
                }
            }
        }
        self.nodes.insert(uid, node);
        work
    }

    /// Whether an update of a known object leaves the graph as it is and asks for no
    /// look: the same owners, all linked to it and none deleting its dependents, the
    /// same finalizers, and no deletion. Most updates (every status write of a pod) are
    /// such, and then the node is not rebuilt.
    fn unchanged(&self, uid: &str, meta: &ObjectMeta) -> bool {
        let Some(old) = self.nodes.get(uid) else {
            return false;
        };
        !old.virtual_
            && !old.deleting
            && meta.deletion_timestamp.is_none()
            && old.owners == meta.owner_references
            && old.finalizers == meta.finalizers
            && old.owners.iter().all(|r| {
                self.nodes
                    .get(&r.uid)
                    .is_some_and(|o| o.dependents.contains(uid) && !o.deleting_dependents())
            })
    }

    /// Removes an object that is gone; its dependents and its deleting owners need a look.
    pub(crate) fn remove(&mut self, uid: &str) -> Work {
        let mut work = Work::default();
        let Some(node) = self.nodes.remove(uid) else {
            return work;
        };
        for r in &node.owners {
            if let Some(owner) = self.nodes.get_mut(&r.uid) {
                owner.dependents.remove(uid);
                if owner.deleting_dependents() || owner.virtual_ {
                    work.uids.insert(r.uid.clone());
                }
            }
        }
        work.uids.extend(node.dependents.iter().cloned());
        // The dependents stay, now pointing to a virtual owner that will be verified gone.
        if !node.dependents.is_empty() {
            self.nodes.insert(
                uid.to_owned(),
                GraphNode {
                    owners: Vec::new(),
                    deleting: false,
                    finalizers: Vec::new(),
                    virtual_: true,
                    ..node
                },
            );
        }
        work
    }

    /// Forgets a virtual node verified absent, if it is still virtual.
    pub(crate) fn forget_virtual(&mut self, uid: &str) -> Vec<String> {
        match self.nodes.get(uid) {
            Some(n) if n.virtual_ => {
                let deps = n.dependents.iter().cloned().collect();
                self.nodes.remove(uid);
                deps
            }
            _ => Vec::new(),
        }
    }

    /// The dependents that block this owner's deletion (their reference to it says
    /// `blockOwnerDeletion`).
    pub(crate) fn blocking_dependents(&self, owner: &str) -> Vec<GraphNode> {
        let Some(n) = self.nodes.get(owner) else {
            return Vec::new();
        };
        n.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| {
                d.owners
                    .iter()
                    .any(|r| r.uid == owner && r.block_owner_deletion == Some(true))
            })
            .cloned()
            .collect()
    }

    /// The dependents of an object.
    pub(crate) fn dependents(&self, owner: &str) -> Vec<GraphNode> {
        self.nodes
            .get(owner)
            .map(|n| {
                n.dependents
                    .iter()
                    .filter_map(|d| self.nodes.get(d))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Whether `owner`, the graph's node for the uid of reference `r` of an object in
/// `namespace`, may not be the owner the reference means (Kubernetes'
/// `hasPotentiallyInvalidOwnerReference`): a namespaced owner in another namespace, other
/// coordinates than the reference's, or a cluster-scoped owner never observed named by a
/// namespaced object (it may be a namespaced kind referenced wrongly).
fn doubtful_owner(owner: &GraphNode, r: &OwnerReference, namespace: Option<&str>) -> bool {
    let id = &owner.identity;
    match id.namespace.as_deref() {
        Some(ns) if Some(ns) != namespace => return true,
        None if owner.virtual_ && namespace.is_some() => return true,
        _ => {}
    }
    id.api_version != r.api_version || id.kind != r.kind || id.name != r.name
}

#[cfg(test)]
mod tests {
    use kube_core::Time;

    use super::*;

    fn meta(name: &str, uid: &str, owners: &[(&str, bool)]) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(uid.into()),
            owner_references: owners
                .iter()
                .map(|(u, block)| OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: format!("owner-{u}"),
                    uid: (*u).into(),
                    controller: Some(true),
                    block_owner_deletion: Some(*block),
                })
                .collect(),
            ..ObjectMeta::default()
        }
    }

    fn rs() -> ApiResource {
        ApiResource::new("apps", "v1", "ReplicaSet", "replicasets", true)
    }

    fn pods() -> ApiResource {
        ApiResource::new("", "v1", "Pod", "pods", true)
    }

    fn resolve(_: &str, _: &str) -> Option<ApiResource> {
        Some(rs())
    }

    #[test]
    fn owners_and_dependents_link_both_ways() {
        let mut g = Graph::default();
        // A dependent seen before its owner: the owner is virtual, and checked (the
        // dependent is looked at only if the owner turns out gone).
        let w = g.upsert(&pods(), &meta("p", "p1", &[("o1", true)]), &resolve);
        assert!(w.uids.contains("o1") && !w.uids.contains("p1"), "{w:?}");
        assert!(g.get("o1").unwrap().virtual_);
        let w = g.upsert(&rs(), &meta("owner-o1", "o1", &[]), &resolve);
        assert!(!g.get("o1").unwrap().virtual_);
        assert!(
            !w.uids.contains("p1"),
            "a dependent whose reference matches the owner now observed: {w:?}"
        );
        // Observed under another name than a dependent's reference: that one is looked at.
        g.upsert(&pods(), &meta("x", "x1", &[("v9", false)]), &resolve);
        let w = g.upsert(&rs(), &meta("renamed", "v9", &[]), &resolve);
        assert!(w.uids.contains("x1"), "{w:?}");
        g.remove("x1");
        g.remove("v9");
        assert_eq!(g.blocking_dependents("o1").len(), 1);

        // A dependent of an owner already observed is not looked at; one naming the
        // owner's uid with another name is.
        let w = g.upsert(&pods(), &meta("r", "r1", &[("o1", false)]), &resolve);
        assert!(!w.uids.contains("r1"), "{w:?}");
        let mut wrong = meta("s", "s1", &[("o1", false)]);
        wrong.owner_references[0].name = "someone-else".into();
        let w = g.upsert(&pods(), &wrong, &resolve);
        assert!(w.uids.contains("s1"), "{w:?}");
        g.remove("r1");
        g.remove("s1");

        // The owner starts deleting dependents: the dependent is looked at.
        let mut deleting = meta("owner-o1", "o1", &[]);
        deleting.deletion_timestamp = Some(Time::now());
        deleting.finalizers = vec![FOREGROUND_FINALIZER.into()];
        let w = g.upsert(&rs(), &deleting, &resolve);
        assert!(w.uids.contains("p1") && w.uids.contains("o1"));

        // The dependent goes: the owner is looked at again (no more blockers).
        let w = g.remove("p1");
        assert!(w.uids.contains("o1"));
        assert!(g.blocking_dependents("o1").is_empty());

        // The owner goes while a dependent remains: the dependent is looked at, and the
        // owner stays as a virtual node to be verified.
        g.upsert(&pods(), &meta("q", "q1", &[("o1", false)]), &resolve);
        let w = g.remove("o1");
        assert!(w.uids.contains("q1"));
        assert!(g.get("o1").unwrap().virtual_);
        assert_eq!(g.forget_virtual("o1"), vec!["q1".to_owned()]);
        assert!(g.get("o1").is_none());
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn an_update_that_changes_nothing_the_graph_holds_asks_for_no_look() {
        let mut g = Graph::default();
        g.upsert(&rs(), &meta("owner-o1", "o1", &[]), &resolve);
        g.upsert(&pods(), &meta("p", "p1", &[("o1", false)]), &resolve);
        // A status write: the same owners, finalizers and no deletion.
        let w = g.upsert(&pods(), &meta("p", "p1", &[("o1", false)]), &resolve);
        assert!(w.uids.is_empty(), "{w:?}");
        assert!(g.get("o1").unwrap().dependents.contains("p1"));

        // The owner deletes its dependents: every update of one asks for the owner.
        let mut deleting = meta("owner-o1", "o1", &[]);
        deleting.deletion_timestamp = Some(Time::now());
        deleting.finalizers = vec![FOREGROUND_FINALIZER.into()];
        g.upsert(&rs(), &deleting, &resolve);
        let w = g.upsert(&pods(), &meta("p", "p1", &[("o1", false)]), &resolve);
        assert!(w.uids.contains("o1"), "{w:?}");

        // The owner gone and forgotten: an update links the dependent again, to a
        // virtual owner that is looked at.
        g.remove("o1");
        g.forget_virtual("o1");
        let w = g.upsert(&pods(), &meta("p", "p1", &[("o1", false)]), &resolve);
        assert!(w.uids.contains("o1"), "{w:?}");
        assert!(g.get("o1").unwrap().dependents.contains("p1"));
    }
}
