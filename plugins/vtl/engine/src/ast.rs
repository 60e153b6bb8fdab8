//! The syntax tree of a template.

use crate::value::ArithOp;

/// A sequence of nodes.
pub type Block = Vec<Node>;

/// A node of a template.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `$ref`, `$!ref`, `${ref}`; `escapes` is the number of backslashes before it.
    Ref { reference: Reference, escapes: usize },
    /// `#set($lhs = expr)`.
    Set { target: Reference, value: Expr },
    /// `#if` / `#elseif` / `#else`.
    If { branches: Vec<(Expr, Block)>, otherwise: Option<Block> },
    /// `#foreach($var in expr)`.
    Foreach { var: String, iterable: Expr, body: Block },
    /// `#break`.
    Break,
    /// `#stop`.
    Stop,
    /// `#define($name) … #end`.
    Define { name: String, body: Block },
    /// A call of a macro defined with `#macro`.
    MacroCall { name: String, args: Vec<Expr>, source: String },
    /// `#evaluate(expr)`.
    Evaluate(Expr),
}

/// A reference: `$root.a.b(c)[d]`.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The variable name.
    pub root: String,
    /// What follows it.
    pub parts: Vec<Part>,
    /// `$!`: renders nothing when null.
    pub quiet: bool,
    /// The reference as written (Velocity renders it as is when it is null).
    pub source: String,
    /// Line and column, for messages.
    pub at: (usize, usize),
}

/// One step of a reference.
#[derive(Debug, Clone)]
pub enum Part {
    /// `.name`
    Property(String),
    /// `.name(args)`
    Method(String, Vec<Expr>),
    /// `[expr]`
    Index(Expr),
}

/// An expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A reference.
    Ref(Reference),
    /// `"…"`: interpolated (a block rendered to a string), or plain when `None`.
    Interpolated(Block),
    /// `'…'` or a double-quoted string without references or directives.
    Str(String),
    /// An integer literal (`Integer`, or `Long` when it does not fit).
    Int(i64),
    /// A floating-point literal.
    Double(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `[a..b]`
    Range(Box<Expr>, Box<Expr>),
    /// `{k: v}`
    Map(Vec<(Expr, Expr)>),
    /// `!a`
    Not(Box<Expr>),
    /// `a && b`
    And(Box<Expr>, Box<Expr>),
    /// `a || b`
    Or(Box<Expr>, Box<Expr>),
    /// A comparison.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// Arithmetic; with the operands' source text (`+` on a string and a null shows the
    /// null operand as written).
    Arith(ArithOp, Box<Expr>, Box<Expr>, Box<(String, String)>),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A `#macro` definition.
#[derive(Debug, Clone)]
pub struct Macro {
    /// Parameter names (without `$`).
    pub params: Vec<String>,
    /// Body.
    pub body: Block,
}
