//! `IdentityLogonEvents`, `IdentityQueryEvents`, `IdentityDirectoryEvents` and `IdentityInfo`:
//! Elastic's `pipeline_app_and_identity` sub-pipeline, which `app` (CloudAppEvents) and `cloud`
//! (CloudAuditEvents, CloudStorageAggregatedEvents) also run.
//!
//! Era: the `test-app-and-identity` fixture (ecs 8.11.0, with `IdentityInfo` as `event.kind:
//! asset`). That fixture has no geo enrichment and no `client.ip` for these tables.

use std::borrow::Cow;
use std::sync::OnceLock;

use super::processors::{
    convert_ip, convert_string, copy, event_action, json_rename, longs, lowercase, related_from,
    remove_custom_duplicates, renames, renames_scan, truthies, user_agent, Columns, Duplicates,
    FamilyFn, Signatures,
};
use crate::tree::{Doc, Node};
use crate::MapError;

/// Columns renamed as they are.
const RENAMES: &[(&str, &str)] = &[
    ("AccountName", "m365_defender.event.account.name"),
    ("AccountSid", "m365_defender.event.account.sid"),
    ("AccountDomain", "m365_defender.event.account.domain"),
    ("DeviceType", "m365_defender.event.device.type"),
    ("ActionType", "m365_defender.event.action.type"),
    ("OSPlatform", "m365_defender.event.os.platform"),
    ("DeviceName", "m365_defender.event.device.name"),
    ("TargetDeviceName", "m365_defender.event.target.device_name"),
    ("Isp", "m365_defender.event.isp"),
    ("ISP", "m365_defender.event.isp"),
    ("AccountObjectId", "m365_defender.event.account.object_id"),
    (
        "AccountDisplayName",
        "m365_defender.event.account.display_name",
    ),
    ("UserAgent", "m365_defender.event.user_agent"),
    ("CountryCode", "m365_defender.event.country_code"),
    ("Protocol", "m365_defender.event.protocol"),
    ("AccountUpn", "m365_defender.event.account.upn"),
    ("Application", "m365_defender.event.application"),
    (
        "DestinationDeviceName",
        "m365_defender.event.destination.device_name",
    ),
    ("FailureReason", "m365_defender.event.failure_reason"),
    ("Location", "m365_defender.event.location"),
    ("AccountType", "m365_defender.event.account.type"),
    ("LogonType", "m365_defender.event.logon.type"),
    ("AccountId", "m365_defender.event.account.id"),
    (
        "TargetAccountDisplayName",
        "m365_defender.event.target.account_display_name",
    ),
    ("Query", "m365_defender.event.query.value"),
    ("QueryTarget", "m365_defender.event.query.target"),
    ("QueryType", "m365_defender.event.query.type"),
    ("TargetAccountUpn", "m365_defender.event.target.account_upn"),
    ("ActivityType", "m365_defender.event.activity.type"),
    ("IPCategory", "m365_defender.event.ip_category"),
    ("IPTags", "m365_defender.event.ip_tags"),
    ("ObjectId", "m365_defender.event.object.id"),
    ("ObjectName", "m365_defender.event.object.name"),
    ("ObjectType", "m365_defender.event.object.type"),
    ("UserAgentTags", "m365_defender.event.user_agent_tags"),
];
static RENAMES_SIGS: Signatures = OnceLock::new();

/// Columns converted to long.
const LONGS: &[(&str, &str)] = &[
    ("DestinationPort", "m365_defender.event.destination.port"),
    ("AppInstanceId", "m365_defender.event.app_instance_id"),
    ("Port", "m365_defender.event.port"),
];

/// Columns through the pipeline's `isTruthy` script.
const BOOLEANS: &[(&str, &str)] = &[
    ("IsAdminOperation", "m365_defender.event.is_admin_operation"),
    ("IsAnonymousProxy", "m365_defender.event.is_anonymous_proxy"),
    ("IsExternalUser", "m365_defender.event.is_external_user"),
    ("IsImpersonated", "m365_defender.event.is_impersonated"),
];

