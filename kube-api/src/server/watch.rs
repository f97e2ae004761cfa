//! Watch streams: newline-delimited `WatchEvent`s from the watch cache (or, for a
//! resourceVersion older than the cache's history, straight from the store), filtered by
//! namespace and selectors, with bookmarks and a timeout.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use kube_core::{
    BoxError, Error, EventKind, Revision, Status, StatusReason, StoreError, WatchStream,
};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::body::ApiBody;
use super::kinds::KindSpec;
use super::list::ListOptions;
use super::object::parse_rv;
use super::registry::Registry;
use super::watch_cache::{CacheEvent, CachedObject, EventType, Receiver, index_field};

/// How the objects of events are written.
pub(crate) type ObjectEncoder = Arc<dyn Fn(&CachedObject) -> Bytes + Send + Sync>;

/// The parameters of one watch.
pub(crate) struct WatchParams {
    pub(crate) opts: ListOptions,
    pub(crate) timeout: Duration,
    pub(crate) bookmarks: bool,
    pub(crate) bookmark_interval: Duration,
    pub(crate) send_initial_events: bool,
    pub(crate) encoder: ObjectEncoder,
    /// The `kind` and `apiVersion` of bookmarks when the encoder writes another type
    /// than the resource's (metadata only); `None` for the resource's own.
    pub(crate) bookmark_type: Option<(&'static str, &'static str)>,
}

enum Source {
    Cache(Receiver),
    /// The store's watch, for a resourceVersion older than the cache's history; `index`
    /// is the resource's indexed field.
    Store {
        stream: WatchStream,
        index: Option<&'static str>,
    },
}

struct State {
    kind: Arc<KindSpec>,
    prefix: String,
    params: WatchParams,
    initial: VecDeque<Arc<CacheEvent>>,
    initial_end_pending: bool,
    source: Source,
    after: Revision,
    deadline: Instant,
    next_bookmark: Instant,
    done: bool,
}

fn frame(type_: &str, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(type_.as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object);
    b.put_slice(b"}\n");
    b.freeze()
}

/// The body of a watch that fails at once (410 for a compacted resourceVersion).
pub(crate) fn error_event(status: &Status) -> Bytes {
    frame("ERROR", &serde_json::to_vec(status).unwrap_or_default())
}

impl State {
    fn bookmark(&self, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": self.after.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let own_api_version;
        let (kind, api_version) = match self.params.bookmark_type {
            Some(other) => other,
            None => {
                own_api_version = self.kind.resource.api_version();
                (&*self.kind.resource.kind, own_api_version.as_str())
            }
        };
        let obj = json!({"kind": kind, "apiVersion": api_version, "metadata": meta});
        frame("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
    }

    fn translate(&self, ev: &CacheEvent) -> Option<Bytes> {
        if !ev.object.key.starts_with(&self.prefix) {
            return None;
        }
        let cur = self.params.opts.matches(&ev.object);
        let prev = ev.prev.as_ref().map(|p| self.params.opts.matches(p));
        let kind = match ev.kind {
            EventType::Added => cur.then_some(EventType::Added),
            EventType::Modified => match (prev.unwrap_or(false), cur) {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
            EventType::Deleted => (prev.unwrap_or(cur) || cur).then_some(EventType::Deleted),
        }?;
        Some(frame(kind.as_str(), &(self.params.encoder)(&ev.object)))
    }

    /// An indexed watcher receives only its own events: before a bookmark it moves past
    /// the events dispatched to others, up to the cache's progress, once every event
    /// dispatched to it up to there has been sent. (A broadcast watcher moves past them
    /// as it receives and filters them.)
    fn catch_up(&mut self) {
        if let Source::Cache(Receiver::Indexed { events, progress }) = &self.source {
            // The progress moves only after the events up to it are dispatched: read it
            // first, then an empty channel means this watcher has sent all of them.
            let reached = *progress.borrow();
            if events.is_empty() {
                self.after = self.after.max(reached);
            }
        }
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.done {
                return None;
            }
            if let Some(ev) = self.initial.pop_front() {
                if let Some(b) = self.translate(&ev) {
                    return Some(b);
                }
                continue;
            }
            if self.initial_end_pending {
                self.initial_end_pending = false;
                return Some(self.bookmark(true));
            }
            let tick = if self.params.bookmarks {
                self.next_bookmark
            } else {
                self.deadline
            };
            let event = tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => {
                    self.done = true;
                    return None;
                }
                () = tokio::time::sleep_until(tick), if self.params.bookmarks => {
                    self.next_bookmark = Instant::now() + self.params.bookmark_interval;
                    self.catch_up();
                    return Some(self.bookmark(false));
                }
                ev = next_event(&mut self.source) => ev,
            };
            match event {
                Some(Ok(ev)) => {
                    if ev.revision <= self.after {
                        continue;
                    }
                    self.after = ev.revision;
                    if let Some(b) = self.translate(&ev) {
                        return Some(b);
                    }
                }
                Some(Err(status)) => {
                    self.done = true;
                    return Some(error_event(&status));
                }
                None => {
                    self.done = true;
                    return None;
                }
            }
        }
    }
}

