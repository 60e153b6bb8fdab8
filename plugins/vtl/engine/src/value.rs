//! Values as Velocity 1.7 sees them: Java objects, with Java's rendering (`toString`),
//! equality, ordering and arithmetic.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::{Rc, Weak};

/// A value in a template.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Java `null` (also what an undefined reference evaluates to).
    #[default]
    Null,
    /// `java.lang.Boolean`.
    Bool(bool),
    /// `java.lang.Integer`.
    Int(i32),
    /// `java.lang.Long`.
    Long(i64),
    /// `java.lang.Double`.
    Double(f64),
    /// `java.lang.String`.
    Str(Rc<str>),
    /// A list: `java.util.ArrayList` (renders `[a, b]`) or a JSON array from `$input.path`
    /// (json-smart's `JSONArray`, which renders as JSON text).
    List(Rc<RefCell<JList>>, ListKind),
    /// A map: `java.util.HashMap` (map literals; iterates in Java's hash order) or
    /// `LinkedHashMap` (JSON objects, `$input.params()`, `$context`; insertion order).
    Map(Rc<RefCell<JMap>>),
    /// A `Map.Entry` from `entrySet()`.
    Entry(Rc<(Value, Value)>),
    /// A built-in object (`$input`, `$util`, `$foreach`, …).
    Object(Rc<dyn Object>),
    /// A JSON object or array of a payload read lazily: the node at this index of the
    /// document (see [`crate::Doc`]). It behaves as the `LinkedHashMap` or `JSONArray` it
    /// stands for; whatever needs the map or list itself gets the one the node was made into
    /// ([`Value::resolve`]).
    Json(Rc<crate::Doc>, u32),
}

/// How a list renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// `java.util.ArrayList`: `[a, b]`.
    Java,
    /// json-smart `JSONArray`: `["a","b"]`.
    Json,
}

