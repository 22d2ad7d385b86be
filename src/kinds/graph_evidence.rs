//! Graph security alert evidence (`alert.evidence[]`, typed by `@odata.type`): Elastic's
//! renames and ECS fields (port of the evidence part of m365_defender's `alert` pipeline), and
//! the Sentinel entity list (`SecurityAlert.Entities`).
//!
//! Elastic runs every step over all evidence before the next step, so the order of values in
//! `related.*` follows the step order below, not the evidence order; [`to_ecs`] does the same.
//! Paths inside one evidence object use `/` because `@odata.type` itself contains a dot.

use std::borrow::Cow;

use super::graph_common::{es_date, slice};
use crate::tree::{Doc, Node, Obj};

/// How a moved value is converted (Elastic's `convert` / `date` processors).
#[derive(Clone, Copy, PartialEq)]
enum Conv {
    Keep,
    Date,
    Long,
    Str,
    Ip,
    /// An array whose elements must be IP addresses; others are removed.
    IpList,
}

/// Whose evidence rules: Elastic's `alert` pipeline (`alert.evidence`) or its `incident`
/// pipeline (`incident.alerts[].evidence`). They differ in a few ECS targets (noted in STEPS).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flavor {
    Alert,
    Incident,
}

type Fields = &'static [&'static str];

/// One step: move `from` to `to` in every evidence object (in each element of `list` when
/// set), converting, then append the value to each ECS field of the flavor (`ecs` for the
/// alert pipeline, `incident_ecs` for the incident pipeline). `only`: a step one pipeline lacks.
struct Step {
    list: Option<&'static str>,
    from: &'static str,
    to: &'static str,
    conv: Conv,
    ecs: Fields,
    incident_ecs: Fields,
    only: Option<Flavor>,
}

impl Step {
    fn ecs(&self, flavor: Flavor) -> Fields {
        match flavor {
            Flavor::Alert => self.ecs,
            Flavor::Incident => self.incident_ecs,
        }
    }
}

/// A step both pipelines have, with the same ECS targets.
const fn s(from: &'static str, to: &'static str, conv: Conv, ecs: Fields) -> Step {
    d(from, to, conv, ecs, ecs)
}

/// A step both pipelines have, with different ECS targets (alert, incident).
const fn d(
    from: &'static str,
    to: &'static str,
    conv: Conv,
    ecs: Fields,
    incident_ecs: Fields,
) -> Step {
    Step {
        list: None,
        from,
        to,
        conv,
        ecs,
        incident_ecs,
        only: None,
    }
}

/// A step of one pipeline only.
const fn only(flavor: Flavor, from: &'static str, to: &'static str, conv: Conv) -> Step {
    Step {
        list: None,
        from,
        to,
        conv,
        ecs: &[],
        incident_ecs: &[],
        only: Some(flavor),
    }
}

/// A step over each `loggedOnUsers` entry (alert, incident ECS targets).
const fn each(from: &'static str, to: &'static str, ecs: Fields, incident_ecs: Fields) -> Step {
    Step {
        list: Some("loggedOnUsers"),
        from,
        to,
        conv: Conv::Keep,
        ecs,
        incident_ecs,
        only: None,
    }
}

use Conv::*;

