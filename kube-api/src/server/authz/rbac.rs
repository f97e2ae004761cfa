//! [`RbacAuthorizer`]: Kubernetes RBAC over the `rbac.authorization.k8s.io` objects, read
//! from informer caches.
//!
//! A request is allowed when a rule allows it in:
//!
//! - a ClusterRole bound to the user (or one of their groups, or their service account)
//!   by a ClusterRoleBinding: everywhere, non-resource URLs included;
//! - a Role, or a ClusterRole, bound by a RoleBinding in the request's namespace: in that
//!   namespace only.
//!
//! The group `system:masters` may do everything. As Kubernetes' bootstrap policy does,
//! everybody may read the health and version endpoints (`system:public-info-viewer`), and
//! every authenticated user may read discovery and OpenAPI (`system:discovery`) and ask
//! what they may do (`system:basic-user`).

use std::ops::ControlFlow;
use std::sync::Arc;

use kube_core::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject, SubjectKind,
};

use super::attributes::RequestAttributes;
use super::{Authorizer, Decision};
use crate::informer::{Cache, SharedInformerFactory};
use crate::server::user::{GROUP_AUTHENTICATED, GROUP_MASTERS, UserInfo};

/// RBAC over four informer caches.
#[derive(Clone, Debug)]
pub struct RbacAuthorizer {
    roles: Cache<Role>,
    cluster_roles: Cache<ClusterRole>,
    role_bindings: Cache<RoleBinding>,
    cluster_role_bindings: Cache<ClusterRoleBinding>,
    bootstrap: Arc<Bootstrap>,
}

#[derive(Debug)]
struct Bootstrap {
    public: Vec<PolicyRule>,
    authenticated: Vec<PolicyRule>,
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], urls: &[&str]) -> PolicyRule {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    PolicyRule {
        verbs: owned(verbs),
        api_groups: owned(groups),
        resources: owned(resources),
        resource_names: Vec::new(),
        non_resource_urls: owned(urls),
    }
}

/// Every verb on every resource and every path: what `system:masters` may do.
pub(super) fn everything() -> Vec<PolicyRule> {
    vec![
        rule(&["*"], &["*"], &["*"], &[]),
        rule(&["*"], &[], &[], &["*"]),
    ]
}

impl Bootstrap {
    fn new() -> Self {
        Self {
            // system:public-info-viewer
            public: vec![rule(
                &["get"],
                &[],
                &[],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
            authenticated: vec![
                // system:discovery
                rule(
                    &["get"],
                    &[],
                    &[],
                    &[
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                        "/healthz",
                        "/livez",
                        "/openapi",
                        "/openapi/*",
                        "/readyz",
                        "/version",
                        "/version/",
                    ],
                ),
                // system:basic-user
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &[],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &[],
                ),
            ],
        }
    }
}

impl RbacAuthorizer {
    /// An authorizer over these caches.
    pub fn new(
        roles: Cache<Role>,
        cluster_roles: Cache<ClusterRole>,
        role_bindings: Cache<RoleBinding>,
        cluster_role_bindings: Cache<ClusterRoleBinding>,
    ) -> Self {
        Self {
            roles,
            cluster_roles,
            role_bindings,
            cluster_role_bindings,
            bootstrap: Arc::new(Bootstrap::new()),
        }
    }

    /// An authorizer over the shared informers of a factory (which must be started).
    pub fn from_factory(factory: &SharedInformerFactory) -> Self {
        Self::new(
            factory.informer::<Role>().cache(),
            factory.informer::<ClusterRole>().cache(),
            factory.informer::<RoleBinding>().cache(),
            factory.informer::<ClusterRoleBinding>().cache(),
        )
    }

    /// Waits until the four caches hold complete lists.
    pub async fn wait_until_synced(&self) {
        self.roles.wait_until_synced().await;
        self.cluster_roles.wait_until_synced().await;
        self.role_bindings.wait_until_synced().await;
        self.cluster_role_bindings.wait_until_synced().await;
    }

