//! Built-in `vtl` transform: renders the mapping template the gateway selected (API
//! Gateway's Velocity dialect, see `docs/vtl.md`) over the body, the request's parameters,
//! `$context` and `$stageVariables`.
//!
//! Without a template the body passes through unchanged. A template that does not parse, or
//! fails while rendering, is a plugin error (the gateway answers 500); a template that reads
//! a payload that is not JSON through `$input.json` / `$input.path` is a configuration error
//! carrying API Gateway's message.

use wasmgate_sdk::RequestContext;
use wasmgate_sdk::transform::{TransformInput, TransformOutput, TransformPhase};
use wasmgate_vtl::{Inputs, Limits, Template};

/// The `$context.identity.*` names of §2.4: null unless the gateway passes a value.
const IDENTITY: &[&str] = &[
    "accountId",
    "apiKey",
    "apiKeyId",
    "caller",
    "cognitoAuthenticationProvider",
    "cognitoAuthenticationType",
    "cognitoIdentityId",
    "cognitoIdentityPoolId",
    "principalOrgId",
    "sourceIp",
    "user",
    "userAgent",
    "userArn",
    "vpcId",
    "vpceId",
];

/// `$context.requestTime`: Common Log Format, `dd/MMM/yyyy:HH:mm:ss +0000`.
pub fn request_time(epoch_ms: u64) -> String {
    let format = time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    time::OffsetDateTime::from_unix_timestamp((epoch_ms / 1000) as i64)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// `$context` as a JSON object, from what the gateway passes.
pub fn context_json(c: &RequestContext) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut authorizer = serde_json::Map::new();
    if let Some(p) = &c.principal_id {
        authorizer.insert("principalId".into(), p.clone().into());
    }
    for (k, v) in &c.authorizer_context {
        authorizer.insert(k.clone(), v.clone().into());
    }
    let mut identity: serde_json::Map<String, Value> = IDENTITY.iter().map(|k| (k.to_string(), Value::Null)).collect();
    identity.insert("sourceIp".into(), c.source_ip.clone().into());
    identity.insert("userAgent".into(), c.user_agent.clone().into());
    let domain_prefix = c.domain_name.split('.').next().unwrap_or_default().to_string();
    let mut context = serde_json::Map::new();
    for (k, v) in [
        ("accountId", c.account_id.clone().into()),
        ("apiId", c.api_id.clone().into()),
        ("authorizer", Value::Object(authorizer)),
        ("domainName", c.domain_name.clone().into()),
        ("domainPrefix", domain_prefix.into()),
        ("extendedRequestId", c.request_id.clone().into()),
        ("httpMethod", c.http_method.clone().into()),
        ("identity", Value::Object(identity)),
        ("path", c.path.clone().into()),
        ("protocol", c.protocol.clone().into()),
        ("requestId", c.request_id.clone().into()),
        ("requestTime", request_time(c.request_time_epoch).into()),
        ("requestTimeEpoch", c.request_time_epoch.into()),
        ("resourceId", c.resource_id.clone().into()),
        ("resourcePath", c.resource_path.clone().into()),
        ("stage", c.stage.clone().into()),
    ] {
        context.insert(k.to_string(), v);
    }
    // Further values by dotted name (`identity.apiKey`, `isCanaryRequest`, …).
    for (name, value) in &c.extra {
        let mut map = &mut context;
        let mut parts = name.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                map.insert(part.to_string(), value.clone().into());
                break;
            }
            let entry = map.entry(part.to_string()).or_insert_with(|| Value::Object(Default::default()));
            if !entry.is_object() {
                *entry = Value::Object(Default::default());
            }
            let Value::Object(inner) = entry else { break };
            map = inner;
        }
    }
    context
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
    let overrides = rendered.overrides;
    match input.phase {
        TransformPhase::IntegrationRequest => {
            out.headers = overrides.request_headers;
            out.path_parameters = overrides.request_path;
            out.query = overrides.request_querystring;
        }
        TransformPhase::IntegrationResponse => {
            out.status_code = overrides.response_status;
            out.headers = overrides.response_headers;
        }
    }
    Ok(out)
}
