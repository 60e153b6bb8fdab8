//! API Gateway's template variables: `$input`, `$util`, `$context` (with
//! `requestOverride` / `responseOverride`) and `$stageVariables`.

use std::cell::RefCell;
use std::rc::Rc;

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
    let mut m = JMap::linked();
    for (k, v) in pairs {
        m.insert(k.clone(), Value::str(v.as_str()));
    }
    Value::map(m)
}

/// Builds the variables of an API Gateway template.
pub(crate) fn variables(inputs: &Inputs) -> (Vec<(String, Value)>, OverrideMaps) {
    let mut params = JMap::linked();
    params.insert("path".into(), pairs_map(&inputs.path));
    params.insert("querystring".into(), pairs_map(&inputs.querystring));
    params.insert("header".into(), pairs_map(&inputs.header));
    let input = Input {
        body: inputs.body.clone(),
        parsed: RefCell::new(None),
        params: Value::map(params),
        lookup: [&inputs.path, &inputs.querystring, &inputs.header]
            .into_iter()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .collect(),
    };

    let context = match Value::from_json(&serde_json::Value::Object(inputs.context.clone())) {
        Value::Map(m) => m,
        _ => Rc::new(RefCell::new(JMap::linked())),
    };
    let maps = OverrideMaps {
        request_header: Rc::new(RefCell::new(JMap::write_once())),
        request_path: Rc::new(RefCell::new(JMap::write_once())),
        request_querystring: Rc::new(RefCell::new(JMap::write_once())),
        response_header: Rc::new(RefCell::new(JMap::write_once())),
        response: Rc::new(RefCell::new(JMap::write_once())),
    };
    let mut request = JMap::linked();
    request.insert("header".into(), Value::Map(maps.request_header.clone()));
    request.insert("path".into(), Value::Map(maps.request_path.clone()));
    request.insert("querystring".into(), Value::Map(maps.request_querystring.clone()));
    maps.response.borrow_mut().insert("header".into(), Value::Map(maps.response_header.clone()));
    {
        let mut c = context.borrow_mut();
        c.insert("requestOverride".into(), Value::map(request));
        c.insert("responseOverride".into(), Value::Map(maps.response.clone()));
    }
    let vars = vec![
        ("input".to_string(), Value::Object(Rc::new(input))),
        ("util".to_string(), Value::Object(Rc::new(Util))),
        ("context".to_string(), Value::Map(context)),
        ("stageVariables".to_string(), pairs_map(&inputs.stage_variables)),
    ];
    (vars, maps)
}

/// The maps templates write overrides into.
pub(crate) struct OverrideMaps {
    request_header: Rc<RefCell<JMap>>,
    request_path: Rc<RefCell<JMap>>,
    request_querystring: Rc<RefCell<JMap>>,
    response_header: Rc<RefCell<JMap>>,
    response: Rc<RefCell<JMap>>,
}