/// The next event of a source: `None` when it ended (or, for the cache, when this
/// watcher fell too far behind and was cut off).
async fn next_event(source: &mut Source) -> Option<Result<Arc<CacheEvent>, Status>> {
    match source {
        Source::Cache(Receiver::Broadcast(rx)) => match rx.recv().await {
            Ok(ev) => Some(Ok(ev)),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(skipped = n, "a slow watcher was cut off");
                None
            }
            Err(broadcast::error::RecvError::Closed) => None,
        },
        // `None` once the cache dropped the sender: the watcher fell too far behind (or
        // the cache stopped).
        Source::Cache(Receiver::Indexed { events, .. }) => events.recv().await.map(Ok),
        Source::Store { stream, index } => loop {
            match stream.next().await? {
                Ok(ev) => {
                    let rev = ev.revision();
                    let index = *index;
                    let prev = ev
                        .prev_kv
                        .as_ref()
                        .and_then(|p| {
                            CachedObject::decode(&p.key, &p.value, p.mod_revision, index).ok()
                        })
                        .map(Arc::new);
                    // A delete's last state is the previous object with the delete's
                    // revision (the store's delete event carries the same bytes).
                    let object = match (ev.kind, &prev) {
                        (EventKind::Delete, Some(p)) => p.deleted_at(rev),
                        _ => CachedObject::decode(&ev.kv.key, &ev.kv.value, rev, index),
                    };
                    let Ok(object) = object.map(Arc::new) else {
                        continue;
                    };
                    let kind = match ev.kind {
                        EventKind::Put if prev.is_some() => EventType::Modified,
                        EventKind::Put => EventType::Added,
                        EventKind::Delete => EventType::Deleted,
                    };
                    return Some(Ok(Arc::new(CacheEvent {
                        kind,
                        object,
                        prev,
                        revision: rev,
                    })));
                }
                Err(e) => return Some(Err(watch_error(&e))),
            }
        },
    }
}

fn watch_error(e: &StoreError) -> Status {
    match e {
        StoreError::Compacted {
            requested,
            compacted,
        } => Status::failure(
            StatusReason::Expired,
            format!("too old resource version: {requested} ({compacted})"),
        ),
        other => Status::failure(StatusReason::InternalError, other.to_string()),
    }
}

impl Registry {
    /// Starts a watch and returns its body.
    pub(crate) async fn watch(
        &self,
        kind: Arc<KindSpec>,
        ns: Option<&str>,
        params: WatchParams,
    ) -> Result<ApiBody, Error> {
        let prefix = kind.namespace_prefix(ns);
        let cache = self.caches.get(&self.store, &kind.key_prefix()).await?;
        let rv = params
            .opts
            .resource_version
            .as_deref()
            .map(parse_rv)
            .transpose()?
            .flatten()
            .filter(|r| *r > 0);
        let initial_from_now = rv.is_none() || params.send_initial_events;
        if initial_from_now && rv.is_none() && params.opts.resource_version.is_none() {
            cache
                .wait_for(self.caches.last_write(&kind.key_prefix()))
                .await?;
        } else if let (true, Some(r)) = (params.send_initial_events, rv) {
            cache.wait_for(r).await?;
        }
        let (initial, source, after) = if initial_from_now {
            match cache.subscribe(None, &prefix, &params.opts.fields) {
                Ok(sub) => (sub.initial, Source::Cache(sub.receiver), sub.revision),
                Err(_) => {
                    return Err(Error::Internal {
                        message: "the watch cache refused a subscription".into(),
                        source: None,
                    });
                }
            }
        } else {
            let r = rv.unwrap_or(0);
            // The cache may still hold history the store has compacted away; a version
            // older than the store's compaction is gone all the same (410), so that
            // clients see one rule whichever of the two would have served them.
            let compacted = self
                .store
                .compacted_revision()
                .await
                .map_err(super::registry::store_error)?;
            if r > 0 && r < compacted {
                let status = watch_error(&kube_core::StoreError::Compacted {
                    requested: r,
                    compacted,
                });
                return Ok(ApiBody::from_bytes(error_event(&status)));
            }
            match cache.subscribe(Some(r), &prefix, &params.opts.fields) {
                Ok(sub) => (sub.initial, Source::Cache(sub.receiver), r),
                Err(_) => match self.store.watch(kind.key_prefix().into(), r).await {
                    Ok(stream) => (
                        Vec::new(),
                        Source::Store {
                            stream,
                            index: index_field(&kind.key_prefix()),
                        },
                        r,
                    ),
                    Err(e) => {
                        let status = watch_error(&e);
                        let body = error_event(&status);
                        return Ok(ApiBody::from_bytes(body));
                    }
                },
            }
        };
        let mut initial: VecDeque<Arc<CacheEvent>> = initial.into();
        if !initial_from_now {
            initial.retain(|e| e.revision > after);
        }
        let now = Instant::now();
        let bookmark_interval = params.bookmark_interval;
        let initial_end_pending = params.send_initial_events && params.bookmarks;
        let state = State {
            kind,
            prefix,
            initial,
            initial_end_pending,
            source,
            after,
            deadline: now + params.timeout,
            next_bookmark: now + bookmark_interval,
            done: false,
            params,
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            let chunk = st.next_chunk().await?;
            Some((Ok::<_, BoxError>(chunk), st))
        });
        Ok(ApiBody::from_stream(stream))
    }
}

/// Encodes objects as they are.
pub(crate) fn json_encoder() -> ObjectEncoder {
    Arc::new(|o: &CachedObject| o.json.clone())
}

/// Encodes objects through a function of their value (tables, partial metadata).
pub(crate) fn value_encoder(f: impl Fn(&Value) -> Value + Send + Sync + 'static) -> ObjectEncoder {
    Arc::new(move |o: &CachedObject| {
        static UNDECODABLE: Value = Value::Null;
        let value = o.value().unwrap_or(&UNDECODABLE);
        Bytes::from(serde_json::to_vec(&f(value)).unwrap_or_default())
    })
}
