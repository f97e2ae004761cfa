//! Bad input: each class of malformed or wrong request gets a `Status` with the right
//! code, the server keeps serving, and nothing is written (the store revision stays).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use kube_api::server::{ApiBody, ApiServer};
use kube_core::Store;
use kube_store::MemoryStore;
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Fixture {
    api: ApiServer,
    store: Arc<dyn Store>,
}

async fn fixture() -> Fixture {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store.clone()).build().await.unwrap();
    let f = Fixture { api, store };
    let (code, _) = f
        .send(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"metadata":{"name":"existing","labels":{"a":"b"}},"data":{"k":"v"}}"#,
        )
        .await;
    assert_eq!(code, 201);
    f
}

impl Fixture {
    async fn send(&self, method: Method, uri: &str, ct: &str, body: &str) -> (u16, Value) {
        self.send_bytes(method, uri, ct, body.as_bytes().to_vec())
            .await
    }

    async fn send_bytes(&self, method: Method, uri: &str, ct: &str, body: Vec<u8>) -> (u16, Value) {
        let (code, _, value) = self.send_warned(method, uri, ct, body).await;
        (code, value)
    }

    /// Like [`Fixture::send_bytes`], with the answer's `Warning` headers.
    async fn send_warned(
        &self,
        method: Method,
        uri: &str,
        ct: &str,
        body: Vec<u8>,
    ) -> (u16, Vec<String>, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", ct)
            .body(ApiBody::from(body))
            .unwrap();
        let res = self.api.clone().oneshot(req).await.unwrap();
        let code = res.status().as_u16();
        let warnings = res
            .headers()
            .get_all("warning")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (code, warnings, value)
    }

    /// Creates a pod of one container in `default`; returns it as created.
    async fn create_pod(&self, name: &str) -> Value {
        let body = json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
        });
        let (code, created) = self
            .send(
                Method::POST,
                "/api/v1/namespaces/default/pods",
                JSON,
                &body.to_string(),
            )
            .await;
        assert_eq!(code, 201, "{created}");
        created
    }

    /// Sends a request that must fail with `code`, with a Status body of that code and
    /// reason, leave the store untouched and the server serving.
    async fn refused(
        &self,
        method: Method,
        uri: &str,
        ct: &str,
        body: &str,
        code: u16,
        reason: &str,
    ) -> Value {
        let before = self.store.current_revision().await.unwrap();
        let (got, status) = self.send(method.clone(), uri, ct, body).await;
        assert_eq!(got, code, "{method} {uri} {body}: {status}");
        assert_eq!(status["kind"], "Status", "{status}");
        assert_eq!(status["status"], "Failure", "{status}");
        assert_eq!(status["code"], code, "{status}");
        assert_eq!(status["reason"], reason, "{status}");
        assert!(!status["message"].as_str().unwrap().is_empty(), "{status}");
        let after = self.store.current_revision().await.unwrap();
        assert_eq!(before, after, "{method} {uri} wrote to the store");
        let (ok, cm) = self
            .send(
                Method::GET,
                "/api/v1/namespaces/default/configmaps/existing",
                "",
                "",
            )
            .await;
        assert_eq!(
            (ok, &cm["data"]),
            (200, &json!({"k": "v"})),
            "server broken"
        );
        status
    }
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const EXISTING: &str = "/api/v1/namespaces/default/configmaps/existing";
const JSON: &str = "application/json";

