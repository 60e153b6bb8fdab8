//! HTTP/1.1 connections, served with the gateway's own codec ([`crate::h1`]); hyper serves
//! HTTP/2 only.
//!
//! A connection reads a request head into its buffer and parses it in place (httparse), runs
//! the pipeline, and writes the response head and the first pieces of its body in one write.
//! A bodiless request (the usual `GET`) allocates no body at all; a request body is decoded
//! from the connection's buffer as the pipeline polls it, and answers `Expect: 100-continue`
//! when it is first read. Requests on a connection are served in order (pipelining works;
//! responses are never interleaved).
//!
//! What the edge enforces here, before the pipeline sees a request:
//! - a head larger than `max_header_bytes` + 8 KiB, or with more than 512 headers, is answered
//!   431; a head that is not HTTP/1.x is answered 400; both close the connection;
//! - a head must arrive within `header_read_timeout_ms` of its first byte, and a keep-alive
//!   connection waits at most `idle_timeout_ms` for its next request;
//! - both `Content-Length` and `Transfer-Encoding` are reported to the pipeline, which answers
//!   400 and closes (request smuggling), as are invalid lengths;
//! - a connection whose request body was not read to its end is drained (at most 64 KiB,
//!   within the header timeout) before its next request, or closed.
//!
//! A cleartext connection that opens with the HTTP/2 preface is handed to hyper.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{self, HeaderMap, HeaderName};
use http::{Method, Request, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::body::RequestBody;
use crate::gateway::Gateway;
use crate::gateway_response::{GatewayError, ResponseType};
use crate::h1::{Chunked, Decoded, Decoder, ReadBuffer};
use crate::manifest::schema::EdgeLimits;
use crate::pipeline::{self, ConnInfo, MethodResponse};

/// A connection's byte stream (TCP or TLS).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The most headers a request may have.
const MAX_HEADERS: usize = 512;
/// Initial size of a connection's read buffer.
const READ_BUFFER: usize = 8 * 1024;
/// Response bytes gathered before a write.
const WRITE_BATCH: usize = 64 * 1024;
/// At most this much of an unread request body is drained to keep the connection.
const MAX_DRAIN: u64 = 64 * 1024;
/// The HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The connection state a request body reads through while the pipeline runs.
struct Shared {
    io: Box<dyn Io>,
    rb: ReadBuffer,
    /// The current request's body.
    body: Decoder,
    /// `Some(n)`: `100 Continue` is owed, `n` bytes of it written so far.
    continue_written: Option<usize>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// How a connection ended when it did not end by itself.
pub(crate) enum Served {
    /// Closed (by either side, a timeout, an error or shutdown).
    Done,
    /// It opened with the HTTP/2 preface: the stream, and the bytes already read from it.
    Http2(Box<dyn Io>, Bytes),
}

/// A request head, parsed.
struct Head {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Decoder,
    keep_alive: bool,
    expect_continue: bool,
    framing_conflict: bool,
}

enum HeadError {
    /// End of stream, or a read error, before a complete head.
    Closed,
    /// Too large or too many headers: 431.
    TooLarge,
    /// Not an HTTP/1.x head: 400.
    Malformed,
    /// An HTTP/2 preface.
    Http2,
}

/// Serves HTTP/1.1 on `io` until the connection closes, idles out, or the server shuts down.
/// `detect_h2`: hand the connection over when it opens with the HTTP/2 preface.
pub(crate) async fn serve(
    io: Box<dyn Io>,
    remote: SocketAddr,
    gateway: &Gateway,
    limits: &EdgeLimits,
    mut shutdown: watch::Receiver<bool>,
    detect_h2: bool,
) -> Served {
    let shared = Arc::new(Mutex::new(Shared {
        io,
        rb: ReadBuffer::new(READ_BUFFER),
        body: Decoder::Done,
        continue_written: None,
    }));
    let max_head = (limits.max_header_bytes + 8192).max(8192);
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let clock = Clock::new();
    let tick = (idle.min(header_timeout) / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    loop {
        if *shutdown.borrow() {
            break;
        }
        clock.idle_from_now();
        let head = tokio::select! {
            biased;
            head = read_head(&shared, max_head, &clock, detect_h2 && first) => head,
            _ = shutdown.changed() => break,
            _ = watchdog(&mut ticker, &clock, idle, header_timeout) => {
                tracing::debug!(%remote, "closing an idle connection or a slow request head");
                break;
            }
        };
        first = false;
        let head = match head {
            Ok(head) => head,
            Err(HeadError::Closed) => break,
            Err(HeadError::Http2) => {
                let Ok(shared) = Arc::try_unwrap(shared) else { return Served::Done };
                let shared = shared.into_inner().unwrap_or_else(|p| p.into_inner());
                let prefix = Bytes::copy_from_slice(shared.rb.pending());
                return Served::Http2(shared.io, prefix);
            }
            Err(e) => {
                let error = match e {
                    HeadError::TooLarge => {
                        GatewayError::new(ResponseType::EdgeHeadersTooLarge, "Request Header Fields Too Large")
                    }
                    _ => GatewayError::new(ResponseType::EdgeBadRequest, "Bad Request"),
                };
                let mut resp = error.closing().into_response();
                let id = uuid::Uuid::new_v4().to_string();
                if let Ok(v) = http::HeaderValue::from_str(&id) {
                    resp.headers_mut().insert(HeaderName::from_static("x-amzn-requestid"), v);
                }
                let _ = write_response(&shared, resp.into(), false, Version::HTTP_11, false, idle).await;
                break;
            }
        };

        let head_request = head.method == Method::HEAD;
        let version = head.version;
        let body = if head.body.is_done() {
            RequestBody::Empty
        } else {
            let mut s = lock(&shared);
            s.body = head.body;
            s.continue_written = head.expect_continue.then_some(0);
            RequestBody::Http1(Http1Body { shared: shared.clone() })
        };
        let mut req = Request::new(body);
        *req.method_mut() = head.method;
        *req.uri_mut() = head.uri;
        *req.version_mut() = version;
        *req.headers_mut() = head.headers;
        let conn = ConnInfo { remote, framing_conflict: head.framing_conflict };
        let resp = pipeline::handle(gateway.snapshot(), req, conn).await;
        // A client told to wait for `100 Continue` that never got it will not send the body:
        // there is no telling where the next request would start, so the connection closes
        // (RFC 9110 §10.1.1). So it does when the server is shutting down.
        let owed_continue = lock(&shared).continue_written.is_some_and(|n| n < CONTINUE.len());
        let keep_alive = head.keep_alive && !owed_continue && !*shutdown.borrow();
        let keep_alive = write_response(&shared, resp, head_request, version, keep_alive, idle).await;
        if !keep_alive || !finish_body(&shared, header_timeout).await {
            break;
        }
    }
    // Bounded: under TLS, closing writes a close_notify the client may never read.
    let close = std::future::poll_fn(|cx| Pin::new(&mut lock(&shared).io).poll_shutdown(cx));
    let _ = tokio::time::timeout(Duration::from_millis(limits.shutdown_grace_ms), close).await;
    Served::Done
}

/// When the connection went idle and when the head being read started, for the watchdog.
struct Clock {
    epoch: Instant,
    /// Milliseconds since `epoch` when the connection went idle.
    idle_since: AtomicU64,
    /// Milliseconds since `epoch` (plus one) when the current head started to arrive; 0: none.
    head_since: AtomicU64,
}

impl Clock {
    fn new() -> Clock {
        Clock { epoch: Instant::now(), idle_since: AtomicU64::new(0), head_since: AtomicU64::new(0) }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn idle_from_now(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn head_started(&self) {
        if self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since.store(self.now() + 1, Ordering::Relaxed);
        }
    }
}

/// Resolves when the connection has idled too long, or its head is taking too long.
async fn watchdog(ticker: &mut tokio::time::Interval, clock: &Clock, idle: Duration, header_timeout: Duration) {
    loop {
        ticker.tick().await;
        let now = clock.now();
        let head_since = clock.head_since.load(Ordering::Relaxed);
        if head_since > 0 {
            if now + 1 - head_since >= header_timeout.as_millis() as u64 {
                return;
            }
        } else if now - clock.idle_since.load(Ordering::Relaxed).min(now) >= idle.as_millis() as u64 {
            return;
        }
    }
}

/// Reads and parses the next request head.
async fn read_head(shared: &Mutex<Shared>, max: usize, clock: &Clock, detect_h2: bool) -> Result<Head, HeadError> {
    std::future::poll_fn(|cx| {
        let mut s = lock(shared);
        let s = &mut *s;
        loop {
            // Empty lines before a request line are allowed (RFC 9112 §2.2).
            let blank = s.rb.pending().iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
            s.rb.consume(blank);
            let pending = s.rb.pending();
            if !pending.is_empty() {
                clock.head_started();
                if detect_h2 && H2_PREFACE.starts_with(&pending[..pending.len().min(H2_PREFACE.len())]) {
                    if pending.len() >= H2_PREFACE.len() {
                        return Poll::Ready(Err(HeadError::Http2));
                    }
                } else if let Some((used, head)) = parse_head(pending)? {
                    s.rb.consume(used);
                    return Poll::Ready(Ok(head));
                }
            }
            match ready!(s.rb.poll_fill(&mut s.io, cx, max)) {
                Ok(0) => return Poll::Ready(Err(HeadError::Closed)),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => return Poll::Ready(Err(HeadError::TooLarge)),
                Err(_) => return Poll::Ready(Err(HeadError::Closed)),
            }
        }
    })
    .await
}

/// Parses a request head at the start of `bytes`: `None` when it is not all there yet.
fn parse_head(bytes: &[u8]) -> Result<Option<(usize, Head)>, HeadError> {
    let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let used = match req.parse_with_uninit_headers(bytes, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes()).map_err(|_| HeadError::Malformed)?;
    let version = if req.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
    // One copy of the head, shared by the request target and the header values.
    let shared = Bytes::copy_from_slice(&bytes[..used]);
    let path = req.path.ok_or(HeadError::Malformed)?;
    let path = crate::h1::shared_slice(&shared, bytes.as_ptr(), path.as_bytes()).ok_or(HeadError::Malformed)?;
    let uri = Uri::from_maybe_shared(path).map_err(|_| HeadError::Malformed)?;
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    let (mut length, mut chunked, mut te, mut bad_length) = (None, false, false, false);
    let mut keep_alive = version == Version::HTTP_11;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| HeadError::Malformed)?;
        let value = crate::h1::shared_value(&shared, bytes.as_ptr(), h.value).ok_or(HeadError::Malformed)?;
        if name == header::CONTENT_LENGTH {
            match crate::h1::content_length(h.value) {
                Some(_) if bad_length => return Err(HeadError::Malformed),
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                // Two different lengths: there is no telling where the body ends.
                Some(_) => return Err(HeadError::Malformed),
                // Not a number next to a valid one: which one holds is anyone's guess.
                None if length.is_some() => return Err(HeadError::Malformed),
                // Not a number: the pipeline answers 400 `Invalid Content-Length`.
                None => bad_length = true,
            }
        } else if name == header::TRANSFER_ENCODING {
            te = true;
            chunked = crate::h1::is_chunked(h.value);
        } else if name == header::CONNECTION {
            crate::h1::apply_connection_tokens(h.value, version, &mut keep_alive);
        } else if name == header::EXPECT {
            // HTTP/1.0 has no 1xx responses (RFC 9110 §15.2).
            expect_continue = version == Version::HTTP_11 && value.as_bytes().eq_ignore_ascii_case(b"100-continue");
        }
        headers.append(name, value);
    }
    // Both lengths, or a length that is not one: the pipeline answers 400 and the connection
    // closes, so how the body would be read does not matter.
    let framing_conflict = te && (length.is_some() || bad_length);
    if te && !chunked {
        return Err(HeadError::Malformed); // RFC 9112 §6.3: a request body must end chunked
    }
    let body = if te { Decoder::Chunked(Chunked::Size) } else { Decoder::Length(length.unwrap_or(0)) };
    // HTTP/1.0 has no chunked coding: such a body's framing is not to be trusted
    // (RFC 9112 §6.1), so the connection ends with it.
    if framing_conflict || bad_length || (te && version == Version::HTTP_10) {
        keep_alive = false;
    }
    let head = Head { method, uri, version, headers, body, keep_alive, expect_continue, framing_conflict };
    Ok(Some((used, head)))
}

/// Writes a response; false when the connection must close afterwards. A write that makes no
/// progress, or a body that yields nothing, for `stall` ends the connection: a client that
/// stops reading (or a backend that stops sending) does not hold it forever.
async fn write_response(
    shared: &Mutex<Shared>,
    answer: MethodResponse,
    head_request: bool,
    version: Version,
    mut keep_alive: bool,
    stall: Duration,
) -> bool {
    let (parts, mut body) = answer.response.into_parts();
    let status = parts.status;
    let no_body = status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    // One pass over the headers (no lookups by name): the framing is the server's to write.
    let mut has_date = false;
    for (name, value) in &parts.headers {
        if name == header::CONNECTION {
            crate::h1::apply_connection_tokens(value.as_bytes(), Version::HTTP_11, &mut keep_alive);
            continue;
        }
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        has_date |= name == header::DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // A relayed response's headers, as lines that need no checks (`RawHeaders`).
    if let Some(lines) = &answer.backend_headers {
        out.extend_from_slice(lines.as_bytes());
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        push_date(&mut out);
        out.extend_from_slice(b"\r\n");
    }
    let mut chunked = false;
    if !no_body {
        match body.size_hint().exact() {
            // A HEAD answer whose body is not known (proxied: the backend's length is in
            // `x-amzn-remapped-content-length`) says nothing rather than a wrong 0.
            Some(0) if head_request => {}
            Some(n) => {
                out.extend_from_slice(b"content-length: ");
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            None if version == Version::HTTP_11 => {
                chunked = true;
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            }
            None => keep_alive = false, // HTTP/1.0: the body ends with the connection
        }
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if head_request || no_body {
        return write_all(shared, &out, stall).await.is_ok() && keep_alive;
    }
    loop {
        // Gather what the body has ready now; write when it has nothing more at once.
        let frame = if out.is_empty() {
            match tokio::time::timeout(stall, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => {
                    tracing::debug!("response body stalled; closing the connection");
                    return false;
                }
            }
        } else {
            match body.frame().now_or_never() {
                Some(frame) => frame,
                None => {
                    if write_all(shared, &out, stall).await.is_err() {
                        return false;
                    }
                    out.clear();
                    continue;
                }
            }
        };
        match frame {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    if chunked {
                        crate::h1::push_chunk(&mut out, &data);
                    } else {
                        out.extend_from_slice(&data);
                    }
                }
                if out.len() >= WRITE_BATCH {
                    if write_all(shared, &out, stall).await.is_err() {
                        return false;
                    }
                    out.clear();
                }
            }
            Some(Err(e)) => {
                // Nothing left to say in HTTP/1.1 but to cut the response short.
                tracing::debug!(error = %e, "response body failed; closing the connection");
                let _ = write_all(shared, &out, stall).await;
                return false;
            }
        }
    }
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    write_all(shared, &out, stall).await.is_ok() && keep_alive
}

/// Writes `buf` whole; fails when no byte could be written for `stall`.
async fn write_all(shared: &Mutex<Shared>, mut buf: &[u8], stall: Duration) -> std::io::Result<()> {
    let mut deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        let mut s = lock(shared);
        let written = loop {
            if buf.is_empty() {
                break Pin::new(&mut s.io).poll_flush(cx);
            }
            match Pin::new(&mut s.io).poll_write(cx, buf) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    buf = &buf[n..];
                    deadline = None; // progress: the stall clock starts again
                }
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        if written.is_pending() {
            // Only a write that waits arms a timer.
            let timer = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()));
            }
        }
        written
    })
    .await
}

