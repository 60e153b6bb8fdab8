//! Host bindings of the `wasmgate:plugin` WIT package.
//!
//! The imports (`plugin-host` world) are generated once; each export world reuses them with
//! `with`, so one linker serves every kind of plugin.

#![allow(missing_docs, reason = "generated code")]

/// The host imports and the shared types.
pub mod host {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmgate:plugin/plugin-host",
        imports: { default: async | trappable },
    });
}

/// The authorizer world.
pub mod authorizer {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmgate:plugin/authorizer-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasmgate:plugin/types": super::host::wasmgate::plugin::types,
            "wasmgate:plugin/state": super::host::wasmgate::plugin::state,
            "wasmgate:plugin/log": super::host::wasmgate::plugin::log,
            "wasmgate:plugin/config": super::host::wasmgate::plugin::config,
            "wasmgate:plugin/http-client": super::host::wasmgate::plugin::http_client,
            "wasmgate:plugin/clock": super::host::wasmgate::plugin::clock,
        },
    });
}

/// The transform world.
pub mod transform {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmgate:plugin/transform-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasmgate:plugin/types": super::host::wasmgate::plugin::types,
            "wasmgate:plugin/state": super::host::wasmgate::plugin::state,
            "wasmgate:plugin/log": super::host::wasmgate::plugin::log,
            "wasmgate:plugin/config": super::host::wasmgate::plugin::config,
            "wasmgate:plugin/http-client": super::host::wasmgate::plugin::http_client,
            "wasmgate:plugin/clock": super::host::wasmgate::plugin::clock,
        },
    });
}

/// The integration world.
pub mod integration {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmgate:plugin/integration-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasmgate:plugin/types": super::host::wasmgate::plugin::types,
            "wasmgate:plugin/state": super::host::wasmgate::plugin::state,
            "wasmgate:plugin/log": super::host::wasmgate::plugin::log,
            "wasmgate:plugin/config": super::host::wasmgate::plugin::config,
            "wasmgate:plugin/http-client": super::host::wasmgate::plugin::http_client,
            "wasmgate:plugin/clock": super::host::wasmgate::plugin::clock,
        },
    });
}

pub use host::wasmgate::plugin::types;
