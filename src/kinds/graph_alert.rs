//! Microsoft Graph security alert (`GET /security/alerts_v2`, resource `microsoft.graph.security.alert`).
//!
//! ECS: Elastic's m365_defender `alert` data stream (port of its ingest pipeline; no expected
//! fixture could be saved, see PROVENANCE.md, so the tests below pin the pipeline's rules on
//! Microsoft's documented example). Sentinel: a `SecurityAlert` row.
//!
//! | Graph field            | ECS                                           | SecurityAlert          |
//! |------------------------|-----------------------------------------------|------------------------|
//! | id                     | event.id, m365_defender.alert.id              | SystemAlertId          |
//! | providerAlertId        | m365_defender.alert.provider_alert_id         | VendorOriginalId (else id) |
//! | title                  | m365_defender.alert.title                     | AlertName, DisplayName |
//! | description            | message                                       | Description            |
//! | severity               | event.severity (21/47/73/99)                  | AlertSeverity          |
//! | status                 | m365_defender.alert.status                    | Status                 |
//! | serviceSource          | event.provider                                | ProviderName, ProductName (table below) |
//! | detectionSource        | m365_defender.alert.detection_source          | ProductComponentName   |
//! | detectorId             | m365_defender.alert.detector_id               | AlertType              |
//! | category               | threat.tactic.name                            | Tactics                |
//! | mitreTechniques        | threat.technique.subtechnique.id              | Techniques, SubTechniques |
//! | first/lastActivityDateTime | event.start / event.end, event.duration   | StartTime / EndTime    |
//! | createdDateTime        | event.created                                 | TimeGenerated          |
//! | lastUpdateDateTime     | @timestamp                                    | ExtendedProperties     |
//! | alertWebUrl            | event.url, m365_defender.alert.web_url.*      | AlertLink              |
//! | evidence[]             | m365_defender.alert.evidence + ECS (graph_evidence) | Entities         |
//! | the rest               | m365_defender.alert.*                         | ExtendedProperties     |

use std::borrow::Cow;

use super::graph_common::{
    base_doc, date_at, is_absolute_url, parse_time, put_event, sentinel_datetime,
    sentinel_severity, severity_score, split_user, str_at, uri_parts, At, PutNew,
};
use super::graph_evidence::{self, Flavor};
use super::TreeInput;
use crate::tree::{self, Doc, Node, Obj};
use crate::MapError;

/// Graph `serviceSource` -> (SecurityAlert `ProviderName`, `ProductName`), the names Sentinel's
/// Microsoft connectors write. Unknown sources use the source itself and the alert's `productName`.
#[rustfmt::skip]
const PRODUCTS: &[(&str, &str, &str)] = &[
    ("microsoftDefenderForEndpoint", "MDATP", "Microsoft Defender Advanced Threat Protection"),
    ("microsoftDefenderForOffice365", "OATP", "Office 365 Advanced Threat Protection"),
    ("microsoftDefenderForIdentity", "AATP", "Azure Advanced Threat Protection"),
    ("microsoftCloudAppSecurity", "MCAS", "Microsoft Cloud App Security"),
    ("microsoftDefenderForCloudApps", "MCAS", "Microsoft Cloud App Security"),
    ("azureAdIdentityProtection", "IPC", "Azure Active Directory Identity Protection"),
    ("microsoftEntraIdProtection", "IPC", "Azure Active Directory Identity Protection"),
    ("microsoftDefenderForCloud", "Azure Security Center", "Azure Security Center"),
    ("microsoft365Defender", "Microsoft 365 Defender", "Microsoft 365 Defender"),
    ("microsoftDefenderXdr", "Microsoft 365 Defender", "Microsoft 365 Defender"),
    ("microsoftDataLossPrevention", "Microsoft Data Loss Prevention", "Microsoft Data Loss Prevention"),
    ("microsoftInsiderRiskManagement", "Microsoft Insider Risk Management", "Microsoft Insider Risk Management"),
];

/// Graph alert `status` -> SecurityAlert `Status`.
fn sentinel_status(status: &str) -> Option<&'static str> {
    match status {
        "new" => Some("New"),
        "inProgress" => Some("InProgress"),
        "resolved" => Some("Resolved"),
        _ => None,
    }
}

