//! Timestamps as integer nanoseconds since the Unix epoch: cheap to compare and store, and free
//! of the precision differences between APIs (".13Z" vs ".1300000Z").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

pub type Nanos = i64;

pub fn now() -> Nanos {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    d.as_nanos() as Nanos
}

pub fn dur(d: Duration) -> Nanos {
    d.as_nanos().min(i64::MAX as u128) as Nanos
}

/// Parses RFC 3339 and the export format's "2025-10-06 12:00:00" (UTC).
pub fn parse(s: &str) -> Option<Nanos> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.with_timezone(&Utc).timestamp_nanos_opt();
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .and_then(|t| t.and_utc().timestamp_nanos_opt())
}

/// RFC 3339 with 7 fractional digits at most (what the Defender APIs emit), always `Z`.
pub fn format(t: Nanos) -> String {
    let dt = DateTime::from_timestamp_nanos(t);
    // Microsecond precision: OData filters accept it, and truncation (not rounding) keeps
    // `ge` filters inclusive.
    dt.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Durations like `24h`, `5m`, `30s`, `250ms`, `2d`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    // Out of range (a 23-digit day count, found by the plugin_abi fuzzer) is an error, not a panic.
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_formats() {
        let t = parse("2020-07-03T15:15:39.13Z").unwrap();
        assert_eq!(t, parse("2020-07-03T15:15:39.1300000Z").unwrap());
        assert_eq!(format(t), "2020-07-03T15:15:39.130000Z");
        assert_eq!(parse("2025-10-06 12:00:00"), parse("2025-10-06T12:00:00Z"));
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("x"), None);
        // Beyond what a Duration holds, negative or not a number: none, no panic.
        for bad in ["1e300d", "99999999999999999999999d", "-5s", "nan", "inf"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
