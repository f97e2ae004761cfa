//! Protobuf request bodies through the API server in process: creates, subresource bodies
//! (binding, eviction, scale), DELETE options, and the media types the server refuses.
//!
//! The bodies are built here field by field from the published field numbers, so these
//! tests need no client; `protobuf_kubectl.rs` checks the same path with real kubectl.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use http::{Method, Request, StatusCode};
use kube_api::server::{ApiBody, ApiServer};
use kube_core::Store;
use kube_store::MemoryStore;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// A minimal protobuf encoder: each function returns one encoded field.
mod pb {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn key(number: u32, wire_type: u8, out: &mut Vec<u8>) {
        varint(u64::from(number) << 3 | u64::from(wire_type), out);
    }

    /// A length-delimited field: a string, bytes or a message.
    pub(crate) fn bytes(number: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        key(number, 2, &mut out);
        varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }

    pub(crate) fn s(number: u32, value: &str) -> Vec<u8> {
        bytes(number, value.as_bytes())
    }

    /// A varint field (ints and bools; negative ints sign-extended as Go writes them).
    pub(crate) fn int(number: u32, value: i64) -> Vec<u8> {
        let mut out = Vec::new();
        key(number, 0, &mut out);
        varint(value as u64, &mut out);
        out
    }

    /// A nested message from its fields.
    pub(crate) fn msg(number: u32, fields: &[Vec<u8>]) -> Vec<u8> {
        bytes(number, &fields.concat())
    }

    /// A `map<string, string>` entry.
    pub(crate) fn entry(number: u32, k: &str, v: &str) -> Vec<u8> {
        msg(number, &[s(1, k), s(2, v)])
    }

    /// A `map<string, Quantity>` entry.
    pub(crate) fn quantity(number: u32, k: &str, v: &str) -> Vec<u8> {
        msg(number, &[s(1, k), msg(2, &[s(1, v)])])
    }

    /// The `k8s\0` envelope around an object's fields.
    pub(crate) fn envelope(api_version: &str, kind: &str, fields: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"k8s\0".to_vec();
        out.extend(msg(1, &[s(1, api_version), s(2, kind)]));
        out.extend(bytes(2, &fields.concat()));
        out
    }
}

async fn server() -> ApiServer {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    ApiServer::builder(store).build().await.unwrap()
}

async fn call(
    api: &ApiServer,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(ApiBody::from(body))
        .unwrap();
    let res = api.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect_bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, value)
}

async fn get(api: &ApiServer, path: &str) -> (StatusCode, Value) {
    call(api, Method::GET, path, "application/json", Vec::new()).await
}

