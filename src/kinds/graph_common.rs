//! Pieces the Graph security `incident` and `alert` mappings share: the severity score, the
//! start of every document, typed field access, and the Sentinel severity spelling.

use std::borrow::Cow;
use std::ops::Range;

use crate::doc::es_date_str;
use crate::sentinel::plain_utc;
use crate::tree::{Doc, Node, Obj};
use crate::{MapError, Options, ECS_VERSION};

/// Graph severity -> `event.severity` (Elastic's 21/47/73/99 scale; the incident fixture pins
/// medium = 47 and high = 73; informational shares low's 21).
pub(crate) fn severity_score(severity: &str) -> Option<i64> {
    let is = |name: &str| severity.eq_ignore_ascii_case(name);
    if is("informational") || is("low") {
        Some(21)
    } else if is("medium") {
        Some(47)
    } else if is("high") {
        Some(73)
    } else if is("critical") {
        Some(99)
    } else {
        None
    }
}

/// Graph severity -> Sentinel's spelling (`High`, `Medium`, `Low`, `Informational`).
pub(crate) fn sentinel_severity(severity: &str) -> Option<&'static str> {
    let is = |name: &str| severity.eq_ignore_ascii_case(name);
    if is("high") || is("critical") {
        Some("High")
    } else if is("medium") {
        Some("Medium")
    } else if is("low") {
        Some("Low")
    } else if is("informational") {
        Some("Informational")
    } else {
        None
    }
}

/// The start every Graph document shares: `ecs.version` and the place of `event`, whose
/// fields (`event.original` first) are collected apart in the returned object, so that each is
/// one insert instead of a walk down the document; [`put_event`] puts the object in its place.
/// Until then the document's `event` is a placeholder (null): nothing may write `event.*`
/// through the document before `put_event`. The option tags are added by the dispatcher.
pub(crate) fn base_doc<'a>(original: &'a str, opts: &Options) -> (Doc<'a>, Obj<'a>) {
    let mut doc = Doc(Obj::with_capacity(16));
    let mut ecs = Obj::with_capacity(1);
    ecs.push("version", ECS_VERSION);
    doc.0.push("ecs", ecs);
    doc.0.push("event", Node::Null);
    let mut event = Obj::with_capacity(16);
    if opts.preserve_original_event {
        event.push("original", original);
    }
    (doc, event)
}

/// Puts the `event` object collected since [`base_doc`] in its place in the document.
pub(crate) fn put_event<'a>(doc: &mut Doc<'a>, event: Obj<'a>) {
    doc.0.insert("event", event);
}

/// Members of an object that the mapping writes once each: appended without looking for the
/// key (`Obj::put` searches for it first), nulls skipped as `put` skips them.
pub(crate) trait PutNew<'a> {
    fn put_new(&mut self, key: &'static str, value: impl Into<Node<'a>>);
    fn put_new_some(&mut self, key: &'static str, value: Option<impl Into<Node<'a>>>) {
        if let Some(v) = value {
            self.put_new(key, v);
        }
    }
}

impl<'a> PutNew<'a> for Obj<'a> {
    fn put_new(&mut self, key: &'static str, value: impl Into<Node<'a>>) {
        let value = value.into();
        if !value.is_null() {
            self.push(key, value);
        }
    }
}

/// Where the fields read by [`str_at`] and [`date_at`] are, for error paths: the record itself
/// or the `i`th alert of an incident (`alerts[i].`). The path is only built for an error.
#[derive(Clone, Copy)]
pub(crate) enum At {
    Record,
    Alert(usize),
}

pub(crate) fn field_path(at: At, key: &str) -> String {
    match at {
        At::Record => key.to_owned(),
        At::Alert(i) => {
            use std::fmt::Write;
            let mut p = String::with_capacity(key.len() + 12);
            let _ = write!(p, "alerts[{i}].{key}");
            p
        }
    }
}

