//! HTTP_PROXY integrations against a local backend.

use std::time::Duration;

use wasmgate_tests::{Backend, TestGateway, client, dead_addr, echoed_header, raw_request};

fn api(backend: std::net::SocketAddr, dead: std::net::SocketAddr) -> String {
    format!(
        r#"
version = 1
[apis.p.stages.prod]
variables = {{ backend = "{backend}", suffix = "from-stage" }}

[apis.p.resources."/{{proxy+}}".resourceMethods.ANY.methodIntegration]
type = "HTTP_PROXY"
uri = "http://{backend}/base/{{proxy}}"
requestParameters = {{ "integration.request.path.proxy" = "method.request.path.proxy", "integration.request.header.X-Stage" = "context.stage", "integration.request.querystring.added" = "stageVariables.suffix" }}

[apis.p.resources."/stagevar".resourceMethods.GET.methodIntegration]
type = "HTTP_PROXY"
uri = "http://${{stageVariables.backend}}/via-stage-variable"

[apis.p.resources."/slow".resourceMethods.GET.methodIntegration]
type = "HTTP_PROXY"
uri = "http://{backend}/slow"
timeoutInMillis = 200

[apis.p.resources."/dead".resourceMethods.GET.methodIntegration]
type = "HTTP_PROXY"
uri = "http://{dead}/nothing-here"

[apis.p.resources."/as-post".resourceMethods.GET.methodIntegration]
type = "HTTP_PROXY"
httpMethod = "POST"
uri = "http://{backend}/post"
"#
    )
}

async fn setup() -> (TestGateway, Backend) {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&api(backend.addr, dead_addr().await)).await;
    (gw, backend)
}

#[tokio::test]
async fn forwards_the_request_and_remaps_response_headers() {
    let (gw, backend) = setup().await;
    // HTTP/1.1 copies the backend's header lines as they are; HTTP/2 turns them into a map.
    let h2c = reqwest::Client::builder().http2_prior_knowledge().no_proxy().build().unwrap();
    for (c, version) in [(client(), reqwest::Version::HTTP_11), (h2c, reqwest::Version::HTTP_2)] {
        forwards_and_remaps(&gw, &c, version, &backend).await;
    }
    gw.shutdown().await;
}

async fn forwards_and_remaps(gw: &TestGateway, c: &reqwest::Client, version: reqwest::Version, backend: &Backend) {
    let r = c
        .post(gw.url("/prod/a/b%2Fc/d?x=1&x=2&y=%20z"))
        .header("x-custom", "kept")
        .header("te", "trailers")
        .header("max-forwards", "3")
        .header("content-md5", "Q2hlY2sgSW50ZWdyaXR5IQ==")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.version()), (200, version));
    let h = r.headers().clone();
    assert_eq!(h["x-backend"], "yes");
    assert_eq!(h["x-amzn-remapped-server"], "test-backend");
    let cookies: Vec<_> = h.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(cookies, ["a=1", "b=2"], "repeated headers all come through");
    assert!(h.contains_key("x-amzn-remapped-content-length"));
    assert!(h.contains_key("x-amzn-remapped-date"));
    // The gateway's request id, not the backend's.
    let ids: Vec<_> = h.get_all("x-amzn-requestid").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(ids.len() == 1 && ids[0].len() == 36, "{ids:?}");
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    // The greedy value is inserted as it was sent (not decoded), the query string is kept
    // and the mapped parameter appended.
    assert_eq!(echo["uri"], "/base/a/b%2Fc/d?x=1&x=2&y=%20z&added=from-stage");
    assert_eq!(echo["body"], "payload");
    assert_eq!(echo["bodyLength"], 7);
    assert_eq!(echoed_header(&echo, "x-custom"), Some("kept"));
    assert_eq!(echoed_header(&echo, "x-stage"), Some("prod"));
    assert_eq!(echoed_header(&echo, "x-amzn-apigateway-api-id"), Some("p"));
    // The backend's Host, not the client's; the dropped headers are gone.
    assert_eq!(echoed_header(&echo, "host"), Some(&*format!("{}", backend.addr)));
    for dropped in ["te", "max-forwards", "content-md5"] {
        assert_eq!(echoed_header(&echo, dropped), None, "{dropped} should be dropped");
    }
}

