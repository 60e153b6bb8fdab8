//! The renderer: walks the syntax tree with a variable context, as Velocity 1.7's
//! `Template.merge` does.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use crate::ast::{Block, CmpOp, Expr, Macro, Node, Part, Reference, Slot, Symbols};
use crate::aws::InputState;
use crate::methods;
use crate::value::{self, JMap, Value};
use crate::{Error, Limits, Mode, Result};

/// Deepest macro recursion (Velocity's `velocimacro.max.depth`).
const MAX_MACRO_DEPTH: usize = 20;

/// Longest chain of `$foreach.parent`s: loops nested deeper than this (or a template that
/// chains loops' `$foreach`s as deep) see no parent past it.
const MAX_SCOPE_DEPTH: usize = 64;

/// How a block ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Stop,
    /// `#break($scope)`: the loop whose `$foreach` is at this address, and every loop and
    /// macro inside it, end.
    BreakScope(usize),
}

/// The rendering state: variables, macros, limits and counters.
pub struct Env<'a> {
    /// Variables by slot (see [`Symbols`]); `None` when not set.
    vars: Vec<Option<Value>>,
    /// The template's variable names; copied and extended when `#evaluate` names new ones.
    symbols: Cow<'a, Symbols>,
    /// Variables given to the rendering that the template does not name, kept for an
    /// `#evaluate` that might.
    unbound: HashMap<String, Value>,
    macros: Cow<'a, HashMap<String, Rc<Macro>>>,
    pub(crate) limits: &'a Limits,
    pub(crate) mode: Mode,
    /// `$input`'s request, in an API Gateway rendering.
    pub(crate) input: Option<InputState<'a>>,
    out_len: usize,
    steps: u64,
    started: Instant,
    macro_depth: usize,
    /// `#define` blocks by the slot of their name.
    defines: rustc_hash::FxHashMap<Slot, Rc<Block>>,
    /// The innermost `#foreach`'s `$foreach`, for [`Env::reference`] to read `$foreach.hasNext`
    /// and the like from directly while the variable holds it.
    foreach: Option<Rc<Foreach>>,
    /// A buffer reused to build strings before they are shared as values.
    pub(crate) scratch: String,
    /// The lists and maps the template put a container into, whose cycles are broken when
    /// the rendering ends (see [`value::break_cycles`]).
    holders: Vec<value::Holder>,
    /// Their addresses, so that each is noted once (the `Weak` a holder keeps keeps its
    /// address from being reused).
    noted: rustc_hash::FxHashSet<usize>,
    /// The JSON documents `$util.parseJson` read lazily in this rendering.
    docs: Vec<Rc<crate::Doc>>,
}

impl Drop for Env<'_> {
    fn drop(&mut self) {
        // What the rendering made of its documents may hold values that point back into
        // them (`$made.put('k', $input.path('$'))`): forgotten first, so that no document
        // holds itself, and the cycles left are among the template's lists and maps.
        for d in self.docs.iter().chain(self.input.as_ref().and_then(InputState::doc)) {
            d.forget();
        }
        if !self.holders.is_empty() {
            value::break_cycles(std::mem::take(&mut self.holders));
        }
    }
}

