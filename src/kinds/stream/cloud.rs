//! Defender for Cloud tables: `CloudAuditEvents` and `CloudStorageAggregatedEvents` (Elastic
//! runs them through `pipeline_app_and_identity`, see `identity`, adding `client.ip` with geo)
//! and `CloudProcessEvents` (container processes, through `pipeline_device`, reproduced here
//! for the columns that table has). Era: integration 5.x (the `test-cloud` fixture).

use std::sync::OnceLock;

use super::identity;
use super::processors::{
    convert_ip, convert_string, copy, date, event_action, geoip, json_rename, longs, prop, related,
    remove_custom_duplicates, renames, renames_scan, split_command_line_into_process, truthies,
    user_agent, Columns, Duplicates, Signatures,
};
use crate::tree::Doc;
use crate::MapError;

/// `CloudAuditEvents` columns renamed as they are.
const AUDIT_RENAMES: &[(&str, &str)] = &[
    ("DataSource", "m365_defender.event.data_source"),
    (
        "OperationName",
        "m365_defender.event.properties_operation_name",
    ),
    ("ResourceId", "m365_defender.event.resource_id"),
    ("AuditSource", "m365_defender.event.audit_source"),
];

/// `CloudStorageAggregatedEvents` columns renamed as they are.
const STORAGE_RENAMES: &[(&str, &str)] = &[
    ("DataSource", "m365_defender.event.data_source"),
    ("SubscriptionId", "m365_defender.event.subscription_id"),
    ("ResourceGroup", "m365_defender.event.resource_group"),
    ("StorageAccount", "m365_defender.event.storage_account"),
    ("StorageContainer", "m365_defender.event.storage_container"),
    ("StorageFileShare", "m365_defender.event.storage_file_share"),
    ("ServiceType", "m365_defender.event.service_type"),
    ("UserAgentHeader", "m365_defender.event.user_agent_header"),
    (
        "OperationNamesList",
        "m365_defender.event.operation_names_list",
    ),
    (
        "AuthenticationType",
        "m365_defender.event.authentication_type",
    ),
    ("CountryName", "m365_defender.event.country_name"),
    ("CityName", "m365_defender.event.city_name"),
    ("ProvinceName", "m365_defender.event.province_name"),
    (
        "ClientSystemServiceName",
        "m365_defender.event.client_system_service_name",
    ),
    (
        "ClientCloudPlatformName",
        "m365_defender.event.client_cloud_platform_name",
    ),
    (
        "SuspiciousUserAgentName",
        "m365_defender.event.suspicious_user_agent_name",
    ),
];
static STORAGE_SIGS: Signatures = OnceLock::new();

/// `CloudStorageAggregatedEvents` counters (`convert` to long).
const STORAGE_LONGS: &[(&str, &str)] = &[
    ("OperationsCount", "m365_defender.event.operations_count"),
    (
        "SuccessfulOperationsCount",
        "m365_defender.event.successful_operations_count",
    ),
    (
        "FailedOperationsCount",
        "m365_defender.event.failed_operations_count",
    ),
    (
        "TotalResponseLength",
        "m365_defender.event.total_response_length",
    ),
    (
        "SuccessfulReadOperations",
        "m365_defender.event.successful_read_operations",
    ),
    (
        "DistinctGetOperations",
        "m365_defender.event.distinct_get_operations",
    ),
    (
        "AnonymousSuccessfulOperations",
        "m365_defender.event.anonymous_successful_operations",
    ),
];

/// `CloudStorageAggregatedEvents` flags (the `isTruthy` script).
const STORAGE_BOOLEANS: &[(&str, &str)] = &[
    (
        "HasAnonymousResourceNotFoundFailures",
        "m365_defender.event.has_anonymous_resource_not_found_failures",
    ),
    ("IsTorExitNode", "m365_defender.event.is_tor_exit_node"),
    (
        "IsKnownSuspiciousIp",
        "m365_defender.event.is_known_suspicious_ip",
    ),
    ("IsPrivateIp", "m365_defender.event.is_private_ip"),
];

/// `CloudStorageAggregatedEvents` times (`date` processor).
const STORAGE_DATES: &[(&str, &str)] = &[
    (
        "DataAggregationStartTime",
        "m365_defender.event.data_aggregation_start_time",
    ),
    (
        "DataAggregationEndTime",
        "m365_defender.event.data_aggregation_end_time",
    ),
    (
        "FirstEventTimestamp",
        "m365_defender.event.first_event_timestamp",
    ),
    (
        "LastEventTimestamp",
        "m365_defender.event.last_event_timestamp",
    ),
];

