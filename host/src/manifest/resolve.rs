//! Validation and resolution of a parsed manifest into the runtime model.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use sha2::{Digest, Sha256};

use super::schema::{self, EdgeLimits};
use super::uri_template::UriTemplate;

/// The resolved gateway configuration: checked, with absolute paths.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The manifest's directory.
    pub base_dir: PathBuf,
    /// Plugin state.
    pub state_dir: PathBuf,
    /// Compiled-component cache.
    pub cache_dir: PathBuf,
    /// Region shown in method ARNs.
    pub region: String,
    /// Account id shown in method ARNs.
    pub account_id: String,
    /// Edge limits.
    pub limits: EdgeLimits,
    /// Pooling allocator slots for plugin instances.
    pub max_plugin_instances: u32,
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// The admin API, when enabled.
    pub admin: Option<AdminSettings>,
    /// Plugins by name.
    pub plugins: BTreeMap<String, PluginDef>,
    /// REST APIs.
    pub apis: Vec<ApiDef>,
}

/// The admin API's listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// Address to bind.
    pub address: SocketAddr,
    /// Bearer token required on every request, if set.
    pub token: Option<String>,
}

/// A listener.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Address to bind.
    pub address: SocketAddr,
    /// TLS certificate and key files.
    pub tls: Option<TlsFiles>,
}

/// PEM files of a TLS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// A plugin definition.
#[derive(Debug, Clone)]
pub struct PluginDef {
    /// The plugin's name (also its state namespace).
    pub name: String,
    /// Where its component comes from.
    pub source: PluginSource,
    /// Its configuration, flattened to strings.
    pub config: Vec<(String, String)>,
    /// Hosts it may reach.
    pub allowed_outbound_hosts: Vec<String>,
    /// Its limits.
    pub limits: PluginLimits,
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// A `.wasm` file.
    File(PathBuf),
    /// A built-in plugin, embedded in the gateway binary.
    Builtin(String),
}

/// Resource limits of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Most linear memory of one instance.
    pub memory_bytes: usize,
    /// Deadline of one call.
    pub timeout: Duration,
    /// Warm instances kept for reuse (0 = fresh instance per call).
    pub warm_instances: usize,
    /// Most bytes of state the plugin may keep.
    pub state_bytes: u64,
}

/// Default memory limit of a plugin instance.
pub const DEFAULT_PLUGIN_MEMORY_MB: u64 = 64;
/// Most memory a plugin may be given (the pooling allocator's slot size).
pub const MAX_PLUGIN_MEMORY_MB: u64 = 1024;
/// Default state quota of a plugin, in MiB.
pub const DEFAULT_PLUGIN_STATE_MB: u64 = 64;
/// Default call deadline of a plugin.
pub const DEFAULT_PLUGIN_TIMEOUT_MS: u64 = 1000;

/// A REST API.
#[derive(Debug, Clone)]
pub struct ApiDef {
    /// The manifest's name for it.
    pub name: String,
    /// `restApiId` (`$context.apiId`).
    pub id: String,
    /// Stages by name.
    pub stages: BTreeMap<String, StageDef>,
    /// Authorizers by name.
    pub authorizers: BTreeMap<String, AuthorizerDef>,
    /// Resources.
    pub resources: Vec<ResourceDef>,
    /// Customized gateway responses.
    pub gateway_responses: BTreeMap<crate::gateway_response::ResponseType, GatewayResponseDef>,
    /// `binaryMediaTypes`.
    pub binary_media_types: BinaryMediaTypes,
}

/// `binaryMediaTypes`: the media types whose payloads are binary (spec §1.9).
#[derive(Debug, Clone, Default)]
pub struct BinaryMediaTypes(Vec<String>);

impl BinaryMediaTypes {
    /// Is a payload of this media type (lower-case, without parameters) binary? `*/*` matches
    /// everything, `image/*` every `image/…`; a payload without a media type is binary only
    /// for `*/*`.
    pub fn matches(&self, media_type: Option<&str>) -> bool {
        self.0.iter().any(|pattern| match (pattern.as_str(), media_type) {
            ("*/*", _) => true,
            (_, None) => false,
            (p, Some(m)) => match p.strip_suffix("/*") {
                Some(kind) => m.split('/').next() == Some(kind),
                None => p == m,
            },
        })
    }
}

/// `contentHandling`: how a payload is converted between the method and the integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentHandling {
    /// `CONVERT_TO_BINARY`: text is base64-decoded into binary; binary stays.
    ToBinary,
    /// `CONVERT_TO_TEXT`: binary is base64-encoded into text; text stays.
    ToText,
}

fn parse_content_handling(at: &str, value: Option<&str>) -> Result<Option<ContentHandling>, Invalid> {
    match value {
        None => Ok(None),
        Some("CONVERT_TO_BINARY") => Ok(Some(ContentHandling::ToBinary)),
        Some("CONVERT_TO_TEXT") => Ok(Some(ContentHandling::ToText)),
        Some(other) => {
            Err(bad(format!("{at}.contentHandling"), format!("`{other}` is not CONVERT_TO_BINARY or CONVERT_TO_TEXT")))
        }
    }
}

/// A customized gateway response.
#[derive(Debug, Clone, Default)]
pub struct GatewayResponseDef {
    /// Its status code (`None`: the type's default, or for a type that is not customized
    /// itself, the DEFAULT_4XX / DEFAULT_5XX one).
    pub status: Option<u16>,
    /// Headers: name → source.
    pub headers: Vec<(String, ParamSource)>,
    /// Bodies by media type.
    pub templates: BTreeMap<String, String>,
}

/// A stage.
#[derive(Debug, Clone)]
pub struct StageDef {
    /// Stage name (first path segment).
    pub name: String,
    /// Stage variables.
    pub variables: BTreeMap<String, String>,
}

/// An authorizer.
#[derive(Debug, Clone)]
pub struct AuthorizerDef {
    /// Its name (`authorizerId`).
    pub name: String,
    /// TOKEN or REQUEST.
    pub kind: AuthorizerKind,
    /// The plugin that decides.
    pub plugin: String,
    /// Identity sources.
    pub identity_sources: Vec<IdentitySource>,
    /// TOKEN: the regex a token must match.
    pub validation: Option<Regex>,
    /// Decision cache lifetime (zero = no cache).
    pub ttl: Duration,
}

