//! Sentinel / Log Analytics table schemas and the value rules of their column types.
//!
//! Standard tables come from `tables.json` (generated from Microsoft's table reference by
//! `cargo xtask sentinel-tables`); the custom tables this project defines for MDE resources with
//! no standard table come from `custom_tables.json`. Both are data, not code.

use std::ops::Range;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::tree::Node;

/// A Log Analytics column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Datetime,
    Bool,
    Long,
    Int,
    Real,
    Dynamic,
    Guid,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Datetime => "datetime",
            ColumnType::Bool => "bool",
            ColumnType::Long => "long",
            ColumnType::Int => "int",
            ColumnType::Real => "real",
            ColumnType::Dynamic => "dynamic",
            ColumnType::Guid => "guid",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => ColumnType::String,
            "datetime" => ColumnType::Datetime,
            "bool" | "boolean" => ColumnType::Bool,
            "long" => ColumnType::Long,
            "int" => ColumnType::Int,
            "real" => ColumnType::Real,
            "dynamic" => ColumnType::Dynamic,
            "guid" => ColumnType::Guid,
            _ => return None,
        })
    }

    /// Whether a JSON value is acceptable for a column of this type (null always is).
    pub fn accepts(self, v: &Value) -> bool {
        self.accepts_node(&Node::from_value(v.clone()))
    }
}

/// One table: its name and its columns in the reference's order.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<(String, ColumnType)>,
    /// Column indices by [`name_hash`], open addressing with linear probing ([`NO_COLUMN`] for
    /// a free slot), at most half full. Looked up for every property of every streaming row: a
    /// binary search over 60 names like `InitiatingProcessFileName` costs five times more.
    index: Vec<u16>,
    /// `64 - log2(index.len())`: a hash's top bits pick its first slot.
    shift: u32,
}

const NO_COLUMN: u16 = u16::MAX;

/// A hash of a column name from its length and its first and last eight bytes (the names of one
/// table that share those are rare, and cost only one more probe).
fn name_hash(b: &[u8]) -> u64 {
    let n = b.len();
    let (head, tail) = if n >= 8 {
        (word(&b[..8]), word(&b[n - 8..]))
    } else {
        let mut buf = [0u8; 8];
        buf[..n].copy_from_slice(b);
        (word(&buf), 0)
    };
    (head ^ tail.rotate_left(31) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(b);
    u64::from_le_bytes(w)
}

impl Table {
    fn new(name: String, columns: Vec<(String, ColumnType)>) -> Table {
        let size = (columns.len() * 2).next_power_of_two().max(4);
        let mut table = Table {
            name,
            columns,
            index: vec![NO_COLUMN; size],
            shift: 64 - size.trailing_zeros(),
        };
        for c in 0..table.columns.len() {
            let slot = table.slot(&table.columns[c].0);
            // The embedded schemas list every name once; were one listed twice, its first type wins.
            if table.index[slot] == NO_COLUMN {
                table.index[slot] = u16::try_from(c)
                    .ok()
                    .filter(|&c| c != NO_COLUMN)
                    .expect("a table has fewer than 65535 columns");
            }
        }
        table
    }

    /// The slot of `name`: the one holding its column, or the free one where it would go.
    fn slot(&self, name: &str) -> usize {
        let mask = self.index.len() - 1;
        let mut i = (name_hash(name.as_bytes()) >> self.shift) as usize;
        loop {
            match self.index[i] {
                NO_COLUMN => return i,
                c if self.columns[usize::from(c)].0 == name => return i,
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub fn column(&self, name: &str) -> Option<ColumnType> {
        match self.index[self.slot(name)] {
            NO_COLUMN => None,
            c => Some(self.columns[usize::from(c)].1),
        }
    }

    /// Checks a row: every key is a column of this table and every value has the column's type.
    /// Returns one message per problem.
    pub fn check_row(&self, row: &Map<String, Value>) -> Vec<String> {
        let mut problems = Vec::new();
        for (k, v) in row {
            match self.column(k) {
                None => problems.push(format!("{}: column {k} is not in the schema", self.name)),
                Some(t) if !t.accepts(v) => problems.push(format!(
                    "{}: column {k} ({}) has value {v}",
                    self.name,
                    t.name()
                )),
                Some(_) => {}
            }
        }
        problems
    }
}

/// The order of the kinds' sorted field tables: by length first, so that
/// most steps of a binary search end on comparing two lengths instead of two names with long
/// common prefixes (`DeviceName`, `DeviceId`, `InitiatingProcessFileName`, …).
pub(crate) fn name_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Reads a schema file (`{"tables": {name: [[column, type], …]}, …}`) in the borrowed tree: it
/// is read once per process, but a short run pays for it, and `Value`'s hashed maps cost three
/// times more.
fn load(text: &str) -> Vec<Table> {
    let file = crate::tree::parse(text).expect("embedded table schema is valid JSON");
    let tables = file["tables"]
        .as_object()
        .expect("embedded table schema has `tables`");
    tables
        .iter()
        .map(|(name, cols)| {
            let columns: Vec<(String, ColumnType)> = cols
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let c = c.as_array()?;
                    Some((
                        c.first()?.as_str()?.to_string(),
                        ColumnType::parse(c.get(1)?.as_str()?)?,
                    ))
                })
                .collect();
            Table::new(name.to_string(), columns)
        })
        .collect()
}

fn all() -> &'static Vec<Table> {
    static TABLES: OnceLock<Vec<Table>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = load(include_str!("tables.json"));
        t.extend(load(include_str!("custom_tables.json")));
        t
    })
}

