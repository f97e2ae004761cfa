//! Namespace lifecycle: the namespaces created at start, and deletion (a terminating
//! namespace's content is deleted, then its `kubernetes` finalizer cleared and it goes).

use std::sync::Arc;
use std::time::Duration;

use kube_core::Error;
use serde_json::{Value, json};

use super::ApiInner;
use super::kinds::KindSpec;
use super::list::ListOptions;
use super::object::{meta_str, split_key};
use super::registry::{DeleteOptions, WriteCtx};
use super::user::UserInfo;

/// The namespaces every cluster has.
pub(crate) const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// True for the namespaces kind.
pub(crate) fn is_namespaces(kind: &KindSpec) -> bool {
    kind.resource.group.is_empty() && kind.resource.plural == "namespaces"
}

fn admin() -> WriteCtx {
    WriteCtx {
        user: UserInfo::admin(),
        dry_run: false,
    }
}

/// Creates the system namespaces that do not exist yet.
pub(crate) async fn ensure_system_namespaces(inner: &ApiInner) -> Result<(), Error> {
    let Some(kind) = inner.registry.kinds.get("", "v1", "namespaces") else {
        return Ok(());
    };
    for ns in SYSTEM_NAMESPACES {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match inner.registry.create(&admin(), &kind, None, obj).await {
            Ok(_) | Err(Error::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Once a terminating namespace has no finalizers left, removes it.
pub(crate) async fn remove_if_finalized(
    inner: &ApiInner,
    ctx: &WriteCtx,
    kind: &KindSpec,
    ns: &Value,
) -> Result<Value, Error> {
    let deleting = meta_str(ns, "deletionTimestamp").is_some();
    let spec_fins = ns
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let meta_fins = !super::object::finalizers(ns).is_empty();
    if !deleting || spec_fins || meta_fins || ctx.dry_run {
        return Ok(ns.clone());
    }
    let name = meta_str(ns, "name").unwrap_or("").to_owned();
    match inner
        .registry
        .delete(ctx, kind, None, &name, &DeleteOptions::default())
        .await
    {
        Ok(d) => Ok(d.object),
        Err(Error::NotFound(_)) => Ok(ns.clone()),
        Err(e) => Err(e),
    }
}

async fn delete_content(inner: &ApiInner, ns: &str) -> Result<usize, Error> {
    let mut remaining = 0;
    for kind in inner.registry.kinds.all() {
        if !kind.resource.namespaced {
            continue;
        }
        let page = inner
            .registry
            .list(&kind, Some(ns), &ListOptions::default())
            .await?;
        for o in &page.items {
            remaining += 1;
            if o.value()
                .and_then(|v| meta_str(v, "deletionTimestamp"))
                .is_some()
            {
                continue;
            }
            let Some((_, name)) = split_key(&kind, &o.key) else {
                continue;
            };
            let opts = DeleteOptions {
                propagation_policy: Some("Background".into()),
                ..DeleteOptions::default()
            };
            match inner
                .registry
                .delete(&admin(), &kind, Some(ns), name, &opts)
                .await
            {
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(namespace = ns, name, error = %e, "deleting namespace content failed");
                }
            }
        }
    }
    Ok(remaining)
}

/// Deletes a terminating namespace's content in the background, then finalizes it.
pub(crate) fn spawn_cleanup(inner: Arc<ApiInner>, ns: String) {
    tokio::spawn(async move {
        let Some(kind) = inner.registry.kinds.get("", "v1", "namespaces") else {
            return;
        };
        for _ in 0..600 {
            match delete_content(&inner, &ns).await {
                Ok(0) => {
                    let result = inner
                        .registry
                        .update(
                            &admin(),
                            &kind,
                            None,
                            &ns,
                            Some("finalize"),
                            &mut |old: &Value| {
                                let mut new = old.clone();
                                if let Some(spec) =
                                    new.get_mut("spec").and_then(Value::as_object_mut)
                                {
                                    spec.insert("finalizers".into(), json!([]));
                                }
                                Ok(new)
                            },
                        )
                        .await;
                    match result {
                        Ok(updated) => {
                            if let Err(e) =
                                remove_if_finalized(&inner, &admin(), &kind, &updated).await
                            {
                                tracing::warn!(namespace = ns, error = %e, "removing a finalized namespace failed");
                            }
                            return;
                        }
                        Err(Error::NotFound(_)) => return,
                        Err(e) => {
                            tracing::warn!(namespace = ns, error = %e, "finalizing a namespace failed");
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(namespace = ns, error = %e, "namespace cleanup failed"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}
