//! Reading JSON payloads into template values, and writing them out again.
//!
//! Both directions have a fast path for the JSON most payloads are (strings without `\u`
//! escapes, integers of up to 18 digits, objects of a few distinct keys without escapes):
//! [`read_plain`] reads it into values (handing other string and number tokens to serde_json
//! one by one) and [`write_plain`] writes it out compact (`$input.json('$')`), each a plain
//! byte scanner. Anything else goes to `serde_json`, which
//! reads the text straight into template values (through [`JsonSeed`], no intermediate
//! `serde_json::Value`), so that values and error messages are exactly `serde_json`'s; the
//! fast paths are tested to agree with it. On the benchmark payload the reader takes about
//! 5% off the `items` template's instructions per render, and building each container at its
//! final size (the stacks of [`ReadState`]) another 2% (412k to 385k in all); the writer takes about
//! a third off `passthrough` (234k to 149k).

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use crate::value::{JMap, JsonSeed, JsonVisitor, ListKind, ReadState, Value};

/// Parses JSON text: objects become `LinkedHashMap`s, arrays `JSONArray`s, integers
/// `Integer` or `Long`, other numbers `Double`. Repeated object keys are stored once.
/// Plain JSON goes through [`read_plain`]; anything else (and anything it refuses, invalid
/// JSON included, so errors are serde_json's) through serde_json.
pub(crate) fn parse(text: &str) -> Result<Value, serde_json::Error> {
    if let Some(v) = read_plain(text) {
        return Ok(v);
    }
    parse_serde(text)
}

/// [`parse`] by serde_json alone.
fn parse_serde(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = serde::de::DeserializeSeed::deserialize(JsonSeed(&mut ReadState::default()), &mut de)?;
    // Trailing characters after the value are an error, as for `serde_json::from_str`.
    de.end()?;
    Ok(v)
}

/// The fast path of [`parse`]: JSON whose objects are plain (up to [`MAX_KEYS`] distinct keys
/// without escapes, nesting up to [`MAX_PLAIN_DEPTH`]) is read here, into the same values
/// serde_json's path makes of it: plain strings and integers of up to 18 digits directly, any
/// other string or number token by serde_json alone ([`serde_token`]). `None` for anything
/// else, and for invalid JSON. Tested against [`parse_serde`].
fn read_plain(text: &str) -> Option<Value> {
    let b = text.as_bytes();
    let mut st = ReadState::default();
    let i = plain_value(text, skip_ws(b, 0), 0, &mut st, None)?;
    (skip_ws(b, i) == b.len()).then(|| st.items.pop()).flatten()
}

/// Reads the value at `i` (after whitespace) and pushes it where its container collects its
/// members: with `key` onto `st.entries` (an object's member), else onto `st.items`. Returns
/// where the text goes on after it.
///
/// Values are pushed here rather than returned: a returned value was copied out of the
/// caller's result slot right after this function wrote it there, a wide load waiting on the
/// narrower stores before it, on every member of the document. Scalars are read inline, in
/// the loop of the container they are in; only containers cost a call ([`plain_container`]).
#[inline(always)]
fn plain_value(text: &str, i: usize, depth: usize, st: &mut ReadState, key: Option<Rc<str>>) -> Option<usize> {
    let b = text.as_bytes();
    match *b.get(i)? {
        b'{' | b'[' => plain_container(text, i, depth, st, key),
        b'"' => match plain_string(text, i + 1) {
            Some((s, next)) => put(st, key, Value::str(s.as_ref()), next),
            // A `\u` escape (or anything else the plain path refuses): serde_json reads the
            // string token alone, as it would in place, so that one such string does not send
            // the whole document to the general path.
            None => {
                let (v, next) = serde_token(text, i, string_end(b, i)?)?;
                put(st, key, v, next)
            }
        },
        b't' => put(st, key, Value::Bool(true), word(b, i, "true")?),
        b'f' => put(st, key, Value::Bool(false), word(b, i, "false")?),
        b'n' => put(st, key, Value::Null, word(b, i, "null")?),
        b'-' | b'0'..=b'9' => match plain_integer(b, i) {
            // Each variant built at its own `put`, in place (see `Value::integer`).
            Some((end, n)) => match i32::try_from(n) {
                Ok(n) => put(st, key, Value::Int(n), end),
                Err(_) => put(st, key, Value::Long(n), end),
            },
            // A fraction, an exponent, a long integer, `-0`: the number token read by
            // serde_json, with its conversions.
            None => {
                let len = b[i..].iter().position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'));
                let (v, next) = serde_token(text, i, len.map_or(b.len(), |n| i + n))?;
                put(st, key, v, next)
            }
        },
        _ => None,
    }
}

