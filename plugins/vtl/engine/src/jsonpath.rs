//! JSONPath as `$input.path` / `$input.json` evaluate it (Jayway JsonPath): `$`, `.name`,
//! `['name']`, `[n]` (negative from the end), `[*]` / `.*`, `..name` (deep scan),
//! `[a,b]` unions, `[start:end]` slices, and filters (`[?(@.price < 10)]`), which are
//! evaluated by `serde_json_path` (RFC 9535 filter expressions: comparisons, `&&`, `||`, `!`,
//! existence tests, `length()`, `match()`, `search()`; Jayway's own `=~`, `in`, `nin`, `size`
//! and `empty` operators are not supported).
//!
//! A definite path (names and single indexes only) yields one value, or null when it does not
//! exist; any other path yields a JSON array of every match.

use std::cell::RefCell;
use std::rc::Rc;

use crate::value::{JList, ListKind, Value};
use crate::{Error, Result};

#[derive(Debug, Clone)]
enum Seg {
    Name(String),
    Names(Vec<String>),
    Index(i64),
    Indexes(Vec<i64>),
    Wildcard,
    Slice(Option<i64>, Option<i64>),
    Deep(Box<Seg>),
}

fn parse(path: &str) -> Result<Vec<Seg>> {
    let bad = |m: &str| Error::render(format!("invalid JSONPath `{path}`: {m}"));
    let p: Vec<char> = path.trim().chars().collect();
    let mut i = 0;
    if p.first() == Some(&'$') {
        i = 1;
    }
    let mut segs = Vec::new();
    while i < p.len() {
        let deep = p[i] == '.' && p.get(i + 1) == Some(&'.');
        if deep {
            i += 2;
        } else if p[i] == '.' {
            i += 1;
        }
        let seg = if p.get(i) == Some(&'[') {
            let close = p[i..].iter().position(|c| *c == ']').ok_or_else(|| bad("unclosed `[`"))? + i;
            let inner: String = p[i + 1..close].iter().collect();
            i = close + 1;
            bracket(inner.trim()).ok_or_else(|| bad(&format!("unsupported selector `[{inner}]`")))?
        } else if p.get(i) == Some(&'*') {
            i += 1;
            Seg::Wildcard
        } else {
            let start = i;
            while i < p.len() && p[i] != '.' && p[i] != '[' {
                i += 1;
            }
            if start == i {
                return Err(bad("empty property name"));
            }
            Seg::Name(p[start..i].iter().collect())
        };
        segs.push(if deep { Seg::Deep(Box::new(seg)) } else { seg });
    }
    Ok(segs)
}

fn bracket(inner: &str) -> Option<Seg> {
    if inner == "*" {
        return Some(Seg::Wildcard);
    }
    if inner.starts_with('\'') || inner.starts_with('"') {
        let names: Vec<String> = inner
            .split(',')
            .map(|s| {
                let s = s.trim();
                s.strip_prefix(['\'', '"']).and_then(|s| s.strip_suffix(['\'', '"'])).map(str::to_string)
            })
            .collect::<Option<_>>()?;
        return Some(if names.len() == 1 { Seg::Name(names[0].clone()) } else { Seg::Names(names) });
    }
    if let Some((a, b)) = inner.split_once(':') {
        let num = |s: &str| if s.trim().is_empty() { Some(None) } else { s.trim().parse().ok().map(Some) };
        return Some(Seg::Slice(num(a)?, num(b)?));
    }
    let idx: Vec<i64> = inner.split(',').map(|s| s.trim().parse().ok()).collect::<Option<_>>()?;
    Some(if idx.len() == 1 { Seg::Index(idx[0]) } else { Seg::Indexes(idx) })
}

fn definite(segs: &[Seg]) -> bool {
    segs.iter().all(|s| matches!(s, Seg::Name(_) | Seg::Index(_)))
}

/// Evaluates `path` on `root`.
pub(crate) fn eval(root: &Value, path: &str) -> Result<Value> {
    if path.contains("[?") {
        return eval_filter(root, path);
    }
    let segs = parse(path)?;
    let mut current = vec![root.clone()];
    for seg in &segs {
        let mut next = Vec::new();
        for v in &current {
            select(v, seg, &mut next);
        }
        current = next;
    }
    if definite(&segs) {
        Ok(current.into_iter().next().unwrap_or_default())
    } else {
        Ok(Value::List(Rc::new(RefCell::new(JList(current))), ListKind::Json))
    }
}

