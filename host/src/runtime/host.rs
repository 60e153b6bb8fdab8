//! What a plugin's store holds, and the host side of the `wasmgate:plugin` imports.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::host::wasmgate::plugin::{clock, config, http_client, log, state, types};
use crate::http_client::{HttpClient, full_body};
use crate::state::{StateBackend, StateError};

/// Most bytes of one log message from a plugin; longer ones are cut.
const MAX_LOG_MESSAGE: usize = 4096;
/// Largest response body a plugin's outbound request may read.
const MAX_OUTBOUND_BODY: usize = 10 << 20;
/// Outbound request timeout when the plugin gives none.
const DEFAULT_OUTBOUND_TIMEOUT: Duration = Duration::from_secs(10);

/// What every instance of one plugin shares: its identity and grants.
pub struct PluginContext {
    /// The plugin's name.
    pub name: String,
    /// Its manifest config.
    pub config: Vec<(String, String)>,
    /// Hosts it may reach (`host` = any port, `host:port` = that port).
    pub allowed_outbound_hosts: Vec<String>,
    /// Its state namespace.
    pub state: Arc<dyn StateBackend>,
    /// The shared outbound HTTP client.
    pub http: HttpClient,
    /// How many times its calls were suspended at an epoch tick: a guest still running when
    /// a tick came yields to the executor (see [`crate::runtime::Plugin::epoch_yields`]).
    pub yields: std::sync::atomic::AtomicU64,
}

/// The data of one plugin store.
pub struct PluginState {
    pub(crate) ctx: Arc<PluginContext>,
    pub(crate) request_id: String,
    pub(crate) limiter: MemoryLimiter,
    /// Built on a plugin's first WASI call: most calls make none, and building one (its
    /// random-number generators among it) is a good part of a fresh instance's set-up.
    wasi: Option<WasiCtx>,
    pub(crate) table: ResourceTable,
}

impl PluginState {
    pub(crate) fn new(ctx: Arc<PluginContext>, memory_bytes: usize) -> PluginState {
        PluginState {
            ctx,
            request_id: String::new(),
            limiter: MemoryLimiter { max_memory: memory_bytes, denied: false },
            wasi: None,
            table: ResourceTable::new(),
        }
    }
}

/// Enforces a plugin's memory limit and remembers whether it refused a growth.
pub(crate) struct MemoryLimiter {
    max_memory: usize,
    pub(crate) denied: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        if desired > self.max_memory {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // Grants nothing: no preopens, args or environment; stdio closed; every socket address
        // and every name lookup denied.
        let ctx = self.wasi.get_or_insert_with(|| {
            WasiCtx::builder().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build()
        });
        WasiCtxView { ctx, table: &mut self.table }
    }
}

impl types::Host for PluginState {}

/// The gateway's side of one `authorizer-request` handle: the request as an authorizer may
/// read it, lent to the plugin for one `authorize` call ([`Plugin::authorize`](super::Plugin::authorize)).
#[derive(Debug, Clone)]
pub struct AuthorizerCall {
    /// TOKEN or REQUEST.
    pub kind: types::AuthorizerKind,
    /// TOKEN: the identity-source header's value.
    pub authorization_token: Option<String>,
    /// The method ARN.
    pub method_arn: String,
    /// The resource template.
    pub resource: String,
    /// The request path without the stage.
    pub path: String,
    /// The verb.
    pub http_method: String,
    /// Request headers, names lower-case, without the ones API Gateway drops.
    pub headers: Vec<(String, String)>,
    /// Query string parameters, decoded, in request order.
    pub query: Vec<(String, String)>,
    /// Path parameters.
    pub path_parameters: Vec<(String, String)>,
    /// `$context`.
    pub context: types::RequestContext,
}

impl PluginState {
    fn call(&self, handle: &Resource<AuthorizerCall>) -> Result<&AuthorizerCall> {
        Ok(self.table.get(handle)?)
    }
}

