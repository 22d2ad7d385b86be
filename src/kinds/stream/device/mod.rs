//! Device* tables (DeviceEvents, DeviceFileEvents, DeviceImageLoadEvents, DeviceInfo,
//! DeviceLogonEvents, DeviceNetworkEvents, DeviceNetworkInfo, DeviceProcessEvents,
//! DeviceRegistryEvents, DeviceFileCertificateInfo): Elastic's `pipeline_device` sub-pipeline.
//!
//! The sub-pipeline runs in this order, and so does [`map`]: categorisation from the table and
//! `ActionType` ([`Ctx::new`]), the columns into `m365_defender.event.*` ([`columns`]), the ECS
//! file/dll/process fields ([`process`]), host/registry/network/user fields ([`ecs`]), then URL,
//! geo, `related.*` and the removal of duplicated vendor fields ([`tail`]).

use std::borrow::Cow;

use crate::tree::{Doc, Node, Obj};
use crate::{MapError, Options};

/// `m365_defender.event.<field>` as a literal (no path is built at run time).
macro_rules! ev {
    ($field:literal) => {
        concat!("m365_defender.event.", $field)
    };
}

mod additional;
mod columns;
mod ecs;
mod process;
mod tail;

/// The `event.category` a table always gets (DeviceEvents and DeviceInfo are handled apart).
/// Elastic tests `category.toLowerCase().contains(…)`, the same as comparing table names here.
fn table_category(table: &str) -> Option<&'static str> {
    Some(match table {
        "DeviceFileEvents" | "DeviceFileCertificateInfo" => "file",
        "DeviceProcessEvents" => "process",
        "DeviceImageLoadEvents" => "library",
        "DeviceNetworkEvents" | "DeviceNetworkInfo" => "network",
        "DeviceRegistryEvents" => "registry",
        _ => return None,
    })
}

/// `event.type` values appended when the lower-cased `ActionType` contains a marker, in the
/// pipeline's order (after the file-specific ones).
const TYPE_BY_ACTION: &[(&[&str], &str)] = &[
    (&["connectionsuccess", "driverload"], "start"),
    (&["connectionfailed"], "denied"),
    (
        &[
            "connectionrequest",
            "listeningconnectioncreated",
            "processcreated",
        ],
        "start",
    ),
    (&["inboundconnectionaccepted"], "start"),
    (&["registrykeycreated"], "creation"),
    (&["registrykeydeleted", "registryvaluedeleted"], "deletion"),
    (&["registrykeyrenamed", "registryvalueset"], "change"),
];

/// What the later steps of the sub-pipeline branch on.
pub(super) struct Ctx<'a> {
    pub table: &'a str,
    /// `event.category` as built here (empty: Elastic's `event.category == null`).
    pub cats: Vec<&'static str>,
    /// `m365_defender.event.action.type`, lower-cased (after `*ImageLoaded` became `load`).
    pub action: Option<String>,
}

impl Ctx<'_> {
    pub fn has(&self, cat: &str) -> bool {
        self.cats.contains(&cat)
    }
    pub fn any_cat(&self) -> bool {
        !self.cats.is_empty()
    }
    pub fn is(&self, table: &str) -> bool {
        self.table == table
    }
    pub fn action_contains(&self, marker: &str) -> bool {
        self.action.as_deref().is_some_and(|a| a.contains(marker))
    }
}

/// The `m365_defender.event.*` fields the sub-pipeline sets from the columns, kept aside while
/// the later steps read them (a short scan instead of a walk of the document) and written into
/// the document at the end: without `preserve_duplicate_custom_fields` the duplicated vendor
/// fields, which the pipeline removes at its end, are never written. Values are moved out of
/// the record (their strings still borrow its text). Fields keep the order in which they were
/// first set.
pub(super) struct Ev<'a> {
    /// ([`fingerprint`] of the path, path, value).
    fields: Vec<(u64, &'static str, Node<'a>)>,
    /// An open-addressing index of `fields` by [`fingerprint`]: a field's index + 1, 0 when
    /// free. The later steps look up some hundred paths in some hundred fields per record.
    index: [u8; EV_SLOTS],
}

/// Slots of [`Ev::index`]: a power of two above the number of paths the steps set (154
/// distinct `ev!` literals), so that there is always a free slot and an index fits a byte.
const EV_SLOTS: usize = 256;