    fn cluster_role_rules(&self, name: &str) -> Option<Arc<ClusterRole>> {
        self.cluster_roles.get_named(None, name)
    }

    /// `f` of the rules of the role a binding refers to (`None` when there is no such
    /// role: a binding may come before its role, or outlive it).
    fn with_role_rules<R>(
        &self,
        role_ref: &RoleRef,
        namespace: Option<&str>,
        f: impl FnOnce(&[PolicyRule]) -> R,
    ) -> Option<R> {
        match role_ref.kind.as_str() {
            "ClusterRole" => self
                .cluster_role_rules(&role_ref.name)
                .map(|role| f(&role.rules)),
            "Role" => namespace
                .and_then(|ns| self.roles.get_named(Some(ns), &role_ref.name))
                .map(|role| f(&role.rules)),
            _ => None,
        }
    }
}

fn rule_allows(rule: &PolicyRule, attrs: &RequestAttributes) -> bool {
    if attrs.resource_request {
        rule.allows(
            &attrs.verb,
            &attrs.api_group,
            &attrs.resource,
            Some(attrs.subresource.as_str()),
            &attrs.name,
        )
    } else {
        rule.allows_non_resource(&attrs.verb, &attrs.path)
    }
}

/// True when a binding's subject is this user (by name, group or service account).
fn applies_to(subject: &Subject, user: &UserInfo, binding_namespace: &str) -> bool {
    match &subject.kind {
        SubjectKind::User => subject.name == user.name,
        SubjectKind::Group => user.groups.contains(&subject.name),
        SubjectKind::ServiceAccount => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(binding_namespace);
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{}", subject.name)
        }
        SubjectKind::Other(_) => false,
    }
}

/// Where a rule applies: everywhere, or only in the namespace of the binding that grants
/// it (such a rule grants no non-resource URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// From the bootstrap rules or a cluster-wide binding.
    Cluster,
    /// From a binding in the namespace asked about.
    Namespace,
}

impl RbacAuthorizer {
    /// Visits, in order, the rules that apply to `user` in `namespace` (`""`: cluster-wide
    /// rules only): the bootstrap rules for everybody and for authenticated users, the
    /// rules of every ClusterRole bound to the user cluster-wide, then those of every role
    /// bound to them in the namespace. `f` stops the walk by returning `Break`; the walk
    /// returns whether it was stopped. `system:masters` is not walked (it may do
    /// everything).
    fn visit_rules(
        &self,
        user: &UserInfo,
        namespace: &str,
        mut f: impl FnMut(&PolicyRule, Scope) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut each = |rules: &[PolicyRule], scope| rules.iter().try_for_each(|r| f(r, scope));
        each(&self.bootstrap.public, Scope::Cluster)?;
        if user.in_group(GROUP_AUTHENTICATED) {
            each(&self.bootstrap.authenticated, Scope::Cluster)?;
        }
        for binding in self.cluster_role_bindings.list() {
            if binding.role_ref.kind == "ClusterRole"
                && binding.subjects.iter().any(|s| applies_to(s, user, ""))
            {
                self.with_role_rules(&binding.role_ref, None, |r| each(r, Scope::Cluster))
                    .unwrap_or(ControlFlow::Continue(()))?;
            }
        }
        if namespace.is_empty() {
            return ControlFlow::Continue(());
        }
        for binding in self.role_bindings.list_namespace(namespace) {
            if binding
                .subjects
                .iter()
                .any(|s| applies_to(s, user, namespace))
            {
                self.with_role_rules(&binding.role_ref, Some(namespace), |r| {
                    each(r, Scope::Namespace)
                })
                .unwrap_or(ControlFlow::Continue(()))?;
            }
        }
        ControlFlow::Continue(())
    }
}

