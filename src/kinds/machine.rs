//! MDE API machine (`GET /api/machines`) -> the ECS document of Elastic's
//! `microsoft_defender_endpoint.machine` data stream, and a Sentinel `DeviceInfo` row.
//! The full field tables are in docs/mapping/machine.md.

use std::sync::OnceLock;

use std::borrow::Cow;

use serde_json::Value;

use super::mde_common::{
    convert, event_doc, opt_bool, opt_es_date, opt_ip, opt_long, opt_object, opt_str, opt_text,
    os_type, pascal, take_array, time_generated, Names, Schema, Vendor,
};
use super::TreeInput;
use crate::doc::join;
use crate::tree::{Doc, Node, Obj};
use crate::MapError;

/// Elastic's machine pipeline stamps this ECS version.
const NS: &str = "microsoft_defender_endpoint.machine";

/// Plain string renames into `microsoft_defender_endpoint.machine.*` with no ECS copy.
const RENAMED: &[(&str, &str)] = &[
    ("agentVersion", "agent_version"),
    ("deviceValue", "device_value"),
    ("exclusionReason", "exclusion_reason"),
    ("exposureLevel", "exposure_level"),
    ("healthStatus", "health_status"),
    ("managedBy", "managed_by"),
    ("managedByStatus", "managed_by_status"),
    ("onboardingStatus", "onboarding_status"),
    ("osArchitecture", "os_architecture"),
];

/// Vendor fields dropped unless `preserve_duplicate_custom_fields`: their values live on in ECS.
const DUPLICATES: &[&str] = &[
    "aad_device_id",
    "computer_dns_name",
    "id",
    "last_external_ip_address",
    "os_platform",
    "rbac_group_id",
    "rbac_group_name",
    "risk_score",
    "version",
    "os_processor",
];

/// `vmMetadata` members -> `vm_metadata.*`.
const VM_METADATA: &[(&str, &str)] = &[
    ("cloudProvider", "cloud_provider"),
    ("resourceId", "resource_id"),
    ("subscriptionId", "subscription_id"),
    ("vmId", "vm_id"),
];

const SENTINEL_TABLE: &str = "DeviceInfo";

/// Machine fields that are `DeviceInfo` columns of their own.
const COLUMNS: &[(&str, &str)] = &[
    ("id", "DeviceId"),
    ("computerDnsName", "DeviceName"),
    ("osPlatform", "OSPlatform"),
    ("osVersion", "OSVersion"),
    ("version", "OSVersionInfo"),
    ("osBuild", "OSBuild"),
    ("osArchitecture", "OSArchitecture"),
    ("lastExternalIpAddress", "PublicIP"),
    ("agentVersion", "ClientVersion"),
    ("isAadJoined", "IsAzureADJoined"),
    ("aadDeviceId", "AadDeviceId"),
    ("onboardingStatus", "OnboardingStatus"),
    ("healthStatus", "SensorHealthState"),
    ("exposureLevel", "ExposureLevel"),
    ("rbacGroupName", "MachineGroup"),
    ("deviceValue", "AssetValue"),
    ("isExcluded", "IsExcluded"),
    ("exclusionReason", "ExclusionReason"),
    ("mergedIntoMachineId", "MergedToDeviceId"),
];

/// Machine fields with no `DeviceInfo` column: they go into `AdditionalFields` (PascalCase).
/// `lastSeen` is `TimeGenerated`.
const ADDITIONAL: &[&str] = &[
    "firstSeen",
    "lastIpAddress",
    "ipAddresses",
    "machineTags",
    "riskScore",
    "rbacGroupId",
    "managedBy",
    "managedByStatus",
    "osProcessor",
    "isPotentialDuplication",
    "vmMetadata",
];

