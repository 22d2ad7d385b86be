//! Device columns into `m365_defender.event.*`: JSON-in-string columns unpacked, dates, type
//! conversions, booleans, renames, IP checks; `AdditionalFields` with its DNS parts, the
//! network adapter name and the logged-on users.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{additional, Ctx};
use crate::doc::{join, to_string_value, Doc};
use crate::kinds::stream::common::date;
use crate::kinds::stream::xdr_helpers;
use crate::MapError;

const EV: &str = "m365_defender.event";

/// Columns holding JSON text that the pipeline parses in place before renaming.
const JSON_COLUMNS: &[&str] = &[
    "CrlDistributionPointUrls",
    "LoggedOnUsers",
    "ConnectedNetworks",
    "DefaultGateways",
    "DnsAddresses",
    "IPAddresses",
];

/// Date columns (ISO 8601) and their targets under `m365_defender.event`.
const DATES: &[(&str, &str)] = &[
    ("CertificateExpirationTime", "certificate.expiration_time"),
    (
        "InitiatingProcessCreationTime",
        "initiating_process.creation_time",
    ),
    (
        "InitiatingProcessParentCreationTime",
        "initiating_process.parent_creation_time",
    ),
    ("ProcessCreationTime", "process.creation_time"),
    (
        "CertificateCountersignatureTime",
        "certificate.countersignature_time",
    ),
    ("CertificateCreationTime", "certificate.creation_time"),
];

#[derive(Clone, Copy)]
enum Conv {
    Long,
    Str,
    Ip,
}

/// `convert` processors: column, target, type.
const CONVERTS: &[(&str, &str, Conv)] = &[
    (
        "InitiatingProcessFileSize",
        "initiating_process.file_size",
        Conv::Long,
    ),
    (
        "InitiatingProcessLogonId",
        "initiating_process.logon_id",
        Conv::Str,
    ),
    ("LogonId", "logon.id", Conv::Str),
    ("ProcessId", "process.id", Conv::Long),
    ("ReportId", "report_id", Conv::Str),
    ("IPv4Dhcp", "ipv4_dhcp", Conv::Ip),
    ("IPv6Dhcp", "ipv6_dhcp", Conv::Ip),
];

/// Columns the pipeline turns into booleans (1/0, "1"/"0", "true"/"false", booleans).
const TRUTHY: &[(&str, &str)] = &[
    ("IsRootSignerMicrosoft", "is_root_signer_microsoft"),
    ("IsSigned", "is_signed"),
    ("IsTrusted", "is_trusted"),
    (
        "IsAzureInfoProtectionApplied",
        "is_azure_info_protection_applied",
    ),
    ("IsAzureADJoined", "is_azure_ad_joined"),
    ("IsLocalAdmin", "is_local_admin"),
];