impl Authorizer for RbacAuthorizer {
    fn authorize(&self, attrs: &RequestAttributes) -> Decision {
        if attrs.user.in_group(GROUP_MASTERS) {
            return Decision::Allow;
        }
        // Role bindings grant only resources in their own namespace.
        let namespace = if attrs.resource_request {
            attrs.namespace.as_str()
        } else {
            ""
        };
        let allowed = self.visit_rules(&attrs.user, namespace, |rule, _| {
            if rule_allows(rule, attrs) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if allowed.is_break() {
            Decision::Allow
        } else {
            Decision::NoOpinion
        }
    }

    /// The rules [`authorize`](Self::authorize) looks through, in the same order; a rule
    /// from a role bound in the namespace comes without its non-resource URLs, as it
    /// grants none.
    fn rules(&self, user: &UserInfo, namespace: &str) -> Option<Vec<PolicyRule>> {
        if user.in_group(GROUP_MASTERS) {
            return Some(everything());
        }
        let mut rules = Vec::new();
        let _ = self.visit_rules(user, namespace, |rule, scope| {
            match scope {
                Scope::Cluster => rules.push(rule.clone()),
                Scope::Namespace if !rule.resources.is_empty() => rules.push(PolicyRule {
                    non_resource_urls: Vec::new(),
                    ..rule.clone()
                }),
                Scope::Namespace => {}
            }
            ControlFlow::Continue(())
        });
        Some(rules)
    }
}

#[cfg(test)]
mod tests {
    use http::Request;
    use kube_core::ObjectMeta;

    use super::*;
    use crate::informer::{CacheWriter, Change};
    use crate::server::UserInfo;

    struct Fixture {
        roles: CacheWriter<Role>,
        cluster_roles: CacheWriter<ClusterRole>,
        role_bindings: CacheWriter<RoleBinding>,
        cluster_role_bindings: CacheWriter<ClusterRoleBinding>,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                roles: CacheWriter::new(),
                cluster_roles: CacheWriter::new(),
                role_bindings: CacheWriter::new(),
                cluster_role_bindings: CacheWriter::new(),
            }
        }

        fn authorizer(&self) -> RbacAuthorizer {
            RbacAuthorizer::new(
                self.roles.cache(),
                self.cluster_roles.cache(),
                self.role_bindings.cache(),
                self.cluster_role_bindings.cache(),
            )
        }
    }

