//! The request pipeline, in API Gateway's phases:
//!
//! method request → authorization → (validation) → integration request → integration →
//! integration response → method response
//!
//! Every phase returns `Result<_, GatewayError>`; [`handle`] is the one place where an error
//! becomes a gateway response. See `docs/pipeline.md`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;

use crate::body::{BodyError, BodyOutcome, GuardedBody, RequestBody};
use crate::gateway::{Api, CachedDecision, Snapshot, VTL_PLUGIN};
use crate::gateway_response::{GatewayError, ResponseType};
use crate::http_client::{
    ClientBody, GatewayBody, HeadWriter, HeaderLines, RawHeaders, ResponseHeaderRules, Target, empty_body, full_body,
};
use crate::manifest::{
    Authorization, AuthorizerDef, AuthorizerKind, BodyPath, ContentHandling, IdentitySource, IntegrationDef,
    IntegrationKind, IntegrationResponseDef, MethodDef, ParamLocation, ParamSource, ParamTarget, Passthrough,
    ResourceDef, StageDef, TransformDef, UriTemplate,
};
use crate::runtime::bindings::types;
use crate::runtime::{AuthorizerCall, PluginFailure};

/// What the server knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// The request's head had both `Content-Length` and `Transfer-Encoding` (seen on the
    /// raw bytes: hyper removes `Content-Length` in that case).
    pub framing_conflict: bool,
}

/// The message API Gateway answers 400 with when a template reads a payload that is not JSON.
const INVALID_JSON: &str = "Could not parse request body into json";

const X_AMZN_REQUESTID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const X_AMZN_API_ID: HeaderName = HeaderName::from_static("x-amzn-apigateway-api-id");

/// Client headers API Gateway drops at ingress (spec §0.3).
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "content-md5",
    "expect",
    "max-forwards",
    "proxy-authenticate",
    "server",
    "te",
    "transfer-encoding",
    "trailer",
    "upgrade",
    "www-authenticate",
    "keep-alive",
    "proxy-connection",
];

/// Backend response headers that come back renamed `x-amzn-Remapped-<Name>` (spec §0.3).
static REMAPPED_RESPONSE_HEADERS: [(&str, HeaderName); 4] = [
    ("connection", HeaderName::from_static("x-amzn-remapped-connection")),
    ("content-length", HeaderName::from_static("x-amzn-remapped-content-length")),
    ("date", HeaderName::from_static("x-amzn-remapped-date")),
    ("server", HeaderName::from_static("x-amzn-remapped-server")),
];

/// Method response headers API Gateway renames `x-amzn-Remapped-<Name>` when a mapping,
/// template or plugin sets them (spec §0.3), and those that would break the framing.
const REMAPPED_METHOD_RESPONSE_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "content-md5",
    "date",
    "expect",
    "host",
    "max-forwards",
    "proxy-authenticate",
    "server",
    "trailer",
    "upgrade",
    "user-agent",
    "www-authenticate",
];

/// Sets (or appends) a method response header set by a mapping, a template or a plugin,
/// renaming the ones API Gateway renames and dropping `Transfer-Encoding` and other
/// connection-level headers, which the gateway owns. False when the name or value is invalid.
fn set_response_header(headers: &mut HeaderMap, name: &str, value: &str, append: bool) -> bool {
    let lower = name.to_ascii_lowercase();
    if ["transfer-encoding", "keep-alive", "proxy-connection", "te"].contains(&lower.as_str()) {
        return true;
    }
    let name = if REMAPPED_METHOD_RESPONSE_HEADERS.contains(&lower.as_str()) {
        HeaderName::from_bytes(format!("x-amzn-remapped-{lower}").as_bytes())
    } else {
        HeaderName::from_bytes(lower.as_bytes())
    };
    let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(value)) else {
        return false;
    };
    if append {
        headers.append(name, value);
    } else {
        headers.insert(name, value);
    }
    true
}

/// What HTTP_PROXY drops from the backend's response headers: the hop-by-hop ones, and
/// `x-amzn-RequestId`, which is the gateway's (its own replaces the backend's).
static PROXY_DROPPED_RESPONSE_HEADERS: [&str; 6] =
    ["transfer-encoding", "keep-alive", "proxy-connection", "trailer", "upgrade", "x-amzn-requestid"];

/// What HTTP_PROXY does to the backend's response headers, applied as the client reads them.
/// They stay the text of their lines ([`crate::http_client::RawHeaders`]), which the HTTP/1.1
/// writer copies as they are: with the framing headers, `Connection` and `Date` renamed and
/// the hop-by-hop ones dropped, nothing in them is the server's to write.
static PROXY_RESPONSE_HEADERS: ResponseHeaderRules =
    ResponseHeaderRules { drop: &PROXY_DROPPED_RESPONSE_HEADERS, rename: &REMAPPED_RESPONSE_HEADERS, raw: true };

/// The pipeline's answer to one request: the method response and, for a relayed one
/// (HTTP_PROXY), the backend's header lines that go with its head.
#[derive(Debug)]
pub struct MethodResponse {
    /// Status, the gateway's headers and the body.
    pub response: Response<GatewayBody>,
    /// The backend's headers as lines ([`RawHeaders`]), apart from `response`'s header map,
    /// so that the HTTP/1.1 writer copies them as they are.
    pub backend_headers: Option<RawHeaders>,
}

impl MethodResponse {
    /// The response with the backend's headers, if any, in its header map.
    pub fn into_response(self) -> Response<GatewayBody> {
        let mut response = self.response;
        if let Some(lines) = self.backend_headers {
            lines.append_to(response.headers_mut());
        }
        response
    }
}

impl From<Response<GatewayBody>> for MethodResponse {
    fn from(response: Response<GatewayBody>) -> Self {
        MethodResponse { response, backend_headers: None }
    }
}

/// Handles one request on `snapshot`; never fails: errors become gateway responses.
pub async fn handle(snapshot: Arc<Snapshot>, req: Request<RequestBody>, conn: ConnInfo) -> MethodResponse {
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let request_id: &str = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id);
    // What the access log needs after the request is gone, kept only when it is written.
    let access = tracing::enabled!(target: "wasmgate::access", tracing::Level::INFO)
        .then(|| (Instant::now(), req.method().clone(), req.uri().path().to_string()));
    // Boxed: the request's state lives on the heap for its whole life instead of inside this
    // future, which the connection would otherwise move, at its full size, every time it
    // starts a request (bench/PROFILE.md, session 7).
    let mut answer = match Box::pin(run(&snapshot, req, conn, request_id)).await {
        Ok(answer) => answer,
        Err(failed) => failed.into_response(request_id).into(),
    };
    // A relayed response's headers are lines, the backend's own request id already dropped
    // from them.
    match &mut answer.backend_headers {
        Some(lines) => {
            lines.append(&X_AMZN_REQUESTID, request_id.as_bytes());
        }
        None => {
            if let Ok(v) = HeaderValue::from_str(request_id) {
                answer.response.headers_mut().insert(X_AMZN_REQUESTID, v);
            }
        }
    }
    if let Some((started, method, path)) = access {
        tracing::info!(
            target: "wasmgate::access",
            request_id = %request_id,
            ip = %conn.remote.ip(),
            method = %method,
            path = %path,
            status = answer.response.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
        );
    }
    answer
}

