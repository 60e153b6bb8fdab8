//! The Java methods templates call on strings, numbers, lists and maps, and Velocity's
//! property lookup (`$a.b` → `get("b")` on a map, else `getB()` / `isB()`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use crate::render::Env;
use crate::value::{self, JList, JMap, ListKind, Value};
use crate::{Error, Result};

/// What a `void` method returns: Velocity 1.7 makes it an empty string (a method returning
/// null renders as written).
fn void() -> Value {
    Value::str("")
}

/// `$v.name`.
#[inline(always)]
pub(crate) fn property(v: &Value, name: &str, env: &mut Env<'_>) -> Result<Value> {
    match v {
        // The usual case, kept small enough to inline.
        Value::Map(m) => Ok(m.borrow().get(name).cloned().unwrap_or_default()),
        Value::Json(d, at) if d.is_object(*at) => Ok(json_member(d, *at, name)),
        _ => getter(v, name, env),
    }
}

/// `$v.name` on a lazily read JSON object: the member, read from the document (or from the
/// map the object was made into).
#[inline]
pub(crate) fn json_member(d: &Rc<crate::Doc>, at: u32, name: &str) -> Value {
    match d.made(at) {
        Some(Value::Map(m)) => m.borrow().get(name).cloned().unwrap_or_default(),
        Some(_) => Value::Null,
        None => d.member(at, name).unwrap_or_default(),
    }
}

/// `$v.name` on anything but a map: the object's property, else `getName()` / `isName()`.
fn getter(v: &Value, name: &str, env: &mut Env<'_>) -> Result<Value> {
    if let Value::Object(o) = v
        && let Some(r) = o.property(name, env)
    {
        return r;
    }
    let mut cap = String::with_capacity(name.len() + 3);
    let mut chars = name.chars();
    if let Some(first) = chars.next() {
        cap.extend(first.to_uppercase());
        cap.push_str(chars.as_str());
    }
    for getter in [format!("get{cap}"), format!("is{cap}")] {
        match call(v, &getter, &[], env) {
            Ok(Value::Null) => continue,
            other => return other,
        }
    }
    Ok(Value::Null)
}

/// `$v[key]`.
pub(crate) fn index(v: &Value, key: &Value) -> Result<Value> {
    match v {
        Value::Json(d, at) => match d.made(*at) {
            Some(made) => index(&made, key),
            None if d.is_object(*at) => Ok(d.member(*at, &key.as_str()).unwrap_or_default()),
            None => {
                let len = d.len(*at);
                let i = key.as_index().ok_or_else(|| Error::render("a list index must be a number"))?;
                let i = if i < 0 { i + len as i64 } else { i };
                usize::try_from(i)
                    .ok()
                    .and_then(|i| d.item(*at, i))
                    .ok_or_else(|| Error::render(format!("index {i} out of bounds for length {len}")))
            }
        },
        Value::List(items, _) => {
            let items = items.borrow();
            let i = key.as_index().ok_or_else(|| Error::render("a list index must be a number"))?;
            // Velocity 1.7 counts negative indexes from the end.
            let i = if i < 0 { i + items.len() as i64 } else { i };
            usize::try_from(i)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| Error::render(format!("index {i} out of bounds for length {}", items.len())))
        }
        Value::Map(m) => Ok(m.borrow().get(&key.as_str()).cloned().unwrap_or_default()),
        _ => Ok(Value::Null),
    }
}

fn arg_str(args: &[Value], i: usize) -> Option<Cow<'_, str>> {
    match args.get(i)? {
        Value::Null => None,
        v => Some(v.as_str()),
    }
}

/// A map key from an argument: a string argument is shared, anything else rendered.
fn key_of(v: &Value) -> Rc<str> {
    match v {
        Value::Str(s) => s.clone(),
        v => v.render().into(),
    }
}

fn arg_int(args: &[Value], i: usize) -> Option<i64> {
    args.get(i)?.as_index()
}

fn out_of_bounds(what: &str) -> Error {
    Error::render(format!("{what} out of range"))
}

