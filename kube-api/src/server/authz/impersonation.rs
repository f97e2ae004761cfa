//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): a request that carries
//! `Impersonate-User` (with any `Impersonate-Group`, `Impersonate-Uid` and
//! `Impersonate-Extra-<key>` headers) acts as that user, if its own user may
//! `impersonate` each of them, as Kubernetes' impersonation filter decides:
//!
//! - the user: `users` in the core group, or for `system:serviceaccount:<ns>:<name>` the
//!   `serviceaccounts` `<name>` in `<ns>`;
//! - each group: `groups` in the core group;
//! - the uid: `uids` in `authentication.k8s.io`;
//! - each extra value: `userextras/<key>` in `authentication.k8s.io`.
//!
//! The impersonated user gets `system:authenticated` (service accounts also
//! `system:serviceaccounts` and `system:serviceaccounts:<ns>`); the headers are removed
//! and the request goes on as that user, authorized as that user.

use std::collections::BTreeMap;

use http::{HeaderMap, Request};
use kube_core::{Status, StatusReason};

use super::{Authorizer, Decision, RequestAttributes, forbidden};
use crate::server::UserInfo;
use crate::server::user::{GROUP_AUTHENTICATED, GROUP_UNAUTHENTICATED, USER_ANONYMOUS};

const USER: &str = "impersonate-user";
const UID: &str = "impersonate-uid";
const GROUP: &str = "impersonate-group";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// The group of the `uids` and `userextras` resources.
const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";

/// What the impersonation headers of a request ask.
#[derive(Debug, Default, PartialEq, Eq)]
struct Asked {
    user: Option<String>,
    uid: Option<String>,
    groups: Vec<String>,
    extra: BTreeMap<String, Vec<String>>,
}

fn asked(headers: &HeaderMap) -> Result<Option<Asked>, Box<Status>> {
    let mut asked = Asked::default();
    let mut any = false;
    for (name, value) in headers {
        let name = name.as_str();
        if !name.starts_with("impersonate-") {
            continue;
        }
        any = true;
        let value = value
            .to_str()
            .map_err(|_| bad(format!("the {name} header is not text")))?
            .to_owned();
        match name {
            USER => asked.user = Some(value),
            UID => asked.uid = Some(value),
            GROUP => asked.groups.push(value),
            _ => match name.strip_prefix(EXTRA_PREFIX) {
                // Keys are percent-encoded in header names, as Kubernetes sends them.
                Some(key) if !key.is_empty() => asked
                    .extra
                    .entry(crate::server::query::decode(key))
                    .or_default()
                    .push(value),
                _ => return Err(bad(format!("unknown impersonation header {name}"))),
            },
        }
    }
    if !any {
        return Ok(None);
    }
    if asked.user.as_deref().is_none_or(str::is_empty) {
        return Err(bad(
            "impersonating groups, a uid or extra values needs Impersonate-User too".into(),
        ));
    }
    Ok(Some(asked))
}

fn bad(message: String) -> Box<Status> {
    Box::new(Status::failure(StatusReason::BadRequest, message))
}

/// The attributes of "may `user` impersonate this?".
fn attributes(
    user: &UserInfo,
    resource: &str,
    group: &str,
    namespace: &str,
    name: &str,
    subresource: &str,
) -> RequestAttributes {
    RequestAttributes {
        user: user.clone(),
        verb: "impersonate".to_owned(),
        resource_request: true,
        path: String::new(),
        api_group: group.to_owned(),
        api_version: String::new(),
        namespace: namespace.to_owned(),
        resource: resource.to_owned(),
        subresource: subresource.to_owned(),
        name: name.to_owned(),
    }
}