/// Elastic's evidence steps, in pipeline order. Fields not named here keep their name.
#[rustfmt::skip]
const STEPS: &[Step] = &[
    s("createdDateTime", "created_datetime", Date, &[]),
    s("remediationStatus", "remediation_status", Keep, &[]),
    only(Flavor::Alert, "ipInterfaces", "ip_interfaces", IpList),
    only(Flavor::Alert, "detailedRoles", "detailed_roles", Keep),
    s("remediationStatusDetails", "remediation_status_details", Keep, &[]),
    s("@odata.type", "odata_type", Keep, &[]),
    s("receivedDateTime", "received_datetime", Date, &["email.delivery_timestamp"]),
    s("antiSpamDirection", "antispam_direction", Keep, &["email.direction"]),
    s("subject", "subject", Keep, &["email.subject"]),
    s("recipientEmailAddress", "recipient_email_address", Keep, &["related.user", "email.to.address"]),
    s("attachmentsCount", "attachments_count", Long, &[]),
    s("deliveryAction", "delivery_action", Keep, &[]),
    s("deliveryLocation", "delivery_location", Keep, &[]),
    s("internetMessageId", "internet_message_id", Keep, &[]),
    s("networkMessageId", "network_message_id", Keep, &[]),
    s("p1Sender/@odata.type", "p1_sender/odata_type", Keep, &[]),
    s("p2Sender/@odata.type", "p2_sender/odata_type", Keep, &[]),
    s("p1Sender/displayName", "p1_sender/display_name", Keep, &["related.user"]),
    s("p1Sender/domainName", "p1_sender/domain_name", Keep, &["related.hosts"]),
    s("p1Sender/emailAddress", "p1_sender/email_address", Keep, &["email.from.address", "related.user"]),
    s("p2Sender/displayName", "p2_sender/display_name", Keep, &["related.user"]),
    s("p2Sender/domainName", "p2_sender/domain_name", Keep, &["related.hosts"]),
    s("p2Sender/emailAddress", "p2_sender/email_address", Keep, &["email.from.address", "related.user"]),
    s("senderIp", "sender_ip", Ip, &["related.ip"]),
    s("threatDetectionMethods", "threat_detection_methods", Keep, &[]),
    s("urlCount", "url_count", Long, &[]),
    s("instanceId", "instance_id", Str, &["cloud.instance.id"]),
    s("instanceName", "instance_name", Keep, &["cloud.instance.name"]),
    s("appId", "app_id", Str, &[]),
    s("displayName", "display_name", Keep, &[]),
    s("saasAppId", "saas_app_id", Str, &[]),
    s("vmMetadata/cloudProvider", "vm_metadata/cloud_provider", Keep, &[]),
    d("mdeDeviceId", "mde_device_id", Keep, &["related.hosts"], &[]),
    d("osPlatform", "os_platform", Keep, &["host.os.name", "related.hosts"], &["host.os.name"]),
    d("version", "version", Keep, &["host.os.version", "related.hosts"], &["host.os.version"]),
    s("azureAdDeviceId", "azure_ad_device_id", Keep, &[]),
    s("defenderAvStatus", "defender_av_status", Keep, &[]),
    d("deviceDnsName", "device_dns_name", Keep, &["related.hosts"], &["related.hosts", "host.name"]),
    s("firstSeenDateTime", "first_seen_datetime", Date, &[]),
    s("healthStatus", "health_status", Keep, &[]),
    each("accountName", "account_name", &["related.user"], &["user.name", "related.user"]),
    each("domainName", "domain_name", &["related.hosts"], &["related.hosts"]),
    each("@odata.type", "odata_type", &[], &[]),
    s("loggedOnUsers", "logged_on_users", Keep, &[]),
    s("onboardingStatus", "onboarding_status", Keep, &[]),
    s("osBuild", "os_build", Str, &[]),
    s("rbacGroupId", "rbac_group/id", Str, &[]),
    s("rbacGroupName", "rbac_group/name", Keep, &[]),
    s("riskScore", "risk_score", Keep, &[]),
    s("vmMetadata/@odata.type", "vm_metadata/odata_type", Keep, &[]),
    s("vmMetadata/resourceId", "vm_metadata/resource_id", Keep, &[]),
    s("vmMetadata/subscriptionId", "vm_metadata/subscription_id", Keep, &[]),
    s("vmMetadata/vmId", "vm_metadata/vm_id", Keep, &[]),
    s("detectionStatus", "detection_status", Keep, &["event.action"]),
    s("fileDetails/@odata.type", "file_details/odata_type", Keep, &[]),
    s("fileDetails/sha1", "file_details/sha1", Keep, &["file.hash.sha1", "related.hash"]),
    s("fileDetails/sha256", "file_details/sha256", Keep, &["file.hash.sha256", "related.hash"]),
    s("fileDetails/fileName", "file_details/name", Keep, &["file.name"]),
    s("fileDetails/filePath", "file_details/path", Keep, &["file.path"]),
    s("fileDetails/fileSize", "file_details/size", Long, &[]),
    s("fileDetails/filePublisher", "file_details/publisher", Keep, &[]),
    s("fileDetails/issuer", "file_details/issuer", Keep, &[]),
    s("fileDetails/signer", "file_details/signer", Keep, &[]),
    d("ipAddress", "ip_address", Ip, &["host.ip", "related.ip"], &["source.ip", "related.ip"]),
    s("userAccount/@odata.type", "user_account/odata_type", Keep, &[]),
    s("userAccount/domainName", "user_account/domain_name", Keep, &["related.hosts"]),
    s("userAccount/azureAdUserId", "user_account/azure_ad_user_id", Keep, &["related.user"]),
    s("userAccount/userPrincipalName", "user_account/user_principal_name", Keep, &["related.user"]),
    s("primaryAddress", "primary_address", Keep, &[]),
    s("userAccount/accountName", "user_account/account_name", Keep, &["related.user"]),
    only(Flavor::Incident, "userAccount/displayName", "user_account/display_name", Keep),
    s("userAccount/userSid", "user_account/user_sid", Keep, &["related.user"]),
    s("clusterBy", "cluster_by", Keep, &[]),
    s("clusterByValue", "cluster_by_value", Keep, &[]),
    s("emailCount", "email_count", Long, &[]),
    s("networkMessageIds", "network_message_ids", Keep, &[]),
    s("objectId", "object_id", Keep, &[]),
    s("processCommandLine", "process/command_line", Keep, &["process.command_line"]),
    s("imageFile/@odata.type", "image_file/odata_type", Keep, &[]),
    s("imageFile/sha1", "image_file/sha1", Keep, &["process.hash.sha1", "related.hash"]),
    s("imageFile/sha256", "image_file/sha256", Keep, &["process.hash.sha256", "related.hash"]),
    s("parentProcessImageFile/@odata.type", "parent_process/image_file/odata_type", Keep, &[]),
    s("parentProcessImageFile/sha1", "parent_process/image_file/sha1", Keep, &["process.parent.hash.sha1", "related.hash"]),
    s("parentProcessImageFile/sha256", "parent_process/image_file/sha256", Keep, &["process.parent.hash.sha256", "related.hash"]),
    s("parentProcessId", "parent_process/id", Long, &[]),
    s("parentProcessCreationDateTime", "parent_process/creation_datetime", Date, &["process.parent.start"]),
    s("processId", "process/id", Long, &[]),
    s("processCreationDateTime", "process/creation_datetime", Date, &["process.start"]),
    s("imageFile/fileName", "image_file/name", Keep, &[]),
    s("imageFile/filePath", "image_file/path", Keep, &[]),
    s("imageFile/filePublisher", "image_file/publisher", Keep, &[]),
    s("imageFile/fileSize", "image_file/size", Long, &[]),
    s("imageFile/issuer", "image_file/issuer", Keep, &[]),
    s("imageFile/signer", "image_file/signer", Keep, &[]),
    s("parentProcessImageFile/fileName", "parent_process/image_file/name", Keep, &[]),
    s("parentProcessImageFile/filePath", "parent_process/image_file/path", Keep, &[]),
    s("parentProcessImageFile/filePublisher", "parent_process/image_file/publisher", Keep, &[]),
    s("parentProcessImageFile/fileSize", "parent_process/image_file/size", Long, &[]),
    s("parentProcessImageFile/issuer", "parent_process/image_file/issuer", Keep, &[]),
    s("parentProcessImageFile/signer", "parent_process/image_file/signer", Keep, &[]),
    s("registryHive", "registry_hive", Keep, &["registry.hive"]),
    s("registryKey", "registry_key", Keep, &["registry.key"]),
    s("registryValueType", "registry_value_type", Keep, &["registry.data.type"]),
    s("registryValue", "registry_value", Keep, &["registry.value"]),
    s("registryValueName", "registry_value_name", Keep, &[]),
    s("securityGroupId", "security_group_id", Keep, &["group.id"]),
];

