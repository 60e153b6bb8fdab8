//! Reading JSON payloads into template values.
//!
//! `serde_json` reads the text straight into template values (through [`JsonSeed`], no
//! intermediate `serde_json::Value`), so values and error messages are exactly
//! `serde_json`'s. A hand-written reader was measured to save only about 4% of the
//! instructions of the benchmark templates, not worth a second JSON parser.

use crate::value::{Interner, JsonSeed, JsonVisitor, Value};

/// Parses JSON text: objects become `LinkedHashMap`s, arrays `JSONArray`s, integers
/// `Integer` or `Long`, other numbers `Double`. Repeated object keys are stored once.
pub(crate) fn parse(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = serde::de::DeserializeSeed::deserialize(JsonSeed(&mut Interner::default()), &mut de)?;
    // Trailing characters after the value are an error, as for `serde_json::from_str`.
    de.end()?;
    Ok(v)
}

/// Writes JSON text as [`Value::json_into`] would write what [`parse`] reads from it, without
/// building the values (`$input.json('$')` on a payload no other `$input` call has read).
/// The same `serde_json` reader sees the same text and the same conversions apply, so the
/// output is identical; `None` (and `out` in an unspecified state) on anything this does not
/// handle, for the caller to take the general path: invalid JSON, a repeated key (kept once,
/// where it was first written, with the last value), an object of many keys.
pub(crate) fn write_compact(text: &str, out: &mut String) -> Option<()> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut keys = Vec::new();
    serde::de::DeserializeSeed::deserialize(Writer { out, keys: &mut keys }, &mut de).ok()?;
    de.end().ok()
}

/// Keys of one object compared for repeats, at most (more: the general path).
const MAX_KEYS: usize = 32;

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
        JsonVisitor(&mut Interner::default()).visit_i64::<E>(i)?.json_into(self.out);
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<(), E> {
        JsonVisitor(&mut Interner::default()).visit_u64::<E>(u)?.json_into(self.out);
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<(), E> {
        JsonVisitor(&mut Interner::default()).visit_f64::<E>(f)?.json_into(self.out);
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
}
