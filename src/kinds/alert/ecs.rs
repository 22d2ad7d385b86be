//! MDE alert → Elastic `microsoft_defender_endpoint` `log` documents, one per evidence item.

use serde_json::{Map, Value};

use super::{evidence_items, is_placeholder, str_field};
use crate::doc::{join, to_string_value, uri_parts, Doc};
use crate::kinds::Input;
use crate::{MapError, Options};

/// The ECS version Elastic's expected documents carry for this data stream.
const ECS_VERSION: &str = "8.11.0";

/// `severity` → `event.severity`.
const SEVERITY: &[(&str, i64)] = &[
    ("Unspecified", 0),
    ("Informational", 1),
    ("Low", 2),
    ("Medium", 3),
    ("High", 4),
];

/// Evidence → (vendor field, ECS field), renamed in this order.
const EVIDENCE_RENAMES: &[(&str, &str)] = &[
    ("fileName", "file.name"),
    ("sha256", "file.hash.sha256"),
    ("sha1", "file.hash.sha1"),
    ("filePath", "file.path"),
    ("processId", "process.pid"),
    ("processCommandLine", "process.command_line"),
    ("processCreationTime", "process.start"),
    ("parentProcessId", "process.parent.pid"),
    ("parentProcessCreationTime", "process.parent.start"),
];

/// Elastic renames `description` to `rule.description` only below this length (UTF-16 units).
const RULE_DESCRIPTION_MAX: usize = 1020;

/// Maps a borrowed record (a copy of it); `kinds::map` gives records it owns to [`to_ecs_owned`].
pub(crate) fn to_ecs(input: &Input<'_>, out: &mut Vec<Value>) -> Result<(), MapError> {
    to_ecs_owned(input.record.clone(), input.original, input.opts, out)
}

/// Maps an alert it owns: the alert's fields move into the documents instead of being copied.
pub(crate) fn to_ecs_owned(
    mut record: Map<String, Value>,
    original: &str,
    opts: &Options,
    out: &mut Vec<Value>,
) -> Result<(), MapError> {
    // Checks the evidence (the same errors, before any document).
    evidence_items(&record)?;
    let split = matches!(record.get("evidence"), Some(Value::Array(a)) if !a.is_empty());
    if !split {
        // One document: the alert keeps its `evidence` as it was (absent, null, `[]` or an
        // object): which of those it was decides Elastic's deep cleanup.
        let original = opts.preserve_original_event.then(|| original.to_string());
        out.push(ecs_document(record, original)?);
        return Ok(());
    }
    // Each document starts from the alert without its evidence array (cloning the whole array
    // for every item would make an alert with n evidence items cost n² copies); the `evidence`
    // key keeps its place so that the split record serialises as Elastic's input hands it over.
    let Some(Value::Array(items)) = record.insert("evidence".into(), Value::Null) else {
        unreachable!("split means a non-empty evidence array");
    };
    let mut base = Some(record);
    let last = items.len() - 1;
    for (i, item) in items.into_iter().enumerate() {
        // The last document takes the base instead of a copy of it.
        let mut alert = if i == last {
            base.take().unwrap_or_default()
        } else {
            base.clone().unwrap_or_default()
        };
        alert.insert("evidence".into(), item);
        // A split alert's original is the record as Elastic's input would have handed it over.
        // Only written when it is kept: serialising it for nothing cost as much as the mapping.
        let original = opts
            .preserve_original_event
            .then(|| serde_json::to_string(&alert).unwrap_or_default());
        out.push(ecs_document(alert, original)?);
    }
    Ok(())
}

