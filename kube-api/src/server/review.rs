//! The self reviews: what a client may ask about itself, without storing anything.
//!
//! - `SelfSubjectAccessReview` (`authorization.k8s.io/v1`, what `kubectl auth can-i`
//!   sends): may I do this? Answered by the authorizer that guards the server, for the
//!   user who asks, with the attributes of the review's spec instead of the request's.
//! - `SelfSubjectRulesReview` (`authorization.k8s.io/v1`, what `kubectl auth can-i
//!   --list` sends): what may I do in this namespace? Answered with the rules the same
//!   authorizer lists for the user, or marked incomplete when it cannot list them.
//! - `SelfSubjectReview` (`authentication.k8s.io/v1`, what `kubectl auth whoami` sends):
//!   who am I? Answered with the user the authentication layer found.
//! - `TokenReview` (`authentication.k8s.io/v1`): whose is this bearer token? Answered by
//!   the authenticator that guards the server (the authentication layer hands it on); a
//!   server without one accepts no token.
//! - `SubjectAccessReview` and, in a namespace, `LocalSubjectAccessReview`
//!   (`authorization.k8s.io/v1`): may this other user do this? What components that
//!   delegate authorization to the API server ask (an aggregated API server, a metrics or
//!   RBAC proxy); RBAC lets only those granted `create` on them ask.
//!
//! The authorization layer hands its authorizer to the access and rules reviews (in the
//! request's extensions); a server without one allows everything, and answers so.

use std::sync::Arc;

use http::{Method, StatusCode};
use kube_core::{Error, ObjectRef, PolicyRule, StatusCause};
use serde_json::{Map, Value, json};

use super::ApiInner;
use super::authn::{Authenticator, ReviewAuthenticator};
use super::authz::{AllowAll, Authorizer, Decision, RequestAttributes};
use super::body::{ApiRequest, ApiResponse};
use super::handler::{content_type, parse_object, read_body};
use super::response;
use super::user::UserInfo;

/// The group of access reviews.
const AUTHORIZATION: &str = "authorization.k8s.io";
/// The group of the identity review.
const AUTHENTICATION: &str = "authentication.k8s.io";

/// A review the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Review {
    /// `SelfSubjectAccessReview`: may I do this?
    Access,
    /// `SelfSubjectRulesReview`: what may I do here?
    Rules,
    /// `SelfSubjectReview`: who am I?
    Identity,
    /// `SubjectAccessReview`: may this user do this?
    Subject,
    /// `LocalSubjectAccessReview`: may this user do this, in this namespace?
    LocalSubject,
    /// `TokenReview`: whose is this token?
    Token,
}

impl Review {
    /// Every review.
    pub(crate) const ALL: [Self; 6] = [
        Self::Access,
        Self::Rules,
        Self::Identity,
        Self::Subject,
        Self::LocalSubject,
        Self::Token,
    ];

    /// The version every review is served in.
    pub(crate) const VERSION: &str = "v1";

    /// The review a path names, if any.
    pub(crate) fn of_path(group: &str, version: &str, resource: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| (r.group(), Self::VERSION, r.resource()) == (group, version, resource))
    }

    /// Its API group.
    pub(crate) fn group(self) -> &'static str {
        match self {
            Self::Access | Self::Rules | Self::Subject | Self::LocalSubject => AUTHORIZATION,
            Self::Identity | Self::Token => AUTHENTICATION,
        }
    }

    /// Its resource (plural).
    pub(crate) fn resource(self) -> &'static str {
        match self {
            Self::Access => "selfsubjectaccessreviews",
            Self::Rules => "selfsubjectrulesreviews",
            Self::Identity => "selfsubjectreviews",
            Self::Subject => "subjectaccessreviews",
            Self::LocalSubject => "localsubjectaccessreviews",
            Self::Token => "tokenreviews",
        }
    }

    /// Its kind.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Access => "SelfSubjectAccessReview",
            Self::Rules => "SelfSubjectRulesReview",
            Self::Identity => "SelfSubjectReview",
            Self::Subject => "SubjectAccessReview",
            Self::LocalSubject => "LocalSubjectAccessReview",
            Self::Token => "TokenReview",
        }
    }

    /// True for the review posted in a namespace (`LocalSubjectAccessReview`).
    pub(crate) fn namespaced(self) -> bool {
        self == Self::LocalSubject
    }

    /// True for the reviews the authorizer answers (so the authorization layer hands it
    /// on with the request).
    pub(crate) fn needs_authorizer(self) -> bool {
        !matches!(self, Self::Identity | Self::Token)
    }
}

