//! `AlertInfo` and `AlertEvidence`: Elastic's `pipeline_alert` sub-pipeline (which also maps the
//! `Behavior*` tables, see `behavior`).
//!
//! Era: the fixture (integration ~4.x, ecs 8.11.0) no longer sets `event.category: threat` for
//! threat-like alert categories (`Persistence`, …) and scores severity 21/47/73; older
//! pipelines (severity 1..4, `threat.indicator.*` for threat categories) are not reproduced.

use std::sync::OnceLock;

use super::processors::{
    convert_ip, convert_long, convert_string, copy, json_rename, lowercase, prop_str, related,
    related_from, remove_custom_duplicates, renames_scan, split_command_line_into_process, Columns,
    Duplicates, FamilyFn, Signatures,
};
use crate::tree::{Doc, Node};
use crate::MapError;

/// `json.properties.<column>` renamed as it is to `m365_defender.event.<target>`.
const RENAMES: &[(&str, &str)] = &[
    ("AlertId", "m365_defender.event.alert.id"),
    ("ServiceSource", "m365_defender.event.service_source"),
    ("DeviceName", "m365_defender.event.device.name"),
    ("NetworkMessageId", "m365_defender.event.network.message_id"),
    (
        "OAuthApplicationId",
        "m365_defender.event.oauth_application_id",
    ),
    ("RemoteUrl", "m365_defender.event.remote.url"),
    ("AccountObjectId", "m365_defender.event.account.object_id"),
    ("Category", "m365_defender.event.alert.category"),
    ("DetectionSource", "m365_defender.event.detection.source"),
    ("MachineGroup", "m365_defender.event.machine_group"),
    ("DeviceId", "m365_defender.event.device.id"),
    (
        "EvidenceDirection",
        "m365_defender.event.evidence.direction",
    ),
    (
        "ProcessCommandLine",
        "m365_defender.event.process.command_line",
    ),
    ("RegistryKey", "m365_defender.event.registry.key"),
    (
        "RegistryValueName",
        "m365_defender.event.registry.value_name",
    ),
    (
        "RegistryValueData",
        "m365_defender.event.registry.value_data",
    ),
    ("SHA1", "m365_defender.event.sha1"),
    ("FolderPath", "m365_defender.event.folder_path"),
    ("SHA256", "m365_defender.event.sha256"),
    ("FileName", "m365_defender.event.file.name"),
    ("ThreatFamily", "m365_defender.event.threat.family"),
    ("AccountSid", "m365_defender.event.account.sid"),
    ("AccountName", "m365_defender.event.account.name"),
    ("Title", "m365_defender.event.title"),
    ("AccountDomain", "m365_defender.event.account.domain"),
    ("AccountUpn", "m365_defender.event.account.upn"),
    ("Application", "m365_defender.event.application"),
    ("EmailSubject", "m365_defender.event.email.subject"),
    ("EntityType", "m365_defender.event.entity_type"),
    ("EvidenceRole", "m365_defender.event.evidence.role"),
];
static RENAMES_SIGS: Signatures = OnceLock::new();

/// `EntityType` (lowercased) -> `event.category`.
const ENTITY_CATEGORIES: &[(&str, &str)] = &[
    ("file", "file"),
    ("process", "process"),
    ("device", "host"),
    ("user", "iam"),
];

/// Alert `Category` values (lowercased) that make `event.category: malware`.
const MALWARE_CATEGORIES: &[&str] = &["malware", "ransomware"];

/// `Severity` (lowercased) -> `event.severity`, Elastic's 21/47/73/99 scale.
const SEVERITY_SCORES: &[(&str, i64)] = &[
    ("informational", 21),
    ("low", 21),
    ("medium", 47),
    ("high", 73),
    ("critical", 99),
];

/// Vendor fields copied to ECS, dropped unless `preserve_duplicate_custom_fields`.
static DUPLICATES: Duplicates = Duplicates::new(&[
    "m365_defender.event.timestamp",
    "m365_defender.event.remote.url",
    "m365_defender.event.alert.id",
    "m365_defender.event.service_source",
    "m365_defender.event.device.name",
    "m365_defender.event.device.id",
    "m365_defender.event.evidence.direction",
    "m365_defender.event.process.command_line",
    "m365_defender.event.registry.key",
    "m365_defender.event.registry.value_name",
    "m365_defender.event.registry.value_data",
    "m365_defender.event.remote.ip",
    "m365_defender.event.folder_path",
    "m365_defender.event.sha1",
    "m365_defender.event.sha256",
    "m365_defender.event.file.name",
    "m365_defender.event.file.size",
    "m365_defender.event.threat.family",
    "m365_defender.event.account.name",
    "m365_defender.event.account.domain",
    "m365_defender.event.account.sid",
    "m365_defender.event.account.object_id",
    "m365_defender.event.network.message_id",
    "m365_defender.event.email.subject",
    "m365_defender.event.title",
]);