/// A built-in object with methods and properties.
pub trait Object: std::fmt::Debug {
    /// The class name (for messages).
    fn class(&self) -> &'static str;
    /// `$obj.method(args)`; `None` when there is no such method.
    fn call(&self, method: &str, args: &[Value], env: &mut crate::render::Env<'_>) -> Option<crate::Result<Value>>;
    /// `$obj.property`; `None` when there is no such property.
    fn property(&self, name: &str, env: &mut crate::render::Env<'_>) -> Option<crate::Result<Value>> {
        let _ = (name, env);
        None
    }
    /// `toString()`.
    fn render(&self) -> String {
        format!("{}@{:x}", self.class(), self as *const Self as *const () as usize)
    }
    /// The object itself, for the objects that are looked at as their own type (`$foreach`).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// A Java map: `HashMap` or `LinkedHashMap` semantics.
///
/// Keys are shared strings: a key read from JSON is shared by every object of the payload
/// that has it, and `keySet()` hands out the keys themselves.
#[derive(Clone, Debug, Default)]
pub struct JMap {
    /// Entries in insertion order.
    entries: Vec<Entry>,
    /// `HashMap` (iteration in hash-bucket order) rather than `LinkedHashMap`.
    hashed: bool,
    /// The `HashMap`'s table size (it only grows).
    capacity: usize,
    /// Refuses a second `put` of the same key (`$context.requestOverride.*`).
    write_once: bool,
    /// Keys written by the template (for override maps).
    written: Vec<Rc<str>>,
}

/// A Java list's elements (`ArrayList`, json-smart's `JSONArray`): a `Vec` that is dropped
/// without recursion (see its `Drop`).
#[derive(Clone, Debug, Default)]
pub struct JList(pub Vec<Value>);

impl std::ops::Deref for JList {
    type Target = Vec<Value>;

    fn deref(&self) -> &Vec<Value> {
        &self.0
    }
}

impl std::ops::DerefMut for JList {
    fn deref_mut(&mut self) -> &mut Vec<Value> {
        &mut self.0
    }
}

/// Dropping a list or map drops what it holds, and a list a template nested a million deep
/// (`#set($a = [$a])` in loops within loops) would take as many nested calls: a stack
/// overflow. So the containers that a dropped list or map holds last are emptied into one
/// list of values to drop, one after the other (`drop_flat`); a list or map that holds no
/// such container (most do not: scalars, or containers also held elsewhere) is dropped as
/// usual.
impl Drop for JList {
    fn drop(&mut self) {
        if self.0.iter().any(held_last) {
            drop_flat(std::mem::take(&mut self.0));
        }
    }
}

impl Drop for JMap {
    fn drop(&mut self) {
        if self.entries.iter().any(|(_, v)| held_last(v)) {
            drop_flat(self.entries.iter_mut().filter(|(_, v)| held_last(v)).map(|(_, v)| std::mem::take(v)).collect());
        }
    }
}

/// A list, map or entry that this value is the last holder of.
#[inline]
fn held_last(v: &Value) -> bool {
    match v {
        Value::List(l, _) => Rc::strong_count(l) == 1,
        Value::Map(m) => Rc::strong_count(m) == 1,
        Value::Entry(e) => Rc::strong_count(e) == 1,
        _ => false,
    }
}

/// Drops `values`, moving what each container held last into `values` first, so that no
/// drop nests inside another.
fn drop_flat(mut values: Vec<Value>) {
    while let Some(mut v) = values.pop() {
        match &mut v {
            Value::List(l, _) if Rc::strong_count(l) == 1 => {
                if let Ok(mut items) = l.try_borrow_mut() {
                    values.append(&mut items.0);
                }
            }
            // Only the containers: the keys and the rest go with the map, in place.
            Value::Map(m) if Rc::strong_count(m) == 1 => {
                if let Ok(mut m) = m.try_borrow_mut() {
                    values.extend(m.entries.iter_mut().filter(|(_, v)| held_last(v)).map(|(_, v)| std::mem::take(v)));
                }
            }
            Value::Entry(e) => {
                if let Some((k, v)) = Rc::get_mut(e) {
                    values.push(std::mem::take(k));
                    values.push(std::mem::take(v));
                }
            }
            _ => {}
        }
    }
}

/// A list or map that a template put a container into (`$m.put('k', $list)`,
/// `$a.add($b)`, `#set($m.k = $n)`): the only way a template can make a container hold
/// itself, directly or through others. Reference counting cannot free such a cycle, so at the
/// end of a rendering [`break_cycles`] empties each of these that reaches itself.
pub(crate) enum Holder {
    List(Weak<RefCell<JList>>),
    Map(Weak<RefCell<JMap>>),
}

impl Holder {
    /// The container, if it still exists.
    fn upgrade(self) -> Option<Value> {
        match self {
            Holder::List(l) => l.upgrade().map(|l| Value::List(l, ListKind::Java)),
            Holder::Map(m) => m.upgrade().map(Value::Map),
        }
    }

    /// `v`, if it is a list or a map.
    pub(crate) fn of(v: &Value) -> Option<Holder> {
        match v {
            Value::List(l, _) => Some(Holder::List(Rc::downgrade(l))),
            Value::Map(m) => Some(Holder::Map(Rc::downgrade(m))),
            _ => None,
        }
    }
}

/// Is `v` a container (one that may hold others)?
pub(crate) fn is_container(v: &Value) -> bool {
    matches!(v, Value::List(..) | Value::Map(_) | Value::Entry(_) | Value::Json(..))
}

/// The address that identifies a container.
pub(crate) fn container_address(v: &Value) -> Option<usize> {
    match v {
        Value::List(l, _) => Some(Rc::as_ptr(l) as *const () as usize),
        Value::Map(m) => Some(Rc::as_ptr(m) as *const () as usize),
        Value::Entry(e) => Some(Rc::as_ptr(e) as *const () as usize),
        _ => None,
    }
}

/// The containers `v` holds directly.
fn children(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::List(l, _) => {
            if let Ok(items) = l.try_borrow() {
                out.extend(items.iter().filter(|x| is_container(x)).cloned());
            }
        }
        Value::Map(m) => {
            if let Ok(m) = m.try_borrow() {
                out.extend(m.entries.iter().map(|(_, x)| x).filter(|x| is_container(x)).cloned());
            }
        }
        Value::Entry(e) => out.extend([&e.0, &e.1].into_iter().filter(|x| is_container(x)).cloned()),
        _ => {}
    }
}

/// Empties every container of `holders` that still exists and reaches itself, so that the
/// cycles a template made are freed: what a cycle holds is dropped with it, and nothing that
/// is not on a cycle is touched.
///
/// This runs after the rendering, outside its time limit, so all the walks together visit at
/// most [`MAX_VISITS`] values, each container is walked from once (`holders` names each
/// once), and once that budget is spent the containers left are emptied without a walk (after
/// its rendering nothing but a caller that passed one in can see a container, and a leak is
/// worse than a container emptied after the rendering that filled it).
pub(crate) fn break_cycles(holders: Vec<Holder>) {
    let mut budget = MAX_VISITS;
    for root in holders.into_iter().filter_map(Holder::upgrade) {
        if budget > 0 && !reaches_itself(&root, &mut budget) {
            continue;
        }
        let held: Vec<Value> = match &root {
            Value::List(l, _) => l.try_borrow_mut().map(|mut l| std::mem::take(&mut l.0)).unwrap_or_default(),
            Value::Map(m) => m
                .try_borrow_mut()
                .map(|mut m| std::mem::take(&mut m.entries).into_iter().map(|(_, v)| v).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        drop(root);
        drop_flat(held);
    }
}

/// Does `root` hold itself, directly or through other containers? Each value looked at takes
/// one from `budget`; `true` when it runs out.
fn reaches_itself(root: &Value, budget: &mut usize) -> bool {
    let target = container_address(root);
    let mut seen = rustc_hash::FxHashSet::default();
    let mut stack = Vec::new();
    children(root, &mut stack);
    while let Some(v) = stack.pop() {
        if *budget == 0 {
            return true;
        }
        *budget -= 1;
        let address = container_address(&v);
        if address == target {
            return true;
        }
        if seen.insert(address) {
            children(&v, &mut stack);
        }
    }
    false
}

/// A map's entries in Java iteration order, borrowed (see [`JMap::ordered`]).
pub(crate) enum Ordered<'a> {
    /// A `LinkedHashMap`: insertion order.
    Linked(std::slice::Iter<'a, Entry>),
    /// A `HashMap`: hash-bucket order (entries with their buckets).
    Hashed(std::vec::IntoIter<(usize, &'a Entry)>),
}

/// The size a Java `HashMap` table of `size` grows to when it holds `len` entries: doubled
/// while more than three quarters full.
fn table_size(mut size: usize, len: usize) -> usize {
    while len > size * 3 / 4 {
        size *= 2;
    }
    size
}

/// A map entry.
pub(crate) type Entry = (Rc<str>, Value);

impl<'a> Iterator for Ordered<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Ordered::Linked(i) => i.next(),
            Ordered::Hashed(i) => i.next().map(|(_, e)| e),
        }
    }
}

impl JMap {
    /// An empty `LinkedHashMap`.
    pub fn linked() -> JMap {
        JMap::with_entries(Vec::new(), 16)
    }

    fn with_entries(entries: Vec<Entry>, capacity: usize) -> JMap {
        JMap { entries, hashed: false, capacity, write_once: false, written: Vec::new() }
    }

    /// An empty `LinkedHashMap` with room for `n` entries.
    pub(crate) fn linked_with_capacity(n: usize) -> JMap {
        JMap::with_entries(Vec::with_capacity(n), 16)
    }

    /// A `LinkedHashMap` of `entries`, whose keys are distinct.
    pub(crate) fn linked_from(entries: Vec<Entry>) -> JMap {
        let capacity = table_size(16, entries.len());
        JMap::with_entries(entries, capacity)
    }

    /// An empty `HashMap`.
    pub fn hashed() -> JMap {
        let mut m = JMap::linked();
        m.hashed = true;
        m
    }

    /// A map whose keys may each be set only once by a template.
    pub fn write_once() -> JMap {
        let mut m = JMap::linked();
        m.write_once = true;
        m
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| same_key(k, key)).map(|(_, v)| v)
    }

    /// Sets `key`, returning the previous value.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        self.put(key, value)
    }

