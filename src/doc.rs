//! Helpers for building ECS documents the way Elastic's ingest pipelines do: dotted-path set,
//! append without duplicates, Elastic's date output format, and removal of empty values.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// A document under construction: a JSON object addressed by dotted paths (`event.kind`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Doc(pub Map<String, Value>);

impl Doc {
    pub fn new() -> Self {
        Doc(Map::with_capacity(16))
    }

    /// Sets `path` (dotted) to `value`, creating intermediate objects. Null is ignored, as
    /// Elastic's `set`/`rename` processors with `ignore_empty_value` / `ignore_missing` do.
    pub fn set(&mut self, path: &str, value: impl Into<Value>) {
        let value = value.into();
        if value.is_null() {
            return;
        }
        *self.slot(path) = value;
    }

    /// Sets `path` only when `value` is `Some` and not null.
    pub fn set_opt(&mut self, path: &str, value: Option<&Value>) {
        if let Some(v) = value {
            if !v.is_null() {
                self.set(path, v.clone());
            }
        }
    }

    /// Sets `path` only when `value` is `Some` and not null; takes the value (no copy).
    pub fn set_some(&mut self, path: &str, value: Option<Value>) {
        if let Some(v) = value {
            self.set(path, v);
        }
    }

    /// Appends to the array at `path` unless the value is already there (Elastic's `append`
    /// with `allow_duplicates: false`). A scalar already at `path` becomes the first element.
    pub fn append(&mut self, path: &str, value: impl Into<Value>) {
        let value = value.into();
        if value.is_null() {
            return;
        }
        let slot = self.slot(path);
        if !slot.is_array() {
            let old = std::mem::take(slot);
            *slot = Value::Array(if old.is_null() { vec![] } else { vec![old] });
        }
        if let Value::Array(items) = slot {
            // A single value (the usual case) is pushed as it is, not through a one-item Vec.
            match value {
                Value::Array(vs) => {
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

    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut parts = segments(path);
        let mut cur = lookup(&self.0, parts.next()?)?;
        for p in parts {
            cur = lookup(cur.as_object()?, p)?;
        }
        Some(cur)
    }

    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// Removes `path` and returns its value.
    pub fn remove(&mut self, path: &str) -> Option<Value> {
        remove_in(&mut self.0, path)
    }

    /// Removes each of `paths`, dotted paths relative to the object at `prefix` (walking to the
    /// prefix once, not once per path).
    pub fn remove_under(&mut self, prefix: &str, paths: &[&str]) {
        let mut cur = &mut self.0;
        for part in segments(prefix) {
            match lookup_mut(cur, part) {
                Some(Value::Object(m)) => cur = m,
                _ => return,
            }
        }
        for path in paths {
            remove_in(cur, path);
        }
    }

    fn slot(&mut self, path: &str) -> &mut Value {
        // Keys are only allocated when they are new, and small maps are scanned, not hashed.
        let mut cur = &mut self.0;
        let mut rest = path;
        loop {
            let (part, tail) = match split_dot(rest) {
                Some((part, tail)) => (part, Some(tail)),
                None => (rest, None),
            };
            let entry = match position(cur, part) {
                Some(Found::At(i)) => cur.values_mut().nth(i).expect("index from a scan"),
                Some(Found::Hashed) => cur.get_mut(part).expect("contains_key said so"),
                None => cur.entry(part).or_insert(Value::Null),
            };
            let Some(tail) = tail else {
                return entry;
            };
            if !entry.is_object() {
                *entry = Value::Object(Map::with_capacity(8));
            }
            cur = entry.as_object_mut().expect("just made an object");
            rest = tail;
        }
    }

    /// Drops nulls, empty strings, empty arrays and empty objects everywhere (Elastic's
    /// "remove empty values" script that ends most of its pipelines).
    pub fn prune_empty(&mut self) {
        prune_map(&mut self.0);
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Inserts a field into an object under construction; nulls are skipped, as [`Doc::set`] skips
/// them. Kinds that build an object whole and put it in the document once use this.
pub fn put(obj: &mut Map<String, Value>, key: &str, v: impl Into<Value>) {
    let v = v.into();
    if !v.is_null() {
        obj.insert(key.to_string(), v);
    }
}

/// [`put`] of a value that may be absent.
pub fn put_some(obj: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        put(obj, key, v);
    }
}

/// Removes the dotted `path` under `map` and returns its value.
fn remove_in(map: &mut Map<String, Value>, path: &str) -> Option<Value> {
    let (parent, last) = match rsplit_dot(path) {
        Some((p, l)) => (Some(p), l),
        None => (None, path),
    };
    let mut map = map;
    if let Some(p) = parent {
        for part in segments(p) {
            map = lookup_mut(map, part)?.as_object_mut()?;
        }
    }
    // Most removals are of fields that are not there: check before shift_remove hashes.
    if map.len() <= SCAN_MAX && !map.keys().any(|k| k == last) {
        return None;
    }
    map.shift_remove(last)
}

// Dotted paths are split by scanning bytes: `str::split('.')` and friends go through the
// generic char searcher, which costs more than the map lookups for these short paths. `.` is
// ASCII, so the byte positions are char boundaries.

/// `path` before and after its first `.`.
pub(crate) fn split_dot(path: &str) -> Option<(&str, &str)> {
    let i = path.bytes().position(|b| b == b'.')?;
    Some((&path[..i], &path[i + 1..]))
}

/// `path` before and after its last `.`.
pub(crate) fn rsplit_dot(path: &str) -> Option<(&str, &str)> {
    let i = path.bytes().rposition(|b| b == b'.')?;
    Some((&path[..i], &path[i + 1..]))
}

/// The `.`-separated segments of `path` (like `path.split('.')`).
pub(crate) fn segments(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(path);
    std::iter::from_fn(move || {
        let s = rest?;
        match split_dot(s) {
            Some((head, tail)) => {
                rest = Some(tail);
                Some(head)
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

/// `prefix.field`, the dotted path of a field under a prefix. Paths are built for every field
/// of every record, and `format!` costs several times this exact-size concatenation.
pub fn join(prefix: &str, field: &str) -> String {
    let mut path = String::with_capacity(prefix.len() + 1 + field.len());
    path.push_str(prefix);
    path.push('.');
    path.push_str(field);
    path
}

/// Maps up to this size are searched by comparing keys: for the short keys of documents that
/// is cheaper than the SipHash that `Map` (an `IndexMap` with std's `RandomState`) computes.
const SCAN_MAX: usize = 32;

/// Where [`position`] found a key.
enum Found {
    /// At this index (small map, scanned).
    At(usize),
    /// In a large map (looked up by hash).
    Hashed,
}

fn position(map: &Map<String, Value>, key: &str) -> Option<Found> {
    if map.len() <= SCAN_MAX {
        map.keys().position(|k| k == key).map(Found::At)
    } else {
        map.contains_key(key).then_some(Found::Hashed)
    }
}

/// `map.get(key)`, scanning small maps instead of hashing.
fn lookup<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    if map.len() <= SCAN_MAX {
        map.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// `map.get_mut(key)`, scanning small maps instead of hashing.
fn lookup_mut<'m>(map: &'m mut Map<String, Value>, key: &str) -> Option<&'m mut Value> {
    if map.len() <= SCAN_MAX {
        map.iter_mut().find(|(k, _)| *k == key).map(|(_, v)| v)
    } else {
        map.get_mut(key)
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn prune_value(v: &mut Value) {
    match v {
        Value::Object(m) => prune_map(m),
        Value::Array(a) => {
            a.iter_mut().for_each(prune_value);
            a.retain(|x| !is_empty(x));
        }
        _ => {}
    }
}

fn prune_map(m: &mut Map<String, Value>) {
    m.values_mut().for_each(prune_value);
    m.retain(|_, v| !is_empty(v));
}

/// Parses the timestamp forms Defender uses: RFC 3339 with any number of fractional digits,
/// zone-less ISO (`2025-10-06T12:00:00`), `2025-10-06 12:00:00`, and a bare date; zone-less
/// forms are UTC, as Elastic's `date` processor reads them with `timezone: UTC`.
pub fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    // MDE's `2025-10-06 12:00:00` form (vulnerabilities, older alerts) goes straight to its
    // format; it cannot be RFC 3339 without an offset, which that format would not accept.
    if s.as_bytes().get(10) == Some(&b' ') {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
            return Some(n.and_utc().fixed_offset());
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt);
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(n.and_utc().fixed_offset());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().fixed_offset());
    }
    None
}

/// Elastic's `date` processor output: milliseconds, UTC, `Z` (`2025-10-06T12:00:00.000Z`).
pub fn es_date(dt: DateTime<FixedOffset>) -> String {
    dt.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses `s` and formats it as Elastic's `date` processor does; `None` when unparsable.
pub fn es_date_str(s: &str) -> Option<String> {
    parse_time(s).map(es_date)
}

/// The compact JSON text of a value. Written straight into a buffer: `Value::to_string`
/// (`Display`) gives the same text through the formatting machinery, at several times the cost.
pub fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A value as a string the way Elastic's `convert: type: string` renders it.
pub fn to_string_value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(json_text(other)),
    }
}

/// Elastic's `uri_parts` processor (keep_original on): the ECS `url` fields of a URL, as an
/// object to merge under `url`. `None` when the text is not an absolute URL.
pub fn uri_parts(full: &str) -> Option<Map<String, Value>> {
    let u = url::Url::parse(full).ok()?;
    let mut m = Map::with_capacity(10);
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    if let Some(d) = u.host_str() {
        put(
            "domain",
            d.trim_start_matches('[').trim_end_matches(']').into(),
        );
    }
    if let Some(f) = u.fragment() {
        put("fragment", f.into());
    }
    let path = u.path();
    if !path.is_empty() {
        put("path", path.into());
        let last = path.rsplit('/').next().unwrap_or("");
        if let Some((_, ext)) = last.rsplit_once('.') {
            if !ext.is_empty() {
                put("extension", ext.into());
            }
        }
    }
    if let Some(p) = u.port() {
        put("port", p.into());
    }
    if let Some(q) = u.query() {
        put("query", q.into());
    }
    put("scheme", u.scheme().into());
    if !u.username().is_empty() {
        put("username", u.username().into());
        let info = match u.password() {
            Some(p) => {
                put("password", p.into());
                format!("{}:{p}", u.username())
            }
            None => u.username().to_string(),
        };
        put("user_info", info.into());
    }
    put("original", full.into());
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uri_parts_like_elastic() {
        let m = uri_parts("https://user:pw@example.com:8443/a/b/file.tar.gz?x=1#top").unwrap();
        assert_eq!(m["domain"], "example.com");
        assert_eq!(m["port"], 8443);
        assert_eq!(m["path"], "/a/b/file.tar.gz");
        assert_eq!(m["extension"], "gz");
        assert_eq!(m["query"], "x=1");
        assert_eq!(m["fragment"], "top");
        assert_eq!(m["user_info"], "user:pw");
        assert!(uri_parts("not a url").is_none());
    }

    #[test]
    fn set_get_remove_by_path() {
        let mut d = Doc::new();
        d.set("event.kind", "alert");
        d.set("event.id", json!(null));
        assert_eq!(d.get_str("event.kind"), Some("alert"));
        assert!(d.get("event.id").is_none());
        assert_eq!(d.remove("event.kind"), Some(json!("alert")));
        assert!(d.get("event.kind").is_none());
    }

    #[test]
    fn append_dedupes_and_promotes_scalars() {
        let mut d = Doc::new();
        d.set("related.ip", "1.1.1.1");
        d.append("related.ip", "1.1.1.1");
        d.append("related.ip", json!(["2.2.2.2", "1.1.1.1"]));
        assert_eq!(d.get("related.ip"), Some(&json!(["1.1.1.1", "2.2.2.2"])));
    }

    #[test]
    fn prune_removes_empties_recursively() {
        let mut d = Doc(json!({"a": {"b": "", "c": [null, ""], "d": 0}, "e": {}})
            .as_object()
            .unwrap()
            .clone());
        d.prune_empty();
        assert_eq!(d.into_value(), json!({"a": {"d": 0}}));
    }

    #[test]
    fn dates_in_elastic_format() {
        assert_eq!(
            es_date_str("2025-10-06 12:00:00").unwrap(),
            "2025-10-06T12:00:00.000Z"
        );
        assert_eq!(
            es_date_str("2024-11-05T11:54:59.5717001Z").unwrap(),
            "2024-11-05T11:54:59.571Z"
        );
        assert!(es_date_str("not a date").is_none());
    }
}
