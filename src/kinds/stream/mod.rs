//! Streaming-API (advanced hunting) records: `{"category": "AdvancedHunting-<Table>",
//! "properties": {…}, "time", "Tenant", "tenantId", "operationName"}`, as the Defender streaming
//! API writes them to Event Hubs / storage. ECS output reproduces Elastic's `m365_defender.event`
//! ingest pipeline: a default pipeline that does the shared steps and calls one sub-pipeline per
//! table family.
//!
//! # Hook contract for table families (ECS)
//!
//! [`to_ecs`] runs, in this order:
//! 1. [`common::pre`]: `ecs.version`, `event.original`, the envelope (`m365_defender.event.category`,
//!    `.operation_name`, `.tenant.*`, `.time`, `.timestamp`, `@timestamp`) and the error messages
//!    Elastic appends for a missing or unsupported category.
//! 2. the family function that [`family_ecs`] returns for the table, if any:
//!    `fn(&Record<'_>, &mut Doc) -> Result<(), MapError>`. It reads `rec.props` (the
//!    `properties` object) and writes `m365_defender.event.*` and the ECS fields its Elastic
//!    sub-pipeline writes, including that sub-pipeline's own cleanup (the
//!    `preserve_duplicate_custom_fields` removals, see [`common::remove_custom_duplicates`]).
//!    It must not do what step 3 does. Bad input: return `Err(MapError::field(<property>, …))`.
//! 3. [`common::post`]: the default pipeline's tail: `process.entity_id` / `parent.entity_id` from
//!    the pids, `process.name` from the command line, `cloud.instance.id` / `device.id` from
//!    `m365_defender.event.device.id`, `application.name` (not for the tables listed in
//!    `common`), and the removal of empty values.
//!
//! Helpers for families (time conversion, renames, `related.*`) live in [`common`].
//!
//! Issue 7 moves the mapping to the borrowed tree: [`to_ecs_tree`] (the kind's entry) runs the
//! same three steps there ([`tree_common`]'s `pre` and `post`) for the families ported so far
//! ([`Family::Device`], `device::map` on the moved `properties`), and gives the records of the
//! other families to [`to_ecs`] as a `Value` copy. A family is ported when its function takes
//! the tree; `common`'s `pre`/`post` go with the last `Value` family.
//!
//! Sentinel output is written in [`sentinel`]; [`to_sentinel`] only delegates.

use serde_json::{Map, Value};

use super::{Input, TreeInput};
use crate::doc::Doc;
use crate::tree::{self, Node, Obj};
use crate::{MapError, Options};

mod common;
mod device;
// Used by the families as they are ported to the tree (issue 7).
#[allow(dead_code)]
mod processors;
mod sentinel;
mod tree_common;

// Families written by other people; each exposes `pub(crate) fn map(&Record, &mut Doc)`.
mod alert;
mod app;
mod behavior;
mod cloud;
mod email;
mod identity;
mod message;
// Processor helpers of the families above (part 2), candidates for `common`.
mod xdr_helpers;

/// The prefix every streaming-API category carries.
pub(crate) const CATEGORY_PREFIX: &str = "AdvancedHunting-";

/// One streaming-API record as a family function sees it.
pub(crate) struct Record<'a> {
    /// The table: the category without `AdvancedHunting-` (`DeviceEvents`).
    pub table: &'a str,
    /// The `properties` object: the table's columns.
    pub props: &'a Map<String, Value>,
    /// The whole envelope, for a family whose sub-pipeline reads envelope fields.
    #[allow(dead_code)]
    pub envelope: &'a Map<String, Value>,
    pub opts: &'a Options,
}

