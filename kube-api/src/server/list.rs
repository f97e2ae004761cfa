//! Lists: selectors, `limit`/`continue` paging, and `resourceVersion` semantics, served
//! from the watch cache or, for pages and exact revisions, from the store.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut as _, Bytes, BytesMut};
use kube_core::{Error, RangeRequest, Revision, StoreError};
use serde_json::{Value, json};

use super::kinds::KindSpec;
use super::object::parse_rv;
use super::query::Query;
use super::registry::{Registry, store_error};
use super::selector::{FieldSelector, LabelSelector};
use super::watch_cache::{CachedObject, index_field};

/// The options of a list or watch.
#[derive(Clone, Debug, Default)]
pub(crate) struct ListOptions {
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
    pub(crate) limit: usize,
    pub(crate) continue_: Option<String>,
    pub(crate) resource_version: Option<String>,
    pub(crate) resource_version_match: Option<String>,
}

impl ListOptions {
    /// Reads the options from the query string.
    pub(crate) fn from_query(q: &Query, kind: &KindSpec) -> Result<Self, Error> {
        let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))?;
        let fields =
            FieldSelector::parse(q.get("fieldSelector").unwrap_or(""), &kind.field_selectors)?;
        let limit = q.int("limit")?.unwrap_or(0);
        let rv_match = q.non_empty("resourceVersionMatch").map(str::to_owned);
        let rv = q.non_empty("resourceVersion").map(str::to_owned);
        if let Some(m) = &rv_match {
            if !matches!(m.as_str(), "NotOlderThan" | "Exact") {
                return Err(Error::BadRequest(format!(
                    "invalid resourceVersionMatch {m:?}"
                )));
            }
            if rv.as_deref().is_none_or(str::is_empty) {
                return Err(Error::BadRequest(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
                ));
            }
        }
        if let Some(r) = &rv {
            parse_rv(r)?;
        }
        let continue_ = q.non_empty("continue").map(str::to_owned);
        if continue_.is_some() && rv.as_deref().is_some_and(|r| !r.is_empty()) {
            return Err(Error::BadRequest(
                "specifying resource version is not allowed when using continue".into(),
            ));
        }
        Ok(Self {
            labels,
            fields,
            limit: usize::try_from(limit.max(0)).unwrap_or(0),
            continue_,
            resource_version: rv,
            resource_version_match: rv_match,
        })
    }

    /// True when the object passes both selectors. Without selectors, or with only a
    /// field selector on what the object knows without decoding (its resource's indexed
    /// field, such as a kubelet's `spec.nodeName=<node>`), the object is not decoded.
    pub(crate) fn matches(&self, obj: &CachedObject) -> bool {
        if self.labels.is_empty() {
            if self.fields.is_empty() {
                return true;
            }
            if let Some(matched) = self.fields.matches_known(|f| obj.known_field(f)) {
                return matched;
            }
        }
        obj.value()
            .is_some_and(|v| self.labels.matches(v) && self.fields.matches(v))
    }
}

/// A page of a list.
#[derive(Debug)]
pub(crate) struct ListPage {
    pub(crate) items: Vec<Arc<CachedObject>>,
    pub(crate) revision: Revision,
    pub(crate) continue_: Option<String>,
    pub(crate) remaining: Option<i64>,
}

impl ListPage {
    /// The list's metadata: its resourceVersion, continue token and remaining count.
    pub(crate) fn meta(&self) -> Value {
        let mut meta = json!({"resourceVersion": self.revision.to_string()});
        if let Some(c) = &self.continue_ {
            meta["continue"] = json!(c);
        }
        if let Some(r) = self.remaining {
            meta["remainingItemCount"] = json!(r);
        }
        meta
    }

    /// The page as one JSON list document of `kind` in `api_version`, each item written by
    /// `put_item` from its cached encoding (`item_len` bytes each, about, for the
    /// buffer's size).
    pub(crate) fn document(
        &self,
        kind: &str,
        api_version: &str,
        item_len: impl Fn(&CachedObject) -> usize,
        put_item: impl Fn(&mut BytesMut, &CachedObject),
    ) -> Bytes {
        list_document(
            kind,
            api_version,
            &self.meta(),
            &self.items,
            |o| item_len(o),
            |b, o| put_item(b, o),
        )
    }
}

/// A JSON list document: `kind`, `apiVersion`, the list metadata `meta`, and `items`,
/// each written by `put_item` (`item_len` bytes each, about, for the buffer's size).
pub(crate) fn list_document<T>(
    kind: &str,
    api_version: &str,
    meta: &Value,
    items: &[T],
    item_len: impl Fn(&T) -> usize,
    put_item: impl Fn(&mut BytesMut, &T),
) -> Bytes {
    let head = format!(
        "{{\"kind\":\"{kind}\",\"apiVersion\":\"{api_version}\",\"metadata\":{meta},\"items\":["
    );
    let len: usize = items.iter().map(|o| item_len(o) + 1).sum();
    let mut b = BytesMut::with_capacity(head.len() + len + 2);
    b.put_slice(head.as_bytes());
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            b.put_u8(b',');
        }
        put_item(&mut b, o);
    }
    b.put_slice(b"]}");
    b.freeze()
}

/// A continue token: the revision of the first page and the key to resume at.
fn encode_continue(revision: Revision, start: &str) -> String {
    STANDARD.encode(json!({"v": "meta.k8s.io/v1", "rv": revision, "start": start}).to_string())
}

fn decode_continue(token: &str) -> Result<(Revision, String), Error> {
    let bad =
        || Error::BadRequest("continue key is not valid: the token could not be decoded".into());
    let bytes = STANDARD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rv, start.to_owned()))
}