/// Plain renames under `m365_defender.alert` (Elastic's `rename` processors).
const RENAMES: &[(&str, &str)] = &[
    ("@odata.type", "odata_type"),
    ("actorDisplayName", "actor_display_name"),
    ("classification", "classification"),
    ("detectorId", "detector_id"),
    ("detectionSource", "detection_source"),
    ("determination", "determination"),
    ("incidentId", "incident_id"),
    ("providerAlertId", "provider_alert_id"),
    ("recommendedActions", "recommended_actions"),
    ("status", "status"),
    ("threatDisplayName", "threat_display_name"),
    ("title", "title"),
];

/// Fields copied to ECS that Elastic removes unless `preserve_duplicate_custom_fields`
/// (`write_fields` leaves them out; the tests check this list against it).
#[cfg_attr(not(test), allow(dead_code))]
#[rustfmt::skip]
const DUPLICATES: &[&str] = &[
    "last_update_datetime", "description", "created_datetime", "last_activity_datetime", "id",
    "service_source", "first_activity_datetime", "web_url", "assigned_to", "threat_family_name",
    "category", "mitre_techniques", "tenant_id",
];

const P: &str = "m365_defender.alert";

pub(crate) fn to_ecs<'a>(input: TreeInput<'a>, out: &mut Vec<Node<'a>>) -> Result<(), MapError> {
    let mut rec = input.record;
    let preserve = input.opts.preserve_duplicate_custom_fields;
    let (mut doc, mut event) = base_doc(input.original, input.opts);
    event.push("kind", "alert");
    // The evidence moves out of the record: it is mapped in place into the document.
    let evidence = match rec.get_mut("evidence") {
        None | Some(Node::Null) => Vec::new(),
        Some(Node::Array(a)) => std::mem::take(a),
        Some(_) => return Err(MapError::field("evidence", "expected an array")),
    };
    let determination = str_at(&rec, At::Record, "determination")?;
    let (cats, types) = graph_evidence::categories(&evidence, determination.as_deref());
    event.push("category", cats);
    event.push("type", types);
    // `m365_defender.alert` is built as its own object and set once (one walk down the
    // document instead of one per field); the fields Elastic removes as duplicates of ECS
    // fields (DUPLICATES) are not written unless they are kept.
    // 16 members are 896 bytes: under glibc's 1 KiB "large request", which first merges
    // every small block freed since the last one (a few thousand instructions per record).
    let mut alert = Obj::with_capacity(if preserve { 32 } else { 16 });
    write_fields(&mut rec, &mut doc, &mut event, &mut alert, preserve)?;
    put_event(&mut doc, event);
    let ev = graph_evidence::to_ecs(evidence, Flavor::Alert, &mut doc, preserve);
    alert.insert("evidence", ev);
    doc.set(P, alert);
    doc.prune_empty();
    out.push(doc.into_node());
    Ok(())
}