/// A path's length and last 8 bytes: the scans of [`Ev`] compare this before the path (the
/// paths share their 20-byte prefix and most are looked up without being there).
fn fingerprint(path: &str) -> u64 {
    let b = path.as_bytes();
    let n = b.len().min(8);
    let mut tail = [0u8; 8];
    tail[..n].copy_from_slice(&b[b.len() - n..]);
    u64::from_le_bytes(tail) ^ ((b.len() as u64) << 56)
}

/// `m365_defender.event.`, the prefix of every path in [`Ev`].
const EV_PREFIX: &str = "m365_defender.event.";

impl<'a> Ev<'a> {
    pub fn new() -> Self {
        Ev {
            fields: Vec::with_capacity(96),
            index: [0; EV_SLOTS],
        }
    }

    /// The field at `path` (`Ok`: its index in `fields`), or the free slot of the index where
    /// it would go (`Err`).
    fn find(&self, fp: u64, path: &str) -> Result<usize, usize> {
        let mut slot = (fp.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % EV_SLOTS;
        loop {
            match self.index[slot] {
                0 => return Err(slot),
                i => {
                    let (f, p, _) = &self.fields[usize::from(i) - 1];
                    if *f == fp && *p == path {
                        return Ok(usize::from(i) - 1);
                    }
                }
            }
            slot = (slot + 1) % EV_SLOTS;
        }
    }

    /// Appends a field that [`Ev::find`] did not find (its free `slot`).
    fn push(&mut self, slot: usize, fp: u64, path: &'static str, value: Node<'a>) {
        // The paths are the literals of this module's steps: fewer than the slots.
        debug_assert!(self.fields.len() < EV_SLOTS - 1, "too many device fields");
        self.fields.push((fp, path, value));
        self.index[slot] = self.fields.len() as u8;
    }

    /// Elastic's `set` of a field (a null value is ignored).
    pub fn set(&mut self, path: &'static str, value: impl Into<Node<'a>>) {
        let value = value.into();
        if value.is_null() {
            return;
        }
        let fp = fingerprint(path);
        match self.find(fp, path) {
            Ok(i) => self.fields[i].2 = value,
            Err(slot) => self.push(slot, fp, path, value),
        }
    }

    /// [`Ev::set`] of a field not set before (the columns step sets each field once).
    pub fn add(&mut self, path: &'static str, value: impl Into<Node<'a>>) {
        debug_assert!(self.get(path).is_none(), "{path} set twice");
        self.set(path, value);
    }

    pub fn get(&self, path: &str) -> Option<&Node<'a>> {
        let i = self.find(fingerprint(path), path).ok()?;
        Some(&self.fields[i].2)
    }

    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Node::as_str)
    }

    pub fn get_mut(&mut self, path: &str) -> Option<&mut Node<'a>> {
        let i = self.find(fingerprint(path), path).ok()?;
        Some(&mut self.fields[i].2)
    }

    /// What a mustache template renders for a field: `""` when it is missing.
    pub fn render(&self, path: &str) -> Cow<'a, str> {
        self.get(path).and_then(Node::to_text).unwrap_or_default()
    }

    /// Elastic's `set` with `copy_from` and `ignore_empty_value` from a field to the document.
    pub fn copy(&self, doc: &mut Doc<'a>, from: &str, to: &'a str) {
        if let Some(v) = self.get(from) {
            let empty = match v {
                Node::Null => true,
                Node::Str(s) => s.is_empty(),
                _ => false,
            };
            if !empty {
                doc.set(to, v.clone());
            }
        }
    }

    /// A field of the document that may be one of these (`m365_defender.event.*`).
    pub fn get_any<'s>(&'s self, doc: &'s Doc<'a>, path: &str) -> Option<&'s Node<'a>> {
        if path.starts_with(EV_PREFIX) {
            self.get(path)
        } else {
            doc.get(path)
        }
    }

    /// Writes the fields under `m365_defender.event`, all of them or all but the duplicated
    /// vendor fields. An object that only held removed fields stays (empty, as the pipeline
    /// leaves it; the removal of empty values drops it), so keys keep their order.
    pub fn write(self, doc: &mut Doc<'a>, keep_duplicates: bool) {
        // The new members of `m365_defender.event`, in the order they are first set, are
        // gathered apart: a member is found by the fingerprint of its key, not by comparing
        // the keys of the object as a dotted-path `set` of every field would.
        let mut members: Vec<(u64, &'static str, Node<'a>)> = Vec::with_capacity(self.fields.len());
        for (_, path, value) in self.fields {
            let rel = &path[EV_PREFIX.len()..];
            let dot = rel.bytes().position(|b| b == b'.');
            if !keep_duplicates && tail::is_duplicate(rel) {
                if let Some(dot) = dot {
                    let parent = member(&mut members, &rel[..dot]);
                    if parent.is_null() {
                        *parent = Node::Object(Obj::new());
                    }
                }
                continue;
            }
            match dot {
                None => *member(&mut members, rel) = value,
                Some(dot) => {
                    let parent = member(&mut members, &rel[..dot]);
                    if !parent.is_object() {
                        *parent = Node::Object(Obj::with_capacity(8));
                    }
                    if let Node::Object(obj) = parent {
                        let mut sub = Doc(std::mem::take(obj));
                        sub.set(&rel[dot + 1..], value);
                        *obj = sub.0;
                    }
                }
            }
        }
        let event = doc.object("m365_defender.event", members.len());
        for (_, key, value) in members {
            // Only the envelope's members are there before (`category`, `tenant`, `time`, …),
            // which no column's path starts with; merged as `set` would all the same.
            match (event.get_mut(key), value) {
                (Some(Node::Object(old)), Node::Object(new)) => old.extend(new),
                (_, value) => {
                    event.insert(key, value);
                }
            }
        }
    }
}

