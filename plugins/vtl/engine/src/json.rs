//! Reading JSON payloads into template values, and writing them out again.
//!
//! Both directions have a fast path for the JSON most payloads are (strings without `\u`
//! escapes, integers of up to 18 digits, objects of distinct keys without escapes):
//! [`read_doc`] reads it into the nodes of a lazily read document ([`crate::Doc`]; other
//! string and number tokens are handed to serde_json one by one) and [`write_plain`] writes it
//! out compact (`$input.json('$')`), each a plain byte scanner. Anything else goes to
//! `serde_json`, which reads the text straight into template values (through [`JsonSeed`], no
//! intermediate `serde_json::Value`), so that values and error messages are exactly
//! `serde_json`'s; the fast paths are tested to agree with it. Both find the end of a string
//! eight bytes at a time ([`string_stop`]), and the writer copies the text between two
//! stretches of whitespace in one piece ([`copy_run`]). (The history of these, with their
//! numbers, is in `bench/PROFILE.md`.)

use std::borrow::Cow;
use std::rc::Rc;

use crate::doc::{Doc, Node};
use crate::value::{JsonSeed, JsonVisitor, ReadState, Value};

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

/// Reads JSON text lazily (see [`crate::doc`]): a plain document (as [`read_doc`] takes it)
/// into [`Node`]s, its top-level object or array as a value that points into them; anything
/// else as [`parse`] reads it.
pub(crate) fn parse_lazy(text: &str) -> Result<Value, serde_json::Error> {
    #[cfg(test)]
    if EAGER.with(std::cell::Cell::get) {
        return parse(text);
    }
    match read_doc(text) {
        Some(doc) => Ok(Rc::new(doc).value(0)),
        None => parse_serde(text),
    }
}