#[tokio::test]
async fn stage_variables_and_backend_method() {
    let (gw, _backend) = setup().await;
    let c = client();
    let echo: serde_json::Value = c.get(gw.url("/prod/stagevar")).send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["uri"], "/via-stage-variable");
    let echo: serde_json::Value = c.get(gw.url("/prod/as-post")).send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    gw.shutdown().await;
}

#[tokio::test]
async fn timeout_and_dead_backend() {
    let (gw, _backend) = setup().await;
    let c = client();
    let r = c.get(gw.url("/prod/slow?delay_ms=3000")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(r.headers()["x-amzn-errortype"], "InternalServerErrorException");
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Endpoint request timed out"}"#);
    // Fast enough: fine.
    assert_eq!(c.get(gw.url("/prod/slow?delay_ms=1")).send().await.unwrap().status(), 200);

    let r = c.get(gw.url("/prod/dead")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(r.headers()["x-amzn-errortype"], "InternalServerErrorException");
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Network error communicating with endpoint"}"#);
    gw.shutdown().await;
}

#[tokio::test]
async fn mapped_path_values_cannot_walk_up_the_backend_path() {
    let (gw, _backend) = setup().await;
    let resp = raw_request(
        gw.addr,
        b"GET /prod/a/../../admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    let body = &resp[resp.find("\r\n\r\n").unwrap() + 4..];
    let echo: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"));
    assert_eq!(echo["uri"], "/base/a/%2E%2E/%2E%2E/admin?added=from-stage");
    gw.shutdown().await;
}

/// A backend that answers every request on a connection with `response`, then closes it.
async fn scripted_backend(response: &'static [u8]) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(response).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn backend_header_lines_are_relayed_as_sent_or_refused() {
    let good = scripted_backend(
        b"HTTP/1.1 200 OK\r\nX-Mixed-Case: Yes\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\nX-AMZN-RequestId: theirs\r\nServer: scripted\r\nConnection: close\r\n\r\nok",
    )
    .await;
    let bad = scripted_backend(b"HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok").await;
    let gw = TestGateway::start(&format!(
        r#"
version = 1
[apis.p.stages.prod]
[apis.p.resources."/good".resourceMethods.GET.methodIntegration]
type = "HTTP_PROXY"
uri = "http://{good}/"
[apis.p.resources."/bad".resourceMethods.GET.methodIntegration]
type = "HTTP_PROXY"
uri = "http://{bad}/"
"#
    ))
    .await;
    let resp = raw_request(
        gw.addr,
        b"GET /prod/good HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, "ok", "{resp}");
    let lines: Vec<&str> = head.split("\r\n").collect();
    // The backend's letter case; its framing, `Connection` and `Server` renamed (in its
    // letter case for the value, AWS's lower-case name); hop-by-hop and its request id gone.
    assert!(lines.contains(&"X-Mixed-Case: Yes"), "{resp}");
    assert!(lines.contains(&"x-amzn-remapped-content-length: 2"), "{resp}");
    assert!(lines.contains(&"x-amzn-remapped-server: scripted"), "{resp}");
    assert!(lines.contains(&"x-amzn-remapped-connection: close"), "{resp}");
    assert!(lines.contains(&"content-length: 2"), "{resp}");
    let lower = head.to_ascii_lowercase();
    assert!(!lower.contains("keep-alive") && !lower.contains("theirs"), "{resp}");
    assert_eq!(lower.matches("x-amzn-requestid: ").count(), 1, "{resp}");

    let r = client().get(gw.url("/prod/bad")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Network error communicating with endpoint"}"#);
    gw.shutdown().await;
}
