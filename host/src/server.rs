//! The HTTP server: listeners, TLS (rustls, HTTP/2 or HTTP/1.1 by ALPN), edge limits,
//! a connection cap, an idle timeout and graceful shutdown. HTTP/1.1 is served by the
//! gateway's own codec ([`h1`]), HTTP/2 by hyper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use http::Request;
use hyper::body::Incoming;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::body::RequestBody;
use crate::gateway::Gateway;
use crate::gateway_response::{GatewayError, ResponseType};
use crate::manifest::schema::EdgeLimits;
use crate::manifest::{Listener, TlsFiles};
use crate::pipeline::{self, ConnInfo};

mod h1;

pub use h1::Http1Body;

/// Most over-the-cap connections answered 503 at once; more are closed without an answer.
const MAX_REFUSALS: usize = 64;

/// A running server.
pub struct RunningServer {
    /// The bound addresses, in listener order.
    pub addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    connections: Arc<Semaphore>,
    max_connections: usize,
    grace: Duration,
}

impl RunningServer {
    /// Stops accepting, asks every connection to finish its requests in flight, and waits
    /// for them (at most the shutdown grace period).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let all = self.connections.acquire_many(self.max_connections as u32);
        if tokio::time::timeout(self.grace, all).await.is_err() {
            tracing::warn!("shutdown grace period over; connections still open are dropped");
        }
    }
}

/// Binds every listener and starts serving `gateway`.
pub async fn start(gateway: Arc<Gateway>, listeners: &[Listener]) -> anyhow::Result<RunningServer> {
    let limits = gateway.snapshot().config.limits.clone();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let mut addrs = Vec::new();
    let mut tasks = Vec::new();
    for l in listeners {
        let tls = l.tls.as_ref().map(tls_acceptor).transpose()?;
        let listener = TcpListener::bind(l.address).await.with_context(|| format!("binding {}", l.address))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, tls = tls.is_some(), "listening");
        addrs.push(addr);
        tasks.push(tokio::spawn(accept_loop(
            listener,
            tls,
            gateway.clone(),
            limits.clone(),
            connections.clone(),
            shutdown_rx.clone(),
        )));
    }
    Ok(RunningServer {
        addrs,
        shutdown,
        tasks,
        connections,
        max_connections: limits.max_connections,
        grace: Duration::from_millis(limits.shutdown_grace_ms),
    })
}

fn tls_acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("reading TLS certificate {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing TLS certificate {}", files.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", files.cert.display());
    }
    let key =
        PrivateKeyDer::from_pem_file(&files.key).with_context(|| format!("reading TLS key {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    gateway: Arc<Gateway>,
    limits: EdgeLimits,
    connections: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // Over the cap: answer 503, but never hold more than a few refusals at once (each
            // costs a task and a file descriptor); beyond that the connection is just closed.
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                let is_tls = tls.is_some();
                tokio::spawn(async move {
                    refuse_overloaded(stream, is_tls).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let (gateway, limits, tls, shutdown) = (gateway.clone(), limits.clone(), tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            serve_connection(stream, remote, tls, gateway, limits, shutdown).await;
            drop(permit);
        });
    }
}

/// Over the connection cap: answer one request with 503 and close.
async fn refuse_overloaded(stream: TcpStream, tls: bool) {
    if tls {
        return; // no handshake for a connection we will not serve
    }
    let svc = service_fn(|_req| async {
        Ok::<_, Infallible>(
            GatewayError::new(ResponseType::EdgeOverloaded, "Service Unavailable").closing().into_response(),
        )
    });
    let conn = hyper::server::conn::http1::Builder::new().keep_alive(false).serve_connection(TokioIo::new(stream), svc);
    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Option<TlsAcceptor>,
    gateway: Arc<Gateway>,
    limits: EdgeLimits,
    shutdown: watch::Receiver<bool>,
) {
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let io: Box<dyn h1::Io> = match tls {
        None => Box::new(stream),
        Some(acceptor) => {
            let stream = match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                return drive_h2(Prefixed::new(stream, Bytes::new()), remote, gateway, &limits, shutdown).await;
            }
            Box::new(stream)
        }
    };
    // HTTP/1.1 by the gateway's own codec; a connection that opens with the HTTP/2 preface
    // (prior knowledge, or TLS without ALPN) goes to hyper.
    match h1::serve(io, remote, &gateway, &limits, shutdown.clone(), true).await {
        h1::Served::Done => {}
        h1::Served::Http2(io, prefix) => drive_h2(Prefixed::new(io, prefix), remote, gateway, &limits, shutdown).await,
    }
}

/// Serves HTTP/2 (hyper) on one connection until it closes, is idle too long, or the server
/// shuts down.
async fn drive_h2<T>(
    io: Prefixed<T>,
    remote: SocketAddr,
    gateway: Arc<Gateway>,
    limits: &EdgeLimits,
    mut shutdown: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Idleness is measured between requests, not bytes: HTTP/2 pings must not keep a
    // connection open forever.
    let activity = Activity::new();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let svc_in_flight = in_flight.clone();
    let svc_activity = activity.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let snapshot = gateway.snapshot();
        let guard = InFlight::enter(&svc_in_flight, &svc_activity);
        async move {
            let req = req.map(RequestBody::Http2);
            // hyper writes the header map only: the backend's header lines go into it.
            let resp =
                pipeline::handle(snapshot, req, ConnInfo { remote, framing_conflict: false }).await.into_response();
            drop(guard);
            Ok::<_, Infallible>(resp)
        }
    });

    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);

    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let tick = (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = ticker.tick() => {
                if let Some(since) = closing {
                    // A client that stops reading must not hold its slot forever.
                    if since.elapsed() >= grace {
                        tracing::debug!(%remote, "connection did not finish closing in time; dropping it");
                        return;
                    }
                    continue;
                }
                if in_flight.load(Ordering::Acquire) == 0 && activity.idle_for() >= idle {
                    tracing::debug!(%remote, "closing idle connection");
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now());
                }
            }
            _ = shutdown.changed(), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now());
            }
        }
    }
}

/// Counts a request in flight on a connection, and marks activity when it starts and ends.
struct InFlight(Arc<AtomicUsize>, Activity);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>, activity: &Activity) -> InFlight {
        counter.fetch_add(1, Ordering::AcqRel);
        activity.touch();
        InFlight(counter.clone(), activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.1.touch();
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// When a request last started or finished on a connection.
#[derive(Clone)]
struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity { start: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) }
    }

    fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A connection's stream with bytes already read from it put back in front.
struct Prefixed<T> {
    prefix: Bytes,
    inner: T,
}

impl<T> Prefixed<T> {
    fn new(inner: T, prefix: Bytes) -> Prefixed<T> {
        Prefixed { prefix, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let head = self.prefix.split_to(n);
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