#[cfg(test)]
thread_local! {
    /// Makes [`parse_lazy`] read documents into ordinary maps and lists, for the tests that
    /// compare the two ways.
    pub(crate) static EAGER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The fast path of [`parse`]: a plain document (see [`read_doc`]) made into values, the same
/// values serde_json's path makes of it. `None` for anything else, and for invalid JSON.
/// Tested against [`parse_serde`].
fn read_plain(text: &str) -> Option<Value> {
    let doc = Rc::new(read_doc(text)?);
    let v = doc.make(0);
    doc.forget();
    Some(v)
}

/// Reads JSON whose objects are plain (distinct keys without escapes, nesting up to
/// [`MAX_PLAIN_DEPTH`]; past [`MAX_KEYS`] keys, a key of a length seen before in its object
/// sends the document to serde_json, so that comparing keys stays cheap) into [`Node`]s: plain strings and integers of up to 18
/// digits directly, any other string or number token by serde_json alone ([`serde_token`]).
/// `None` for anything else, and for invalid JSON.
fn read_doc(text: &str) -> Option<Doc> {
    let b = text.as_bytes();
    // Offsets are kept as `u32`.
    u32::try_from(b.len()).ok()?;
    let mut r = Reader { nodes: Vec::with_capacity(b.len() / 6 + 1), others: Vec::new() };
    let i = r.value(text, skip_ws(b, 0), 0)?;
    (skip_ws(b, i) == b.len()).then(|| Doc::new(text, r.nodes, r.others))
}

/// The state of [`read_doc`].
struct Reader {
    nodes: Vec<Node>,
    others: Vec<Value>,
}

impl Reader {
    /// Reads the value at `i` (after whitespace) into nodes; returns where the text goes on
    /// after it. Scalars are read inline, in the loop of the container they are in.
    #[inline(always)]
    fn value(&mut self, text: &str, i: usize, depth: usize) -> Option<usize> {
        let b = text.as_bytes();
        match *b.get(i)? {
            b'{' => self.object(text, i, depth),
            b'[' => self.array(text, i, depth),
            b'"' => {
                let (end, closed) = string_stop::<false>(b, i + 1);
                if closed {
                    self.nodes.push(Node::Str((i + 1) as u32, end as u32));
                    return Some(end + 1);
                }
                // Escapes are decoded here; a `\u` escape (or anything else the plain path
                // refuses) is read by serde_json alone, as it would be in place, so that one
                // such string does not send the whole document to the general path.
                let (v, next) = match plain_string(text, i + 1) {
                    Some((s, next)) => (Value::str(s.as_ref()), next),
                    None => serde_token(text, i, string_end(b, i)?)?,
                };
                self.other(v);
                Some(next)
            }
            b't' => {
                self.nodes.push(Node::Bool(true));
                word(b, i, "true")
            }
            b'f' => {
                self.nodes.push(Node::Bool(false));
                word(b, i, "false")
            }
            b'n' => {
                self.nodes.push(Node::Null);
                word(b, i, "null")
            }
            b'-' | b'0'..=b'9' => match plain_integer(b, i) {
                Some((end, n)) => {
                    self.nodes.push(match i32::try_from(n) {
                        Ok(n) => Node::Int(n),
                        Err(_) => Node::Long(n),
                    });
                    Some(end)
                }
                // A fraction, an exponent, a long integer, `-0`: the number token read by
                // serde_json, with its conversions.
                None => {
                    let len = b[i..].iter().position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'));
                    let (v, next) = serde_token(text, i, len.map_or(b.len(), |n| i + n))?;
                    self.other(v);
                    Some(next)
                }
            },
            _ => None,
        }
    }

    /// A value serde_json read.
    fn other(&mut self, v: Value) {
        self.nodes.push(Node::Other(self.others.len() as u32));
        self.others.push(v);
    }

    /// The object at `i`.
    fn object(&mut self, text: &str, i: usize, depth: usize) -> Option<usize> {
        let b = text.as_bytes();
        let at = self.nodes.len();
        self.nodes.push(Node::Object(0, 0));
        let mut i = skip_ws(b, i + 1);
        if *b.get(i)? == b'}' {
            self.nodes[at] = Node::Object(0, self.nodes.len() as u32);
            return Some(i + 1);
        }
        if depth == MAX_PLAIN_DEPTH {
            return None;
        }
        // The lengths of the keys so far, one bit each (63 for any longer): a key of a new
        // length is new, and only one of a length seen is compared with the keys before it.
        let mut lengths = 0u64;
        let mut n = 0;
        loop {
            // A key without escapes, new in this object.
            if *b.get(i)? != b'"' {
                return None;
            }
            let (end, closed) = string_stop::<false>(b, i + 1);
            if !closed {
                return None;
            }
            let bit = 1u64 << (end - (i + 1)).min(63);
            if lengths & bit != 0 && (n as usize >= MAX_KEYS || self.repeated(b, at, i + 1, end)) {
                return None;
            }
            lengths |= bit;
            self.nodes.push(Node::Key((i + 1) as u32, end as u32, at as u32));
            i = skip_ws(b, end + 1);
            if *b.get(i)? != b':' {
                return None;
            }
            i = skip_ws(b, self.value(text, skip_ws(b, i + 1), depth + 1)?);
            n += 1;
            match *b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => {
                    self.nodes[at] = Node::Object(n, self.nodes.len() as u32);
                    return Some(i + 1);
                }
                _ => return None,
            }
        }
    }

    /// Whether the object whose node is at `at`, being read, already has the key
    /// `b[start..end]`.
    #[cold]
    fn repeated(&self, b: &[u8], at: usize, start: usize, end: usize) -> bool {
        let key = &b[start..end];
        let mut node = at + 1;
        while node < self.nodes.len() {
            let Node::Key(s, e, _) = self.nodes[node] else { return false };
            if &b[s as usize..e as usize] == key {
                return true;
            }
            node = match self.nodes.get(node + 1) {
                Some(Node::Object(_, end) | Node::Array(_, end)) => *end as usize,
                _ => node + 2,
            };
        }
        false
    }

    /// The array at `i`.
    fn array(&mut self, text: &str, i: usize, depth: usize) -> Option<usize> {
        let b = text.as_bytes();
        let at = self.nodes.len();
        self.nodes.push(Node::Array(0, 0));
        let mut i = skip_ws(b, i + 1);
        if *b.get(i)? == b']' {
            self.nodes[at] = Node::Array(0, self.nodes.len() as u32);
            return Some(i + 1);
        }
        if depth == MAX_PLAIN_DEPTH {
            return None;
        }
        let mut n = 0;
        loop {
            i = skip_ws(b, self.value(text, i, depth + 1)?);
            n += 1;
            match *b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b']' => {
                    self.nodes[at] = Node::Array(n, self.nodes.len() as u32);
                    return Some(i + 1);
                }
                _ => return None,
            }
        }
    }
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
#[inline(always)]
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
/// reader as [`parse`] with the same conversions, so the output is identical; `None` on
/// anything neither handles, for the caller to take the
/// general path: invalid JSON, a repeated key (kept once, where it was first written, with
/// the last value), an object of many keys.
pub(crate) fn write_compact(text: &str) -> Option<String> {
    if let Some(plain) = write_plain(text) {
        return Some(plain);
    }
    let mut out = String::with_capacity(text.len());
    let mut de = serde_json::Deserializer::from_str(text);
    let mut keys = Vec::new();
    serde::de::DeserializeSeed::deserialize(Writer { out: &mut out, keys: &mut keys }, &mut de).ok()?;
    de.end().ok()?;
    Some(out)
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

/// Eight bytes at a time, as one `u64` (the first byte lowest): masks with the high bit set in
/// each byte that is equal to `c`, below `n` (`n` ≤ 128), or above `n` (`n` ≤ 127). A byte's
/// borrow or carry can spill into the byte after it, never into the bytes before, so the
/// lowest flagged byte is always right, and that is the only one [`string_stop`] and
/// [`digits_end`] read.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline(always)]
fn bytes_equal(x: u64, c: u8) -> u64 {
    let y = x ^ (ONES * u64::from(c));
    y.wrapping_sub(ONES) & !y & HIGHS
}

#[inline(always)]
fn bytes_below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS
}

