//! Integration URLs (`http://host/{proxy}?v=${stageVariables.v}`), split into their pieces once
//! when the manifest is loaded, so that a request only fills them in.

use http::Uri;
use http::uri::{Authority, Scheme};

use crate::http_client::Target;

/// A piece of an integration URL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text sent as it is.
    Text(String),
    /// `${stageVariables.name}`: the stage variable's value, empty when unset.
    StageVariable(String),
    /// `{name}`: the mapped `integration.request.path.name` value.
    Placeholder(String),
}

/// An integration URL template.
#[derive(Debug, Clone)]
pub struct UriTemplate {
    source: String,
    /// Scheme and authority, parsed once when they are literal text.
    origin: Option<(Scheme, Authority)>,
    /// The path and query pieces when `origin` is known, else the whole URL's.
    pieces: Vec<Piece>,
}

impl UriTemplate {
    /// Splits `source` into its pieces. An unterminated `{` or `${stageVariables.` is text.
    pub fn parse(source: &str) -> UriTemplate {
        let origin_end = source
            .find("://")
            .map(|i| i + 3)
            .map(|start| source[start..].find(['/', '?']).map_or(source.len(), |i| start + i));
        let origin = origin_end.filter(|&end| !source[..end].contains(['$', '{'])).and_then(|end| {
            let uri: Uri = source[..end].parse().ok()?;
            let parts = uri.into_parts();
            Some((parts.scheme?, parts.authority?))
        });
        let rest = match (&origin, origin_end) {
            (Some(_), Some(end)) => &source[end..],
            _ => source,
        };
        UriTemplate { source: source.to_string(), origin, pieces: split(rest) }
    }

    /// The URL as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Fills in the template: `stage_variable` and `path_value` give the values of
    /// `${stageVariables.x}` and `{x}` (a placeholder without a value stays as written), and
    /// `query` (already encoded, possibly empty) is appended to the URL's own query.
    ///
    /// When the origin is literal text (parsed once at load), the path and query are only
    /// checked for what cannot go on a request line (spaces and control characters: values
    /// from the request were checked when its URI was parsed, mapped values are
    /// percent-encoded) and cut at a `#`, as a URL parser does; otherwise the whole URL is
    /// parsed.
    pub fn render<'a, 'b>(
        &self,
        stage_variable: impl Fn(&str) -> Option<&'a str>,
        path_value: impl Fn(&str) -> Option<&'b str>,
        query: &str,
    ) -> Result<Target, String> {
        let mut out = String::with_capacity(self.source.len() + query.len() + 32);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::StageVariable(n) => out.push_str(stage_variable(n).unwrap_or_default()),
                Piece::Placeholder(n) => match path_value(n) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(n);
                        out.push('}');
                    }
                },
            }
        }
        let query = query.trim_start_matches('&');
        if !query.is_empty() {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(query);
        }
        match &self.origin {
            Some((scheme, authority)) => {
                if let Some(fragment) = out.find('#') {
                    out.truncate(fragment);
                }
                if out.bytes().any(|b| b <= b' ' || b == 0x7f) {
                    return Err(format!("integration URL `{}`: invalid uri character", self.source));
                }
                if !out.starts_with('/') {
                    out.insert(0, '/');
                }
                Ok(Target { scheme: scheme.clone(), authority: authority.clone(), path_and_query: out })
            }
            None => {
                let uri: Uri = out.parse().map_err(|e| format!("integration URL `{out}`: {e}"))?;
                Target::from_uri(&uri).map_err(|e| format!("integration URL `{out}`: {e}"))
            }
        }
    }
}

fn split(text: &str) -> Vec<Piece> {
    const STAGE: &str = "${stageVariables.";
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(STAGE)
            && let Some(end) = after.find('}')
        {
            push_text(&mut pieces, &mut literal);
            pieces.push(Piece::StageVariable(after[..end].to_string()));
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('{')
            && let Some(end) = after.find('}')
        {
            push_text(&mut pieces, &mut literal);
            pieces.push(Piece::Placeholder(after[..end].to_string()));
            rest = &after[end + 1..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    push_text(&mut pieces, &mut literal);
    pieces
}

fn push_text(pieces: &mut Vec<Piece>, literal: &mut String) {
    if !literal.is_empty() {
        pieces.push(Piece::Text(std::mem::take(literal)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, query: &str) -> Result<String, String> {
        let stage = |n: &str| match n {
            "host" => Some("backend:8080"),
            "v" => Some("2"),
            _ => None,
        };
        let path = |n: &str| match n {
            "proxy" => Some("a/b%20c"),
            "id" => Some("7"),
            _ => None,
        };
        UriTemplate::parse(t).render(stage, path, query).map(|t| t.to_string())
    }

    #[test]
    fn literal_origins_are_parsed_once() {
        let t = UriTemplate::parse("http://h:81/x/{id}");
        assert!(t.origin.is_some());
        assert_eq!(t.pieces, vec![Piece::Text("/x/".into()), Piece::Placeholder("id".into())]);
        assert!(UriTemplate::parse("http://${stageVariables.host}/x").origin.is_none());
        assert!(UriTemplate::parse("${stageVariables.url}/x").origin.is_none());
    }

    #[test]
    fn fills_placeholders_stage_variables_and_query() {
        assert_eq!(render("http://h/{proxy}", "").unwrap(), "http://h/a/b%20c");
        assert_eq!(render("http://h/x/{id}/{id}?v=${stageVariables.v}", "q=1").unwrap(), "http://h/x/7/7?v=2&q=1");
        assert_eq!(render("http://${stageVariables.host}/{id}", "&a=b").unwrap(), "http://backend:8080/7?a=b");
        assert_eq!(render("http://h", "").unwrap(), "http://h/");
        assert_eq!(render("http://h?x=1", "").unwrap(), "http://h/?x=1");
        assert_eq!(render("http://h/u=${stageVariables.unset}", "").unwrap(), "http://h/u=");
    }

    #[test]
    fn unfinished_pieces_are_text_and_bad_urls_fail() {
        assert_eq!(split("a{b"), vec![Piece::Text("a{b".into())]);
        assert_eq!(split("${stageVariables.x"), vec![Piece::Text("${stageVariables.x".into())]);
        // Load-time checks map every placeholder; one without a value would go out as written.
        assert_eq!(render("http://h/{missing}", "").unwrap(), "http://h/{missing}");
        assert_eq!(render("http://h/a b", "").unwrap_err(), "integration URL `http://h/a b`: invalid uri character");
        assert!(render("http://h/{id}\r\nx: y", "").is_err());
        assert_eq!(render("http://h/x#frag?q", "").unwrap(), "http://h/x");
        assert_eq!(render("${stageVariables.v}/x", "").unwrap_err(), "integration URL `2/x`: invalid format");
        let relative = "integration URL `/2`: unsupported URL scheme in `/2` (only http:// is supported)";
        assert_eq!(render("/${stageVariables.v}", "").unwrap_err(), relative);
    }
}
