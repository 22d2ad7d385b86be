//! Pieces the Graph security `incident` and `alert` mappings share: the severity score, the
//! start of every document, typed field access, and the Sentinel severity spelling.

use std::borrow::Cow;
use std::ops::Range;

use crate::doc::es_date_str;
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

/// The JSON type name of a value, for messages (as `crate::error::type_name`).
pub(crate) fn type_name(v: &Node<'_>) -> &'static str {
    match v {
        Node::Null => "null",
        Node::Bool(_) => "boolean",
        Node::UInt(_) | Node::Int(_) | Node::Float(_) => "number",
        Node::Str(_) => "string",
        Node::Array(_) => "array",
        Node::Object(_) => "object",
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
            format!("expected a string, got {}", type_name(other)),
        )),
    }
}

/// A date field in Elastic's date format; an unparsable date is an error naming the field
/// (Elastic's `date` processor records an `error.message` and drops the value; we refuse).
pub(crate) fn date_at(rec: &Obj<'_>, at: At, key: &str) -> Result<Option<String>, MapError> {
    match rec.get(key) {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Str(s)) if s.is_empty() => Ok(None),
        Some(Node::Str(s)) => es_date_str(s)
            .map(Some)
            .ok_or_else(|| MapError::field(field_path(at, key), format!("not a date: {:?}", &**s))),
        Some(_) => str_at(rec, at, key).map(|_| None),
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
pub(crate) fn uri_parts<'a>(full: &str) -> Option<Obj<'a>> {
    match Node::from_value(serde_json::Value::Object(crate::doc::uri_parts(full)?)) {
        Node::Object(o) => Some(o),
        _ => None,
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