/// `CloudProcessEvents` columns renamed as they are.
const PROCESS_RENAMES: &[(&str, &str)] = &[
    ("AzureResourceId", "m365_defender.event.azure_resource_id"),
    ("AwsResourceName", "m365_defender.event.aws_resource_name"),
    (
        "GcpFullResourceName",
        "m365_defender.event.gcp_full_resource_name",
    ),
    (
        "ContainerImageName",
        "m365_defender.event.container_image_name",
    ),
    (
        "KubernetesNamespace",
        "m365_defender.event.kubernetes_namespace",
    ),
    (
        "KubernetesPodName",
        "m365_defender.event.kubernetes_pod_name",
    ),
    (
        "KubernetesResource",
        "m365_defender.event.kubernetes_resource",
    ),
    ("ContainerName", "m365_defender.event.container_name"),
    ("ContainerId", "m365_defender.event.container_id"),
    ("ActionType", "m365_defender.event.action.type"),
    ("FileName", "m365_defender.event.file.name"),
    ("FolderPath", "m365_defender.event.folder_path"),
    ("ProcessName", "m365_defender.event.process_name"),
    (
        "ParentProcessName",
        "m365_defender.event.parent_process_name",
    ),
    (
        "ProcessCommandLine",
        "m365_defender.event.process.command_line",
    ),
    (
        "ProcessCurrentWorkingDirectory",
        "m365_defender.event.process_current_working_directory",
    ),
    ("AccountName", "m365_defender.event.account.name"),
];
static PROCESS_SIGS: Signatures = OnceLock::new();

/// `CloudProcessEvents` ids (`convert` to long).
const PROCESS_LONGS: &[(&str, &str)] = &[
    ("ProcessId", "m365_defender.event.process.id"),
    ("ParentProcessId", "m365_defender.event.parent_process_id"),
    (
        "InitiatingProcessId",
        "m365_defender.event.initiating_process.id",
    ),
];

/// `CloudProcessEvents`: `(ECS field, vendor field)` copies.
const PROCESS_COPIES: &[(&str, &str)] = &[
    ("container.id", "m365_defender.event.container_id"),
    ("container.name", "m365_defender.event.container_name"),
    (
        "container.image.name",
        "m365_defender.event.container_image_name",
    ),
    (
        "orchestrator.namespace",
        "m365_defender.event.kubernetes_namespace",
    ),
    (
        "orchestrator.resource.name",
        "m365_defender.event.kubernetes_resource",
    ),
    ("process.pid", "m365_defender.event.process.id"),
    ("process.name", "m365_defender.event.process_name"),
    (
        "process.parent.name",
        "m365_defender.event.parent_process_name",
    ),
    (
        "process.parent.pid",
        "m365_defender.event.parent_process_id",
    ),
    (
        "process.command_line",
        "m365_defender.event.process.command_line",
    ),
    ("process.start", "m365_defender.event.process.creation_time"),
    (
        "process.working_directory",
        "m365_defender.event.process_current_working_directory",
    ),
    ("user.name", "m365_defender.event.account.name"),
];

/// Which resource column names the cloud (`cloud.provider`), first present wins.
const PROVIDERS: &[(&str, &str)] = &[
    ("m365_defender.event.azure_resource_id", "azure"),
    ("m365_defender.event.aws_resource_name", "aws"),
    ("m365_defender.event.gcp_full_resource_name", "gcp"),
];

/// `CloudProcessEvents` vendor fields copied to ECS, dropped unless
/// `preserve_duplicate_custom_fields` (the fixture keeps them; this list is our reading).
static PROCESS_DUPLICATES: Duplicates = Duplicates::new(&[
    "m365_defender.event.container_id",
    "m365_defender.event.container_name",
    "m365_defender.event.container_image_name",
    "m365_defender.event.process.id",
    "m365_defender.event.process_name",
    "m365_defender.event.parent_process_name",
    "m365_defender.event.parent_process_id",
    "m365_defender.event.process.command_line",
    "m365_defender.event.account.name",
]);

pub(crate) fn map<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    match rec.table {
        "CloudAuditEvents" => identity::pipeline(rec, doc, audit),
        "CloudStorageAggregatedEvents" => identity::pipeline(rec, doc, storage),
        "CloudProcessEvents" => process(rec, doc),
        other => Err(MapError::field(
            "category",
            format!("not a cloud table: {other}"),
        )),
    }
}

fn audit<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    renames(doc, rec.props, AUDIT_RENAMES);
    doc.append("event.category", "configuration");
    copy(doc, "m365_defender.event.ip_address", "client.ip");
    geoip(rec.opts, doc, "client.ip", "client.geo");
    Ok(())
}

