//! Selector watches of pods. Watches by `spec.nodeName` (every kubelet's) are served from
//! the watch cache's node index: each gets the events of its node's pods, and nothing of
//! the others', yet sees pods arrive by binding and leave, and its bookmarks move past the
//! other nodes' events so that it resumes inside the cache's history. Label and field
//! selector watches get exactly their events whether served from the cache's history or,
//! once that is too short, from the store's watch; a delete reports the last state with
//! the delete's resourceVersion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube_api::client::{
    Api, Client, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams,
};
use kube_api::server::{ApiServer, ApiServerConfig};
use kube_core::{Pod, Store, WatchEvent};
use kube_store::MemoryStore;

async fn server() -> Client {
    server_with(ApiServerConfig {
        bookmark_interval: Duration::from_millis(200),
        ..ApiServerConfig::default()
    })
    .await
}

async fn server_with(config: ApiServerConfig) -> Client {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store)
        .config(config)
        .build()
        .await
        .unwrap();
    Client::new(api, "default")
}

fn pod(name: &str, node: Option<&str>) -> Pod {
    labelled(name, None, node)
}

/// A pod with an `app` label (if given), on a node (if given).
fn labelled(name: &str, app: Option<&str>, node: Option<&str>) -> Pod {
    let mut spec = serde_json::json!({"containers": [{"name": "c", "image": "i"}]});
    if let Some(node) = node {
        spec["nodeName"] = node.into();
    }
    let mut metadata = serde_json::json!({"name": name});
    if let Some(app) = app {
        metadata["labels"] = serde_json::json!({"app": app});
    }
    serde_json::from_value(serde_json::json!({"metadata": metadata, "spec": spec})).unwrap()
}

fn on(node: &str) -> WatchParams {
    WatchParams {
        field_selector: Some(format!("spec.nodeName={node}")),
        bookmarks: true,
        ..WatchParams::default()
    }
}

/// The next event that is not a bookmark, as (type, pod name).
async fn next_change(
    stream: &mut (impl futures::Stream<Item = Result<WatchEvent<Pod>, kube_core::Error>> + Unpin),
) -> (&'static str, String) {
    let (kind, pod) = next_pod(stream).await;
    (kind, pod.metadata.name.unwrap_or_default())
}

/// The next event that is not a bookmark, as (type, pod).
async fn next_pod(
    stream: &mut (impl futures::Stream<Item = Result<WatchEvent<Pod>, kube_core::Error>> + Unpin),
) -> (&'static str, Pod) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .unwrap();
        let (kind, pod) = match event {
            WatchEvent::Added(p) => ("ADDED", p),
            WatchEvent::Modified(p) => ("MODIFIED", p),
            WatchEvent::Deleted(p) => ("DELETED", p),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(s) => panic!("watch error: {s:?}"),
        };
        return (kind, pod);
    }
}

#[tokio::test]
async fn node_watches_see_only_their_pods_arrive_and_leave() {
    let client = server().await;
    let api: Api<Pod> = Api::default_namespaced(client);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut a = api.watch(&on("node-a"), &rv).await.unwrap();
    let mut b = api.watch(&on("node-b"), &rv).await.unwrap();

    api.create(&PostParams::default(), &pod("b1", Some("node-b")))
        .await
        .unwrap();
    api.create(&PostParams::default(), &pod("a1", Some("node-a")))
        .await
        .unwrap();
    // Unscheduled: neither node sees it until it is bound.
    api.create(&PostParams::default(), &pod("p", None))
        .await
        .unwrap();
    api.bind("p", "node-a").await.unwrap();
    // A bound pod is deleted gracefully: first marked (MODIFIED), then, forced, removed.
    api.delete("a1", &DeleteParams::default()).await.unwrap();
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    api.delete("a1", &force).await.unwrap();

    assert_eq!(next_change(&mut a).await, ("ADDED", "a1".to_owned()));
    assert_eq!(next_change(&mut a).await, ("ADDED", "p".to_owned()));
    assert_eq!(next_change(&mut a).await, ("MODIFIED", "a1".to_owned()));
    assert_eq!(next_change(&mut a).await, ("DELETED", "a1".to_owned()));
    assert_eq!(next_change(&mut b).await, ("ADDED", "b1".to_owned()));
}

