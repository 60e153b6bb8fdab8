//! The `gateway.toml` schema, version 1.
//!
//! Rule for names: anything that exists in Amazon API Gateway's REST API model keeps AWS's
//! field name and casing (`resourceMethods`, `authorizationType`, `methodIntegration`,
//! `timeoutInMillis`, …); settings that only wasmgate has are `snake_case`.
//! Every table rejects keys it does not know.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format version; only `1` exists.
    pub version: u32,
    /// Process-wide settings.
    #[serde(default)]
    pub gateway: GatewaySettings,
    /// Where the gateway listens.
    #[serde(default)]
    pub listeners: Vec<ListenerSpec>,
    /// The admin API (status, reload, health); off when absent.
    pub admin: Option<AdminSpec>,
    /// Plugins by name.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginSpec>,
    /// REST APIs by name.
    #[serde(default)]
    pub apis: BTreeMap<String, RestApiSpec>,
}

/// Process-wide settings (`[gateway]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Directory of plugin state and the compiled-component cache, relative to the manifest.
    #[serde(default = "default_state_dir")]
    pub state_dir: String,
    /// Directory of compiled components, relative to the manifest (default: `<state_dir>/compiled`).
    pub cache_dir: Option<String>,
    /// The region shown in method ARNs.
    #[serde(default = "default_region")]
    pub region: String,
    /// The account id shown in method ARNs.
    #[serde(default = "default_account")]
    pub account_id: String,
    /// Edge limits.
    #[serde(default)]
    pub limits: EdgeLimits,
    /// How many plugin instances may exist at once, across all plugins (pooling allocator slots).
    #[serde(default = "default_instances")]
    pub max_plugin_instances: u32,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            state_dir: default_state_dir(),
            cache_dir: None,
            region: default_region(),
            account_id: default_account(),
            limits: EdgeLimits::default(),
            max_plugin_instances: default_instances(),
        }
    }
}

fn default_state_dir() -> String {
    ".wasmgate".into()
}
fn default_region() -> String {
    "us-east-1".into()
}
fn default_account() -> String {
    "123456789012".into()
}
fn default_instances() -> u32 {
    1000
}

/// Limits enforced at the edge, before any API is chosen (`[gateway.limits]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeLimits {
    /// Largest request body (API Gateway: 10 MB); larger → 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// Largest request header block; larger → 431.
    #[serde(default = "default_max_header")]
    pub max_header_bytes: usize,
    /// Time allowed to receive a request's headers.
    #[serde(default = "default_header_timeout")]
    pub header_read_timeout_ms: u64,
    /// Time allowed to receive a whole request body; slower → 408.
    #[serde(default = "default_body_timeout")]
    pub body_read_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// Most connections served at once; more are answered 503 and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a graceful shutdown waits for requests in flight.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_ms: u64,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            max_body_bytes: default_max_body(),
            max_header_bytes: default_max_header(),
            header_read_timeout_ms: default_header_timeout(),
            body_read_timeout_ms: default_body_timeout(),
            idle_timeout_ms: default_idle_timeout(),
            max_connections: default_max_connections(),
            shutdown_grace_ms: default_shutdown_grace(),
        }
    }
}

fn default_max_body() -> u64 {
    10 * 1024 * 1024
}
fn default_max_header() -> usize {
    // API Gateway allows 10240 bytes of header values; leave room for names and the request line.
    16 * 1024
}
fn default_header_timeout() -> u64 {
    10_000
}
fn default_body_timeout() -> u64 {
    30_000
}
fn default_idle_timeout() -> u64 {
    60_000
}
fn default_max_connections() -> usize {
    10_000
}
fn default_shutdown_grace() -> u64 {
    30_000
}

/// One listener (`[[listeners]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSpec {
    /// `host:port` to bind.
    pub address: String,
    /// TLS from PEM files (relative to the manifest); HTTP/2 or HTTP/1.1 by ALPN.
    pub tls: Option<TlsSpec>,
}

/// The admin API's listener (`[admin]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSpec {
    /// `host:port` to bind (default `127.0.0.1:9901`). A non-loopback address needs a token.
    #[serde(default = "default_admin_address")]
    pub address: String,
    /// A bearer token every admin request must carry (`Authorization: Bearer <token>`).
    pub token: Option<String>,
}

