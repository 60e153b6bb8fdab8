//! Procedural macros of `wasmgate-sdk`: `#[authorizer]`, `#[transform]`, `#[integration]`.
//!
//! Each turns one plain function into the export of a WebAssembly component. The macro
//! generates the export side of the world (`wit_bindgen::generate!`) inside the author's crate,
//! reusing the types and host imports that `wasmgate-sdk` generated once.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use quote::quote;
use syn::{ItemFn, parse_macro_input};

/// The WIT package shipped with the SDK (the workspace's `wit/` directory).
const WIT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit");

struct Kind {
    attr: &'static str,
    world: &'static str,
    module: &'static str,
    interface: &'static str,
    func: &'static str,
    input: &'static str,
    /// Whether the input is a borrowed resource handle (`&Input`) rather than a record.
    borrowed: bool,
    output: &'static str,
}

fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let msg = format!("`#[{}]` takes no arguments", kind.attr);
        return syn::Error::new(proc_macro2::Span::call_site(), msg).to_compile_error().into();
    }
    let func = parse_macro_input!(item as ItemFn);
    if let Some(a) = &func.sig.asyncness {
        let msg = format!("the `#[{}]` function must not be `async`", kind.attr);
        return syn::Error::new_spanned(a, msg).to_compile_error().into();
    }
    if func.sig.inputs.len() != 1 {
        let msg = format!("the `#[{}]` function takes exactly one argument, the {}", kind.attr, kind.input);
        return syn::Error::new_spanned(&func.sig.inputs, msg).to_compile_error().into();
    }
    let name = &func.sig.ident;
    let world = kind.world;
    let module: syn::Ident = syn::parse_str(kind.module).expect("module ident");
    let interface: syn::Ident = syn::parse_str(kind.interface).expect("interface ident");
    let method: syn::Ident = syn::parse_str(kind.func).expect("func ident");
    let input: syn::Ident = syn::parse_str(kind.input).expect("input ident");
    let output: syn::Ident = syn::parse_str(kind.output).expect("output ident");
    let input_ty = if kind.borrowed { quote!(&#input) } else { quote!(#input) };
    quote! {
        // On native targets (unit tests, clippy) the function is type-checked but not exported.
        #[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
        #func

        // The export glue exists on wasm only: WIT export names are not valid native symbols.
        #[cfg(target_family = "wasm")]
        #[doc(hidden)]
        #[allow(missing_docs, unsafe_code, reason = "generated code")]
        mod #module {
            ::wasmgate_sdk::wit_bindgen::generate!({
                path: #WIT_PATH,
                world: #world,
                runtime_path: "::wasmgate_sdk::wit_bindgen::rt",
                with: {
                    "wasmgate:plugin/types@0.3.0": ::wasmgate_sdk::bindings::wasmgate::plugin::types,
                    "wasmgate:plugin/state@0.3.0": ::wasmgate_sdk::bindings::wasmgate::plugin::state,
                    "wasmgate:plugin/log@0.3.0": ::wasmgate_sdk::bindings::wasmgate::plugin::log,
                    "wasmgate:plugin/config@0.3.0": ::wasmgate_sdk::bindings::wasmgate::plugin::config,
                    "wasmgate:plugin/http-client@0.3.0": ::wasmgate_sdk::bindings::wasmgate::plugin::http_client,
                    "wasmgate:plugin/clock@0.3.0": ::wasmgate_sdk::bindings::wasmgate::plugin::clock,
                },
            });

            use ::wasmgate_sdk::bindings::wasmgate::plugin::types::{#input, #output, PluginError};

            struct Component;

            impl exports::wasmgate::plugin::#interface::Guest for Component {
                fn #method(input: #input_ty) -> ::core::result::Result<#output, PluginError> {
                    ::wasmgate_sdk::IntoPluginResult::<#output>::into_plugin_result(super::#name(input))
                }
            }

            export!(Component);
        }
    }
    .into()
}

/// Makes a function the authorizer of this component.
///
/// The function takes a borrowed `&AuthorizerRequest` (a handle whose methods read the parts
/// of the request the authorizer needs) and returns a `Decision`, or a `Result<Decision, E>`
/// for any displayable `E` (an `Err` becomes a 5xx gateway response).
///
/// # Example
/// ```ignore
/// use wasmgate_sdk::authorizer::{AuthorizerRequest, Decision};
///
/// #[wasmgate_sdk::authorizer]
/// fn authorize(req: &AuthorizerRequest) -> Decision {
///     match req.authorization_token().as_deref() {
///         Some("allow") => Decision::allow("user"),
///         Some("deny") => Decision::deny("user"),
///         _ => Decision::Unauthorized,
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn authorizer(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(
        Kind {
            attr: "authorizer",
            world: "wasmgate:plugin/authorizer-plugin",
            module: "__wasmgate_authorizer",
            interface: "authorizer",
            func: "authorize",
            input: "AuthorizerRequest",
            borrowed: true,
            output: "Decision",
        },
        attr,
        item,
    )
}

/// Makes a function the mapping transform of this component.
///
/// The function takes a `TransformInput` and returns a `TransformOutput` (or a `Result` of it).
///
/// # Example
/// ```ignore
/// use wasmgate_sdk::transform::{TransformInput, TransformOutput};
///
/// #[wasmgate_sdk::transform]
/// fn upper(input: TransformInput) -> TransformOutput {
///     TransformOutput::body(input.body.to_ascii_uppercase())
/// }
/// ```
#[proc_macro_attribute]
pub fn transform(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(
        Kind {
            attr: "transform",
            world: "wasmgate:plugin/transform-plugin",
            module: "__wasmgate_transform",
            interface: "transform",
            func: "transform",
            input: "TransformInput",
            borrowed: false,
            output: "TransformOutput",
        },
        attr,
        item,
    )
}

/// Makes a function the integration of this component.
///
/// The function takes an `IntegrationRequest` and returns an `IntegrationResponse` (or a
/// `Result` of it; an `Err` becomes a 5xx gateway response).
///
/// # Example
/// ```ignore
/// use wasmgate_sdk::integration::{IntegrationRequest, IntegrationResponse};
///
/// #[wasmgate_sdk::integration]
/// fn echo(req: IntegrationRequest) -> IntegrationResponse {
///     IntegrationResponse::new(200, "application/octet-stream", req.body)
/// }
/// ```
#[proc_macro_attribute]
pub fn integration(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(
        Kind {
            attr: "integration",
            world: "wasmgate:plugin/integration-plugin",
            module: "__wasmgate_integration",
            interface: "integration",
            func: "invoke",
            input: "IntegrationRequest",
            borrowed: false,
            output: "IntegrationResponse",
        },
        attr,
        item,
    )
}
