//! The remaining API semantics, end to end through the client: deletecollection,
//! propagationPolicy finalizers for the garbage collector, eviction, custom resources
//! registered at run time, `/metrics`, watch bookmarks, slow watchers cut off without
//! stalling others, and ClusterIP/NodePort allocations that survive a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use http::{Method, Request};
use http_body_util::BodyExt as _;
use kube_api::client::{
    Api, Client, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy,
    WatchParams,
};
use kube_api::server::{ApiServer, ApiServerConfig, ServiceRanges};
use kube_core::{ConfigMap, Deployment, Pod, Service, Store, WatchEvent};
use kube_store::MemoryStore;
use serde_json::{Value, json};

async fn server_with(config: ApiServerConfig) -> (ApiServer, Client, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store.clone())
        .config(config)
        .build()
        .await
        .unwrap();
    let client = Client::new(api.clone(), "default");
    (api, client, store)
}

async fn server() -> (ApiServer, Client, Arc<dyn Store>) {
    server_with(ApiServerConfig::default()).await
}

async fn call(client: &Client, method: Method, uri: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map_or_else(bytes::Bytes::new, |b| {
        serde_json::to_vec(&b).unwrap().into()
    });
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (code, value)
}

fn obj<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn deletecollection_deletes_what_the_selector_matches() {
    let (_api, client, _) = server().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "x"), ("d", "y")] {
        let cm: ConfigMap = obj(json!({"metadata": {"name": name, "labels": {"app": app}}}));
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let lp = ListParams {
        label_selector: Some("app=x".into()),
        ..ListParams::default()
    };
    let deleted = cms
        .delete_collection(&DeleteParams::default(), &lp)
        .await
        .unwrap();
    assert_eq!(deleted.items.len(), 3);
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["d"]);
}

#[tokio::test]
async fn propagation_policies_leave_finalizers_for_the_garbage_collector() {
    let (_api, client, _) = server().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client);
    let d = |name: &str| -> Deployment {
        obj(
            json!({"metadata": {"name": name}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        )
    };
    for name in ["orphan", "fore", "back"] {
        deploys
            .create(&PostParams::default(), &d(name))
            .await
            .unwrap();
    }
    let with = |p: PropagationPolicy| DeleteParams {
        propagation_policy: Some(p),
        ..DeleteParams::default()
    };
    deploys
        .delete("orphan", &with(PropagationPolicy::Orphan))
        .await
        .unwrap();
    deploys
        .delete("fore", &with(PropagationPolicy::Foreground))
        .await
        .unwrap();
    deploys
        .delete("back", &with(PropagationPolicy::Background))
        .await
        .unwrap();

    let orphan = deploys.get("orphan").await.unwrap();
    assert!(orphan.metadata.deletion_timestamp.is_some());
    assert_eq!(orphan.metadata.finalizers, ["orphan"]);
    let fore = deploys.get("fore").await.unwrap();
    assert!(fore.metadata.deletion_timestamp.is_some());
    assert_eq!(fore.metadata.finalizers, ["foregroundDeletion"]);
    assert_eq!(deploys.get("back").await.unwrap_err().code(), 404);

    // The garbage collector clears the finalizer when done; the object then goes.
    deploys
        .patch(
            "orphan",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert_eq!(deploys.get("orphan").await.unwrap_err().code(), 404);
    // A deleting object takes no new finalizers.
    let err = deploys
        .patch(
            "fore",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["foregroundDeletion", "extra"]}})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 422, "{err}");
}