/// `IdentityInfo` columns: the account's directory attributes live under `account.*`.
const IDENTITY_INFO_RENAMES: &[(&str, &str)] = &[
    ("CloudSid", "m365_defender.event.account.cloud_sid"),
    ("OnPremSid", "m365_defender.event.account.on_prem_sid"),
    ("CreatedDateTime", "m365_defender.event.account.created"),
    ("Department", "m365_defender.event.account.department"),
    (
        "DistinguishedName",
        "m365_defender.event.account.distinguished_name",
    ),
    ("EmailAddress", "m365_defender.event.account.email_address"),
    ("GivenName", "m365_defender.event.account.given_name"),
    ("Surname", "m365_defender.event.account.surname"),
    ("JobTitle", "m365_defender.event.account.job_title"),
    ("Phone", "m365_defender.event.account.phone"),
    ("Manager", "m365_defender.event.account.manager"),
    ("CompanyName", "m365_defender.event.account.company_name"),
    ("City", "m365_defender.event.account.city"),
    ("State", "m365_defender.event.account.state"),
    ("Country", "m365_defender.event.account.country"),
    ("Address", "m365_defender.event.account.address"),
    ("EmployeeId", "m365_defender.event.account.employee_id"),
    (
        "SipProxyAddress",
        "m365_defender.event.account.sip_proxy_address",
    ),
    ("Tags", "m365_defender.event.account.tags"),
    (
        "AssignedRoles",
        "m365_defender.event.account.assigned_roles",
    ),
    ("ChangeSource", "m365_defender.event.change_source"),
    ("SourceProvider", "m365_defender.event.source_provider"),
    ("Type", "m365_defender.event.type"),
];
static IDENTITY_INFO_SIGS: Signatures = OnceLock::new();

/// `OSPlatform` substrings (lowercase) -> `host.os.type`, later entries winning.
const OS_TYPES: &[(&str, &str)] = &[
    ("windows", "windows"),
    ("linux", "linux"),
    ("macos", "macos"),
];

/// Vendor fields copied to ECS, dropped unless `preserve_duplicate_custom_fields`.
static DUPLICATES: Duplicates = Duplicates::new(&[
    "m365_defender.event.target.device_name",
    "m365_defender.event.destination.ip_address",
    "m365_defender.event.destination.port",
    "m365_defender.event.device.name",
    "m365_defender.event.ip_address",
    "m365_defender.event.os.platform",
    "m365_defender.event.device.type",
    "m365_defender.event.protocol",
    "m365_defender.event.account.domain",
    "m365_defender.event.account.sid",
    "m365_defender.event.account.id",
    "m365_defender.event.account.display_name",
    "m365_defender.event.account.name",
    "m365_defender.event.action.type",
    "m365_defender.event.report_id",
]);

pub(crate) fn map<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    pipeline(rec, doc, identity_info)
}

