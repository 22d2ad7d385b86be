//! Microsoft Graph security incident (`GET /security/incidents?$expand=alerts`).
//!
//! ECS: Elastic's m365_defender `incident` data stream. Elastic's input splits `alerts`, so its
//! pipeline sees one alert per document (`json.alerts` an object): an incident with N alerts
//! gives N documents, each with the incident fields and one `m365_defender.incident.alert`;
//! an incident with no alerts (or `alerts: []`) gives one. Sentinel: one `SecurityIncident` row.
//!
//! | Graph field          | ECS                                            | SecurityIncident        |
//! |----------------------|------------------------------------------------|-------------------------|
//! | id                   | event.id, m365_defender.incident.id            | ProviderIncidentId, IncidentNumber (when numeric) |
//! | displayName          | message, m365_defender.incident.display_name   | Title                   |
//! | description          | m365_defender.incident.description             | Description             |
//! | severity             | event.severity (21/47/73/99), .severity (lowercase) | Severity           |
//! | status               | m365_defender.incident.status                  | Status (New/Active/Closed) |
//! | classification       | m365_defender.incident.classification          | Classification          |
//! | determination        | event.category/type, .determination            | ClassificationReason    |
//! | resolvingComment     | m365_defender.incident.resolving_comment       | ClassificationComment   |
//! | assignedTo           | source.user.*, related.user, .assigned_to      | Owner                   |
//! | tags, customTags, systemTags | m365_defender.incident.tags, …         | Labels                  |
//! | incidentWebUrl       | event.url, m365_defender.incident.web_url.*    | IncidentUrl             |
//! | createdDateTime      | event.created                                  | CreatedTime             |
//! | lastUpdateDateTime   | @timestamp                                     | LastModifiedTime, TimeGenerated |
//! | lastModifiedBy       | m365_defender.incident.last_modified_by        | ModifiedBy              |
//! | tenantId             | cloud.account.id                               | TenantId                |
//! | comments             | m365_defender.incident.comments, related.user  | Comments                |
//! | alerts[]             | one document per alert (.alert.*)              | AlertIds, First/LastActivityTime, AdditionalData |

use std::borrow::Cow;

use super::graph_alert::assigned_user;
use super::graph_common::{
    base_doc, date_at, field_path, is_absolute_url, parse_time, put_event, sentinel_datetime,
    sentinel_severity, severity_score, str_at, uri_parts, At, PutNew,
};
use super::graph_evidence::{self, Flavor};
use super::TreeInput;
use crate::tree::{Doc, Node, Obj};
use crate::{MapError, Options};

const P: &str = "m365_defender.incident";

/// Incident fields renamed as they are (Elastic's `rename` processors, plus the newer
/// documented fields in snake_case).
const RENAMES: &[(&str, &str)] = &[
    ("classification", "classification"),
    ("determination", "determination"),
    ("redirectIncidentId", "redirect_incident_id"),
    ("status", "status"),
    ("tags", "tags"),
    ("description", "description"),
    ("summary", "summary"),
    ("resolvingComment", "resolving_comment"),
    ("lastModifiedBy", "last_modified_by"),
    ("customTags", "custom_tags"),
    ("systemTags", "system_tags"),
];

/// Alert fields under `m365_defender.incident.alert` renamed as they are.
const ALERT_RENAMES: &[(&str, &str)] = &[
    ("actorDisplayName", "actor_display_name"),
    ("assignedTo", "assigned_to"),
    ("classification", "classification"),
    ("description", "description"),
    ("detectionSource", "detection_source"),
    ("detectorId", "detector_id"),
    ("determination", "determination"),
    ("id", "id"),
    ("incidentId", "incident_id"),
    ("providerAlertId", "provider_alert_id"),
    ("recommendedActions", "recommended_actions"),
    ("severity", "severity"),
    ("status", "status"),
    ("tenantId", "tenant_id"),
    ("threatDisplayName", "threat_display_name"),
    ("title", "title"),
];

/// Alert date fields (Elastic's `date` processors).
const ALERT_DATES: &[(&str, &str)] = &[
    ("createdDateTime", "created_datetime"),
    ("firstActivityDateTime", "first_activity_datetime"),
    ("lastActivityDateTime", "last_activity_datetime"),
    ("lastUpdateDateTime", "last_update_datetime"),
    ("resolvedDateTime", "resolved_datetime"),
];