#[tokio::test]
async fn eviction_deletes_gracefully_and_unbound_pods_at_once() {
    let (_api, client, _) = server().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for name in ["bound", "unbound"] {
        let p: Pod = obj(json!({"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "i"}], "terminationGracePeriodSeconds": 20}}));
        pods.create(&PostParams::default(), &p).await.unwrap();
    }
    pods.bind("bound", "n1").await.unwrap();
    let eviction = |name: &str| json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}});
    for name in ["bound", "unbound"] {
        let (code, status) = call(
            &client,
            Method::POST,
            &format!("/api/v1/namespaces/default/pods/{name}/eviction"),
            Some(eviction(name)),
        )
        .await;
        assert_eq!(code, 201, "{status}");
    }
    let bound = pods.get("bound").await.unwrap();
    assert!(bound.metadata.deletion_timestamp.is_some());
    assert_eq!(bound.metadata.deletion_grace_period_seconds, Some(20));
    assert_eq!(pods.get("unbound").await.unwrap_err().code(), 404);
    // The node agent finishes the deletion with grace 0.
    pods.delete("bound", &DeleteParams::immediate())
        .await
        .unwrap();
    assert_eq!(pods.get("bound").await.unwrap_err().code(), 404);
    let (code, _) = call(
        &client,
        Method::POST,
        "/api/v1/namespaces/default/pods/ghost/eviction",
        Some(eviction("ghost")),
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn custom_resources_registered_at_run_time_are_served_and_discovered() {
    let (_api, client, _) = server().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer", "minimum": 1},
                        "color": {"type": "string", "enum": ["red", "blue"]}}}}}}}]}});
    let (code, created) = call(
        &client,
        Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some(crd),
    )
    .await;
    assert_eq!(code, 201, "{created}");

    let (_, groups) = call(&client, Method::GET, "/apis", None).await;
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "example.com"),
        "{groups}"
    );
    let (code, resources) = call(&client, Method::GET, "/apis/example.com/v1", None).await;
    assert_eq!(code, 200);
    let widgets = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "widgets")
        .unwrap();
    assert_eq!(widgets["kind"], "Widget");
    assert_eq!(widgets["namespaced"], true);

    let url = "/apis/example.com/v1/namespaces/default/widgets";
    let w = |name: &str, size: i64, color: &str| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"size": size, "color": color}})
    };
    let (code, body) = call(&client, Method::POST, url, Some(w("w1", 3, "red"))).await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = call(&client, Method::POST, url, Some(w("w2", 0, "red"))).await;
    assert_eq!(code, 422, "{body}");
    let (code, body) = call(&client, Method::POST, url, Some(w("w3", 2, "green"))).await;
    assert_eq!(code, 422, "{body}");
    let (code, list) = call(&client, Method::GET, url, None).await;
    assert_eq!(code, 200);
    assert_eq!(list["kind"], "WidgetList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (code, body) = call(&client, Method::GET, &format!("{url}/w1/status"), None).await;
    assert_eq!(code, 200, "{body}");

    // Deleting the definition stops serving the kind.
    let (code, _) = call(
        &client,
        Method::DELETE,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
        None,
    )
    .await;
    assert!(code == 200 || code == 202, "{code}");
    let (code, _) = call(&client, Method::GET, url, None).await;
    assert_eq!(code, 404);
}

