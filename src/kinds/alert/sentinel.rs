//! MDE alert → one Sentinel `SecurityAlert` row, every evidence item in `Entities`.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{evidence_items, is_placeholder};
use crate::kinds::mde_common::sorted_names;
use crate::kinds::TreeInput;
use crate::sentinel::{to_datetime, ColumnType};
use crate::tree::{Node, Obj};
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
struct Entities<'a>(Vec<Entity<'a>>, Option<HashMap<u64, Vec<usize>>>);

/// Entities from this many on are found through the index.
const INDEX_FROM: usize = 16;

/// One entity: serialised as the object `{"$id", "Type", properties…}`.
struct Entity<'a> {
    id: String,
    kind: &'static str,
    props: Vec<(&'static str, Node<'a>)>,
}

impl<'a> Entity<'a> {
    fn get(&self, k: &str) -> Option<&Node<'a>> {
        self.props.iter().find(|(p, _)| *p == k).map(|(_, v)| v)
    }
}

impl Serialize for Entity<'_> {
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
struct Members<'m, 'a>(&'m [(&'static str, Cow<'a, str>)]);

impl Serialize for Members<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v.as_ref())?;
        }
        m.end()
    }
}

impl<'a> Entities<'a> {
    /// Adds an entity and returns its `$id`. An entity of the same type that agrees on every
    /// property both have (the same account from `relatedUser` and from evidence) is merged.
    fn add(&mut self, kind: &'static str, props: Vec<(&'static str, Node<'a>)>) -> Option<String> {
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
fn key(kind: &str, prop: &str, v: &Node<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    kind.hash(&mut h);
    prop.hash(&mut h);
    hash_value(v, &mut h);
    h.finish()
}

fn hash_value(v: &Node<'_>, h: &mut DefaultHasher) {
    match v {
        Node::Null => h.write_u8(0),
        Node::Bool(b) => {
            h.write_u8(1);
            b.hash(h);
        }
        Node::UInt(u) => {
            h.write_u8(2);
            h.write_u8(0);
            h.write_u64(*u);
        }
        Node::Int(i) => {
            h.write_u8(2);
            h.write_u8(1);
            h.write_i64(*i);
        }
        Node::Float(f) => {
            // `==` on floats: 0.0 and -0.0 are equal.
            h.write_u8(2);
            h.write_u8(2);
            h.write_u64(if *f == 0.0 { 0 } else { f.to_bits() });
        }
        Node::Str(s) => {
            h.write_u8(3);
            s.as_ref().hash(h);
        }
        Node::Array(a) => {
            h.write_u8(4);
            h.write_usize(a.len());
            a.iter().for_each(|x| hash_value(x, h));
        }
        Node::Object(m) => {
            h.write_u8(5);
            h.write_usize(m.len());
            let mut kv: Vec<_> = m.iter().collect();
            kv.sort_by(|a, b| a.0.cmp(b.0));
            for (k, x) in kv {
                k.as_ref().hash(h);
                hash_value(x, h);
            }
        }
    }
}

/// The properties whose value is `Some` (and not null), in order.
fn props<'a, const N: usize>(
    pairs: [(&'static str, Option<Node<'a>>); N],
) -> Vec<(&'static str, Node<'a>)> {
    let mut m = Vec::with_capacity(N);
    for (k, v) in pairs {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            m.push((k, v));
        }
    }
    m
}

fn get<'a>(m: &Obj<'a>, k: &str) -> Option<Node<'a>> {
    m.get(k).filter(|v| !is_placeholder(v)).cloned()
}

