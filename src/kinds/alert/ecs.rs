//! MDE alert → Elastic `microsoft_defender_endpoint` `log` documents, one per evidence item.

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use super::is_placeholder;
use crate::doc::{put, put_some, to_string_value, uri_parts};
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
    // Checks the evidence (the same errors, before any document) and looks it up only once.
    let split = match record.get("evidence") {
        // Elastic's second cleanup runs only when `evidence` is non-null (an object or `[]`).
        None | Some(Value::Null) => None,
        Some(Value::Object(_)) => Some(false),
        Some(Value::Array(items)) if items.is_empty() => Some(false),
        Some(Value::Array(items)) => {
            if let Some((i, other)) = items.iter().enumerate().find(|(_, v)| !v.is_object()) {
                return Err(MapError::field(
                    format!("evidence[{i}]"),
                    format!("expected an object, got {}", crate::error::type_name(other)),
                ));
            }
            Some(true)
        }
        Some(other) => {
            return Err(MapError::field(
                "evidence",
                format!(
                    "expected an object or an array, got {}",
                    crate::error::type_name(other)
                ),
            ))
        }
    };
    if split != Some(true) {
        // One document: the alert keeps its `evidence` as it was (absent, null, `[]` or an
        // object): which of those it was decides Elastic's deep cleanup.
        let original = opts.preserve_original_event.then(|| original.to_string());
        out.push(ecs_document(record, split.is_some(), original)?);
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
        out.push(ecs_document(alert, true, original)?);
    }
    Ok(())
}

/// What the mapping reads from an alert, taken out of it in one pass (no lookups by name).
#[derive(Default)]
struct Alert {
    severity: Option<Value>,
    category: Option<Value>,
    /// `status` stays among the vendor fields; only what it says is kept here.
    status: Option<Status>,
    /// `alertUpdateTime` stays among the vendor fields: its mapping is done in the pass.
    update_time: Option<Result<Option<Time>, MapError>>,
    creation_time: Option<Value>,
    first_event: Option<Value>,
    last_event: Option<Value>,
    tenant: Option<Value>,
    machine: Option<Value>,
    title: Option<Value>,
    id: Option<Value>,
    description: Option<Value>,
    detection_source: Option<Value>,
    host: Option<Value>,
    related_user: Option<Value>,
    evidence: Map<String, Value>,
}

#[derive(Clone, Copy, PartialEq)]
enum Status {
    New,
    Resolved,
    Other,
}