/// Every known table: Microsoft's standard ones first, then this project's custom tables.
pub fn tables() -> &'static [Table] {
    all()
}

/// A table by name (`SecurityAlert`, `DeviceInfo`, `DefenderMachineActions_CL`, …).
pub fn table(name: &str) -> Option<&'static Table> {
    all().iter().find(|t| t.name == name)
}

/// True for an ISO-8601 UTC datetime as Sentinel columns carry them (`…Z`).
fn is_iso_utc(s: &str) -> bool {
    plain_utc(s).is_some() || s.ends_with('Z') && DateTime::parse_from_rfc3339(s).is_ok()
}

/// The fraction digits (maybe none) of a timestamp in the form Defender sends,
/// `2024-01-02T03:04:05.1234567Z`, when it is one and a valid time; `None` for any other
/// form (which may still be RFC 3339: leap seconds, `t`, a space, more digits). Such a
/// timestamp needs no general parser: chrono's RFC 3339 parser and formatter cost more than
/// the rest of a field's mapping, and every streaming row has one or more.
pub(crate) fn plain_utc(s: &str) -> Option<&[u8]> {
    let b = s.as_bytes();
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let digits = |r: Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return None;
    }
    let fraction = match &b[19..b.len() - 1] {
        [] => &[][..],
        [b'.', f @ ..] if (1..=9).contains(&f.len()) && f.iter().all(u8::is_ascii_digit) => f,
        _ => return None,
    };
    let num = |r: Range<usize>| b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    // Leap seconds and impossible dates are left to chrono.
    let valid = num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 60
        && chrono::NaiveDate::from_ymd_opt(num(0..4) as i32, num(5..7), num(8..10)).is_some();
    valid.then_some(fraction)
}