impl OverrideMaps {
    pub(crate) fn collect(&self) -> Overrides {
        let pairs = |m: &Rc<RefCell<JMap>>| -> Vec<(String, String)> {
            m.borrow().iter().into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, v.render())).collect()
        };
        let status = self.response.borrow().get("status").and_then(|v| match v {
            Value::Int(i) => u16::try_from(*i).ok(),
            Value::Long(i) => u16::try_from(*i).ok(),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
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

/// `$input`.
#[derive(Debug)]
struct Input {
    body: String,
    parsed: RefCell<Option<std::result::Result<Value, String>>>,
    params: Value,
    /// path, querystring, header: the search order of `$input.params(name)`.
    lookup: Vec<Vec<(String, String)>>,
}

impl Input {
    fn json_root(&self) -> Result<Value> {
        let mut parsed = self.parsed.borrow_mut();
        if parsed.is_none() {
            let body = self.body.trim();
            // API Gateway treats an empty payload as an empty JSON object.
            let result = if body.is_empty() {
                Ok(Value::map(JMap::linked()))
            } else {
                let mut de = serde_json::Deserializer::from_str(body);
                serde::de::DeserializeSeed::deserialize(crate::value::JsonSeed, &mut de)
                    .and_then(|v| de.end().map(|()| v))
                    .map_err(|e| e.to_string())
            };
            *parsed = Some(result);
        }
        // The parsed payload is shared by every `$input.path` / `$input.json` of the rendering,
        // as Jayway's readers share the document they read.
        match parsed.as_ref().expect("parsed above") {
            Ok(v) => Ok(v.clone()),
            Err(e) => Err(Error::InvalidJson(e.clone())),
        }
    }
}

impl Object for Input {
    fn class(&self) -> &'static str {
        "com.amazonaws.apigateway.Input"
    }

    fn call(&self, method: &str, args: &[Value], _env: &mut Env<'_>) -> Option<Result<Value>> {
        Some(match (method, args) {
            // API Gateway shows an empty payload as `{}` (recorded AWS responses).
            ("getBody", []) => Ok(Value::str(if self.body.is_empty() { "{}" } else { self.body.as_str() })),
            ("json", [path]) => {
                let path = path.render();
                self.json_root().and_then(|root| crate::jsonpath::eval(&root, &path)).map(|v| Value::str(v.to_json()))
            }
            ("path", [path]) => {
                let path = path.render();
                self.json_root().and_then(|root| crate::jsonpath::eval(&root, &path))
            }
            ("params", []) => Ok(self.params.clone()),
            ("params", [name]) => {
                let name = name.render();
                let found = self.lookup.iter().enumerate().find_map(|(i, pairs)| {
                    pairs
                        .iter()
                        .rev()
                        .find(|(k, _)| if i == 2 { k.eq_ignore_ascii_case(&name) } else { *k == name })
                        .map(|(_, v)| v.clone())
                });
                Ok(Value::str(found.unwrap_or_default()))
            }
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

/// Characters `java.net.URLEncoder` leaves alone: letters, digits, `.`, `-`, `*`, `_`.
const URL_ENCODE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'*').remove(b'_').remove(b' ');

impl Object for Util {
    fn class(&self) -> &'static str {
        "com.amazonaws.apigateway.Util"
    }

    fn call(&self, method: &str, args: &[Value], _env: &mut Env<'_>) -> Option<Result<Value>> {
        let [arg] = args else {
            // Unknown functions and wrong arities do nothing, and the request goes on.
            return Some(Ok(Value::Null));
        };
        if arg.is_null() {
            return Some(Ok(Value::Null));
        }
        let s = arg.render();
        Some(match method {
            "escapeJavaScript" => Ok(Value::str(escape_javascript(&s))),
            "parseJson" => Value::parse_json(&s).map_err(|e| Error::render(format!("$util.parseJson: {e}"))),
            "urlEncode" => {
                Ok(Value::str(percent_encoding::utf8_percent_encode(&s, URL_ENCODE).to_string().replace(' ', "+")))
            }
            "urlDecode" => url_decode(&s).map(Value::str),
            "base64Encode" => Ok(Value::str(base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))),
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

/// Apache Commons Lang 2 `StringEscapeUtils.escapeJavaScript`.
pub fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.encode_utf16() {
        match c {
            0x08 => out.push_str("\\b"),
            0x0a => out.push_str("\\n"),
            0x09 => out.push_str("\\t"),
            0x0c => out.push_str("\\f"),
            0x0d => out.push_str("\\r"),
            0x27 => out.push_str("\\'"),
            0x22 => out.push_str("\\\""),
            0x5c => out.push_str("\\\\"),
            0x2f => out.push_str("\\/"),
            c if !(0x20..=0x7f).contains(&c) => out.push_str(&format!("\\u{c:04X}")),
            c => out.push(c as u8 as char),
        }
    }
    out
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
    }

    #[test]
    fn url_coding_matches_java() {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, URL_ENCODE).to_string().replace(' ', "+");
        assert_eq!(enc("a b&c=d/é*~"), "a+b%26c%3Dd%2F%C3%A9*%7E");
        assert_eq!(url_decode("a+b%26c").unwrap(), "a b&c");
        assert!(url_decode("%zz").is_err());
    }
}