fn reference<'a>(id: Option<String>) -> Option<Node<'a>> {
    id.map(|id| {
        let mut m = Obj::with_capacity(1);
        m.push("$ref", id);
        Node::Object(m)
    })
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

/// The index of `key` in `keys`, for [`alert!`] and [`ev!`]: evaluated at compile time, so a
/// key that is not in the list does not compile and a lookup costs nothing at run time.
const fn index_of(keys: &[&str], key: &str) -> usize {
    let mut i = 0;
    while i < keys.len() {
        let (a, b) = (keys[i].as_bytes(), key.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("key not in the list")
}

/// The index of an alert field in [`ALERT_KEYS`].
macro_rules! alert {
    ($key:literal) => {
        const { index_of(ALERT_KEYS, $key) }
    };
}

/// The index of an evidence field in [`EVIDENCE_KEYS`].
macro_rules! ev {
    ($key:literal) => {
        const { index_of(EVIDENCE_KEYS, $key) }
    };
}

/// The longest key a [`Names`] holds.
const MAX_KEY: usize = 31;

/// A fixed list of keys, grouped by length: a record's key is compared only with the few of
/// its length (a binary search by name for every key and every use was a third of the row's
/// cost).
struct Names {
    /// (key, index in the list), by length.
    by_len: Vec<(&'static str, usize)>,
    /// The keys of length `n` are `by_len[starts[n]..starts[n + 1]]`.
    starts: [usize; MAX_KEY + 2],
}

impl Names {
    fn new(keys: &'static [&'static str]) -> Self {
        let by_len = sorted_names(keys.iter().copied());
        let mut starts = [0; MAX_KEY + 2];
        for (n, start) in starts.iter_mut().enumerate() {
            *start = by_len.partition_point(|(k, _)| k.len() < n);
        }
        debug_assert!(keys.iter().all(|k| k.len() <= MAX_KEY));
        Names { by_len, starts }
    }

    fn find(&self, key: &str) -> Option<usize> {
        let n = key.len();
        if n > MAX_KEY {
            return None;
        }
        self.by_len[self.starts[n]..self.starts[n + 1]]
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, i)| *i)
    }
}

/// A record's values of a fixed list of keys, read in one pass over the record and then
/// addressed by their index in the list ([`alert!`], [`ev!`]).
struct Fields<'r, 'a> {
    keys: &'static [&'static str],
    values: [Option<&'r Node<'a>>; 32],
}

impl<'r, 'a> Fields<'r, 'a> {
    fn of(keys: &'static [&'static str], names: &Names, m: &'r Obj<'a>) -> Self {
        let mut values = [None; 32];
        for (k, v) in m.iter() {
            if let Some(i) = names.find(k) {
                values[i] = Some(v);
            }
        }
        Fields { keys, values }
    }

    /// What the record has at index `i` of the list.
    fn raw(&self, i: usize) -> Option<&'r Node<'a>> {
        self.values[i]
    }

    /// A copy of the value at index `i` unless it is absent or a placeholder.
    fn get(&self, i: usize) -> Option<Node<'a>> {
        self.raw(i).filter(|v| !is_placeholder(v)).cloned()
    }
}

fn evidence_fields<'r, 'a>(e: &'r Obj<'a>) -> Fields<'r, 'a> {
    static NAMES: OnceLock<Names> = OnceLock::new();
    Fields::of(
        EVIDENCE_KEYS,
        NAMES.get_or_init(|| Names::new(EVIDENCE_KEYS)),
        e,
    )
}

fn alert_fields<'r, 'a>(a: &'r Obj<'a>) -> Fields<'r, 'a> {
    static NAMES: OnceLock<Names> = OnceLock::new();
    Fields::of(ALERT_KEYS, NAMES.get_or_init(|| Names::new(ALERT_KEYS)), a)
}

/// Windows paths put the file name in `fileName` and the folder in `filePath`.
fn add_evidence<'a>(ents: &mut Entities<'a>, e: &Obj<'a>, host: Option<&str>) {
    let e = evidence_fields(e);
    let hashes: Vec<Node<'a>> = [("SHA1", ev!("sha1")), ("SHA256", ev!("sha256"))]
        .iter()
        .filter_map(|(alg, key)| {
            let v = e.get(*key)?;
            reference(ents.add(
                "filehash",
                props([("Algorithm", Some((*alg).into())), ("Value", Some(v))]),
            ))
        })
        .collect();
    let file = if e.get(ev!("fileName")).is_some() || !hashes.is_empty() {
        ents.add(
            "file",
            props([
                ("Name", e.get(ev!("fileName"))),
                ("Directory", e.get(ev!("filePath"))),
                (
                    "FileHashes",
                    (!hashes.is_empty()).then_some(Node::Array(hashes)),
                ),
            ]),
        )
    } else {
        None
    };
    let kind = e
        .raw(ev!("entityType"))
        .and_then(Node::as_str)
        .unwrap_or("");
    if kind == "Process" || e.get(ev!("processId")).is_some() {
        let parent = e.get(ev!("parentProcessId")).map(|pid| {
            ents.add(
                "process",
                props([
                    ("ProcessId", pid.to_text().map(Node::Str)),
                    ("CreationTimeUtc", e.get(ev!("parentProcessCreationTime"))),
                ]),
            )
        });
        ents.add(
            "process",
            props([
                (
                    "ProcessId",
                    e.get(ev!("processId"))
                        .and_then(|p| p.to_text())
                        .map(Node::Str),
                ),
                ("CommandLine", e.get(ev!("processCommandLine"))),
                ("CreationTimeUtc", e.get(ev!("processCreationTime"))),
                ("ImageFile", reference(file)),
                ("ParentProcess", reference(parent.flatten())),
                // Host + ProcessId + CreationTimeUtc is a process entity's strong identifier.
                ("Host", reference(host.map(str::to_string))),
            ]),
        );
    }
    if e.get(ev!("accountName")).is_some()
        || e.get(ev!("userSid")).is_some()
        || e.get(ev!("userPrincipalName")).is_some()
    {
        let upn = e.get(ev!("userPrincipalName"));
        let suffix = upn.as_ref().and_then(Node::as_cow).and_then(|u| match u {
            Cow::Borrowed(u) => u.split_once('@').map(|(_, s)| Node::from(s)),
            Cow::Owned(u) => u.split_once('@').map(|(_, s)| Node::from(s.to_owned())),
        });
        ents.add(
            "account",
            props([
                ("Name", e.get(ev!("accountName"))),
                ("NTDomain", e.get(ev!("domainName"))),
                ("Sid", e.get(ev!("userSid"))),
                ("AadUserId", e.get(ev!("aadUserId"))),
                ("UPNSuffix", suffix),
            ]),
        );
    }
    if let Some(ip) = e.get(ev!("ipAddress")) {
        ents.add("ip", props([("Address", Some(ip))]));
    }
    if let Some(url) = e.get(ev!("url")) {
        ents.add("url", props([("Url", Some(url))]));
    }
    if let Some(key) = e.get(ev!("registryKey")) {
        let key_id = ents.add(
            "registry-key",
            props([("Hive", e.get(ev!("registryHive"))), ("Key", Some(key))]),
        );
        if e.get(ev!("registryValueName")).is_some() || e.get(ev!("registryValue")).is_some() {
            ents.add(
                "registry-value",
                props([
                    ("Name", e.get(ev!("registryValueName"))),
                    ("Value", e.get(ev!("registryValue"))),
                    ("ValueType", e.get(ev!("registryValueType"))),
                    ("Key", reference(key_id)),
                ]),
            );
        }
    }
}

