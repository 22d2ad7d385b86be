//! Typed field access and small rules the MDE API resource mappings (machine, machine action,
//! vulnerability) share. Every accessor treats a missing key and JSON null alike (Elastic's
//! `ignore_missing`) and answers a value of the wrong JSON type with an error naming the field.

use std::net::IpAddr;

use std::borrow::Cow;

use crate::doc::stamp;
use crate::sentinel::{self, ColumnType};
use crate::tree::{Doc, Node, Obj};
use crate::MapError;

fn wrong(key: &str, want: &str, got: &Node<'_>) -> MapError {
    MapError::field(
        key,
        format!(
            "expected {want}, got {} {}",
            got.type_name(),
            got.to_json_string()
        ),
    )
}

/// The value at `key`, `None` for missing or null.
pub(crate) fn present<'r, 'a>(rec: &'r Obj<'a>, key: &str) -> Option<&'r Node<'a>> {
    rec.get(key).filter(|v| !v.is_null())
}

/// The string at `key`, keeping its borrow of the record's text.
pub(crate) fn opt_str<'a>(rec: &Obj<'a>, key: &str) -> Result<Option<Cow<'a, str>>, MapError> {
    str_of(key, rec.get(key))
}

/// [`opt_str`] of a value already looked up (`v` is what the record has at `key`).
pub(crate) fn str_of<'a>(
    key: &str,
    v: Option<&Node<'a>>,
) -> Result<Option<Cow<'a, str>>, MapError> {
    match v {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Str(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong(key, "a string", other)),
    }
}

/// Elastic's `convert: type: string`: scalars become their text; objects and arrays are errors.
pub(crate) fn opt_text<'a>(rec: &Obj<'a>, key: &str) -> Result<Option<Cow<'a, str>>, MapError> {
    text_of(key, rec.get(key))
}

pub(crate) fn text_of<'a>(
    key: &str,
    v: Option<&Node<'a>>,
) -> Result<Option<Cow<'a, str>>, MapError> {
    match v {
        None => Ok(None),
        Some(Node::Array(_) | Node::Object(_)) => {
            Err(wrong(key, "a string or number", v.expect("matched")))
        }
        Some(v) => Ok(v.to_text()),
    }
}

/// Elastic's `convert: type: boolean`: a boolean, or the strings `true` / `false`.
pub(crate) fn opt_bool(rec: &Obj<'_>, key: &str) -> Result<Option<bool>, MapError> {
    bool_of(key, rec.get(key))
}

pub(crate) fn bool_of(key: &str, v: Option<&Node<'_>>) -> Result<Option<bool>, MapError> {
    match v {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Bool(b)) => Ok(Some(*b)),
        Some(Node::Str(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Node::Str(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(wrong(key, "a boolean", other)),
    }
}

/// Elastic's `convert: type: long`: an integer, or a string holding one.
pub(crate) fn opt_long(rec: &Obj<'_>, key: &str) -> Result<Option<i64>, MapError> {
    match present(rec, key) {
        None => Ok(None),
        Some(n @ (Node::UInt(_) | Node::Int(_))) if n.is_i64() => Ok(n.as_i64()),
        Some(Node::Str(s)) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
        Some(other) => Err(wrong(key, "an integer", other)),
    }
}

/// A number kept as the source wrote it (`7` stays `7`, `5.5` stays `5.5`).
pub(crate) fn number_of<'a>(key: &str, v: Option<&Node<'a>>) -> Result<Option<Node<'a>>, MapError> {
    match v {
        None | Some(Node::Null) => Ok(None),
        Some(n) if n.is_number() => Ok(Some(n.clone())),
        Some(other) => Err(wrong(key, "a number", other)),
    }
}

pub(crate) fn array_of<'r, 'a>(
    key: &str,
    v: Option<&'r Node<'a>>,
) -> Result<Option<&'r Vec<Node<'a>>>, MapError> {
    match v {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Array(a)) => Ok(Some(a)),
        Some(other) => Err(wrong(key, "an array", other)),
    }
}