/// Java `String.substring` on UTF-16 offsets.
fn utf16_slice(s: &str, begin: i64, end: i64) -> Result<Value> {
    let len = utf16_len(s);
    if begin < 0 || end > len || begin > end {
        return Err(out_of_bounds(&format!("substring({begin}, {end}) of a string of length {len}")));
    }
    if s.is_ascii() {
        // One byte per UTF-16 unit.
        return Ok(Value::str(&s[begin as usize..end as usize]));
    }
    let units: Vec<u16> = s.encode_utf16().collect();
    Ok(Value::str(String::from_utf16_lossy(&units[begin as usize..end as usize])))
}

fn utf16_len(s: &str) -> i64 {
    if s.is_ascii() { s.len() as i64 } else { s.encode_utf16().count() as i64 }
}

/// `$v.name(args)`: `Ok(Null)` when there is no such method (Velocity renders the reference
/// as written), `Err` when the method throws.
pub(crate) fn call(v: &Value, name: &str, args: &[Value], env: &mut Env<'_>) -> Result<Value> {
    if let Value::Json(d, at) = v {
        return call_json(d, *at, name, args, env);
    }
    // A container passed to a list's or a map's method may end up inside it; one that points
    // into a lazily read document goes in as the list or map it stands for (so that a list or
    // map given itself holds itself, and shows `(this Collection)` / `(this Map)`).
    if matches!(v, Value::List(..) | Value::Map(_)) && args.iter().any(value::is_container) {
        if args.iter().any(|a| matches!(a, Value::Json(..))) {
            return call_with_made(v, name, args, env);
        }
        env.note_holder(v);
    }
    let r = match (name, args.len()) {
        // Methods every object has.
        ("toString", 0) => Some(Value::str(v.render())),
        ("hashCode", 0) => Some(Value::Int(value::java_hash_code(v))),
        ("equals", 1) => Some(Value::Bool(value::java_equals(v, &args[0]))),
        ("getClass", 0) => Some(Value::str(format!("class {}", v.class()))),
        _ => typed_method(v, name, args, env)?,
    };
    // A call on a large string, or one that made a large string, may have taken a while: the
    // rendering's time is checked now, not only every 1024 steps, so that a loop of such calls
    // stops near its time limit. (Not for the arguments: on every call that costs about a
    // tenth of `methods::call`. A small string or a list given a large argument either makes
    // a large string, or is quick.)
    if let Value::Str(s) = v
        && s.len() >= LARGE
    {
        env.check_time()?;
    }
    if let Some(Value::Str(s)) = &r
        && s.len() >= LARGE
    {
        env.check_time()?;
    }
    Ok(r.unwrap_or_default())
}

/// [`call`] with the lazily read JSON objects and arrays among `args` made into the maps and
/// lists they stand for.
#[cold]
#[inline(never)]
fn call_with_made(v: &Value, name: &str, args: &[Value], env: &mut Env<'_>) -> Result<Value> {
    let args: Vec<Value> = args.iter().map(|a| a.resolve().into_owned()).collect();
    call(v, name, &args, env)
}

/// [`call`] on a lazily read JSON object or array: it answers what it can from its document;
/// anything else is asked of the map or list it stands for. (Given as an argument, one is
/// taken as it is: only `addAll`, `containsAll` and `putAll` look into theirs, and they ask
/// for the list or map.)
#[cold]
#[inline(never)]
fn call_json(d: &Rc<crate::Doc>, at: u32, name: &str, args: &[Value], env: &mut Env<'_>) -> Result<Value> {
    if let Some(r) = json_method(d, at, name, args) {
        return Ok(r);
    }
    call(&d.make(at), name, args, env)
}

/// The methods a lazily read JSON object or array answers from its document, when it was not
/// made into a map or list: `get`, `size`, `isEmpty`, `containsKey`.
fn json_method(d: &Rc<crate::Doc>, at: u32, name: &str, args: &[Value]) -> Option<Value> {
    if d.made(at).is_some() {
        return None;
    }
    let object = d.is_object(at);
    Some(match (name, args) {
        ("size", []) => Value::Int(d.len(at) as i32),
        ("isEmpty", []) => Value::Bool(d.len(at) == 0),
        ("get", [key]) if object => d.member(at, &key.as_str()).unwrap_or_default(),
        ("containsKey", [key]) if object => Value::Bool(d.member(at, &key.as_str()).is_some()),
        _ => return None,
    })
}

