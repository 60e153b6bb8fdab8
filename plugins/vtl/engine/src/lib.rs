//! The Velocity Template Language as Amazon API Gateway runs it: Apache Velocity 1.7 with
//! API Gateway's `$input`, `$util`, `$context` and `$stageVariables`.
//!
//! ```
//! use wasmgate_vtl::{Inputs, Limits, Template};
//!
//! let limits = Limits::default();
//! let t = Template::parse(r#"{"name": "$input.path('$.name')", "n": $input.json('$.n')}"#, &limits).unwrap();
//! let inputs = Inputs { body: r#"{"name": "Ada", "n": [1, 2]}"#.into(), ..Inputs::default() };
//! assert_eq!(t.render(&inputs, &limits).unwrap().output, r#"{"name": "Ada", "n": [1,2]}"#);
//! ```
//!
//! Two modes differ in one thing: [`Mode::Aws`] renders a reference whose value is null as
//! nothing (as API Gateway does), [`Mode::Velocity`] renders it as written (as Velocity 1.7
//! does); the differential tests against Velocity use the latter. `docs/vtl.md` lists what
//! else is intentionally different.

mod ast;
mod aws;
mod doc;
mod java;
mod json;
mod jsonpath;
mod methods;
mod parser;
mod render;
mod value;

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

pub use aws::{Inputs, Overrides, escape_javascript};
pub use doc::Doc;
pub use render::Env;
pub use value::{JList, JMap, ListKind, MAX_NESTING, Object, Value, java_double};

/// Why a template could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The template is not valid VTL.
    #[error("line {line}, column {column}: {message}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A method threw, or a template did something API Gateway refuses.
    #[error("{0}")]
    Render(String),
    /// A limit was reached.
    #[error("template limit: {0}")]
    Limit(String),
    /// `$input.json` / `$input.path` on a payload that is not JSON.
    #[error("Could not parse request body into json: {0}")]
    InvalidJson(String),
}

impl Error {
    pub(crate) fn render(message: impl Into<String>) -> Error {
        Error::Render(message.into())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How null references render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// API Gateway: as nothing.
    #[default]
    Aws,
    /// Velocity 1.7: as written in the template.
    Velocity,
}

/// Limits on a template and its rendering.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest template (API Gateway: 300 KB).
    pub max_template_bytes: usize,
    /// Most iterations of one `#foreach` (API Gateway: 1000).
    pub max_foreach_iterations: usize,
    /// Largest output.
    pub max_output_bytes: usize,
    /// Longest rendering.
    pub max_render_time: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_template_bytes: 300 * 1024,
            max_foreach_iterations: 1000,
            max_output_bytes: 10 << 20,
            max_render_time: Duration::from_secs(1),
        }
    }
}

/// The largest capacity an output starts with (one large output must not make every later,
/// smaller one reserve as much: in the plugin, that is the guest's memory).
const MAX_OUTPUT_HINT: usize = 64 << 10;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    block: ast::Block,
    macros: HashMap<String, Rc<ast::Macro>>,
    /// The variables it names, with their slots.
    symbols: ast::Symbols,
    /// The length of the last output, as the capacity to start the next one with: a template
    /// renders outputs of much the same size request after request, and an output grown from
    /// empty is reallocated and copied about once per doubling. At most [`MAX_OUTPUT_HINT`].
    output_hint: std::cell::Cell<usize>,
}

/// A rendered API Gateway template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The text.
    pub output: String,
    /// What it set in `$context.requestOverride` / `$context.responseOverride`.
    pub overrides: Overrides,
}

impl Template {
    /// Parses a template.
    pub fn parse(source: &str, limits: &Limits) -> Result<Template> {
        if source.len() > limits.max_template_bytes {
            return Err(Error::Limit(format!(
                "the template is {} bytes; the limit is {}",
                source.len(),
                limits.max_template_bytes
            )));
        }
        let mut parser = parser::Parser::new(source);
        let block = parser.parse()?;
        Ok(Template { block, macros: parser.macros, symbols: parser.symbols, output_hint: Default::default() })
    }

    /// Renders it as API Gateway does, with `$input`, `$util`, `$context` and
    /// `$stageVariables` from `inputs`.
    pub fn render(&self, inputs: &Inputs, limits: &Limits) -> Result<Rendered> {
        self.render_full(inputs, HashMap::new(), limits, Mode::Aws)
    }

    /// Renders it with API Gateway's variables from `inputs` plus `extra`, in `mode`.
    pub fn render_full(
        &self,
        inputs: &Inputs,
        extra: HashMap<String, Value>,
        limits: &Limits,
        mode: Mode,
    ) -> Result<Rendered> {
        // Only the variables the template can reach are built.
        let (vars, overrides) = aws::variables(
            inputs,
            |name| self.symbols.evaluates || self.symbols.get(name).is_some(),
            |key| self.symbols.reaches_context(key),
        );
        let mut env = Env::new(&self.symbols, &self.macros, limits, mode);
        env.input = Some(aws::InputState::new(inputs));
        for (name, value) in vars {
            env.bind(name, value);
        }
        for (name, value) in extra {
            env.bind(&name, value);
        }
        let mut output = String::with_capacity(self.output_hint.get());
        render_guarded(&mut env, &self.block, &mut output, limits)?;
        self.output_hint.set(output.len().min(MAX_OUTPUT_HINT));
        Ok(Rendered { output, overrides: overrides.collect() })
    }

    /// Renders it with the given variables only (no API Gateway variables).
    pub fn render_with(&self, vars: HashMap<String, Value>, limits: &Limits, mode: Mode) -> Result<String> {
        let mut env = Env::new(&self.symbols, &self.macros, limits, mode);
        for (name, value) in vars {
            env.bind(&name, value);
        }
        let mut output = String::with_capacity(self.output_hint.get());
        render_guarded(&mut env, &self.block, &mut output, limits)?;
        self.output_hint.set(output.len().min(MAX_OUTPUT_HINT));
        Ok(output)
    }
}

/// Renders `block`, failing if a value was cut short on the way (see
/// [`Value::render_into`]): nested past [`value::MAX_NESTING`], or its text longer than the
/// output limit.
fn render_guarded(env: &mut Env<'_>, block: &ast::Block, output: &mut String, limits: &Limits) -> Result<()> {
    value::take_overflow();
    let cap = value::set_text_cap(limits.max_output_bytes);
    let rendered = env.render(block, output);
    value::set_text_cap(cap);
    let overflowed = value::take_overflow();
    rendered?;
    if overflowed {
        return Err(Error::Limit(format!(
            "a list or map nested deeper than {} levels (one that holds itself?), or whose text is longer than {} bytes",
            value::MAX_NESTING,
            limits.max_output_bytes
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