/// Takes the array at `key` out of the record (checked as [`opt_array`]), instead of copying it.
pub(crate) fn take_array<'a>(rec: &mut Obj<'a>, key: &str) -> Result<Option<Node<'a>>, MapError> {
    match rec.get_mut(key) {
        None | Some(Node::Null) => Ok(None),
        Some(v @ Node::Array(_)) => Ok(Some(v.take())),
        Some(other) => Err(wrong(key, "an array", other)),
    }
}

pub(crate) fn opt_object<'r, 'a>(
    rec: &'r Obj<'a>,
    key: &str,
) -> Result<Option<&'r Obj<'a>>, MapError> {
    match present(rec, key) {
        None => Ok(None),
        Some(Node::Object(o)) => Ok(Some(o)),
        Some(other) => Err(wrong(key, "an object", other)),
    }
}

/// Elastic's `date` processor output for a timestamp field; empty strings count as missing
/// (the pipelines skip them), anything unparsable is an error.
pub(crate) fn opt_es_date(rec: &Obj<'_>, key: &str) -> Result<Option<String>, MapError> {
    es_date_of(key, rec.get(key))
}

pub(crate) fn es_date_of(key: &str, v: Option<&Node<'_>>) -> Result<Option<String>, MapError> {
    match str_of(key, v)?.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => es_date_text(s)
            .map(Some)
            .ok_or_else(|| MapError::field(key, format!("not a timestamp: {s:?}"))),
    }
}

/// Elastic's `date` output of a timestamp (`2025-05-01T10:05:00.222Z`), as
/// [`crate::doc::es_date_str`] gives it.
fn es_date_text(s: &str) -> Option<String> {
    crate::doc::es_date_str(s)
}

/// [`sentinel::to_datetime`], with MDE's usual forms read without chrono.
fn sentinel_datetime(s: &str) -> Option<String> {
    match stamp(s) {
        Some(t) => Some(t.sentinel(s)),
        None => sentinel::to_datetime(s),
    }
}

/// Elastic's `convert: type: ip`: the address text as given; empty strings count as missing.
pub(crate) fn opt_ip<'a>(rec: &Obj<'a>, key: &str) -> Result<Option<Cow<'a, str>>, MapError> {
    match opt_str(rec, key)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.parse::<IpAddr>().is_ok() => Ok(Some(s)),
        Some(s) => Err(MapError::field(key, format!("not an IP address: {s:?}"))),
    }
}

/// The `host.os.type` script of Elastic's MDE pipelines: the first OS family named inside the
/// platform (`WindowsServer2019` -> windows, `RedHatEnterpriseLinux` -> linux).
pub(crate) fn os_type(platform: &str) -> Option<&'static str> {
    const FAMILIES: [&str; 6] = ["linux", "macos", "unix", "windows", "ios", "android"];
    let lower;
    // ASCII platforms (all of MDE's) are searched as they are, ignoring case, without a
    // lower-case copy; others are lower-cased as the script does (Unicode rules).
    let contains: &dyn Fn(&str) -> bool = if platform.is_ascii() {
        &|f: &str| {
            platform
                .as_bytes()
                .windows(f.len())
                .any(|w| w.eq_ignore_ascii_case(f.as_bytes()))
        }
    } else {
        lower = platform.to_lowercase();
        &|f: &str| lower.contains(f)
    };
    FAMILIES
        .into_iter()
        .find(|f| contains(f))
        .or_else(|| (contains("centos") || contains("ubuntu")).then_some("linux"))
}

/// The first of `candidates` (source key, value) that is a usable timestamp, as ISO-8601 UTC;
/// else the ingest time the shell passed in. `None` when there is neither.
pub(crate) fn time_generated(
    rec: &Obj<'_>,
    keys: &[&str],
    now: Option<&str>,
) -> Result<Option<String>, MapError> {
    for key in keys {
        if let Some(s) = opt_str(rec, key)?.filter(|s| !s.is_empty()) {
            return sentinel_datetime(&s)
                .map(Some)
                .ok_or_else(|| MapError::field(*key, format!("not a timestamp: {s:?}")));
        }
    }
    Ok(now.and_then(sentinel::to_datetime))
}