/// A string field of a record at `at`; `Err` naming the field when it has another JSON type.
/// The string keeps its borrow of the input.
pub(crate) fn str_at<'a>(
    rec: &Obj<'a>,
    at: At,
    key: &str,
) -> Result<Option<Cow<'a, str>>, MapError> {
    match rec.get(key) {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Str(s)) => Ok(Some(s.clone())),
        Some(other) => Err(MapError::field(
            field_path(at, key),
            format!("expected a string, got {}", other.type_name()),
        )),
    }
}

/// A date field in Elastic's date format; an unparsable date is an error naming the field
/// (Elastic's `date` processor records an `error.message` and drops the value; we refuse).
pub(crate) fn date_at(rec: &Obj<'_>, at: At, key: &str) -> Result<Option<String>, MapError> {
    match rec.get(key) {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Str(s)) if s.is_empty() => Ok(None),
        Some(Node::Str(s)) => es_date(s)
            .map(Some)
            .ok_or_else(|| MapError::field(field_path(at, key), format!("not a date: {:?}", &**s))),
        Some(_) => str_at(rec, at, key).map(|_| None),
    }
}

/// [`es_date_str`], without the general parser for the form Graph sends.
pub(crate) fn es_date(s: &str) -> Option<String> {
    fast_es_date(s).or_else(|| es_date_str(s))
}

/// [`es_date_str`] of a [`plain_utc`] timestamp: the same text, milliseconds truncated.
fn fast_es_date(s: &str) -> Option<String> {
    let fraction = plain_utc(s)?;
    let mut out = String::with_capacity(24);
    out.push_str(&s[..19]);
    out.push('.');
    for i in 0..3 {
        out.push(char::from(fraction.get(i).copied().unwrap_or(b'0')));
    }
    out.push('Z');
    Some(out)
}

/// [`crate::doc::parse_time`], without the general parser for a [`plain_utc`] timestamp.
pub(crate) fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let Some(fraction) = plain_utc(s) else {
        return crate::doc::parse_time(s);
    };
    let b = s.as_bytes();
    let num = |r: Range<usize>| b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let nanos = (0..9).fold(0u32, |n, i| {
        n * 10 + fraction.get(i).map_or(0, |d| u32::from(d - b'0'))
    });
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4) as i32, num(5..7), num(8..10))?;
    let time = date.and_hms_nano_opt(num(11..13), num(14..16), num(17..19), nanos)?;
    Some(time.and_utc().fixed_offset())
}

/// [`crate::sentinel::to_datetime`], which keeps a valid UTC timestamp as it is.
pub(crate) fn sentinel_datetime(s: &str) -> Option<String> {
    match plain_utc(s) {
        Some(_) => Some(s.to_owned()),
        None => crate::sentinel::to_datetime(s),
    }
}

/// The part `range` of `s`, borrowing the input when `s` does.
pub(crate) fn slice<'a>(s: &Cow<'a, str>, range: Range<usize>) -> Cow<'a, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[range]),
        Cow::Owned(o) => Cow::Owned(o[range].to_owned()),
    }
}

/// `user@domain` -> (`user`, `domain`); `DOMAIN\user` -> (`user`, `DOMAIN`).
pub(crate) fn split_user<'a>(s: &Cow<'a, str>) -> (Cow<'a, str>, Option<Cow<'a, str>>) {
    if let Some(i) = s.rfind('@') {
        return (slice(s, 0..i), Some(slice(s, i + 1..s.len())));
    }
    if let Some(i) = s.find('\\') {
        return (slice(s, i + 1..s.len()), Some(slice(s, 0..i)));
    }
    (s.clone(), None)
}

/// Elastic's `uri_parts` (as [`crate::doc::uri_parts`]) for a tree document.
pub(crate) fn uri_parts<'a>(full: &Cow<'a, str>) -> Option<Obj<'a>> {
    if let Some(parts) = plain_url(full) {
        return Some(parts.into_obj(full));
    }
    match Node::from_value(serde_json::Value::Object(crate::doc::uri_parts(full)?)) {
        Node::Object(o) => Some(o),
        _ => None,
    }
}

/// Whether `url::Url::parse` accepts `full` (an absolute URL).
pub(crate) fn is_absolute_url(full: &str) -> bool {
    plain_url(full).is_some() || url::Url::parse(full).is_ok()
}