    /// Sets `key` (a `String`, a `&str` or an already shared key), returning the previous
    /// value; the key is only converted to a shared string when it is new.
    pub(crate) fn put<K: AsRef<str> + Into<Rc<str>>>(&mut self, key: K, value: Value) -> Option<Value> {
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| same_key(k, key.as_ref())) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.push(key.into(), value);
        None
    }

    /// Appends an entry whose key is known to be new.
    fn push(&mut self, key: Rc<str>, value: Value) {
        self.entries.push((key, value));
        self.capacity = table_size(self.capacity, self.entries.len());
    }

    /// `put` from a template: honours write-once maps.
    pub(crate) fn put_checked(&mut self, key: Rc<str>, value: Value) -> crate::Result<Option<Value>> {
        if self.write_once {
            if self.written.contains(&key) {
                return Err(crate::Error::render(format!("`{key}` may be overridden only once per template")));
            }
            self.written.push(key.clone());
        }
        Ok(self.put(key, value))
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.entries.iter().position(|(k, _)| same_key(k, key))?;
        Some(self.entries.remove(i).1)
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Entries in Java iteration order.
    pub fn iter(&self) -> Vec<(String, Value)> {
        self.ordered().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    /// Entries in Java iteration order, without copying them.
    pub(crate) fn ordered(&self) -> Ordered<'_> {
        if !self.hashed {
            return Ordered::Linked(self.entries.iter());
        }
        let mut v: Vec<(usize, &Entry)> = self.entries.iter().map(|e| (bucket(&e.0, self.capacity), e)).collect();
        // Stable: insertion order within a bucket.
        v.sort_by_key(|(b, _)| *b);
        Ordered::Hashed(v.into_iter())
    }
}

/// `a == b` for map keys, which are mostly short: up to 16 bytes compared as two (possibly
/// overlapping) loads from each side instead of a call to `memcmp`, which took about 5% of a
/// template that reads JSON objects' members.
#[inline(always)]
pub(crate) fn same_key(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// [`same_key`] of the keys' bytes.
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // The first and the last `W` bytes of each (the same bytes twice when `n == W`), as
    // fixed-size arrays: each compare is one load and one compare, with no bounds check or
    // call left over.
    macro_rules! ends {
        ($w:literal) => {
            a.first_chunk::<$w>() == b.first_chunk::<$w>() && a.last_chunk::<$w>() == b.last_chunk::<$w>()
        };
    }
    match n {
        0 => true,
        1 => a[0] == b[0],
        2..=3 => ends!(2),
        4..=7 => ends!(4),
        8..=16 => ends!(8),
        _ => a == b,
    }
}

/// Java's `String.hashCode()` over UTF-16 code units.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// Java's `hashCode()` of a value (cut short past [`MAX_NESTING`], as [`Value::render_into`]).
pub fn java_hash_code(v: &Value) -> i32 {
    hash_walk(v, &mut Walk::new())
}

fn hash_walk(v: &Value, walk: &mut Walk) -> i32 {
    if let Value::Json(d, at) = v {
        return hash_walk(&d.make(*at), walk);
    }
    let container = matches!(v, Value::List(..) | Value::Map(_) | Value::Entry(_));
    if container && !walk.enter("") {
        return 0;
    }
    let h = match v {
        Value::Null => 0,
        Value::Bool(b) => {
            if *b {
                1231
            } else {
                1237
            }
        }
        Value::Int(i) => *i,
        Value::Long(l) => (*l ^ (*l >> 32)) as i32,
        Value::Double(d) => {
            let bits = if d.is_nan() { 0x7ff8000000000000u64 } else { d.to_bits() };
            (bits ^ (bits >> 32)) as i32
        }
        Value::Str(s) => java_hash(s),
        Value::List(items, _) => {
            items.borrow().iter().fold(1i32, |h, v| h.wrapping_mul(31).wrapping_add(hash_walk(v, walk)))
        }
        Value::Map(m) => {
            m.borrow().entries.iter().fold(0i32, |h, (k, v)| h.wrapping_add(java_hash(k) ^ hash_walk(v, walk)))
        }
        Value::Entry(e) => hash_walk(&e.0, walk) ^ hash_walk(&e.1, walk),
        Value::Object(o) => (Rc::as_ptr(o) as *const () as usize) as i32,
        Value::Json(..) => unreachable!("resolved above"),
    };
    if container {
        walk.leave();
    }
    h
}