/// The state of one request as it moves through the phases.
struct RequestCtx<'a> {
    snapshot: &'a Snapshot,
    api: &'a Api,
    stage: &'a StageDef,
    resource: &'a ResourceDef,
    method: &'a MethodDef,
    request_id: &'a str,
    verb: Method,
    /// The path after the stage, as sent (`/pets/1`).
    path: String,
    /// The whole request path (`/prod/pets/1`).
    /// The request target as received: `$context.path` is its path, the query string its query.
    uri: http::Uri,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    path_params: crate::router::PathParams,
    protocol: &'static str,
    /// The client's address (`$context.identity.sourceIp`).
    remote_ip: std::net::IpAddr,
    request_time_epoch: u64,
    principal_id: Option<String>,
    authorizer_context: Vec<(String, String)>,
    /// The method request body, once read (non-proxy integrations read it whole).
    body: Option<Bytes>,
    /// The body parsed as JSON for `method.request.body.<JSONPath>` mappings, once asked
    /// for; `None` when it is not JSON.
    body_json: OnceLock<Option<serde_json::Value>>,
}

/// A request that failed, with what its gateway response may draw on.
struct Failed<'a> {
    error: GatewayError,
    /// The API, once known: its gateway responses apply.
    api: Option<&'a Api>,
    /// The request, once the method request was built: mapping sources for the response.
    ctx: Option<Box<RequestCtx<'a>>>,
    /// `$context` values known before the method request was built.
    early: Vec<(&'static str, String)>,
}

impl Failed<'_> {
    /// The one place an error becomes a response: logged, then rendered with the API's gateway
    /// responses when the API is known.
    fn into_response(self, request_id: &str) -> Response<GatewayBody> {
        let err = self.error;
        if err.status().is_server_error() {
            tracing::warn!(%request_id, error = %err, "request failed");
        } else {
            tracing::debug!(%request_id, error = %err, "request refused");
        }
        let Some(api) = self.api.filter(|a| !a.def.gateway_responses.is_empty()) else {
            return err.into_response();
        };
        let ctx = self.ctx;
        let early = self.early;
        let accept = ctx.as_ref().and_then(|c| media_type(c.header("accept")));
        let lookup = |source: &ParamSource| -> Option<String> {
            if let Some(c) = &ctx {
                return c.source_value(source);
            }
            match source {
                ParamSource::Literal(v) => Some(v.clone()),
                ParamSource::Context(n) => early.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()),
                _ => None,
            }
        };
        err.into_custom_response(&api.def.gateway_responses, accept.as_deref(), &lookup)
    }
}

impl From<GatewayError> for Failed<'_> {
    fn from(error: GatewayError) -> Self {
        Failed { error, api: None, ctx: None, early: Vec::new() }
    }
}

async fn run<'a>(
    snapshot: &'a Snapshot,
    req: Request<RequestBody>,
    conn: ConnInfo,
    request_id: &'a str,
) -> Result<MethodResponse, Failed<'a>> {
    edge_checks(&req, snapshot, conn)?;
    let (parts, body) = req.into_parts();
    let api = find_api(snapshot, &parts).ok_or_else(GatewayError::missing_token)?;
    // Cheap clones (a shared buffer, a standard method) kept for a failure before the request
    // context exists; the `$context` values are only built then.
    let (method, uri) = (parts.method.clone(), parts.uri.clone());
    let mut ctx = match method_request(snapshot, api, parts, conn, request_id) {
        Ok(ctx) => ctx,
        Err(error) => {
            let early = vec![
                ("requestId", request_id.to_string()),
                ("extendedRequestId", request_id.to_string()),
                ("apiId", api.def.id.clone()),
                ("httpMethod", method.to_string()),
                ("path", uri.path().to_string()),
                ("identity.sourceIp", conn.remote.ip().to_string()),
            ];
            return Err(Failed { error, api: Some(api), ctx: None, early });
        }
    };
    match phases(&mut ctx, body).await {
        Ok(resp) => Ok(resp),
        Err(error) => Err(Failed { error, api: Some(api), ctx: Some(Box::new(ctx)), early: Vec::new() }),
    }
}

/// The API a request is for (by `Host` when there are several).
fn find_api<'a>(snapshot: &'a Snapshot, parts: &http::request::Parts) -> Option<&'a Api> {
    let domain = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    let host = domain.rsplit_once(':').map_or(domain, |(h, _)| h);
    snapshot.api_for_host(host)
}

/// Authorization, validation, and the integration with its request and response mapping.
async fn phases(ctx: &mut RequestCtx<'_>, body: RequestBody) -> Result<MethodResponse, GatewayError> {
    let snapshot = ctx.snapshot;
    // The futures of plugin calls are large; boxed, they are not part of (and copied with) every
    // request's future, only of the requests that make them.
    if !matches!(ctx.method.authorization, Authorization::None) {
        Box::pin(authorization(ctx)).await?;
    }
    validate_parameters(ctx)?;
    let validate = ctx.method.validation.as_ref().filter(|v| !v.body.is_empty());
    let body = if validate.is_none() && http_body::Body::is_end_stream(&body) {
        // Nothing to read (a GET, say): no limit or deadline to watch.
        Buffered::Whole(Bytes::new())
    } else {
        let limits = &snapshot.config.limits;
        let timeout = std::time::Duration::from_millis(limits.body_read_timeout_ms);
        let (guarded, outcome) = GuardedBody::new(body, limits.max_body_bytes, timeout);
        // A body that is validated is read whole first; otherwise HTTP_PROXY streams it.
        match validate {
            Some(v) => {
                let body = read_body(guarded).await?;
                validate_body(ctx, &v.body, &body)?;
                Buffered::Whole(body)
            }
            None => Buffered::Streaming(guarded, outcome),
        }
    };
    match &ctx.method.integration.kind {
        IntegrationKind::HttpProxy { method, uri } => {
            let (body, outcome) = match body {
                Buffered::Whole(b) if b.is_empty() => (empty_body(), None),
                Buffered::Whole(b) => (full_body(b), None),
                Buffered::Streaming(g, o) => {
                    (g.map_err(|e| Box::new(e) as crate::http_client::BoxError).boxed(), Some(o))
                }
            };
            http_proxy(ctx, method.as_deref(), uri, body, outcome).await
        }
        IntegrationKind::Http { method, uri } => {
            ctx.body = Some(body.read().await?);
            Box::pin(http(ctx, method.as_deref(), uri)).await.map(MethodResponse::from)
        }
        IntegrationKind::Mock => {
            ctx.body = Some(body.read().await?);
            Box::pin(mock(ctx)).await.map(MethodResponse::from)
        }
        IntegrationKind::Plugin { plugin } => {
            ctx.body = Some(body.read().await?);
            Box::pin(plugin_integration(ctx, plugin)).await.map(MethodResponse::from)
        }
    }
}

/// The request body: read whole (for validation), or still to be read or streamed.
enum Buffered {
    Whole(Bytes),
    Streaming(GuardedBody<RequestBody>, BodyOutcome),
}

impl Buffered {
    async fn read(self) -> Result<Bytes, GatewayError> {
        match self {
            Buffered::Whole(b) => Ok(b),
            Buffered::Streaming(g, _) => read_body(g).await,
        }
    }
}

// === validation ===