/// The member `key` of `members`, made (null) at the end when it is not there.
fn member<'m, 'a>(
    members: &'m mut Vec<(u64, &'static str, Node<'a>)>,
    key: &'static str,
) -> &'m mut Node<'a> {
    let fp = fingerprint(key);
    let i = match members.iter().position(|(f, k, _)| *f == fp && *k == key) {
        Some(i) => i,
        None => {
            members.push((fp, key, Node::Null));
            members.len() - 1
        }
    };
    &mut members[i].2
}

#[cfg(test)]
impl Ev<'static> {
    /// The `m365_defender.event` fields of a document (leaves, and `additional_fields` whole),
    /// for the steps' unit tests.
    pub fn from_doc(doc: &Doc<'_>) -> Self {
        fn walk(prefix: String, map: &Obj<'_>, ev: &mut Ev<'static>) {
            for (k, v) in map.iter() {
                let path = format!("{prefix}{k}");
                match v {
                    Node::Object(m) if k != "additional_fields" => {
                        walk(format!("{path}."), m, ev);
                    }
                    _ => ev.set(Box::leak(path.into_boxed_str()), v.clone().into_owned()),
                }
            }
        }
        let mut ev = Ev::new();
        if let Some(Node::Object(m)) = doc.get("m365_defender.event") {
            walk(EV_PREFIX.to_string(), m, &mut ev);
        }
        ev
    }
}

/// The Device sub-pipeline on a record's `properties` (moved into the document).
pub(crate) fn map<'a>(
    table: &str,
    mut props: Obj<'a>,
    opts: &Options,
    doc: &mut Doc<'a>,
) -> Result<(), MapError> {
    let action_type = match props.remove("ActionType") {
        None | Some(Node::Null) => None,
        Some(Node::Str(s)) => Some(s),
        Some(other) => {
            return Err(MapError::field(
                "properties.ActionType",
                format!("expected a string, got {}", other.type_name()),
            ))
        }
    };
    doc.set("event.kind", "event");
    // The pipeline lower-cases `ActionType` for each test: once here.
    let lower = action_type.as_deref().map(str::to_lowercase);
    let cats = categories_lc(table, lower.as_deref());
    // Appended one by one (duplicates kept) to a field nothing set before: set once.
    let types = event_types_lc(table, &cats, lower.as_deref());
    if !types.is_empty() {
        doc.set("event.type", types);
    }
    let loaded = lower.as_deref().is_some_and(|a| a.contains("imageloaded"));
    let action_type = action_type.map(|a| if loaded { Cow::Borrowed("load") } else { a });
    let ctx = Ctx {
        table,
        action: if loaded {
            Some("load".to_string())
        } else {
            lower
        },
        cats,
    };
    for c in &ctx.cats {
        doc.append("event.category", *c);
    }

    let mut ev = Ev::new();
    columns::map(props, action_type, &ctx, &mut ev, doc)?;
    ecs::file_and_dll(&ctx, &ev, doc);
    process::map(&ctx, &mut ev, doc);
    ecs::map(&ctx, &mut ev, doc)?;
    tail::map(opts, &ctx, &ev, doc);
    ev.write(doc, opts.preserve_duplicate_custom_fields);
    Ok(())
}

/// `event.category`, in the order the pipeline appends.
#[cfg(test)]
fn categories(table: &str, action: Option<&str>) -> Vec<&'static str> {
    categories_lc(table, action.map(str::to_lowercase).as_deref())
}

