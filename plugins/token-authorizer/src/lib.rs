//! Built-in `token-authorizer`: static bearer tokens from the manifest.
//!
//! Config:
//! - `tokens`: a table `token = "principal-id"`; a request whose identity token is one of
//!   them is allowed as that principal.
//! - `denied`: an optional array of tokens that are explicitly denied (403).
//!
//! Any other token, or none, is unauthorized (401). Use it as a TOKEN authorizer whose
//! `identitySource` is the header that carries the token; a `Bearer ` prefix is stripped.

use std::collections::BTreeMap;

use wasmgate_sdk::authorizer::{AuthorizerRequest, Decision};
use wasmgate_sdk::config;

/// The decision for one token, given the parsed config.
pub fn decide(token: Option<&str>, tokens: &BTreeMap<String, String>, denied: &[String]) -> Decision {
    let Some(token) = token.map(|t| t.strip_prefix("Bearer ").unwrap_or(t)) else {
        return Decision::Unauthorized;
    };
    if denied.iter().any(|d| d == token) {
        return Decision::deny(token);
    }
    match tokens.get(token) {
        Some(principal) => Decision::allow(principal.clone()),
        None => Decision::Unauthorized,
    }
}

#[wasmgate_sdk::authorizer]
fn authorize(req: &AuthorizerRequest) -> anyhow::Result<Decision> {
    let tokens: BTreeMap<String, String> = match config::get("tokens") {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| anyhow::anyhow!("config `tokens` must be a table of strings: {e}"))?,
        None => BTreeMap::new(),
    };
    let denied: Vec<String> = match config::get("denied") {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| anyhow::anyhow!("config `denied` must be an array of strings: {e}"))?,
        None => Vec::new(),
    };
    Ok(decide(req.authorization_token().as_deref(), &tokens, &denied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decides_by_table() {
        let tokens = BTreeMap::from([("t1".to_string(), "alice".to_string())]);
        let denied = vec!["bad".to_string()];
        assert!(matches!(decide(Some("t1"), &tokens, &denied), Decision::Allow(g) if g.principal_id == "alice"));
        assert!(matches!(decide(Some("Bearer t1"), &tokens, &denied), Decision::Allow(_)));
        assert!(matches!(decide(Some("bad"), &tokens, &denied), Decision::Deny(_)));
        assert!(matches!(decide(Some("other"), &tokens, &denied), Decision::Unauthorized));
        assert!(matches!(decide(None, &tokens, &denied), Decision::Unauthorized));
    }
}