/// The parts of a URL in the plain form Graph's web links have
/// (`https://security.microsoft.com/alerts/da6?tid=b3c1`), found without the WHATWG parser,
/// which costs more than the rest of the document. Plain: `http` or `https`, a lower-case
/// ASCII host name whose last label starts with a letter (no IP address, no IDNA `xn--`
/// label, no port, no user), a path, and path, query and fragment of characters that the
/// parser keeps as they are with no `.`/`..` segment. For those the parser returns the text
/// unchanged, so the parts are slices of it; anything else is `None` (the parser decides).
struct PlainUrl {
    scheme: Range<usize>,
    host: Range<usize>,
    path: Range<usize>,
    query: Option<Range<usize>>,
    fragment: Option<Range<usize>>,
}

fn plain_url(s: &str) -> Option<PlainUrl> {
    let b = s.as_bytes();
    let scheme_end = if b.starts_with(b"https://") {
        5
    } else if b.starts_with(b"http://") {
        4
    } else {
        return None;
    };
    // One pass over the bytes (this runs for every link of every record).
    let host_start = scheme_end + 3;
    let mut i = host_start;
    let mut label_start = i;
    while i < b.len() && b[i] != b'/' {
        match b[i] {
            b'a'..=b'z' | b'0'..=b'9' => {}
            b'-' if i >= host_start + 3 && &b[i - 3..=i] == b"xn--" => return None,
            b'-' => {}
            b'.' if i > label_start => label_start = i + 1,
            _ => return None,
        }
        i += 1;
    }
    // A path must follow; the last label is not empty and starts with a letter.
    if i == b.len() || i == label_start || !b[label_start].is_ascii_lowercase() {
        return None;
    }
    let host_end = i;
    let plain = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'~');
    let mut segment = i + 1;
    i += 1;
    while i < b.len() && b[i] != b'?' && b[i] != b'#' {
        match b[i] {
            b'/' => {
                if matches!(&b[segment..i], b"." | b"..") {
                    return None;
                }
                segment = i + 1;
            }
            b'.' => {}
            c if plain(c) => {}
            _ => return None,
        }
        i += 1;
    }
    if matches!(&b[segment..i], b"." | b"..") {
        return None;
    }
    let path_end = i;
    let in_query = |c: u8| plain(c) || matches!(c, b'/' | b'.' | b'=' | b'&');
    let mut query = None;
    if i < b.len() && b[i] == b'?' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i] != b'#' {
            if !in_query(b[i]) {
                return None;
            }
            i += 1;
        }
        query = Some(start..i);
    }
    let mut fragment = None;
    if i < b.len() {
        if !b[i + 1..].iter().all(|&c| in_query(c)) {
            return None;
        }
        fragment = Some(i + 1..b.len());
    }
    Some(PlainUrl {
        scheme: 0..scheme_end,
        host: host_start..host_end,
        path: host_end..path_end,
        query,
        fragment,
    })
}

