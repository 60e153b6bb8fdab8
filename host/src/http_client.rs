//! The body type the gateway speaks, and the pooled keep-alive HTTP/1.1 client used by HTTP
//! and HTTP_PROXY integrations and by plugins' outbound requests.
//!
//! The client speaks HTTP/1.1 itself, over [`httparse`], in the task of the request that uses
//! it: a request writes its head (and the first piece of its body, in the same write) on a
//! pooled connection, streams the rest of its body, then reads the response head; the
//! response body is read from the connection as the caller polls it, and the connection goes
//! back to the pool when that body has been read to its end. There is no connection task, no
//! channel between the request and its connection, and no wake-up of a second task per
//! request: on the proxy path, this is a third of the work hyper's client did.
//!
//! Per backend authority the pool keeps a list of idle connections and hands out the most
//! recently used one. A connection is never shared by two requests at once. An idle
//! connection that has become readable (the backend closed it, or sent bytes nobody asked
//! for) is dropped at checkout, from the readiness the runtime already has (no system call).
//! A request whose first write fails on a pooled connection is retried once on a new
//! connection: nothing of it reached the backend, so retrying cannot repeat it.
//!
//! What the client supports: `Content-Length`, chunked (both ways) and close-delimited
//! bodies; responses without a body (`HEAD`, 204, 304); interim 1xx responses (skipped);
//! `Connection: close` and HTTP/1.0 backends (the connection is not reused). The whole request
//! is written before the response is read: a backend that answers early without reading a
//! large request body is waited for until the integration timeout.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use tokio::io::AsyncWriteExt;

use crate::h1;
use crate::h1::{Chunked, Decoded, Decoder, ReadBuffer};
use tokio::net::TcpStream;

/// Errors carried by bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every request and response body in the gateway.
pub type GatewayBody = BoxBody<Bytes, BoxError>;

/// The largest response head accepted from a backend.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// The most response headers accepted from a backend.
const MAX_RESPONSE_HEADERS: usize = 128;
/// Size of a connection's read buffer.
const READ_BUFFER: usize = 16 * 1024;
/// A request body's first piece up to this size goes out in the same write as the head.
const COALESCE: usize = 16 * 1024;

/// Why a backend request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Only `http://` URLs are supported.
    #[error("unsupported URL scheme in `{0}` (only http:// is supported)")]
    UnsupportedScheme(String),
    /// The URL has no host.
    #[error("no host in `{0}`")]
    NoHost(String),
    /// The TCP connection could not be opened.
    #[error("connecting to {authority}: {source}")]
    Connect {
        /// host:port
        authority: Authority,
        /// The socket error.
        source: std::io::Error,
    },
    /// The TCP connection was not open within the connect timeout.
    #[error("connecting to {0}: timed out")]
    ConnectTimeout(Authority),
    /// Reading from or writing to the backend failed.
    #[error("backend connection: {0}")]
    Io(#[from] std::io::Error),
    /// The backend closed the connection before the response was complete.
    #[error("backend closed the connection before the response was complete")]
    Incomplete,
    /// The backend's response is not valid HTTP/1.1.
    #[error("invalid response from the backend: {0}")]
    Protocol(String),
    /// The request's own body failed while it was being sent.
    #[error("request body: {0}")]
    Body(BoxError),
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// How long opening a TCP connection may take.
    pub connect_timeout: Duration,
    /// Idle connections older than this are closed rather than reused.
    pub idle_timeout: Duration,
    /// At most this many connections are kept per backend authority.
    pub max_idle_per_host: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 1024,
        }
    }
}

/// Response headers a caller wants dropped or renamed, applied as the response head is read
/// (after the client has taken the framing from them), so that a proxy does not build the
/// header map twice.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHeaderRules {
    /// Headers left out of the response, by their names in lower case.
    pub drop: &'static [&'static str],
    /// Headers given another name: `(from, to)`, `from` in lower case.
    pub rename: &'static [(&'static str, HeaderName)],
    /// Leave the headers as the text of their lines, a [`RawHeaders`] the body hands over
    /// ([`ClientBody::take_header_lines`]), instead of a header map: for a response that is
    /// only relayed. `drop` must then cover what a relayed head must not carry as it is.
    pub raw: bool,
}

impl ResponseHeaderRules {
    /// Every header as the backend sent it.
    pub const NONE: ResponseHeaderRules = ResponseHeaderRules { drop: &[], rename: &[], raw: false };
}

/// Response headers kept as the text of their lines, `name: value\r\n` each, in the order and
/// the letter case the backend sent them, after the [`ResponseHeaderRules`] that asked for
/// them dropped and renamed some. Names and values were checked as the head was parsed (the
/// same characters `HeaderName` and `HeaderValue` allow). The pipeline's relayed response
/// carries them beside an empty header map (`pipeline::MethodResponse`), so that the HTTP/1.1
/// writer copies them in one piece; anything that needs them as a map calls
/// [`RawHeaders::append_to`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawHeaders(Vec<u8>);

impl RawHeaders {
    /// The header lines, each ending in CRLF.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The headers as `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.0.split(|b| *b == b'\n').filter_map(|line| {
            let line = line.strip_suffix(b"\r")?;
            let colon = line.iter().position(|b| *b == b':')?;
            Some((&line[..colon], line[colon + 1..].trim_ascii_start()))
        })
    }

    /// Adds a header line; `false` (and nothing added) when `value` has a character a header
    /// value cannot have.
    pub fn append(&mut self, name: &HeaderName, value: &[u8]) -> bool {
        // Every byte looked at (no early exit), which the compiler turns into a few wide steps.
        if !value.iter().fold(true, |ok, &b| ok & (b == b'\t' || (b >= b' ' && b != 0x7f))) {
            return false;
        }
        self.push(name.as_str().as_bytes(), value);
        true
    }

    /// Adds a line whose name and value are known to be valid.
    fn push(&mut self, name: &[u8], value: &[u8]) {
        self.0.extend_from_slice(name);
        self.0.extend_from_slice(b": ");
        self.0.extend_from_slice(value);
        self.0.extend_from_slice(b"\r\n");
    }

    /// Appends the headers to `map` (names in lower case).
    pub fn append_to(&self, map: &mut HeaderMap) {
        for (name, value) in self.iter() {
            // Both were checked when the head was parsed.
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), http::HeaderValue::from_bytes(value)) {
                map.append(name, value);
            }
        }
    }
}

