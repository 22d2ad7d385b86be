//! Helpers for building ECS documents the way Elastic's ingest pipelines do: dotted-path
//! splitting (for `tree::Doc`), Elastic's date parsing and output format, `convert` to string,
//! and `uri_parts`.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

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
