//! The Namespace controller: a terminating namespace's content goes, its conditions say
//! what remains, and then it goes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Cluster, eventually, meta, run};
use kube_api::client::{Api, DeleteParams, PostParams};
use kube_core::{ConditionStatus, ConfigMap, Namespace, NamespacePhase, Secret};
use kube_ctrl::controllers::NamespaceController;

#[tokio::test]
async fn a_deleted_namespace_is_emptied_then_removed() {
    let cluster = Cluster::start().await;
    let _m = run(
        &cluster.client,
        vec![Arc::new(NamespaceController::default())],
    );
    cluster.namespace("doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "doomed");
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), "doomed");
    let pp = PostParams::default();
    let mut held = ConfigMap {
        metadata: meta("held"),
        ..ConfigMap::default()
    };
    held.metadata.finalizers = vec!["example.com/hold".into()];
    cms.create(&pp, &held).await.unwrap();
    cms.create(
        &pp,
        &ConfigMap {
            metadata: meta("plain"),
            ..ConfigMap::default()
        },
    )
    .await
    .unwrap();
    secrets
        .create(
            &pp,
            &Secret {
                metadata: meta("s"),
                ..Secret::default()
            },
        )
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();

    // The held config map keeps the namespace; the conditions say so.
    let ns = eventually("the remaining-content conditions", || async {
        let ns = namespaces.get("doomed").await.unwrap();
        let remaining = ns
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "NamespaceFinalizersRemaining")
            .is_some_and(|c| c.status == ConditionStatus::True);
        remaining.then_some(ns)
    })
    .await;
    assert_eq!(ns.status.phase, Some(NamespacePhase::Terminating));
    let content = ns
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "NamespaceContentRemaining")
        .unwrap();
    assert_eq!(content.reason.as_deref(), Some("SomeResourcesRemain"));
    assert_eq!(
        content.message.as_deref(),
        Some("Some resources are remaining: configmaps has 1 resource instances")
    );
    let finalizers = ns
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "NamespaceFinalizersRemaining")
        .unwrap();
    assert_eq!(
        finalizers.message.as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
    );
    assert!(secrets.get_opt("s").await.unwrap().is_none());
    assert!(cms.get_opt("plain").await.unwrap().is_none());

    // The finalizer goes: so do the config map and the namespace.
    let mut h = cms.get("held").await.unwrap();
    h.metadata.finalizers.clear();
    cms.replace("held", &pp, &h).await.unwrap();
    eventually("the namespace removed", || async {
        namespaces
            .get_opt("doomed")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}