/// [`plain_value`] of the object or array at `i`.
fn plain_container(text: &str, i: usize, depth: usize, st: &mut ReadState, key: Option<Rc<str>>) -> Option<usize> {
    let b = text.as_bytes();
    if b[i] == b'{' {
        let mut i = skip_ws(b, i + 1);
        if *b.get(i)? == b'}' {
            return put(st, key, Value::map(JMap::linked()), i + 1);
        }
        if depth == MAX_PLAIN_DEPTH {
            return None;
        }
        let start = st.entries.len();
        loop {
            // A key without escapes, new in this object.
            if *b.get(i)? != b'"' {
                return None;
            }
            let n = b.get(i + 1..)?.iter().position(|&c| STRING_STOP[usize::from(c)])?;
            if b[i + 1 + n] != b'"' {
                return None;
            }
            let member = st.intern(&text[i + 1..i + 1 + n]);
            if st.entries.len() - start >= MAX_KEYS || st.entries[start..].iter().any(|(k, _)| Rc::ptr_eq(k, &member)) {
                return None;
            }
            i = skip_ws(b, i + n + 2);
            if *b.get(i)? != b':' {
                return None;
            }
            let next = plain_value(text, skip_ws(b, i + 1), depth + 1, st, Some(member))?;
            i = skip_ws(b, next);
            match *b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => {
                    let map = Value::map(JMap::linked_from(st.entries.split_off(start)));
                    return put(st, key, map, i + 1);
                }
                _ => return None,
            }
        }
    }
    let mut i = skip_ws(b, i + 1);
    if *b.get(i)? == b']' {
        return put(st, key, Value::List(Default::default(), ListKind::Json), i + 1);
    }
    if depth == MAX_PLAIN_DEPTH {
        return None;
    }
    let start = st.items.len();
    loop {
        let next = plain_value(text, i, depth + 1, st, None)?;
        i = skip_ws(b, next);
        match *b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b']' => {
                let list = Value::List(Rc::new(RefCell::new(st.items.split_off(start))), ListKind::Json);
                return put(st, key, list, i + 1);
            }
            _ => return None,
        }
    }
}

/// Pushes a value [`plain_value`] read: with its key onto the open object's entries, else
/// onto the open array's items (or, for the document itself, alone). Built where it is
/// pushed, each value goes to the stack in one piece.
#[inline(always)]
fn put(st: &mut ReadState, key: Option<Rc<str>>, v: Value, next: usize) -> Option<usize> {
    match key {
        Some(key) => st.entries.push((key, v)),
        None => st.items.push(v),
    }
    Some(next)
}