/// The methods of `v`'s own type (see [`call`]).
#[inline(always)]
fn typed_method(v: &Value, name: &str, args: &[Value], env: &mut Env<'_>) -> Result<Option<Value>> {
    Ok(match v {
        Value::Str(s) => string_method(s, name, args, env)?,
        Value::Int(_) | Value::Long(_) | Value::Double(_) => number_method(v, name, args),
        Value::Bool(b) => match (name, args.len()) {
            ("booleanValue", 0) => Some(Value::Bool(*b)),
            _ => None,
        },
        Value::List(items, kind) => list_method(items, *kind, name, args)?,
        Value::Map(m) => map_method(m, name, args)?,
        Value::Entry(e) => match (name, args.len()) {
            ("getKey", 0) => Some(e.0.clone()),
            ("getValue", 0) => Some(e.1.clone()),
            _ => None,
        },
        Value::Object(o) => o.call(name, args, env).transpose()?,
        Value::Null => None,
        // `call` answers these first (`call_json`).
        Value::Json(..) => None,
    })
}

/// A string this long (in bytes) makes a method call check the rendering's time.
const LARGE: usize = 1 << 16;

/// A method of a string.
fn string_method(s: &Rc<str>, name: &str, args: &[Value], env: &mut Env<'_>) -> Result<Option<Value>> {
    let a = |i| arg_str(args, i);
    Ok(Some(match (name, args.len()) {
        ("length", 0) => Value::Int(utf16_len(s) as i32),
        ("isEmpty", 0) => Value::Bool(s.is_empty()),
        ("isBlank", 0) => Value::Bool(s.trim().is_empty()),
        ("getBytes", 0) => {
            value::check_items(s.len())?;
            Value::list(s.bytes().map(|b| Value::Int(i32::from(b as i8))).collect())
        }
        ("toLowerCase", 0) => change_case(s, str::make_ascii_lowercase, str::to_lowercase),
        ("toUpperCase", 0) => change_case(s, str::make_ascii_uppercase, str::to_uppercase),
        ("trim", 0) => Value::str(s.trim_matches(|c: char| c <= ' ')),
        ("strip", 0) => Value::str(s.trim()),
        ("charAt", 1) => {
            let i = arg_int(args, 0).ok_or_else(|| Error::render("charAt needs an index"))?;
            utf16_slice(s, i, i + 1)?
        }
        ("substring", 1) => {
            let b = arg_int(args, 0).ok_or_else(|| Error::render("substring needs an index"))?;
            utf16_slice(s, b, utf16_len(s))?
        }
        ("substring", 2) => {
            let (b, e) = (arg_int(args, 0), arg_int(args, 1));
            let (Some(b), Some(e)) = (b, e) else { return Err(Error::render("substring needs two indexes")) };
            utf16_slice(s, b, e)?
        }
        ("indexOf", 1 | 2) | ("lastIndexOf", 1 | 2) => {
            let Some(needle) = a(0) else { return Ok(None) };
            let from = arg_int(args, 1);
            let (hay, pin): (Vec<u16>, Vec<u16>) = (s.encode_utf16().collect(), needle.encode_utf16().collect());
            let fits = |i: usize| hay.get(i..i + pin.len()) == Some(&pin[..]);
            let found = if name == "indexOf" {
                let from = from.unwrap_or(0).max(0) as usize;
                (from..=hay.len()).find(|&i| fits(i))
            } else {
                let last = hay.len().saturating_sub(pin.len()) as i64;
                let from = from.unwrap_or(last).min(last);
                (0..=from).rev().map(|i| i as usize).find(|&i| fits(i))
            };
            let found = found.map(|i| i as i64);
            Value::Int(found.unwrap_or(-1) as i32)
        }
        ("contains", 1) => Value::Bool(a(0).is_some_and(|n| s.contains(&*n))),
        ("startsWith", 1) => Value::Bool(a(0).is_some_and(|n| s.starts_with(&*n))),
        ("endsWith", 1) => Value::Bool(a(0).is_some_and(|n| s.ends_with(&*n))),
        ("equalsIgnoreCase", 1) => Value::Bool(a(0).is_some_and(|n| n.to_lowercase() == s.to_lowercase())),
        ("concat", 1) => {
            let tail = a(0).unwrap_or_default();
            value::check_len(s.len() + tail.len())?;
            Value::str(format!("{s}{tail}"))
        }
        ("compareTo", 1) => {
            let other = a(0).unwrap_or_default();
            let (x, y): (Vec<u16>, Vec<u16>) = (s.encode_utf16().collect(), other.encode_utf16().collect());
            let diff = x.iter().zip(&y).find(|(p, q)| p != q).map(|(p, q)| *p as i32 - *q as i32);
            Value::Int(diff.unwrap_or(x.len() as i32 - y.len() as i32))
        }
        ("replace", 2) => match (a(0), a(1)) {
            (Some(from), Some(to)) => replace(s, &from, &to, &mut env.scratch)?,
            _ => return Ok(None),
        },
        ("replaceAll", 2) | ("replaceFirst", 2) => {
            let (Some(pattern), Some(repl)) = (a(0), a(1)) else { return Ok(None) };
            let re = crate::java::regex(&pattern)?;
            let repl = crate::java::replacement(&repl)?;
            Value::str(crate::java::replace(&re, s, &repl, name == "replaceAll")?)
        }
        ("matches", 1) => {
            let Some(pattern) = a(0) else { return Ok(None) };
            Value::Bool(crate::java::regex_full(&pattern)?.is_match(s))
        }
        ("split", 1 | 2) => {
            let Some(pattern) = a(0) else { return Ok(None) };
            let limit = arg_int(args, 1).unwrap_or(0);
            let parts = crate::java::split(s, &pattern, limit, || env.check_time())?;
            value::check_items(parts.len())?;
            let mut items = Vec::with_capacity(parts.len());
            for (i, part) in parts.into_iter().enumerate() {
                if i % crate::java::TICK == crate::java::TICK - 1 {
                    env.check_time()?;
                }
                items.push(Value::str(part));
            }
            Value::list(items)
        }
        _ => return Ok(None),
    }))
}