impl types::HostAuthorizerRequest for PluginState {
    fn kind(&mut self, handle: Resource<AuthorizerCall>) -> Result<types::AuthorizerKind> {
        Ok(self.call(&handle)?.kind)
    }
    fn authorization_token(&mut self, handle: Resource<AuthorizerCall>) -> Result<Option<String>> {
        Ok(self.call(&handle)?.authorization_token.clone())
    }
    fn method_arn(&mut self, handle: Resource<AuthorizerCall>) -> Result<String> {
        Ok(self.call(&handle)?.method_arn.clone())
    }
    fn resource(&mut self, handle: Resource<AuthorizerCall>) -> Result<String> {
        Ok(self.call(&handle)?.resource.clone())
    }
    fn path(&mut self, handle: Resource<AuthorizerCall>) -> Result<String> {
        Ok(self.call(&handle)?.path.clone())
    }
    fn http_method(&mut self, handle: Resource<AuthorizerCall>) -> Result<String> {
        Ok(self.call(&handle)?.http_method.clone())
    }
    fn header(&mut self, handle: Resource<AuthorizerCall>, name: String) -> Result<Option<String>> {
        let call = self.call(&handle)?;
        // The last value, as the gateway reads a repeated header everywhere else (identity
        // sources, the decision cache's key, `method.request.header.*`).
        Ok(call.headers.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(&name)).map(|(_, v)| v.clone()))
    }
    fn headers(&mut self, handle: Resource<AuthorizerCall>) -> Result<Vec<(String, String)>> {
        Ok(self.call(&handle)?.headers.clone())
    }
    fn query_parameter(&mut self, handle: Resource<AuthorizerCall>, name: String) -> Result<Option<String>> {
        let call = self.call(&handle)?;
        Ok(call.query.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
    }
    fn query(&mut self, handle: Resource<AuthorizerCall>) -> Result<Vec<(String, String)>> {
        Ok(self.call(&handle)?.query.clone())
    }
    fn path_parameters(&mut self, handle: Resource<AuthorizerCall>) -> Result<Vec<(String, String)>> {
        Ok(self.call(&handle)?.path_parameters.clone())
    }
    fn context(&mut self, handle: Resource<AuthorizerCall>) -> Result<types::RequestContext> {
        Ok(self.call(&handle)?.context.clone())
    }
    fn drop(&mut self, handle: Resource<AuthorizerCall>) -> Result<()> {
        // The gateway lends the handle and takes it back after the call; a guest cannot own one.
        self.table.delete(handle)?;
        Ok(())
    }
}

fn state_error(e: StateError) -> state::StateError {
    match e {
        StateError::KeyTooLarge(n) => state::StateError::KeyTooLarge(n as u32),
        StateError::ValueTooLarge(n) => state::StateError::ValueTooLarge(n as u32),
        StateError::NotACounter => state::StateError::NotACounter,
        StateError::QuotaExceeded(n) => state::StateError::QuotaExceeded(n),
        StateError::Storage(e) => state::StateError::Storage(e.to_string()),
    }
}

impl state::Host for PluginState {
    async fn get(&mut self, key: String) -> Result<Result<Option<Vec<u8>>, state::StateError>> {
        Ok(self.ctx.state.get(&key).await.map_err(state_error))
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl: Option<u32>) -> Result<Result<(), state::StateError>> {
        Ok(self.ctx.state.set(&key, &value, ttl).await.map_err(state_error))
    }

    async fn delete(&mut self, key: String) -> Result<Result<bool, state::StateError>> {
        Ok(self.ctx.state.delete(&key).await.map_err(state_error))
    }

    async fn increment(&mut self, key: String, delta: i64, ttl: Option<u32>) -> Result<Result<i64, state::StateError>> {
        Ok(self.ctx.state.increment(&key, delta, ttl).await.map_err(state_error))
    }

    async fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Result<Vec<String>, state::StateError>> {
        Ok(self.ctx.state.list_keys(&prefix, limit as usize).await.map_err(state_error))
    }
}