/// Evidence `@odata.type` -> `event.category` (Elastic's category script; `registry` gives
/// `event.type: access`, the others `info`).
#[rustfmt::skip]
pub(crate) const CATEGORIES: &[(&str, &str)] = &[
    ("#microsoft.graph.security.analyzedMessageEvidence", "email"),
    ("#microsoft.graph.security.mailboxEvidence", "email"),
    ("#microsoft.graph.security.mailClusterEvidence", "email"),
    ("#microsoft.graph.security.deviceEvidence", "host"),
    ("#microsoft.graph.security.fileEvidence", "file"),
    ("#microsoft.graph.security.ipEvidence", "network"),
    ("#microsoft.graph.security.processEvidence", "process"),
    ("#microsoft.graph.security.registryValueEvidence", "registry"),
    ("#microsoft.graph.security.registryKeyEvidence", "registry"),
    ("#microsoft.graph.security.userEvidence", "iam"),
    ("#microsoft.graph.security.securityGroupEvidence", "iam"),
];

/// Evidence fields that duplicate ECS fields; removed unless `preserve_duplicate_custom_fields`.
#[rustfmt::skip]
const DUPLICATES: &[&str] = &[
    "ip_address", "detection_status", "received_datetime", "antispam_direction", "subject",
    "recipient_email_address", "instance_id", "instance_name", "vm_metadata/cloud_provider",
    "os_platform", "version", "file_details/sha1", "file_details/sha256", "file_details/name",
    "file_details/path", "file_details/size", "process/command_line", "image_file/sha1",
    "image_file/sha256", "parent_process/image_file/sha1", "parent_process/image_file/sha256",
    "parent_process/id", "parent_process/creation_datetime", "process/id",
    "process/creation_datetime", "registry_value_type", "registry_hive", "registry_key",
    "registry_value", "security_group_id",
];

// ---- paths inside one evidence object ("a/b/c") ----

/// `path` before and after its first `/` (a byte search: the generic char searcher of
/// `split_once` costs more than the lookups it serves).
fn split_slash(path: &str) -> Option<(&str, &str)> {
    let i = path.bytes().position(|b| b == b'/')?;
    Some((&path[..i], &path[i + 1..]))
}