pub(crate) fn to_ecs<'a>(input: TreeInput<'a>, out: &mut Vec<Node<'a>>) -> Result<(), MapError> {
    let mut rec = input.record;
    let mut d = event_doc(input.original);
    d.append("event.category", "host");
    d.append("event.type", "info");
    // The vendor object takes the place its first field gave it; it is filled at the end.
    d.set(NS, Obj::new());
    let mut m = Vendor::new(32, DUPLICATES, input.opts.preserve_duplicate_custom_fields);

    if let Some(aad) = opt_str(&rec, "aadDeviceId")? {
        d.set("device.id", aad.clone());
        d.append("related.hosts", aad.clone());
        m.set("aad_device_id", aad);
    }
    for (src, dst) in RENAMED {
        m.set(dst, opt_str(&rec, src)?);
    }
    if let Some(name) = opt_str(&rec, "computerDnsName")? {
        d.set("host.name", name.clone());
        d.set("host.hostname", name.clone());
        d.append("related.hosts", name.clone());
        m.set("computer_dns_name", name);
    }
    m.set("first_seen", opt_es_date(&rec, "firstSeen")?);
    if let Some(id) = opt_str(&rec, "id")? {
        d.set("host.id", id.clone());
        d.append("related.hosts", id.clone());
        m.set("id", id);
    }
    if let Some(Node::Array(list)) = take_array(&mut rec, "ipAddresses")? {
        let mut mapped = Vec::with_capacity(list.len());
        for (i, item) in list.into_iter().enumerate() {
            let entry = ip_address_entry(item, i)?;
            if let Some(ip) = entry.get("ip_address") {
                d.append("related.ip", ip.clone());
            }
            mapped.push(Node::Object(entry));
        }
        m.set("ip_addresses", mapped);
    }
    m.set("is_aad_joined", opt_bool(&rec, "isAadJoined")?);
    m.set("is_excluded", opt_bool(&rec, "isExcluded")?);
    m.set(
        "is_potential_duplication",
        opt_bool(&rec, "isPotentialDuplication")?,
    );
    if let Some(ip) = opt_ip(&rec, "lastExternalIpAddress")? {
        d.append("host.ip", ip.clone());
        d.append("related.ip", ip.clone());
        // Elastic's geoip processor on host.ip (city database only for this stream).
        if let Some(geo) = input.opts.geo.as_ref().and_then(|g| g.city(&ip)) {
            d.set("host.geo", Node::from_value(Value::Object(geo)));
        }
        m.set("last_external_ip_address", ip);
    }
    if let Some(ip) = opt_ip(&rec, "lastIpAddress")? {
        d.append("related.ip", ip.clone());
        m.set("last_ip_address", ip);
    }
    m.set("last_seen", opt_es_date(&rec, "lastSeen")?);
    m.set("machine_tags", take_array(&mut rec, "machineTags")?);
    m.set(
        "merged_into_machine_id",
        opt_text(&rec, "mergedIntoMachineId")?,
    );
    m.set("os_build", opt_long(&rec, "osBuild")?);
    let platform = opt_str(&rec, "osPlatform")?;
    if let Some(platform) = &platform {
        m.set("os_platform", platform.clone());
        d.set("host.os.platform", platform.clone());
        d.set("host.os.type", os_type(platform));
    }
    if let Some(cpu) = opt_str(&rec, "osProcessor")? {
        d.set("host.architecture", cpu.clone());
        m.set("os_processor", cpu);
    }
    m.set("os_version", opt_text(&rec, "osVersion")?);
    if let Some(group) = opt_text(&rec, "rbacGroupId")? {
        d.set("group.id", group.clone());
        m.set("rbac_group_id", group);
    }
    if let Some(group) = opt_str(&rec, "rbacGroupName")? {
        d.set("group.name", group.clone());
        m.set("rbac_group_name", group);
    }
    if let Some(risk) = opt_str(&rec, "riskScore")? {
        d.set("host.risk.calculated_level", risk.clone());
        m.set("risk_score", risk);
    }
    if let Some(version) = opt_str(&rec, "version")? {
        d.set("host.os.version", version.clone());
        if let Some(platform) = &platform {
            let mut name = String::with_capacity(platform.len() + 1 + version.len());
            name.push_str(platform);
            name.push(' ');
            name.push_str(&version);
            d.set("host.os.name", name);
        }
        m.set("version", version);
    }
    if let Some(vm) = opt_object(&rec, "vmMetadata")? {
        let mut meta = Obj::with_capacity(VM_METADATA.len());
        for (src, dst) in VM_METADATA {
            let v = opt_str(vm, src).map_err(|e| prefixed("vmMetadata", e))?;
            if let Some(v) = v {
                meta.push(*dst, v);
            }
        }
        if !meta.is_empty() {
            m.set("vm_metadata", meta);
        }
    }
    d.set(NS, m.fields);
    d.prune_empty();
    out.push(d.into_node());
    Ok(())
}

