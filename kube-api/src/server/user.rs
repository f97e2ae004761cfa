//! [`UserInfo`]: who sent a request, as the authentication layer found out.
//!
//! The authentication layer puts a `UserInfo` in the request's extensions; the registry
//! reads it for admission and audit. A request without one (no authentication layer
//! installed, as in tests and in-process use) is treated as coming from
//! [`UserInfo::admin`], so the server works on its own.

use std::collections::BTreeMap;

/// The group every authenticated user is in.
pub const GROUP_AUTHENTICATED: &str = "system:authenticated";
/// The group of anonymous requests.
pub const GROUP_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The group that RBAC lets do anything.
pub const GROUP_MASTERS: &str = "system:masters";
/// The user name of anonymous requests.
pub const USER_ANONYMOUS: &str = "system:anonymous";
/// The user name of the built-in administrator.
pub const USER_ADMIN: &str = "system:admin";

/// An authenticated (or anonymous) user: name, uid, groups and extra attributes, as
/// Kubernetes' `user.Info`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name (`"alice"`, `"system:node:node-1"`).
    pub name: String,
    /// A unique id, when the authenticator knows one.
    pub uid: String,
    /// The groups the user is in.
    pub groups: Vec<String>,
    /// Extra attributes (scopes and the like) from the authenticator.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with a name and groups; `system:authenticated` is added when missing.
    pub fn new<I, S>(name: impl Into<String>, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut groups: Vec<String> = groups.into_iter().map(Into::into).collect();
        if !groups.iter().any(|g| g == GROUP_AUTHENTICATED) {
            groups.push(GROUP_AUTHENTICATED.to_owned());
        }
        Self {
            name: name.into(),
            uid: String::new(),
            groups,
            extra: BTreeMap::new(),
        }
    }

    /// The built-in administrator, in `system:masters`: what a request without a
    /// `UserInfo` extension is treated as.
    pub fn admin() -> Self {
        Self::new(USER_ADMIN, [GROUP_MASTERS])
    }

    /// The anonymous user, in `system:unauthenticated` only.
    pub fn anonymous() -> Self {
        Self {
            name: USER_ANONYMOUS.to_owned(),
            uid: String::new(),
            groups: vec![GROUP_UNAUTHENTICATED.to_owned()],
            extra: BTreeMap::new(),
        }
    }

    /// True when the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// True for the anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.name == USER_ANONYMOUS
    }

    /// The user a request comes from: its `UserInfo` extension, or [`UserInfo::admin`]
    /// when no authentication layer put one there.
    pub fn of_request<B>(request: &http::Request<B>) -> Self {
        request
            .extensions()
            .get::<UserInfo>()
            .cloned()
            .unwrap_or_else(Self::admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_users_are_authenticated() {
        let u = UserInfo::new("alice", ["dev"]);
        assert!(u.in_group("dev") && u.in_group(GROUP_AUTHENTICATED));
        assert!(!u.is_anonymous());
        assert!(UserInfo::anonymous().in_group(GROUP_UNAUTHENTICATED));
    }

    #[test]
    fn requests_without_a_user_are_admin() {
        let mut req = http::Request::new(());
        assert_eq!(UserInfo::of_request(&req), UserInfo::admin());
        req.extensions_mut().insert(UserInfo::new("bob", ["x"]));
        assert_eq!(UserInfo::of_request(&req).name, "bob");
    }
}
