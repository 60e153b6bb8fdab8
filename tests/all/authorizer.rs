//! CUSTOM authorizers: the quickstart's Rust authorizer, the built-in token authorizer,
//! identity sources, validation expressions, the decision cache and the context handed on.

use wasmgate_tests::{TestGateway, client};

fn api(authorizers: &str, plugins: &str) -> String {
    format!(
        r#"
version = 1
{plugins}
[plugins.echo]
path = "%{{guest:fixture-echo}}"

[apis.a.stages.prod]
variables = {{ tenant = "t1" }}
{authorizers}

[apis.a.resources."/secret".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "auth"
[apis.a.resources."/secret".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "echo"

[apis.a.resources."/secret2".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "auth"
[apis.a.resources."/secret2".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "echo"

[apis.a.resources."/open".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "echo"
"#
    )
}

const QUICKSTART_AUTH: &str = r#"
[plugins.qs]
path = "%{guest:quickstart-authorizer}"
"#;

#[tokio::test]
async fn allow_deny_unauthorized() {
    let m = api(
        r#"[apis.a.authorizers.auth]
type = "TOKEN"
plugin = "qs"
identitySource = "method.request.header.Authorization"
authorizerResultTtlInSeconds = 0"#,
        QUICKSTART_AUTH,
    );
    let gw = TestGateway::start(&m).await;
    let c = client();

    let r = c.get(gw.url("/prod/secret")).header("authorization", "allow").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.unwrap();
    // The principal and context reach the integration.
    assert_eq!(echo["principalId"], "quickstart-user");
    assert_eq!(echo["authorizer"], serde_json::json!([["plan", "free"]]));

    let r = c.get(gw.url("/prod/secret")).header("authorization", "deny").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-amzn-errortype"], "AccessDeniedException");
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"message":"User is not authorized to access this resource with an explicit deny"}"#
    );

    for token in [Some("something else"), Some(""), None] {
        let mut req = c.get(gw.url("/prod/secret"));
        if let Some(t) = token {
            req = req.header("authorization", t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "token {token:?}");
        assert_eq!(r.headers()["x-amzn-errortype"], "UnauthorizedException");
        assert_eq!(r.text().await.unwrap(), r#"{"message":"Unauthorized"}"#);
    }

    // A method without authorization is not affected.
    assert_eq!(c.get(gw.url("/prod/open")).send().await.unwrap().status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn builtin_token_authorizer_uses_its_config() {
    let plugins = r#"
[plugins.tokens]
builtin = "token-authorizer"
config = { tokens = { "s3cret" = "alice" }, denied = ["revoked"] }
"#;
    let m = api(
        r#"[apis.a.authorizers.auth]
type = "TOKEN"
plugin = "tokens"
identitySource = "method.request.header.X-Api-Token""#,
        plugins,
    );
    let gw = TestGateway::start(&m).await;
    let c = client();
    let get = |t: &'static str| c.get(gw.url("/prod/secret")).header("x-api-token", t).send();
    let r = get("Bearer s3cret").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["principalId"], "alice");
    assert_eq!(get("revoked").await.unwrap().status(), 403);
    assert_eq!(get("other").await.unwrap().status(), 401);
    // The identity source is X-Api-Token, so Authorization alone is not enough.
    let r = c.get(gw.url("/prod/secret")).header("authorization", "s3cret").send().await.unwrap();
    assert_eq!(r.status(), 401);
    gw.shutdown().await;
}

const COUNTER: &str = r#"
[plugins.counter]
path = "%{guest:fixture-hostile}"
config = { mode = "count" }
"#;

async fn calls_seen(c: &reqwest::Client, url: String, token: &str) -> String {
    let r = c.get(url).header("authorization", token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.unwrap();
    echo["authorizer"][0][1].as_str().unwrap().to_string()
}

#[tokio::test]
async fn validation_expression_refuses_without_calling() {
    let m = api(
        r#"[apis.a.authorizers.auth]
type = "TOKEN"
plugin = "counter"
identityValidationExpression = "tok-[0-9]+"
authorizerResultTtlInSeconds = 0"#,
        COUNTER,
    );
    let gw = TestGateway::start(&m).await;
    let c = client();
    assert_eq!(calls_seen(&c, gw.url("/prod/secret"), "tok-1").await, "1");
    // Does not match: 401 and the plugin is not called (its counter does not move).
    let r = c.get(gw.url("/prod/secret")).header("authorization", "nope").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(calls_seen(&c, gw.url("/prod/secret"), "tok-2").await, "2");
    gw.shutdown().await;
}

#[tokio::test]
async fn decisions_are_cached_per_identity_for_the_ttl() {
    let m = api(
        r#"[apis.a.authorizers.auth]
type = "TOKEN"
plugin = "counter"
authorizerResultTtlInSeconds = 300"#,
        COUNTER,
    );
    let gw = TestGateway::start(&m).await;
    let c = client();
    assert_eq!(calls_seen(&c, gw.url("/prod/secret"), "a").await, "1");
    // Same token: served from the cache, the plugin is not called again.
    assert_eq!(calls_seen(&c, gw.url("/prod/secret"), "a").await, "1");
    // Another token: a new call.
    assert_eq!(calls_seen(&c, gw.url("/prod/secret"), "b").await, "2");
    // The same token on another method ARN: decided again (a decision is not a policy).
    assert_eq!(calls_seen(&c, gw.url("/prod/secret2"), "a").await, "3");
    assert_eq!(calls_seen(&c, gw.url("/prod/secret2"), "a").await, "3");
    gw.shutdown().await;
}

#[tokio::test]
async fn request_authorizer_needs_every_identity_source() {
    let m = api(
        r#"[apis.a.authorizers.auth]
type = "REQUEST"
plugin = "counter"
identitySource = "method.request.header.X-User, method.request.querystring.key, stageVariables.tenant"
authorizerResultTtlInSeconds = 0"#,
        COUNTER,
    );
    let gw = TestGateway::start(&m).await;
    let c = client();
    let ok = c.get(gw.url("/prod/secret?key=k")).header("x-user", "u").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let no_query = c.get(gw.url("/prod/secret")).header("x-user", "u").send().await.unwrap();
    assert_eq!(no_query.status(), 401);
    let empty_query = c.get(gw.url("/prod/secret?key=")).header("x-user", "u").send().await.unwrap();
    assert_eq!(empty_query.status(), 401);
    let no_header = c.get(gw.url("/prod/secret?key=k")).send().await.unwrap();
    assert_eq!(no_header.status(), 401);
    gw.shutdown().await;
}

/// What an authorizer reads through its `authorizer-request` handle: every method, for a
/// REQUEST authorizer on a resource with a path parameter; on fresh instances and, twice in a
/// row, on a reused one (each call lends a new handle).
#[tokio::test]
async fn the_request_handle_reads_every_part_of_the_request() {
    for warm in [0, 1] {
        let m = format!(
            r#"
version = 1
[plugins.inspect]
path = "%{{guest:fixture-hostile}}"
config = {{ mode = "inspect" }}
limits = {{ warm_instances = {warm} }}
[plugins.echo]
path = "%{{guest:fixture-echo}}"

[apis.a.stages.prod]
variables = {{ tenant = "t1" }}
[apis.a.authorizers.auth]
type = "REQUEST"
plugin = "inspect"
identitySource = "method.request.header.X-Probe"
authorizerResultTtlInSeconds = 0

[apis.a.resources."/items/{{id}}".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "auth"
[apis.a.resources."/items/{{id}}".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "echo"
"#
        );
        let gw = TestGateway::start(&m).await;
        for id in ["42", "43"] {
            let r = client()
                .get(gw.url(&format!("/prod/items/{id}?q=1&q=2&r=x")))
                .header("x-probe", "p0")
                .header("x-probe", "p1")
                .header("x-probe-2", "v")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let request_id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_string();
            let echo: serde_json::Value = r.json().await.unwrap();
            assert_eq!(echo["principalId"], "inspector");
            let context: std::collections::HashMap<String, String> = echo["authorizer"]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].as_str().unwrap().to_string()))
                .collect();
            let get = |k: &str| context.get(k).map(String::as_str).unwrap_or_else(|| panic!("no `{k}` in {context:?}"));
            assert_eq!(get("kind"), "REQUEST");
            assert_eq!(get("token"), "<none>");
            assert_eq!(get("methodArn"), format!("arn:aws:execute-api:us-east-1:123456789012:a/prod/GET/items/{id}"));
            assert_eq!(get("resource"), "/items/{id}");
            assert_eq!(get("path"), format!("/items/{id}"));
            assert_eq!(get("httpMethod"), "GET");
            // A repeated header: the last value, as the identity source reads it.
            assert_eq!(get("header"), "p1");
            assert_eq!(get("missingHeader"), "<none>");
            assert!(get("headerNames").split(',').any(|h| h == "host"), "{}", get("headerNames"));
            // Every value, in request order.
            assert_eq!(get("probeHeaders"), "x-probe=p0&x-probe=p1&x-probe-2=v");
            // Single-value lookups take the last value, as API Gateway's `queryStringParameters`.
            assert_eq!(get("queryParameter"), "2");
            assert_eq!(get("missingQueryParameter"), "<none>");
            assert_eq!(get("query"), "q=1&q=2&r=x");
            assert_eq!(get("pathParameters"), format!("id={id}"));
            assert_eq!(get("pathParameter"), id);
            assert_eq!(get("stage"), "prod");
            assert_eq!(get("apiId"), "a");
            assert_eq!(get("resourcePath"), "/items/{id}");
            assert_eq!(get("requestId"), request_id);
            assert_eq!(get("tenant"), "t1");
        }
        gw.shutdown().await;
    }
}

/// A TOKEN authorizer's handle: its kind and token.
#[tokio::test]
async fn a_token_authorizer_reads_its_token() {
    let m = r#"
version = 1
[plugins.inspect]
path = "%{guest:fixture-hostile}"
config = { mode = "inspect" }
[plugins.echo]
path = "%{guest:fixture-echo}"
[apis.a.stages.prod]
[apis.a.authorizers.auth]
type = "TOKEN"
plugin = "inspect"
authorizerResultTtlInSeconds = 0
[apis.a.resources."/s".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "auth"
[apis.a.resources."/s".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "echo"
"#;
    let gw = TestGateway::start(m).await;
    let r = client().get(gw.url("/prod/s")).header("authorization", "Bearer t0k").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.unwrap();
    let context = echo["authorizer"].as_array().unwrap();
    let get = |k: &str| context.iter().find(|kv| kv[0] == k).map(|kv| kv[1].as_str().unwrap().to_string());
    assert_eq!(get("kind").as_deref(), Some("TOKEN"));
    assert_eq!(get("token").as_deref(), Some("Bearer t0k"));
    assert_eq!(get("path").as_deref(), Some("/s"));
    gw.shutdown().await;
}