/// The alert's own fields (everything but the evidence): ECS fields into `doc` (`event.*`
/// into `event`), the `m365_defender.alert` fields into `alert`, in Elastic's order. With
/// `preserve` false the fields of DUPLICATES are left out (Elastic removes them at the end of
/// its pipeline). Values written once are moved out of `rec`.
fn write_fields<'a>(
    rec: &mut Obj<'a>,
    doc: &mut Doc<'a>,
    event: &mut Obj<'a>,
    alert: &mut Obj<'a>,
    preserve: bool,
) -> Result<(), MapError> {
    const AT: At = At::Record;
    if let Some(t) = date_at(rec, AT, "lastUpdateDateTime")? {
        if preserve {
            alert.put_new("last_update_datetime", t.clone());
        }
        doc.set("@timestamp", t);
    }
    if let Some(d) = str_at(rec, AT, "description")? {
        if preserve {
            alert.put_new("description", d.clone());
        }
        doc.set("message", d);
    }
    if let Some(t) = str_at(rec, AT, "tenantId")? {
        if preserve {
            alert.put_new("tenant_id", t.clone());
        }
        doc.set("cloud.account.id", t);
    }
    if let Some(c) = date_at(rec, AT, "createdDateTime")? {
        if preserve {
            alert.put_new("created_datetime", c.clone());
        }
        event.put_new("created", c);
    }
    let end = date_at(rec, AT, "lastActivityDateTime")?;
    if let Some(e) = &end {
        if preserve {
            alert.put_new("last_activity_datetime", e.clone());
        }
        event.put_new("end", e.clone());
    }
    if let Some(id) = str_at(rec, AT, "id")? {
        if preserve {
            alert.put_new("id", id.clone());
        }
        event.put_new("id", id);
    }
    if let Some(s) = str_at(rec, AT, "serviceSource")? {
        if preserve {
            alert.put_new("service_source", s.clone());
        }
        event.put_new("provider", s);
    }
    if let Some(s) = str_at(rec, AT, "severity")? {
        event_severity(&s, event);
        alert.put_new("severity", s);
    }
    let start = date_at(rec, AT, "firstActivityDateTime")?;
    if let Some(s) = &start {
        if preserve {
            alert.put_new("first_activity_datetime", s.clone());
        }
        event.put_new("start", s.clone());
    }
    if let (Some(s), Some(e)) = (&start, &end) {
        if let (Some(s), Some(e)) = (parse_time(s), parse_time(e)) {
            event.put_new_some("duration", (e - s).num_nanoseconds());
        }
    }
    if let Some(u) = str_at(rec, AT, "alertWebUrl")? {
        // `event.url` only for an absolute URL (`uri_parts` is `Some` exactly then); the parts
        // themselves only when `web_url` is kept.
        if preserve {
            if let Some(parts) = uri_parts(&u) {
                alert.put_new("web_url", parts);
                event.put_new("url", u);
            }
        } else if is_absolute_url(&u) {
            event.put_new("url", u);
        }
    }
    if let Some(a) = str_at(rec, AT, "assignedTo")? {
        if preserve {
            alert.put_new("assigned_to", a.clone());
        }
        assigned_user(a, doc);
    }
    if let Some(t) = str_at(rec, AT, "threatFamilyName")? {
        if preserve {
            alert.put_new("threat_family_name", t.clone());
        }
        doc.set("threat.group.name", t);
    }
    if let Some(c) = str_at(rec, AT, "category")? {
        if preserve {
            alert.put_new("category", c.clone());
        }
        doc.append("threat.tactic.name", c);
    }
    if let Some(m) = rec.get_mut("mitreTechniques").map(Node::take) {
        if !m.is_null() {
            if preserve {
                alert.put_new("mitre_techniques", m.clone());
            }
            doc.set("threat.technique.subtechnique.id", m);
        }
    }
    if let Some(Node::Array(comments)) = rec.get_mut("comments").map(Node::take) {
        for c in &comments {
            if let Some(n) = c.get("createdByDisplayName").and_then(Node::as_cow) {
                doc.append("related.user", n);
            }
        }
        alert.put_new("comments", comments);
    }
    for &(from, to) in RENAMES {
        if let Some(v) = rec.get_mut(from).map(Node::take) {
            alert.put_new(to, v);
        }
    }
    if let Some(u) = str_at(rec, AT, "incidentWebUrl")? {
        if let Some(parts) = uri_parts(&u) {
            alert.put_new("incident_web_url", parts);
        }
    }
    if let Some(r) = date_at(rec, AT, "resolvedDateTime")? {
        alert.put_new("resolved_datetime", r);
    }
    Ok(())
}

/// `event.severity` of a Graph severity (none for an unknown one).
fn event_severity(severity: &str, event: &mut Obj<'_>) {
    event.put_new_some("severity", severity_score(severity));
}

/// `assignedTo` as the incident fixture shows it: `source.user.name`/`email`/`domain` and
/// `related.user` (name first, then the full address).
/// `source.user` is built as one object: the callers set no `source.user` field before.
pub(crate) fn assigned_user<'a>(a: Cow<'a, str>, doc: &mut Doc<'a>) {
    let mut user = Obj::with_capacity(3);
    if a.contains('@') {
        let (name, domain) = split_user(&a);
        user.push("email", a.clone());
        user.put_new_some("domain", domain);
        user.push("name", name.clone());
        doc.set("source.user", user);
        doc.append("related.user", name);
    } else {
        user.push("name", a.clone());
        doc.set("source.user", user);
    }
    doc.append("related.user", a);
}

pub(crate) fn to_sentinel<'a>(
    input: TreeInput<'a>,
    out: &mut Vec<Node<'a>>,
) -> Result<(), MapError> {
    let row = security_alert(&input.record, input.opts.now.as_deref())?;
    out.push(Node::Object(row));
    Ok(())
}

