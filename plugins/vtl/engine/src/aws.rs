//! API Gateway's template variables: `$input`, `$util`, `$context` (with
//! `requestOverride` / `responseOverride`) and `$stageVariables`.

use std::cell::RefCell;
use std::rc::Rc;

use std::fmt::Write as _;

use base64::Engine as _;

use crate::render::Env;
use crate::value::{JMap, Object, Value};
use crate::{Error, Result};

/// What a template sees of the request (or, in an integration response, the integration's
/// response).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The payload (`$input.body`).
    pub body: String,
    /// Path parameters.
    pub path: Vec<(String, String)>,
    /// Query string parameters (the last value of each name).
    pub querystring: Vec<(String, String)>,
    /// Headers (the last value of each name).
    pub header: Vec<(String, String)>,
    /// `$context`: a JSON object (nested objects for `authorizer`, `identity`, `error`, …).
    pub context: serde_json::Map<String, serde_json::Value>,
    /// `$stageVariables`.
    pub stage_variables: Vec<(String, String)>,
}

/// Overrides a template set through `$context.requestOverride` / `$context.responseOverride`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `requestOverride.header.*`
    pub request_headers: Vec<(String, String)>,
    /// `requestOverride.path.*`
    pub request_path: Vec<(String, String)>,
    /// `requestOverride.querystring.*`
    pub request_querystring: Vec<(String, String)>,
    /// `responseOverride.header.*`
    pub response_headers: Vec<(String, String)>,
    /// `responseOverride.status` (only an integer in 100..=599 counts).
    pub response_status: Option<u16>,
}

fn pairs_map(pairs: &[(String, String)]) -> Value {
    let mut m = JMap::linked_with_capacity(pairs.len());
    for (k, v) in pairs {
        m.put(k.as_str(), Value::str(v.as_str()));
    }
    Value::map(m)
}

/// Builds the variables of an API Gateway template, those `wanted` only (a template that
/// never names `$context` does not pay for building it), and of `$context` the keys the
/// template can reach (`context_key`): most templates name a few of its properties, and
/// each key built is a conversion and an allocation or more.
pub(crate) fn variables(
    inputs: &Inputs,
    wanted: impl Fn(&str) -> bool,
    context_key: impl Fn(&str) -> bool,
) -> (Vec<(&'static str, Value)>, OverrideMaps) {
    let mut vars = Vec::with_capacity(4);
    let mut maps = OverrideMaps::default();
    if wanted("input") {
        vars.push(("input", Value::Object(Rc::new(Input))));
    }
    if wanted("util") {
        vars.push(("util", Value::Object(Rc::new(Util))));
    }
    if wanted("context") {
        let mut context = JMap::linked();
        for (k, v) in &inputs.context {
            if context_key(k) {
                context.put(k.as_str(), Value::from_json(v));
            }
        }
        if context_key("requestOverride") {
            let (header, path, querystring) = (write_once(), write_once(), write_once());
            let mut request = JMap::linked();
            request.put("header", Value::Map(header.clone()));
            request.put("path", Value::Map(path.clone()));
            request.put("querystring", Value::Map(querystring.clone()));
            context.put("requestOverride", Value::map(request));
            maps.request_header = Some(header);
            maps.request_path = Some(path);
            maps.request_querystring = Some(querystring);
        }
        if context_key("responseOverride") {
            let (header, response) = (write_once(), write_once());
            response.borrow_mut().put("header", Value::Map(header.clone()));
            context.put("responseOverride", Value::Map(response.clone()));
            maps.response_header = Some(header);
            maps.response = Some(response);
        }
        vars.push(("context", Value::map(context)));
    }
    if wanted("stageVariables") {
        vars.push(("stageVariables", pairs_map(&inputs.stage_variables)));
    }
    (vars, maps)
}

fn write_once() -> Rc<RefCell<JMap>> {
    Rc::new(RefCell::new(JMap::write_once()))
}

/// The maps templates write overrides into (none when the template has no `$context`).
#[derive(Default)]
pub(crate) struct OverrideMaps {
    request_header: Option<Rc<RefCell<JMap>>>,
    request_path: Option<Rc<RefCell<JMap>>>,
    request_querystring: Option<Rc<RefCell<JMap>>>,
    response_header: Option<Rc<RefCell<JMap>>>,
    response: Option<Rc<RefCell<JMap>>>,
}

impl OverrideMaps {
    pub(crate) fn collect(&self) -> Overrides {
        let pairs = |m: &Option<Rc<RefCell<JMap>>>| -> Vec<(String, String)> {
            let Some(m) = m else { return Vec::new() };
            m.borrow().ordered().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.to_string(), v.render())).collect()
        };
        let status = self.response.as_ref().and_then(|r| {
            r.borrow().get("status").and_then(|v| match v {
                Value::Int(i) => u16::try_from(*i).ok(),
                Value::Long(i) => u16::try_from(*i).ok(),
                Value::Str(s) => s.trim().parse().ok(),
                _ => None,
            })
        });
        Overrides {
            request_headers: pairs(&self.request_header),
            request_path: pairs(&self.request_path),
            request_querystring: pairs(&self.request_querystring),
            response_headers: pairs(&self.response_header),
            response_status: status.filter(|s| (100..=599).contains(s)),
        }
    }
}

