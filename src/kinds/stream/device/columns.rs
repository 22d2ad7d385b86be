//! Device columns into `m365_defender.event.*`: JSON-in-string columns unpacked, dates, type
//! conversions, booleans, renames, IP checks; `AdditionalFields` with its DNS parts, the
//! network adapter name and the logged-on users.

use std::borrow::Cow;
use std::net::IpAddr;

use super::{additional, Ctx, Ev};
use crate::kinds::stream::processors::{long_decode, truthy};
use crate::kinds::stream::tree_common::date_string;
use crate::tree::{Doc, Node, Obj};
use crate::MapError;

/// Declares [`C`], one variant per column this step reads, [`NAMES`] and [`column`].
macro_rules! columns {
    ($($id:ident),* $(,)?) => {
        /// A column this step reads: an index into the columns found in a record.
        #[derive(Clone, Copy)]
        #[allow(clippy::upper_case_acronyms)]
        enum C {
            $($id,)*
        }
        /// Column names, by [`C`].
        const NAMES: &[&str] = &[$(stringify!($id),)*];
        /// The column a property is, by its name.
        fn column(name: &str) -> Option<C> {
            match name {
                $(stringify!($id) => Some(C::$id),)*
                _ => None,
            }
        }
    };
}

columns!(
    CrlDistributionPointUrls,
    LoggedOnUsers,
    ConnectedNetworks,
    DefaultGateways,
    DnsAddresses,
    IPAddresses,
    CertificateExpirationTime,
    InitiatingProcessCreationTime,
    InitiatingProcessParentCreationTime,
    ProcessCreationTime,
    CertificateCountersignatureTime,
    CertificateCreationTime,
    InitiatingProcessFileSize,
    InitiatingProcessLogonId,
    LogonId,
    ProcessId,
    ReportId,
    IPv4Dhcp,
    IPv6Dhcp,
    IsRootSignerMicrosoft,
    IsSigned,
    IsTrusted,
    IsAzureInfoProtectionApplied,
    IsAzureADJoined,
    IsLocalAdmin,
    FolderPath,
    MD5,
    SHA1,
    SHA256,
    FileName,
    FileSize,
    DeviceName,
    DeviceId,
    InitiatingProcessCommandLine,
    InitiatingProcessMD5,
    InitiatingProcessSHA1,
    InitiatingProcessSHA256,
    InitiatingProcessParentId,
    InitiatingProcessId,
    RegistryKey,
    RegistryValueName,
    CertificateSerialNumber,
    AccountName,
    RequestProtocol,
    ActionType,
    RequestAccountDomain,
    RequestAccountName,
    OSArchitecture,
    OSPlatform,
    OSDistribution,
    OSVersion,
    DeviceType,
    AccountDomain,
    ClientVersion,
    DeviceCategory,
    MacAddress,
    AccountSid,
    RequestAccountSid,
    AppGuardContainerId,
    FileOriginUrl,
    InitiatingProcessAccountDomain,
    InitiatingProcessAccountName,
    AccountObjectId,
    InitiatingProcessAccountObjectId,
    InitiatingProcessAccountSid,
    AccountUpn,
    InitiatingProcessAccountUpn,
    InitiatingProcessFileName,
    InitiatingProcessFolderPath,
    InitiatingProcessParentFileName,
    InitiatingProcessVersionInfoCompanyName,
    InitiatingProcessVersionInfoFileDescription,
    InitiatingProcessVersionInfoInternalFileName,
    InitiatingProcessVersionInfoOriginalFileName,
    InitiatingProcessVersionInfoProductName,
    InitiatingProcessVersionInfoProductVersion,
    ProcessCommandLine,
    ProcessTokenElevation,
    ProcessVersionInfoCompanyName,
    ProcessVersionInfoFileDescription,
    ProcessVersionInfoInternalFileName,
    ProcessVersionInfoOriginalFileName,
    ProcessVersionInfoProductName,
    ProcessVersionInfoProductVersion,
    RegistryValueData,
    RemoteDeviceName,
    RemoteUrl,
    Issuer,
    IssuerHash,
    SignatureType,
    Signer,
    SignerHash,
    FileOriginReferrerUrl,
    InitiatingProcessIntegrityLevel,
    InitiatingProcessTokenElevation,
    PreviousFileName,
    PreviousFolderPath,
    SensitivityLabel,
    SensitivitySubLabel,
    ShareName,
    FailureReason,
    AadDeviceId,
    DeviceSubType,
    JoinType,
    MachineGroup,
    MergedDeviceIds,
    MergedToDeviceId,
    SensorHealthState,
    IsExcluded,
    ExclusionReason,
    AssetValue,
    ExposureLevel,
    IsInternetFacing,
    DeviceManualTags,
    DeviceDynamicTags,
    Model,
    OnboardingStatus,
    OSBuild,
    OSVersionInfo,
    RegistryDeviceTag,
    Vendor,
    LogonType,
    Protocol,
    RemoteIPType,
    RegistryValueType,
    LocalIPType,
    NetworkAdapterStatus,
    NetworkAdapterType,
    NetworkAdapterVendor,
    TunnelType,
    InitiatingProcessSignatureStatus,
    InitiatingProcessSignerType,
    ProcessIntegrityLevel,
    PreviousRegistryKey,
    PreviousRegistryValueData,
    PreviousRegistryValueName,
    FileOriginIP,
    RemoteIP,
    LocalIP,
    RequestSourceIP,
    RequestSourcePort,
    RemotePort,
    LocalPort,
    PublicIP,
    AdditionalFields,
    NetworkAdapterName,
);