fn default_admin_address() -> String {
    "127.0.0.1:9901".into()
}

/// TLS certificate and key files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

/// A plugin (`[plugins.<name>]`): a component file or a built-in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// Path of a `.wasm` component, relative to the manifest.
    pub path: Option<String>,
    /// Name of a built-in plugin.
    pub builtin: Option<String>,
    /// Configuration handed to the plugin (the `config` interface).
    #[serde(default)]
    pub config: toml::Table,
    /// Hosts (`host` or `host:port`) the plugin may reach with outbound HTTP.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Resource limits.
    #[serde(default)]
    pub limits: PluginLimitsSpec,
}

/// Resource limits of one plugin (`[plugins.<name>.limits]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginLimitsSpec {
    /// Most linear memory one instance may use, in MiB (default 64).
    pub memory_mb: Option<u64>,
    /// Deadline of one call in milliseconds (default 1000).
    pub timeout_ms: Option<u64>,
    /// How many warm instances to keep for reuse (default 0: a fresh instance per call).
    pub warm_instances: Option<usize>,
    /// Most bytes of state (keys and values) the plugin may keep, in MiB (default 64).
    pub state_mb: Option<u64>,
}

/// A REST API (`[apis.<name>]`), after AWS's `RestApi`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RestApiSpec {
    /// The API id (`restApiId`); defaults to the table's name.
    pub id: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Authorizers by name.
    #[serde(default)]
    pub authorizers: BTreeMap<String, AuthorizerSpec>,
    /// Resources by path (`/`, `/pets`, `/pets/{petId}`, `/{proxy+}`).
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceSpec>,
    /// Stages by name.
    #[serde(default)]
    pub stages: BTreeMap<String, StageSpec>,
    /// Models (JSON Schema draft 4) by name, for `requestModels`.
    #[serde(default)]
    pub models: BTreeMap<String, ModelSpec>,
    /// Request validators by name, for `requestValidatorId`.
    #[serde(default)]
    pub request_validators: BTreeMap<String, RequestValidatorSpec>,
    /// Customized gateway responses by type (`DEFAULT_4XX`, `UNAUTHORIZED`, …).
    #[serde(default)]
    pub gateway_responses: BTreeMap<String, GatewayResponseSpec>,
    /// Media types whose payloads are binary (`image/png`, `image/*`, `*/*`).
    #[serde(default)]
    pub binary_media_types: Vec<String>,
}

/// A customized gateway response, after AWS's `GatewayResponse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewayResponseSpec {
    /// The status code (absent: the type's default).
    pub status_code: Option<String>,
    /// `gatewayresponse.header.<Name>` → source (`'literal'`, `method.request.*`, `stageVariables.*`, `context.*`).
    #[serde(default)]
    pub response_parameters: BTreeMap<String, String>,
    /// Bodies by media type, with `$context.*` and `$stageVariables.*` substituted.
    #[serde(default)]
    pub response_templates: BTreeMap<String, String>,
}

/// A model, after AWS's `Model`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelSpec {
    /// The media type it describes (informational, as in AWS).
    #[serde(default = "default_model_content_type")]
    pub content_type: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The JSON Schema (draft 4), as JSON text. `$ref`s to other models of the API are written
    /// as AWS writes them: `https://apigateway.amazonaws.com/restapis/<api>/models/<name>`.
    pub schema: String,
}

fn default_model_content_type() -> String {
    "application/json".into()
}

/// A request validator, after AWS's `RequestValidator`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestValidatorSpec {
    /// Check the body against the method's model.
    #[serde(default)]
    pub validate_request_body: bool,
    /// Check that required parameters are present and not blank.
    #[serde(default)]
    pub validate_request_parameters: bool,
}

/// An authorizer, after AWS's `Authorizer`; `plugin` replaces `authorizerUri`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthorizerSpec {
    /// `TOKEN` or `REQUEST`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The plugin that decides.
    pub plugin: String,
    /// TOKEN: `method.request.header.<Name>`. REQUEST: a comma-separated list of
    /// `method.request.header.X`, `method.request.querystring.X`, `stageVariables.X`, `context.X`.
    pub identity_source: Option<String>,
    /// TOKEN only: a regex the token must match, else 401 without calling the plugin.
    pub identity_validation_expression: Option<String>,
    /// Seconds to cache a decision per identity (0 = off; default 300, max 3600).
    pub authorizer_result_ttl_in_seconds: Option<u64>,
}

