//! `MessageEvents`, `MessageUrlInfo` and `MessagePostDeliveryEvents` (Teams messages): Elastic
//! sends them through `pipeline_email` (see `email`) with these extra columns. Era: integration
//! 5.x (the `test-message` fixture, ecs 8.11.0).

use std::sync::OnceLock;

use super::email;
use super::processors::{copy, json_rename, related, renames_scan, truthies, Columns, Signatures};
use super::tree_common::sub;
use crate::tree::{Doc, Node};
use crate::MapError;

/// Teams columns renamed as they are.
const RENAMES: &[(&str, &str)] = &[
    ("TeamsMessageId", "m365_defender.event.teams_message_id"),
    (
        "SenderEmailAddress",
        "m365_defender.event.sender_email_address",
    ),
    ("SenderType", "m365_defender.event.sender_type"),
    ("MessageId", "m365_defender.event.message_id"),
    ("GroupId", "m365_defender.event.group_id"),
    ("GroupName", "m365_defender.event.group_name"),
    ("ThreadId", "m365_defender.event.thread_id"),
    ("ThreadName", "m365_defender.event.thread_name"),
    ("ThreadType", "m365_defender.event.thread_type"),
    (
        "MessageFormatType",
        "m365_defender.event.message_format_type",
    ),
    (
        "MessageFormatSubtype",
        "m365_defender.event.message_format_subtype",
    ),
    ("MessageType", "m365_defender.event.message_type"),
    ("MessageSubtype", "m365_defender.event.message_subtype"),
    ("MessageVersion", "m365_defender.event.message_version"),
    (
        "LatestDeliveryLocation",
        "m365_defender.event.latest_delivery_location",
    ),
    ("SenderObjectId", "m365_defender.event.sender.object_id"),
];
static RENAMES_SIGS: Signatures = OnceLock::new();

/// Teams columns through the pipeline's `isTruthy` script.
const BOOLEANS: &[(&str, &str)] = &[
    ("IsOwnedThread", "m365_defender.event.is_owned_thread"),
    ("IsExternalThread", "m365_defender.event.is_external_thread"),
];

pub(crate) fn map<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    email::pipeline(rec, doc, columns)?;
    let sender = doc.get("m365_defender.event.sender_email_address").cloned();
    related(doc, "email.from.address", sender.as_ref());
    related(doc, "related.user", sender.as_ref());
    copy(
        doc,
        "m365_defender.event.sender_email_address",
        "user.email",
    );
    // The sender address is split into ECS `user.name` and `user.domain`.
    if let Some(email) = doc
        .get("user.email")
        .and_then(Node::as_cow)
        .filter(|e| e.contains('@'))
    {
        let name = sub(&email, |e| e.split_once('@').map_or(e, |(n, _)| n));
        let domain = sub(&email, |e| e.split_once('@').map_or(e, |(_, d)| d));
        doc.set("user.name", name);
        doc.set("user.domain", domain);
    }
    copy(doc, "m365_defender.event.message_id", "email.message_id");
    copy(doc, "m365_defender.event.group_id", "user.group.id");
    copy(doc, "m365_defender.event.group_name", "user.group.name");
    Ok(())
}

fn columns<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    renames_scan(doc, rec.props, RENAMES, &RENAMES_SIGS);
    truthies(doc, rec.props, BOOLEANS);
    json_rename(
        doc,
        rec.props,
        "RecipientDetails",
        "m365_defender.event.recipient_details",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::processors::{at, run_family_with};
    use super::*;
    use crate::Options;
    use serde_json::json;

    #[test]
    fn sender_becomes_user_and_from_address() {
        let d = run_family_with(
            map,
            "MessageEvents",
            json!({"SenderEmailAddress": "testuser@example.com", "GroupId": "g1",
            "IsOwnedThread": true, "DetectionMethods": [], "MessageId": "m1"}),
            &Options::default(),
        );
        assert_eq!(
            at(&d, "email.from.address"),
            Some(json!(["testuser@example.com"]))
        );
        assert_eq!(d.get_str("user.name"), Some("testuser"));
        assert_eq!(d.get_str("user.domain"), Some("example.com"));
        assert_eq!(d.get_str("user.group.id"), Some("g1"));
        assert_eq!(d.get_str("email.message_id"), Some("m1"));
        assert_eq!(
            at(&d, "m365_defender.event.is_owned_thread"),
            Some(json!(true))
        );
        assert_eq!(at(&d, "event.category"), Some(json!(["email"])));
        // Teams records keep the default ECS version (only the Email* era is older).
        assert!(at(&d, "ecs.version").is_none());
    }
}