/// Evidence fields the mapping moves out of the evidence (the rest stays in the vendor copy).
#[derive(Default)]
struct Evidence {
    /// `EVIDENCE_RENAMES`, by index.
    renamed: [Option<Value>; 9],
    url: Option<Value>,
    user_sid: Option<Value>,
    /// `entityType` and `ipAddress` stay; what the mapping needs of them is kept here.
    entity_type: Option<EntityType>,
    ip: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum EntityType {
    Process,
    User,
    Other,
}

/// A mapped time: the text for the document and the instant it stands for (as the text reads).
type Time = (String, DateTime<FixedOffset>);

/// `original` is `Some` when `event.original` is kept; `deep_clean` when the alert's `evidence`
/// is non-null (an object or `[]`).
fn ecs_document(
    mut json: Map<String, Value>,
    deep_clean: bool,
    original: Option<String>,
) -> Result<Value, MapError> {
    let mut a = Alert::default();
    // One pass: placeholders go, and so do (with Elastic's second cleanup script, which ends
    // with a deep drop of nulls, "" and empty arrays/objects such as `mitreTechniques: []`)
    // empty values; the fields the mapping moves elsewhere are taken out; the rest stays, in
    // order, as the vendor fields.
    json.retain(|k, v| {
        if is_placeholder(v) {
            return false;
        }
        if k == "evidence" {
            if let Value::Object(e) = std::mem::take(v) {
                a.evidence = e;
            }
            return false;
        }
        if deep_clean && pruned_to_nothing(v) {
            return false;
        }
        let slot = match k.as_str() {
            "comments" => return false,
            "severity" => &mut a.severity,
            "category" => &mut a.category,
            "alertCreationTime" => &mut a.creation_time,
            "firstEventTime" => &mut a.first_event,
            "lastEventTime" => &mut a.last_event,
            "aadTenantId" => &mut a.tenant,
            "machineId" => &mut a.machine,
            "title" => &mut a.title,
            "id" => &mut a.id,
            "detectionSource" => &mut a.detection_source,
            "computerDnsName" => &mut a.host,
            "relatedUser" => &mut a.related_user,
            // Elastic renames `description` to `rule.description` only below a length.
            "description" if v.as_str().is_some_and(short_description) => &mut a.description,
            "status" => {
                a.status = Some(match v.as_str() {
                    Some("New") => Status::New,
                    Some("Resolved") => Status::Resolved,
                    _ => Status::Other,
                });
                return true;
            }
            "alertUpdateTime" => {
                a.update_time = Some(es_time("alertUpdateTime", Some(v)));
                return true;
            }
            "incidentId" | "investigationId" => {
                if let Some(s) = to_string_value(v) {
                    *v = Value::String(s);
                }
                return true;
            }
            _ => return true,
        };
        *slot = Some(std::mem::take(v));
        false
    });
    let mut evidence = std::mem::take(&mut a.evidence);
    let mut e = Evidence::default();
    if !evidence.is_empty() {
        evidence.retain(|k, v| {
            if is_placeholder(v) {
                return false;
            }
            if deep_clean && pruned_to_nothing(v) {
                return false;
            }
            let slot = match k.as_str() {
                "url" => &mut e.url,
                "userSid" => &mut e.user_sid,
                "entityType" => {
                    e.entity_type = Some(match v.as_str() {
                        Some("Process") => EntityType::Process,
                        Some("User") => EntityType::User,
                        _ => EntityType::Other,
                    });
                    return true;
                }
                "ipAddress" => {
                    e.ip = to_string_value(v);
                    return true;
                }
                name => match EVIDENCE_RENAMES.iter().position(|(from, _)| *from == name) {
                    Some(i) => &mut e.renamed[i],
                    None => return true,
                },
            };
            *slot = Some(std::mem::take(v));
            false
        });
    }

    let severity = match a.severity {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(MapError::field(
                "severity",
                format!("expected a string, got {}", crate::error::type_name(&other)),
            ))
        }
    };
    let category = match a.category {
        Some(Value::String(c)) => Some(c),
        other => other.as_ref().and_then(to_string_value),
    };
    let updated = a.update_time.transpose()?.flatten();
    let created = es_time("alertCreationTime", a.creation_time.as_ref())?;
    let start = es_time("firstEventTime", a.first_event.as_ref())?;
    let end = es_time("lastEventTime", a.last_event.as_ref())?;
    let duration = match (&start, &end) {
        (Some((_, s)), Some((_, e))) => Some(
            (*e - *s)
                .num_nanoseconds()
                .ok_or_else(|| MapError::field("lastEventTime", "too far from firstEventTime"))?,
        ),
        _ => None,
    };

    // Room for what `kinds::map` adds (`tags`, a default `@timestamp`).
    let mut d = Map::with_capacity(18);
    put(&mut d, "ecs", object([("version", ECS_VERSION.into())]));
    let mut cloud = Map::with_capacity(3);
    put(&mut cloud, "provider", "azure");
    if let Some(v) = a.tenant {
        put(&mut cloud, "account", object([("id", v)]));
    }
    if let Some(v) = a.machine {
        put(&mut cloud, "instance", object([("id", v)]));
    }
    put(&mut d, "cloud", Value::Object(cloud));
    if let Some((t, _)) = updated {
        put(&mut d, "@timestamp", t);
    }
    put_some(&mut d, "message", a.title);

    let mut event = Map::with_capacity(14);
    put(&mut event, "kind", "alert");
    put(&mut event, "timezone", "UTC");
    if let Some(c) = &category {
        put(&mut event, "action", c.as_str());
    }
    put(&mut event, "provider", "defender_endpoint");
    if let Some((t, _)) = created {
        put(&mut event, "created", t);
    }
    let mut categories = vec![Value::from("host")];
    if category.as_deref() == Some("Malware") {
        categories.push("malware".into());
    }
    if e.entity_type == Some(EntityType::Process) {
        categories.push("process".into());
    }
    put(&mut event, "category", Value::Array(categories));
    let mut types = Vec::new();
    if e.entity_type == Some(EntityType::User) {
        types.push(Value::from("access"));
    }
    match a.status {
        Some(Status::New) => types.push("start".into()),
        Some(Status::Resolved) => types.push("end".into()),
        _ => {}
    }
    if !types.is_empty() {
        put(&mut event, "type", Value::Array(types));
    }
    put_some(&mut event, "id", a.id);
    if let Some((t, _)) = start {
        put(&mut event, "start", t);
    }
    if let Some((t, _)) = end {
        put(&mut event, "end", t);
    }
    if let Some(sev) = severity
        .as_deref()
        .and_then(|s| SEVERITY.iter().find(|(n, _)| *n == s))
    {
        put(&mut event, "severity", sev.1);
    }
    if let Some(ns) = duration {
        put(&mut event, "duration", ns);
    }
    if let Some(original) = original {
        put(&mut event, "original", original);
    }
    put(&mut d, "event", Value::Object(event));

