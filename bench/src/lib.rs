//! wasmgate's benchmark harness. `bench/run.sh` drives the load runs against nginx, HAProxy,
//! Envoy and wasmgate with `bench-backend` behind them; `benches/plugin.rs` measures plugin
//! calls and component loading with criterion. See `bench/README.md`.

use std::time::Duration;

use wasmgate::manifest::{PluginDef, PluginLimits, PluginSource};
use wasmgate::runtime::AuthorizerCall;
use wasmgate::runtime::bindings::types;

/// The authorizer request the plugin benchmarks send: a TOKEN call as the gateway builds it for
/// `GET /prod/secret` with two headers.
pub fn authorizer_request() -> AuthorizerCall {
    AuthorizerCall {
        kind: types::AuthorizerKind::Token,
        authorization_token: Some("allow".into()),
        method_arn: "arn:aws:execute-api:us-east-1:123456789012:bench/prod/GET/secret".into(),
        resource: "/secret".into(),
        path: "/secret".into(),
        http_method: "GET".into(),
        headers: vec![("authorization".into(), "allow".into()), ("host".into(), "bench".into())],
        query: Vec::new(),
        path_parameters: Vec::new(),
        context: types::RequestContext {
            request_id: "00000000-0000-0000-0000-000000000000".into(),
            api_id: "bench".into(),
            stage: "prod".into(),
            resource_id: "abc123".into(),
            resource_path: "/secret".into(),
            http_method: "GET".into(),
            path: "/prod/secret".into(),
            protocol: "HTTP/1.1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: "bench".into(),
            domain_name: "bench".into(),
            request_time_epoch: 0,
            stage_variables: Vec::new(),
            principal_id: None,
            authorizer_context: Vec::new(),
            account_id: "123456789012".into(),
            extra: Vec::new(),
        },
    }
}

/// The quickstart authorizer as a plugin, keeping up to `warm` instances for reuse (0: a fresh
/// instance per call). Panics when the guest was not built with the host.
pub fn authorizer_plugin(warm: usize) -> PluginDef {
    PluginDef {
        name: format!("auth-{warm}"),
        source: PluginSource::File(wasmgate::guest_path("quickstart-authorizer").expect("built guest").into()),
        config: Vec::new(),
        allowed_outbound_hosts: Vec::new(),
        limits: PluginLimits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(1),
            warm_instances: warm,
            state_bytes: 64 << 20,
        },
    }
}