/// One `ipAddresses` entry as Elastic's foreach processors leave it: `ip_address`,
/// `mac_address` (upper case, dash-separated pairs), `operational_status`, other keys as they are.
fn ip_address_entry(item: Node<'_>, i: usize) -> Result<Obj<'_>, MapError> {
    let Node::Object(src) = item else {
        return Err(MapError::field(
            format!("ipAddresses[{i}]"),
            "expected an object",
        ));
    };
    let at = |e| prefixed(&format!("ipAddresses[{i}]"), e);
    let ip = opt_ip(&src, "ipAddress").map_err(at)?;
    let mac = opt_str(&src, "macAddress").map_err(at)?;
    // The pipeline's removes move the last member into the removed one's place (serde_json's
    // `Map::remove` with `preserve_order`), which decides the order the entry is written in.
    let mut members: Vec<_> = src.into_iter().collect();
    let mut status = None;
    for key in ["ipAddress", "macAddress", "operationalStatus"] {
        if let Some(at) = members.iter().position(|(k, _)| k == key) {
            let (_, v) = members.swap_remove(at);
            if key == "operationalStatus" {
                status = Some(v);
            }
        }
    }
    let mut entry = Obj::from_vec(members);
    if let Some(ip) = ip {
        entry.insert("ip_address", ip);
    }
    if let Some(mac) = mac {
        entry.insert("mac_address", dashed_mac(&mac));
    }
    if let Some(status) = status.filter(|s| !s.is_null()) {
        entry.insert("operational_status", status);
    }
    Ok(entry)
}

/// `00005e0053ff` -> `00-00-5E-00-53-FF`: Elastic's uppercase + gsub `(..)(?!$)` -> `$1-`.
fn dashed_mac(mac: &str) -> String {
    let chars: Vec<char> = mac.to_uppercase().chars().collect();
    let mut s = String::with_capacity(chars.len() * 3 / 2);
    for (i, pair) in chars.chunks(2).enumerate() {
        s.extend(pair);
        if pair.len() == 2 && (i + 1) * 2 < chars.len() {
            s.push('-');
        }
    }
    s
}

fn prefixed(parent: &str, e: MapError) -> MapError {
    let path = e
        .path
        .map(|p| join(parent, &p))
        .unwrap_or_else(|| parent.to_string());
    MapError::field(path, e.message)
}

/// The `DeviceInfo` schema with the types of [`COLUMNS`], and the machine fields that are
/// columns (to find a record's keys among), looked up once.
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
    let (schema, columns) = sentinel_schema();
    let mut row = Obj::with_capacity(COLUMNS.len() + 3);
    if let Some(t) = time_generated(&rec, &["lastSeen"], input.opts.now.as_deref())? {
        row.push("TimeGenerated", t);
    }
    // One pass over the record: the fields that are columns are kept for the columns (in
    // `COLUMNS` order below), the others go to `AdditionalFields`.
    let mut values: [Option<(Cow<'a, str>, Node<'a>)>; COLUMNS.len()] =
        std::array::from_fn(|_| None);
    let mut extra = Obj::new();
    for (key, v) in rec {
        if let Some(i) = columns.find(&key) {
            values[i] = Some((key, v));
            continue;
        }
        if key == "lastSeen" || v.is_null() {
            continue;
        }
        if input.opts.strict_schema && !ADDITIONAL.contains(&key.as_ref()) {
            continue;
        }
        extra.insert(pascal(&key), v);
    }
    for (i, value) in values.into_iter().enumerate() {
        if let Some((key, v)) = value.filter(|(_, v)| !v.is_null()) {
            let v = convert(schema.types[i], &key, v)?;
            if !v.is_null() {
                // Each column once, and none of them is TimeGenerated.
                row.push(COLUMNS[i].1, v);
            }
        }
    }
    // The API's osVersion is mostly null; its `version` (22H2, 9.5, …) is the OS version then.
    if !row.contains_key("OSVersion") {
        if let Some(v) = row.get("OSVersionInfo").cloned() {
            row.push("OSVersion", v);
        }
    }
    let mut extra = Doc(extra);
    extra.prune_empty();
    if !extra.0.is_empty() {
        row.push("AdditionalFields", extra.0);
    }
    row.push("Type", SENTINEL_TABLE);
    out.push(Node::Object(row));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EcsIntegration, GeoLookup, Options, Target};
    use serde_json::{json, Map};
    use std::sync::Arc;

    fn machine() -> Value {
        json!({
            "id": "aa11bb22cc33dd44ee55ff6677889900aabbccdd",
            "computerDnsName": "ws-demo-01",
            "firstSeen": "2025-02-01T08:00:00.1234567Z",
            "lastSeen": "2025-03-01T09:30:00.7654321Z",
            "osPlatform": "Windows11",
            "osVersion": null,
            "osProcessor": "x64",
            "version": "24H2",
            "lastIpAddress": "10.1.2.3",
            "lastExternalIpAddress": "198.51.100.7",
            "agentVersion": "10.8800.26100.1",
            "osBuild": 26100,
            "healthStatus": "Active",
            "rbacGroupId": 7,
            "rbacGroupName": "Workstations",
            "riskScore": "Low",
            "exposureLevel": "Medium",
            "isAadJoined": true,
            "aadDeviceId": "0f0f0f0f-1111-2222-3333-444455556666",
            "machineTags": ["vip", "lab"],
            "ipAddresses": [{"ipAddress": "10.1.2.3", "macAddress": "0a1b2c3d4e5f", "type": "Ethernet", "operationalStatus": "Up"}],
            "vmMetadata": null
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

    struct OneCity;
    impl GeoLookup for OneCity {
        fn city(&self, ip: &str) -> Option<Map<String, Value>> {
            (ip == "198.51.100.7")
                .then(|| json!({"city_name": "Testville"}).as_object().cloned())?
        }
    }

    #[test]
    fn ecs_fields_like_elastic() {
        let opts = Options {
            geo: Some(Arc::new(OneCity)),
            ..Options::default()
        };
        let doc = &run(machine(), &opts).unwrap()[0];
        assert_eq!(
            doc["host"]["id"],
            "aa11bb22cc33dd44ee55ff6677889900aabbccdd"
        );
        assert_eq!(doc["host"]["os"]["name"], "Windows11 24H2");
        assert_eq!(doc["host"]["os"]["type"], "windows");
        assert_eq!(doc["host"]["geo"]["city_name"], "Testville");
        assert_eq!(doc["group"]["id"], "7");
        assert_eq!(doc["related"]["ip"], json!(["10.1.2.3", "198.51.100.7"]));
        let m = &doc["microsoft_defender_endpoint"]["machine"];
        assert_eq!(m["first_seen"], "2025-02-01T08:00:00.123Z");
        assert_eq!(m["ip_addresses"][0]["mac_address"], "0A-1B-2C-3D-4E-5F");
        assert_eq!(m["machine_tags"], json!(["vip", "lab"]));
        // Copied to ECS, so dropped without preserve_duplicate_custom_fields.
        assert!(m.get("id").is_none() && m.get("risk_score").is_none());
        assert_eq!(doc["event"]["original"], machine().to_string());
    }

    #[test]
    fn duplicates_kept_on_request() {
        let opts = Options {
            preserve_duplicate_custom_fields: true,
            ..Options::default()
        };
        let doc = &run(machine(), &opts).unwrap()[0];
        assert_eq!(
            doc["microsoft_defender_endpoint"]["machine"]["rbac_group_id"],
            "7"
        );
        assert!(doc["host"].get("geo").is_none(), "no lookup, no geo");
    }

    #[test]
    fn page_of_several_machines() {
        let mapper = crate::Mapper::new(Options::default());
        let page = json!({"@odata.context": "x", "value": [machine(), machine(), machine()]});
        let mut docs = Vec::new();
        mapper.map_value(page, &mut |o: crate::Output| docs.push(o));
        assert_eq!(docs.len(), 3);
        assert!(docs.iter().all(|d| !d.is_error()));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let opts = Options::default();
        let mut m = machine();
        m["osBuild"] = json!({"major": 1});
        assert_eq!(run(m, &opts).unwrap_err().path.as_deref(), Some("osBuild"));
        let mut m = machine();
        m["lastExternalIpAddress"] = json!("not-an-ip");
        assert_eq!(
            run(m, &opts).unwrap_err().path.as_deref(),
            Some("lastExternalIpAddress")
        );
        let mut m = machine();
        m["ipAddresses"][0]["ipAddress"] = json!(5);
        assert_eq!(
            run(m, &opts).unwrap_err().path.as_deref(),
            Some("ipAddresses[0].ipAddress")
        );
    }

    #[test]
    fn mac_dashes() {
        assert_eq!(dashed_mac("00005e0053ff"), "00-00-5E-00-53-FF");
        assert_eq!(dashed_mac("abc"), "AB-C");
        assert_eq!(dashed_mac(""), "");
    }

    #[test]
    fn sentinel_device_info_row() {
        let opts = Options {
            target: Target::Sentinel,
            ecs_integration: EcsIntegration::Mde,
            ..Options::default()
        };
        let row = run(machine(), &opts).unwrap().remove(0);
        let row = row.as_object().unwrap();
        assert_eq!(row["Type"], "DeviceInfo");
        assert_eq!(row["TimeGenerated"], "2025-03-01T09:30:00.7654321Z");
        assert_eq!(row["OSBuild"], 26100);
        assert_eq!(row["IsAzureADJoined"], true);
        assert_eq!(row["OSVersion"], "24H2");
        assert_eq!(
            row["AdditionalFields"]["MachineTags"],
            json!(["vip", "lab"])
        );
        let table = crate::sentinel::table("DeviceInfo").unwrap();
        assert_eq!(table.check_row(row), Vec::<String>::new());
    }

    #[test]
    fn sentinel_wrong_type_names_the_field() {
        let opts = Options {
            target: Target::Sentinel,
            ..Options::default()
        };
        let mut m = machine();
        m["osBuild"] = json!("twelve");
        assert_eq!(run(m, &opts).unwrap_err().path.as_deref(), Some("osBuild"));
    }

    #[test]
    fn strict_schema_drops_unknown_fields() {
        let mut m = machine();
        m["brandNewField"] = json!("x");
        let loose = Options {
            target: Target::Sentinel,
            ..Options::default()
        };
        let strict = Options {
            strict_schema: true,
            ..loose.clone()
        };
        let row = run(m.clone(), &loose).unwrap().remove(0);
        assert_eq!(row["AdditionalFields"]["BrandNewField"], "x");
        let row = run(m, &strict).unwrap().remove(0);
        assert!(row["AdditionalFields"].get("BrandNewField").is_none());
    }

    #[test]
    fn bundled_sample_maps_to_both_targets() {
        let sample: Value =
            serde_json::from_str(include_str!("../../examples/samples/machine.json")).unwrap();
        for target in [Target::Ecs, Target::Sentinel] {
            let opts = Options {
                target,
                ..Options::default()
            };
            assert_eq!(run(sample.clone(), &opts).unwrap().len(), 1);
        }
    }
}
