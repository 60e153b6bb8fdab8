//! Integration and transform plugins, plugin config and plugin state.

use wasmgate_tests::{Backend, TestGateway, client, dead_addr};

const API: &str = r#"
version = 1
[plugins.echo-a]
path = "%{guest:fixture-echo}"
config = { greeting = "hi from a" }
[plugins.echo-b]
path = "%{guest:fixture-echo}"
limits = { warm_instances = 2 }
[plugins.upper]
path = "%{guest:fixture-upper}"

[apis.p.stages.prod]
variables = { color = "blue" }

[apis.p.resources."/a/{id}".resourceMethods.POST.methodIntegration]
type = "PLUGIN"
plugin = "echo-a"
requestParameters = { "integration.request.header.X-Color" = "stageVariables.color", "integration.request.querystring.from" = "'gateway'" }
[apis.p.resources."/b".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "echo-b"

[apis.p.resources."/shout".resourceMethods.POST.methodIntegration]
type = "PLUGIN"
plugin = "echo-a"
request_transform = { plugin = "upper" }

[apis.p.resources."/mock-shout".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
response_transform = { plugin = "upper", template = "tpl" }
integrationResponses."200".responseTemplates = { "application/json" = "quiet words" }

[apis.p.resources."/selected".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "echo-a"
integrationResponses."201".selectionPattern = "200"
integrationResponses."201".responseTemplates = { "application/json" = '{"mapped":true}' }
"#;

#[tokio::test]
async fn integration_plugin_sees_the_request_and_its_config() {
    let gw = TestGateway::start(API).await;
    let c = client();
    let r = c.post(gw.url("/prod/a/42?q=1&q=2")).body("hello").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/a/42");
    assert_eq!(v["body"], "hello");
    assert_eq!(v["pathParameters"], serde_json::json!([["id", "42"]]));
    assert_eq!(v["query"], serde_json::json!([["q", "1"], ["q", "2"], ["from", "gateway"]]));
    assert_eq!(v["stage"], "prod");
    assert_eq!(v["greeting"], "hi from a");
    assert_eq!(v["stageVariables"], serde_json::json!([["color", "blue"]]));
    assert_eq!(v["requestId"].as_str().unwrap().len(), 36);
    gw.shutdown().await;
}

#[tokio::test]
async fn plugin_state_is_per_plugin_and_survives_restarts() {
    let gw = TestGateway::start(API).await;
    let c = client();
    let calls = |path: &'static str| {
        let c = c.clone();
        let url = gw.url(path);
        async move {
            let v: serde_json::Value = c
                .request(if path.starts_with("/prod/a") { reqwest::Method::POST } else { reqwest::Method::GET }, url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["calls"].as_i64().unwrap()
        }
    };
    assert_eq!(calls("/prod/a/1").await, 1);
    assert_eq!(calls("/prod/a/1").await, 2);
    // echo-b is the same component under another name: its own namespace, its own counter.
    assert_eq!(calls("/prod/b").await, 1);
    assert_eq!(calls("/prod/b").await, 2); // a warm instance keeps working
    assert_eq!(calls("/prod/a/1").await, 3);

    // A new gateway on the same state directory continues the counts.
    let dir = gw.dir.path().to_path_buf();
    let manifest = std::fs::read_to_string(dir.join("gateway.toml")).unwrap();
    let gateway = gw.gateway.clone();
    let _dir = gw.shutdown().await;
    drop(gateway); // releases the state database
    let config = wasmgate::manifest::parse(&manifest, &dir, "gateway.toml").unwrap();
    let again = tokio::task::spawn_blocking(move || wasmgate::gateway::Gateway::new(config)).await.unwrap().unwrap();
    let server = wasmgate::server::start(
        std::sync::Arc::new(again),
        &[wasmgate::manifest::Listener { address: "127.0.0.1:0".parse().unwrap(), tls: None }],
    )
    .await
    .unwrap();
    let v: serde_json::Value =
        c.post(format!("http://{}/prod/a/1", server.addrs[0])).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["calls"], 4);
    server.shutdown().await;
}

#[tokio::test]
async fn transforms_rewrite_bodies_in_both_phases() {
    let gw = TestGateway::start(API).await;
    let c = client();
    let v: serde_json::Value =
        c.post(gw.url("/prod/shout")).body("make me loud").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["body"], "MAKE ME LOUD");

    let r = c.get(gw.url("/prod/mock-shout")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-transformed"], "response");
    assert_eq!(r.headers()["x-template"], "tpl");
    assert_eq!(r.text().await.unwrap(), "");
    gw.shutdown().await;
}

#[tokio::test]
async fn integration_responses_map_plugin_statuses() {
    let gw = TestGateway::start(API).await;
    let r = client().get(gw.url("/prod/selected")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.text().await.unwrap(), r#"{"mapped":true}"#);
    gw.shutdown().await;
}

#[tokio::test]
async fn plugin_state_isolation_ttl_and_limits() {
    let m = r#"
version = 1
[plugins.one]
path = "%{guest:fixture-echo}"
[plugins.two]
path = "%{guest:fixture-echo}"
limits = { state_mb = 1 }
[apis.s.stages.prod]
[apis.s.resources."/one".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "one"
[apis.s.resources."/two".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "two"
"#;
    let gw = TestGateway::start(m).await;
    let c = client();
    let call = |path: String| {
        let c = c.clone();
        async move { c.get(path).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    // Isolation: the same key in two plugins.
    call(gw.url("/prod/one?set=shared")).await;
    assert_eq!(call(gw.url("/prod/one?get=shared")).await["stored"], true);
    assert_eq!(call(gw.url("/prod/two?get=shared")).await["stored"], false);

    // TTL: present, then gone.
    call(gw.url("/prod/one?set=brief&ttl=1")).await;
    assert_eq!(call(gw.url("/prod/one?get=brief")).await["stored"], true);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(call(gw.url("/prod/one?get=brief")).await["stored"], false);

    // Value limit (1 MiB), and the namespace quota of `two` (1 MiB).
    let v = call(gw.url("/prod/one?big=1048577")).await;
    assert_eq!(v["stateError"], "value-too-large 1048576");
    let v = call(gw.url("/prod/two?big=700000&key=a")).await;
    assert_eq!(v["stateError"], serde_json::Value::Null);
    let v = call(gw.url("/prod/two?big=700000&key=b")).await;
    assert_eq!(v["stateError"], "quota-exceeded 1048576");
    // `one` has the default quota: the same write is fine there.
    let v = call(gw.url("/prod/one?big=700000&key=b")).await;
    assert_eq!(v["stateError"], serde_json::Value::Null);
    gw.shutdown().await;
}

#[tokio::test]
async fn outbound_http_reaches_only_granted_hosts() {
    let backend = Backend::start().await;
    let other = dead_addr().await;
    let m = format!(
        r#"
version = 1
[plugins.fetch]
path = "%{{guest:fixture-fetch}}"
allowed_outbound_hosts = ["{}"]
[apis.f.stages.prod]
[apis.f.resources."/f".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "fetch"
"#,
        backend.addr
    );
    let gw = TestGateway::start(&m).await;
    let c = client();
    let fetch = |url: String| {
        let (c, gw_url) = (c.clone(), gw.url("/prod/f"));
        async move { c.get(gw_url).query(&[("url", url)]).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let v = fetch(format!("http://{}/ok", backend.addr)).await;
    assert_eq!(v["status"], 200, "{v}");
    let v = fetch(format!("http://{other}/nope")).await;
    assert_eq!(v["error"], format!("not-allowed {other}"));
    let v = fetch(format!("http://localhost:{}/nope", backend.addr.port())).await;
    assert_eq!(v["error"], format!("not-allowed localhost:{}", backend.addr.port()));
    let v = fetch(format!("https://{}/tls", backend.addr)).await;
    assert!(v["error"].as_str().unwrap().starts_with("invalid-url"), "{v}");
    gw.shutdown().await;
}

/// A warm instance's call starts with a fresh epoch deadline: a quick guest yields to the
/// executor only when a tick happens to fall inside its call. (Before, a reused store kept
/// the deadline of its first call, long past, so every later call yielded at once.)
#[tokio::test]
async fn warm_calls_yield_only_when_a_tick_falls_in_them() {
    let gw = TestGateway::start(
        r#"
version = 1
[plugins.auth]
path = "%{guest:fixture-hostile}"
config = { mode = "ok" }
limits = { warm_instances = 1 }
[apis.a.stages.prod]
[apis.a.authorizers.auth]
type = "TOKEN"
plugin = "auth"
authorizerResultTtlInSeconds = 0
[apis.a.resources."/r".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "auth"
methodIntegration = { type = "MOCK", requestTemplates = { "application/json" = '{"statusCode": 200}' }, integrationResponses = { "200" = {} } }
"#,
    )
    .await;
    const CALLS: u64 = 20;
    for _ in 0..CALLS {
        let r = client().get(gw.url("/prod/r")).header("authorization", "t").send().await.unwrap();
        assert_eq!(r.status(), 200);
        // Several ticks pass between calls, so a deadline kept from an earlier call would
        // have passed by the next one.
        tokio::time::sleep(wasmgate::runtime::EPOCH_TICK * 3).await;
    }
    let yields = gw.gateway.snapshot().plugins["auth"].epoch_yields();
    // A call takes a small part of a tick, so few calls see one; every call saw one before.
    assert!(yields <= CALLS / 2, "{yields} yields in {CALLS} calls");
    gw.shutdown().await;
}