/// `validateRequestParameters`: every required parameter present and not blank, else 400
/// `Missing required request parameters: [a, b]` (names in the order of their full keys).
fn validate_parameters(ctx: &RequestCtx<'_>) -> Result<(), GatewayError> {
    let Some(v) = &ctx.method.validation else { return Ok(()) };
    if !v.parameters {
        return Ok(());
    }
    let mut missing: Vec<(String, &str)> = Vec::new();
    for p in ctx.method.request_parameters.iter().filter(|p| p.required) {
        let (location, value) = match p.location {
            ParamLocation::Path => {
                ("path", ctx.path_params.iter().find(|(k, _)| **k == *p.name).map(|(_, v)| v.as_str()))
            }
            ParamLocation::Query => ("querystring", ctx.query_last(&p.name)),
            ParamLocation::Header => ("header", ctx.header(&p.name)),
        };
        if value.is_none_or(|v| v.trim().is_empty()) {
            missing.push((format!("method.request.{location}.{}", p.name), &p.name));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort();
    let names: Vec<&str> = missing.iter().map(|(_, n)| *n).collect();
    Err(GatewayError::new(
        ResponseType::BadRequestParameters,
        format!("Missing required request parameters: [{}]", names.join(", ")),
    ))
}

/// `validateRequestBody`: the body against the model for its media type (or `$default`), else
/// 400 `Invalid request body`. An empty body is `{}`; a body that is not JSON is invalid.
fn validate_body(
    ctx: &RequestCtx<'_>,
    models: &std::collections::BTreeMap<String, Arc<jsonschema::Validator>>,
    body: &Bytes,
) -> Result<(), GatewayError> {
    let media = media_type(ctx.header("content-type")).unwrap_or_else(|| "application/json".into());
    let Some(model) = models.get(&media).or_else(|| models.get("$default")) else {
        return Ok(());
    };
    let invalid = |detail: String| {
        tracing::debug!(request_id = ctx.request_id, %detail, "request body failed validation");
        GatewayError::new(ResponseType::BadRequestBody, "Invalid request body").with_validation_errors(detail)
    };
    let instance: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|e| invalid(format!("not JSON: {e}")))?
    };
    let errors: Vec<String> = model.iter_errors(&instance).map(|e| e.to_string()).collect();
    if errors.is_empty() { Ok(()) } else { Err(invalid(format!("[{}]", errors.join(", ")))) }
}

// === method request ===

/// Checks made before anything else: framing and `Host`.
fn edge_checks(req: &Request<RequestBody>, snapshot: &Snapshot, conn: ConnInfo) -> Result<(), GatewayError> {
    let bad = |m: &str| GatewayError::new(ResponseType::EdgeBadRequest, m).closing();
    // One pass over the headers (no lookups by name).
    let (mut header_bytes, mut hosts, mut te, mut length) = (0, 0, false, None);
    for (name, value) in req.headers() {
        header_bytes += name.as_str().len() + value.len() + 4;
        if name == header::HOST {
            hosts += 1;
        } else if name == header::TRANSFER_ENCODING {
            te = true;
        } else if name == header::CONTENT_LENGTH {
            length.get_or_insert(value);
        }
    }
    if header_bytes > snapshot.config.limits.max_header_bytes {
        return Err(GatewayError::new(ResponseType::EdgeHeadersTooLarge, "Request Header Fields Too Large").closing());
    }
    if req.version() < http::Version::HTTP_2 {
        match hosts {
            0 if req.version() == http::Version::HTTP_11 => return Err(bad("Missing Host header")),
            0 | 1 => {}
            _ => return Err(bad("Multiple Host headers")),
        }
    }
    if conn.framing_conflict || (te && length.is_some()) {
        return Err(bad("Both Content-Length and Transfer-Encoding"));
    }
    if let Some(len) = length {
        let len: u64 = len.to_str().ok().and_then(|s| s.parse().ok()).ok_or_else(|| bad("Invalid Content-Length"))?;
        if len > snapshot.config.limits.max_body_bytes {
            return Err(GatewayError::new(ResponseType::RequestTooLarge, "Request Entity Too Large").closing());
        }
    }
    Ok(())
}

fn method_request<'a>(
    snapshot: &'a Snapshot,
    api: &'a Api,
    parts: http::request::Parts,
    conn: ConnInfo,
    request_id: &'a str,
) -> Result<RequestCtx<'a>, GatewayError> {
    let full_path = parts.uri.path();
    let after_slash = full_path.strip_prefix('/').unwrap_or(full_path);
    let (stage_name, rest) = match after_slash.find('/') {
        Some(i) => (&after_slash[..i], &after_slash[i..]),
        None => (after_slash, ""),
    };
    let stage = api.def.stages.get(stage_name).ok_or_else(GatewayError::missing_token)?;
    let route = api.router.find(rest).ok_or_else(GatewayError::missing_token)?;
    let resource = &api.def.resources[route.resource];
    let method = resource
        .methods
        .get(parts.method.as_str())
        .or_else(|| resource.methods.get("ANY"))
        .ok_or_else(GatewayError::missing_token)?;

    let query =
        parts.uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let protocol = match parts.version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let rest = rest.trim_start_matches('/');
    let mut path = String::with_capacity(rest.len() + 1);
    path.push('/');
    path.push_str(rest);
    Ok(RequestCtx {
        snapshot,
        api,
        stage,
        resource,
        method,
        request_id,
        verb: parts.method.clone(),
        path,
        uri: parts.uri,
        query,
        headers: parts.headers,
        path_params: route.params,
        protocol,
        remote_ip: conn.remote.ip(),
        request_time_epoch: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
        principal_id: None,
        authorizer_context: Vec::new(),
        body: None,
        body_json: OnceLock::new(),
    })
}

async fn read_body(body: GuardedBody<RequestBody>) -> Result<Bytes, GatewayError> {
    body.collect().await.map(|c| c.to_bytes()).map_err(body_error)
}

fn body_error(e: BodyError) -> GatewayError {
    match e {
        BodyError::TooLarge => GatewayError::new(ResponseType::RequestTooLarge, "Request Entity Too Large").closing(),
        BodyError::Timeout => GatewayError::new(ResponseType::EdgeRequestTimeout, "Request Timeout").closing(),
        BodyError::Broken => GatewayError::new(ResponseType::EdgeBadRequest, "Bad Request").closing(),
    }
}

