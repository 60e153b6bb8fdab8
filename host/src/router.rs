//! API Gateway REST routing: from a request path (after the stage) to a resource.
//!
//! Per segment a literal beats `{param}`, which beats `{proxy+}`; when a more specific
//! branch cannot complete the match the router backtracks to the next. `{param}` matches one
//! non-empty segment; `{proxy+}` matches one or more segments (slashes included) and never
//! the root. Values are not percent-decoded (API Gateway passes them encoded).
//!
//! Path normalisation, as observed on AWS: slashes right after the stage are ignored
//! (`/prod//pets` routes as `/pets`); one trailing slash is ignored for matching and trimmed
//! from a greedy value; an empty segment inside the path matches only a greedy parameter.

use std::sync::Arc;

/// Path parameters, `(name, value)` in path order: names shared with the routing table, and
/// room for two on the stack.
pub type PathParams = smallvec::SmallVec<[(Arc<str>, String); 2]>;

/// A routing table for one API.
#[derive(Debug, Default)]
pub struct Router {
    root: Node,
}

#[derive(Debug, Default)]
struct Node {
    /// The resource whose path ends here.
    resource: Option<usize>,
    literals: rustc_hash::FxHashMap<String, Node>,
    param: Option<(Arc<str>, Box<Node>)>,
    greedy: Option<(Arc<str>, usize)>,
}

/// A match: the resource index and the path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// Index of the resource in the list given to [`Router::new`].
    pub resource: usize,
    /// Path parameters, in path order.
    pub params: PathParams,
}

/// A routing table that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RouterError(pub String);

impl Router {
    /// Builds the table from `(index, resource path)` pairs. Paths must already be valid
    /// (see [`crate::manifest::check_resource_path`]); siblings with different variable
    /// names are refused, as API Gateway refuses them.
    pub fn new<'a>(paths: impl IntoIterator<Item = (usize, &'a str)>) -> Result<Router, RouterError> {
        let mut root = Node::default();
        for (index, path) in paths {
            let mut node = &mut root;
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            let mut done = false;
            for part in parts {
                if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
                    if let Some((other, _)) = &node.greedy {
                        if &**other != name {
                            return Err(RouterError(format!(
                                "`{path}`: a sibling ({{{other}+}}) already has a greedy path part; only one is allowed"
                            )));
                        }
                        return Err(RouterError(format!("`{path}` is defined twice")));
                    }
                    node.greedy = Some((name.into(), index));
                    done = true;
                    break;
                } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if let Some((other, _)) = &node.param
                        && &**other != name
                    {
                        return Err(RouterError(format!(
                            "`{path}`: a sibling ({{{other}}}) already has a variable path part; only one is allowed"
                        )));
                    }
                    node = &mut *node.param.get_or_insert_with(|| (name.into(), Box::default())).1;
                } else {
                    node = node.literals.entry(part.to_string()).or_default();
                }
            }
            if !done {
                if node.resource.is_some() {
                    return Err(RouterError(format!("`{path}` is defined twice")));
                }
                node.resource = Some(index);
            }
        }
        Ok(Router { root })
    }

    /// Finds the resource for `path`, the part of the request path after `/{stage}`
    /// (e.g. `/pets/1`, or empty for the stage root).
    pub fn find(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = path.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let mut params = PathParams::new();
        let resource = find_in(&self.root, (!trimmed.is_empty()).then_some(trimmed), &mut params)?;
        Some(RouteMatch { resource, params })
    }
}