/// The pooled HTTP/1.1 client. Cheap to clone (one pool shared by every clone).
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ClientSettings,
    /// Keyed by the authority in lower case (see [`pool_key`]), hashed with FxHash:
    /// `Authority`'s own `Hash` and `Eq` fold case byte by byte.
    pools: Mutex<HashMap<Box<str>, Vec<Idle>, rustc_hash::FxBuildHasher>>,
}

/// An idle connection in the pool, with when it expires (kept as a deadline: comparing two
/// instants is cheaper than the durations between them).
struct Idle {
    conn: Conn,
    expires: Instant,
}

/// A connection to a backend, with its read buffer.
struct Conn {
    io: TcpStream,
    rb: ReadBuffer,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

/// Builds the client with the default settings.
pub fn new_client() -> HttpClient {
    HttpClient::new(ClientSettings::default())
}

impl HttpClient {
    /// A client with its own, empty pool.
    pub fn new(settings: ClientSettings) -> HttpClient {
        HttpClient { inner: Arc::new(Inner { settings, pools: Mutex::new(HashMap::default()) }) }
    }

    /// Sends a request whose URI is absolute (`http://host:port/path?query`): the request
    /// goes out in origin form, with a `Host` header from the URI unless it has one.
    /// Resolves with the response head; the body streams from the connection.
    pub async fn request(&self, req: Request<GatewayBody>) -> Result<Response<ClientBody>, ClientError> {
        self.request_with(req, ResponseHeaderRules::NONE).await
    }

    /// [`HttpClient::request`], with the response's headers dropped or renamed by `rules`.
    pub async fn request_with(
        &self,
        req: Request<GatewayBody>,
        rules: ResponseHeaderRules,
    ) -> Result<Response<ClientBody>, ClientError> {
        let (parts, body) = req.into_parts();
        let target = Target::from_uri(&parts.uri)?;
        self.send(&parts.method, &target, &parts.headers, body, rules).await
    }

    /// Sends a request to `target`, its head written straight from `headers` (no request or
    /// header map built for it), with the response's headers dropped or renamed by `rules`.
    /// Resolves with the response head; the body streams from the connection.
    pub async fn send<H: HeaderLines + Sync + ?Sized>(
        &self,
        method: &Method,
        target: &Target,
        headers: &H,
        mut body: GatewayBody,
        rules: ResponseHeaderRules,
    ) -> Result<Response<ClientBody>, ClientError> {
        if target.scheme != Scheme::HTTP {
            return Err(ClientError::UnsupportedScheme(target.to_string()));
        }
        let authority = &target.authority;
        let head_request = *method == Method::HEAD;

        // The body's framing, and its first piece (to go out with the head).
        let framing = if body.is_end_stream() {
            BodyFraming::Empty
        } else {
            match body.size_hint().exact() {
                Some(0) => BodyFraming::Empty,
                Some(n) => BodyFraming::Length(n),
                None => BodyFraming::Chunked,
            }
        };
        let mut out = encode_head(method, target, headers, framing);
        let mut first = None;
        if framing != BodyFraming::Empty {
            first = next_data(&mut body).await?;
        }
        let mut body_done = first.is_none();
        if let Some(data) = &first
            && data.len() <= COALESCE
        {
            push_data(&mut out, data, framing);
            if framing == BodyFraming::Chunked && body.is_end_stream() {
                out.extend_from_slice(b"0\r\n\r\n");
                body_done = true;
            } else if framing == BodyFraming::Length(data.len() as u64) {
                body_done = true;
            }
            first = None;
        }

        // Write the head on a pooled connection; if that fails, nothing was sent: once more
        // on a new connection.
        let (mut conn, reused) = match self.checkout(authority) {
            Some(mut conn) => match conn.io.write_all(&out).await {
                Ok(()) => (conn, true),
                Err(e) => {
                    tracing::debug!(%authority, error = %e, "pooled connection failed; retrying on a new one");
                    (self.write_new(authority, &out).await?, false)
                }
            },
            None => (self.write_new(authority, &out).await?, false),
        };
        if !body_done {
            if let Some(data) = first.take() {
                write_data(&mut conn.io, &data, framing).await?;
            }
            while let Some(data) = next_data(&mut body).await? {
                write_data(&mut conn.io, &data, framing).await?;
            }
            if framing == BodyFraming::Chunked {
                conn.io.write_all(b"0\r\n\r\n").await?;
            }
        }
        drop(body);

        let head = match read_final_head(&mut conn, rules).await {
            // A pooled connection the backend closed just as the request went out: the backend
            // saw none of it. An idempotent request that went out whole in one write is sent
            // once more on a new connection.
            Err(ClientError::Incomplete | ClientError::Io(_))
                if reused && body_done && is_idempotent(method) && conn.rb.pending().is_empty() =>
            {
                tracing::debug!(%authority, "pooled connection closed before answering; retrying on a new one");
                conn = self.write_new(authority, &out).await?;
                read_final_head(&mut conn, rules).await?
            }
            other => other?,
        };
        let reusable = head.keep_alive;
        let decoder =
            if head_request || head.status == StatusCode::NO_CONTENT || head.status == StatusCode::NOT_MODIFIED {
                Decoder::Length(0)
            } else if head.chunked {
                Decoder::Chunked(Chunked::Size)
            } else if let Some(n) = head.content_length {
                Decoder::Length(n)
            } else {
                Decoder::UntilClose
            };
        let mut body = ClientBody {
            conn: Some(conn),
            decoder,
            reusable: reusable && decoder != Decoder::UntilClose,
            pool: Some((self.clone(), authority.clone())),
            header_lines: head.raw,
        };
        body.finish_if_done();
        let mut resp = Response::new(body);
        *resp.status_mut() = head.status;
        *resp.version_mut() = head.version;
        *resp.headers_mut() = head.headers;
        Ok(resp)
    }

