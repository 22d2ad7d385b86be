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
//!    `m365_defender.event.device.id`, `application.name`, `event.original` removal unless
//!    `preserve_original_event`, and the removal of empty values.
//!
//! Helpers for families (time conversion, renames, `related.*`) live in [`common`].
//!
//! Sentinel output is written in [`sentinel`]; [`to_sentinel`] only delegates.

use serde_json::{Map, Value};

use super::Input;
use crate::doc::Doc;
use crate::{MapError, Options};

mod common;
mod device;
mod sentinel;

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

/// The family function for a table, `None` for a table Elastic's pipeline does not map.
pub(crate) fn family_ecs(table: &str) -> Option<FamilyFn> {
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
        | "DeviceFileCertificateInfo" => device::map,
        "AlertInfo" | "AlertEvidence" => alert::map,
        "EmailAttachmentInfo" | "EmailEvents" | "EmailPostDeliveryEvents" | "EmailUrlInfo"
        | "UrlClickEvents" => email::map,
        "IdentityLogonEvents" | "IdentityQueryEvents" | "IdentityDirectoryEvents"
        | "IdentityInfo" => identity::map,
        "CloudAppEvents" => app::map,
        "BehaviorInfo" | "BehaviorEntities" => behavior::map,
        "MessageEvents" | "MessagePostDeliveryEvents" | "MessageUrlInfo" => message::map,
        "CloudAuditEvents" | "CloudProcessEvents" => cloud::map,
        _ => return None,
    };
    Some(f)
}

pub(crate) fn to_ecs(input: &Input<'_>, out: &mut Vec<Value>) -> Result<(), MapError> {
    let mut doc = Doc::new();
    let category = common::pre(input, &mut doc)?;
    let table = category.strip_prefix(CATEGORY_PREFIX).unwrap_or("");
    if let Some(family) = family_ecs(table) {
        let props = properties(input.record)?;
        let rec = Record { table, props, envelope: input.record, opts: input.opts };
        family(&rec, &mut doc)?;
    }
    common::post(input.opts, &mut doc);
    out.push(doc.into_value());
    Ok(())
}

pub(crate) fn to_sentinel(input: &Input<'_>, out: &mut Vec<Value>) -> Result<(), MapError> {
    sentinel::to_sentinel(input, out)
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
