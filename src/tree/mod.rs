//! A borrowed JSON tree. Records are parsed into it without copying their strings (a string
//! without escapes stays a slice of the input), documents are built in it and written once.
//!
//! It replaces `serde_json::Value` inside the mapping: `Value` (with `preserve_order`) allocates
//! every key and string and hashes every key with SipHash, which alone costs more than the
//! generic parse + write that issue 7 measures the mapping against. Objects here are vectors of
//! pairs, searched by comparing keys (records and documents have tens of keys, not thousands).

use std::borrow::Cow;

use serde_json::Value;

mod doc;
mod parse;
mod write;

pub use doc::Doc;
pub use parse::{parse, parse_with_serde_json};
pub use write::{node_to_string, obj_to_string, to_string, to_writer, write_node};

/// A JSON value whose strings may borrow from the text it was parsed from (`'a`).
///
/// Natively the tag is a whole word (`repr(u64)`, the same 32 bytes): with a one-byte tag, a
/// `Bool`'s payload sits at offset 1 and every move of a node copies bytes 1–31 with unaligned
/// vector loads over the narrower stores that made it, which the CPU cannot forward (a stall
/// per move; vulnerability ECS 0.81 → 0.86 of the baseline in CPU time). In WebAssembly
/// (32-bit) a word tag would make nodes 24 bytes instead of 16.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(not(target_arch = "wasm32"), repr(u64))]
pub enum Node<'a> {
    #[default]
    Null,
    Bool(bool),
    /// A non-negative integer (as serde_json's `PosInt`).
    UInt(u64),
    /// A negative integer (as serde_json's `NegInt`); constructors keep non-negatives in `UInt`.
    Int(i64),
    /// A finite float; constructors turn NaN and infinities into `Null`, as serde_json does.
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Obj<'a>),
}

// A node stays four words: objects hold thousands of them.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Node<'static>>() == 32);

/// A JSON object: its members in order. Keys are unique (parsing and [`Obj::insert`] keep them
/// so; a repeated key in the input keeps its first position and its last value, as
/// serde_json's `Map` does).
#[derive(Debug, Clone, Default)]
pub struct Obj<'a>(Vec<(Cow<'a, str>, Node<'a>)>);

static NULL: Node<'static> = Node::Null;

