//! The garbage collector: background, foreground and orphan deletion, several owners,
//! owners that never existed, across kinds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, eventually, run};
use kube_api::client::{Api, DeleteParams, PostParams};
use kube_core::{ConfigMap, ObjectMeta, OwnerReference, ResourceExt as _, Secret};
use kube_ctrl::controllers::GarbageCollector;

fn owner_ref(owner: &ConfigMap, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.name_any().to_owned(),
        uid: owner.uid().unwrap().to_owned(),
        controller: Some(false),
        block_owner_deletion: Some(block),
    }
}

fn cm(name: &str, owners: Vec<OwnerReference>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: owners,
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

async fn gone(api: &Api<ConfigMap>, name: &str) {
    eventually(&format!("{name} deleted"), || async {
        api.get_opt(name).await.unwrap().is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn background_deletion_collects_dependents_of_every_kind() {
    let cluster = Cluster::start().await;
    let _m = run(&cluster.client, vec![Arc::new(GarbageCollector::default())]);
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), "default");
    let pp = PostParams::default();
    let parent = cms.create(&pp, &cm("parent", vec![])).await.unwrap();
    let child = cms
        .create(&pp, &cm("child", vec![owner_ref(&parent, false)]))
        .await
        .unwrap();
    cms.create(&pp, &cm("grandchild", vec![owner_ref(&child, false)]))
        .await
        .unwrap();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("token".into()),
            owner_references: vec![owner_ref(&parent, false)],
            ..ObjectMeta::default()
        },
        ..Secret::default()
    };
    secrets.create(&pp, &secret).await.unwrap();
    let bystander = cms.create(&pp, &cm("bystander", vec![])).await.unwrap();

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        cms.get_opt("child").await.unwrap().is_some(),
        "owners alive: nothing goes"
    );

    cms.delete("parent", &DeleteParams::background())
        .await
        .unwrap();
    gone(&cms, "child").await;
    gone(&cms, "grandchild").await;
    eventually("the secret deleted", || async {
        secrets
            .get_opt("token")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        cms.get("bystander").await.unwrap().uid(),
        bystander.uid(),
        "unrelated objects stay"
    );
}

#[tokio::test]
async fn foreground_deletion_removes_dependents_before_the_owner() {
    let cluster = Cluster::start().await;
    let _m = run(&cluster.client, vec![Arc::new(GarbageCollector::default())]);
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    let pp = PostParams::default();
    let parent = cms.create(&pp, &cm("parent", vec![])).await.unwrap();
    let child = cms
        .create(&pp, &cm("child", vec![owner_ref(&parent, true)]))
        .await
        .unwrap();
    // The grandchild holds the child (and so the parent) until a finalizer of ours goes.
    let mut grandchild = cm("grandchild", vec![owner_ref(&child, true)]);
    grandchild.metadata.finalizers = vec!["example.com/hold".into()];
    cms.create(&pp, &grandchild).await.unwrap();

    cms.delete("parent", &DeleteParams::foreground())
        .await
        .unwrap();
    // The grandchild is marked for deletion, held by its finalizer; child and parent wait.
    eventually("the grandchild marked", || async {
        cms.get("grandchild")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = cms.get("parent").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_some());
    assert!(
        p.metadata
            .finalizers
            .contains(&"foregroundDeletion".to_owned())
    );
    let c = cms.get("child").await.unwrap();
    assert!(
        c.metadata.deletion_timestamp.is_some(),
        "the child deletes in the foreground too"
    );
    assert!(
        c.metadata
            .finalizers
            .contains(&"foregroundDeletion".to_owned())
    );

    // Release the grandchild: everything goes, bottom up.
    let mut g = cms.get("grandchild").await.unwrap();
    g.metadata.finalizers.clear();
    cms.replace("grandchild", &pp, &g).await.unwrap();
    gone(&cms, "grandchild").await;
    gone(&cms, "child").await;
    gone(&cms, "parent").await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_without_the_reference() {
    let cluster = Cluster::start().await;
    let _m = run(&cluster.client, vec![Arc::new(GarbageCollector::default())]);
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    let pp = PostParams::default();
    let parent = cms.create(&pp, &cm("parent", vec![])).await.unwrap();
    let other = cms.create(&pp, &cm("other", vec![])).await.unwrap();
    cms.create(
        &pp,
        &cm(
            "child",
            vec![owner_ref(&parent, true), owner_ref(&other, false)],
        ),
    )
    .await
    .unwrap();
    cms.delete("parent", &DeleteParams::orphan()).await.unwrap();
    gone(&cms, "parent").await;
    let child = cms.get("child").await.unwrap();
    assert_eq!(
        child
            .metadata
            .owner_references
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["other"]
    );
}

#[tokio::test]
async fn objects_keep_living_while_one_owner_remains() {
    let cluster = Cluster::start().await;
    let _m = run(&cluster.client, vec![Arc::new(GarbageCollector::default())]);
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    let pp = PostParams::default();
    let a = cms.create(&pp, &cm("a", vec![])).await.unwrap();
    let b = cms.create(&pp, &cm("b", vec![])).await.unwrap();
    cms.create(
        &pp,
        &cm("shared", vec![owner_ref(&a, false), owner_ref(&b, false)]),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::background()).await.unwrap();
    eventually("the reference to a removed", || async {
        let s = cms.get("shared").await.unwrap();
        (s.metadata.owner_references.len() == 1).then_some(())
    })
    .await;
    cms.delete("b", &DeleteParams::background()).await.unwrap();
    gone(&cms, "shared").await;
}

#[tokio::test]
async fn an_object_whose_owner_never_existed_is_collected() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    let pp = PostParams::default();
    let ghost = OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "ghost".into(),
        uid: "00000000-0000-4000-8000-000000000000".into(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    cms.create(&pp, &cm("haunted", vec![ghost])).await.unwrap();
    // A same-named owner with another uid does not count.
    cms.create(&pp, &cm("ghost", vec![])).await.unwrap();
    let _m = run(&cluster.client, vec![Arc::new(GarbageCollector::default())]);
    gone(&cms, "haunted").await;
    assert!(cms.get_opt("ghost").await.unwrap().is_some());
}
