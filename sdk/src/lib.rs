//! Write [wasmgate](https://example.invalid/wasmgate) plugins in Rust.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2` that exports one of the
//! interfaces of the `wasmgate:plugin` WIT package. With this crate an author writes one
//! annotated function and never touches raw bindings:
//!
//! ```ignore
//! use wasmgate_sdk::authorizer::{AuthorizerRequest, Decision};
//!
//! #[wasmgate_sdk::authorizer]
//! fn authorize(req: &AuthorizerRequest) -> anyhow::Result<Decision> {
//!     match req.authorization_token().as_deref() {
//!         Some("allow") => Ok(Decision::allow("user").with_context("tier", "gold")),
//!         Some("deny") => Ok(Decision::deny("user")),
//!         _ => Ok(Decision::Unauthorized),
//!     }
//! }
//! ```
//!
//! The crate must be a `cdylib` built with `cargo build --target wasm32-wasip2`. An `Err`
//! returned by the function becomes `plugin-error::internal`, which the gateway answers with
//! its 5xx gateway response; so does a panic (a trap).
//!
//! Host capabilities are plain functions: [`state`], [`log`], [`config`], [`http`], [`clock`].
#![deny(missing_docs)]

pub use wasmgate_sdk_macros::{authorizer, integration, transform};
#[doc(hidden)]
pub use wit_bindgen;

/// Raw bindings of the host imports and shared types. Not for direct use; the macros and the
/// typed modules of this crate build on them.
#[doc(hidden)]
#[allow(missing_docs, reason = "generated code")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wasmgate:plugin/plugin-host",
        runtime_path: "crate::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::wasmgate::plugin::types;

pub use types::{Fields, PluginError, RequestContext};

fn find<'a>(fields: &'a [(String, String)], name: &str, ignore_case: bool) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| if ignore_case { k.eq_ignore_ascii_case(name) } else { k == name })
        .map(|(_, v)| v.as_str())
}

impl RequestContext {
    /// A stage variable, if set.
    pub fn stage_variable(&self, name: &str) -> Option<&str> {
        find(&self.stage_variables, name, false)
    }
}

/// Authorizers: decide whether a request goes on.
pub mod authorizer {
    use super::types;
    pub use types::{AuthorizerKind, AuthorizerRequest, ContextValue, Decision, Grant};

    impl AuthorizerRequest {
        /// A path parameter matched by the resource template.
        pub fn path_parameter(&self, name: &str) -> Option<String> {
            self.path_parameters().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
        }
    }

    impl Decision {
        /// Allow the request as `principal_id`.
        pub fn allow(principal_id: impl Into<String>) -> Self {
            Decision::Allow(Grant::new(principal_id))
        }
        /// Deny the request (403 with an explicit deny).
        pub fn deny(principal_id: impl Into<String>) -> Self {
            Decision::Deny(Grant::new(principal_id))
        }
        /// Adds a key to the authorizer context (`$context.authorizer.<key>`). No effect on
        /// [`Decision::Unauthorized`].
        pub fn with_context(mut self, key: impl Into<String>, value: impl Into<ContextValue>) -> Self {
            if let Decision::Allow(g) | Decision::Deny(g) = &mut self {
                g.context.push((key.into(), value.into()));
            }
            self
        }
        /// Sets the usage identifier key (the API key when `apiKeySource` is `AUTHORIZER`).
        pub fn with_usage_identifier_key(mut self, key: impl Into<String>) -> Self {
            if let Decision::Allow(g) | Decision::Deny(g) = &mut self {
                g.usage_identifier_key = Some(key.into());
            }
            self
        }
    }

    impl Grant {
        /// A grant for `principal_id` with an empty context.
        pub fn new(principal_id: impl Into<String>) -> Self {
            Grant { principal_id: principal_id.into(), context: Vec::new(), usage_identifier_key: None }
        }
    }

    impl From<&str> for ContextValue {
        fn from(v: &str) -> Self {
            ContextValue::Text(v.to_string())
        }
    }
    impl From<String> for ContextValue {
        fn from(v: String) -> Self {
            ContextValue::Text(v)
        }
    }
    impl From<f64> for ContextValue {
        fn from(v: f64) -> Self {
            ContextValue::Number(v)
        }
    }
    impl From<i64> for ContextValue {
        fn from(v: i64) -> Self {
            ContextValue::Number(v as f64)
        }
    }
    impl From<bool> for ContextValue {
        fn from(v: bool) -> Self {
            ContextValue::Boolean(v)
        }
    }
}

/// Mapping transforms: rewrite a body between the method and the integration.
pub mod transform {
    pub use super::types::{TransformInput, TransformOutput, TransformPhase};

