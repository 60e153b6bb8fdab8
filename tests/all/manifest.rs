//! Invalid manifests: each gets one precise error, and nothing starts.

use wasmgate::gateway::Gateway;
use wasmgate::manifest::parse;

const BASE: &str = r#"
version = 1
[apis.a.stages.prod]
[apis.a.resources."/x".resourceMethods.GET.methodIntegration]
type = "MOCK"
"#;

fn error_of(text: &str) -> String {
    let dir = std::path::Path::new("/srv/gw");
    match parse(text, dir, "gateway.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_manifests_get_precise_errors() {
    let cases: Vec<(String, &str)> = vec![
        ("version = 1\nbogus = 3\n".into(), "gateway.toml:2:1: unknown field `bogus`, expected one of `version`, `gateway`, `listeners`, `admin`, `plugins`, `apis`"),
        ("version = 2\n".into(), "gateway.toml: version: unsupported manifest version 2; this gateway reads version 1"),
        ("[apis.a.stages.prod]\n".into(), "gateway.toml: version: missing; this gateway reads manifests with `version = 1`"),
        ("version = 1\n[gateway]\nstate_dirr = \"x\"\n".into(), "gateway.toml:3:1: unknown field `state_dirr`, expected one of `state_dir`, `cache_dir`, `region`, `account_id`, `limits`, `max_plugin_instances`"),
        ("version = 1\n[[listeners]]\naddress = \"nope\"\n".into(), "gateway.toml: listeners[0].address: `nope` is not an address like 127.0.0.1:8080"),
        ("version = 1\nversion = 1\n".into(), "gateway.toml:2:1: duplicate key"),
        ("version = 1\n[plugins.p]\nconfig = {}\n".into(), "gateway.toml: plugins.p: missing `path` (a .wasm component) or `builtin` (a built-in plugin)"),
        ("version = 1\n[plugins.p]\npath = \"a.wasm\"\nbuiltin = \"b\"\n".into(), "gateway.toml: plugins.p: give either `path` or `builtin`, not both"),
        ("version = 1\n[plugins.p]\nbuiltin = \"b\"\nlimits = { memory_mb = 0 }\n".into(), "gateway.toml: plugins.p.limits.memory_mb: must be between 1 and 1024"),
        ("version = 1\n[plugins.p]\nbuiltin = \"b\"\nlimits = { timeout = 3 }\n".into(), "gateway.toml:4:12: unknown field `timeout`, expected one of `memory_mb`, `timeout_ms`, `warm_instances`, `state_mb`"),
        ("version = 1\n[apis.a]\n".into(), "gateway.toml: apis.a.stages: api `a` has no stage; add [apis.a.stages.<name>]"),
        (format!("{BASE}[apis.a.resources.\"pets\"]\n"), "gateway.toml: apis.a.resources.\"pets\": resource path `pets` must start with `/`"),
        (format!("{BASE}[apis.a.resources.\"/{{p+}}/x\"]\n"), "gateway.toml: apis.a.resources.\"/{p+}/x\": the greedy parameter `{p+}` must be the last segment of `/{p+}/x`"),
        (format!("{BASE}[apis.a.resources.\"/a{{b}}\"]\n"), "gateway.toml: apis.a.resources.\"/a{b}\": a path parameter must be a whole segment: `a{b}` in `/a{b}`"),
        (BASE.replace("GET", "FETCH"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.FETCH: `FETCH` is not one of ANY, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
        (BASE.replace("MOCK", "SOAP"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.type: `SOAP` is not MOCK, HTTP, HTTP_PROXY, AWS, AWS_PROXY or PLUGIN"),
        (BASE.replace("MOCK", "AWS_PROXY"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.type: integration type `AWS_PROXY` is not supported yet"),
        (BASE.replace("MOCK", "HTTP_PROXY"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.uri: missing: an HTTP_PROXY integration needs the backend URL"),
        (BASE.replace("\"MOCK\"", "\"HTTP_PROXY\"\nuri = \"http://h/{id}\""), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.uri: placeholder `{id}` has no `integration.request.path.id` in requestParameters"),
        (BASE.replace("\"MOCK\"", "\"MOCK\"\ntimeoutInMillis = 10"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.timeoutInMillis: must be between 50 and 300000"),
        (BASE.replace("\"MOCK\"", "\"MOCK\"\npassthroughBehavior = \"SOMETIMES\""), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.passthroughBehavior: `SOMETIMES` is not WHEN_NO_MATCH, WHEN_NO_TEMPLATES or NEVER"),
        (BASE.replace("\"MOCK\"", "\"MOCK\"\nintegrationResponses.\"200\".selectionPattern = \"(\""), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.integrationResponses.\"200\".selectionPattern: invalid regex: regex parse error:\n    ^(?:()$\n     ^\nerror: unclosed group"),
        (BASE.replace("\"MOCK\"", "\"MOCK\"\nintegrationResponses.\"abc\" = {}"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.integrationResponses.\"abc\": `abc` is not a status code (100-599)"),
        (BASE.replace("\"MOCK\"", "\"MOCK\"\nrequestParameters = { \"integration.request.header.Content-Length\" = \"'1'\" }"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.requestParameters.\"integration.request.header.Content-Length\": `Content-Length` cannot be mapped (API Gateway fails every call that maps it)"),
        (BASE.replace("\"MOCK\"", "\"MOCK\"\nrequestParameters = { \"integration.request.header.X\" = \"method.request.body.a[\" }"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.requestParameters.\"integration.request.header.X\": `method.request.body.a[`: invalid JSONPath `a[`: at position 3, parser error"),
        (BASE.replace("\"MOCK\"", "\"MOCK\"\nrequestParameters = { \"integration.request.header.X\" = \"method.request.bodyx\" }"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.requestParameters.\"integration.request.header.X\": `method.request.bodyx`: a body source is `…body` or `…body.<JSONPath>`"),
        (BASE.replace("\"MOCK\"", "\"HTTP_PROXY\"\nuri = \"http://h/\"\nrequestParameters = { \"integration.request.header.X\" = \"method.request.body.a\" }"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.requestParameters.\"integration.request.header.X\": maps from the request body, which HTTP_PROXY streams to the backend unread (use an HTTP integration)"),
        (BASE.replace("\"MOCK\"", "\"MOCK\"\nintegrationResponses.\"200\".responseParameters = { \"method.response.header.X\" = \"method.request.header.y\" }"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.integrationResponses.\"200\".responseParameters.\"method.response.header.X\": `method.request.header.y` is not a mapping source here (integration.response.header|multivalueheader.X, integration.response.body[.JSONPath], stageVariables.X, context.X or 'literal')"),
        (BASE.replace("\"MOCK\"", "\"MOCK\"\nrequestParameters = { \"integration.request.header.X\" = \"integration.response.body\" }"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.requestParameters.\"integration.request.header.X\": `integration.response.body` is not a mapping source here (method.request.path|querystring|header|multivaluequerystring|multivalueheader.X, method.request.body[.JSONPath], stageVariables.X, context.X or 'literal')"),
        (BASE.replace("[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]", "[apis.a.resources.\"/x\".resourceMethods.GET]\nauthorizationType = \"CUSTOM\"\nauthorizerId = \"nobody\"\n[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.authorizerId: no authorizer named `nobody` in this api"),
        (BASE.replace("[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]", "[apis.a.resources.\"/x\".resourceMethods.GET]\nauthorizationType = \"AWS_IAM\"\n[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.authorizationType: `AWS_IAM` is not supported yet (use NONE or CUSTOM)"),
        (format!("{BASE}[apis.a.authorizers.t]\ntype = \"TOKEN\"\nplugin = \"ghost\"\n"), "gateway.toml: apis.a.authorizers.t.plugin: no plugin named `ghost`"),
        (format!("{BASE}[plugins.p]\nbuiltin = \"token-authorizer\"\n[apis.a.authorizers.t]\ntype = \"TOKEN\"\nplugin = \"p\"\nidentitySource = \"method.request.querystring.q\"\n"), "gateway.toml: apis.a.authorizers.t.identitySource: a TOKEN authorizer takes exactly one `method.request.header.<Name>`"),
        (format!("{BASE}[plugins.p]\nbuiltin = \"token-authorizer\"\n[apis.a.authorizers.t]\ntype = \"TOKEN\"\nplugin = \"p\"\nauthorizerResultTtlInSeconds = 4000\n"), "gateway.toml: apis.a.authorizers.t.authorizerResultTtlInSeconds: must be between 0 and 3600"),
        (BASE.replace("\"MOCK\"", "\"HTTP_PROXY\"\nuri = \"http://h/\"\nrequest_transform = { plugin = \"p\" }\n[plugins.p]\nbuiltin = \"x\"\n[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.integrationResponses.\"200\"]"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.request_transform: HTTP_PROXY passes requests and responses through unchanged; transforms apply to MOCK and PLUGIN"),
        (BASE.replace("[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]", "[apis.a.resources.\"/x\".resourceMethods.GET]\nmethodResponses.\"200\" = {}\n[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]\nintegrationResponses.\"404\" = {}"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.integrationResponses.\"404\": no method response `404` in methodResponses (API Gateway: Invalid Response status code specified)"),
        (BASE.replace("[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]", "[apis.a.resources.\"/x\".resourceMethods.GET]\nmethodResponses.\"200\".responseParameters = { \"method.response.header.x-a\" = false }\n[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]\nintegrationResponses.\"200\".responseParameters = { \"method.response.header.x-a\" = \"'1'\", \"method.response.header.x-b\" = \"'2'\" }"), "gateway.toml: apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration.integrationResponses.\"200\".responseParameters.\"method.response.header.x-b\": `method.response.header.x-b` is not declared in methodResponses.\"200\".responseParameters (API Gateway: Invalid mapping expression parameter specified)"),
        (format!("{BASE}[apis.a.stages.\"bad stage\"]\n"), "gateway.toml: apis.a.stages.bad stage: name `bad stage` must be 1-128 characters of A-Z a-z 0-9 - _"),
        ("version = 1\n[apis.a.stages.prod]\n[apis.a.resources.\"/x\".resourceMethods.GET]\nauthorizationType = \"NONE\"\n".into(), "gateway.toml:3:1: missing field `methodIntegration`"),
    ];
    for (text, want) in cases {
        assert_eq!(error_of(&text), want, "manifest:\n{text}");
    }
}

#[test]
fn declared_method_responses_load() {
    let text = BASE.replace(
        "[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]",
        "[apis.a.resources.\"/x\".resourceMethods.GET]\nmethodResponses.\"200\".responseParameters = { \"method.response.header.X-A\" = true }\n[apis.a.resources.\"/x\".resourceMethods.GET.methodIntegration]\nintegrationResponses.\"200\".responseParameters = { \"method.response.header.x-a\" = \"'1'\" }",
    );
    parse(&text, std::path::Path::new("/srv/gw"), "gateway.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
}

fn gateway_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut config = parse(&wasmgate_tests::interpolate(text), dir.path(), "gateway.toml").unwrap();
    config.cache_dir = wasmgate_tests::cache_dir();
    match Gateway::new(config) {
        Ok(_) => panic!("started:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_plugins_stop_the_gateway_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wasm");
    let err = gateway_error(&format!("version = 1\n[plugins.p]\npath = \"{}\"\n", missing.display()));
    assert!(err.starts_with(&format!("plugin `p`: cannot read {}: No such file", missing.display())), "{err}");

    let truncated = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(wasmgate::guest_path("fixture-echo").unwrap()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = gateway_error(&format!("version = 1\n[plugins.p]\npath = \"{}\"\n", truncated.display()));
    assert!(err.starts_with("plugin `p`: not a valid component: "), "{err}");

    let err = gateway_error("version = 1\n[plugins.p]\npath = \"%{guest:fixture-fetch}\"\n");
    assert_eq!(
        err,
        "plugin `p`: imports wasmgate:plugin/http-client but has no allowed_outbound_hosts: grant the hosts it may reach in the manifest"
    );

    let err = gateway_error("version = 1\n[plugins.p]\nbuiltin = \"nope\"\n");
    assert_eq!(err, "plugin `p`: no built-in plugin named `nope` (built-ins: token-authorizer, vtl)");

    let err = gateway_error(
        r#"version = 1
[plugins.echo]
path = "%{guest:fixture-echo}"
[apis.a.stages.prod]
[apis.a.authorizers.t]
type = "TOKEN"
plugin = "echo"
"#,
    );
    assert_eq!(
        err,
        "apis.a.authorizers.t: plugin `echo` exports the integration interface, but is used as an authorizer"
    );

    let err = gateway_error(
        r#"version = 1
[apis.a.stages.prod]
[apis.a.resources."/pets/{id}".resourceMethods.GET.methodIntegration]
type = "MOCK"
[apis.a.resources."/pets/{petId}/x".resourceMethods.GET.methodIntegration]
type = "MOCK"
"#,
    );
    assert_eq!(
        err,
        "apis.a.resources: `/pets/{petId}/x`: a sibling ({id}) already has a variable path part; only one is allowed"
    );
}