/// The `HashMap` bucket of a key for a table of `capacity` slots.
fn bucket(key: &str, capacity: usize) -> usize {
    let h = java_hash(key) as u32;
    ((h ^ (h >> 16)) as usize) & (capacity - 1)
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<Rc<str>>) -> Value {
        Value::Str(s.into())
    }

    /// An integer as Java boxes one: `Integer` when it fits, else `Long`.
    ///
    /// Matched rather than `map_or(Value::Long(n), Value::Int)`, which builds (and drops) the
    /// `Long` first and then copies the chosen value out of a stack slot it had just written
    /// byte by byte, a wide load waiting on narrower stores.
    #[inline(always)]
    pub fn integer(n: i64) -> Value {
        match i32::try_from(n) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Long(n),
        }
    }

    /// Sets `slot` to a copy of `v`, each variant written into the slot where it is built.
    ///
    /// `*slot = Some(v.clone())` builds the copy in a temporary first and then moves it, a
    /// wide load right after the narrower stores that wrote it (a store-forwarding stall, on
    /// every `#set` and every turn of a `#foreach`).
    #[inline]
    pub(crate) fn assign(slot: &mut Option<Value>, v: &Value) {
        *slot = None;
        match v {
            Value::Null => *slot = Some(Value::Null),
            Value::Bool(b) => *slot = Some(Value::Bool(*b)),
            Value::Int(i) => *slot = Some(Value::Int(*i)),
            Value::Long(i) => *slot = Some(Value::Long(*i)),
            Value::Double(d) => *slot = Some(Value::Double(*d)),
            Value::Str(s) => *slot = Some(Value::Str(s.clone())),
            Value::List(l, kind) => *slot = Some(Value::List(l.clone(), *kind)),
            Value::Map(m) => *slot = Some(Value::Map(m.clone())),
            Value::Entry(e) => *slot = Some(Value::Entry(e.clone())),
            Value::Object(o) => *slot = Some(Value::Object(o.clone())),
            Value::Json(d, at) => *slot = Some(Value::Json(d.clone(), *at)),
        }
    }

    /// A new `ArrayList`.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(RefCell::new(JList(items))), ListKind::Java)
    }

    /// A new map.
    pub fn map(map: JMap) -> Value {
        Value::Map(Rc::new(RefCell::new(map)))
    }

    /// Is it `null`?
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Velocity 1.7 truthiness: only `null` and `false` are false.
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Null | Value::Bool(false))
    }

    /// The Java class name, for messages.
    pub fn class(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "java.lang.Boolean",
            Value::Int(_) => "java.lang.Integer",
            Value::Long(_) => "java.lang.Long",
            Value::Double(_) => "java.lang.Double",
            Value::Str(_) => "java.lang.String",
            Value::List(_, ListKind::Java) => "java.util.ArrayList",
            Value::List(_, ListKind::Json) => "net.minidev.json.JSONArray",
            Value::Map(m) if m.borrow().hashed => "java.util.HashMap",
            Value::Map(_) => "java.util.LinkedHashMap",
            Value::Entry(_) => "java.util.Map$Entry",
            Value::Object(o) => o.class(),
            Value::Json(d, at) if d.is_object(*at) => "java.util.LinkedHashMap",
            Value::Json(..) => "net.minidev.json.JSONArray",
        }
    }

    /// The map or list a lazily read JSON object or array stands for (made once, see
    /// [`crate::Doc`]); any other value as it is.
    #[inline]
    pub(crate) fn resolve(&self) -> std::borrow::Cow<'_, Value> {
        match self {
            Value::Json(d, at) => std::borrow::Cow::Owned(d.make(*at)),
            v => std::borrow::Cow::Borrowed(v),
        }
    }

    /// Java's `String.valueOf(this)`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    /// `String.valueOf(this)`, borrowed when the value is a string.
    pub(crate) fn as_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Str(s) => std::borrow::Cow::Borrowed(s),
            v => std::borrow::Cow::Owned(v.render()),
        }
    }

    /// Appends `String.valueOf(this)`.
    ///
    /// A Java list or map that holds itself shows `(this Collection)` / `(this Map)` there, as
    /// Java's do; a value nested deeper than [`MAX_NESTING`] (a cycle through two or more
    /// containers, where Java overflows its stack) or whose text would pass the rendering's
    /// output limit is cut short, and the template's rendering fails with [`crate::Error::Limit`].
    pub fn render_into(&self, out: &mut String) {
        // The usual values first, without the walk a container needs.
        match self {
            Value::Str(s) => out.push_str(s),
            Value::Int(i) => push_int(out, i64::from(*i)),
            _ => self.text_into(out, &mut Walk::new()),
        }
    }

    fn text_into(&self, out: &mut String, walk: &mut Walk) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => push_int(out, i64::from(*i)),
            Value::Long(i) => push_int(out, *i),
            Value::Double(d) => out.push_str(&java_double(*d)),
            Value::Str(s) => out.push_str(s),
            Value::List(items, ListKind::Java) => {
                if !walk.enter(out) {
                    return;
                }
                out.push('[');
                for (i, v) in items.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    match v {
                        Value::List(l, _) if Rc::ptr_eq(l, items) => out.push_str("(this Collection)"),
                        v => v.text_into(out, walk),
                    }
                    if walk.stopped(out) {
                        break;
                    }
                }
                out.push(']');
                walk.leave();
            }
            Value::List(..) => self.json_walk(out, walk),
            Value::Map(m) => {
                if !walk.enter(out) {
                    return;
                }
                out.push('{');
                for (i, (k, v)) in m.borrow().ordered().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    match v {
                        Value::Map(v) if Rc::ptr_eq(v, m) => out.push_str("(this Map)"),
                        v => v.text_into(out, walk),
                    }
                    if walk.stopped(out) {
                        break;
                    }
                }
                out.push('}');
                walk.leave();
            }
            Value::Entry(e) => {
                if !walk.enter(out) {
                    return;
                }
                e.0.text_into(out, walk);
                out.push('=');
                e.1.text_into(out, walk);
                walk.leave();
            }
            Value::Object(o) => out.push_str(&o.render()),
            Value::Json(d, at) => d.make(*at).text_into(out, walk),
        }
    }

    /// The value as JSON text (json-smart's compact style).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.json_into(&mut out);
        out
    }

    /// Appends the value as JSON text (json-smart's compact style); cut short as
    /// [`Value::render_into`] is (json-smart has no guard for a container that holds itself).
    pub(crate) fn json_into(&self, out: &mut String) {
        self.json_walk(out, &mut Walk::new());
    }

    fn json_walk(&self, out: &mut String, walk: &mut Walk) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(_) | Value::Int(_) | Value::Long(_) => self.text_into(out, walk),
            Value::Double(d) if d.is_finite() => out.push_str(&java_double(*d)),
            Value::Double(_) => out.push_str("null"),
            Value::Str(s) => json_string(s, out),
            Value::List(items, _) => {
                if !walk.enter(out) {
                    return;
                }
                out.push('[');
                for (i, v) in items.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.json_walk(out, walk);
                    if walk.stopped(out) {
                        break;
                    }
                }
                out.push(']');
                walk.leave();
            }
            Value::Map(m) => {
                if !walk.enter(out) {
                    return;
                }
                out.push('{');
                for (i, (k, v)) in m.borrow().ordered().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_string(k, out);
                    out.push(':');
                    v.json_walk(out, walk);
                    if walk.stopped(out) {
                        break;
                    }
                }
                out.push('}');
                walk.leave();
            }
            Value::Json(d, at) => {
                if !walk.enter(out) {
                    return;
                }
                // The containers inside counted as the walk over the map or list would count
                // them (a container `MAX_NESTING - depth` levels into this one would be past
                // the nesting limit), so that the same values meet the same limits.
                let budget = (MAX_NESTING - walk.depth, MAX_VISITS.saturating_sub(walk.visits));
                let written = d.write_json(*at, out, budget.0, budget.1);
                walk.leave();
                match written {
                    Some(containers) => {
                        walk.visits += containers;
                        walk.stopped(out);
                    }
                    None => {
                        // Entered once already.
                        walk.visits -= 1;
                        d.make(*at).json_walk(out, walk);
                    }
                }
            }
            Value::Entry(_) | Value::Object(_) => {
                let mut text = String::new();
                self.text_into(&mut text, walk);
                json_string(&text, out);
            }
        }
    }

    /// Parses JSON text straight into values (no intermediate `serde_json::Value`): objects
    /// become `LinkedHashMap`s, arrays `JSONArray`s, integers `Integer` or `Long`, other numbers
    /// `Double`.
    pub fn parse_json(text: &str) -> Result<Value, serde_json::Error> {
        crate::json::parse(text)
    }

    /// From parsed JSON: objects become `LinkedHashMap`s, arrays `JSONArray`s, integers
    /// `Integer` or `Long`, other numbers `Double`.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::integer(i)
                } else {
                    Value::Double(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => {
                Value::List(Rc::new(RefCell::new(JList(a.iter().map(Value::from_json).collect()))), ListKind::Json)
            }
            serde_json::Value::Object(o) => {
                let mut m = JMap::linked();
                for (k, v) in o {
                    m.put(k.as_str(), Value::from_json(v));
                }
                Value::map(m)
            }
        }
    }

    /// The number, if it is one: `(as i64 if integral, as f64, is it a Long)`.
    pub(crate) fn number(&self) -> Option<Num> {
        match self {
            Value::Int(i) => Some(Num::Int(i64::from(*i), false)),
            Value::Long(i) => Some(Num::Int(*i, true)),
            Value::Double(d) => Some(Num::Double(*d)),
            _ => None,
        }
    }

    /// As an `int` argument (Java would unbox an Integer; Velocity also converts other numbers).
    pub(crate) fn as_index(&self) -> Option<i64> {
        match self.number()? {
            Num::Int(i, _) => Some(i),
            Num::Double(d) => Some(d as i64),
        }
    }
}

