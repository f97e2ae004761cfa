//! The registry: create, read, update and delete of objects of any kind, stored as JSON
//! under `/registry/...`, with Kubernetes' metadata rules (uid, creationTimestamp,
//! generation, resourceVersion as the store revision, optimistic concurrency).

use std::sync::Arc;

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use kube_core::{Error, ObjectRef, Revision, Store, StoreError};
use rand::Rng;
use serde_json::{Value, json};

use super::admission::{AdmissionChain, AdmissionRequest, Operation};
use super::allocator::Allocator;
use super::kinds::{KindSpec, Kinds};
use super::object::{
    decode_stored, encode_for_store, finalizers, meta_str, set_meta, set_revision,
};
use super::user::UserInfo;

mod update;
use super::watch_cache::{CachedObject, WatchCaches};

/// Where namespaces live in the store.
const NAMESPACES_PREFIX: &str = "/registry/namespaces/";

/// Maps a store error to an API error.
pub(crate) fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Compacted {
            requested,
            compacted,
        } => Error::Gone(format!(
            "too old resource version: {requested} ({compacted})"
        )),
        StoreError::FutureRevision { requested, current } => Error::Timeout(format!(
            "Too large resource version: {requested}, current: {current}"
        )),
        StoreError::Unavailable { message, .. } => Error::ServiceUnavailable(message),
        other => Error::Internal {
            message: other.to_string(),
            source: Some(Box::new(other)),
        },
    }
}

/// Who asks and how: the context of a write.
#[derive(Clone, Debug)]
pub(crate) struct WriteCtx {
    pub(crate) user: UserInfo,
    pub(crate) dry_run: bool,
}

/// The current time as Kubernetes writes timestamps.
pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A random uid in the UUID v4 layout.
pub(crate) fn new_uid() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(x >> 4)]));
        out.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    out
}

/// A name from a generateName prefix: the prefix and five random characters.
fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    // At most 58 bytes of the prefix, cut at a character boundary (a prefix of other
    // characters is refused by the name check that follows, not by a panic here).
    // (`str::floor_char_boundary` is newer than this workspace's rust-version.)
    let mut end = prefix.len().min(58);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &prefix[..end])
}

/// The result of a delete: the object as it is now, and whether it is gone.
#[derive(Debug)]
pub(crate) struct Deleted {
    pub(crate) object: Value,
    pub(crate) gone: bool,
}

/// Delete options from the body or the query.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeleteOptions {
    pub(crate) grace_period_seconds: Option<i64>,
    pub(crate) propagation_policy: Option<String>,
    pub(crate) precondition_uid: Option<String>,
    pub(crate) precondition_rv: Option<String>,
}

/// The registry shared by every request.
pub(crate) struct Registry {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) kinds: Arc<Kinds>,
    pub(crate) caches: WatchCaches,
    pub(crate) admission: AdmissionChain,
    pub(crate) allocator: Allocator,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

fn object_ref(kind: &KindSpec, name: &str) -> ObjectRef {
    ObjectRef::new(
        kind.resource.group.to_string(),
        kind.resource.plural.to_string(),
        name,
    )
}

fn invalid(kind: &KindSpec, name: &str, causes: Vec<kube_core::StatusCause>) -> Error {
    Error::Invalid {
        object: ObjectRef::new(
            kind.resource.group.to_string(),
            kind.resource.kind.to_string(),
            name,
        ),
        causes,
    }
}

/// Checks that a body's apiVersion and kind (when present) are those of the URL.
pub(crate) fn check_type(
    kind: &KindSpec,
    obj: &Value,
    expected_kind: &str,
    api_version: &str,
) -> Result<(), Error> {
    if !obj.is_object() {
        return Err(Error::BadRequest("the body must be a JSON object".into()));
    }
    let k = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let v = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if (!k.is_empty() && k != expected_kind) || (!v.is_empty() && v != api_version) {
        return Err(Error::BadRequest(format!(
            "the API version in the data ({v}) does not match the expected API version ({api_version}) or the kind ({k}) is not {expected_kind} for {}",
            kind.qualified()
        )));
    }
    Ok(())
}

impl Registry {
    /// Reads one object from the store.
    pub(crate) async fn get(
        &self,
        kind: &KindSpec,
        ns: Option<&str>,
        name: &str,
    ) -> Result<(Value, Revision), Error> {
        let kv = self.read(kind, ns, name).await?;
        Ok((decode_stored(&kv.value, kv.mod_revision)?, kv.mod_revision))
    }

