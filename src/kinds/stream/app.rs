//! `CloudAppEvents` (Defender for Cloud Apps activity): Elastic's `pipeline_app_and_identity`
//! sub-pipeline, written in `identity`; this table adds no columns of its own there.
//!
//! Era: the `test-app-and-identity` fixture (ecs 8.11.0): no `client.ip` and no geo
//! enrichment for `IPAddress`, which only reaches `host.ip` and `related.ip`.

use super::identity;
use super::processors::Columns;
use crate::tree::Doc;
use crate::MapError;

pub(crate) fn map<'a>(rec: &Columns<'_, 'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    identity::pipeline(rec, doc, |_, _| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::super::processors::{at, run_family_with};
    use super::*;
    use crate::Options;
    use serde_json::json;

    #[test]
    fn cloud_app_event_user_and_raw_data() {
        let d = run_family_with(
            map,
            "CloudAppEvents",
            json!({"AccountId": "acc-1", "AccountDisplayName": "name", "ActionType": "Write Deployments",
            "RawEventData": "{\"AccountMoniker\":\"M\"}", "IPAddress": "81.2.69.142", "ApplicationId": 12260,
            "IsAdminOperation": 0, "UserAgent": ""}),
            &Options::default(),
        );
        assert_eq!(d.get_str("user.id"), Some("acc-1"));
        assert_eq!(d.get_str("user.name"), Some("name"));
        assert_eq!(d.get_str("event.action"), Some("write-deployments"));
        assert_eq!(
            d.get_str("m365_defender.event.raw_event_data.AccountMoniker"),
            Some("M")
        );
        assert_eq!(
            d.get_str("m365_defender.event.application_id"),
            Some("12260")
        );
        assert_eq!(
            at(&d, "m365_defender.event.is_admin_operation"),
            Some(json!(false))
        );
        assert_eq!(at(&d, "related.user"), Some(json!(["acc-1", "name"])));
        assert!(at(&d, "client.ip").is_none() && at(&d, "user_agent").is_none());
        // Copied to ECS, so dropped without preserve_duplicate_custom_fields.
        assert!(at(&d, "m365_defender.event.account.id").is_none());
    }
}
