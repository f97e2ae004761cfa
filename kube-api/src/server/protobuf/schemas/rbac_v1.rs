//! `rbac.authorization.k8s.io/v1`: roles, cluster roles and their bindings.

use super::super::schema::{Message, OPT, PTR, REQ, S, f, m, rep};
use super::meta_v1::{LABEL_SELECTOR, OBJECT_META};

/// `Role`: `rules` has no `omitempty`.
pub(crate) static ROLE: Message = Message::new(
    "Role",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        rep(2, "rules", m(&POLICY_RULE), REQ),
    ],
);

/// `ClusterRole`.
pub(crate) static CLUSTER_ROLE: Message = Message::new(
    "ClusterRole",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        rep(2, "rules", m(&POLICY_RULE), REQ),
        f(3, "aggregationRule", m(&AGGREGATION_RULE), PTR),
    ],
);

/// `RoleBinding` and `ClusterRoleBinding`, which have the same fields.
pub(crate) static ROLE_BINDING: Message = Message::new(
    "RoleBinding",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        rep(2, "subjects", m(&SUBJECT), OPT),
        f(3, "roleRef", m(&ROLE_REF), REQ),
    ],
);

/// `PolicyRule`: `verbs` has no `omitempty`.
static POLICY_RULE: Message = Message::new(
    "PolicyRule",
    &[
        rep(1, "verbs", S, REQ),
        rep(2, "apiGroups", S, OPT),
        rep(3, "resources", S, OPT),
        rep(4, "resourceNames", S, OPT),
        rep(5, "nonResourceURLs", S, OPT),
    ],
);

/// `AggregationRule`.
static AGGREGATION_RULE: Message = Message::new(
    "AggregationRule",
    &[rep(1, "clusterRoleSelectors", m(&LABEL_SELECTOR), OPT)],
);

/// `Subject`.
static SUBJECT: Message = Message::new(
    "Subject",
    &[
        f(1, "kind", S, REQ),
        f(2, "apiGroup", S, OPT),
        f(3, "name", S, REQ),
        f(4, "namespace", S, OPT),
    ],
);

/// `RoleRef`.
static ROLE_REF: Message = Message::new(
    "RoleRef",
    &[
        f(1, "apiGroup", S, REQ),
        f(2, "kind", S, REQ),
        f(3, "name", S, REQ),
    ],
);
