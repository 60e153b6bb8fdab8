//! Parameter mapping (spec §1.5, §1.7, §1.8, §2.4): `requestParameters` from the body by
//! JSONPath, `$context.requestOverride.*` winning over mappings, `responseParameters` from
//! every integration response source, response templates reading the method request's
//! parameters, the full `$context`, and `$context.error.validationErrorString`.

use wasmgate_tests::{Backend, TestGateway, client, echoed_header};

/// An HTTP (non-proxy) integration to the test backend's echo, with body mappings, request
/// overrides and integration response mappings.
fn manifest(backend: &Backend) -> String {
    format!(
        r#"
version = 1
[apis.p.stages.prod]
variables = {{ tier = "gold" }}
[apis.p.resources."/orders/{{id}}".resourceMethods.POST.methodIntegration]
type = "HTTP"
httpMethod = "POST"
uri = "http://{addr}/backend/{{id}}/{{item}}"
requestTemplates = {{ "application/json" = '''
#set($context.requestOverride.header.x-over = "from-template")
#set($context.requestOverride.querystring.added = "by override")
#set($context.requestOverride.path.item = "it em/1")
$input.json('$')''' }}
[apis.p.resources."/orders/{{id}}".resourceMethods.POST.methodIntegration.requestParameters]
"integration.request.header.x-user" = "method.request.body.user.name"
"integration.request.header.x-age" = "method.request.body.user.age"
"integration.request.header.x-ids" = "method.request.body.items[*].id"
"integration.request.header.x-missing" = "method.request.body.nothing.here"
"integration.request.header.x-over" = "'from-mapping'"
"integration.request.querystring.first" = "method.request.body.items[0].id"
"integration.request.path.id" = "method.request.path.id"
"integration.request.path.item" = "'mapped-item'"
[apis.p.resources."/orders/{{id}}".resourceMethods.POST.methodIntegration.integrationResponses."200"]
responseTemplates = {{ "application/json" = '''{{"q": "$input.params('q')", "client": "$input.params().header.get('x-client')", "backendSaw": $input.json('$.uri'), "backendHeaders": $input.json('$.headers')}}''' }}
[apis.p.resources."/orders/{{id}}".resourceMethods.POST.methodIntegration.integrationResponses."200".responseParameters]
"method.response.header.x-server" = "integration.response.header.server"
"method.response.header.x-cookies" = "integration.response.multivalueheader.set-cookie"
"method.response.header.x-method" = "integration.response.body.method"
"method.response.header.x-length" = "integration.response.body.bodyLength"
"method.response.header.x-absent" = "integration.response.body.no.such"
"method.response.header.x-tier" = "stageVariables.tier"
"method.response.header.x-stage" = "context.stage"
"method.response.header.x-literal" = "'literal value'"
"#,
        addr = backend.addr
    )
}

#[tokio::test]
async fn body_mappings_overrides_and_response_mappings() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&manifest(&backend)).await;
    let c = client();
    let body = r#"{"user": {"name": "Ada", "age": 36}, "items": [{"id": "a1"}, {"id": 2}]}"#;
    let r = c
        .post(gw.url("/prod/orders/o%2F7?q=search"))
        .header("content-type", "application/json")
        .header("x-client", "tests")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let out: serde_json::Value = r.json().await.unwrap();

    // Integration response mappings.
    assert_eq!(h["x-server"], "test-backend");
    assert_eq!(h["x-cookies"], "a=1,b=2");
    assert_eq!(h["x-method"], "POST");
    // The backend got the template's output: `$input.json('$')`, compact.
    let sent = r#"{"user":{"name":"Ada","age":36},"items":[{"id":"a1"},{"id":2}]}"#;
    assert_eq!(h["x-length"], sent.len().to_string().as_str());
    assert!(h.get("x-absent").is_none());
    assert_eq!(h["x-tier"], "gold");
    assert_eq!(h["x-stage"], "prod");
    assert_eq!(h["x-literal"], "literal value");

    // The response template sees the method request's parameters, not the backend's.
    assert_eq!(out["q"], "search");
    assert_eq!(out["client"], "tests");

    // What the backend got: the request path parameter as the client encoded it, the
    // overridden path parameter encoded, the mapped query string plus the override, and the
    // body mappings (a string as it is, a number as JSON, several matches as a JSON array).
    let uri = out["backendSaw"].as_str().unwrap();
    assert_eq!(uri, "/backend/o%2F7/it%20em%2F1?first=a1&added=by+override");
    let echo = serde_json::json!({ "headers": out["backendHeaders"] });
    assert_eq!(echoed_header(&echo, "x-user"), Some("Ada"));
    assert_eq!(echoed_header(&echo, "x-age"), Some("36"));
    assert_eq!(echoed_header(&echo, "x-ids"), Some(r#"["a1",2]"#));
    assert_eq!(echoed_header(&echo, "x-missing"), None);
    assert_eq!(echoed_header(&echo, "x-over"), Some("from-template"));
    // Only mapped headers reach a non-proxy backend.
    assert_eq!(echoed_header(&echo, "x-client"), None);
}

#[tokio::test]
async fn a_body_mapping_needs_a_json_body() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&manifest(&backend)).await;
    let r = client()
        .post(gw.url("/prod/orders/1"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "BadRequestException");
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Invalid JSON in request body"}"#);
}