#[tokio::test]
async fn malformed_json_is_400() {
    let f = fixture().await;
    for body in ["{", "{\"metadata\": ", "[1,2", "not json", "", "   "] {
        f.refused(Method::POST, CMS, JSON, body, 400, "BadRequest")
            .await;
    }
    f.refused(Method::PUT, EXISTING, JSON, "{oops", 400, "BadRequest")
        .await;
    f.refused(Method::POST, CMS, JSON, "[]", 400, "BadRequest")
        .await;
    f.refused(Method::POST, CMS, JSON, "42", 400, "BadRequest")
        .await;
    // Invalid UTF-8, in a string and outside one: 400, nothing written.
    for body in [
        &b"{\"metadata\":{\"name\":\"\xff\"}}"[..],
        b"{\"metadata\":\xff}",
    ] {
        for (method, uri, ct) in [
            (Method::POST, CMS, JSON),
            (Method::PATCH, EXISTING, "application/merge-patch+json"),
        ] {
            let before = f.store.current_revision().await.unwrap();
            let (code, status) = f.send_bytes(method, uri, ct, body.to_vec()).await;
            assert_eq!(code, 400, "{status}");
            assert_eq!(status["reason"], "BadRequest", "{status}");
            assert_eq!(f.store.current_revision().await.unwrap(), before);
        }
    }
    f.refused(
        Method::POST,
        CMS,
        "application/yaml",
        "metadata: [unclosed",
        400,
        "BadRequest",
    )
    .await;
}

#[tokio::test]
async fn wrong_kind_or_api_version_for_the_url_is_400() {
    let f = fixture().await;
    let s = f
        .refused(
            Method::POST,
            CMS,
            JSON,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}"#,
            400,
            "BadRequest",
        )
        .await;
    assert!(s["message"].as_str().unwrap().contains("Deployment"), "{s}");
    f.refused(
        Method::POST,
        CMS,
        JSON,
        r#"{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}"#,
        400,
        "BadRequest",
    )
    .await;
    f.refused(
        Method::PUT,
        EXISTING,
        JSON,
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"existing"}}"#,
        400,
        "BadRequest",
    )
    .await;
    // The namespace in the body must be the URL's.
    f.refused(
        Method::POST,
        CMS,
        JSON,
        r#"{"metadata":{"name":"x","namespace":"other"}}"#,
        400,
        "BadRequest",
    )
    .await;
}

#[tokio::test]
async fn missing_or_invalid_names_are_422() {
    let f = fixture().await;
    let s = f
        .refused(
            Method::POST,
            CMS,
            JSON,
            r#"{"metadata":{"labels":{"a":"b"}}}"#,
            422,
            "Invalid",
        )
        .await;
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.name", "{s}");
    let s = f
        .refused(
            Method::POST,
            CMS,
            JSON,
            r#"{"metadata":{"name":"Bad_Name"}}"#,
            422,
            "Invalid",
        )
        .await;
    assert_eq!(s["details"]["name"], "Bad_Name", "{s}");
    f.refused(
        Method::POST,
        CMS,
        JSON,
        r#"{"metadata":{"name":"ok","labels":{"bad key!":"v"}}}"#,
        422,
        "Invalid",
    )
    .await;
}

#[tokio::test]
async fn rolling_updates_that_cannot_move_are_422() {
    let f = fixture().await;
    let template =
        r#"{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"i"}]}}"#;
    let selector = r#"{"matchLabels":{"app":"a"}}"#;
    // Neither a pod down nor one more: the update could never move.
    for (uri, kind, strategy) in [
        (
            "/apis/apps/v1/namespaces/default/deployments",
            "Deployment",
            "strategy",
        ),
        (
            "/apis/apps/v1/namespaces/default/daemonsets",
            "DaemonSet",
            "updateStrategy",
        ),
    ] {
        let body = format!(
            r#"{{"apiVersion":"apps/v1","kind":"{kind}","metadata":{{"name":"a"}},"spec":{{"selector":{selector},"template":{template},"{strategy}":{{"type":"RollingUpdate","rollingUpdate":{{"maxUnavailable":0,"maxSurge":0}}}}}}}}"#
        );
        let s = f
            .refused(Method::POST, uri, JSON, &body, 422, "Invalid")
            .await;
        assert_eq!(
            s["details"]["causes"][0]["field"],
            format!("spec.{strategy}.rollingUpdate.maxUnavailable"),
            "{s}"
        );
        assert!(
            s["message"]
                .as_str()
                .unwrap()
                .contains("may not be 0 when `maxSurge` is 0"),
            "{s}"
        );
    }
}

