//! Misbehaving guests fail only their own request, within their deadline, and the gateway
//! goes on serving.

use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use wasmgate_tests::{TestGateway, client};

/// One authorizer plugin per misbehaviour, each guarding its own resource, plus a healthy
/// route and a misbehaving integration per mode.
/// `socket` is a live listener: a guest that could connect to it would be let through.
fn manifest(socket: std::net::SocketAddr) -> String {
    // A file that certainly exists: a guest that could read it would be let through.
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut m = String::from(
        r#"
version = 1
[apis.h.stages.prod]
[apis.h.resources."/healthy".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '{"healthy":true}' }

[plugins.unlinked]
path = "%{guest:fixture-unlinked}"
limits = { warm_instances = 1 }
[apis.h.authorizers.unlinked]
type = "TOKEN"
plugin = "unlinked"
authorizerResultTtlInSeconds = 0
[apis.h.resources."/unlinked".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "unlinked"
methodIntegration = { type = "MOCK", requestTemplates = { "application/json" = '{"statusCode": 200}' }, integrationResponses = { "200" = {} } }
"#,
    );
    for mode in ["ok", "loop", "oom", "trap", "recursion", "fs", "socket", "env", "error"] {
        m.push_str(&format!(
            r#"
[plugins.{mode}]
path = "%{{guest:fixture-hostile}}"
config = {{ mode = "{mode}", addr = "{socket}", file = "{file}" }}
limits = {{ timeout_ms = 300, memory_mb = 16 }}
[apis.h.authorizers.{mode}]
type = "TOKEN"
plugin = "{mode}"
authorizerResultTtlInSeconds = 0
[apis.h.resources."/{mode}".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "{mode}"
methodIntegration = {{ type = "MOCK", requestTemplates = {{ "application/json" = '{{"statusCode": 200}}' }}, integrationResponses = {{ "200" = {{ responseTemplates = {{ "application/json" = "passed" }} }} }} }}
"#
        ));
    }
    for mode in ["loop", "trap", "error"] {
        m.push_str(&format!(
            r#"
[plugins.integration-{mode}]
path = "%{{guest:fixture-echo}}"
config = {{ mode = "{mode}" }}
limits = {{ timeout_ms = 300 }}
[apis.h.resources."/integration/{mode}".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "integration-{mode}"
"#
        ));
    }
    m
}

async fn assert_healthy(c: &reqwest::Client, gw: &TestGateway) {
    let r = c.get(gw.url("/prod/healthy")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"healthy":true}"#);
}

async fn start() -> (TestGateway, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = TestGateway::start(&manifest(listener.local_addr().unwrap())).await;
    (gw, listener)
}

#[tokio::test]
async fn each_misbehaviour_fails_its_own_request() {
    let (gw, listener) = start().await;
    let c = client();
    assert_eq!(c.get(gw.url("/prod/ok")).header("authorization", "t").send().await.unwrap().status(), 200);
    // `env` sees an empty environment, so it allows.
    let r = c.get(gw.url("/prod/env")).header("authorization", "t").send().await.unwrap();
    assert_eq!(r.status(), 200, "the plugin saw a non-empty environment");

    for mode in ["loop", "oom", "trap", "recursion", "fs", "socket", "error"] {
        let started = Instant::now();
        let r = c.get(gw.url(&format!("/prod/{mode}"))).header("authorization", "t").send().await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(r.status(), 500, "mode {mode}");
        assert_eq!(r.headers()["x-amzn-errortype"], "AuthorizerConfigurationException", "mode {mode}");
        assert_eq!(r.text().await.unwrap(), r#"{"message":null}"#, "mode {mode}");
        // Within its 300 ms deadline (generous bound for a loaded machine).
        assert!(elapsed < Duration::from_secs(5), "mode {mode} took {elapsed:?}");
        assert_healthy(&c, &gw).await;
    }
    // Nothing ever reached the socket the `socket` guest tried.
    let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
    assert!(accepted.is_err(), "a guest opened a connection");
    gw.shutdown().await;
}

#[tokio::test]
async fn misbehaving_integrations_answer_502_or_504() {
    let (gw, _listener) = start().await;
    let c = client();
    let r = c.get(gw.url("/prod/integration/loop")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Endpoint request timed out"}"#);
    for mode in ["trap", "error"] {
        let r = c.get(gw.url(&format!("/prod/integration/{mode}"))).send().await.unwrap();
        assert_eq!(r.status(), 502, "mode {mode}");
        assert_eq!(r.headers()["x-amzn-errortype"], "InternalServerErrorException");
        assert_eq!(r.text().await.unwrap(), r#"{"message":"Internal server error"}"#);
    }
    assert_healthy(&c, &gw).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn a_spinning_guest_does_not_stall_other_requests() {
    let (gw, _listener) = start().await;
    let c = client();
    // Keep several guests spinning at once; healthy requests are still answered.
    let spinning: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            let url = gw.url("/prod/loop");
            tokio::spawn(async move { c.get(url).header("authorization", "t").send().await.unwrap().status() })
        })
        .collect();
    for _ in 0..10 {
        assert_healthy(&c, &gw).await;
    }
    for s in spinning {
        assert_eq!(s.await.unwrap(), 500);
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn an_unlinked_import_traps_only_when_called_and_the_instance_is_not_reused() {
    let (gw, _listener) = start().await;
    let c = client();
    let get = |t: &'static str| c.get(gw.url("/prod/unlinked")).header("authorization", t).send();
    assert_eq!(get("fine").await.unwrap().status(), 200);
    assert_eq!(get("call-missing").await.unwrap().status(), 500);
    // The trapped instance was dropped; the next call gets a working one.
    assert_eq!(get("fine").await.unwrap().status(), 200);
    assert_eq!(get("call-missing").await.unwrap().status(), 500);
    assert_eq!(get("fine").await.unwrap().status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_full_instance_pool_answers_429_and_recovers() {
    let m = r#"
version = 1
[gateway]
max_plugin_instances = 2
[plugins.loop]
path = "%{guest:fixture-hostile}"
config = { mode = "loop" }
limits = { timeout_ms = 1500 }
[plugins.ok]
path = "%{guest:fixture-hostile}"
config = { mode = "ok" }
[apis.h.stages.prod]
[apis.h.authorizers.loop]
type = "TOKEN"
plugin = "loop"
authorizerResultTtlInSeconds = 0
[apis.h.authorizers.ok]
type = "TOKEN"
plugin = "ok"
authorizerResultTtlInSeconds = 0
[apis.h.resources."/loop".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "loop"
methodIntegration = { type = "MOCK", requestTemplates = { "application/json" = '{"statusCode": 200}' }, integrationResponses = { "200" = {} } }
[apis.h.resources."/ok".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "ok"
methodIntegration = { type = "MOCK", requestTemplates = { "application/json" = '{"statusCode": 200}' }, integrationResponses = { "200" = {} } }
"#;
    let gw = TestGateway::start(m).await;
    let c = client();
    let spinning: Vec<_> = (0..2)
        .map(|_| {
            let (c, url) = (c.clone(), gw.url("/prod/loop"));
            tokio::spawn(async move { c.get(url).header("authorization", "t").send().await.unwrap().status() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Both slots are spinning: no instance can be made. (On a loaded machine the guests may
    // start late: asked again until they have, well within their 1.5 s deadline.)
    let started = Instant::now();
    let r = loop {
        let r = c.get(gw.url("/prod/ok")).header("authorization", "t").send().await.unwrap();
        if r.status() != 200 || started.elapsed() > Duration::from_millis(800) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-amzn-errortype"], "TooManyRequestsException");
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Too Many Requests"}"#);
    for s in spinning {
        assert_eq!(s.await.unwrap(), 500);
    }
    // The slots are free again.
    assert_eq!(c.get(gw.url("/prod/ok")).header("authorization", "t").send().await.unwrap().status(), 200);
    gw.shutdown().await;
}