#[inline(always)]
fn bytes_above(x: u64, n: u8) -> u64 {
    (x.wrapping_add(ONES * u64::from(127 - n)) | x) & HIGHS
}

/// The eight bytes at `i`, if there are eight.
#[inline(always)]
fn chunk(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*b.get(i..)?.first_chunk::<8>()?))
}

/// Where the first byte at or after `i` is that may end the plain part of a string: one that
/// [`STRING_STOP`] flags (a quote, a backslash, a control character), and for the writer
/// (`WRITER`) also `/` and every byte from 0x7f on, a superset of [`crate::value::MAY_ESCAPE`]
/// for the caller to look at; `b.len()` if none. Eight bytes a step, so that the end of a
/// short string is found without a branch per byte (the loop's exit was mispredicted on
/// most strings of a payload). With it, whether that byte is a quote.
#[inline(always)]
fn string_stop<const WRITER: bool>(b: &[u8], mut i: usize) -> (usize, bool) {
    while let Some(x) = chunk(b, i) {
        let quotes = bytes_equal(x, b'"');
        let mut m = quotes | bytes_equal(x, b'\\') | bytes_below(x, 0x20);
        if WRITER {
            m |= bytes_equal(x, b'/') | bytes_above(x, 0x7e);
        }
        if m != 0 {
            // Whether it is a quote, from the masks: no second load of the byte to wait for.
            return (i + (m.trailing_zeros() / 8) as usize, quotes & m & m.wrapping_neg() != 0);
        }
        i += 8;
    }
    while i < b.len() && !(STRING_STOP[usize::from(b[i])] || (WRITER && (b[i] == b'/' || b[i] >= 0x7f))) {
        i += 1;
    }
    (i, b.get(i) == Some(&b'"'))
}