/// When the request asks to act as another user: that user, once `user` was allowed to
/// impersonate every part of it; the headers are removed. `Ok(None)` without
/// impersonation headers; a `Status` (400 malformed, 403 not allowed) otherwise.
pub(crate) fn impersonate<B>(
    request: &mut Request<B>,
    user: &UserInfo,
    authorizer: &dyn Authorizer,
) -> Result<Option<UserInfo>, Box<Status>> {
    let Some(asked) = asked(request.headers())? else {
        return Ok(None);
    };
    let name = asked.user.unwrap_or_default();
    let mut checks = Vec::new();
    let service_account = name
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'));
    match service_account {
        Some((ns, sa)) => checks.push(attributes(user, "serviceaccounts", "", ns, sa, "")),
        None => checks.push(attributes(user, "users", "", "", &name, "")),
    }
    for group in &asked.groups {
        checks.push(attributes(user, "groups", "", "", group, ""));
    }
    if let Some(uid) = &asked.uid {
        checks.push(attributes(user, "uids", AUTHENTICATION_GROUP, "", uid, ""));
    }
    for (key, values) in &asked.extra {
        for value in values {
            checks.push(attributes(
                user,
                "userextras",
                AUTHENTICATION_GROUP,
                "",
                value,
                key,
            ));
        }
    }
    for check in &checks {
        match authorizer.authorize(check) {
            Decision::Allow => {}
            Decision::Deny(reason) => return Err(Box::new(forbidden(check, Some(&reason)))),
            Decision::NoOpinion => return Err(Box::new(forbidden(check, None))),
        }
    }
    let mut groups = asked.groups;
    if let Some((ns, _)) = service_account {
        for g in [
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{ns}"),
        ] {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    let everyone = if name == USER_ANONYMOUS {
        GROUP_UNAUTHENTICATED
    } else {
        GROUP_AUTHENTICATED
    };
    if !groups.iter().any(|g| g == everyone) {
        groups.push(everyone.to_owned());
    }
    let headers = request.headers_mut();
    let names: Vec<_> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("impersonate-"))
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
    Ok(Some(UserInfo {
        name,
        uid: asked.uid.unwrap_or_default(),
        groups,
        extra: asked.extra,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lets `admin` impersonate anything, `alice` only users named `bob`.
    struct Policy;

    impl Authorizer for Policy {
        fn authorize(&self, a: &RequestAttributes) -> Decision {
            match (a.user.name.as_str(), a.resource.as_str(), a.name.as_str()) {
                ("admin", ..) | ("alice", "users", "bob") => Decision::Allow,
                _ => Decision::NoOpinion,
            }
        }
    }

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri("/api/v1/pods");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    fn user(name: &str) -> UserInfo {
        UserInfo::new(name, Vec::<String>::new())
    }

    #[test]
    fn no_headers_no_impersonation() {
        let mut r = request(&[("accept", "application/json")]);
        assert_eq!(impersonate(&mut r, &user("alice"), &Policy), Ok(None));
    }

    #[test]
    fn an_allowed_user_acts_as_another_and_the_headers_go() {
        let mut r = request(&[
            ("Impersonate-User", "dev"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Uid", "u-1"),
            ("Impersonate-Extra-Scopes%2Fread", "pods"),
        ]);
        let as_dev = impersonate(&mut r, &user("admin"), &Policy)
            .unwrap()
            .unwrap();
        assert_eq!(as_dev.name, "dev");
        assert_eq!(as_dev.uid, "u-1");
        assert_eq!(as_dev.groups, ["devs", "ops", "system:authenticated"]);
        assert_eq!(as_dev.extra["scopes/read"], ["pods"]);
        assert!(
            r.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("impersonate-"))
        );
    }

    #[test]
    fn service_accounts_get_their_groups() {
        let mut r = request(&[("Impersonate-User", "system:serviceaccount:ci:builder")]);
        let sa = impersonate(&mut r, &user("admin"), &Policy)
            .unwrap()
            .unwrap();
        assert_eq!(
            sa.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ci",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn each_part_must_be_allowed() {
        let alice = user("alice");
        let mut r = request(&[("Impersonate-User", "bob")]);
        assert_eq!(
            impersonate(&mut r, &alice, &Policy).unwrap().unwrap().name,
            "bob"
        );

        let mut r = request(&[("Impersonate-User", "carol")]);
        let refused = impersonate(&mut r, &alice, &Policy).unwrap_err();
        assert_eq!(refused.code, 403);
        assert_eq!(
            refused.message,
            r#"users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#
        );
        assert!(
            r.headers().contains_key(USER),
            "a refused request keeps its headers"
        );

        let mut r = request(&[
            ("Impersonate-User", "bob"),
            ("Impersonate-Group", "system:masters"),
        ]);
        let refused = impersonate(&mut r, &alice, &Policy).unwrap_err();
        assert!(
            refused
                .message
                .starts_with(r#"groups "system:masters" is forbidden"#),
            "{}",
            refused.message
        );
    }

    #[test]
    fn groups_without_a_user_are_bad_requests() {
        let mut r = request(&[("Impersonate-Group", "devs")]);
        let bad = impersonate(&mut r, &user("admin"), &Policy).unwrap_err();
        assert_eq!(bad.code, 400);
    }
}