impl RequestCtx<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_all(name).iter().next_back().and_then(|v| v.to_str().ok())
    }

    /// `$context.domainName`: the `Host` header, else the request target's authority.
    fn domain_name(&self) -> &str {
        self.headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| self.uri.authority().map(|a| a.as_str()))
            .unwrap_or_default()
    }

    /// The path parameters as owned pairs, for a plugin's input.
    fn path_params_owned(&self) -> Vec<(String, String)> {
        self.path_params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn query_last(&self, name: &str) -> Option<&str> {
        self.query.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn stage_variable(&self, name: &str) -> Option<&str> {
        self.stage.variables.get(name).map(String::as_str)
    }

    /// `$context.<name>` as a string, for mappings and identity sources.
    fn context_value(&self, name: &str) -> Option<String> {
        let v = match name {
            "requestId" | "extendedRequestId" => self.request_id.to_string(),
            "apiId" => self.api.def.id.clone(),
            "stage" => self.stage.name.clone(),
            "resourceId" => self.resource.id.clone(),
            "resourcePath" => self.resource.path.clone(),
            "httpMethod" => self.verb.to_string(),
            "path" => self.uri.path().to_string(),
            "protocol" => self.protocol.to_string(),
            "domainName" => self.domain_name().to_string(),
            "domainPrefix" => self.domain_name().split('.').next().unwrap_or_default().to_string(),
            "requestTimeEpoch" => self.request_time_epoch.to_string(),
            "accountId" => self.snapshot.config.account_id.clone(),
            "identity.sourceIp" => self.remote_ip.to_string(),
            "identity.userAgent" => self.header("user-agent").unwrap_or_default().to_string(),
            "authorizer.principalId" => self.principal_id.clone()?,
            other => {
                let key = other.strip_prefix("authorizer.")?;
                self.authorizer_context.iter().find(|(k, _)| k == key)?.1.clone()
            }
        };
        Some(v)
    }

    fn context(&self) -> types::RequestContext {
        types::RequestContext {
            request_id: self.request_id.to_string(),
            api_id: self.api.def.id.clone(),
            stage: self.stage.name.clone(),
            resource_id: self.resource.id.clone(),
            resource_path: self.resource.path.clone(),
            http_method: self.verb.to_string(),
            path: self.uri.path().to_string(),
            protocol: self.protocol.to_string(),
            source_ip: self.remote_ip.to_string(),
            user_agent: self.header("user-agent").unwrap_or_default().to_string(),
            domain_name: self.domain_name().to_string(),
            request_time_epoch: self.request_time_epoch,
            stage_variables: self.stage.variables.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            principal_id: self.principal_id.clone(),
            authorizer_context: self.authorizer_context.clone(),
            account_id: self.snapshot.config.account_id.clone(),
            extra: Vec::new(),
        }
    }

    /// Request headers as `(name, value)` pairs, without the ones API Gateway drops.
    fn forwarded_headers(&self) -> Vec<(String, String)> {
        header_pairs(self.headers.iter().filter(|(k, _)| !DROPPED_REQUEST_HEADERS.contains(&k.as_str())))
    }

    fn method_arn(&self) -> String {
        let c = &self.snapshot.config;
        method_arn(&c.region, &c.account_id, &self.api.def.id, &self.stage.name, self.verb.as_str(), &self.path)
    }

    fn source_value(&self, source: &ParamSource) -> Option<String> {
        self.source_str(source).map(Cow::into_owned)
    }

    /// [`RequestCtx::source_value`], borrowed where the value is stored as it is.
    fn source_str<'s>(&'s self, source: &'s ParamSource) -> Option<Cow<'s, str>> {
        Some(match source {
            ParamSource::Path(n) => Cow::Borrowed(self.path_params.iter().find(|(k, _)| **k == **n)?.1.as_str()),
            ParamSource::Query(n) => Cow::Borrowed(self.query_last(n)?),
            ParamSource::Header(n) => Cow::Borrowed(self.header(n)?),
            ParamSource::MultiQuery(n) => {
                let all: Vec<&str> = self.query.iter().filter(|(k, _)| k == n).map(|(_, v)| v.as_str()).collect();
                Cow::Owned((!all.is_empty()).then(|| all.join(","))?)
            }
            ParamSource::MultiHeader(n) => {
                let all: Vec<&str> = self.headers.get_all(n.as_str()).iter().filter_map(|v| v.to_str().ok()).collect();
                Cow::Owned((!all.is_empty()).then(|| all.join(","))?)
            }
            ParamSource::StageVariable(n) => Cow::Borrowed(self.stage_variable(n)?),
            ParamSource::Context(n) => Cow::Owned(self.context_value(n)?),
            ParamSource::Literal(v) => Cow::Borrowed(v.as_str()),
            ParamSource::RequestBody(None) => String::from_utf8_lossy(self.body.as_ref()?),
            ParamSource::RequestBody(Some(path)) => Cow::Owned(json_path_value(self.body_json().as_ref()?, path)?),
            // Integration response values: see `response_source_value`.
            ParamSource::ResponseHeader(_) | ParamSource::ResponseMultiHeader(_) | ParamSource::ResponseBody(_) => {
                return None;
            }
        })
    }

    /// The method request body as JSON (an empty body is `{}`, as for `$input.json`).
    fn body_json(&self) -> &Option<serde_json::Value> {
        self.body_json.get_or_init(|| parse_json_body(self.body.as_deref().unwrap_or_default()))
    }

    /// `requestParameters` that read the body through a JSONPath need a JSON body: else 400
    /// `Invalid JSON in request body`, as in API Gateway.
    fn check_body_mappings(&self) -> Result<(), GatewayError> {
        let reads_json = self
            .method
            .integration
            .request_parameters
            .iter()
            .any(|(_, s)| matches!(s, ParamSource::RequestBody(Some(_))));
        if reads_json && self.body_json().is_none() {
            return Err(GatewayError::new(ResponseType::BadRequestBody, "Invalid JSON in request body"));
        }
        Ok(())
    }
}

/// `arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{VERB}/{path}` (the path without
/// its leading slash), built without the formatting machinery: it is made on every authorized
/// request.
fn method_arn(region: &str, account: &str, api_id: &str, stage: &str, verb: &str, path: &str) -> String {
    let path = path.trim_start_matches('/');
    let parts = ["arn:aws:execute-api:", region, ":", account, ":", api_id, "/", stage, "/", verb, "/", path];
    let mut arn = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| arn.push_str(p));
    arn
}

/// A body as JSON; blank is `{}`; `None` when it is not JSON.
fn parse_json_body(body: &[u8]) -> Option<serde_json::Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_slice(body).ok()
}

/// The value a JSONPath mapping gives: a string as it is, anything else as compact JSON;
/// several matches as a JSON array; no match (or `null`) as no value.
fn json_path_value(root: &serde_json::Value, path: &BodyPath) -> Option<String> {
    let nodes = path.query.query(root).all();
    match nodes.as_slice() {
        [] | [serde_json::Value::Null] => None,
        [serde_json::Value::String(s)] => Some(s.clone()),
        [one] => Some(one.to_string()),
        many => Some(serde_json::Value::Array(many.iter().map(|v| (*v).clone()).collect()).to_string()),
    }
}

// === authorization ===

async fn authorization(ctx: &mut RequestCtx<'_>) -> Result<(), GatewayError> {
    let Authorization::Custom(name) = &ctx.method.authorization else {
        return Ok(());
    };
    let def = &ctx.api.def.authorizers[name];
    let unauthorized = || GatewayError::new(ResponseType::Unauthorized, "Unauthorized");

    // Identity sources: all present and non-empty, or 401 without calling the plugin.
    let mut identity = Vec::with_capacity(def.identity_sources.len());
    for source in &def.identity_sources {
        let value = match source {
            IdentitySource::Header(n) => ctx.header(n).map(str::to_string),
            IdentitySource::Query(n) => ctx.query_last(n).map(str::to_string),
            IdentitySource::StageVariable(n) => ctx.stage_variable(n).map(str::to_string),
            IdentitySource::Context(n) => ctx.context_value(n),
        };
        match value {
            Some(v) if !v.is_empty() => identity.push(v),
            _ => return Err(unauthorized()),
        }
    }
    let token = (def.kind == AuthorizerKind::Token).then(|| identity[0].clone());
    if let (Some(re), Some(t)) = (&def.validation, &token)
        && !re.is_match(t)
    {
        return Err(unauthorized());
    }

    let cache = ctx.api.auth_caches.get(name);
    // Our authorizers decide per request (they see the method ARN), not with a policy that
    // could be re-evaluated, so a cached decision holds for the same identity on the same
    // method ARN only. Lengths are prefixed so that no two identities share a key.
    // (No key is built when decisions are not cached: `authorizerResultTtlInSeconds = 0`.)
    let method_arn = ctx.method_arn();
    let cached = cache.map(|cache| {
        let mut key = String::with_capacity(method_arn.len() + identity.iter().map(|v| v.len() + 8).sum::<usize>());
        for part in identity.iter().chain(std::iter::once(&method_arn)) {
            key.push_str(&part.len().to_string());
            key.push(':');
            key.push_str(part);
        }
        (cache, key)
    });
    let decision = match cached.as_ref().and_then(|(cache, key)| cache.get(key)) {
        Some(hit) => hit,
        None => {
            let decided = call_authorizer(ctx, def, token, method_arn).await?;
            if let (Some((cache, key)), Some(d)) = (cached, &decided) {
                cache.insert(key, d.clone());
            }
            decided.ok_or_else(unauthorized)?
        }
    };
    match decision {
        CachedDecision::Allow { principal_id, context } => {
            ctx.principal_id = Some(principal_id);
            ctx.authorizer_context = context;
            Ok(())
        }
        CachedDecision::Deny => Err(GatewayError::new(
            ResponseType::AccessDenied,
            "User is not authorized to access this resource with an explicit deny",
        )),
    }
}

