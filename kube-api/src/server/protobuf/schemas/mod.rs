//! The message schemas, one file per API group, and the kinds a protobuf body may carry.
//!
//! Field numbers come from the published Kubernetes API; every field the kube-core kinds
//! model is here, and most others of the same messages. A field a table lacks is skipped,
//! as the JSON decoder ignores an unknown field.

mod apps_v1;
mod batch_v1;
mod coordination_v1;
mod core_v1;
mod meta_v1;
mod rbac_v1;
mod reviews;
mod subresources;

use super::schema::Message;

/// Every kind a protobuf body may carry: `(apiVersion, kind, schema)`.
static KINDS: &[(&str, &str, &Message)] = &[
    ("v1", "Pod", &core_v1::POD),
    ("v1", "Node", &core_v1::NODE),
    ("v1", "Service", &core_v1::SERVICE),
    ("v1", "Namespace", &core_v1::NAMESPACE),
    ("v1", "ConfigMap", &core_v1::CONFIG_MAP),
    ("v1", "Secret", &core_v1::SECRET),
    ("v1", "ServiceAccount", &core_v1::SERVICE_ACCOUNT),
    ("v1", "Endpoints", &core_v1::ENDPOINTS),
    ("v1", "Event", &core_v1::EVENT),
    ("v1", "Binding", &core_v1::BINDING),
    ("apps/v1", "Deployment", &apps_v1::DEPLOYMENT),
    ("apps/v1", "ReplicaSet", &apps_v1::REPLICA_SET),
    ("apps/v1", "DaemonSet", &apps_v1::DAEMON_SET),
    ("batch/v1", "Job", &batch_v1::JOB),
    ("coordination.k8s.io/v1", "Lease", &coordination_v1::LEASE),
    ("rbac.authorization.k8s.io/v1", "Role", &rbac_v1::ROLE),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        &rbac_v1::CLUSTER_ROLE,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        &rbac_v1::ROLE_BINDING,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &rbac_v1::ROLE_BINDING,
    ),
    ("policy/v1", "Eviction", &subresources::EVICTION),
    ("policy/v1beta1", "Eviction", &subresources::EVICTION),
    ("autoscaling/v1", "Scale", &subresources::SCALE),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &reviews::SELF_SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        &reviews::SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "LocalSubjectAccessReview",
        &reviews::SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        &reviews::SELF_SUBJECT_RULES_REVIEW,
    ),
    (
        "authentication.k8s.io/v1",
        "TokenReview",
        &reviews::TOKEN_REVIEW,
    ),
    (
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        &reviews::SELF_SUBJECT_REVIEW,
    ),
];

/// The schema of `kind` in `api_version`. `DeleteOptions` is registered in every group
/// version, as in Kubernetes, so it is found whatever version names it.
pub(crate) fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    if kind == "DeleteOptions" {
        return Some(&meta_v1::DELETE_OPTIONS);
    }
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, schema)| *schema)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::schema::{Shape, Ty};
    use super::*;

    /// Every message reachable from the kinds, each once.
    fn all_messages() -> Vec<&'static Message> {
        let mut seen = HashSet::new();
        let mut todo: Vec<&'static Message> = KINDS.iter().map(|(_, _, m)| *m).collect();
        todo.push(&meta_v1::DELETE_OPTIONS);
        let mut out = Vec::new();
        while let Some(m) = todo.pop() {
            if !seen.insert(std::ptr::from_ref(m) as usize) {
                continue;
            }
            out.push(m);
            for f in m.fields {
                if let Ty::Message(inner) = f.ty {
                    todo.push(inner);
                }
            }
        }
        out
    }

    #[test]
    fn tables_are_well_formed() {
        for m in all_messages() {
            let mut numbers = HashSet::new();
            let mut names = HashSet::new();
            for f in m.fields {
                assert!(
                    numbers.insert(f.number),
                    "{}: field {} twice",
                    m.name,
                    f.number
                );
                assert!(f.number > 0 && f.number < 1 << 29, "{}: bad number", m.name);
                if f.shape == Shape::Inline {
                    assert!(
                        matches!(f.ty, Ty::Message(_)),
                        "{}: inline non-message",
                        m.name
                    );
                } else {
                    assert!(!f.json.is_empty(), "{}: field {} unnamed", m.name, f.number);
                    assert!(names.insert(f.json), "{}: {} twice", m.name, f.json);
                }
            }
        }
    }

    #[test]
    fn kinds_resolve_and_delete_options_is_everywhere() {
        assert_eq!(lookup("v1", "Pod").map(|m| m.name), Some("Pod"));
        assert_eq!(lookup("apps/v1", "Pod").map(|m| m.name), None);
        assert_eq!(
            lookup("rbac.authorization.k8s.io/v1", "ClusterRoleBinding").map(|m| m.name),
            Some("RoleBinding")
        );
        for v in ["v1", "meta.k8s.io/v1", "apps/v1", "policy/v1"] {
            assert_eq!(
                lookup(v, "DeleteOptions").map(|m| m.name),
                Some("DeleteOptions")
            );
        }
        assert!(lookup("example.com/v1", "Widget").is_none());
    }
}