/// What `$input` reads in one rendering: the request (borrowed, never copied whole), and
/// what is derived from it on first use and then shared by every later use.
#[derive(Debug)]
pub(crate) struct InputState<'a> {
    inputs: &'a Inputs,
    /// `$input.body`.
    body: Option<Rc<str>>,
    /// The parsed payload, or why it is not JSON.
    parsed: Option<std::result::Result<Value, String>>,
    /// `$input.params()`.
    params: Option<Value>,
}

impl<'a> InputState<'a> {
    pub(crate) fn new(inputs: &'a Inputs) -> InputState<'a> {
        InputState { inputs, body: None, parsed: None, params: None }
    }

    fn body(&mut self) -> Value {
        let inputs = self.inputs;
        // API Gateway shows an empty payload as `{}` (recorded AWS responses).
        let body =
            self.body.get_or_insert_with(|| Rc::from(if inputs.body.is_empty() { "{}" } else { inputs.body.as_str() }));
        Value::Str(body.clone())
    }

    fn json_root(&mut self) -> Result<Value> {
        let inputs = self.inputs;
        // The parsed payload is shared by every `$input.path` / `$input.json` of the rendering,
        // as Jayway's readers share the document they read.
        let parsed = self.parsed.get_or_insert_with(|| {
            let body = inputs.body.trim();
            // API Gateway treats an empty payload as an empty JSON object.
            if body.is_empty() {
                Ok(Value::map(JMap::linked()))
            } else {
                crate::json::parse_lazy(body).map_err(|e| e.to_string())
            }
        });
        match parsed {
            Ok(v) => Ok(v.clone()),
            Err(e) => Err(Error::InvalidJson(e.clone())),
        }
    }

    /// `$input.json('$')` written straight from the payload text, when nothing has read
    /// the payload yet (so there is no parsed document a template could have changed).
    fn whole_payload_json(&self, path: &str) -> Option<String> {
        let path = path.trim();
        if self.parsed.is_some() || !(path == "$" || path.is_empty()) {
            return None;
        }
        crate::json::write_compact(self.inputs.body.trim())
    }

    /// The payload's document, if it was read lazily (see [`crate::Doc`]).
    pub(crate) fn doc(&self) -> Option<&Rc<crate::Doc>> {
        match &self.parsed {
            Some(Ok(Value::Json(d, _))) => Some(d),
            _ => None,
        }
    }

    fn params(&mut self) -> Value {
        let inputs = self.inputs;
        self.params
            .get_or_insert_with(|| {
                let mut params = JMap::linked_with_capacity(3);
                params.put("path", pairs_map(&inputs.path));
                params.put("querystring", pairs_map(&inputs.querystring));
                params.put("header", pairs_map(&inputs.header));
                Value::map(params)
            })
            .clone()
    }

    /// `$input.params(name)`: path, then query string, then headers (by any case); the last
    /// value of a repeated name.
    fn param(&self, name: &str) -> Option<&'a str> {
        let i = self.inputs;
        let find = |pairs: &'a [(String, String)], same: &dyn Fn(&str) -> bool| {
            pairs.iter().rev().find(|(k, _)| same(k)).map(|(_, v)| v.as_str())
        };
        find(&i.path, &|k| k == name)
            .or_else(|| find(&i.querystring, &|k| k == name))
            .or_else(|| find(&i.header, &|k| k.eq_ignore_ascii_case(name)))
    }
}