/// `pipeline_app_and_identity`; `extra` maps the calling table's own columns after the
/// renames, before the ECS fields are derived.
pub(crate) fn pipeline<'a>(
    rec: &Columns<'_, 'a>,
    doc: &mut Doc<'a>,
    extra: FamilyFn,
) -> Result<(), MapError> {
    let p = rec.props;
    let table = rec.table.to_ascii_lowercase();
    doc.set("event.kind", "event");
    if table.contains("identitylogonevents") {
        doc.append("event.category", "authentication");
    }
    doc.append("event.type", "info");

    json_rename(
        doc,
        p,
        "ActivityObjects",
        "m365_defender.event.activity.objects",
    );
    json_rename(doc, p, "RawEventData", "m365_defender.event.raw_event_data");
    json_rename(
        doc,
        p,
        "AdditionalFields",
        "m365_defender.event.additional_fields",
    );
    convert_ip(
        doc,
        p,
        "DestinationIPAddress",
        "m365_defender.event.destination.ip_address",
    );
    convert_ip(doc, p, "IPAddress", "m365_defender.event.ip_address");
    convert_string(doc, p, "ReportId", "m365_defender.event.report_id");
    convert_string(
        doc,
        p,
        "ApplicationId",
        "m365_defender.event.application_id",
    );
    longs(doc, p, LONGS);
    truthies(doc, p, BOOLEANS);
    // `City` is the sign-in city here; `IdentityInfo` maps it to the account instead.
    if table != "identityinfo" {
        renames(doc, p, &[("City", "m365_defender.event.city")]);
    }
    renames_scan(doc, p, RENAMES, &RENAMES_SIGS);
    extra(rec, doc)?;

    copy(
        doc,
        "m365_defender.event.target.device_name",
        "destination.domain",
    );
    copy(
        doc,
        "m365_defender.event.destination.ip_address",
        "destination.ip",
    );
    copy(
        doc,
        "m365_defender.event.destination.port",
        "destination.port",
    );
    copy(doc, "m365_defender.event.device.name", "host.name");
    lowercase(doc, "host.name");
    if let Some(ip) = doc
        .get("m365_defender.event.ip_address")
        .and_then(Node::as_cow)
        .filter(|s| !s.is_empty())
    {
        doc.append("host.ip", ip);
    }
    if let Some(platform) = doc
        .get_str("m365_defender.event.os.platform")
        .map(str::to_lowercase)
    {
        for (needle, os) in OS_TYPES {
            if platform.contains(needle) {
                doc.set("host.os.type", *os);
            }
        }
    }
    // IdentityQueryEvents carry the source computer's OS in AdditionalFields.
    if let Some(os) = doc
        .get("m365_defender.event.additional_fields.SourceComputerOperatingSystemType")
        .cloned()
    {
        doc.set("host.os.type", os);
    }
    copy(doc, "m365_defender.event.os.platform", "host.os.name");
    copy(doc, "m365_defender.event.device.type", "host.type");

    event_action(doc);
    if table == "identitylogonevents" {
        let failed = doc
            .get_str("m365_defender.event.failure_reason")
            .is_some_and(|f| !f.is_empty());
        doc.set("event.outcome", if failed { "failure" } else { "success" });
    }
    copy(doc, "m365_defender.event.report_id", "event.id");
    copy(doc, "m365_defender.event.protocol", "network.protocol");
    lowercase(doc, "network.protocol");

    copy(doc, "m365_defender.event.account.domain", "user.domain");
    if table.contains("identitylogonevents") {
        copy(doc, "m365_defender.event.account.sid", "user.id");
    }
    // No `ignore_empty_value` here: an empty account name blocks the display-name fallback.
    if let Some(name) = doc.get("m365_defender.event.account.name").cloned() {
        doc.set("user.name", name);
    }
    if table.contains("cloudappevents") {
        copy(doc, "m365_defender.event.account.id", "user.id");
    }
    if doc.get("user.name").is_none() {
        if let Some(name) = doc.get("m365_defender.event.account.display_name").cloned() {
            doc.set("user.name", name);
        }
    }
    user_agent(doc, "m365_defender.event.user_agent");

    for (field, from) in [
        ("related.user", "user.id"),
        ("related.user", "m365_defender.event.account.display_name"),
        (
            "related.user",
            "m365_defender.event.target.account_display_name",
        ),
        ("related.user", "m365_defender.event.account.cloud_sid"),
        ("related.user", "m365_defender.event.account.on_prem_sid"),
        ("related.user", "m365_defender.event.account.upn"),
        ("related.hosts", "destination.domain"),
        ("related.ip", "destination.ip"),
        ("related.hosts", "host.name"),
    ] {
        related_from(doc, field, from);
    }
    let ips: Vec<Cow<'a, str>> = match doc.get("host.ip") {
        Some(Node::Array(ips)) => ips.iter().filter_map(Node::to_text).collect(),
        _ => Vec::new(),
    };
    for ip in ips {
        doc.append("related.ip", ip);
    }
    for (field, from) in [
        ("related.ip", "client.ip"),
        ("related.hosts", "user.domain"),
        ("related.user", "m365_defender.event.account.name"),
    ] {
        related_from(doc, field, from);
    }
    remove_custom_duplicates(rec.opts, doc, &DUPLICATES);
    Ok(())
}