/// A `SecurityAlert` row for one Graph alert.
fn security_alert<'a>(rec: &Obj<'a>, now: Option<&str>) -> Result<Obj<'a>, MapError> {
    let s = |k: &str| str_at(rec, At::Record, k);
    let time = |k: &str| -> Result<Option<String>, MapError> {
        match s(k)? {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => sentinel_datetime(&v)
                .map(Some)
                .ok_or_else(|| MapError::field(k, format!("not a timestamp: {:?}", &*v))),
        }
    };
    let mut row = Obj::with_capacity(25);
    let generated = match time("createdDateTime")? {
        Some(t) => t,
        None => match time("lastUpdateDateTime")? {
            Some(t) => t,
            None => now.and_then(sentinel_datetime).ok_or_else(|| {
                MapError::field("createdDateTime", "missing, and no \"now\" was given")
            })?,
        },
    };
    row.push("TimeGenerated", generated);
    // Every column is pushed once, so no key search is needed.
    let mut put = |k: &'static str, v: Option<Node<'a>>| {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            row.push(k, v);
        }
    };
    let title = s("title")?;
    put("AlertName", title.clone().map(Node::from));
    put("DisplayName", title.map(Node::from));
    put("Description", s("description")?.map(Node::from));
    put(
        "AlertSeverity",
        s("severity")?
            .as_deref()
            .and_then(sentinel_severity)
            .map(Node::from),
    );
    put(
        "Status",
        s("status")?
            .as_deref()
            .and_then(sentinel_status)
            .map(Node::from),
    );
    let source = s("serviceSource")?;
    let (provider, product) = match PRODUCTS
        .iter()
        .find(|(k, _, _)| Some(*k) == source.as_deref())
    {
        Some((_, pr, pd)) => (Some(Cow::Borrowed(*pr)), Some(Cow::Borrowed(*pd))),
        None => {
            let product = s("productName")?.or_else(|| source.clone());
            (source, product)
        }
    };
    put("ProviderName", provider.map(Node::from));
    put("ProductName", product.map(Node::from));
    put("VendorName", Some("Microsoft".into()));
    put(
        "ProductComponentName",
        s("detectionSource")?.map(Node::from),
    );
    put("AlertType", s("detectorId")?.map(Node::from));
    let id = s("id")?;
    put("SystemAlertId", id.clone().map(Node::from));
    put(
        "VendorOriginalId",
        s("providerAlertId")?.or(id).map(Node::from),
    );
    put("AlertLink", s("alertWebUrl")?.map(Node::from));
    put("StartTime", time("firstActivityDateTime")?.map(Node::from));
    put("EndTime", time("lastActivityDateTime")?.map(Node::from));
    put("Tactics", s("category")?.map(Node::from));
    let (techniques, subs) = techniques(rec.get("mitreTechniques"));
    put("Techniques", techniques.map(Node::from));
    put("SubTechniques", subs.map(Node::from));
    put(
        "RemediationSteps",
        s("recommendedActions")?.map(|r| Node::from(tree::to_string(&[&*r]))),
    );
    let evidence: &[Node<'a>] = rec
        .get("evidence")
        .and_then(Node::as_array)
        .map_or(&[], Vec::as_slice);
    put(
        "CompromisedEntity",
        compromised_entity(evidence).map(Node::from),
    );
    if !evidence.is_empty() {
        put(
            "Entities",
            Some(Node::from(tree::to_string(&graph_evidence::entities(
                evidence,
            )))),
        );
    }
    put(
        "ExtendedProperties",
        Some(Node::from(tree::to_string(&extended(rec)))),
    );
    put("IsIncident", Some(Node::Bool(false)));
    put("Type", Some("SecurityAlert".into()));
    Ok(row)
}

/// `mitreTechniques` (`T1059.001`) -> (`Techniques` parents, `SubTechniques`), JSON text each.
fn techniques(v: Option<&Node<'_>>) -> (Option<String>, Option<String>) {
    let ids: Vec<&str> = v
        .and_then(Node::as_array)
        .into_iter()
        .flatten()
        .filter_map(Node::as_str)
        .collect();
    if ids.is_empty() {
        return (None, None);
    }
    let mut parents: Vec<&str> = Vec::new();
    for id in &ids {
        let parent = id.split('.').next().unwrap_or(id);
        if !parents.contains(&parent) {
            parents.push(parent);
        }
    }
    let subs: Vec<&str> = ids.iter().copied().filter(|i| i.contains('.')).collect();
    let text = |v: Vec<&str>| (!v.is_empty()).then(|| tree::to_string(&v));
    (text(parents), text(subs))
}

