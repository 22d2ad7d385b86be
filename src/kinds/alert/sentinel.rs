//! MDE alert → one Sentinel `SecurityAlert` row, every evidence item in `Entities`.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

use super::{evidence_items, is_placeholder};
use crate::doc::{json_text, to_string_value};
use crate::kinds::mde_common::{find_name, sorted_names};
use crate::kinds::Input;
use crate::sentinel::{to_datetime, ColumnType};
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
/// An entity that merges with a new one shares at least one property value with it, so only
/// those are candidates. A few entities are simply scanned in order; from [`INDEX_FROM`] on, an
/// index of every entity by (type, property, value) gives the candidates (without it an alert
/// with n evidence items took n² comparisons: minutes for a few thousand). The index is keyed
/// by a hash of the triple ([`key`]), not the triple itself: no strings are built per lookup,
/// and a collision only adds a candidate that `same` then rejects. Both find the first entity
/// in order that merges, since every such entity shares an indexed triple.
#[derive(Default)]
struct Entities(Vec<Entity>, Option<HashMap<u64, Vec<usize>>>);

/// Entities from this many on are found through the index.
const INDEX_FROM: usize = 16;

/// One entity: serialised as the object `{"$id", "Type", properties…}`.
struct Entity {
    id: String,
    kind: &'static str,
    props: Vec<(&'static str, Value)>,
}

impl Entity {
    fn get(&self, k: &str) -> Option<&Value> {
        self.props.iter().find(|(p, _)| *p == k).map(|(_, v)| v)
    }
}

impl Serialize for Entity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2 + self.props.len()))?;
        m.serialize_entry("$id", &self.id)?;
        m.serialize_entry("Type", self.kind)?;
        for (k, v) in &self.props {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// An object of `(key, text)` members, serialised in order.
struct Members<'a>(&'a [(&'static str, String)]);

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Entities {
    /// Adds an entity and returns its `$id`. An entity of the same type that agrees on every
    /// property both have (the same account from `relatedUser` and from evidence) is merged.
    fn add(&mut self, kind: &'static str, props: Vec<(&'static str, Value)>) -> Option<String> {
        if props.is_empty() {
            return None;
        }
        let same = |e: &Entity| {
            e.kind == kind
                && props.iter().all(|(k, v)| e.get(k).map_or(true, |x| x == v))
                && props.iter().any(|(k, _)| e.get(k).is_some())
        };
        let found = match &self.1 {
            None => self.0.iter().position(same),
            Some(index) => {
                let mut candidates: Vec<usize> = props
                    .iter()
                    .filter_map(|(k, v)| index.get(&key(kind, k, v)))
                    .flatten()
                    .copied()
                    .collect();
                candidates.sort_unstable();
                candidates.dedup();
                candidates.into_iter().find(|&i| same(&self.0[i]))
            }
        };
        if let Some(i) = found {
            for (k, v) in props {
                if self.0[i].get(k).is_none() {
                    if let Some(index) = &mut self.1 {
                        index.entry(key(kind, k, &v)).or_default().push(i);
                    }
                    self.0[i].props.push((k, v));
                }
            }
            return Some(self.0[i].id.clone());
        }
        let id = (self.0.len() + 1).to_string();
        if self.1.is_none() && self.0.len() + 1 >= INDEX_FROM {
            let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
            for (i, e) in self.0.iter().enumerate() {
                for (k, v) in &e.props {
                    index.entry(key(e.kind, k, v)).or_default().push(i);
                }
            }
            self.1 = Some(index);
        }
        if let Some(index) = &mut self.1 {
            for (k, v) in &props {
                index.entry(key(kind, k, v)).or_default().push(self.0.len());
            }
        }
        self.0.push(Entity {
            id: id.clone(),
            kind,
            props,
        });
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

/// The properties whose value is `Some` (and not null), in order.
fn props<const N: usize>(pairs: [(&'static str, Option<Value>); N]) -> Vec<(&'static str, Value)> {
    let mut m = Vec::with_capacity(N);
    for (k, v) in pairs {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            m.push((k, v));
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

/// The evidence fields the entities are made of.
const EVIDENCE_KEYS: &[&str] = &[
    "sha1",
    "sha256",
    "fileName",
    "filePath",
    "entityType",
    "processId",
    "parentProcessId",
    "parentProcessCreationTime",
    "processCommandLine",
    "processCreationTime",
    "accountName",
    "userSid",
    "userPrincipalName",
    "domainName",
    "aadUserId",
    "ipAddress",
    "url",
    "registryKey",
    "registryHive",
    "registryValueName",
    "registryValue",
    "registryValueType",
];

/// The alert fields the row is made of; the last 15 go into `ExtendedProperties` (`EXTENDED`).
const ALERT_KEYS: &[&str] = &[
    "id",
    "severity",
    "status",
    "title",
    "description",
    "alertCreationTime",
    "firstEventTime",
    "lastEventTime",
    "computerDnsName",
    "machineId",
    "relatedUser",
    "mitreTechniques",
    "evidence",
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
];

/// The fields of `ALERT_KEYS` that go into `ExtendedProperties`, in order: its last 15.
const EXTENDED: &[&str] = ALERT_KEYS.split_at(ALERT_KEYS.len() - 15).1;

/// A record's values of a fixed list of keys, read in one pass over the record (each key found
/// by binary search in the sorted list) instead of one hashed lookup per use.
struct Fields<'a> {
    names: &'static [(&'static str, usize)],
    values: [Option<&'a Value>; 32],
}

impl<'a> Fields<'a> {
    fn of(names: &'static [(&'static str, usize)], m: &'a Map<String, Value>) -> Self {
        let mut values = [None; 32];
        for (k, v) in m {
            if let Some(i) = find_name(names, k) {
                values[i] = Some(v);
            }
        }
        Fields { names, values }
    }

    /// What the record has at `key` (one of the list's keys).
    fn raw(&self, key: &str) -> Option<&'a Value> {
        let i = find_name(self.names, key);
        debug_assert!(i.is_some(), "{key} is not in the list");
        self.values[i?]
    }

    /// A copy of the value at `key` unless it is absent or a placeholder.
    fn get(&self, key: &str) -> Option<Value> {
        self.raw(key).filter(|v| !is_placeholder(v)).cloned()
    }
}

fn sorted(
    list: &'static OnceLock<Vec<(&'static str, usize)>>,
    keys: &'static [&'static str],
) -> &'static [(&'static str, usize)] {
    list.get_or_init(|| sorted_names(keys.iter().copied()))
}