impl<'a> Node<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }
    pub fn is_string(&self) -> bool {
        matches!(self, Node::Str(_))
    }
    pub fn is_object(&self) -> bool {
        matches!(self, Node::Object(_))
    }
    pub fn is_array(&self) -> bool {
        matches!(self, Node::Array(_))
    }
    pub fn is_number(&self) -> bool {
        matches!(self, Node::UInt(_) | Node::Int(_) | Node::Float(_))
    }
    /// The JSON type name, for messages (`"string"`, `"object"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "boolean",
            Node::UInt(_) | Node::Int(_) | Node::Float(_) => "number",
            Node::Str(_) => "string",
            Node::Array(_) => "array",
            Node::Object(_) => "object",
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The string, keeping its borrow of the input where it has one.
    pub fn as_cow(&self) -> Option<Cow<'a, str>> {
        match self {
            Node::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Node::UInt(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Node::UInt(n) => i64::try_from(*n).ok(),
            Node::Int(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Node::UInt(n) => Some(*n as f64),
            Node::Int(n) => Some(*n as f64),
            Node::Float(f) => Some(*f),
            _ => None,
        }
    }
    pub fn is_i64(&self) -> bool {
        self.as_i64().is_some()
    }
    pub fn is_u64(&self) -> bool {
        matches!(self, Node::UInt(_))
    }
    pub fn is_f64(&self) -> bool {
        matches!(self, Node::Float(_))
    }
    pub fn as_array(&self) -> Option<&Vec<Node<'a>>> {
        match self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Node<'a>>> {
        match self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&Obj<'a>> {
        match self {
            Node::Object(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_object_mut(&mut self) -> Option<&mut Obj<'a>> {
        match self {
            Node::Object(o) => Some(o),
            _ => None,
        }
    }
    /// The member `key` of an object; `None` for other values.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.as_object()?.get(key)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node<'a>> {
        self.as_object_mut()?.get_mut(key)
    }
    /// Takes the value, leaving `Null`.
    pub fn take(&mut self) -> Node<'a> {
        std::mem::take(self)
    }
    /// A float, or `Null` when it is not finite (as `serde_json::Value::from(f64)`).
    pub fn float(f: f64) -> Node<'a> {
        if f.is_finite() {
            Node::Float(f)
        } else {
            Node::Null
        }
    }
    /// The value with every string owned: it no longer borrows the input.
    pub fn into_owned(self) -> Node<'static> {
        match self {
            Node::Null => Node::Null,
            Node::Bool(b) => Node::Bool(b),
            Node::UInt(n) => Node::UInt(n),
            Node::Int(n) => Node::Int(n),
            Node::Float(f) => Node::Float(f),
            Node::Str(s) => Node::Str(Cow::Owned(s.into_owned())),
            Node::Array(a) => Node::Array(a.into_iter().map(Node::into_owned).collect()),
            Node::Object(o) => Node::Object(o.into_owned()),
        }
    }
    /// The equivalent `serde_json::Value` (for tests and the mapping code not yet moved here).
    pub fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::UInt(n) => Value::from(*n),
            Node::Int(n) => Value::from(*n),
            Node::Float(f) => Value::from(*f),
            Node::Str(s) => Value::String(s.to_string()),
            Node::Array(a) => Value::Array(a.iter().map(Node::to_value).collect()),
            Node::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
    /// The equivalent `serde_json::Value`, moving owned strings instead of copying them.
    pub fn into_value(self) -> Value {
        match self {
            Node::Str(s) => Value::String(s.into_owned()),
            Node::Array(a) => Value::Array(a.into_iter().map(Node::into_value).collect()),
            Node::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_value()))
                    .collect(),
            ),
            scalar => scalar.to_value(),
        }
    }
    /// The equivalent of a `serde_json::Value`, taking its strings.
    pub fn from_value(v: Value) -> Node<'static> {
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Node::UInt(u)
                } else if let Some(i) = n.as_i64() {
                    Node::Int(i)
                } else {
                    Node::float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => Node::Str(Cow::Owned(s)),
            Value::Array(a) => Node::Array(a.into_iter().map(Node::from_value).collect()),
            Value::Object(m) => Node::Object(Obj(m
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), Node::from_value(v)))
                .collect())),
        }
    }
    /// The value as a string the way Elastic's `convert: type: string` renders it (as
    /// [`crate::doc::to_string_value`]); strings keep their borrow.
    pub fn to_text(&self) -> Option<Cow<'a, str>> {
        match self {
            Node::Null => None,
            Node::Str(s) => Some(s.clone()),
            Node::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Node::UInt(n) => Some(Cow::Owned(n.to_string())),
            Node::Int(n) => Some(Cow::Owned(n.to_string())),
            // serde_json's own float text, so that both paths agree to the digit.
            Node::Float(f) => Some(Cow::Owned(
                serde_json::Number::from_f64(*f).map_or_else(String::new, |n| n.to_string()),
            )),
            other => Some(Cow::Owned(other.to_json_string())),
        }
    }
    /// Compact JSON text (serde_json's bytes, see [`write_node`]).
    pub fn to_json_string(&self) -> String {
        write::node_to_string(self)
    }
}