/// After a response: true when the request body has been read to its end (draining a small
/// remainder first), so the next request can be read.
async fn finish_body(shared: &Mutex<Shared>, within: Duration) -> bool {
    let drain = std::future::poll_fn(|cx| {
        let mut s = lock(shared);
        let s = &mut *s;
        s.continue_written = None;
        let mut drained = 0u64;
        loop {
            match s.body.decode(&mut s.rb) {
                Decoded::End => return Poll::Ready(true),
                Decoded::Invalid(_) | Decoded::CutShort => return Poll::Ready(false),
                Decoded::Data(d) => {
                    drained += d.len() as u64;
                    if drained > MAX_DRAIN {
                        return Poll::Ready(false);
                    }
                }
                Decoded::NeedMore => match ready!(s.rb.poll_fill(&mut s.io, cx, READ_BUFFER)) {
                    Ok(n) if n > 0 => {}
                    _ => return Poll::Ready(false),
                },
            }
        }
    });
    if lock(shared).body.is_done() {
        return true;
    }
    tokio::time::timeout(within, drain).await.unwrap_or(false)
}

/// `date` values, formatted once a second.
fn push_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != secs || text.is_empty() {
            *at = secs;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    });
}

/// A request body read from an HTTP/1.1 connection as the pipeline polls it.
pub struct Http1Body {
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for Http1Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Body").finish_non_exhaustive()
    }
}