/// The state of reading one JSON document: its keys, each distinct key allocated once and
/// shared by every object that has it, and the stacks the open containers collect their
/// members on, so that each container's storage is allocated once, at its final size.
#[derive(Default)]
pub(crate) struct ReadState {
    /// The keys met last, by [`ReadState::slot`]: a key read again (the same members in each
    /// object of an array) is found here with one comparison.
    recent: [Option<Rc<str>>; 32],
    /// The first keys, searched in order (documents usually have few distinct keys).
    few: Vec<Rc<str>>,
    /// The others.
    many: rustc_hash::FxHashSet<Rc<str>>,
    /// The entries of the open objects, innermost last; a closing object takes its own
    /// with `split_off`, allocated at their final size.
    pub(crate) entries: Vec<Entry>,
    /// The items of the open arrays, innermost last, taken the same way.
    pub(crate) items: Vec<Value>,
}

impl ReadState {
    /// Keys searched linearly before hashing takes over.
    const FEW: usize = 16;

    /// Where `s` goes in `recent`: by its length and its first and last bytes.
    #[inline(always)]
    fn slot(s: &str) -> usize {
        let b = s.as_bytes();
        let (first, last) = (b.first().copied().unwrap_or(0), b.last().copied().unwrap_or(0));
        (b.len().wrapping_mul(7) ^ usize::from(first) ^ usize::from(last).wrapping_mul(3)) & 31
    }