/// `$input`: its state lives in the rendering's [`Env`].
#[derive(Debug)]
struct Input;

impl Object for Input {
    fn class(&self) -> &'static str {
        "com.amazonaws.apigateway.Input"
    }

    fn call(&self, method: &str, args: &[Value], env: &mut Env<'_>) -> Option<Result<Value>> {
        let state = env.input.as_mut()?;
        Some(match (method, args) {
            ("getBody", []) => Ok(state.body()),
            ("json", [path]) => {
                let path = path.as_str();
                if let Some(text) = state.whole_payload_json(&path) {
                    return Some(Ok(Value::str(text)));
                }
                state.json_root().and_then(|root| crate::jsonpath::eval(&root, &path)).map(|v| Value::str(v.to_json()))
            }
            ("path", [path]) => state.json_root().and_then(|root| crate::jsonpath::eval(&root, &path.as_str())),
            ("params", []) => Ok(state.params()),
            ("params", [name]) => Ok(Value::str(state.param(&name.as_str()).unwrap_or_default())),
            _ => return None,
        })
    }

    fn property(&self, name: &str, env: &mut Env<'_>) -> Option<Result<Value>> {
        match name {
            "body" => self.call("getBody", &[], env),
            _ => None,
        }
    }

    fn render(&self) -> String {
        "com.amazonaws.apigateway.Input".into()
    }
}

/// `$util`.
#[derive(Debug)]
struct Util;

impl Object for Util {
    fn class(&self) -> &'static str {
        "com.amazonaws.apigateway.Util"
    }

    fn call(&self, method: &str, args: &[Value], env: &mut Env<'_>) -> Option<Result<Value>> {
        let [arg] = args else {
            // Unknown functions and wrong arities do nothing, and the request goes on.
            return Some(Ok(Value::Null));
        };
        if arg.is_null() {
            return Some(Ok(Value::Null));
        }
        let s = arg.as_str();
        Some(match method {
            // A string with nothing to escape is handed back as it is: no copy, no allocation
            // (most parameter and stage-variable values).
            "escapeJavaScript" => Ok(match js_escape_at(&s) {
                None if matches!(arg, Value::Str(_)) => arg.clone(),
                None => Value::str(s.as_ref()),
                Some(first) => {
                    let escaped = escape_from(&s, first);
                    // Escaping its own result over and over doubles a string's backslashes.
                    return Some(crate::value::check_len(escaped.len()).map(|()| Value::str(escaped)));
                }
            }),
            "parseJson" => match crate::json::parse_lazy(&s) {
                Ok(v) => {
                    env.adopt(&v);
                    Ok(v)
                }
                Err(e) => Err(Error::render(format!("$util.parseJson: {e}"))),
            },
            "urlEncode" => {
                let encoded = url_encode(&s);
                crate::value::check_len(encoded.len()).map(|()| Value::str(encoded))
            }
            "urlDecode" => url_decode(&s).map(Value::str),
            "base64Encode" => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
                crate::value::check_len(encoded.len()).map(|()| Value::str(encoded))
            }
            "base64Decode" => base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map(|b| Value::str(String::from_utf8_lossy(&b).into_owned()))
                .map_err(|e| Error::render(format!("$util.base64Decode: {e}"))),
            _ => Ok(Value::Null),
        })
    }

    fn render(&self) -> String {
        "com.amazonaws.apigateway.Util".into()
    }
}

/// Where the first byte of `s` is that [`escape_javascript`] escapes: one outside
/// `' '..='\u{7f}'` (a control character or the first byte of a non-ASCII one), `'`, `"`,
/// `\\` or `/`.
fn js_escape_at(s: &str) -> Option<usize> {
    s.bytes().position(|b| !(b' '..=0x7f).contains(&b) || matches!(b, b'\'' | b'"' | b'\\' | b'/'))
}

/// Apache Commons Lang 2 `StringEscapeUtils.escapeJavaScript`.
pub fn escape_javascript(s: &str) -> String {
    match js_escape_at(s) {
        Some(first) => escape_from(s, first),
        None => s.to_string(),
    }
}

