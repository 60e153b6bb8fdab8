//! Request validation (validators, required parameters, JSON Schema draft 4 models with
//! references between models), against the bodies AWS returned in
//! `../shared/aws-snapshots/test_apigateway_common.snapshot.json`.

use std::path::PathBuf;

use wasmgate_tests::{TestGateway, client};

fn snapshot(test: &str, key: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/aws-snapshots/test_apigateway_common.snapshot.json");
    let all: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (_, entry) =
        all.as_object().unwrap().iter().find(|(k, _)| k.ends_with(&format!("::{test}"))).expect("snapshot test");
    entry["recorded-content"][key].clone()
}

/// The API of `test_api_gateway_request_validator`, in the state each check of that test
/// ran against: GET requires path `test`, query `qs1` and header `x-header-param`; POST
/// requires path `issuer` (which the resource path does not have), `qs1` and the header; PUT is
/// POST after the test reverted it, with the `testSchema` model on its body.
const VALIDATED: &str = r#"
version = 1
[apis.v.stages.local]
[apis.v.requestValidators.all]
validateRequestBody = true
validateRequestParameters = true
[apis.v.models.testSchema]
schema = '''{"title": "testSchema", "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}'''

[apis.v.resources."/nested/{test}".resourceMethods.GET]
requestValidatorId = "all"
requestParameters = { "method.request.path.test" = true, "method.request.querystring.qs1" = true, "method.request.header.x-header-param" = true }
[apis.v.resources."/nested/{test}".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '{"ok": true}' }

[apis.v.resources."/nested/{test}".resourceMethods.POST]
requestValidatorId = "all"
requestParameters = { "method.request.path.issuer" = true, "method.request.querystring.qs1" = true, "method.request.header.x-header-param" = true }
[apis.v.resources."/nested/{test}".resourceMethods.POST.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '{"ok": true}' }

[apis.v.resources."/nested/{test}".resourceMethods.PUT]
requestValidatorId = "all"
requestParameters = { "method.request.path.test" = true, "method.request.querystring.qs1" = true, "method.request.header.x-header-param" = true }
requestModels = { "application/json" = "testSchema" }
[apis.v.resources."/nested/{test}".resourceMethods.PUT.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '{"ok": true}' }
"#;

