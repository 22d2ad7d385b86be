//! Record kinds and how a record's kind is recognised from its fields.

use crate::tree::{Node, Obj};

use crate::MapError;

/// The Defender record kinds the core maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// MDE API alert (`GET /api/alerts?$expand=evidence`), evidence array or one split evidence.
    Alert,
    /// MDE API machine (`GET /api/machines`).
    Machine,
    /// MDE API machine action (`GET /api/machineactions`).
    MachineAction,
    /// MDE vulnerability: delta API rows (camelCase) or export rows (PascalCase).
    Vulnerability,
    /// Streaming-API / Event Hubs advanced hunting record (`category: AdvancedHunting-<Table>`).
    StreamEvent,
    /// Microsoft Graph security alert (`alerts_v2`).
    GraphAlert,
    /// Microsoft Graph security incident.
    Incident,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Alert,
        Kind::Machine,
        Kind::MachineAction,
        Kind::Vulnerability,
        Kind::StreamEvent,
        Kind::GraphAlert,
        Kind::Incident,
    ];

    /// The name used on command lines and in config files.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Alert => "alert",
            Kind::Machine => "machine",
            Kind::MachineAction => "machine-action",
            Kind::Vulnerability => "vulnerability",
            Kind::StreamEvent => "event",
            Kind::GraphAlert => "graph-alert",
            Kind::Incident => "incident",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.to_ascii_lowercase().replace('_', "-");
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown kind {s:?} (expected auto or one of {})",
                    names.join(", ")
                )
            })
    }
}

/// True when `map` is a page or envelope whose `key` array holds the records: nothing else in
/// it but OData annotations (`@odata.context`, `@odata.nextLink`, …).
pub(crate) fn is_wrapper(map: &Obj<'_>, key: &str) -> bool {
    matches!(map.get(key), Some(Node::Array(_)))
        && map.keys().all(|k| k == key || k.starts_with('@'))
}

fn has(map: &Obj<'_>, key: &str) -> bool {
    map.contains_key(key)
}

/// The kind of one record: `forced` when given, else recognised from its fields.
pub(crate) fn kind_of(map: &Obj<'_>, forced: Option<Kind>) -> Result<Kind, MapError> {
    if let Some(kind) = forced {
        return Ok(kind);
    }
    let odata = map.get("@odata.type").and_then(Node::as_str).unwrap_or("");
    let category = map.get("category").and_then(Node::as_str).unwrap_or("");
    let kind = if category.starts_with("AdvancedHunting-")
        || (has(map, "properties") && has(map, "category"))
    {
        Kind::StreamEvent
    } else if odata.ends_with("security.incident") {
        Kind::Incident
    // Graph alerts carry incidentWebUrl too (and list items often have no @odata.type), so the
    // alert-only fields decide before incidentWebUrl does.
    } else if odata.ends_with("security.alert")
        || has(map, "alertWebUrl")
        || has(map, "providerAlertId")
    {
        Kind::GraphAlert
    } else if has(map, "incidentWebUrl") {
        Kind::Incident
    } else if has(map, "alertCreationTime")
        || (has(map, "detectionSource") && has(map, "machineId"))
    {
        Kind::Alert
    } else if has(map, "cveId") || has(map, "CveId") {
        Kind::Vulnerability
    } else if has(map, "requestor") || has(map, "creationDateTimeUtc") {
        Kind::MachineAction
    } else if has(map, "computerDnsName") && (has(map, "osPlatform") || has(map, "healthStatus")) {
        Kind::Machine
    } else {
        // Long keys are cut: the message names fields, it does not copy a hostile input.
        let mut keys: Vec<_> = map
            .keys()
            .take(6)
            .map(|k| match k.char_indices().nth(64) {
                Some((end, _)) => &k[..end],
                None => k,
            })
            .collect();
        if map.len() > keys.len() {
            keys.push("…");
        }
        return Err(MapError::new(format!(
            "unknown record kind: no Defender record has these fields ({}); use --kind to force one",
            keys.join(", ")
        )));
    };
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(v: serde_json::Value) -> Result<Kind, MapError> {
        kind_of(Node::from_value(v).as_object().unwrap(), None)
    }

    #[test]
    fn recognises_each_kind() {
        assert_eq!(
            kind(json!({"alertCreationTime": "x", "id": "1"})).unwrap(),
            Kind::Alert
        );
        assert_eq!(
            kind(json!({"computerDnsName": "h", "osPlatform": "Windows10"})).unwrap(),
            Kind::Machine
        );
        assert_eq!(
            kind(json!({"requestor": "u", "type": "Isolate"})).unwrap(),
            Kind::MachineAction
        );
        assert_eq!(
            kind(json!({"cveId": "CVE-1"})).unwrap(),
            Kind::Vulnerability
        );
        assert_eq!(
            kind(json!({"CveId": "CVE-1"})).unwrap(),
            Kind::Vulnerability
        );
        assert_eq!(
            kind(json!({"category": "AdvancedHunting-DeviceInfo", "properties": {}})).unwrap(),
            Kind::StreamEvent
        );
        assert_eq!(
            kind(json!({"@odata.type": "#microsoft.graph.security.incident"})).unwrap(),
            Kind::Incident
        );
        assert_eq!(
            kind(json!({"@odata.type": "#microsoft.graph.security.alert"})).unwrap(),
            Kind::GraphAlert
        );
        // A Graph alert list item: no @odata.type, and an incidentWebUrl of its own.
        let alert =
            json!({"id": "da1", "alertWebUrl": "https://x/a", "incidentWebUrl": "https://x/i"});
        assert_eq!(kind(alert).unwrap(), Kind::GraphAlert);
        assert_eq!(
            kind(json!({"id": "29", "incidentWebUrl": "https://x/i"})).unwrap(),
            Kind::Incident
        );
    }

    #[test]
    fn unknown_kind_names_the_fields() {
        let err = kind(json!({"foo": 1, "bar": 2})).unwrap_err();
        assert!(err.message.contains("foo, bar"), "{err}");
    }

    #[test]
    fn forced_kind_wins() {
        let map = Node::from_value(json!({"foo": 1}));
        assert_eq!(
            kind_of(map.as_object().unwrap(), Some(Kind::Machine)).unwrap(),
            Kind::Machine
        );
    }

    #[test]
    fn kind_names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.name().parse::<Kind>().unwrap(), k);
        }
        assert!("nope".parse::<Kind>().is_err());
    }
}