fn take<'a>(obj: &mut Obj<'a>, path: &str) -> Option<Node<'a>> {
    match split_slash(path) {
        None => obj.remove(path),
        Some((head, rest)) => take(obj.get_mut(head)?.as_object_mut()?, rest),
    }
}

fn get<'r, 'a>(obj: &'r Obj<'a>, path: &str) -> Option<&'r Node<'a>> {
    match split_slash(path) {
        None => obj.get(path),
        Some((head, rest)) => get(obj.get(head)?.as_object()?, rest),
    }
}

/// Sets `path`: an existing key keeps its place, a new one goes last (as `Map::insert`).
fn put<'a>(obj: &mut Obj<'a>, path: &'static str, v: Node<'a>) {
    match split_slash(path) {
        None => {
            obj.insert(path, v);
        }
        Some((head, rest)) => {
            let slot = obj.slot(head);
            if !slot.is_object() {
                *slot = Node::Object(Obj::new());
            }
            if let Node::Object(m) = slot {
                put(m, rest, v);
            }
        }
    }
}

fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// Elastic's conversion; `None` drops the value (Elastic's `on_failure: remove`).
fn convert(v: Node<'_>, conv: Conv) -> Option<Node<'_>> {
    match conv {
        Keep => Some(v),
        Date => v.as_str().and_then(es_date).map(Node::from),
        Str => v.to_text().map(Node::Str),
        Long => match v {
            Node::UInt(_) | Node::Int(_) => Some(v),
            Node::Float(f) => Some(Node::from(f as i64)),
            Node::Str(s) => s.trim().parse::<i64>().ok().map(Node::from),
            _ => None,
        },
        Ip => v.as_str().is_some_and(is_ip).then_some(v),
        IpList => match v {
            Node::Array(a) => Some(Node::Array(
                a.into_iter()
                    .filter(|x| x.as_str().is_some_and(is_ip))
                    .collect(),
            )),
            other => Some(other),
        },
    }
}

fn apply<'a>(step: &Step, flavor: Flavor, obj: &mut Obj<'a>, doc: &mut Doc<'a>) {
    let Some(v) = take(obj, step.from) else {
        return;
    };
    if v.is_null() {
        return;
    }
    let Some(v) = convert(v, step.conv) else {
        return;
    };
    if !v.is_array() && !v.is_object() {
        for field in step.ecs(flavor) {
            if let Some(s) = v.to_text().filter(|s| !s.is_empty()) {
                // Elastic appends through a mustache template: the value arrives as a string.
                doc.append(field, s);
            }
        }
    }
    put(obj, step.to, v);
}

/// The key of an evidence object a step reads first: its list, else the first segment of `from`.
fn step_head(step: &Step) -> &'static str {
    match step.list {
        Some(list) => list,
        None => split_slash(step.from).map_or(step.from, |(h, _)| h),
    }
}

/// A set of STEPS (bit i = `STEPS[i]`) or of DUPLICATES (bit i = `DUPLICATES[i]`).
type Mask = u128;

const _: () = assert!(STEPS.len() <= Mask::BITS as usize && DUPLICATES.len() <= 64);

/// Top-level evidence keys -> the steps that read them and the duplicates stored under them
/// (built once): an evidence object's keys select the few steps that can apply, instead of
/// every step probing every object.
struct Index {
    steps: KeyTable<Mask>,
    duplicates: KeyTable<u64>,
    /// The steps of each flavor: [alert, incident].
    flavors: [Mask; 2],
}