/// TOKEN or REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerKind {
    /// One header carries the identity.
    Token,
    /// Several request values make the identity.
    Request,
}

/// Where an identity value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `method.request.header.X`.
    Header(String),
    /// `method.request.querystring.X`.
    Query(String),
    /// `stageVariables.X`.
    StageVariable(String),
    /// `context.X`.
    Context(String),
}

/// A resource.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// `$context.resourceId`: a stable id derived from the API and path.
    pub id: String,
    /// The resource path, e.g. `/pets/{petId}`.
    pub path: String,
    /// Methods by verb (`ANY` included).
    pub methods: BTreeMap<String, MethodDef>,
}

/// A method.
#[derive(Debug, Clone)]
pub struct MethodDef {
    /// The verb, or `ANY`.
    pub verb: String,
    /// Authorization.
    pub authorization: Authorization,
    /// Declared request parameters.
    pub request_parameters: Vec<DeclaredParameter>,
    /// Request validation, when the method has a validator.
    pub validation: Option<Validation>,
    /// The integration.
    pub integration: IntegrationDef,
}

/// What a method's request validator checks.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Required parameters present and not blank.
    pub parameters: bool,
    /// The body against the model for its media type: media type → compiled schema
    /// (`$default` for any other media type).
    pub body: BTreeMap<String, Arc<jsonschema::Validator>>,
}

/// How a method authorizes callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// `NONE`.
    None,
    /// `CUSTOM` with the named authorizer.
    Custom(String),
}

/// A declared method request parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredParameter {
    /// `path`, `querystring` or `header`.
    pub location: ParamLocation,
    /// Its name.
    pub name: String,
    /// Whether it is required.
    pub required: bool,
}

/// Where a request parameter lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    /// A path parameter.
    Path,
    /// A query string parameter.
    Query,
    /// A header.
    Header,
}

/// An integration.
#[derive(Debug, Clone)]
pub struct IntegrationDef {
    /// What kind.
    pub kind: IntegrationKind,
    /// `timeoutInMillis`.
    pub timeout: Duration,
    /// `requestParameters`: target ← source.
    pub request_parameters: Vec<(ParamTarget, ParamSource)>,
    /// `requestTemplates` by media type.
    pub request_templates: BTreeMap<String, String>,
    /// `passthroughBehavior`.
    pub passthrough: Passthrough,
    /// Integration responses.
    pub responses: Vec<IntegrationResponseDef>,
    /// A transform on the request body.
    pub request_transform: Option<TransformDef>,
    /// A transform on the response body.
    pub response_transform: Option<TransformDef>,
    /// `contentHandling` of the integration request.
    pub content_handling: Option<ContentHandling>,
}

/// Integration kinds this gateway runs.
#[derive(Debug, Clone)]
pub enum IntegrationKind {
    /// `MOCK`: the response comes from the manifest.
    Mock,
    /// `HTTP_PROXY`: the request is streamed to `uri` and the response streamed back.
    HttpProxy {
        /// Backend verb; `None` = the request's verb.
        method: Option<String>,
        /// The backend URL template.
        uri: UriTemplate,
    },
    /// `HTTP`: a request built from the mappings and the request template is sent to `uri`;
    /// the response goes through the integration responses.
    Http {
        /// Backend verb; `None` = the request's verb.
        method: Option<String>,
        /// The backend URL template.
        uri: UriTemplate,
    },
    /// `PLUGIN`: an integration plugin produces the response.
    Plugin {
        /// The plugin's name.
        plugin: String,
    },
}

/// `passthroughBehavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    /// `WHEN_NO_MATCH`.
    WhenNoMatch,
    /// `WHEN_NO_TEMPLATES`.
    WhenNoTemplates,
    /// `NEVER`.
    Never,
}

/// A target of `requestParameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamTarget {
    /// `integration.request.path.X`.
    Path(String),
    /// `integration.request.querystring.X`.
    Query(String),
    /// `integration.request.header.X`.
    Header(String),
}

/// A source of `requestParameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamSource {
    /// `method.request.path.X`.
    Path(String),
    /// `method.request.querystring.X` (the last value).
    Query(String),
    /// `method.request.header.X` (the last value).
    Header(String),
    /// `method.request.multivaluequerystring.X` (all values, comma-joined).
    MultiQuery(String),
    /// `method.request.multivalueheader.X` (all values, comma-joined).
    MultiHeader(String),
    /// `stageVariables.X`.
    StageVariable(String),
    /// `context.X`.
    Context(String),
    /// `'literal'`.
    Literal(String),
    /// `method.request.body` (`None`: the whole body) or `method.request.body.<JSONPath>`.
    RequestBody(Option<BodyPath>),
    /// `integration.response.header.X` (the last value).
    ResponseHeader(String),
    /// `integration.response.multivalueheader.X` (all values, comma-joined).
    ResponseMultiHeader(String),
    /// `integration.response.body` (`None`: the whole body) or `integration.response.body.<JSONPath>`.
    ResponseBody(Option<BodyPath>),
}

impl ParamSource {
    /// Does the source read the method request body?
    pub fn reads_request_body(&self) -> bool {
        matches!(self, ParamSource::RequestBody(_))
    }
}

/// A JSONPath into a JSON body, as mapping expressions write it (`a.b[0].c` for `$.a.b[0].c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPath {
    /// The path as the manifest wrote it, after `body.`.
    pub text: String,
    /// The compiled query (RFC 9535 JSONPath).
    pub query: serde_json_path::JsonPath,
}

/// Which mapping sources a place accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MappingPhase {
    /// `requestParameters` of an integration: method request values.
    Request,
    /// `responseParameters` of an integration response: integration response values.
    Response,
    /// `responseParameters` of a gateway response: method request values, no body.
    GatewayResponse,
}

/// An integration response.
#[derive(Debug, Clone)]
pub struct IntegrationResponseDef {
    /// The method response status.
    pub status: u16,
    /// The selection regex (whole-string match); `None` = default.
    pub selection: Option<Regex>,
    /// `responseParameters`: method response headers and where their values come from.
    pub headers: Vec<(String, ParamSource)>,
    /// Bodies by media type.
    pub templates: BTreeMap<String, String>,
    /// `contentHandling` of the response.
    pub content_handling: Option<ContentHandling>,
}

