//! MDE alert → one Sentinel `SecurityAlert` row, every evidence item in `Entities`.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde_json::{json, Map, Value};

use super::{evidence_items, is_placeholder, str_field};
use crate::doc::{json_text, to_string_value};
use crate::kinds::Input;
use crate::sentinel::to_datetime;
use crate::MapError;

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

/// Collects Sentinel entities (`$id` numbered in order) for the `Entities` column.
///
/// The second field indexes every entity by (type, property, value): an entity that merges with
/// a new one shares at least one property value with it, so only those are candidates. Without
/// the index an alert with n evidence items took n² comparisons (minutes for a few thousand).
/// The index is keyed by a hash of the triple ([`key`]), not the triple itself: no strings are
/// built per lookup, and a collision only adds a candidate that `same` then rejects.
#[derive(Default)]
struct Entities(Vec<Map<String, Value>>, HashMap<u64, Vec<usize>>);

impl Entities {
    /// Adds an entity and returns its `$id`. An entity of the same type that agrees on every
    /// property both have (the same account from `relatedUser` and from evidence) is merged.
    fn add(&mut self, kind: &str, props: Map<String, Value>) -> Option<String> {
        let props: Map<String, Value> = props.into_iter().filter(|(_, v)| !v.is_null()).collect();
        if props.is_empty() {
            return None;
        }
        let same = |e: &Map<String, Value>| {
            e.get("Type").and_then(Value::as_str) == Some(kind)
                && props.iter().all(|(k, v)| e.get(k).map_or(true, |x| x == v))
                && props.keys().any(|k| e.contains_key(k))
        };
        let mut candidates: Vec<usize> = props
            .iter()
            .filter_map(|(k, v)| self.1.get(&key(kind, k, v)))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        if let Some(i) = candidates.into_iter().find(|&i| same(&self.0[i])) {
            for (k, v) in props {
                if !self.0[i].contains_key(&k) {
                    self.1.entry(key(kind, &k, &v)).or_default().push(i);
                    self.0[i].insert(k, v);
                }
            }
            return self.0[i]
                .get("$id")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        let id = (self.0.len() + 1).to_string();
        let mut e = Map::new();
        e.insert("$id".into(), Value::String(id.clone()));
        e.insert("Type".into(), Value::String(kind.to_string()));
        e.extend(props);
        for (k, v) in &e {
            self.1
                .entry(key(kind, k, v))
                .or_default()
                .push(self.0.len());
        }
        self.0.push(e);
        Some(id)
    }
}

/// The index key of (entity type, property, value): equal for equal values (`==`), so object
/// keys are hashed in sorted order (map equality ignores order) and `-0.0` as `0.0`. `DefaultHasher::new()`
/// has fixed keys: the same triple always gives the same key.
fn key(kind: &str, prop: &str, v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    kind.hash(&mut h);
    prop.hash(&mut h);
    hash_value(v, &mut h);
    h.finish()
}

fn hash_value(v: &Value, h: &mut DefaultHasher) {
    match v {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => {
            h.write_u8(1);
            b.hash(h);
        }
        Value::Number(n) => {
            h.write_u8(2);
            if let Some(u) = n.as_u64() {
                h.write_u8(0);
                h.write_u64(u);
            } else if let Some(i) = n.as_i64() {
                h.write_u8(1);
                h.write_i64(i);
            } else {
                // `==` on floats: 0.0 and -0.0 are equal.
                let f = n.as_f64().unwrap_or_default();
                h.write_u8(2);
                h.write_u64(if f == 0.0 { 0 } else { f.to_bits() });
            }
        }
        Value::String(s) => {
            h.write_u8(3);
            s.hash(h);
        }
        Value::Array(a) => {
            h.write_u8(4);
            h.write_usize(a.len());
            a.iter().for_each(|x| hash_value(x, h));
        }
        Value::Object(m) => {
            h.write_u8(5);
            h.write_usize(m.len());
            let mut kv: Vec<_> = m.iter().collect();
            kv.sort_by(|a, b| a.0.cmp(b.0));
            for (k, x) in kv {
                k.hash(h);
                hash_value(x, h);
            }
        }
    }
}

/// An object of the pairs whose value is `Some`, in order.
fn obj<const N: usize>(pairs: [(&str, Option<Value>); N]) -> Map<String, Value> {
    let mut m = Map::with_capacity(N);
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    m
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
            reference(ents.add(
                "filehash",
                obj([("Algorithm", Some((*alg).into())), ("Value", Some(v))]),
            ))
        })
        .collect();
    let file = if get(e, "fileName").is_some() || !hashes.is_empty() {
        ents.add(
            "file",
            obj([
                ("Name", get(e, "fileName")),
                ("Directory", get(e, "filePath")),
                (
                    "FileHashes",
                    (!hashes.is_empty()).then(|| Value::Array(hashes.clone())),
                ),
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
                obj([
                    ("ProcessId", to_string_value(&pid).map(Value::String)),
                    ("CreationTimeUtc", get(e, "parentProcessCreationTime")),
                ]),
            )
        });
        ents.add(
            "process",
            obj([
                (
                    "ProcessId",
                    get(e, "processId")
                        .and_then(|p| to_string_value(&p))
                        .map(Value::String),
                ),
                ("CommandLine", get(e, "processCommandLine")),
                ("CreationTimeUtc", get(e, "processCreationTime")),
                ("ImageFile", reference(file)),
                ("ParentProcess", reference(parent.flatten())),
                // Host + ProcessId + CreationTimeUtc is a process entity's strong identifier.
                ("Host", reference(host.map(str::to_string))),
            ]),
        );
    }
    if get(e, "accountName").is_some()
        || get(e, "userSid").is_some()
        || get(e, "userPrincipalName").is_some()
    {
        let upn = get(e, "userPrincipalName");
        let suffix = upn
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|u| u.split_once('@'))
            .map(|(_, s)| s.into());
        ents.add(
            "account",
            obj([
                ("Name", get(e, "accountName")),
                ("NTDomain", get(e, "domainName")),
                ("Sid", get(e, "userSid")),
                ("AadUserId", get(e, "aadUserId")),
                ("UPNSuffix", suffix),
            ]),
        );
    }
    if let Some(ip) = get(e, "ipAddress") {
        ents.add("ip", obj([("Address", Some(ip))]));
    }
    if let Some(url) = get(e, "url") {
        ents.add("url", obj([("Url", Some(url))]));
    }
    if let Some(key) = get(e, "registryKey") {
        let key_id = ents.add(
            "registry-key",
            obj([("Hive", get(e, "registryHive")), ("Key", Some(key))]),
        );
        if get(e, "registryValueName").is_some() || get(e, "registryValue").is_some() {
            ents.add(
                "registry-value",
                obj([
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
            obj([
                ("HostName", name),
                ("DnsDomain", domain),
                ("MdatpDeviceId", get(a, "machineId")),
            ]),
        );
    }
    if let Some(Value::Object(u)) = a.get("relatedUser") {
        ents.add(
            "account",
            obj([
                ("Name", get(u, "userName")),
                ("NTDomain", get(u, "domainName")),
            ]),
        );
    }
    for e in items.into_iter().flatten() {
        add_evidence(&mut ents, e, host_id.as_deref());
    }

    let (techniques, sub_techniques) = mitre_columns(a.get("mitreTechniques"));
    let tactic =
        get(a, "category").filter(|c| c.as_str().is_some_and(|c| MITRE_TACTICS.contains(&c)));
    let now = input
        .opts
        .now
        .as_deref()
        .and_then(to_datetime)
        .map(Value::String);
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
            ext.insert(
                key.into(),
                Value::String(to_string_value(&v).unwrap_or_default()),
            );
        }
    }
    // Rows of the standalone MDATP connector carry these keys, and existing Sentinel content reads
    // them (Microsoft's XDR-connector migration notes name `MicrosoftDefenderAtp.Category`).
    for (legacy, key) in [
        ("MicrosoftDefenderAtp.Category", "category"),
        (
            "MicrosoftDefenderAtp.InvestigationState",
            "investigationState",
        ),
    ] {
        if let Some(v) = ext.get(key).cloned() {
            ext.insert(legacy.into(), v);
        }
    }

    let row = obj([
        (
            "TimeGenerated",
            updated.clone().or_else(|| created.clone()).or(now),
        ),
        ("AlertName", get(a, "title")),
        ("DisplayName", get(a, "title")),
        (
            "AlertSeverity",
            severity.map(|s| {
                Value::from(if s == "UnSpecified" || s == "Unspecified" {
                    "Informational"
                } else {
                    s
                })
            }),
        ),
        ("Description", get(a, "description")),
        ("ProviderName", Some(PROVIDER_NAME.into())),
        ("VendorName", Some("Microsoft".into())),
        ("ProductName", Some(PRODUCT_NAME.into())),
        ("ProductComponentName", get(a, "detectionSource")),
        ("VendorOriginalId", Some(id.into())),
        ("SystemAlertId", Some(id.into())),
        (
            "AlertType",
            get(a, "detectorId").or_else(|| get(a, "category")),
        ),
        ("Status", str_field(a, "status")?.map(Value::from)),
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
        (
            "ExtendedProperties",
            Some(json_text(&Value::Object(ext)).into()),
        ),
        (
            "Entities",
            (!ents.0.is_empty()).then(|| {
                json_text(&Value::Array(
                    ents.0.into_iter().map(Value::Object).collect(),
                ))
                .into()
            }),
        ),
        ("Type", Some("SecurityAlert".into())),
    ]);
    // Values copied from the alert get the column's type (a `true` title becomes "true"); what
    // cannot be converted is an error record rather than a row the Logs Ingestion API rejects.
    let mut row = row;
    if let Some(table) = crate::sentinel::table("SecurityAlert") {
        for (k, v) in row.iter_mut() {
            if let Some(ty) = table.column(k).filter(|ty| !ty.accepts(v)) {
                *v = crate::sentinel::coerce(v, ty).map_err(|e| MapError::field(k.clone(), e))?;
            }
        }
    }
    out.push(Value::Object(row));
    Ok(())
}