    async fn write_new(&self, authority: &Authority, out: &[u8]) -> Result<Conn, ClientError> {
        let mut conn = self.connect(authority).await?;
        conn.io.write_all(out).await?;
        Ok(conn)
    }

    /// The most recently returned idle connection to `authority`, dropping closed and
    /// expired ones on the way.
    fn checkout(&self, authority: &Authority) -> Option<Conn> {
        let key = pool_key(authority);
        let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        let list = pools.get_mut(key.as_ref())?;
        let mut now = None;
        while let Some(idle) = list.pop() {
            let now = *now.get_or_insert_with(Instant::now);
            if now > idle.expires {
                continue;
            }
            // An idle connection has nothing to read: if it is readable, the backend closed it
            // (or sent bytes nobody asked for). The runtime's readiness tells without a system
            // call; when it only says "maybe", one non-blocking read settles it.
            let mut cx = Context::from_waker(Waker::noop());
            match idle.conn.io.poll_read_ready(&mut cx) {
                Poll::Pending => return Some(idle.conn),
                Poll::Ready(Err(_)) => continue,
                Poll::Ready(Ok(())) => {
                    let mut probe = [0u8; 1];
                    match idle.conn.io.try_read(&mut probe) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(idle.conn),
                        _ => continue,
                    }
                }
            }
        }
        None
    }

    /// Hands a connection back once its response has been read to the end.
    fn checkin(&self, authority: Authority, conn: Conn) {
        let key = pool_key(&authority);
        let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        let list = match pools.get_mut(key.as_ref()) {
            Some(list) => list,
            None => pools.entry(key.into()).or_default(),
        };
        // Oldest first: connections idle for too long are closed here, so the ones under a
        // busy top of the list do not linger.
        let now = Instant::now();
        let expired = list.partition_point(|idle| now > idle.expires);
        list.drain(..expired);
        if list.len() < self.inner.settings.max_idle_per_host {
            // A timeout too long for the clock is a year (no `Instant` overflows).
            let timeout = self.inner.settings.idle_timeout.min(Duration::from_secs(365 * 24 * 3600));
            list.push(Idle { conn, expires: now + timeout });
        }
    }

    /// Opens a connection (no Nagle delay).
    async fn connect(&self, authority: &Authority) -> Result<Conn, ClientError> {
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let io = tokio::time::timeout(self.inner.settings.connect_timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| ClientError::ConnectTimeout(authority.clone()))?
            .map_err(|source| ClientError::Connect { authority: authority.clone(), source })?;
        io.set_nodelay(true).map_err(|source| ClientError::Connect { authority: authority.clone(), source })?;
        Ok(Conn { io, rb: ReadBuffer::new(READ_BUFFER) })
    }

    /// How many idle connections the pool holds for `authority`.
    pub fn pooled(&self, authority: &str) -> usize {
        let Ok(authority) = authority.parse::<Authority>() else { return 0 };
        let pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.get(pool_key(&authority).as_ref()).map_or(0, Vec::len)
    }
}

/// The pool key of an authority: the authority in lower case (borrowed when it already is).
fn pool_key(authority: &Authority) -> std::borrow::Cow<'_, str> {
    let text = authority.as_str();
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(text.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Where a request goes: an origin and the request target sent there, in origin form
/// (`/path?query`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL's scheme (the client speaks `http` only).
    pub scheme: Scheme,
    /// `host[:port]`: where to connect, and the `Host` header unless the request has one.
    pub authority: Authority,
    /// The path and query, starting with `/`.
    pub path_and_query: String,
}

impl Target {
    /// The target of an absolute URI (`http://host:port/path?query`).
    pub fn from_uri(uri: &Uri) -> Result<Target, ClientError> {
        let Some(scheme) = uri.scheme() else {
            return Err(ClientError::UnsupportedScheme(uri.to_string()));
        };
        let Some(authority) = uri.authority() else {
            return Err(ClientError::NoHost(uri.to_string()));
        };
        let path_and_query = match uri.path_and_query().map_or("", |p| p.as_str()) {
            "" => "/",
            p => p,
        };
        Ok(Target { scheme: scheme.clone(), authority: authority.clone(), path_and_query: path_and_query.to_string() })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.path_and_query)
    }
}

/// A request's headers, as the client writes them into the request head.
pub trait HeaderLines {
    /// Whether a `Host` header is among them (else the client writes one from the target).
    fn has_host(&self) -> bool;
    /// Writes every header with [`HeadWriter::header`].
    fn write_to(&self, w: &mut HeadWriter<'_>);
}

impl HeaderLines for HeaderMap {
    fn has_host(&self) -> bool {
        self.contains_key(header::HOST)
    }

    fn write_to(&self, w: &mut HeadWriter<'_>) {
        for (name, value) in self {
            w.header(name, value.as_bytes());
        }
    }
}

/// Writes header lines into a request head, leaving out the ones the client writes itself
/// (the body's framing) or never forwards (connection-specific headers).
pub struct HeadWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> HeadWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> HeadWriter<'a> {
        HeadWriter { out }
    }

    /// Writes `name: value` unless the client owns that header.
    pub fn header(&mut self, name: &HeaderName, value: &[u8]) {
        if is_connection_header(name) {
            return;
        }
        self.out.extend_from_slice(name.as_str().as_bytes());
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
    }
}