/// A Sentinel table's schema and the types of the columns a kind maps fixed fields to, looked
/// up once (a table is found by name among all tables, a column by a hashed name).
pub(crate) struct Schema {
    pub(crate) table: Option<&'static sentinel::Table>,
    /// The type of each of the kind's fixed columns, in the kind's order.
    pub(crate) types: Vec<ColumnType>,
}

impl Schema {
    pub(crate) fn new<'a>(table: &str, columns: impl Iterator<Item = &'a str>) -> Self {
        let table = sentinel::table(table);
        let types = columns
            .map(|c| {
                table
                    .and_then(|t| t.column(c))
                    .unwrap_or(ColumnType::Dynamic)
            })
            .collect();
        Schema { table, types }
    }

    /// The type of any column of the table (`Dynamic` for one it does not declare).
    pub(crate) fn column(&self, column: &str) -> ColumnType {
        self.table
            .and_then(|t| t.column(column))
            .unwrap_or(ColumnType::Dynamic)
    }
}

/// Converts a source value for a column of type `t`; the error names the source field. Values
/// the column takes as they are are moved, not copied (arrays and objects in dynamic columns).
pub(crate) fn convert<'a>(t: ColumnType, key: &str, v: Node<'a>) -> Result<Node<'a>, MapError> {
    let v = match (t, v) {
        // A whole number sent as a float (`5.0`) fits long/int columns.
        (ColumnType::Long | ColumnType::Int, Node::Float(f))
            if f.fract() == 0.0 && f.abs() < 9.0e15 =>
        {
            Node::from(f as i64)
        }
        (_, v) => v,
    };
    match (t, &v) {
        (ColumnType::String | ColumnType::Guid, Node::Str(_))
        | (ColumnType::Bool, Node::Bool(_))
        | (ColumnType::Long, Node::UInt(_) | Node::Int(_))
        | (ColumnType::Dynamic, Node::Array(_) | Node::Object(_) | Node::Bool(_)) => Ok(v),
        (ColumnType::Real | ColumnType::Dynamic, n) if n.is_number() => Ok(v),
        (ColumnType::Datetime, Node::Str(s)) => match stamp(s) {
            Some(ts) if ts.zulu => Ok(v),
            Some(ts) => Ok(Node::from(ts.sentinel(s))),
            None => sentinel::coerce_node(&v, t).map_err(|e| MapError::field(key, e)),
        },
        _ => sentinel::coerce_node(&v, t).map_err(|e| MapError::field(key, e)),
    }
}

/// `someField` -> `SomeField`, the column name given to source fields a table does not name.
pub(crate) fn pascal(key: &str) -> String {
    match key.as_bytes().first() {
        // The usual case, an ASCII first letter, without going through `char::to_uppercase`.
        Some(b) if b.is_ascii() => {
            let mut s = String::with_capacity(key.len());
            s.push(char::from(b.to_ascii_uppercase()));
            s.push_str(&key[1..]);
            s
        }
        _ => {
            let mut c = key.chars();
            match c.next() {
                Some(first) => first.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        }
    }
}

/// A kind's fixed source names, each with an index of the kind's, found by a hash of a few of
/// the key's bytes: a record's every key is looked up, and a binary search by comparing names
/// cost more than the field's mapping.
pub(crate) struct Names {
    buckets: Vec<Vec<(&'static str, usize)>>,
}

const NAME_BUCKETS: usize = 128;

fn name_bucket(key: &[u8]) -> usize {
    match key {
        [] => 0,
        [first, ..] => {
            let n = key.len();
            (n * 7
                + usize::from(*first) * 3
                + usize::from(key[n / 2])
                + usize::from(key[n - 1]) * 5)
                % NAME_BUCKETS
        }
    }
}

impl Names {
    pub(crate) fn new(names: impl Iterator<Item = (&'static str, usize)>) -> Self {
        let mut buckets = vec![Vec::new(); NAME_BUCKETS];
        for (name, i) in names {
            buckets[name_bucket(name.as_bytes())].push((name, i));
        }
        Names { buckets }
    }

    pub(crate) fn find(&self, key: &str) -> Option<usize> {
        self.buckets[name_bucket(key.as_bytes())]
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, i)| *i)
    }
}

/// Names sorted for binary search, with their index in the kind's table. They are ordered by
/// length first ([`name_order`]): most steps of a search then end on the lengths, without
/// comparing any bytes.
pub(crate) fn sorted_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<(&'a str, usize)> {
    let mut v: Vec<(&str, usize)> = names.enumerate().map(|(i, n)| (n, i)).collect();
    v.sort_unstable_by(|a, b| name_order(a.0, b.0));
    v
}

/// The order of [`sorted_names`]: by length, then by bytes (the Sentinel schemas' order).
pub(crate) use crate::sentinel::name_order;

/// The start of an ECS document of Elastic's `machine` and `machine_action` streams (ecs 8.11.0):
/// their pipelines never remove `event.original`. Built as objects of the right size: growing
/// them one `Doc::set` at a time cost more than the fields themselves.
pub(crate) fn event_doc(original: &str) -> Doc<'_> {
    let mut top = Obj::with_capacity(16);
    let mut ecs = Obj::with_capacity(1);
    ecs.push("version", "8.11.0");
    top.push("ecs", ecs);
    let mut event = Obj::with_capacity(10);
    event.push("original", original);
    event.push("kind", "event");
    top.push("event", event);
    let mut observer = Obj::with_capacity(2);
    observer.push("vendor", "Microsoft");
    observer.push("product", "Defender for Endpoint");
    top.push("observer", observer);
    Doc(top)
}