impl PartialEq for Obj<'_> {
    /// Objects are equal when they have the same members in any order (as serde_json's `Map`).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<'a> Obj<'a> {
    pub fn new() -> Self {
        Obj(Vec::new())
    }
    pub fn with_capacity(n: usize) -> Self {
        Obj(Vec::with_capacity(n))
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| same_key(k, key))
    }
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.0
            .iter()
            .find(|(k, _)| same_key(k, key))
            .map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node<'a>> {
        self.0
            .iter_mut()
            .find(|(k, _)| same_key(k, key))
            .map(|(_, v)| v)
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }
    /// Sets `key` to `value`: in place when the key is there (its position kept), appended
    /// otherwise. Returns the old value.
    pub fn insert(
        &mut self,
        key: impl Into<Cow<'a, str>>,
        value: impl Into<Node<'a>>,
    ) -> Option<Node<'a>> {
        let key = key.into();
        let value = value.into();
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }
    /// Appends a member whose key the caller knows is not there yet (no search).
    pub fn push(&mut self, key: impl Into<Cow<'a, str>>, value: impl Into<Node<'a>>) {
        self.0.push((key.into(), value.into()));
    }
    /// Sets `key` unless `value` is null (as [`crate::doc::put`]).
    pub fn put(&mut self, key: impl Into<Cow<'a, str>>, value: impl Into<Node<'a>>) {
        let value = value.into();
        if !value.is_null() {
            self.insert(key, value);
        }
    }
    /// [`Obj::put`] of a value that may be absent.
    pub fn put_some(&mut self, key: impl Into<Cow<'a, str>>, value: Option<impl Into<Node<'a>>>) {
        if let Some(v) = value {
            self.put(key, v);
        }
    }
    /// Removes `key`, keeping the order of the others (as `shift_remove`).
    pub fn remove(&mut self, key: &str) -> Option<Node<'a>> {
        let i = self.position(key)?;
        Some(self.0.remove(i).1)
    }
    /// The slot of `key`, made `Null` at the end when it is not there.
    pub fn slot(&mut self, key: impl Into<Cow<'a, str>>) -> &mut Node<'a> {
        let key = key.into();
        let i = match self.position(&key) {
            Some(i) => i,
            None => {
                self.0.push((key, Node::Null));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&Cow<'a, str>, &Node<'a>)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Cow<'a, str>, &mut Node<'a>)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }
    pub fn values(&self) -> impl Iterator<Item = &Node<'a>> {
        self.0.iter().map(|(_, v)| v)
    }
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Node<'a>> {
        self.0.iter_mut().map(|(_, v)| v)
    }
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Node<'a>) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v))
    }
    /// Moves every member of `other` in (replacing members with the same key).
    pub fn extend(&mut self, other: Obj<'a>) {
        for (k, v) in other.0 {
            self.insert(k, v);
        }
    }
    pub fn into_owned(self) -> Obj<'static> {
        Obj(self
            .0
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
            .collect())
    }
    fn position_of(&self, key: &str) -> Option<usize> {
        self.position(key)
    }
    fn value_at(&mut self, i: usize) -> &mut Node<'a> {
        &mut self.0[i].1
    }
    fn push_null(&mut self, key: Cow<'a, str>) -> &mut Node<'a> {
        self.0.push((key, Node::Null));
        let last = self.0.len() - 1;
        &mut self.0[last].1
    }
    /// An object of these members, whose keys the caller knows to be distinct (no check:
    /// for generated objects with literal keys).
    pub fn from_members(members: Vec<(Cow<'a, str>, Node<'a>)>) -> Self {
        debug_assert!(members
            .iter()
            .enumerate()
            .all(|(i, (k, _))| members[..i].iter().all(|(other, _)| other != k)));
        Obj(members)
    }
    /// The members, without the duplicate-key check of [`Obj::insert`] (for parsing).
    pub(crate) fn from_vec(members: Vec<(Cow<'a, str>, Node<'a>)>) -> Self {
        Obj(members)
    }
}

/// Key equality with the first byte compared before the rest: document keys of one length
/// (`host`, `user`, `file`, …) mostly differ there, and the full comparison is a `memcmp` call.
#[inline]
fn same_key(k: &str, key: &str) -> bool {
    k.len() == key.len() && k.as_bytes().first() == key.as_bytes().first() && k == key
}

