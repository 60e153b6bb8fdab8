//! wasmgate: a self-hosted gateway that behaves like Amazon API Gateway, whose authorizers,
//! mapping transforms and integrations are WebAssembly components.
//!
//! The pieces, in the order a request meets them:
//! - [`manifest`]: `gateway.toml`, parsed strictly and resolved into [`manifest::GatewayConfig`];
//! - [`server`]: listeners, TLS, edge limits;
//! - [`gateway`]: the immutable [`gateway::Snapshot`] a request runs on, behind one pointer;
//! - [`router`]: API Gateway's resource matching;
//! - [`pipeline`]: method request → authorization → integration request → integration →
//!   integration response → method response;
//! - [`gateway_response`]: the one place errors become responses;
//! - [`runtime`]: the wasmtime plugin runtime; [`state`]: plugins' sled-backed state.
//!
//! See `docs/pipeline.md`, `docs/plugins.md` and `docs/manifest.md`.
#![deny(missing_docs)]

pub mod admin;
pub mod body;
pub mod cli;
pub mod gateway;
pub mod gateway_response;
mod h1;
pub mod http_client;
pub mod manifest;
pub mod pipeline;
pub mod router;
pub mod runtime;
pub mod server;
pub mod state;
pub mod watch;

mod artifacts {
    include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
}

/// The component bytes of a built-in plugin.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    artifacts::BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Names of the built-in plugins.
pub fn builtin_names() -> Vec<&'static str> {
    artifacts::BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// Path of a guest component built with the host (examples and test fixtures), by package name.
#[doc(hidden)]
pub fn guest_path(package: &str) -> Option<&'static str> {
    artifacts::GUESTS.iter().find(|(n, _)| *n == package).map(|(_, p)| *p)
}