/// Copied to ECS; removed unless `preserve_duplicate_custom_fields` (the incident pipeline's
/// list at commit 5c931bf4; the fixture runs with the option on, so it does not pin it).
/// `incident_doc` and `alert_fields` leave them out; the tests check this list against them.
#[cfg_attr(not(test), allow(dead_code))]
#[rustfmt::skip]
const DUPLICATES: &[&str] = &[
    "last_update_datetime", "created_datetime", "id", "tenant_id", "web_url",
    "assigned_to", "alert.service_source", "alert.threat_family_name", "alert.category",
    "alert.mitre_techniques",
];

pub(crate) fn to_ecs<'a>(input: TreeInput<'a>, out: &mut Vec<Node<'a>>) -> Result<(), MapError> {
    let mut rec = input.record;
    // Each alert moves into its own document; the incident fields are copied into each.
    let alerts = match rec.get_mut("alerts") {
        None | Some(Node::Null) => Vec::new(),
        Some(Node::Array(a)) => std::mem::take(a),
        Some(_) => return Err(MapError::field("alerts", "expected an array")),
    };
    if alerts.is_empty() {
        out.push(incident_doc(&rec, input.original, input.opts, None)?);
    }
    for (i, alert) in alerts.into_iter().enumerate() {
        let Node::Object(alert) = alert else {
            return Err(MapError::field(
                format!("alerts[{i}]"),
                "expected an object",
            ));
        };
        out.push(incident_doc(
            &rec,
            input.original,
            input.opts,
            Some((i, alert)),
        )?);
    }
    Ok(())
}

fn alerts<'r, 'a>(rec: &'r Obj<'a>) -> Result<&'r [Node<'a>], MapError> {
    match rec.get("alerts") {
        None | Some(Node::Null) => Ok(&[]),
        Some(Node::Array(a)) => Ok(a),
        Some(_) => Err(MapError::field("alerts", "expected an array")),
    }
}

fn incident_doc<'a>(
    rec: &Obj<'a>,
    original: &'a str,
    opts: &Options,
    alert: Option<(usize, Obj<'a>)>,
) -> Result<Node<'a>, MapError> {
    const AT: At = At::Record;
    let preserve = opts.preserve_duplicate_custom_fields;
    let (mut doc, mut event) = base_doc(original, opts);
    event.push("kind", "alert");
    let determination = str_at(rec, AT, "determination")?;
    let is = |name: &str| {
        determination
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case(name))
    };
    let category = if is("malware") || is("malicioususeractivity") {
        Some(("malware", "info"))
    } else if is("phishing") {
        Some(("email", "info"))
    } else if is("apt") {
        Some(("threat", "indicator"))
    } else {
        None
    };
    if let Some((cat, ty)) = category {
        event.push("category", vec![cat]);
        event.push("type", vec![ty]);
    }
    // `m365_defender.incident` is built as its own object and set once; the fields of
    // DUPLICATES are not written unless they are kept (Elastic removes them at the end).
    // 16 members are 896 bytes: under glibc's 1 KiB "large request", which first merges
    // every small block freed since the last one (a few thousand instructions per record).
    let mut inc = Obj::with_capacity(16);
    if let Some(t) = rec.get("@odata.type") {
        inc.put_new("odata_type", t.clone());
    }
    if let Some(t) = date_at(rec, AT, "lastUpdateDateTime")? {
        if preserve {
            inc.put_new("last_update_datetime", t.clone());
        }
        doc.set("@timestamp", t);
    }
    if let Some(n) = str_at(rec, AT, "displayName")? {
        inc.put_new("display_name", n.clone());
        doc.set("message", n);
    }
    if let Some(t) = str_at(rec, AT, "tenantId")? {
        if preserve {
            inc.put_new("tenant_id", t.clone());
        }
        doc.set("cloud.account.id", t);
    }
    if let Some(c) = date_at(rec, AT, "createdDateTime")? {
        if preserve {
            inc.put_new("created_datetime", c.clone());
        }
        event.put_new("created", c);
    }
    if let Some(id) = str_at(rec, AT, "id")? {
        if preserve {
            inc.put_new("id", id.clone());
        }
        event.put_new("id", id);
    }
    if let Some(s) = str_at(rec, AT, "severity")? {
        event.put_new_some("severity", severity_score(&s));
        inc.put_new("severity", lowercase(s));
    }
    if let Some(u) = str_at(rec, AT, "incidentWebUrl")? {
        // `event.url` only for an absolute URL (`uri_parts` is `Some` exactly then).
        if preserve {
            if let Some(parts) = uri_parts(&u) {
                inc.put_new("web_url", parts);
                event.put_new("url", u);
            }
        } else if is_absolute_url(&u) {
            event.put_new("url", u);
        }
    }
    if let Some(a) = str_at(rec, AT, "assignedTo")? {
        if preserve {
            inc.put_new("assigned_to", a.clone());
        }
        assigned_user(a, &mut doc);
    }
    put_event(&mut doc, event);
    if let Some((i, alert)) = alert {
        let mut fields = Obj::with_capacity(16);
        alert_fields(alert, At::Alert(i), &mut doc, &mut fields, preserve)?;
        inc.put_new("alert", fields);
    }
    if let Some(Node::Array(comments)) = rec.get("comments") {
        for key in ["createdByDisplayName", "createdBy"] {
            for c in comments {
                if let Some(n) = c.get(key).and_then(Node::as_cow) {
                    doc.append("related.user", n);
                }
            }
        }
        inc.put_new("comments", comments.clone());
    }
    for &(from, to) in RENAMES {
        if let Some(v) = rec.get(from) {
            inc.put_new(to, v.clone());
        }
    }
    doc.set(P, inc);
    doc.prune_empty();
    Ok(doc.into_node())
}

