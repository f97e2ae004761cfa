//! The self reviews through the whole stack: `SelfSubjectAccessReview` (`kubectl auth
//! can-i`) and `SelfSubjectRulesReview` (`kubectl auth can-i --list`) answered by the
//! authorizer that guards the server, for the user who asks, and `SelfSubjectReview`
//! (`kubectl auth whoami`). kubectl itself asks them in kubectl.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request};
use http_body_util::BodyExt as _;
use kube_api::client::Client;
use kube_api::server::ApiServer;
use kube_api::server::authn::TokenFile;
use kube_api::server::authz::{AuthorizationLayer, Authorizer, Decision, RequestAttributes};
use kube_api::server::stack::{Stack, StackBuilder};
use kube_api::server::user::UserInfo;
use kube_core::Store;
use kube_store::MemoryStore;
use serde_json::{Value, json};
use tower::Layer as _;

const ACCESS: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
const IDENTITY: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
const RULES: &str = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";

/// The bearer token of a user of the stack's token file.
const TOKEN: &str = "alices-token-0123456789";

async fn stack() -> Stack {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    let tokens = TokenFile::parse(&format!("{TOKEN},alice,u-alice,\"devs,ops\"\n")).unwrap();
    StackBuilder::new(api).tokens(tokens).build().await.unwrap()
}

async fn send(client: &Client, method: Method, uri: &str, ct: &str, body: &[u8]) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(bytes::Bytes::copy_from_slice(body))
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap())
}

async fn post(client: &Client, uri: &str, body: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(body).unwrap();
    send(client, Method::POST, uri, "application/json", &body).await
}

/// Asks whether the client's user may `verb` `resource` in `namespace`: the review's
/// status.
async fn may(client: &Client, verb: &str, resource: &str, namespace: &str) -> Value {
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace}},
    });
    let (code, answer) = post(client, ACCESS, &review).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "SelfSubjectAccessReview");
    assert_eq!(
        answer["spec"], review["spec"],
        "the spec comes back as sent"
    );
    answer["status"].clone()
}

/// What the client's user may do in `namespace`: the rules review's status.
async fn rules(client: &Client, namespace: &str) -> Value {
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                        "spec": {"namespace": namespace}});
    let (code, answer) = post(client, RULES, &review).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "SelfSubjectRulesReview");
    answer["status"].clone()
}