impl Body for Http1Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let mut s = lock(&self.shared);
        let s = &mut *s;
        // The client waits for `100 Continue` before sending the body.
        while let Some(written) = s.continue_written {
            if written == CONTINUE.len() {
                ready!(Pin::new(&mut s.io).poll_flush(cx))?;
                s.continue_written = None;
                break;
            }
            let n = ready!(Pin::new(&mut s.io).poll_write(cx, &CONTINUE[written..]))?;
            if n == 0 {
                return Poll::Ready(Some(Err(std::io::ErrorKind::WriteZero.into())));
            }
            s.continue_written = Some(written + n);
        }
        loop {
            let decoded = match s.body.decode(&mut s.rb) {
                Decoded::NeedMore => match ready!(s.rb.poll_fill(&mut s.io, cx, READ_BUFFER * 8)) {
                    Ok(0) => s.body.at_eof(),
                    Ok(_) => continue,
                    Err(e) => return Poll::Ready(Some(Err(e))),
                },
                other => other,
            };
            return Poll::Ready(match decoded {
                Decoded::Data(d) => Some(Ok(Frame::data(d))),
                Decoded::End => None,
                Decoded::Invalid(what) => Some(Err(std::io::Error::new(std::io::ErrorKind::InvalidData, what))),
                Decoded::CutShort | Decoded::NeedMore => {
                    Some(Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "request body cut short")))
                }
            });
        }
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.shared).body.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.shared).body.exact_len().map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<Head>, &'static str> {
        match parse_head(raw.as_bytes()) {
            Ok(h) => Ok(h.map(|(_, h)| h)),
            Err(HeadError::TooLarge) => Err("too large"),
            Err(HeadError::Malformed) => Err("malformed"),
            Err(_) => Err("other"),
        }
    }

    #[test]
    fn heads_give_framing_and_keep_alive() {
        let h = parse("POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").unwrap().unwrap();
        assert_eq!((h.method, h.uri.to_string(), h.body), (Method::POST, "/a?b=1".to_string(), Decoder::Length(3)));
        assert!(h.keep_alive && !h.framing_conflict && !h.expect_continue);
        let h = parse("PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n").unwrap();
        let h = h.unwrap();
        assert_eq!(h.body, Decoder::Chunked(Chunked::Size));
        assert!(h.expect_continue);
        let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive && h.body.is_done());
        let h = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap();
        assert!(h.keep_alive);
        let h = parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
    }

    #[test]
    fn smuggling_shapes_are_flagged_or_refused() {
        let h = parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap().unwrap();
        assert!(h.framing_conflict && !h.keep_alive);
        assert_eq!(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").err(), Some("malformed"));
        assert_eq!(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").err(), Some("malformed"));
        let h = parse("POST / HTTP/1.1\r\nContent-Length: five\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        assert!(parse("GET / HTTP/1.1\r\nHost").unwrap().is_none());
        assert_eq!(parse("\x16\x03\x01 garbage\r\n\r\n").err(), Some("malformed"));
        assert_eq!(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: x\r\n\r\n").err(), Some("malformed"));
        assert_eq!(parse("POST / HTTP/1.1\r\nContent-Length: x\r\nContent-Length: 5\r\n\r\n").err(), Some("malformed"));
        // HTTP/1.0: no chunked coding to trust, no 100 Continue to send.
        let h = parse("POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert!(!h.unwrap().keep_alive);
        let h = parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").unwrap().unwrap();
        assert!(!h.expect_continue);
        let many: String = (0..600).map(|i| format!("x-{i}: v\r\n")).collect();
        assert_eq!(parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).err(), Some("too large"));
    }
}
