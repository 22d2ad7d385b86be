//! `CloudAppEvents` (Defender for Cloud Apps activity): Elastic's `pipeline_app_and_identity`
//! sub-pipeline, written in `identity`; this table adds no columns of its own there.
//!
//! Era: the `test-app-and-identity` fixture (ecs 8.11.0): no `client.ip` and no geo
//! enrichment for `IPAddress`, which only reaches `host.ip` and `related.ip`.

use super::identity;
use super::Record;
use crate::doc::Doc;
use crate::MapError;

pub(crate) fn map(rec: &Record<'_>, doc: &mut Doc) -> Result<(), MapError> {
    identity::pipeline(rec, doc, |_, _| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;
    use serde_json::{json, Map, Value};

    #[test]
    fn cloud_app_event_user_and_raw_data() {
        let props: Map<String, Value> = json!({"AccountId": "acc-1", "AccountDisplayName": "name", "ActionType": "Write Deployments",
            "RawEventData": "{\"AccountMoniker\":\"M\"}", "IPAddress": "81.2.69.142", "ApplicationId": 12260,
            "IsAdminOperation": 0, "UserAgent": ""})
        .as_object()
        .cloned()
        .unwrap_or_default();
        let env = Map::new();
        let opts = Options::default();
        let rec = Record {
            table: "CloudAppEvents",
            props: &props,
            envelope: &env,
            opts: &opts,
        };
        let mut d = Doc::new();
        map(&rec, &mut d).unwrap();
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
            d.get("m365_defender.event.is_admin_operation"),
            Some(&json!(false))
        );
        assert_eq!(d.get("related.user"), Some(&json!(["acc-1", "name"])));
        assert!(d.get("client.ip").is_none() && d.get("user_agent").is_none());
        // Copied to ECS, so dropped without preserve_duplicate_custom_fields.
        assert!(d.get("m365_defender.event.account.id").is_none());
    }
}
