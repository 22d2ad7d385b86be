//! MDE API machine action (`GET /api/machineactions`) -> the ECS document of Elastic's
//! `microsoft_defender_endpoint.machine_action` data stream, and a row of the custom table
//! `DefenderMachineActions_CL`. The full field tables are in docs/mapping/machine-action.md.

use std::sync::OnceLock;

use std::borrow::Cow;

use super::mde_common::{
    convert, event_doc, opt_es_date, opt_long, opt_object, opt_str, pascal, take_array,
    time_generated, Names, Schema, Vendor,
};
use super::TreeInput;
use crate::tree::{Doc, Node, Obj};
use crate::MapError;

/// Elastic's machine action pipeline stamps this ECS version.
const NS: &str = "microsoft_defender_endpoint.machine_action";

/// Action type -> ECS categorization (Elastic's `set_ecs_categorization_fields` script).
const CATEGORIZATION: &[(&str, &[&str], &[&str])] = &[
    // (type, event.category, event.type)
    ("RunAntiVirusScan", &[], &["info"]),
    ("Offboard", &[], &["info"]),
    ("LiveResponse", &[], &["info"]),
    ("CollectInvestigationPackage", &[], &["info"]),
    ("Isolate", &["network"], &["end"]),
    ("Unisolate", &["network"], &["start"]),
    ("StopAndQuarantineFile", &["file"], &["deletion"]),
    ("RestrictCodeExecution", &["package"], &["access"]),
    ("UnrestrictCodeExecution", &["package"], &["access"]),
];

/// Plain string renames into `microsoft_defender_endpoint.machine_action.*`.
const RENAMED: &[(&str, &str)] = &[
    ("cancellationComment", "cancellation_comment"),
    ("requestSource", "request_source"),
    ("requestorComment", "requestor_comment"),
    ("scope", "scope"),
    ("title", "title"),
];

/// Vendor fields dropped unless `preserve_duplicate_custom_fields`: their values live on in ECS.
const DUPLICATES: &[&str] = &[
    "computer_dns_name",
    "creation_date_time_utc",
    "id",
    "last_update_date_time_utc",
    "machine_id",
    "requestor",
];

pub(crate) const SENTINEL_TABLE: &str = "DefenderMachineActions_CL";

/// Source field -> column of `DefenderMachineActions_CL` (types in custom_tables.json).
/// Other source fields pass on PascalCased (dropped with `strict_schema`).
const COLUMNS: &[(&str, &str)] = &[
    ("id", "Id"),
    ("type", "ActionType"),
    ("title", "Title"),
    ("requestor", "Requestor"),
    ("requestorComment", "RequestorComment"),
    ("status", "Status"),
    ("machineId", "DeviceId"),
    ("computerDnsName", "DeviceName"),
    ("creationDateTimeUtc", "CreationDateTimeUtc"),
    ("lastUpdateDateTimeUtc", "LastUpdateDateTimeUtc"),
    ("cancellationRequestor", "CancellationRequestor"),
    ("cancellationComment", "CancellationComment"),
    ("cancellationDateTimeUtc", "CancellationDateTimeUtc"),
    ("errorHResult", "ErrorHResult"),
    ("scope", "Scope"),
    ("externalId", "ExternalId"),
    ("requestSource", "RequestSource"),
    ("relatedFileInfo", "RelatedFileInfo"),
    ("commands", "Commands"),
    ("troubleshootInfo", "TroubleshootInfo"),
];

