//! RBAC (`rbac.authorization.k8s.io/v1`): `Role` and `ClusterRole` grant permissions as
//! [`PolicyRule`]s; `RoleBinding` and `ClusterRoleBinding` give them to subjects.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::selector::LabelSelector;

/// The wildcard that matches every verb, group, resource or non-resource URL in a rule.
pub const RBAC_WILDCARD: &str = "*";

/// A set of permissions within one namespace (`rbac.authorization.k8s.io/v1`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The permissions; a request is allowed when any rule allows it.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub rules: Vec<PolicyRule>,
}

crate::impl_resource!(Role {
    group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles",
    namespaced: true, short_names: [], categories: [],
    fields: { metadata: "metadata", rules: "rules" }
});

/// A set of permissions across the cluster, or a template for namespaced ones when bound by
/// a RoleBinding (`rbac.authorization.k8s.io/v1`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRole {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The permissions; a request is allowed when any rule allows it. Managed by the
    /// controller when `aggregationRule` is set.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub rules: Vec<PolicyRule>,
    /// When set, the rules are the union of the rules of the ClusterRoles that match.
    #[serde(default)]
    pub aggregation_rule: Option<AggregationRule>,
}

crate::impl_resource!(ClusterRole {
    group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole",
    plural: "clusterroles", namespaced: false, short_names: [], categories: [],
    fields: { metadata: "metadata", rules: "rules" },
    omit_empty: { aggregation_rule: "aggregationRule" }
});

/// Grants the permissions of a Role or ClusterRole to subjects within one namespace.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Who gets the permissions.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub subjects: Vec<Subject>,
    /// The Role (same namespace) or ClusterRole granted; cannot be changed once set.
    #[serde(default)]
    pub role_ref: RoleRef,
}

crate::impl_resource!(RoleBinding {
    group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding",
    plural: "rolebindings", namespaced: true, short_names: [], categories: [],
    fields: { metadata: "metadata", role_ref: "roleRef" },
    omit_empty: { subjects: "subjects" }
});

/// Grants the permissions of a ClusterRole to subjects across the cluster.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRoleBinding {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Who gets the permissions.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub subjects: Vec<Subject>,
    /// The ClusterRole granted; cannot be changed once set.
    #[serde(default)]
    pub role_ref: RoleRef,
}

crate::impl_resource!(ClusterRoleBinding {
    group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding",
    plural: "clusterrolebindings", namespaced: false, short_names: [], categories: [],
    fields: { metadata: "metadata", role_ref: "roleRef" },
    omit_empty: { subjects: "subjects" }
});

/// One permission: verbs on resources (in API groups, optionally by name), or verbs on
/// non-resource URLs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// The verbs allowed (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, ...); `*` for all.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub verbs: Vec<String>,
    /// The API groups of the resources; `""` is the core group, `*` all groups.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub api_groups: Vec<String>,
    /// The resources (`pods`), subresources (`pods/log`, `*/scale`), or `*` for all.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub resources: Vec<String>,
    /// When not empty, the rule allows only objects with these names.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub resource_names: Vec<String>,
    /// URL paths outside the resource API (`/healthz`, `/metrics`), exact or ending in
    /// `*` as a prefix; only meaningful in ClusterRoles.
    #[serde(
        rename = "nonResourceURLs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// True when this rule allows `verb` on `resource` (and `subresource`, if any) of API
    /// group `group`, for the object `name`.
    ///
    /// `name` is empty for requests that name no object (list, watch, create,
    /// deletecollection); such requests are never allowed by a rule with `resourceNames`.
    /// The wildcard `*` matches any verb, group or resource (subresources included);
    /// `*/scale` matches the `scale` subresource of every resource.
    pub fn allows(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        subresource: Option<&str>,
        name: &str,
    ) -> bool {
        matches_or_wildcard(&self.verbs, verb)
            && matches_or_wildcard(&self.api_groups, group)
            && self.resource_matches(resource, subresource.filter(|s| !s.is_empty()))
            && (self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name))
    }

    /// True when this rule allows `verb` on the non-resource URL `path` (`/healthz`).
    pub fn allows_non_resource(&self, verb: &str, path: &str) -> bool {
        matches_or_wildcard(&self.verbs, verb)
            && self.non_resource_urls.iter().any(|url| {
                url == RBAC_WILDCARD
                    || url == path
                    || url
                        .strip_suffix('*')
                        .is_some_and(|prefix| path.starts_with(prefix))
            })
    }

    fn resource_matches(&self, resource: &str, subresource: Option<&str>) -> bool {
        self.resources.iter().any(|rule| {
            if rule == RBAC_WILDCARD {
                return true;
            }
            match subresource {
                None => rule == resource,
                Some(sub) => rule
                    .strip_suffix(sub)
                    .and_then(|r| r.strip_suffix('/'))
                    .is_some_and(|r| r == resource || r == RBAC_WILDCARD),
            }
        })
    }
}