/// Number of columns in [`C`].
const COUNT: usize = NAMES.len();

/// Columns holding JSON text that the pipeline parses in place before renaming.
const JSON_COLUMNS: [C; 6] = [
    C::CrlDistributionPointUrls,
    C::LoggedOnUsers,
    C::ConnectedNetworks,
    C::DefaultGateways,
    C::DnsAddresses,
    C::IPAddresses,
];

/// Date columns (ISO 8601) and their targets under `m365_defender.event`.
const DATES: &[(C, &str)] = &[
    (
        C::CertificateExpirationTime,
        ev!("certificate.expiration_time"),
    ),
    (
        C::InitiatingProcessCreationTime,
        ev!("initiating_process.creation_time"),
    ),
    (
        C::InitiatingProcessParentCreationTime,
        ev!("initiating_process.parent_creation_time"),
    ),
    (C::ProcessCreationTime, ev!("process.creation_time")),
    (
        C::CertificateCountersignatureTime,
        ev!("certificate.countersignature_time"),
    ),
    (C::CertificateCreationTime, ev!("certificate.creation_time")),
];

#[derive(Clone, Copy)]
enum Conv {
    Long,
    Str,
    Ip,
}

/// `convert` processors: column, target, type.
const CONVERTS: &[(C, &str, Conv)] = &[
    (
        C::InitiatingProcessFileSize,
        ev!("initiating_process.file_size"),
        Conv::Long,
    ),
    (
        C::InitiatingProcessLogonId,
        ev!("initiating_process.logon_id"),
        Conv::Str,
    ),
    (C::LogonId, ev!("logon.id"), Conv::Str),
    (C::ProcessId, ev!("process.id"), Conv::Long),
    (C::ReportId, ev!("report_id"), Conv::Str),
    (C::IPv4Dhcp, ev!("ipv4_dhcp"), Conv::Ip),
    (C::IPv6Dhcp, ev!("ipv6_dhcp"), Conv::Ip),
];

/// Columns the pipeline turns into booleans (1/0, "1"/"0", "true"/"false", booleans).
const TRUTHY: &[(C, &str)] = &[
    (C::IsRootSignerMicrosoft, ev!("is_root_signer_microsoft")),
    (C::IsSigned, ev!("is_signed")),
    (C::IsTrusted, ev!("is_trusted")),
    (
        C::IsAzureInfoProtectionApplied,
        ev!("is_azure_info_protection_applied"),
    ),
    (C::IsAzureADJoined, ev!("is_azure_ad_joined")),
    (C::IsLocalAdmin, ev!("is_local_admin")),
];

