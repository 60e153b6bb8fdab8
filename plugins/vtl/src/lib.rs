//! Built-in `vtl` transform: renders the mapping template the gateway selected (API
//! Gateway's Velocity dialect, see `docs/vtl.md`) over the body, the request's parameters,
//! `$context` and `$stageVariables`.
//!
//! Without a template the body passes through unchanged. A template that does not parse, or
//! fails while rendering, is a plugin error (the gateway answers 500); a template that reads
//! a payload that is not JSON through `$input.json` / `$input.path` is a configuration error
//! carrying API Gateway's message.

use wasmgate_sdk::RequestContext;
use wasmgate_sdk::transform::{TransformInput, TransformOutput};
use wasmgate_vtl::{Inputs, Limits, Template};

/// `$context` as a JSON object, from what the gateway passes.
pub fn context_json(c: &RequestContext) -> serde_json::Map<String, serde_json::Value> {
    let mut authorizer = serde_json::Map::new();
    if let Some(p) = &c.principal_id {
        authorizer.insert("principalId".into(), p.clone().into());
    }
    for (k, v) in &c.authorizer_context {
        authorizer.insert(k.clone(), v.clone().into());
    }
    let domain_prefix = c.domain_name.split('.').next().unwrap_or_default().to_string();
    let json = serde_json::json!({
        "requestId": c.request_id,
        "extendedRequestId": c.request_id,
        "apiId": c.api_id,
        "stage": c.stage,
        "resourceId": c.resource_id,
        "resourcePath": c.resource_path,
        "httpMethod": c.http_method,
        "path": c.path,
        "protocol": c.protocol,
        "domainName": c.domain_name,
        "domainPrefix": domain_prefix,
        "requestTimeEpoch": c.request_time_epoch,
        "identity": { "sourceIp": c.source_ip, "userAgent": c.user_agent },
        "authorizer": authorizer,
    });
    match json {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

#[wasmgate_sdk::transform]
fn transform(input: TransformInput) -> Result<TransformOutput, String> {
    let Some(source) = &input.template else {
        return Ok(TransformOutput::body(input.body));
    };
    let limits = Limits::default();
    let template = Template::parse(source, &limits).map_err(|e| format!("mapping template: {e}"))?;
    let inputs = Inputs {
        body: String::from_utf8_lossy(&input.body).into_owned(),
        path: input.path_parameters.clone(),
        querystring: input.query.clone(),
        header: input.headers.clone(),
        context: context_json(&input.context),
        stage_variables: input.context.stage_variables.clone(),
    };
    let rendered = template.render(&inputs, &limits).map_err(|e| format!("mapping template: {e}"))?;
    let mut out = TransformOutput::body(rendered.output.into_bytes());
    out.status_code = rendered.overrides.response_status;
    out.headers = rendered.overrides.response_headers;
    Ok(out)
}