fn matches_or_wildcard(allowed: &[String], requested: &str) -> bool {
    allowed.iter().any(|a| a == RBAC_WILDCARD || a == requested)
}

/// Which ClusterRoles an aggregated ClusterRole collects its rules from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AggregationRule {
    /// ClusterRoles matching any of these selectors contribute their rules.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

/// Who a binding grants permissions to: a user, a group or a service account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    #[serde(default)]
    pub kind: SubjectKind,
    /// `rbac.authorization.k8s.io` for users and groups, empty for service accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The user, group or service account name.
    #[serde(default)]
    pub name: String,
    /// The service account's namespace; empty for users and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The kind of a binding [`Subject`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SubjectKind {
    /// A user, as authentication names it.
    #[default]
    User,
    /// A group of users (`system:authenticated`).
    Group,
    /// A service account, in `namespace`.
    ServiceAccount,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The role a binding grants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// The role's API group: `rbac.authorization.k8s.io`.
    #[serde(default)]
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    #[serde(default)]
    pub kind: String,
    /// The role's name.
    #[serde(default)]
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            resource_names: v(names),
            non_resource_urls: Vec::new(),
        }
    }

    #[test]
    fn rules_match_verbs_groups_resources_and_names() {
        let r = rule(&["get", "list"], &[""], &["pods"], &[]);
        assert!(r.allows("get", "", "pods", None, "web"));
        assert!(r.allows("list", "", "pods", None, ""));
        assert!(!r.allows("delete", "", "pods", None, "web"));
        assert!(!r.allows("get", "apps", "pods", None, "web"));
        assert!(!r.allows("get", "", "services", None, "web"));
        // A resource does not grant its subresources.
        assert!(!r.allows("get", "", "pods", Some("log"), "web"));
        assert!(r.allows("get", "", "pods", Some(""), "web"));
    }

    #[test]
    fn wildcards_follow_kubernetes() {
        let all = rule(&["*"], &["*"], &["*"], &[]);
        assert!(all.allows("escalate", "rbac.authorization.k8s.io", "roles", None, "x"));
        assert!(all.allows("get", "", "pods", Some("exec"), "x"));
        let scale = rule(&["update"], &["apps"], &["*/scale"], &[]);
        assert!(scale.allows("update", "apps", "deployments", Some("scale"), "web"));
        assert!(!scale.allows("update", "apps", "deployments", None, "web"));
        assert!(!scale.allows("update", "apps", "deployments", Some("status"), "web"));
        let logs = rule(&["get"], &[""], &["pods/log"], &[]);
        assert!(logs.allows("get", "", "pods", Some("log"), "web"));
        assert!(!logs.allows("get", "", "pods", None, "web"));
        assert!(!logs.allows("get", "", "nodes", Some("log"), "web"));
    }

    #[test]
    fn resource_names_restrict_to_named_objects() {
        let r = rule(&["get", "list"], &[""], &["configmaps"], &["settings"]);
        assert!(r.allows("get", "", "configmaps", None, "settings"));
        assert!(!r.allows("get", "", "configmaps", None, "other"));
        assert!(!r.allows("list", "", "configmaps", None, ""));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_prefix() {
        let r = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/healthz".into(), "/metrics/*".into()],
            ..Default::default()
        };
        assert!(r.allows_non_resource("get", "/healthz"));
        assert!(!r.allows_non_resource("get", "/healthz/etcd"));
        assert!(r.allows_non_resource("get", "/metrics/cadvisor"));
        assert!(!r.allows_non_resource("post", "/healthz"));
        assert!(!r.allows("get", "", "healthz", None, ""));
        let any = PolicyRule {
            verbs: vec!["*".into()],
            non_resource_urls: vec!["*".into()],
            ..Default::default()
        };
        assert!(any.allows_non_resource("get", "/anything"));
    }
}