    /// The object as [`Registry::get`] reads it, as JSON: its stored bytes with the
    /// resourceVersion spliced in, never decoded.
    pub(crate) async fn get_json(
        &self,
        kind: &KindSpec,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Vec<u8>, Error> {
        let kv = self.read(kind, ns, name).await?;
        Ok(super::splice::splice(&kv.value, kv.mod_revision, None)?.json)
    }

    /// The stored key-value of one object; 404 when there is none.
    async fn read(
        &self,
        kind: &KindSpec,
        ns: Option<&str>,
        name: &str,
    ) -> Result<kube_core::KeyValue, Error> {
        let key = kind.key(ns, name);
        self.store
            .get(key.as_bytes())
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::NotFound(object_ref(kind, name)))
    }

    async fn check_namespace(&self, kind: &KindSpec, ns: Option<&str>) -> Result<(), Error> {
        let Some(ns) = ns.filter(|_| kind.resource.namespaced) else {
            return Ok(());
        };
        let key = format!("/registry/namespaces/{ns}");
        // Like Kubernetes' namespace lifecycle admission: the namespaces' watch cache
        // first (no store round trip on the hot path), the store when the cache has not
        // seen the namespace yet.
        let cached = match self.caches.get(&self.store, NAMESPACES_PREFIX).await {
            Ok(cache) => cache.get(&key),
            Err(e) => {
                tracing::debug!(error = %e, "namespace cache unavailable");
                None
            }
        };
        let fetched;
        let obj = match cached.as_deref().and_then(CachedObject::value) {
            Some(v) => v,
            None => {
                let Some(kv) = self.store.get(key.as_bytes()).await.map_err(store_error)? else {
                    return Err(Error::NotFound(ObjectRef::new("", "namespaces", ns)));
                };
                fetched = decode_stored(&kv.value, kv.mod_revision)?;
                &fetched
            }
        };
        if meta_str(obj, "deletionTimestamp").is_some()
            || obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
        {
            return Err(Error::Forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
        Ok(())
    }

    fn validate(
        &self,
        kind: &KindSpec,
        obj: &mut Value,
        old: Option<&Value>,
        req: &AdmissionRequest<'_>,
    ) -> Result<(), Error> {
        let status_defaulter = kind.status_defaulter.as_ref().or(kind.defaulter.as_ref());
        let (defaulter, validator) = match (req.subresource, old) {
            (Some("status"), Some(_)) => {
                super::builtin::type_check_status(kind, obj)?;
                (status_defaulter, kind.validator.as_ref())
            }
            // A binding's change is the server's own (the node's name and a condition,
            // put on the stored pod, which was checked when it was written): a typed
            // decode, the spec's defaults or a validation of the whole pod would find
            // nothing new (Kubernetes' binding storage runs none of them either).
            (Some("binding"), Some(_)) => (status_defaulter, None),
            _ => {
                super::builtin::type_check(kind, obj)?;
                (kind.defaulter.as_ref(), kind.validator.as_ref())
            }
        };
        if let Some(d) = defaulter {
            d(obj);
        }
        self.admission.run(req, obj)?;
        if let Some(v) = validator {
            let causes = v(obj, old);
            if !causes.is_empty() {
                return Err(invalid(kind, req.name, causes));
            }
        }
        Ok(())
    }

    /// Creates an object. `ns` is the namespace of the URL.
    pub(crate) async fn create(
        &self,
        ctx: &WriteCtx,
        kind: &KindSpec,
        ns: Option<&str>,
        mut obj: Value,
    ) -> Result<Value, Error> {
        let api_version = kind.resource.api_version();
        check_type(kind, &obj, &kind.resource.kind, &api_version)?;
        if let Some(map) = obj.as_object_mut() {
            map.insert("apiVersion".into(), json!(api_version));
            map.insert("kind".into(), json!(kind.resource.kind));
        }
        if kind.resource.namespaced {
            match (meta_str(&obj, "namespace"), ns) {
                (Some(body), Some(url)) if !body.is_empty() && body != url => {
                    return Err(Error::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
                (_, Some(url)) => set_meta(&mut obj, "namespace", json!(url)),
                (_, None) => {
                    return Err(Error::BadRequest(
                        "a namespace is required to create this object".into(),
                    ));
                }
            }
        } else {
            set_meta(&mut obj, "namespace", Value::Null);
        }
        if meta_str(&obj, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
            return Err(Error::BadRequest(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        self.check_namespace(kind, ns).await?;
        let generate = meta_str(&obj, "name")
            .is_none_or(str::is_empty)
            .then(|| meta_str(&obj, "generateName").map(str::to_owned))
            .flatten()
            .filter(|g| !g.is_empty());
        for field in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
        ] {
            set_meta(&mut obj, field, Value::Null);
        }
        if kind.status {
            if let Some(map) = obj.as_object_mut() {
                map.remove("status");
            }
        }
        for attempt in 0..5 {
            let mut obj = obj.clone();
            if let Some(prefix) = &generate {
                set_meta(&mut obj, "name", json!(generate_name(prefix)));
            }
            set_meta(&mut obj, "uid", json!(new_uid()));
            set_meta(&mut obj, "creationTimestamp", json!(now()));
            if kind.tracks_generation {
                set_meta(&mut obj, "generation", json!(1));
            }
            let name = meta_str(&obj, "name").unwrap_or("").to_owned();
            let req = AdmissionRequest {
                operation: Operation::Create,
                resource: &kind.resource,
                subresource: None,
                namespace: ns.filter(|_| kind.resource.namespaced),
                name: &name,
                user: &ctx.user,
                old: None,
                dry_run: ctx.dry_run,
            };
            self.validate(kind, &mut obj, None, &req)?;
            let allocated = self
                .allocator
                .allocate(kind, &mut obj, None, ctx.dry_run)
                .await?;
            if ctx.dry_run {
                return Ok(obj);
            }
            let key = kind.key(ns, &name);
            let bytes = encode_for_store(&obj)?;
            match self.store.create(key.into(), bytes.into(), None).await {
                Ok(kv) => {
                    self.caches.wrote(&kind.key_prefix(), kv.mod_revision);
                    set_revision(&mut obj, kv.mod_revision);
                    return Ok(obj);
                }
                Err(e) => {
                    self.allocator.release_list(&allocated).await;
                    match e {
                        StoreError::AlreadyExists if generate.is_some() && attempt < 4 => continue,
                        StoreError::AlreadyExists => {
                            return Err(Error::AlreadyExists(object_ref(kind, &name)));
                        }
                        other => return Err(store_error(other)),
                    }
                }
            }
        }
        Err(Error::ServiceUnavailable(
            "could not generate a unique name".into(),
        ))
    }

    /// True for a pod whose grace period has not been cut to zero yet.
    fn awaits_grace(&self, kind: &KindSpec, obj: &Value) -> bool {
        kind.graceful_deletion
            && obj
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                > 0
    }

    /// Deletes an object, honouring preconditions, graceful deletion, finalizers and the
    /// propagation policy.
    pub(crate) async fn delete(
        &self,
        ctx: &WriteCtx,
        kind: &KindSpec,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, Error> {
        let key = kind.key(ns, name);
        loop {
            let (old, revision) = self.get(kind, ns, name).await?;
            for (wanted, field, label) in [
                (&opts.precondition_uid, "uid", "UID"),
                (&opts.precondition_rv, "resourceVersion", "ResourceVersion"),
            ] {
                let found = meta_str(&old, field);
                if let Some(wanted) = wanted.as_deref().filter(|w| found != Some(*w)) {
                    return Err(precondition_failed(
                        kind,
                        name,
                        label,
                        wanted,
                        found.unwrap_or(""),
                    ));
                }
            }
            let req = AdmissionRequest {
                operation: Operation::Delete,
                resource: &kind.resource,
                subresource: None,
                namespace: ns.filter(|_| kind.resource.namespaced),
                name,
                user: &ctx.user,
                old: Some(&old),
                dry_run: ctx.dry_run,
            };
            let mut probe = old.clone();
            self.admission.run(&req, &mut probe)?;

            let mut new = old.clone();
            let mut fins = finalizers(&old);
            match opts.propagation_policy.as_deref() {
                Some("Orphan") => {
                    fins.retain(|f| f != "foregroundDeletion");
                    if !fins.iter().any(|f| f == "orphan") {
                        fins.push("orphan".into());
                    }
                }
                Some("Foreground") => {
                    fins.retain(|f| f != "orphan");
                    if !fins.iter().any(|f| f == "foregroundDeletion") {
                        fins.push("foregroundDeletion".into());
                    }
                }
                Some("Background") => fins.retain(|f| f != "orphan" && f != "foregroundDeletion"),
                _ => {}
            }
            // Only add GC finalizers when the object has dependents to care about; an
            // object being deleted keeps what it had.
            let grace = self.grace_period(kind, &old, opts);
            let deleting = meta_str(&old, "deletionTimestamp").is_some();
            let immediate = fins.is_empty() && grace == 0 && !spec_finalizers_pending(kind, &old);
            if immediate {
                if ctx.dry_run {
                    return Ok(Deleted {
                        object: old,
                        gone: true,
                    });
                }
                let Some(written) = self.delete_stored(kind, &key, revision, name, &old).await?
                else {
                    continue;
                };
                set_revision(&mut new, written);
                return Ok(Deleted {
                    object: new,
                    gone: true,
                });
            }
            // Graceful: set (or shorten) the deletion timestamp and grace period.
            let current_grace = old
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            if !deleting || current_grace.is_none_or(|g| grace < g) {
                let at = Utc::now() + chrono::Duration::seconds(grace);
                set_meta(
                    &mut new,
                    "deletionTimestamp",
                    json!(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
                );
                set_meta(&mut new, "deletionGracePeriodSeconds", json!(grace));
            }
            set_meta(
                &mut new,
                "finalizers",
                if fins.is_empty() {
                    Value::Null
                } else {
                    json!(fins)
                },
            );
            if kind.resource.plural == "namespaces" && kind.resource.group.is_empty() {
                super::object::set_path(&mut new, ".status.phase", json!("Terminating"));
            }
            if new == old {
                return Ok(Deleted {
                    object: old,
                    gone: false,
                });
            }
            if ctx.dry_run {
                return Ok(Deleted {
                    object: new,
                    gone: false,
                });
            }
            let Some(written) = self.update_stored(kind, &key, revision, name, &new).await? else {
                continue;
            };
            set_revision(&mut new, written);
            return Ok(Deleted {
                object: new,
                gone: false,
            });
        }
    }

    /// Writes `object` at `key` if the store still holds the version at `revision`.
    /// Returns the write's revision, or `None` when another write came first (read again
    /// and retry).
    async fn update_stored(
        &self,
        kind: &KindSpec,
        key: &str,
        revision: Revision,
        name: &str,
        object: &Value,
    ) -> Result<Option<Revision>, Error> {
        let bytes = encode_for_store(object)?;
        let result = self
            .store
            .update(key.to_owned().into(), Bytes::from(bytes), revision)
            .await
            .map(|w| w.mod_revision);
        self.conditional_write(kind, name, result)
    }

    /// Removes the object at `key` from the store if it is still at `revision`, and
    /// releases what `object` had allocated (a ClusterIP, node ports). Returns the
    /// delete's revision, or `None` when another write came first (read again and retry).
    async fn delete_stored(
        &self,
        kind: &KindSpec,
        key: &str,
        revision: Revision,
        name: &str,
        object: &Value,
    ) -> Result<Option<Revision>, Error> {
        let result = self
            .store
            .delete(key.as_bytes(), Some(revision))
            .await
            .map(|d| d.mod_revision);
        let deleted = self.conditional_write(kind, name, result)?;
        if deleted.is_some() {
            self.allocator.release_object(kind, object).await;
        }
        Ok(deleted)
    }

    /// The outcome of a write made only if the object was still at the revision read:
    /// its revision (noted for consistent reads from the cache), or `None` when another
    /// write came first.
    fn conditional_write(
        &self,
        kind: &KindSpec,
        name: &str,
        result: Result<Revision, StoreError>,
    ) -> Result<Option<Revision>, Error> {
        match result {
            Ok(revision) => {
                self.caches.wrote(&kind.key_prefix(), revision);
                Ok(Some(revision))
            }
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(StoreError::NotFound) => Err(Error::NotFound(object_ref(kind, name))),
            Err(e) => Err(store_error(e)),
        }
    }

    /// The grace period a delete gets: the request's, else the pod's
    /// `terminationGracePeriodSeconds` (30 by default); 0 for other kinds and for pods
    /// never scheduled or already finished.
    fn grace_period(&self, kind: &KindSpec, obj: &Value, opts: &DeleteOptions) -> i64 {
        if !kind.graceful_deletion {
            return 0;
        }
        let unscheduled = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        let finished = matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if unscheduled || finished {
            return 0;
        }
        opts.grace_period_seconds
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(0)
    }
}

/// The 409 of a write whose precondition on `field` (`UID`, `ResourceVersion`) the
/// stored object does not meet, worded as Kubernetes words it.
fn precondition_failed(
    kind: &KindSpec,
    name: &str,
    field: &str,
    wanted: &str,
    found: &str,
) -> Error {
    Error::Conflict {
        object: object_ref(kind, name),
        message: format!(
            "Precondition failed: {field} in precondition: {wanted}, {field} in object meta: {found}"
        ),
    }
}

/// True for a namespace whose `spec.finalizers` still hold it.
fn spec_finalizers_pending(kind: &KindSpec, obj: &Value) -> bool {
    kind.resource.group.is_empty()
        && kind.resource.plural == "namespaces"
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_names_look_right() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(new_uid(), u);
        let n = generate_name("web-");
        assert!(n.starts_with("web-") && n.len() == 9);
        assert!(now().ends_with('Z'));
    }
}
