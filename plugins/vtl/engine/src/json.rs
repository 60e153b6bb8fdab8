//! Reading JSON payloads into template values.
//!
//! `serde_json` reads the text straight into template values (through [`JsonSeed`], no
//! intermediate `serde_json::Value`), so values and error messages are exactly
//! `serde_json`'s. A hand-written reader was measured to save only about 4% of the
//! instructions of the benchmark templates, not worth a second JSON parser.

use crate::value::{Interner, JsonSeed, Value};

/// Parses JSON text: objects become `LinkedHashMap`s, arrays `JSONArray`s, integers
/// `Integer` or `Long`, other numbers `Double`. Repeated object keys are stored once.
pub(crate) fn parse(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = serde::de::DeserializeSeed::deserialize(JsonSeed(&mut Interner::default()), &mut de)?;
    // Trailing characters after the value are an error, as for `serde_json::from_str`.
    de.end()?;
    Ok(v)
}