    impl TransformOutput {
        /// An output with this body and nothing else changed.
        pub fn body(body: impl Into<Vec<u8>>) -> Self {
            TransformOutput {
                body: body.into(),
                content_type: None,
                status_code: None,
                headers: Vec::new(),
                path_parameters: Vec::new(),
                query: Vec::new(),
            }
        }
    }
}

/// Integrations: produce the response for a request.
pub mod integration {
    use super::find;
    pub use super::types::{IntegrationRequest, IntegrationResponse};

    impl IntegrationRequest {
        /// The first value of a header, matched without regard to case.
        pub fn header(&self, name: &str) -> Option<&str> {
            find(&self.headers, name, true)
        }
    }

    impl IntegrationResponse {
        /// A response with a status, a content type and a body.
        pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
            IntegrationResponse {
                status,
                headers: vec![("content-type".to_string(), content_type.to_string())],
                body: body.into(),
            }
        }
    }
}

/// This plugin's own key-value state (invisible to every other plugin).
pub mod state {
    use super::bindings::wasmgate::plugin::state as raw;
    pub use raw::StateError;

    /// Reads a key.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, StateError> {
        raw::get(key)
    }
    /// Writes a key; durable when this returns.
    pub fn set(key: &str, value: &[u8]) -> Result<(), StateError> {
        raw::set(key, value, None)
    }
    /// Writes a key that expires after `ttl_seconds`.
    pub fn set_with_ttl(key: &str, value: &[u8], ttl_seconds: u32) -> Result<(), StateError> {
        raw::set(key, value, Some(ttl_seconds))
    }
    /// Deletes a key; true if it existed.
    pub fn delete(key: &str) -> Result<bool, StateError> {
        raw::delete(key)
    }
    /// Atomically adds `delta` to a counter and returns the new value.
    pub fn increment(key: &str, delta: i64) -> Result<i64, StateError> {
        raw::increment(key, delta, None)
    }
    /// Lists up to `limit` keys starting with `prefix`.
    pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, StateError> {
        raw::list_keys(prefix, limit)
    }
}

/// Logging into the gateway's log.
pub mod log {
    use super::bindings::wasmgate::plugin::log as raw;
    pub use raw::Level;

    /// Logs at `level`.
    pub fn log(level: Level, message: &str) {
        raw::log(level, message)
    }
    /// Logs at debug level.
    pub fn debug(message: &str) {
        raw::log(Level::Debug, message)
    }
    /// Logs at info level.
    pub fn info(message: &str) {
        raw::log(Level::Info, message)
    }
    /// Logs at warn level.
    pub fn warn(message: &str) {
        raw::log(Level::Warn, message)
    }
    /// Logs at error level.
    pub fn error(message: &str) {
        raw::log(Level::Error, message)
    }
}

/// The plugin's `config` table from the manifest.
pub mod config {
    use super::bindings::wasmgate::plugin::config as raw;

    /// One value, if present.
    pub fn get(key: &str) -> Option<String> {
        raw::get(key)
    }
    /// One value, or an error naming the missing key.
    pub fn require(key: &str) -> anyhow::Result<String> {
        raw::get(key).ok_or_else(|| anyhow::anyhow!("missing config key `{key}`"))
    }
    /// Every key and value.
    pub fn all() -> Vec<(String, String)> {
        raw::get_all()
    }
}

/// Outbound HTTP to the hosts the manifest allows.
pub mod http {
    use super::bindings::wasmgate::plugin::http_client as raw;
    pub use raw::{HttpError, OutboundRequest, OutboundResponse};

    /// Sends a request and waits for the whole response.
    pub fn send(request: &OutboundRequest) -> Result<OutboundResponse, HttpError> {
        raw::send(request)
    }
    /// A `GET` of `url`.
    pub fn get(url: &str) -> Result<OutboundResponse, HttpError> {
        raw::send(&OutboundRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
        })
    }
}

/// Wall-clock time.
pub mod clock {
    /// Milliseconds since the Unix epoch.
    pub fn now_millis() -> u64 {
        super::bindings::wasmgate::plugin::clock::now_millis()
    }
}

/// What a plugin function may return: the value, or `Result<value, E>` for any displayable `E`.
#[doc(hidden)]
pub trait IntoPluginResult<T> {
    fn into_plugin_result(self) -> Result<T, PluginError>;
}

impl<T> IntoPluginResult<T> for T {
    fn into_plugin_result(self) -> Result<T, PluginError> {
        Ok(self)
    }
}

impl<T, E: std::fmt::Display> IntoPluginResult<T> for Result<T, E> {
    fn into_plugin_result(self) -> Result<T, PluginError> {
        self.map_err(|e| PluginError::Internal(format!("{e:#}")))
    }
}
