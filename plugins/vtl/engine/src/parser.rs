//! The template parser: Velocity 1.7's grammar, including its whitespace rules (`#set`
//! swallows the indentation before it and the line end after it; `#end`, `#else` and the
//! closing parenthesis of a block directive swallow the line end after them; `##` comments
//! swallow theirs).

use std::collections::HashMap;
use std::rc::Rc;

use crate::ast::{Block, CmpOp, Expr, Macro, Node, Part, Reference, Slot, Symbols};
use crate::value::ArithOp;
use crate::{Error, Result};

/// Deepest nesting of directives and expressions accepted.
const MAX_DEPTH: usize = 64;

const DIRECTIVES: &[&str] = &[
    "set", "if", "elseif", "else", "end", "foreach", "break", "stop", "macro", "define", "evaluate", "parse", "include",
];

/// What ended a block.
#[derive(Debug)]
enum Closer {
    Eof,
    End,
    Else,
    ElseIf(Expr),
}

pub(crate) struct Parser {
    src: Vec<char>,
    pos: usize,
    pub(crate) macros: HashMap<String, Rc<Macro>>,
    /// The variables named so far, with their slots.
    pub(crate) symbols: Symbols,
    depth: usize,
    /// Where each line after the first starts (the position after each `\n`), for
    /// [`Parser::line_col`]: every reference records its position, so finding it by counting
    /// from the start made a template of many references quadratic (a 288 KB one took 40 s).
    line_starts: Vec<usize>,
}

impl Parser {
    pub(crate) fn new(src: &str) -> Parser {
        let src: Vec<char> = src.chars().collect();
        let line_starts = src.iter().enumerate().filter(|(_, c)| **c == '\n').map(|(i, _)| i + 1).collect();
        Parser { src, pos: 0, macros: HashMap::new(), symbols: Symbols::default(), depth: 0, line_starts }
    }