async fn post_json(api: &ApiServer, path: &str, body: &Value) -> Value {
    let (code, v) = call(
        api,
        Method::POST,
        path,
        "application/json",
        serde_json::to_vec(body).unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    v
}

fn meta(name: &str) -> Vec<u8> {
    pb::msg(1, &[pb::s(1, name), pb::entry(11, "app", name)])
}

/// A pod with most of what a controller writes: containers, resources, probes, env,
/// tolerations, affinity and volumes.
fn pod_fields(name: &str) -> Vec<Vec<u8>> {
    let container = pb::msg(
        2,
        &[
            pb::s(1, "app"),
            pb::s(2, "nginx:1.27"),
            pb::msg(6, &[pb::s(1, "http"), pb::int(3, 80), pb::s(4, "TCP")]),
            pb::msg(7, &[pb::s(1, "MODE"), pb::s(2, "prod")]),
            pb::msg(
                7,
                &[
                    pb::s(1, "POD_NAME"),
                    pb::msg(3, &[pb::msg(1, &[pb::s(2, "metadata.name")])]),
                ],
            ),
            pb::msg(
                8,
                &[
                    pb::quantity(1, "cpu", "0.5"),
                    pb::quantity(1, "memory", "128Mi"),
                    pb::quantity(2, "cpu", "250m"),
                ],
            ),
            pb::msg(9, &[pb::s(1, "data"), pb::s(3, "/data"), pb::int(2, 1)]),
            pb::msg(
                11,
                &[
                    // ProbeHandler (inlined in JSON) with an httpGet on a named port.
                    pb::msg(
                        1,
                        &[pb::msg(
                            2,
                            &[
                                pb::s(1, "/ready"),
                                pb::msg(2, &[pb::int(1, 1), pb::s(3, "http")]),
                            ],
                        )],
                    ),
                    pb::int(4, 5),
                ],
            ),
            pb::s(14, "IfNotPresent"),
        ],
    );
    let spec = pb::msg(
        2,
        &[
            pb::msg(
                1,
                &[
                    pb::s(1, "data"),
                    pb::msg(2, &[pb::msg(2, &[pb::s(1, "Memory")])]),
                ],
            ),
            container,
            pb::s(3, "Always"),
            pb::int(4, 30),
            pb::entry(7, "disk", "ssd"),
            pb::msg(
                22,
                &[
                    pb::s(1, "node.kubernetes.io/unreachable"),
                    pb::s(2, "Exists"),
                    pb::s(4, "NoExecute"),
                    pb::int(5, 300),
                ],
            ),
            pb::int(25, 0),
        ],
    );
    vec![meta(name), spec]
}

#[tokio::test]
async fn a_pod_sent_as_protobuf_is_stored_as_its_json_form() {
    let api = server().await;
    let body = pb::envelope("v1", "Pod", &pod_fields("web"));
    let (code, created) = call(
        &api,
        Method::POST,
        "/api/v1/namespaces/default/pods",
        PROTOBUF,
        body,
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let (_, pod) = get(&api, "/api/v1/namespaces/default/pods/web").await;
    assert_eq!(pod["metadata"]["labels"], json!({"app": "web"}));
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx:1.27");
    assert_eq!(
        c["ports"][0],
        json!({"name": "http", "containerPort": 80, "protocol": "TCP"})
    );
    assert_eq!(
        c["env"][1]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(
        c["resources"]["limits"],
        json!({"cpu": "500m", "memory": "128Mi"})
    );
    assert_eq!(c["resources"]["requests"], json!({"cpu": "250m"}));
    assert_eq!(
        c["volumeMounts"][0],
        json!({"name": "data", "mountPath": "/data", "readOnly": true})
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http");
    assert_eq!(c["readinessProbe"]["periodSeconds"], 5);
    assert_eq!(
        pod["spec"]["volumes"][0],
        json!({"name": "data", "emptyDir": {"medium": "Memory"}})
    );
    assert_eq!(pod["spec"]["tolerations"][0]["tolerationSeconds"], 300);
    assert_eq!(pod["spec"]["nodeSelector"], json!({"disk": "ssd"}));
    assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 30);
    // A pointer set to zero is kept: priority 0 is not "unset".
    assert_eq!(pod["spec"]["priority"], 0);
}

#[tokio::test]
async fn binding_eviction_scale_and_delete_bodies_decode() {
    let api = server().await;
    let pods = "/api/v1/namespaces/default/pods";
    for name in ["a", "b", "c"] {
        post_json(
            &api,
            pods,
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await;
    }

    // pods/binding with a v1 Binding.
    let binding = pb::envelope(
        "v1",
        "Binding",
        &[
            pb::msg(1, &[pb::s(1, "a")]),
            pb::msg(2, &[pb::s(1, "Node"), pb::s(3, "node-1")]),
        ],
    );
    let (code, status) = call(
        &api,
        Method::POST,
        &format!("{pods}/a/binding"),
        PROTOBUF,
        binding,
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{status}");
    let (_, a) = get(&api, &format!("{pods}/a")).await;
    assert_eq!(a["spec"]["nodeName"], "node-1");

    // pods/eviction with a policy/v1 Eviction whose DeleteOptions set a grace period of
    // zero: a pointer set to zero, which must reach the server as 0, not as unset.
    let eviction = pb::envelope(
        "policy/v1",
        "Eviction",
        &[
            pb::msg(1, &[pb::s(1, "a"), pb::s(3, "default")]),
            pb::msg(2, &[pb::int(1, 0)]),
        ],
    );
    let (code, status) = call(
        &api,
        Method::POST,
        &format!("{pods}/a/eviction"),
        PROTOBUF,
        eviction,
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{status}");
    let (code, _) = get(&api, &format!("{pods}/a")).await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "a bound pod evicted with grace 0 is gone"
    );

    // DELETE with a protobuf DeleteOptions body, as client-go's typed Delete sends it.
    let (code, _) = call(
        &api,
        Method::POST,
        &format!("{pods}/b/binding"),
        PROTOBUF,
        pb::envelope(
            "v1",
            "Binding",
            &[
                pb::msg(1, &[pb::s(1, "b")]),
                pb::msg(2, &[pb::s(3, "node-1")]),
            ],
        ),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let options = pb::envelope("meta.k8s.io/v1", "DeleteOptions", &[pb::int(1, 0)]);
    let (code, body) = call(
        &api,
        Method::DELETE,
        &format!("{pods}/b"),
        PROTOBUF,
        options,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, _) = get(&api, &format!("{pods}/b")).await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "grace period 0 deletes at once"
    );

    // deployments/scale with an autoscaling/v1 Scale.
    let deployments = "/apis/apps/v1/namespaces/default/deployments";
    post_json(
        &api,
        deployments,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
    )
    .await;
    for replicas in [5, 0] {
        let scale = pb::envelope(
            "autoscaling/v1",
            "Scale",
            &[
                pb::msg(1, &[pb::s(1, "web"), pb::s(3, "default")]),
                pb::msg(2, &[pb::int(1, replicas)]),
            ],
        );
        let (code, body) = call(
            &api,
            Method::PUT,
            &format!("{deployments}/web/scale"),
            PROTOBUF,
            scale,
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        let (_, d) = get(&api, &format!("{deployments}/web")).await;
        assert_eq!(d["spec"]["replicas"], replicas);
    }
}

/// POSTs a protobuf body that the server must answer with 201; returns the answer.
async fn created(api: &ApiServer, path: &str, body: Vec<u8>) -> Value {
    let (code, answer) = call(api, Method::POST, path, PROTOBUF, body).await;
    assert_eq!(code, StatusCode::CREATED, "{answer}");
    answer
}

#[tokio::test]
async fn self_reviews_are_read_from_protobuf() {
    let api = server().await;
    // `kubectl auth can-i list pods -n team`, as client-go encodes it.
    let review = pb::envelope(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &[
            pb::msg(1, &[]),
            pb::msg(
                2,
                &[pb::msg(
                    1,
                    &[pb::s(1, "team"), pb::s(2, "list"), pb::s(5, "pods")],
                )],
            ),
        ],
    );
    let body = created(
        &api,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        review,
    )
    .await;
    assert_eq!(
        body["spec"],
        json!({"resourceAttributes": {"namespace": "team", "verb": "list", "resource": "pods"}})
    );
    assert_eq!(body["status"], json!({"allowed": true}));

    // A SubjectAccessReview about another user, as a delegating component sends it.
    let about = pb::envelope(
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        &[pb::msg(
            2,
            &[
                pb::msg(1, &[pb::s(2, "get"), pb::s(5, "nodes")]),
                pb::s(3, "dev"),
                pb::s(4, "devs"),
                pb::s(6, "u-1"),
            ],
        )],
    );
    let body = created(
        &api,
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        about,
    )
    .await;
    assert_eq!(
        body["spec"],
        json!({"resourceAttributes": {"verb": "get", "resource": "nodes"},
               "user": "dev", "groups": ["devs"], "uid": "u-1"})
    );

    // A TokenReview: decoded, and answered (this server authenticates no tokens).
    let token = pb::envelope(
        "authentication.k8s.io/v1",
        "TokenReview",
        &[pb::msg(2, &[pb::s(1, "some-token"), pb::s(2, "api")])],
    );
    let body = created(&api, "/apis/authentication.k8s.io/v1/tokenreviews", token).await;
    assert_eq!(
        body["spec"],
        json!({"token": "some-token", "audiences": ["api"]})
    );
    assert!(body["status"]["error"].is_string(), "{body}");

    // `kubectl auth can-i --list -n team`.
    let list = pb::envelope(
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        &[pb::msg(1, &[]), pb::msg(2, &[pb::s(1, "team")])],
    );
    let body = created(
        &api,
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        list,
    )
    .await;
    assert_eq!(body["spec"], json!({"namespace": "team"}));
    assert_eq!(body["status"]["incomplete"], false, "{body}");

    let whoami = pb::envelope("authentication.k8s.io/v1", "SelfSubjectReview", &[]);
    let body = created(
        &api,
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        whoami,
    )
    .await;
    assert!(body["status"]["userInfo"]["username"].is_string(), "{body}");
}

#[tokio::test]
async fn other_media_types_get_415_and_bad_protobuf_400() {
    let api = server().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let json_body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#.to_vec();

    // CBOR must be refused with 415, so that client-go falls back to JSON.
    for ct in [
        "application/cbor",
        "text/plain",
        "application/x-www-form-urlencoded",
    ] {
        let (code, status) = call(&api, Method::POST, cms, ct, json_body.clone()).await;
        assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}: {status}");
        assert_eq!(status["reason"], "UnsupportedMediaType", "{ct}");
    }
    // JSON and YAML, with parameters, still work.
    let (code, _) = call(
        &api,
        Method::POST,
        cms,
        "application/json; charset=utf-8",
        json_body,
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n".to_vec();
    let (code, _) = call(&api, Method::POST, cms, "application/yaml", yaml).await;
    assert_eq!(code, StatusCode::CREATED);

    // A kind with no protobuf form (custom resources are JSON only): 415.
    let widget = pb::envelope("example.com/v1", "Widget", &[meta("w")]);
    let (code, status) = call(&api, Method::POST, cms, PROTOBUF, widget).await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{status}");

    // Malformed protobuf: 400 with a Status, nothing written, the server still serving.
    let mut truncated = pb::envelope("v1", "ConfigMap", &[meta("z"), pb::entry(2, "k", "v")]);
    truncated.truncate(truncated.len() - 3);
    let no_magic = pb::msg(2, &[meta("z")]);
    let wrong_wire_type = pb::envelope("v1", "ConfigMap", &[pb::int(1, 7)]);
    let no_kind = {
        let mut out = b"k8s\0".to_vec();
        out.extend(pb::bytes(2, &meta("z")));
        out
    };
    for (case, body) in [
        ("truncated", truncated),
        ("no magic", no_magic),
        ("wrong wire type", wrong_wire_type),
        ("no kind", no_kind),
    ] {
        let (code, status) = call(&api, Method::POST, cms, PROTOBUF, body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{case}: {status}");
        assert_eq!(status["kind"], "Status", "{case}");
        assert_eq!(status["reason"], "BadRequest", "{case}");
    }
    let (code, _) = get(&api, &format!("{cms}/z")).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "nothing was written");

    // A well-formed protobuf ConfigMap after all that.
    let good = pb::envelope(
        "v1",
        "ConfigMap",
        &[
            meta("z"),
            pb::entry(2, "k", "v"),
            pb::msg(3, &[pb::s(1, "bin"), pb::bytes(2, &[0, 255])]),
        ],
    );
    let (code, created) = call(&api, Method::POST, cms, PROTOBUF, good).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"], json!({"k": "v"}));
    assert_eq!(created["binaryData"], json!({"bin": "AP8="}));
}