/// Plain renames, column -> field under `m365_defender.event`.
const RENAMES: &[(&str, &str)] = &[
    ("FolderPath", "folder_path"),
    ("MD5", "md5"),
    ("SHA1", "sha1"),
    ("SHA256", "sha256"),
    ("FileName", "file.name"),
    ("FileSize", "file.size"),
    ("DeviceName", "device.name"),
    ("DeviceId", "device.id"),
    (
        "InitiatingProcessCommandLine",
        "initiating_process.command_line",
    ),
    ("InitiatingProcessMD5", "initiating_process.md5"),
    ("InitiatingProcessSHA1", "initiating_process.sha1"),
    ("InitiatingProcessSHA256", "initiating_process.sha256"),
    ("InitiatingProcessParentId", "initiating_process.parent_id"),
    ("InitiatingProcessId", "initiating_process.id"),
    ("RegistryKey", "registry.key"),
    ("RegistryValueName", "registry.value_name"),
    ("CertificateSerialNumber", "certificate.serial_number"),
    ("AccountName", "account.name"),
    ("RequestProtocol", "request.protocol"),
    ("ActionType", "action.type"),
    ("RequestAccountDomain", "request.account_domain"),
    ("RequestAccountName", "request.account_name"),
    ("OSArchitecture", "os.architecture"),
    ("OSPlatform", "os.platform"),
    ("OSDistribution", "os.distribution"),
    ("OSVersion", "os.version"),
    ("DeviceType", "device.type"),
    ("AccountDomain", "account.domain"),
    ("ClientVersion", "client_version"),
    ("DeviceCategory", "device.category"),
    ("MacAddress", "mac_address"),
    ("AccountSid", "account.sid"),
    ("RequestAccountSid", "request.account_sid"),
    ("AppGuardContainerId", "app_guard_container_id"),
    ("FileOriginUrl", "file.origin_url"),
    (
        "InitiatingProcessAccountDomain",
        "initiating_process.account_domain",
    ),
    (
        "InitiatingProcessAccountName",
        "initiating_process.account_name",
    ),
    ("AccountObjectId", "account.object_id"),
    (
        "InitiatingProcessAccountObjectId",
        "initiating_process.account_object_id",
    ),
    (
        "InitiatingProcessAccountSid",
        "initiating_process.account_sid",
    ),
    ("AccountUpn", "account.upn"),
    (
        "InitiatingProcessAccountUpn",
        "initiating_process.account_upn",
    ),
    ("InitiatingProcessFileName", "initiating_process.file_name"),
    (
        "InitiatingProcessFolderPath",
        "initiating_process.folder_path",
    ),
    (
        "InitiatingProcessParentFileName",
        "initiating_process.parent_file_name",
    ),
    (
        "InitiatingProcessVersionInfoCompanyName",
        "initiating_process.version_info_company_name",
    ),
    (
        "InitiatingProcessVersionInfoFileDescription",
        "initiating_process.version_info_file_description",
    ),
    (
        "InitiatingProcessVersionInfoInternalFileName",
        "initiating_process.version_info_internal_file_name",
    ),
    (
        "InitiatingProcessVersionInfoOriginalFileName",
        "initiating_process.version_info_original_file_name",
    ),
    (
        "InitiatingProcessVersionInfoProductName",
        "initiating_process.version_info_product_name",
    ),
    (
        "InitiatingProcessVersionInfoProductVersion",
        "initiating_process.version_info_product_version",
    ),
    ("ProcessCommandLine", "process.command_line"),
    ("ProcessTokenElevation", "process.token_elevation"),
    (
        "ProcessVersionInfoCompanyName",
        "process.version_info_company_name",
    ),
    (
        "ProcessVersionInfoFileDescription",
        "process.version_info_file_description",
    ),
    (
        "ProcessVersionInfoInternalFileName",
        "process.version_info_internal_file_name",
    ),
    (
        "ProcessVersionInfoOriginalFileName",
        "process.version_info_original_file_name",
    ),
    (
        "ProcessVersionInfoProductName",
        "process.version_info_product_name",
    ),
    (
        "ProcessVersionInfoProductVersion",
        "process.version_info_product_version",
    ),
    ("RegistryValueData", "registry.value_data"),
    ("RemoteDeviceName", "remote.device_name"),
    ("RemoteUrl", "remote.url"),
    ("CrlDistributionPointUrls", "crl_distribution_point_urls"),
    ("Issuer", "issuer"),
    ("IssuerHash", "issuer_hash"),
    ("SignatureType", "signature_type"),
    ("Signer", "signer"),
    ("SignerHash", "signer_hash"),
    ("FileOriginReferrerUrl", "file.origin_referrer_url"),
    (
        "InitiatingProcessIntegrityLevel",
        "initiating_process.integrity_level",
    ),
    (
        "InitiatingProcessTokenElevation",
        "initiating_process.token_elevation",
    ),
    ("PreviousFileName", "previous.file_name"),
    ("PreviousFolderPath", "previous.folder_path"),
    ("SensitivityLabel", "sensitivity.label"),
    ("SensitivitySubLabel", "sensitivity.sub_label"),
    ("ShareName", "share_name"),
    ("FailureReason", "failure_reason"),
    ("AadDeviceId", "aad_device_id"),
    ("DeviceSubType", "device.sub_type"),
    ("JoinType", "join_type"),
    ("MachineGroup", "machine_group"),
    ("MergedDeviceIds", "merged_device_ids"),
    ("MergedToDeviceId", "merged_to_device_id"),
    ("SensorHealthState", "sensor_health_state"),
    ("IsExcluded", "is_excluded"),
    ("ExclusionReason", "exclusion_reason"),
    ("AssetValue", "asset_value"),
    ("ExposureLevel", "exposure_level"),
    ("IsInternetFacing", "is_internet_facing"),
    ("DeviceManualTags", "device_manual_tags"),
    ("DeviceDynamicTags", "device_dynamic_tags"),
    ("Model", "model"),
    ("OnboardingStatus", "onboarding_status"),
    ("OSBuild", "os.build"),
    ("OSVersionInfo", "os.version_info"),
    ("RegistryDeviceTag", "registry.device_tag"),
    ("Vendor", "vendor"),
    ("LogonType", "logon.type"),
    ("Protocol", "protocol"),
    ("RemoteIPType", "remote.ip_type"),
    ("RegistryValueType", "registry.value_type"),
    ("LocalIPType", "local.ip_type"),
    ("ConnectedNetworks", "connected_networks"),
    ("DefaultGateways", "default_gateways"),
    ("DnsAddresses", "dns_addresses"),
    ("IPAddresses", "ip_addresses"),
    ("NetworkAdapterStatus", "network.adapter_status"),
    ("NetworkAdapterType", "network.adapter_type"),
    ("NetworkAdapterVendor", "network.adapter_vendor"),
    ("TunnelType", "tunnel_type"),
    (
        "InitiatingProcessSignatureStatus",
        "initiating_process.signature_status",
    ),
    (
        "InitiatingProcessSignerType",
        "initiating_process.signer_type",
    ),
    ("ProcessIntegrityLevel", "process.integrity_level"),
    ("PreviousRegistryKey", "previous.registry_key"),
    ("PreviousRegistryValueData", "previous.registry_value_data"),
    ("PreviousRegistryValueName", "previous.registry_value_name"),
];

