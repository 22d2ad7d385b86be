//! MDE alert → Elastic `microsoft_defender_endpoint` `log` documents, one per evidence item.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::is_placeholder;
use crate::doc::uri_parts;
use crate::kinds::TreeInput;
use crate::tree::{Node, Obj};
use crate::MapError;

/// The ECS version Elastic's expected documents carry for this data stream.
const ECS_VERSION: &str = "8.11.0";

/// `severity` → `event.severity`.
const SEVERITY: &[(&str, u64)] = &[
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

/// Maps an alert it owns: the alert's fields move into the documents instead of being copied.
pub(crate) fn to_ecs<'a>(input: TreeInput<'a>, out: &mut Vec<Node<'a>>) -> Result<(), MapError> {
    let TreeInput {
        mut record,
        original,
        opts,
    } = input;
    // Checks the evidence (the same errors, before any document) and looks it up only once.
    let split = match record.get("evidence") {
        // Elastic's second cleanup runs only when `evidence` is non-null (an object or `[]`).
        None | Some(Node::Null) => None,
        Some(Node::Object(_)) => Some(false),
        Some(Node::Array(items)) if items.is_empty() => Some(false),
        Some(Node::Array(items)) => {
            if let Some((i, other)) = items.iter().enumerate().find(|(_, v)| !v.is_object()) {
                return Err(MapError::field(
                    format!("evidence[{i}]"),
                    format!("expected an object, got {}", other.type_name()),
                ));
            }
            Some(true)
        }
        Some(other) => {
            return Err(MapError::field(
                "evidence",
                format!("expected an object or an array, got {}", other.type_name()),
            ))
        }
    };
    if split != Some(true) {
        // One document: the alert keeps its `evidence` as it was (absent, null, `[]` or an
        // object): which of those it was decides Elastic's deep cleanup. Its original is the
        // source text itself, borrowed.
        let original = opts
            .preserve_original_event
            .then_some(Cow::Borrowed(original));
        out.push(ecs_document(record, split.is_some(), original)?);
        return Ok(());
    }
    // Each document starts from the alert without its evidence array (cloning the whole array
    // for every item would make an alert with n evidence items cost n² copies); the `evidence`
    // key keeps its place so that the split record serialises as Elastic's input hands it over.
    let Some(Node::Array(items)) = record.insert("evidence", Node::Null) else {
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
        alert.insert("evidence", item);
        // A split alert's original is the record as Elastic's input would have handed it over.
        // Only written when it is kept: serialising it for nothing cost as much as the mapping.
        let original = opts
            .preserve_original_event
            .then(|| Cow::Owned(crate::tree::to_string(&alert)));
        out.push(ecs_document(alert, true, original)?);
    }
    Ok(())
}

/// What the mapping reads from an alert, taken out of it in one pass (no lookups by name).
#[derive(Default)]
struct Alert<'a> {
    severity: Option<Node<'a>>,
    category: Option<Node<'a>>,
    /// `status` stays among the vendor fields; only what it says is kept here.
    status: Option<Status>,
    /// `alertUpdateTime` stays among the vendor fields: its mapping is done in the pass.
    update_time: Option<Result<Option<Time<'a>>, MapError>>,
    creation_time: Option<Node<'a>>,
    first_event: Option<Node<'a>>,
    last_event: Option<Node<'a>>,
    tenant: Option<Node<'a>>,
    machine: Option<Node<'a>>,
    title: Option<Node<'a>>,
    id: Option<Node<'a>>,
    description: Option<Node<'a>>,
    detection_source: Option<Node<'a>>,
    host: Option<Node<'a>>,
    related_user: Option<Node<'a>>,
    evidence: Obj<'a>,
}

#[derive(Clone, Copy, PartialEq)]
enum Status {
    New,
    Resolved,
    Other,
}

/// Evidence fields the mapping moves out of the evidence (the rest stays in the vendor copy).
#[derive(Default)]
struct Evidence<'a> {
    /// `EVIDENCE_RENAMES`, by index.
    renamed: [Option<Node<'a>>; 9],
    url: Option<Node<'a>>,
    user_sid: Option<Node<'a>>,
    /// `entityType` and `ipAddress` stay; what the mapping needs of them is kept here.
    entity_type: Option<EntityType>,
    ip: Option<Cow<'a, str>>,
}

#[derive(Clone, Copy, PartialEq)]
enum EntityType {
    Process,
    User,
    Other,
}

/// A mapped time: the text for the document and the instant it stands for (as the text reads).
type Time<'a> = (Cow<'a, str>, DateTime<FixedOffset>);

/// An object of one member.
fn object1<'a>(key: &'static str, v: impl Into<Node<'a>>) -> Node<'a> {
    let mut m = Obj::with_capacity(1);
    m.push(key, v);
    Node::Object(m)
}