    fn meta(ns: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: ns.map(Into::into),
            resource_version: Some("1".into()),
            ..Default::default()
        }
    }

    fn subject(kind: SubjectKind, name: &str, ns: Option<&str>) -> Subject {
        Subject {
            kind,
            api_group: None,
            name: name.into(),
            namespace: ns.map(Into::into),
        }
    }

    fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn ask(rbac: &RbacAuthorizer, user: &UserInfo, method: &str, uri: &str) -> bool {
        let req = Request::builder().method(method).uri(uri).body(()).unwrap();
        let attrs = RequestAttributes::from_request(&req, user.clone());
        rbac.authorize(&attrs) == Decision::Allow
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo::new(name, groups.iter().copied())
    }

    #[test]
    fn role_bindings_grant_in_their_namespace_only() {
        let f = Fixture::new();
        f.roles.apply(Change::Upsert(Role {
            metadata: meta(Some("team"), "pod-reader"),
            rules: vec![rule(&["get"], &[""], &["pods"], &[])],
        }));
        f.role_bindings.apply(Change::Upsert(RoleBinding {
            metadata: meta(Some("team"), "read-pods"),
            subjects: vec![subject(SubjectKind::User, "alice", None)],
            role_ref: role_ref("Role", "pod-reader"),
        }));
        let rbac = f.authorizer();
        let alice = user("alice", &[]);
        assert!(ask(
            &rbac,
            &alice,
            "GET",
            "/api/v1/namespaces/team/pods/web"
        ));
        assert!(!ask(&rbac, &alice, "POST", "/api/v1/namespaces/team/pods"));
        assert!(
            !ask(&rbac, &alice, "GET", "/api/v1/namespaces/team/pods"),
            "list is another verb"
        );
        assert!(!ask(
            &rbac,
            &alice,
            "GET",
            "/api/v1/namespaces/other/pods/web"
        ));
        assert!(!ask(&rbac, &alice, "GET", "/api/v1/pods"));
        assert!(!ask(
            &rbac,
            &user("bob", &[]),
            "GET",
            "/api/v1/namespaces/team/pods/web"
        ));
    }

    #[test]
    fn cluster_roles_bound_in_a_namespace_or_cluster_wide() {
        let f = Fixture::new();
        f.cluster_roles.apply(Change::Upsert(ClusterRole {
            metadata: meta(None, "view"),
            rules: vec![rule(&["get", "list", "watch"], &["", "apps"], &["*"], &[])],
            aggregation_rule: None,
        }));
        f.cluster_roles.apply(Change::Upsert(ClusterRole {
            metadata: meta(None, "metrics"),
            rules: vec![rule(&["get"], &[], &[], &["/metrics"])],
            aggregation_rule: None,
        }));
        f.role_bindings.apply(Change::Upsert(RoleBinding {
            metadata: meta(Some("team"), "viewers"),
            subjects: vec![subject(SubjectKind::Group, "devs", None)],
            role_ref: role_ref("ClusterRole", "view"),
        }));
        f.cluster_role_bindings
            .apply(Change::Upsert(ClusterRoleBinding {
                metadata: meta(None, "scrapers"),
                subjects: vec![subject(SubjectKind::ServiceAccount, "prom", Some("mon"))],
                role_ref: role_ref("ClusterRole", "metrics"),
            }));
        f.cluster_role_bindings
            .apply(Change::Upsert(ClusterRoleBinding {
                metadata: meta(None, "global-view"),
                subjects: vec![subject(SubjectKind::User, "auditor", None)],
                role_ref: role_ref("ClusterRole", "view"),
            }));
        let rbac = f.authorizer();
        let dev = user("dan", &["devs"]);
        assert!(ask(
            &rbac,
            &dev,
            "GET",
            "/apis/apps/v1/namespaces/team/deployments?watch=1"
        ));
        assert!(!ask(
            &rbac,
            &dev,
            "GET",
            "/apis/apps/v1/namespaces/prod/deployments"
        ));
        assert!(!ask(
            &rbac,
            &dev,
            "DELETE",
            "/api/v1/namespaces/team/pods/x"
        ));
        let auditor = user("auditor", &[]);
        assert!(ask(&rbac, &auditor, "GET", "/api/v1/nodes"));
        assert!(ask(&rbac, &auditor, "GET", "/api/v1/namespaces/any/pods"));
        assert!(!ask(&rbac, &auditor, "GET", "/metrics"));
        let prom = user("system:serviceaccount:mon:prom", &[]);
        assert!(ask(&rbac, &prom, "GET", "/metrics"));
        assert!(!ask(
            &rbac,
            &user("system:serviceaccount:other:prom", &[]),
            "GET",
            "/metrics"
        ));
    }

    #[test]
    fn role_bindings_do_not_grant_non_resource_urls() {
        let f = Fixture::new();
        f.cluster_roles.apply(Change::Upsert(ClusterRole {
            metadata: meta(None, "metrics"),
            rules: vec![rule(&["get"], &[], &[], &["/metrics"])],
            aggregation_rule: None,
        }));
        f.role_bindings.apply(Change::Upsert(RoleBinding {
            metadata: meta(Some("team"), "m"),
            subjects: vec![subject(SubjectKind::User, "alice", None)],
            role_ref: role_ref("ClusterRole", "metrics"),
        }));
        assert!(!ask(
            &f.authorizer(),
            &user("alice", &[]),
            "GET",
            "/metrics"
        ));
    }

    #[test]
    fn masters_and_bootstrap_rules() {
        let rbac = Fixture::new().authorizer();
        let root = user("root", &["system:masters"]);
        assert!(ask(&rbac, &root, "DELETE", "/api/v1/nodes/n1"));
        assert!(ask(&rbac, &root, "GET", "/metrics"));
        let nobody = UserInfo::anonymous();
        assert!(ask(&rbac, &nobody, "GET", "/healthz"));
        assert!(ask(&rbac, &nobody, "GET", "/version"));
        assert!(!ask(&rbac, &nobody, "GET", "/api"));
        let alice = user("alice", &[]);
        assert!(ask(&rbac, &alice, "GET", "/api"));
        assert!(ask(&rbac, &alice, "GET", "/apis/apps/v1"));
        assert!(ask(&rbac, &alice, "GET", "/openapi/v2"));
        assert!(!ask(&rbac, &alice, "GET", "/api/v1/pods"));
        assert!(!ask(&rbac, &alice, "POST", "/api"));
    }

    #[test]
    fn rules_list_what_authorize_allows() {
        let f = Fixture::new();
        f.roles.apply(Change::Upsert(Role {
            metadata: meta(Some("team"), "pod-reader"),
            rules: vec![rule(&["get"], &[""], &["pods"], &[])],
        }));
        f.cluster_roles.apply(Change::Upsert(ClusterRole {
            metadata: meta(None, "metrics"),
            rules: vec![rule(&["get"], &[], &["nodes"], &["/metrics"])],
            aggregation_rule: None,
        }));
        f.role_bindings.apply(Change::Upsert(RoleBinding {
            metadata: meta(Some("team"), "read-pods"),
            subjects: vec![subject(SubjectKind::User, "alice", None)],
            role_ref: role_ref("Role", "pod-reader"),
        }));
        f.role_bindings.apply(Change::Upsert(RoleBinding {
            metadata: meta(Some("team"), "metrics-here"),
            subjects: vec![subject(SubjectKind::User, "alice", None)],
            role_ref: role_ref("ClusterRole", "metrics"),
        }));
        f.cluster_role_bindings
            .apply(Change::Upsert(ClusterRoleBinding {
                metadata: meta(None, "dangling"),
                subjects: vec![subject(SubjectKind::User, "alice", None)],
                role_ref: role_ref("ClusterRole", "missing"),
            }));
        let rbac = f.authorizer();
        let alice = user("alice", &[]);
        let bootstrap = {
            let b = Bootstrap::new();
            [b.public, b.authenticated].concat()
        };

        // In "team": the bootstrap rules, the Role's, and the ClusterRole's resource
        // part only (a role binding grants no non-resource URL).
        let mut want = bootstrap.clone();
        want.push(rule(&["get"], &[""], &["pods"], &[]));
        want.push(rule(&["get"], &[], &["nodes"], &[]));
        let mut got = rbac.rules(&alice, "team").unwrap();
        got[bootstrap.len()..].sort_by(|a, b| a.resources.cmp(&b.resources));
        want[bootstrap.len()..].sort_by(|a, b| a.resources.cmp(&b.resources));
        assert_eq!(got, want);
        assert!(!ask(&rbac, &alice, "GET", "/metrics"));
        // Elsewhere, and cluster-wide: the bootstrap rules alone.
        assert_eq!(rbac.rules(&alice, "other").unwrap(), bootstrap);
        assert_eq!(rbac.rules(&alice, "").unwrap(), bootstrap);
        // Anonymous users get the public rules; masters everything.
        assert_eq!(
            rbac.rules(&UserInfo::anonymous(), "team").unwrap(),
            Bootstrap::new().public
        );
        assert_eq!(
            rbac.rules(&user("root", &["system:masters"]), "team")
                .unwrap(),
            everything()
        );
    }

    #[test]
    fn bindings_to_missing_roles_grant_nothing() {
        let f = Fixture::new();
        f.role_bindings.apply(Change::Upsert(RoleBinding {
            metadata: meta(Some("team"), "dangling"),
            subjects: vec![subject(SubjectKind::User, "alice", None)],
            role_ref: role_ref("Role", "missing"),
        }));
        assert!(!ask(
            &f.authorizer(),
            &user("alice", &[]),
            "GET",
            "/api/v1/namespaces/team/pods/x"
        ));
    }
}