/// `original` is `Some` when `event.original` is kept.
fn ecs_document(mut json: Map<String, Value>, original: Option<String>) -> Result<Value, MapError> {
    json.retain(|_, v| !is_placeholder(v));
    json.shift_remove("comments");
    // Elastic's second cleanup script runs only when `evidence` is non-null (an object or `[]`)
    // and ends with a deep drop of nulls, "" and empty arrays/objects (`mitreTechniques: []`,
    // `loggedOnUsers: []`) anywhere in the alert; without evidence those stay.
    let deep_clean = json.contains_key("evidence");
    let mut evidence = match json.shift_remove("evidence") {
        Some(Value::Object(mut e)) => {
            e.retain(|_, v| !is_placeholder(v));
            e
        }
        _ => Map::new(),
    };
    if deep_clean {
        for m in [&mut json, &mut evidence] {
            let mut d = Doc(std::mem::take(m));
            d.prune_empty();
            *m = d.0;
        }
    }
    let severity = str_field(&json, "severity")?.map(str::to_string);
    let category = json.get("category").and_then(to_string_value);
    let status = json
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_string);
    let entity_type = evidence
        .get("entityType")
        .and_then(Value::as_str)
        .map(str::to_string);

    let mut d = Doc::new();
    d.set("ecs.version", ECS_VERSION);
    d.set("cloud.provider", "azure");
    if let Some(t) = es_time("alertUpdateTime", json.get("alertUpdateTime"))? {
        d.set("@timestamp", t);
    }
    d.set_some("cloud.account.id", json.shift_remove("aadTenantId"));
    d.set_some("cloud.instance.id", json.shift_remove("machineId"));
    d.set_some("message", json.shift_remove("title"));

    d.set("event.kind", "alert");
    d.set("event.timezone", "UTC");
    if let Some(c) = &category {
        d.set("event.action", c.as_str());
    }
    d.set("event.provider", "defender_endpoint");
    if let Some(t) = es_time("alertCreationTime", json.get("alertCreationTime"))? {
        d.set("event.created", t);
    }
    d.append("event.category", "host");
    if category.as_deref() == Some("Malware") {
        d.append("event.category", "malware");
    }
    if entity_type.as_deref() == Some("Process") {
        d.append("event.category", "process");
    }
    if entity_type.as_deref() == Some("User") {
        d.append("event.type", "access");
    }
    match status.as_deref() {
        Some("New") => d.append("event.type", "start"),
        Some("Resolved") => d.append("event.type", "end"),
        _ => {}
    }
    d.set_some("event.id", json.shift_remove("id"));
    d.set_some(
        "event.start",
        es_time("firstEventTime", json.get("firstEventTime"))?,
    );
    d.set_some(
        "event.end",
        es_time("lastEventTime", json.get("lastEventTime"))?,
    );
    json.shift_remove("firstEventTime");
    json.shift_remove("lastEventTime");
    if let Some(sev) = severity
        .as_deref()
        .and_then(|s| SEVERITY.iter().find(|(n, _)| *n == s))
    {
        d.set("event.severity", sev.1);
    }
    if let (Some(start), Some(end)) = (d.get_str("event.start"), d.get_str("event.end")) {
        d.set("event.duration", duration_nanos(start, end)?);
    }

    if let Some(c) = &category {
        d.set("threat.framework", "MITRE ATT&CK");
        d.append("threat.technique.name", c.as_str());
    }
    if let Some(Value::String(desc)) = json.get("description") {
        if desc.encode_utf16().count() < RULE_DESCRIPTION_MAX {
            d.set_some("rule.description", json.shift_remove("description"));
        }
    }

    for (from, to) in EVIDENCE_RENAMES {
        let v = evidence.shift_remove(*from);
        let v = if to.ends_with(".start") {
            es_time(&join("evidence", from), v.as_ref())?
        } else {
            v
        };
        d.set_some(to, v);
    }
    d.set("observer.product", "Defender for Endpoint");
    d.set("observer.vendor", "Microsoft");
    d.set_some("observer.name", json.shift_remove("detectionSource"));

    if let Some(u) = evidence.shift_remove("url") {
        // Elastic's `uri_parts` writes its result over the whole `url` object, so `url.full`
        // survives only when parsing fails (`ignore_failure`); `url.original` keeps the text.
        match u.as_str().and_then(uri_parts) {
            Some(parts) => {
                for (k, v) in parts {
                    d.set(&join("url", &k), v);
                }
            }
            None => d.set("url.full", u),
        }
    }

    if let Some(h) = json.shift_remove("computerDnsName") {
        if let Some(s) = h.as_str() {
            d.set("host.name", s.to_lowercase());
        }
        d.set("host.hostname", h);
    }
    if let Some(Value::Object(user)) = json.get("relatedUser") {
        d.set_opt("user.name", user.get("userName"));
        d.set_opt("user.domain", user.get("domainName"));
    }
    d.set_some("user.id", evidence.shift_remove("userSid"));

    if let Some(ip) = evidence.get("ipAddress").and_then(to_string_value) {
        d.append("related.ip", ip);
    }
    if let Some(u) = d.get("user.name").and_then(to_string_value) {
        d.append("related.user", u);
    }
    for path in ["file.hash.sha1", "file.hash.sha256"] {
        if let Some(h) = d.get(path).and_then(to_string_value) {
            d.append("related.hash", h);
        }
    }
    if let Some(h) = d
        .get_str("host.name")
        .filter(|h| !h.is_empty())
        .map(str::to_string)
    {
        d.append("related.hosts", h);
    }

    for gone in ["alertCreationTime", "severity", "relatedUser", "category"] {
        json.shift_remove(gone);
    }
    if !evidence.is_empty() {
        json.insert("evidence".into(), Value::Object(evidence));
    }
    for id in ["incidentId", "investigationId"] {
        if let Some(v) = json.get(id).and_then(to_string_value) {
            json.insert(id.into(), Value::String(v));
        }
    }
    if !json.is_empty() {
        d.set("microsoft.defender_endpoint", Value::Object(json));
    }
    if let Some(original) = original {
        d.set("event.original", original);
    }
    Ok(d.into_value())
}

