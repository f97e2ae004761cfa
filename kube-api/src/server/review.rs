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
//!
//! The authorization layer hands its authorizer to the first two (in the request's
//! extensions); a server without one allows everything, and answers so.

use std::sync::Arc;

use http::{Method, StatusCode};
use kube_core::{Error, ObjectRef, PolicyRule, StatusCause};
use serde_json::{Map, Value, json};

use super::ApiInner;
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
}

impl Review {
    /// Every review.
    pub(crate) const ALL: [Self; 3] = [Self::Access, Self::Rules, Self::Identity];

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
            Self::Access | Self::Rules => AUTHORIZATION,
            Self::Identity => AUTHENTICATION,
        }
    }

    /// Its resource (plural).
    pub(crate) fn resource(self) -> &'static str {
        match self {
            Self::Access => "selfsubjectaccessreviews",
            Self::Rules => "selfsubjectrulesreviews",
            Self::Identity => "selfsubjectreviews",
        }
    }

    /// Its kind.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Access => "SelfSubjectAccessReview",
            Self::Rules => "SelfSubjectRulesReview",
            Self::Identity => "SelfSubjectReview",
        }
    }
}

/// The authorizer that guards this server, handed to the reviews by the authorization
/// layer in the request's extensions.
#[derive(Clone)]
pub(crate) struct ReviewAuthorizer(pub(crate) Arc<dyn Authorizer>);

/// Answers a review: 201 with the review and its status, as Kubernetes does.
pub(crate) async fn answer(
    inner: &ApiInner,
    review: Review,
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
    };
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
            None
        );
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
    fn user_info_omits_what_is_empty() {
        let user = UserInfo::new("me", ["devs"]);
        assert_eq!(
            user_info(&user),
            json!({"username": "me", "groups": ["devs", "system:authenticated"]})
        );
    }
}
