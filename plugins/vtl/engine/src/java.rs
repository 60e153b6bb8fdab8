//! Java's `java.util.regex` behaviour on top of the `regex` crate: `String.replaceAll`
//! replacement syntax, `String.matches` (whole-string), and `String.split`'s rules.
//!
//! Patterns with look-around or back-references (which Java supports and the `regex` crate
//! does not) are refused with a render error naming the pattern.

use regex::Regex;

use crate::{Error, Result};

/// Compiles a Java pattern.
pub(crate) fn regex(pattern: &str) -> Result<Regex> {
    // Java's `\w`, `\d`, `\s` and `\b` are ASCII-only; the `regex` crate's are Unicode-aware.
    let mut translated = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            translated.push(c);
            continue;
        }
        match chars.next() {
            Some('w') => translated.push_str("[0-9A-Za-z_]"),
            Some('W') => translated.push_str("[^0-9A-Za-z_]"),
            Some('d') => translated.push_str("[0-9]"),
            Some('D') => translated.push_str("[^0-9]"),
            Some('s') => translated.push_str(r"[ \t\n\x0B\f\r]"),
            Some('S') => translated.push_str(r"[^ \t\n\x0B\f\r]"),
            Some('b') => translated.push_str(r"(?-u:\b)"),
            Some('B') => translated.push_str(r"(?-u:\B)"),
            Some(other) => {
                translated.push('\\');
                translated.push(other);
            }
            None => translated.push('\\'),
        }
    }
    Regex::new(&translated)
        .map_err(|e| Error::render(format!("unsupported or invalid regular expression `{pattern}`: {e}")))
}

/// A Java pattern that must match the whole input (`String.matches`, `selectionPattern`).
pub(crate) fn regex_full(pattern: &str) -> Result<Regex> {
    regex(&format!("^(?:{pattern})$"))
}

/// Translates a Java replacement string (`$1`, `${name}`, `\$` escapes) to the `regex`
/// crate's syntax.
pub(crate) fn replacement(java: &str) -> Result<String> {
    let mut out = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(c) => out.push(c),
                None => return Err(Error::render("character to be escaped is missing in the replacement")),
            },
            '$' => {
                if chars.peek() == Some(&'{') {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    out.push_str(&format!("${{{name}}}"));
                } else {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        n.push(*d);
                        chars.next();
                    }
                    if n.is_empty() {
                        return Err(Error::render("illegal group reference in the replacement"));
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Java's `replaceAll` (`all`) or `replaceFirst` of `re` in `s`, `repl` already translated by
/// [`replacement`]. Built match by match, so that it fails as soon as the result is longer
/// than [`crate::value::check_len`] allows (a replacement that holds the string itself, over
/// and over, would grow it without bound).
pub(crate) fn replace(re: &Regex, s: &str, repl: &str, all: bool) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in re.captures_iter(s).take(if all { usize::MAX } else { 1 }) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&s[last..m.start()]);
        caps.expand(repl, &mut out);
        last = m.end();
        crate::value::check_len(out.len())?;
    }
    out.push_str(&s[last..]);
    crate::value::check_len(out.len())?;
    Ok(out)
}

/// How many parts [`split`] makes between two calls of its `tick`.
pub(crate) const TICK: usize = 4096;

/// Java's `String.split(regex, limit)`. Fails as soon as the parts the result keeps are more than
/// [`crate::value::check_items`] allows (trailing empty parts, which a `limit` of 0 drops, are
/// not counted), so that splitting a long string into characters stops early. Calls `tick`
/// every [`TICK`] parts, for the caller to check the rendering's time: a long string split
/// into millions of parts is one step of the template.
pub(crate) fn split<'s>(
    s: &'s str,
    pattern: &str,
    limit: i64,
    mut tick: impl FnMut() -> Result<()>,
) -> Result<Vec<&'s str>> {
    let re = regex(pattern)?;
    let mut parts: Vec<&str> = Vec::new();
    let mut last = 0;
    for m in re.find_iter(s) {
        if limit != 0 || parts.last().is_some_and(|p| !p.is_empty()) {
            crate::value::check_items(parts.len())?;
        }
        if parts.len() % TICK == TICK - 1 {
            tick()?;
        }
        if limit > 0 && parts.len() as i64 == limit - 1 {
            break;
        }
        // A zero-width match at the start never produces a leading empty string (Java 8+).
        if m.end() == 0 {
            continue;
        }
        if m.start() == m.end() && m.start() == last && last != 0 {
            continue;
        }
        parts.push(&s[last..m.start()]);
        last = m.end();
    }
    parts.push(&s[last..]);
    if limit == 0 {
        while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        if s.is_empty() {
            return Ok(vec![""]);
        }
        if parts.len() == 1 && parts[0].is_empty() {
            parts.clear();
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_java() {
        assert_eq!(split("a,b,,c,,", ",", 0, || Ok(())).unwrap(), ["a", "b", "", "c"]);
        assert_eq!(split("a,b,c", ",", 2, || Ok(())).unwrap(), ["a", "b,c"]);
        assert_eq!(split(",a", ",", 0, || Ok(())).unwrap(), ["", "a"]);
        assert_eq!(split("", ",", 0, || Ok(())).unwrap(), [""]);
        assert_eq!(split(",,", ",", 0, || Ok(())).unwrap(), Vec::<&str>::new());
        assert_eq!(split("abc", "", 0, || Ok(())).unwrap(), ["a", "b", "c"]);
    }

    #[test]
    fn replacements_translate() {
        assert_eq!(replacement("$1-$2").unwrap(), "${1}-${2}");
        assert_eq!(replacement("\\$x").unwrap(), "$$x");
        assert!(replacement("$").is_err());
    }
}
