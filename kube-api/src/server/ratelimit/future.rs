//! [`ResponseFuture`]: the inner service's answer with its in-flight slot held until it is
//! ready, or a 429 decided up front.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;

use crate::server::ApiResponse;

pin_project! {
    /// The response of [`RateLimit`](super::RateLimit).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Inner { #[pin] future: F, permit: Option<OwnedSemaphorePermit> },
        Rejected { response: Option<ApiResponse> },
    }
}

impl<F> ResponseFuture<F> {
    /// The request got a slot (or needs none, for long-running requests) and went on.
    pub(crate) fn inner(future: F, permit: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            kind: Kind::Inner { future, permit },
        }
    }

    /// Too many requests in flight: this response.
    pub(crate) fn rejected(response: ApiResponse) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<ApiResponse, E>>,
{
    type Output = Result<ApiResponse, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, permit } => {
                let out = std::task::ready!(future.poll(cx));
                // The request is no longer in flight.
                drop(permit.take());
                Poll::Ready(out)
            }
            KindProj::Rejected { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => Poll::Pending,
            },
        }
    }
}