impl log::Host for PluginState {
    async fn log(&mut self, level: log::Level, mut message: String) -> Result<()> {
        if message.len() > MAX_LOG_MESSAGE {
            let mut cut = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let (plugin, request_id) = (&self.ctx.name, &self.request_id);
        match level {
            log::Level::Trace => tracing::trace!(target: "wasmgate::plugin", %plugin, %request_id, "{message}"),
            log::Level::Debug => tracing::debug!(target: "wasmgate::plugin", %plugin, %request_id, "{message}"),
            log::Level::Info => tracing::info!(target: "wasmgate::plugin", %plugin, %request_id, "{message}"),
            log::Level::Warn => tracing::warn!(target: "wasmgate::plugin", %plugin, %request_id, "{message}"),
            log::Level::Error => tracing::error!(target: "wasmgate::plugin", %plugin, %request_id, "{message}"),
        }
        Ok(())
    }
}

impl config::Host for PluginState {
    async fn get(&mut self, key: String) -> Result<Option<String>> {
        Ok(self.ctx.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>> {
        Ok(self.ctx.config.clone())
    }
}

impl clock::Host for PluginState {
    async fn now_millis(&mut self) -> Result<u64> {
        Ok(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0))
    }
}

/// Whether `authority` (`host` or `host:port`) is allowed by `allowed`.
pub(crate) fn host_allowed(allowed: &[String], host: &str, port: u16) -> bool {
    allowed.iter().any(|a| match a.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {
            h.eq_ignore_ascii_case(host) && p == port.to_string()
        }
        _ => a.eq_ignore_ascii_case(host),
    })
}

impl http_client::Host for PluginState {
    async fn send(
        &mut self,
        req: http_client::OutboundRequest,
    ) -> Result<Result<http_client::OutboundResponse, http_client::HttpError>> {
        use http_client::HttpError;
        let uri: http::Uri = match req.url.parse() {
            Ok(u) => u,
            Err(e) => return Ok(Err(HttpError::InvalidUrl(format!("{}: {e}", req.url)))),
        };
        if uri.scheme_str() != Some("http") {
            return Ok(Err(HttpError::InvalidUrl(format!("{}: only http:// URLs are supported", req.url))));
        }
        let Some(host) = uri.host() else {
            return Ok(Err(HttpError::InvalidUrl(format!("{}: no host", req.url))));
        };
        let port = uri.port_u16().unwrap_or(80);
        if !host_allowed(&self.ctx.allowed_outbound_hosts, host, port) {
            return Ok(Err(HttpError::NotAllowed(format!("{host}:{port}"))));
        }
        let mut builder = http::Request::builder().method(req.method.as_str()).uri(uri);
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = match builder.body(full_body(Bytes::from(req.body))) {
            Ok(r) => r,
            Err(e) => return Ok(Err(HttpError::InvalidUrl(format!("invalid request: {e}")))),
        };
        let timeout = req.timeout_ms.map_or(DEFAULT_OUTBOUND_TIMEOUT, |ms| Duration::from_millis(u64::from(ms)));
        let fetch = async {
            let resp = self.ctx.http.request(request).await.map_err(|e| HttpError::Connection(format!("{e:#}")))?;
            let (parts, body) = resp.into_parts();
            let limited = http_body_util::Limited::new(body, MAX_OUTBOUND_BODY);
            let body = match limited.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(HttpError::TooLarge),
                Err(e) => return Err(HttpError::Connection(e.to_string())),
            };
            let headers = parts
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            Ok(http_client::OutboundResponse { status: parts.status.as_u16(), headers, body: body.to_vec() })
        };
        Ok(tokio::time::timeout(timeout, fetch).await.unwrap_or(Err(HttpError::Timeout)))
    }
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn outbound_allow_list() {
        let allowed = vec!["api.example.com".to_string(), "127.0.0.1:9000".to_string()];
        assert!(host_allowed(&allowed, "api.example.com", 443));
        assert!(host_allowed(&allowed, "API.example.com", 80));
        assert!(host_allowed(&allowed, "127.0.0.1", 9000));
        assert!(!host_allowed(&allowed, "127.0.0.1", 9001));
        assert!(!host_allowed(&allowed, "example.com", 80));
    }
}