/// Normalises a Defender timestamp to ISO-8601 UTC (`2020-06-30T10:09:01.1569718Z`). Accepts
/// RFC 3339 with any offset, and zone-less forms (`2025-10-06 12:00:00`, `2025-10-06T12:00:00`),
/// read as UTC. Keeps the source's fractional digits when it was already UTC.
pub fn to_datetime(s: &str) -> Option<String> {
    if is_iso_utc(s) {
        return Some(s.to_string());
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(
            dt.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        );
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(n.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
    }
    None
}

/// Converts a source value to the column's type. JSON-encoded strings in dynamic columns become
/// JSON values; numbers in strings become numbers for long/int/real; anything that cannot be
/// converted is `Err` with a reason.
pub fn coerce(v: &Value, t: ColumnType) -> Result<Value, String> {
    // One set of rules: the kinds convert tree values (`coerce_node`); this is it for a `Value`.
    coerce_node(&Node::from_value(v.clone()), t).map(Node::into_value)
}

impl ColumnType {
    /// [`ColumnType::accepts`] for a value of the borrowed tree (the rules themselves).
    pub fn accepts_node(self, v: &Node<'_>) -> bool {
        match (self, v) {
            (_, Node::Null) => true,
            (ColumnType::String | ColumnType::Guid, Node::Str(_)) => true,
            (ColumnType::Datetime, Node::Str(s)) => is_iso_utc(s),
            (ColumnType::Bool, Node::Bool(_)) => true,
            (ColumnType::Long, Node::UInt(_) | Node::Int(_)) => true,
            (ColumnType::Int, n @ (Node::UInt(_) | Node::Int(_))) => {
                n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
            }
            (ColumnType::Real, n) => n.is_number(),
            (ColumnType::Dynamic, _) => true,
            _ => false,
        }
    }
}

/// [`coerce`] for a value of the borrowed tree (the rules themselves): values that need no
/// change keep their borrow of the record.
pub fn coerce_node<'a>(v: &Node<'a>, t: ColumnType) -> Result<Node<'a>, String> {
    let bad = || {
        Err(format!(
            "cannot convert {} to {}",
            v.to_json_string(),
            t.name()
        ))
    };
    let scalar = v.is_number() || matches!(v, Node::Bool(_));
    Ok(match (t, v) {
        (_, Node::Null) => Node::Null,
        (ColumnType::String | ColumnType::Guid, Node::Str(_)) => v.clone(),
        (ColumnType::String | ColumnType::Guid, _) if scalar => Node::from(v.to_json_string()),
        (ColumnType::String, Node::Array(_) | Node::Object(_)) => Node::from(v.to_json_string()),
        (ColumnType::Datetime, Node::Str(s)) if s.is_empty() => Node::Null,
        (ColumnType::Datetime, Node::Str(s)) if is_iso_utc(s) => v.clone(),
        (ColumnType::Datetime, Node::Str(s)) => match to_datetime(s) {
            Some(d) => Node::from(d),
            None => return bad(),
        },
        (ColumnType::Bool, Node::Bool(_)) => v.clone(),
        (ColumnType::Bool, Node::Str(s)) => match s.to_ascii_lowercase().as_str() {
            "true" => Node::Bool(true),
            "false" => Node::Bool(false),
            "" => Node::Null,
            _ => return bad(),
        },
        (ColumnType::Bool, n) if n.is_number() => Node::Bool(n.as_f64() != Some(0.0)),
        (ColumnType::Long | ColumnType::Int, Node::UInt(_) | Node::Int(_)) => {
            if t == ColumnType::Int && !t.accepts_node(v) {
                return bad();
            }
            v.clone()
        }
        (ColumnType::Long | ColumnType::Int, Node::Str(s)) if s.is_empty() => Node::Null,
        (ColumnType::Long | ColumnType::Int, Node::Str(s)) => {
            let parsed = match s.trim().parse::<i64>() {
                Ok(i) => Node::from(i),
                Err(_) => match s.trim().parse::<u64>() {
                    Ok(u) => Node::from(u),
                    Err(_) => return bad(),
                },
            };
            if !t.accepts_node(&parsed) {
                return bad();
            }
            parsed
        }
        (ColumnType::Real, n) if n.is_number() => v.clone(),
        (ColumnType::Real, Node::Str(s)) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Node::Float(f),
            _ => return bad(),
        },
        (ColumnType::Dynamic, Node::Str(s)) => {
            let trimmed = s.trim_start();
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                // JSON inside a string always has escapes, so the string is owned: the parsed
                // value is made owned too.
                match crate::tree::parse(s) {
                    Ok(parsed) => parsed.into_owned(),
                    Err(_) => v.clone(),
                }
            } else if s.is_empty() {
                Node::Null
            } else {
                v.clone()
            }
        }
        (ColumnType::Dynamic, _) => v.clone(),
        _ => return bad(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tree_coercion_is_value_coercion() {
        let values = [
            json!(null),
            json!(""),
            json!("x"),
            json!("2024-01-01 10:00:00"),
            json!("2024-01-01T10:00:00.1234567Z"),
            json!("2024-01-01T10:00:00+02:00"),
            json!("True"),
            json!("no"),
            json!(1),
            json!(-7),
            json!(0),
            json!(4294967296u64),
            json!(18446744073709551615u64),
            json!(1.5),
            json!(-0.0),
            json!(true),
            json!(" 42 "),
            json!("1e3"),
            json!(" 2.5 "),
            json!("{\"a\": [1, {\"b\": null}]}"),
            json!("[1"),
            json!(["a"]),
            json!({"k": 1}),
        ];
        for t in tables().iter().flat_map(|t| t.columns.iter().map(|c| c.1)) {
            for v in &values {
                let node = Node::from_value(v.clone());
                let ours = coerce_node(&node, t).map(|n| n.to_value());
                assert_eq!(ours, coerce(v, t), "{v} as {}", t.name());
                assert_eq!(t.accepts_node(&node), t.accepts(v), "{v} as {}", t.name());
            }
        }
    }

    #[test]
    fn every_column_is_found_by_name_and_nothing_else() {
        for t in tables() {
            for (name, ty) in &t.columns {
                assert_eq!(t.column(name), Some(*ty), "{}.{name}", t.name);
            }
            assert_eq!(t.column(""), None);
            assert_eq!(t.column("NoSuchColumn"), None);
            assert_eq!(t.column("timegenerated"), None, "names are case-sensitive");
        }
    }

    #[test]
    fn standard_and_custom_tables_load() {
        let alert = table("SecurityAlert").expect("SecurityAlert");
        assert_eq!(alert.column("StartTime"), Some(ColumnType::Datetime));
        assert_eq!(alert.column("Entities"), Some(ColumnType::String));
        assert!(table("DeviceProcessEvents").is_some());
        assert!(table("NoSuchTable").is_none());
    }

    #[test]
    fn plain_utc_accepts_only_what_chrono_accepts() {
        let mut cases = vec![
            String::from("2024-02-29T10:00:00Z"),
            "2023-02-29T10:00:00Z".into(),
            "1900-02-29T10:00:00Z".into(),
            "2000-02-29T23:59:59.1234567890123Z".into(),
            "0000-01-01T00:00:00Z".into(),
            "2024-04-31T00:00:00Z".into(),
            "2024-13-01T00:00:00Z".into(),
            "2024-00-10T00:00:00Z".into(),
            "2024-01-00T00:00:00Z".into(),
            "2024-01-01T24:00:00Z".into(),
            "2024-01-01T23:60:00Z".into(),
            "2024-01-01T23:59:60Z".into(),
            "2024-01-01T23:59:59.Z".into(),
            "2024-01-01T23:59:59,5Z".into(),
            "2024-01-01t23:59:59Z".into(),
            "2024-01-01 23:59:59Z".into(),
            "2024-1-01T23:59:59Z".into(),
            "2024-01-01T23:59:59+00:00".into(),
        ];
        for y in [1999, 2000, 2024, 2100] {
            for m in 0..=13 {
                for d in [0, 1, 28, 29, 30, 31, 32] {
                    cases.push(format!("{y:04}-{m:02}-{d:02}T12:34:56.789Z"));
                }
            }
        }
        for c in &cases {
            let chrono_ok = DateTime::parse_from_rfc3339(c).is_ok();
            if plain_utc(c).is_some() {
                assert!(chrono_ok, "{c}");
            }
            assert_eq!(is_iso_utc(c), c.ends_with('Z') && chrono_ok, "{c}");
        }
        assert!(plain_utc("2024-02-29T10:00:00.1234567Z").is_some());
    }

    #[test]
    fn datetimes_become_utc() {
        assert_eq!(
            to_datetime("2025-10-06 12:00:00").unwrap(),
            "2025-10-06T12:00:00Z"
        );
        assert_eq!(
            to_datetime("2020-06-30T10:09:01.1569718Z").unwrap(),
            "2020-06-30T10:09:01.1569718Z"
        );
        assert_eq!(
            to_datetime("2020-06-30T12:09:01+02:00").unwrap(),
            "2020-06-30T10:09:01Z"
        );
        assert!(to_datetime("yesterday").is_none());
    }

    #[test]
    fn coercion_follows_column_types() {
        assert_eq!(
            coerce(&json!("[1,2]"), ColumnType::Dynamic).unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            coerce(&json!("plain"), ColumnType::Dynamic).unwrap(),
            json!("plain")
        );
        assert_eq!(coerce(&json!("42"), ColumnType::Long).unwrap(), json!(42));
        assert_eq!(
            coerce(&json!(639199803770463703u64), ColumnType::Long).unwrap(),
            json!(639199803770463703u64)
        );
        assert!(coerce(&json!("x"), ColumnType::Long).is_err());
        assert!(coerce(&json!(3_000_000_000u64), ColumnType::Int).is_err());
        assert_eq!(
            coerce(&json!("True"), ColumnType::Bool).unwrap(),
            json!(true)
        );
    }
}
