//! Metadata-only reads and answers (`Accept: application/json;as=PartialObjectMetadata;
//! g=meta.k8s.io;v=v1`), as client-go's metadata client asks for them, and the SDK's
//! `PartialObjectMeta<K>`, which asks for them the same way.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use http::{Method, Request};
use http_body_util::BodyExt as _;
use kube_api::client::{Api, Client, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube_api::server::ApiServer;
use kube_core::{Deployment, PartialObjectMeta, Pod, Store, WatchEvent};
use kube_store::MemoryStore;
use serde_json::{Value, json};

/// What client-go's metadata client sends for one object and for a list.
const OBJECT: &str = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
const LIST: &str = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

const PODS: &str = "/api/v1/namespaces/default/pods";

async fn server() -> (ApiServer, Client) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    let client = Client::new(api.clone(), "default");
    (api, client)
}

async fn call(
    client: &Client,
    method: Method,
    uri: &str,
    accept: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("accept", accept);
    if body.is_some() {
        req = req.header("content-type", "application/merge-patch+json");
    }
    let body = body.map_or_else(bytes::Bytes::new, |b| {
        serde_json::to_vec(&b).unwrap().into()
    });
    let res = client.send(req.body(body).unwrap()).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap())
}

/// Creates a pod; returns it as a plain GET answers.
async fn pod(client: &Client, name: &str) -> Value {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web"}, "annotations": {"note": "kept"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    whole(client, name).await
}

/// A pod as a plain GET answers (the whole object).
async fn whole(client: &Client, name: &str) -> Value {
    let uri = format!("{PODS}/{name}");
    let (code, full) = call(client, Method::GET, &uri, "application/json", None).await;
    assert_eq!(code, 200, "{full}");
    full
}

/// The object a metadata client expects for `full`.
fn partial_of(full: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": full["metadata"],
    })
}

#[tokio::test]
async fn get_and_list_answer_with_metadata_only() {
    let (_api, client) = server().await;
    let web = pod(&client, "web").await;
    let db = pod(&client, "db").await;

    let (code, got) = call(&client, Method::GET, &format!("{PODS}/web"), OBJECT, None).await;
    assert_eq!(code, 200);
    assert_eq!(got, partial_of(&web, "v1"));
    let (code, got) = call(
        &client,
        Method::GET,
        &format!("{PODS}/web/status"),
        OBJECT,
        None,
    )
    .await;
    assert_eq!((code, got), (200, partial_of(&web, "v1")));

    let (code, list) = call(&client, Method::GET, PODS, LIST, None).await;
    assert_eq!(code, 200);
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    assert!(list["metadata"]["resourceVersion"].is_string(), "{list}");
    assert_eq!(
        list["items"],
        json!([partial_of(&db, "v1"), partial_of(&web, "v1")])
    );

    // Pages carry their continue token as usual.
    let (code, page) = call(&client, Method::GET, &format!("{PODS}?limit=1"), LIST, None).await;
    assert_eq!(code, 200);
    assert_eq!(page["items"], json!([partial_of(&db, "v1")]));
    assert!(page["metadata"]["continue"].is_string(), "{page}");

    // The older meta.k8s.io version is answered in kind.
    let v1beta1 = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1";
    let (code, got) = call(&client, Method::GET, &format!("{PODS}/web"), v1beta1, None).await;
    assert_eq!((code, got), (200, partial_of(&web, "v1beta1")));

    // A missing object is still a 404 Status.
    let (code, got) = call(&client, Method::GET, &format!("{PODS}/nope"), OBJECT, None).await;
    assert_eq!((code, got["kind"].as_str()), (404, Some("Status")));
}

#[tokio::test]
async fn a_write_answers_with_metadata_only_and_stores_everything() {
    let (_api, client) = server().await;
    pod(&client, "web").await;
    let patch = json!({"status": {"phase": "Running", "podIP": "10.0.0.7"}});
    let (code, answer) = call(
        &client,
        Method::PATCH,
        &format!("{PODS}/web/status"),
        OBJECT,
        Some(patch),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    let stored = whole(&client, "web").await;
    assert_eq!(stored["status"]["podIP"], "10.0.0.7");
    assert_eq!(answer, partial_of(&stored, "v1"));

    // The SDK's partial type asks the same way, and reads the answer's version.
    let partial: Api<PartialObjectMeta<Pod>> = Api::default_namespaced(client.clone());
    let written = partial
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
        )
        .await
        .unwrap();
    let stored = whole(&client, "web").await;
    assert_eq!(stored["status"]["phase"], "Succeeded");
    assert_eq!(
        written.metadata.resource_version.as_deref(),
        stored["metadata"]["resourceVersion"].as_str()
    );
    let listed = partial.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].metadata.name.as_deref(), Some("web"));
}