    if let Some(c) = category {
        let technique = object([("name", Value::Array(vec![c.into()]))]);
        put(
            &mut d,
            "threat",
            Value::Object(object_map([
                ("framework", "MITRE ATT&CK".into()),
                ("technique", technique),
            ])),
        );
    }
    if let Some(desc) = a.description {
        put(&mut d, "rule", object([("description", desc)]));
    }

    // `EVIDENCE_RENAMES` in order: file.name, file.hash.sha256, file.hash.sha1, file.path,
    // process.pid, process.command_line, process.start, process.parent.pid, process.parent.start.
    let [name, sha256, sha1, path, pid, command_line, process_start, parent_pid, parent_start] =
        e.renamed;
    let process_start = es_time("evidence.processCreationTime", process_start.as_ref())?;
    let parent_start = es_time("evidence.parentProcessCreationTime", parent_start.as_ref())?;
    let mut related_hashes: Vec<Value> = Vec::new();
    for h in [&sha1, &sha256].into_iter().flatten() {
        if let Some(h) = to_string_value(h) {
            let h = Value::String(h);
            if !related_hashes.contains(&h) {
                related_hashes.push(h);
            }
        }
    }
    let mut file = Map::new();
    put_some(&mut file, "name", name);
    if sha256.is_some() || sha1.is_some() {
        let mut hash = Map::with_capacity(2);
        put_some(&mut hash, "sha256", sha256);
        put_some(&mut hash, "sha1", sha1);
        put(&mut file, "hash", Value::Object(hash));
    }
    put_some(&mut file, "path", path);
    if !file.is_empty() {
        put(&mut d, "file", Value::Object(file));
    }
    let mut process = Map::new();
    put_some(&mut process, "pid", pid);
    put_some(&mut process, "command_line", command_line);
    if let Some((t, _)) = process_start {
        put(&mut process, "start", t);
    }
    if parent_pid.is_some() || parent_start.is_some() {
        let mut parent = Map::with_capacity(2);
        put_some(&mut parent, "pid", parent_pid);
        if let Some((t, _)) = parent_start {
            put(&mut parent, "start", t);
        }
        put(&mut process, "parent", Value::Object(parent));
    }
    if !process.is_empty() {
        put(&mut d, "process", Value::Object(process));
    }
    let mut observer = Map::with_capacity(3);
    put(&mut observer, "product", "Defender for Endpoint");
    put(&mut observer, "vendor", "Microsoft");
    put_some(&mut observer, "name", a.detection_source);
    put(&mut d, "observer", Value::Object(observer));

    if let Some(u) = e.url {
        // Elastic's `uri_parts` writes its result over the whole `url` object, so `url.full`
        // survives only when parsing fails (`ignore_failure`); `url.original` keeps the text.
        match u.as_str().and_then(uri_parts) {
            Some(parts) => put(&mut d, "url", Value::Object(parts)),
            None => put(&mut d, "url", object([("full", u)])),
        }
    }

    let mut related_hosts = None;
    if let Some(h) = a.host {
        let mut host = Map::with_capacity(2);
        if let Some(s) = h.as_str() {
            let lower = s.to_lowercase();
            if !lower.is_empty() {
                related_hosts = Some(lower.clone());
            }
            put(&mut host, "name", lower);
        }
        put(&mut host, "hostname", h);
        put(&mut d, "host", Value::Object(host));
    }
    let mut user = Map::new();
    if let Some(Value::Object(mut u)) = a.related_user {
        put_some(&mut user, "name", u.shift_remove("userName"));
        put_some(&mut user, "domain", u.shift_remove("domainName"));
    }
    let related_user = user.get("name").and_then(to_string_value);
    put_some(&mut user, "id", e.user_sid);
    if !user.is_empty() {
        put(&mut d, "user", Value::Object(user));
    }

