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

use serde_json::{json, Map, Value};

use super::graph_alert::assigned_user;
use super::graph_common::{
    base_doc, date_at, put, put_event, sentinel_severity, severity_score, str_at,
};
use super::{graph_evidence, Input};
use crate::doc::{uri_parts, Doc};
use crate::sentinel::to_datetime;
use crate::MapError;

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

pub(crate) fn to_ecs(input: &Input<'_>, out: &mut Vec<Value>) -> Result<(), MapError> {
    let alerts = alerts(input.record)?;
    if alerts.is_empty() {
        out.push(incident_doc(input, None)?);
    }
    for (i, alert) in alerts.iter().enumerate() {
        let alert = alert
            .as_object()
            .ok_or_else(|| MapError::field(format!("alerts[{i}]"), "expected an object"))?;
        out.push(incident_doc(input, Some((i, alert)))?);
    }
    Ok(())
}

fn alerts(rec: &Map<String, Value>) -> Result<&[Value], MapError> {
    match rec.get("alerts") {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(MapError::field("alerts", "expected an array")),
    }
}

fn incident_doc(
    input: &Input<'_>,
    alert: Option<(usize, &Map<String, Value>)>,
) -> Result<Value, MapError> {
    let rec = input.record;
    let preserve = input.opts.preserve_duplicate_custom_fields;
    let (mut doc, mut event) = base_doc(input);
    put(&mut event, "kind", "alert");
    let determination = str_at(rec, "", "determination")?;
    let category = match determination.map(str::to_ascii_lowercase).as_deref() {
        Some("malware" | "malicioususeractivity") => Some(("malware", "info")),
        Some("phishing") => Some(("email", "info")),
        Some("apt") => Some(("threat", "indicator")),
        _ => None,
    };
    if let Some((cat, ty)) = category {
        put(&mut event, "category", vec![Value::from(cat)]);
        put(&mut event, "type", vec![Value::from(ty)]);
    }
    // `m365_defender.incident` is built as its own object and set once; the fields of
    // DUPLICATES are not written unless they are kept (Elastic removes them at the end).
    let mut inc = Map::with_capacity(24);
    if let Some(t) = rec.get("@odata.type") {
        put(&mut inc, "odata_type", t.clone());
    }
    if let Some(t) = date_at(rec, "", "lastUpdateDateTime")? {
        if preserve {
            put(&mut inc, "last_update_datetime", t.clone());
        }
        doc.set("@timestamp", t);
    }
    if let Some(n) = str_at(rec, "", "displayName")? {
        put(&mut inc, "display_name", n);
        doc.set("message", n);
    }
    if let Some(t) = str_at(rec, "", "tenantId")? {
        if preserve {
            put(&mut inc, "tenant_id", t);
        }
        doc.set("cloud.account.id", t);
    }
    if let Some(c) = date_at(rec, "", "createdDateTime")? {
        if preserve {
            put(&mut inc, "created_datetime", c.clone());
        }
        put(&mut event, "created", c);
    }
    if let Some(id) = str_at(rec, "", "id")? {
        if preserve {
            put(&mut inc, "id", id);
        }
        put(&mut event, "id", id);
    }
    if let Some(s) = str_at(rec, "", "severity")? {
        put(&mut inc, "severity", s.to_ascii_lowercase());
        put(&mut event, "severity", severity_score(s));
    }
    if let Some(u) = str_at(rec, "", "incidentWebUrl")? {
        // `event.url` only for an absolute URL (`uri_parts` is `Some` exactly then).
        if preserve {
            if let Some(parts) = uri_parts(u) {
                put(&mut inc, "web_url", Value::Object(parts));
                put(&mut event, "url", u);
            }
        } else if url::Url::parse(u).is_ok() {
            put(&mut event, "url", u);
        }
    }
    if let Some(a) = str_at(rec, "", "assignedTo")? {
        if preserve {
            put(&mut inc, "assigned_to", a);
        }
        assigned_user(a, &mut doc);
    }
    put_event(&mut doc, event);
    if let Some((i, alert)) = alert {
        let mut fields = Map::new();
        alert_fields(
            alert,
            &format!("alerts[{i}]."),
            &mut doc,
            &mut fields,
            preserve,
        )?;
        put(&mut inc, "alert", Value::Object(fields));
    }
    if let Some(Value::Array(comments)) = rec.get("comments") {
        for key in ["createdByDisplayName", "createdBy"] {
            for c in comments {
                if let Some(n) = c.get(key).and_then(Value::as_str) {
                    doc.append("related.user", n);
                }
            }
        }
        put(&mut inc, "comments", Value::Array(comments.clone()));
    }
    for (from, to) in RENAMES {
        if let Some(v) = rec.get(*from) {
            put(&mut inc, to, v.clone());
        }
    }
    doc.set(P, Value::Object(inc));
    doc.prune_empty();
    Ok(doc.into_value())
}

