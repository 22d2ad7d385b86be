//! MDE API machine action (`GET /api/machineactions`) -> the ECS document of Elastic's
//! `microsoft_defender_endpoint.machine_action` data stream, and a row of the custom table
//! `DefenderMachineActions_CL`. The full field tables are in docs/mapping/machine-action.md.

use std::sync::OnceLock;

use std::borrow::Cow;

use super::mde_common::{
    convert, event_doc, opt_es_date, opt_long, opt_object, opt_str, pascal, pruned, put,
    take_array, time_generated, Names, Schema, Vendor,
};
use super::TreeInput;
use crate::tree::{Node, Obj};
use crate::MapError;

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
    let mut top = event_doc(input.original).0;
    let event = top
        .get_mut("event")
        .and_then(Node::as_object_mut)
        .expect("event_doc makes it");
    let mut f = Fields::default();
    // Room for the usual fields; more than 16 would be past the allocator's fast sizes.
    let mut m = Vendor::new(16, DUPLICATES, input.opts.preserve_duplicate_custom_fields);

    if let Some(action) = opt_str(&rec, "type")? {
        put(event, "action", action.clone().into());
        if let Some((_, category, kind)) = CATEGORIZATION.iter().find(|(t, _, _)| *t == action) {
            // The script replaces the fields with the listed values.
            put(event, "category", category.to_vec().into());
            put(event, "type", kind.to_vec().into());
        }
        m.set("type", action);
    }
    if let Some(status) = opt_str(&rec, "status")? {
        if status.eq_ignore_ascii_case("succeeded") {
            put(event, "outcome", "success".into());
        } else if status.eq_ignore_ascii_case("failed") {
            put(event, "outcome", "failure".into());
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
        f.related("user", who.clone().into());
        m.set("cancellation_requestor", who);
    }
    m.set("commands", take_array(&mut rec, "commands")?);
    if let Some(name) = opt_str(&rec, "computerDnsName")? {
        f.touch("host");
        f.host.push("name", name.clone());
        f.host.push("hostname", name.clone());
        f.related("hosts", name.clone().into());
        m.set("computer_dns_name", name);
    }
    if let Some(created) = opt_es_date(&rec, "creationDateTimeUtc")? {
        m.set("creation_date_time_utc", created.clone());
        put(event, "created", created.into());
    }
    m.set("error_h_result", opt_long(&rec, "errorHResult")?);
    // The API spells it externalId; Elastic's pipeline reads externalID. Both are taken.
    for key in ["externalId", "externalID"] {
        if let Some(ext) = opt_str(&rec, key)? {
            f.related("user", ext.clone().into());
            m.replace("external_id", ext);
        }
    }
    if let Some(id) = opt_str(&rec, "id")? {
        put(event, "id", id.clone().into());
        m.set("id", id);
    }
    if let Some(updated) = opt_es_date(&rec, "lastUpdateDateTimeUtc")? {
        m.set("last_update_date_time_utc", updated.clone());
        f.touch("@timestamp");
        f.timestamp = updated.into();
    }
    if let Some(machine) = opt_str(&rec, "machineId")? {
        f.touch("host");
        f.host.push("id", machine.clone());
        f.related("hosts", machine.clone().into());
        m.set("machine_id", machine);
    }
    if let Some(info) = opt_object(&rec, "relatedFileInfo")? {
        related_file(&mut f, &mut m, info)?;
    }
    if let Some(who) = opt_str(&rec, "requestor")? {
        f.touch("user");
        f.user_name = who.clone().into();
        f.related("user", who.clone().into());
        m.set("requestor", who);
    }
    m.set(
        "troubleshoot_info",
        rec.get_mut("troubleshootInfo").map(Node::take),
    );
    if let Some(fields) = pruned(Node::Object(m.fields)) {
        let mut ns = Obj::with_capacity(1);
        ns.push("machine_action", fields);
        top.push("microsoft_defender_endpoint", ns);
    }
    for key in std::mem::take(&mut f.order) {
        let value = match key {
            "host" => Node::Object(std::mem::take(&mut f.host)),
            "related" => Node::Object(std::mem::take(&mut f.related)),
            "@timestamp" => f.timestamp.take(),
            "file" => {
                let mut file = Obj::with_capacity(1);
                file.push("hash", std::mem::take(&mut f.file_hash));
                Node::Object(file)
            }
            _ => {
                let mut user = Obj::with_capacity(1);
                user.push("name", f.user_name.take());
                Node::Object(user)
            }
        };
        put(&mut top, key, value);
    }
    out.push(Node::Object(top));
    Ok(())
}

/// The ECS fields outside `event`, gathered apart and put in the document at the end in the
/// order Elastic's processors first made them: walking the document by dotted path for every
/// field cost more than the fields themselves. Empty values are pruned as they are put in.
#[derive(Default)]
struct Fields<'a> {
    /// Top-level fields in the order they were first set (`host`, `related`, `@timestamp`,
    /// `file`, `user`).
    order: Vec<&'static str>,
    host: Obj<'a>,
    related: Obj<'a>,
    timestamp: Node<'a>,
    file_hash: Obj<'a>,
    user_name: Node<'a>,
}

impl<'a> Fields<'a> {
    fn touch(&mut self, key: &'static str) {
        if !self.order.contains(&key) {
            self.order.push(key);
        }
    }

    /// Elastic's `append` (without duplicates) to `related.<key>`.
    fn related(&mut self, key: &'static str, value: Node<'a>) {
        self.touch("related");
        let slot = self.related.slot(key);
        match slot {
            Node::Array(items) => {
                if !items.contains(&value) {
                    items.push(value);
                }
            }
            _ => *slot = Node::Array(vec![value]),
        }
    }
}

/// `relatedFileInfo` -> vendor fields, `related.hash` and `file.hash.<algorithm>`.
fn related_file<'a>(
    f: &mut Fields<'a>,
    m: &mut Vendor<'a>,
    info: &Obj<'a>,
) -> Result<(), MapError> {
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
    if let Some(id) = &id {
        f.related("hash", id.clone().into());
    }
    if let (Some(id), Some(kind)) = (id, kind) {
        let kind = kind.to_lowercase();
        // Checked in Elastic's order: sha1, md5, sha256.
        if let Some(algo) = ["sha1", "md5", "sha256"]
            .into_iter()
            .find(|a| kind.contains(a))
        {
            f.touch("file");
            f.file_hash.push(algo, id);
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
        let text = record.to_string();
        let to_tree: crate::kinds::TreeFn = match opts.target {
            Target::Ecs => to_ecs,
            Target::Sentinel => to_sentinel,
        };
        crate::kinds::run_tree(to_tree, record, &text, opts)
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
