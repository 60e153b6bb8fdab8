//! The body type the gateway speaks, and the pooled keep-alive client used by HTTP and
//! HTTP_PROXY integrations and by plugins' outbound requests.
//!
//! The client is a small pool over hyper's HTTP/1.1 connections
//! ([`hyper::client::conn::http1`]): per backend authority, a list of connections; a request
//! takes the most recently used one that is ready (its previous response fully read), else
//! opens a new one, and puts it back as soon as the response head has arrived. A connection
//! is never shared by two requests at once, and a request that a pooled connection could not
//! take (closed by the backend while idle) is retried once on another connection: it was
//! never written, so retrying cannot repeat it. Closed and long-idle connections are dropped
//! when the list is next looked at.
//!
//! This replaces hyper-util's general-purpose client on the proxy path, which builds a
//! connect future and spawns a readiness task for every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Errors carried by bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every request and response body in the gateway.
pub type GatewayBody = BoxBody<Bytes, BoxError>;

/// Why a backend request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Only `http://` URLs are supported.
    #[error("unsupported URL scheme in `{0}` (only http:// is supported)")]
    UnsupportedScheme(Uri),
    /// The URL has no host.
    #[error("no host in `{0}`")]
    NoHost(Uri),
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
    /// The HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] hyper::Error),
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

/// The pooled HTTP/1.1 client. Cheap to clone (one pool shared by every clone).
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ClientSettings,
    pools: Mutex<HashMap<Authority, Vec<Pooled>>>,
}

/// A connection in the pool, with when it was last handed back.
struct Pooled {
    sender: SendRequest<GatewayBody>,
    returned: Instant,
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
        HttpClient { inner: Arc::new(Inner { settings, pools: Mutex::new(HashMap::new()) }) }
    }

    /// Sends a request whose URI is absolute (`http://host:port/path?query`): the request
    /// goes out in origin form, with a `Host` header from the URI unless it has one.
    /// Resolves with the response head; the body streams from the connection.
    pub async fn request(&self, mut req: Request<GatewayBody>) -> Result<Response<Incoming>, ClientError> {
        let authority = self.prepare(&mut req)?;
        let mut fresh = false;
        loop {
            let mut sender = match self.checkout(&authority) {
                Some(sender) => sender,
                None => {
                    fresh = true;
                    self.connect(&authority).await?
                }
            };
            match sender.try_send_request(req).await {
                Ok(response) => {
                    self.checkin(authority, sender);
                    return Ok(response);
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the pooled connection was closed under us; try another.
                    Some(unsent) if !fresh => req = unsent,
                    _ => return Err(ClientError::Http(e.into_error())),
                },
            }
        }
    }

    /// Turns the absolute URI into origin form and sets `Host`; returns the authority.
    fn prepare(&self, req: &mut Request<GatewayBody>) -> Result<Authority, ClientError> {
        let uri = std::mem::take(req.uri_mut());
        if uri.scheme() != Some(&Scheme::HTTP) {
            return Err(ClientError::UnsupportedScheme(uri));
        }
        let mut parts = uri.into_parts();
        let Some(authority) = parts.authority.take() else {
            return Err(ClientError::NoHost(Uri::from_parts(parts).unwrap_or_default()));
        };
        parts.scheme = None;
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        // Scheme and authority both gone and a path present: always a valid origin form.
        *req.uri_mut() = Uri::from_parts(parts).unwrap_or_default();
        if !req.headers().contains_key(header::HOST) {
            let host = match authority.port_u16() {
                Some(80) => HeaderValue::from_str(authority.host()),
                _ => HeaderValue::from_str(authority.as_str()),
            };
            if let Ok(host) = host {
                req.headers_mut().insert(header::HOST, host);
            }
        }
        Ok(authority)
    }

    /// The most recently returned ready connection to `authority`, dropping closed and
    /// expired ones on the way. Connections still busy with a response body stay.
    fn checkout(&self, authority: &Authority) -> Option<SendRequest<GatewayBody>> {
        let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        let list = pools.get_mut(authority)?;
        let mut now = None;
        let mut i = list.len();
        while i > 0 {
            i -= 1;
            let pooled = &list[i];
            if pooled.sender.is_closed() {
                list.remove(i);
            } else if pooled.sender.is_ready() {
                let now = *now.get_or_insert_with(Instant::now);
                let pooled = list.remove(i);
                if now.duration_since(pooled.returned) <= self.inner.settings.idle_timeout {
                    return Some(pooled.sender);
                }
            }
        }
        None
    }

    /// Hands a connection back (its response may still be streaming: it becomes ready when
    /// that is done).
    fn checkin(&self, authority: Authority, sender: SendRequest<GatewayBody>) {
        if sender.is_closed() {
            return;
        }
        let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        let list = pools.entry(authority).or_default();
        if list.len() < self.inner.settings.max_idle_per_host {
            list.push(Pooled { sender, returned: Instant::now() });
        }
    }

    /// Opens a connection (no Nagle delay) and spawns its driver task.
    async fn connect(&self, authority: &Authority) -> Result<SendRequest<GatewayBody>, ClientError> {
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::time::timeout(self.inner.settings.connect_timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| ClientError::ConnectTimeout(authority.clone()))?
            .map_err(|source| ClientError::Connect { authority: authority.clone(), source })?;
        stream.set_nodelay(true).map_err(|source| ClientError::Connect { authority: authority.clone(), source })?;
        let (sender, connection) = http1::Builder::new().handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "backend connection closed with an error");
            }
        });
        Ok(sender)
    }

    /// How many connections the pool holds for `authority` (busy or idle).
    pub fn pooled(&self, authority: &str) -> usize {
        let Ok(authority) = authority.parse::<Authority>() else { return 0 };
        let pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.get(&authority).map_or(0, |l| l.iter().filter(|p| !p.sender.is_closed()).count())
    }
}

/// A body of known bytes.
pub fn full_body(bytes: impl Into<Bytes>) -> GatewayBody {
    http_body_util::Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A backend that answers every request on a connection with the connection's number
    /// and the request line, and closes a connection after `per_connection` requests.
    async fn backend(per_connection: usize) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for _ in 0..per_connection {
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
                        let head = String::from_utf8_lossy(&head).into_owned();
                        let line = head.lines().next().unwrap_or_default().to_string();
                        let host = head
                            .lines()
                            .find_map(|l| l.strip_prefix("host: ").or_else(|| l.strip_prefix("Host: ")))
                            .unwrap_or_default()
                            .to_string();
                        let body = format!("{n} {line} {host}");
                        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                        if socket.write_all(reply.as_bytes()).await.is_err() {
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

    #[tokio::test]
    async fn bad_urls_and_dead_backends_are_errors() {
        let client = new_client();
        assert!(matches!(get(&client, "https://127.0.0.1:1/").await, Err(ClientError::UnsupportedScheme(_))));
        let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let err = get(&client, &format!("http://{dead}/")).await.unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    }
}