/// Matches `rest` (the path from the current segment on; `None` past the last segment) below
/// `node`, depth first: literal, then `{param}`, then `{proxy+}`.
fn find_in(node: &Node, rest: Option<&str>, params: &mut PathParams) -> Option<usize> {
    let Some(rest) = rest else {
        return node.resource;
    };
    let (segment, next) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if !segment.is_empty() {
        if let Some(child) = node.literals.get(segment)
            && let Some(found) = find_in(child, next, params)
        {
            return Some(found);
        }
        if let Some((name, child)) = &node.param {
            params.push((name.clone(), segment.to_string()));
            if let Some(found) = find_in(child, next, params) {
                return Some(found);
            }
            params.pop();
        }
    }
    if let Some((name, index)) = &node.greedy
        && !rest.is_empty()
    {
        params.push((name.clone(), rest.to_string()));
        return Some(*index);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHS: &[&str] = &[
        "/",                     // 0
        "/pets",                 // 1
        "/pets/{petId}",         // 2
        "/pets/dog",             // 3
        "/pets/{petId}/toys",    // 4
        "/{proxy+}",             // 5
        "/files/{path+}",        // 6
        "/a/{b}/c",              // 7
        "/a/x/d",                // 8
        "/files/special/{name}", // 9
    ];

    fn router() -> Router {
        Router::new(PATHS.iter().enumerate().map(|(i, p)| (i, *p))).unwrap()
    }

    /// A resource path and its parameters.
    type Found = Option<(&'static str, Vec<(&'static str, String)>)>;

    fn m(path: &str) -> Found {
        let r = router().find(path)?;
        let names: Vec<_> = r.params.into_iter().map(|(k, v)| (&*k.to_string().leak(), v)).collect();
        Some((PATHS[r.resource], names))
    }

    fn p(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, Found)> = vec![
            ("", Some(("/", vec![]))),
            ("/", Some(("/", vec![]))),
            ("/pets", Some(("/pets", vec![]))),
            ("/pets/", Some(("/pets", vec![]))),
            ("/pets/dog", Some(("/pets/dog", vec![]))),
            ("/pets/cat", Some(("/pets/{petId}", vec![("petId", p("cat"))]))),
            ("/pets/cat/toys", Some(("/pets/{petId}/toys", vec![("petId", p("cat"))]))),
            // literal `dog` has no `toys` child: backtrack to {petId}
            ("/pets/dog/toys", Some(("/pets/{petId}/toys", vec![("petId", p("dog"))]))),
            // nothing more specific: the greedy root proxy takes it
            ("/pets/cat/food", Some(("/{proxy+}", vec![("proxy", p("pets/cat/food"))]))),
            ("/files/a/b/c.txt", Some(("/files/{path+}", vec![("path", p("a/b/c.txt"))]))),
            ("/files/special/x", Some(("/files/special/{name}", vec![("name", p("x"))]))),
            ("/files/special/x/y", Some(("/files/{path+}", vec![("path", p("special/x/y"))]))),
            ("/a/x/c", Some(("/a/{b}/c", vec![("b", p("x"))]))),
            ("/a/x/d", Some(("/a/x/d", vec![]))),
            // trailing slash: kept out of the greedy value
            ("/proxy-value/", Some(("/{proxy+}", vec![("proxy", p("proxy-value"))]))),
            // double slash inside: only greedy matches, and keeps it
            ("/proxy-value//double-slash", Some(("/{proxy+}", vec![("proxy", p("proxy-value//double-slash"))]))),
            // extra slash after the stage is ignored
            ("//proxy-value", Some(("/{proxy+}", vec![("proxy", p("proxy-value"))]))),
            ("//pets", Some(("/pets", vec![]))),
            // percent-encoding is not decoded
            ("/pets/test%2Balias@gmail.com", Some(("/pets/{petId}", vec![("petId", p("test%2Balias@gmail.com"))]))),
            ("/pets/a+b", Some(("/pets/{petId}", vec![("petId", p("a+b"))]))),
        ];
        for (path, want) in cases {
            assert_eq!(m(path), want, "path {path:?}");
        }
    }

    #[test]
    fn greedy_never_matches_root() {
        let r = Router::new([(0, "/{proxy+}")]).unwrap();
        assert_eq!(r.find(""), None);
        assert_eq!(r.find("/"), None);
        assert_eq!(r.find("/x").map(|m| m.resource), Some(0));
    }

    #[test]
    fn no_match_without_fallback() {
        let r = Router::new([(0, "/pets"), (1, "/pets/{id}")]).unwrap();
        assert_eq!(r.find("/cats"), None);
        assert_eq!(r.find("/pets/1/2"), None);
        assert_eq!(r.find("/pets//x"), None);
        assert_eq!(r.find(""), None);
    }

    #[test]
    fn conflicting_siblings_are_refused() {
        assert!(Router::new([(0, "/pets/{id}"), (1, "/pets/{petId}")]).is_err());
        assert!(Router::new([(0, "/{a+}"), (1, "/{b+}")]).is_err());
        assert!(Router::new([(0, "/pets/{id}"), (1, "/pets/{id}/x")]).is_ok());
    }
}
