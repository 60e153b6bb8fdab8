//! The syntax tree of a template.

use std::rc::Rc;

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
    /// `#foreach($var in expr)`; `var` is the variable's slot.
    Foreach { var: Slot, iterable: Expr, body: Block },
    /// `#break`, or `#break($scope)`: the loop whose `$foreach` the reference names (and
    /// every loop inside it).
    Break(Option<Expr>),
    /// `#stop`.
    Stop,
    /// `#define($name) … #end`; `name` is the variable's slot.
    Define { name: Slot, body: Rc<Block> },
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
    /// The variable's slot.
    pub slot: Slot,
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
    /// `'…'` or a double-quoted string without references or directives (shared by every
    /// value made from it).
    Str(Rc<str>),
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
    /// The parameters' slots.
    pub params: Vec<Slot>,
    /// Body.
    pub body: Block,
}

/// Where a variable lives during a rendering: an index into its table of variables, fixed
/// when the template is parsed, so that no lookup by name happens while rendering.
pub type Slot = usize;

/// The variables a template names, each with its [`Slot`].
#[derive(Debug, Clone)]
pub struct Symbols {
    names: Vec<String>,
    slots: rustc_hash::FxHashMap<String, Slot>,
    /// The template has an `#evaluate`, which may name variables not in this table.
    pub evaluates: bool,
    /// Which of the variables `#foreach` sets (the first three slots) the template names.
    named_loop_vars: [bool; 3],
    /// The properties of `$context` the template names (`$context.stage…`).
    context_properties: Vec<String>,
    /// The template uses `$context` other than by naming one of its properties: as a whole
    /// (`$context`, `#set($c = $context)`, a macro argument), through a method
    /// (`$context.keySet()`) or an index (`$context["stage"]`).
    context_whole: bool,
}

impl Symbols {
    /// `$velocityCount`'s slot.
    pub const VELOCITY_COUNT: Slot = 0;
    /// `$velocityHasNext`'s slot.
    pub const VELOCITY_HAS_NEXT: Slot = 1;
    /// `$foreach`'s slot.
    pub const FOREACH: Slot = 2;

    /// The slot of `name`, allocated when it has none yet.
    pub fn slot(&mut self, name: &str) -> Slot {
        if let Some(&slot) = self.slots.get(name) {
            if let Some(named) = self.named_loop_vars.get_mut(slot) {
                *named = true;
            }
            return slot;
        }
        let slot = self.names.len();
        self.names.push(name.to_string());
        self.slots.insert(name.to_string(), slot);
        slot
    }

    /// The slot of `name`, if the template names it.
    pub fn get(&self, name: &str) -> Option<Slot> {
        self.slots.get(name).copied()
    }

    /// Does the template name `slot`, one of the variables `#foreach` sets? (Always, when
    /// an `#evaluate` could name it.) A loop skips setting those nothing reads.
    pub fn names_loop_var(&self, slot: Slot) -> bool {
        self.evaluates || self.named_loop_vars.get(slot).copied().unwrap_or(true)
    }

    /// Notes a reference to `$context` whose first part is `first`.
    pub fn note_context(&mut self, first: Option<&Part>) {
        match first {
            Some(Part::Property(name)) => {
                if !self.context_properties.iter().any(|p| p == name) {
                    self.context_properties.push(name.clone());
                }
            }
            _ => self.context_whole = true,
        }
    }

    /// Can the template reach `$context.<key>`? Only what it can reach is built: a property
    /// lookup on a map is `get(key)` and nothing else, so a template that reaches `$context`
    /// only through the properties it names cannot tell the other keys are missing. (Always,
    /// when the template uses `$context` whole or has an `#evaluate`.)
    pub fn reaches_context(&self, key: &str) -> bool {
        self.evaluates || self.context_whole || self.context_properties.iter().any(|p| p == key)
    }

    /// The name of a slot.
    pub fn name(&self, slot: Slot) -> &str {
        &self.names[slot]
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.names.len()
    }
}

impl Default for Symbols {
    /// A table with the slots `#foreach` sets.
    fn default() -> Symbols {
        let mut s = Symbols {
            names: Vec::new(),
            slots: rustc_hash::FxHashMap::default(),
            evaluates: false,
            named_loop_vars: [false; 3],
            context_properties: Vec::new(),
            context_whole: false,
        };
        for (name, slot) in [
            ("velocityCount", Symbols::VELOCITY_COUNT),
            ("velocityHasNext", Symbols::VELOCITY_HAS_NEXT),
            ("foreach", Symbols::FOREACH),
        ] {
            let allocated = s.slot(name);
            debug_assert_eq!(allocated, slot);
        }
        s
    }
}