impl<'a> Env<'a> {
    pub(crate) fn new(
        symbols: &'a Symbols,
        macros: &'a HashMap<String, Rc<Macro>>,
        limits: &'a Limits,
        mode: Mode,
    ) -> Env<'a> {
        Env {
            vars: vec![None; symbols.len()],
            symbols: Cow::Borrowed(symbols),
            unbound: HashMap::new(),
            macros: Cow::Borrowed(macros),
            limits,
            mode,
            input: None,
            out_len: 0,
            steps: 0,
            started: Instant::now(),
            macro_depth: 0,
            defines: rustc_hash::FxHashMap::default(),
            foreach: None,
            scratch: String::new(),
            holders: Vec::new(),
            noted: rustc_hash::FxHashSet::default(),
            docs: Vec::new(),
        }
    }

    /// Sets a variable by name before rendering.
    pub(crate) fn bind(&mut self, name: &str, value: Value) {
        match self.symbols.get(name) {
            Some(slot) => self.vars[slot] = Some(value),
            // Only an `#evaluate` could name it.
            None if self.symbols.evaluates => {
                self.unbound.insert(name.to_string(), value);
            }
            None => {}
        }
    }

    /// Keeps the document of a lazily read JSON value, to forget what was made of it when the
    /// rendering ends (see [`Env`]'s `Drop`).
    pub(crate) fn adopt(&mut self, v: &Value) {
        if let Value::Json(d, _) = v {
            self.docs.push(d.clone());
        }
    }

    /// Notes that the template put a container into `v` (a list or a map).
    pub(crate) fn note_holder(&mut self, v: &Value) {
        if let Some(address) = value::container_address(v)
            && let Some(h) = value::Holder::of(v)
            && self.noted.insert(address)
        {
            self.holders.push(h);
        }
    }

    /// Takes the table of variable names back from a parser that extended it (`#evaluate`),
    /// giving the new names their slots.
    fn adopt_symbols(&mut self, symbols: Symbols) {
        for slot in self.vars.len()..symbols.len() {
            let value = self.unbound.remove(symbols.name(slot));
            self.vars.push(value);
        }
        self.symbols = Cow::Owned(symbols);
    }

    /// Enters a macro call, an `#evaluate` or a `#define` expansion (the caller leaves it by
    /// decrementing `macro_depth`): they may recurse, so their nesting is bounded.
    fn nest(&mut self, what: &str) -> Result<()> {
        if self.macro_depth >= MAX_MACRO_DEPTH {
            return Err(Error::Limit(format!(
                "macros, #evaluate and #define blocks nested deeper than {MAX_MACRO_DEPTH} ({what})"
            )));
        }
        self.macro_depth += 1;
        Ok(())
    }

    fn step(&mut self) -> Result<()> {
        self.steps += 1;
        if self.steps.is_multiple_of(1024) {
            return self.check_time();
        }
        Ok(())
    }

    /// Fails when the rendering has taken longer than its limit. Checked every 1024 steps, and
    /// after any one step that may take long by itself: parsing `#evaluate`'s text, a method
    /// call on a large string.
    pub(crate) fn check_time(&self) -> Result<()> {
        if self.started.elapsed() > self.limits.max_render_time {
            return Err(Error::Limit(format!(
                "rendering took longer than {} ms",
                self.limits.max_render_time.as_millis()
            )));
        }
        Ok(())
    }

    fn emit(&mut self, out: &mut String, s: &str) -> Result<()> {
        self.out_len += s.len();
        if self.out_len > self.limits.max_output_bytes {
            return Err(Error::Limit(format!("the output is larger than {} bytes", self.limits.max_output_bytes)));
        }
        out.push_str(s);
        Ok(())
    }

    /// Renders a block into `out`.
    pub(crate) fn render(&mut self, block: &Block, out: &mut String) -> Result<()> {
        match self.block(block, out)? {
            // The loop it names is not running (Velocity 1.7 throws).
            Flow::BreakScope(_) => Err(Error::render("#break names a loop that is not running")),
            _ => Ok(()),
        }
    }

    fn block(&mut self, block: &Block, out: &mut String) -> Result<Flow> {
        for node in block {
            self.step()?;
            match node {
                Node::Text(t) => self.emit(out, t)?,
                Node::Ref { reference, escapes } => self.reference_node(reference, *escapes, out)?,
                Node::Set { target, value } => self.set(target, value)?,
                Node::If { branches, otherwise } => {
                    let mut taken = None;
                    for (cond, body) in branches {
                        if self.cond(cond)? {
                            taken = Some(body);
                            break;
                        }
                    }
                    if let Some(body) = taken.or(otherwise.as_ref()) {
                        let flow = self.block(body, out)?;
                        if flow != Flow::Normal {
                            return Ok(flow);
                        }
                    }
                }
                Node::Foreach { var, iterable, body } => {
                    let flow = self.foreach(*var, iterable, body, out)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Break(None) => return Ok(Flow::Break),
                Node::Break(Some(scope)) => {
                    let v = self.eval(scope)?;
                    return match as_foreach(&v) {
                        Some(f) => Ok(Flow::BreakScope(std::ptr::from_ref(f) as usize)),
                        None => Err(Error::render("#break takes a scope, such as $foreach")),
                    };
                }
                Node::Stop => return Ok(Flow::Stop),
                Node::Define { name, body } => {
                    self.defines.insert(*name, body.clone());
                    self.vars[*name] = None;
                }
                Node::MacroCall { name, args, source } => {
                    let flow = self.macro_call(name, args, source, out)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Evaluate(e) => {
                    let text = self.eval(e)?;
                    if !text.is_null() {
                        self.nest("#evaluate")?;
                        let mut parser = crate::parser::Parser::new(&text.render());
                        parser.macros = self.macros.as_ref().clone();
                        // The evaluated text shares the template's slots, and may add some.
                        parser.symbols = std::mem::take(self.symbols.to_mut());
                        let parsed = parser.parse();
                        self.adopt_symbols(std::mem::take(&mut parser.symbols));
                        let block = parsed?;
                        // Parsing is not counted in steps: an `#evaluate` of its own text, in
                        // a branching recursion, parses it thousands of times.
                        self.check_time()?;
                        for (k, v) in parser.macros {
                            self.macros.to_mut().entry(k).or_insert(v);
                        }
                        let flow = self.block(&block, out);
                        self.macro_depth -= 1;
                        let flow = flow?;
                        if matches!(flow, Flow::Stop | Flow::BreakScope(_)) {
                            return Ok(flow);
                        }
                    }
                }
            }
        }
        Ok(Flow::Normal)
    }

    fn reference_node(&mut self, r: &Reference, escapes: usize, out: &mut String) -> Result<()> {
        // The value is used where the call wrote it (moving it out of the result would copy
        // it right after it was written, a load that waits on the stores before it).
        let result = self.reference(r);
        let v = match &result {
            Ok(v) => v,
            Err(_) => return result.map(drop),
        };
        if escapes > 0 {
            // `\$x` shows `$x` when $x is defined; when it is not, the text stays as written.
            if v.is_null() {
                let s = format!("{}{}", "\\".repeat(escapes), r.source);
                return self.emit(out, &s);
            }
            let mut s = "\\".repeat(escapes / 2);
            if escapes % 2 == 1 {
                s.push_str(&r.source);
                return self.emit(out, &s);
            }
            self.emit(out, &s)?;
        }
        if v.is_null() {
            if !r.quiet && self.mode == Mode::Velocity {
                self.emit(out, &r.source)?;
            }
            return Ok(());
        }
        let before = out.len();
        v.render_into(out);
        self.out_len += out.len() - before;
        if self.out_len > self.limits.max_output_bytes {
            return Err(Error::Limit(format!("the output is larger than {} bytes", self.limits.max_output_bytes)));
        }
        Ok(())
    }

    fn set(&mut self, target: &Reference, value: &Expr) -> Result<()> {
        // Used where the call wrote it, and copied into the variable in place (see
        // `Value::assign`).
        let rv = self.eval(value);
        let v = match &rv {
            Ok(v) => v,
            Err(_) => return rv.map(drop),
        };
        if v.is_null() {
            // Velocity 1.7 leaves the left side as it was when the right side is null.
            return Ok(());
        }
        if target.parts.is_empty() {
            if !self.defines.is_empty() {
                self.defines.remove(&target.slot);
            }
            Value::assign(&mut self.vars[target.slot], v);
            return Ok(());
        }
        let v = rv?;
        let (last, init) = target.parts.split_last().expect("parts is not empty");
        let mut obj = self.root(target)?;
        for p in init {
            obj = self.part(&obj, p, target)?;
            if obj.is_null() {
                return Ok(());
            }
        }
        if let Value::Json(d, at) = &obj {
            obj = d.make(*at);
        }
        // Stored as the list or map it stands for (see `methods::call`).
        let v = match &v {
            Value::Json(d, at) => d.make(*at),
            _ => v,
        };
        if value::is_container(&v) {
            self.note_holder(&obj);
        }
        match (last, &obj) {
            (Part::Property(name), Value::Map(m)) => {
                m.borrow_mut().put_checked(name.as_str().into(), v)?;
            }
            (Part::Index(e), Value::Map(m)) => {
                let key = match self.eval(e)? {
                    Value::Str(s) => s,
                    other => other.render().into(),
                };
                m.borrow_mut().put_checked(key, v)?;
            }
            (Part::Index(e), Value::List(items, _)) => {
                let i = self.eval(e)?.as_index();
                let mut items = items.borrow_mut();
                match i.and_then(|i| usize::try_from(i).ok()).filter(|i| *i < items.len()) {
                    Some(i) => items[i] = v,
                    None => return Err(Error::render(format!("index out of bounds in #set({})", target.source))),
                }
            }
            // Setting a property of anything else: Velocity finds no setter and moves on.
            _ => {}
        }
        Ok(())
    }

    fn foreach(&mut self, var: Slot, iterable: &Expr, body: &Block, out: &mut String) -> Result<Flow> {
        let items: Vec<Value> = match self.eval(iterable)? {
            // A list nothing else holds (`keySet()`, a literal) is iterated as it is; one
            // that a variable or a map also holds is copied, so that the body may change it.
            Value::List(l, _) => {
                Rc::try_unwrap(l).map_or_else(|l| l.borrow().to_vec(), |l| std::mem::take(&mut l.into_inner().0))
            }
            Value::Map(m) => m.borrow().ordered().map(|(_, v)| v.clone()).collect(),
            // A lazily read JSON array (or object) is iterated from its document.
            Value::Json(d, at) => match d.made(at) {
                Some(Value::List(l, _)) => l.borrow().to_vec(),
                Some(Value::Map(m)) => m.borrow().ordered().map(|(_, v)| v.clone()).collect(),
                Some(_) => return Ok(Flow::Normal),
                None => d.values(at),
            },
            _ => return Ok(Flow::Normal),
        };
        let slots = [Symbols::VELOCITY_COUNT, Symbols::VELOCITY_HAS_NEXT, Symbols::FOREACH, var];
        let saved = slots.map(|s| self.vars[s].clone());
        let n = items.len();
        let names_count = self.symbols.names_loop_var(Symbols::VELOCITY_COUNT);
        let names_has_next = self.symbols.names_loop_var(Symbols::VELOCITY_HAS_NEXT);
        let names_foreach = self.symbols.names_loop_var(Symbols::FOREACH);
        // `$foreach` is one object for the whole loop, put in the variable when the loop starts
        // and changed in place: as in Velocity 1.7, a `$foreach` the template kept shows the
        // loop's present iteration, and one the template set to something else stays so.
        // `self.foreach` holds it too while the loop runs (the outer loop's is put back when
        // it ends), for `Env::reference` to read its properties directly. What `$foreach` was
        // is kept but for a list or a map: one that held this loop's `$foreach` would never be
        // freed.
        let previous = saved[2].clone().filter(|v| !value::is_container(v));
        let depth = previous.as_ref().and_then(as_foreach).map_or(1, |p| p.depth + 1);
        // Past `MAX_SCOPE_DEPTH`, a loop's `$foreach` has no parent.
        let (previous, depth) = if depth > MAX_SCOPE_DEPTH { (None, 1) } else { (previous, depth) };
        let state = Rc::new_cyclic(|me| Foreach { index: Cell::new(0), len: n, previous, depth, me: me.clone() });
        let outer = std::mem::replace(&mut self.foreach, names_foreach.then(|| state.clone()));
        if names_foreach {
            self.vars[Symbols::FOREACH] = Some(Value::Object(state.clone()));
        }
        let mut flow = Flow::Normal;
        for (i, item) in items.iter().enumerate() {
            if i >= self.limits.max_foreach_iterations {
                return Err(Error::Limit(format!(
                    "#foreach ran more than {} iterations",
                    self.limits.max_foreach_iterations
                )));
            }
            // Copied into the variable in place, not moved out of the list (see
            // `Value::assign`).
            Value::assign(&mut self.vars[var], item);
            // The loop's variables are set only when the template names them.
            if names_count {
                self.vars[Symbols::VELOCITY_COUNT] = Some(Value::Int(i as i32 + 1));
            }
            if names_has_next {
                self.vars[Symbols::VELOCITY_HAS_NEXT] = Some(Value::Bool(i + 1 < n));
            }
            state.index.set(i);
            match self.block(body, out)? {
                Flow::Normal => {}
                Flow::Break => break,
                Flow::BreakScope(at) if at == Rc::as_ptr(&state) as usize => break,
                // `#stop`, or `#break` of an enclosing loop.
                other => {
                    flow = other;
                    break;
                }
            }
        }
        let [count, has_next, foreach, item] = saved;
        for (slot, v) in [(Symbols::VELOCITY_COUNT, count), (Symbols::VELOCITY_HAS_NEXT, has_next), (var, item)] {
            self.vars[slot] = v;
        }
        // `$foreach` is put back as Velocity 1.7 does (`Directive.postRender`): when it is this
        // loop's, to what it was before; when the template set it to another loop's, to that
        // one's; when the template set it to anything else, it is left so. (A template that
        // never names `$foreach` holds no loop's in it: the variable gets what it had.)
        let restored = match self.vars[Symbols::FOREACH].as_ref().and_then(as_foreach) {
            Some(f) if std::ptr::eq(f, &*state) => Some(foreach),
            Some(other) => Some(other.previous.clone()),
            None if names_foreach => None,
            None => Some(foreach),
        };
        if let Some(v) = restored {
            self.vars[Symbols::FOREACH] = v;
        }
        self.foreach = outer;
        Ok(flow)
    }

    fn macro_call(&mut self, name: &str, args: &[Expr], source: &str, out: &mut String) -> Result<Flow> {
        let Some(m) = self.macros.get(name).cloned() else {
            return self.emit(out, source).map(|()| Flow::Normal);
        };
        let values = args.iter().map(|a| self.eval(a)).collect::<Result<Vec<_>>>()?;
        let saved: Vec<(Slot, Option<Value>)> = m.params.iter().map(|&p| (p, self.vars[p].clone())).collect();
        for (i, &p) in m.params.iter().enumerate() {
            self.vars[p] = values.get(i).filter(|v| !v.is_null()).cloned();
        }
        self.nest(&format!("#{name}"))?;
        let flow = self.block(&m.body, out);
        self.macro_depth -= 1;
        for (slot, v) in saved {
            self.vars[slot] = v;
        }
        // A plain `#break` ends the macro; `#stop` and `#break($scope)` go on out of it.
        Ok(match flow? {
            Flow::Break => Flow::Normal,
            other => other,
        })
    }

    // === expressions ===

    pub(crate) fn eval(&mut self, e: &Expr) -> Result<Value> {
        self.step()?;
        Ok(match e {
            // Returned as it is, not unwrapped and wrapped again: the reference's result is
            // written where this call's goes, instead of copied there right after it was
            // written (a load that waits for the stores before it).
            Expr::Ref(r) => return self.reference(r),
            Expr::Interpolated(block) => {
                // Rendered in the reused buffer (a nested string takes it empty and gives
                // back its own), then shared.
                let mut s = std::mem::take(&mut self.scratch);
                s.clear();
                let rendered = self.render(block, &mut s).map(|()| Value::str(s.as_str()));
                self.scratch = s;
                rendered?
            }
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Int(i) => Value::integer(*i),
            Expr::Double(d) => Value::Double(*d),
            Expr::Bool(b) => Value::Bool(*b),
            Expr::List(items) => Value::list(items.iter().map(|i| self.eval(i)).collect::<Result<_>>()?),
            Expr::Range(a, b) => {
                let (a, b) = (self.eval(a)?.as_index(), self.eval(b)?.as_index());
                let (Some(a), Some(b)) = (a, b) else { return Ok(Value::Null) };
                let n = a.abs_diff(b) + 1;
                if n > self.limits.max_foreach_iterations as u64 * 10 {
                    return Err(Error::Limit(format!("the range [{a}..{b}] is too large")));
                }
                let items: Vec<Value> = if a <= b {
                    (a..=b).map(|i| Value::Int(i as i32)).collect()
                } else {
                    (b..=a).rev().map(|i| Value::Int(i as i32)).collect()
                };
                Value::list(items)
            }
            Expr::Map(entries) => {
                let mut m = JMap::linked();
                for (k, v) in entries {
                    let k = self.eval(k)?.render();
                    let v = self.eval(v)?;
                    m.insert(k, v);
                }
                Value::map(m)
            }
            Expr::Not(_) | Expr::And(..) | Expr::Or(..) => Value::Bool(self.cond(e)?),
            // The operands are used where their calls wrote them, not moved out of their
            // results (see `reference_node`).
            Expr::Cmp(op, a, b) => {
                let ra = self.eval(a);
                let Ok(a) = &ra else { return ra };
                let rb = self.eval(b);
                let Ok(b) = &rb else { return rb };
                // API Gateway compares a null as an empty string: the recorded responses show
                // `$missing == ""` and `$missing == $null` both true.
                let empty;
                let (a, b) =
                    if self.mode == Mode::Aws && matches!(op, CmpOp::Eq | CmpOp::Ne) && (a.is_null() || b.is_null()) {
                        empty = Value::str("");
                        (if a.is_null() { &empty } else { a }, if b.is_null() { &empty } else { b })
                    } else {
                        (a, b)
                    };
                Value::Bool(match op {
                    CmpOp::Eq => value::equals(a, b),
                    CmpOp::Ne => !value::equals(a, b),
                    CmpOp::Lt => value::compare(a, b).is_some_and(|o| o.is_lt()),
                    CmpOp::Le => value::compare(a, b).is_some_and(|o| o.is_le()),
                    CmpOp::Gt => value::compare(a, b).is_some_and(|o| o.is_gt()),
                    CmpOp::Ge => value::compare(a, b).is_some_and(|o| o.is_ge()),
                })
            }
            Expr::Arith(op, a, b, sources) => {
                let ra = self.eval(a);
                let Ok(a) = &ra else { return ra };
                let rb = self.eval(b);
                let Ok(b) = &rb else { return rb };
                // A string plus a null: Velocity concatenates the null operand as written.
                match (op, a, b) {
                    (value::ArithOp::Add, Value::Str(s), Value::Null) => Value::str(format!("{s}{}", sources.1)),
                    (value::ArithOp::Add, Value::Null, Value::Str(s)) => Value::str(format!("{}{s}", sources.0)),
                    _ => return value::arith(*op, a, b),
                }
            }
        })
    }

    /// A condition, as Velocity 1.7 evaluates one: a reference is true when it is non-null
    /// (and not `false`); `true`, `false`, comparisons and logical operators are what they
    /// say; any other expression (a literal, arithmetic, a list) is false.
    fn cond(&mut self, e: &Expr) -> Result<bool> {
        Ok(match e {
            // Matched where the call wrote it, not moved out of the result first.
            Expr::Ref(_) => match self.eval(e) {
                Ok(Value::Null | Value::Bool(false)) => false,
                Ok(_) => true,
                Err(e) => return Err(e),
            },
            Expr::Bool(b) => *b,
            Expr::Not(a) => !self.cond(a)?,
            Expr::And(a, b) => self.cond(a)? && self.cond(b)?,
            Expr::Or(a, b) => self.cond(a)? || self.cond(b)?,
            Expr::Cmp(..) => self.eval(e)?.truthy(),
            _ => {
                self.eval(e)?;
                false
            }
        })
    }

    /// The value of a reference's variable (or of the `#define` block of that name).
    #[inline]
    fn root(&mut self, r: &Reference) -> Result<Value> {
        match &self.vars[r.slot] {
            Some(v) => Ok(v.clone()),
            None => self.defined(r),
        }
    }

    /// The value of an unset variable: its `#define` block rendered, or null.
    fn defined(&mut self, r: &Reference) -> Result<Value> {
        if !self.defines.is_empty()
            && let Some(block) = self.defines.get(&r.slot).cloned()
        {
            self.nest(&format!("${}", r.root))?;
            let mut s = String::new();
            let rendered = self.render(&block, &mut s);
            self.macro_depth -= 1;
            rendered?;
            return Ok(Value::str(s));
        }
        Ok(Value::Null)
    }

    pub(crate) fn reference(&mut self, r: &Reference) -> Result<Value> {
        let mut parts = r.parts.as_slice();
        // `$foreach.hasNext` (and `index`, `count`, …) while `$foreach` is the loop's own: read
        // from the loop's state, not through `Object::property`.
        if r.slot == Symbols::FOREACH
            && let [Part::Property(name)] = parts
            && let (Some(Value::Object(o)), Some(state)) = (&self.vars[Symbols::FOREACH], &self.foreach)
            && std::ptr::addr_eq(Rc::as_ptr(o), Rc::as_ptr(state))
            && let Some(v) = state.get(name)
        {
            return Ok(v);
        }
        // `$var.name…` on a map (a JSON object, most often): looked up in place, and only what
        // it finds is cloned, not the map first; `$var.name` alone is cloned straight into
        // this call's result (see `Env::part`).
        let mut v = if let [Part::Property(name), rest @ ..] = parts
            && let Some(Value::Map(m)) = &self.vars[r.slot]
        {
            if rest.is_empty() {
                return Ok(m.borrow().get(name).cloned().unwrap_or_default());
            }
            let found = m.borrow().get(name).cloned().unwrap_or_default();
            parts = rest;
            found
        } else if let [Part::Property(name), rest @ ..] = parts
            && let Some(Value::Json(d, at)) = &self.vars[r.slot]
            && d.is_object(*at)
        {
            let found = methods::json_member(d, *at, name);
            if rest.is_empty() {
                return Ok(found);
            }
            parts = rest;
            found
        } else {
            self.root(r)?
        };
        let Some((last, init)) = parts.split_last() else { return Ok(v) };
        for p in init {
            if v.is_null() {
                return Ok(Value::Null);
            }
            v = match p {
                Part::Property(name) => methods::property(&v, name, self)?,
                _ => self.part(&v, p, r)?,
            };
        }
        if v.is_null() {
            return Ok(Value::Null);
        }
        // The last step's result is this call's (written where the caller reads it), not
        // moved into `v` first.
        self.part(&v, last, r)
    }

    /// `v` followed by one more part of the reference `r`.
    ///
    /// `v` is borrowed: a value passed by value is copied into the argument's place right
    /// after its clone wrote it there field by field, a wide load that waits on the narrower
    /// stores (a store-forwarding stall, on every reference with a method).
    #[inline]
    fn part(&mut self, v: &Value, p: &Part, r: &Reference) -> Result<Value> {
        match p {
            Part::Property(name) => methods::property(v, name, self),
            Part::Method(name, args) => {
                // Arguments on the stack for the usual arities: no allocation per call.
                let result = match args.as_slice() {
                    [] => methods::call(v, name, &[], self),
                    [a] => {
                        let ra = self.eval(a);
                        let Ok(a) = &ra else { return ra };
                        methods::call(v, name, std::slice::from_ref(a), self)
                    }
                    [a, b] => {
                        let args = [self.eval(a)?, self.eval(b)?];
                        methods::call(v, name, &args, self)
                    }
                    [a, b, c] => {
                        let args = [self.eval(a)?, self.eval(b)?, self.eval(c)?];
                        methods::call(v, name, &args, self)
                    }
                    _ => {
                        let args = args.iter().map(|a| self.eval(a)).collect::<Result<Vec<_>>>()?;
                        methods::call(v, name, &args, self)
                    }
                };
                result.map_err(|e| match e {
                    Error::Render(m) => {
                        Error::Render(format!("{} (line {}, column {}): {m}", r.source, r.at.0, r.at.1))
                    }
                    other => other,
                })
            }
            Part::Index(e) => {
                let key = self.eval(e)?;
                methods::index(v, &key)
            }
        }
    }
}

/// `$foreach`: the loop's state (Velocity 1.7's `ForeachScope`).
#[derive(Debug)]
struct Foreach {
    index: Cell<usize>,
    len: usize,
    /// What `$foreach` was when the loop started: the enclosing loop's `$foreach`
    /// (`$foreach.parent`), or anything else the template had set it to (`$foreach.replaced`),
    /// but for a list or a map (which could come to hold this loop's `$foreach`, a cycle of
    /// counted references).
    previous: Option<Value>,
    /// How many loops' `$foreach` this one's `previous` reaches through, itself included: a
    /// template that keeps each loop's `$foreach` and puts it back for the next loop would
    /// otherwise make a chain as long as it has steps, which `$foreach.topmost` walks and
    /// dropping it recurses through.
    depth: usize,
    /// Itself, for `$foreach.topmost` of a loop that has no parent.
    me: std::rc::Weak<Foreach>,
}

impl Foreach {
    /// `$foreach.name`: the loop's index, count, whether it has a next item, is at its first
    /// or its last; the enclosing loop's `$foreach` (`parent`), the outermost one's
    /// (`topmost`), what `$foreach` was before when that was not a loop's (`replaced`). `None`
    /// for any other name.
    #[inline]
    fn get(&self, name: &str) -> Option<Value> {
        let index = self.index.get();
        Some(match name {
            "index" => Value::Int(index as i32),
            "count" => Value::Int(index as i32 + 1),
            "hasNext" => Value::Bool(index + 1 < self.len),
            "first" => Value::Bool(index == 0),
            "last" => Value::Bool(index + 1 == self.len),
            "parent" => self.parent().unwrap_or_default(),
            "topmost" => {
                let mut top = Value::Object(self.me.upgrade()?);
                while let Some(parent) = as_foreach(&top).and_then(Foreach::parent) {
                    top = parent;
                }
                top
            }
            "replaced" => match self.parent() {
                Some(_) => Value::Null,
                None => self.previous.clone().unwrap_or_default(),
            },
            _ => return None,
        })
    }

    /// The enclosing loop's `$foreach`, if `$foreach` was one when this loop started.
    fn parent(&self) -> Option<Value> {
        self.previous.as_ref().filter(|v| as_foreach(v).is_some()).cloned()
    }
}

/// `v` as a loop's `$foreach`, if it is one.
fn as_foreach(v: &Value) -> Option<&Foreach> {
    match v {
        Value::Object(o) => o.as_any()?.downcast_ref::<Foreach>(),
        _ => None,
    }
}

impl value::Object for Foreach {
    fn class(&self) -> &'static str {
        "org.apache.velocity.runtime.directive.ForeachScope"
    }

    /// Velocity 1.7's scopes are maps with no entries (`AbstractMap`): `{}`.
    fn render(&self) -> String {
        "{}".into()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn call(&self, method: &str, args: &[Value], _env: &mut Env<'_>) -> Option<Result<Value>> {
        if !args.is_empty() {
            return None;
        }
        Some(Ok(match method {
            "getIndex" => self.get("index")?,
            "getCount" => self.get("count")?,
            "hasNext" | "getHasNext" => self.get("hasNext")?,
            "isFirst" | "getFirst" => self.get("first")?,
            "isLast" | "getLast" => self.get("last")?,
            "getParent" => self.get("parent")?,
            "getTopmost" => self.get("topmost")?,
            "getReplaced" => self.get("replaced")?,
            // A scope is a map with no entries.
            "size" => Value::Int(0),
            "isEmpty" => Value::Bool(true),
            "keySet" | "values" | "entrySet" => Value::list(Vec::new()),
            _ => return None,
        }))
    }

    fn property(&self, name: &str, _env: &mut Env<'_>) -> Option<Result<Value>> {
        self.get(name).map(Ok)
    }
}