/// How a request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFraming {
    Empty,
    Length(u64),
    Chunked,
}

/// Request headers the client writes itself (framing) or never forwards.
fn is_connection_header(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::CONNECTION
        || name == header::TE
        || name == header::UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

fn encode_head<H: HeaderLines + ?Sized>(
    method: &Method,
    target: &Target,
    headers: &H,
    framing: BodyFraming,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + target.path_and_query.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.has_host() {
        // The authority without the default port (`Authority::port_u16` parses the port anew).
        let authority = target.authority.as_str();
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(authority.strip_suffix(":80").unwrap_or(authority).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    headers.write_to(&mut HeadWriter::new(&mut out));
    match framing {
        BodyFraming::Empty => {
            // A body is expected with these verbs: say that there is none.
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                out.extend_from_slice(b"content-length: 0\r\n");
            }
        }
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The next data frame of a request body (trailers are not forwarded).
async fn next_data(body: &mut GatewayBody) -> Result<Option<Bytes>, ClientError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(ClientError::Body(e)),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    return Ok(Some(data));
                }
            }
        }
    }
}

fn push_data(out: &mut Vec<u8>, data: &[u8], framing: BodyFraming) {
    if framing == BodyFraming::Chunked {
        h1::push_chunk(out, data);
    } else {
        out.extend_from_slice(data);
    }
}

async fn write_data(io: &mut TcpStream, data: &Bytes, framing: BodyFraming) -> Result<(), ClientError> {
    if framing == BodyFraming::Chunked {
        let mut chunk = Vec::with_capacity(data.len() + 20);
        h1::push_chunk(&mut chunk, data);
        io.write_all(&chunk).await?;
    } else {
        io.write_all(data).await?;
    }
    Ok(())
}

/// A parsed response head.
struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    /// The headers, when the rules asked for them as lines (`headers` is then empty).
    raw: Option<RawHeaders>,
    content_length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
}

/// The final response head: interim 1xx responses are skipped, and a 101 (the client never
/// asks for an upgrade) is a protocol error.
async fn read_final_head(conn: &mut Conn, rules: ResponseHeaderRules) -> Result<Head, ClientError> {
    loop {
        let head = read_head(conn, rules).await?;
        if head.status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Protocol("unexpected 101 Switching Protocols".into()));
        }
        if !head.status.is_informational() {
            return Ok(head);
        }
    }
}

/// Methods a client may repeat (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

async fn read_head(conn: &mut Conn, rules: ResponseHeaderRules) -> Result<Head, ClientError> {
    loop {
        if !conn.rb.pending().is_empty()
            && let Some((used, head)) = parse_head(conn.rb.pending(), rules)?
        {
            conn.rb.consume(used);
            return Ok(head);
        }
        let Conn { io, rb } = conn;
        let n = std::future::poll_fn(|cx| rb.poll_fill(io, cx, MAX_RESPONSE_HEAD)).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::OutOfMemory { ClientError::Protocol(e.to_string()) } else { e.into() }
        })?;
        if n == 0 {
            return Err(ClientError::Incomplete);
        }
    }
}

/// Parses a response head at the start of `bytes`: `None` when it is not all there yet.
/// `rules` drop and rename headers once their framing has been read.
fn parse_head(bytes: &[u8], rules: ResponseHeaderRules) -> Result<Option<(usize, Head)>, ClientError> {
    // Most responses have a handful of headers: a small table first, the full one if needed.
    let mut few = [httparse::EMPTY_HEADER; 24];
    let mut many;
    let mut resp = httparse::Response::new(&mut few);
    let mut parsed = resp.parse(bytes);
    if matches!(parsed, Err(httparse::Error::TooManyHeaders)) {
        many = vec![httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        resp = httparse::Response::new(&mut many);
        parsed = resp.parse(bytes);
    }
    let used = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ClientError::Protocol(e.to_string())),
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let version = if resp.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
    let mut headers = HeaderMap::new();
    // Lines at most as long as the head's, but for renamed names, and room for a few more
    // (the gateway adds its request id).
    let mut raw = RawHeaders::default();
    if rules.raw {
        raw.0.reserve(used + 128);
    } else {
        headers.reserve(resp.headers.len() + 2);
    }
    let mut content_length = None;
    let (mut chunked, mut te) = (false, false);
    let mut keep_alive = version == Version::HTTP_11;
    // Header values share one copy of the head.
    let shared = if rules.raw { Bytes::new() } else { Bytes::copy_from_slice(&bytes[..used]) };
    let invalid = |what: &str| ClientError::Protocol(format!("invalid header {what}"));
    for h in resp.headers.iter() {
        // Names compared as text: a relayed head builds no `HeaderName`s.
        let is = |lower: &&str| token_is(h.name.as_bytes(), lower.as_bytes());
        if token_is(h.name.as_bytes(), b"content-length") {
            let n = h1::content_length(h.value).ok_or_else(|| invalid(h.name))?;
            if content_length.is_some_and(|m| m != n) {
                return Err(ClientError::Protocol("conflicting Content-Length headers".into()));
            }
            content_length = Some(n);
        } else if token_is(h.name.as_bytes(), b"transfer-encoding") {
            // Chunked when it is the final coding; anything else is read until close.
            te = true;
            chunked = h1::is_chunked(h.value);
            if !chunked {
                keep_alive = false;
            }
        } else if token_is(h.name.as_bytes(), b"connection") {
            h1::apply_connection_tokens(h.value, version, &mut keep_alive);
        }
        if rules.drop.iter().any(is) {
            continue;
        }
        let renamed = rules.rename.iter().find(|(from, _)| is(from)).map(|(_, to)| to);
        if rules.raw {
            // httparse allowed only token characters in the name and only what
            // `HeaderValue` allows in the value.
            raw.push(renamed.map_or(h.name.as_bytes(), |to| to.as_str().as_bytes()), h.value);
            continue;
        }
        let value = h1::shared_value(&shared, bytes.as_ptr(), h.value).ok_or_else(|| invalid(h.name))?;
        match renamed {
            Some(to) => headers.append(to.clone(), value),
            None => headers.append(HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| invalid(h.name))?, value),
        };
    }
    if te {
        // RFC 9112 §6.3: Transfer-Encoding wins over Content-Length, and such a connection is
        // not reused.
        if content_length.take().is_some() {
            keep_alive = false;
        }
    }
    let raw = rules.raw.then_some(raw);
    Ok(Some((used, Head { status, version, headers, raw, content_length, chunked, keep_alive })))
}

