//! The client against the API server in process: every verb, the error codes, paging,
//! watches and subresources.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube_api::client::{
    Api, Client, DeleteParams, Deleted, ListParams, Patch, PatchParams, PostParams, Preconditions,
    WatchParams,
};
use kube_api::informer::{Informer, InformerConfig};
use kube_api::server::ApiServer;
use kube_core::{ConfigMap, Error, Namespace, Node, ObjectMeta, Store, WatchEvent};
use kube_store::MemoryStore;

async fn server() -> (ApiServer, Client) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    let client = Client::new(api.clone(), "default");
    (api, client)
}

fn cm(name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) -> ConfigMap {
    let map = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: map(labels),
            ..Default::default()
        },
        data: map(data),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_get_replace_delete() {
    let (_server, client) = server().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let pp = PostParams::default();

    let created = api.create(&pp, &cm("a", &[], &[("k", "1")])).await.unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert!(created.metadata.uid.is_some());
    let got = api.get("a").await.unwrap();
    assert_eq!(got, created);

    let err = api.create(&pp, &cm("a", &[], &[])).await.unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists(o) if o.name == "a"),
        "{err:?}"
    );
    assert_eq!(err.code(), 409);

    let mut changed = got.clone();
    changed.data.insert("k".into(), "2".into());
    let replaced = api.replace("a", &pp, &changed).await.unwrap();
    assert_eq!(replaced.data["k"], "2");
    assert_ne!(
        replaced.metadata.resource_version,
        got.metadata.resource_version
    );

    // A write based on a stale resourceVersion conflicts.
    let err = api.replace("a", &pp, &changed).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");

    // A delete whose precondition no longer holds conflicts too.
    let stale = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: got.metadata.resource_version.clone(),
            uid: None,
        }),
        ..DeleteParams::default()
    };
    assert_eq!(api.delete("a", &stale).await.unwrap_err().code(), 409);

    match api.delete("a", &DeleteParams::default()).await.unwrap() {
        Deleted::Object(o) => assert_eq!(o.metadata.name.as_deref(), Some("a")),
        Deleted::Status(s) => assert_eq!(s.status, "Success"),
    }
    let err = api.get("a").await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(o) if o.name == "a"),
        "{err:?}"
    );
    assert_eq!(api.get_opt("a").await.unwrap(), None);
    assert_eq!(
        api.delete("a", &DeleteParams::default())
            .await
            .unwrap_err()
            .code(),
        404
    );
}

#[tokio::test]
async fn invalid_objects_get_422_with_causes() {
    let (_server, client) = server().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let err = api
        .create(&PostParams::default(), &cm("Not_Valid", &[], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 422, "{err:?}");
    match err {
        Error::Invalid { causes, .. } => {
            assert!(
                causes.iter().any(|c| c.field == "metadata.name"),
                "{causes:?}"
            );
        }
        other => panic!("not Invalid: {other:?}"),
    }
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let (_server, client) = server().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&pp, &cm("ghost", &[], &[])).await.unwrap();
    assert_eq!(api.get_opt("ghost").await.unwrap(), None);
}

