//! Mapping templates in the pipeline: VTL rendered by the built-in `vtl` plugin, golden cases
//! from responses recorded on AWS (`../shared/aws-snapshots`), and `wasmgate render-template`.

use std::path::PathBuf;

use wasmgate_tests::{TestGateway, client};

/// A recorded AWS response: `recorded-content.<key>` of test `<test>` in `<file>`.
fn snapshot(file: &str, test: &str, key: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/aws-snapshots").join(file);
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap();
    let (_, entry) = all
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.ends_with(&format!("::{test}")))
        .unwrap_or_else(|| panic!("no snapshot {test} in {file}"));
    entry["recorded-content"][key].clone()
}

/// `test_mock_integration_response`: a MOCK whose response template reads the path parameter
/// through `$input.params()`, for every passthrough behaviour, GET and POST.
#[tokio::test]
async fn mock_integration_response_matches_aws() {
    for behaviour in ["WHEN_NO_MATCH", "NEVER", "WHEN_NO_TEMPLATES"] {
        let manifest = format!(
            r#"
version = 1
[apis.mock.stages.local]
[apis.mock.resources."/{{id}}".resourceMethods.GET.methodIntegration]
type = "MOCK"
passthroughBehavior = "{behaviour}"
requestTemplates = {{ "application/json" = '{{"statusCode":200}}' }}
integrationResponses."200".responseTemplates = {{ "application/json" = '{{"statusCode": 200, "id": $input.params().path.id}}' }}
[apis.mock.resources."/{{id}}".resourceMethods.POST.methodIntegration]
type = "MOCK"
passthroughBehavior = "{behaviour}"
requestTemplates = {{ "application/json" = '{{"statusCode":200}}' }}
integrationResponses."200".responseTemplates = {{ "application/json" = '{{"statusCode": 200, "id": $input.params().path.id}}' }}
"#
        );
        let gw = TestGateway::start(&manifest).await;
        for method in ["GET", "POST"] {
            let test = format!("test_mock_integration_response[{behaviour}-UrlType.PATH_BASED-{method}]");
            let expected = snapshot("test_apigateway_basic.snapshot.json", &test, "mock-response");
            let r = client()
                .request(method.parse().unwrap(), gw.url("/local/42"))
                .header("content-type", "application/json")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{test}");
            let text = r.text().await.unwrap();
            assert_eq!(text, r#"{"statusCode": 200, "id": 42}"#, "{test}");
            let got: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(got, expected, "{test}");
        }
    }
}

const TEMPLATED: &str = r#"
version = 1
[apis.shop.stages.prod]
variables = { greeting = "hello" }

[apis.shop.resources."/orders/{id}".resourceMethods.POST.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '''
#set($qty = $input.path('$.quantity'))
#if($qty > 10)
{"statusCode": 400}
#else
{"statusCode": 200}
#end
''' }
[apis.shop.resources."/orders/{id}".resourceMethods.POST.methodIntegration.integrationResponses."200"]
responseTemplates = { "application/json" = '''
#set($context.responseOverride.header.X-Order = $input.params('id'))
{"id": "$input.params('id')", "say": "$stageVariables.greeting", "q": "$input.params('q')", "method": "$context.httpMethod", "path": "$context.resourcePath", "missing": "$context.authorizer.nope"}''' }
[apis.shop.resources."/orders/{id}".resourceMethods.POST.methodIntegration.integrationResponses."400"]
selectionPattern = "4\\d{2}"
responseTemplates = { "application/json" = '''#set($context.responseOverride.status = 422){"error": "too many"}''' }

[apis.shop.resources."/literal".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '{"plain": "no dollars here"}' }
"#;

#[tokio::test]
async fn templates_drive_status_selection_and_overrides() {
    let gw = TestGateway::start(TEMPLATED).await;
    let c = client();

    let r = c.post(gw.url("/prod/orders/7?q=fast")).body(r#"{"quantity": 3}"#).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-order"], "7");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"id": "7", "say": "hello", "q": "fast", "method": "POST", "path": "/orders/{id}", "missing": ""})
    );

    // The request template picks 400; its response template overrides the status.
    let r = c.post(gw.url("/prod/orders/7")).body(r#"{"quantity": 30}"#).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.text().await.unwrap(), r#"{"error": "too many"}"#);

    // A payload that is not JSON, read through $input.path: 400 with API Gateway's message.
    let r = c.post(gw.url("/prod/orders/7")).body("quantity=3").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "BadRequestException");
    let body: serde_json::Value = r.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("Could not parse request body into json:"), "{message}");

    let r = c.get(gw.url("/prod/literal")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), r#"{"plain": "no dollars here"}"#);
}

#[tokio::test]
async fn an_invalid_template_is_refused_with_its_position() {
    let manifest = r##"
version = 1
[apis.a.stages.s]
[apis.a.resources."/x".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = "#if($a)\nno end" }
"##;
    let err = TestGateway::try_start(manifest).await.err().expect("the manifest must be refused").to_string();
    assert!(err.contains("requestTemplates.\"application/json\""), "{err}");
    assert!(err.contains("invalid mapping template: line 1, column"), "{err}");
}

#[test]
fn render_template_cli() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("t.vtl");
    std::fs::write(
        &template,
        "#set($b = $input.path('$'))$b.name/$input.params('id')/$input.params('h')/$context.requestId/$stageVariables.v\n",
    )
    .unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, r#"{"name": "Ada"}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmgate-under-test"))
        .arg("render-template")
        .arg(&template)
        .arg("--body")
        .arg(&body)
        .args(["--params", r#"{"path":{"id":"7"},"querystring":{},"header":{"h":"x"}}"#])
        .args(["--context", r#"{"requestId":"r-1"}"#])
        .args(["--stage-variables", r#"{"v":"s"}"#])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Ada/7/x/r-1/s\n");

    std::fs::write(&template, "ok\n#foreach($x in $list)\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmgate-under-test"))
        .arg("render-template")
        .arg(&template)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2, column"), "{err}");
}