/// [`escape_javascript`] of `s`, whose first character to escape is at `first`.
fn escape_from(s: &str, first: usize) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    // Runs of characters that need no escape are copied whole, the first one found above.
    let mut run = 0;
    for (i, c) in s[first..].char_indices().map(|(i, c)| (i + first, c)) {
        let escape = match c {
            '\u{8}' => "\\b",
            '\n' => "\\n",
            '\t' => "\\t",
            '\u{c}' => "\\f",
            '\r' => "\\r",
            '\'' => "\\'",
            '"' => "\\\"",
            '\\' => "\\\\",
            '/' => "\\/",
            ' '..='\u{7f}' => continue,
            // Anything else as `\uXXXX` per UTF-16 unit.
            _ => "",
        };
        out.push_str(&s[run..i]);
        if escape.is_empty() {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(out, "\\u{unit:04X}");
            }
        } else {
            out.push_str(escape);
        }
        run = i + c.len_utf8();
    }
    out.push_str(&s[run..]);
    out
}

/// `java.net.URLEncoder.encode(s, "UTF-8")`: `application/x-www-form-urlencoded`, which
/// leaves `A-Z a-z 0-9 . - * _` as they are and writes a space as `+`.
///
/// `form_urlencoded::byte_serialize` encodes the same way, but its per-chunk iterator made
/// the SQS benchmark template (`$util.urlEncode($input.body)` over 2.7 KB) three times slower
/// (15 µs against 5 µs per render), so the loop is written out: one table look-up a byte,
/// written into a buffer sized for the worst case (every byte escaped).
fn url_encode(s: &str) -> String {
    /// What each byte is written as: up to three bytes (little-endian) and, in the top byte,
    /// how many. Kept: `A-Z a-z 0-9 . - * _`; space: `+`; anything else: `%XX`.
    const ENCODED: [u32; 256] = {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            t[i] = if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_') {
                b as u32 | 1 << 24
            } else if b == b' ' {
                b'+' as u32 | 1 << 24
            } else {
                b'%' as u32 | (HEX[i >> 4] as u32) << 8 | (HEX[i & 15] as u32) << 16 | 3 << 24
            };
            i += 1;
        }
        t
    };
    let bytes = s.as_bytes();
    // Branch-free: every byte writes four bytes and the write position moves on by as many
    // as its encoding has, so how often characters need escaping (unpredictable on real text)
    // costs no mispredicted branches. The position stays in a register: appending to the
    // vector instead kept its length in memory, a store and a load on every byte's path.
    let mut out = vec![0u8; bytes.len() * 3 + 1];
    let mut n = 0;
    for &b in bytes {
        let e = ENCODED[usize::from(b)];
        out[n..n + 4].copy_from_slice(&e.to_le_bytes());
        n += (e >> 24) as usize;
    }
    out.truncate(n);
    String::from_utf8(out).expect("URL encoding is ASCII")
}

/// `java.net.URLDecoder.decode(s, "UTF-8")`.
fn url_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| {
                    Error::render(format!("$util.urlDecode: illegal hex characters in escape (%) pattern in `{s}`"))
                })?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_javascript_matches_commons_lang() {
        assert_eq!(escape_javascript("it's \"x\"/\\\n"), "it\\'s \\\"x\\\"\\/\\\\\\n");
        assert_eq!(escape_javascript("é\u{1}"), "\\u00E9\\u0001");
        assert_eq!(escape_javascript("a😀b\u{7f}"), "a\\uD83D\\uDE00b\u{7f}");
        assert_eq!(escape_javascript("plain ~ text"), "plain ~ text");
        for s in ["plain", "it's", "a\"b", "a\\b", "a/b", "é", "\u{1f}", "\u{7f}", "~"] {
            let escaped = escape_javascript(s);
            assert_eq!(js_escape_at(s).is_none(), escaped == s, "{s:?}");
        }
    }

    #[test]
    fn url_coding_matches_java() {
        assert_eq!(url_encode("a b&c=d/é*~"), "a+b%26c%3Dd%2F%C3%A9*%7E");
        assert_eq!(url_encode("plain.text-*_"), "plain.text-*_");
        assert_eq!(url_decode("a+b%26c").unwrap(), "a b&c");
        assert!(url_decode("%zz").is_err());
    }

    #[test]
    fn url_encoding_covers_every_ascii_byte_and_utf8() {
        let all: String = (0u8..0x80).map(char::from).chain(['é', '€', '😀']).collect();
        let expected: String = all
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => char::from(b).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        assert_eq!(url_encode(&all), expected);
        assert_eq!(url_encode(""), "");
    }
}