/// Maps one table family's columns into a document (step 2 of the contract above).
pub(crate) type FamilyFn = fn(&Record<'_>, &mut Doc) -> Result<(), MapError>;

/// Runs one family function on a table's properties (with preserve_duplicate_custom_fields), for
/// the families' unit tests.
#[cfg(test)]
pub(crate) fn run_family(f: FamilyFn, table: &str, props: Value) -> Doc {
    let props: Map<String, Value> = props.as_object().cloned().unwrap_or_default();
    let envelope = Map::new();
    let opts = crate::Options {
        preserve_duplicate_custom_fields: true,
        ..crate::Options::default()
    };
    let rec = Record {
        table,
        props: &props,
        envelope: &envelope,
        opts: &opts,
    };
    let mut doc = Doc::new();
    f(&rec, &mut doc).expect("family maps the test record");
    doc
}

/// How a table family is mapped: the Device tables in the borrowed tree, the others (not yet
/// ported, issue 7) by a function of a `Value` copy of the record.
pub(crate) enum Family {
    Device,
    #[allow(dead_code)]
    Tree(processors::FamilyFn),
    Value(FamilyFn),
}

/// The family of a table, `None` for a table Elastic's pipeline does not map.
pub(crate) fn family_ecs(table: &str) -> Option<Family> {
    let f: FamilyFn = match table {
        "DeviceEvents"
        | "DeviceFileEvents"
        | "DeviceImageLoadEvents"
        | "DeviceInfo"
        | "DeviceLogonEvents"
        | "DeviceNetworkEvents"
        | "DeviceNetworkInfo"
        | "DeviceProcessEvents"
        | "DeviceRegistryEvents"
        | "DeviceFileCertificateInfo" => return Some(Family::Device),
        "AlertInfo" | "AlertEvidence" => return Some(Family::Tree(alert::map)),
        "EmailAttachmentInfo"
        | "EmailEvents"
        | "EmailPostDeliveryEvents"
        | "EmailUrlInfo"
        | "UrlClickEvents" => return Some(Family::Tree(email::map)),
        "IdentityLogonEvents"
        | "IdentityQueryEvents"
        | "IdentityDirectoryEvents"
        | "IdentityInfo" => return Some(Family::Tree(identity::map)),
        "CloudAppEvents" => return Some(Family::Tree(app::map)),
        "BehaviorInfo" | "BehaviorEntities" => return Some(Family::Tree(behavior::map)),
        "MessageEvents" | "MessagePostDeliveryEvents" | "MessageUrlInfo" => {
            return Some(Family::Tree(message::map))
        }
        "CloudAuditEvents" | "CloudProcessEvents" | "CloudStorageAggregatedEvents" => {
            return Some(Family::Tree(cloud::map))
        }
        _ => return None,
    };
    Some(Family::Value(f))
}

/// The ECS mapping in the borrowed tree (`kinds::tree_fn`). Tables of the families still
/// written for `Value` are mapped by [`to_ecs`] on a `Value` copy of the record.
pub(crate) fn to_ecs_tree<'a>(
    input: TreeInput<'a>,
    out: &mut Vec<Node<'a>>,
) -> Result<(), MapError> {
    let ported = match input.record.get("category").and_then(Node::as_str) {
        Some(c) => !matches!(
            family_ecs(c.strip_prefix(CATEGORY_PREFIX).unwrap_or("")),
            Some(Family::Value(_))
        ),
        // No category, or one that is not a string (an error either way): the shared steps.
        None => true,
    };
    if !ported {
        let Value::Object(record) = Node::Object(input.record).into_value() else {
            unreachable!("an object stays an object")
        };
        let mut docs = Vec::new();
        to_ecs(
            &Input {
                record: &record,
                original: input.original,
                opts: input.opts,
            },
            &mut docs,
        )?;
        for d in docs {
            out.push(Node::from_value(d));
        }
        return Ok(());
    }
    // Sized for the top-level objects of a document (`event`, `host`, `related`, …).
    let mut doc = tree::Doc(Obj::with_capacity(16));
    let (category, props) = tree_common::pre(input.record, input.original, &mut doc)?;
    let table = category.strip_prefix(CATEGORY_PREFIX).unwrap_or("");
    match family_ecs(table) {
        Some(Family::Device) => {
            let props = tree_common::properties(props)?;
            device::map(table, props, input.opts, &mut doc)?;
        }
        Some(Family::Tree(family)) => {
            let props = tree_common::properties(props)?;
            let cols = processors::Columns {
                table,
                props: &props,
                opts: input.opts,
            };
            family(&cols, &mut doc)?;
        }
        Some(Family::Value(_)) | None => {}
    }
    tree_common::post(table, &mut doc);
    out.push(doc.into_node());
    Ok(())
}

pub(crate) fn to_ecs(input: &Input<'_>, out: &mut Vec<Value>) -> Result<(), MapError> {
    // Sized for the top-level objects of a document (`event`, `host`, `related`, …).
    let mut doc = Doc(Map::with_capacity(16));
    let category = common::pre(input, &mut doc)?;
    let table = category.strip_prefix(CATEGORY_PREFIX).unwrap_or("");
    if let Some(Family::Value(family)) = family_ecs(table) {
        let props = properties(input.record)?;
        let rec = Record {
            table,
            props,
            envelope: input.record,
            opts: input.opts,
        };
        family(&rec, &mut doc)?;
    }
    common::post(table, &mut doc);
    out.push(doc.into_value());
    Ok(())
}