/// A transform plugin in one phase.
#[derive(Debug, Clone)]
pub struct TransformDef {
    /// The plugin's name.
    pub plugin: String,
    /// The template handed to it.
    pub template: Option<String>,
}

type Invalid = (String, String);

fn bad(at: impl Into<String>, message: impl Into<String>) -> Invalid {
    (at.into(), message.into())
}

/// Verbs a method may have.
pub const VERBS: &[&str] = &["ANY", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

pub(super) fn resolve(m: schema::Manifest, base: &Path) -> Result<GatewayConfig, Invalid> {
    let g = m.gateway;
    let limits = g.limits;
    if limits.max_body_bytes == 0 {
        return Err(bad("gateway.limits.max_body_bytes", "must be greater than 0"));
    }
    if limits.max_header_bytes < 1024 {
        return Err(bad("gateway.limits.max_header_bytes", "must be at least 1024"));
    }
    if limits.max_connections == 0 {
        return Err(bad("gateway.limits.max_connections", "must be greater than 0"));
    }
    for (name, v) in [
        ("header_read_timeout_ms", limits.header_read_timeout_ms),
        ("body_read_timeout_ms", limits.body_read_timeout_ms),
        ("idle_timeout_ms", limits.idle_timeout_ms),
        ("shutdown_grace_ms", limits.shutdown_grace_ms),
    ] {
        if !(1..=86_400_000).contains(&v) {
            return Err(bad(format!("gateway.limits.{name}"), "must be between 1 and 86400000 (a day)"));
        }
    }
    if limits.max_body_bytes > 1 << 40 {
        return Err(bad("gateway.limits.max_body_bytes", "must be at most 1 TiB"));
    }
    if limits.max_header_bytes > 1 << 20 {
        return Err(bad("gateway.limits.max_header_bytes", "must be at most 1048576"));
    }
    if limits.max_connections > 1_000_000 {
        return Err(bad("gateway.limits.max_connections", "must be at most 1000000"));
    }
    if g.max_plugin_instances > 100_000 {
        return Err(bad("gateway.max_plugin_instances", "must be at most 100000"));
    }
    if g.max_plugin_instances == 0 {
        return Err(bad("gateway.max_plugin_instances", "must be greater than 0"));
    }

    let mut listeners = Vec::new();
    for (i, l) in m.listeners.iter().enumerate() {
        let address = l.address.parse::<SocketAddr>().map_err(|_| {
            bad(format!("listeners[{i}].address"), format!("`{}` is not an address like 127.0.0.1:8080", l.address))
        })?;
        let tls = l.tls.as_ref().map(|t| TlsFiles { cert: base.join(&t.cert), key: base.join(&t.key) });
        listeners.push(Listener { address, tls });
    }

    let admin = match &m.admin {
        None => None,
        Some(a) => {
            let address = a
                .address
                .parse::<SocketAddr>()
                .map_err(|_| bad("admin.address", format!("`{}` is not an address like 127.0.0.1:9901", a.address)))?;
            if let Some(t) = &a.token
                && t.len() < 16
            {
                return Err(bad("admin.token", "must be at least 16 characters"));
            }
            if !address.ip().is_loopback() && a.token.is_none() {
                return Err(bad(
                    "admin.address",
                    format!("`{address}` is not a loopback address: set admin.token to expose the admin API"),
                ));
            }
            Some(AdminSettings { address, token: a.token.clone() })
        }
    };

    let mut plugins = BTreeMap::new();
    for (name, p) in &m.plugins {
        let at = format!("plugins.{name}");
        check_name(name).map_err(|msg| bad(&at, msg))?;
        let source = match (&p.path, &p.builtin) {
            (Some(path), None) => PluginSource::File(base.join(path)),
            (None, Some(b)) => PluginSource::Builtin(b.clone()),
            (Some(_), Some(_)) => return Err(bad(at, "give either `path` or `builtin`, not both")),
            (None, None) => {
                return Err(bad(at, "missing `path` (a .wasm component) or `builtin` (a built-in plugin)"));
            }
        };
        let memory_mb = p.limits.memory_mb.unwrap_or(DEFAULT_PLUGIN_MEMORY_MB);
        if !(1..=MAX_PLUGIN_MEMORY_MB).contains(&memory_mb) {
            return Err(bad(format!("{at}.limits.memory_mb"), format!("must be between 1 and {MAX_PLUGIN_MEMORY_MB}")));
        }
        let state_mb = p.limits.state_mb.unwrap_or(DEFAULT_PLUGIN_STATE_MB);
        if !(1..=1 << 20).contains(&state_mb) {
            return Err(bad(format!("{at}.limits.state_mb"), "must be between 1 and 1048576"));
        }
        let timeout_ms = p.limits.timeout_ms.unwrap_or(DEFAULT_PLUGIN_TIMEOUT_MS);
        if !(1..=300_000).contains(&timeout_ms) {
            return Err(bad(format!("{at}.limits.timeout_ms"), "must be between 1 and 300000"));
        }
        for (i, h) in p.allowed_outbound_hosts.iter().enumerate() {
            if h.is_empty() || h.contains('/') || h.contains("://") {
                return Err(bad(
                    format!("{at}.allowed_outbound_hosts[{i}]"),
                    format!("`{h}` is not a host or host:port"),
                ));
            }
        }
        let config = p.config.iter().map(|(k, v)| (k.clone(), config_value(v))).collect();
        plugins.insert(
            name.clone(),
            PluginDef {
                name: name.clone(),
                source,
                config,
                allowed_outbound_hosts: p.allowed_outbound_hosts.clone(),
                limits: PluginLimits {
                    memory_bytes: (memory_mb as usize) << 20,
                    timeout: Duration::from_millis(timeout_ms),
                    warm_instances: p.limits.warm_instances.unwrap_or(0),
                    state_bytes: state_mb << 20,
                },
            },
        );
    }

    let warm: usize = plugins.values().map(|p: &PluginDef| p.limits.warm_instances).sum();
    if warm >= g.max_plugin_instances as usize {
        return Err(bad(
            "gateway.max_plugin_instances",
            format!(
                "{} instance slots cannot hold the {warm} warm instances the plugins ask for, and leave room for calls",
                g.max_plugin_instances
            ),
        ));
    }

    let mut apis = Vec::new();
    let mut ids = BTreeMap::new();
    for (name, api) in &m.apis {
        let at = format!("apis.{name}");
        check_name(name).map_err(|msg| bad(&at, msg))?;
        let id = api.id.clone().unwrap_or_else(|| name.clone());
        check_name(&id).map_err(|msg| bad(format!("{at}.id"), msg))?;
        if let Some(other) = ids.insert(id.clone(), name.clone()) {
            return Err(bad(format!("{at}.id"), format!("id `{id}` is already used by api `{other}`")));
        }
        apis.push(resolve_api(name, id, api, &plugins)?);
    }

    Ok(GatewayConfig {
        base_dir: base.to_path_buf(),
        cache_dir: g.cache_dir.as_ref().map_or_else(|| base.join(&g.state_dir).join("compiled"), |c| base.join(c)),
        state_dir: base.join(&g.state_dir),
        region: g.region,
        account_id: g.account_id,
        limits,
        max_plugin_instances: g.max_plugin_instances,
        listeners,
        admin,
        plugins,
        apis,
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(format!("name `{name}` must be 1-128 characters of A-Z a-z 0-9 - _")) }
}

/// Plugin config values reach the guest as strings: strings as they are, scalars as their
/// TOML text, arrays and tables as JSON.
fn config_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        scalar @ (toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_)
        | toml::Value::Datetime(_)) => scalar.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn resolve_api(
    name: &str,
    id: String,
    api: &schema::RestApiSpec,
    plugins: &BTreeMap<String, PluginDef>,
) -> Result<ApiDef, Invalid> {
    let at = format!("apis.{name}");
    if api.stages.is_empty() {
        return Err(bad(format!("{at}.stages"), format!("api `{name}` has no stage; add [apis.{name}.stages.<name>]")));
    }
    let mut stages = BTreeMap::new();
    for (stage, s) in &api.stages {
        check_name(stage).map_err(|msg| bad(format!("{at}.stages.{stage}"), msg))?;
        for (k, v) in &s.variables {
            let ok = !k.is_empty() && k.len() <= 64 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(bad(
                    format!("{at}.stages.{stage}.variables.{k}"),
                    "stage variable names are 1-64 characters of A-Z a-z 0-9 _",
                ));
            }
            if v.len() > 512 {
                return Err(bad(
                    format!("{at}.stages.{stage}.variables.{k}"),
                    "stage variable values are at most 512 bytes",
                ));
            }
        }
        stages.insert(stage.clone(), StageDef { name: stage.clone(), variables: s.variables.clone() });
    }

    let mut authorizers = BTreeMap::new();
    for (aname, a) in &api.authorizers {
        let aat = format!("{at}.authorizers.{aname}");
        check_name(aname).map_err(|msg| bad(&aat, msg))?;
        let kind = match a.kind.as_str() {
            "TOKEN" => AuthorizerKind::Token,
            "REQUEST" => AuthorizerKind::Request,
            "COGNITO_USER_POOLS" => {
                return Err(bad(format!("{aat}.type"), "COGNITO_USER_POOLS authorizers are not supported yet"));
            }
            other => return Err(bad(format!("{aat}.type"), format!("`{other}` is not TOKEN or REQUEST"))),
        };
        if !plugins.contains_key(&a.plugin) {
            return Err(bad(format!("{aat}.plugin"), format!("no plugin named `{}`", a.plugin)));
        }
        let identity_sources = match (&a.identity_source, kind) {
            (None, AuthorizerKind::Token) => vec![IdentitySource::Header("Authorization".into())],
            (None, AuthorizerKind::Request) => Vec::new(),
            (Some(src), _) => parse_identity_sources(src).map_err(|msg| bad(format!("{aat}.identitySource"), msg))?,
        };
        if kind == AuthorizerKind::Token && !matches!(identity_sources.as_slice(), [IdentitySource::Header(_)]) {
            return Err(bad(
                format!("{aat}.identitySource"),
                "a TOKEN authorizer takes exactly one `method.request.header.<Name>`",
            ));
        }
        let validation = match &a.identity_validation_expression {
            Some(_) if kind == AuthorizerKind::Request => {
                return Err(bad(
                    format!("{aat}.identityValidationExpression"),
                    "only TOKEN authorizers have an identityValidationExpression",
                ));
            }
            Some(re) => Some(
                Regex::new(&format!("^(?:{re})$"))
                    .map_err(|e| bad(format!("{aat}.identityValidationExpression"), format!("invalid regex: {e}")))?,
            ),
            None => None,
        };
        let ttl = a.authorizer_result_ttl_in_seconds.unwrap_or(300);
        if ttl > 3600 {
            return Err(bad(format!("{aat}.authorizerResultTtlInSeconds"), "must be between 0 and 3600"));
        }
        // API Gateway caches by identity; with no identity sources there is nothing to key on.
        let ttl = if identity_sources.is_empty() { 0 } else { ttl };
        authorizers.insert(
            aname.clone(),
            AuthorizerDef {
                name: aname.clone(),
                kind,
                plugin: a.plugin.clone(),
                identity_sources,
                validation,
                ttl: Duration::from_secs(ttl),
            },
        );
    }

    let models = compile_models(&at, &id, api)?;
    let mut resources = Vec::new();
    for (path, r) in &api.resources {
        let rat = format!("{at}.resources.\"{path}\"");
        check_resource_path(path).map_err(|msg| bad(&rat, msg))?;
        let path_params = path_parameters(path);
        let mut methods = BTreeMap::new();
        for (verb, method) in &r.resource_methods {
            let mat = format!("{rat}.resourceMethods.{verb}");
            if !VERBS.contains(&verb.as_str()) {
                return Err(bad(&mat, format!("`{verb}` is not one of {}", VERBS.join(", "))));
            }
            let mut def = resolve_method(&mat, verb, method, &authorizers, plugins, &path_params)?;
            def.validation = resolve_validation(&mat, &at, method, api, &models)?;
            methods.insert(verb.clone(), def);
        }
        let digest = Sha256::digest(format!("{id}{path}").as_bytes());
        resources.push(ResourceDef { id: hex::encode(&digest[..5]), path: path.clone(), methods });
    }

    let mut gateway_responses = BTreeMap::new();
    for (type_name, g) in &api.gateway_responses {
        let gat = format!("{at}.gatewayResponses.{type_name}");
        let Some(kind) = crate::gateway_response::ResponseType::from_name(type_name) else {
            return Err(bad(&gat, format!("`{type_name}` is not a gateway response type")));
        };
        if kind == crate::gateway_response::ResponseType::RequestTooLarge {
            return Err(bad(&gat, "REQUEST_TOO_LARGE cannot be customized (as in API Gateway)"));
        }
        let status = match &g.status_code {
            None => None,
            Some(s) => match s.parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => Some(code),
                _ => return Err(bad(format!("{gat}.statusCode"), format!("`{s}` is not a status code (100-599)"))),
            },
        };
        let mut headers = Vec::new();
        for (key, value) in &g.response_parameters {
            let pat = format!("{gat}.responseParameters.\"{key}\"");
            let Some(name) = key.strip_prefix("gatewayresponse.header.") else {
                return Err(bad(pat, "keys are gatewayresponse.header.X"));
            };
            http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad(&pat, format!("`{name}` is not a valid header name")))?;
            headers.push((
                name.to_string(),
                parse_param_source(value, MappingPhase::GatewayResponse).map_err(|m| bad(&pat, m))?,
            ));
        }
        gateway_responses
            .insert(kind, GatewayResponseDef { status, headers, templates: lower_keys(&g.response_templates) });
    }

    let mut binary_media_types = Vec::new();
    for (i, t) in api.binary_media_types.iter().enumerate() {
        // The AWS console and CLI escape `/` as `~1` in patch paths; accept both spellings.
        let t = t.replace("~1", "/").to_ascii_lowercase();
        let valid = t.split_once('/').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('/'));
        if !valid {
            return Err(bad(
                format!("apis.{name}.binaryMediaTypes[{i}]"),
                format!("`{t}` is not a media type (type/subtype, `*` allowed)"),
            ));
        }
        binary_media_types.push(t);
    }
    Ok(ApiDef {
        name: name.to_string(),
        id,
        stages,
        authorizers,
        resources,
        gateway_responses,
        binary_media_types: BinaryMediaTypes(binary_media_types),
    })
}

