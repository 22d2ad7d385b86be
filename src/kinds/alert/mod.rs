//! MDE API alert (`GET /api/alerts?$expand=evidence`).
//!
//! - ECS: Elastic's `microsoft_defender_endpoint` `log` data stream, one document per evidence
//!   item (Elastic's httpjson input splits the `evidence` array before its pipeline runs; we split
//!   here so every shell gives the same documents).
//! - Sentinel: one `SecurityAlert` row per alert, as the MDATP connector writes them, with all
//!   evidence in `Entities`.
//!
//! Field tables: docs/mapping/alert.md.
//!
//! `mod.rs` holds what both targets share (the evidence split and the field checks); `ecs.rs`
//! and `sentinel.rs` hold the two mappings.

use crate::tree::{Node, Obj};
use crate::MapError;

mod ecs;
mod sentinel;

pub(crate) use ecs::to_ecs;
pub(crate) use sentinel::to_sentinel;

/// Values Elastic's pipeline treats as absent (removed from the alert and from its evidence).
fn is_placeholder(v: &Node<'_>) -> bool {
    match v {
        Node::Null => true,
        Node::Str(s) => s.is_empty() || s == "-" || s == "N/A",
        _ => false,
    }
}

/// The alert's evidence items: `None` stands for "no evidence" (absent, null or empty array).
fn evidence_items<'r, 'a>(
    evidence: Option<&'r Node<'a>>,
) -> Result<Vec<Option<&'r Obj<'a>>>, MapError> {
    match evidence {
        None | Some(Node::Null) => Ok(vec![None]),
        Some(Node::Object(e)) => Ok(vec![Some(e)]),
        Some(Node::Array(items)) if items.is_empty() => Ok(vec![None]),
        Some(Node::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Node::Object(e) => Ok(Some(e)),
                other => Err(MapError::field(
                    format!("evidence[{i}]"),
                    format!("expected an object, got {}", other.type_name()),
                )),
            })
            .collect(),
        Some(other) => Err(MapError::field(
            "evidence",
            format!("expected an object or an array, got {}", other.type_name()),
        )),
    }
}

#[cfg(test)]
mod testing {
    //! The alert the tests of both mappings start from, and a way to map it.
    use serde_json::{json, Value};

    use crate::{Mapper, Options, Output, Target};

    pub(crate) fn alert(evidence: Value) -> Value {
        json!({
            "id": "da1_2", "incidentId": 7, "severity": "High", "status": "New", "title": "Bad thing",
            "category": "Execution", "detectionSource": "WindowsDefenderAtp", "machineId": "m1",
            "computerDnsName": "Host-1.corp.example", "alertCreationTime": "2024-01-01T00:00:05Z",
            "firstEventTime": "2024-01-01T00:00:00Z", "lastEventTime": "2024-01-01T00:00:01.5Z",
            "lastUpdateTime": "2024-01-01T00:01:00Z", "relatedUser": {"userName": "ann", "domainName": "CORP"},
            "evidence": evidence
        })
    }

    pub(crate) fn map(target: Target, v: Value) -> Vec<Output> {
        let m = Mapper::new(Options {
            target,
            ..Options::default()
        });
        let mut out = Vec::new();
        m.map_value(v, &mut |o: Output| out.push(o));
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::testing::{alert, map};
    use crate::{Mapper, Options, Output, Target};

    #[test]
    fn evidence_array_gives_one_document_per_item() {
        let docs = map(
            Target::Ecs,
            alert(json!([
                {"entityType": "File", "fileName": "a.exe", "sha1": "aa"},
                {"entityType": "Ip", "ipAddress": "10.0.0.1"},
                {"entityType": "User", "accountName": "ann", "userSid": "S-1"}
            ])),
        );
        assert_eq!(docs.len(), 3);
        let d: Vec<Value> = docs.iter().map(|o| o.to_value()).collect();
        assert_eq!(d[0]["file"]["name"], "a.exe");
        assert_eq!(d[0]["related"]["hash"], json!(["aa"]));
        assert_eq!(d[1]["related"]["ip"], json!(["10.0.0.1"]));
        assert_eq!(d[2]["user"]["id"], "S-1");
        assert_eq!(d[2]["event"]["type"], json!(["access", "start"]));
        assert_eq!(d[0]["event"]["duration"], 1_500_000_000);
        assert_eq!(d[0]["event"]["severity"], 4);
        assert_eq!(d[0]["host"]["name"], "host-1.corp.example");
        assert_eq!(d[0]["microsoft"]["defender_endpoint"]["incidentId"], "7");
        let kinds: Vec<&Value> = d
            .iter()
            .map(|d| &d["microsoft"]["defender_endpoint"]["evidence"]["entityType"])
            .collect();
        assert_eq!(kinds, [&json!("File"), &json!("Ip"), &json!("User")]);
    }

    #[test]
    fn split_original_is_the_record_with_one_evidence_in_source_key_order() {
        let m = Mapper::new(Options {
            preserve_original_event: true,
            ..Options::default()
        });
        let text = r#"{"id":"da9_9","alertCreationTime":"2024-01-01T00:00:00Z","evidence":[{"entityType":"Ip","ipAddress":"10.0.0.1"},{"entityType":"Url","url":"http://x.example/"}],"title":"t","description":"d"}"#;
        let mut out = Vec::new();
        m.map_text(text, &mut |o: Output| out.push(o));
        let originals: Vec<String> = out
            .iter()
            .map(|o| {
                o.to_value()["event"]["original"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            originals,
            [
                r#"{"id":"da9_9","alertCreationTime":"2024-01-01T00:00:00Z","evidence":{"entityType":"Ip","ipAddress":"10.0.0.1"},"title":"t","description":"d"}"#,
                r#"{"id":"da9_9","alertCreationTime":"2024-01-01T00:00:00Z","evidence":{"entityType":"Url","url":"http://x.example/"},"title":"t","description":"d"}"#,
            ]
        );
        // An alert that is not split keeps its exact source text.
        let single =
            r#"{ "id": "da9_9", "alertCreationTime": "2024-01-01T00:00:00Z", "evidence": [] }"#;
        let mut out = Vec::new();
        m.map_text(single, &mut |o: Output| out.push(o));
        assert_eq!(out[0].to_value()["event"]["original"], single);
    }

    #[test]
    fn alert_without_evidence_gives_one_document() {
        for ev in [Value::Null, json!([])] {
            let docs = map(Target::Ecs, alert(ev));
            assert_eq!(docs.len(), 1);
            assert!(docs[0].to_value()["microsoft"]["defender_endpoint"]
                .get("evidence")
                .is_none());
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut a = alert(json!("x"));
        let out = map(Target::Ecs, a.clone());
        assert!(out[0].is_error());
        assert!(out[0].to_value()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("field evidence"));
        a["evidence"] = json!([]);
        a["severity"] = json!(5);
        let out = map(Target::Ecs, a.clone());
        assert!(out[0].to_value()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("field severity"));
        a["severity"] = json!("Low");
        a["firstEventTime"] = json!("yesterday");
        let out = map(Target::Sentinel, a);
        assert!(out[0].is_error(), "{:?}", out[0]);
    }
}