/// Keys -> bit sets, bucketed by key length: a lookup compares the key with the two or three
/// keys of its length only (a binary search compared it with seven, most of a record's keys
/// being absent from the table).
struct KeyTable<M>(Vec<Vec<(&'static str, M)>>);

impl<M: Copy + Default + std::ops::BitOrAssign> KeyTable<M> {
    fn new(entries: impl IntoIterator<Item = (&'static str, M)>) -> Self {
        let mut buckets: Vec<Vec<(&'static str, M)>> = Vec::new();
        for (key, bits) in entries {
            if buckets.len() <= key.len() {
                buckets.resize_with(key.len() + 1, Vec::new);
            }
            let bucket = &mut buckets[key.len()];
            match bucket.iter_mut().find(|(k, _)| *k == key) {
                Some((_, m)) => *m |= bits,
                None => bucket.push((key, bits)),
            }
        }
        KeyTable(buckets)
    }

    fn get(&self, key: &str) -> M {
        self.0
            .get(key.len())
            .and_then(|b| b.iter().find(|(k, _)| *k == key))
            .map_or_else(M::default, |(_, m)| *m)
    }
}

fn index() -> &'static Index {
    static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let steps = KeyTable::new(
            STEPS
                .iter()
                .enumerate()
                .map(|(i, step)| (step_head(step), (1 as Mask) << i)),
        );
        let duplicates = KeyTable::new(
            DUPLICATES
                .iter()
                .enumerate()
                .map(|(i, path)| (split_slash(path).map_or(*path, |(h, _)| h), 1u64 << i)),
        );
        let flavors = [Flavor::Alert, Flavor::Incident].map(|flavor| {
            let mut m: Mask = 0;
            for (i, step) in STEPS.iter().enumerate() {
                if step.only.map_or(true, |f| f == flavor) {
                    m |= 1 << i;
                }
            }
            m
        });
        Index {
            steps,
            duplicates,
            flavors,
        }
    })
}

/// The steps of `flavor` that may find something in `obj` (a superset: `apply` still checks).
/// Exact because no step writes a key that a later step reads (see the test
/// `no_step_reads_what_an_earlier_one_wrote`).
fn steps_for(obj: &Obj<'_>, flavor: Flavor) -> Mask {
    let index = index();
    let mut mask: Mask = 0;
    for k in obj.keys() {
        mask |= index.steps.get(k);
    }
    mask & index.flavors[flavor as usize]
}

/// Maps the evidence list in place: ECS fields go into `doc`, the renamed evidence objects are
/// returned (for `m365_defender.<…>.evidence`). Non-object evidence entries are kept as they are.
pub(crate) fn to_ecs<'a>(
    mut items: Vec<Node<'a>>,
    flavor: Flavor,
    doc: &mut Doc<'a>,
    preserve_duplicates: bool,
) -> Vec<Node<'a>> {
    // Every step runs over all evidence before the next one (the order of `related.*` values
    // depends on it); only the steps some evidence object can match are visited.
    let masks: Vec<Mask> = items
        .iter()
        .map(|item| item.as_object().map_or(0, |o| steps_for(o, flavor)))
        .collect();
    let mut todo: Mask = masks.iter().fold(0, |a, m| a | m);
    while todo != 0 {
        let i = todo.trailing_zeros() as usize;
        todo &= todo - 1;
        let step = &STEPS[i];
        for (item, mask) in items.iter_mut().zip(&masks) {
            if mask & (1 << i) == 0 {
                continue;
            }
            let Node::Object(obj) = item else {
                continue;
            };
            match step.list {
                None => apply(step, flavor, obj, doc),
                Some(list) => {
                    if let Some(Node::Array(users)) = obj.get_mut(list) {
                        for u in users.iter_mut().filter_map(Node::as_object_mut) {
                            apply(step, flavor, u, doc);
                        }
                    }
                }
            }
        }
    }
    ecs_by_type(&items, flavor, doc);
    if flavor == Flavor::Incident {
        // The incident pipeline lowercases host.name after the evidence steps.
        if let Some(Node::Array(names)) = doc.remove("host.name") {
            for n in names {
                doc.append("host.name", n.as_str().map(str::to_lowercase));
            }
        }
    }
    if !preserve_duplicates {
        let table = &index().duplicates;
        for obj in items.iter_mut().filter_map(Node::as_object_mut) {
            let mut dups: u64 = obj.keys().fold(0, |m, k| m | table.get(k));
            while dups != 0 {
                let i = dups.trailing_zeros() as usize;
                dups &= dups - 1;
                take(obj, DUPLICATES[i]);
            }
            if flavor == Flavor::Incident {
                let users = obj.get_mut("logged_on_users").and_then(Node::as_array_mut);
                for u in users.into_iter().flatten().filter_map(Node::as_object_mut) {
                    u.remove("account_name");
                }
            }
        }
    }
    items
}

