//! [`ApiBody`]: the request and response body of the API server, whole or streaming.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use kube_core::BoxError;

/// The body type of requests the API server accepts.
pub type ReqBody = ApiBody;

/// A request to the API server.
pub type ApiRequest = http::Request<ApiBody>;

/// A response of the API server.
pub type ApiResponse = http::Response<ApiBody>;

/// The largest request body the server accepts (3 MiB, as Kubernetes).
pub const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

/// A body: whole bytes (the common case, cheap to build and to read) or any boxed
/// [`Body`], such as a watch stream or hyper's incoming body.
pub struct ApiBody {
    inner: Inner,
}

enum Inner {
    Full(Option<Bytes>),
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl std::fmt::Debug for ApiBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Full(b) => f
                .debug_struct("ApiBody")
                .field("len", &b.as_ref().map_or(0, Bytes::len))
                .finish(),
            Inner::Boxed(_) => f.debug_struct("ApiBody").field("streaming", &true).finish(),
        }
    }
}

impl ApiBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self {
            inner: Inner::Full(None),
        }
    }

    /// A body of these bytes.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self {
            inner: Inner::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// Wraps any body (hyper's `Incoming`, a stream body, ...).
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self {
            inner: Inner::Boxed(body.map_err(Into::into).boxed_unsync()),
        }
    }

    /// A body that yields each chunk of a stream as a data frame, such as a watch.
    pub fn from_stream<S>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
    {
        use futures::StreamExt as _;
        let body = http_body_util::StreamBody::new(stream.map(|r| r.map(Frame::data)));
        Self {
            inner: Inner::Boxed(body.boxed_unsync()),
        }
    }

    /// Reads the whole body, failing with [`BodyError::TooLarge`] past `limit` bytes.
    pub async fn collect_limited(self, limit: usize) -> Result<Bytes, BodyError> {
        match self.inner {
            Inner::Full(b) => {
                let b = b.unwrap_or_default();
                if b.len() > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                Ok(b)
            }
            Inner::Boxed(mut body) => {
                let mut buf = BytesMut::new();
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(BodyError::Read)?;
                    if let Ok(data) = frame.into_data() {
                        if buf.len() + data.len() > limit {
                            discard(&mut body, limit).await;
                            return Err(BodyError::TooLarge { limit });
                        }
                        buf.extend_from_slice(&data);
                    }
                }
                Ok(buf.freeze())
            }
        }
    }

    /// Reads the whole body, however large.
    pub async fn collect_bytes(self) -> Result<Bytes, BodyError> {
        self.collect_limited(usize::MAX).await
    }
}

/// Reads and drops up to `bound` more bytes of a body refused as too large. A client
/// writes its whole body before it reads the answer: were the connection closed under
/// it, it would see a broken pipe instead of the 413 (as Go's HTTP server, the rest of a
/// moderately oversized body is read and dropped first; past the bound, the connection
/// closes).
async fn discard(body: &mut UnsyncBoxBody<Bytes, BoxError>, bound: usize) {
    let mut read = 0;
    while read <= bound {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            Some(Err(_)) | None => return,
        }
    }
}

impl Default for ApiBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<Bytes> for ApiBody {
    fn from(b: Bytes) -> Self {
        Self::from_bytes(b)
    }
}

impl From<Vec<u8>> for ApiBody {
    fn from(b: Vec<u8>) -> Self {
        Self::from_bytes(b)
    }
}

impl From<String> for ApiBody {
    fn from(s: String) -> Self {
        Self::from_bytes(s)
    }
}

impl From<&'static str> for ApiBody {
    fn from(s: &'static str) -> Self {
        Self::from_bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl Body for ApiBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.inner {
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Inner::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(b) => b.is_none(),
            Inner::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, Bytes::len) as u64),
            Inner::Boxed(body) => body.size_hint(),
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the limit.
    #[error("the request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The underlying body failed (connection reset, protocol error).
    #[error("reading the body failed")]
    Read(#[source] BoxError),
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn whole_and_streamed_bodies_read_back() {
        assert_eq!(ApiBody::from("abc").collect_bytes().await.unwrap(), "abc");
        assert!(ApiBody::empty().is_end_stream());
        let s = futures::stream::iter(vec![
            Ok::<_, BoxError>(Bytes::from_static(b"a\n")),
            Ok(Bytes::from_static(b"b\n")),
        ]);
        assert_eq!(
            ApiBody::from_stream(s).collect_bytes().await.unwrap(),
            "a\nb\n"
        );
    }

    #[tokio::test]
    async fn limits_are_enforced() {
        let err = ApiBody::from(vec![0u8; 10])
            .collect_limited(5)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 5 }));
        let s = futures::stream::iter(vec![Ok::<_, BoxError>(Bytes::from(vec![1u8; 8]))]);
        let err = ApiBody::from_stream(s)
            .collect_limited(5)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { .. }));
    }

    /// A body refused as too large is still read to its end (up to as much again as the
    /// limit), so that its sender finishes writing and reads the 413; past that bound the
    /// rest is left unread.
    #[tokio::test]
    async fn a_refused_body_is_read_on_up_to_a_bound() {
        let read = Arc::new(AtomicUsize::new(0));
        let chunks = |n: usize| {
            let read = read.clone();
            futures::stream::iter((0..n).map(move |_| {
                read.fetch_add(1, Ordering::SeqCst);
                Ok::<_, BoxError>(Bytes::from(vec![0u8; 4]))
            }))
        };
        // 40 bytes against a limit of 10: refused, and read to the end (within 10 more).
        let err = ApiBody::from_stream(chunks(4))
            .collect_limited(10)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 10 }));
        assert_eq!(read.load(Ordering::SeqCst), 4);
        // 400 bytes: reading stops past the bound.
        read.store(0, Ordering::SeqCst);
        let err = ApiBody::from_stream(chunks(100))
            .collect_limited(10)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 10 }));
        let n = read.load(Ordering::SeqCst);
        assert!((4..10).contains(&n), "{n} chunks read");
    }
}