/// A time field for a `date` field of Elastic's mapping. RFC 3339 text goes in verbatim, as
/// Elastic's pipeline copies it (Elasticsearch parses it, up to nanoseconds); the other forms
/// Defender has used (`2023-09-25 14:30:00`, zone-less, more than 9 fractional digits) are
/// normalised, since Elasticsearch would reject the document; anything else is an error record
/// rather than a document Elasticsearch refuses.
fn es_time(key: &str, v: Option<&Value>) -> Result<Option<Value>, MapError> {
    let s = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(MapError::field(
                key,
                format!(
                    "expected a timestamp, got {}",
                    crate::error::type_name(other)
                ),
            ))
        }
    };
    let frac_digits = s
        .split_once('.')
        .map_or(0, |(_, f)| f.bytes().take_while(u8::is_ascii_digit).count());
    let verbatim = s.as_bytes().get(10) == Some(&b'T')
        && !s.ends_with('z')
        && frac_digits <= 9
        && chrono::DateTime::parse_from_rfc3339(s).is_ok();
    if verbatim {
        return Ok(Some(Value::String(s.clone())));
    }
    match crate::doc::parse_time(s) {
        Some(t) if (0..=9999).contains(&chrono::Datelike::year(&t)) => {
            Ok(Some(Value::String(crate::doc::es_date(t))))
        }
        _ => Err(MapError::field(key, format!("not a timestamp: {s:?}"))),
    }
}

/// `event.duration`: nanoseconds from first to last event, as Elastic's script computes it.
fn duration_nanos(start: &str, end: &str) -> Result<i64, MapError> {
    let parse = |field: &str, s: &str| {
        crate::doc::parse_time(s)
            .ok_or_else(|| MapError::field(field, format!("not a timestamp: {s:?}")))
    };
    let (s, e) = (
        parse("firstEventTime", start)?,
        parse("lastEventTime", end)?,
    );
    (e - s)
        .num_nanoseconds()
        .ok_or_else(|| MapError::field("lastEventTime", "too far from firstEventTime"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{alert, map};
    use crate::Target;

    #[test]
    fn empty_values_are_dropped_deeply_only_when_evidence_is_present() {
        let mut a = alert(json!({"entityType": "File", "fileName": "a.exe"}));
        a["mitreTechniques"] = json!([]);
        a["loggedOnUsers"] = json!([{"accountName": null}]);
        let with = map(Target::Ecs, a.clone());
        let vendor = &with[0].value()["microsoft"]["defender_endpoint"];
        assert!(vendor.get("mitreTechniques").is_none(), "{vendor}");
        assert!(vendor.get("loggedOnUsers").is_none(), "{vendor}");
        a.as_object_mut().unwrap().shift_remove("evidence");
        let without = map(Target::Ecs, a);
        assert_eq!(
            without[0].value()["microsoft"]["defender_endpoint"]["mitreTechniques"],
            json!([])
        );
    }

    #[test]
    fn parsed_url_replaces_url_full() {
        let docs = map(
            Target::Ecs,
            alert(json!({"entityType": "Url", "url": "https://x.example/a/b.ps1?q=1"})),
        );
        let url = &docs[0].value()["url"];
        assert!(url.get("full").is_none(), "{url}");
        assert_eq!(url["original"], "https://x.example/a/b.ps1?q=1");
        assert_eq!(url["extension"], "ps1");
        let docs = map(
            Target::Ecs,
            alert(json!({"entityType": "Url", "url": "not a url"})),
        );
        assert_eq!(docs[0].value()["url"]["full"], "not a url");
    }
}