/// Appends a member unless it is empty (for objects built whole, whose keys are distinct).
/// Values are pruned as they go in, as Elastic's "remove empty values" script would prune them
/// afterwards: null, `""`, `[]` and `{}` are left out, at any depth.
#[inline]
pub(crate) fn put<'a>(obj: &mut Obj<'a>, key: &'static str, v: Node<'a>) {
    if let Some(v) = pruned(v) {
        obj.push(key, v);
    }
}

/// The value without its empty parts; `None` when nothing is left.
#[inline]
pub(crate) fn pruned(mut v: Node<'_>) -> Option<Node<'_>> {
    prune(&mut v).then_some(v)
}

/// Drops the empty parts of `v` in place; false when `v` is empty itself.
fn prune(v: &mut Node<'_>) -> bool {
    match v {
        Node::Null => false,
        Node::Str(s) => !s.is_empty(),
        Node::Array(items) => {
            items.retain_mut(prune);
            !items.is_empty()
        }
        Node::Object(members) => {
            members.retain(|_, v| prune(v));
            !members.is_empty()
        }
        _ => true,
    }
}

/// The vendor fields of an ECS document (`microsoft_defender_endpoint.<stream>`), built apart
/// from the document and put in once: every `Doc::set` of a three-level path walked the whole
/// path again. Nulls are ignored (as `Doc::set` does), and so are the fields Elastic drops
/// unless `preserve_duplicate_custom_fields` (`duplicates`).
pub(crate) struct Vendor<'a> {
    pub(crate) fields: Obj<'a>,
    duplicates: &'static [&'static str],
}