/// Whether the header name `token` (checked by httparse: token characters only) is `lower`,
/// letters in any case. `lower` has only lower-case letters, digits and `-`: for those, a
/// token character with the 0x20 bit set is equal only to the same character in either case
/// (the bytes that differ from one of them in that bit alone are control characters), so the
/// comparison is eight bytes at a time, the last eight overlapping.
#[inline]
fn token_is(token: &[u8], lower: &[u8]) -> bool {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let n = token.len();
    if n != lower.len() {
        return false;
    }
    if n < 8 {
        return token.iter().zip(lower).all(|(t, l)| t | 0x20 == *l);
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(*s[i..].first_chunk::<8>().expect("eight bytes from i"));
    let mut i = 0;
    while i + 8 < n {
        if word(token, i) | CASE != word(lower, i) {
            return false;
        }
        i += 8;
    }
    word(token, n - 8) | CASE == word(lower, n - 8)
}

/// A response body, read from the backend connection as it is polled. When it has been read
/// to its end the connection goes back to the pool; dropped before that, the connection is
/// closed.
pub struct ClientBody {
    conn: Option<Conn>,
    decoder: Decoder,
    reusable: bool,
    pool: Option<(HttpClient, Authority)>,
    /// The response's headers, when its rules asked for them as lines.
    header_lines: Option<RawHeaders>,
}

impl std::fmt::Debug for ClientBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBody").field("decoder", &self.decoder).finish_non_exhaustive()
    }
}

impl ClientBody {
    /// The response's headers as lines, when [`ResponseHeaderRules::raw`] asked for them so
    /// (the response's header map is then empty). They come with the body so that a relayed
    /// response carries them without a second allocation (`http::Extensions` would box them).
    pub fn take_header_lines(&mut self) -> Option<RawHeaders> {
        self.header_lines.take()
    }

    /// At the end of the body: the connection goes back to the pool when it can be reused
    /// (nothing unread left on it).
    fn finish_if_done(&mut self) {
        if !self.decoder.is_done() {
            return;
        }
        self.decoder = Decoder::Done;
        let Some(conn) = self.conn.take() else { return };
        if self.reusable
            && conn.rb.pending().is_empty()
            && let Some((client, authority)) = self.pool.take()
        {
            client.checkin(authority, conn);
        }
    }

