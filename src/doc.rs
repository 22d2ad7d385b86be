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
/// The usual forms ([`stamp`]) are rewritten without chrono.
pub fn es_date_str(s: &str) -> Option<String> {
    match stamp(s) {
        Some(t) => Some(t.es_date()),
        None => parse_time(s).map(es_date),
    }
}

/// A timestamp in one of the two forms Defender usually sends, read without chrono's general parsers (which
/// cost more than the rest of a field's mapping): ISO-8601 UTC (`2025-05-01T10:05:00.2222222Z`)
/// or the export API's zone-less `2025-05-01 10:05:00.123`, with a valid date and time and at
/// most nine fractional digits. Any other form goes through the general parsers, which accept
/// every timestamp this does and read it the same.
pub(crate) struct Stamp<'s> {
    /// The `…Z` form (else the zone-less one).
    pub zulu: bool,
    /// `YYYY-MM-DD`, then `HH:MM:SS` (the separator between them is not kept).
    date: &'s str,
    time: &'s str,
    /// The fractional digits (none, or one to nine).
    fraction: &'s [u8],
}

pub(crate) fn stamp(s: &str) -> Option<Stamp<'_>> {
    let b = s.as_bytes();
    if b.len() < 19 || b.len() > 30 {
        return None;
    }
    let zulu = match (b[10], b[b.len() - 1]) {
        (b'T', b'Z') => true,
        (b' ', last) if last.is_ascii_digit() => false,
        _ => return None,
    };
    let head: &[u8; 19] = b[..19].try_into().ok()?;
    let mut not_digit = 0u8;
    for i in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] {
        not_digit |= u8::from(!head[i].is_ascii_digit());
    }
    if not_digit != 0 || head[4] != b'-' || head[7] != b'-' || head[13] != b':' || head[16] != b':'
    {
        return None;
    }
    let rest = &b[19..b.len() - usize::from(zulu)];
    let fraction = match rest {
        [] => rest,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => digits,
        _ => return None,
    };
    if !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |i: usize| u32::from(head[i] - b'0') * 10 + u32::from(head[i + 1] - b'0');
    let year = num(0) * 100 + num(2);
    let (month, day) = (num(5), num(8));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    // Second 60 (a leap second) is left to chrono.
    if day == 0 || day > days || num(11) > 23 || num(14) > 59 || num(17) > 59 {
        return None;
    }
    Some(Stamp {
        zulu,
        date: &s[..10],
        time: &s[11..19],
        fraction,
    })
}

impl Stamp<'_> {
    /// `YYYY-MM-DDTHH:MM:SS`, the fraction written by `digits`, then `Z`.
    fn write(&self, digits: usize) -> String {
        let mut out = String::with_capacity(30);
        out.push_str(self.date);
        out.push('T');
        out.push_str(self.time);
        if digits > 0 {
            out.push('.');
            for i in 0..digits {
                out.push(self.fraction.get(i).map_or('0', |&c| char::from(c)));
            }
        }
        out.push('Z');
        out
    }

    /// Elastic's `date` output: milliseconds, cut (not rounded), as chrono writes them.
    fn es_date(&self) -> String {
        self.write(3)
    }

    /// [`sentinel::to_datetime`]: a `…Z` timestamp as it is, else chrono's `AutoSi` digits.
    pub(crate) fn sentinel(&self, s: &str) -> String {
        if self.zulu {
            return s.to_owned();
        }
        let nanos = (0..9).fold(0u32, |n, i| {
            n * 10 + self.fraction.get(i).map_or(0, |&c| u32::from(c - b'0'))
        });
        let digits = match nanos {
            0 => 0,
            n if n % 1_000_000 == 0 => 3,
            n if n % 1_000 == 0 => 6,
            _ => 9,
        };
        self.write(digits)
    }
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