/// IP columns: kept only when they hold an IP address (the pipeline drops them otherwise).
const IPS: &[(&str, &str)] = &[
    ("FileOriginIP", "file.origin_ip"),
    ("RemoteIP", "remote.ip"),
    ("LocalIP", "local.ip"),
    ("RequestSourceIP", "request.source_ip"),
];

/// Renamed after the IP checks.
const PORTS: &[(&str, &str)] = &[
    ("RequestSourcePort", "request.source_port"),
    ("RemotePort", "remote.port"),
    ("LocalPort", "local.port"),
];

/// `action` is `ActionType` after the pipeline turned `*ImageLoaded` into `load`.
pub(super) fn map(
    props: &Map<String, Value>,
    action: Option<&str>,
    ctx: &Ctx<'_>,
    doc: &mut Doc,
) -> Result<(), MapError> {
    // A working copy, changed step by step as the pipeline changes `json.properties`.
    let mut json = props.clone();
    if let Some(a) = action {
        json.insert("ActionType".into(), Value::from(a));
    }
    additional::additional_fields(&mut json, ctx, doc);
    for col in JSON_COLUMNS {
        additional::parse_json_column(&mut json, col, doc);
    }
    for (col, to) in DATES {
        if let Some(Value::String(s)) = json.get(*col) {
            if !s.is_empty() {
                date(doc, json.get(*col), &join(EV, to));
            }
        }
    }
    for (col, to, conv) in CONVERTS {
        convert(&json, col, to, *conv, doc);
    }
    for (col, to) in TRUTHY {
        if let Some(b) = json.get(*col).and_then(truthy) {
            doc.set(&join(EV, to), b);
        }
    }
    // The target path is only formatted for columns that are there (most are not).
    for (col, to) in RENAMES {
        if let Some(v) = json.get(*col).filter(|v| !v.is_null()) {
            doc.set(&join(EV, to), v.clone());
        }
    }
    for (col, to) in IPS {
        if json.get(*col).is_some_and(is_ip) {
            doc.set_opt(&join(EV, to), json.get(*col));
        }
    }
    for (col, to) in PORTS {
        if let Some(v) = json.get(*col).filter(|v| !v.is_null()) {
            doc.set(&join(EV, to), v.clone());
        }
    }
    if json.get("PublicIP").is_some_and(is_ip) {
        doc.set_opt(&join(EV, "public_ip.value"), json.get("PublicIP"));
    }
    additional::adapter_name(&json, doc);
    additional::logged_on_users(&json, doc);
    Ok(())
}

