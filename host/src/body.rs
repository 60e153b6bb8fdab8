//! The request body as the gateway reads it: a size limit enforced while streaming and a
//! deadline for the whole body.
//!
//! When the limit is passed the body does not fail at once: it first reads and discards the
//! rest of what the client sends (up to as much again as the limit, within the deadline), so
//! the client is done sending and can read the 413 instead of a connection reset.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How a request body ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// More bytes than the limit.
    #[error("request body larger than the limit")]
    TooLarge,
    /// The body did not arrive within the deadline.
    #[error("request body not received in time")]
    Timeout,
    /// The client's stream failed.
    #[error("request body stream failed")]
    Broken,
}

/// Shared record of how a [`GuardedBody`] ended, readable after the body was moved away
/// (into a backend request, say).
#[derive(Debug, Clone, Default)]
pub struct BodyOutcome(Arc<AtomicU8>);

impl BodyOutcome {
    fn set(&self, e: BodyError) {
        let v = match e {
            BodyError::TooLarge => 1,
            BodyError::Timeout => 2,
            BodyError::Broken => 3,
        };
        self.0.store(v, Ordering::Release);
    }

    /// The error the body ended with, if any.
    pub fn error(&self) -> Option<BodyError> {
        match self.0.load(Ordering::Acquire) {
            1 => Some(BodyError::TooLarge),
            2 => Some(BodyError::Timeout),
            3 => Some(BodyError::Broken),
            _ => None,
        }
    }
}

/// A request body with a size limit and a deadline.
pub struct GuardedBody<B> {
    inner: B,
    remaining: u64,
    drain_allowance: u64,
    draining: bool,
    /// When the whole body must have arrived; the timer is only armed when the body is read.
    deadline_at: Instant,
    deadline: Option<Pin<Box<Sleep>>>,
    outcome: BodyOutcome,
    finished: bool,
}

impl<B> GuardedBody<B> {
    /// Wraps `inner`: at most `limit` bytes, all of them within `timeout`.
    pub fn new(inner: B, limit: u64, timeout: Duration) -> (GuardedBody<B>, BodyOutcome) {
        let outcome = BodyOutcome::default();
        let body = GuardedBody {
            inner,
            remaining: limit,
            drain_allowance: limit,
            draining: false,
            deadline_at: Instant::now() + timeout,
            deadline: None,
            outcome: outcome.clone(),
            finished: false,
        };
        (body, outcome)
    }

    fn fail(&mut self, e: BodyError) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.outcome.set(e);
        self.finished = true;
        Poll::Ready(Some(Err(e)))
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(this.deadline_at)));
        loop {
            if deadline.as_mut().poll(cx).is_ready() {
                return this.fail(BodyError::Timeout);
            }
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                None if this.draining => return this.fail(BodyError::TooLarge),
                None => {
                    this.finished = true;
                    return Poll::Ready(None);
                }
                Some(Err(_)) if this.draining => return this.fail(BodyError::TooLarge),
                Some(Err(_)) => return this.fail(BodyError::Broken),
                Some(Ok(frame)) => frame,
            };
            let len = frame.data_ref().map_or(0, |d| d.len() as u64);
            if this.draining {
                match this.drain_allowance.checked_sub(len) {
                    Some(left) => this.drain_allowance = left,
                    None => return this.fail(BodyError::TooLarge),
                }
                continue;
            }
            match this.remaining.checked_sub(len) {
                Some(left) => {
                    this.remaining = left;
                    return Poll::Ready(Some(Ok(frame)));
                }
                None => {
                    this.draining = true;
                    this.drain_allowance = this.drain_allowance.saturating_sub(len);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished || (self.inner.is_end_stream() && !self.draining)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body as the pipeline reads it, whichever connection it came on.
#[derive(Debug)]
pub enum RequestBody {
    /// No body.
    Empty,
    /// An HTTP/2 body, from hyper.
    Http2(hyper::body::Incoming),
    /// An HTTP/1.1 body, from the gateway's own codec.
    Http1(crate::server::Http1Body),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = crate::http_client::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Http2(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            RequestBody::Http1(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Http2(b) => b.is_end_stream(),
            RequestBody::Http1(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Http2(b) => b.size_hint(),
            RequestBody::Http1(b) => b.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn chunks(n: usize, size: usize) -> impl Body<Data = Bytes, Error = std::convert::Infallible> + Unpin {
        let frames = (0..n).map(move |_| Ok(Frame::data(Bytes::from(vec![0u8; size]))));
        StreamBody::new(futures_util::stream::iter(frames.collect::<Vec<_>>()))
    }

    #[tokio::test]
    async fn within_limit_passes_through() {
        let (body, outcome) = GuardedBody::new(chunks(4, 10), 40, Duration::from_secs(5));
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 40);
        assert_eq!(outcome.error(), None);
    }

    #[tokio::test]
    async fn over_limit_drains_then_fails() {
        let (body, outcome) = GuardedBody::new(chunks(5, 10), 40, Duration::from_secs(5));
        assert_eq!(body.collect().await.unwrap_err(), BodyError::TooLarge);
        assert_eq!(outcome.error(), Some(BodyError::TooLarge));
    }

    #[tokio::test]
    async fn slow_body_times_out() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
        let stream = StreamBody::new(tokio_stream_from(rx));
        let (body, outcome) = GuardedBody::new(stream, 100, Duration::from_millis(50));
        tx.send(Ok(Frame::data(Bytes::from_static(b"x")))).await.unwrap();
        assert_eq!(body.collect().await.unwrap_err(), BodyError::Timeout);
        assert_eq!(outcome.error(), Some(BodyError::Timeout));
        drop(tx);
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Unpin {
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}