    /// The shared key `s`.
    #[inline(always)]
    pub(crate) fn intern(&mut self, s: &str) -> Rc<str> {
        let slot = ReadState::slot(s);
        if let Some(k) = &self.recent[slot]
            && same_key(k, s)
        {
            return k.clone();
        }
        let k = self.intern_slow(s);
        self.recent[slot] = Some(k.clone());
        k
    }

    /// [`ReadState::intern`] of a key not in `recent`.
    fn intern_slow(&mut self, s: &str) -> Rc<str> {
        if let Some(k) = self.few.iter().find(|k| same_key(k, s)) {
            return k.clone();
        }
        if self.few.len() < ReadState::FEW {
            let k: Rc<str> = Rc::from(s);
            self.few.push(k.clone());
            return k;
        }
        if let Some(k) = self.many.get(s) {
            return k.clone();
        }
        let k: Rc<str> = Rc::from(s);
        self.many.insert(k.clone());
        k
    }
}

/// Deserializes JSON into [`Value`]s directly, sharing object keys through the interner.
pub(crate) struct JsonSeed<'k>(pub(crate) &'k mut ReadState);

impl<'de> serde::de::DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(JsonVisitor(self.0))
    }
}

pub(crate) struct JsonVisitor<'k>(pub(crate) &'k mut ReadState);

impl<'de> serde::de::Visitor<'de> for JsonVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::integer(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Value::integer(i),
            Err(_) => Value::Double(u as f64),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Double(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::str(s))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let start = self.0.items.len();
        while let Some(v) = seq.next_element_seed(JsonSeed(&mut *self.0))? {
            self.0.items.push(v);
        }
        let items = self.0.items.split_off(start);
        Ok(Value::List(Rc::new(RefCell::new(JList(items))), ListKind::Json))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let start = self.0.entries.len();
        while let Some(k) = map.next_key_seed(KeySeed(&mut *self.0))? {
            let v = map.next_value_seed(JsonSeed(&mut *self.0))?;
            // A repeated key keeps its first place and takes the last value, as
            // `LinkedHashMap.put` does; the same key is the same pointer.
            match self.0.entries[start..].iter_mut().find(|(e, _)| Rc::ptr_eq(e, &k)) {
                Some(slot) => slot.1 = v,
                None => self.0.entries.push((k, v)),
            }
        }
        Ok(Value::map(JMap::linked_from(self.0.entries.split_off(start))))
    }
}

/// An object key, interned.
struct KeySeed<'k>(&'k mut ReadState);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Rc<str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Rc<str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed<'_> {
    type Value = Rc<str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, s: &str) -> Result<Rc<str>, E> {
        Ok(self.0.intern(s))
    }
}

/// A number for arithmetic.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Num {
    /// Integer or Long (the flag).
    Int(i64, bool),
    /// Double.
    Double(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::Int(i, _) => i as f64,
            Num::Double(d) => d,
        }
    }
}

/// An integral result in the narrowest of Integer and Long that holds it, but never narrower
/// than the widest operand (Velocity's `MathUtils`).
#[inline(always)]
fn integral(v: i64, long: bool) -> Value {
    match i32::try_from(v) {
        Ok(i) if !long => Value::Int(i),
        _ => Value::Long(v),
    }
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

/// `a op b` with Velocity 1.7's rules; null when undefined (a null operand, a non-number,
/// division by zero).
///
/// An error only for a string longer than [`check_len`] allows. Returned as the `Result` the
/// renderer's `eval` returns, so that `eval` returns it as it is and this writes the value
/// where `eval`'s caller reads it. (An `Option` or a bare value was copied out of this call's
/// result right after this wrote it there, a wide load waiting on the narrower stores before
/// it.)
pub(crate) fn arith(op: ArithOp, a: &Value, b: &Value) -> crate::Result<Value> {
    if op == ArithOp::Add && (matches!(a, Value::Str(_)) || matches!(b, Value::Str(_))) && !a.is_null() && !b.is_null()
    {
        let (a, b) = (a.render(), b.render());
        check_len(a.len() + b.len())?;
        return Ok(Value::str(format!("{a}{b}")));
    }
    let (Some(x), Some(y)) = (a.number(), b.number()) else { return Ok(Value::Null) };
    match (x, y) {
        (Num::Int(x, lx), Num::Int(y, ly)) => {
            let long = lx || ly;
            let r = match op {
                ArithOp::Add => x.checked_add(y),
                ArithOp::Sub => x.checked_sub(y),
                ArithOp::Mul => x.checked_mul(y),
                ArithOp::Div if y == 0 => return Ok(Value::Null),
                ArithOp::Div => x.checked_div(y),
                ArithOp::Mod if y == 0 => return Ok(Value::Null),
                ArithOp::Mod => x.checked_rem(y),
            };
            match r {
                Some(r) => Ok(integral(r, long)),
                // Past Long: Velocity goes to BigInteger; a Double is the closest we keep.
                None => Ok(Value::Double(float_op(op, x as f64, y as f64))),
            }
        }
        _ => {
            if matches!(op, ArithOp::Div | ArithOp::Mod) && y.f() == 0.0 {
                return Ok(Value::Null);
            }
            Ok(Value::Double(float_op(op, x.f(), y.f())))
        }
    }
}

fn float_op(op: ArithOp, x: f64, y: f64) -> f64 {
    match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => x / y,
        ArithOp::Mod => x % y,
    }
}

