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
        // The `authorizer-request` methods only read what the gateway prepared: plain
        // functions, without the future an async host function costs per call.
        imports: {
            "wasmgate:plugin/types": trappable,
            default: async | trappable,
        },
        with: {
            "wasmgate:plugin/types.authorizer-request": crate::runtime::AuthorizerCall,
        },
    });
}

/// Generates the bindings of an export world, reusing the imports generated in [`host`].
macro_rules! export_world {
    ($(#[$doc:meta])* $module:ident, $world:literal) => {
        $(#[$doc])*
        pub mod $module {
            wasmtime::component::bindgen!({
                path: "../wit",
                world: $world,
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
    };
}

export_world!(
    /// The authorizer world.
    authorizer,
    "wasmgate:plugin/authorizer-plugin"
);
export_world!(
    /// The transform world.
    transform,
    "wasmgate:plugin/transform-plugin"
);
export_world!(
    /// The integration world.
    integration,
    "wasmgate:plugin/integration-plugin"
);

pub use host::wasmgate::plugin::types;