/// [`categories`] of the lower-cased `ActionType`.
fn categories_lc(table: &str, act: Option<&str>) -> Vec<&'static str> {
    let mut cats = Vec::new();
    let events = table == "DeviceEvents";
    let api = events && act.is_some_and(|a| a.ends_with("apicall"));
    let driver = act.is_some_and(|a| a.contains("driverload"));
    if table == "DeviceLogonEvents" {
        cats.push("authentication");
    }
    if table == "DeviceInfo" || (events && act.is_some() && !api && !driver) {
        cats.push("host");
    }
    if api {
        cats.push("api");
    }
    if driver {
        cats.push("driver");
    }
    cats.extend(table_category(table));
    cats
}

/// `event.type`, in the order the pipeline appends (duplicates kept, as `append` does).
#[cfg(test)]
fn event_types(table: &str, cats: &[&str], action: Option<&str>) -> Vec<&'static str> {
    event_types_lc(table, cats, action.map(str::to_lowercase).as_deref())
}

/// [`event_types`] of the lower-cased `ActionType`.
fn event_types_lc(table: &str, cats: &[&str], lower: Option<&str>) -> Vec<&'static str> {
    let act = lower.unwrap_or("");
    let has_act = lower.is_some();
    let has = |c: &str| cats.contains(&c);
    let mut types: Vec<&'static str> = Vec::new();
    let info_markers = [
        "connectionfound",
        "networksignatureinspected",
        "devicenetworkinfo",
    ];
    if has("authentication")
        || has("host")
        || (has_act && info_markers.iter().any(|m| act.contains(m)))
    {
        types.push("info");
    }
    if has("file") && has_act {
        match act {
            "filedeleted" => types.push("deletion"),
            "filemodified" | "filerenamed" => types.push("change"),
            "filecreated" => types.push("creation"),
            _ => {}
        }
    }
    if has("file") && types.is_empty() {
        types.push("info");
    }
    for (markers, t) in TYPE_BY_ACTION {
        if has_act && markers.iter().any(|m| act.contains(m)) {
            types.push(t);
        }
        // The third rule also fires for every image load that has an ActionType.
        if has_act
            && markers[0] == "connectionrequest"
            && table == "DeviceImageLoadEvents"
            && !markers.iter().any(|m| act.contains(m))
        {
            types.push(t);
        }
    }
    if has("network") && has_act && act.contains("dnsconnectioninspected") {
        types.push("protocol");
    }
    if has("api") && types.is_empty() && has_act {
        if act.starts_with("open") {
            types.push("access");
        } else if act.starts_with("write") {
            types.push("change");
        }
    }
    if (has("network") || has("api")) && types.is_empty() {
        types.push("info");
    }
    types
}