/// A path with a filter: an indefinite path, so always a JSON array of the matches.
fn eval_filter(root: &Value, path: &str) -> Result<Value> {
    let path = path.trim();
    let text = if path.starts_with('$') { path.to_string() } else { format!("${path}") };
    let query = serde_json_path::JsonPath::parse(&text)
        .map_err(|e| Error::render(format!("invalid JSONPath `{path}`: {e}")))?;
    let json: serde_json::Value =
        serde_json::from_str(&root.to_json()).map_err(|e| Error::render(format!("JSONPath `{path}`: {e}")))?;
    let matches = query
        .query(&json)
        .all()
        .into_iter()
        .map(|v| crate::json::parse(&v.to_string()).map_err(|e| Error::render(format!("JSONPath `{path}`: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::List(Rc::new(RefCell::new(JList(matches))), ListKind::Json))
}

fn select(v: &Value, seg: &Seg, out: &mut Vec<Value>) {
    // A lazily read JSON object or array: a name or an index is read from its document, any
    // other step from the map or list it stands for.
    if let Value::Json(d, at) = v {
        match (seg, d.made(*at)) {
            (_, Some(made)) => select(&made, seg, out),
            (Seg::Name(n), None) => out.extend(d.member(*at, n)),
            (Seg::Index(i), None) if !d.is_object(*at) => {
                let len = d.len(*at) as i64;
                let i = if *i < 0 { *i + len } else { *i };
                out.extend(usize::try_from(i).ok().and_then(|i| d.item(*at, i)));
            }
            (_, None) => select(&d.make(*at), seg, out),
        }
        return;
    }
    match seg {
        Seg::Name(n) => {
            if let Value::Map(m) = v
                && let Some(x) = m.borrow().get(n)
            {
                out.push(x.clone());
            }
        }
        Seg::Names(ns) => {
            for n in ns {
                select(v, &Seg::Name(n.clone()), out);
            }
        }
        Seg::Index(i) => {
            if let Value::List(items, _) = v {
                let items = items.borrow();
                let i = if *i < 0 { *i + items.len() as i64 } else { *i };
                if let Some(x) = usize::try_from(i).ok().and_then(|i| items.get(i)) {
                    out.push(x.clone());
                }
            }
        }
        Seg::Indexes(is) => {
            for i in is {
                select(v, &Seg::Index(*i), out);
            }
        }
        Seg::Wildcard => match v {
            Value::List(items, _) => out.extend(items.borrow().iter().cloned()),
            Value::Map(m) => out.extend(m.borrow().iter().into_iter().map(|(_, v)| v)),
            _ => {}
        },
        Seg::Slice(a, b) => {
            if let Value::List(items, _) = v {
                let items = items.borrow();
                let len = items.len() as i64;
                let norm = |x: i64| if x < 0 { (x + len).max(0) } else { x.min(len) };
                let (a, b) = (norm(a.unwrap_or(0)), norm(b.unwrap_or(len)));
                if a < b {
                    out.extend(items[a as usize..b as usize].iter().cloned());
                }
            }
        }
        Seg::Deep(inner) => {
            select(v, inner, out);
            let children: Vec<Value> = match v {
                Value::List(items, _) => items.borrow().to_vec(),
                Value::Map(m) => m.borrow().iter().into_iter().map(|(_, v)| v).collect(),
                _ => Vec::new(),
            };
            for c in &children {
                select(c, seg, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        Value::from_json(
            &serde_json::from_str(r#"{"a":{"b":[1,2,{"c":"x"}]},"list":[{"n":1},{"n":2}],"k y":true}"#).unwrap(),
        )
    }

    #[test]
    fn definite_and_indefinite_paths() {
        definite_and_indefinite_paths_of(doc());
        // The same document read lazily.
        definite_and_indefinite_paths_of(
            crate::json::parse_lazy(r#"{"a":{"b":[1,2,{"c":"x"}]},"list":[{"n":1},{"n":2}],"k y":true}"#).unwrap(),
        );
    }

    fn definite_and_indefinite_paths_of(d: Value) {
        assert_eq!(eval(&d, "$.a.b[0]").unwrap().render(), "1");
        assert_eq!(eval(&d, "$.a.b[-1].c").unwrap().render(), "x");
        assert_eq!(eval(&d, "$['k y']").unwrap().render(), "true");
        assert!(eval(&d, "$.missing.x").unwrap().is_null());
        assert_eq!(eval(&d, "$.list[*].n").unwrap().render(), "[1,2]");
        assert_eq!(eval(&d, "$..n").unwrap().render(), "[1,2]");
        assert_eq!(eval(&d, "$.a.b[0:2]").unwrap().render(), "[1,2]");
        assert_eq!(eval(&d, "$").unwrap().render(), r#"{a={b=[1,2,{"c":"x"}]}, list=[{"n":1},{"n":2}], k y=true}"#);
    }
}