pub(crate) fn to_ecs<'a>(input: TreeInput<'a>, out: &mut Vec<Node<'a>>) -> Result<(), MapError> {
    let mut rec = input.record;
    let mut d = event_doc(input.original);
    // The vendor object takes the place its first field gave it; it is filled at the end.
    d.set(NS, Obj::new());
    let mut m = Vendor::new(24, DUPLICATES, input.opts.preserve_duplicate_custom_fields);

    if let Some(action) = opt_str(&rec, "type")? {
        d.set("event.action", action.clone());
        if let Some((_, category, kind)) = CATEGORIZATION.iter().find(|(t, _, _)| *t == action) {
            // The script replaces the fields with the listed values.
            d.set("event.category", category.to_vec());
            d.set("event.type", kind.to_vec());
        }
        m.set("type", action);
    }
    if let Some(status) = opt_str(&rec, "status")? {
        if status.eq_ignore_ascii_case("succeeded") {
            d.set("event.outcome", "success");
        } else if status.eq_ignore_ascii_case("failed") {
            d.set("event.outcome", "failure");
        }
        m.set("status", status);
    }
    for (src, dst) in RENAMED {
        m.set(dst, opt_str(&rec, src)?);
    }
    m.set(
        "cancellation_date_time_utc",
        opt_es_date(&rec, "cancellationDateTimeUtc")?,
    );
    if let Some(who) = opt_str(&rec, "cancellationRequestor")? {
        d.append("related.user", who.clone());
        m.set("cancellation_requestor", who);
    }
    m.set("commands", take_array(&mut rec, "commands")?);
    if let Some(name) = opt_str(&rec, "computerDnsName")? {
        d.set("host.name", name.clone());
        d.set("host.hostname", name.clone());
        d.append("related.hosts", name.clone());
        m.set("computer_dns_name", name);
    }
    if let Some(created) = opt_es_date(&rec, "creationDateTimeUtc")? {
        m.set("creation_date_time_utc", created.clone());
        d.set("event.created", created);
    }
    m.set("error_h_result", opt_long(&rec, "errorHResult")?);
    // The API spells it externalId; Elastic's pipeline reads externalID. Both are taken.
    for key in ["externalId", "externalID"] {
        if let Some(ext) = opt_str(&rec, key)? {
            d.append("related.user", ext.clone());
            m.replace("external_id", ext);
        }
    }
    if let Some(id) = opt_str(&rec, "id")? {
        d.set("event.id", id.clone());
        m.set("id", id);
    }
    if let Some(updated) = opt_es_date(&rec, "lastUpdateDateTimeUtc")? {
        m.set("last_update_date_time_utc", updated.clone());
        d.set("@timestamp", updated);
    }
    if let Some(machine) = opt_str(&rec, "machineId")? {
        d.set("host.id", machine.clone());
        d.append("related.hosts", machine.clone());
        m.set("machine_id", machine);
    }
    if let Some(info) = opt_object(&rec, "relatedFileInfo")? {
        related_file(&mut d, &mut m, info)?;
    }
    if let Some(who) = opt_str(&rec, "requestor")? {
        d.set("user.name", who.clone());
        d.append("related.user", who.clone());
        m.set("requestor", who);
    }
    m.set(
        "troubleshoot_info",
        rec.get_mut("troubleshootInfo").map(Node::take),
    );
    d.set(NS, m.fields);
    d.prune_empty();
    out.push(d.into_node());
    Ok(())
}

/// `relatedFileInfo` -> vendor fields, `related.hash` and `file.hash.<algorithm>`.
fn related_file<'a>(d: &mut Doc<'a>, m: &mut Vendor<'a>, info: &Obj<'a>) -> Result<(), MapError> {
    let at = |e: MapError| {
        MapError::field(
            format!("relatedFileInfo.{}", e.path.unwrap_or_default()),
            e.message,
        )
    };
    let id = opt_str(info, "fileIdentifier").map_err(at)?;
    let kind = opt_str(info, "fileIdentifierType").map_err(at)?;
    let mut file_info = Obj::with_capacity(2);
    if let Some(id) = &id {
        file_info.push("file_identifier", id.clone());
    }
    if let Some(kind) = &kind {
        file_info.push("file_identifier_type", kind.clone());
    }
    if !file_info.is_empty() {
        m.set("related_file_info", file_info);
    }
    d.append("related.hash", id.clone());
    if let (Some(id), Some(kind)) = (id, kind) {
        let kind = kind.to_lowercase();
        // Checked in Elastic's order: sha1, md5, sha256.
        if let Some(path) = [
            ("sha1", "file.hash.sha1"),
            ("md5", "file.hash.md5"),
            ("sha256", "file.hash.sha256"),
        ]
        .into_iter()
        .find_map(|(a, path)| kind.contains(a).then_some(path))
        {
            d.set(path, id);
        }
    }
    Ok(())
}

/// The table's schema with the types of [`COLUMNS`], and the source fields of `COLUMNS` (to
/// find a record's keys among), looked up once.
fn sentinel_schema() -> &'static (Schema, Names) {
    static SCHEMA: OnceLock<(Schema, Names)> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        (
            Schema::new(SENTINEL_TABLE, COLUMNS.iter().map(|(_, col)| *col)),
            Names::new(COLUMNS.iter().enumerate().map(|(i, (src, _))| (*src, i))),
        )
    })
}