/// `a == b` as Velocity 1.7 decides it: numbers by value, same classes by `equals`, different
/// classes by their `toString()`.
pub(crate) fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => {
            if let (Some(x), Some(y)) = (a.number(), b.number()) {
                return compare_nums(x, y) == Some(std::cmp::Ordering::Equal);
            }
            if a.class() == b.class() { java_equals(a, b) } else { a.render() == b.render() }
        }
    }
}

/// Java's `a.equals(b)` (false past [`MAX_NESTING`], as [`Value::render_into`] is cut short).
pub(crate) fn java_equals(a: &Value, b: &Value) -> bool {
    equals_walk(a, b, &mut Walk::new())
}

fn equals_walk(a: &Value, b: &Value, walk: &mut Walk) -> bool {
    if let (Value::Json(..), _) | (_, Value::Json(..)) = (a, b) {
        return equals_walk(&a.resolve(), &b.resolve(), walk);
    }
    let container = matches!(a, Value::List(..) | Value::Map(_) | Value::Entry(_));
    if container && !walk.enter("") {
        return false;
    }
    let same = match (a, b) {
        // Java's `equals` of a list or map is true at once for itself.
        (Value::List(x, _), Value::List(y, _)) if Rc::ptr_eq(x, y) => true,
        (Value::Map(x), Value::Map(y)) if Rc::ptr_eq(x, y) => true,
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Long(x), Value::Long(y)) => x == y,
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits() || (x == y && *x != 0.0),
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x, _), Value::List(y, _)) => {
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| equals_walk(a, b, walk))
        }
        (Value::Map(x), Value::Map(y)) => {
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len() && x.entries.iter().all(|(k, v)| y.get(k).is_some_and(|w| equals_walk(v, w, walk)))
        }
        (Value::Entry(x), Value::Entry(y)) => equals_walk(&x.0, &y.0, walk) && equals_walk(&x.1, &y.1, walk),
        (Value::Object(x), Value::Object(y)) => Rc::ptr_eq(x, y),
        _ => false,
    };
    if container {
        walk.leave();
    }
    same
}

/// How deep the walks over values (text, JSON, `equals`, `hashCode`) follow lists and maps
/// inside lists and maps. JSON payloads are read at most 128 deep (serde_json's limit), so
/// only a value a template built can be deeper: in practice one that holds itself through
/// another container, where Java would overflow its stack.
pub const MAX_NESTING: usize = 256;

/// Containers one walk visits at most: a value that holds the same container many times
/// over, level after level, is a small graph with an exponentially large tree.
const MAX_VISITS: usize = 1 << 20;

thread_local! {
    /// Set when a walk was cut short (see [`take_overflow`]).
    static OVERFLOW: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The longest text a walk writes: the rendering's output limit while a template renders.
    static TEXT_CAP: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Whether a walk over values on this thread was cut short since the last call; clears it.
/// A rendering checks it when it ends and fails if it was: its output would hold a cut value.
pub(crate) fn take_overflow() -> bool {
    OVERFLOW.with(|f| f.replace(false))
}

/// Sets the longest text a walk writes on this thread, returning the previous setting.
pub(crate) fn set_text_cap(cap: usize) -> usize {
    TEXT_CAP.with(|c| c.replace(cap))
}

/// The longest text a walk writes on this thread: while a template renders, its output limit.
/// It bounds what a template makes, too: no string longer than that (its text could not be
/// written out), and no list of more than half that many items (two bytes an item at least).
pub(crate) fn text_cap() -> usize {
    TEXT_CAP.with(std::cell::Cell::get)
}

/// Fails when a string of `len` bytes would be longer than [`text_cap`]. The operations whose
/// result can be longer than what they were given check before or while they build it, so that
/// a template that grows a string over and over (`#set($s = $s.replace("x", $s))`) fails at
/// the limit instead of running out of memory between two checks of its time.
pub(crate) fn check_len(len: usize) -> crate::Result<()> {
    let cap = text_cap();
    if len > cap {
        return Err(crate::Error::Limit(format!("a string longer than {cap} bytes")));
    }
    Ok(())
}

/// As [`check_len`], for a list of `items` items.
pub(crate) fn check_items(items: usize) -> crate::Result<()> {
    let cap = text_cap() / 2;
    if items > cap {
        return Err(crate::Error::Limit(format!("a list of more than {cap} items")));
    }
    Ok(())
}

/// One walk's depth and count of containers visited.
struct Walk {
    depth: usize,
    visits: usize,
    cap: usize,
    stopped: bool,
}

impl Walk {
    /// A walk; the thread's settings are read when it enters its first container (most
    /// values written are strings and numbers).
    fn new() -> Walk {
        Walk { depth: 0, visits: 0, cap: usize::MAX, stopped: false }
    }

    /// Enters a container: false (and the walk stops) past the limits.
    fn enter(&mut self, out: &str) -> bool {
        if self.visits == 0 {
            self.cap = TEXT_CAP.with(std::cell::Cell::get);
            // After one walk was cut short, the rest of the rendering's are too: it fails
            // anyway, and a loop over a value that holds itself ends at once.
            self.stopped = OVERFLOW.with(std::cell::Cell::get);
        }
        self.visits += 1;
        if self.stopped || self.depth >= MAX_NESTING || self.visits > MAX_VISITS || out.len() > self.cap {
            self.stop();
            return false;
        }
        self.depth += 1;
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Whether the walk stopped, or must because `out` passed the cap.
    fn stopped(&mut self, out: &str) -> bool {
        if !self.stopped && out.len() > self.cap {
            self.stop();
        }
        self.stopped
    }

    fn stop(&mut self) {
        self.stopped = true;
        OVERFLOW.with(|f| f.set(true));
    }
}

fn compare_nums(x: Num, y: Num) -> Option<std::cmp::Ordering> {
    match (x, y) {
        (Num::Int(a, _), Num::Int(b, _)) => Some(a.cmp(&b)),
        _ => x.f().partial_cmp(&y.f()),
    }
}

/// `<`, `>`, `<=`, `>=` on numbers; `None` for anything else (Velocity logs an error and the
/// comparison is false).
pub(crate) fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    compare_nums(a.number()?, b.number()?)
}

/// Java's `Double.toString(d)`.
pub fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Shortest round-trip digits and the decimal exponent.
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if d < 0.0 { "-" } else { "" };
    let abs = d.abs();
    if (1e-3..1e7).contains(&abs) {
        let point = exp + 1; // digits before the decimal point
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{s}")
    } else {
        let rest = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{sign}{}.{}E{}", &digits[..1], rest, exp)
    }
}