#[tokio::test]
async fn access_reviews_answer_for_the_user_who_asks() {
    let stack = stack().await;
    let admin = stack.admin_client();
    let dev = stack.client_as(UserInfo::new("dev", ["devs"]));

    assert_eq!(
        may(&admin, "delete", "nodes", "").await,
        json!({"allowed": true})
    );
    assert_eq!(
        may(&dev, "list", "configmaps", "team").await,
        json!({"allowed": false})
    );

    // Grant the group a role in one namespace: the answer follows the bindings.
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "cm-reader", "namespace": "team"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "devs-read", "namespace": "team"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]});
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}});
    assert_eq!(post(&admin, "/api/v1/namespaces", &ns).await.0, 201);
    let roles = "/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles";
    assert_eq!(post(&admin, roles, &role).await.0, 201);
    let bindings = "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings";
    assert_eq!(post(&admin, bindings, &binding).await.0, 201);
    let mut allowed = json!(null);
    for _ in 0..100 {
        allowed = may(&dev, "list", "configmaps", "team").await;
        if allowed["allowed"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        allowed,
        json!({"allowed": true}),
        "the binding never took effect"
    );
    assert_eq!(
        may(&dev, "delete", "configmaps", "team").await,
        json!({"allowed": false})
    );
    assert_eq!(
        may(&dev, "list", "configmaps", "other").await,
        json!({"allowed": false})
    );

    // The rules review lists the role's rule in its namespace, and not elsewhere.
    let granted = json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]});
    let team = rules(&dev, "team").await;
    assert_eq!(team["incomplete"], false, "{team}");
    assert!(
        team["resourceRules"].as_array().unwrap().contains(&granted),
        "{team}"
    );
    assert!(
        team["nonResourceRules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["nonResourceURLs"]
                .as_array()
                .unwrap()
                .contains(&json!("/version"))),
        "{team}"
    );
    let other = rules(&dev, "other").await;
    assert!(
        !other["resourceRules"]
            .as_array()
            .unwrap()
            .contains(&granted),
        "{other}"
    );
    // Asked about dev by someone allowed to ask (the admin): the same answers, for the
    // user and groups the review names. dev itself may not ask about others.
    let about = |user: &str, groups: &[&str], attributes: Value| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": user, "groups": groups, "resourceAttributes": attributes}})
    };
    let list_cms = json!({"verb": "list", "resource": "configmaps", "namespace": "team"});
    let sar = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let (code, answer) = post(&admin, sar, &about("dev", &["devs"], list_cms.clone())).await;
    assert_eq!(
        (code, &answer["status"]),
        (201, &json!({"allowed": true})),
        "{answer}"
    );
    let (code, answer) = post(&admin, sar, &about("dev", &[], list_cms.clone())).await;
    assert_eq!(
        (code, &answer["status"]),
        (201, &json!({"allowed": false})),
        "the role is bound to the group, not the user"
    );
    let (code, status) = post(&dev, sar, &about("dev", &["devs"], list_cms)).await;
    assert_eq!(code, 403, "{status}");
    // In a namespace: the review's namespace is the attributes', filled in when empty.
    let lsar = "/apis/authorization.k8s.io/v1/namespaces/team/localsubjectaccessreviews";
    let local = |attributes: Value| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
               "metadata": {"namespace": "team"},
               "spec": {"user": "dev", "groups": ["devs"], "resourceAttributes": attributes}})
    };
    let (code, answer) = post(
        &admin,
        lsar,
        &local(json!({"verb": "get", "resource": "configmaps"})),
    )
    .await;
    assert_eq!(
        (code, &answer["status"]),
        (201, &json!({"allowed": true})),
        "{answer}"
    );
    assert_eq!(answer["spec"]["resourceAttributes"]["namespace"], "team");
    let elsewhere = json!({"verb": "get", "resource": "configmaps", "namespace": "other"});
    let (code, status) = post(&admin, lsar, &local(elsewhere)).await;
    assert_eq!(code, 422, "{status}");

    let everything = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]});
    assert_eq!(
        rules(&admin, "team").await["resourceRules"],
        json!([everything])
    );

    // Non-resource paths: every authenticated user may read the version, no one else
    // the metrics.
    let path = |p: &str| {
        json!({"kind": "SelfSubjectAccessReview",
               "spec": {"nonResourceAttributes": {"verb": "get", "path": p}}})
    };
    let (code, answer) = post(&dev, ACCESS, &path("/version")).await;
    assert_eq!((code, &answer["status"]), (201, &json!({"allowed": true})));
    let (code, answer) = post(&dev, ACCESS, &path("/metrics")).await;
    assert_eq!((code, &answer["status"]), (201, &json!({"allowed": false})));
}

/// Sends `req` with impersonation headers through `client`.
async fn post_as(
    client: &Client,
    uri: &str,
    body: &Value,
    user: &str,
    groups: &[&str],
) -> (u16, Value) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("content-type", "application/json")
        .header("impersonate-user", user);
    for g in groups {
        req = req.header("impersonate-group", *g);
    }
    let req = req
        .body(bytes::Bytes::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn impersonated_requests_act_as_the_impersonated_user() {
    let stack = stack().await;
    let admin = stack.admin_client();
    let dev = stack.client_as(UserInfo::new("dev", ["devs"]));
    let whoami = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});

    // The admin acts as dev: the reviews answer for dev.
    let (code, answer) = post_as(&admin, IDENTITY, &whoami, "dev", &["devs"]).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(
        answer["status"]["userInfo"],
        json!({"username": "dev", "groups": ["devs", "system:authenticated"]})
    );
    let review = json!({"kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}});
    let (code, answer) = post_as(&admin, ACCESS, &review, "dev", &[]).await;
    assert_eq!((code, &answer["status"]), (201, &json!({"allowed": false})));
    // And is refused what dev may not do.
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
    let (code, status) = post_as(&admin, "/api/v1/namespaces", &ns, "dev", &[]).await;
    assert_eq!(code, 403, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains(r#"User "dev" cannot create resource "namespaces""#),
        "{status}"
    );

    // dev may not impersonate anyone, not even as a member of system:masters.
    let (code, status) = post_as(&dev, IDENTITY, &whoami, "root", &["system:masters"]).await;
    assert_eq!(code, 403, "{status}");
    assert_eq!(
        status["message"],
        r#"users "root" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );
    // Groups without a user: 400.
    let req = Request::builder()
        .method(Method::POST)
        .uri(IDENTITY)
        .header("content-type", "application/json")
        .header("impersonate-group", "devs")
        .body(bytes::Bytes::from(serde_json::to_vec(&whoami).unwrap()))
        .unwrap();
    assert_eq!(admin.send(req).await.unwrap().status(), 400);
}

#[tokio::test]
async fn token_reviews_say_whose_a_token_is() {
    let stack = stack().await;
    let admin = stack.admin_client();
    let review = |token: &str| {
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
               "spec": {"token": token}})
    };
    let tokens = "/apis/authentication.k8s.io/v1/tokenreviews";
    let (code, answer) = post(&admin, tokens, &review(TOKEN)).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(
        answer["status"],
        json!({"authenticated": true, "user": {"username": "alice", "uid": "u-alice",
               "groups": ["devs", "ops", "system:authenticated"]}})
    );
    let (code, answer) = post(&admin, tokens, &review("not-a-token")).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"].get("authenticated"), None, "{answer}");
    assert_eq!(answer["status"]["error"], "invalid bearer token");
    // Only those granted create on tokenreviews may ask (they learn whose a token is).
    let dev = stack.client_as(UserInfo::new("dev", ["devs"]));
    assert_eq!(post(&dev, tokens, &review(TOKEN)).await.0, 403);
}

#[tokio::test]
async fn the_identity_review_says_who_asks() {
    let stack = stack().await;
    let dev = stack.client_as(UserInfo::new("dev", ["devs"]));
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let (code, answer) = post(&dev, IDENTITY, &body).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "SelfSubjectReview");
    assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(
        answer["status"]["userInfo"],
        json!({"username": "dev", "groups": ["devs", "system:authenticated"]})
    );
}

