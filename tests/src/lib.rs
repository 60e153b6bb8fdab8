//! Test harness for wasmgate: a gateway on `127.0.0.1:0` from a manifest string, a local
//! HTTP backend, the `wasmgate` binary as a child process, and raw-socket helpers.
//!
//! Manifests may say `%{guest:<package>}` for the path of a guest component built with the
//! host (test fixtures, examples).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wasmgate::gateway::Gateway;
use wasmgate::http_client::{BoxError, GatewayBody, full_body};
use wasmgate::server::RunningServer;

/// The shared compiled-component cache of the test run.
pub fn cache_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-component-cache");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Replaces `%{guest:<package>}` with guest component paths.
pub fn interpolate(manifest: &str) -> String {
    let mut out = String::new();
    let mut rest = manifest;
    while let Some(start) = rest.find("%{guest:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 8..];
        let end = after.find('}').expect("unterminated %{guest:…}");
        let path = wasmgate::guest_path(&after[..end]).unwrap_or_else(|| panic!("no guest named {}", &after[..end]));
        out.push_str(path);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A gateway serving in this process.
pub struct TestGateway {
    /// Where it listens (the last listener: the plaintext one the harness adds).
    pub addr: SocketAddr,
    /// Every listener's address, in manifest order.
    pub addrs: Vec<SocketAddr>,
    /// The gateway.
    pub gateway: Arc<Gateway>,
    server: Option<RunningServer>,
    /// The manifest's directory (state lives below it).
    pub dir: tempfile::TempDir,
}

impl TestGateway {
    /// Starts a gateway on `127.0.0.1:0` from manifest text (without `[[listeners]]`).
    pub async fn start(manifest: &str) -> TestGateway {
        Self::try_start(manifest).await.unwrap_or_else(|e| panic!("gateway did not start: {e:#}"))
    }

    /// Like [`TestGateway::start`], returning the error.
    pub async fn try_start(manifest: &str) -> anyhow::Result<TestGateway> {
        let dir = tempfile::tempdir()?;
        let text = format!(
            "{}\n[[listeners]]\naddress = \"127.0.0.1:0\"\n",
            interpolate(manifest).replace("%{cache}", &cache_dir().display().to_string())
        );
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, &text)?;
        let mut config = wasmgate::manifest::load(&path)?;
        if !text.contains("cache_dir") {
            config.cache_dir = cache_dir();
        }
        let listeners = config.listeners.clone();
        let gateway = Arc::new(tokio::task::spawn_blocking(move || Gateway::new(config)).await??);
        let server = wasmgate::server::start(gateway.clone(), &listeners).await?;
        Ok(TestGateway {
            addr: *server.addrs.last().unwrap(),
            addrs: server.addrs.clone(),
            gateway,
            server: Some(server),
            dir,
        })
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The manifest file.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.path().join("gateway.toml")
    }

    /// Starts watching the manifest and plugin files (a short debounce for tests).
    pub fn watch(&self) -> wasmgate::watch::Watcher {
        wasmgate::watch::watch(self.gateway.clone(), self.manifest_path(), Duration::from_millis(50)).unwrap()
    }

    /// Starts the admin API on 127.0.0.1:0.
    pub async fn admin(&self, token: Option<&str>) -> wasmgate::admin::AdminServer {
        let settings = wasmgate::manifest::AdminSettings {
            address: "127.0.0.1:0".parse().unwrap(),
            token: token.map(str::to_string),
        };
        wasmgate::admin::start(self.gateway.clone(), &settings, self.manifest_path()).await.unwrap()
    }

    /// Graceful shutdown; returns the manifest's directory (state lives on until it is dropped).
    pub async fn shutdown(mut self) -> tempfile::TempDir {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        self.dir
    }

    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        let server = self.server.take().expect("running");
        tokio::spawn(server.shutdown())
    }
}

/// An HTTP client for tests (no proxy, no pooling surprises).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().unwrap()
}

/// A local backend. Every request is answered with JSON describing it (`method`, `uri`,
/// `headers`, `bodyLength`, `body` when under 4 KiB), read while streaming. Query
/// parameters steer it: `delay_ms=N` waits first, `download=N` answers with N bytes
/// streamed in 64 KiB chunks instead.
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Requests it has begun to answer.
    pub received: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    /// Starts the backend on `127.0.0.1:0`.
    pub async fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        backend_handler(req)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Backend { addr, received, task }
    }
}

fn query_param(uri: &hyper::Uri, name: &str) -> Option<u64> {
    form_pairs(uri).find(|(k, _)| k == name).and_then(|(_, v)| v.parse().ok())
}

fn form_pairs(uri: &hyper::Uri) -> impl Iterator<Item = (String, String)> + '_ {
    uri.query().unwrap_or_default().split('&').filter_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
    })
}

