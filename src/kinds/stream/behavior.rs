//! `BehaviorInfo` and `BehaviorEntities`: Elastic sends them through `pipeline_alert` (see
//! `alert`) with `event.kind: event` and these extra columns. Era: integration 5.x (the
//! `test-behavior` fixture).

use std::sync::OnceLock;

use super::alert;
use super::processors::{convert_string, copy, date, prop, renames_scan, Columns, Signatures};
use crate::tree::Doc;
use crate::MapError;

/// Behavior columns renamed as they are.
const RENAMES: &[(&str, &str)] = &[
    ("BehaviorId", "m365_defender.event.behavior_id"),
    ("ActionType", "m365_defender.event.action.type"),
    ("Description", "m365_defender.event.description"),
    ("DataSources", "m365_defender.event.data_sources"),
    ("EntityRole", "m365_defender.event.entity_role"),
    (
        "DetailedEntityRole",
        "m365_defender.event.detailed_entity_role",
    ),
    ("CloudPlatform", "m365_defender.event.cloud_platform"),
    ("CloudResourceId", "m365_defender.event.cloud_resource_id"),
    (
        "CloudResourceType",
        "m365_defender.event.cloud_resource_type",
    ),
    (
        "CloudSubscriptionId",
        "m365_defender.event.cloud_subscription_id",
    ),
];
static RENAMES_SIGS: Signatures = OnceLock::new();

/// Behavior time columns, through Elastic's `date` processor.
const DATES: &[(&str, &str)] = &[
    ("StartTime", "m365_defender.event.start_time"),
    ("EndTime", "m365_defender.event.end_time"),
];

pub(crate) fn map<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    alert::pipeline(rec, doc, "event", columns)?;
    // A behavior has no alert id: its own id identifies the event.
    if doc.get("event.id").is_none() {
        copy(doc, "m365_defender.event.behavior_id", "event.id");
    }
    Ok(())
}

fn columns<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    let p = rec.props;
    renames_scan(doc, p, RENAMES, &RENAMES_SIGS);
    for (from, to) in DATES {
        date(doc, prop(p, from), to);
    }
    convert_string(
        doc,
        p,
        "EmailClusterId",
        "m365_defender.event.email.cluster_id",
    );
    copy(doc, "m365_defender.event.cloud_platform", "cloud.provider");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::processors::{at, run_family};
    use super::*;
    use serde_json::json;

    #[test]
    fn behavior_is_an_event_with_its_own_id() {
        let d = run_family(
            map,
            "BehaviorInfo",
            json!({"BehaviorId": "b-1", "Severity": "High", "CloudPlatform": "Azure",
            "StartTime": "2026-02-16T08:20:58Z", "EmailClusterId": 42}),
        );
        assert_eq!(d.get_str("event.kind"), Some("event"));
        assert_eq!(d.get_str("event.id"), Some("b-1"));
        assert_eq!(at(&d, "event.severity"), Some(json!(73)));
        assert_eq!(d.get_str("cloud.provider"), Some("Azure"));
        assert_eq!(
            d.get_str("m365_defender.event.start_time"),
            Some("2026-02-16T08:20:58.000Z")
        );
        assert_eq!(
            d.get_str("m365_defender.event.email.cluster_id"),
            Some("42")
        );
    }
}