/// `IdentityInfo`: an inventory record of an account (`event.kind: asset`).
fn identity_info<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    if !rec.table.eq_ignore_ascii_case("IdentityInfo") {
        return Ok(());
    }
    renames_scan(doc, rec.props, IDENTITY_INFO_RENAMES, &IDENTITY_INFO_SIGS);
    truthies(
        doc,
        rec.props,
        &[("IsAccountEnabled", "m365_defender.event.account.is_enabled")],
    );
    doc.set("event.kind", "asset");
    doc.append("event.category", "iam");
    doc.append("event.type", "user");
    copy(doc, "m365_defender.event.account.object_id", "user.id");
    copy(
        doc,
        "m365_defender.event.account.email_address",
        "user.email",
    );
    copy(
        doc,
        "m365_defender.event.account.display_name",
        "user.full_name",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::processors::{at, run_family};
    use super::*;
    use serde_json::{json, Value};

    fn run(table: &str, props: Value) -> Doc<'static> {
        run_family(map, table, props)
    }

    #[test]
    fn logon_outcome_and_user() {
        let d = run(
            "IdentityLogonEvents",
            json!({"AccountSid": "S-1", "AccountName": "adm", "FailureReason": "Bad password", "IPAddress": "10.0.0.1",
                "OSPlatform": "Windows 10", "Protocol": "NTLM"}),
        );
        assert_eq!(d.get_str("event.outcome"), Some("failure"));
        assert_eq!(d.get_str("user.id"), Some("S-1"));
        assert_eq!(at(&d, "related.user"), Some(json!(["S-1", "adm"])));
        assert_eq!(at(&d, "host.ip"), Some(json!(["10.0.0.1"])));
        assert_eq!(d.get_str("host.os.type"), Some("windows"));
        assert_eq!(d.get_str("network.protocol"), Some("ntlm"));
        assert_eq!(at(&d, "event.category"), Some(json!(["authentication"])));
    }

    #[test]
    fn query_user_falls_back_to_display_name_and_ports_convert() {
        let d = run(
            "IdentityQueryEvents",
            json!({"AccountDisplayName": "PC$", "DestinationPort": "445", "Port": "x"}),
        );
        assert_eq!(d.get_str("user.name"), Some("PC$"));
        assert_eq!(at(&d, "destination.port"), Some(json!(445)));
        assert_eq!(
            at(&d, "error.message"),
            Some(json!(["unable to convert [x] to long"]))
        );
    }

    #[test]
    fn identity_info_is_an_asset() {
        let d = run(
            "IdentityInfo",
            json!({"AccountObjectId": "oid", "AccountName": "jdoe", "AccountDisplayName": "John", "CloudSid": "S-12",
                "OnPremSid": "S-5", "AccountUpn": "j@c.com", "EmailAddress": "j@c.com", "City": "X", "IsAccountEnabled": true}),
        );
        assert_eq!(d.get_str("event.kind"), Some("asset"));
        assert_eq!(at(&d, "event.type"), Some(json!(["info", "user"])));
        assert_eq!(
            at(&d, "related.user"),
            Some(json!(["oid", "John", "S-12", "S-5", "j@c.com", "jdoe"]))
        );
        assert_eq!(d.get_str("m365_defender.event.account.city"), Some("X"));
        assert!(at(&d, "m365_defender.event.city").is_none());
        assert_eq!(d.get_str("user.full_name"), Some("John"));
    }
}