#[tokio::test]
async fn required_parameters_and_body_models_match_aws() {
    let gw = TestGateway::start(VALIDATED).await;
    let c = client();
    let test = "test_api_gateway_request_validator";
    let url = gw.url("/local/nested/value");

    let r = c.post(&url).json(&serde_json::json!({"test": "test"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "BadRequestException");
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        snapshot(test, "missing-all-required-request-params-post")
    );

    let r = c.get(format!("{url}?qs1=test")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        snapshot(test, "missing-required-headers-request-params-get")
    );

    let r = c.get(&url).header("x-header-param", "test").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), snapshot(test, "missing-required-qs-request-params-get"));

    // Blank values count as missing.
    let r = c.get(format!("{url}?qs1=")).header("x-header-param", "test").send().await.unwrap();
    assert_eq!(r.status(), 400);

    let r = c.get(format!("{url}?qs1=test")).header("x-header-param", "test").send().await.unwrap();
    assert_eq!(r.status(), 200);

    let put = |body: &'static str| {
        c.put(format!("{url}?qs1=test"))
            .header("x-header-param", "test")
            .header("content-type", "application/json")
            .body(body)
    };
    let r = put(r#"{"test": "test"}"#).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), snapshot(test, "invalid-request-body"));
    assert_eq!(put("").send().await.unwrap().status(), 400, "an empty body is {{}}, which lacks a and b");
    assert_eq!(put("not json").send().await.unwrap().status(), 400);
    assert_eq!(put(r#"{"a": 1, "b": "two"}"#).send().await.unwrap().status(), 400);
    assert_eq!(put(r#"{"a": 1, "b": 2}"#).send().await.unwrap().status(), 200);
}

const WITH_REFS: &str = r#"
version = 1
[apis.r.stages.dev]
[apis.r.requestValidators.body]
validateRequestBody = true
[apis.r.models.Empty]
schema = '{"$schema": "http://json-schema.org/draft-04/schema#", "title": "Empty Schema", "type": "object"}'
[apis.r.models.testSchema]
schema = '''{"$schema": "http://json-schema.org/draft-04/schema#", "title": "testSchema", "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}'''
[apis.r.models.testSchemaList]
schema = '''{"type": "array", "items": {"$ref": "https://apigateway.amazonaws.com/restapis/r/models/testSchema"}}'''
[apis.r.models.StatusModel]
schema = '''{"type": "object", "properties": {"Status": {"type": "string"}, "Order": {"type": "integer"}}, "required": ["Status", "Order"]}'''
[apis.r.models.TestModel]
schema = '''{"type": "object", "properties": {"status": {"oneOf": [{"type": "null"}, {"$ref": "https://apigateway.amazonaws.com/restapis/r/models/StatusModel"}]}}, "required": ["status"]}'''

[apis.r.resources."/list".resourceMethods.POST]
requestValidatorId = "body"
requestModels = { "application/json" = "testSchemaList" }
[apis.r.resources."/list".resourceMethods.POST.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '{"data": "ok"}' }

[apis.r.resources."/status".resourceMethods.POST]
requestValidatorId = "body"
requestModels = { "$default" = "TestModel" }
[apis.r.resources."/status".resourceMethods.POST.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}', "text/plain" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '{"data": "ok"}' }
"#;

#[tokio::test]
async fn models_reference_each_other_like_aws() {
    let gw = TestGateway::start(WITH_REFS).await;
    let c = client();
    let post =
        |path: &str, body: &'static str| c.post(gw.url(path)).header("content-type", "application/json").body(body);
    let json =
        |r: reqwest::Response| async move { (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap()) };

    let t = "test_api_gateway_request_validator_with_ref_models";
    assert_eq!(
        json(post("/dev/list", r#"[{"a": 1, "b": 2}]"#).send().await.unwrap()).await,
        (200, snapshot(t, "successful"))
    );
    assert_eq!(
        json(post("/dev/list", r#"[{"a": 1, "b": 2}, {"a": 1}]"#).send().await.unwrap()).await,
        (400, snapshot(t, "failed-validation"))
    );

    let t = "test_api_gateway_request_validator_with_ref_one_ofmodels";
    assert_eq!(
        json(post("/dev/status", r#"{"status": null}"#).send().await.unwrap()).await,
        (200, snapshot(t, "successful"))
    );
    assert_eq!(
        json(post("/dev/status", r#"{"status": {"Status": "shipped", "Order": 1}}"#).send().await.unwrap()).await,
        (200, snapshot(t, "successful-with-data"))
    );
    assert_eq!(
        json(post("/dev/status", "{}").send().await.unwrap()).await,
        (400, snapshot(t, "failed-validation-no-data"))
    );
    assert_eq!(
        json(post("/dev/status", r#"{"status": {"Status": 1}}"#).send().await.unwrap()).await,
        (400, snapshot(t, "failed-validation-bad-data"))
    );
    // `$default` applies to any media type without a model of its own.
    let r = c.post(gw.url("/dev/status")).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn bad_models_and_validators_are_refused() {
    for (manifest, expected) in [
        ("version = 1\n[apis.a.stages.s]\n[apis.a.models.M]\nschema = 'nope'\n", "apis.a.models.M.schema: not JSON"),
        (
            "version = 1\n[apis.a.stages.s]\n[apis.a.models.M]\nschema = '{\"$ref\": \"https://apigateway.amazonaws.com/restapis/a/models/Other\"}'\n",
            "`$ref` to a model this api does not have: `Other`",
        ),
        (
            "version = 1\n[apis.a.stages.s]\n[apis.a.models.M]\nschema = '{\"type\": 5}'\n",
            "apis.a.models.M.schema: not a valid JSON Schema (draft 4)",
        ),
        (
            "version = 1\n[apis.a.stages.s]\n[apis.a.resources.\"/x\".resourceMethods.GET]\nrequestValidatorId = \"v\"\n[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]\ntype = \"MOCK\"\n",
            "no request validator named `v` in this api",
        ),
        (
            "version = 1\n[apis.a.stages.s]\n[apis.a.resources.\"/x\".resourceMethods.GET]\nrequestModels = { \"application/json\" = \"Nope\" }\n[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]\ntype = \"MOCK\"\n",
            "no model named `Nope` in [apis.a.models]",
        ),
    ] {
        let err = TestGateway::try_start(manifest).await.err().expect("refused").to_string();
        assert!(err.contains(expected), "{err}\n  expected: {expected}");
    }
}

const CUSTOMIZED: &str = r#"
version = 1
[apis.g.stages.s]
variables = { v = "x1" }
[apis.g.requestValidators.params]
validateRequestParameters = true
[apis.g.gatewayResponses.DEFAULT_4XX]
responseParameters = { "gatewayresponse.header.Access-Control-Allow-Origin" = "'*'", "gatewayresponse.header.X-Req" = "method.request.header.x-req" }
responseTemplates = { "application/json" = '{"msg": $context.error.messageString, "type": "$context.error.responseType", "stage": "$context.stage", "v": "${stageVariables.v}"}' }
[apis.g.gatewayResponses.MISSING_AUTHENTICATION_TOKEN]
statusCode = "404"
responseTemplates = { "application/json" = '{"message": "no route $context.path"}' }
[apis.g.gatewayResponses.DEFAULT_5XX]
statusCode = "599"

[apis.g.resources."/need".resourceMethods.GET]
requestValidatorId = "params"
requestParameters = { "method.request.querystring.q" = true }
[apis.g.resources."/need".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200" = {}

[apis.g.resources."/broken".resourceMethods.GET.methodIntegration]
type = "MOCK"
integrationResponses."200" = {}
"#;

#[tokio::test]
async fn gateway_responses_are_customized_and_inherited() {
    let gw = TestGateway::start(CUSTOMIZED).await;
    let c = client();

    // Customized individually: its own status and template.
    let r = c.get(gw.url("/s/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-amzn-errortype"], "MissingAuthenticationTokenException");
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "an individual customization replaces DEFAULT_4XX"
    );
    assert_eq!(r.text().await.unwrap(), r#"{"message": "no route /s/nope"}"#);

    // Not customized itself: inherits DEFAULT_4XX's headers and template, keeps its status.
    let r = c.get(gw.url("/s/need")).header("x-req", "abc").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.headers()["x-req"], "abc");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"msg": "Missing required request parameters: [q]", "type": "BAD_REQUEST_PARAMETERS", "stage": "s", "v": "x1"})
    );

    // DEFAULT_5XX with a status: every 5xx type that is not customized takes it.
    let r = c.get(gw.url("/s/broken")).send().await.unwrap();
    assert_eq!(r.status(), 599);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Internal server error"}"#);

    assert_eq!(c.get(gw.url("/s/need?q=1")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn bad_gateway_responses_are_refused() {
    for (table, expected) in [
        ("[apis.a.gatewayResponses.NOPE]", "`NOPE` is not a gateway response type"),
        ("[apis.a.gatewayResponses.REQUEST_TOO_LARGE]", "REQUEST_TOO_LARGE cannot be customized"),
        ("[apis.a.gatewayResponses.UNAUTHORIZED]\nstatusCode = \"99\"", "`99` is not a status code"),
        (
            "[apis.a.gatewayResponses.UNAUTHORIZED]\nresponseParameters = { \"method.response.header.X\" = \"'v'\" }",
            "keys are gatewayresponse.header.X",
        ),
    ] {
        let manifest = format!("version = 1\n[apis.a.stages.s]\n{table}\n");
        let err = TestGateway::try_start(&manifest).await.err().expect("refused").to_string();
        assert!(err.contains(expected), "{err}\n  expected: {expected}");
    }
}
