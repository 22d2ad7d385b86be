//! `AdditionalFields` (with the DNS parts of DNS inspections), the other columns holding JSON
//! text, the network adapter name and the logged-on users of the Device tables.

use serde_json::{Map, Value};

use super::{Ctx, Ev};
use crate::doc::Doc;
use crate::kinds::stream::common::mustache;

/// DNS parts of `AdditionalFields` moved to `m365_defender.event.dns.*` for DNS inspections.
const DNS_PARTS: &[(&str, &str)] = &[
    ("qclass_name", ev!("dns.qclass_name")),
    ("query", ev!("dns.query")),
    ("qtype_name", ev!("dns.qtype_name")),
    ("rcode_name", ev!("dns.rcode_name")),
];

/// DNS header flags as `AdditionalFields` carries them (`"true"` strings).
const DNS_FLAGS: &[&str] = &["AA", "TC", "RD", "RA", "AD", "CD", "DO"];

/// `AdditionalFields`: parsed when it is JSON text, `direction` moved out, and for DNS
/// inspections the query parts moved to `m365_defender.event.dns`.
/// `action` is `ActionType` as the pipeline has it then (after `*ImageLoaded` became `load`).
pub(super) fn additional_fields(
    raw: Option<&Value>,
    action: Option<&str>,
    ctx: &Ctx<'_>,
    ev: &mut Ev<'_>,
    doc: &mut Doc,
) {
    let mut af = match raw {
        None | Some(Value::Null) => return,
        Some(Value::String(s)) if !s.is_empty() => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(e) => {
                doc.append(
                    "error.message",
                    format!("field [AdditionalFields]: cannot parse JSON: {e}"),
                );
                Value::String(s.clone())
            }
        },
        Some(v) => v.clone(),
    };
    if af.is_null() {
        return;
    }
    if let Value::Object(map) = &mut af {
        if let Some(dir) = map.shift_remove("direction") {
            ev.add_owned(ev!("network_direction"), dir);
        }
        let dns = ctx.has("network")
            && action.is_some_and(|a| a.to_lowercase().contains("dnsconnectioninspected"));
        if dns {
            for (part, to) in DNS_PARTS {
                if let Some(v) = map.shift_remove(*part) {
                    ev.add_owned(to, v);
                }
            }
            dns_answers(map, ev, doc);
            let flags: Vec<Value> = DNS_FLAGS
                .iter()
                .filter(|f| map.get(**f).and_then(Value::as_str) == Some("true"))
                .map(|f| Value::from(*f))
                .collect();
            ev.add_owned(ev!("dns.header_flags"), flags);
        }
    }
    ev.add_owned(ev!("additional_fields"), af);
}

/// `answers` and `TTLs` (JSON text in `AdditionalFields`) become `dns.answers` / `dns.ttls`
/// under `m365_defender.event`, and `dns.answers` in ECS shape (`{data, ttl}` pairs, whole-second
/// TTLs), as Elastic's fixture shows.
fn dns_answers(af: &mut Map<String, Value>, ev: &mut Ev<'_>, doc: &mut Doc) {
    let mut parsed = |key: &str, target: &'static str, doc: &mut Doc| -> Option<Value> {
        let v = match af.shift_remove(key)? {
            Value::String(s) => match serde_json::from_str::<Value>(&s) {
                Ok(v) => v,
                Err(e) => {
                    doc.append(
                        "error.message",
                        format!("field [{key}]: cannot parse JSON: {e}"),
                    );
                    Value::String(s)
                }
            },
            other => other,
        };
        ev.add_owned(target, v.clone());
        Some(v)
    };
    let answers = parsed("answers", ev!("dns.answers"), doc);
    let ttls = parsed("TTLs", ev!("dns.ttls"), doc);
    let Some(Value::Array(answers)) = answers else {
        return;
    };
    let ttls = match ttls {
        Some(Value::Array(t)) => t,
        _ => vec![],
    };
    let ecs: Vec<Value> = answers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut o = Map::new();
            o.insert("data".into(), a.clone());
            if let Some(ttl) = ttls.get(i).and_then(Value::as_f64) {
                o.insert("ttl".into(), Value::from(ttl as i64));
            }
            Value::Object(o)
        })
        .collect();
    doc.set("dns.answers", ecs);
}

/// The `json` processor on a column holding JSON text: the parsed value, `None` when the column
/// stays as it is (not text, empty, or not JSON: then the message goes to `error.message`).
pub(super) fn parse_json(raw: Option<&Value>, col: &str, doc: &mut Doc) -> Option<Value> {
    let Some(Value::String(s)) = raw else {
        return None;
    };
    if s.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(s) {
        Ok(v) => Some(v),
        Err(e) => {
            doc.append(
                "error.message",
                format!("field [{col}]: cannot parse JSON: {e}"),
            );
            None
        }
    }
}

/// Windows adapter names come as `{GUID}`; the braces go.
pub(super) fn adapter_name(raw: Option<&Value>, ev: &mut Ev<'_>) {
    if let Some(Value::String(name)) = raw {
        let inner = name.strip_prefix('{').map(|n| n.strip_suffix('}'));
        match inner {
            Some(Some(guid)) => ev.add_owned(ev!("network.adapter_name"), guid),
            // A `{` without the closing brace does not match the grok pattern: nothing is set.
            Some(None) => {}
            None => {
                if !name.is_empty() {
                    ev.add_owned(ev!("network.adapter_name"), name.as_str());
                }
            }
        }
    }
}

/// `LoggedOnUsers` (`[{"UserName": …, …}]`) becomes a list of user names, also added to
/// `related.user` (duplicates kept, as the pipeline's `append` does).
pub(super) fn logged_on_users(value: Option<&Value>, ev: &mut Ev<'_>, doc: &mut Doc) {
    let Some(Value::Array(users)) = value else {
        return;
    };
    let names: Vec<Value> = users
        .iter()
        .map(|u| Value::from(u.get("UserName").and_then(mustache).unwrap_or_default()))
        .collect();
    ev.add_owned(ev!("active_users"), names.clone());
    let mut related = match doc.get("related.user") {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    related.extend(names);
    doc.set("related.user", related);
}