fn parse_identity_sources(src: &str) -> Result<Vec<IdentitySource>, String> {
    let mut out = Vec::new();
    for part in src.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let source = if let Some(n) = part.strip_prefix("method.request.header.") {
            IdentitySource::Header(n.to_string())
        } else if let Some(n) = part.strip_prefix("method.request.querystring.") {
            IdentitySource::Query(n.to_string())
        } else if let Some(n) = part.strip_prefix("stageVariables.") {
            IdentitySource::StageVariable(n.to_string())
        } else if let Some(n) = part.strip_prefix("context.") {
            IdentitySource::Context(n.to_string())
        } else {
            return Err(format!(
                "`{part}` is not method.request.header.X, method.request.querystring.X, stageVariables.X or context.X"
            ));
        };
        out.push(source);
    }
    Ok(out)
}

/// Checks a resource path: `/`, or `/`-separated parts that are literals (A-Z a-z 0-9 `_ - . , : @`),
/// `{name}`, or a final `{name+}`.
pub fn check_resource_path(path: &str) -> Result<(), String> {
    if path == "/" {
        return Ok(());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("resource path `{path}` must start with `/`"));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(format!("resource path `{path}` has an empty segment"));
        }
        if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                return Err(format!("`{part}` in `{path}` is not a valid path parameter"));
            }
            if greedy && i + 1 != parts.len() {
                return Err(format!("the greedy parameter `{part}` must be the last segment of `{path}`"));
            }
        } else if part.contains('{') || part.contains('}') {
            return Err(format!("a path parameter must be a whole segment: `{part}` in `{path}`"));
        } else if !part.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,:@".contains(c)) {
            return Err(format!("segment `{part}` of `{path}` has characters other than A-Z a-z 0-9 _ - . , : @"));
        }
    }
    Ok(())
}