/// Plain renames, column -> field under `m365_defender.event`.
const RENAMES: &[(C, &str)] = &[
    (C::FolderPath, ev!("folder_path")),
    (C::MD5, ev!("md5")),
    (C::SHA1, ev!("sha1")),
    (C::SHA256, ev!("sha256")),
    (C::FileName, ev!("file.name")),
    (C::FileSize, ev!("file.size")),
    (C::DeviceName, ev!("device.name")),
    (C::DeviceId, ev!("device.id")),
    (
        C::InitiatingProcessCommandLine,
        ev!("initiating_process.command_line"),
    ),
    (C::InitiatingProcessMD5, ev!("initiating_process.md5")),
    (C::InitiatingProcessSHA1, ev!("initiating_process.sha1")),
    (C::InitiatingProcessSHA256, ev!("initiating_process.sha256")),
    (
        C::InitiatingProcessParentId,
        ev!("initiating_process.parent_id"),
    ),
    (C::InitiatingProcessId, ev!("initiating_process.id")),
    (C::RegistryKey, ev!("registry.key")),
    (C::RegistryValueName, ev!("registry.value_name")),
    (C::CertificateSerialNumber, ev!("certificate.serial_number")),
    (C::AccountName, ev!("account.name")),
    (C::RequestProtocol, ev!("request.protocol")),
    (C::ActionType, ev!("action.type")),
    (C::RequestAccountDomain, ev!("request.account_domain")),
    (C::RequestAccountName, ev!("request.account_name")),
    (C::OSArchitecture, ev!("os.architecture")),
    (C::OSPlatform, ev!("os.platform")),
    (C::OSDistribution, ev!("os.distribution")),
    (C::OSVersion, ev!("os.version")),
    (C::DeviceType, ev!("device.type")),
    (C::AccountDomain, ev!("account.domain")),
    (C::ClientVersion, ev!("client_version")),
    (C::DeviceCategory, ev!("device.category")),
    (C::MacAddress, ev!("mac_address")),
    (C::AccountSid, ev!("account.sid")),
    (C::RequestAccountSid, ev!("request.account_sid")),
    (C::AppGuardContainerId, ev!("app_guard_container_id")),
    (C::FileOriginUrl, ev!("file.origin_url")),
    (
        C::InitiatingProcessAccountDomain,
        ev!("initiating_process.account_domain"),
    ),
    (
        C::InitiatingProcessAccountName,
        ev!("initiating_process.account_name"),
    ),
    (C::AccountObjectId, ev!("account.object_id")),
    (
        C::InitiatingProcessAccountObjectId,
        ev!("initiating_process.account_object_id"),
    ),
    (
        C::InitiatingProcessAccountSid,
        ev!("initiating_process.account_sid"),
    ),
    (C::AccountUpn, ev!("account.upn")),
    (
        C::InitiatingProcessAccountUpn,
        ev!("initiating_process.account_upn"),
    ),
    (
        C::InitiatingProcessFileName,
        ev!("initiating_process.file_name"),
    ),
    (
        C::InitiatingProcessFolderPath,
        ev!("initiating_process.folder_path"),
    ),
    (
        C::InitiatingProcessParentFileName,
        ev!("initiating_process.parent_file_name"),
    ),
    (
        C::InitiatingProcessVersionInfoCompanyName,
        ev!("initiating_process.version_info_company_name"),
    ),
    (
        C::InitiatingProcessVersionInfoFileDescription,
        ev!("initiating_process.version_info_file_description"),
    ),
    (
        C::InitiatingProcessVersionInfoInternalFileName,
        ev!("initiating_process.version_info_internal_file_name"),
    ),
    (
        C::InitiatingProcessVersionInfoOriginalFileName,
        ev!("initiating_process.version_info_original_file_name"),
    ),
    (
        C::InitiatingProcessVersionInfoProductName,
        ev!("initiating_process.version_info_product_name"),
    ),
    (
        C::InitiatingProcessVersionInfoProductVersion,
        ev!("initiating_process.version_info_product_version"),
    ),
    (C::ProcessCommandLine, ev!("process.command_line")),
    (C::ProcessTokenElevation, ev!("process.token_elevation")),
    (
        C::ProcessVersionInfoCompanyName,
        ev!("process.version_info_company_name"),
    ),
    (
        C::ProcessVersionInfoFileDescription,
        ev!("process.version_info_file_description"),
    ),
    (
        C::ProcessVersionInfoInternalFileName,
        ev!("process.version_info_internal_file_name"),
    ),
    (
        C::ProcessVersionInfoOriginalFileName,
        ev!("process.version_info_original_file_name"),
    ),
    (
        C::ProcessVersionInfoProductName,
        ev!("process.version_info_product_name"),
    ),
    (
        C::ProcessVersionInfoProductVersion,
        ev!("process.version_info_product_version"),
    ),
    (C::RegistryValueData, ev!("registry.value_data")),
    (C::RemoteDeviceName, ev!("remote.device_name")),
    (C::RemoteUrl, ev!("remote.url")),
    (
        C::CrlDistributionPointUrls,
        ev!("crl_distribution_point_urls"),
    ),
    (C::Issuer, ev!("issuer")),
    (C::IssuerHash, ev!("issuer_hash")),
    (C::SignatureType, ev!("signature_type")),
    (C::Signer, ev!("signer")),
    (C::SignerHash, ev!("signer_hash")),
    (C::FileOriginReferrerUrl, ev!("file.origin_referrer_url")),
    (
        C::InitiatingProcessIntegrityLevel,
        ev!("initiating_process.integrity_level"),
    ),
    (
        C::InitiatingProcessTokenElevation,
        ev!("initiating_process.token_elevation"),
    ),
    (C::PreviousFileName, ev!("previous.file_name")),
    (C::PreviousFolderPath, ev!("previous.folder_path")),
    (C::SensitivityLabel, ev!("sensitivity.label")),
    (C::SensitivitySubLabel, ev!("sensitivity.sub_label")),
    (C::ShareName, ev!("share_name")),
    (C::FailureReason, ev!("failure_reason")),
    (C::AadDeviceId, ev!("aad_device_id")),
    (C::DeviceSubType, ev!("device.sub_type")),
    (C::JoinType, ev!("join_type")),
    (C::MachineGroup, ev!("machine_group")),
    (C::MergedDeviceIds, ev!("merged_device_ids")),
    (C::MergedToDeviceId, ev!("merged_to_device_id")),
    (C::SensorHealthState, ev!("sensor_health_state")),
    (C::IsExcluded, ev!("is_excluded")),
    (C::ExclusionReason, ev!("exclusion_reason")),
    (C::AssetValue, ev!("asset_value")),
    (C::ExposureLevel, ev!("exposure_level")),
    (C::IsInternetFacing, ev!("is_internet_facing")),
    (C::DeviceManualTags, ev!("device_manual_tags")),
    (C::DeviceDynamicTags, ev!("device_dynamic_tags")),
    (C::Model, ev!("model")),
    (C::OnboardingStatus, ev!("onboarding_status")),
    (C::OSBuild, ev!("os.build")),
    (C::OSVersionInfo, ev!("os.version_info")),
    (C::RegistryDeviceTag, ev!("registry.device_tag")),
    (C::Vendor, ev!("vendor")),
    (C::LogonType, ev!("logon.type")),
    (C::Protocol, ev!("protocol")),
    (C::RemoteIPType, ev!("remote.ip_type")),
    (C::RegistryValueType, ev!("registry.value_type")),
    (C::LocalIPType, ev!("local.ip_type")),
    (C::ConnectedNetworks, ev!("connected_networks")),
    (C::DefaultGateways, ev!("default_gateways")),
    (C::DnsAddresses, ev!("dns_addresses")),
    (C::IPAddresses, ev!("ip_addresses")),
    (C::NetworkAdapterStatus, ev!("network.adapter_status")),
    (C::NetworkAdapterType, ev!("network.adapter_type")),
    (C::NetworkAdapterVendor, ev!("network.adapter_vendor")),
    (C::TunnelType, ev!("tunnel_type")),
    (
        C::InitiatingProcessSignatureStatus,
        ev!("initiating_process.signature_status"),
    ),
    (
        C::InitiatingProcessSignerType,
        ev!("initiating_process.signer_type"),
    ),
    (C::ProcessIntegrityLevel, ev!("process.integrity_level")),
    (C::PreviousRegistryKey, ev!("previous.registry_key")),
    (
        C::PreviousRegistryValueData,
        ev!("previous.registry_value_data"),
    ),
    (
        C::PreviousRegistryValueName,
        ev!("previous.registry_value_name"),
    ),
];