/// One alert of the incident, as Elastic's incident pipeline maps `json.alerts`: ECS fields
/// into `doc`, the `m365_defender.incident.alert` fields into `out` (without the DUPLICATES
/// unless `preserve`).
fn alert_fields(
    alert: &Map<String, Value>,
    path: &str,
    doc: &mut Doc,
    out: &mut Map<String, Value>,
    preserve: bool,
) -> Result<(), MapError> {
    if let Some(s) = str_at(alert, path, "serviceSource")? {
        if preserve {
            put(out, "service_source", s);
        }
        doc.set("event.provider", s);
    }
    if let Some(t) = str_at(alert, path, "threatFamilyName")? {
        if preserve {
            put(out, "threat_family_name", t);
        }
        doc.set("threat.group.name", t);
    }
    if let Some(c) = str_at(alert, path, "category")? {
        if preserve {
            put(out, "category", c);
        }
        doc.append("threat.tactic.name", c);
    }
    if let Some(m) = alert.get("mitreTechniques").filter(|v| !v.is_null()) {
        if preserve {
            put(out, "mitre_techniques", m.clone());
        }
        doc.set("threat.technique.subtechnique.id", m.clone());
    }
    for (key, to) in [
        ("alertWebUrl", "alert_web_url"),
        ("incidentWebUrl", "incident_web_url"),
    ] {
        if let Some(u) = str_at(alert, path, key)? {
            if let Some(parts) = uri_parts(u) {
                put(out, to, Value::Object(parts));
            }
        }
    }
    if let Some(Value::Array(comments)) = alert.get("comments") {
        for c in comments {
            if let Some(n) = c.get("createdByDisplayName").and_then(Value::as_str) {
                doc.append("related.user", n);
            }
        }
        put(out, "comments", Value::Array(comments.clone()));
    }
    for (from, to) in ALERT_DATES {
        if let Some(d) = date_at(alert, path, from)? {
            put(out, to, d);
        }
    }
    for (from, to) in ALERT_RENAMES {
        if let Some(v) = alert.get(*from) {
            put(out, to, v.clone());
        }
    }
    match alert.get("evidence") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ev)) => {
            let mapped =
                graph_evidence::to_ecs(ev, graph_evidence::Flavor::Incident, doc, preserve);
            put(out, "evidence", Value::Array(mapped));
        }
        Some(_) => {
            return Err(MapError::field(
                format!("{path}evidence"),
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

pub(crate) fn to_sentinel(input: &Input<'_>, out: &mut Vec<Value>) -> Result<(), MapError> {
    let rec = input.record;
    let s = |k: &str| str_at(rec, "", k);
    let time = |k: &str| -> Result<Option<String>, MapError> {
        match s(k)? {
            None | Some("") => Ok(None),
            Some(v) => to_datetime(v)
                .map(Some)
                .ok_or_else(|| MapError::field(k, format!("not a timestamp: {v:?}"))),
        }
    };
    let alerts = alerts(rec)?;
    let mut row = Map::with_capacity(26);
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
                .and_then(to_datetime)
                .ok_or_else(|| {
                    MapError::field("lastUpdateDateTime", "missing, and no \"now\" was given")
                })?,
        },
    };
    row.insert("TimeGenerated".into(), generated.into());
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            row.insert(k.to_string(), v);
        }
    };
    put("TenantId", s("tenantId")?.map(Value::from));
    put("ProviderName", Some("Microsoft XDR".into()));
    let id = s("id")?;
    put("ProviderIncidentId", id.map(Value::from));
    // Defender incident ids are numbers; Sentinel's unified incidents share them.
    put(
        "IncidentNumber",
        id.and_then(|i| i.parse::<i32>().ok()).map(Value::from),
    );
    put("Title", s("displayName")?.map(Value::from));
    put("Description", s("description")?.map(Value::from));
    put(
        "Severity",
        s("severity")?.and_then(sentinel_severity).map(Value::from),
    );
    let status = s("status")?;
    put("Status", status.and_then(sentinel_status).map(Value::from));
    let classification = s("classification")?;
    put(
        "Classification",
        classification
            .and_then(sentinel_classification)
            .map(Value::from),
    );
    put(
        "ClassificationReason",
        sentinel_reason(classification, s("determination")?).map(Value::from),
    );
    put(
        "ClassificationComment",
        s("resolvingComment")?.map(Value::from),
    );
    if let Some(a) = s("assignedTo")? {
        let mut owner = json!({ "assignedTo": a });
        if a.contains('@') {
            owner["email"] = a.into();
            owner["userPrincipalName"] = a.into();
        }
        put("Owner", Some(owner));
    }
    put("Labels", labels(rec));
    put("IncidentUrl", s("incidentWebUrl")?.map(Value::from));
    put("CreatedTime", time("createdDateTime")?.map(Value::from));
    put("LastModifiedTime", updated.clone().map(Value::from));
    if status == Some("resolved") {
        put(
            "ClosedTime",
            time("resolvedDateTime")?.or(updated).map(Value::from),
        );
    }
    put("ModifiedBy", s("lastModifiedBy")?.map(Value::from));
    put(
        "Comments",
        rec.get("comments")
            .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()))
            .cloned(),
    );
    let ids: Vec<Value> = alerts.iter().filter_map(|a| a.get("id").cloned()).collect();
    put("AlertIds", (!ids.is_empty()).then_some(Value::Array(ids)));
    let (first, last) = activity(alerts);
    put("FirstActivityTime", first.map(Value::from));
    put("LastActivityTime", last.map(Value::from));
    put("AdditionalData", Some(additional(rec, alerts)));
    put("Type", Some("SecurityIncident".into()));
    out.push(Value::Object(row));
    Ok(())
}

