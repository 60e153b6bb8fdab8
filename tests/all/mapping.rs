//! Mapping templates in the pipeline: VTL rendered by the built-in `vtl` plugin, golden cases
//! from responses recorded on AWS (`../shared/aws-snapshots`), and `wasmgate render-template`.

use std::path::PathBuf;

use wasmgate_tests::{Backend, TestGateway, client};

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

/// `test_input_path_template_formatting`: how `$input.path` results render (Java maps, JSON
/// arrays, nulls), through an HTTP (non-proxy) integration whose backend echoes the body under
/// `json`.
#[tokio::test]
async fn input_path_formatting_matches_aws() {
    let backend = Backend::start().await;
    let routes = [
        ("path", r##"#set($result = $input.path("$.json"))$result"##),
        ("nested", r##"#set($result = $input.path("$.json"))$result.nested"##),
        ("list", r##"#set($result = $input.path("$.json"))$result[0]"##),
        ("to-string", r##"#set($result = $input.path("$.json"))$result.toString()"##),
        (
            "invalid-path",
            r##"#set($result = $input.path("$.nonExisting")){"body": $result, "nested": $result.nested, "isNull": #if( $result == $null )"true"#else"false"#end, "isEmptyString": #if( $result == "" )"true"#else"false"#end}"##,
        ),
        (
            "nested-list",
            r##"#set($result = $input.path("$.json.listValue")){"body": $result, "nested": $result.nested, "isNull": #if( $result == $null )"true"#else"false"#end, "isEmptyString": #if( $result == "" )"true"#else"false"#end}"##,
        ),
    ];
    let mut manifest = String::from("version = 1\n[apis.f.stages.dev]\n");
    for (path, template) in routes {
        let template = serde_json::to_string(template).unwrap(); // a TOML basic string is JSON-compatible here
        manifest.push_str(&format!(
            "[apis.f.resources.\"/{path}\".resourceMethods.POST.methodIntegration]\n\
             type = \"HTTP\"\nhttpMethod = \"POST\"\nuri = \"http://{}/json-echo\"\n\
             integrationResponses.\"200\".responseTemplates = {{ \"application/json\" = {template} }}\n",
            backend.addr
        ));
    }
    let gw = TestGateway::start(&manifest).await;
    let cases: [(&str, &str, Option<&str>); 13] = [
        ("dict-response", "path", Some(r#"{"foo": "bar"}"#)),
        ("json-list", "path", Some(r#"[{"foo": "bar"}]"#)),
        ("nested-dict", "nested", Some(r#"{"nested": {"foo": "bar"}}"#)),
        ("nested-list", "nested", Some(r#"{"nested": [{"foo": "bar"}]}"#)),
        ("dict-in-list", "list", Some(r#"[{"foo": "bar"}]"#)),
        ("list-with-nested-list", "list", Some(r#"[[{"foo": "bar"}]]"#)),
        ("dict-with-nested-list", "path", Some(r#"{"foo": [{"nested": "bar"}]}"#)),
        ("bigger-dict", "path", Some(r#"{"bigger": "dict", "to": "test", "with": "separators"}"#)),
        ("to-string", "to-string", Some(r#"{"foo": "bar"}"#)),
        ("list-to-string", "to-string", Some(r#"{"list": [{"foo": "bar"}]}"#)),
        ("empty-body", "invalid-path", None),
        ("nested-empty-list", "nested-list", Some(r#"{"listValue": []}"#)),
        ("nested-null-list", "nested-list", Some(r#"{"listValue": null}"#)),
    ];
    for (key, path, body) in cases {
        let expected = snapshot("test_apigateway_common.snapshot.json", "test_input_path_template_formatting", key);
        let mut req = client().post(gw.url(&format!("/dev/{path}")));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{key}");
        assert_eq!(serde_json::Value::String(r.text().await.unwrap()), expected, "{key}");
    }
}

/// `test_input_body_formatting`: `$input.body` in request and response templates of an HTTP
/// integration whose backend returns the request body as it came (an empty payload is `{}`).
#[tokio::test]
async fn input_body_formatting_matches_aws() {
    let backend = Backend::start().await;
    let raw_body = "#set($result = $input.body)$result";
    let body_in_str = "Action=SendMessage&MessageBody=$input.body";
    let attr_access = "#set($result = $input.body.testAccess)$result";
    let url_encode =
        "EncodedBody=$util.urlEncode($input.body)&EncodedBodyAccess=$util.urlEncode($input.body.testAccess)";
    let routes = [
        ("raw-body", raw_body, raw_body),
        ("str-body-input", body_in_str, raw_body),
        ("str-body-output", raw_body, body_in_str),
        ("str-body-all", body_in_str, body_in_str),
        ("body-attr-access", attr_access, raw_body),
        ("url-encode", url_encode, raw_body),
    ];
    let mut manifest = String::from("version = 1\n[apis.b.stages.dev]\n");
    for (path, request, response) in routes {
        let (request, response) = (serde_json::to_string(request).unwrap(), serde_json::to_string(response).unwrap());
        manifest.push_str(&format!(
            "[apis.b.resources.\"/{path}\".resourceMethods.POST.methodIntegration]\n\
             type = \"HTTP\"\nhttpMethod = \"POST\"\nuri = \"http://{}/raw-echo\"\n\
             requestTemplates = {{ \"application/json\" = {request} }}\n\
             integrationResponses.\"200\".responseTemplates = {{ \"application/json\" = {response} }}\n",
            backend.addr
        ));
    }
    let gw = TestGateway::start(&manifest).await;
    for (path, _, _) in routes {
        let expected =
            snapshot("test_apigateway_common.snapshot.json", "test_input_body_formatting", &format!("response-{path}"));
        for (key, body) in [("empty-body", ""), ("json-body", r#"{"some": "value"}"#), ("str-body", "some raw data")] {
            let r = client()
                .post(gw.url(&format!("/dev/{path}")))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path} {key}");
            // The snapshot holds Python's repr of the bytes: b'…'.
            let recorded = expected[key].as_str().unwrap();
            let recorded = recorded.strip_prefix("b'").and_then(|r| r.strip_suffix('\'')).unwrap();
            assert_eq!(r.text().await.unwrap(), recorded, "{path} {key}");
        }
    }
}