/// The authorizer that guards this server, handed to the reviews by the authorization
/// layer in the request's extensions.
#[derive(Clone)]
pub(crate) struct ReviewAuthorizer(pub(crate) Arc<dyn Authorizer>);

/// Answers a review (posted in `namespace` for a local one): 201 with the review and its
/// status, as Kubernetes does.
pub(crate) async fn answer(
    inner: &ApiInner,
    review: Review,
    namespace: Option<&str>,
    req: ApiRequest,
) -> Result<ApiResponse, Error> {
    let (group, resource, kind) = (review.group(), review.resource(), review.kind());
    if req.method() != Method::POST {
        return Err(Error::MethodNotAllowed(format!(
            "{} is not supported on {resource}.{group}: a review is only created",
            req.method()
        )));
    }
    let user = UserInfo::of_request(&req);
    let authenticator = req
        .extensions()
        .get::<ReviewAuthenticator>()
        .map(|a| a.0.clone());
    let authorizer = req.extensions().get::<ReviewAuthorizer>().map_or_else(
        || Arc::new(AllowAll) as Arc<dyn Authorizer>,
        |a| a.0.clone(),
    );
    let (parts, body) = req.into_parts();
    let bytes = read_body(inner, body).await?;
    let sent = parse_object(&bytes, content_type(&parts.headers))?;
    let Value::Object(mut out) = sent else {
        return Err(Error::BadRequest(format!(
            "the body of a {kind} must be a JSON object"
        )));
    };
    out.insert(
        "apiVersion".into(),
        json!(format!("{group}/{}", Review::VERSION)),
    );
    out.insert("kind".into(), json!(kind));
    out.entry("metadata").or_insert_with(|| json!({}));
    let status = match review {
        Review::Access => {
            let object = ObjectRef::new(group, resource, "");
            let attributes = access_attributes(out.get("spec"), user, &object)?;
            access_status(authorizer.authorize(&attributes))
        }
        Review::Rules => {
            let namespace = out
                .get("spec")
                .and_then(|s| s.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            rules_status(authorizer.rules(&user, namespace))
        }
        Review::Identity => json!({"userInfo": user_info(&user)}),
        Review::Token => {
            let token = out
                .get("spec")
                .and_then(|s| s.get("token"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            token_status(token, authenticator.as_deref())
        }
        Review::Subject | Review::LocalSubject => {
            let object = ObjectRef::new(group, resource, "");
            let mut spec = out.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(ns) = namespace.filter(|_| spec.is_object()) {
                local_namespace(&mut spec, ns, &object)?;
            }
            let subject = subject_of(&spec, &object)?;
            let attributes = access_attributes(Some(&spec), subject, &object)?;
            // A local review comes back with the namespace it was asked in.
            out.insert("spec".into(), spec);
            access_status(authorizer.authorize(&attributes))
        }
    };
    if let Some(ns) = namespace {
        out.entry("metadata")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert("namespace".into(), json!(ns)));
    }
    out.insert("status".into(), status);
    Ok(response::json(StatusCode::CREATED, &Value::Object(out)))
}

/// The attributes a `SelfSubjectAccessReview`'s spec asks about, for `user`: exactly one
/// of `resourceAttributes` and `nonResourceAttributes`, else 422.
fn access_attributes(
    spec: Option<&Value>,
    user: UserInfo,
    object: &ObjectRef,
) -> Result<RequestAttributes, Error> {
    let field = |v: Option<&Value>, name: &str| -> String {
        v.and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let present = |name: &str| spec.and_then(|s| s.get(name)).filter(|v| !v.is_null());
    match (
        present("resourceAttributes"),
        present("nonResourceAttributes"),
    ) {
        (Some(r), None) => Ok(RequestAttributes {
            user,
            verb: field(Some(r), "verb"),
            resource_request: true,
            path: String::new(),
            api_group: field(Some(r), "group"),
            api_version: field(Some(r), "version"),
            namespace: field(Some(r), "namespace"),
            resource: field(Some(r), "resource"),
            subresource: field(Some(r), "subresource"),
            name: field(Some(r), "name"),
        }),
        (None, Some(n)) => Ok(RequestAttributes {
            user,
            verb: field(Some(n), "verb"),
            path: field(Some(n), "path"),
            ..RequestAttributes::default()
        }),
        (r, _) => Err(Error::Invalid {
            object: object.clone(),
            causes: vec![StatusCause::new(
                "FieldValueInvalid",
                "spec.resourceAttributes",
                format!(
                    "Invalid value: {}: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                    r.map_or_else(|| "null".to_owned(), Value::to_string)
                ),
            )],
        }),
    }
}

/// The user a `SubjectAccessReview` asks about: `spec.user`, `spec.groups`, `spec.uid`
/// and `spec.extra`, as given (no group is added). One of user and groups is needed.
fn subject_of(spec: &Value, object: &ObjectRef) -> Result<UserInfo, Error> {
    let text = |name: &str| spec.get(name).and_then(Value::as_str).unwrap_or_default();
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if text("user").is_empty() && groups.is_empty() {
        return Err(Error::Invalid {
            object: object.clone(),
            causes: vec![StatusCause::new(
                "FieldValueRequired",
                "spec.user",
                "Required value: at least one of user or group must be specified",
            )],
        });
    }
    let extra = spec
        .get("extra")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    Ok(UserInfo {
        name: text("user").to_owned(),
        uid: text("uid").to_owned(),
        groups,
        extra,
    })
}

/// A `LocalSubjectAccessReview` asks about its own namespace only: resource attributes
/// (no non-resource ones) whose namespace is the review's, filled in when empty.
fn local_namespace(spec: &mut Value, namespace: &str, object: &ObjectRef) -> Result<(), Error> {
    let invalid = |field: &str, message: String| Error::Invalid {
        object: object.clone(),
        causes: vec![StatusCause::new("FieldValueInvalid", field, message)],
    };
    if spec
        .get("nonResourceAttributes")
        .is_some_and(|v| !v.is_null())
    {
        return Err(invalid(
            "spec.nonResourceAttributes",
            "Invalid value: disallowed on this kind of request".into(),
        ));
    }
    let Some(attributes) = spec
        .get_mut("resourceAttributes")
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    match attributes.get("namespace").and_then(Value::as_str) {
        None | Some("") => {
            attributes.insert("namespace".into(), json!(namespace));
            Ok(())
        }
        Some(ns) if ns == namespace => Ok(()),
        Some(ns) => Err(invalid(
            "spec.resourceAttributes.namespace",
            format!("Invalid value: {ns:?}: must match metadata.namespace ({namespace:?})"),
        )),
    }
}

/// A `SubjectAccessReviewStatus` for a decision.
fn access_status(decision: Decision) -> Value {
    match decision {
        Decision::Allow => json!({"allowed": true}),
        Decision::Deny(reason) if reason.is_empty() => json!({"allowed": false, "denied": true}),
        Decision::Deny(reason) => json!({"allowed": false, "denied": true, "reason": reason}),
        Decision::NoOpinion => json!({"allowed": false}),
    }
}

/// A `SubjectRulesReviewStatus`: each rule's resource part as a `ResourceRule`, its
/// non-resource part as a `NonResourceRule` (a rule may have both), or an empty,
/// incomplete answer when the authorizer cannot list rules.
fn rules_status(rules: Option<Vec<PolicyRule>>) -> Value {
    let Some(rules) = rules else {
        return json!({
            "resourceRules": [],
            "nonResourceRules": [],
            "incomplete": true,
            "evaluationError": "this server's authorizer does not list its rules",
        });
    };
    let mut resource = Vec::new();
    let mut non_resource = Vec::new();
    for rule in rules {
        if !rule.resources.is_empty() {
            let mut r = json!({"verbs": rule.verbs, "apiGroups": rule.api_groups,
                               "resources": rule.resources});
            if !rule.resource_names.is_empty() {
                r["resourceNames"] = json!(rule.resource_names);
            }
            resource.push(r);
        }
        if !rule.non_resource_urls.is_empty() {
            non_resource
                .push(json!({"verbs": rule.verbs, "nonResourceURLs": rule.non_resource_urls}));
        }
    }
    json!({"resourceRules": resource, "nonResourceRules": non_resource, "incomplete": false})
}

/// A `TokenReviewStatus`: the token's user when the authenticator accepts it.
fn token_status(token: &str, authenticator: Option<&Authenticator>) -> Value {
    let user = authenticator
        .filter(|_| !token.is_empty())
        .and_then(|a| a.authenticate_token(token));
    match (user, authenticator) {
        (Some(user), _) => json!({"authenticated": true, "user": user_info(&user)}),
        (None, None) => json!({"user": {}, "error": "this server authenticates no tokens"}),
        (None, Some(_)) => json!({"user": {}, "error": "invalid bearer token"}),
    }
}

/// An `authentication.k8s.io/v1 UserInfo`, with Go's `omitempty`.
fn user_info(user: &UserInfo) -> Value {
    let mut info = Map::new();
    info.insert("username".into(), json!(user.name));
    if !user.uid.is_empty() {
        info.insert("uid".into(), json!(user.uid));
    }
    if !user.groups.is_empty() {
        info.insert("groups".into(), json!(user.groups));
    }
    if !user.extra.is_empty() {
        info.insert("extra".into(), json!(user.extra));
    }
    Value::Object(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> ObjectRef {
        ObjectRef::new(AUTHORIZATION, "selfsubjectaccessreviews", "")
    }

    #[test]
    fn paths_name_the_reviews() {
        assert_eq!(
            Review::of_path(AUTHORIZATION, "v1", "selfsubjectaccessreviews"),
            Some(Review::Access)
        );
        assert_eq!(
            Review::of_path(AUTHENTICATION, "v1", "selfsubjectreviews"),
            Some(Review::Identity)
        );
        assert_eq!(
            Review::of_path(AUTHORIZATION, "v1", "subjectaccessreviews"),
            Some(Review::Subject)
        );
        assert_eq!(Review::of_path(AUTHORIZATION, "v1", "tokenreviews"), None);
        assert_eq!(Review::of_path("", "v1", "selfsubjectreviews"), None);
    }

    #[test]
    fn a_spec_asks_about_a_resource_or_a_path() {
        let me = UserInfo::new("me", ["devs"]);
        let spec = json!({"resourceAttributes": {"verb": "delete", "group": "apps",
            "resource": "deployments", "subresource": "scale", "namespace": "a", "name": "web"}});
        let a = access_attributes(Some(&spec), me.clone(), &object()).unwrap();
        assert!(a.resource_request);
        assert_eq!(
            (a.verb.as_str(), a.api_group.as_str(), a.resource.as_str()),
            ("delete", "apps", "deployments")
        );
        assert_eq!(
            (
                a.subresource.as_str(),
                a.namespace.as_str(),
                a.name.as_str()
            ),
            ("scale", "a", "web")
        );
        assert_eq!(a.user, me);

        let spec = json!({"nonResourceAttributes": {"verb": "get", "path": "/healthz"}});
        let a = access_attributes(Some(&spec), me, &object()).unwrap();
        assert!(!a.resource_request);
        assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", "/healthz"));
    }

    #[test]
    fn a_spec_with_neither_or_both_is_invalid() {
        let both = json!({"resourceAttributes": {"verb": "get"},
                          "nonResourceAttributes": {"verb": "get", "path": "/"}});
        for spec in [
            None,
            Some(json!({})),
            Some(json!({"resourceAttributes": null})),
            Some(both),
        ] {
            let err = access_attributes(spec.as_ref(), UserInfo::admin(), &object()).unwrap_err();
            assert_eq!(err.code(), 422, "{spec:?}");
            assert!(err.to_string().contains("exactly one of"), "{err}");
        }
    }

    #[test]
    fn a_subject_review_asks_about_the_user_it_names() {
        let spec = json!({"user": "dev", "groups": ["devs"], "uid": "u1",
                          "extra": {"scopes": ["a", "b"]}});
        let user = subject_of(&spec, &object()).unwrap();
        assert_eq!((user.name.as_str(), user.uid.as_str()), ("dev", "u1"));
        assert_eq!(user.groups, ["devs"], "no group is added");
        assert_eq!(user.extra["scopes"], ["a", "b"]);
        let groups_only = subject_of(&json!({"groups": ["devs"]}), &object()).unwrap();
        assert_eq!(groups_only.name, "");
        let err = subject_of(&json!({"resourceAttributes": {}}), &object()).unwrap_err();
        assert_eq!(err.code(), 422);
    }

    #[test]
    fn a_local_review_stays_in_its_namespace() {
        let mut spec = json!({"resourceAttributes": {"verb": "get", "resource": "pods"}});
        local_namespace(&mut spec, "team", &object()).unwrap();
        assert_eq!(spec["resourceAttributes"]["namespace"], "team");
        local_namespace(&mut spec, "team", &object()).unwrap();
        let err = local_namespace(&mut spec, "other", &object()).unwrap_err();
        assert!(err.to_string().contains("must match"), "{err}");
        let mut paths = json!({"nonResourceAttributes": {"verb": "get", "path": "/"}});
        assert_eq!(
            local_namespace(&mut paths, "team", &object())
                .unwrap_err()
                .code(),
            422
        );
    }

    #[test]
    fn decisions_become_statuses() {
        assert_eq!(access_status(Decision::Allow), json!({"allowed": true}));
        assert_eq!(
            access_status(Decision::Deny("no".into())),
            json!({"allowed": false, "denied": true, "reason": "no"})
        );
        assert_eq!(
            access_status(Decision::NoOpinion),
            json!({"allowed": false})
        );
    }

    #[test]
    fn rules_split_into_resource_and_non_resource_rules() {
        let rule =
            |verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str], urls: &[&str]| {
                let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
                PolicyRule {
                    verbs: owned(verbs),
                    api_groups: owned(groups),
                    resources: owned(resources),
                    resource_names: owned(names),
                    non_resource_urls: owned(urls),
                }
            };
        let status = rules_status(Some(vec![
            rule(&["get"], &[""], &["configmaps"], &["one"], &[]),
            rule(&["get"], &[], &[], &[], &["/healthz"]),
        ]));
        assert_eq!(
            status,
            json!({
                "resourceRules": [{"verbs": ["get"], "apiGroups": [""],
                                   "resources": ["configmaps"], "resourceNames": ["one"]}],
                "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
                "incomplete": false,
            })
        );
        let unknown = rules_status(None);
        assert_eq!(unknown["incomplete"], true);
        assert_eq!(unknown["resourceRules"], json!([]));
    }

    #[test]
    fn token_reviews_name_the_token_s_user() {
        let tokens =
            crate::server::authn::TokenFile::parse("t0k3n,alice,u-1,\"devs,ops\"\n").unwrap();
        let authn = Authenticator::new().with_tokens(tokens);
        let ok = token_status("t0k3n", Some(&authn));
        assert_eq!(ok["authenticated"], true);
        assert_eq!(ok["user"]["username"], "alice");
        assert_eq!(ok["user"]["uid"], "u-1");
        for (token, authenticator) in [("nope", Some(&authn)), ("", Some(&authn)), ("t0k3n", None)]
        {
            let refused = token_status(token, authenticator);
            assert_eq!(refused.get("authenticated"), None, "{refused}");
            assert!(refused["error"].is_string(), "{refused}");
        }
    }

    #[test]
    fn user_info_omits_what_is_empty() {
        let user = UserInfo::new("me", ["devs"]);
        assert_eq!(
            user_info(&user),
            json!({"username": "me", "groups": ["devs", "system:authenticated"]})
        );
    }
}