async fn backend_handler(req: Request<Incoming>) -> Result<Response<GatewayBody>, std::convert::Infallible> {
    if let Some(ms) = query_param(req.uri(), "delay_ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let (parts, mut body) = req.into_parts();
    let mut length = 0usize;
    let mut small = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(d) = frame.data_ref() {
            length += d.len();
            if small.len() < 4096 {
                small.extend_from_slice(&d[..d.len().min(4096 - small.len())]);
            }
        }
    }
    if let Some(n) = query_param(&parts.uri, "download") {
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let mut left = n as usize;
        let stream = futures_util::stream::iter(std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let take = left.min(chunk.len());
            left -= take;
            Some(Ok::<_, BoxError>(Frame::data(chunk.slice(..take))))
        }));
        let mut resp = Response::new(StreamBody::new(stream).boxed());
        resp.headers_mut().insert("content-length", n.to_string().parse().unwrap());
        return Ok(resp);
    }
    if let Some(n) = query_param(&parts.uri, "stream") {
        // `n` bytes of unknown length: sent chunked, in pieces of up to 1000 bytes.
        let mut left = n as usize;
        let stream = futures_util::stream::iter(std::iter::from_fn(move || {
            let take = left.min(1000);
            left -= take;
            (take > 0).then(|| Ok::<_, BoxError>(Frame::data(Bytes::from(vec![b's'; take]))))
        }));
        return Ok(Response::new(StreamBody::new(stream).boxed()));
    }
    if parts.uri.path().starts_with("/raw-echo") {
        // Like a Lambda function URL returning the event's body: the request body as it came,
        // with its Content-Type.
        let mut resp = Response::new(full_body(small));
        if let Some(ct) = parts.headers.get("content-type") {
            resp.headers_mut().insert("content-type", ct.clone());
        }
        return Ok(resp);
    }
    if parts.uri.path().starts_with("/json-echo") {
        // Like the echo servers of LocalStack's tests: the request body, parsed, under `json`.
        let json: serde_json::Value = serde_json::from_slice(&small).unwrap_or(serde_json::Value::Null);
        let mut resp = Response::new(full_body(serde_json::json!({ "json": json }).to_string()));
        resp.headers_mut().insert("content-type", "application/json".parse().unwrap());
        return Ok(resp);
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let json = serde_json::json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "bodyLength": length,
        "body": String::from_utf8_lossy(&small),
    });
    let mut resp = Response::new(full_body(json.to_string()));
    let h = resp.headers_mut();
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert("server", "test-backend".parse().unwrap());
    h.insert("x-backend", "yes".parse().unwrap());
    // A gateway answers with its own request id in place of this one.
    h.insert("x-amzn-requestid", "from-backend".parse().unwrap());
    h.append("set-cookie", "a=1".parse().unwrap());
    h.append("set-cookie", "b=2".parse().unwrap());
    Ok(resp)
}

/// The value of header `name` in the backend's JSON echo.
pub fn echoed_header<'a>(echo: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    echo["headers"].as_array()?.iter().find(|h| h[0] == name).and_then(|h| h[1].as_str())
}

/// An address on which nothing listens.
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Sends raw bytes on a new connection and reads the response head and body until the
/// server closes or `timeout` passes.
pub async fn raw_request(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_until_close(&mut stream, timeout).await
}

/// Reads from a stream until EOF or `timeout`.
pub async fn read_until_close(stream: &mut TcpStream, timeout: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(timeout, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 response.
pub fn raw_status(response: &str) -> Option<u16> {
    response.split_whitespace().nth(1)?.parse().ok()
}

/// The `wasmgate` command line (this package's `wasmgate-under-test` binary, which runs the
/// same `wasmgate::cli::main` as the `wasmgate` binary). Only integration tests of this package
/// have its path.
#[macro_export]
macro_rules! wasmgate_bin {
    () => {
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_wasmgate-under-test"))
    };
}

/// A `wasmgate serve` child process.
pub struct GatewayProcess {
    /// The child.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    _state: Option<tempfile::TempDir>,
}

impl GatewayProcess {
    /// Runs `wasmgate serve --listen 127.0.0.1:0 <manifest>` and waits until it listens.
    pub async fn spawn(bin: &Path, manifest: &Path, extra_args: &[&str]) -> GatewayProcess {
        // Its own state directory: sled refuses a second process on the same one.
        let state = tempfile::tempdir().unwrap();
        let mut p = Self::spawn_with_state(bin, manifest, state.path(), extra_args).await;
        p._state = Some(state);
        p
    }

    /// Like [`GatewayProcess::spawn`], on the state directory `state`.
    pub async fn spawn_with_state(bin: &Path, manifest: &Path, state: &Path, extra_args: &[&str]) -> GatewayProcess {
        let mut child = Command::new(bin)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(state)
            // Not the manifest's fixed admin port: tests run side by side.
            .args(["--admin", "127.0.0.1:0"])
            .args(extra_args)
            .arg(manifest)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let plain = strip_ansi(&line);
                if let Some(rest) = plain.split("addr=").nth(1)
                    && plain.contains("listening")
                    && let Some(tx) = tx.take()
                {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("wasmgate did not start listening within 60 s")
            .expect("wasmgate exited before listening");
        GatewayProcess { child, addr: addr.parse().unwrap(), _state: None }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Peak and current resident memory of the process, in KiB (`VmHWM`, `VmRSS`).
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// Kills it with SIGKILL and waits for it to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Replaces `path` the safe way: write a temporary file beside it, then rename it into place.
pub fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