/// Calls the authorizer plugin: `Some(decision)`, or `None` for unauthorized.
async fn call_authorizer(
    ctx: &RequestCtx<'_>,
    def: &AuthorizerDef,
    token: Option<String>,
    method_arn: String,
) -> Result<Option<CachedDecision>, GatewayError> {
    let plugin = &ctx.snapshot.plugins[&def.plugin];
    let request = AuthorizerCall {
        kind: match def.kind {
            AuthorizerKind::Token => types::AuthorizerKind::Token,
            AuthorizerKind::Request => types::AuthorizerKind::Request,
        },
        authorization_token: token,
        method_arn,
        resource: ctx.resource.path.clone(),
        path: ctx.path.clone(),
        http_method: ctx.verb.to_string(),
        headers: ctx.forwarded_headers(),
        query: ctx.query.clone(),
        path_parameters: ctx.path_params_owned(),
        context: ctx.context(),
    };
    let decision = plugin.authorize(ctx.request_id, request).await.map_err(|failure| {
        if matches!(failure, PluginFailure::Overloaded) {
            return overloaded();
        }
        // API Gateway answers an authorizer that errors, times out or returns garbage with
        // 500 `{"message":null}` (AuthorizerConfigurationException).
        let mut err = GatewayError::new(ResponseType::AuthorizerConfigurationError, "");
        err.message = None;
        err.with_cause(anyhow::anyhow!("authorizer `{}` (plugin `{}`): {failure}", def.name, def.plugin))
    })?;
    Ok(match decision {
        types::Decision::Allow(g) => Some(CachedDecision::Allow {
            principal_id: g.principal_id,
            context: g.context.into_iter().map(|(k, v)| (k, context_string(v))).collect(),
        }),
        types::Decision::Deny(_) => Some(CachedDecision::Deny),
        types::Decision::Unauthorized => None,
    })
}

/// Every plugin instance slot is busy: the gateway is at capacity, like API Gateway's throttle.
fn overloaded() -> GatewayError {
    GatewayError::new(ResponseType::Throttled, "Too Many Requests")
}

fn context_string(v: types::ContextValue) -> String {
    match v {
        types::ContextValue::Text(s) => s,
        types::ContextValue::Number(n) => n.to_string(),
        types::ContextValue::Boolean(b) => b.to_string(),
    }
}

// === integration request ===

fn media_type(value: Option<&str>) -> Option<String> {
    let v = value?.split([';', ',']).next()?.trim().to_ascii_lowercase();
    (!v.is_empty()).then_some(v)
}

/// Picks the request template (`None` = pass the body through), or refuses with 415 per
/// `passthroughBehavior`.
fn request_template<'m>(
    ctx: &RequestCtx<'_>,
    integration: &'m IntegrationDef,
) -> Result<Option<&'m String>, GatewayError> {
    let unsupported = || GatewayError::new(ResponseType::UnsupportedMediaType, "Unsupported Media Type");
    let templates = &integration.request_templates;
    if templates.is_empty() {
        return if integration.passthrough == Passthrough::Never { Err(unsupported()) } else { Ok(None) };
    }
    let content_type = media_type(ctx.header("content-type")).unwrap_or_else(|| "application/json".into());
    match templates.get(&content_type) {
        Some(t) => Ok(Some(t)),
        None if integration.passthrough == Passthrough::WhenNoMatch => Ok(None),
        None => Err(unsupported()),
    }
}

/// Does a template need the template engine? One without `$`, `#` or `\\` renders as itself.
fn needs_rendering(template: &str) -> bool {
    template.contains(['$', '#', '\\'])
}

/// The built-in template engine as a transform.
fn template_engine() -> TransformDef {
    TransformDef { plugin: VTL_PLUGIN.to_string(), template: None }
}

/// Converts the method request payload per `contentHandling` (spec §1.9); returns it and
/// whether it is binary now.
fn convert_request_payload(
    body: Bytes,
    binary: bool,
    handling: Option<ContentHandling>,
) -> Result<(Bytes, bool), GatewayError> {
    match (handling, binary) {
        (None, _) | (Some(ContentHandling::ToBinary), true) | (Some(ContentHandling::ToText), false) => {
            Ok((body, binary))
        }
        (Some(ContentHandling::ToBinary), false) => Ok((base64_decode(&body)?, true)),
        (Some(ContentHandling::ToText), true) => Ok((base64_encode(&body), false)),
    }
}

/// Converts the integration response payload per `contentHandling` and the client's
/// `Accept` (spec §1.9); returns it and whether it is binary now. Without `contentHandling`,
/// a text payload for a client that accepts a binary type is base64-decoded, and a binary
/// payload for a client that accepts text is base64-encoded.
fn convert_response_payload(
    body: Bytes,
    binary: bool,
    accept_binary: bool,
    handling: Option<ContentHandling>,
) -> Result<(Bytes, bool), GatewayError> {
    match (handling, binary, accept_binary) {
        (Some(ContentHandling::ToBinary), true, _) | (None, true, true) => Ok((body, true)),
        (Some(ContentHandling::ToBinary), false, _) | (None, false, true) => Ok((base64_decode(&body)?, true)),
        (Some(ContentHandling::ToText), true, _) | (None, true, false) => Ok((base64_encode(&body), false)),
        (Some(ContentHandling::ToText), false, _) | (None, false, false) => Ok((body, false)),
    }
}

/// Text → binary conversion: the text must be base64, else 500 (a configuration error).
fn base64_decode(text: &[u8]) -> Result<Bytes, GatewayError> {
    use base64::Engine;
    let trimmed = text.trim_ascii();
    base64::engine::general_purpose::STANDARD.decode(trimmed).map(Bytes::from).map_err(|e| {
        GatewayError::configuration(anyhow::anyhow!(
            "contentHandling CONVERT_TO_BINARY: the payload is not base64: {e}"
        ))
    })
}

fn base64_encode(binary: &[u8]) -> Bytes {
    use base64::Engine;
    Bytes::from(base64::engine::general_purpose::STANDARD.encode(binary))
}

/// `$context.requestOverride.*` set by the request template: they win over the
/// integration's `requestParameters`.
#[derive(Debug, Default)]
struct RequestOverrides {
    path: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

/// The integration request body (the rendered template, the transform's output, or the
/// method request body itself) and the template's request overrides.
async fn integration_request_body(ctx: &RequestCtx<'_>) -> Result<(Bytes, RequestOverrides), GatewayError> {
    let integration = &ctx.method.integration;
    let body = ctx.body.clone().unwrap_or_default();
    let binary = ctx.api.def.binary_media_types.matches(media_type(ctx.header("content-type")).as_deref());
    let (body, binary) = convert_request_payload(body, binary, integration.content_handling)?;
    if binary {
        // A binary payload is not a template's input: it goes to the integration as it is.
        return Ok((body, RequestOverrides::default()));
    }
    let template = request_template(ctx, integration)?;
    let engine;
    let transform = match (&integration.request_transform, template) {
        (Some(t), _) => Some(t),
        (None, Some(t)) if needs_rendering(t) => {
            engine = template_engine();
            Some(&engine)
        }
        _ => None,
    };
    match transform {
        Some(t) => {
            let input = types::TransformInput {
                phase: types::TransformPhase::IntegrationRequest,
                template: t.template.clone().or_else(|| template.cloned()),
                content_type: media_type(ctx.header("content-type")),
                body: body.to_vec(),
                status_code: None,
                path_parameters: ctx.path_params_owned(),
                query: ctx.query.clone(),
                headers: ctx.forwarded_headers(),
                integration_headers: Vec::new(),
                context: ctx.context(),
            };
            let out = run_transform(ctx, t, &input).await?;
            let overrides = RequestOverrides { path: out.path_parameters, query: out.query, headers: out.headers };
            Ok((out.body.into(), overrides))
        }
        None => Ok((template.map_or(body, |t| Bytes::from(t.clone())), RequestOverrides::default())),
    }
}

async fn run_transform(
    ctx: &RequestCtx<'_>,
    t: &TransformDef,
    input: &types::TransformInput,
) -> Result<types::TransformOutput, GatewayError> {
    let plugin = &ctx.snapshot.plugins[&t.plugin];
    plugin.transform(ctx.request_id, input).await.map_err(|failure| {
        if matches!(failure, PluginFailure::Overloaded) {
            return overloaded();
        }
        // A template read a payload that is not JSON: API Gateway answers 400.
        if let PluginFailure::Returned(m) = &failure
            && let Some(i) = m.find(INVALID_JSON)
        {
            return GatewayError::new(ResponseType::BadRequestBody, &m[i..]);
        }
        GatewayError::new(ResponseType::ApiConfigurationError, "Internal server error")
            .with_cause(anyhow::anyhow!("transform plugin `{}`: {failure}", t.plugin))
    })
}

// === integration ===

async fn mock(ctx: &RequestCtx<'_>) -> Result<Response<GatewayBody>, GatewayError> {
    let (request, _) = integration_request_body(ctx).await?;
    // The request template's output must be JSON with an integer `statusCode`.
    let status = serde_json::from_slice::<serde_json::Value>(&request)
        .ok()
        .and_then(|v| v.get("statusCode").and_then(serde_json::Value::as_u64))
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| {
            GatewayError::configuration(anyhow::anyhow!(
                "MOCK integration: the request template output has no integer `statusCode`"
            ))
        })?;
    integration_response(ctx, status, &HeaderMap::new(), Bytes::new()).await
}