impl PlainUrl {
    /// The object `crate::doc::uri_parts` makes, in its member order.
    fn into_obj<'a>(self, full: &Cow<'a, str>) -> Obj<'a> {
        let part = |r: Range<usize>| Node::Str(slice(full, r));
        let mut m = Obj::with_capacity(8);
        m.push("domain", part(self.host));
        if let Some(f) = self.fragment {
            m.push("fragment", part(f));
        }
        let path = &full[self.path.clone()];
        let last = path.rfind('/').map_or(0, |i| i + 1);
        let ext = path[last..]
            .rfind('.')
            .map(|i| self.path.start + last + i + 1);
        m.push("path", part(self.path.clone()));
        if let Some(ext) = ext.filter(|&e| e < self.path.end) {
            m.push("extension", part(ext..self.path.end));
        }
        if let Some(q) = self.query {
            m.push("query", part(q));
        }
        m.push("scheme", part(self.scheme));
        m.push("original", full.clone());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities() {
        assert_eq!(severity_score("High"), Some(73));
        assert_eq!(severity_score("unknownFutureValue"), None);
        assert_eq!(sentinel_severity("informational"), Some("Informational"));
    }

    #[test]
    fn plain_timestamps_as_the_general_parsers_give_them() {
        for s in [
            "2021-04-27T12:19:27.7211305Z",
            "2021-04-27T12:19:27Z",
            "2021-04-27T12:19:27.5Z",
            "2021-04-27T12:19:27.123456789Z",
            "2021-04-27T12:19:27.1234567891Z",
            "2024-02-29T23:59:59.999Z",
            "2023-02-29T00:00:00Z",
            "2021-04-27T24:00:00Z",
            "2021-04-27T12:60:00Z",
            "2021-04-27T12:00:60Z",
            "0000-01-01T00:00:00Z",
            "2021-04-27t12:19:27Z",
            "2021-04-27T12:19:27.Z",
            "2021-04-27T12:19:27+00:00",
            "2021-13-01T00:00:00Z",
            "2021-04-27 12:19:27Z",
        ] {
            assert_eq!(
                fast_es_date(s).or_else(|| es_date_str(s)),
                es_date_str(s),
                "{s}"
            );
            assert_eq!(sentinel_datetime(s), crate::sentinel::to_datetime(s), "{s}");
        }
        assert!(plain_utc("2021-04-27T12:19:27.7211305Z").is_some());
    }

    /// The plain-URL shortcut gives what the WHATWG parser gives, on generated URLs that mix
    /// plain and special characters (most of them not plain).
    #[test]
    fn plain_urls_as_the_parser_gives_them() {
        const PIECES: &[&str] = &[
            "https://",
            "http://",
            "HTTPS://",
            "ftp://",
            "security.microsoft.com",
            "a",
            "B",
            "xn--nxasmq6b",
            "1.2.3.4",
            "0x7f",
            ".",
            "..",
            "-",
            "_",
            "~",
            "/",
            "//",
            "?",
            "#",
            "=",
            "&",
            ":",
            "443",
            "@",
            "%41",
            "%2e",
            " ",
            "\\",
            "\t",
            "é",
            "a.b",
            "x.tar.gz",
            "alerts",
            "da638000000000000123_-12345",
            "tid",
            "cfcdbe43-297b",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        // Every other URL is made mostly of plain pieces.
        const PLAIN: &[&str] = &[
            "/",
            "/",
            "?",
            "#",
            "=",
            "&",
            "-",
            "_",
            "~",
            ".",
            "a.b",
            "x.tar.gz",
            "alerts",
            "tid",
            "da638000000000000123_-12345",
            "cfcdbe43-297b",
            "%41",
            ":",
            "..",
        ];
        let mut plain = 0;
        for i in 0..20_000 {
            let mut u = String::from(if i % 2 == 0 {
                "https://"
            } else {
                PIECES[next(4)]
            });
            u.push_str(PIECES[4 + next(3)]);
            let pieces = if i % 2 == 0 {
                u.push('/');
                PLAIN
            } else {
                PIECES
            };
            for _ in 0..next(8) {
                u.push_str(pieces[next(pieces.len())]);
            }
            let want = crate::doc::uri_parts(&u).map(serde_json::Value::Object);
            let cow = Cow::Borrowed(u.as_str());
            if let Some(p) = plain_url(&u) {
                plain += 1;
                assert_eq!(Some(Node::Object(p.into_obj(&cow)).to_value()), want, "{u}");
            }
            assert_eq!(
                uri_parts(&cow).map(|o| Node::Object(o).to_value()),
                want,
                "{u}"
            );
            assert_eq!(is_absolute_url(&u), url::Url::parse(&u).is_ok(), "{u}");
        }
        assert!(plain > 1000, "{plain}");
    }

    #[test]
    fn users_split() {
        let s = |t: &'static str| Cow::Borrowed(t);
        assert_eq!(
            split_user(&s("admin@contoso.com")),
            (s("admin"), Some(s("contoso.com")))
        );
        assert_eq!(
            split_user(&s("CONTOSO\\bob")),
            (s("bob"), Some(s("CONTOSO")))
        );
        assert_eq!(split_user(&s("bob")), (s("bob"), None));
    }
}