#[tokio::test]
async fn patches_in_every_format() {
    let (_server, client) = server().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(
        &PostParams::default(),
        &cm("p", &[("app", "x")], &[("a", "1")]),
    )
    .await
    .unwrap();
    let pp = PatchParams::default();

    let merged = api
        .patch(
            "p",
            &pp,
            &Patch::Merge(serde_json::json!({"data": {"b": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.len(), 2);

    let strategic = api
        .patch(
            "p",
            &pp,
            &Patch::Strategic(serde_json::json!({"metadata": {"labels": {"tier": "web"}}})),
        )
        .await
        .unwrap();
    assert_eq!(strategic.metadata.labels["tier"], "web");
    assert_eq!(strategic.metadata.labels["app"], "x");

    let json = api
        .patch(
            "p",
            &pp,
            &Patch::<()>::Json(serde_json::json!([{"op": "remove", "path": "/data/a"}])),
        )
        .await
        .unwrap();
    assert_eq!(json.data.keys().collect::<Vec<_>>(), ["b"]);

    let bad = api
        .patch(
            "p",
            &pp,
            &Patch::<()>::Json(serde_json::json!([{"op": "remove", "path": "/data/zzz"}])),
        )
        .await
        .unwrap_err();
    assert!(matches!(bad.code(), 400 | 422), "{bad:?}");
}

#[tokio::test]
async fn lists_select_and_page() {
    let (_server, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        api.create(
            &PostParams::default(),
            &cm(&format!("c{i}"), &[("tier", tier)], &[]),
        )
        .await
        .unwrap();
    }
    let web = api
        .list(&ListParams::default().labels("tier=web"))
        .await
        .unwrap();
    assert_eq!(web.items.len(), 4);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=c3"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);

    let first = api.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(first.metadata.continue_.is_some());
    let all = api.list_all(&ListParams::default(), 2).await.unwrap();
    assert!(all.metadata.continue_.is_none());
    assert!(all.metadata.resource_version.is_some());
    let mut names: Vec<_> = all
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
    // Paged from the watch cache (resourceVersion 0): the pages after the first carry
    // only the continue token, which the server requires.
    let cached = api
        .list_all(&ListParams::default().at("0"), 2)
        .await
        .unwrap();
    assert_eq!(cached.items.len(), 7);

    // All namespaces.
    let everywhere: Api<ConfigMap> = Api::all(client);
    assert!(
        everywhere
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len()
            >= 7
    );

    let err = api
        .list(&ListParams::default().labels("tier in (web"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err:?}");

    let deleted = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("tier=db"),
        )
        .await
        .unwrap();
    assert_eq!(deleted.items.len(), 3);
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        4
    );
}

#[tokio::test]
async fn an_informer_lists_page_by_page() {
    let (_server, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..7 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), &[], &[]))
            .await
            .unwrap();
    }
    let config = InformerConfig {
        page_size: 2,
        ..InformerConfig::default()
    };
    let informer = Informer::with_config(api, config);
    let cache = informer.cache();
    let _task = informer.spawn();
    tokio::time::timeout(Duration::from_secs(10), cache.wait_until_synced())
        .await
        .expect("the informer syncs");
    assert_eq!(cache.len(), 7);
}

#[tokio::test]
async fn cluster_scoped_kinds() {
    let (_server, client) = server().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("team-a".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert!(namespaces.get("team-a").await.is_ok());

    // An Api bound to a namespace ignores it for cluster-scoped kinds.
    let nodes: Api<Node> = Api::namespaced(client, "ignored");
    assert_eq!(nodes.namespace(), None);
    let node = Node {
        metadata: ObjectMeta {
            name: Some("n1".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let status = nodes.get_status("n1").await.unwrap();
    assert_eq!(status.metadata.name.as_deref(), Some("n1"));
    let patched = nodes
        .patch_status(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {"ignored": "yes"}}})),
        )
        .await
        .unwrap();
    assert!(
        !patched.metadata.labels.contains_key("ignored"),
        "the status subresource changes status only"
    );
}

#[tokio::test]
async fn watches_stream_changes_and_expire() {
    let (server, client) = server().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = api.watch(&WatchParams::default(), &rv).await.unwrap();

    api.create(&PostParams::default(), &cm("w", &[], &[]))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    api.delete("w", &DeleteParams::default()).await.unwrap();

    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .unwrap();
        match event {
            WatchEvent::Added(_) => kinds.push("ADDED"),
            WatchEvent::Modified(_) => kinds.push("MODIFIED"),
            WatchEvent::Deleted(_) => kinds.push("DELETED"),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(s) => panic!("watch error: {s:?}"),
        }
    }
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);

    // Compact the history away: a watch from the old version gets 410.
    let current = server.store().current_revision().await.unwrap();
    server.store().compact(current).await.unwrap();
    let outcome = api.watch(&WatchParams::default(), &rv).await;
    let code = match outcome {
        Err(err) => err.code(),
        Ok(mut s) => match s.next().await {
            Some(Ok(WatchEvent::Error(status))) => status.code,
            other => panic!("expected 410, got {other:?}"),
        },
    };
    assert_eq!(code, 410);
}