    /// Parses the whole template.
    pub(crate) fn parse(&mut self) -> Result<Block> {
        let (block, end) = self.block()?;
        match end {
            Closer::Eof => Ok(block),
            _ => {
                Err(self
                    .error_at(self.pos, "#end, #else or #elseif without a matching #if, #foreach, #macro or #define"))
            }
        }
    }

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src.get(self.pos + n).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.src.get(self.pos + i) == Some(&c))
    }

    /// The line and column (from 1, in characters) of `pos`.
    fn line_col(&self, pos: usize) -> (usize, usize) {
        let pos = pos.min(self.src.len());
        // Lines that start at or before `pos`, besides the first.
        let before = self.line_starts.partition_point(|&start| start <= pos);
        let line_start = if before == 0 { 0 } else { self.line_starts[before - 1] };
        (before + 1, pos - line_start + 1)
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> Error {
        let (line, column) = self.line_col(pos);
        Error::Parse { line, column, message: message.into() }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.pos, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// Parses nodes until the end of input or a `#end` / `#else` / `#elseif`.
    fn block(&mut self) -> Result<(Block, Closer)> {
        self.enter()?;
        let mut nodes = Vec::new();
        let mut text = String::new();
        let flush = |text: &mut String, nodes: &mut Block| {
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(text)));
            }
        };
        let end = loop {
            let Some(c) = self.peek() else { break Closer::Eof };
            match c {
                '\\' => {
                    let start = self.pos;
                    let mut n = 0;
                    while self.peek_at(n) == Some('\\') {
                        n += 1;
                    }
                    let after = self.pos + n;
                    let save = self.pos;
                    self.pos = after;
                    if self.peek() == Some('$')
                        && let Some(reference) = self.try_reference()?
                    {
                        flush(&mut text, &mut nodes);
                        nodes.push(Node::Ref { reference, escapes: n });
                        continue;
                    }
                    self.pos = after;
                    if self.peek() == Some('#')
                        && let Some(name) = self.directive_name()
                    {
                        // `\#if`: the directive is text; `\\#if`: a backslash, then the directive.
                        text.extend(std::iter::repeat_n('\\', n / 2));
                        if n % 2 == 1 {
                            let name_end = self.directive_name_end();
                            text.extend(&self.src[after..name_end]);
                            self.pos = name_end;
                            let _ = name;
                            continue;
                        }
                        continue;
                    }
                    self.pos = save;
                    text.extend(&self.src[start..after]);
                    self.pos = after;
                }
                '$' if self.peek_at(1).is_none() => {
                    return Err(self.error_at(self.pos, "`$` at the end of the template"));
                }
                '$' if self.peek_at(1) == Some('\\') && self.peek_at(2) == Some('!') => {
                    // `$\!name` is the escaped form of `$!name`.
                    text.push_str("$!");
                    self.pos += 3;
                }
                '$' => match self.try_reference()? {
                    Some(reference) => {
                        flush(&mut text, &mut nodes);
                        nodes.push(Node::Ref { reference, escapes: 0 });
                    }
                    None => {
                        text.push('$');
                        self.pos += 1;
                    }
                },
                '#' => {
                    if self.starts_with("##") || self.starts_with("#*") {
                        flush(&mut text, &mut nodes);
                    }
                    if self.starts_with("##") {
                        // A line comment, with its line end.
                        while let Some(c) = self.peek() {
                            self.pos += 1;
                            if c == '\n' {
                                break;
                            }
                        }
                        continue;
                    }
                    if self.starts_with("#*") {
                        let start = self.pos;
                        self.pos += 2;
                        loop {
                            if self.starts_with("*#") {
                                self.pos += 2;
                                break;
                            }
                            if self.peek().is_none() {
                                return Err(self.error_at(start, "unterminated #* comment *#"));
                            }
                            self.pos += 1;
                        }
                        continue;
                    }
                    if self.starts_with("#[[") {
                        let start = self.pos;
                        self.pos += 3;
                        loop {
                            if self.starts_with("]]#") {
                                self.pos += 3;
                                break;
                            }
                            match self.peek() {
                                None => return Err(self.error_at(start, "unterminated #[[ … ]]# block")),
                                Some(c) => {
                                    text.push(c);
                                    self.pos += 1;
                                }
                            }
                        }
                        continue;
                    }
                    let Some(name) = self.directive_name() else {
                        text.push('#');
                        self.pos += 1;
                        continue;
                    };
                    let start = self.pos;
                    let braced = self.peek_at(1) == Some('{');
                    self.pos = self.directive_name_end();
                    match name.as_str() {
                        "end" | "else" => {
                            flush(&mut text, &mut nodes);
                            let _ = braced;
                            self.eat_line_end();
                            break if name == "end" { Closer::End } else { Closer::Else };
                        }
                        "elseif" => {
                            flush(&mut text, &mut nodes);
                            let cond = self.paren_expr("#elseif")?;
                            break Closer::ElseIf(cond);
                        }
                        "set" => {
                            // Velocity's lexer reads spaces and tabs that start a token
                            // together with a following #set, and drops them: blanks right
                            // after a reference, a directive or the start of the template
                            // vanish; blanks after other text are kept.
                            if text.chars().all(|c| c == ' ' || c == '\t') {
                                text.clear();
                            }
                            flush(&mut text, &mut nodes);
                            nodes.push(self.set()?);
                        }
                        "if" => {
                            flush(&mut text, &mut nodes);
                            nodes.push(self.if_chain()?);
                        }
                        "foreach" => {
                            flush(&mut text, &mut nodes);
                            nodes.push(self.foreach()?);
                        }
                        "break" => {
                            flush(&mut text, &mut nodes);
                            // `#break($foreach.parent)`: an argument in parentheses, as
                            // Velocity 1.7 takes one, blanks before it allowed.
                            let after = self.pos;
                            self.skip_hspace();
                            let scope = if self.peek() == Some('(') {
                                self.pos = after;
                                let e = self.paren_expr("#break")?;
                                if !matches!(e, Expr::Ref(_)) {
                                    return Err(self.error_at(after, "#break takes a scope, such as $foreach"));
                                }
                                Some(e)
                            } else {
                                self.pos = after;
                                None
                            };
                            nodes.push(Node::Break(scope));
                        }
                        "stop" => {
                            flush(&mut text, &mut nodes);
                            nodes.push(Node::Stop);
                        }
                        "macro" => {
                            flush(&mut text, &mut nodes);
                            self.macro_def(start)?;
                        }
                        "define" => {
                            flush(&mut text, &mut nodes);
                            nodes.push(self.define()?);
                        }
                        "evaluate" => {
                            flush(&mut text, &mut nodes);
                            let e = self.paren_expr("#evaluate")?;
                            self.symbols.evaluates = true;
                            nodes.push(Node::Evaluate(e));
                        }
                        "parse" | "include" => {
                            return Err(
                                self.error_at(start, format!("#{name} is not supported: templates cannot read files"))
                            );
                        }
                        _ => {
                            // A macro call: `#name(args)`.
                            flush(&mut text, &mut nodes);
                            let args = self.macro_args()?;
                            let source: String = self.src[start..self.pos].iter().collect();
                            nodes.push(Node::MacroCall { name, args, source });
                        }
                    }
                }
                c => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        };
        flush(&mut text, &mut nodes);
        self.depth -= 1;
        Ok((nodes, end))
    }

    /// The directive or macro name at `#`, if there is one here.
    fn directive_name(&self) -> Option<String> {
        let mut i = self.pos + 1;
        let braced = self.src.get(i) == Some(&'{');
        if braced {
            i += 1;
        }
        let start = i;
        while self.src.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-') {
            i += 1;
        }
        if i == start || !self.src[start].is_ascii_alphabetic() {
            return None;
        }
        if braced && self.src.get(i) != Some(&'}') {
            return None;
        }
        let name: String = self.src[start..i].iter().collect();
        // `#elseif` and `#else` share a prefix; `#end` must not swallow `#ending`.
        if DIRECTIVES.contains(&name.as_str()) {
            return Some(name);
        }
        // Longest directive prefix for words like `#endif`? Velocity reads `#end` then `if`.
        for d in ["end", "else"] {
            if name.starts_with(d) && !braced && !self.macros.contains_key(&name) {
                let rest = &name[d.len()..];
                if !rest.starts_with(|c: char| c.is_ascii_alphanumeric()) || rest.is_empty() {
                    return Some(d.to_string());
                }
            }
        }
        if self.macros.contains_key(&name) {
            // A macro call needs its parenthesis.
            let mut j = if braced { i + 1 } else { i };
            while matches!(self.src.get(j), Some(' ' | '\t')) {
                j += 1;
            }
            if self.src.get(j) == Some(&'(') {
                return Some(name);
            }
        }
        None
    }

    /// Where the `#name` / `#{name}` at the cursor ends.
    fn directive_name_end(&self) -> usize {
        let mut i = self.pos + 1;
        let braced = self.src.get(i) == Some(&'{');
        if braced {
            i += 1;
        }
        let start = i;
        while self.src.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-') {
            i += 1;
        }
        let name: String = self.src[start..i].iter().collect();
        if !braced && !DIRECTIVES.contains(&name.as_str()) && !self.macros.contains_key(&name) {
            for d in ["end", "else"] {
                if name.starts_with(d) {
                    return start + d.len();
                }
            }
        }
        if braced { i + 1 } else { i }
    }

    /// After `#end`, `#else` and a block directive's `)`: spaces and one line end are eaten.
    fn eat_line_end(&mut self) {
        let mut i = self.pos;
        while matches!(self.src.get(i), Some(' ' | '\t')) {
            i += 1;
        }
        match self.src.get(i) {
            Some('\n') => self.pos = i + 1,
            Some('\r') => self.pos = if self.src.get(i + 1) == Some(&'\n') { i + 2 } else { i + 1 },
            _ => {}
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn skip_hspace(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            let found = self.peek().map_or("the end of the template".to_string(), |c| format!("`{c}`"));
            Err(self.error_at(self.pos, format!("expected `{c}` {what}, found {found}")))
        }
    }

    /// `( expr )` after a directive name; eats the line end after `)`.
    fn paren_expr(&mut self, directive: &str) -> Result<Expr> {
        self.skip_hspace();
        self.expect('(', &format!("after {directive}"))?;
        self.skip_ws();
        let e = self.expr()?;
        self.skip_ws();
        self.expect(')', &format!("to close {directive}"))?;
        self.eat_line_end();
        Ok(e)
    }

    fn set(&mut self) -> Result<Node> {
        self.skip_hspace();
        self.expect('(', "after #set")?;
        self.skip_ws();
        let at = self.pos;
        let target = match self.peek() {
            Some('$') => self.try_reference()?,
            _ => None,
        }
        .ok_or_else(|| self.error_at(at, "#set needs a reference on the left: #set($name = value)"))?;
        if target.parts.iter().any(|p| matches!(p, Part::Method(..))) {
            return Err(self.error_at(at, "the left side of #set cannot end in a method call"));
        }
        self.skip_ws();
        self.expect('=', "in #set")?;
        self.skip_ws();
        let value = self.expr()?;
        self.skip_ws();
        self.expect(')', "to close #set")?;
        self.eat_line_end();
        Ok(Node::Set { target, value })
    }

    fn if_chain(&mut self) -> Result<Node> {
        let start = self.pos;
        let mut cond = self.paren_expr("#if")?;
        let mut branches = Vec::new();
        loop {
            let (body, end) = self.block()?;
            branches.push((cond, body));
            match end {
                Closer::ElseIf(c) => cond = c,
                Closer::Else => {
                    let body = self.body_until_end(start, "#if")?;
                    return Ok(Node::If { branches, otherwise: Some(body) });
                }
                Closer::End => return Ok(Node::If { branches, otherwise: None }),
                Closer::Eof => return Err(self.error_at(start, "#if without #end")),
            }
        }
    }

    /// `(` and a plain variable (`$name`), as `#foreach` and `#define` open; `usage` is the
    /// directive written correctly, for the message.
    fn open_with_variable(&mut self, directive: &str, usage: &str) -> Result<Slot> {
        self.skip_hspace();
        self.expect('(', &format!("after {directive}"))?;
        self.skip_ws();
        let at = self.pos;
        match self.try_reference()? {
            Some(r) if r.parts.is_empty() => Ok(r.slot),
            _ => Err(self.error_at(at, format!("{directive} needs a variable: {usage}"))),
        }
    }

    /// The body of a block directive, up to its `#end`.
    fn body_until_end(&mut self, start: usize, directive: &str) -> Result<Block> {
        let (body, end) = self.block()?;
        if !matches!(end, Closer::End) {
            return Err(self.error_at(start, format!("{directive} without #end")));
        }
        Ok(body)
    }

    fn foreach(&mut self) -> Result<Node> {
        let start = self.pos;
        let var = self.open_with_variable("#foreach", "#foreach($item in $list)")?;
        self.skip_ws();
        // Velocity 1.7 accepts `#foreach($x $list)` and then loops zero times.
        let has_in = self.starts_with("in") && !self.peek_at(2).is_some_and(|c| c.is_ascii_alphanumeric());
        if has_in {
            self.pos += 2;
            self.skip_ws();
        }
        let iterable = self.expr()?;
        let iterable = if has_in { iterable } else { Expr::Bool(false) };
        self.skip_ws();
        self.expect(')', "to close #foreach")?;
        self.eat_line_end();
        let body = self.body_until_end(start, "#foreach")?;
        Ok(Node::Foreach { var, iterable, body })
    }

    fn define(&mut self) -> Result<Node> {
        let start = self.pos;
        let name = self.open_with_variable("#define", "#define($block)")?;
        self.skip_ws();
        self.expect(')', "to close #define")?;
        self.eat_line_end();
        let body = self.body_until_end(start, "#define")?;
        Ok(Node::Define { name, body: Rc::new(body) })
    }

    fn macro_def(&mut self, start: usize) -> Result<()> {
        self.skip_hspace();
        self.expect('(', "after #macro")?;
        self.skip_ws();
        let name_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            self.pos += 1;
        }
        let name: String = self.src[name_start..self.pos].iter().collect();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(self.error_at(name_start, "#macro needs a name: #macro(name $arg …)"));
        }
        if DIRECTIVES.contains(&name.as_str()) {
            return Err(self.error_at(name_start, format!("a macro cannot be named `{name}`")));
        }
        let mut params = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(',') {
                self.pos += 1;
                continue;
            }
            if self.peek() == Some(')') {
                self.pos += 1;
                break;
            }
            let at = self.pos;
            match self.try_reference()? {
                Some(r) if r.parts.is_empty() => params.push(r.slot),
                _ => return Err(self.error_at(at, "macro parameters are plain references: #macro(name $a $b)")),
            }
        }
        self.eat_line_end();
        // Defined before its body is parsed, so a macro may call itself.
        self.macros.insert(name.clone(), Rc::new(Macro { params: params.clone(), body: Vec::new() }));
        let body = self.body_until_end(start, "#macro")?;
        self.macros.insert(name, Rc::new(Macro { params, body }));
        Ok(())
    }

    /// `(arg arg …)` of a macro call: arguments separated by spaces or commas.
    fn macro_args(&mut self) -> Result<Vec<Expr>> {
        self.skip_hspace();
        self.expect('(', "after the macro name")?;
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(')') => {
                    self.pos += 1;
                    break;
                }
                Some(',') => self.pos += 1,
                None => return Err(self.error_at(self.pos, "unterminated macro call")),
                _ => args.push(self.primary()?),
            }
        }
        self.eat_line_end();
        Ok(args)
    }

    /// A reference at `$`, or `None` (the `$` is text) when none starts here.
    fn try_reference(&mut self) -> Result<Option<Reference>> {
        let start = self.pos;
        if self.peek() != Some('$') {
            return Ok(None);
        }
        let mut i = self.pos + 1;
        let quiet = self.src.get(i) == Some(&'!');
        if quiet {
            i += 1;
        }
        let braced = self.src.get(i) == Some(&'{');
        if braced {
            i += 1;
        }
        if !self.src.get(i).is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') {
            return Ok(None);
        }
        self.pos = i;
        let root = self.identifier();
        let mut parts = Vec::new();
        loop {
            match self.peek() {
                Some('.') if self.peek_at(1).is_some_and(|c| c.is_ascii_alphabetic() || c == '_') => {
                    self.pos += 1;
                    let name = self.identifier();
                    if self.peek() == Some('(') {
                        self.pos += 1;
                        let args = self.call_args()?;
                        parts.push(Part::Method(name, args));
                    } else {
                        parts.push(Part::Property(name));
                    }
                }
                Some('[') => {
                    let save = self.pos;
                    self.pos += 1;
                    self.skip_ws();
                    match self.expr() {
                        Ok(e) => {
                            self.skip_ws();
                            if self.peek() == Some(']') {
                                self.pos += 1;
                                parts.push(Part::Index(e));
                            } else {
                                self.pos = save;
                                break;
                            }
                        }
                        Err(_) => {
                            self.pos = save;
                            break;
                        }
                    }
                }
                _ => break,
            }
        }
        if braced {
            if self.peek() != Some('}') {
                self.pos = start;
                return Ok(None);
            }
            self.pos += 1;
        }
        let source: String = self.src[start..self.pos].iter().collect();
        let slot = self.symbols.slot(&root);
        if root == "context" {
            self.symbols.note_context(parts.first());
        }
        Ok(Some(Reference { root, slot, parts, quiet, source, at: self.line_col(start) }))
    }

    fn identifier(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            self.pos += 1;
        }
        self.src[start..self.pos].iter().collect()
    }

    fn call_args(&mut self) -> Result<Vec<Expr>> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            self.skip_ws();
            args.push(self.expr()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return Err(self.error_at(self.pos, "expected `,` or `)` in the method arguments")),
            }
        }
    }

    // === expressions ===

    pub(crate) fn expr(&mut self) -> Result<Expr> {
        self.enter()?;
        let e = self.or();
        self.depth -= 1;
        e
    }

    /// An operator here: a symbol, or a word operator followed by a non-word character.
    fn op(&mut self, symbols: &[&str], words: &[&str]) -> Option<String> {
        self.skip_ws();
        for s in symbols {
            if self.starts_with(s) {
                // `=` alone is not `==`; `!` alone is not `!=`.
                self.pos += s.chars().count();
                return Some((*s).to_string());
            }
        }
        for w in words {
            if self.starts_with(w) && !self.peek_at(w.len()).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.pos += w.len();
                return Some((*w).to_string());
            }
        }
        None
    }

    fn or(&mut self) -> Result<Expr> {
        let mut left = self.and()?;
        while self.op(&["||"], &["or"]).is_some() {
            self.skip_ws();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut left = self.equality()?;
        while self.op(&["&&"], &["and"]).is_some() {
            self.skip_ws();
            let right = self.equality()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Expr> {
        self.comparisons(
            &[("==", CmpOp::Eq), ("!=", CmpOp::Ne), ("eq", CmpOp::Eq), ("ne", CmpOp::Ne)],
            Self::relational,
        )
    }

    fn relational(&mut self) -> Result<Expr> {
        self.comparisons(
            &[
                ("<=", CmpOp::Le),
                (">=", CmpOp::Ge),
                ("<", CmpOp::Lt),
                (">", CmpOp::Gt),
                ("le", CmpOp::Le),
                ("ge", CmpOp::Ge),
                ("lt", CmpOp::Lt),
                ("gt", CmpOp::Gt),
            ],
            Self::additive,
        )
    }

    /// A left-associative chain of the comparison operators in `ops` (symbols before words, the
    /// longer symbols first) over operands parsed by `operand`.
    fn comparisons(&mut self, ops: &[(&str, CmpOp)], operand: fn(&mut Self) -> Result<Expr>) -> Result<Expr> {
        let symbols: Vec<&str> = ops.iter().map(|(o, _)| *o).filter(|o| !o.starts_with(char::is_alphabetic)).collect();
        let words: Vec<&str> = ops.iter().map(|(o, _)| *o).filter(|o| o.starts_with(char::is_alphabetic)).collect();
        let mut left = operand(self)?;
        loop {
            let save = self.pos;
            let Some(op) = self.op(&symbols, &words).and_then(|o| ops.iter().find(|(s, _)| *s == o).map(|(_, c)| *c))
            else {
                self.pos = save;
                return Ok(left);
            };
            self.skip_ws();
            let right = operand(self)?;
            left = Expr::Cmp(op, Box::new(left), Box::new(right));
        }
    }

    /// The source text of `start..end`, trimmed, without one pair of outer parentheses.
    fn source_between(&self, start: usize, end: usize) -> String {
        let s: String = self.src[start..end].iter().collect();
        let s = s.trim();
        s.strip_prefix('(').and_then(|s| s.strip_suffix(')')).unwrap_or(s).trim().to_string()
    }

    fn additive(&mut self) -> Result<Expr> {
        self.skip_ws();
        let mut start = self.pos;
        let mut left = self.multiplicative()?;
        loop {
            let save = self.pos;
            let op = match self.op(&["+", "-"], &[]).as_deref() {
                Some("+") => ArithOp::Add,
                Some("-") => ArithOp::Sub,
                _ => {
                    self.pos = save;
                    return Ok(left);
                }
            };
            let left_src = self.source_between(start, save);
            self.skip_ws();
            let right_start = self.pos;
            let right = self.multiplicative()?;
            let sources = Box::new((left_src, self.source_between(right_start, self.pos)));
            left = Expr::Arith(op, Box::new(left), Box::new(right), sources);
            start = right_start;
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        loop {
            let save = self.pos;
            let op = match self.op(&["*", "/", "%"], &[]).as_deref() {
                Some("*") => ArithOp::Mul,
                Some("/") => ArithOp::Div,
                Some("%") => ArithOp::Mod,
                _ => {
                    self.pos = save;
                    return Ok(left);
                }
            };
            self.skip_ws();
            let right = self.unary()?;
            left = Expr::Arith(op, Box::new(left), Box::new(right), Box::default());
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        self.skip_ws();
        if self.peek() == Some('!') && self.peek_at(1) != Some('=') {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.starts_with("not") && !self.peek_at(3).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 3;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr> {
        self.enter()?;
        self.skip_ws();
        let at = self.pos;
        let e = match self.peek() {
            Some('$') => match self.try_reference()? {
                Some(r) => Expr::Ref(r),
                None => return Err(self.error_at(at, "expected a reference after `$`")),
            },
            Some('"') => self.double_quoted()?,
            Some('\'') => Expr::Str(self.quoted('\'')?.into()),
            Some('(') => {
                self.pos += 1;
                let e = self.expr()?;
                self.skip_ws();
                self.expect(')', "to close the parenthesis")?;
                e
            }
            Some('[') => self.list()?,
            Some('{') => self.map()?,
            Some(c) if c.is_ascii_digit() || (c == '-' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) => {
                self.number()?
            }
            Some(_) if self.word("true") => Expr::Bool(true),
            Some(_) if self.word("false") => Expr::Bool(false),
            Some(c) => return Err(self.error_at(at, format!("unexpected `{c}` in an expression"))),
            None => return Err(self.error_at(at, "unexpected end of the template in an expression")),
        };
        self.depth -= 1;
        Ok(e)
    }

    fn word(&mut self, w: &str) -> bool {
        if self.starts_with(w) && !self.peek_at(w.len()).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += w.len();
            true
        } else {
            false
        }
    }

    fn number(&mut self) -> Result<Expr> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let mut float = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if float && matches!(self.peek(), Some('e' | 'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
            } else {
                self.pos = save;
            }
        }
        let text: String = self.src[start..self.pos].iter().collect();
        if float {
            text.parse().map(Expr::Double).map_err(|_| self.error_at(start, format!("invalid number `{text}`")))
        } else {
            text.parse().map(Expr::Int).map_err(|_| self.error_at(start, format!("integer `{text}` is too large")))
        }
    }

    /// A string literal's content, quoted with `q`; a doubled `q` stands for one.
    fn quoted(&mut self, q: char) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(start, "unterminated string")),
                Some(c) if c == q && self.peek_at(1) == Some(q) => {
                    s.push(q);
                    self.pos += 2;
                }
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn double_quoted(&mut self) -> Result<Expr> {
        let start = self.pos;
        let s = self.quoted('"')?;
        if !s.contains(['$', '#']) {
            return Ok(Expr::Str(s.into()));
        }
        let mut inner = Parser::new(&s);
        inner.macros = self.macros.clone();
        inner.depth = self.depth;
        // The string's references are variables of the template: one table of slots.
        inner.symbols = std::mem::take(&mut self.symbols);
        let parsed = inner.parse();
        self.symbols = std::mem::take(&mut inner.symbols);
        let block = parsed.map_err(|e| match e {
            Error::Parse { message, .. } => self.error_at(start, format!("in a string: {message}")),
            other => other,
        })?;
        Ok(Expr::Interpolated(block))
    }

    fn list(&mut self) -> Result<Expr> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(Expr::List(Vec::new()));
        }
        let first = self.expr()?;
        self.skip_ws();
        if self.starts_with("..") {
            self.pos += 2;
            self.skip_ws();
            let last = self.expr()?;
            self.skip_ws();
            self.expect(']', "to close the range")?;
            return Ok(Expr::Range(Box::new(first), Box::new(last)));
        }
        let mut items = vec![first];
        loop {
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    self.skip_ws();
                    items.push(self.expr()?);
                }
                Some(']') => {
                    self.pos += 1;
                    return Ok(Expr::List(items));
                }
                _ => return Err(self.error_at(self.pos, "expected `,` or `]` in the list")),
            }
        }
    }

    fn map(&mut self) -> Result<Expr> {
        self.pos += 1;
        let mut entries = Vec::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(Expr::Map(entries));
        }
        loop {
            self.skip_ws();
            let k = self.expr()?;
            self.skip_ws();
            self.expect(':', "between a map key and its value")?;
            self.skip_ws();
            let v = self.expr()?;
            entries.push((k, v));
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    return Ok(Expr::Map(entries));
                }
                _ => return Err(self.error_at(self.pos, "expected `,` or `}` in the map")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Parser;

    /// `line_col` by its index of line starts agrees with counting from the start, at every
    /// position (and past the end).
    #[test]
    fn line_col_agrees_with_counting() {
        for src in ["", "a", "\n", "ab\ncd\n\nef", "\n\nx", "é\nü\r\nz\n"] {
            let p = Parser::new(src);
            let (mut line, mut col) = (1, 1);
            for pos in 0..=p.src.len() + 2 {
                assert_eq!(p.line_col(pos), (line, col), "{src:?} at {pos}");
                match p.src.get(pos) {
                    Some('\n') => (line, col) = (line + 1, 1),
                    Some(_) => col += 1,
                    None => {}
                }
            }
        }
    }
}
