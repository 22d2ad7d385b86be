//! Streaming-API (advanced hunting) records: `{"category": "AdvancedHunting-<Table>",
//! "properties": {…}, "time", "Tenant", "tenantId", "operationName"}`, as the Defender streaming
//! API writes them to Event Hubs / storage. ECS output reproduces Elastic's `m365_defender.event`
//! ingest pipeline: a default pipeline that does the shared steps and calls one sub-pipeline per
//! table family.
//!
//! # Hook contract for table families (ECS)
//!
//! [`to_ecs_tree`] runs, in this order, on the borrowed tree (strings borrow the record):
//! 1. [`tree_common::pre`]: `ecs.version`, `event.original`, the envelope
//!    (`m365_defender.event.category`, `.operation_name`, `.tenant.*`, `.time`, `.timestamp`,
//!    `@timestamp`) and the error messages Elastic appends for a missing or unsupported category.
//! 2. the family that [`family_ecs`] returns for the table, if any: the Device tables
//!    (`device::map`), or a [`processors::FamilyFn`]
//!    `fn(&Columns<'_, 'a>, &mut Doc<'a>) -> Result<(), MapError>`. It reads `cols.props` (the
//!    `properties` object) and writes `m365_defender.event.*` and the ECS fields its Elastic
//!    sub-pipeline writes, including that sub-pipeline's own cleanup (the
//!    `preserve_duplicate_custom_fields` removals, see [`processors::remove_custom_duplicates`]).
//!    It must not do what step 3 does. Bad input: return `Err(MapError::field(<property>, …))`.
//! 3. [`tree_common::post`]: the default pipeline's tail: `process.entity_id` /
//!    `parent.entity_id` from the pids, `process.name` from the command line,
//!    `cloud.instance.id` / `device.id` from `m365_defender.event.device.id`,
//!    `application.name` (not for the tables listed in `common`), and the removal of empty
//!    values.
//!
//! The processors the families share (renames, converts, `related.*`, `uri_parts`, …) live in
//! [`processors`]; the envelope tables and Java-compatible string rules in [`common`].
//!
//! Sentinel output is written in [`sentinel`]; [`to_sentinel`] only delegates.

use super::TreeInput;
use crate::tree::{self, Node, Obj};
use crate::MapError;

mod common;
mod device;
mod processors;
mod sentinel;
mod tree_common;

// The families; each exposes a `processors::FamilyFn` named `map`.
mod alert;
mod app;
mod behavior;
mod cloud;
mod email;
mod identity;
mod message;

/// The prefix every streaming-API category carries.
pub(crate) const CATEGORY_PREFIX: &str = "AdvancedHunting-";

/// How a table family is mapped: the Device tables by `device::map` (which takes the
/// `properties` object by value), the others by a [`processors::FamilyFn`].
pub(crate) enum Family {
    Device,
    Tree(processors::FamilyFn),
}

/// The family of a table, `None` for a table Elastic's pipeline does not map.
pub(crate) fn family_ecs(table: &str) -> Option<Family> {
    let f: processors::FamilyFn = match table {
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
        "AlertInfo" | "AlertEvidence" => alert::map,
        "EmailAttachmentInfo"
        | "EmailEvents"
        | "EmailPostDeliveryEvents"
        | "EmailUrlInfo"
        | "UrlClickEvents" => email::map,
        "IdentityLogonEvents"
        | "IdentityQueryEvents"
        | "IdentityDirectoryEvents"
        | "IdentityInfo" => identity::map,
        "CloudAppEvents" => app::map,
        "BehaviorInfo" | "BehaviorEntities" => behavior::map,
        "MessageEvents" | "MessagePostDeliveryEvents" | "MessageUrlInfo" => message::map,
        "CloudAuditEvents" | "CloudProcessEvents" | "CloudStorageAggregatedEvents" => cloud::map,
        _ => return None,
    };
    Some(Family::Tree(f))
}

/// The ECS mapping (`kinds::tree_fn`).
pub(crate) fn to_ecs_tree<'a>(
    input: TreeInput<'a>,
    out: &mut Vec<Node<'a>>,
) -> Result<(), MapError> {
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
        None => {}
    }
    tree_common::post(table, &mut doc);
    out.push(doc.into_node());
    Ok(())
}

/// The Sentinel row of a record in the borrowed tree (what `kinds::map` runs).
pub(crate) fn to_sentinel_tree<'a>(
    input: TreeInput<'a>,
    out: &mut Vec<Node<'a>>,
) -> Result<(), MapError> {
    sentinel::to_sentinel(input.record, input.opts, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;
    use serde_json::{json, Value};

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
