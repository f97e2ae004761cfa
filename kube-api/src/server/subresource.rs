//! Subresources besides `status`: `scale`, pod `binding` and `eviction`, and the status a
//! CRD gets once accepted.

use kube_core::{Error, Status};
use serde_json::{Value, json};

use super::ApiInner;
use super::kinds::KindSpec;
use super::object::{at_path, meta_str, set_path};
use super::patch::{self, PatchType};
use super::registry::{DeleteOptions, WriteCtx, now};

/// The `autoscaling/v1` Scale of an object.
pub(crate) fn scale_view(kind: &KindSpec, obj: &Value) -> Value {
    let paths = kind.scale.clone().unwrap_or_default();
    let spec = at_path(obj, &paths.spec_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status = at_path(obj, &paths.status_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = paths
        .label_selector
        .as_deref()
        .and_then(|p| at_path(obj, p))
        .map(|s| match s {
            Value::String(s) => s.clone(),
            Value::Object(_) => {
                let wrapped = json!({"spec": {"selector": s}});
                super::columns::label_selector(&wrapped)
                    .as_str()
                    .filter(|x| *x != "<none>")
                    .unwrap_or("")
                    .to_owned()
            }
            _ => String::new(),
        })
        .unwrap_or_default();
    let mut meta = json!({});
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = obj.pointer(&format!("/metadata/{f}")) {
            meta[f] = v.clone();
        }
    }
    let mut status_v = json!({"replicas": status});
    if !selector.is_empty() {
        status_v["selector"] = json!(selector);
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta, "spec": {"replicas": spec}, "status": status_v})
}

/// Writes the Scale of an object: a replacement (`patch` is `None`) or a patch of it.
pub(crate) async fn scale_write(
    inner: &ApiInner,
    ctx: &WriteCtx,
    kind: &KindSpec,
    ns: Option<&str>,
    name: &str,
    patch_type: Option<PatchType>,
    body: &Value,
) -> Result<Value, Error> {
    let paths = kind.scale.clone().unwrap_or_default();
    let mut transform = |old: &Value| -> Result<Value, Error> {
        let view = scale_view(kind, old);
        let new_view = match patch_type {
            Some(t) => patch::apply(kind, t, &view, body)?,
            None => {
                if let Some(kind_name) = body.get("kind").and_then(Value::as_str) {
                    if kind_name != "Scale" {
                        return Err(Error::BadRequest(format!(
                            "expected a Scale, got {kind_name}"
                        )));
                    }
                }
                body.clone()
            }
        };
        let replicas = new_view
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            return Err(Error::Invalid {
                object: kube_core::ObjectRef::new("autoscaling", "Scale", name),
                causes: vec![kube_core::StatusCause::new(
                    "FieldValueInvalid",
                    "spec.replicas",
                    format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                )],
            });
        }
        let mut new = old.clone();
        set_path(&mut new, &paths.spec_replicas, json!(replicas));
        let rv = new_view
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        super::object::set_meta(&mut new, "resourceVersion", rv);
        Ok(new)
    };
    let updated = inner
        .registry
        .update(ctx, kind, ns, name, Some("scale"), &mut transform)
        .await?;
    Ok(scale_view(kind, &updated))
}