/// The server's `/metrics` text.
async fn metrics(client: &Client) -> String {
    let req = Request::get("/metrics").body(bytes::Bytes::new()).unwrap();
    let res = client.send(req).await.unwrap();
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// A client that lists a kind page by page at the current revision and then watches from
/// the list's revision (an informer, `kubectl get -w`) is served by the kind's watch cache,
/// even when nothing watched the kind before: the list starts the cache, so the watch's
/// revision is inside its history. (Before, the cache started at the watch, after the
/// revision, and the watch fell back to the store's own watch.)
#[tokio::test]
async fn a_watch_after_a_paged_list_is_served_by_the_watch_cache() {
    let (_api, client, _) = server().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm = |name: &str| -> ConfigMap { obj(json!({"metadata": {"name": name}})) };
    for name in ["a", "b", "c"] {
        cms.create(&PostParams::default(), &cm(name)).await.unwrap();
    }
    let page = |continue_token: Option<String>| ListParams {
        limit: Some(2),
        continue_token,
        ..ListParams::default()
    };
    let first = cms.list(&page(None)).await.unwrap();
    let second = cms
        .list(&page(first.metadata.continue_.clone()))
        .await
        .unwrap();
    let names: Vec<_> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let revision = first.metadata.resource_version.clone().unwrap();
    // A write between the list and the watch.
    cms.create(&PostParams::default(), &cm("d")).await.unwrap();

    let mut events = cms.watch(&WatchParams::default(), &revision).await.unwrap();
    match events.next().await.unwrap().unwrap() {
        WatchEvent::Added(c) => assert_eq!(c.metadata.name.as_deref(), Some("d")),
        other => panic!("expected d added, got {other:?}"),
    }
    let text = metrics(&client).await;
    assert!(text.contains("apiserver_registered_watchers 1"), "{text}");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let (_api, client, _) = server().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap = obj(json!({"metadata": {"name": "m"}}));
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let _ = cms.get("missing").await;
    let req = Request::get("/metrics").body(bytes::Bytes::new()).unwrap();
    let res = client.send(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(
        text.contains("# TYPE apiserver_request_total counter"),
        "{text}"
    );
    assert!(
        text.contains(r#"apiserver_request_total{verb="POST",resource="configmaps",code="201"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"apiserver_request_total{verb="GET",resource="configmaps",code="404"} 1"#),
        "{text}"
    );
    // Every sample line is `name{labels} value` or `name value`.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
}

#[tokio::test]
async fn watches_get_bookmarks() {
    let config = ApiServerConfig {
        bookmark_interval: Duration::from_millis(100),
        ..ApiServerConfig::default()
    };
    let (_api, client, _) = server_with(config).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = obj(json!({"metadata": {"name": "b"}}));
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let params = WatchParams {
        bookmarks: true,
        ..WatchParams::default()
    };
    let mut stream = cms.watch(&params, &rv).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("no bookmark came")
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Bookmark(b) => {
            let at: u64 = b.metadata.resource_version.parse().unwrap();
            assert!(at >= rv.parse::<u64>().unwrap());
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_is_cut_off_and_never_stalls_the_others() {
    let config = ApiServerConfig {
        watch_channel_capacity: 16,
        ..ApiServerConfig::default()
    };
    let (_api, client, _) = server_with(config).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let params = WatchParams {
        bookmarks: false,
        ..WatchParams::default()
    };
    let mut fast = cms.watch(&params, "").await.unwrap();
    let mut slow = cms.watch(&params, "").await.unwrap();
    const N: usize = 300;
    // The writer goes in lock step with the fast watcher, so that one never falls
    // behind; the slow one never reads. Were the slow watcher able to hold up delivery,
    // the fast one would stall and the writer with it.
    let (ack, mut acks) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = tokio::spawn(async move {
        let mut names = Vec::new();
        while names.len() < N {
            match tokio::time::timeout(Duration::from_secs(30), fast.next()).await {
                Ok(Some(Ok(WatchEvent::Added(cm)))) => {
                    let name = cm.metadata.name.unwrap();
                    names.push(name.clone());
                    ack.send(name).unwrap();
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("the fast watcher stalled or failed: {other:?}"),
            }
        }
        names
    });
    for i in 0..N {
        let name = format!("cm-{i:03}");
        let cm: ConfigMap = obj(json!({"metadata": {"name": name}}));
        cms.create(&PostParams::default(), &cm).await.unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(30), acks.recv())
            .await
            .expect("the fast watcher stalled");
        assert_eq!(seen.as_deref(), Some(name.as_str()));
    }
    let names = reader.await.unwrap();
    let want: Vec<String> = (0..N).map(|i| format!("cm-{i:03}")).collect();
    assert_eq!(names, want, "the fast watcher missed or reordered events");

    // The slow watcher, read only now, gets what was buffered and then its stream ends
    // (it would relist), instead of growing a backlog of every event.
    let mut got = 0;
    let mut expired = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), slow.next()).await {
            Ok(Some(Ok(WatchEvent::Added(_)))) => got += 1,
            Ok(Some(Ok(WatchEvent::Error(s)))) => {
                expired = s.code == 410;
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => panic!("the slow watcher's stream neither ended nor moved"),
        }
    }
    assert!(
        got < N,
        "the slow watcher got all {got} events: it was not cut off"
    );
    let _ = expired;
}

#[tokio::test]
async fn service_addresses_survive_a_restart_and_are_never_handed_out_twice() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let ranges = ServiceRanges {
        cluster_ip_cidr: ServiceRanges::parse_cidr("10.0.0.0/29").unwrap(),
        node_ports: 30000..=30002,
    };
    let start = || async {
        let api = ApiServer::builder(store.clone())
            .service_ranges(ranges.clone())
            .build()
            .await
            .unwrap();
        Api::<Service>::default_namespaced(Client::new(api, "default"))
    };
    let svc = |name: &str| -> Service {
        obj(
            json!({"metadata": {"name": name}, "spec": {"type": "NodePort",
            "ports": [{"port": 80}], "selector": {"a": "b"}}}),
        )
    };
    let mut ips = BTreeSet::new();
    let mut ports = BTreeSet::new();
    let first = start().await;
    for name in ["s1", "s2"] {
        let s = first
            .create(&PostParams::default(), &svc(name))
            .await
            .unwrap();
        let spec = s.spec;
        assert!(ips.insert(spec.cluster_ip.clone().unwrap()));
        assert!(ports.insert(spec.ports[0].node_port.unwrap()));
    }
    drop(first);

    // A new server over the same store: the third port is the only one left.
    let second = start().await;
    let s = second
        .create(&PostParams::default(), &svc("s3"))
        .await
        .unwrap();
    let spec = s.spec;
    assert!(ips.insert(spec.cluster_ip.clone().unwrap()), "{ips:?}");
    assert!(ports.insert(spec.ports[0].node_port.unwrap()), "{ports:?}");
    let err = second
        .create(&PostParams::default(), &svc("s4"))
        .await
        .unwrap_err();
    assert!(err.code() == 422 || err.code() == 500, "{err}");
    assert_eq!(second.get("s4").await.unwrap_err().code(), 404);

    // Deleting one frees its address and port for the next.
    second.delete("s1", &DeleteParams::default()).await.unwrap();
    let s = second
        .create(&PostParams::default(), &svc("s5"))
        .await
        .unwrap();
    assert!(s.spec.ports[0].node_port.is_some());
}

#[tokio::test]
async fn an_undecodable_stored_object_does_not_break_lists_or_watches() {
    let (_api, client, store) = server().await;
    store
        .create(
            bytes::Bytes::from_static(b"/registry/configmaps/default/garbage"),
            bytes::Bytes::from_static(b"\x00not json"),
            None,
        )
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = obj(json!({"metadata": {"name": "fine"}}));
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut stream = cms.watch(&WatchParams::default(), "").await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(ev, WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("fine")));
    let names: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(names, ["fine"]);
}

/// A GET answers with the object as its last write answered it (served from the stored
/// bytes with the revision put back, not decoded and encoded again), through the object
/// and its status subresource; a missing object is a 404 Status.
#[tokio::test]
async fn a_get_answers_with_the_object_as_written() {
    let (_api, client, _store) = server().await;
    let pods = "/api/v1/namespaces/default/pods";
    let (code, _) = call(
        &client,
        Method::POST,
        pods,
        Some(json!({"metadata": {"name": "p", "labels": {"a": "b"},
            "annotations": {"note": "quotes \" and unicode ü ✓"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}})),
    )
    .await;
    assert_eq!(code, 201);
    let req = Request::builder()
        .method(Method::PATCH)
        .uri(format!("{pods}/p/status"))
        .header("content-type", "application/merge-patch+json")
        .body(bytes::Bytes::from(
            json!({"status": {"phase": "Running", "podIP": "10.0.0.1"}}).to_string(),
        ))
        .unwrap();
    let res = client.send(req).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let written: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(
        written["metadata"]["resourceVersion"].is_string(),
        "{written}"
    );
    for uri in [format!("{pods}/p"), format!("{pods}/p/status")] {
        let (code, got) = call(&client, Method::GET, &uri, None).await;
        assert_eq!(code, 200, "{uri}");
        assert_eq!(got, written, "{uri}");
    }
    let (code, missing) = call(&client, Method::GET, &format!("{pods}/nope"), None).await;
    assert_eq!(code, 404);
    assert_eq!(missing["kind"], "Status", "{missing}");
    assert_eq!(missing["reason"], "NotFound", "{missing}");
}

#[tokio::test]
async fn a_write_starts_from_what_the_store_holds_whoever_wrote_it() {
    // Another writer of the same store (a second server on one etcd, a restore) changes
    // an object this server wrote: the next write through this server keeps that change.
    // (Whatever a server keeps of its own writes, a decoded copy to start the next one
    // from, say, must give way to what the store holds.)
    let (_api, client, store) = server().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = obj(json!({"metadata": {"name": "shared"}, "data": {"a": "1"}}));
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let key = "/registry/configmaps/default/shared";
    let stored = store.get(key.as_bytes()).await.unwrap().unwrap();
    let mut other: Value = serde_json::from_slice(&stored.value).unwrap();
    other["data"]["b"] = json!("from another writer");
    store
        .update(
            key.into(),
            serde_json::to_vec(&other).unwrap().into(),
            stored.mod_revision,
        )
        .await
        .unwrap();

    let patched = cms
        .patch(
            "shared",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"c": "3"}})),
        )
        .await
        .unwrap();
    let data: Vec<(&str, &str)> = patched
        .data
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(data, [("a", "1"), ("b", "from another writer"), ("c", "3")]);
    // And a write right after this server's own write sees that write.
    let again = cms
        .patch(
            "shared",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": null}})),
        )
        .await
        .unwrap();
    assert_eq!(again.data.len(), 2);
    assert_eq!(cms.get("shared").await.unwrap().data, again.data);
}