#[tokio::test]
async fn bookmarks_of_a_node_watch_move_past_other_nodes_events() {
    let client = server().await;
    let api: Api<Pod> = Api::default_namespaced(client);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut a = api.watch(&on("node-a"), &rv).await.unwrap();
    let created = api
        .create(&PostParams::default(), &pod("b1", Some("node-b")))
        .await
        .unwrap();
    let b1_rv: i64 = created.metadata.resource_version.unwrap().parse().unwrap();

    // Node a gets no event, but a bookmark at or past b1's creation.
    let reached = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), a.next())
            .await
            .expect("a bookmark in time")
            .expect("the stream goes on")
            .unwrap();
        match event {
            WatchEvent::Bookmark(b) => {
                let r: i64 = b.metadata.resource_version.parse().unwrap();
                if r >= b1_rv {
                    break b.metadata.resource_version;
                }
            }
            other => panic!("node a saw another node's pod: {other:?}"),
        }
    };

    // Resuming from the bookmark replays nothing of node b, and goes on with node a.
    drop(a);
    let mut resumed = api.watch(&on("node-a"), &reached).await.unwrap();
    api.create(&PostParams::default(), &pod("a1", Some("node-a")))
        .await
        .unwrap();
    assert_eq!(next_change(&mut resumed).await, ("ADDED", "a1".to_owned()));
}

/// The pods a list with `spec.nodeName=<node>` returns, by name (sorted).
async fn listed(api: &Api<Pod>, node: &str, from_cache: bool) -> Vec<String> {
    let params = ListParams {
        field_selector: Some(format!("spec.nodeName={node}")),
        resource_version: from_cache.then(|| "0".to_owned()),
        ..ListParams::default()
    };
    let mut names: Vec<String> = api
        .list(&params)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn node_lists_come_from_the_index_and_follow_binding_and_deletion() {
    let client = server().await;
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    let namespace: kube_core::Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "other"}})).unwrap();
    Api::<kube_core::Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let other: Api<Pod> = Api::namespaced(client, "other");
    for (name, node) in [
        ("a1", Some("node-a")),
        ("a2", Some("node-a")),
        ("b1", Some("node-b")),
    ] {
        api.create(&PostParams::default(), &pod(name, node))
            .await
            .unwrap();
    }
    other
        .create(&PostParams::default(), &pod("x", Some("node-a")))
        .await
        .unwrap();
    api.create(&PostParams::default(), &pod("p", None))
        .await
        .unwrap();
    api.bind("p", "node-b").await.unwrap();
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    api.delete("a2", &force).await.unwrap();
    for from_cache in [true, false] {
        assert_eq!(
            listed(&api, "node-a", from_cache).await,
            ["a1"],
            "{from_cache}"
        );
        assert_eq!(
            listed(&api, "node-b", from_cache).await,
            ["b1", "p"],
            "{from_cache}"
        );
        assert_eq!(
            listed(&other, "node-a", from_cache).await,
            ["x"],
            "{from_cache}"
        );
        assert!(listed(&api, "node-c", from_cache).await.is_empty());
        // Not by node: every pod of the namespace, unscheduled or not.
        assert_eq!(
            api.list(&ListParams::default()).await.unwrap().items.len(),
            3
        );
    }
    // Across namespaces.
    let all: Api<Pod> = Api::all(other.client().clone());
    assert_eq!(listed(&all, "node-a", true).await, ["a1", "x"]);
}

async fn pods(watch_history: usize) -> Api<Pod> {
    let config = ApiServerConfig {
        watch_history,
        ..ApiServerConfig::default()
    };
    Api::default_namespaced(server_with(config).await)
}