/// `s` in lower case, still borrowing the input when it has no upper-case letter.
fn lowercase(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        s
    }
}

/// One alert of the incident, as Elastic's incident pipeline maps `json.alerts`: ECS fields
/// into `doc`, the `m365_defender.incident.alert` fields into `out` (without the DUPLICATES
/// unless `preserve`). The alert's values move into the document.
fn alert_fields<'a>(
    mut alert: Obj<'a>,
    at: At,
    doc: &mut Doc<'a>,
    out: &mut Obj<'a>,
    preserve: bool,
) -> Result<(), MapError> {
    if let Some(s) = str_at(&alert, at, "serviceSource")? {
        if preserve {
            out.put_new("service_source", s.clone());
        }
        doc.set("event.provider", s);
    }
    if let Some(t) = str_at(&alert, at, "threatFamilyName")? {
        if preserve {
            out.put_new("threat_family_name", t.clone());
        }
        doc.set("threat.group.name", t);
    }
    if let Some(c) = str_at(&alert, at, "category")? {
        if preserve {
            out.put_new("category", c.clone());
        }
        doc.append("threat.tactic.name", c);
    }
    if let Some(m) = alert.get_mut("mitreTechniques").map(Node::take) {
        if !m.is_null() {
            if preserve {
                out.put_new("mitre_techniques", m.clone());
            }
            doc.set("threat.technique.subtechnique.id", m);
        }
    }
    for (key, to) in [
        ("alertWebUrl", "alert_web_url"),
        ("incidentWebUrl", "incident_web_url"),
    ] {
        if let Some(u) = str_at(&alert, at, key)? {
            if let Some(parts) = uri_parts(&u) {
                out.put_new(to, parts);
            }
        }
    }
    if let Some(Node::Array(comments)) = alert.get_mut("comments").map(Node::take) {
        for c in &comments {
            if let Some(n) = c.get("createdByDisplayName").and_then(Node::as_cow) {
                doc.append("related.user", n);
            }
        }
        out.put_new("comments", comments);
    }
    for &(from, to) in ALERT_DATES {
        if let Some(d) = date_at(&alert, at, from)? {
            out.put_new(to, d);
        }
    }
    for &(from, to) in ALERT_RENAMES {
        if let Some(v) = alert.get_mut(from).map(Node::take) {
            out.put_new(to, v);
        }
    }
    match alert.get_mut("evidence") {
        None | Some(Node::Null) => {}
        Some(Node::Array(ev)) => {
            let mapped =
                graph_evidence::to_ecs(std::mem::take(ev), Flavor::Incident, doc, preserve);
            out.put_new("evidence", mapped);
        }
        Some(_) => {
            return Err(MapError::field(
                field_path(at, "evidence"),
                "expected an array",
            ))
        }
    }
    Ok(())
}

/// Graph incident `status` -> SecurityIncident `Status`.
fn sentinel_status(status: &str) -> Option<&'static str> {
    match status {
        "new" => Some("New"),
        "active" | "inProgress" | "awaitingAction" => Some("Active"),
        "resolved" | "redirected" => Some("Closed"),
        _ => None,
    }
}