/// Where the string whose opening quote is at `quote` ends (after its closing quote),
/// stepping over escaped characters.
fn string_end(b: &[u8], quote: usize) -> Option<usize> {
    let mut i = quote + 1;
    loop {
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// The scalar token `text[start..end]` as serde_json reads it (a token means the same alone as
/// in a document), and `end`; `None` when serde_json refuses it, for the caller to take the
/// general path, which gives serde_json's error for the whole document.
fn serde_token(text: &str, start: usize, end: usize) -> Option<(Value, usize)> {
    Some((parse_serde(text.get(start..end)?).ok()?, end))
}

/// The plain integer at `start`, and where it ends: at most 18 digits, no leading zero, not
/// `-0`, no fraction or exponent after it; `None` otherwise. (18 digits and a sign always
/// fit an `i64`.)
fn plain_integer(b: &[u8], start: usize) -> Option<(usize, i64)> {
    let mut i = start;
    let negative = b[i] == b'-';
    if negative {
        i += 1;
    }
    let digits = i;
    let mut n = 0i64;
    while let Some(&c) = b.get(i)
        && c.is_ascii_digit()
    {
        if i - digits == 18 {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
        i += 1;
    }
    let len = i - digits;
    // No digits, a leading zero, `-0` (which is 0), a fraction or an exponent: not plain.
    if len == 0 || (b[digits] == b'0' && (len > 1 || negative)) {
        return None;
    }
    if matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    Some((i, if negative { -n } else { n }))
}

/// Where `word` ends if it is at `i`.
fn word(b: &[u8], i: usize, word: &str) -> Option<usize> {
    let end = i + word.len();
    (b.get(i..end)? == word.as_bytes()).then_some(end)
}

/// Writes JSON text as [`Value::json_into`] would write what [`parse`] reads from it, without
/// building the values (`$input.json('$')` on a payload no other `$input` call has read).
/// Plain JSON goes through [`write_plain`]; anything else through the same `serde_json`
/// reader as [`parse`] with the same conversions, so the output is identical; `None` (and
/// `out` in an unspecified state) on anything neither handles, for the caller to take the
/// general path: invalid JSON, a repeated key (kept once, where it was first written, with
/// the last value), an object of many keys.
pub(crate) fn write_compact(text: &str, out: &mut String) -> Option<()> {
    let mark = out.len();
    if write_plain(text, out).is_some() {
        return Some(());
    }
    out.truncate(mark);
    let mut de = serde_json::Deserializer::from_str(text);
    let mut keys = Vec::new();
    serde::de::DeserializeSeed::deserialize(Writer { out, keys: &mut keys }, &mut de).ok()?;
    de.end().ok()
}

/// Keys of one object compared for repeats, at most (more: the general path).
const MAX_KEYS: usize = 32;

/// Deepest nesting [`write_plain`] follows; deeper documents take the `serde_json` path, which
/// refuses them past its own limit of 128 with its own error.
const MAX_PLAIN_DEPTH: usize = 64;

/// Bytes that end the plain part of a JSON string: its closing quote, an escape, and the
/// control characters JSON does not allow unescaped.
const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The fast path of [`write_compact`], a plain byte scanner for the JSON most payloads are:
/// strings without `\u` escapes, integers of up to 18 digits, `true`, `false`, `null`, objects
/// of up to [`MAX_KEYS`] distinct keys. Such text needs no number conversion: strings are
/// decoded and re-escaped as [`Value::json_into`] escapes them, integers are written as they
/// are, and the rest is the text without its whitespace. Anything else (a fraction or an
/// exponent, a longer integer, `-0`, a `\u` escape, a key with any escape, a repeated key,
/// invalid JSON) is `None`, and `write_compact` reads the text with `serde_json` instead.
/// Whatever this accepts, `serde_json` accepts and converts to the same output (tested
/// against [`parse`]).
fn write_plain(text: &str, out: &mut String) -> Option<()> {
    let b = text.as_bytes();
    // The compact text is at most as long as the text, but for strings re-escaped.
    out.reserve(b.len());
    // The open containers, innermost in bit 0 (1: an object); at most 64 of them.
    let mut objects = 0u64;
    let mut depth = 0usize;
    // The keys of the open objects as ranges of the text (between the quotes), innermost
    // object's last, with where each open object's keys start.
    let mut keys: Vec<(u32, u32)> = Vec::new();
    let mut key_starts: Vec<usize> = Vec::new();
    if u32::try_from(b.len()).is_err() {
        return None;
    }
    let mut i = skip_ws(b, 0);
    loop {
        // A value starts at `i`.
        let c = *b.get(i)?;
        match c {
            b'"' => i = string_into(text, i, out)?,
            b'{' | b'[' => {
                i = skip_ws(b, i + 1);
                // `}` and `]` are two past `{` and `[`.
                let close = c + 2;
                if *b.get(i)? == close {
                    out.push(char::from(c));
                    out.push(char::from(close));
                    i += 1;
                } else {
                    if depth == MAX_PLAIN_DEPTH {
                        return None;
                    }
                    depth += 1;
                    out.push(char::from(c));
                    if c == b'{' {
                        objects = (objects << 1) | 1;
                        key_starts.push(keys.len());
                        i = key_into(text, i, out, &mut keys, key_starts[key_starts.len() - 1])?;
                    } else {
                        objects <<= 1;
                    }
                    continue;
                }
            }
            b'-' | b'0'..=b'9' => {
                let (end, _) = plain_integer(b, i)?;
                out.push_str(&text[i..end]);
                i = end;
            }
            b't' => i = literal(b, i, "true", out)?,
            b'f' => i = literal(b, i, "false", out)?,
            b'n' => i = literal(b, i, "null", out)?,
            _ => return None,
        }
        // A value ended: separators and closing brackets up to where the next value starts.
        loop {
            i = skip_ws(b, i);
            if depth == 0 {
                // The top-level value: nothing but whitespace may follow.
                return (i == b.len()).then_some(());
            }
            let object = objects & 1 == 1;
            match (*b.get(i)?, object) {
                (b',', _) => {
                    out.push(',');
                    i = skip_ws(b, i + 1);
                    if object {
                        i = key_into(text, i, out, &mut keys, key_starts[key_starts.len() - 1])?;
                    }
                    break;
                }
                (b'}', true) => {
                    out.push('}');
                    keys.truncate(key_starts.pop()?);
                }
                (b']', false) => out.push(']'),
                _ => return None,
            }
            objects >>= 1;
            depth -= 1;
            i += 1;
        }
    }
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Writes the string that starts at `quote` as [`Value::json_into`] writes it; returns where
/// the text goes on.
#[inline]
fn string_into(text: &str, quote: usize, out: &mut String) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = quote + 1;
    while !crate::value::MAY_ESCAPE[usize::from(*b.get(j)?)] {
        j += 1;
    }
    if b[j] == b'"' {
        // Nothing in it to escape, in the input or the output: as it stands.
        out.push_str(&text[quote..=j]);
        return Some(j + 1);
    }
    let (s, next) = plain_string(text, quote + 1)?;
    crate::value::json_string(&s, out);
    Some(next)
}

/// The string whose first character is at `start` (after its opening quote), and where the
/// text goes on after its closing quote; `None` for a control character or a `\u` escape.
/// The other escapes (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`) are decoded.
fn plain_string(text: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    let mut i = start;
    while !STRING_STOP[usize::from(*b.get(i)?)] {
        i += 1;
    }
    // Quotes and backslashes are ASCII, so every slice below ends on a character boundary.
    match b[i] {
        b'"' => return Some((Cow::Borrowed(&text[start..i]), i + 1)),
        b'\\' => {}
        _ => return None,
    }
    let mut decoded = String::with_capacity(i - start + 16);
    let mut run = start;
    loop {
        match b[i] {
            b'"' => {
                decoded.push_str(&text[run..i]);
                return Some((Cow::Owned(decoded), i + 1));
            }
            b'\\' => {
                decoded.push_str(&text[run..i]);
                decoded.push(match *b.get(i + 1)? {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    _ => return None,
                });
                i += 2;
                run = i;
            }
            _ => return None,
        }
        while !STRING_STOP[usize::from(*b.get(i)?)] {
            i += 1;
        }
    }
}

/// An object key at `i` (after whitespace), its colon and the whitespace after it: writes
/// `"key":` and returns where the value starts. `None` for a key with an escape, a repeated
/// key or too many keys. `keys[start..]` are the object's keys so far, as ranges of the text.
#[inline]
fn key_into(text: &str, i: usize, out: &mut String, keys: &mut Vec<(u32, u32)>, start: usize) -> Option<usize> {
    let b = text.as_bytes();
    if *b.get(i)? != b'"' {
        return None;
    }
    let mut j = i + 1;
    while !crate::value::MAY_ESCAPE[usize::from(*b.get(j)?)] {
        j += 1;
    }
    if b[j] == b'"' {
        out.push_str(&text[i..=j]);
    } else {
        // A key with an escape is left to the general path, which compares keys as written
        // out; one with a character the output escapes is written escaped.
        let (Cow::Borrowed(key), next) = plain_string(text, i + 1)? else {
            return None;
        };
        crate::value::json_string(key, out);
        j = next - 1;
    }
    // The key as it is in the text: without escapes, the same text is the same key. (The
    // text's length fits in `u32`: `write_plain` checked.)
    let key = &b[i + 1..j];
    let seen = &keys[start..];
    if seen.len() >= MAX_KEYS
        || seen.iter().any(|&(s, e)| (e - s) as usize == key.len() && &b[s as usize..e as usize] == key)
    {
        return None;
    }
    keys.push(((i + 1) as u32, j as u32));
    let i = skip_ws(b, j + 1);
    if *b.get(i)? != b':' {
        return None;
    }
    out.push(':');
    Some(skip_ws(b, i + 1))
}

fn literal(b: &[u8], i: usize, w: &str, out: &mut String) -> Option<usize> {
    // A letter right after it (`nulls`) is invalid: the separator check that follows refuses it.
    let end = word(b, i, w)?;
    out.push_str(w);
    Some(end)
}

/// Writes one JSON value. `keys` holds where the keys of the objects being written are in
/// `out`, to find a repeated key.
struct Writer<'o> {
    out: &'o mut String,
    keys: &'o mut Vec<(usize, usize)>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Writer<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Writer<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.push_str("null");
        Ok(())
    }

    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.out.push_str(if b { "true" } else { "false" });
        Ok(())
    }

    // Numbers become the values `parse` makes of them.
    fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<(), E> {
        JsonVisitor(&mut ReadState::default()).visit_i64::<E>(i)?.json_into(self.out);
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<(), E> {
        JsonVisitor(&mut ReadState::default()).visit_u64::<E>(u)?.json_into(self.out);
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<(), E> {
        JsonVisitor(&mut ReadState::default()).visit_f64::<E>(f)?.json_into(self.out);
        Ok(())
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        crate::value::json_string(s, self.out);
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push('[');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(',');
            }
            if seq.next_element_seed(Writer { out: &mut *self.out, keys: &mut *self.keys })?.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(']');
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push('{');
        let base = self.keys.len();
        loop {
            let mark = self.out.len();
            if base != self.keys.len() {
                self.out.push(',');
            }
            let start = self.out.len();
            if map.next_key_seed(KeyWriter(&mut *self.out))?.is_none() {
                self.out.truncate(mark);
                break;
            }
            // The same key is the same escaped text.
            let end = self.out.len();
            let key = &self.out[start..end];
            if self.keys.len() - base >= MAX_KEYS || self.keys[base..].iter().any(|&(s, e)| self.out[s..e] == *key) {
                return Err(serde::de::Error::custom("a repeated key"));
            }
            self.keys.push((start, end));
            self.out.push(':');
            map.next_value_seed(Writer { out: &mut *self.out, keys: &mut *self.keys })?;
        }
        self.keys.truncate(base);
        self.out.push('}');
        Ok(())
    }
}

/// Writes an object key.
struct KeyWriter<'o>(&'o mut String);

