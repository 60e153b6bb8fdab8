//! The gateway's HTTP/1.1 codec, byte by byte: pipelining, `Expect: 100-continue`, HTTP/1.0,
//! `HEAD`, chunked responses, and connections kept after a request whose body was not read.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wasmgate_tests::{Backend, TestGateway, raw_request, raw_status, read_until_close};

const T: Duration = Duration::from_secs(10);

fn api(backend: &Backend) -> String {
    format!(
        r#"
version = 1
[apis.h.stages.prod]
[apis.h.resources."/echo".resourceMethods.ANY.methodIntegration]
type = "MOCK"
requestTemplates = {{ "application/json" = '{{"statusCode": 200}}' }}
integrationResponses."200".responseTemplates = {{ "application/json" = '{{"ok":true}}' }}
[apis.h.resources."/up/{{proxy+}}".resourceMethods.ANY.methodIntegration]
type = "HTTP_PROXY"
uri = "http://{}/{{proxy}}"
requestParameters = {{ "integration.request.path.proxy" = "method.request.path.proxy" }}
"#,
        backend.addr
    )
}

/// Reads one response (head and a `Content-Length` body) from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if out.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(T, stream.read(&mut buf)).await.expect("response in time").unwrap();
        assert!(n > 0, "connection closed; got {text}");
        out.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&api(&backend)).await;
    let resp = raw_request(
        gw.addr,
        b"GET /prod/up/first HTTP/1.1\r\nHost: x\r\n\r\nPOST /prod/up/second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /prod/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        T,
    )
    .await;
    assert_eq!(resp.matches("HTTP/1.1 200 OK").count(), 3, "{resp}");
    let (first, second) = (resp.find(r#""uri":"/first""#).unwrap(), resp.find(r#""uri":"/second""#).unwrap());
    assert!(first < second && second < resp.find(r#"{"ok":true}"#).unwrap(), "{resp}");
    assert!(resp.contains(r#""bodyLength":3"#), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn expect_100_continue_is_answered_when_the_body_is_read() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&api(&backend)).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"PUT /prod/up/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(T, stream.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hello").await.unwrap();
    let resp = read_response(&mut stream).await;
    assert_eq!(raw_status(&resp), Some(200), "{resp}");
    assert!(resp.contains(r#""body":"hello""#), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn an_owed_100_continue_closes_the_connection_after_an_early_answer() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&api(&backend)).await;
    // No such resource: 403 before the body is read. The client still waits for its
    // `100 Continue` and never sends the body, so the connection cannot carry another request.
    let resp = raw_request(
        gw.addr,
        b"POST /prod/nowhere HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
        T,
    )
    .await;
    assert_eq!(raw_status(&resp), Some(403), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("connection: close"), "{resp}");
    assert!(!resp.contains("100 Continue"), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_hold_its_connection() {
    let backend = Backend::start().await;
    let manifest = format!("{}\n[gateway.limits]\nmax_connections = 1\nidle_timeout_ms = 300\n", api(&backend));
    let gw = TestGateway::start(&manifest).await;
    // 50 MB that this client never reads: the gateway's writes stall.
    let mut stuck = TcpStream::connect(gw.addr).await.unwrap();
    stuck.write_all(b"GET /prod/up/x?download=50000000 HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    // Once the stall passes the idle timeout the connection (the only one allowed) is freed.
    let mut served = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let resp = raw_request(gw.addr, b"GET /prod/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", T).await;
        if raw_status(&resp) == Some(200) {
            served = Some(resp);
            break;
        }
    }
    assert!(served.is_some(), "the stalled connection was never dropped");
    drop(stuck);
    gw.shutdown().await;
}

#[tokio::test]
async fn http_1_0_closes_unless_kept_alive() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&api(&backend)).await;
    let resp = raw_request(gw.addr, b"GET /prod/echo HTTP/1.0\r\n\r\n", T).await;
    assert_eq!(raw_status(&resp), Some(200), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("connection: close"), "{resp}");

    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    for _ in 0..2 {
        stream.write_all(b"GET /prod/echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await.unwrap();
        let resp = read_response(&mut stream).await;
        assert!(resp.to_ascii_lowercase().contains("connection: keep-alive"), "{resp}");
        assert!(resp.ends_with(r#"{"ok":true}"#), "{resp}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn head_has_a_length_and_no_body() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&api(&backend)).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"HEAD /prod/up/x HTTP/1.1\r\nHost: x\r\n\r\nGET /prod/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The HEAD answer carries the length of the body it does not send; the next answer follows
    // at once on the same connection.
    let mut out = String::new();
    while out.matches("HTTP/1.1 200").count() < 2 || !out.ends_with(r#"{"ok":true}"#) {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(T, stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "{out}");
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let head_answer = out[..out.rfind("HTTP/1.1 200").unwrap()].to_ascii_lowercase();
    assert!(head_answer.ends_with("\r\n\r\n"), "{out}");
    // Proxied: the backend's length comes remapped, and no made-up `content-length: 0`.
    assert!(head_answer.contains("x-amzn-remapped-content-length: "), "{out}");
    assert!(!head_answer.contains("\ncontent-length: 0"), "{out}");
    // A MOCK's HEAD answer carries the length of the body it leaves out.
    stream.write_all(b"HEAD /prod/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let resp = read_until_close(&mut stream, T).await.to_ascii_lowercase();
    assert!(resp.contains("\ncontent-length: 11\r\n") && resp.ends_with("\r\n\r\n"), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn bodies_of_unknown_length_go_out_chunked() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&api(&backend)).await;
    let resp =
        raw_request(gw.addr, b"GET /prod/up/s?stream=25000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", T).await;
    let (head, mut body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    let mut decoded = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            assert_eq!(rest, "\r\n");
            break;
        }
        decoded.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap();
    }
    assert_eq!(decoded, "s".repeat(25_000));
    // Plain HTTP/1.0 clients get the body until the connection closes instead.
    let resp = raw_request(gw.addr, b"GET /prod/up/s?stream=3000 HTTP/1.0\r\n\r\n", T).await;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding"), "{head}");
    assert_eq!(body, "s".repeat(3000));
    gw.shutdown().await;
}

#[tokio::test]
async fn an_unread_small_body_keeps_the_connection() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&api(&backend)).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    // No such resource: 403 before the body is read; the body is drained and the connection
    // serves the next request.
    let body = "b".repeat(2000);
    stream
        .write_all(format!("POST /prod/nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n{body}").as_bytes())
        .await
        .unwrap();
    assert_eq!(raw_status(&read_response(&mut stream).await), Some(403));
    stream.write_all(b"GET /prod/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let resp = read_until_close(&mut stream, T).await;
    assert_eq!(raw_status(&resp), Some(200), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn requests_that_are_not_http_get_400() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&api(&backend)).await;
    for bad in [&b"NOT A REQUEST\r\n\r\n"[..], b"GET /prod/echo HTTP/1.1\r\nBad Header\r\n\r\n"] {
        let resp = raw_request(gw.addr, bad, T).await;
        assert_eq!(raw_status(&resp), Some(400), "{resp}");
        assert!(resp.contains(r#"{"message":"Bad Request"}"#), "{resp}");
    }
    gw.shutdown().await;
}