fn convert(json: &Map<String, Value>, col: &str, to: &str, conv: Conv, doc: &mut Doc) {
    let Some(v) = json
        .get(col)
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
    else {
        return;
    };
    let target = join(EV, to);
    match conv {
        Conv::Str => doc.set_some(&target, to_string_value(v).map(Value::from)),
        // Java's Long.decode and Elastic's messages, shared with the other families.
        Conv::Long => xdr_helpers::convert_long(doc, json, col, &target),
        Conv::Ip => xdr_helpers::convert_ip(doc, json, col, &target),
    }
}

fn is_ip(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok())
}

/// The pipeline's `isTruthy`: booleans, 1/0 (int-sized numbers), "1"/"0"/"true"/"false".
fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(table: &'static str, cats: Vec<&'static str>) -> Ctx<'static> {
        Ctx {
            table,
            cats,
            action: None,
        }
    }

    #[test]
    fn dns_parts_leave_additional_fields() {
        let props = json!({
            "ActionType": "DnsConnectionInspected",
            "AdditionalFields": "{\"direction\":\"Out\",\"query\":\"x.example\",\"answers\":\"[\\\"1.2.3.4\\\"]\",\"RD\":\"true\",\"AA\":\"false\"}"
        });
        let mut d = Doc::new();
        map(
            props.as_object().unwrap(),
            Some("DnsConnectionInspected"),
            &ctx("DeviceNetworkEvents", vec!["network"]),
            &mut d,
        )
        .unwrap();
        assert_eq!(
            d.get_str("m365_defender.event.network_direction"),
            Some("Out")
        );
        assert_eq!(
            d.get_str("m365_defender.event.dns.query"),
            Some("x.example")
        );
        assert_eq!(
            d.get("m365_defender.event.dns.answers"),
            Some(&json!(["1.2.3.4"]))
        );
        assert_eq!(
            d.get("m365_defender.event.dns.header_flags"),
            Some(&json!(["RD"]))
        );
        assert!(d
            .get("m365_defender.event.additional_fields.query")
            .is_none());
        assert_eq!(
            d.get_str("m365_defender.event.additional_fields.AA"),
            Some("false")
        );
    }

    #[test]
    fn bad_ip_is_dropped_and_ids_become_strings() {
        let props =
            json!({"RemoteIP": "not-an-ip", "LocalIP": "10.0.0.1", "ReportId": 42, "LogonId": 0});
        let mut d = Doc::new();
        map(
            props.as_object().unwrap(),
            None,
            &ctx("DeviceNetworkEvents", vec!["network"]),
            &mut d,
        )
        .unwrap();
        assert!(d.get("m365_defender.event.remote.ip").is_none());
        assert_eq!(d.get_str("m365_defender.event.local.ip"), Some("10.0.0.1"));
        assert_eq!(d.get_str("m365_defender.event.report_id"), Some("42"));
        assert_eq!(d.get_str("m365_defender.event.logon.id"), Some("0"));
    }

    #[test]
    fn logged_on_users_and_adapter_name() {
        let props = json!({
            "LoggedOnUsers": "[{\"UserName\":\"a\"},{\"UserName\":\"b\"}]",
            "NetworkAdapterName": "{ABC-123}",
            "IsAzureADJoined": 1
        });
        let mut d = Doc::new();
        map(
            props.as_object().unwrap(),
            None,
            &ctx("DeviceInfo", vec!["host"]),
            &mut d,
        )
        .unwrap();
        assert_eq!(
            d.get("m365_defender.event.active_users"),
            Some(&json!(["a", "b"]))
        );
        assert_eq!(d.get("related.user"), Some(&json!(["a", "b"])));
        assert_eq!(
            d.get_str("m365_defender.event.network.adapter_name"),
            Some("ABC-123")
        );
        assert_eq!(
            d.get("m365_defender.event.is_azure_ad_joined"),
            Some(&json!(true))
        );
    }
}