#[tokio::test]
async fn a_delete_collection_and_a_scale_answer_with_metadata_only() {
    let (_api, client) = server().await;
    pod(&client, "web").await;
    pod(&client, "db").await;

    // Both carry app=web. Deleted at once (no grace period), so the answer holds the objects as deleted.
    let (code, list) = call(
        &client,
        Method::DELETE,
        &format!("{PODS}?labelSelector=app%3Dweb&gracePeriodSeconds=0"),
        LIST,
        None,
    )
    .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    assert!(list["metadata"]["resourceVersion"].is_string(), "{list}");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["kind"], "PartialObjectMetadata", "{o}");
            assert_eq!(o["apiVersion"], "meta.k8s.io/v1", "{o}");
            assert!(o.get("spec").is_none(), "{o}");
            o["metadata"]["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, ["db", "web"]);
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // As kubectl asks for lists, a Table: one row per deleted object.
    pod(&client, "cache").await;
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let uri = format!("{PODS}?gracePeriodSeconds=0");
    let (code, got) = call(&client, Method::DELETE, &uri, table, None).await;
    assert_eq!((code, got["kind"].as_str()), (200, Some("Table")), "{got}");
    assert_eq!(got["rows"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["rows"][0]["cells"][0], "cache", "{got}");

    // A Deployment's scale, read and written.
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let scale = "/apis/apps/v1/namespaces/default/deployments/web/scale";
    let (code, json) = call(&client, Method::GET, scale, "application/json", None).await;
    assert_eq!(
        (code, json["kind"].as_str()),
        (200, Some("Scale")),
        "{json}"
    );
    let (code, got) = call(&client, Method::GET, scale, OBJECT, None).await;
    assert_eq!((code, got), (200, partial_of(&json, "v1")));
    let patch = json!({"spec": {"replicas": 3}});
    let (code, got) = call(&client, Method::PATCH, scale, OBJECT, Some(patch)).await;
    assert_eq!(code, 200, "{got}");
    assert_eq!(got["kind"], "PartialObjectMetadata");
    assert!(got.get("spec").is_none(), "{got}");
    let stored = deployments.get("web").await.unwrap();
    assert_eq!(stored.spec.replicas, Some(3));
    assert_eq!(
        got["metadata"]["resourceVersion"].as_str(),
        stored.metadata.resource_version.as_deref()
    );
}

#[tokio::test]
async fn a_watch_sends_metadata_only() {
    let (_api, client) = server().await;
    let partial: Api<PartialObjectMeta<Pod>> = Api::default_namespaced(client.clone());
    let rv = partial
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    // Raw, to see the frames as a metadata client does.
    let req = Request::builder()
        .uri(format!(
            "{PODS}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"
        ))
        .header("accept", OBJECT)
        .body(bytes::Bytes::new())
        .unwrap();
    let res = client.send(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let mut typed = partial.watch(&WatchParams::default(), &rv).await.unwrap();

    let web = pod(&client, "web").await;
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    let event: Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(
        event,
        json!({"type": "ADDED", "object": partial_of(&web, "v1")})
    );

    match tokio::time::timeout(Duration::from_secs(10), typed.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        WatchEvent::Added(p) => assert_eq!(p.metadata.name.as_deref(), Some("web")),
        other => panic!("expected ADDED, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_partial_types_fall_back_or_are_refused() {
    let (_api, client) = server().await;
    let web = pod(&client, "web").await;
    let uri = format!("{PODS}/web");

    // A version this server does not serve, with JSON as the fallback: the whole object.
    let v2 = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2";
    let (code, got) = call(
        &client,
        Method::GET,
        &uri,
        &format!("{v2},application/json"),
        None,
    )
    .await;
    assert_eq!((code, &got), (200, &web));
    // Without the fallback: 406, with a Status that says what is served.
    for accept in [
        v2,
        "application/json;as=PartialObjectMetadata;g=example.com;v=v1",
        "application/json;as=Unheard;g=meta.k8s.io;v=v1",
        "application/yaml;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
    ] {
        let (code, got) = call(&client, Method::GET, &uri, accept, None).await;
        assert_eq!(code, 406, "{accept}: {got}");
        assert_eq!(got["kind"], "Status");
        assert!(
            got["message"]
                .as_str()
                .unwrap()
                .contains("as=PartialObjectMetadata"),
            "{got}"
        );
    }
    // Nothing was changed by the refused reads.
    assert_eq!(whole(&client, "web").await, web);
}
