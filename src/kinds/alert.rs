//! MDE API alert (`GET /api/alerts?$expand=evidence`).
//!
//! - ECS: Elastic's `microsoft_defender_endpoint` `log` data stream, one document per evidence
//!   item (Elastic's httpjson input splits the `evidence` array before its pipeline runs; we split
//!   here so every shell gives the same documents).
//! - Sentinel: one `SecurityAlert` row per alert, as the MDATP connector writes them, with all
//!   evidence in `Entities`.
//!
//! Field tables: docs/mapping/alert.md.

use serde_json::{json, Map, Value};

use super::Input;
use crate::doc::{to_string_value, uri_parts, Doc};
use crate::sentinel::to_datetime;
use crate::MapError;

/// The ECS version Elastic's expected documents carry for this data stream.
const ECS_VERSION: &str = "8.11.0";

/// `severity` → `event.severity`.
const SEVERITY: &[(&str, i64)] =
    &[("Unspecified", 0), ("Informational", 1), ("Low", 2), ("Medium", 3), ("High", 4)];

/// Values Elastic's pipeline treats as absent (removed from the alert and from its evidence).
fn is_placeholder(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == "-" || s == "N/A",
        _ => false,
    }
}

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

/// The alert's evidence items: `None` stands for "no evidence" (absent, null or empty array).
fn evidence_items(record: &Map<String, Value>) -> Result<Vec<Option<&Map<String, Value>>>, MapError> {
    match record.get("evidence") {
        None | Some(Value::Null) => Ok(vec![None]),
        Some(Value::Object(e)) => Ok(vec![Some(e)]),
        Some(Value::Array(items)) if items.is_empty() => Ok(vec![None]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(e) => Ok(Some(e)),
                other => Err(MapError::field(
                    format!("evidence[{i}]"),
                    format!("expected an object, got {}", crate::error::type_name(other)),
                )),
            })
            .collect(),
        Some(other) => Err(MapError::field(
            "evidence",
            format!("expected an object or an array, got {}", crate::error::type_name(other)),
        )),
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, MapError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(MapError::field(
            key,
            format!("expected a string, got {}", crate::error::type_name(other)),
        )),
    }
}

pub(crate) fn to_ecs(input: &Input<'_>, out: &mut Vec<Value>) -> Result<(), MapError> {
    let items = evidence_items(input.record)?;
    let split = matches!(input.record.get("evidence"), Some(Value::Array(a)) if !a.is_empty());
    for item in items {
        let mut alert = input.record.clone();
        // Without an item the alert keeps its `evidence` as it was (absent, null or `[]`): which
        // of those it was decides Elastic's deep cleanup.
        if let Some(e) = item {
            alert.insert("evidence".into(), Value::Object(e.clone()));
        }
        // A split alert's original is the record as Elastic's input would have handed it over.
        let original = if split { serde_json::to_string(&alert).unwrap_or_default() } else { input.original.to_string() };
        out.push(ecs_document(alert, original, input.opts.preserve_original_event)?);
    }
    Ok(())
}

