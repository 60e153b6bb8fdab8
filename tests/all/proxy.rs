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
    let (gw, _backend) = setup().await;
    let r = client()
        .post(gw.url("/prod/a/b%2Fc/d?x=1&x=2&y=%20z"))
        .header("x-custom", "kept")
        .header("te", "trailers")
        .header("max-forwards", "3")
        .header("content-md5", "Q2hlY2sgSW50ZWdyaXR5IQ==")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["x-backend"], "yes");
    assert_eq!(h["x-amzn-remapped-server"], "test-backend");
    let cookies: Vec<_> = h.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(cookies, ["a=1", "b=2"], "repeated headers all come through");
    assert!(h.contains_key("x-amzn-remapped-content-length"));
    assert!(h.contains_key("x-amzn-remapped-date"));
    assert!(h.contains_key("x-amzn-requestid"));
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
    assert_eq!(echoed_header(&echo, "host"), Some(&*format!("{}", _backend.addr)));
    for dropped in ["te", "max-forwards", "content-md5"] {
        assert_eq!(echoed_header(&echo, dropped), None, "{dropped} should be dropped");
    }
    gw.shutdown().await;
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