pub(crate) fn to_sentinel<'a>(
    input: TreeInput<'a>,
    out: &mut Vec<Node<'a>>,
) -> Result<(), MapError> {
    let rec = input.record;
    let (schema, sources) = sentinel_schema();
    let mut row = Obj::with_capacity(rec.len() + 2);
    let times = ["lastUpdateDateTimeUtc", "creationDateTimeUtc"];
    if let Some(t) = time_generated(&rec, &times, input.opts.now.as_deref())? {
        row.push("TimeGenerated", t);
    }
    for (key, v) in rec {
        // Elastic's spelling of externalId is the same column.
        let known = sources
            .find(&key)
            .or_else(|| (key == "externalID").then(|| sources.find("externalId"))?);
        let (column, t) = match known {
            Some(i) => (Cow::Borrowed(COLUMNS[i].1), schema.types[i]),
            None if input.opts.strict_schema => continue,
            None => {
                let column = pascal(&key);
                let t = schema.column(&column);
                (Cow::Owned(column), t)
            }
        };
        if matches!(column.as_ref(), "TimeGenerated" | "Type" | "TenantId") {
            continue;
        }
        let v = convert(t, &key, v)?;
        if !v.is_null() && !matches!(&v, Node::Array(a) if a.is_empty()) {
            row.insert(column, v);
        }
    }
    // Not there yet: the loop skips a source field named like it.
    row.push("Type", SENTINEL_TABLE);
    out.push(Node::Object(row));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Target};
    use serde_json::{json, Value};

    fn action() -> Value {
        json!({
            "id": "5a5a5a5a-0000-4000-8000-123456789abc",
            "type": "StopAndQuarantineFile",
            "title": null,
            "requestor": "analyst@contoso.test",
            "requestorComment": "Quarantine sample",
            "status": "Failed",
            "machineId": "0123456789abcdef0123456789abcdef01234567",
            "computerDnsName": "srv-demo-02",
            "creationDateTimeUtc": "2025-05-01T10:00:00.1111111Z",
            "lastUpdateDateTimeUtc": "2025-05-01T10:05:00.2222222Z",
            "cancellationRequestor": null,
            "errorHResult": -2147467260,
            "scope": null,
            "externalId": null,
            "requestSource": "PublicApi",
            "relatedFileInfo": {"fileIdentifier": "0123456789abcdef0123456789abcdef01234567", "fileIdentifierType": "Sha1"},
            "commands": [],
            "troubleshootInfo": null
        })
    }

    fn run(record: Value, opts: &Options) -> Result<Vec<Value>, MapError> {
        crate::kinds::run_tree((to_ecs, to_sentinel), record, opts)
    }

    #[test]
    fn ecs_fields_like_elastic() {
        let doc = &run(action(), &Options::default()).unwrap()[0];
        assert_eq!(doc["@timestamp"], "2025-05-01T10:05:00.222Z");
        assert_eq!(doc["event"]["created"], "2025-05-01T10:00:00.111Z");
        assert_eq!(doc["event"]["category"], json!(["file"]));
        assert_eq!(doc["event"]["type"], json!(["deletion"]));
        assert_eq!(doc["event"]["outcome"], "failure");
        assert_eq!(
            doc["file"]["hash"]["sha1"],
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(doc["user"]["name"], "analyst@contoso.test");
        let m = &doc["microsoft_defender_endpoint"]["machine_action"];
        assert_eq!(m["error_h_result"], -2147467260i64);
        assert!(m.get("id").is_none(), "duplicates dropped by default");
        assert!(m.get("commands").is_none(), "empty arrays removed");
    }

    #[test]
    fn unknown_type_has_no_categorization() {
        let mut a = action();
        a["type"] = json!("SomethingNew");
        let doc = &run(a, &Options::default()).unwrap()[0];
        assert_eq!(doc["event"]["action"], "SomethingNew");
        assert!(doc["event"].get("category").is_none());
    }

    #[test]
    fn page_of_several_actions() {
        let mapper = crate::Mapper::new(Options::default());
        let page = json!({"value": [action(), action()]});
        let mut docs = Vec::new();
        mapper.map_value(page, &mut |o: crate::Output| docs.push(o));
        assert_eq!(docs.len(), 2);
        assert!(docs.iter().all(|d| !d.is_error()));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut a = action();
        a["creationDateTimeUtc"] = json!("soon");
        assert_eq!(
            run(a, &Options::default()).unwrap_err().path.as_deref(),
            Some("creationDateTimeUtc")
        );
        let mut a = action();
        a["relatedFileInfo"]["fileIdentifier"] = json!(42);
        let err = run(a, &Options::default()).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("relatedFileInfo.fileIdentifier"));
    }

    #[test]
    fn sentinel_row_has_declared_columns_and_types() {
        let opts = Options {
            target: Target::Sentinel,
            ..Options::default()
        };
        let row = run(action(), &opts).unwrap().remove(0);
        let row = row.as_object().unwrap();
        assert_eq!(row["Type"], SENTINEL_TABLE);
        assert_eq!(row["TimeGenerated"], "2025-05-01T10:05:00.2222222Z");
        assert_eq!(row["ActionType"], "StopAndQuarantineFile");
        assert_eq!(row["ErrorHResult"], -2147467260i64);
        assert_eq!(row["RelatedFileInfo"]["fileIdentifierType"], "Sha1");
        let table = crate::sentinel::table(SENTINEL_TABLE).expect("declared in custom_tables.json");
        assert_eq!(table.check_row(row), Vec::<String>::new());
    }

    #[test]
    fn sentinel_wrong_type_names_the_field() {
        let opts = Options {
            target: Target::Sentinel,
            ..Options::default()
        };
        let mut a = action();
        a["errorHResult"] = json!("bad");
        assert_eq!(
            run(a, &opts).unwrap_err().path.as_deref(),
            Some("errorHResult")
        );
    }

    #[test]
    fn bundled_sample_maps_to_both_targets() {
        let sample: Value =
            serde_json::from_str(include_str!("../../examples/samples/machine-action.json"))
                .unwrap();
        for target in [Target::Ecs, Target::Sentinel] {
            let opts = Options {
                target,
                ..Options::default()
            };
            assert_eq!(run(sample.clone(), &opts).unwrap().len(), 1);
        }
    }
}