fn ecs_document(mut json: Map<String, Value>, original: String, preserve_original: bool) -> Result<Value, MapError> {
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
    let status = json.get("status").and_then(Value::as_str).map(str::to_string);
    let entity_type = evidence.get("entityType").and_then(Value::as_str).map(str::to_string);

    let mut d = Doc::new();
    d.set("ecs.version", ECS_VERSION);
    d.set("cloud.provider", "azure");
    if let Some(t) = json.get("alertUpdateTime").and_then(to_string_value) {
        d.set("@timestamp", t);
    }
    d.set_opt("cloud.account.id", json.shift_remove("aadTenantId").as_ref());
    d.set_opt("cloud.instance.id", json.shift_remove("machineId").as_ref());
    d.set_opt("message", json.shift_remove("title").as_ref());

    d.set("event.kind", "alert");
    d.set("event.timezone", "UTC");
    if let Some(c) = &category {
        d.set("event.action", c.as_str());
    }
    d.set("event.provider", "defender_endpoint");
    if let Some(t) = json.get("alertCreationTime").and_then(to_string_value) {
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
    d.set_opt("event.id", json.shift_remove("id").as_ref());
    d.set_opt("event.start", json.shift_remove("firstEventTime").as_ref());
    d.set_opt("event.end", json.shift_remove("lastEventTime").as_ref());
    if let Some(sev) = severity.as_deref().and_then(|s| SEVERITY.iter().find(|(n, _)| *n == s)) {
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
            d.set_opt("rule.description", json.shift_remove("description").as_ref());
        }
    }

    for (from, to) in EVIDENCE_RENAMES {
        d.set_opt(to, evidence.shift_remove(*from).as_ref());
    }
    d.set("observer.product", "Defender for Endpoint");
    d.set("observer.vendor", "Microsoft");
    d.set_opt("observer.name", json.shift_remove("detectionSource").as_ref());

    if let Some(u) = evidence.shift_remove("url") {
        // Elastic's `uri_parts` writes its result over the whole `url` object, so `url.full`
        // survives only when parsing fails (`ignore_failure`); `url.original` keeps the text.
        match u.as_str().and_then(uri_parts) {
            Some(parts) => {
                for (k, v) in parts {
                    d.set(&format!("url.{k}"), v);
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
    d.set_opt("user.id", evidence.shift_remove("userSid").as_ref());

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
    if let Some(h) = d.get_str("host.name").filter(|h| !h.is_empty()).map(str::to_string) {
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
    if preserve_original {
        d.set("event.original", original);
    }
    Ok(d.into_value())
}

/// `event.duration`: nanoseconds from first to last event, as Elastic's script computes it.
fn duration_nanos(start: &str, end: &str) -> Result<i64, MapError> {
    let parse = |field: &str, s: &str| {
        crate::doc::parse_time(s)
            .ok_or_else(|| MapError::field(field, format!("not a timestamp: {s:?}")))
    };
    let (s, e) = (parse("firstEventTime", start)?, parse("lastEventTime", end)?);
    (e - s)
        .num_nanoseconds()
        .ok_or_else(|| MapError::field("lastEventTime", "too far from firstEventTime"))
}

// ---------------------------------------------------------------------------------------------
// Sentinel: SecurityAlert

/// MDE `category` values that are MITRE ATT&CK tactics. The other categories (Malware,
/// SuspiciousActivity, UnwantedSoftware, Ransomware, Exploit, …) are not tactics and would
/// pollute Sentinel's MITRE views, so they stay out of `Tactics`.
const MITRE_TACTICS: &[&str] = &[
    "Reconnaissance",
    "ResourceDevelopment",
    "InitialAccess",
    "Execution",
    "Persistence",
    "PrivilegeEscalation",
    "DefenseEvasion",
    "CredentialAccess",
    "Discovery",
    "LateralMovement",
    "Collection",
    "CommandAndControl",
    "Exfiltration",
    "Impact",
];

const PROVIDER_NAME: &str = "MDATP";
const PRODUCT_NAME: &str = "Microsoft Defender Advanced Threat Protection";
const ALERT_LINK_BASE: &str = "https://security.microsoft.com/alerts/";

/// MDE `status` → Sentinel `Status`.
fn sentinel_status(s: &str) -> &str {
    match s {
        "New" | "Unknown" => "New",
        "InProgress" => "InProgress",
        "Resolved" => "Resolved",
        other => other,
    }
}

/// Collects Sentinel entities (`$id` numbered in order) for the `Entities` column.
#[derive(Default)]
struct Entities(Vec<Map<String, Value>>);

impl Entities {
    /// Adds an entity and returns its `$id`. An entity of the same type that agrees on every
    /// property both have (the same account from `relatedUser` and from evidence) is merged.
    fn add(&mut self, kind: &str, props: Map<String, Value>) -> Option<String> {
        let props: Map<String, Value> = props.into_iter().filter(|(_, v)| !v.is_null()).collect();
        if props.is_empty() {
            return None;
        }
        let same = |e: &&mut Map<String, Value>| {
            e.get("Type").and_then(Value::as_str) == Some(kind)
                && props.iter().all(|(k, v)| e.get(k).map_or(true, |x| x == v))
                && props.keys().any(|k| e.contains_key(k))
        };
        if let Some(e) = self.0.iter_mut().find(same) {
            for (k, v) in props {
                e.entry(k).or_insert(v);
            }
            return e.get("$id").and_then(Value::as_str).map(str::to_string);
        }
        let id = (self.0.len() + 1).to_string();
        let mut e = Map::new();
        e.insert("$id".into(), Value::String(id.clone()));
        e.insert("Type".into(), Value::String(kind.to_string()));
        e.extend(props);
        self.0.push(e);
        Some(id)
    }
}

fn obj(pairs: &[(&str, Option<Value>)]) -> Map<String, Value> {
    pairs.iter().filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v))).collect()
}

fn get(m: &Map<String, Value>, k: &str) -> Option<Value> {
    m.get(k).filter(|v| !is_placeholder(v)).cloned()
}

fn reference(id: Option<String>) -> Option<Value> {
    id.map(|id| json!({ "$ref": id }))
}

/// Windows paths put the file name in `fileName` and the folder in `filePath`.
fn add_evidence(ents: &mut Entities, e: &Map<String, Value>, host: Option<&str>) {
    let hashes: Vec<Value> = [("SHA1", "sha1"), ("SHA256", "sha256")]
        .iter()
        .filter_map(|(alg, key)| {
            let v = get(e, key)?;
            reference(ents.add("filehash", obj(&[("Algorithm", Some((*alg).into())), ("Value", Some(v))])))
        })
        .collect();
    let file = if get(e, "fileName").is_some() || !hashes.is_empty() {
        ents.add(
            "file",
            obj(&[
                ("Name", get(e, "fileName")),
                ("Directory", get(e, "filePath")),
                ("FileHashes", (!hashes.is_empty()).then(|| Value::Array(hashes.clone()))),
            ]),
        )
    } else {
        None
    };
    let kind = e.get("entityType").and_then(Value::as_str).unwrap_or("");
    if kind == "Process" || get(e, "processId").is_some() {
        let parent = get(e, "parentProcessId").map(|pid| {
            ents.add(
                "process",
                obj(&[
                    ("ProcessId", to_string_value(&pid).map(Value::String)),
                    ("CreationTimeUtc", get(e, "parentProcessCreationTime")),
                ]),
            )
        });
        ents.add(
            "process",
            obj(&[
                ("ProcessId", get(e, "processId").and_then(|p| to_string_value(&p)).map(Value::String)),
                ("CommandLine", get(e, "processCommandLine")),
                ("CreationTimeUtc", get(e, "processCreationTime")),
                ("ImageFile", reference(file)),
                ("ParentProcess", reference(parent.flatten())),
                // Host + ProcessId + CreationTimeUtc is a process entity's strong identifier.
                ("Host", reference(host.map(str::to_string))),
            ]),
        );
    }
    if get(e, "accountName").is_some() || get(e, "userSid").is_some() || get(e, "userPrincipalName").is_some() {
        let upn = get(e, "userPrincipalName");
        let suffix = upn.as_ref().and_then(Value::as_str).and_then(|u| u.split_once('@')).map(|(_, s)| s.into());
        ents.add(
            "account",
            obj(&[
                ("Name", get(e, "accountName")),
                ("NTDomain", get(e, "domainName")),
                ("Sid", get(e, "userSid")),
                ("AadUserId", get(e, "aadUserId")),
                ("UPNSuffix", suffix),
            ]),
        );
    }
    if let Some(ip) = get(e, "ipAddress") {
        ents.add("ip", obj(&[("Address", Some(ip))]));
    }
    if let Some(url) = get(e, "url") {
        ents.add("url", obj(&[("Url", Some(url))]));
    }
    if let Some(key) = get(e, "registryKey") {
        let key_id = ents.add("registry-key", obj(&[("Hive", get(e, "registryHive")), ("Key", Some(key))]));
        if get(e, "registryValueName").is_some() || get(e, "registryValue").is_some() {
            ents.add(
                "registry-value",
                obj(&[
                    ("Name", get(e, "registryValueName")),
                    ("Value", get(e, "registryValue")),
                    ("ValueType", get(e, "registryValueType")),
                    ("Key", reference(key_id)),
                ]),
            );
        }
    }
}

fn datetime(m: &Map<String, Value>, key: &str) -> Result<Option<Value>, MapError> {
    match str_field(m, key)? {
        None | Some("") => Ok(None),
        Some(s) => to_datetime(s)
            .map(|d| Some(Value::String(d)))
            .ok_or_else(|| MapError::field(key, format!("not a timestamp: {s:?}"))),
    }
}

pub(crate) fn to_sentinel(input: &Input<'_>, out: &mut Vec<Value>) -> Result<(), MapError> {
    let a = input.record;
    let items = evidence_items(a)?;
    let id = str_field(a, "id")?.ok_or_else(|| MapError::field("id", "missing"))?;
    let severity = str_field(a, "severity")?;
    let created = datetime(a, "alertCreationTime")?;
    let updated = datetime(a, "lastUpdateTime")?;
    let start = datetime(a, "firstEventTime")?;
    let end = datetime(a, "lastEventTime")?;

    let mut ents = Entities::default();
    let host = get(a, "computerDnsName");
    let mut host_id = None;
    if host.is_some() || get(a, "machineId").is_some() {
        let (name, domain) = match host.as_ref().and_then(Value::as_str) {
            Some(h) => match h.split_once('.') {
                Some((n, d)) => (Some(Value::from(n)), Some(Value::from(d))),
                None => (Some(Value::from(h)), None),
            },
            None => (None, None),
        };
        host_id = ents.add(
            "host",
            obj(&[("HostName", name), ("DnsDomain", domain), ("MdatpDeviceId", get(a, "machineId"))]),
        );
    }
    if let Some(Value::Object(u)) = a.get("relatedUser") {
        ents.add("account", obj(&[("Name", get(u, "userName")), ("NTDomain", get(u, "domainName"))]));
    }
    for e in items.into_iter().flatten() {
        add_evidence(&mut ents, e, host_id.as_deref());
    }

    let (techniques, sub_techniques) = mitre_columns(a.get("mitreTechniques"));
    let tactic = get(a, "category").filter(|c| c.as_str().is_some_and(|c| MITRE_TACTICS.contains(&c)));
    let now = input.opts.now.as_deref().and_then(to_datetime).map(Value::String);
    let mut ext = Map::new();
    for key in [
        "incidentId",
        "investigationId",
        "investigationState",
        "assignedTo",
        "classification",
        "determination",
        "detectionSource",
        "detectorId",
        "category",
        "threatFamilyName",
        "threatName",
        "rbacGroupName",
        "aadTenantId",
        "resolvedTime",
        "lastUpdateTime",
    ] {
        if let Some(v) = get(a, key) {
            ext.insert(key.into(), Value::String(to_string_value(&v).unwrap_or_default()));
        }
    }
    // Rows of the standalone MDATP connector carry these keys, and existing Sentinel content reads
    // them (Microsoft's XDR-connector migration notes name `MicrosoftDefenderAtp.Category`).
    for (legacy, key) in
        [("MicrosoftDefenderAtp.Category", "category"), ("MicrosoftDefenderAtp.InvestigationState", "investigationState")]
    {
        if let Some(v) = ext.get(key).cloned() {
            ext.insert(legacy.into(), v);
        }
    }

    let row = obj(&[
        ("TimeGenerated", updated.clone().or_else(|| created.clone()).or(now)),
        ("AlertName", get(a, "title")),
        ("DisplayName", get(a, "title")),
        ("AlertSeverity", severity.map(|s| Value::from(if s == "UnSpecified" || s == "Unspecified" { "Informational" } else { s }))),
        ("Description", get(a, "description")),
        ("ProviderName", Some(PROVIDER_NAME.into())),
        ("VendorName", Some("Microsoft".into())),
        ("ProductName", Some(PRODUCT_NAME.into())),
        ("ProductComponentName", get(a, "detectionSource")),
        ("VendorOriginalId", Some(id.into())),
        ("SystemAlertId", Some(id.into())),
        ("AlertType", get(a, "detectorId").or_else(|| get(a, "category"))),
        ("Status", str_field(a, "status")?.map(|s| sentinel_status(s).into())),
        ("StartTime", start),
        ("EndTime", end),
        ("ProcessingEndTime", created),
        ("CompromisedEntity", host),
        ("SourceComputerId", get(a, "machineId")),
        ("AlertLink", Some(format!("{ALERT_LINK_BASE}{id}").into())),
        ("Tactics", tactic),
        ("Techniques", techniques),
        ("SubTechniques", sub_techniques),
        ("IsIncident", Some(false.into())),
        ("ExtendedProperties", Some(Value::Object(ext).to_string().into())),
        ("Entities", (!ents.0.is_empty()).then(|| Value::Array(ents.0.into_iter().map(Value::Object).collect()).to_string().into())),
        ("Type", Some("SecurityAlert".into())),
    ]);
    out.push(Value::Object(row));
    Ok(())
}

/// `mitreTechniques` → (`Techniques`, `SubTechniques`) as JSON array text: Sentinel keeps
/// sub-techniques (`T1059.001`) apart and lists their parent (`T1059`) among the techniques.
fn mitre_columns(v: Option<&Value>) -> (Option<Value>, Option<Value>) {
    let mut techniques: Vec<Value> = Vec::new();
    let mut subs: Vec<Value> = Vec::new();
    for t in v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        let parent = Value::from(t.split('.').next().unwrap_or(t));
        if !techniques.contains(&parent) {
            techniques.push(parent);
        }
        if t.contains('.') && !subs.iter().any(|s| s == t) {
            subs.push(Value::from(t));
        }
    }
    let text = |list: Vec<Value>| (!list.is_empty()).then(|| Value::String(Value::Array(list).to_string()));
    (text(techniques), text(subs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mapper, Options, Output, Target};

    fn alert(evidence: Value) -> Value {
        json!({
            "id": "da1_2", "incidentId": 7, "severity": "High", "status": "New", "title": "Bad thing",
            "category": "Execution", "detectionSource": "WindowsDefenderAtp", "machineId": "m1",
            "computerDnsName": "Host-1.corp.example", "alertCreationTime": "2024-01-01T00:00:05Z",
            "firstEventTime": "2024-01-01T00:00:00Z", "lastEventTime": "2024-01-01T00:00:01.5Z",
            "lastUpdateTime": "2024-01-01T00:01:00Z", "relatedUser": {"userName": "ann", "domainName": "CORP"},
            "evidence": evidence
        })
    }

    fn map(target: Target, v: Value) -> Vec<Output> {
        let m = Mapper::new(Options { target, ..Options::default() });
        let mut out = Vec::new();
        m.map_value(v, &mut |o: Output| out.push(o));
        out
    }

    #[test]
    fn evidence_array_gives_one_document_per_item() {
        let docs = map(
            Target::Ecs,
            alert(json!([
                {"entityType": "File", "fileName": "a.exe", "sha1": "aa"},
                {"entityType": "Ip", "ipAddress": "10.0.0.1"},
                {"entityType": "User", "accountName": "ann", "userSid": "S-1"}
            ])),
        );
        assert_eq!(docs.len(), 3);
        let d: Vec<&Value> = docs.iter().map(|o| o.value()).collect();
        assert_eq!(d[0]["file"]["name"], "a.exe");
        assert_eq!(d[0]["related"]["hash"], json!(["aa"]));
        assert_eq!(d[1]["related"]["ip"], json!(["10.0.0.1"]));
        assert_eq!(d[2]["user"]["id"], "S-1");
        assert_eq!(d[2]["event"]["type"], json!(["access", "start"]));
        assert_eq!(d[0]["event"]["duration"], 1_500_000_000);
        assert_eq!(d[0]["event"]["severity"], 4);
        assert_eq!(d[0]["host"]["name"], "host-1.corp.example");
        assert_eq!(d[0]["microsoft"]["defender_endpoint"]["incidentId"], "7");
    }

    #[test]
    fn alert_without_evidence_gives_one_document() {
        for ev in [Value::Null, json!([])] {
            let docs = map(Target::Ecs, alert(ev));
            assert_eq!(docs.len(), 1);
            assert!(docs[0].value()["microsoft"]["defender_endpoint"].get("evidence").is_none());
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut a = alert(json!("x"));
        let out = map(Target::Ecs, a.clone());
        assert!(out[0].is_error());
        assert!(out[0].value()["error"]["message"].as_str().unwrap().contains("field evidence"));
        a["evidence"] = json!([]);
        a["severity"] = json!(5);
        let out = map(Target::Ecs, a.clone());
        assert!(out[0].value()["error"]["message"].as_str().unwrap().contains("field severity"));
        a["severity"] = json!("Low");
        a["firstEventTime"] = json!("yesterday");
        let out = map(Target::Sentinel, a);
        assert!(out[0].is_error(), "{:?}", out[0]);
    }

    #[test]
    fn sentinel_row_has_entities_from_all_evidence() {
        let out = map(
            Target::Sentinel,
            alert(json!([
                {"entityType": "Process", "fileName": "a.exe", "filePath": "C:\\x", "sha256": "bb",
                 "processId": 10, "parentProcessId": 4, "processCommandLine": "a.exe /q"},
                {"entityType": "Url", "url": "http://evil.example/x"},
                {"entityType": "File", "fileName": "a.exe", "filePath": "C:\\x", "sha256": "bb"}
            ])),
        );
        assert_eq!(out.len(), 1);
        let row = out[0].value();
        assert_eq!(row["Type"], "SecurityAlert");
        assert_eq!(row["ProviderName"], "MDATP");
        assert_eq!(row["StartTime"], "2024-01-01T00:00:00Z");
        let ents: Vec<Value> = serde_json::from_str(row["Entities"].as_str().unwrap()).unwrap();
        let types: Vec<&str> = ents.iter().map(|e| e["Type"].as_str().unwrap()).collect();
        assert_eq!(types, ["host", "account", "filehash", "file", "process", "process", "url"]);
        assert_eq!(ents[0]["HostName"], "Host-1");
        assert_eq!(ents[0]["DnsDomain"], "corp.example");
        assert_eq!(ents[5]["ParentProcess"]["$ref"], ents[4]["$id"]);
        let problems = crate::sentinel::table("SecurityAlert").unwrap().check_row(row.as_object().unwrap());
        assert!(problems.is_empty(), "{problems:?}");
    }

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
        assert_eq!(without[0].value()["microsoft"]["defender_endpoint"]["mitreTechniques"], json!([]));
    }

    #[test]
    fn parsed_url_replaces_url_full() {
        let docs = map(Target::Ecs, alert(json!({"entityType": "Url", "url": "https://x.example/a/b.ps1?q=1"})));
        let url = &docs[0].value()["url"];
        assert!(url.get("full").is_none(), "{url}");
        assert_eq!(url["original"], "https://x.example/a/b.ps1?q=1");
        assert_eq!(url["extension"], "ps1");
        let docs = map(Target::Ecs, alert(json!({"entityType": "Url", "url": "not a url"})));
        assert_eq!(docs[0].value()["url"]["full"], "not a url");
    }

    #[test]
    fn extended_properties_keep_the_legacy_mdatp_keys() {
        let out = map(Target::Sentinel, alert(Value::Null));
        let ext: Value = serde_json::from_str(out[0].value()["ExtendedProperties"].as_str().unwrap()).unwrap();
        assert_eq!(ext["MicrosoftDefenderAtp.Category"], "Execution");
        assert_eq!(ext["incidentId"], "7");
    }

    #[test]
    fn sentinel_mitre_columns_and_process_host() {
        let mut a = alert(json!([{"entityType": "Process", "processId": 10, "processCreationTime": "2024-01-01T00:00:00Z"}]));
        a["mitreTechniques"] = json!(["T1059.001", "T1059", "T1105"]);
        let out = map(Target::Sentinel, a.clone());
        let row = out[0].value();
        assert_eq!(row["Tactics"], "Execution");
        assert_eq!(row["Techniques"], r#"["T1059","T1105"]"#);
        assert_eq!(row["SubTechniques"], r#"["T1059.001"]"#);
        let ents: Vec<Value> = serde_json::from_str(row["Entities"].as_str().unwrap()).unwrap();
        let process = ents.iter().find(|e| e["Type"] == "process").unwrap();
        assert_eq!(process["Host"]["$ref"], ents[0]["$id"]);
        assert_eq!(process["ProcessId"], "10");

        // A category that is not a MITRE tactic stays out of Tactics; no timestamps -> `now`.
        a["category"] = json!("Malware");
        for k in ["alertCreationTime", "lastUpdateTime"] {
            a.as_object_mut().unwrap().shift_remove(k);
        }
        let m = Mapper::new(Options {
            target: Target::Sentinel,
            now: Some("2025-01-02T03:04:05Z".into()),
            ..Options::default()
        });
        let mut out = Vec::new();
        m.map_value(a, &mut |o: Output| out.push(o));
        let row = out[0].value();
        assert!(row.get("Tactics").is_none(), "{row}");
        assert_eq!(row["TimeGenerated"], "2025-01-02T03:04:05Z");
    }
}