/// Elastic's two scripts that set ECS fields by evidence type (sorted, de-duplicated arrays).
fn ecs_by_type<'a>(items: &[Node<'a>], flavor: Flavor, doc: &mut Doc<'a>) {
    let mut sets: Vec<(&'static str, Vec<Node<'a>>)> = Vec::new();
    let mut add = |field: &'static str, v: Option<&Node<'a>>| {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return;
        };
        match sets.iter_mut().find(|(f, _)| *f == field) {
            Some((_, vs)) => {
                if !vs.contains(v) {
                    vs.push(v.clone())
                }
            }
            None => sets.push((field, vec![v.clone()])),
        }
    };
    for obj in items.iter().filter_map(Node::as_object) {
        let ty = obj.get("odata_type").and_then(Node::as_str).unwrap_or("");
        let kind = ty.rsplit('.').next().unwrap_or("");
        match kind {
            "securityGroupEvidence" => add("group.name", get(obj, "display_name")),
            "deviceEvidence" => add("host.id", get(obj, "mde_device_id")),
            "mailboxEvidence" | "userEvidence" => {
                add("user.domain", get(obj, "user_account/domain_name"));
                let upn = get(obj, "user_account/user_principal_name");
                // The alert pipeline takes user.id from the AAD id and user.email from the UPN;
                // the incident pipeline puts the UPN in user.id.
                match flavor {
                    Flavor::Alert => {
                        add("user.id", get(obj, "user_account/azure_ad_user_id"));
                        add("user.email", upn);
                    }
                    Flavor::Incident => add("user.id", upn),
                }
                add("user.name", get(obj, "user_account/account_name"));
            }
            "processEvidence" => {
                add("process.user.id", get(obj, "user_account/azure_ad_user_id"));
                add("process.user.name", get(obj, "user_account/account_name"));
                add("process.pid", get(obj, "process/id"));
                add("process.parent.pid", get(obj, "parent_process/id"));
            }
            "fileEvidence" => add("file.size", get(obj, "file_details/size")),
            _ => {}
        }
        if get(obj, "vm_metadata/cloud_provider")
            .and_then(Node::as_str)
            .is_some_and(|p| p.eq_ignore_ascii_case("azure"))
        {
            add("cloud.provider", Some(&Node::from("azure")));
        }
    }
    for (field, mut vs) in sets {
        // Elastic's script sorts numbers as numbers and everything else by its JSON text.
        vs.sort_by(|a, b| match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => a.to_json_string().cmp(&b.to_json_string()),
        });
        doc.set(field, Node::Array(vs));
    }
}

/// `event.category` / `event.type` from the evidence types and the determination (Elastic's
/// category script: sorted sets).
pub(crate) fn categories(
    evidence: &[Node<'_>],
    determination: Option<&str>,
) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut cats: Vec<&'static str> = Vec::new();
    let mut types: Vec<&'static str> = Vec::new();
    let add = |cat: &'static str, cats: &mut Vec<&'static str>, types: &mut Vec<&'static str>| {
        if !cats.contains(&cat) {
            cats.push(cat);
        }
        // Elastic decides the type from the whole category set so far.
        let t = if cats.contains(&"registry") {
            "access"
        } else if cats.contains(&"threat") {
            "indicator"
        } else {
            "info"
        };
        if !types.contains(&t) {
            types.push(t);
        }
    };
    for e in evidence {
        let ty = e.get("@odata.type").and_then(Node::as_str).unwrap_or("");
        if let Some((_, cat)) = CATEGORIES.iter().find(|(t, _)| *t == ty) {
            add(cat, &mut cats, &mut types);
        }
    }
    if let Some(d) = determination {
        let is = |name: &str| d.eq_ignore_ascii_case(name);
        let cat = if is("malware") || is("malicioususeractivity") {
            Some("malware")
        } else if is("phishing") {
            Some("email")
        } else if is("apt") {
            Some("threat")
        } else {
            None
        };
        if let Some(cat) = cat {
            let t = if cats.contains(&"threat") || cat == "threat" {
                "indicator"
            } else {
                "info"
            };
            if !cats.contains(&cat) {
                cats.push(cat);
            }
            if !types.contains(&t) {
                types.push(t);
            }
        }
    }
    cats.sort_unstable();
    types.sort_unstable();
    (cats, types)
}

// ---- Sentinel entities ----

/// Evidence `@odata.type` (last segment) -> Sentinel entity `Type`, and the evidence fields
/// copied into the entity as (evidence path, entity property).
/// (evidence path, entity property) pairs copied into one entity.
type Props = &'static [(&'static str, &'static str)];

#[rustfmt::skip]
const ENTITIES: &[(&str, &str, Props)] = &[
    ("deviceEvidence", "host", &[
        ("deviceDnsName", "HostName"), ("mdeDeviceId", "MdatpDeviceId"),
        ("azureAdDeviceId", "AzureID"), ("osPlatform", "OSFamily"), ("version", "OSVersion"),
    ]),
    ("userEvidence", "account", &[
        ("userAccount/accountName", "Name"), ("userAccount/domainName", "NTDomain"),
        ("userAccount/userSid", "Sid"), ("userAccount/azureAdUserId", "AadUserId"),
        ("userAccount/userPrincipalName", "UPNSuffix"), ("userAccount/displayName", "DisplayName"),
    ]),
    ("processEvidence", "process", &[
        ("processId", "ProcessId"), ("processCommandLine", "CommandLine"),
        ("processCreationDateTime", "CreationTimeUtc"),
    ]),
    ("fileEvidence", "file", &[
        ("fileDetails/fileName", "Name"), ("fileDetails/filePath", "Directory"),
    ]),
    ("ipEvidence", "ip", &[("ipAddress", "Address")]),
    ("urlEvidence", "url", &[("url", "Url")]),
    ("mailboxEvidence", "mailbox", &[
        ("primaryAddress", "MailboxPrimaryAddress"), ("displayName", "DisplayName"),
        ("userAccount/userPrincipalName", "Upn"), ("userAccount/azureAdUserId", "AadId"),
    ]),
    ("registryKeyEvidence", "registry-key", &[("registryHive", "Hive"), ("registryKey", "Key")]),
    ("registryValueEvidence", "registry-value", &[
        ("registryValueName", "Name"), ("registryValue", "Value"), ("registryValueType", "ValueType"),
    ]),
    ("cloudApplicationEvidence", "cloud-application", &[
        ("appId", "AppId"), ("displayName", "Name"), ("instanceName", "InstanceName"),
    ]),
    ("analyzedMessageEvidence", "mailMessage", &[
        ("networkMessageId", "NetworkMessageId"), ("recipientEmailAddress", "Recipient"),
        ("subject", "Subject"), ("senderIp", "SenderIP"), ("internetMessageId", "InternetMessageId"),
    ]),
    ("mailClusterEvidence", "mailCluster", &[("clusterBy", "ClusterQueryType"), ("clusterByValue", "Query")]),
    ("securityGroupEvidence", "security-group", &[("displayName", "DistinguishedName"), ("securityGroupId", "ObjectGuid")]),
    ("azureResourceEvidence", "azure-resource", &[("resourceId", "ResourceId")]),
];

