//! JSON documents read lazily: `$input.path` / `$input.json` and `$util.parseJson` read a plain
//! payload (see [`crate::json`]) into a flat list of nodes, and its objects and arrays become
//! template values ([`Value::Json`]) that point into it. Reading a member, an item, a size, or
//! looping over an array takes what it needs from the nodes; only what a template changes, or
//! asks of a container as a whole (`keySet()`, `toString()`, `put`, …), is made into an
//! ordinary map or list ([`Doc::make`]), once: every later look at that node, through any value
//! that points at it, sees the same map or list.
//!
//! A payload of fifty objects used to become fifty maps, their entries and their strings
//! (about 2,500 instructions an object to build and drop); the nodes take a fraction of that,
//! and a template that reads a member pays for that member alone.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::value::{JList, JMap, ListKind, ReadState, Value, same_bytes};

/// One JSON token of a document, in document order: an object is followed by its members
/// (a [`Node::Key`], then the value's nodes), an array by its items.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    /// A string without escapes: the document's text between these offsets.
    Str(u32, u32),
    /// A value read by `serde_json` (a string with escapes, a number with a fraction or an
    /// exponent, …): [`Doc::others`] at this index.
    Other(u32),
    /// An object's key, without escapes: the text between these offsets, and the index of its
    /// object's node. The keys of one object are distinct (the reader leaves objects with
    /// repeated keys to `serde_json`).
    Key(u32, u32, u32),
    /// An object: its number of members, and the index of the node after its last.
    Object(u32, u32),
    /// An array: its number of items, and the index of the node after its last.
    Array(u32, u32),
}

// A node is two words.
const _: () = assert!(std::mem::size_of::<Node>() == 16);

/// A JSON document read into [`Node`]s.
pub struct Doc {
    text: Box<str>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) others: Vec<Value>,
    /// The objects and arrays made into maps and lists, by node. Emptied when the rendering
    /// that read the document ends ([`Doc::forget`]): a template can put a value that points
    /// into the document into one of them, and the document would then hold itself.
    made: RefCell<rustc_hash::FxHashMap<u32, Value>>,
    /// Whether `made` holds anything: looked at on every read of a member or an item.
    any_made: Cell<bool>,
    /// The keys of the maps made, each distinct key shared.
    keys: RefCell<ReadState>,
    /// Where in its object the member last found with a name of each length (modulo 8) was,
    /// as its key's distance from the object's node: the objects of an array mostly have the
    /// same members in the same order, and a member found where the last one of its name was
    /// needs no search.
    hints: [Cell<u32>; 8],
}

impl std::fmt::Debug for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Doc").field("nodes", &self.nodes.len()).field("made", &self.made.borrow().len()).finish()
    }
}

#[cfg(test)]
thread_local! {
    /// Documents alive on this thread, for the tests that check none is leaked.
    pub(crate) static LIVE: Cell<usize> = const { Cell::new(0) };
}

#[cfg(test)]
impl Drop for Doc {
    fn drop(&mut self) {
        LIVE.with(|n| n.set(n.get() - 1));
    }
}

impl Doc {
    pub(crate) fn new(text: &str, nodes: Vec<Node>, others: Vec<Value>) -> Doc {
        #[cfg(test)]
        LIVE.with(|n| n.set(n.get() + 1));
        Doc {
            text: text.into(),
            nodes,
            others,
            made: RefCell::default(),
            any_made: Cell::new(false),
            keys: RefCell::default(),
            hints: Default::default(),
        }
    }

    /// The text between two offsets of a [`Node::Str`] or [`Node::Key`].
    #[inline(always)]
    fn slice(&self, start: u32, end: u32) -> &str {
        &self.text[start as usize..end as usize]
    }

    /// The index of the node after the value at `at` and everything in it.
    #[inline(always)]
    fn after(&self, at: u32) -> u32 {
        match self.nodes[at as usize] {
            Node::Object(_, end) | Node::Array(_, end) => end,
            _ => at + 1,
        }
    }