/// Appends an integer in decimal (what `write!` does, without the formatting machinery).
pub(crate) fn push_int(out: &mut String, n: i64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// The bytes that may start a character [`json_string`] escapes.
pub(crate) const MAY_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b < 0x20 || matches!(b as u8, b'"' | b'\\' | b'/' | 0x7f | 0xc2 | 0xe2);
        b += 1;
    }
    t
};

/// A JSON string literal (json-smart escapes `"`, `\`, control characters, and `/`).
pub(crate) fn json_string(s: &str, out: &mut String) {
    out.push('"');
    // Runs of characters that need no escape are copied whole. Only ASCII specials and the
    // characters encoded with a leading 0xC2 (U+0080–U+00BF) or 0xE2 (U+2000–U+2FFF) byte may
    // need one.
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !MAY_ESCAPE[usize::from(bytes[i])] {
            i += 1;
            continue;
        }
        let c = s[i..].chars().next().expect("a character starts here");
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '/' => "\\/",
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) || ('\u{2000}'..='\u{20ff}').contains(&c) => {
                ""
            }
            _ => {
                i += c.len_utf8();
                continue;
            }
        };
        out.push_str(&s[run..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04X}", c as u32);
        } else {
            out.push_str(escape);
        }
        i += c.len_utf8();
        run = i;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_render_like_java() {
        for (d, s) in [
            (1.0, "1.0"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1234567.0, "1234567.0"),
            (12345678.0, "1.2345678E7"),
            (1e21, "1.0E21"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(java_double(d), s, "{d}");
        }
    }

    #[test]
    fn hash_map_iterates_in_java_order() {
        // Java: new HashMap<>() with a, b, c, aa, bb → {aa=4, bb=5, a=1, b=2, c=3}
        let mut m = JMap::hashed();
        for (i, k) in ["a", "b", "c", "aa", "bb"].iter().enumerate() {
            m.insert((*k).to_string(), Value::Int(i as i32 + 1));
        }
        assert_eq!(Value::map(m).render(), "{aa=4, bb=5, a=1, b=2, c=3}");
        assert_eq!(java_hash("hello"), 99162322);
    }

    #[test]
    fn json_strings_escape_like_json_smart() {
        let s = Value::str("a/\"\\\n\u{1}\u{7f}\u{85}\u{a0}é\u{2028}\u{20ac}\u{2100}😀");
        assert_eq!(s.to_json(), "\"a\\/\\\"\\\\\\n\\u0001\\u007F\\u0085\u{a0}é\\u2028\\u20AC\u{2100}😀\"");
        assert_eq!(Value::Int(-2147483648).render(), "-2147483648");
        assert_eq!(Value::Long(i64::MIN).render(), i64::MIN.to_string());
        assert_eq!(Value::Int(0).render(), "0");
    }

    #[test]
    fn short_keys_compare_as_strings_do() {
        for (a, b) in [
            ("", ""),
            ("a", "a"),
            ("a", "b"),
            ("ab", "ab"),
            ("abc", "abd"),
            ("abcd", "abce"),
            ("price", "prize"),
            ("abcdefgh", "abcdefgh"),
            ("abcdefghi", "abcdefghj"),
            ("abcdefghijkl", "abcdefXhijkl"),
            ("0123456789abcdef", "0123456789abcdef"),
            ("0123456789abcdef", "0123456X89abcdef"),
            ("0123456789abcdefg", "0123456789abcdefh"),
            ("id", "idx"),
            ("xbc", "abc"),
        ] {
            assert_eq!(same_key(a, b), a == b, "{a:?} {b:?}");
            assert_eq!(same_key(b, a), a == b, "{b:?} {a:?}");
        }
    }

    #[test]
    fn integer_arithmetic_widens_on_overflow() {
        assert!(matches!(arith(ArithOp::Add, &Value::Int(i32::MAX), &Value::Int(1)), Ok(Value::Long(2147483648))));
        assert!(matches!(arith(ArithOp::Div, &Value::Int(7), &Value::Int(2)), Ok(Value::Int(3))));
        assert!(matches!(arith(ArithOp::Div, &Value::Int(7), &Value::Int(0)), Ok(Value::Null)));
        assert!(matches!(arith(ArithOp::Mul, &Value::Int(2), &Value::Double(1.5)), Ok(Value::Double(3.0))));
    }
}