fn path_parameters(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|p| p.trim_end_matches('+').to_string())
        .collect()
}

fn resolve_method(
    at: &str,
    verb: &str,
    m: &schema::MethodSpec,
    authorizers: &BTreeMap<String, AuthorizerDef>,
    plugins: &BTreeMap<String, PluginDef>,
    path_params: &[String],
) -> Result<MethodDef, Invalid> {
    let authorization = match m.authorization_type.as_str() {
        "NONE" => {
            if m.authorizer_id.is_some() {
                return Err(bad(
                    format!("{at}.authorizerId"),
                    "set authorizationType = \"CUSTOM\" to use an authorizer",
                ));
            }
            Authorization::None
        }
        "CUSTOM" => {
            let Some(a) = &m.authorizer_id else {
                return Err(bad(format!("{at}.authorizerId"), "missing: a CUSTOM method names its authorizer"));
            };
            if !authorizers.contains_key(a) {
                return Err(bad(format!("{at}.authorizerId"), format!("no authorizer named `{a}` in this api")));
            }
            Authorization::Custom(a.clone())
        }
        "AWS_IAM" | "COGNITO_USER_POOLS" => {
            return Err(bad(
                format!("{at}.authorizationType"),
                format!("`{}` is not supported yet (use NONE or CUSTOM)", m.authorization_type),
            ));
        }
        other => {
            return Err(bad(
                format!("{at}.authorizationType"),
                format!("`{other}` is not NONE, AWS_IAM, CUSTOM or COGNITO_USER_POOLS"),
            ));
        }
    };
    let mut request_parameters = Vec::new();
    for (key, required) in &m.request_parameters {
        let pat = format!("{at}.requestParameters.\"{key}\"");
        let (location, name) = if let Some(n) = key.strip_prefix("method.request.path.") {
            // API Gateway accepts a path parameter the resource path does not have (a required
            // one then always fails validation); so does wasmgate, with a warning.
            if !path_params.iter().any(|p| p == n) {
                tracing::warn!(at = %pat, "the resource path has no parameter `{n}`");
            }
            (ParamLocation::Path, n)
        } else if let Some(n) = key.strip_prefix("method.request.querystring.") {
            (ParamLocation::Query, n)
        } else if let Some(n) = key.strip_prefix("method.request.header.") {
            (ParamLocation::Header, n)
        } else {
            return Err(bad(
                pat,
                "keys are method.request.path.X, method.request.querystring.X or method.request.header.X",
            ));
        };
        check_param_name(name).map_err(|msg| bad(format!("{at}.requestParameters.\"{key}\""), msg))?;
        request_parameters.push(DeclaredParameter { location, name: name.to_string(), required: *required });
    }
    let integration = resolve_integration(&format!("{at}.methodIntegration"), &m.method_integration, plugins)?;
    if let Some(responses) = &m.method_responses {
        check_method_responses(at, responses, &m.method_integration)?;
    }
    Ok(MethodDef { verb: verb.to_string(), authorization, request_parameters, validation: None, integration })
}