/// Where the run of ASCII digits at `i` ends, eight bytes a step as [`string_stop`].
#[inline(always)]
fn digits_end(b: &[u8], mut i: usize) -> usize {
    while let Some(x) = chunk(b, i) {
        let m = bytes_below(x, b'0') | bytes_above(x, b'9');
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// Where the plain part of the string whose first character is at `j` ends for the writer:
/// at its closing quote (`true`) or at the first byte [`crate::value::MAY_ESCAPE`] flags.
#[inline(always)]
fn writer_stop(b: &[u8], mut j: usize) -> Option<(usize, bool)> {
    loop {
        let (at, quote) = string_stop::<true>(b, j);
        if quote || crate::value::MAY_ESCAPE[usize::from(*b.get(at)?)] {
            return Some((at, quote));
        }
        // A byte from 0x80 on that needs no escape.
        j = at + 1;
    }
}

/// Writes `b[from..to]` to `out`: runs of up to 16 bytes
/// as 16 bytes copied and cut back, so that the copy is one fixed-size move and not a call
/// to `memcpy`, which branches on the length.
#[inline(always)]
fn copy_run(b: &[u8], from: usize, to: usize, out: &mut Vec<u8>) {
    let len = out.len();
    match b.get(from..).and_then(<[u8]>::first_chunk::<16>) {
        Some(chunk) if to - from <= 16 => {
            out.extend_from_slice(chunk);
            out.truncate(len + (to - from));
        }
        _ => out.extend_from_slice(&b[from..to]),
    }
}

/// The fast path of [`write_compact`], a plain byte scanner for the JSON most payloads are:
/// strings without `\u` escapes, integers of up to 18 digits, `true`, `false`, `null`, objects
/// of up to [`MAX_KEYS`] distinct keys. Such text needs no number conversion: strings are
/// decoded and re-escaped as [`Value::json_into`] escapes them, integers are written as they
/// are, and the rest is the text without its whitespace. Anything else (a fraction or an
/// exponent, a longer integer, `-0`, a `\u` escape, a key with any escape, a repeated key,
/// invalid JSON) is `None`, and `write_compact` reads the text with `serde_json` instead.
/// Whatever this accepts, `serde_json` accepts and converts to the same output (tested
/// against [`parse`]).
fn write_plain(text: &str) -> Option<String> {
    let b = text.as_bytes();
    // The compact text is at most as long as the text, but for strings re-escaped; bytes
    // until the end, where they are checked to be UTF-8 again (they are: whole characters of
    // `text`, and escapes), for the sake of byte-sized copies.
    let mut out = Vec::with_capacity(b.len() + 16);
    let out = &mut out;
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
    // The output is the text without its whitespace: the text from `run` on is written out
    // as it stands when the scan comes to whitespace (or to a string it rewrites), in one
    // piece instead of token by token.
    let mut run = i;
    loop {
        // A value starts at `i`.
        let c = *b.get(i)?;
        match c {
            b'"' => i = string_at(text, i, &mut run, out)?,
            b'{' | b'[' => {
                i = gap(text, i + 1, &mut run, out);
                // `}` and `]` are two past `{` and `[`.
                if *b.get(i)? == c + 2 {
                    i += 1;
                } else {
                    if depth == MAX_PLAIN_DEPTH {
                        return None;
                    }
                    depth += 1;
                    if c == b'{' {
                        objects = (objects << 1) | 1;
                        key_starts.push(keys.len());
                        i = key_at(text, i, &mut run, out, &mut keys, key_starts[key_starts.len() - 1])?;
                    } else {
                        objects <<= 1;
                    }
                    continue;
                }
            }
            b'-' | b'0'..=b'9' => i = integer_end(b, i)?,
            b't' => i = word(b, i, "true")?,
            b'f' => i = word(b, i, "false")?,
            b'n' => i = word(b, i, "null")?,
            _ => return None,
        }
        // A value ended: separators and closing brackets up to where the next value starts.
        loop {
            i = gap(text, i, &mut run, out);
            if depth == 0 {
                // The top-level value: nothing but whitespace may follow.
                if i != b.len() {
                    return None;
                }
                copy_run(b, run, i, out);
                return String::from_utf8(std::mem::take(out)).ok();
            }
            let object = objects & 1 == 1;
            match (*b.get(i)?, object) {
                (b',', _) => {
                    i = gap(text, i + 1, &mut run, out);
                    if object {
                        i = key_at(text, i, &mut run, out, &mut keys, key_starts[key_starts.len() - 1])?;
                    }
                    break;
                }
                (b'}', true) => keys.truncate(key_starts.pop()?),
                (b']', false) => {}
                _ => return None,
            }
            objects >>= 1;
            depth -= 1;
            i += 1;
        }
    }
}

/// Where the whitespace at `i` ends, the text from `run` up to it written out first; `i`
/// itself when no whitespace is there.
#[inline(always)]
fn gap(text: &str, i: usize, run: &mut usize, out: &mut Vec<u8>) -> usize {
    let b = text.as_bytes();
    if !matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        return i;
    }
    copy_run(b, *run, i, out);
    *run = skip_ws(b, i + 1);
    *run
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The string that starts at `quote`, written as [`Value::json_into`] writes it: as it stands
/// when nothing in it needs an escape in the output or decoding in the input (left in the run),
/// else decoded and escaped after the run written so far. Returns where the text goes on.
#[inline(always)]
fn string_at(text: &str, quote: usize, run: &mut usize, out: &mut Vec<u8>) -> Option<usize> {
    let b = text.as_bytes();
    let (j, closed) = writer_stop(b, quote + 1)?;
    if closed {
        return Some(j + 1);
    }
    let (s, next) = plain_string(text, quote + 1)?;
    copy_run(b, *run, quote, out);
    escaped(&s, out);
    *run = next;
    Some(next)
}

/// The string whose first character is at `start` (after its opening quote), and where the
/// text goes on after its closing quote; `None` for a control character or a `\u` escape.
/// The other escapes (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`) are decoded.
fn plain_string(text: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    let (mut i, closed) = string_stop::<false>(b, start);
    // Quotes and backslashes are ASCII, so every slice below ends on a character boundary.
    if closed {
        return Some((Cow::Borrowed(&text[start..i]), i + 1));
    }
    if *b.get(i)? != b'\\' {
        return None;
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
        i = string_stop::<false>(b, i).0;
        b.get(i)?;
    }
}

/// An object key at `i` (after whitespace), its colon and the whitespace after it, written
/// out as [`string_at`] writes strings; returns where the value starts. `None` for a key with
/// an escape, a repeated key or too many keys. `keys[start..]` are the object's keys so far,
/// as ranges of the text.
#[inline(always)]
fn key_at(
    text: &str,
    i: usize,
    run: &mut usize,
    out: &mut Vec<u8>,
    keys: &mut Vec<(u32, u32)>,
    start: usize,
) -> Option<usize> {
    let b = text.as_bytes();
    if *b.get(i)? != b'"' {
        return None;
    }
    let (mut j, closed) = writer_stop(b, i + 1)?;
    if !closed {
        // A key with an escape is left to the general path, which compares keys as written
        // out; one with a character the output escapes is written escaped.
        let (Cow::Borrowed(key), next) = plain_string(text, i + 1)? else {
            return None;
        };
        copy_run(b, *run, i, out);
        escaped(key, out);
        *run = next;
        j = next - 1;
    }
    // The key as it is in the text: without escapes, the same text is the same key. (The
    // text's length fits in `u32`: `write_plain` checked.)
    // Compared as bytes, lengths first: keys of one object mostly differ in length, and
    // `value::same_key` would need each range sliced as a `str` (boundary checks on every
    // key, 5k instructions per `passthrough` render).
    let key = &b[i + 1..j];
    let seen = &keys[start..];
    if seen.len() >= MAX_KEYS {
        return None;
    }
    for &(s, e) in seen {
        if (e - s) as usize == key.len() && &b[s as usize..e as usize] == key {
            return None;
        }
    }
    keys.push(((i + 1) as u32, j as u32));
    let i = gap(text, j + 1, run, out);
    if *b.get(i)? != b':' {
        return None;
    }
    Some(gap(text, i + 1, run, out))
}

/// A string written as [`crate::value::json_string`] writes it.
fn escaped(s: &str, out: &mut Vec<u8>) {
    let mut text = String::new();
    crate::value::json_string(s, &mut text);
    out.extend_from_slice(text.as_bytes());
}

/// Where the plain integer at `start` ends (as [`plain_integer`] takes it, without its value).
#[inline(always)]
fn integer_end(b: &[u8], start: usize) -> Option<usize> {
    let digits = start + usize::from(b[start] == b'-');
    let i = digits_end(b, digits);
    let len = i - digits;
    // No digits, more than 18, a leading zero, `-0`, a fraction or an exponent: not plain.
    if len == 0 || len > 18 || (b[digits] == b'0' && (len > 1 || digits > start)) {
        return None;
    }
    (!matches!(b.get(i), Some(b'.' | b'e' | b'E'))).then_some(i)
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
            let out = write_compact(text).unwrap_or_else(|| panic!("refused {text}"));
            assert_eq!(out, parse(text).unwrap().to_json(), "{text}");
        }
        // Repeated keys (also spelled differently), invalid JSON and trailing text take the
        // general path.
        for text in [r#"{"a":1,"b":2,"a":3}"#, r#"{"b":{"a":1,"\u0061":2}}"#, "{", "[1,]", "{} x", ""] {
            assert!(write_compact(text).is_none(), "{text}");
        }
    }

    /// The eight-byte scanners find the byte the one-byte definitions find, at every offset
    /// within a chunk and past the last whole chunk, on every byte value.
    #[test]
    fn the_word_scanners_agree_with_the_byte_tables() {
        let mut r = Rng(0x2545_F491_4F6C_DD1D);
        // Bytes the scanners stop at, or almost do, and plain ones; digits often enough for
        // runs of every length within a chunk and across two.
        let pool = [
            b'a', b'a', b'a', b'7', b'0', b'9', b'1', b'2', b'3', b'4', b'5', b'6', b'8', b'/', b'.', b'"', b'\\',
            0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xc2, 0xe2, 0xff, 0x00,
        ];
        for _ in 0..20_000 {
            let len = r.below(40);
            let b: Vec<u8> = (0..len)
                .map(|_| if r.below(3) == 0 { r.below(256) as u8 } else { pool[r.below(pool.len())] })
                .collect();
            let from = r.below(len + 1);
            let first = |stop: &dyn Fn(u8) -> bool| (from..len).find(|&i| stop(b[i])).unwrap_or(len);
            let at = first(&|c| STRING_STOP[usize::from(c)]);
            assert_eq!(string_stop::<false>(&b, from), (at, b.get(at) == Some(&b'"')), "{b:?} {from}");
            let at = first(&|c| STRING_STOP[usize::from(c)] || c == b'/' || c >= 0x7f);
            assert_eq!(string_stop::<true>(&b, from), (at, b.get(at) == Some(&b'"')), "{b:?} {from}");
            assert_eq!(digits_end(&b, from), first(&|c| !c.is_ascii_digit()), "{b:?} {from}");
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
            let read = read_plain(&text);
            if let Some(out) = write_plain(&text) {
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
            let out = write_plain(text).unwrap_or_else(|| panic!("the scanner refused {text}"));
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
            assert!(write_plain(&text).is_none(), "{text}");
            assert!(read_plain(&text).is_none(), "{text}");
            // (The serde_json writer refuses objects of many keys too.)
            if let Some(out) = write_compact(&text) {
                assert_eq!(out, parse(&text).unwrap().to_json());
            }
        }
        let payload = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../bench/vtl/input.json"))
            .expect("the benchmark payload");
        assert!(write_plain(payload.trim()).is_some());
        assert!(read_plain(&payload).is_some());
    }
}