/// `tags`/`customTags` as user labels, `systemTags` as automatic ones.
fn labels(rec: &Map<String, Value>) -> Option<Value> {
    let mut out: Vec<Value> = Vec::new();
    for (key, ty) in [
        ("tags", "User"),
        ("customTags", "User"),
        ("systemTags", "AutoAssigned"),
    ] {
        for t in rec
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let label = json!({"labelName": t, "labelType": ty});
            if !out.iter().any(|l| l["labelName"] == label["labelName"]) {
                out.push(label);
            }
        }
    }
    (!out.is_empty()).then_some(Value::Array(out))
}

/// Earliest `firstActivityDateTime` and latest `lastActivityDateTime` over the alerts.
fn activity(alerts: &[Value]) -> (Option<String>, Option<String>) {
    let times = |key: &str| -> Vec<(chrono::DateTime<chrono::FixedOffset>, String)> {
        alerts
            .iter()
            .filter_map(|a| a.get(key)?.as_str())
            .filter_map(|s| Some((crate::doc::parse_time(s)?, to_datetime(s)?)))
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
fn additional(rec: &Map<String, Value>, alerts: &[Value]) -> Value {
    let mut tactics: Vec<Value> = Vec::new();
    let mut techniques: Vec<Value> = Vec::new();
    let mut products: Vec<Value> = Vec::new();
    let push = |list: &mut Vec<Value>, v: Option<&Value>| {
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
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(&mut techniques, Some(t));
        }
    }
    let comments = rec
        .get("comments")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut m = json!({ "alertsCount": alerts.len(), "commentsCount": comments });
    if !tactics.is_empty() {
        m["tactics"] = Value::Array(tactics);
    }
    if !techniques.is_empty() {
        m["techniques"] = Value::Array(techniques);
    }
    if !products.is_empty() {
        m["alertProductNames"] = Value::Array(products);
    }
    if let Some(u) = rec.get("incidentWebUrl").filter(|u| u.is_string()) {
        m["providerIncidentUrl"] = u.clone();
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sentinel, Options};

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
        let rec = record.as_object().cloned().unwrap_or_default();
        let input = Input {
            record: &rec,
            original: "",
            opts: &opts,
        };
        let mut out = Vec::new();
        if sentinel_target {
            to_sentinel(&input, &mut out)
        } else {
            to_ecs(&input, &mut out)
        }
        .unwrap();
        out
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
        let rec = rec.as_object().cloned().unwrap();
        let input = Input {
            record: &rec,
            original: "",
            opts: &opts,
        };
        let err = to_ecs(&input, &mut Vec::new()).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("alerts[1].evidence"));
    }
}