async fn plugin_integration(ctx: &RequestCtx<'_>, plugin: &str) -> Result<Response<GatewayBody>, GatewayError> {
    ctx.check_body_mappings()?;
    let (body, overrides) = integration_request_body(ctx).await?;
    let mut headers = ctx.forwarded_headers();
    let mut query = ctx.query.clone();
    let mut path_parameters = ctx.path_params_owned();
    let set = |list: &mut Vec<(String, String)>, name: &str, value: String, ignore_case: bool| {
        list.retain(|(k, _)| if ignore_case { !k.eq_ignore_ascii_case(name) } else { k != name });
        list.push((name.to_string(), value));
    };
    for (target, source) in &ctx.method.integration.request_parameters {
        let Some(value) = ctx.source_value(source) else {
            continue;
        };
        match target {
            ParamTarget::Header(n) => set(&mut headers, n, value, true),
            ParamTarget::Query(n) => set(&mut query, n, value, false),
            ParamTarget::Path(n) => set(&mut path_parameters, n, value, false),
        }
    }
    for (n, v) in overrides.headers {
        set(&mut headers, &n, v, true);
    }
    for (n, v) in overrides.query {
        set(&mut query, &n, v, false);
    }
    for (n, v) in overrides.path {
        set(&mut path_parameters, &n, v, false);
    }
    let request = types::IntegrationRequest {
        method: ctx.verb.to_string(),
        path: ctx.path.clone(),
        query,
        headers,
        body: body.to_vec(),
        path_parameters,
        context: ctx.context(),
    };
    let p = &ctx.snapshot.plugins[plugin];
    let resp = p.invoke(ctx.request_id, &request, ctx.method.integration.timeout).await.map_err(|failure| {
        let cause = anyhow::anyhow!("integration plugin `{plugin}`: {failure}");
        match failure {
            PluginFailure::Overloaded => overloaded(),
            PluginFailure::Timeout(_) => {
                GatewayError::new(ResponseType::IntegrationTimeout, "Endpoint request timed out").with_cause(cause)
            }
            _ => {
                GatewayError::new(ResponseType::Default5xx, "Internal server error").with_status(502).with_cause(cause)
            }
        }
    })?;
    if ctx.method.integration.responses.is_empty() {
        // No integration responses: the plugin's response is the method response.
        let status =
            StatusCode::from_u16(resp.status).ok().filter(|s| (200..=599).contains(&s.as_u16())).ok_or_else(|| {
                GatewayError::new(ResponseType::Default5xx, "Internal server error")
                    .with_status(502)
                    .with_cause(anyhow::anyhow!("integration plugin `{plugin}` returned status {}", resp.status))
            })?;
        let mut headers = HeaderMap::new();
        for (k, v) in &resp.headers {
            set_response_header(&mut headers, k, v, true);
        }
        let transform = ctx.method.integration.response_transform.as_ref();
        return respond_with_transform(ctx, transform, status, headers, resp.headers, resp.body.into(), None).await;
    }
    // Integration responses map from the plugin's headers as it sent them (not remapped).
    let integration_headers: HeaderMap = resp
        .headers
        .iter()
        .filter_map(|(k, v)| Some((HeaderName::from_bytes(k.as_bytes()).ok()?, HeaderValue::from_str(v).ok()?)))
        .collect();
    integration_response(ctx, resp.status, &integration_headers, resp.body.into()).await
}

/// The backend request's headers, written straight into its head (no second header map):
/// the client's (HTTP_PROXY) less `Host` and the ones API Gateway drops, the mapped and
/// overridden ones in place of the client's of the same name, and the API's id.
struct BackendHeaders<'a> {
    client: Option<&'a HeaderMap>,
    /// Mapped and overridden headers, one per name (the last mapping of a name wins).
    set: Vec<(HeaderName, HeaderValue)>,
    api_id: &'a HeaderValue,
}

impl BackendHeaders<'_> {
    fn contains(&self, name: &HeaderName) -> bool {
        self.set.iter().any(|(n, _)| n == name)
    }

    /// Sets a mapped or overridden integration request header. Connection, Expect,
    /// Proxy-Authenticate, TE and Via are not sent (§0.3).
    fn set(&mut self, name: &str, value: &str) -> Result<(), GatewayError> {
        let lower = name.to_ascii_lowercase();
        if ["connection", "expect", "proxy-authenticate", "te", "via"].contains(&lower.as_str()) {
            return Ok(());
        }
        let name = HeaderName::from_bytes(lower.as_bytes())
            .map_err(|_| GatewayError::configuration(anyhow::anyhow!("invalid integration request header `{name}`")))?;
        let value = HeaderValue::from_str(value).map_err(|e| GatewayError::configuration(e.into()))?;
        match self.set.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.set.push((name, value)),
        }
        Ok(())
    }
}

impl HeaderLines for BackendHeaders<'_> {
    fn has_host(&self) -> bool {
        self.contains(&header::HOST)
    }

    fn write_to(&self, w: &mut HeadWriter<'_>) {
        for (name, value) in self.client.into_iter().flatten() {
            if name != header::HOST
                && name != X_AMZN_API_ID
                && !DROPPED_REQUEST_HEADERS.contains(&name.as_str())
                && !self.contains(name)
            {
                w.header(name, value.as_bytes());
            }
        }
        for (name, value) in &self.set {
            if name != X_AMZN_API_ID {
                w.header(name, value.as_bytes());
            }
        }
        w.header(&X_AMZN_API_ID, self.api_id.as_bytes());
    }
}

