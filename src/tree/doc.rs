//! A document under construction in a [`Node`] tree, addressed by dotted paths (`event.kind`),
//! with the operations of Elastic's ingest processors: set, append without duplicates, remove,
//! and the "remove empty values" script that ends most of its pipelines.
//!
//! Paths given as `&'a str` (string literals, or text of the record) become keys without a copy;
//! [`Doc::set_owned`] takes paths built at run time.

use std::borrow::Cow;

use super::{Node, Obj};
use crate::doc::{rsplit_dot, segments, split_dot};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Doc<'a>(pub Obj<'a>);

impl<'a> Doc<'a> {
    pub fn new() -> Self {
        Doc(Obj::with_capacity(16))
    }

    /// Sets `path` to `value`, creating intermediate objects. Null is ignored, as Elastic's
    /// `set`/`rename` processors with `ignore_empty_value` / `ignore_missing` do.
    pub fn set(&mut self, path: &'a str, value: impl Into<Node<'a>>) {
        let value = value.into();
        if !value.is_null() {
            *self.slot(path) = value;
        }
    }

    /// [`Doc::set`] for a path made at run time (its new keys are copied).
    pub fn set_owned(&mut self, path: &str, value: impl Into<Node<'a>>) {
        let value = value.into();
        if !value.is_null() {
            *slot_in(&mut self.0, path, |k| Cow::Owned(k.to_owned())) = value;
        }
    }

    /// Sets `path` when `value` is `Some` and not null.
    pub fn set_some(&mut self, path: &'a str, value: Option<impl Into<Node<'a>>>) {
        if let Some(v) = value {
            self.set(path, v);
        }
    }

    /// Sets `path` to a copy of `value` when it is `Some` and not null.
    pub fn set_opt(&mut self, path: &'a str, value: Option<&Node<'a>>) {
        if let Some(v) = value {
            if !v.is_null() {
                self.set(path, v.clone());
            }
        }
    }

    /// Appends to the array at `path` unless the value is already there (Elastic's `append`
    /// with `allow_duplicates: false`). A scalar already at `path` becomes the first element;
    /// an array value appends each of its items.
    pub fn append(&mut self, path: &'a str, value: impl Into<Node<'a>>) {
        let value = value.into();
        if value.is_null() {
            return;
        }
        let slot = self.slot(path);
        if !slot.is_array() {
            let old = slot.take();
            *slot = Node::Array(if old.is_null() { vec![] } else { vec![old] });
        }
        if let Node::Array(items) = slot {
            match value {
                Node::Array(vs) => {
                    for v in vs {
                        if !items.contains(&v) {
                            items.push(v);
                        }
                    }
                }
                v => {
                    if !items.contains(&v) {
                        items.push(v);
                    }
                }
            }
        }
    }

    pub fn get(&self, path: &str) -> Option<&Node<'a>> {
        let (obj, path) = match path.strip_prefix(VENDOR) {
            Some(rest) => (vendor(&self.0)?, rest),
            None => (&self.0, path),
        };
        let mut parts = segments(path);
        let mut cur = obj.get(parts.next()?)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    }

    pub fn get_mut(&mut self, path: &str) -> Option<&mut Node<'a>> {
        let (obj, path) = match path.strip_prefix(VENDOR) {
            Some(rest) => (vendor_mut(&mut self.0)?, rest),
            None => (&mut self.0, path),
        };
        let mut parts = segments(path);
        let mut cur = obj.get_mut(parts.next()?)?;
        for p in parts {
            cur = cur.as_object_mut()?.get_mut(p)?;
        }
        Some(cur)
    }

    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Node::as_str)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// Removes `path` and returns its value.
    pub fn remove(&mut self, path: &str) -> Option<Node<'a>> {
        remove_in(&mut self.0, path)
    }

    /// Removes each of `paths`, dotted paths relative to the object at `prefix`.
    pub fn remove_under(&mut self, prefix: &str, paths: &[&str]) {
        let mut cur = &mut self.0;
        for part in segments(prefix) {
            match cur.get_mut(part) {
                Some(Node::Object(m)) => cur = m,
                _ => return,
            }
        }
        for path in paths {
            remove_in(cur, path);
        }
    }

    /// The slot at `path` (made `Null` when new), creating intermediate objects; a non-object
    /// in the way is replaced by an object, as Elastic's `set` does.
    pub fn slot(&mut self, path: &'a str) -> &mut Node<'a> {
        slot_in(&mut self.0, path, Cow::Borrowed)
    }

    /// The object at `path`, made (empty, with room for `capacity` members) when missing or not
    /// an object: for kinds that fill a whole vendor object in one go.
    pub fn object(&mut self, path: &'a str, capacity: usize) -> &mut Obj<'a> {
        let slot = self.slot(path);
        if !slot.is_object() {
            *slot = Node::Object(Obj::with_capacity(capacity));
        }
        slot.as_object_mut().expect("just made an object")
    }

    /// Drops nulls, empty strings, empty arrays and empty objects everywhere.
    pub fn prune_empty(&mut self) {
        prune_obj(&mut self.0);
    }

    pub fn into_node(self) -> Node<'a> {
        Node::Object(self.0)
    }
}