fn storage<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    let p = rec.props;
    convert_ip(
        doc,
        p,
        "IpAddress",
        "m365_defender.event.storage_ip_address",
    );
    convert_string(
        doc,
        p,
        "AccountTenantId",
        "m365_defender.event.account_tenant_id",
    );
    convert_string(
        doc,
        p,
        "AccountApplicationId",
        "m365_defender.event.account_application_id",
    );
    longs(doc, p, STORAGE_LONGS);
    truthies(doc, p, STORAGE_BOOLEANS);
    for (from, to) in STORAGE_DATES {
        date(doc, prop(p, from), to);
    }
    renames_scan(doc, p, STORAGE_RENAMES, &STORAGE_SIGS);
    copy(doc, "m365_defender.event.storage_ip_address", "client.ip");
    geoip(rec.opts, doc, "client.ip", "client.geo");
    user_agent(doc, "m365_defender.event.user_agent_header");
    Ok(())
}

/// `CloudProcessEvents`: a process started in a container.
fn process<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    let p = rec.props;
    doc.set("event.kind", "event");
    doc.append("event.category", "process");
    doc.append("event.type", "start");
    json_rename(
        doc,
        p,
        "AdditionalFields",
        "m365_defender.event.additional_fields",
    );
    longs(doc, p, PROCESS_LONGS);
    convert_string(doc, p, "LogonId", "m365_defender.event.logon.id");
    convert_string(doc, p, "ReportId", "m365_defender.event.report_id");
    date(
        doc,
        prop(p, "ProcessCreationTime"),
        "m365_defender.event.process.creation_time",
    );
    renames_scan(doc, p, PROCESS_RENAMES, &PROCESS_SIGS);

    if doc.get_str("m365_defender.event.action.type") == Some("ProcessCreated") {
        doc.set("event.action", "start");
    } else {
        event_action(doc);
    }
    if let Some((_, provider)) = PROVIDERS.iter().find(|(f, _)| doc.get(f).is_some()) {
        doc.set("cloud.provider", *provider);
    }
    for (to, from) in PROCESS_COPIES {
        copy(doc, from, to);
    }
    let kubernetes = [
        "m365_defender.event.kubernetes_namespace",
        "m365_defender.event.kubernetes_pod_name",
        "m365_defender.event.kubernetes_resource",
    ]
    .iter()
    .any(|f| doc.get(f).is_some());
    if kubernetes {
        doc.set("orchestrator.type", "kubernetes");
    }
    split_command_line_into_process(doc);
    // Elastic's device pipeline takes the executable from FolderPath, not from the command line.
    copy(doc, "m365_defender.event.folder_path", "process.executable");
    let user = doc.get("user.name").cloned();
    related(doc, "related.user", user.as_ref());
    remove_custom_duplicates(rec.opts, doc, &PROCESS_DUPLICATES);
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
    fn audit_event_client_and_configuration() {
        let d = run(
            "CloudAuditEvents",
            json!({"IPAddress": "81.2.69.142", "OperationName": "op", "ActionType": "Update"}),
        );
        assert_eq!(d.get_str("client.ip"), Some("81.2.69.142"));
        assert_eq!(at(&d, "host.ip"), Some(json!(["81.2.69.142"])));
        assert_eq!(at(&d, "event.category"), Some(json!(["configuration"])));
        assert_eq!(
            d.get_str("m365_defender.event.properties_operation_name"),
            Some("op")
        );
    }

    #[test]
    fn storage_ip_is_client_not_host() {
        let d = run(
            "CloudStorageAggregatedEvents",
            json!({"IpAddress": "81.2.69.142", "AccountTenantId": 123456789012345678_i64, "OperationsCount": 25,
                "IsPrivateIp": false, "AccountUpn": "u@c.com"}),
        );
        assert_eq!(d.get_str("client.ip"), Some("81.2.69.142"));
        assert!(at(&d, "host.ip").is_none());
        assert_eq!(at(&d, "related.ip"), Some(json!(["81.2.69.142"])));
        assert_eq!(at(&d, "related.user"), Some(json!(["u@c.com"])));
        assert_eq!(
            d.get_str("m365_defender.event.account_tenant_id"),
            Some("123456789012345678")
        );
        assert_eq!(
            at(&d, "m365_defender.event.is_private_ip"),
            Some(json!(false))
        );
    }

    #[test]
    fn container_process() {
        let d = run(
            "CloudProcessEvents",
            json!({"AzureResourceId": "/subscriptions/x", "KubernetesNamespace": "default", "ProcessId": 1,
                "ProcessCommandLine": "nginx -g x", "FolderPath": "/usr/sbin", "ActionType": "ProcessCreated", "LogonId": 5}),
        );
        assert_eq!(d.get_str("cloud.provider"), Some("azure"));
        assert_eq!(d.get_str("orchestrator.type"), Some("kubernetes"));
        assert_eq!(d.get_str("event.action"), Some("start"));
        assert_eq!(at(&d, "process.pid"), Some(json!(1)));
        assert_eq!(d.get_str("process.executable"), Some("/usr/sbin"));
        assert_eq!(at(&d, "process.args_count"), Some(json!(3)));
        assert_eq!(d.get_str("m365_defender.event.logon.id"), Some("5"));
    }
}