/// The Sentinel entity list for the evidence: one object per evidence with `$id` (1-based)
/// and `Type`; evidence types with no entity mapping keep their `@odata.type` name as `Type`.
/// File hashes become `FileHashes` entries; a UPN is split into `Name`/`UPNSuffix` as Sentinel
/// does for accounts.
pub(crate) fn entities<'a>(evidence: &[Node<'a>]) -> Vec<Node<'a>> {
    let mut out = Vec::with_capacity(evidence.len());
    for (i, e) in evidence.iter().enumerate() {
        let Some(obj) = e.as_object() else { continue };
        let ty = match obj.get("@odata.type") {
            Some(Node::Str(t)) => t.clone(),
            _ => Cow::Borrowed(""),
        };
        let short = slice(&ty, ty.rfind('.').map_or(0, |d| d + 1)..ty.len());
        let mut ent = Obj::with_capacity(8);
        ent.push("$id", (i + 1).to_string());
        let (etype, fields) = match ENTITIES.iter().find(|(t, _, _)| *t == short) {
            Some((_, et, f)) => (Cow::Borrowed(*et), *f),
            None => (short, &[][..]),
        };
        ent.push("Type", etype.clone());
        for (src, dst) in fields {
            if let Some(v) = get(obj, src).filter(|v| !v.is_null()) {
                ent.insert(*dst, v.clone());
            }
        }
        if etype == "account" {
            if let Some(Node::Str(upn)) = get(obj, "userAccount/userPrincipalName") {
                if let Some(at) = upn.find('@') {
                    if !ent.contains_key("Name") {
                        ent.push("Name", slice(upn, 0..at));
                    }
                    ent.insert("UPNSuffix", slice(upn, at + 1..upn.len()));
                }
            }
        }
        let file = match &*etype {
            "file" => get(obj, "fileDetails"),
            "process" => get(obj, "imageFile"),
            _ => None,
        };
        if let Some(f) = file.and_then(Node::as_object) {
            let hashes: Vec<Node<'a>> = [("sha1", "SHA1"), ("sha256", "SHA256"), ("md5", "MD5")]
                .iter()
                .filter_map(|(k, alg)| {
                    let h = f.get(k).and_then(Node::as_cow)?;
                    let mut o = Obj::with_capacity(3);
                    o.push("Algorithm", *alg);
                    o.push("Value", h);
                    o.push("Type", "filehash");
                    Some(Node::Object(o))
                })
                .collect();
            if !hashes.is_empty() {
                ent.insert("FileHashes", hashes);
            }
            if etype == "process" {
                if let Some(n) = f.get("fileName").filter(|v| !v.is_null()) {
                    ent.insert("ImageFileName", n.clone());
                }
            }
        }
        for (k, dst) in [
            ("verdict", "Verdict"),
            ("remediationStatus", "RemediationStatus"),
        ] {
            if let Some(v) = obj.get(k).filter(|v| !v.is_null()) {
                ent.insert(dst, v.clone());
            }
        }
        out.push(Node::Object(ent));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn sample() -> Vec<Node<'static>> {
        let v = json!([
            {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "clw555test",
             "mdeDeviceId": "505d", "osPlatform": "Windows11", "version": "22H2", "osBuild": 22621, "rbacGroupId": 0,
             "ipInterfaces": ["192.168.5.65", "not-ip"], "loggedOnUsers": [{"accountName": "bob", "domainName": "AzureAD"}]},
            {"@odata.type": "#microsoft.graph.security.processEvidence", "processId": 8224, "parentProcessId": 5772,
             "processCommandLine": "powershell.exe -x", "imageFile": {"fileName": "powershell.exe", "sha1": "a72c", "fileSize": 491520},
             "userAccount": {"accountName": "bob", "userSid": "S-1-5"}},
            {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "127.0.0.1"},
            {"@odata.type": "#microsoft.graph.security.registryValueEvidence", "registryKey": "SOFTWARE\\Run", "registryHive": "HKEY_LOCAL_MACHINE", "registryValueName": "x"}
        ]);
        match Node::from_value(v) {
            Node::Array(items) => items,
            _ => unreachable!(),
        }
    }

    /// The evidence mapped, as values (indexable by position in the assertions).
    fn run(flavor: Flavor, preserve: bool) -> (Vec<Value>, Doc<'static>) {
        let mut doc = Doc::new();
        let ev = to_ecs(sample(), flavor, &mut doc, preserve);
        (ev.iter().map(Node::to_value).collect(), doc)
    }

    fn at(doc: &Doc<'_>, path: &str) -> Option<Value> {
        doc.get(path).map(Node::to_value)
    }

    #[test]
    fn ecs_fields_and_renames() {
        let (ev, doc) = run(Flavor::Alert, true);
        assert_eq!(ev[0]["os_build"], "22621");
        assert_eq!(ev[0]["rbac_group"]["id"], "0");
        assert_eq!(ev[0]["ip_interfaces"], json!(["192.168.5.65"]));
        assert_eq!(ev[0]["logged_on_users"][0]["account_name"], "bob");
        assert_eq!(ev[1]["image_file"]["name"], "powershell.exe");
        assert_eq!(ev[1]["process"]["id"], 8224);
        assert_eq!(at(&doc, "host.id"), Some(json!(["505d"])));
        assert_eq!(at(&doc, "host.ip"), Some(json!(["127.0.0.1"])));
        assert_eq!(at(&doc, "process.pid"), Some(json!([8224])));
        assert_eq!(at(&doc, "registry.key"), Some(json!(["SOFTWARE\\Run"])));
        assert_eq!(at(&doc, "related.hash"), Some(json!(["a72c"])));
        assert_eq!(
            at(&doc, "related.hosts"),
            Some(json!([
                "505d",
                "Windows11",
                "22H2",
                "clw555test",
                "AzureAD"
            ]))
        );
    }

    #[test]
    fn duplicates_removed_without_preserve() {
        let (ev, _) = run(Flavor::Alert, false);
        assert!(ev[2].get("ip_address").is_none());
        assert!(ev[1]["process"].get("id").is_none());
        assert_eq!(ev[1]["process"], json!({}));
    }

    #[test]
    fn incident_flavor_differs() {
        let (ev, doc) = run(Flavor::Incident, false);
        // No ipInterfaces step: the key keeps its name and the bad entry.
        assert_eq!(ev[0]["ipInterfaces"], json!(["192.168.5.65", "not-ip"]));
        assert_eq!(at(&doc, "host.name"), Some(json!(["clw555test"])));
        assert_eq!(at(&doc, "source.ip"), Some(json!(["127.0.0.1"])));
        assert!(doc.get("host.ip").is_none());
        assert_eq!(at(&doc, "user.name"), Some(json!(["bob"])));
        assert_eq!(
            at(&doc, "related.hosts"),
            Some(json!(["clw555test", "AzureAD"]))
        );
        assert!(ev[0]["logged_on_users"][0].get("account_name").is_none());
    }

    #[test]
    fn no_step_reads_what_an_earlier_one_wrote() {
        let head = |p: &'static str| p.split_once('/').map_or(p, |(h, _)| h);
        for (i, a) in STEPS.iter().enumerate() {
            for b in &STEPS[i + 1..] {
                if a.list.is_none() {
                    assert_ne!(head(a.to), step_head(b), "{} -> {}", a.from, a.to);
                }
            }
        }
    }

    #[test]
    fn categories_sorted() {
        let (c, t) = categories(&sample(), Some("apt"));
        assert_eq!(c, vec!["host", "network", "process", "registry", "threat"]);
        assert_eq!(t, vec!["access", "indicator", "info"]);
    }

    #[test]
    fn entities_have_ids_and_types() {
        let e: Vec<Value> = entities(&sample()).iter().map(Node::to_value).collect();
        assert_eq!(e[0]["$id"], "1");
        assert_eq!(e[0]["Type"], "host");
        assert_eq!(e[0]["HostName"], "clw555test");
        assert_eq!(e[1]["Type"], "process");
        assert_eq!(e[1]["FileHashes"][0]["Algorithm"], "SHA1");
        assert_eq!(e[2]["Address"], "127.0.0.1");
        assert_eq!(e[3]["Type"], "registry-value");
    }
}