/// IP columns: kept only when they hold an IP address (the pipeline drops them otherwise).
const IPS: &[(C, &str)] = &[
    (C::FileOriginIP, ev!("file.origin_ip")),
    (C::RemoteIP, ev!("remote.ip")),
    (C::LocalIP, ev!("local.ip")),
    (C::RequestSourceIP, ev!("request.source_ip")),
];

/// Renamed after the IP checks.
const PORTS: &[(C, &str)] = &[
    (C::RequestSourcePort, ev!("request.source_port")),
    (C::RemotePort, ev!("remote.port")),
    (C::LocalPort, ev!("local.port")),
];

/// The properties of a record by column, moved out of it: each property is looked up in
/// [`column()`] once, instead of the record being searched for every entry of the tables above.
struct Cols<'a> {
    /// By [`C`]: the column's index in `values` + 1, 0 when the record does not have it.
    at: [u8; COUNT],
    values: Vec<Node<'a>>,
}

impl<'a> Cols<'a> {
    fn scan(props: Obj<'a>) -> Self {
        let mut cols = Cols {
            at: [0; COUNT],
            values: Vec::with_capacity(props.len().min(COUNT)),
        };
        for (k, v) in props {
            if let Some(c) = column(&k) {
                cols.values.push(v);
                // At most one value per column: `values` has at most COUNT (< 256) entries.
                cols.at[c as usize] = cols.values.len() as u8;
            }
        }
        cols
    }

