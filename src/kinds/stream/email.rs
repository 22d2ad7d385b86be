//! `EmailEvents`, `EmailAttachmentInfo`, `EmailUrlInfo`, `EmailPostDeliveryEvents` and
//! `UrlClickEvents`: Elastic's `pipeline_email` sub-pipeline (also used by the Teams `Message*`
//! tables, see `message`).
//!
//! Era: the `test-email` fixture is older than the others (ecs 8.10.0, no geo for sender
//! addresses); that is what is reproduced here, `ecs.version` included.

use std::sync::OnceLock;

use super::processors::{
    convert_ip, convert_string, copy, event_action, json_rename, longs, prop, related_from,
    remove_custom_duplicates, renames_scan, truthies, uri_parts, Columns, Duplicates, FamilyFn,
    Signatures,
};
use crate::tree::Doc;
use crate::MapError;

/// The ECS version the email fixture's pipeline era sets.
const EMAIL_ECS_VERSION: &str = "8.10.0";

/// Columns renamed as they are.
const RENAMES: &[(&str, &str)] = &[
    (
        "SenderFromAddress",
        "m365_defender.event.sender.from_address",
    ),
    ("NetworkMessageId", "m365_defender.event.network.message_id"),
    ("FileType", "m365_defender.event.file.type"),
    (
        "RecipientEmailAddress",
        "m365_defender.event.recipient.email_address",
    ),
    ("ActionType", "m365_defender.event.action.type"),
    ("SHA256", "m365_defender.event.sha256"),
    ("FileName", "m365_defender.event.file.name"),
    ("EmailDirection", "m365_defender.event.email.direction"),
    ("Subject", "m365_defender.event.subject"),
    (
        "RecipientObjectId",
        "m365_defender.event.recipient.object_id",
    ),
    (
        "SenderDisplayName",
        "m365_defender.event.sender.display_name",
    ),
    ("SenderObjectId", "m365_defender.event.sender.object_id"),
    ("ThreatNames", "m365_defender.event.threat.names"),
    ("ThreatTypes", "m365_defender.event.threat.types"),
    (
        "AuthenticationDetails",
        "m365_defender.event.authentication_details",
    ),
    ("Connectors", "m365_defender.event.connectors"),
    ("DeliveryAction", "m365_defender.event.delivery.action"),
    ("DeliveryLocation", "m365_defender.event.delivery.location"),
    ("EmailAction", "m365_defender.event.email.action"),
    (
        "EmailActionPolicy",
        "m365_defender.event.email.action_policy",
    ),
    (
        "EmailActionPolicyGuid",
        "m365_defender.event.email.action_policy_guid",
    ),
    ("EmailLanguage", "m365_defender.event.email.language"),
    (
        "InternetMessageId",
        "m365_defender.event.internet_message_id",
    ),
    ("OrgLevelAction", "m365_defender.event.org_level.action"),
    ("OrgLevelPolicy", "m365_defender.event.org_level.policy"),
    ("SenderFromDomain", "m365_defender.event.sender.from_domain"),
    (
        "SenderMailFromAddress",
        "m365_defender.event.sender.mail_from_address",
    ),
    (
        "SenderMailFromDomain",
        "m365_defender.event.sender.mail_from_domain",
    ),
    ("UserLevelAction", "m365_defender.event.user_level_action"),
    ("UserLevelPolicy", "m365_defender.event.user_level_policy"),
    ("ActionResult", "m365_defender.event.action.result"),
    ("ActionTrigger", "m365_defender.event.action.trigger"),
    ("Action", "m365_defender.event.action.value"),
    ("Url", "m365_defender.event.url"),
    ("UrlDomain", "m365_defender.event.url_domain"),
    ("UrlLocation", "m365_defender.event.url_location"),
    ("AccountUpn", "m365_defender.event.account.upn"),
    ("UrlChain", "m365_defender.event.url_chain"),
    ("Workload", "m365_defender.event.workload"),
];
static RENAMES_SIGS: Signatures = OnceLock::new();

/// Columns converted to long.
const LONGS: &[(&str, &str)] = &[
    ("FileSize", "m365_defender.event.file.size"),
    ("AttachmentCount", "m365_defender.event.attachment_count"),
    (
        "BulkComplaintLevel",
        "m365_defender.event.bulk_complaint_level",
    ),
    ("UrlCount", "m365_defender.event.url_count"),
];

/// Columns through the pipeline's `isTruthy` script.
const BOOLEANS: &[(&str, &str)] = &[("IsClickedThrough", "m365_defender.event.is_clicked_through")];

/// `(ECS field, vendor field)` copies (`set copy_from`, empty values skipped).
const COPIES: &[(&str, &str)] = &[
    ("file.extension", "m365_defender.event.file.type"),
    ("file.hash.sha256", "m365_defender.event.sha256"),
    ("file.name", "m365_defender.event.file.name"),
    ("file.size", "m365_defender.event.file.size"),
];

/// Vendor fields copied to ECS, dropped unless `preserve_duplicate_custom_fields`.
static DUPLICATES: Duplicates = Duplicates::new(&[
    "m365_defender.event.sender.from_address",
    "m365_defender.event.network.message_id",
    "m365_defender.event.recipient.email_address",
    "m365_defender.event.file.type",
    "m365_defender.event.sha256",
    "m365_defender.event.file.name",
    "m365_defender.event.file.size",
    "m365_defender.event.email.direction",
    "m365_defender.event.subject",
    "m365_defender.event.sender.ipv4",
    "m365_defender.event.sender.ipv6",
    "m365_defender.event.ip_address",
    "m365_defender.event.action.type",
]);

