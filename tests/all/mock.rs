//! MOCK integrations, routing and the standard headers.

use wasmgate_tests::{TestGateway, client};

const API: &str = r#"
version = 1
[apis.shop.stages.prod]
[apis.shop.stages.test]

[apis.shop.resources."/".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '{"at":"root"}' }

[apis.shop.resources."/pets/{petId}".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 404}' }
[apis.shop.resources."/pets/{petId}".resourceMethods.GET.methodIntegration.integrationResponses."200"]
responseTemplates = { "application/json" = '{"found":true}' }
[apis.shop.resources."/pets/{petId}".resourceMethods.GET.methodIntegration.integrationResponses."404"]
selectionPattern = "4\\d{2}"
responseParameters = { "method.response.header.X-Reason" = "'no such pet'", "method.response.header.Server" = "'mine'", "method.response.header.Transfer-Encoding" = "'chunked'" }
responseTemplates = { "application/json" = '{"found":false}', "text/plain" = "not found" }

[apis.shop.resources."/any".resourceMethods.ANY.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 201}' }
integrationResponses."201".responseTemplates = { "application/json" = '{"via":"ANY"}' }
[apis.shop.resources."/any".resourceMethods.DELETE.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 204}' }
integrationResponses."204" = {}

[apis.shop.resources."/strict".resourceMethods.POST.methodIntegration]
type = "MOCK"
passthroughBehavior = "NEVER"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = '{"ok":true}' }

[apis.shop.resources."/nostatus".resourceMethods.GET.methodIntegration]
type = "MOCK"
integrationResponses."200" = {}

[apis.shop.resources."/nodefault".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 500}' }
integrationResponses."200".selectionPattern = "2\\d\\d"
"#;

#[tokio::test]
async fn mock_routes_and_selects_integration_responses() {
    let gw = TestGateway::start(API).await;
    let c = client();

    let r = c.get(gw.url("/prod")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), r#"{"at":"root"}"#);
    assert_eq!(c.get(gw.url("/test/")).send().await.unwrap().status(), 200);

    // statusCode 404 from the request template selects the 404 integration response.
    let r = c.get(gw.url("/prod/pets/7")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-reason"], "no such pet");
    // API Gateway renames Server (and other connection-level names) set by a mapping.
    assert_eq!(r.headers()["x-amzn-remapped-server"], "mine");
    assert_ne!(r.headers().get("transfer-encoding").map(|v| v.to_str().unwrap()), Some("chunked"));
    assert_eq!(r.text().await.unwrap(), r#"{"found":false}"#);
    // The response template follows Accept.
    let r = c.get(gw.url("/prod/pets/7")).header("accept", "text/plain").send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "not found");

    // ANY catches verbs that have no method of their own.
    let r = c.post(gw.url("/prod/any")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.text().await.unwrap(), r#"{"via":"ANY"}"#);
    assert_eq!(c.delete(gw.url("/prod/any")).send().await.unwrap().status(), 204);
    gw.shutdown().await;
}

async fn assert_missing_token(r: reqwest::Response) {
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-amzn-errortype"], "MissingAuthenticationTokenException");
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(r.headers().contains_key("x-amzn-requestid"));
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Missing Authentication Token"}"#);
}

#[tokio::test]
async fn unknown_stage_route_or_method_is_missing_authentication_token() {
    let gw = TestGateway::start(API).await;
    let c = client();
    for path in ["/", "/nostage", "/nostage/pets/1", "/prod/nothing", "/prod/pets", "/prod/pets/1/2"] {
        assert_missing_token(c.get(gw.url(path)).send().await.unwrap()).await;
    }
    // A verb with no method and no ANY.
    assert_missing_token(c.put(gw.url("/prod/pets/1")).send().await.unwrap()).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn every_response_has_a_distinct_request_id() {
    let gw = TestGateway::start(API).await;
    let c = client();
    let mut ids = std::collections::HashSet::new();
    for path in ["/prod", "/prod/pets/1", "/prod/missing", "/nostage"] {
        let r = c.get(gw.url(path)).send().await.unwrap();
        let id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 36, "uuid: {id}");
        assert!(ids.insert(id));
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn passthrough_and_configuration_errors() {
    let gw = TestGateway::start(API).await;
    let c = client();
    // NEVER: a content type without a template is refused.
    let r = c.post(gw.url("/prod/strict")).header("content-type", "text/plain").body("x").send().await.unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(r.headers()["x-amzn-errortype"], "BadRequestException");
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Unsupported Media Type"}"#);
    // ... and one with a template is transformed.
    let r =
        c.post(gw.url("/prod/strict")).header("content-type", "application/json; charset=utf-8").send().await.unwrap();
    assert_eq!(r.status(), 200);

    // No request template: the (empty) body has no statusCode.
    let r = c.get(gw.url("/prod/nostatus")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["x-amzn-errortype"], "InternalServerErrorException");
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Internal server error"}"#);

    // statusCode 500 matches no integration response and there is no default.
    let r = c.get(gw.url("/prod/nodefault")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Internal server error"}"#);
    gw.shutdown().await;
}

#[tokio::test]
async fn apis_are_chosen_by_host_when_there_are_several() {
    let two = r#"
version = 1
[apis.a.stages.prod]
[apis.a.resources."/who".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = 'a' }
[apis.b.stages.prod]
[apis.b.resources."/who".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = 'b' }
"#;
    let gw = TestGateway::start(two).await;
    let c = client();
    let get = |host: &'static str| c.get(gw.url("/prod/who")).header("host", host).send();
    assert_eq!(get("a.execute-api.local").await.unwrap().text().await.unwrap(), "a");
    assert_eq!(get("b.execute-api.local:8080").await.unwrap().text().await.unwrap(), "b");
    assert_eq!(get("c.execute-api.local").await.unwrap().status(), 403);
    gw.shutdown().await;
}