impl<'a> IntoIterator for Obj<'a> {
    type Item = (Cow<'a, str>, Node<'a>);
    type IntoIter = std::vec::IntoIter<(Cow<'a, str>, Node<'a>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, K: Into<Cow<'a, str>>, V: Into<Node<'a>>> FromIterator<(K, V)> for Obj<'a> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut o = Obj::new();
        for (k, v) in iter {
            o.insert(k, v);
        }
        o
    }
}

impl<'a> std::ops::Index<&str> for Node<'a> {
    type Output = Node<'a>;
    /// The member `key`, or `Null` (as `serde_json::Value`'s index).
    fn index(&self, key: &str) -> &Node<'a> {
        self.get(key).unwrap_or(&NULL)
    }
}

impl<'a> std::ops::Index<&str> for Obj<'a> {
    type Output = Node<'a>;
    fn index(&self, key: &str) -> &Node<'a> {
        self.get(key).unwrap_or(&NULL)
    }
}

impl<'a> From<&'a str> for Node<'a> {
    fn from(s: &'a str) -> Self {
        Node::Str(Cow::Borrowed(s))
    }
}
impl<'a> From<String> for Node<'a> {
    fn from(s: String) -> Self {
        Node::Str(Cow::Owned(s))
    }
}
impl<'a> From<Cow<'a, str>> for Node<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        Node::Str(s)
    }
}
impl<'a> From<bool> for Node<'a> {
    fn from(b: bool) -> Self {
        Node::Bool(b)
    }
}
impl<'a> From<u64> for Node<'a> {
    fn from(n: u64) -> Self {
        Node::UInt(n)
    }
}
impl<'a> From<i64> for Node<'a> {
    fn from(n: i64) -> Self {
        match u64::try_from(n) {
            Ok(u) => Node::UInt(u),
            Err(_) => Node::Int(n),
        }
    }
}
impl<'a> From<u32> for Node<'a> {
    fn from(n: u32) -> Self {
        Node::UInt(n.into())
    }
}
impl<'a> From<u16> for Node<'a> {
    fn from(n: u16) -> Self {
        Node::UInt(n.into())
    }
}
impl<'a> From<i32> for Node<'a> {
    fn from(n: i32) -> Self {
        Node::from(i64::from(n))
    }
}
impl<'a> From<usize> for Node<'a> {
    fn from(n: usize) -> Self {
        Node::UInt(n as u64)
    }
}
impl<'a> From<f64> for Node<'a> {
    fn from(f: f64) -> Self {
        Node::float(f)
    }
}
impl<'a> From<Obj<'a>> for Node<'a> {
    fn from(o: Obj<'a>) -> Self {
        Node::Object(o)
    }
}
impl<'a, T: Into<Node<'a>>> From<Vec<T>> for Node<'a> {
    fn from(v: Vec<T>) -> Self {
        Node::Array(v.into_iter().map(Into::into).collect())
    }
}
impl<'a, T: Into<Node<'a>>> From<Option<T>> for Node<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Node::Null, Into::into)
    }
}
impl<'a> From<Value> for Node<'a> {
    fn from(v: Value) -> Self {
        Node::from_value(v)
    }
}

impl PartialEq<str> for Node<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}
impl PartialEq<&str> for Node<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}
impl PartialEq<Value> for Node<'_> {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_of_a_value_is_elastic_convert_to_string() {
        for v in [
            json!(null),
            json!("a"),
            json!(true),
            json!(3),
            json!(-3),
            json!(1.5),
            json!(1e300),
            json!([1, "x"]),
            json!({"a": null}),
        ] {
            let node = Node::from_value(v.clone());
            assert_eq!(
                node.to_text().map(Cow::into_owned),
                crate::doc::to_string_value(&v),
                "{v}"
            );
            assert_eq!(node.clone().into_value(), v);
        }
    }
}