pub(crate) fn map<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    doc.set("ecs.version", EMAIL_ECS_VERSION);
    pipeline(rec, doc, |_, _| Ok(()))
}

/// `pipeline_email`; `extra` maps the calling family's own columns after the renames.
pub(crate) fn pipeline<'a>(
    rec: &Columns<'_, 'a>,
    doc: &mut Doc<'a>,
    extra: FamilyFn,
) -> Result<(), MapError> {
    let p = rec.props;
    let url_clicks = rec.table.eq_ignore_ascii_case("UrlClickEvents");
    doc.set("event.kind", "event");
    if !url_clicks {
        doc.append("event.category", "email");
    }
    if prop(p, "FileType").is_some() {
        doc.append("event.category", "file");
    }
    if !url_clicks || doc.get("event.type").is_none() {
        doc.append("event.type", "info");
    }

    json_rename(
        doc,
        p,
        "DetectionMethods",
        "m365_defender.event.detection.methods",
    );
    json_rename(
        doc,
        p,
        "ConfidenceLevel",
        "m365_defender.event.confidence_level",
    );
    json_rename(
        doc,
        p,
        "AdditionalFields",
        "m365_defender.event.additional_fields",
    );
    truthies(doc, p, BOOLEANS);
    convert_string(
        doc,
        p,
        "EmailClusterId",
        "m365_defender.event.email.cluster_id",
    );
    convert_ip(doc, p, "IPAddress", "m365_defender.event.ip_address");
    convert_ip(doc, p, "SenderIPv4", "m365_defender.event.sender.ipv4");
    convert_ip(doc, p, "SenderIPv6", "m365_defender.event.sender.ipv6");
    convert_string(doc, p, "ReportId", "m365_defender.event.report_id");
    longs(doc, p, LONGS);
    renames_scan(doc, p, RENAMES, &RENAMES_SIGS);
    extra(rec, doc)?;

    for (to, from) in COPIES {
        copy(doc, from, to);
    }
    event_action(doc);
    for (field, from) in [
        (
            "email.from.address",
            "m365_defender.event.sender.from_address",
        ),
        (
            "email.to.address",
            "m365_defender.event.recipient.email_address",
        ),
    ] {
        related_from(doc, field, from);
    }
    copy(
        doc,
        "m365_defender.event.network.message_id",
        "email.message_id",
    );
    copy(
        doc,
        "m365_defender.event.email.direction",
        "email.direction",
    );
    copy(doc, "m365_defender.event.subject", "email.subject");
    copy(
        doc,
        "m365_defender.event.internet_message_id",
        "email.local_id",
    );
    for from in [
        "m365_defender.event.sender.ipv4",
        "m365_defender.event.sender.ipv6",
    ] {
        related_from(doc, "source.ip", from);
    }
    copy(doc, "m365_defender.event.ip_address", "host.ip");
    uri_parts(doc, "m365_defender.event.url");

    for (field, from) in [
        ("related.user", "m365_defender.event.sender.from_address"),
        (
            "related.user",
            "m365_defender.event.recipient.email_address",
        ),
        ("related.hash", "file.hash.sha256"),
        ("related.ip", "m365_defender.event.sender.ipv4"),
        ("related.ip", "m365_defender.event.sender.ipv6"),
        ("related.ip", "m365_defender.event.ip_address"),
        ("related.hosts", "m365_defender.event.sender.from_domain"),
        (
            "related.hosts",
            "m365_defender.event.sender.mail_from_domain",
        ),
        ("related.hosts", "m365_defender.event.url_domain"),
    ] {
        related_from(doc, field, from);
    }
    remove_custom_duplicates(rec.opts, doc, &DUPLICATES);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::processors::{at, run_family_with};
    use super::*;
    use crate::Options;
    use serde_json::{json, Value};

    fn run(table: &str, props: Value, keep: bool) -> Doc<'static> {
        let opts = Options {
            preserve_duplicate_custom_fields: keep,
            ..Options::default()
        };
        run_family_with(map, table, props, &opts)
    }

    #[test]
    fn email_event_addresses_and_ips() {
        let d = run(
            "EmailEvents",
            json!({"SenderFromAddress": "a@x.com", "RecipientEmailAddress": "b@y.com", "SenderIPv4": "81.2.69.144",
                "SenderIPv6": "2a02:cf40::", "EmailClusterId": 383769773, "ActionType": "Phish ZAP"}),
            false,
        );
        assert_eq!(d.get_str("ecs.version"), Some("8.10.0"));
        assert_eq!(
            at(&d, "source.ip"),
            Some(json!(["81.2.69.144", "2a02:cf40::"]))
        );
        assert_eq!(at(&d, "related.user"), Some(json!(["a@x.com", "b@y.com"])));
        assert_eq!(
            d.get_str("m365_defender.event.email.cluster_id"),
            Some("383769773")
        );
        assert_eq!(d.get_str("event.action"), Some("phish-zap"));
        // Copied to ECS, so dropped without preserve_duplicate_custom_fields.
        assert!(at(&d, "m365_defender.event.sender.from_address").is_none());
        assert_eq!(at(&d, "event.category"), Some(json!(["email"])));
    }

    #[test]
    fn url_clicks_have_no_email_category() {
        let d = run(
            "UrlClickEvents",
            json!({"IsClickedThrough": "1", "Url": "https://h.example/p?q=1"}),
            true,
        );
        assert!(at(&d, "event.category").is_none());
        assert_eq!(at(&d, "event.type"), Some(json!(["info"])));
        assert_eq!(
            at(&d, "m365_defender.event.is_clicked_through"),
            Some(json!(true))
        );
        assert_eq!(d.get_str("url.domain"), Some("h.example"));
        assert_eq!(d.get_str("url.query"), Some("q=1"));
    }
}