/// Graph `classification` -> SecurityIncident `Classification`.
fn sentinel_classification(c: &str) -> Option<&'static str> {
    match c {
        "truePositive" => Some("TruePositive"),
        "falsePositive" => Some("FalsePositive"),
        "informationalExpectedActivity" => Some("BenignPositive"),
        "unknown" => Some("Undetermined"),
        _ => None,
    }
}

/// (classification, determination) -> SecurityIncident `ClassificationReason`.
fn sentinel_reason(
    classification: Option<&str>,
    determination: Option<&str>,
) -> Option<&'static str> {
    match (classification?, determination) {
        ("truePositive", _) => Some("SuspiciousActivity"),
        ("informationalExpectedActivity", _) => Some("SuspiciousButExpected"),
        ("falsePositive", Some("notEnoughDataToValidate")) => Some("InaccurateData"),
        ("falsePositive", _) => Some("IncorrectAlertLogic"),
        _ => None,
    }
}

pub(crate) fn to_sentinel<'a>(
    input: TreeInput<'a>,
    out: &mut Vec<Node<'a>>,
) -> Result<(), MapError> {
    let rec = &input.record;
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
    let alerts = alerts(rec)?;
    let mut row = Obj::with_capacity(26);
    // Read once: it is also LastModifiedTime and may be ClosedTime.
    let updated = time("lastUpdateDateTime")?;
    let generated = match &updated {
        Some(t) => t.clone(),
        None => match time("createdDateTime")? {
            Some(t) => t,
            None => input
                .opts
                .now
                .as_deref()
                .and_then(sentinel_datetime)
                .ok_or_else(|| {
                    MapError::field("lastUpdateDateTime", "missing, and no \"now\" was given")
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
    put("TenantId", s("tenantId")?.map(Node::from));
    put("ProviderName", Some("Microsoft XDR".into()));
    let id = s("id")?;
    // Defender incident ids are numbers; Sentinel's unified incidents share them.
    let number = id.as_deref().and_then(|i| i.parse::<i32>().ok());
    put("ProviderIncidentId", id.map(Node::from));
    put("IncidentNumber", number.map(Node::from));
    put("Title", s("displayName")?.map(Node::from));
    put("Description", s("description")?.map(Node::from));
    put(
        "Severity",
        s("severity")?
            .as_deref()
            .and_then(sentinel_severity)
            .map(Node::from),
    );
    let status = s("status")?;
    put(
        "Status",
        status.as_deref().and_then(sentinel_status).map(Node::from),
    );
    let classification = s("classification")?;
    put(
        "Classification",
        classification
            .as_deref()
            .and_then(sentinel_classification)
            .map(Node::from),
    );
    put(
        "ClassificationReason",
        sentinel_reason(classification.as_deref(), s("determination")?.as_deref()).map(Node::from),
    );
    put(
        "ClassificationComment",
        s("resolvingComment")?.map(Node::from),
    );
    if let Some(a) = s("assignedTo")? {
        let mut owner = Obj::with_capacity(3);
        owner.push("assignedTo", a.clone());
        if a.contains('@') {
            owner.push("email", a.clone());
            owner.push("userPrincipalName", a);
        }
        put("Owner", Some(Node::Object(owner)));
    }
    put("Labels", labels(rec));
    put("IncidentUrl", s("incidentWebUrl")?.map(Node::from));
    put("CreatedTime", time("createdDateTime")?.map(Node::from));
    put("LastModifiedTime", updated.clone().map(Node::from));
    if status.as_deref() == Some("resolved") {
        put(
            "ClosedTime",
            time("resolvedDateTime")?.or(updated).map(Node::from),
        );
    }
    put("ModifiedBy", s("lastModifiedBy")?.map(Node::from));
    put(
        "Comments",
        rec.get("comments")
            .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()))
            .cloned(),
    );
    let ids: Vec<Node<'a>> = alerts.iter().filter_map(|a| a.get("id").cloned()).collect();
    put("AlertIds", (!ids.is_empty()).then_some(Node::Array(ids)));
    let (first, last) = activity(alerts);
    put("FirstActivityTime", first.map(Node::from));
    put("LastActivityTime", last.map(Node::from));
    put(
        "AdditionalData",
        Some(Node::Object(additional(rec, alerts))),
    );
    put("Type", Some("SecurityIncident".into()));
    out.push(Node::Object(row));
    Ok(())
}

/// `tags`/`customTags` as user labels, `systemTags` as automatic ones.
fn labels<'a>(rec: &Obj<'a>) -> Option<Node<'a>> {
    let mut names: Vec<&Cow<'a, str>> = Vec::new();
    let mut out: Vec<Node<'a>> = Vec::new();
    for (key, ty) in [
        ("tags", "User"),
        ("customTags", "User"),
        ("systemTags", "AutoAssigned"),
    ] {
        let tags = rec.get(key).and_then(Node::as_array).into_iter().flatten();
        for t in tags {
            let Node::Str(t) = t else { continue };
            if !names.contains(&t) {
                names.push(t);
                let mut label = Obj::with_capacity(2);
                label.push("labelName", t.clone());
                label.push("labelType", ty);
                out.push(Node::Object(label));
            }
        }
    }
    (!out.is_empty()).then_some(Node::Array(out))
}