/// `mitreTechniques` → (`Techniques`, `SubTechniques`) as JSON array text: Sentinel keeps
/// sub-techniques (`T1059.001`) apart and lists their parent (`T1059`) among the techniques.
fn mitre_columns(v: Option<&Value>) -> (Option<Value>, Option<Value>) {
    let mut techniques: Vec<Value> = Vec::new();
    let mut subs: Vec<Value> = Vec::new();
    for t in v
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let parent = Value::from(t.split('.').next().unwrap_or(t));
        if !techniques.contains(&parent) {
            techniques.push(parent);
        }
        if t.contains('.') && !subs.iter().any(|s| s == t) {
            subs.push(Value::from(t));
        }
    }
    let text = |list: Vec<Value>| {
        (!list.is_empty()).then(|| Value::String(json_text(&Value::Array(list))))
    };
    (text(techniques), text(subs))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::testing::{alert, map};
    use crate::{Mapper, Options, Output, Target};

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
        assert_eq!(
            types,
            ["host", "account", "filehash", "file", "process", "process", "url"]
        );
        assert_eq!(ents[0]["HostName"], "Host-1");
        assert_eq!(ents[0]["DnsDomain"], "corp.example");
        assert_eq!(ents[5]["ParentProcess"]["$ref"], ents[4]["$id"]);
        let problems = crate::sentinel::table("SecurityAlert")
            .unwrap()
            .check_row(row.as_object().unwrap());
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn extended_properties_keep_the_legacy_mdatp_keys() {
        let out = map(Target::Sentinel, alert(Value::Null));
        let ext: Value =
            serde_json::from_str(out[0].value()["ExtendedProperties"].as_str().unwrap()).unwrap();
        assert_eq!(ext["MicrosoftDefenderAtp.Category"], "Execution");
        assert_eq!(ext["incidentId"], "7");
    }

    #[test]
    fn sentinel_mitre_columns_and_process_host() {
        let mut a = alert(
            json!([{"entityType": "Process", "processId": 10, "processCreationTime": "2024-01-01T00:00:00Z"}]),
        );
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