/// A string field read in the one pass over the alert (`None` for missing or null).
fn str_value<'a>(key: &str, v: Option<&Node<'a>>) -> Result<Option<Cow<'a, str>>, MapError> {
    match v {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Str(s)) => Ok(Some(s.clone())),
        Some(other) => Err(MapError::field(
            key,
            format!("expected a string, got {}", other.type_name()),
        )),
    }
}

/// A time column's value, and whether it is already in Sentinel's form (the row then need not
/// check it again: the check parses the time, which costs more than copying it).
type Stamp<'a> = (Node<'a>, bool);

fn datetime<'a>(a: &Fields<'_, 'a>, i: usize) -> Result<Option<Stamp<'a>>, MapError> {
    let key = a.keys[i];
    let Some(s) = str_value(key, a.raw(i))? else {
        return Ok(None);
    };
    if s.is_empty() {
        return Ok(None);
    }
    let v = Node::Str(s);
    if ColumnType::Datetime.accepts_node(&v) {
        return Ok(Some((v, true)));
    }
    let s = v.as_str().unwrap_or_default();
    to_datetime(s)
        .map(|d| Some((Node::from(d), false)))
        .ok_or_else(|| MapError::field(key, format!("not a timestamp: {s:?}")))
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

pub(crate) fn to_sentinel<'a>(
    input: TreeInput<'a>,
    out: &mut Vec<Node<'a>>,
) -> Result<(), MapError> {
    let record = input.record;
    let a = alert_fields(&record);
    let items = evidence_items(a.raw(alert!("evidence")))?;
    let id =
        str_value("id", a.raw(alert!("id")))?.ok_or_else(|| MapError::field("id", "missing"))?;
    let severity = str_value("severity", a.raw(alert!("severity")))?;
    let created = datetime(&a, alert!("alertCreationTime"))?;
    let updated = datetime(&a, alert!("lastUpdateTime"))?;
    let start = datetime(&a, alert!("firstEventTime"))?;
    let end = datetime(&a, alert!("lastEventTime"))?;

    let mut ents = Entities::default();
    let host = a.get(alert!("computerDnsName"));
    let mut host_id = None;
    if host.is_some() || a.get(alert!("machineId")).is_some() {
        let (name, domain) = match host.as_ref().and_then(Node::as_cow) {
            Some(Cow::Borrowed(h)) => match h.split_once('.') {
                Some((n, d)) => (Some(Node::from(n)), Some(Node::from(d))),
                None => (Some(Node::from(h)), None),
            },
            Some(Cow::Owned(h)) => match h.split_once('.') {
                Some((n, d)) => (
                    Some(Node::from(n.to_owned())),
                    Some(Node::from(d.to_owned())),
                ),
                None => (Some(Node::from(h)), None),
            },
            None => (None, None),
        };
        host_id = ents.add(
            "host",
            props([
                ("HostName", name),
                ("DnsDomain", domain),
                ("MdatpDeviceId", a.get(alert!("machineId"))),
            ]),
        );
    }
    if let Some(Node::Object(u)) = a.raw(alert!("relatedUser")) {
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

    let (techniques, sub_techniques) = mitre_columns(a.raw(alert!("mitreTechniques")));
    let tactic = a
        .get(alert!("category"))
        .filter(|c| c.as_str().is_some_and(|c| MITRE_TACTICS.contains(&c)));
    let now = input
        .opts
        .now
        .as_deref()
        .and_then(to_datetime)
        .map(Node::from);
    let mut ext: Vec<(&'static str, Cow<'a, str>)> = Vec::with_capacity(EXTENDED.len() + 2);
    for (i, &key) in EXTENDED.iter().enumerate() {
        let i = ALERT_KEYS.len() - EXTENDED.len() + i;
        if let Some(v) = a.raw(i).filter(|v| !is_placeholder(v)) {
            ext.push((key, v.to_text().unwrap_or_default()));
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
    let status = str_value("status", a.raw(alert!("status")))?.map(Node::Str);
    let title = a.get(alert!("title"));
    let mut link = String::with_capacity(ALERT_LINK_BASE.len() + id.len());
    link.push_str(ALERT_LINK_BASE);
    link.push_str(&id);

    let time_generated = updated.or_else(|| created.clone());
    // The time columns in Sentinel's form already.
    let mut checked = [false; 26];
    for (column, stamp) in [
        (const { index_of(&ROW, "TimeGenerated") }, &time_generated),
        (const { index_of(&ROW, "StartTime") }, &start),
        (const { index_of(&ROW, "EndTime") }, &end),
        (const { index_of(&ROW, "ProcessingEndTime") }, &created),
    ] {
        checked[column] = stamp.as_ref().is_some_and(|(_, ok)| *ok);
    }
    let stamp = |s: Option<Stamp<'a>>| s.map(|(v, _)| v);
    let row: [Option<Node<'a>>; 26] = [
        stamp(time_generated).or(now),
        title.clone(),
        title,
        severity.map(|s| {
            if s == "UnSpecified" || s == "Unspecified" {
                Node::from("Informational")
            } else {
                Node::Str(s)
            }
        }),
        a.get(alert!("description")),
        Some(PROVIDER_NAME.into()),
        Some("Microsoft".into()),
        Some(PRODUCT_NAME.into()),
        a.get(alert!("detectionSource")),
        Some(Node::Str(id.clone())),
        Some(Node::Str(id)),
        a.get(alert!("detectorId"))
            .or_else(|| a.get(alert!("category"))),
        status,
        stamp(start),
        stamp(end),
        stamp(created),
        host,
        a.get(alert!("machineId")),
        Some(link.into()),
        tactic,
        techniques,
        sub_techniques,
        Some(false.into()),
        Some(crate::tree::to_string(&Members(&ext)).into()),
        (!ents.0.is_empty()).then(|| crate::tree::to_string(&ents.0).into()),
        Some("SecurityAlert".into()),
    ];
    // Values copied from the alert get the column's type (a `true` title becomes "true"); what
    // cannot be converted is an error record rather than a row the Logs Ingestion API rejects.
    let types = row_types();
    let mut m = Obj::with_capacity(ROW.len());
    for (i, v) in row.into_iter().enumerate() {
        let Some(mut v) = v else { continue };
        if let Some(ty) = types[i].filter(|ty| !checked[i] && !ty.accepts_node(&v)) {
            v = crate::sentinel::coerce_node(&v, ty).map_err(|e| MapError::field(ROW[i], e))?;
        }
        m.push(ROW[i], v);
    }
    out.push(Node::Object(m));
    Ok(())
}

/// `mitreTechniques` → (`Techniques`, `SubTechniques`) as JSON array text: Sentinel keeps
/// sub-techniques (`T1059.001`) apart and lists their parent (`T1059`) among the techniques.
fn mitre_columns<'a>(v: Option<&Node<'_>>) -> (Option<Node<'a>>, Option<Node<'a>>) {
    let mut techniques: Vec<&str> = Vec::new();
    let mut subs: Vec<&str> = Vec::new();
    for t in v
        .and_then(Node::as_array)
        .into_iter()
        .flatten()
        .filter_map(Node::as_str)
    {
        let parent = t.split('.').next().unwrap_or(t);
        if !techniques.contains(&parent) {
            techniques.push(parent);
        }
        if t.contains('.') && !subs.contains(&t) {
            subs.push(t);
        }
    }
    let text = |list: Vec<&str>| (!list.is_empty()).then(|| crate::tree::to_string(&list).into());
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