    /// The nodes of the items of the array at `at`, or of the members' values of the object at
    /// `at` (each after its key), in order; none for anything else.
    #[inline]
    fn children(&self, at: u32) -> impl Iterator<Item = u32> + '_ {
        let (n, object) = match self.nodes[at as usize] {
            Node::Object(n, _) => (n, 1),
            Node::Array(n, _) => (n, 0),
            _ => (0, 0),
        };
        let mut node = at + 1 + object;
        (0..n).map(move |_| {
            let child = node;
            node = self.after(child) + object;
            child
        })
    }

    /// The value of the node at `at`: a scalar as a value, an object or an array as a value
    /// that points here (or the map or list it was made into).
    #[inline]
    pub(crate) fn value(self: &Rc<Doc>, at: u32) -> Value {
        match self.nodes[at as usize] {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Int(i) => Value::Int(i),
            Node::Long(i) => Value::Long(i),
            Node::Str(s, e) | Node::Key(s, e, _) => Value::str(self.slice(s, e)),
            Node::Other(i) => self.others[i as usize].clone(),
            Node::Object(..) | Node::Array(..) => match self.made(at) {
                Some(v) => v,
                None => Value::Json(self.clone(), at),
            },
        }
    }

    /// What the object or array at `at` was made into, if it was.
    #[inline(always)]
    pub(crate) fn made(&self, at: u32) -> Option<Value> {
        if !self.any_made.get() {
            return None;
        }
        self.made.borrow().get(&at).cloned()
    }

    /// Is the object at `at` an object (else an array)?
    pub(crate) fn is_object(&self, at: u32) -> bool {
        matches!(self.nodes[at as usize], Node::Object(..))
    }

    /// The number of members or items of the object or array at `at`.
    pub(crate) fn len(&self, at: u32) -> usize {
        match self.nodes[at as usize] {
            Node::Object(n, _) | Node::Array(n, _) => n as usize,
            _ => 0,
        }
    }

    /// The member `name` of the object at `at` (not made), if it has one.
    #[inline]
    pub(crate) fn member(self: &Rc<Doc>, at: u32, name: &str) -> Option<Value> {
        let (nodes, text, name) = (&self.nodes, self.text.as_bytes(), name.as_bytes());
        // Is the node at `key` a key of this object's, of this name? (Lengths first: the keys
        // of an object mostly differ in length.)
        let is = |key: usize| match nodes.get(key) {
            Some(&Node::Key(s, e, object)) => {
                object == at
                    && (e - s) as usize == name.len()
                    && text.get(s as usize..e as usize).is_some_and(|k| same_bytes(k, name))
            }
            _ => false,
        };
        if !matches!(nodes.get(at as usize), Some(Node::Object(..))) {
            return None;
        }
        // Where the last member of a name of this length was.
        let hint = &self.hints[name.len() % 8];
        let guess = at as usize + hint.get() as usize;
        if is(guess) {
            return Some(self.value(guess as u32 + 1));
        }
        let found = self.children(at).find(|&value| is(value as usize - 1))?;
        hint.set(found - 1 - at);
        Some(self.value(found))
    }

    /// Item `i` of the array at `at` (not made), if it has one. The items before it are
    /// stepped over, so past the first few the array is made into its list (once), and the
    /// item taken from that: a loop over the indexes of a large array stays linear.
    pub(crate) fn item(self: &Rc<Doc>, at: u32, i: usize) -> Option<Value> {
        let Node::Array(n, _) = self.nodes[at as usize] else { return None };
        if i >= n as usize {
            return None;
        }
        if i >= 16 {
            return match self.make(at) {
                Value::List(items, _) => items.borrow().get(i).cloned(),
                _ => None,
            };
        }
        self.children(at).nth(i).map(|item| self.value(item))
    }

    /// The items of the array at `at`, or the values of the object at `at` (not made), in
    /// order.
    pub(crate) fn values(self: &Rc<Doc>, at: u32) -> Vec<Value> {
        self.children(at).map(|child| self.value(child)).collect()
    }

    /// The object or array at `at` as an ordinary map or list, made once: its objects and
    /// arrays are made with it, so that what the map or list holds never points back into
    /// the document.
    pub(crate) fn make(self: &Rc<Doc>, at: u32) -> Value {
        if let Some(v) = self.made(at) {
            return v;
        }
        let v = match self.nodes[at as usize] {
            Node::Object(..) => {
                let entries = self.children(at).map(|value| {
                    let Node::Key(s, e, _) = self.nodes[value as usize - 1] else {
                        unreachable!("a member's value follows its key")
                    };
                    // (The interner is let go of before the value is made: that makes its own keys.)
                    let key = self.keys.borrow_mut().intern(self.slice(s, e));
                    (key, self.made_value(value))
                });
                Value::map(JMap::linked_from(entries.collect()))
            }
            Node::Array(..) => {
                let items = self.children(at).map(|item| self.made_value(item)).collect();
                Value::List(Rc::new(RefCell::new(JList(items))), ListKind::Json)
            }
            _ => return self.value(at),
        };
        self.made.borrow_mut().insert(at, v.clone());
        self.any_made.set(true);
        v
    }

    /// The value at `at`, made if it is an object or an array.
    fn made_value(self: &Rc<Doc>, at: u32) -> Value {
        match self.nodes[at as usize] {
            Node::Object(..) | Node::Array(..) => self.make(at),
            _ => self.value(at),
        }
    }

    /// Writes the object or array at `at` as JSON (json-smart's compact style) straight from
    /// the nodes, when nothing of the document was made, and returns how many objects and
    /// arrays it holds. `None`, with nothing written, when something was made, or when a
    /// container in it is nested `depth` or more deep within it, or it holds more than
    /// `visits` containers: the limits a walk over the map or list it stands for would meet
    /// (see `Value::json_walk`), which that walk, not this one, then reports.
    pub(crate) fn write_json(&self, at: u32, out: &mut String, depth: usize, visits: usize) -> Option<usize> {
        if self.any_made.get() {
            return None;
        }
        let start = out.len();
        let mut containers = 0;
        let end = self.after(at);
        // The open containers: the node each ends before, and its closing bracket.
        let mut open: Vec<(u32, char)> = Vec::new();
        // No comma before the next value: it is the first of its container, or a member's.
        let mut first = true;
        for node in at..end {
            while let Some(&(close, c)) = open.last()
                && close == node
            {
                out.push(c);
                open.pop();
                first = false;
            }
            let n = self.nodes[node as usize];
            if !first {
                out.push(',');
            }
            first = false;
            match n {
                Node::Null => out.push_str("null"),
                Node::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                Node::Int(i) => crate::value::push_int(out, i64::from(i)),
                Node::Long(i) => crate::value::push_int(out, i),
                Node::Str(s, e) => crate::value::json_string(self.slice(s, e), out),
                Node::Other(i) => self.others[i as usize].json_into(out),
                Node::Key(s, e, _) => {
                    crate::value::json_string(self.slice(s, e), out);
                    out.push(':');
                    first = true;
                }
                Node::Object(_, close) | Node::Array(_, close) => {
                    // (The container at `at` itself is the caller's to count.)
                    if node != at {
                        containers += 1;
                        if open.len() > depth || containers > visits {
                            out.truncate(start);
                            return None;
                        }
                    }
                    let object = matches!(n, Node::Object(..));
                    out.push(if object { '{' } else { '[' });
                    open.push((close, if object { '}' } else { ']' }));
                    first = true;
                }
            }
        }
        while let Some((_, c)) = open.pop() {
            out.push(c);
        }
        Some(containers)
    }

    /// Forgets what was made of the document (see [`Doc::made`]); the maps and lists made
    /// are dropped after the table is let go of.
    pub(crate) fn forget(&self) {
        let made = std::mem::take(&mut *self.made.borrow_mut());
        self.any_made.set(false);
        drop(made);
    }
}