/// The first device's DNS name, else the first user's account name.
fn compromised_entity<'a>(evidence: &[Node<'a>]) -> Option<Cow<'a, str>> {
    let of = |ty: &str, path: &[&str]| {
        evidence.iter().find_map(|e| {
            (e.get("@odata.type")?.as_str()? == ty).then_some(())?;
            let mut v = e;
            for k in path {
                v = v.get(k)?;
            }
            v.as_cow()
        })
    };
    of(
        "#microsoft.graph.security.deviceEvidence",
        &["deviceDnsName"],
    )
    .or_else(|| {
        of(
            "#microsoft.graph.security.userEvidence",
            &["userAccount", "accountName"],
        )
    })
}

/// Graph fields with no column of their own, for `ExtendedProperties` (string values).
fn extended<'a>(rec: &Obj<'a>) -> Obj<'a> {
    const KEYS: &[(&str, &str)] = &[
        ("incidentId", "IncidentId"),
        ("incidentWebUrl", "IncidentWebUrl"),
        ("tenantId", "TenantId"),
        ("detectionSource", "DetectionSource"),
        ("serviceSource", "ServiceSource"),
        ("productName", "ProductName"),
        ("classification", "Classification"),
        ("determination", "Determination"),
        ("assignedTo", "AssignedTo"),
        ("threatFamilyName", "ThreatFamilyName"),
        ("threatDisplayName", "ThreatName"),
        ("actorDisplayName", "ActorDisplayName"),
        ("lastUpdateDateTime", "LastUpdateDateTime"),
        ("resolvedDateTime", "ResolvedDateTime"),
        ("alertPolicyId", "AlertPolicyId"),
    ];
    let mut m = Obj::with_capacity(KEYS.len());
    for (src, dst) in KEYS {
        if let Some(v) = rec
            .get(src)
            .and_then(Node::to_text)
            .filter(|s| !s.is_empty())
        {
            m.push(*dst, v);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::run_tree;
    use crate::{sentinel, Options};
    use serde_json::{json, Map, Value};

    /// Microsoft's documented `alert` example (Graph v1.0, "Get alert"), shortened, with one
    /// evidence of each common type.
    fn example() -> Value {
        let mut alert = json!({
            "@odata.type": "#microsoft.graph.security.alert",
            "id": "da637551227677560813_-961444813",
            "providerAlertId": "da637551227677560813_-961444813",
            "incidentId": "28282",
            "status": "new",
            "severity": "low",
            "classification": "truePositive",
            "determination": "malware",
            "serviceSource": "microsoftDefenderForEndpoint",
            "detectionSource": "antivirus",
            "detectorId": "e0da400f-affd-43ef-b1d5-afc2eb6f2756",
            "tenantId": "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c",
            "title": "Suspicious execution of hidden file",
            "description": "A hidden file has been launched.",
            "recommendedActions": "Collect artifacts and determine scope",
            "category": "DefenseEvasion",
            "assignedTo": "secAdmin@contoso.onmicrosoft.com",
            "alertWebUrl": "https://security.microsoft.com/alerts/da637551227677560813_-961444813?tid=b3c1b5fc",
            "incidentWebUrl": "https://security.microsoft.com/incidents/28282?tid=b3c1b5fc",
            "actorDisplayName": null,
            "threatDisplayName": null,
            "threatFamilyName": null,
            "mitreTechniques": ["T1564.001"],
            "createdDateTime": "2021-04-27T12:19:27.7211305Z",
            "lastUpdateDateTime": "2021-05-02T14:19:01.3266667Z",
            "resolvedDateTime": null,
            "firstActivityDateTime": "2021-04-26T07:45:50.116Z",
            "lastActivityDateTime": "2021-05-02T07:56:58.222Z",
            "comments": [{"comment": "test comment", "createdByDisplayName": "Analyst", "createdDateTime": "2021-05-02T14:19:01.3266667Z"}]
        });
        // Built apart: one json! call this size exceeds the macro recursion limit.
        alert["evidence"] = json!([
                {"@odata.type": "#microsoft.graph.security.deviceEvidence", "createdDateTime": "2021-04-27T12:19:27.7211305Z",
                 "verdict": "unknown", "remediationStatus": "none", "mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db",
                 "azureAdDeviceId": null, "deviceDnsName": "tempDns", "osPlatform": "Windows10", "osBuild": 22424,
                 "version": "Other", "healthStatus": "active", "riskScore": "medium", "rbacGroupId": 75, "rbacGroupName": "UnassignedGroup",
                 "onboardingStatus": "onboarded", "defenderAvStatus": "unknown", "ipInterfaces": ["1.1.1.1"],
                 "loggedOnUsers": [{"accountName": "tempAccount", "domainName": "contoso"}]},
                {"@odata.type": "#microsoft.graph.security.userEvidence", "verdict": "unknown",
                 "userAccount": {"accountName": "tempAccount", "domainName": "contoso", "userSid": "S-1-5-21-1",
                                 "azureAdUserId": "aad-1", "userPrincipalName": "tempAccount@contoso.com"}},
                {"@odata.type": "#microsoft.graph.security.processEvidence", "processId": 4780, "parentProcessId": 668,
                 "processCommandLine": "\"x.exe\" /s", "processCreationDateTime": "2021-08-13T12:43:21.0409898Z",
                 "imageFile": {"sha1": "5f1f1d", "sha256": "8963a1", "fileName": "x.exe", "filePath": "c:\\temp", "fileSize": 123},
                 "userAccount": {"accountName": "tempAccount", "userSid": "S-1-5-21-1"}, "mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db"},
                {"@odata.type": "#microsoft.graph.security.fileEvidence", "detectionStatus": "detected",
                 "fileDetails": {"sha1": "fa3d", "sha256": "96d5", "fileName": "MsMpEng.exe", "filePath": "C:\\Program Files", "fileSize": 1000}},
                {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "192.168.1.1", "countryLetterCode": "US"},
                {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": "https://contoso.com/x"},
                {"@odata.type": "#microsoft.graph.security.mailboxEvidence", "primaryAddress": "box@contoso.com", "displayName": "Box",
                 "userAccount": {"accountName": "box", "userPrincipalName": "box@contoso.com"}},
                {"@odata.type": "#microsoft.graph.security.registryKeyEvidence", "registryKey": "SYSTEM\\Run", "registryHive": "HKEY_LOCAL_MACHINE"},
                {"@odata.type": "#microsoft.graph.security.registryValueEvidence", "registryKey": "SYSTEM\\Run", "registryHive": "HKEY_LOCAL_MACHINE",
                 "registryValue": "31-00", "registryValueName": "Start", "registryValueType": "Binary"},
                {"@odata.type": "#microsoft.graph.security.cloudApplicationEvidence", "appId": 11161, "displayName": "Office 365", "instanceId": 0, "instanceName": "Office 365"}
        ]);
        alert
    }

    fn map(target_sentinel: bool, preserve: bool) -> Map<String, Value> {
        let opts = Options {
            preserve_duplicate_custom_fields: preserve,
            preserve_original_event: true,
            ..Options::default()
        };
        let f = if target_sentinel { to_sentinel } else { to_ecs };
        let mut out = run_tree(f, example(), "{}", &opts).unwrap();
        assert_eq!(out.len(), 1);
        out.remove(0).as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn ecs_core_fields() {
        let d = Value::Object(map(false, false));
        assert_eq!(d["@timestamp"], "2021-05-02T14:19:01.326Z");
        assert_eq!(d["event"]["kind"], "alert");
        assert_eq!(d["event"]["severity"], 21);
        assert_eq!(d["event"]["start"], "2021-04-26T07:45:50.116Z");
        assert_eq!(d["event"]["duration"], 519068106000000i64);
        assert_eq!(
            d["event"]["category"],
            json!(["email", "file", "host", "iam", "malware", "network", "process", "registry"])
        );
        assert_eq!(d["event"]["type"], json!(["access", "info"]));
        assert_eq!(d["event"]["action"], json!(["detected"]));
        assert_eq!(d["message"], "A hidden file has been launched.");
        assert_eq!(
            d["cloud"]["account"]["id"],
            "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"
        );
        assert_eq!(d["threat"]["tactic"]["name"], json!(["DefenseEvasion"]));
        assert_eq!(
            d["threat"]["technique"]["subtechnique"]["id"],
            json!(["T1564.001"])
        );
        assert_eq!(
            d["host"]["id"],
            json!(["73e7e2de709dff64ef64b1d0c30e67fab63279db"])
        );
        assert_eq!(d["host"]["ip"], json!(["192.168.1.1"]));
        assert_eq!(
            d["user"]["email"],
            json!(["box@contoso.com", "tempAccount@contoso.com"])
        );
        assert_eq!(d["process"]["pid"], json!([4780]));
        assert_eq!(d["file"]["hash"]["sha256"], json!(["96d5"]));
        assert_eq!(d["registry"]["value"], json!(["31-00"]));
        assert_eq!(d["cloud"]["instance"]["id"], json!(["0"]));
        assert!(d["related"]["user"]
            .as_array()
            .unwrap()
            .contains(&json!("Analyst")));
        assert_eq!(
            d["source"]["user"]["email"],
            "secAdmin@contoso.onmicrosoft.com"
        );
        // Duplicates removed without preserve_duplicate_custom_fields.
        for f in DUPLICATES {
            assert!(d["m365_defender"]["alert"].get(f).is_none(), "{f}");
        }
        assert_eq!(
            d["m365_defender"]["alert"]["provider_alert_id"],
            "da637551227677560813_-961444813"
        );
        assert_eq!(
            d["m365_defender"]["alert"]["evidence"][0]["device_dns_name"],
            "tempDns"
        );
        assert_eq!(d["event"]["original"], "{}");
    }

    #[test]
    fn ecs_keeps_duplicates_when_asked() {
        let d = Value::Object(map(false, true));
        for f in DUPLICATES {
            // The example's threatFamilyName is null.
            assert_eq!(
                d["m365_defender"]["alert"].get(f).is_some(),
                *f != "threat_family_name",
                "{f}"
            );
        }
        assert_eq!(
            d["m365_defender"]["alert"]["id"],
            "da637551227677560813_-961444813"
        );
        assert_eq!(
            d["m365_defender"]["alert"]["web_url"]["path"],
            "/alerts/da637551227677560813_-961444813"
        );
        assert_eq!(
            d["m365_defender"]["alert"]["evidence"][4]["ip_address"],
            "192.168.1.1"
        );
    }

    #[test]
    fn sentinel_security_alert_row() {
        let r = map(true, false);
        assert!(sentinel::table("SecurityAlert")
            .unwrap()
            .check_row(&r)
            .is_empty());
        assert_eq!(r["ProviderName"], "MDATP");
        assert_eq!(
            r["ProductName"],
            "Microsoft Defender Advanced Threat Protection"
        );
        assert_eq!(r["AlertSeverity"], "Low");
        assert_eq!(r["Status"], "New");
        assert_eq!(r["TimeGenerated"], "2021-04-27T12:19:27.7211305Z");
        assert_eq!(r["Techniques"], "[\"T1564\"]");
        assert_eq!(r["SubTechniques"], "[\"T1564.001\"]");
        assert_eq!(r["CompromisedEntity"], "tempDns");
        let ents: Value = serde_json::from_str(r["Entities"].as_str().unwrap()).unwrap();
        let types: Vec<&str> = ents
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "host",
                "account",
                "process",
                "file",
                "ip",
                "url",
                "mailbox",
                "registry-key",
                "registry-value",
                "cloud-application"
            ]
        );
        let ext: Value = serde_json::from_str(r["ExtendedProperties"].as_str().unwrap()).unwrap();
        assert_eq!(ext["IncidentId"], "28282");
    }

    #[test]
    fn bad_types_name_the_field() {
        let opts = Options::default();
        let mut rec = example();
        rec["severity"] = json!(3);
        let err = run_tree(to_ecs, rec.clone(), "", &opts).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("severity"));
        rec["severity"] = json!("low");
        rec["createdDateTime"] = json!("soon");
        assert_eq!(
            run_tree(to_sentinel, rec, "", &opts)
                .unwrap_err()
                .path
                .as_deref(),
            Some("createdDateTime")
        );
    }
}
