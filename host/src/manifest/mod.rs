//! The gateway manifest (`gateway.toml`): parsing, validation, and resolution into the
//! model the runtime uses. The runtime never sees raw TOML: [`load`] returns a
//! [`GatewayConfig`] in which every reference is checked and every path is absolute.
//!
//! The format is documented in `docs/manifest.md`.

mod resolve;
pub mod schema;
mod uri_template;

use std::path::{Path, PathBuf};

pub use resolve::*;
pub use uri_template::UriTemplate;

/// The only manifest version this gateway reads.
pub const MANIFEST_VERSION: u32 = 1;

/// Why a manifest was refused. Every variant names the file and where in it.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{path}: cannot read the manifest: {error}")]
    Read {
        /// The manifest file.
        path: String,
        /// The I/O error (part of the message, so not also a `source`).
        error: std::io::Error,
    },
    /// TOML syntax, or a key or value the schema does not accept.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The manifest file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value that parses but is not valid (a dangling reference, a bad path, …).
    #[error("{path}: {at}: {message}")]
    Invalid {
        /// The manifest file.
        path: String,
        /// The dotted key of the offending value.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads, parses and resolves a manifest file.
pub fn load(path: &Path) -> Result<GatewayConfig, ManifestError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ManifestError::Read { path: display.clone(), error })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    parse(&text, &base, &display)
}

/// Parses and resolves manifest text; relative paths are taken from `base_dir`, and errors
/// name `display_path`.
pub fn parse(text: &str, base_dir: &Path, display_path: &str) -> Result<GatewayConfig, ManifestError> {
    let syntax = |err: toml::de::Error| {
        let (line, column) = err.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ManifestError::Syntax {
            path: display_path.to_string(),
            line,
            column,
            message: err.message().trim().to_string(),
        }
    };
    // Look at the version before the schema, so that a manifest of another version gets a
    // clear answer rather than a list of unknown keys.
    let table: toml::Table = toml::from_str(text).map_err(syntax)?;
    match table.get("version") {
        None => {
            return Err(ManifestError::Invalid {
                path: display_path.to_string(),
                at: "version".into(),
                message: format!("missing; this gateway reads manifests with `version = {MANIFEST_VERSION}`"),
            });
        }
        Some(toml::Value::Integer(v)) if *v == i64::from(MANIFEST_VERSION) => {}
        Some(other) => {
            return Err(ManifestError::Invalid {
                path: display_path.to_string(),
                at: "version".into(),
                message: format!("unsupported manifest version {other}; this gateway reads version {MANIFEST_VERSION}"),
            });
        }
    }
    let manifest: schema::Manifest = toml::from_str(text).map_err(syntax)?;
    resolve::resolve(manifest, base_dir).map_err(|(at, message)| ManifestError::Invalid {
        path: display_path.to_string(),
        at,
        message,
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}
