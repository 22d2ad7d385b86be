//! Typed field access and small rules the MDE API resource mappings (machine, machine action,
//! vulnerability) share. Every accessor treats a missing key and JSON null alike (Elastic's
//! `ignore_missing`) and answers a value of the wrong JSON type with an error naming the field.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::doc::{es_date, Doc};
use crate::error::type_name;
use crate::sentinel::{self, ColumnType};
use crate::MapError;

fn wrong(key: &str, want: &str, got: &Value) -> MapError {
    MapError::field(
        key,
        format!("expected {want}, got {} {got}", type_name(got)),
    )
}

/// The value at `key`, `None` for missing or null.
pub(crate) fn present<'a>(rec: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    rec.get(key).filter(|v| !v.is_null())
}

pub(crate) fn opt_str<'a>(
    rec: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, MapError> {
    match present(rec, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong(key, "a string", other)),
    }
}

/// Elastic's `convert: type: string`: scalars become their text; objects and arrays are errors.
pub(crate) fn opt_text(rec: &Map<String, Value>, key: &str) -> Result<Option<String>, MapError> {
    match present(rec, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(wrong(key, "a string or number", other)),
    }
}

/// Elastic's `convert: type: boolean`: a boolean, or the strings `true` / `false`.
pub(crate) fn opt_bool(rec: &Map<String, Value>, key: &str) -> Result<Option<bool>, MapError> {
    match present(rec, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(wrong(key, "a boolean", other)),
    }
}

/// Elastic's `convert: type: long`: an integer, or a string holding one.
pub(crate) fn opt_long(rec: &Map<String, Value>, key: &str) -> Result<Option<i64>, MapError> {
    match present(rec, key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
        Some(other) => Err(wrong(key, "an integer", other)),
    }
}

/// A number kept as the source wrote it (`7` stays `7`, `5.5` stays `5.5`).
pub(crate) fn opt_number(rec: &Map<String, Value>, key: &str) -> Result<Option<Value>, MapError> {
    match present(rec, key) {
        None => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
        Some(other) => Err(wrong(key, "a number", other)),
    }
}

pub(crate) fn opt_array<'a>(
    rec: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Vec<Value>>, MapError> {
    match present(rec, key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(wrong(key, "an array", other)),
    }
}

pub(crate) fn opt_object<'a>(
    rec: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, MapError> {
    match present(rec, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(wrong(key, "an object", other)),
    }
}

/// Elastic's `date` processor output for a timestamp field; empty strings count as missing
/// (the pipelines skip them), anything unparsable is an error.
pub(crate) fn opt_es_date(rec: &Map<String, Value>, key: &str) -> Result<Option<String>, MapError> {
    match opt_str(rec, key)? {
        None | Some("") => Ok(None),
        Some(s) => crate::doc::parse_time(s)
            .map(|t| Some(es_date(t)))
            .ok_or_else(|| MapError::field(key, format!("not a timestamp: {s:?}"))),
    }
}

/// Elastic's `convert: type: ip`: the address text as given; empty strings count as missing.
pub(crate) fn opt_ip<'a>(
    rec: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, MapError> {
    match opt_str(rec, key)? {
        None | Some("") => Ok(None),
        Some(s) if s.parse::<IpAddr>().is_ok() => Ok(Some(s)),
        Some(s) => Err(MapError::field(key, format!("not an IP address: {s:?}"))),
    }
}

/// The `host.os.type` script of Elastic's MDE pipelines: the first OS family named inside the
/// platform (`WindowsServer2019` -> windows, `RedHatEnterpriseLinux` -> linux).
pub(crate) fn os_type(platform: &str) -> Option<&'static str> {
    let p = platform.to_lowercase();
    const FAMILIES: [&str; 6] = ["linux", "macos", "unix", "windows", "ios", "android"];
    FAMILIES
        .into_iter()
        .find(|f| p.contains(f))
        .or_else(|| (p.contains("centos") || p.contains("ubuntu")).then_some("linux"))
}

/// The first of `candidates` (source key, value) that is a usable timestamp, as ISO-8601 UTC;
/// else the ingest time the shell passed in. `None` when there is neither.
pub(crate) fn time_generated(
    rec: &Map<String, Value>,
    keys: &[&str],
    now: Option<&str>,
) -> Result<Option<String>, MapError> {
    for key in keys {
        if let Some(s) = opt_str(rec, key)?.filter(|s| !s.is_empty()) {
            return sentinel::to_datetime(s)
                .map(Some)
                .ok_or_else(|| MapError::field(*key, format!("not a timestamp: {s:?}")));
        }
    }
    Ok(now.and_then(sentinel::to_datetime))
}

/// Converts a source value for a column of `table`; the error names the source field.
pub(crate) fn column_value(
    table: &str,
    column: &str,
    key: &str,
    v: &Value,
) -> Result<Value, MapError> {
    let t = sentinel::table(table)
        .and_then(|t| t.column(column))
        .unwrap_or(ColumnType::Dynamic);
    // A whole number sent as a float (`5.0`) fits long/int columns.
    let v = match (t, v.as_f64()) {
        (ColumnType::Long | ColumnType::Int, Some(f))
            if v.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 =>
        {
            Value::from(f as i64)
        }
        _ => v.clone(),
    };
    sentinel::coerce(&v, t).map_err(|e| MapError::field(key, e))
}

/// `someField` -> `SomeField`, the column name given to source fields a table does not name.
pub(crate) fn pascal(key: &str) -> String {
    let mut c = key.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The start of an ECS document of Elastic's `machine` and `machine_action` streams (ecs 8.11.0):
/// their pipelines never remove `event.original`.
pub(crate) fn event_doc(input: &super::Input<'_>) -> Doc {
    let mut d = Doc::new();
    d.set("ecs.version", "8.11.0");
    d.set("event.original", input.original);
    d.set("observer.vendor", "Microsoft");
    d.set("observer.product", "Defender for Endpoint");
    d.set("event.kind", "event");
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
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