/// Elastic's `append` with duplicates allowed (its default).
fn push<'a>(doc: &mut Doc<'a>, path: &'a str, value: Cow<'a, str>) {
    match doc.get_mut(path) {
        Some(Node::Array(items)) => items.push(Node::Str(value)),
        _ => doc.set(path, vec![value]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Ev::write`] leaves what a dotted-path `set` of each kept field (and an empty parent
    /// for each removed one) after the envelope's members leaves, in the same order.
    #[test]
    fn vendor_fields_are_written_as_set_would() {
        let fields: &[(&'static str, Node<'static>)] = &[
            (ev!("report_id"), Node::from("7")),
            (ev!("file.name"), Node::from("a.exe")),
            (ev!("initiating_process.id"), Node::from(4u64)),
            (
                ev!("initiating_process.integrity_level"),
                Node::from("High"),
            ),
            (ev!("file.origin_url"), Node::from("http://x")),
            (ev!("md5"), Node::from("m")),
            (ev!("device.name"), Node::from("h")),
            (ev!("logon.type"), Node::from("Network")),
        ];
        for keep in [false, true] {
            let mut envelope = Doc::new();
            envelope.set(
                "m365_defender.event.category",
                "AdvancedHunting-DeviceEvents",
            );
            envelope.set("m365_defender.event.tenant.name", "t");
            let mut want = envelope.clone();
            for (path, value) in fields {
                let rel = &path[EV_PREFIX.len()..];
                if !keep && tail::is_duplicate(rel) {
                    if let Some((parent, _)) = rel.split_once('.') {
                        let parent = format!("m365_defender.event.{parent}");
                        if want.get(&parent).is_none() {
                            want.set_owned(&parent, Obj::new());
                        }
                    }
                } else {
                    want.set(path, value.clone());
                }
            }
            let mut ev = Ev::new();
            for (path, value) in fields {
                ev.add(path, value.clone());
            }
            let mut got = envelope;
            ev.write(&mut got, keep);
            assert_eq!(
                got.into_node().to_json_string(),
                want.into_node().to_json_string(),
                "keep_duplicates: {keep}"
            );
        }
    }

    #[test]
    fn deviceevents_split_into_host_api_driver() {
        assert_eq!(categories("DeviceEvents", Some("DpapiAccessed")), ["host"]);
        assert_eq!(
            categories("DeviceEvents", Some("OpenProcessApiCall")),
            ["api"]
        );
        assert_eq!(categories("DeviceEvents", Some("DriverLoad")), ["driver"]);
        assert!(categories("DeviceEvents", None).is_empty());
        assert_eq!(
            categories("DeviceLogonEvents", Some("LogonSuccess")),
            ["authentication"]
        );
        assert_eq!(categories("DeviceNetworkInfo", None), ["network"]);
    }

    /// Every column of every Device table with odd JSON types: an error or a document, never
    /// a panic.
    #[test]
    fn odd_types_never_panic() {
        use crate::{Options, Target};
        let columns = [
            "ActionType",
            "AdditionalFields",
            "FolderPath",
            "FileName",
            "InitiatingProcessFolderPath",
            "InitiatingProcessFileName",
            "InitiatingProcessCommandLine",
            "ProcessCommandLine",
            "RemoteIP",
            "LocalIP",
            "RemotePort",
            "RemoteUrl",
            "MacAddress",
            "OSPlatform",
            "RegistryKey",
            "PreviousRegistryKey",
            "LoggedOnUsers",
            "NetworkAdapterName",
            "InitiatingProcessFileSize",
            "ProcessId",
            "InitiatingProcessCreationTime",
            "Protocol",
            "DeviceName",
            "DeviceId",
            "IPv4Dhcp",
            "IsSigned",
            "Issuer",
            "PublicIP",
        ];
        let odd = [
            serde_json::json!(null),
            serde_json::json!(""),
            serde_json::json!("{"),
            serde_json::json!("{\"a\""),
            serde_json::json!(1.5),
            serde_json::json!(-1),
            serde_json::json!([1, "é", null]),
            serde_json::json!({"direction": 3, "answers": 1}),
            serde_json::json!("é/ü\\%zz\u{1F600}OpenProcessApiCall"),
            serde_json::json!(true),
        ];
        let tables = [
            "DeviceEvents",
            "DeviceFileEvents",
            "DeviceImageLoadEvents",
            "DeviceInfo",
            "DeviceLogonEvents",
            "DeviceNetworkEvents",
            "DeviceNetworkInfo",
            "DeviceProcessEvents",
            "DeviceRegistryEvents",
            "DeviceFileCertificateInfo",
        ];
        let mapper = crate::Mapper::new(Options {
            target: Target::Ecs,
            ..Options::default()
        });
        for table in tables {
            for v in &odd {
                let mut props = serde_json::Map::new();
                for c in columns {
                    props.insert(c.to_string(), v.clone());
                }
                props.insert(
                    "ActionType".into(),
                    serde_json::json!("DnsConnectionInspected"),
                );
                let rec = serde_json::json!({"category": format!("AdvancedHunting-{table}"), "properties": props});
                let mut n = 0;
                mapper.map_value(rec, &mut |_o: crate::Output| n += 1);
                assert_eq!(n, 1, "{table} {v}");
            }
        }
    }

    #[test]
    fn event_types_follow_action() {
        let t = |table, action| {
            let cats = categories(table, action);
            event_types(table, &cats, action)
        };
        assert_eq!(t("DeviceEvents", Some("OpenProcessApiCall")), ["access"]);
        assert_eq!(t("DeviceEvents", Some("DriverLoad")), ["start"]);
        assert_eq!(t("DeviceFileEvents", Some("FileRenamed")), ["change"]);
        assert_eq!(t("DeviceFileCertificateInfo", None), ["info"]);
        assert_eq!(t("DeviceImageLoadEvents", Some("ImageLoaded")), ["start"]);
        assert_eq!(
            t("DeviceNetworkEvents", Some("DnsConnectionInspected")),
            ["protocol"]
        );
        assert_eq!(
            t("DeviceNetworkEvents", Some("ConnectionAcknowledged")),
            ["info"]
        );
        assert_eq!(
            t("DeviceRegistryEvents", Some("RegistryValueSet")),
            ["change"]
        );
    }
}