fn evidence_keys() -> &'static [(&'static str, usize)] {
    static SORTED: OnceLock<Vec<(&'static str, usize)>> = OnceLock::new();
    sorted(&SORTED, EVIDENCE_KEYS)
}

fn alert_keys() -> &'static [(&'static str, usize)] {
    static SORTED: OnceLock<Vec<(&'static str, usize)>> = OnceLock::new();
    sorted(&SORTED, ALERT_KEYS)
}

/// Windows paths put the file name in `fileName` and the folder in `filePath`.
fn add_evidence(ents: &mut Entities, e: &Map<String, Value>, host: Option<&str>) {
    let e = Fields::of(evidence_keys(), e);
    let hashes: Vec<Value> = [("SHA1", "sha1"), ("SHA256", "sha256")]
        .iter()
        .filter_map(|(alg, key)| {
            let v = e.get(key)?;
            reference(ents.add(
                "filehash",
                props([("Algorithm", Some((*alg).into())), ("Value", Some(v))]),
            ))
        })
        .collect();
    let file = if e.get("fileName").is_some() || !hashes.is_empty() {
        ents.add(
            "file",
            props([
                ("Name", e.get("fileName")),
                ("Directory", e.get("filePath")),
                (
                    "FileHashes",
                    (!hashes.is_empty()).then(|| Value::Array(hashes.clone())),
                ),
            ]),
        )
    } else {
        None
    };
    let kind = e.raw("entityType").and_then(Value::as_str).unwrap_or("");
    if kind == "Process" || e.get("processId").is_some() {
        let parent = e.get("parentProcessId").map(|pid| {
            ents.add(
                "process",
                props([
                    ("ProcessId", to_string_value(&pid).map(Value::String)),
                    ("CreationTimeUtc", e.get("parentProcessCreationTime")),
                ]),
            )
        });
        ents.add(
            "process",
            props([
                (
                    "ProcessId",
                    e.get("processId")
                        .and_then(|p| to_string_value(&p))
                        .map(Value::String),
                ),
                ("CommandLine", e.get("processCommandLine")),
                ("CreationTimeUtc", e.get("processCreationTime")),
                ("ImageFile", reference(file)),
                ("ParentProcess", reference(parent.flatten())),
                // Host + ProcessId + CreationTimeUtc is a process entity's strong identifier.
                ("Host", reference(host.map(str::to_string))),
            ]),
        );
    }
    if e.get("accountName").is_some()
        || e.get("userSid").is_some()
        || e.get("userPrincipalName").is_some()
    {
        let upn = e.get("userPrincipalName");
        let suffix = upn
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|u| u.split_once('@'))
            .map(|(_, s)| s.into());
        ents.add(
            "account",
            props([
                ("Name", e.get("accountName")),
                ("NTDomain", e.get("domainName")),
                ("Sid", e.get("userSid")),
                ("AadUserId", e.get("aadUserId")),
                ("UPNSuffix", suffix),
            ]),
        );
    }
    if let Some(ip) = e.get("ipAddress") {
        ents.add("ip", props([("Address", Some(ip))]));
    }
    if let Some(url) = e.get("url") {
        ents.add("url", props([("Url", Some(url))]));
    }
    if let Some(key) = e.get("registryKey") {
        let key_id = ents.add(
            "registry-key",
            props([("Hive", e.get("registryHive")), ("Key", Some(key))]),
        );
        if e.get("registryValueName").is_some() || e.get("registryValue").is_some() {
            ents.add(
                "registry-value",
                props([
                    ("Name", e.get("registryValueName")),
                    ("Value", e.get("registryValue")),
                    ("ValueType", e.get("registryValueType")),
                    ("Key", reference(key_id)),
                ]),
            );
        }
    }
}