impl<'a> Obj<'a> {
    /// [`Doc::set`] of a path relative to this object.
    pub fn set_path(&mut self, path: &'a str, value: impl Into<Node<'a>>) {
        let value = value.into();
        if !value.is_null() {
            *slot_in(self, path, Cow::Borrowed) = value;
        }
    }
}

/// The prefix of most paths the streaming families use: matched whole, it costs less than
/// splitting it segment by segment.
const VENDOR: &str = "m365_defender.event.";

/// The object at `m365_defender.event`, if there is one.
fn vendor<'o, 'a>(root: &'o Obj<'a>) -> Option<&'o Obj<'a>> {
    root.get("m365_defender")?
        .as_object()?
        .get("event")?
        .as_object()
}

fn vendor_mut<'o, 'a>(root: &'o mut Obj<'a>) -> Option<&'o mut Obj<'a>> {
    (root.get_mut("m365_defender")?.as_object_mut()?)
        .get_mut("event")?
        .as_object_mut()
}

/// The object at `key` in `obj`, made (or made to replace a non-object) as `slot_in` does.
fn child<'o, 'a>(obj: &'o mut Obj<'a>, key: &'static str) -> &'o mut Obj<'a> {
    let entry = match obj.position_of(key) {
        Some(i) => obj.value_at(i),
        None => obj.push_null(Cow::Borrowed(key)),
    };
    if !entry.is_object() {
        *entry = Node::Object(Obj::with_capacity(8));
    }
    entry.as_object_mut().expect("just made an object")
}

fn slot_in<'o, 'a, 'p>(
    obj: &'o mut Obj<'a>,
    path: &'p str,
    key: impl Fn(&'p str) -> Cow<'a, str>,
) -> &'o mut Node<'a> {
    let (mut cur, mut rest) = match path.strip_prefix(VENDOR) {
        Some(rest) => (child(child(obj, "m365_defender"), "event"), rest),
        None => (obj, path),
    };
    loop {
        let (part, tail) = match split_dot(rest) {
            Some((part, tail)) => (part, Some(tail)),
            None => (rest, None),
        };
        let entry = match cur.position_of(part) {
            Some(i) => cur.value_at(i),
            None => cur.push_null(key(part)),
        };
        let Some(tail) = tail else {
            return entry;
        };
        if !entry.is_object() {
            *entry = Node::Object(Obj::with_capacity(8));
        }
        cur = entry.as_object_mut().expect("just made an object");
        rest = tail;
    }
}

fn remove_in<'a>(obj: &mut Obj<'a>, path: &str) -> Option<Node<'a>> {
    let (parent, last) = match rsplit_dot(path) {
        Some((p, l)) => (Some(p), l),
        None => (None, path),
    };
    let mut obj = obj;
    if let Some(p) = parent {
        let p = match p.strip_prefix(VENDOR) {
            Some(rest) => {
                obj = vendor_mut(obj)?;
                rest
            }
            None => p,
        };
        for part in segments(p) {
            obj = obj.get_mut(part)?.as_object_mut()?;
        }
    }
    obj.remove(last)
}

/// Null, `""`, `[]` and `{}` are empty (Elastic's "remove empty values").
pub fn is_empty(v: &Node<'_>) -> bool {
    match v {
        Node::Null => true,
        Node::Str(s) => s.is_empty(),
        Node::Array(a) => a.is_empty(),
        Node::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn prune_node(v: &mut Node<'_>) {
    match v {
        Node::Object(m) => prune_obj(m),
        Node::Array(a) => {
            a.iter_mut().for_each(prune_node);
            a.retain(|x| !is_empty(x));
        }
        _ => {}
    }
}

fn prune_obj(m: &mut Obj<'_>) {
    m.retain(|_, v| {
        prune_node(v);
        !is_empty(v)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::parse;
    use serde_json::json;

    #[test]
    fn set_get_remove_by_path() {
        let mut d = Doc::new();
        d.set("event.kind", "alert");
        d.set("event.id", Node::Null);
        assert_eq!(d.get_str("event.kind"), Some("alert"));
        assert!(d.get("event.id").is_none());
        assert_eq!(d.remove("event.kind"), Some(Node::from("alert")));
        assert!(d.get("event.kind").is_none());
        let field = String::from("x.y");
        d.set_owned(&field, 1u64);
        drop(field);
        assert_eq!(
            d.into_node().to_value(),
            json!({"event": {}, "x": {"y": 1}})
        );
    }

    #[test]
    fn append_dedupes_and_promotes_scalars() {
        let mut d = Doc::new();
        d.set("related.ip", "1.1.1.1");
        d.append("related.ip", "1.1.1.1");
        d.append("related.ip", Node::from(vec!["2.2.2.2", "1.1.1.1"]));
        assert_eq!(
            d.get("related.ip").unwrap().to_value(),
            json!(["1.1.1.1", "2.2.2.2"])
        );
    }

    #[test]
    fn prune_removes_empties_recursively() {
        let text = r#"{"a": {"b": "", "c": [null, ""], "d": 0}, "e": {}}"#;
        let Node::Object(o) = parse(text).unwrap() else {
            panic!("an object")
        };
        let mut d = Doc(o);
        d.prune_empty();
        assert_eq!(d.into_node().to_value(), json!({"a": {"d": 0}}));
    }
}
