//! A watch on etcd that survives broken streams.
//!
//! etcd delivers the events of one revision in revision order, the events of one
//! transaction in a fixed order. The watch remembers the revision of the last event it
//! handed out and how many events of that revision it handed out; when the stream breaks,
//! it opens a new one starting *at* that revision and skips as many of its events. Nothing
//! is lost (the new stream starts no later than the first event not yet delivered) and
//! nothing repeats (what was delivered is skipped). The first stream starts the same way,
//! at the caller's `after`, skipping all of that revision's events.

use std::collections::VecDeque;
use std::time::Duration;

use etcd_client::{EventType, WatchClient, WatchOptions, WatchResponse};
use kube_core::{EventKind, KeyValue, Revision, StoreError, StoreEvent, WatchStream};
use tokio::time::Instant;

use super::convert_kv;
use super::error::{Failure, classify, is_transient};

/// The first pause before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What to watch, in etcd's terms.
#[derive(Debug, Clone)]
pub(super) struct WatchTarget {
    /// The first etcd key of the range.
    pub(super) key: Vec<u8>,
    /// The end of the range (exclusive; `[0]` for "to the end").
    pub(super) range_end: Vec<u8>,
    /// How many bytes of store prefix to strip from every key.
    pub(super) prefix_len: usize,
}

/// The state of one watch across reconnects.
pub(super) struct ResumableWatch {
    client: WatchClient,
    target: WatchTarget,
    /// The revision of the last event delivered (at first, the caller's `after`).
    last_revision: Revision,
    /// How many events of `last_revision` were delivered (at first: all of them).
    delivered_at_last: usize,
    /// In the current etcd stream, how many events of `last_revision` are still to skip.
    to_skip: usize,
    stream: Option<etcd_client::WatchStream>,
    buffer: VecDeque<StoreEvent>,
    retry_timeout: Duration,
    /// When the current run of failures started.
    failing_since: Option<Instant>,
    backoff: Duration,
    finished: bool,
}

impl ResumableWatch {
    /// Opens the first stream, and waits for etcd to confirm the watch.
    pub(super) async fn start(
        client: WatchClient,
        target: WatchTarget,
        after: Revision,
        retry_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let mut watch = Self {
            client,
            target,
            last_revision: after,
            delivered_at_last: usize::MAX,
            to_skip: usize::MAX,
            stream: None,
            buffer: VecDeque::new(),
            retry_timeout,
            failing_since: None,
            backoff: MIN_BACKOFF,
            finished: false,
        };
        let stream = watch
            .open()
            .await
            .map_err(|err| match classify("watch", err) {
                Failure::Other(err) => err,
                _ => StoreError::Backend {
                    message: "etcd watch: unexpected error".into(),
                    source: None,
                },
            })?;
        watch.stream = Some(stream);
        // The first message confirms the watch (or refuses it).
        if let Some(err) = watch.poll_stream().await {
            return Err(err);
        }
        Ok(watch)
    }

    /// Turns the watch into the store's stream type.
    pub(super) fn into_stream(self) -> WatchStream {
        Box::pin(futures::stream::unfold(self, |mut watch| async move {
            watch.next().await.map(|item| (item, watch))
        }))
    }

    /// Opens an etcd watch stream from `last_revision`.
    async fn open(&mut self) -> Result<etcd_client::WatchStream, etcd_client::Error> {
        // `after == 0` means the whole history: etcd's start revision 0 would mean "now".
        let start = self.last_revision.max(1);
        self.to_skip = if self.last_revision >= 1 {
            self.delivered_at_last
        } else {
            0
        };
        let options = WatchOptions::new()
            .with_range(self.target.range_end.clone())
            .with_prev_key()
            .with_start_revision(start);
        self.client
            .watch(self.target.key.clone(), Some(options))
            .await
    }