#[tokio::test]
async fn templates_see_the_whole_context() {
    let gw = TestGateway::start(
        r#"
version = 1
[gateway]
account_id = "111122223333"
[apis.c.stages.prod]
[apis.c.resources."/ctx".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '''
{"accountId": "$context.accountId", "requestTime": "$context.requestTime", "epoch": $context.requestTimeEpoch, "extended": "$context.extendedRequestId", "id": "$context.requestId", "caller": "$context.identity.caller", "callerIsNull": #if($context.identity.caller == $null)true#{else}false#end, "ip": "$context.identity.sourceIp"}''' }
"#,
    )
    .await;
    let r = client().get(gw.url("/prod/ctx")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_string();
    let text = r.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["accountId"], "111122223333");
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["extended"], id.as_str());
    assert_eq!(v["caller"], "");
    assert_eq!(v["callerIsNull"], true);
    assert_eq!(v["ip"], "127.0.0.1");
    // Common Log Format, the same instant as the epoch.
    let epoch = v["epoch"].as_u64().unwrap() / 1000;
    let expected = time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .unwrap()
        .format(time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"))
        .unwrap();
    assert_eq!(v["requestTime"], expected.as_str());
}

#[tokio::test]
async fn validation_errors_reach_gateway_response_templates() {
    let gw = TestGateway::start(
        r#"
version = 1
[apis.v.stages.prod]
[apis.v.requestValidators.body]
validateRequestBody = true
[apis.v.models.Pet]
schema = '{"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}'
[apis.v.gatewayResponses.BAD_REQUEST_BODY]
responseTemplates = { "application/json" = 'message=$context.error.message detail=$context.error.validationErrorString' }
[apis.v.resources."/pets".resourceMethods.POST]
requestValidatorId = "body"
requestModels = { "application/json" = "Pet" }
[apis.v.resources."/pets".resourceMethods.POST.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
"#,
    )
    .await;
    let r = client()
        .post(gw.url("/prod/pets"))
        .header("content-type", "application/json")
        .body(r#"{"name": 7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    let detail = text.strip_prefix("message=Invalid request body detail=").unwrap_or_else(|| panic!("{text}"));
    assert!(detail.starts_with('[') && detail.ends_with(']') && detail.contains("\"string\""), "{detail}");
}

#[tokio::test]
async fn plugin_integrations_map_their_headers_and_body() {
    let gw = TestGateway::start(
        r#"
version = 1
[plugins.echo]
path = "%{guest:fixture-echo}"
[apis.p.stages.prod]
[apis.p.resources."/items/{id}".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "echo"
requestParameters = { "integration.request.path.id" = "'from-mapping'" }
[apis.p.resources."/items/{id}".resourceMethods.GET.methodIntegration.integrationResponses."200".responseParameters]
"method.response.header.x-type" = "integration.response.header.Content-Type"
"method.response.header.x-id" = "integration.response.body.pathParameters[?@[0] == 'id'][1]"
"#,
    )
    .await;
    let r = client().get(gw.url("/prod/items/7")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-type"], "application/json");
    // `integration.request.path.*` replaces the plugin's path parameter.
    assert_eq!(r.headers()["x-id"], "from-mapping");
}