pub(crate) fn map<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    pipeline(rec, doc, "alert", |_, _| Ok(()))
}

/// `pipeline_alert` with `event.kind = kind`; `extra` maps the columns of the calling family
/// right after the renames, before the ECS fields are derived.
pub(crate) fn pipeline<'a>(
    rec: &Columns<'_, 'a>,
    doc: &mut Doc<'a>,
    kind: &'static str,
    extra: FamilyFn,
) -> Result<(), MapError> {
    let p = rec.props;
    doc.set("event.kind", kind);
    if let Some(entity) = prop_str(p, "EntityType").map(|s| s.to_lowercase()) {
        for (name, category) in ENTITY_CATEGORIES {
            if entity == *name {
                doc.append("event.category", *category);
            }
        }
    }
    if let Some(c) = prop_str(p, "Category").map(|s| s.to_lowercase()) {
        if MALWARE_CATEGORIES.contains(&c.as_str()) {
            doc.append("event.category", "malware");
        }
    }
    if doc.get("event.type").is_none() {
        doc.append("event.type", "info");
    }

    json_rename(doc, p, "Categories", "m365_defender.event.alert.categories");
    json_rename(
        doc,
        p,
        "AdditionalFields",
        "m365_defender.event.additional_fields",
    );
    json_rename(
        doc,
        p,
        "AttackTechniques",
        "m365_defender.event.attack_techniques",
    );
    convert_ip(doc, p, "RemoteIP", "m365_defender.event.remote.ip");
    convert_long(doc, p, "FileSize", "m365_defender.event.file.size");
    convert_ip(doc, p, "LocalIP", "m365_defender.event.local.ip");
    convert_string(
        doc,
        p,
        "ApplicationId",
        "m365_defender.event.application_id",
    );
    renames_scan(doc, p, RENAMES, &RENAMES_SIGS);
    extra(rec, doc)?;

    copy(doc, "m365_defender.event.alert.id", "event.id");
    copy(doc, "m365_defender.event.service_source", "event.provider");
    copy(doc, "m365_defender.event.remote.url", "event.reference");
    if let Some(sev) = prop_str(p, "Severity").map(|s| s.to_lowercase()) {
        if let Some((_, score)) = SEVERITY_SCORES.iter().find(|(s, _)| *s == sev) {
            doc.set("event.severity", *score);
        }
        doc.set("m365_defender.event.severity", sev);
    }

    copy(doc, "m365_defender.event.device.name", "host.name");
    lowercase(doc, "host.name");
    copy(doc, "m365_defender.event.device.id", "host.id");
    copy(
        doc,
        "m365_defender.event.evidence.direction",
        "network.direction",
    );
    lowercase(doc, "network.direction");
    copy(
        doc,
        "m365_defender.event.process.command_line",
        "process.command_line",
    );
    split_command_line_into_process(doc);

    subtechniques(doc);
    sort(doc, "m365_defender.event.attack_techniques");
    sort(doc, "threat.technique.subtechnique.id");
    sort(doc, "threat.technique.subtechnique.name");

    // File and registry fields only for alerts whose kind of evidence is known.
    if doc.get("event.category").is_some() {
        copy(doc, "m365_defender.event.folder_path", "file.directory");
        copy(doc, "m365_defender.event.sha1", "file.hash.sha1");
        copy(doc, "m365_defender.event.sha256", "file.hash.sha256");
        copy(doc, "m365_defender.event.file.name", "file.name");
        copy(doc, "m365_defender.event.file.size", "file.size");
        copy(doc, "m365_defender.event.registry.key", "registry.key");
        if let Some(data) = doc.get("m365_defender.event.registry.value_data").cloned() {
            related(doc, "registry.data.strings", Some(&data));
        }
    }
    copy(doc, "m365_defender.event.remote.ip", "destination.ip");
    copy(doc, "m365_defender.event.local.ip", "source.ip");
    copy(doc, "m365_defender.event.account.sid", "user.id");
    copy(doc, "m365_defender.event.account.name", "user.name");
    copy(doc, "m365_defender.event.account.domain", "user.domain");
    if doc.get("user.id").is_none() {
        copy(doc, "m365_defender.event.account.object_id", "user.id");
    }
    copy(doc, "m365_defender.event.email.subject", "email.subject");
    copy(
        doc,
        "m365_defender.event.network.message_id",
        "email.message_id",
    );
    copy(doc, "m365_defender.event.title", "message");

    for (field, from) in [
        ("related.hosts", "host.name"),
        ("related.hosts", "user.domain"),
        ("related.hosts", "host.id"),
        ("related.user", "m365_defender.event.account.object_id"),
        ("related.user", "user.name"),
        ("related.ip", "source.ip"),
        ("related.ip", "destination.ip"),
        ("related.hash", "m365_defender.event.sha256"),
        ("related.hash", "m365_defender.event.sha1"),
    ] {
        related_from(doc, field, from);
    }
    remove_custom_duplicates(rec.opts, doc, &DUPLICATES);
    Ok(())
}