    /// The next event or error; `None` once the watch is over.
    async fn next(&mut self) -> Option<Result<StoreEvent, StoreError>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            if self.stream.is_none() {
                match self.open().await {
                    Ok(stream) => self.stream = Some(stream),
                    Err(err) => {
                        if let Some(err) = self.retry_or_fail(err).await {
                            return Some(Err(err));
                        }
                        continue;
                    }
                }
            }
            if let Some(err) = self.poll_stream().await {
                return Some(Err(err));
            }
        }
    }

    /// Reads one message of the current stream into the buffer. Returns the error that ends
    /// the watch, if it must end.
    async fn poll_stream(&mut self) -> Option<StoreError> {
        let stream = self.stream.as_mut()?;
        match stream.message().await {
            Ok(Some(response)) => {
                self.failing_since = None;
                self.backoff = MIN_BACKOFF;
                self.accept(&response)
            }
            Ok(None) => {
                tracing::debug!("etcd watch stream closed by the server; resuming");
                self.stream = None;
                None
            }
            Err(err) => {
                self.stream = None;
                self.retry_or_fail(err).await
            }
        }
    }

    /// Handles one response: queues its events, or ends the watch on a cancel.
    fn accept(&mut self, response: &WatchResponse) -> Option<StoreError> {
        if response.compact_revision() > 0 {
            return Some(self.finish(StoreError::Compacted {
                requested: self.last_revision,
                compacted: response.compact_revision(),
            }));
        }
        if response.canceled() {
            return Some(self.finish(StoreError::Backend {
                message: format!("etcd canceled the watch: {}", response.cancel_reason()),
                source: None,
            }));
        }
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let revision = kv.mod_revision();
            if revision < self.last_revision {
                continue;
            }
            if revision == self.last_revision {
                if self.to_skip > 0 {
                    self.to_skip -= 1;
                    continue;
                }
                self.delivered_at_last = self.delivered_at_last.saturating_add(1);
            } else {
                self.last_revision = revision;
                self.delivered_at_last = 1;
                self.to_skip = 0;
            }
            self.buffer
                .push_back(convert_event(self.target.prefix_len, event));
        }
        None
    }

    /// After a failure: waits and lets the loop reconnect, or returns the error that ends
    /// the watch (not transient, or failing for longer than the retry timeout).
    async fn retry_or_fail(&mut self, err: etcd_client::Error) -> Option<StoreError> {
        if !is_transient(&err) {
            let err = match classify("watch", err) {
                Failure::Other(err) => err,
                Failure::Compacted => StoreError::Compacted {
                    requested: self.last_revision,
                    compacted: self.last_revision + 1,
                },
                Failure::FutureRevision | Failure::LeaseNotFound => StoreError::Backend {
                    message: "etcd watch: unexpected error".into(),
                    source: None,
                },
            };
            return Some(self.finish(err));
        }
        let now = Instant::now();
        let since = *self.failing_since.get_or_insert(now);
        if now.duration_since(since) >= self.retry_timeout {
            return Some(self.finish(StoreError::unavailable(
                format!(
                    "etcd watch could not resume after revision {} for {:?}",
                    self.last_revision, self.retry_timeout
                ),
                err,
            )));
        }
        tracing::warn!(
            error = %err,
            revision = self.last_revision,
            "etcd watch stream broke; resuming"
        );
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        None
    }

    fn finish(&mut self, err: StoreError) -> StoreError {
        self.finished = true;
        self.stream = None;
        err
    }
}

/// Converts an etcd event. A delete carries the deleted value with the delete's revision.
fn convert_event(prefix_len: usize, event: &etcd_client::Event) -> StoreEvent {
    let prev_kv = event
        .prev_kv()
        .cloned()
        .map(|kv| convert_kv(prefix_len, kv));
    let kv = event
        .kv()
        .cloned()
        .map(|kv| convert_kv(prefix_len, kv))
        .unwrap_or_else(|| KeyValue {
            key: bytes::Bytes::new(),
            value: bytes::Bytes::new(),
            create_revision: 0,
            mod_revision: 0,
            version: 0,
            lease: None,
        });
    match event.event_type() {
        EventType::Put => StoreEvent {
            kind: EventKind::Put,
            kv,
            prev_kv,
        },
        EventType::Delete => {
            let deleted = match &prev_kv {
                Some(prev) => KeyValue {
                    mod_revision: kv.mod_revision,
                    ..prev.clone()
                },
                // The previous value was compacted away: only the key is known.
                None => kv,
            };
            StoreEvent {
                kind: EventKind::Delete,
                kv: deleted,
                prev_kv,
            }
        }
    }
}