/// The Sentinel row of a record in the borrowed tree (what `kinds::map` runs).
pub(crate) fn to_sentinel_tree<'a>(
    input: TreeInput<'a>,
    out: &mut Vec<Node<'a>>,
) -> Result<(), MapError> {
    sentinel::to_sentinel(input.record, input.opts, out)
}

/// The `properties` object of an envelope; the columns of every table live there.
pub(crate) fn properties(record: &Map<String, Value>) -> Result<&Map<String, Value>, MapError> {
    match record.get("properties") {
        Some(Value::Object(p)) => Ok(p),
        None | Some(Value::Null) => Err(MapError::field(
            "properties",
            "missing: a streaming-API record carries its table's columns in `properties`",
        )),
        Some(other) => Err(MapError::field(
            "properties",
            format!("expected an object, got {}", crate::error::type_name(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ecs(record: Value) -> Result<Vec<Value>, MapError> {
        let opts = Options::default();
        let text = record.to_string();
        let Ok(Node::Object(record)) = tree::parse(&text) else {
            panic!("an object")
        };
        let input = TreeInput {
            record,
            original: &text,
            opts: &opts,
        };
        let mut out = Vec::new();
        to_ecs_tree(input, &mut out).map(|()| out.iter().map(Node::to_value).collect())
    }

    #[test]
    fn envelope_without_properties_names_the_field() {
        let err = ecs(
            json!({"category": "AdvancedHunting-DeviceEvents", "time": "2024-01-01T00:00:00Z"}),
        )
        .unwrap_err();
        assert_eq!(err.path.as_deref(), Some("properties"));
        let err =
            ecs(json!({"category": "AdvancedHunting-DeviceInfo", "properties": "x"})).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("properties"));
    }

    #[test]
    fn unknown_category_gives_a_document_with_error_message() {
        let docs = ecs(json!({
            "category": "AdvancedHunting-SomethingNew",
            "properties": {"Timestamp": "2024-01-01T00:00:00Z"}
        }))
        .unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0]["error"]["message"],
            json!(["The event category AdvancedHunting-SomethingNew is not supported."])
        );
        assert_eq!(docs[0]["@timestamp"], json!("2024-01-01T00:00:00.000Z"));
        // Elastic's event pipeline never removes event.original, whatever the options.
        assert!(docs[0]["event"]["original"]
            .as_str()
            .is_some_and(|o| o.contains("SomethingNew")));

        let docs = ecs(json!({"properties": {}})).unwrap();
        assert_eq!(
            docs[0]["error"]["message"],
            json!(["Missing required field: m365_defender.event.category."])
        );
    }

    #[test]
    fn one_table_per_family_has_a_mapping() {
        for table in [
            "DeviceEvents",
            "AlertInfo",
            "EmailEvents",
            "IdentityLogonEvents",
            "CloudAppEvents",
            "BehaviorInfo",
            "MessageEvents",
            "CloudAuditEvents",
        ] {
            assert!(family_ecs(table).is_some(), "{table}");
        }
        assert!(family_ecs("DeviceTvmSoftwareInventory").is_none());
    }

    #[test]
    fn device_info_end_to_end() {
        let docs = ecs(json!({
            "Tenant": "DefaultTenant",
            "category": "AdvancedHunting-DeviceInfo",
            "operationName": "Publish",
            "tenantId": "t-1",
            "time": "2024-01-01T00:00:01Z",
            "properties": {
                "Timestamp": "2024-01-01T00:00:00Z",
                "DeviceId": "dev1",
                "DeviceName": "HOST.Example",
                "OSPlatform": "Windows11",
                "ReportId": 7
            }
        }))
        .unwrap();
        let d = &docs[0];
        assert_eq!(d["event"]["category"], json!(["host"]));
        assert_eq!(d["host"]["name"], json!("host.example"));
        assert_eq!(d["host"]["os"]["type"], json!("windows"));
        assert_eq!(d["host"]["id"], json!("dev1"));
        // Elastic's device sub-pipeline drops m365_defender.event.device.id (a duplicate of
        // host.id) before the default pipeline copies it, so these only exist with
        // preserve_duplicate_custom_fields.
        assert!(d.get("device").is_none() && d.get("cloud").is_none());
        assert_eq!(d["m365_defender"]["event"]["report_id"], json!("7"));
        assert_eq!(d["m365_defender"]["event"]["tenant"]["id"], json!("t-1"));
        // Copied to ECS, so gone without preserve_duplicate_custom_fields.
        assert!(d["m365_defender"]["event"].get("device").is_none());
        assert_eq!(d["related"]["hosts"], json!(["dev1", "host.example"]));
    }

    #[test]
    fn non_string_category_is_an_error() {
        let err = ecs(json!({"category": 5, "properties": {}})).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("category"));
    }
}