    fn get(&self, c: C) -> Option<&Node<'a>> {
        match self.at[c as usize] {
            0 => None,
            i => Some(&self.values[usize::from(i) - 1]),
        }
    }

    /// Moves the column's value out (it is not read again).
    fn take(&mut self, c: C) -> Option<Node<'a>> {
        match self.at[c as usize] {
            0 => None,
            i => Some(self.values[usize::from(i) - 1].take()),
        }
    }
}

const _: () = assert!(COUNT < 256, "column indexes are bytes");

/// Which of [`JSON_COLUMNS`] a column is.
fn json_slot(c: C) -> Option<usize> {
    match c {
        C::CrlDistributionPointUrls => Some(0),
        C::LoggedOnUsers => Some(1),
        C::ConnectedNetworks => Some(2),
        C::DefaultGateways => Some(3),
        C::DnsAddresses => Some(4),
        C::IPAddresses => Some(5),
        _ => None,
    }
}

/// `action` is `ActionType` after the pipeline turned `*ImageLoaded` into `load`. The
/// `m365_defender.event.*` fields go to `ev`, everything else (errors, `related.user`) to `doc`.
pub(super) fn map<'a>(
    props: Obj<'a>,
    action: Option<Cow<'a, str>>,
    ctx: &Ctx<'_>,
    ev: &mut Ev<'a>,
    doc: &mut Doc<'a>,
) -> Result<(), MapError> {
    // The pipeline changes `json.properties` step by step: `ActionType` (load), the JSON
    // columns parsed in place. `cols` is the record's columns; the changed ones are apart.
    let mut cols = Cols::scan(props);
    additional::additional_fields(
        cols.get(C::AdditionalFields),
        action.as_deref(),
        ctx,
        ev,
        doc,
    );
    let mut parsed =
        JSON_COLUMNS.map(|c| additional::parse_json(cols.get(c), NAMES[c as usize], doc));
    let mut action = action.map(Node::Str);
    for (col, to) in DATES {
        if let Some(v @ Node::Str(s)) = cols.get(*col) {
            if !s.is_empty() {
                if let Some(d) = date_string(doc, Some(v)) {
                    ev.add(to, d);
                }
            }
        }
    }
    for (col, to, conv) in CONVERTS {
        let Some(v) = cols
            .get(*col)
            .filter(|v| !v.is_null() && v.as_str() != Some(""))
        else {
            continue;
        };
        match conv {
            Conv::Str => {
                if let Some(s) = v.to_text() {
                    ev.add(to, s);
                }
            }
            // Java's Long.decode and Elastic's messages, shared with the other families.
            Conv::Long => match v.as_str().map_or_else(|| v.as_i64(), long_decode) {
                Some(n) => ev.add(to, n),
                None => doc.append(
                    "error.message",
                    format!("unable to convert [{}] to long", text(v)),
                ),
            },
            Conv::Ip => {
                if is_ip(v) {
                    ev.add(to, v.clone());
                } else {
                    doc.append(
                        "error.message",
                        format!("'{}' is not an IP string literal.", text(v)),
                    );
                }
            }
        }
    }
    for (col, to) in TRUTHY {
        if let Some(b) = truthy(cols.get(*col)) {
            ev.add(to, b);
        }
    }
    for (col, to) in RENAMES {
        let v = match (*col, json_slot(*col)) {
            (C::ActionType, _) => action.take(),
            (_, Some(i)) => parsed[i].take(),
            _ => None,
        };
        // LoggedOnUsers, read again below, is not renamed: the others move.
        if let Some(v) = v.or_else(|| cols.take(*col)) {
            ev.add(to, v);
        }
    }
    for (col, to) in IPS {
        if let Some(v) = cols.take(*col).filter(is_ip) {
            ev.add(to, v);
        }
    }
    for (col, to) in PORTS {
        if let Some(v) = cols.take(*col) {
            ev.add(to, v);
        }
    }
    if let Some(v) = cols.take(C::PublicIP).filter(is_ip) {
        ev.add(ev!("public_ip.value"), v);
    }
    additional::adapter_name(cols.get(C::NetworkAdapterName), ev);
    let users = parsed[1].as_ref().or(cols.get(C::LoggedOnUsers));
    additional::logged_on_users(users, ev, doc);
    Ok(())
}