/// With `methodResponses` declared, as API Gateway requires: every integration response is
/// for a declared status, and maps only headers its method response declares.
fn check_method_responses(
    at: &str,
    responses: &BTreeMap<String, schema::MethodResponseSpec>,
    integration: &schema::IntegrationSpec,
) -> Result<(), Invalid> {
    for (status, r) in responses {
        let rat = format!("{at}.methodResponses.\"{status}\"");
        if !status.parse::<u16>().is_ok_and(|c| (100..=599).contains(&c)) {
            return Err(bad(&rat, format!("`{status}` is not a status code (100-599)")));
        }
        for key in r.response_parameters.keys() {
            let Some(name) = key.strip_prefix("method.response.header.") else {
                return Err(bad(format!("{rat}.responseParameters.\"{key}\""), "keys are method.response.header.X"));
            };
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                bad(format!("{rat}.responseParameters.\"{key}\""), format!("`{name}` is not a valid header name"))
            })?;
        }
    }
    for (status, ir) in &integration.integration_responses {
        let iat = format!("{at}.methodIntegration.integrationResponses.\"{status}\"");
        let Some(declared) = responses.get(status) else {
            return Err(bad(
                &iat,
                format!(
                    "no method response `{status}` in methodResponses (API Gateway: Invalid Response status code specified)"
                ),
            ));
        };
        for key in ir.response_parameters.keys() {
            let known = declared.response_parameters.keys().any(|k| k.eq_ignore_ascii_case(key));
            if !known {
                return Err(bad(
                    format!("{iat}.responseParameters.\"{key}\""),
                    format!(
                        "`{key}` is not declared in methodResponses.\"{status}\".responseParameters (API Gateway: Invalid mapping expression parameter specified)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The `$ref` prefix API Gateway uses for another model of the same API.
const MODEL_REF: &str = "https://apigateway.amazonaws.com/restapis/";

/// Rewrites references to other models (`https://apigateway.amazonaws.com/restapis/<api>/models/<name>`)
/// into references to `#/definitions/<name>`, collecting the names.
fn rewrite_refs(v: &mut serde_json::Value, used: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(serde_json::Value::String(r)) = m.get_mut("$ref")
                && let Some(rest) = r.strip_prefix(MODEL_REF)
                && let Some((_, name)) = rest.split_once("/models/")
            {
                used.push(name.to_string());
                *r = format!("#/definitions/{name}");
            }
            for (_, child) in m.iter_mut() {
                rewrite_refs(child, used);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|c| rewrite_refs(c, used)),
        _ => {}
    }
}

/// Parses every model and compiles it (draft 4) with the API's other models as definitions.
fn compile_models(
    at: &str,
    api_id: &str,
    api: &schema::RestApiSpec,
) -> Result<BTreeMap<String, Arc<jsonschema::Validator>>, Invalid> {
    let _ = api_id;
    let mut parsed = BTreeMap::new();
    for (name, m) in &api.models {
        let mat = format!("{at}.models.{name}");
        check_name(name).map_err(|msg| bad(&mat, msg))?;
        let mut schema: serde_json::Value =
            serde_json::from_str(&m.schema).map_err(|e| bad(format!("{mat}.schema"), format!("not JSON: {e}")))?;
        let mut used = Vec::new();
        rewrite_refs(&mut schema, &mut used);
        if let Some(missing) = used.iter().find(|u| !api.models.contains_key(*u)) {
            return Err(bad(format!("{mat}.schema"), format!("`$ref` to a model this api does not have: `{missing}`")));
        }
        parsed.insert(name.clone(), schema);
    }
    let mut compiled = BTreeMap::new();
    for (name, schema) in &parsed {
        let mut root = schema.clone();
        if let serde_json::Value::Object(m) = &mut root {
            let definitions: serde_json::Map<String, serde_json::Value> =
                parsed.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            m.insert("definitions".into(), serde_json::Value::Object(definitions));
        }
        let validator = jsonschema::draft4::new(&root).map_err(|e| {
            bad(format!("{at}.models.{name}.schema"), format!("not a valid JSON Schema (draft 4): {e}"))
        })?;
        compiled.insert(name.clone(), Arc::new(validator));
    }
    Ok(compiled)
}

fn resolve_validation(
    at: &str,
    api_at: &str,
    m: &schema::MethodSpec,
    api: &schema::RestApiSpec,
    models: &BTreeMap<String, Arc<jsonschema::Validator>>,
) -> Result<Option<Validation>, Invalid> {
    let mut body = BTreeMap::new();
    for (media_type, model) in &m.request_models {
        let Some(v) = models.get(model) else {
            return Err(bad(
                format!("{at}.requestModels.\"{media_type}\""),
                format!("no model named `{model}` in [{api_at}.models]"),
            ));
        };
        body.insert(media_type.to_ascii_lowercase(), v.clone());
    }
    let Some(id) = &m.request_validator_id else {
        return Ok(None);
    };
    let Some(v) = api.request_validators.get(id) else {
        return Err(bad(format!("{at}.requestValidatorId"), format!("no request validator named `{id}` in this api")));
    };
    Ok(Some(Validation {
        parameters: v.validate_request_parameters,
        body: if v.validate_request_body { body } else { BTreeMap::new() },
    }))
}

fn check_param_name(name: &str) -> Result<(), String> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "._$-".contains(c)) {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid parameter name (A-Z a-z 0-9 . _ $ -)"))
    }
}

fn resolve_integration(
    at: &str,
    i: &schema::IntegrationSpec,
    plugins: &BTreeMap<String, PluginDef>,
) -> Result<IntegrationDef, Invalid> {
    let mut request_parameters = Vec::new();
    for (key, value) in &i.request_parameters {
        let pat = format!("{at}.requestParameters.\"{key}\"");
        let target = if let Some(n) = key.strip_prefix("integration.request.path.") {
            ParamTarget::Path(n.to_string())
        } else if let Some(n) = key.strip_prefix("integration.request.querystring.") {
            ParamTarget::Query(n.to_string())
        } else if let Some(n) = key.strip_prefix("integration.request.header.") {
            let lower = n.to_ascii_lowercase();
            if lower == "content-length" || lower == "transfer-encoding" {
                return Err(bad(pat, format!("`{n}` cannot be mapped (API Gateway fails every call that maps it)")));
            }
            ParamTarget::Header(n.to_string())
        } else {
            return Err(bad(
                pat,
                "keys are integration.request.path.X, integration.request.querystring.X or integration.request.header.X",
            ));
        };
        let source = parse_param_source(value, MappingPhase::Request).map_err(|msg| bad(&pat, msg))?;
        request_parameters.push((target, source));
    }
    let kind = match i.kind.as_str() {
        "MOCK" => IntegrationKind::Mock,
        kind @ ("HTTP_PROXY" | "HTTP") => {
            let Some(uri) = &i.uri else {
                return Err(bad(format!("{at}.uri"), format!("missing: an {kind} integration needs the backend URL")));
            };
            if !(uri.starts_with("http://") || uri.starts_with("${stageVariables.")) {
                let msg = if uri.starts_with("https://") {
                    "https backends are not supported yet; use http://".to_string()
                } else {
                    format!("`{uri}` is not an http:// URL")
                };
                return Err(bad(format!("{at}.uri"), msg));
            }
            let authority_end = uri.find("://").map_or(0, |i| i + 3);
            let authority_end = uri[authority_end..].find('/').map_or(uri.len(), |i| i + authority_end);
            if !placeholders(&uri[..authority_end]).is_empty() {
                return Err(bad(
                    format!("{at}.uri"),
                    "`{name}` placeholders may stand in the path and query only, not in the host",
                ));
            }
            for name in placeholders(uri) {
                let mapped = request_parameters.iter().any(|(t, _)| *t == ParamTarget::Path(name.to_string()));
                if !mapped {
                    return Err(bad(
                        format!("{at}.uri"),
                        format!(
                            "placeholder `{{{name}}}` has no `integration.request.path.{name}` in requestParameters"
                        ),
                    ));
                }
            }
            let method = match i.http_method.as_deref() {
                None | Some("ANY") => None,
                Some(m) if VERBS.contains(&m) => Some(m.to_string()),
                Some(m) => return Err(bad(format!("{at}.httpMethod"), format!("`{m}` is not an HTTP verb"))),
            };
            if kind == "HTTP" {
                IntegrationKind::Http { method, uri: UriTemplate::parse(uri) }
            } else {
                IntegrationKind::HttpProxy { method, uri: UriTemplate::parse(uri) }
            }
        }
        "PLUGIN" => {
            let Some(p) = &i.plugin else {
                return Err(bad(format!("{at}.plugin"), "missing: a PLUGIN integration names its plugin"));
            };
            if !plugins.contains_key(p) {
                return Err(bad(format!("{at}.plugin"), format!("no plugin named `{p}`")));
            }
            IntegrationKind::Plugin { plugin: p.clone() }
        }
        "AWS" | "AWS_PROXY" => {
            return Err(bad(format!("{at}.type"), format!("integration type `{}` is not supported yet", i.kind)));
        }
        other => {
            return Err(bad(
                format!("{at}.type"),
                format!("`{other}` is not MOCK, HTTP, HTTP_PROXY, AWS, AWS_PROXY or PLUGIN"),
            ));
        }
    };
    let timeout_ms = i.timeout_in_millis.unwrap_or(29_000);
    if !(50..=300_000).contains(&timeout_ms) {
        return Err(bad(format!("{at}.timeoutInMillis"), "must be between 50 and 300000"));
    }
    let passthrough = match i.passthrough_behavior.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("WHEN_NO_MATCH") => Passthrough::WhenNoMatch,
        Some("WHEN_NO_TEMPLATES") => Passthrough::WhenNoTemplates,
        Some("NEVER") => Passthrough::Never,
        Some(other) => {
            return Err(bad(
                format!("{at}.passthroughBehavior"),
                format!("`{other}` is not WHEN_NO_MATCH, WHEN_NO_TEMPLATES or NEVER"),
            ));
        }
    };
    let mut responses = Vec::new();
    let mut default_seen = None;
    for (status, r) in &i.integration_responses {
        let rat = format!("{at}.integrationResponses.\"{status}\"");
        let code: u16 = status
            .parse()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .ok_or_else(|| bad(&rat, format!("`{status}` is not a status code (100-599)")))?;
        let selection = match &r.selection_pattern {
            Some(p) if !p.is_empty() => Some(
                Regex::new(&format!("^(?:{p})$"))
                    .map_err(|e| bad(format!("{rat}.selectionPattern"), format!("invalid regex: {e}")))?,
            ),
            _ => {
                if let Some(other) = default_seen.replace(status.clone()) {
                    return Err(bad(
                        format!("{rat}.selectionPattern"),
                        format!("`{other}` is already the default response (no selectionPattern)"),
                    ));
                }
                None
            }
        };
        let mut headers = Vec::new();
        for (key, value) in &r.response_parameters {
            let pat = format!("{rat}.responseParameters.\"{key}\"");
            let Some(name) = key.strip_prefix("method.response.header.") else {
                return Err(bad(pat, "keys are method.response.header.X"));
            };
            http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad(&pat, format!("`{name}` is not a valid header name")))?;
            headers
                .push((name.to_string(), parse_param_source(value, MappingPhase::Response).map_err(|m| bad(&pat, m))?));
        }
        if i.response_transform.is_none() {
            check_templates(&format!("{rat}.responseTemplates"), &r.response_templates)?;
        }
        responses.push(IntegrationResponseDef {
            status: code,
            selection,
            headers,
            templates: lower_keys(&r.response_templates),
            content_handling: parse_content_handling(&rat, r.content_handling.as_deref())?,
        });
    }
    let transform = |t: &Option<schema::TransformSpec>, key: &str| -> Result<Option<TransformDef>, Invalid> {
        match t {
            None => Ok(None),
            Some(t) if !plugins.contains_key(&t.plugin) => {
                Err(bad(format!("{at}.{key}.plugin"), format!("no plugin named `{}`", t.plugin)))
            }
            Some(t) => Ok(Some(TransformDef { plugin: t.plugin.clone(), template: t.template.clone() })),
        }
    };
    if matches!(kind, IntegrationKind::HttpProxy { .. }) {
        if let Some(key) = i
            .request_parameters
            .keys()
            .zip(&request_parameters)
            .find_map(|(k, (_, s))| s.reads_request_body().then_some(k))
        {
            return Err(bad(
                format!("{at}.requestParameters.\"{key}\""),
                "maps from the request body, which HTTP_PROXY streams to the backend unread (use an HTTP integration)",
            ));
        }
        for (key, t) in [("request_transform", &i.request_transform), ("response_transform", &i.response_transform)] {
            if t.is_some() {
                return Err(bad(
                    format!("{at}.{key}"),
                    "HTTP_PROXY passes requests and responses through unchanged; transforms apply to MOCK and PLUGIN",
                ));
            }
        }
    }
    if i.request_transform.is_none() {
        check_templates(&format!("{at}.requestTemplates"), &i.request_templates)?;
    }
    Ok(IntegrationDef {
        request_transform: transform(&i.request_transform, "request_transform")?,
        response_transform: transform(&i.response_transform, "response_transform")?,
        kind,
        timeout: Duration::from_millis(timeout_ms),
        request_parameters,
        request_templates: lower_keys(&i.request_templates),
        passthrough,
        responses,
        content_handling: parse_content_handling(at, i.content_handling.as_deref())?,
    })
}

/// Templates the built-in engine renders must parse (a transform plugin of the manifest may
/// take templates in a language of its own, so those are not checked).
fn check_templates(at: &str, templates: &BTreeMap<String, String>) -> Result<(), Invalid> {
    let limits = wasmgate_vtl::Limits::default();
    for (media_type, source) in templates {
        if let Err(e) = wasmgate_vtl::Template::parse(source, &limits) {
            return Err(bad(format!("{at}.\"{media_type}\""), format!("invalid mapping template: {e}")));
        }
    }
    Ok(())
}

/// Media types compare without regard to case: keys are stored lower-case.
fn lower_keys(templates: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    templates.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect()
}

/// `{name}` placeholders of an integration URI (not `${stageVariables.x}`).
pub fn placeholders(uri: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = uri.as_bytes();
    let mut i = 0;
    while let Some(open) = uri[i..].find('{').map(|o| o + i) {
        let Some(close) = uri[open..].find('}').map(|c| c + open) else {
            break;
        };
        if open == 0 || bytes[open - 1] != b'$' {
            out.push(&uri[open + 1..close]);
        }
        i = close + 1;
    }
    out
}

fn parse_param_source(v: &str, phase: MappingPhase) -> Result<ParamSource, String> {
    let body_path = |rest: &str| -> Result<Option<BodyPath>, String> {
        if rest.is_empty() {
            return Ok(None);
        }
        let Some(path) = rest.strip_prefix('.').filter(|p| !p.is_empty()) else {
            return Err(format!("`{v}`: a body source is `…body` or `…body.<JSONPath>`"));
        };
        let query = serde_json_path::JsonPath::parse(&format!("$.{path}"))
            .map_err(|e| format!("`{v}`: invalid JSONPath `{path}`: {e}"))?;
        Ok(Some(BodyPath { text: path.to_string(), query }))
    };
    let method_request = phase != MappingPhase::Response;
    let src = if let Some(l) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        ParamSource::Literal(l.to_string())
    } else if let Some(n) = v.strip_prefix("stageVariables.") {
        ParamSource::StageVariable(n.to_string())
    } else if let Some(n) = v.strip_prefix("context.") {
        ParamSource::Context(n.to_string())
    } else if method_request && let Some(n) = v.strip_prefix("method.request.path.") {
        ParamSource::Path(n.to_string())
    } else if method_request && let Some(n) = v.strip_prefix("method.request.querystring.") {
        ParamSource::Query(n.to_string())
    } else if method_request && let Some(n) = v.strip_prefix("method.request.header.") {
        ParamSource::Header(n.to_string())
    } else if method_request && let Some(n) = v.strip_prefix("method.request.multivaluequerystring.") {
        ParamSource::MultiQuery(n.to_string())
    } else if method_request && let Some(n) = v.strip_prefix("method.request.multivalueheader.") {
        ParamSource::MultiHeader(n.to_string())
    } else if phase == MappingPhase::Request
        && let Some(rest) = v.strip_prefix("method.request.body")
    {
        ParamSource::RequestBody(body_path(rest)?)
    } else if phase == MappingPhase::Response
        && let Some(n) = v.strip_prefix("integration.response.header.")
    {
        ParamSource::ResponseHeader(n.to_string())
    } else if phase == MappingPhase::Response
        && let Some(n) = v.strip_prefix("integration.response.multivalueheader.")
    {
        ParamSource::ResponseMultiHeader(n.to_string())
    } else if phase == MappingPhase::Response
        && let Some(rest) = v.strip_prefix("integration.response.body")
    {
        ParamSource::ResponseBody(body_path(rest)?)
    } else {
        return Err(format!(
            "`{v}` is not a mapping source here ({})",
            match phase {
                MappingPhase::Request =>
                    "method.request.path|querystring|header|multivaluequerystring|multivalueheader.X, method.request.body[.JSONPath], stageVariables.X, context.X or 'literal'",
                MappingPhase::Response =>
                    "integration.response.header|multivalueheader.X, integration.response.body[.JSONPath], stageVariables.X, context.X or 'literal'",
                MappingPhase::GatewayResponse =>
                    "method.request.path|querystring|header|multivaluequerystring|multivalueheader.X, stageVariables.X, context.X or 'literal'",
            }
        ));
    };
    Ok(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths() {
        for ok in ["/", "/pets", "/pets/{petId}", "/{proxy+}", "/a/{b}/{c+}", "/v1.0/x-y_z:w"] {
            assert_eq!(check_resource_path(ok), Ok(()), "{ok}");
        }
        for bad in ["pets", "/pets/", "/a//b", "/{proxy+}/child", "/a{b}", "/{}", "/a b"] {
            assert!(check_resource_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uri_placeholders() {
        assert_eq!(placeholders("http://h/{a}/x/{proxy}?q=${stageVariables.v}"), vec!["a", "proxy"]);
        assert!(placeholders("${stageVariables.url}/x").is_empty());
    }
}
