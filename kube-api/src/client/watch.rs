//! [`WatchStream`]: the events of a watch, decoded line by line from the response body.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, Bytes, BytesMut};
use futures::Stream;
use http_body::Body as _;
use kube_core::{Error, WatchEvent};
use serde::de::DeserializeOwned;

use super::{ResponseBody, transport_error};

/// The longest line of a watch stream the client accepts (one object).
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// The events of one watch, in order. It ends when the server closes the watch (its
/// timeout, or a shutdown); a 410 Gone arrives as a [`WatchEvent::Error`] event.
pub struct WatchStream<K> {
    body: ResponseBody,
    buffer: BytesMut,
    done: bool,
    _kind: PhantomData<fn() -> K>,
}

impl<K> fmt::Debug for WatchStream<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchStream")
            .field("buffered", &self.buffer.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<K> WatchStream<K> {
    /// A stream over a watch response's body.
    pub(crate) fn new(body: ResponseBody) -> Self {
        Self {
            body,
            buffer: BytesMut::new(),
            done: false,
            _kind: PhantomData,
        }
    }
}

impl<K: DeserializeOwned> WatchStream<K> {
    /// Takes the next complete line out of the buffer, if there is one.
    fn next_line(&mut self) -> Option<Bytes> {
        loop {
            let pos = self.buffer.iter().position(|b| *b == b'\n')?;
            let line = self.buffer.split_to(pos).freeze();
            self.buffer.advance(1);
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Some(line);
            }
        }
    }
}

fn decode_line<K: DeserializeOwned>(line: &[u8]) -> Result<WatchEvent<K>, Error> {
    kube_core::wire::from_json(line).map_err(|e| Error::internal("cannot decode a watch event", e))
}

impl<K: DeserializeOwned> Stream for WatchStream<K> {
    type Item = Result<WatchEvent<K>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(line) = this.next_line() {
                return Poll::Ready(Some(decode_line(&line)));
            }
            if this.done {
                // A last event without a trailing newline still counts.
                if this.buffer.iter().all(u8::is_ascii_whitespace) {
                    return Poll::Ready(None);
                }
                let rest = std::mem::take(&mut this.buffer).freeze();
                return Poll::Ready(Some(decode_line(&rest)));
            }
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.buffer.extend_from_slice(&data);
                        if this.buffer.len() > MAX_LINE_BYTES {
                            this.done = true;
                            this.buffer.clear();
                            return Poll::Ready(Some(Err(Error::internal(
                                "a watch event exceeds the size limit",
                                format!("more than {MAX_LINE_BYTES} bytes without a newline"),
                            ))));
                        }
                    }
                }
                Some(Err(err)) => {
                    this.done = true;
                    this.buffer.clear();
                    return Poll::Ready(Some(Err(transport_error(&err))));
                }
                None => this.done = true,
            }
        }
    }
}