/// Earliest `firstActivityDateTime` and latest `lastActivityDateTime` over the alerts.
fn activity(alerts: &[Node<'_>]) -> (Option<String>, Option<String>) {
    let times = |key: &str| -> Vec<(chrono::DateTime<chrono::FixedOffset>, String)> {
        alerts
            .iter()
            .filter_map(|a| a.get(key)?.as_str())
            .filter_map(|s| Some((parse_time(s)?, sentinel_datetime(s)?)))
            .collect()
    };
    let first = times("firstActivityDateTime")
        .into_iter()
        .min_by_key(|(t, _)| *t)
        .map(|(_, s)| s);
    let last = times("lastActivityDateTime")
        .into_iter()
        .max_by_key(|(t, _)| *t)
        .map(|(_, s)| s);
    (first, last)
}

/// Sentinel's `AdditionalData` summary: counts, tactics, techniques, product names.
fn additional<'a>(rec: &Obj<'a>, alerts: &[Node<'a>]) -> Obj<'a> {
    let mut tactics: Vec<Node<'a>> = Vec::new();
    let mut techniques: Vec<Node<'a>> = Vec::new();
    let mut products: Vec<Node<'a>> = Vec::new();
    let push = |list: &mut Vec<Node<'a>>, v: Option<&Node<'a>>| {
        if let Some(v) = v.filter(|v| v.is_string()) {
            if !list.contains(v) {
                list.push(v.clone());
            }
        }
    };
    for a in alerts {
        push(&mut tactics, a.get("category"));
        push(
            &mut products,
            a.get("productName").or_else(|| a.get("serviceSource")),
        );
        for t in a
            .get("mitreTechniques")
            .and_then(Node::as_array)
            .into_iter()
            .flatten()
        {
            push(&mut techniques, Some(t));
        }
    }
    let comments = rec
        .get("comments")
        .and_then(Node::as_array)
        .map_or(0, Vec::len);
    let mut m = Obj::with_capacity(6);
    m.push("alertsCount", alerts.len());
    m.push("commentsCount", comments);
    if !tactics.is_empty() {
        m.push("tactics", tactics);
    }
    if !techniques.is_empty() {
        m.push("techniques", techniques);
    }
    if !products.is_empty() {
        m.push("alertProductNames", products);
    }
    if let Some(u) = rec.get("incidentWebUrl").filter(|u| u.is_string()) {
        m.push("providerIncidentUrl", u.clone());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::run_tree;
    use crate::sentinel;
    use serde_json::{json, Value};

    fn incident() -> Value {
        json!({
            "@odata.type": "#microsoft.graph.security.incident",
            "id": "2972395", "tenantId": "b3c1b5fc", "status": "resolved", "severity": "medium",
            "incidentWebUrl": "https://security.microsoft.com/incidents/2972395?tid=b3c1b5fc",
            "displayName": "Multi-stage incident", "createdDateTime": "2021-08-13T08:43:35.5533333Z",
            "lastUpdateDateTime": "2021-09-30T09:35:45.1133333Z", "assignedTo": "KaiC@contoso.onmicrosoft.com",
            "classification": "truePositive", "determination": "apt", "tags": ["Demo"], "systemTags": ["Defender Experts"],
            "comments": [{"comment": "c", "createdByDisplayName": "Kai", "createdDateTime": "2021-09-30T09:35:45Z"}],
            "alerts": [
                {"id": "da1", "serviceSource": "microsoftDefenderForEndpoint", "category": "Execution",
                 "mitreTechniques": ["T1059.001"], "firstActivityDateTime": "2021-08-13T08:40:00Z",
                 "lastActivityDateTime": "2021-08-13T09:00:00Z",
                 "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "host1", "mdeDeviceId": "m1"}]},
                {"id": "da2", "serviceSource": "microsoftDefenderForOffice365", "category": "InitialAccess",
                 "firstActivityDateTime": "2021-08-12T08:40:00Z", "lastActivityDateTime": "2021-08-14T09:00:00.5Z"}
            ]
        })
    }

    fn run(record: Value, sentinel_target: bool, preserve: bool) -> Vec<Value> {
        let opts = Options {
            preserve_duplicate_custom_fields: preserve,
            ..Options::default()
        };
        let f = if sentinel_target { to_sentinel } else { to_ecs };
        run_tree(f, record, "", &opts).unwrap()
    }

    #[test]
    fn one_document_per_alert() {
        let docs = run(incident(), false, true);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["m365_defender"]["incident"]["alert"]["id"], "da1");
        assert_eq!(docs[0]["event"]["provider"], "microsoftDefenderForEndpoint");
        assert_eq!(docs[0]["host"]["name"], json!(["host1"]));
        assert_eq!(docs[0]["event"]["category"], json!(["threat"]));
        assert_eq!(docs[0]["event"]["type"], json!(["indicator"]));
        assert_eq!(
            docs[1]["threat"]["tactic"]["name"],
            json!(["InitialAccess"])
        );
        assert_eq!(docs[1]["event"]["id"], "2972395");
        assert_eq!(
            docs[1]["related"]["user"],
            json!(["KaiC", "KaiC@contoso.onmicrosoft.com", "Kai"])
        );
    }

    #[test]
    fn no_alerts_one_document_and_duplicates_removed() {
        let mut rec = incident();
        rec["alerts"] = json!([]);
        let docs = run(rec, false, false);
        assert_eq!(docs.len(), 1);
        assert!(docs[0]["m365_defender"]["incident"].get("id").is_none());
        // display_name is not in the incident pipeline's duplicate list.
        assert_eq!(
            docs[0]["m365_defender"]["incident"]["display_name"],
            "Multi-stage incident"
        );
        assert_eq!(docs[0]["event"]["severity"], 47);
        assert_eq!(docs[0]["@timestamp"], "2021-09-30T09:35:45.113Z");
    }

    #[test]
    fn duplicates_only_when_kept() {
        let path = |d: &Value, f: &str| {
            f.split('.')
                .try_fold(&d["m365_defender"]["incident"], |v, k| v.get(k))
                .is_some()
        };
        let dropped = run(incident(), false, false);
        let kept = run(incident(), false, true);
        for f in DUPLICATES {
            assert!(!path(&dropped[0], f), "{f}");
            // The example's alert has no threatFamilyName.
            assert_eq!(path(&kept[0], f), *f != "alert.threat_family_name", "{f}");
        }
    }

    #[test]
    fn security_incident_row() {
        let rows = run(incident(), true, false);
        let row = rows[0].as_object().unwrap();
        assert!(
            sentinel::table("SecurityIncident")
                .unwrap()
                .check_row(row)
                .is_empty(),
            "{row:?}"
        );
        assert_eq!(row["ProviderName"], "Microsoft XDR");
        assert_eq!(row["IncidentNumber"], 2972395);
        assert_eq!(row["Status"], "Closed");
        assert_eq!(row["Severity"], "Medium");
        assert_eq!(row["Classification"], "TruePositive");
        assert_eq!(row["ClassificationReason"], "SuspiciousActivity");
        assert_eq!(row["AlertIds"], json!(["da1", "da2"]));
        assert_eq!(row["FirstActivityTime"], "2021-08-12T08:40:00Z");
        assert_eq!(row["LastActivityTime"], "2021-08-14T09:00:00.5Z");
        assert_eq!(row["Owner"]["assignedTo"], "KaiC@contoso.onmicrosoft.com");
        assert_eq!(
            row["Labels"][1],
            json!({"labelName": "Defender Experts", "labelType": "AutoAssigned"})
        );
        assert_eq!(row["ClosedTime"], "2021-09-30T09:35:45.1133333Z");
        assert_eq!(row["AdditionalData"]["alertsCount"], 2);
    }

    #[test]
    fn bad_input_names_the_field() {
        let mut rec = incident();
        rec["alerts"][1]["evidence"] = json!("x");
        let opts = Options::default();
        let err = run_tree(to_ecs, rec, "", &opts).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("alerts[1].evidence"));
    }
}