/// `original` is `Some` when `event.original` is kept; `deep_clean` when the alert's `evidence`
/// is non-null (an object or `[]`).
fn ecs_document<'a>(
    mut json: Obj<'a>,
    deep_clean: bool,
    original: Option<Cow<'a, str>>,
) -> Result<Node<'a>, MapError> {
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
            if let Node::Object(e) = v.take() {
                a.evidence = e;
            }
            return false;
        }
        if deep_clean && pruned_to_nothing(v) {
            return false;
        }
        let slot = match k {
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
                if !v.is_string() {
                    if let Some(s) = v.to_text() {
                        *v = Node::Str(s);
                    }
                }
                return true;
            }
            _ => return true,
        };
        *slot = Some(v.take());
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
            let slot = match k {
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
                    e.ip = v.to_text();
                    return true;
                }
                name => match EVIDENCE_RENAMES.iter().position(|(from, _)| *from == name) {
                    Some(i) => &mut e.renamed[i],
                    None => return true,
                },
            };
            *slot = Some(v.take());
            false
        });
    }

    let severity = match a.severity {
        None => None,
        Some(Node::Str(s)) => Some(s),
        Some(other) => {
            return Err(MapError::field(
                "severity",
                format!("expected a string, got {}", other.type_name()),
            ))
        }
    };
    let category = match a.category {
        Some(Node::Str(c)) => Some(c),
        other => other.as_ref().and_then(Node::to_text),
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
    let mut d = Obj::with_capacity(18);
    d.push("ecs", object1("version", ECS_VERSION));
    let mut cloud = Obj::with_capacity(3);
    cloud.push("provider", "azure");
    if let Some(v) = a.tenant {
        cloud.push("account", object1("id", v));
    }
    if let Some(v) = a.machine {
        cloud.push("instance", object1("id", v));
    }
    d.push("cloud", cloud);
    if let Some((t, _)) = updated {
        d.push("@timestamp", t);
    }
    d.put_some("message", a.title);

    let mut event = Obj::with_capacity(14);
    event.push("kind", "alert");
    event.push("timezone", "UTC");
    if let Some(c) = &category {
        event.push("action", c.clone());
    }
    event.push("provider", "defender_endpoint");
    if let Some((t, _)) = created {
        event.push("created", t);
    }
    let mut categories = Vec::with_capacity(3);
    categories.push(Node::from("host"));
    if category.as_deref() == Some("Malware") {
        categories.push("malware".into());
    }
    if e.entity_type == Some(EntityType::Process) {
        categories.push("process".into());
    }
    event.push("category", Node::Array(categories));
    let mut types = Vec::new();
    if e.entity_type == Some(EntityType::User) {
        types.push(Node::from("access"));
    }
    match a.status {
        Some(Status::New) => types.push("start".into()),
        Some(Status::Resolved) => types.push("end".into()),
        _ => {}
    }
    if !types.is_empty() {
        event.push("type", Node::Array(types));
    }
    event.put_some("id", a.id);
    if let Some((t, _)) = start {
        event.push("start", t);
    }
    if let Some((t, _)) = end {
        event.push("end", t);
    }
    if let Some(sev) = severity
        .as_deref()
        .and_then(|s| SEVERITY.iter().find(|(n, _)| *n == s))
    {
        event.push("severity", sev.1);
    }
    if let Some(ns) = duration {
        event.push("duration", ns);
    }
    if let Some(original) = original {
        event.push("original", original);
    }
    d.push("event", event);

    if let Some(c) = category {
        let mut threat = Obj::with_capacity(2);
        threat.push("framework", "MITRE ATT&CK");
        threat.push("technique", object1("name", Node::Array(vec![c.into()])));
        d.push("threat", threat);
    }
    if let Some(desc) = a.description {
        d.push("rule", object1("description", desc));
    }

    // `EVIDENCE_RENAMES` in order: file.name, file.hash.sha256, file.hash.sha1, file.path,
    // process.pid, process.command_line, process.start, process.parent.pid, process.parent.start.
    let [name, sha256, sha1, path, pid, command_line, process_start, parent_pid, parent_start] =
        e.renamed;
    let process_start = es_time("evidence.processCreationTime", process_start.as_ref())?;
    let parent_start = es_time("evidence.parentProcessCreationTime", parent_start.as_ref())?;
    let mut related_hashes: Vec<Node<'a>> = Vec::new();
    for h in [&sha1, &sha256].into_iter().flatten() {
        if let Some(h) = h.to_text() {
            let h = Node::Str(h);
            if !related_hashes.contains(&h) {
                related_hashes.push(h);
            }
        }
    }
    let mut file = Obj::new();
    file.put_some("name", name);
    if sha256.is_some() || sha1.is_some() {
        let mut hash = Obj::with_capacity(2);
        hash.put_some("sha256", sha256);
        hash.put_some("sha1", sha1);
        file.push("hash", hash);
    }
    file.put_some("path", path);
    if !file.is_empty() {
        d.push("file", file);
    }
    let mut process = Obj::new();
    process.put_some("pid", pid);
    process.put_some("command_line", command_line);
    if let Some((t, _)) = process_start {
        process.push("start", t);
    }
    if parent_pid.is_some() || parent_start.is_some() {
        let mut parent = Obj::with_capacity(2);
        parent.put_some("pid", parent_pid);
        if let Some((t, _)) = parent_start {
            parent.push("start", t);
        }
        process.push("parent", parent);
    }
    if !process.is_empty() {
        d.push("process", process);
    }
    let mut observer = Obj::with_capacity(3);
    observer.push("product", "Defender for Endpoint");
    observer.push("vendor", "Microsoft");
    observer.put_some("name", a.detection_source);
    d.push("observer", observer);

    if let Some(u) = e.url {
        // Elastic's `uri_parts` writes its result over the whole `url` object, so `url.full`
        // survives only when parsing fails (`ignore_failure`); `url.original` keeps the text.
        match u.as_str().and_then(uri_parts) {
            Some(parts) => d.push("url", Node::from_value(Value::Object(parts))),
            None => d.push("url", object1("full", u)),
        }
    }

    let mut related_hosts = None;
    if let Some(h) = a.host {
        let mut host = Obj::with_capacity(2);
        if let Some(s) = h.as_cow() {
            // Most host names are lower-case ASCII already: they keep their borrow.
            let lower = if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
                s
            } else {
                Cow::Owned(s.to_lowercase())
            };
            if !lower.is_empty() {
                related_hosts = Some(lower.clone());
            }
            host.push("name", lower);
        }
        host.push("hostname", h);
        d.push("host", host);
    }
    let mut user = Obj::new();
    if let Some(Node::Object(mut u)) = a.related_user {
        user.put_some("name", u.remove("userName"));
        user.put_some("domain", u.remove("domainName"));
    }
    let related_user = user.get("name").and_then(Node::to_text);
    user.put_some("id", e.user_sid);
    if !user.is_empty() {
        d.push("user", user);
    }

    let mut related = Obj::new();
    if let Some(ip) = e.ip {
        related.push("ip", Node::Array(vec![ip.into()]));
    }
    if let Some(u) = related_user {
        related.push("user", Node::Array(vec![u.into()]));
    }
    if !related_hashes.is_empty() {
        related.push("hash", Node::Array(related_hashes));
    }
    if let Some(h) = related_hosts {
        related.push("hosts", Node::Array(vec![h.into()]));
    }
    if !related.is_empty() {
        d.push("related", related);
    }

    if !evidence.is_empty() {
        json.push("evidence", evidence);
    }
    if !json.is_empty() {
        d.push("microsoft", object1("defender_endpoint", json));
    }
    Ok(Node::Object(d))
}

