//! Edge limits, TLS with ALPN, and graceful shutdown.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wasmgate_tests::{Backend, TestGateway, client, raw_request, raw_status, read_until_close};

fn api(limits: &str, extra: &str) -> String {
    format!(
        r#"
version = 1
[gateway.limits]
{limits}
{extra}
[apis.e.stages.prod]
[apis.e.resources."/echo".resourceMethods.ANY.methodIntegration]
type = "MOCK"
requestTemplates = {{ "application/json" = '{{"statusCode": 200}}' }}
integrationResponses."200".responseTemplates = {{ "application/json" = '{{"ok":true}}' }}
"#
    )
}

const LIMITS: &str =
    "max_body_bytes = 1048576\nmax_header_bytes = 4096\nbody_read_timeout_ms = 500\nidle_timeout_ms = 300";

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn header_block_too_large_is_431() {
    let gw = TestGateway::start(&api(LIMITS, "")).await;
    let big = "a".repeat(6000);
    let resp =
        raw_request(gw.addr, format!("GET /prod/echo HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes(), T).await;
    assert_eq!(raw_status(&resp), Some(431), "{resp}");
    assert!(resp.contains(r#"{"message":"Request Header Fields Too Large"}"#), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("x-amzn-requestid"), "{resp}");
    // Under the limit: fine.
    let ok = raw_request(gw.addr, b"GET /prod/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", T).await;
    assert_eq!(raw_status(&ok), Some(200), "{ok}");
    gw.shutdown().await;
}

#[tokio::test]
async fn declared_body_over_the_limit_is_413_before_reading() {
    let gw = TestGateway::start(&api(LIMITS, "")).await;
    // Only the headers are sent: the answer must not wait for the body.
    let resp = raw_request(
        gw.addr,
        b"POST /prod/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(raw_status(&resp), Some(413), "{resp}");
    assert!(resp.contains(r#"{"message":"Request Entity Too Large"}"#), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413_while_streaming() {
    let gw = TestGateway::start(&api(LIMITS, "")).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(b"POST /prod/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
    let chunk = vec![b'z'; 64 * 1024];
    for _ in 0..24 {
        // 1.5 MiB in all, over the 1 MiB limit
        stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.unwrap();
        stream.write_all(&chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let resp = read_until_close(&mut stream, T).await;
    assert_eq!(raw_status(&resp), Some(413), "{resp}");

    // A chunked body under the limit passes.
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"POST /prod/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        .await
        .unwrap();
    let resp = read_until_close(&mut stream, T).await;
    assert_eq!(raw_status(&resp), Some(200), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn malformed_framing_and_host_are_400() {
    let gw = TestGateway::start(&api(LIMITS, "")).await;
    let cases: [&[u8]; 3] = [
        b"GET /prod/echo HTTP/1.1\r\n\r\n",
        b"GET /prod/echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"POST /prod/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for case in cases {
        let resp = raw_request(gw.addr, case, T).await;
        assert_eq!(raw_status(&resp), Some(400), "{}\n{resp}", String::from_utf8_lossy(case));
    }
    let resp = raw_request(gw.addr, b"GET /prod/echo HTTP/1.1\r\n\r\n", T).await;
    assert!(resp.contains(r#"{"message":"Missing Host header"}"#), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_slow_body_is_cut_off() {
    let gw = TestGateway::start(&api(LIMITS, "")).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(b"POST /prod/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc").await.unwrap();
    // Trickle a byte now and then, never finishing within the 500 ms body deadline.
    let started = std::time::Instant::now();
    let mut resp = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stream.write_all(b"d").await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
            resp.push_str(&String::from_utf8_lossy(&buf[..n]));
            break;
        }
    }
    resp.push_str(&read_until_close(&mut stream, Duration::from_secs(2)).await);
    assert_eq!(raw_status(&resp), Some(408), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(5));
    gw.shutdown().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let gw = TestGateway::start(&api(LIMITS, "")).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(b"GET /prod/echo HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(raw_status(&String::from_utf8_lossy(&buf[..n])), Some(200));
    // Keep-alive, then nothing: the server closes after the 300 ms idle timeout.
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "connection still open: {closed:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_cap_get_503() {
    let gw = TestGateway::start(&api("max_connections = 1", "")).await;
    let _held = TcpStream::connect(gw.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resp = raw_request(gw.addr, b"GET /prod/echo HTTP/1.1\r\nHost: x\r\n\r\n", T).await;
    assert_eq!(raw_status(&resp), Some(503), "{resp}");
    assert!(resp.contains(r#"{"message":"Service Unavailable"}"#), "{resp}");
    drop(_held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let resp = raw_request(gw.addr, b"GET /prod/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", T).await;
    assert_eq!(raw_status(&resp), Some(200), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn tls_with_alpn_serves_http2_and_http1() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let listener = format!(
        "[[listeners]]\naddress = \"127.0.0.1:0\"\ntls = {{ cert = \"{}\", key = \"{}\" }}",
        cert_path.display(),
        key_path.display()
    );
    let gw = TestGateway::start(&api(LIMITS, &listener)).await;
    let url = format!("https://{}/prod/echo", gw.addrs[0]);
    let h2 = reqwest::Client::builder().danger_accept_invalid_certs(true).no_proxy().build().unwrap();
    let r = h2.get(&url).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"ok":true}"#);
    let h1 = reqwest::Client::builder().danger_accept_invalid_certs(true).http1_only().no_proxy().build().unwrap();
    let r = h1.get(&url).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.status(), 200);
    // Plain HTTP/2 (prior knowledge) on the cleartext listener.
    let h2c = reqwest::Client::builder().http2_prior_knowledge().no_proxy().build().unwrap();
    let r = h2c.get(gw.url("/prod/echo")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight() {
    let backend = Backend::start().await;
    let extra = format!(
        r#"[apis.e.resources."/slow".resourceMethods.GET.methodIntegration]
type = "HTTP_PROXY"
uri = "http://{}/slow"
"#,
        backend.addr
    );
    let mut gw = TestGateway::start(&api(LIMITS, &extra)).await;
    let url = gw.url("/prod/slow?delay_ms=600");
    let in_flight = tokio::spawn(async move { client().get(url).send().await.map(|r| r.status()) });
    // Shut down once the request is with the backend (however slow the machine is to get it
    // there), while the gateway waits for the answer.
    let started = std::time::Instant::now();
    while backend.received.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the request never reached the backend");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = gw.addr;
    let shutdown = gw.begin_shutdown();
    assert_eq!(in_flight.await.unwrap().unwrap(), 200);
    shutdown.await.unwrap();
    // No longer accepting.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_slow_head_is_cut_off_but_an_idle_keep_alive_connection_is_not() {
    let gw = TestGateway::start(&api("header_read_timeout_ms = 300\nidle_timeout_ms = 5000", "")).await;
    let mut buf = vec![0u8; 4096];

    // Half a head, then nothing: closed after the 300 ms header timeout.
    let mut slow = TcpStream::connect(gw.addr).await.unwrap();
    slow.write_all(b"GET /prod/echo HTTP/1.1\r\nHo").await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "slow head not cut off: {closed:?}");

    // A keep-alive connection idle for longer than the header timeout (but not the idle
    // timeout) is still usable.
    let mut ka = TcpStream::connect(gw.addr).await.unwrap();
    ka.write_all(b"GET /prod/echo HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let n = ka.read(&mut buf).await.unwrap();
    assert_eq!(raw_status(&String::from_utf8_lossy(&buf[..n])), Some(200));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    ka.write_all(b"GET /prod/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let resp = read_until_close(&mut ka, T).await;
    assert_eq!(raw_status(&resp), Some(200), "{resp}");
    gw.shutdown().await;
}