/// A value in an error message, as the processors render it (strings without quotes).
fn text(v: &Node<'_>) -> String {
    v.to_text().map(Cow::into_owned).unwrap_or_default()
}

fn is_ip(v: &Node<'_>) -> bool {
    v.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The step with its fields written into `doc`.
    fn map(
        props: &serde_json::Value,
        action: Option<&'static str>,
        ctx: &Ctx<'_>,
        doc: &mut Doc<'static>,
    ) -> Result<(), MapError> {
        let Node::Object(props) = Node::from_value(props.clone()) else {
            panic!("an object")
        };
        let mut ev = Ev::new();
        super::map(props, action.map(Cow::Borrowed), ctx, &mut ev, doc)?;
        ev.write(doc, true);
        Ok(())
    }

    #[test]
    fn every_column_is_found_by_its_name() {
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(column(name).map(|c| c as usize), Some(i), "{name}");
        }
        assert!(column("Timestamp").is_none());
    }

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
            &props,
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
            d.get("m365_defender.event.dns.answers").map(Node::to_value),
            Some(json!(["1.2.3.4"]))
        );
        assert_eq!(
            d.get("m365_defender.event.dns.header_flags")
                .map(Node::to_value),
            Some(json!(["RD"]))
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
            &props,
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
        map(&props, None, &ctx("DeviceInfo", vec!["host"]), &mut d).unwrap();
        assert_eq!(
            d.get("m365_defender.event.active_users")
                .map(Node::to_value),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            d.get("related.user").map(Node::to_value),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            d.get_str("m365_defender.event.network.adapter_name"),
            Some("ABC-123")
        );
        assert_eq!(
            d.get("m365_defender.event.is_azure_ad_joined")
                .map(Node::to_value),
            Some(json!(true))
        );
    }
}