impl Registry {
    /// Lists objects of a kind in a namespace (or all), with the options' semantics.
    pub(crate) async fn list(
        &self,
        kind: &KindSpec,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListPage, Error> {
        let prefix = kind.namespace_prefix(ns);
        let rv = opts
            .resource_version
            .as_deref()
            .map(parse_rv)
            .transpose()?
            .flatten();
        let exact = opts.resource_version_match.as_deref() == Some("Exact");
        if let Some(token) = &opts.continue_ {
            let (revision, start) = decode_continue(token)?;
            if !start.starts_with(&prefix) {
                return Err(Error::BadRequest(
                    "continue key is not valid: it belongs to another list".into(),
                ));
            }
            return self
                .list_from_store(&kind.key_prefix(), &prefix, revision, Some(start), opts)
                .await;
        }
        // A list at resourceVersion 0, or NotOlderThan a version, is served from the watch
        // cache (once it has caught up with that version), paged or not, as Kubernetes'
        // watch cache serves it; only an unversioned list or an Exact one reads the store.
        let from_cache_any = opts
            .resource_version
            .as_deref()
            .is_some_and(|v| !v.is_empty());
        // The kind's cache is started before any read, the store's included: a list is
        // most often followed by a watch from its revision, which the cache serves only
        // when it started at or before that revision (else the watch falls back to the
        // store's own watch, and each of its events is encoded for that watcher alone).
        let cache = self.caches.get(&self.store, &kind.key_prefix()).await?;
        if (opts.limit > 0 && !from_cache_any) || exact {
            return self
                .list_from_store(&kind.key_prefix(), &prefix, rv.unwrap_or(0), None, opts)
                .await;
        }
        match rv {
            Some(r) if r > 0 => cache.wait_for(r).await?,
            // Any revision will do at 0; this server's own writes are waited for all the
            // same (the cache applies them within moments), so that a client reads what it
            // has just written through this server.
            Some(_) | None => {
                cache
                    .wait_for(self.caches.last_write(&kind.key_prefix()))
                    .await?;
            }
        }
        let indexed = index_field(&kind.key_prefix()).and_then(|field| {
            let value = opts.fields.equal_to(field)?;
            cache.snapshot_indexed(&prefix, field, value)
        });
        let (all, revision) = if let Some(name) = opts.fields.name() {
            let key = format!("{prefix}{name}");
            let rev = cache.revision();
            (cache.get(&key).into_iter().collect::<Vec<_>>(), rev)
        } else if let Some(found) = indexed {
            found
        } else {
            cache.snapshot(&prefix)
        };
        let mut items: Vec<Arc<CachedObject>> =
            all.into_iter().filter(|o| opts.matches(o)).collect();
        let mut continue_ = None;
        let mut remaining = None;
        if opts.limit > 0 && items.len() > opts.limit {
            let rest = items.len() - opts.limit;
            items.truncate(opts.limit);
            if let Some(last) = items.last() {
                continue_ = Some(encode_continue(revision, &format!("{}\0", last.key)));
                remaining = Some(rest as i64);
            }
        }
        Ok(ListPage {
            items,
            revision,
            continue_,
            remaining,
        })
    }

    async fn list_from_store(
        &self,
        key_prefix: &str,
        prefix: &str,
        revision: Revision,
        start: Option<String>,
        opts: &ListOptions,
    ) -> Result<ListPage, Error> {
        let index = index_field(key_prefix);
        let mut items = Vec::new();
        let mut start = start;
        let mut revision = revision;
        let limit = opts.limit;
        loop {
            let mut req = RangeRequest::prefix(prefix.to_owned()).at_revision(revision);
            req = req.limit(if limit > 0 {
                limit - items.len()
            } else {
                super::watch_cache::STORE_PAGE
            });
            if let Some(s) = &start {
                req = req.start(s.clone());
            }
            let resp = match self.store.range(req).await {
                Ok(r) => r,
                Err(StoreError::Compacted { .. }) if opts.continue_.is_some() => {
                    return Err(Error::Expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into(),
                    ));
                }
                Err(e) => return Err(store_error(e)),
            };
            revision = resp.revision;
            let scanned = resp.kvs.len();
            let last_key = resp
                .kvs
                .last()
                .map(|kv| String::from_utf8_lossy(&kv.key).into_owned());
            for kv in &resp.kvs {
                match CachedObject::decode(&kv.key, &kv.value, kv.mod_revision, index) {
                    Ok(obj) if opts.matches(&obj) => items.push(Arc::new(obj)),
                    Ok(_) => {}
                    Err(e) => {
                        let key = String::from_utf8_lossy(&kv.key);
                        tracing::warn!(%key, error = %e, "undecodable object in the store");
                    }
                }
            }
            let more = resp.more;
            if let Some(last) = last_key {
                start = Some(format!("{last}\0"));
            }
            if !more || scanned == 0 {
                return Ok(ListPage {
                    items,
                    revision,
                    continue_: None,
                    remaining: None,
                });
            }
            if limit > 0 && items.len() >= limit {
                let remaining = (opts.labels.is_empty() && opts.fields.is_empty())
                    .then(|| (resp.count.saturating_sub(scanned)) as i64);
                return Ok(ListPage {
                    items,
                    revision,
                    continue_: start.map(|s| encode_continue(revision, &s)),
                    remaining,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, "/registry/pods/default/a\0");
        assert_eq!(
            decode_continue(&t).unwrap(),
            (42, "/registry/pods/default/a\0".to_owned())
        );
        assert_eq!(decode_continue("!!").unwrap_err().code(), 400);
    }
}