impl<'de> serde::de::DeserializeSeed<'de> for KeyWriter<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyWriter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        crate::value::json_string(s, self.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_payload_is_the_parsed_payload_as_json() {
        for text in [
            r#"{"items": [{"id": 1, "name": "a/b", "price": 2.50, "qty": -0}], "note": "a \"q\""}"#,
            r#"[1.0, 1e5, -0.0, 12345678901234567890, 9223372036854775807, 2147483648, 1.5E-7, 1e21]"#,
            r#"{"s": "caf\u00e9 \/ \\ \n \u0001 \u007f \u0085 \u2028 \ud83d\ude00 é", "\u00e9": null}"#,
            "{\"a\":\t[ ]\r\n, \"b\" : { } , \"c\": [[true, false]]}",
            r#""just a string""#,
            "42",
        ] {
            let mut out = String::new();
            assert!(write_compact(text, &mut out).is_some(), "{text}");
            assert_eq!(out, parse(text).unwrap().to_json(), "{text}");
        }
        // Repeated keys (also spelled differently), invalid JSON and trailing text take the
        // general path.
        for text in [r#"{"a":1,"b":2,"a":3}"#, r#"{"b":{"a":1,"\u0061":2}}"#, "{", "[1,]", "{} x", ""] {
            assert!(write_compact(text, &mut String::new()).is_none(), "{text}");
        }
    }

    /// A small deterministic generator (xorshift), so that failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    const WS: [&str; 5] = ["", "", " ", "\n  ", "\t\r"];
    const SCALARS: [&str; 37] = [
        "0",
        "-7",
        "12",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "-",
        "123456789012345678",
        "-123456789012345678",
        "1234567890123456789",
        "-0",
        "1.5",
        "1e3",
        "2E-2",
        "01",
        "true",
        "false",
        "null",
        r#""a""#,
        r#""b""#,
        r#""""#,
        "\"a/é\u{85}\u{2028}€\u{7f}\"",
        r#""q\"q""#,
        r#""\n""#,
        r#""\u0061""#,
        r#""\ud83d\ude00""#,
        r#""\ud800""#,
        "1e400",
        "-1.0E+2",
        "\"x\u{1}\"",
        "\"😀\"",
        r#""a b""#,
        r#""\/\\\b\f\r\t""#,
        r#""\x""#,
        r#""tail\""#,
        r#""é\"\"é""#,
    ];
    const KEYS: [&str; 10] = [
        r#""a""#,
        r#""b""#,
        r#""c d""#,
        r#""\u0061""#,
        r#""é""#,
        r#""a\n""#,
        r#""a/b""#,
        "\"\u{85}\"",
        "\"\u{2028}\"",
        "\"\u{7f}\"",
    ];

    fn value(r: &mut Rng, depth: usize, out: &mut String) {
        out.push_str(WS[r.below(WS.len())]);
        match if depth > 4 { 0 } else { r.below(4) } {
            0 | 1 => out.push_str(SCALARS[r.below(SCALARS.len())]),
            2 => {
                out.push('[');
                for n in 0..r.below(4) {
                    if n > 0 {
                        out.push(',');
                    }
                    value(r, depth + 1, out);
                }
                out.push_str(WS[r.below(WS.len())]);
                out.push(']');
            }
            _ => {
                out.push('{');
                for n in 0..r.below(4) {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(WS[r.below(WS.len())]);
                    out.push_str(KEYS[r.below(KEYS.len())]);
                    out.push_str(WS[r.below(WS.len())]);
                    out.push(':');
                    value(r, depth + 1, out);
                }
                out.push_str(WS[r.below(WS.len())]);
                out.push('}');
            }
        }
        out.push_str(WS[r.below(WS.len())]);
    }

    /// Whatever the plain scanner accepts, the parser accepts and writes the same way; whatever
    /// the plain reader accepts, serde_json reads into the same values; and both do take the
    /// plain documents (else this test could not fail).
    #[test]
    fn the_plain_scanner_agrees_with_the_parser() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut plain, mut valid) = (0, 0);
        for _ in 0..40_000 {
            let mut text = String::new();
            value(&mut r, 0, &mut text);
            // Every fourth document is damaged: a byte dropped, or a stray one inserted.
            if r.below(4) == 0 && !text.is_empty() {
                let at = r.below(text.len());
                if text.is_char_boundary(at) && text.is_char_boundary(at + 1) {
                    if r.below(2) == 0 {
                        text.remove(at);
                    } else {
                        text.insert(at, [',', ':', '"', '}', ']', 'x', '-'][r.below(7)]);
                    }
                }
            }
            let parsed = parse_serde(&text);
            valid += usize::from(parsed.is_ok());
            let mut out = String::new();
            let read = read_plain(&text);
            if write_plain(&text, &mut out).is_some() {
                plain += 1;
                let parsed = parsed.as_ref().unwrap_or_else(|e| panic!("plain accepted invalid JSON {text:?}: {e}"));
                assert_eq!(out, parsed.to_json(), "{text:?}");
                assert!(read.is_some(), "the reader refused what the scanner took: {text:?}");
            }
            // What the plain reader takes, serde_json reads into the same values: the same
            // variants (Integer or Long, JSONArray, LinkedHashMap), keys, order and capacity.
            if let Some(read) = read {
                let parsed = parsed.unwrap_or_else(|e| panic!("the reader accepted invalid JSON {text:?}: {e}"));
                assert_eq!(format!("{read:?}"), format!("{parsed:?}"), "{text:?}");
            }
        }
        assert!(plain > 5_000 && valid > plain, "plain {plain}, valid {valid}");
        // Documents the scanner must take, written as the parser writes them.
        let many_keys = format!("{{{}}}", (0..32).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
        let deep = format!("{}1{}", "[".repeat(64), "]".repeat(64));
        for text in [
            r#"[{"a":1},{"a":2}]"#,
            r#"{"a":{"b":1},"b":2}"#,
            r#"{"a":[{"b":1},{"b":2}],"b":3}"#,
            "{\"a/b\":\"c/d\",\"\u{85}\":0,\"\u{2028}\":\"\u{7f}\"}",
            many_keys.as_str(),
            deep.as_str(),
            " \t\r\n{ } ",
        ] {
            let mut out = String::new();
            assert!(write_plain(text, &mut out).is_some(), "{text}");
            assert_eq!(out, parse(text).unwrap().to_json(), "{text}");
            let read = read_plain(text).unwrap_or_else(|| panic!("the reader refused {text}"));
            assert_eq!(format!("{read:?}"), format!("{:?}", parse_serde(text).unwrap()), "{text}");
        }
        // Tokens the reader hands to serde_json one by one, in a document it still reads.
        for text in [
            r#"{"price": 3.5, "name": "caf\u00e9", "n": 12345678901234567890, "z": -0, "e": 1E2}"#,
            r#"["\ud83d\ude00", 2.5e-3]"#,
        ] {
            let read = read_plain(text).unwrap_or_else(|| panic!("the reader refused {text}"));
            assert_eq!(format!("{read:?}"), format!("{:?}", parse_serde(text).unwrap()), "{text}");
        }
        // Past the limits: the serde_json path (same output, or the same refusal).
        let too_many = format!("{{{}}}", (0..33).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
        let too_deep = format!("{}1{}", "[".repeat(65), "]".repeat(65));
        for text in [too_many, too_deep] {
            assert!(write_plain(&text, &mut String::new()).is_none(), "{text}");
            assert!(read_plain(&text).is_none(), "{text}");
            let mut out = String::new();
            if write_compact(&text, &mut out).is_some() {
                assert_eq!(out, parse(&text).unwrap().to_json());
            }
        }
        let payload = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../bench/vtl/input.json"))
            .expect("the benchmark payload");
        assert!(write_plain(payload.trim(), &mut String::new()).is_some());
        assert!(read_plain(&payload).is_some());
    }
}