impl<'a> Vendor<'a> {
    pub(crate) fn new(
        capacity: usize,
        duplicates: &'static [&'static str],
        preserve_duplicates: bool,
    ) -> Self {
        Vendor {
            fields: Obj::with_capacity(capacity),
            duplicates: if preserve_duplicates { &[] } else { duplicates },
        }
    }

    /// Sets a field the kind sets once (appended without looking for it).
    #[inline]
    pub(crate) fn set(&mut self, key: &'static str, value: impl Into<Node<'a>>) {
        let value = value.into();
        if value.is_null() || self.duplicates.contains(&key) {
            return;
        }
        self.fields.push(key, value);
    }

    /// Sets a field that may be there already (its first position kept, as a map insert).
    pub(crate) fn replace(&mut self, key: &'static str, value: impl Into<Node<'a>>) {
        let value = value.into();
        if value.is_null() || self.duplicates.contains(&key) {
            return;
        }
        self.fields.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::es_date;
    use serde_json::{json, Value};

    fn rec(v: Value) -> Obj<'static> {
        match Node::from_value(v) {
            Node::Object(o) => o,
            _ => Obj::new(),
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        let r = rec(json!({"a": 1, "b": "x", "c": [1], "d": "not-an-ip", "e": "yesterday"}));
        assert_eq!(opt_str(&r, "a").unwrap_err().path.as_deref(), Some("a"));
        assert_eq!(opt_bool(&r, "b").unwrap_err().path.as_deref(), Some("b"));
        assert_eq!(opt_text(&r, "c").unwrap_err().path.as_deref(), Some("c"));
        assert_eq!(opt_ip(&r, "d").unwrap_err().path.as_deref(), Some("d"));
        assert_eq!(opt_es_date(&r, "e").unwrap_err().path.as_deref(), Some("e"));
        assert_eq!(opt_long(&r, "b").unwrap_err().path.as_deref(), Some("b"));
    }

    #[test]
    fn elastic_conversions() {
        let r = rec(json!({"n": 0, "s": "12", "t": "TRUE", "ip": "", "z": null}));
        assert_eq!(opt_text(&r, "n").unwrap().as_deref(), Some("0"));
        assert_eq!(opt_long(&r, "s").unwrap(), Some(12));
        assert_eq!(opt_bool(&r, "t").unwrap(), Some(true));
        assert_eq!(opt_ip(&r, "ip").unwrap(), None);
        assert_eq!(opt_str(&r, "z").unwrap(), None);
    }

    #[test]
    fn usual_timestamps_read_as_chrono_reads_them() {
        for s in [
            "2025-05-01T10:05:00.2222222Z",
            "2025-05-01T10:05:00Z",
            "2025-05-01T10:05:00.1Z",
            "2025-05-01T10:05:00.123456789Z",
            "2025-05-01T10:05:00.1234567891Z",
            "2025-05-01T10:05:00.Z",
            "2024-02-29T23:59:59.999Z",
            "2023-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-04-00T00:00:00Z",
            "2025-05-01T24:00:00Z",
            "2025-05-01T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "2025-05-01t10:05:00z",
            "2025-05-01 10:05:00Z",
            "2025-05-01T10:05:00+02:00",
            " 2025-05-01T10:05:00Z",
            "2025-05-01T10:05:00.12a4Z",
            "2025-0a-01T10:05:00Z",
            "2099-06-01 12:00:00",
            "2099-06-01 12:00:00.5",
            "2099-06-01 12:00:00.000",
            "2099-06-01 12:00:00.0001",
            "2099-06-01 12:00:00.123456",
            "2099-06-01 12:00:00.123456789",
            "2099-06-01 12:00:00.1234567891",
            "2099-06-01 12:00:00Z",
            "2099-06-01 12:00:00.",
            "2099-06-01T12:00:00",
            "2099-02-29 12:00:00",
        ] {
            assert_eq!(
                es_date_text(s),
                crate::doc::parse_time(s).map(es_date),
                "{s}"
            );
            assert_eq!(sentinel_datetime(s), sentinel::to_datetime(s), "{s}");
            let node = Node::from(s);
            assert_eq!(
                convert(ColumnType::Datetime, "t", node.clone()).ok(),
                sentinel::coerce_node(&node, ColumnType::Datetime).ok(),
                "{s}"
            );
        }
    }

    #[test]
    fn os_families() {
        assert_eq!(os_type("WindowsServer2019"), Some("windows"));
        assert_eq!(os_type("RedHatEnterpriseLinux"), Some("linux"));
        assert_eq!(os_type("Ubuntu"), Some("linux"));
        assert_eq!(os_type("macOS"), Some("macos"));
        assert_eq!(os_type("Unknown"), None);
    }

    #[test]
    fn time_generated_prefers_the_record() {
        let r = rec(json!({"lastSeen": "2025-01-09T11:57:26.180904Z"}));
        let t = time_generated(&r, &["lastSeen"], Some("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(t.as_deref(), Some("2025-01-09T11:57:26.180904Z"));
        let t =
            time_generated(&rec(json!({})), &["lastSeen"], Some("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(t.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(pascal("machineId"), "MachineId");
    }
}