/// A string field read in the one pass over the alert (`None` for missing or null).
fn str_value<'a>(key: &str, v: Option<&'a Value>) -> Result<Option<&'a str>, MapError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(MapError::field(
            key,
            format!("expected a string, got {}", crate::error::type_name(other)),
        )),
    }
}

fn datetime(a: &Fields<'_>, key: &str) -> Result<Option<Value>, MapError> {
    match str_value(key, a.raw(key))? {
        None | Some("") => Ok(None),
        Some(s) => to_datetime(s)
            .map(|d| Some(Value::String(d)))
            .ok_or_else(|| MapError::field(key, format!("not a timestamp: {s:?}"))),
    }
}

/// The columns of a row, in order.
const ROW: [&str; 26] = [
    "TimeGenerated",
    "AlertName",
    "DisplayName",
    "AlertSeverity",
    "Description",
    "ProviderName",
    "VendorName",
    "ProductName",
    "ProductComponentName",
    "VendorOriginalId",
    "SystemAlertId",
    "AlertType",
    "Status",
    "StartTime",
    "EndTime",
    "ProcessingEndTime",
    "CompromisedEntity",
    "SourceComputerId",
    "AlertLink",
    "Tactics",
    "Techniques",
    "SubTechniques",
    "IsIncident",
    "ExtendedProperties",
    "Entities",
    "Type",
];

/// The `SecurityAlert` type of each of [`ROW`] (`None`: no check), looked up once.
fn row_types() -> &'static [Option<ColumnType>; 26] {
    static TYPES: OnceLock<[Option<ColumnType>; 26]> = OnceLock::new();
    TYPES.get_or_init(|| {
        let table = crate::sentinel::table("SecurityAlert");
        ROW.map(|c| table.and_then(|t| t.column(c)))
    })
}