#[tokio::test]
async fn a_server_without_an_authorizer_allows_every_review() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    let client = Client::new(api, "default");
    assert_eq!(
        may(&client, "delete", "nodes", "").await,
        json!({"allowed": true})
    );
    let all = rules(&client, "default").await;
    assert_eq!(all["incomplete"], false);
    assert_eq!(all["resourceRules"][0]["verbs"], json!(["*"]), "{all}");
}

/// Allows reads, denies deletes with a reason, and cannot list its rules.
struct ReadsOnly;

impl Authorizer for ReadsOnly {
    fn authorize(&self, a: &RequestAttributes) -> Decision {
        match a.verb.as_str() {
            "get" | "list" | "create" => Decision::Allow,
            "delete" => Decision::Deny("deletes are off today".into()),
            _ => Decision::NoOpinion,
        }
    }
}

#[tokio::test]
async fn a_custom_authorizer_answers_the_reviews_it_can() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    let guarded = AuthorizationLayer::new(ReadsOnly).layer(api);
    let client = Client::new(guarded, "default");
    assert_eq!(
        may(&client, "list", "pods", "a").await,
        json!({"allowed": true})
    );
    assert_eq!(
        may(&client, "delete", "pods", "a").await,
        json!({"allowed": false, "denied": true, "reason": "deletes are off today"})
    );
    assert_eq!(
        may(&client, "patch", "pods", "a").await,
        json!({"allowed": false})
    );
    let unknown = rules(&client, "a").await;
    assert_eq!(unknown["incomplete"], true, "{unknown}");
    assert_eq!(unknown["resourceRules"], json!([]));
    assert!(unknown["evaluationError"].is_string(), "{unknown}");
}

#[tokio::test]
async fn bad_reviews_are_refused_and_reviews_are_only_created() {
    let stack = stack().await;
    let dev = stack.client_as(UserInfo::new("dev", ["devs"]));

    // Neither attribute set, or both: 422, naming the field.
    for spec in [
        json!({}),
        json!({"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"verb": "get", "path": "/"}}),
    ] {
        let body = json!({"kind": "SelfSubjectAccessReview", "spec": spec});
        let (code, status) = post(&dev, ACCESS, &body).await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(
            status["details"]["causes"][0]["field"],
            "spec.resourceAttributes"
        );
    }
    // Not JSON, not an object, an unknown media type.
    let cases: [(&str, &[u8], u16); 3] = [
        ("application/json", b"{", 400),
        ("application/json", b"[1]", 400),
        ("text/plain", b"hi", 415),
    ];
    for (ct, body, want) in cases {
        let (code, status) = send(&dev, Method::POST, ACCESS, ct, body).await;
        assert_eq!(code, want, "{ct}: {status}");
        assert_eq!(status["kind"], "Status");
    }
    // A review is only created, never kept: reading or deleting is 405 to whoever may
    // try (and 403 to whoever may not, as authorization comes first).
    let admin = stack.admin_client();
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let (code, status) = send(&admin, method.clone(), ACCESS, "application/json", b"").await;
        assert_eq!(code, 405, "{method}: {status}");
        assert_eq!(status["reason"], "MethodNotAllowed");
    }
    let (code, _) = send(&dev, Method::GET, ACCESS, "application/json", b"").await;
    assert_eq!(code, 403);
}