/// A resource and its methods.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceSpec {
    /// Methods by verb (`GET`, `POST`, …, or `ANY`).
    #[serde(default)]
    pub resource_methods: BTreeMap<String, MethodSpec>,
}

/// A method, after AWS's `Method`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MethodSpec {
    /// `NONE` or `CUSTOM` (the others come with their built-in authorizers).
    #[serde(default = "default_auth")]
    pub authorization_type: String,
    /// The authorizer's name when `authorizationType` is `CUSTOM`.
    pub authorizer_id: Option<String>,
    /// `method.request.<location>.<name>` → required.
    #[serde(default)]
    pub request_parameters: BTreeMap<String, bool>,
    /// The request validator (a name in the API's `requestValidators`).
    pub request_validator_id: Option<String>,
    /// Media type → model name, for body validation (`$default` for any other media type).
    #[serde(default)]
    pub request_models: BTreeMap<String, String>,
    /// Method responses by status code. When present, integration responses and their
    /// `responseParameters` must refer to what is declared here.
    #[serde(default)]
    pub method_responses: Option<BTreeMap<String, MethodResponseSpec>>,
    /// The integration.
    pub method_integration: IntegrationSpec,
}

/// A method response, after AWS's `MethodResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MethodResponseSpec {
    /// `method.response.header.<Name>` → required (declared headers).
    #[serde(default)]
    pub response_parameters: BTreeMap<String, bool>,
    /// Media type → model name (documentation only: API Gateway does not validate responses).
    #[serde(default)]
    pub response_models: BTreeMap<String, String>,
}

fn default_auth() -> String {
    "NONE".into()
}

/// An integration, after AWS's `Integration`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IntegrationSpec {
    /// `MOCK`, `HTTP_PROXY`, or `PLUGIN` (a wasmgate integration plugin).
    #[serde(rename = "type")]
    pub kind: String,
    /// HTTP_PROXY: the backend verb (`ANY` or absent = the request's verb).
    pub http_method: Option<String>,
    /// HTTP_PROXY: the backend URL, with `{name}` placeholders and `${stageVariables.x}`.
    pub uri: Option<String>,
    /// PLUGIN: the integration plugin.
    pub plugin: Option<String>,
    /// `integration.request.<location>.<name>` → source expression.
    #[serde(default)]
    pub request_parameters: BTreeMap<String, String>,
    /// Request mapping templates by media type (MOCK reads `statusCode` from it).
    #[serde(default)]
    pub request_templates: BTreeMap<String, String>,
    /// `WHEN_NO_MATCH` (default), `WHEN_NO_TEMPLATES` or `NEVER`.
    pub passthrough_behavior: Option<String>,
    /// Integration timeout, 50..=300000 ms (default 29000).
    pub timeout_in_millis: Option<u64>,
    /// Integration responses by status code.
    #[serde(default)]
    pub integration_responses: BTreeMap<String, IntegrationResponseSpec>,
    /// `CONVERT_TO_BINARY` or `CONVERT_TO_TEXT`: how the request payload is converted.
    pub content_handling: Option<String>,
    /// wasmgate: a transform plugin run on the integration request body.
    #[serde(rename = "request_transform")]
    pub request_transform: Option<TransformSpec>,
    /// wasmgate: a transform plugin run on the integration response body.
    #[serde(rename = "response_transform")]
    pub response_transform: Option<TransformSpec>,
}

/// A transform plugin applied in one phase.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformSpec {
    /// The transform plugin.
    pub plugin: String,
    /// A template handed to the plugin.
    pub template: Option<String>,
}

/// An integration response, after AWS's `IntegrationResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IntegrationResponseSpec {
    /// A regex matched against the integration's status code; absent = the default response.
    pub selection_pattern: Option<String>,
    /// `method.response.header.<Name>` → a mapping source.
    #[serde(default)]
    pub response_parameters: BTreeMap<String, String>,
    /// Response bodies by media type.
    #[serde(default)]
    pub response_templates: BTreeMap<String, String>,
    /// `CONVERT_TO_BINARY` or `CONVERT_TO_TEXT`: how the response payload is converted.
    pub content_handling: Option<String>,
}

/// A stage, after AWS's `Stage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StageSpec {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Stage variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}