#[tokio::test]
async fn a_long_generate_name_of_wide_characters_is_422_not_a_crash() {
    let f = fixture().await;
    // 81 bytes, two-byte characters after the first: cut at 58 bytes, inside one, it
    // used to panic.
    let body = format!(r#"{{"metadata":{{"generateName":"a{}"}}}}"#, "é".repeat(40));
    let s = f
        .refused(Method::POST, CMS, JSON, &body, 422, "Invalid")
        .await;
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.name", "{s}");
}

#[tokio::test]
async fn negative_job_counts_are_422() {
    let f = fixture().await;
    let template = r#"{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"i"}]}}"#;
    for field in ["completions", "parallelism", "backoffLimit"] {
        let body = format!(
            r#"{{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"j"}},"spec":{{"{field}":-1,"template":{template}}}}}"#
        );
        let s = f
            .refused(
                Method::POST,
                "/apis/batch/v1/namespaces/default/jobs",
                JSON,
                &body,
                422,
                "Invalid",
            )
            .await;
        assert_eq!(
            s["details"]["causes"][0]["field"],
            format!("spec.{field}"),
            "{s}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_are_413_in_process() {
    let f = fixture().await;
    let big = format!(
        r#"{{"metadata":{{"name":"big"}},"data":{{"k":"{}"}}}}"#,
        "x".repeat(4 * 1024 * 1024)
    );
    f.refused(Method::POST, CMS, JSON, &big, 413, "RequestEntityTooLarge")
        .await;
}

#[test]
fn oversized_bodies_are_413_over_https() {
    let big = format!(
        r#"{{"metadata":{{"name":"big"}},"data":{{"k":"{}"}}}}"#,
        "x".repeat(4 * 1024 * 1024)
    );
    let served = support::Served::start();
    let client = served.https_client();
    let req = Request::builder()
        .method(Method::POST)
        .uri(CMS)
        .header("content-type", JSON)
        .body(bytes::Bytes::from(big))
        .unwrap();
    let res = served.block_on(client.send(req)).unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let api: kube_api::client::Api<kube_core::ConfigMap> =
        kube_api::client::Api::namespaced(client, "default");
    assert_eq!(served.block_on(api.get("big")).unwrap_err().code(), 404);
}

#[tokio::test]
async fn bad_label_and_field_selectors_are_400() {
    let f = fixture().await;
    for q in [
        "labelSelector=a%20in%20(b",
        "labelSelector=%21%21",
        "labelSelector=a%3D%3D%3Db",
        "fieldSelector=spec.nope%3Dx",
        "fieldSelector=metadata.name",
        "limit=abc",
        "watch=maybe",
    ] {
        let uri = format!("{CMS}?{q}");
        f.refused(Method::GET, &uri, "", "", 400, "BadRequest")
            .await;
    }
    // A field selector that is fine for pods is not for config maps.
    f.refused(
        Method::GET,
        &format!("{CMS}?fieldSelector=spec.nodeName%3Dn1"),
        "",
        "",
        400,
        "BadRequest",
    )
    .await;
    let (code, _) = f
        .send(
            Method::GET,
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1",
            "",
            "",
        )
        .await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn bad_patches_are_refused_for_each_patch_type() {
    let f = fixture().await;
    let merge = "application/merge-patch+json";
    let json_patch = "application/json-patch+json";
    let strategic = "application/strategic-merge-patch+json";
    for ct in [merge, json_patch, strategic] {
        f.refused(Method::PATCH, EXISTING, ct, "{not json", 400, "BadRequest")
            .await;
    }
    // A JSON patch must be a list of operations.
    f.refused(
        Method::PATCH,
        EXISTING,
        json_patch,
        r#"{"op":"add"}"#,
        400,
        "BadRequest",
    )
    .await;
    f.refused(
        Method::PATCH,
        EXISTING,
        json_patch,
        r#"[{"op":"frobnicate","path":"/data/k"}]"#,
        400,
        "BadRequest",
    )
    .await;
    // Well-formed operations that do not apply: 422, as Kubernetes answers.
    f.refused(
        Method::PATCH,
        EXISTING,
        json_patch,
        r#"[{"op":"remove","path":"/data/missing"}]"#,
        422,
        "Invalid",
    )
    .await;
    f.refused(
        Method::PATCH,
        EXISTING,
        json_patch,
        r#"[{"op":"test","path":"/data/k","value":"other"}]"#,
        422,
        "Invalid",
    )
    .await;
    // Merge patches that make the object invalid.
    f.refused(
        Method::PATCH,
        EXISTING,
        merge,
        r#"{"metadata":{"name":"renamed"}}"#,
        400,
        "BadRequest",
    )
    .await;
    f.refused(
        Method::PATCH,
        EXISTING,
        strategic,
        r#"{"data":"not a map"}"#,
        400,
        "BadRequest",
    )
    .await;
    f.refused(
        Method::PATCH,
        EXISTING,
        strategic,
        r#"{"metadata":{"labels":{"bad key!":"v"}}}"#,
        422,
        "Invalid",
    )
    .await;
    // A patch media type we do not know, and a patch of something missing.
    f.refused(
        Method::PATCH,
        EXISTING,
        "application/x-patch",
        "{}",
        415,
        "UnsupportedMediaType",
    )
    .await;
    f.refused(
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/missing",
        merge,
        "{}",
        404,
        "NotFound",
    )
    .await;
}

#[tokio::test]
async fn unknown_resources_are_404() {
    let f = fixture().await;
    for uri in [
        "/api/v1/namespaces/default/widgets",
        "/apis/nope.example.com/v1/things",
        "/apis/apps/v2/deployments",
        "/api/v1/namespaces/default/configmaps/existing/status",
        "/api/v1/namespaces/default/configmaps/existing/nope",
        "/api/v1/nodes/n1/status/extra/segments",
        "/nothing/here",
    ] {
        f.refused(Method::GET, uri, "", "", 404, "NotFound").await;
    }
    f.refused(
        Method::POST,
        "/api/v1/namespaces/default/widgets",
        JSON,
        "{}",
        404,
        "NotFound",
    )
    .await;
    // A namespace that does not exist.
    f.refused(
        Method::POST,
        "/api/v1/namespaces/nowhere/configmaps",
        JSON,
        r#"{"metadata":{"name":"x"}}"#,
        404,
        "NotFound",
    )
    .await;
}

#[tokio::test]
async fn wrong_content_types_are_415() {
    let f = fixture().await;
    for ct in ["text/plain", "application/xml", "image/png"] {
        f.refused(
            Method::POST,
            CMS,
            ct,
            r#"{"metadata":{"name":"x"}}"#,
            415,
            "UnsupportedMediaType",
        )
        .await;
    }
    f.refused(
        Method::PUT,
        EXISTING,
        "text/plain",
        r#"{"metadata":{"name":"existing"}}"#,
        415,
        "UnsupportedMediaType",
    )
    .await;
    // Protobuf for a kind the decoder does not know.
    let mut body = b"k8s\0".to_vec();
    body.extend_from_slice(&[
        0x0a, 0x0a, 0x0a, 0x02, b'v', b'1', 0x12, 0x04, b'W', b'i', b'd', b'g',
    ]);
    let before = f.store.current_revision().await.unwrap();
    let (code, s) = f
        .send_bytes(
            Method::POST,
            CMS,
            "application/vnd.kubernetes.protobuf",
            body,
        )
        .await;
    assert_eq!(
        (code, &s["reason"]),
        (415, &json!("UnsupportedMediaType")),
        "{s}"
    );
    assert_eq!(f.store.current_revision().await.unwrap(), before);
    // Asking for a representation we do not produce is 406.
    let req = Request::builder()
        .uri(CMS)
        .header("accept", "application/xml")
        .body(ApiBody::empty())
        .unwrap();
    let res = f.api.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn a_mistyped_status_write_is_400_and_keeps_the_object() {
    let f = fixture().await;
    const POD: &str = "/api/v1/namespaces/default/pods/p";
    let created = f.create_pod("p").await;
    let patch = "application/merge-patch+json";
    for body in [
        r#"{"status":{"phase":5}}"#,
        r#"{"status":{"containerStatuses":"running"}}"#,
        r#"{"status":{"podIP":["10.0.0.1"]}}"#,
    ] {
        let s = f
            .refused(
                Method::PATCH,
                &format!("{POD}/status"),
                patch,
                body,
                400,
                "BadRequest",
            )
            .await;
        assert!(s["message"].as_str().unwrap().contains("status"), "{s}");
    }
    let mut whole = created.clone();
    whole["status"] = serde_json::json!({"phase": "Running", "hostIP": 7});
    f.refused(
        Method::PUT,
        &format!("{POD}/status"),
        JSON,
        &whole.to_string(),
        400,
        "BadRequest",
    )
    .await;
    let (code, now) = f.send(Method::GET, POD, JSON, "").await;
    assert_eq!(code, 200);
    assert_eq!(now, created, "nothing written");
    // A well-typed status is written.
    let (code, patched) = f
        .send(
            Method::PATCH,
            &format!("{POD}/status"),
            patch,
            r#"{"status":{"phase":"Running","podIP":"10.0.0.1"}}"#,
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["status"]["podIP"], "10.0.0.1");
}

#[tokio::test]
async fn bad_bindings_are_refused_and_leave_the_pod_unbound() {
    let f = fixture().await;
    const PODS: &str = "/api/v1/namespaces/default/pods";
    let created = f.create_pod("p").await;
    let binding = format!("{PODS}/p/binding");
    let bind = |pod: &str, node: &str| {
        let target = if node.is_empty() {
            json!({"kind": "Node"})
        } else {
            json!({"name": node})
        };
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod}, "target": target})
            .to_string()
    };
    for (uri, body, code, reason) in [
        // No node named.
        (binding.clone(), bind("p", ""), 422, "Invalid"),
        // A binding of another pod.
        (binding.clone(), bind("q", "n1"), 400, "BadRequest"),
        // A pod that does not exist.
        (
            format!("{PODS}/nope/binding"),
            bind("nope", "n1"),
            404,
            "NotFound",
        ),
    ] {
        f.refused(Method::POST, &uri, JSON, &body, code, reason)
            .await;
    }
    let (code, now) = f.send(Method::GET, &format!("{PODS}/p"), JSON, "").await;
    assert_eq!(code, 200);
    assert_eq!(now, created, "nothing written");

    // An earlier scheduling attempt left PodScheduled False beside another condition.
    let (code, answer) = f
        .send(
            Method::PATCH,
            &format!("{PODS}/p/status"),
            "application/merge-patch+json",
            r#"{"status":{"conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable"},{"type":"example.com/gate","status":"True"}]}}"#,
        )
        .await;
    assert_eq!(code, 200, "{answer}");

    // A good binding: the node is set, the pod's status keeps its defaults and its
    // other conditions, and PodScheduled turns True (once).
    let (code, status) = f.send(Method::POST, &binding, JSON, &bind("p", "n1")).await;
    assert_eq!(code, 201, "{status}");
    let (_, bound) = f.send(Method::GET, &format!("{PODS}/p"), JSON, "").await;
    assert_eq!(bound["spec"]["nodeName"], "n1");
    assert_eq!(bound["spec"]["tolerations"], created["spec"]["tolerations"]);
    assert_eq!(bound["status"]["phase"], "Pending");
    assert_eq!(bound["status"]["qosClass"], "BestEffort");
    let conditions: Vec<(&str, &str)> = bound["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        conditions,
        [("example.com/gate", "True"), ("PodScheduled", "True")]
    );

    // Bound already: another binding is a conflict.
    f.refused(
        Method::POST,
        &binding,
        JSON,
        &bind("p", "n2"),
        409,
        "Conflict",
    )
    .await;
}

/// Unknown fields (`fieldValidation`): under `Strict` the write is refused and nothing is
/// written; under `Warn` (the default) and `Ignore` the fields are dropped, with a warning
/// each under `Warn` only, on create, replace and every kind of patch. What was dropped is
/// not stored, so a later strict write is not refused for a field an earlier one sent.
#[tokio::test]
async fn unknown_fields_are_refused_or_dropped_never_stored() {
    let f = fixture().await;
    let cm = &format!("{CMS}/u");
    let body = r#"{"metadata":{"name":"u","nope":1},"data":{"k":"v"},"bogus":true}"#;
    let refused = f
        .refused(
            Method::POST,
            &format!("{CMS}?fieldValidation=Strict"),
            JSON,
            body,
            400,
            "BadRequest",
        )
        .await;
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("strict decoding error")
            && message.contains(r#"unknown field "bogus""#)
            && message.contains(r#"unknown field "metadata.nope""#),
        "{message}"
    );
    assert_eq!(f.send(Method::GET, cm, JSON, "").await.0, 404);

    // Each write: its query, content type, body, the warnings it gets, and what is stored.
    let writes: [(Method, &str, &str, &str, &[&str]); 7] = [
        (
            Method::POST,
            "",
            JSON,
            body,
            &[
                r#"unknown field \"bogus\""#,
                r#"unknown field \"metadata.nope\""#,
            ],
        ),
        (
            Method::PATCH,
            "",
            "application/merge-patch+json",
            r#"{"data":{"k2":"v"},"extra":{"x":1}}"#,
            &[r#"unknown field \"extra\""#],
        ),
        // A null removes: it names no field, so a strict merge patch passes.
        (
            Method::PATCH,
            "?fieldValidation=Strict",
            "application/merge-patch+json",
            r#"{"data":{"k3":"v"},"extra":null}"#,
            &[],
        ),
        (
            Method::PATCH,
            "?fieldValidation=Ignore",
            "application/strategic-merge-patch+json",
            r#"{"other":1}"#,
            &[],
        ),
        (
            Method::PATCH,
            "",
            "application/json-patch+json",
            r#"[{"op":"add","path":"/zzz","value":"z"}]"#,
            &[r#"unknown field \"zzz\""#],
        ),
        (
            Method::PUT,
            "?fieldValidation=Ignore",
            JSON,
            r#"{"metadata":{"name":"u"},"data":{"k":"v","k2":"v","k3":"v"},"again":1}"#,
            &[],
        ),
        // Nothing unknown is stored, so a strict write of a known field passes.
        (
            Method::PATCH,
            "?fieldValidation=Strict",
            "application/strategic-merge-patch+json",
            r#"{"metadata":{"labels":{"l":"v"}}}"#,
            &[],
        ),
    ];
    for (method, query, ct, body, warned) in writes {
        let uri = if method == Method::POST { CMS } else { cm };
        let (code, warnings, answer) = f
            .send_warned(
                method.clone(),
                &format!("{uri}{query}"),
                ct,
                body.as_bytes().to_vec(),
            )
            .await;
        assert!(
            code == 200 || code == 201,
            "{method} {body}: {code} {answer}"
        );
        let expected: Vec<String> = warned.iter().map(|w| format!("299 - \"{w}\"")).collect();
        assert_eq!(warnings, expected, "{method} {query} {body}");
        let (_, stored) = f.send(Method::GET, cm, JSON, "").await;
        for field in ["bogus", "extra", "other", "zzz", "again"] {
            assert!(
                stored.get(field).is_none(),
                "{body}: {field} stored: {stored}"
            );
        }
        assert!(stored["metadata"].get("nope").is_none(), "{stored}");
        assert_eq!(
            answer["data"], stored["data"],
            "the answer is what is stored"
        );
    }
    let (_, stored) = f.send(Method::GET, cm, JSON, "").await;
    assert_eq!(stored["data"], json!({"k": "v", "k2": "v", "k3": "v"}));
    assert_eq!(stored["metadata"]["labels"], json!({"l": "v"}));
}