/// The `Extract threat subtechnique id & name` script: `"Valid Accounts (T1078)"` gives the
/// name before the last space and the id between the parentheses. It runs with
/// `ignore_failure`, so one malformed item leaves both lists unset.
fn subtechniques(doc: &mut Doc<'_>) {
    let Some(Node::Array(items)) = doc.get("m365_defender.event.attack_techniques") else {
        return;
    };
    let mut names = Vec::new();
    let mut ids = Vec::new();
    for item in items {
        let Some(s) = item.as_str() else { return };
        let Some(space) = s.rfind(' ') else { return };
        let open = s.find('(').map_or(0, |i| i + 1);
        let Some(close) = s.find(')').filter(|c| *c >= open) else {
            return;
        };
        names.push(Node::from(s[..space].to_string()));
        ids.push(Node::from(s[open..close].to_string()));
    }
    doc.set("threat.technique.subtechnique.id", ids);
    doc.set("threat.technique.subtechnique.name", names);
}

/// Elastic's `sort` (ascending) of a list of strings; a non-empty non-list fails the
/// processor, whose `on_failure` appends to `error.message`.
fn sort<'a>(doc: &mut Doc<'a>, path: &'a str) {
    match doc.get_mut(path) {
        Some(Node::Array(items)) => items.sort_by(|a, b| match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => x.cmp(y),
            _ => a.to_json_string().cmp(&b.to_json_string()),
        }),
        None | Some(Node::Null) => {}
        Some(Node::Str(s)) if s.is_empty() => {}
        Some(other) => {
            let message = format!(
                "field [{path}] of type [{}] cannot be cast to a list",
                other.type_name()
            );
            doc.append("error.message", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::processors::{at, run_family};
    use super::*;
    use serde_json::{json, Value};

    fn run(props: Value) -> Doc<'static> {
        run_family(map, "AlertInfo", props)
    }

    #[test]
    fn techniques_are_split_and_sorted() {
        let d = run(
            json!({"AttackTechniques": "[\"Valid Accounts (T1078)\",\"Cloud Accounts (T1078.004)\"]", "Severity": "Medium"}),
        );
        assert_eq!(
            at(&d, "threat.technique.subtechnique.id"),
            Some(json!(["T1078", "T1078.004"]))
        );
        assert_eq!(
            at(&d, "threat.technique.subtechnique.name"),
            Some(json!(["Cloud Accounts", "Valid Accounts"]))
        );
        assert_eq!(at(&d, "event.severity"), Some(json!(47)));
        assert_eq!(d.get_str("m365_defender.event.severity"), Some("medium"));
    }

    #[test]
    fn malformed_technique_leaves_no_subtechniques() {
        let d = run(json!({"AttackTechniques": "[\"NoParens\"]"}));
        assert!(at(&d, "threat.technique.subtechnique.id").is_none());
        assert_eq!(
            at(&d, "m365_defender.event.attack_techniques"),
            Some(json!(["NoParens"]))
        );
    }

    #[test]
    fn file_evidence_maps_file_fields_and_related() {
        let d = run(
            json!({"EntityType": "File", "FileName": "a.txt", "SHA1": "s1", "SHA256": "s256",
            "DeviceName": "PC1", "AccountDomain": "dom", "LocalIP": "10.0.0.1"}),
        );
        assert_eq!(at(&d, "event.category"), Some(json!(["file"])));
        assert_eq!(d.get_str("file.name"), Some("a.txt"));
        assert_eq!(at(&d, "related.hosts"), Some(json!(["pc1", "dom"])));
        assert_eq!(at(&d, "related.hash"), Some(json!(["s256", "s1"])));
        assert_eq!(d.get_str("source.ip"), Some("10.0.0.1"));
    }

    #[test]
    fn no_file_fields_without_a_category() {
        let d = run(json!({"FileName": "a.txt", "Category": "Persistence"}));
        assert!(at(&d, "file.name").is_none());
        assert!(at(&d, "event.category").is_none());
    }
}