/// The backend request's method, URL and headers, from the integration's URI, its mappings
/// and the template's overrides. `client`: forward the client's headers and query string
/// (HTTP_PROXY), or send only what is mapped (HTTP).
fn backend_head<'a>(
    ctx: &'a RequestCtx<'_>,
    backend_method: Option<&str>,
    uri: &UriTemplate,
    client: bool,
    overrides: &RequestOverrides,
) -> Result<(Method, Target, BackendHeaders<'a>), GatewayError> {
    let integration = &ctx.method.integration;
    let mut headers =
        BackendHeaders { client: client.then_some(&ctx.headers), set: Vec::new(), api_id: &ctx.api.id_header };
    // Path placeholders and their (percent-encoded) values (a few: on the stack), and the
    // query string pairs.
    let mut path: smallvec::SmallVec<[(&str, Cow<'_, str>); 4]> = smallvec::SmallVec::new();
    let mut extra_query: Vec<(&str, Cow<'_, str>)> = Vec::new();
    for (target, source) in &integration.request_parameters {
        let value = ctx.source_str(source);
        match target {
            ParamTarget::Path(n) => {
                let encoded = matches!(source, ParamSource::Path(_));
                let value = match value {
                    Some(Cow::Borrowed(v)) => path_value(encoded, v),
                    Some(Cow::Owned(v)) => Cow::Owned(path_value(encoded, &v).into_owned()),
                    None => Cow::Borrowed(""),
                };
                path.push((n, value));
            }
            ParamTarget::Query(n) => {
                if let Some(v) = value {
                    extra_query.push((n, v));
                }
            }
            ParamTarget::Header(n) => {
                if let Some(v) = value {
                    headers.set(n, &v)?;
                }
            }
        }
    }
    for (n, v) in &overrides.path {
        let v = Cow::Owned(path_value(false, v).into_owned());
        match path.iter_mut().find(|(k, _)| k == n) {
            Some(entry) => entry.1 = v,
            None => path.push((n, v)),
        }
    }
    for (n, v) in &overrides.query {
        extra_query.retain(|(k, _)| k != n);
        extra_query.push((n, Cow::Borrowed(v)));
    }
    for (n, v) in &overrides.headers {
        headers.set(n, v)?;
    }
    let raw_query = if client { ctx.uri.query().unwrap_or_default() } else { "" };
    let query = if extra_query.is_empty() {
        Cow::Borrowed(raw_query)
    } else {
        let mut pairs = form_urlencoded::Serializer::for_suffix(raw_query.to_string(), 0);
        pairs.extend_pairs(extra_query);
        Cow::Owned(pairs.finish())
    };
    let target = uri
        .render(|n| ctx.stage_variable(n), |n| path.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_ref()), &query)
        .map_err(|e| GatewayError::configuration(anyhow::anyhow!(e)))?;
    let method = match backend_method {
        Some(m) => Method::from_bytes(m.as_bytes()).map_err(|e| GatewayError::configuration(e.into()))?,
        None => ctx.verb.clone(),
    };
    Ok((method, target, headers))
}

/// Sends a backend request under the integration's timeout.
async fn send_backend(
    ctx: &RequestCtx<'_>,
    (method, target, headers): (Method, Target, BackendHeaders<'_>),
    body: GatewayBody,
    outcome: Option<&BodyOutcome>,
    rules: ResponseHeaderRules,
) -> Result<Response<ClientBody>, GatewayError> {
    let timeout = ctx.method.integration.timeout;
    let sent = ctx.snapshot.http.send(&method, &target, &headers, body, rules);
    match tokio::time::timeout(timeout, sent).await {
        Err(_) => Err(GatewayError::new(ResponseType::IntegrationTimeout, "Endpoint request timed out")
            .with_cause(anyhow::anyhow!("no response within {timeout:?}"))),
        Ok(Err(e)) => {
            if let Some(body_err) = outcome.and_then(BodyOutcome::error) {
                return Err(body_error(body_err));
            }
            Err(GatewayError::new(ResponseType::IntegrationFailure, "Network error communicating with endpoint")
                .with_cause(anyhow::Error::new(e)))
        }
        Ok(Ok(resp)) => Ok(resp),
    }
}

/// `HTTP` (non-proxy): the backend gets the mapped headers and query string and the request
/// template's output; its response goes through the integration responses.
async fn http(
    ctx: &RequestCtx<'_>,
    backend_method: Option<&str>,
    uri: &UriTemplate,
) -> Result<Response<GatewayBody>, GatewayError> {
    ctx.check_body_mappings()?;
    let content_type = ctx.header("content-type").map(str::to_string);
    let (body, overrides) = integration_request_body(ctx).await?;
    let (method, target, mut headers) = backend_head(ctx, backend_method, uri, false, &overrides)?;
    if !headers.contains(&header::CONTENT_TYPE) {
        let ct = content_type.unwrap_or_else(|| "application/json".into());
        if let Ok(v) = HeaderValue::from_str(&ct) {
            headers.set.push((header::CONTENT_TYPE, v));
        }
    }
    let head = (method, target, headers);
    let resp = send_backend(ctx, head, full_body(body), None, ResponseHeaderRules::NONE).await?;
    let status = resp.status().as_u16();
    let (parts, resp_body) = resp.into_parts();
    let limits = &ctx.snapshot.config.limits;
    let (guarded, _) = GuardedBody::new(
        resp_body,
        limits.max_body_bytes,
        std::time::Duration::from_millis(ctx.method.integration.timeout.as_millis() as u64),
    );
    let body = guarded.collect().await.map(|c| c.to_bytes()).map_err(|e| {
        GatewayError::new(ResponseType::IntegrationFailure, "Network error communicating with endpoint")
            .with_cause(anyhow::anyhow!("reading the backend response: {e:?}"))
    })?;
    integration_response(ctx, status, &parts.headers, body).await
}

async fn http_proxy(
    ctx: &RequestCtx<'_>,
    backend_method: Option<&str>,
    uri: &UriTemplate,
    body: GatewayBody,
    outcome: Option<BodyOutcome>,
) -> Result<MethodResponse, GatewayError> {
    let head = backend_head(ctx, backend_method, uri, true, &RequestOverrides::default())?;
    let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
    // Hop-by-hop headers dropped and the others of §0.3 renamed as the head is read.
    let resp = send_backend(ctx, head, body, outcome.as_ref(), PROXY_RESPONSE_HEADERS).await?;
    if let Some(started) = started {
        tracing::debug!(request_id = ctx.request_id, integration_latency_us = started.elapsed().as_micros() as u64);
    }
    let (parts, mut body) = resp.into_parts();
    let backend_headers = body.take_header_lines();
    let mut response = Response::new(body.map_err(|e| Box::new(e) as crate::http_client::BoxError).boxed());
    *response.status_mut() = parts.status;
    *response.headers_mut() = parts.headers;
    Ok(MethodResponse { response, backend_headers })
}

/// Characters of a decoded value that may stand in a path segment as they are.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A mapped value made safe for a path placeholder: values from the request path are already
/// percent-encoded (and a greedy value keeps its slashes); values from other sources are
/// decoded, so they are encoded here. Either way `.` and `..` segments are encoded, so a
/// value cannot walk up the backend's path.
fn path_value(already_encoded: bool, value: &str) -> Cow<'_, str> {
    if already_encoded && !value.split('/').any(|segment| segment == "." || segment == "..") {
        return Cow::Borrowed(value);
    }
    let encoded = if already_encoded {
        Cow::Borrowed(value)
    } else {
        Cow::from(percent_encoding::utf8_percent_encode(value, SEGMENT))
    };
    let encoded: Vec<&str> = encoded
        .split('/')
        .map(|segment| match segment {
            "." => "%2E",
            ".." => "%2E%2E",
            other => other,
        })
        .collect();
    Cow::Owned(encoded.join("/"))
}

// === integration response → method response ===

fn select_response(responses: &[IntegrationResponseDef], status: u16) -> Option<&IntegrationResponseDef> {
    let code = status.to_string();
    responses
        .iter()
        .find(|r| r.selection.as_ref().is_some_and(|re| re.is_match(&code)))
        .or_else(|| responses.iter().find(|r| r.selection.is_none()))
}

/// Selects the integration response for `status`, maps its body, and builds the method response.
async fn integration_response(
    ctx: &RequestCtx<'_>,
    status: u16,
    integration_headers: &HeaderMap,
    body: Bytes,
) -> Result<Response<GatewayBody>, GatewayError> {
    let selected = select_response(&ctx.method.integration.responses, status).ok_or_else(|| {
        GatewayError::configuration(anyhow::anyhow!(
            "no integration response matches status {status} and none is the default"
        ))
    })?;
    let method_status = StatusCode::from_u16(selected.status).map_err(|e| GatewayError::configuration(e.into()))?;
    let accept = media_type(ctx.header("accept"));
    let binary_types = &ctx.api.def.binary_media_types;
    let payload_type = media_type(integration_headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()));
    let (body, binary) = convert_response_payload(
        body,
        binary_types.matches(payload_type.as_deref()),
        binary_types.matches(accept.as_deref()),
        selected.content_handling,
    )?;
    let template = accept
        .as_ref()
        .and_then(|a| selected.templates.get_key_value(a))
        .or_else(|| selected.templates.get_key_value("application/json"))
        .or_else(|| selected.templates.iter().next());
    let mut headers = HeaderMap::new();
    let body_json = OnceLock::new();
    for (k, source) in &selected.headers {
        let value = match source {
            ParamSource::ResponseHeader(n) => integration_headers
                .get_all(n.as_str())
                .iter()
                .next_back()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            ParamSource::ResponseMultiHeader(n) => {
                let all: Vec<String> = integration_headers
                    .get_all(n.as_str())
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                (!all.is_empty()).then(|| all.join(","))
            }
            ParamSource::ResponseBody(None) => Some(String::from_utf8_lossy(&body).into_owned()),
            ParamSource::ResponseBody(Some(path)) => {
                let Some(root) = body_json.get_or_init(|| parse_json_body(&body)) else {
                    return Err(GatewayError::configuration(anyhow::anyhow!(
                        "responseParameters `{k}`: the integration response body is not JSON"
                    )));
                };
                json_path_value(root, path)
            }
            other => ctx.source_value(other),
        };
        let Some(value) = value else { continue };
        if !set_response_header(&mut headers, k, &value, false) {
            return Err(GatewayError::configuration(anyhow::anyhow!("invalid response header `{k}: {value}`")));
        }
    }
    if binary {
        // A binary body is not a template's input: it is the method response body as it is,
        // typed by the integration's Content-Type, else the client's Accept.
        if !headers.contains_key(header::CONTENT_TYPE)
            && let Some(ct) = payload_type.or(accept).and_then(|t| HeaderValue::from_str(&t).ok())
        {
            headers.insert(header::CONTENT_TYPE, ct);
        }
        return respond_with_transform(ctx, None, method_status, headers, Vec::new(), body, None).await;
    }
    let integration_headers = header_pairs(integration_headers.iter());
    // The template, rendered over the integration's body, is the body; a response transform
    // of the manifest gets the template and the body and produces the body instead.
    let explicit = ctx.method.integration.response_transform.clone();
    let (content_type, body, template, transform) = match template {
        Some((ct, text)) if explicit.is_some() => (ct.as_str(), body, Some(text.clone()), explicit),
        Some((ct, text)) if needs_rendering(text) => (ct.as_str(), body, Some(text.clone()), Some(template_engine())),
        Some((ct, text)) => (ct.as_str(), Bytes::from(text.clone()), None, None),
        None => ("application/json", body, None, explicit),
    };
    if !headers.contains_key(header::CONTENT_TYPE) {
        let ct = HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json"));
        headers.insert(header::CONTENT_TYPE, ct);
    }
    respond_with_transform(ctx, transform.as_ref(), method_status, headers, integration_headers, body, template).await
}

/// Headers as `(name, value)` pairs.
fn header_pairs<'h>(headers: impl Iterator<Item = (&'h HeaderName, &'h HeaderValue)>) -> Vec<(String, String)> {
    headers.map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

/// Applies the response transform, if any, and builds the method response.
async fn respond_with_transform(
    ctx: &RequestCtx<'_>,
    transform: Option<&TransformDef>,
    mut status: StatusCode,
    mut headers: HeaderMap,
    integration_headers: Vec<(String, String)>,
    mut body: Bytes,
    template: Option<String>,
) -> Result<Response<GatewayBody>, GatewayError> {
    if let Some(t) = transform {
        let input = types::TransformInput {
            phase: types::TransformPhase::IntegrationResponse,
            template: t.template.clone().or(template),
            content_type: media_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())),
            body: body.to_vec(),
            status_code: Some(status.as_u16()),
            path_parameters: ctx.path_params_owned(),
            query: ctx.query.clone(),
            headers: ctx.forwarded_headers(),
            integration_headers,
            context: ctx.context(),
        };
        let out = run_transform(ctx, t, &input).await?;
        body = out.body.into();
        if let Some(s) = out.status_code {
            status = StatusCode::from_u16(s).map_err(|e| GatewayError::configuration(e.into()))?;
        }
        if let Some(ct) = out.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::CONTENT_TYPE, ct);
        }
        for (k, v) in &out.headers {
            set_response_header(&mut headers, k, v, false);
        }
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_headers_forward_the_clients_less_dropped_and_mapped_ones() {
        let mut client = HeaderMap::new();
        for (k, v) in [
            ("host", "client.example"),
            ("x-custom", "kept"),
            ("x-stage", "spoofed"),
            ("x-amzn-apigateway-api-id", "spoofed"),
            ("te", "trailers"),
            ("content-length", "3"),
            ("x-custom", "twice"),
        ] {
            client.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let api_id = HeaderValue::from_static("abc");
        let mut headers = BackendHeaders { client: Some(&client), set: Vec::new(), api_id: &api_id };
        headers.set("X-Stage", "prod").unwrap();
        headers.set("x-stage", "beta").unwrap(); // the last mapping of a name wins
        headers.set("Connection", "close").unwrap(); // never sent (§0.3)
        assert!(headers.set("bad header", "v").is_err());
        assert!(!headers.has_host());
        let mut out = Vec::new();
        headers.write_to(&mut HeadWriter::new(&mut out));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "x-custom: kept\r\nx-custom: twice\r\nx-stage: beta\r\nx-amzn-apigateway-api-id: abc\r\n"
        );
        // Mapped only (HTTP): none of the client's.
        let mut headers = BackendHeaders { client: None, set: Vec::new(), api_id: &api_id };
        headers.set("Host", "backend.example").unwrap();
        assert!(headers.has_host());
        let mut out = Vec::new();
        headers.write_to(&mut HeadWriter::new(&mut out));
        assert_eq!(String::from_utf8(out).unwrap(), "host: backend.example\r\nx-amzn-apigateway-api-id: abc\r\n");
    }

    #[test]
    fn method_arns() {
        assert_eq!(
            method_arn("us-east-1", "123456789012", "abc", "prod", "GET", "/pets/1"),
            "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/pets/1"
        );
        assert_eq!(method_arn("r", "a", "i", "s", "POST", "/"), "arn:aws:execute-api:r:a:i/s/POST/");
    }

    #[test]
    fn path_values_cannot_escape() {
        // Values from the request path are already encoded; others are not.
        let (path, query) = (true, false);
        assert_eq!(path_value(path, "a/b%2Fc/d"), "a/b%2Fc/d");
        assert_eq!(path_value(path, "../../admin"), "%2E%2E/%2E%2E/admin");
        assert_eq!(path_value(path, "a/./b"), "a/%2E/b");
        assert_eq!(path_value(query, "a b/c?d#e"), "a%20b%2Fc%3Fd%23e");
        assert_eq!(path_value(query, ".."), "%2E%2E");
    }

    #[test]
    fn media_types() {
        assert_eq!(media_type(Some("Application/JSON; charset=UTF-8")).as_deref(), Some("application/json"));
        assert_eq!(media_type(Some("text/html, application/xml")).as_deref(), Some("text/html"));
        assert_eq!(media_type(Some("")), None);
        assert_eq!(media_type(None), None);
    }
}