    fn fail(&mut self, e: ClientError) -> Poll<Option<Result<Frame<Bytes>, ClientError>>> {
        self.conn = None;
        self.decoder = Decoder::Done;
        Poll::Ready(Some(Err(e)))
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = ClientError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, ClientError>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else { return Poll::Ready(None) };
            let decoded = match this.decoder.decode(&mut conn.rb) {
                Decoded::NeedMore => match ready!(conn.rb.poll_fill(&mut conn.io, cx, READ_BUFFER * 4)) {
                    Ok(0) => this.decoder.at_eof(),
                    Ok(_) => continue,
                    Err(e) => return this.fail(e.into()),
                },
                other => other,
            };
            match decoded {
                Decoded::Data(data) => {
                    this.finish_if_done();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Decoded::End => {
                    this.finish_if_done();
                    return Poll::Ready(None);
                }
                Decoded::CutShort => return this.fail(ClientError::Incomplete),
                Decoded::Invalid(what) => return this.fail(ClientError::Protocol(what.into())),
                Decoded::NeedMore => continue,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder.exact_len().map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// A body of known bytes.
pub fn full_body(bytes: impl Into<Bytes>) -> GatewayBody {
    http_body_util::Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// An empty body (boxed without an allocation: it has no state).
pub fn empty_body() -> GatewayBody {
    http_body_util::Empty::new().map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A backend that answers every request on a connection with the connection's number
    /// and the request line, and closes a connection after `per_connection` requests.
    async fn backend(per_connection: usize) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        backend_with(per_connection, None).await
    }

    /// A backend that answers `per_connection` requests on each connection; with `unanswered`,
    /// it then reads one more request whole and closes without answering it, counting those.
    async fn backend_with(
        per_connection: usize,
        unanswered: Option<Arc<std::sync::atomic::AtomicUsize>>,
    ) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let unanswered = unanswered.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for answered in 0..=per_connection {
                        let head = loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break buf.drain(..end + 4).collect::<Vec<u8>>();
                            }
                            let mut chunk = [0u8; 4096];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        };
                        if answered == per_connection {
                            // One request more than this connection answers: close on it.
                            if let Some(u) = &unanswered {
                                u.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            return;
                        }
                        let head = String::from_utf8_lossy(&head).into_owned();
                        let line = head.lines().next().unwrap_or_default().to_string();
                        let host = head
                            .lines()
                            .find_map(|l| l.strip_prefix("host: ").or_else(|| l.strip_prefix("Host: ")))
                            .unwrap_or_default()
                            .to_string();
                        let body = format!("{n} {line} {host}");
                        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                        // Without `unanswered`, the connection closes right after its last answer.
                        if socket.write_all(reply.as_bytes()).await.is_err()
                            || (answered + 1 == per_connection && unanswered.is_none())
                        {
                            return;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    async fn get(client: &HttpClient, url: &str) -> Result<String, ClientError> {
        let mut req = Request::new(full_body(Bytes::new()));
        *req.uri_mut() = url.parse().unwrap();
        let resp = client.request(req).await?;
        Ok(String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
    }

    #[tokio::test]
    async fn reuses_connections_in_origin_form_with_a_host_header() {
        let (addr, accepted) = backend(usize::MAX).await;
        let client = new_client();
        for _ in 0..3 {
            let body = get(&client, &format!("http://{addr}/a/b?x=1")).await.unwrap();
            assert_eq!(body, format!("0 GET /a/b?x=1 HTTP/1.1 {addr}"));
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(client.pooled(&addr.to_string()), 1);
    }

    #[tokio::test]
    async fn concurrent_requests_never_share_a_connection() {
        let (addr, accepted) = backend(usize::MAX).await;
        let client = new_client();
        let url = format!("http://{addr}/");
        let all = futures_util::future::join_all((0..8).map(|_| get(&client, &url))).await;
        assert!(all.iter().all(|r| r.as_ref().is_ok_and(|b| b.ends_with(&format!("GET / HTTP/1.1 {addr}")))));
        let opened = accepted.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=8).contains(&opened), "{opened}");
        // Later requests reuse what is pooled.
        get(&client, &url).await.unwrap();
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), opened);
    }

    #[tokio::test]
    async fn a_connection_the_backend_closed_is_replaced() {
        // One request per connection: the backend closes after answering.
        let (addr, accepted) = backend(1).await;
        let client = new_client();
        for i in 0..3 {
            let body = get(&client, &format!("http://{addr}/")).await.unwrap();
            assert!(body.starts_with(&format!("{i} GET / ")), "{body}");
            // Let the close reach the pooled connection: it must not be reused.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    type Reply = (Vec<u8>, bool);

    /// A backend that answers the n-th request (counted over all connections) with
    /// `reply(n, raw request)`: the raw response, sent in two writes a moment apart, and
    /// whether to close afterwards. Returns its address and the number of connections.
    async fn scripted(
        reply: impl Fn(usize, &[u8]) -> Reply + Send + Sync + 'static,
    ) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(reply);
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let (reply, requests) = (reply.clone(), requests.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // The head, then a Content-Length or chunked body.
                        let raw = loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                                let length = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length: "))
                                    .and_then(|v| v.parse::<usize>().ok());
                                let total = match length {
                                    Some(n) => Some(end + 4 + n),
                                    None if head.contains("transfer-encoding: chunked") => buf[end + 4..]
                                        .windows(5)
                                        .position(|w| w == b"0\r\n\r\n")
                                        .map(|p| end + 4 + p + 5),
                                    None => Some(end + 4),
                                };
                                if let Some(total) = total.filter(|t| *t <= buf.len()) {
                                    break buf.drain(..total).collect::<Vec<u8>>();
                                }
                            }
                            let mut chunk = [0u8; 65536];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        };
                        let n = requests.fetch_add(1, Ordering::SeqCst);
                        let (response, close) = reply(n, &raw);
                        let (a, b) = response.split_at(response.len() / 2);
                        if socket.write_all(a).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        if socket.write_all(b).await.is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    async fn send(
        client: &HttpClient,
        method: Method,
        url: &str,
        body: GatewayBody,
    ) -> Result<(u16, String), ClientError> {
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = url.parse().unwrap();
        let resp = client.request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8(bytes.to_vec()).unwrap()))
    }

    fn reply(raw: &str, close: bool) -> Reply {
        (raw.as_bytes().to_vec(), close)
    }

    #[test]
    fn token_is_compares_names_in_any_case() {
        for lower in ["te", "date", "trailer", "location", "keep-alive", "content-length", "transfer-encoding"] {
            assert!(token_is(lower.as_bytes(), lower.as_bytes()));
            assert!(token_is(lower.to_ascii_uppercase().as_bytes(), lower.as_bytes()));
            // One character off, anywhere: before, inside and in the overlapping last eight.
            for i in 0..lower.len() {
                let mut other = lower.as_bytes().to_vec();
                other[i] = if other[i] == b'x' { b'y' } else { b'x' };
                assert!(!token_is(&other, lower.as_bytes()), "{}", String::from_utf8_lossy(&other));
            }
            assert!(!token_is(format!("{lower}s").as_bytes(), lower.as_bytes()));
        }
        // Token characters that differ from `-` or a digit only in the 0x20 bit do not exist;
        // these differ in another bit.
        assert!(!token_is(b"content_length", b"content-length"));
        assert!(token_is(b"X-Amzn-1", b"x-amzn-1"));
        assert!(!token_is(b"x-amzn-2", b"x-amzn-1"));
    }

    #[tokio::test]
    async fn response_header_rules_drop_and_rename_after_framing_is_read() {
        static DROP: [&str; 1] = ["keep-alive"];
        static RENAME: [(&str, HeaderName); 2] = [
            ("content-length", HeaderName::from_static("x-length")),
            ("connection", HeaderName::from_static("x-connection")),
        ];
        let rules = ResponseHeaderRules { drop: &DROP, rename: &RENAME, raw: false };
        let (addr, accepted) = scripted(|n, _| {
            reply(
                &format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\nX-N: {n}\r\nX-N: again\r\nConnection: close\r\n\r\nok"),
                false,
            )
        })
        .await;
        let client = new_client();
        for n in 0..2 {
            let mut req = Request::new(full_body(Bytes::new()));
            *req.uri_mut() = format!("http://{addr}/").parse().unwrap();
            let resp = client.request_with(req, rules).await.unwrap();
            let headers = resp.headers().clone();
            // The body is framed by the Content-Length that was renamed.
            assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "ok");
            assert_eq!(headers.get("x-length").unwrap(), "2");
            assert_eq!(headers.get("x-connection").unwrap(), "close");
            assert!(headers.get(header::CONTENT_LENGTH).is_none() && headers.get(header::CONNECTION).is_none());
            assert!(headers.get("keep-alive").is_none());
            let repeated: Vec<_> = headers.get_all("x-n").iter().map(|v| v.to_str().unwrap().to_string()).collect();
            assert_eq!(repeated, [n.to_string(), "again".to_string()]);
        }
        // The renamed `Connection: close` still closed each connection.
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Without rules, the same response keeps its names.
        let mut req = Request::new(full_body(Bytes::new()));
        *req.uri_mut() = format!("http://{addr}/").parse().unwrap();
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.headers().get(header::CONTENT_LENGTH).unwrap(), "2");
        assert_eq!(resp.headers().get("keep-alive").unwrap(), "timeout=5");
        assert!(resp.into_body().take_header_lines().is_none());

        // As lines: the same rules, in the backend's order and letter case, and no map.
        let raw_rules = ResponseHeaderRules { raw: true, ..rules };
        let mut req = Request::new(full_body(Bytes::new()));
        *req.uri_mut() = format!("http://{addr}/").parse().unwrap();
        let resp = client.request_with(req, raw_rules).await.unwrap();
        assert!(resp.headers().is_empty());
        let mut body = resp.into_body();
        let mut raw = body.take_header_lines().unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "ok");
        assert_eq!(
            std::str::from_utf8(raw.as_bytes()).unwrap(),
            "x-length: 2\r\nX-N: 3\r\nX-N: again\r\nx-connection: close\r\n"
        );
        assert!(raw.append(&HeaderName::from_static("x-more"), b"1"));
        assert!(!raw.append(&HeaderName::from_static("x-bad"), b"a\r\nb"));
        let mut map = HeaderMap::new();
        raw.append_to(&mut map);
        assert_eq!(map.len(), 5);
        assert_eq!(map["x-length"], "2");
        assert_eq!(map.get_all("x-n").iter().collect::<Vec<_>>(), ["3", "again"]);
        assert_eq!(map["x-more"], "1");
    }

    #[tokio::test]
    async fn chunked_responses_with_trailers_are_decoded_and_the_connection_reused() {
        let (addr, accepted) = scripted(|_, _| {
            reply("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n", false)
        })
        .await;
        let client = new_client();
        for _ in 0..3 {
            let (status, body) =
                send(&client, Method::GET, &format!("http://{addr}/"), full_body(Bytes::new())).await.unwrap();
            assert_eq!((status, body.as_str()), (200, "hello, world"));
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(client.pooled(&addr.to_string()), 1);
    }

    #[tokio::test]
    async fn bodies_without_length_are_read_until_close_and_not_reused() {
        let (addr, accepted) = scripted(|n, _| match n % 2 {
            0 => reply("HTTP/1.1 200 OK\r\n\r\nuntil close", true),
            _ => reply("HTTP/1.0 200 OK\r\ncontent-length: 4\r\n\r\nv1.0", false),
        })
        .await;
        let client = new_client();
        let url = format!("http://{addr}/");
        assert_eq!(send(&client, Method::GET, &url, full_body(Bytes::new())).await.unwrap().1, "until close");
        assert_eq!(send(&client, Method::GET, &url, full_body(Bytes::new())).await.unwrap().1, "v1.0");
        assert_eq!(send(&client, Method::GET, &url, full_body(Bytes::new())).await.unwrap().1, "until close");
        // Close-delimited and HTTP/1.0 responses both cost their connection.
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(client.pooled(&addr.to_string()), 0);
    }

    #[tokio::test]
    async fn head_204_and_interim_responses_have_no_body() {
        let (addr, accepted) = scripted(|n, _| match n {
            0 => reply("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", false),
            1 => reply("HTTP/1.1 204 No Content\r\n\r\n", false),
            _ => reply("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok", false),
        })
        .await;
        let client = new_client();
        let url = format!("http://{addr}/");
        assert_eq!(send(&client, Method::HEAD, &url, full_body(Bytes::new())).await.unwrap(), (200, String::new()));
        assert_eq!(send(&client, Method::GET, &url, full_body(Bytes::new())).await.unwrap(), (204, String::new()));
        assert_eq!(send(&client, Method::GET, &url, full_body(Bytes::new())).await.unwrap(), (201, "ok".into()));
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn request_bodies_go_out_with_a_length_or_chunked() {
        // The backend echoes the raw request it received.
        let (addr, _) = scripted(|_, raw| {
            let text = String::from_utf8_lossy(raw).into_owned();
            (format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{text}", text.len()).into_bytes(), false)
        })
        .await;
        let client = new_client();
        let url = format!("http://{addr}/up");
        let (_, raw) = send(&client, Method::POST, &url, full_body("abc")).await.unwrap();
        assert!(raw.starts_with("POST /up HTTP/1.1\r\n"), "{raw}");
        assert!(raw.contains("content-length: 3\r\n") && raw.ends_with("\r\n\r\nabc"), "{raw}");
        // A body of unknown length, in pieces, and larger than what goes out with the head.
        let big = "x".repeat(40_000);
        let pieces = vec![Bytes::from("first "), Bytes::from(big.clone())];
        let stream = futures_util::stream::iter(pieces.into_iter().map(|b| Ok::<_, BoxError>(Frame::data(b))));
        let body = http_body_util::StreamBody::new(stream).boxed();
        let (_, raw) = send(&client, Method::PUT, &url, body).await.unwrap();
        assert!(raw.contains("transfer-encoding: chunked\r\n"), "{}", &raw[..200]);
        assert!(raw.ends_with(&format!("6\r\nfirst \r\n9c40\r\n{big}\r\n0\r\n\r\n")));
        // No body: POST says so, GET says nothing.
        let (_, raw) = send(&client, Method::POST, &url, full_body(Bytes::new())).await.unwrap();
        assert!(raw.contains("content-length: 0\r\n"), "{raw}");
        let (_, raw) = send(&client, Method::GET, &url, full_body(Bytes::new())).await.unwrap();
        assert!(!raw.contains("content-length") && !raw.contains("transfer-encoding"), "{raw}");
    }

    #[tokio::test]
    async fn large_bodies_stream_through_the_buffer() {
        let body: String = (0..200_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let expected = body.clone();
        let (addr, _) = scripted(move |_, _| {
            (format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_bytes(), false)
        })
        .await;
        let client = new_client();
        let (_, got) = send(&client, Method::GET, &format!("http://{addr}/"), full_body(Bytes::new())).await.unwrap();
        assert_eq!(got, expected);
        assert_eq!(client.pooled(&addr.to_string()), 1);
    }

    #[tokio::test]
    async fn responses_with_many_headers_parse() {
        let (addr, _) = scripted(|_, _| {
            let headers: String = (0..100).map(|i| format!("x-h{i}: {i}\r\n")).collect();
            (format!("HTTP/1.1 200 OK\r\n{headers}content-length: 2\r\n\r\nok").into_bytes(), false)
        })
        .await;
        let client = new_client();
        let mut req = Request::new(full_body(Bytes::new()));
        *req.uri_mut() = format!("http://{addr}/").parse().unwrap();
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.headers().len(), 101);
        assert_eq!(resp.headers()["x-h99"], "99");
    }

    #[tokio::test]
    async fn invalid_and_cut_short_responses_are_errors() {
        let (addr, _) = scripted(|n, _| match n {
            0 => reply("HTTP/1.1 abc\r\n\r\n", true),
            1 => reply("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", true),
            2 => reply("HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab", true),
            _ => reply("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", true),
        })
        .await;
        let client = new_client();
        let url = format!("http://{addr}/");
        let get = || send(&client, Method::GET, &url, full_body(Bytes::new()));
        assert!(matches!(get().await, Err(ClientError::Protocol(_))));
        assert!(matches!(get().await, Err(ClientError::Incomplete)));
        assert!(matches!(get().await, Err(ClientError::Protocol(_))));
        assert!(matches!(get().await, Err(ClientError::Protocol(_))));
    }

    #[tokio::test]
    async fn authorities_differing_in_case_share_a_pool() {
        let (addr, accepted) = backend(usize::MAX).await;
        let client = new_client();
        get(&client, &format!("http://localhost:{}/", addr.port())).await.unwrap();
        get(&client, &format!("http://LocalHost:{}/", addr.port())).await.unwrap();
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(client.pooled(&format!("LOCALHOST:{}", addr.port())), 1);
    }

    #[tokio::test]
    async fn a_backend_101_is_an_error() {
        let (addr, _) = scripted(|_, _| reply("HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n", false)).await;
        let client = new_client();
        let err = send(&client, Method::GET, &format!("http://{addr}/"), full_body(Bytes::new())).await.unwrap_err();
        assert!(matches!(err, ClientError::Protocol(_)), "{err}");
    }

    #[tokio::test]
    async fn idle_connections_expire_even_under_a_busy_top() {
        let (addr, accepted) = backend(usize::MAX).await;
        let client = HttpClient::new(ClientSettings { idle_timeout: Duration::from_millis(300), ..Default::default() });
        let url = format!("http://{addr}/");
        // Two connections: the first response's body is still unread (its connection is not
        // back in the pool) when the second request goes out.
        let open = || {
            let mut req = Request::new(full_body(Bytes::new()));
            *req.uri_mut() = url.parse().unwrap();
            client.request(req)
        };
        let (a, b) = (open().await.unwrap(), open().await.unwrap());
        a.into_body().collect().await.unwrap();
        b.into_body().collect().await.unwrap();
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(client.pooled(&addr.to_string()), 2);
        // The top one keeps being used; the one under it expires and is closed at a checkin.
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(120)).await;
            get(&client, &url).await.unwrap();
        }
        assert_eq!(client.pooled(&addr.to_string()), 1);
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn idempotent_requests_survive_a_pooled_connection_closing_under_them() {
        // Each connection answers one request, then reads the next and closes without an
        // answer: the race of a backend closing a pooled connection just as a request goes out,
        // forced. Every request after the first meets it, and every GET must still succeed.
        let unanswered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (addr, accepted) = backend_with(1, Some(unanswered.clone())).await;
        let client = new_client();
        for i in 0..20 {
            let body = get(&client, &format!("http://{addr}/")).await.unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert!(body.ends_with(&format!("GET / HTTP/1.1 {addr}")), "{body}");
        }
        // Each request after the first was sent on the pooled connection, dropped there, and
        // sent again on a new one.
        assert_eq!(unanswered.load(std::sync::atomic::Ordering::SeqCst), 19);
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 20);

        // A POST is not sent twice: the same close is its error.
        let mut post = Request::new(full_body(Bytes::from_static(b"x")));
        *post.method_mut() = Method::POST;
        *post.uri_mut() = format!("http://{addr}/").parse().unwrap();
        assert!(client.request(post).await.is_err());
        assert_eq!(unanswered.load(std::sync::atomic::Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn bad_urls_and_dead_backends_are_errors() {
        let client = new_client();
        assert!(matches!(get(&client, "https://127.0.0.1:1/").await, Err(ClientError::UnsupportedScheme(_))));
        let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let err = get(&client, &format!("http://{dead}/")).await.unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    }
}
