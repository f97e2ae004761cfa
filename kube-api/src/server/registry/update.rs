//! Updates: the whole-object and subresource write paths, with optimistic concurrency,
//! the metadata the server owns, generation tracking and the status subresource's rule
//! (a status write changes only the status, any other write leaves it alone).

use kube_core::Error;
use serde_json::{Value, json};

use super::{
    Registry, WriteCtx, check_type, invalid, object_ref, precondition_failed,
    spec_finalizers_pending,
};
use crate::server::admission::{AdmissionRequest, Operation};
use crate::server::kinds::KindSpec;
use crate::server::object::{
    NOT_SPEC, equal_except, finalizers, meta_str, parse_rv, set_meta, set_revision,
};

impl Registry {
    /// Updates an object through `transform`, which gets the current object (with its
    /// resourceVersion) and returns the desired one. A resourceVersion in the result that
    /// differs from the current one is a 409; an empty one updates unconditionally. Store
    /// conflicts with other writers are retried.
    pub(crate) async fn update(
        &self,
        ctx: &WriteCtx,
        kind: &KindSpec,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        transform: &mut (dyn FnMut(&Value) -> Result<Value, Error> + Send),
    ) -> Result<Value, Error> {
        let key = kind.key(ns, name);
        loop {
            let (old, revision) = self.get(kind, ns, name).await?;
            let body = transform(&old)?;
            let mut new = self.prepare_update(kind, ns, name, subresource, &old, body)?;
            let req = AdmissionRequest {
                operation: Operation::Update,
                resource: &kind.resource,
                subresource,
                namespace: ns.filter(|_| kind.resource.namespaced),
                name,
                user: &ctx.user,
                old: Some(&old),
                dry_run: ctx.dry_run,
            };
            self.validate(kind, &mut new, Some(&old), &req)?;
            if kind.tracks_generation && subresource != Some("status") {
                let not_counted = if status_apart(kind, subresource) {
                    NOT_SPEC
                } else {
                    &["metadata"]
                };
                let changed = !equal_except(&new, &old, not_counted);
                let generation = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                set_meta(
                    &mut new,
                    "generation",
                    json!(if changed {
                        generation + 1
                    } else {
                        generation.max(1)
                    }),
                );
            }
            let allocated = self
                .allocator
                .allocate(kind, &mut new, Some(&old), ctx.dry_run)
                .await?;
            set_revision(&mut new, revision);
            if new == old {
                return Ok(old);
            }
            if ctx.dry_run {
                return Ok(new);
            }
            if meta_str(&new, "deletionTimestamp").is_some()
                && finalizers(&new).is_empty()
                && !self.awaits_grace(kind, &new)
                && !spec_finalizers_pending(kind, &new)
            {
                let Some(written) = self.delete_stored(kind, &key, revision, name, &new).await?
                else {
                    continue;
                };
                set_revision(&mut new, written);
                return Ok(new);
            }
            let Some(written) = self.update_stored(kind, &key, revision, name, &new).await? else {
                self.allocator.release_list(&allocated).await;
                continue;
            };
            if let Some(old_alloc) = self.allocator.released_by_update(kind, &old, &new) {
                self.allocator.release_list(&old_alloc).await;
            }
            set_revision(&mut new, written);
            return Ok(new);
        }
    }

    fn prepare_update(
        &self,
        kind: &KindSpec,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        old: &Value,
        mut body: Value,
    ) -> Result<Value, Error> {
        let api_version = kind.resource.api_version();
        check_type(kind, &body, &kind.resource.kind, &api_version)?;
        let body_rv = meta_str(&body, "resourceVersion").unwrap_or("").to_owned();
        let old_rv = meta_str(old, "resourceVersion").unwrap_or("");
        if !body_rv.is_empty() && body_rv != old_rv {
            parse_rv(&body_rv)?;
            return Err(Error::Conflict {
                object: object_ref(kind, name),
                message: "the object has been modified; please apply your changes to the latest version and try again".into(),
            });
        }
        match meta_str(&body, "name") {
            Some(n) if !n.is_empty() && n != name => {
                return Err(Error::BadRequest(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => {}
        }
        if kind.resource.namespaced {
            if let (Some(b), Some(u)) = (meta_str(&body, "namespace"), ns) {
                if !b.is_empty() && b != u {
                    return Err(Error::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
            }
        }
        if let (Some(b), Some(o)) = (meta_str(&body, "uid"), meta_str(old, "uid")) {
            if !b.is_empty() && b != o {
                return Err(precondition_failed(kind, name, "UID", o, b));
            }
        }
        let mut new = if subresource == Some("status") {
            // The old object but the body's status: the old status is not copied, only
            // to be dropped, and the body's is moved rather than copied.
            let status = body.as_object_mut().and_then(|b| b.remove("status"));
            let mut new = without(old, "status");
            put_status(&mut new, status);
            new
        } else {
            if status_apart(kind, subresource) {
                put_status(&mut body, old.get("status").cloned());
            }
            body
        };
        if let Some(map) = new.as_object_mut() {
            map.insert("apiVersion".into(), json!(api_version));
            map.insert("kind".into(), json!(kind.resource.kind));
        }
        set_meta(&mut new, "name", json!(name));
        set_meta(
            &mut new,
            "namespace",
            if kind.resource.namespaced {
                ns.map_or(Value::Null, |n| json!(n))
            } else {
                Value::Null
            },
        );
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            let v = old
                .pointer(&format!("/metadata/{field}"))
                .cloned()
                .unwrap_or(Value::Null);
            set_meta(&mut new, field, v);
        }
        set_meta(&mut new, "resourceVersion", Value::Null);
        // A deleting object may drop finalizers but not gain new ones.
        if meta_str(old, "deletionTimestamp").is_some() {
            let before = finalizers(old);
            let added: Vec<String> = finalizers(&new)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(invalid(
                    kind,
                    name,
                    vec![kube_core::StatusCause::new(
                        "FieldValueForbidden",
                        "metadata.finalizers",
                        format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                    )],
                ));
            }
        }
        Ok(new)
    }
}

/// Sets an object's status, or removes it for `None`.
fn put_status(obj: &mut Value, status: Option<Value>) {
    if let Some(map) = obj.as_object_mut() {
        match status {
            Some(s) => map.insert("status".into(), s),
            None => map.remove("status"),
        };
    }
}

/// A copy of an object without one of its top-level fields (what is left out is not
/// copied).
fn without(obj: &Value, field: &str) -> Value {
    match obj {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != field)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a write through `subresource` leaves the status alone (and the status
/// subresource leaves the rest): true for kinds with a status subresource, except through
/// `pods/binding`, which sets `spec.nodeName` and the PodScheduled condition in one write.
fn status_apart(kind: &KindSpec, subresource: Option<&str>) -> bool {
    kind.status && subresource != Some("binding")
}
