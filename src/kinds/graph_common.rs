//! Pieces the Graph security `incident` and `alert` mappings share: the severity score, the
//! start of every document, typed field access, and the Sentinel severity spelling.

use serde_json::{Map, Value};

use super::Input;
use crate::doc::{es_date_str, Doc};
use crate::{MapError, ECS_VERSION};

/// Graph severity -> `event.severity` (Elastic's 21/47/73/99 scale; the incident fixture pins
/// medium = 47 and high = 73; informational shares low's 21).
pub(crate) fn severity_score(severity: &str) -> Option<i64> {
    match severity.to_ascii_lowercase().as_str() {
        "informational" | "low" => Some(21),
        "medium" => Some(47),
        "high" => Some(73),
        "critical" => Some(99),
        _ => None,
    }
}

/// Graph severity -> Sentinel's spelling (`High`, `Medium`, `Low`, `Informational`).
pub(crate) fn sentinel_severity(severity: &str) -> Option<&'static str> {
    match severity.to_ascii_lowercase().as_str() {
        "high" | "critical" => Some("High"),
        "medium" => Some("Medium"),
        "low" => Some("Low"),
        "informational" => Some("Informational"),
        _ => None,
    }
}

/// The start every Graph document shares: `ecs.version` and the place of `event`, whose
/// fields (`event.original` first) are collected apart in the returned object, so that each is
/// one insert instead of a walk down the document; [`put_event`] puts the object in its place.
/// Until then the document's `event` is a placeholder (null): nothing may write `event.*`
/// through the document before `put_event`. The option tags are added by the dispatcher.
pub(crate) fn base_doc(input: &Input<'_>) -> (Doc, Map<String, Value>) {
    let mut doc = Doc(Map::with_capacity(16));
    let mut ecs = Map::with_capacity(1);
    ecs.insert("version".into(), ECS_VERSION.into());
    doc.0.insert("ecs".into(), Value::Object(ecs));
    doc.0.insert("event".into(), Value::Null);
    let mut event = Map::with_capacity(16);
    if input.opts.preserve_original_event {
        event.insert("original".into(), input.original.into());
    }
    (doc, event)
}

/// Puts the `event` object collected since [`base_doc`] in its place in the document.
pub(crate) fn put_event(doc: &mut Doc, event: Map<String, Value>) {
    doc.0.insert("event".into(), Value::Object(event));
}

pub(crate) use crate::doc::put;

/// A string field of a record found at `prefix` (`""`, or `alerts[0].` for an incident's
/// alert); `Err` naming `{prefix}{key}` when it has another JSON type (the path is only built
/// for an error).
pub(crate) fn str_at<'a>(
    rec: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<&'a str>, MapError> {
    match rec.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(MapError::field(
            at(prefix, key),
            format!("expected a string, got {}", crate::error::type_name(other)),
        )),
    }
}

fn at(prefix: &str, key: &str) -> String {
    let mut path = String::with_capacity(prefix.len() + key.len());
    path.push_str(prefix);
    path.push_str(key);
    path
}

/// A date field in Elastic's date format; an unparsable date is an error naming the field
/// (Elastic's `date` processor records an `error.message` and drops the value; we refuse).
/// `prefix` as for [`str_at`].
pub(crate) fn date_at(
    rec: &Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<String>, MapError> {
    match str_at(rec, prefix, key)? {
        None | Some("") => Ok(None),
        Some(s) => es_date_str(s)
            .map(Some)
            .ok_or_else(|| MapError::field(at(prefix, key), format!("not a date: {s:?}"))),
    }
}

/// `user@domain` -> (`user`, `domain`); `DOMAIN\user` -> (`user`, `DOMAIN`).
pub(crate) fn split_user(s: &str) -> (Option<&str>, Option<&str>) {
    if let Some((name, domain)) = s.rsplit_once('@') {
        return (Some(name), Some(domain));
    }
    if let Some((domain, name)) = s.split_once('\\') {
        return (Some(name), Some(domain));
    }
    (Some(s), None)
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
        assert_eq!(
            split_user("admin@contoso.com"),
            (Some("admin"), Some("contoso.com"))
        );
        assert_eq!(split_user("CONTOSO\\bob"), (Some("bob"), Some("CONTOSO")));
    }
}