    let mut related = Map::new();
    if let Some(ip) = e.ip {
        put(&mut related, "ip", Value::Array(vec![ip.into()]));
    }
    if let Some(u) = related_user {
        put(&mut related, "user", Value::Array(vec![u.into()]));
    }
    if !related_hashes.is_empty() {
        put(&mut related, "hash", Value::Array(related_hashes));
    }
    if let Some(h) = related_hosts {
        put(&mut related, "hosts", Value::Array(vec![h.into()]));
    }
    if !related.is_empty() {
        put(&mut d, "related", Value::Object(related));
    }

    if !evidence.is_empty() {
        json.insert("evidence".into(), Value::Object(evidence));
    }
    if !json.is_empty() {
        put(
            &mut d,
            "microsoft",
            object([("defender_endpoint", Value::Object(json))]),
        );
    }
    Ok(Value::Object(d))
}

/// `true` when Elastic's `rule.description` rename applies: under `RULE_DESCRIPTION_MAX` UTF-16
/// units (never more units than UTF-8 bytes, so short texts need no count).
fn short_description(s: &str) -> bool {
    s.len() < RULE_DESCRIPTION_MAX || s.encode_utf16().count() < RULE_DESCRIPTION_MAX
}

/// Elastic's deep drop of empty values inside one value; `true` when nothing is left of it.
fn pruned_to_nothing(v: &mut Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => {
            items.retain_mut(|x| !pruned_to_nothing(x));
            items.is_empty()
        }
        Value::Object(m) => {
            m.retain(|_, x| !pruned_to_nothing(x));
            m.is_empty()
        }
        _ => false,
    }
}

/// An object of the given non-null members.
fn object_map<const N: usize>(members: [(&str, Value); N]) -> Map<String, Value> {
    let mut m = Map::with_capacity(N);
    for (k, v) in members {
        put(&mut m, k, v);
    }
    m
}

fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(object_map(members))
}

/// A time field for a `date` field of Elastic's mapping. RFC 3339 text goes in verbatim, as
/// Elastic's pipeline copies it (Elasticsearch parses it, up to nanoseconds); the other forms
/// Defender has used (`2023-09-25 14:30:00`, zone-less, more than 9 fractional digits) are
/// normalised, since Elasticsearch would reject the document; anything else is an error record
/// rather than a document Elasticsearch refuses.
fn es_time(key: &str, v: Option<&Value>) -> Result<Option<Time>, MapError> {
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
    if s.as_bytes().get(10) == Some(&b'T') && !s.ends_with('z') && frac_digits <= 9 {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Some((s.clone(), t)));
        }
    }
    match crate::doc::parse_time(s) {
        Some(t) if (0..=9999).contains(&chrono::Datelike::year(&t)) => {
            let text = crate::doc::es_date(t);
            // `event.duration` is computed from the text as written (milliseconds).
            let t = crate::doc::parse_time(&text)
                .ok_or_else(|| MapError::field(key, format!("not a timestamp: {s:?}")))?;
            Ok(Some((text, t)))
        }
        _ => Err(MapError::field(key, format!("not a timestamp: {s:?}"))),
    }
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
        let doc = with[0].to_value();
        let vendor = &doc["microsoft"]["defender_endpoint"];
        assert!(vendor.get("mitreTechniques").is_none(), "{vendor}");
        assert!(vendor.get("loggedOnUsers").is_none(), "{vendor}");
        a.as_object_mut().unwrap().shift_remove("evidence");
        let without = map(Target::Ecs, a);
        assert_eq!(
            without[0].to_value()["microsoft"]["defender_endpoint"]["mitreTechniques"],
            json!([])
        );
    }

    #[test]
    fn parsed_url_replaces_url_full() {
        let docs = map(
            Target::Ecs,
            alert(json!({"entityType": "Url", "url": "https://x.example/a/b.ps1?q=1"})),
        );
        let doc = docs[0].to_value();
        let url = &doc["url"];
        assert!(url.get("full").is_none(), "{url}");
        assert_eq!(url["original"], "https://x.example/a/b.ps1?q=1");
        assert_eq!(url["extension"], "ps1");
        let docs = map(
            Target::Ecs,
            alert(json!({"entityType": "Url", "url": "not a url"})),
        );
        assert_eq!(docs[0].to_value()["url"]["full"], "not a url");
    }
}