/// Binds a pod to a node (`pods/binding`).
pub(crate) async fn bind(
    inner: &ApiInner,
    ctx: &WriteCtx,
    kind: &KindSpec,
    ns: Option<&str>,
    name: &str,
    body: &Value,
) -> Result<Status, Error> {
    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if node.is_empty() {
        return Err(Error::Invalid {
            object: kube_core::ObjectRef::new("", "Binding", name),
            causes: vec![kube_core::StatusCause::new(
                "FieldValueRequired",
                "target.name",
                "Required value",
            )],
        });
    }
    if let Some(n) = meta_str(body, "name").filter(|n| !n.is_empty() && *n != name) {
        return Err(Error::BadRequest(format!(
            "the name of the binding ({n}) does not match the pod ({name})"
        )));
    }
    let mut transform = |old: &Value| -> Result<Value, Error> {
        if meta_str(old, "deletionTimestamp").is_some() {
            return Err(Error::Conflict {
                object: kube_core::ObjectRef::new("", "pods", name),
                message: format!("pod {name} is being deleted, cannot be assigned to a host"),
            });
        }
        if let Some(cur) = old
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return Err(Error::Conflict {
                object: kube_core::ObjectRef::new("", "pods", name),
                message: format!("pod {name} is already assigned to node {cur:?}"),
            });
        }
        let mut new = old.clone();
        set_path(&mut new, ".spec.nodeName", Value::String(node.clone()));
        // Taken out of the copy and put back: no second copy of the conditions.
        let mut conds: Vec<Value> = match new.pointer_mut("/status/conditions").map(Value::take) {
            Some(Value::Array(conds)) => conds,
            _ => Vec::new(),
        };
        conds.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        conds.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now()}));
        set_path(&mut new, ".status.conditions", Value::Array(conds));
        Ok(new)
    };
    // Both spec.nodeName and the PodScheduled condition change: the registry writes the
    // whole object for the binding subresource.
    inner
        .registry
        .update(ctx, kind, ns, name, Some("binding"), &mut transform)
        .await?;
    Ok(Status {
        code: 201,
        ..Status::success()
    })
}

/// Evicts a pod (`pods/eviction`): a delete with the eviction's options. Disruption
/// budgets are not modelled, so every eviction is allowed.
pub(crate) async fn evict(
    inner: &ApiInner,
    ctx: &WriteCtx,
    kind: &KindSpec,
    ns: Option<&str>,
    name: &str,
    body: &Value,
) -> Result<Status, Error> {
    if let Some(n) = meta_str(body, "name").filter(|n| !n.is_empty() && *n != name) {
        return Err(Error::BadRequest(format!(
            "name in URL does not match name in Eviction object: {name} vs {n}"
        )));
    }
    let opts = DeleteOptions {
        grace_period_seconds: body
            .pointer("/deleteOptions/gracePeriodSeconds")
            .and_then(Value::as_i64),
        propagation_policy: body
            .pointer("/deleteOptions/propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_owned),
        precondition_uid: body
            .pointer("/deleteOptions/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        precondition_rv: body
            .pointer("/deleteOptions/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    let ctx = WriteCtx {
        dry_run: ctx.dry_run
            || body
                .pointer("/deleteOptions/dryRun")
                .is_some_and(|d| d.as_array().is_some_and(|a| !a.is_empty())),
        ..ctx.clone()
    };
    inner.registry.delete(&ctx, kind, ns, name, &opts).await?;
    Ok(Status {
        code: 201,
        ..Status::success()
    })
}

/// Marks a newly created CRD established and registers its kinds.
pub(crate) async fn establish_crd(
    inner: &ApiInner,
    ctx: &WriteCtx,
    kind: &KindSpec,
    crd: &Value,
) -> Result<Value, Error> {
    let name = meta_str(crd, "name").unwrap_or("").to_owned();
    let status = super::crd::established_status(crd);
    let updated = inner
        .registry
        .update(
            ctx,
            kind,
            None,
            &name,
            Some("status"),
            &mut |old: &Value| {
                let mut new = old.clone();
                set_path(&mut new, ".status", status.clone());
                Ok(new)
            },
        )
        .await?;
    for k in super::crd::kinds_of(&updated) {
        inner.registry.kinds.register(k);
    }
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_views_read_replicas_and_selector() {
        let kinds = super::super::builtin::kinds();
        let deploy = kinds
            .iter()
            .find(|k| k.resource.plural == "deployments")
            .unwrap();
        let obj = json!({"metadata": {"name": "web", "namespace": "d", "resourceVersion": "5"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}}, "status": {"replicas": 2}});
        let s = scale_view(deploy, &obj);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web");
        assert_eq!(s["metadata"]["resourceVersion"], "5");
    }
}
