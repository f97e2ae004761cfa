//! Watches of pods by `spec.nodeName` (every kubelet's) are served from the watch cache's
//! node index: each gets the events of its node's pods, and nothing of the others', yet
//! sees pods arrive by binding and leave, and its bookmarks move past the other nodes'
//! events so that it resumes inside the cache's history.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube_api::client::{Api, Client, DeleteParams, ListParams, PostParams, WatchParams};
use kube_api::server::{ApiServer, ApiServerConfig};
use kube_core::{Pod, Store, WatchEvent};
use kube_store::MemoryStore;

async fn server() -> Client {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = ApiServerConfig {
        bookmark_interval: Duration::from_millis(200),
        ..ApiServerConfig::default()
    };
    let api = ApiServer::builder(store)
        .config(config)
        .build()
        .await
        .unwrap();
    Client::new(api, "default")
}

fn pod(name: &str, node: Option<&str>) -> Pod {
    let mut spec = serde_json::json!({"containers": [{"name": "c", "image": "i"}]});
    if let Some(node) = node {
        spec["nodeName"] = node.into();
    }
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "spec": spec})).unwrap()
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
        return (kind, pod.metadata.name.unwrap_or_default());
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
