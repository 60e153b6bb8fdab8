//! The quickstart's token authorizer, written with `wasmgate-sdk`.
//!
//! `Authorization: allow` → allowed as principal `quickstart-user`; `Authorization: deny` →
//! explicitly denied (403); anything else, or no header, → unauthorized (401).

use wasmgate_sdk::authorizer::{AuthorizerRequest, Decision};

#[wasmgate_sdk::authorizer]
fn authorize(req: &AuthorizerRequest) -> Decision {
    match req.authorization_token().as_deref() {
        Some("allow") => Decision::allow("quickstart-user").with_context("plan", "free"),
        Some("deny") => Decision::deny("quickstart-user"),
        _ => Decision::Unauthorized,
    }
}