async fn revision(api: &Api<Pod>) -> String {
    let list = api.list(&ListParams::default()).await.unwrap();
    list.metadata.resource_version.unwrap()
}

/// Writes pods in and out of `app=web` and `spec.nodeName=n1`; returns the revision
/// before the first write and the revisions of the two deletes.
async fn script(api: &Api<Pod>) -> (String, String, String) {
    let start = revision(api).await;
    let post = PostParams::default();
    let relabel =
        |app: &str| Patch::Merge(serde_json::json!({"metadata": {"labels": {"app": app}}}));
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    let patch = PatchParams::default();
    api.create(&post, &labelled("a", Some("web"), Some("n1")))
        .await
        .unwrap();
    api.create(&post, &labelled("b", Some("db"), Some("n2")))
        .await
        .unwrap();
    api.patch("b", &patch, &relabel("web")).await.unwrap();
    api.patch("a", &patch, &relabel("db")).await.unwrap();
    api.create(&post, &labelled("c", Some("other"), None))
        .await
        .unwrap();
    api.bind("c", "n1").await.unwrap();
    api.delete("b", &force).await.unwrap();
    let b_deleted = revision(api).await;
    api.delete("a", &force).await.unwrap();
    let a_deleted = revision(api).await;
    (start, b_deleted, a_deleted)
}

/// The events of a watch from `rv` up to the first `n`: type, name, app label and
/// resourceVersion.
async fn events(
    api: &Api<Pod>,
    params: WatchParams,
    rv: &str,
    n: usize,
) -> Vec<(&'static str, String, String, String)> {
    let mut stream = api.watch(&params, rv).await.unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let (kind, p) = next_pod(&mut stream).await;
        let app = p.metadata.labels.get("app").cloned().unwrap_or_default();
        let name = p.metadata.name.unwrap_or_default();
        out.push((kind, name, app, p.metadata.resource_version.unwrap()));
    }
    out
}

fn without_rv(events: &[(&'static str, String, String, String)]) -> Vec<String> {
    events
        .iter()
        .map(|(k, n, app, _)| format!("{k} {n} {app}"))
        .collect()
}

async fn selector_watches_see_exactly_their_events(watch_history: usize) {
    let api = pods(watch_history).await;
    let (start, b_deleted, a_deleted) = script(&api).await;
    // A last pod that no watch here selects, then one each selects: a watch that
    // received anything more than its events would show it before the marker.
    let post = PostParams::default();
    api.create(&post, &labelled("z", Some("none"), Some("n9")))
        .await
        .unwrap();
    api.create(&post, &labelled("web-end", Some("web"), Some("n1")))
        .await
        .unwrap();

    let web = events(&api, WatchParams::default().labels("app=web"), &start, 5).await;
    assert_eq!(
        without_rv(&web),
        [
            "ADDED a web",
            "ADDED b web",
            "DELETED a db",
            "DELETED b web",
            "ADDED web-end web",
        ]
    );
    assert_eq!(web[3].3, b_deleted, "a delete carries its own revision");

    let on_n1 = WatchParams {
        field_selector: Some("spec.nodeName=n1".into()),
        ..WatchParams::default()
    };
    let n1 = events(&api, on_n1, &start, 5).await;
    assert_eq!(
        without_rv(&n1),
        [
            "ADDED a web",
            "MODIFIED a db",
            "ADDED c other",
            "DELETED a db",
            "ADDED web-end web",
        ]
    );
    assert_eq!(n1[3].3, a_deleted, "a delete carries its own revision");
}

#[tokio::test]
async fn selector_watches_from_the_cache_see_exactly_their_events() {
    selector_watches_see_exactly_their_events(1000).await;
}

#[tokio::test]
async fn selector_watches_from_the_store_see_exactly_their_events() {
    // One event of history: watches from the start are served by the store.
    selector_watches_see_exactly_their_events(1).await;
}