/// `String.replace(target, replacement)`: the string itself when the target does not occur;
/// the result is built in `out` (a reused buffer), then shared. Fails as soon as the result
/// is longer than [`value::check_len`] allows.
#[inline]
fn replace(s: &Rc<str>, from: &str, to: &str, out: &mut String) -> Result<Value> {
    if from.is_empty() {
        // `to` before every character and at the end.
        value::check_len(s.len() + (s.chars().count() + 1) * to.len())?;
        return Ok(Value::str(s.replace(from, to)));
    }
    let Some(first) = find(s, from, 0) else { return Ok(Value::Str(s.clone())) };
    out.clear();
    let mut at = Some(first);
    let mut last = 0;
    while let Some(i) = at {
        out.push_str(&s[last..i]);
        out.push_str(to);
        if to.len() > from.len() {
            value::check_len(out.len())?;
        }
        last = i + from.len();
        at = find(s, from, last);
    }
    out.push_str(&s[last..]);
    if to.len() > from.len() {
        value::check_len(out.len())?;
    }
    Ok(Value::str(out.as_str()))
}

/// The first occurrence of a non-empty `needle` in `hay` at or after byte `from` (a character
/// boundary). Short needles are searched directly (setting up `str::find`'s two-way search
/// costs more than the search itself); a byte match of UTF-8 text is always a character match.
fn find(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > 8 {
        return hay[from..].find(needle).map(|i| i + from);
    }
    let last_start = h.len().checked_sub(n.len())?;
    let mut i = from;
    while i <= last_start {
        i += h[i..=last_start].iter().position(|&b| b == n[0])?;
        if &h[i..i + n.len()] == n {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `toLowerCase()` / `toUpperCase()`: an ASCII string is converted in its new copy.
fn change_case(s: &Rc<str>, ascii: fn(&mut str), unicode: fn(&str) -> String) -> Value {
    if !s.is_ascii() {
        return Value::str(unicode(s));
    }
    let mut copy: Rc<str> = Rc::from(&**s);
    match Rc::get_mut(&mut copy) {
        Some(text) => {
            ascii(text);
            Value::Str(copy)
        }
        None => Value::str(unicode(s)),
    }
}

fn number_method(v: &Value, name: &str, args: &[Value]) -> Option<Value> {
    let n = v.number()?;
    let (i, f) = match n {
        value::Num::Int(i, _) => (i, i as f64),
        value::Num::Double(d) => (d as i64, d),
    };
    Some(match (name, args.len()) {
        ("intValue", 0) => Value::Int(i as i32),
        ("longValue", 0) => Value::Long(i),
        ("doubleValue", 0) | ("floatValue", 0) => Value::Double(f),
        ("compareTo", 1) => Value::Int(value::compare(v, &args[0]).map_or(0, |o| o as i32)),
        _ => return None,
    })
}

fn list_method(items: &Rc<RefCell<JList>>, kind: ListKind, name: &str, args: &[Value]) -> Result<Option<Value>> {
    let len = items.borrow().len();
    let idx = |i: usize, inclusive: bool| -> Result<usize> {
        let n = arg_int(args, i).ok_or_else(|| Error::render("a list index must be a number"))?;
        let max = if inclusive { len as i64 } else { len as i64 - 1 };
        if n < 0 || n > max {
            return Err(Error::render(format!("index {n} out of bounds for length {len}")));
        }
        Ok(n as usize)
    };
    Ok(Some(match (name, args.len()) {
        ("size", 0) => Value::Int(len as i32),
        ("isEmpty", 0) => Value::Bool(len == 0),
        ("get", 1) => items.borrow()[idx(0, false)?].clone(),
        ("contains", 1) => Value::Bool(items.borrow().iter().any(|x| value::java_equals(x, &args[0]))),
        ("indexOf", 1) => {
            Value::Int(items.borrow().iter().position(|x| value::java_equals(x, &args[0])).map_or(-1, |i| i as i32))
        }
        ("lastIndexOf", 1) => {
            Value::Int(items.borrow().iter().rposition(|x| value::java_equals(x, &args[0])).map_or(-1, |i| i as i32))
        }
        ("add", 1) => {
            value::check_items(len + 1)?;
            items.borrow_mut().push(args[0].clone());
            Value::Bool(true)
        }
        ("add", 2) => {
            let i = idx(0, true)?;
            value::check_items(len + 1)?;
            items.borrow_mut().insert(i, args[1].clone());
            void()
        }
        // (A JSON array read lazily counts as the list it stands for.)
        ("addAll", 1) => match args[0].resolve().as_ref() {
            Value::List(other, _) => {
                value::check_items(len + other.borrow().len())?;
                let other = other.borrow().to_vec();
                let changed = !other.is_empty();
                items.borrow_mut().extend(other);
                Value::Bool(changed)
            }
            _ => return Ok(None),
        },
        ("set", 2) => {
            let i = idx(0, false)?;
            std::mem::replace(&mut items.borrow_mut()[i], args[1].clone())
        }
        ("remove", 1) => match &args[0] {
            // remove(int) when the argument is an Integer, remove(Object) otherwise.
            Value::Int(_) => {
                let i = idx(0, false)?;
                items.borrow_mut().remove(i)
            }
            other => {
                let pos = items.borrow().iter().position(|x| value::java_equals(x, other));
                if let Some(p) = pos {
                    items.borrow_mut().remove(p);
                }
                Value::Bool(pos.is_some())
            }
        },
        ("clear", 0) => {
            items.borrow_mut().clear();
            void()
        }
        ("subList", 2) => {
            let (a, b) = (idx(0, true)?, idx(1, true)?);
            if a > b {
                return Err(Error::render(format!("subList({a}, {b}): from is after to")));
            }
            Value::List(Rc::new(RefCell::new(JList(items.borrow()[a..b].to_vec()))), kind)
        }
        ("containsAll", 1) => match args[0].resolve().as_ref() {
            Value::List(other, _) => {
                Value::Bool(other.borrow().iter().all(|o| items.borrow().iter().any(|x| value::java_equals(x, o))))
            }
            _ => return Ok(None),
        },
        ("toJSONString", 0) if kind == ListKind::Json => Value::str(Value::List(items.clone(), kind).to_json()),
        _ => return Ok(None),
    }))
}

fn map_method(m: &Rc<RefCell<JMap>>, name: &str, args: &[Value]) -> Result<Option<Value>> {
    // A key is made from its argument before the map is borrowed to change it: the argument
    // may be the map itself (`$m.remove($m)`), whose text reads the map.
    let key = |i: usize| args.get(i).map_or(Cow::Borrowed(""), Value::as_str);
    let owned_key = |i: usize| args.get(i).map_or_else(|| Rc::from(""), key_of);
    Ok(Some(match (name, args.len()) {
        ("size", 0) => Value::Int(m.borrow().len() as i32),
        ("isEmpty", 0) => Value::Bool(m.borrow().is_empty()),
        ("get", 1) => m.borrow().get(&key(0)).cloned().unwrap_or_default(),
        ("getOrDefault", 2) => m.borrow().get(&key(0)).cloned().unwrap_or_else(|| args[1].clone()),
        ("containsKey", 1) => Value::Bool(m.borrow().get(&key(0)).is_some()),
        ("containsValue", 1) => Value::Bool(m.borrow().ordered().any(|(_, v)| value::java_equals(v, &args[0]))),
        ("put", 2) => {
            let k = owned_key(0);
            m.borrow_mut().put_checked(k, args[1].clone())?.unwrap_or_default()
        }
        ("putIfAbsent", 2) => {
            let existing = m.borrow().get(&key(0)).cloned();
            match existing {
                Some(v) if !v.is_null() => v,
                _ => {
                    let k = owned_key(0);
                    m.borrow_mut().put_checked(k, args[1].clone())?;
                    Value::Null
                }
            }
        }
        ("putAll", 1) => {
            if let Value::Map(other) = args[0].resolve().as_ref() {
                // Copied first: the map may be added to itself.
                let entries: Vec<(Rc<str>, Value)> = other.borrow().ordered().cloned().collect();
                for (k, v) in entries {
                    m.borrow_mut().put_checked(k, v)?;
                }
            }
            void()
        }
        ("remove", 1) => {
            let k = key(0);
            let removed = m.borrow_mut().remove(&k);
            removed.unwrap_or_default()
        }
        ("clear", 0) => {
            m.borrow_mut().clear();
            void()
        }
        ("keySet", 0) => Value::list(m.borrow().ordered().map(|(k, _)| Value::Str(k.clone())).collect()),
        ("values", 0) => Value::list(m.borrow().ordered().map(|(_, v)| v.clone()).collect()),
        ("entrySet", 0) => Value::list(
            m.borrow().ordered().map(|(k, v)| Value::Entry(Rc::new((Value::Str(k.clone()), v.clone())))).collect(),
        ),
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_finds_every_occurrence() {
        let r = |s: &str, from: &str, to: &str| replace(&Rc::from(s), from, to, &mut String::new()).unwrap().render();
        assert_eq!(r("Hello, World", "World", "prod"), "Hello, prod");
        assert_eq!(r("aaaa", "aa", "b"), "bb");
        assert_eq!(r("abc", "x", "y"), "abc");
        assert_eq!(r("abc", "", "-"), "-a-b-c-");
        assert_eq!(r("éaé", "é", "e"), "eae");
        assert_eq!(r("a long needle here, a long needle", "a long needle", "x"), "x here, x");
        assert_eq!(r("ab", "abc", "x"), "ab");
    }
}