/// `true` when Elastic's `rule.description` rename applies: under `RULE_DESCRIPTION_MAX` UTF-16
/// units (never more units than UTF-8 bytes, so short texts need no count).
fn short_description(s: &str) -> bool {
    s.len() < RULE_DESCRIPTION_MAX || s.encode_utf16().count() < RULE_DESCRIPTION_MAX
}

/// Elastic's deep drop of empty values inside one value; `true` when nothing is left of it.
fn pruned_to_nothing(v: &mut Node<'_>) -> bool {
    match v {
        Node::Null => true,
        Node::Str(s) => s.is_empty(),
        Node::Array(items) => {
            items.retain_mut(|x| !pruned_to_nothing(x));
            items.is_empty()
        }
        Node::Object(m) => {
            m.retain(|_, x| !pruned_to_nothing(x));
            m.is_empty()
        }
        _ => false,
    }
}

/// A time field for a `date` field of Elastic's mapping. RFC 3339 text goes in verbatim, as
/// Elastic's pipeline copies it (Elasticsearch parses it, up to nanoseconds); the other forms
/// Defender has used (`2023-09-25 14:30:00`, zone-less, more than 9 fractional digits) are
/// normalised, since Elasticsearch would reject the document; anything else is an error record
/// rather than a document Elasticsearch refuses.
fn es_time<'a>(key: &str, v: Option<&Node<'a>>) -> Result<Option<Time<'a>>, MapError> {
    let s = match v {
        None | Some(Node::Null) => return Ok(None),
        Some(Node::Str(s)) => s,
        Some(other) => {
            return Err(MapError::field(
                key,
                format!("expected a timestamp, got {}", other.type_name()),
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
            Ok(Some((Cow::Owned(text), t)))
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