pub(crate) fn to_sentinel(input: &Input<'_>, out: &mut Vec<Value>) -> Result<(), MapError> {
    let a = Fields::of(alert_keys(), input.record);
    let items = evidence_items(a.raw("evidence"))?;
    let id = str_value("id", a.raw("id"))?.ok_or_else(|| MapError::field("id", "missing"))?;
    let severity = str_value("severity", a.raw("severity"))?;
    let created = datetime(&a, "alertCreationTime")?;
    let updated = datetime(&a, "lastUpdateTime")?;
    let start = datetime(&a, "firstEventTime")?;
    let end = datetime(&a, "lastEventTime")?;

    let mut ents = Entities::default();
    let host = a.get("computerDnsName");
    let mut host_id = None;
    if host.is_some() || a.get("machineId").is_some() {
        let (name, domain) = match host.as_ref().and_then(Value::as_str) {
            Some(h) => match h.split_once('.') {
                Some((n, d)) => (Some(Value::from(n)), Some(Value::from(d))),
                None => (Some(Value::from(h)), None),
            },
            None => (None, None),
        };
        host_id = ents.add(
            "host",
            props([
                ("HostName", name),
                ("DnsDomain", domain),
                ("MdatpDeviceId", a.get("machineId")),
            ]),
        );
    }
    if let Some(Value::Object(u)) = a.raw("relatedUser") {
        ents.add(
            "account",
            props([
                ("Name", get(u, "userName")),
                ("NTDomain", get(u, "domainName")),
            ]),
        );
    }
    for e in items.into_iter().flatten() {
        add_evidence(&mut ents, e, host_id.as_deref());
    }

    let (techniques, sub_techniques) = mitre_columns(a.raw("mitreTechniques"));
    let tactic = a
        .get("category")
        .filter(|c| c.as_str().is_some_and(|c| MITRE_TACTICS.contains(&c)));
    let now = input
        .opts
        .now
        .as_deref()
        .and_then(to_datetime)
        .map(Value::String);
    let mut ext: Vec<(&'static str, String)> = Vec::with_capacity(EXTENDED.len() + 2);
    for &key in EXTENDED {
        if let Some(v) = a.raw(key).filter(|v| !is_placeholder(v)) {
            ext.push((key, to_string_value(v).unwrap_or_default()));
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
        if let Some(v) = ext.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()) {
            ext.push((legacy, v));
        }
    }
    let status = str_value("status", a.raw("status"))?.map(Value::from);
    let title = a.get("title");

    let row: [Option<Value>; 26] = [
        updated.clone().or_else(|| created.clone()).or(now),
        title.clone(),
        title,
        severity.map(|s| {
            Value::from(if s == "UnSpecified" || s == "Unspecified" {
                "Informational"
            } else {
                s
            })
        }),
        a.get("description"),
        Some(PROVIDER_NAME.into()),
        Some("Microsoft".into()),
        Some(PRODUCT_NAME.into()),
        a.get("detectionSource"),
        Some(id.into()),
        Some(id.into()),
        a.get("detectorId").or_else(|| a.get("category")),
        status,
        start,
        end,
        created,
        host,
        a.get("machineId"),
        Some(format!("{ALERT_LINK_BASE}{id}").into()),
        tactic,
        techniques,
        sub_techniques,
        Some(false.into()),
        Some(
            serde_json::to_string(&Members(&ext))
                .unwrap_or_default()
                .into(),
        ),
        (!ents.0.is_empty()).then(|| serde_json::to_string(&ents.0).unwrap_or_default().into()),
        Some("SecurityAlert".into()),
    ];
    // Values copied from the alert get the column's type (a `true` title becomes "true"); what
    // cannot be converted is an error record rather than a row the Logs Ingestion API rejects.
    let types = row_types();
    let mut m = Map::with_capacity(ROW.len());
    for (i, v) in row.into_iter().enumerate() {
        let Some(mut v) = v else { continue };
        if let Some(ty) = types[i].filter(|ty| !ty.accepts(&v)) {
            v = crate::sentinel::coerce(&v, ty).map_err(|e| MapError::field(ROW[i], e))?;
        }
        m.insert(ROW[i].to_string(), v);
    }
    out.push(Value::Object(m));
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
        let row = &out[0].to_value();
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
            serde_json::from_str(out[0].to_value()["ExtendedProperties"].as_str().unwrap())
                .unwrap();
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
        let row = &out[0].to_value();
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
        let row = &out[0].to_value();
        assert!(row.get("Tactics").is_none(), "{row}");
        assert_eq!(row["TimeGenerated"], "2025-01-02T03:04:05Z");
    }
}
