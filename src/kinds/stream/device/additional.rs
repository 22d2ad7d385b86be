//! `AdditionalFields` (with the DNS parts of DNS inspections), the other columns holding JSON
//! text, the network adapter name and the logged-on users of the Device tables.

use super::{Ctx, Ev};
use crate::kinds::stream::tree_common::sub;
use crate::tree::{self, Doc, Node, Obj};

/// DNS parts of `AdditionalFields` moved to `m365_defender.event.dns.*` for DNS inspections.
const DNS_PARTS: &[(&str, &str)] = &[
    ("qclass_name", ev!("dns.qclass_name")),
    ("query", ev!("dns.query")),
    ("qtype_name", ev!("dns.qtype_name")),
    ("rcode_name", ev!("dns.rcode_name")),
];

/// DNS header flags as `AdditionalFields` carries them (`"true"` strings).
const DNS_FLAGS: &[&str] = &["AA", "TC", "RD", "RA", "AD", "CD", "DO"];

/// The `json` processor's parse of JSON text. The text is a column's string, which has escapes
/// (it holds quotes), so it is a copy: the value owns its strings.
fn parse_owned(s: &str) -> Result<Node<'static>, serde_json::Error> {
    tree::parse(s).map(Node::into_owned)
}

/// `AdditionalFields`: parsed when it is JSON text, `direction` moved out, and for DNS
/// inspections the query parts moved to `m365_defender.event.dns`.
/// `action` is `ActionType` as the pipeline has it then (after `*ImageLoaded` became `load`).
pub(super) fn additional_fields<'a>(
    raw: Option<&Node<'a>>,
    action: Option<&str>,
    ctx: &Ctx<'_>,
    ev: &mut Ev<'a>,
    doc: &mut Doc<'a>,
) {
    let mut af = match raw {
        None | Some(Node::Null) => return,
        Some(Node::Str(s)) if !s.is_empty() => match parse_owned(s) {
            Ok(v) => v,
            Err(e) => {
                doc.append(
                    "error.message",
                    format!("field [AdditionalFields]: cannot parse JSON: {e}"),
                );
                Node::Str(s.clone())
            }
        },
        Some(v) => v.clone(),
    };
    if af.is_null() {
        return;
    }
    if let Node::Object(map) = &mut af {
        if let Some(dir) = map.remove("direction") {
            ev.add(ev!("network_direction"), dir);
        }
        let dns = ctx.has("network")
            && action.is_some_and(|a| a.to_lowercase().contains("dnsconnectioninspected"));
        if dns {
            for (part, to) in DNS_PARTS {
                if let Some(v) = map.remove(part) {
                    ev.add(to, v);
                }
            }
            dns_answers(map, ev, doc);
            let flags: Vec<Node<'a>> = DNS_FLAGS
                .iter()
                .filter(|f| map.get(f).and_then(Node::as_str) == Some("true"))
                .map(|f| Node::from(*f))
                .collect();
            ev.add(ev!("dns.header_flags"), flags);
        }
    }
    ev.add(ev!("additional_fields"), af);
}

/// `answers` and `TTLs` (JSON text in `AdditionalFields`) become `dns.answers` / `dns.ttls`
/// under `m365_defender.event`, and `dns.answers` in ECS shape (`{data, ttl}` pairs, whole-second
/// TTLs), as Elastic's fixture shows.
fn dns_answers<'a>(af: &mut Obj<'a>, ev: &mut Ev<'a>, doc: &mut Doc<'a>) {
    let mut parsed = |key: &str, target: &'static str, doc: &mut Doc<'a>| -> Option<Node<'a>> {
        let v = match af.remove(key)? {
            Node::Str(s) => match parse_owned(&s) {
                Ok(v) => v,
                Err(e) => {
                    doc.append(
                        "error.message",
                        format!("field [{key}]: cannot parse JSON: {e}"),
                    );
                    Node::Str(s)
                }
            },
            other => other,
        };
        ev.add(target, v.clone());
        Some(v)
    };
    let answers = parsed("answers", ev!("dns.answers"), doc);
    let ttls = parsed("TTLs", ev!("dns.ttls"), doc);
    let Some(Node::Array(answers)) = answers else {
        return;
    };
    let ttls = match ttls {
        Some(Node::Array(t)) => t,
        _ => vec![],
    };
    let ecs: Vec<Node<'a>> = answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut o = Obj::with_capacity(2);
            o.push("data", a);
            if let Some(ttl) = ttls.get(i).and_then(Node::as_f64) {
                o.push("ttl", ttl as i64);
            }
            Node::Object(o)
        })
        .collect();
    doc.set("dns.answers", ecs);
}

/// The `json` processor on a column holding JSON text: the parsed value, `None` when the column
/// stays as it is (not text, empty, or not JSON: then the message goes to `error.message`).
pub(super) fn parse_json<'a>(
    raw: Option<&Node<'a>>,
    col: &str,
    doc: &mut Doc<'a>,
) -> Option<Node<'a>> {
    let Some(Node::Str(s)) = raw else {
        return None;
    };
    if s.is_empty() {
        return None;
    }
    match parse_owned(s) {
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
pub(super) fn adapter_name<'a>(raw: Option<&Node<'a>>, ev: &mut Ev<'a>) {
    if let Some(Node::Str(name)) = raw {
        let inner = name.strip_prefix('{').map(|n| n.strip_suffix('}'));
        match inner {
            Some(Some(_)) => ev.add(
                ev!("network.adapter_name"),
                sub(name, |n| &n[1..n.len() - 1]),
            ),
            // A `{` without the closing brace does not match the grok pattern: nothing is set.
            Some(None) => {}
            None => {
                if !name.is_empty() {
                    ev.add(ev!("network.adapter_name"), name.clone());
                }
            }
        }
    }
}

/// `LoggedOnUsers` (`[{"UserName": …, …}]`) becomes a list of user names, also added to
/// `related.user` (duplicates kept, as the pipeline's `append` does).
pub(super) fn logged_on_users<'a>(value: Option<&Node<'a>>, ev: &mut Ev<'a>, doc: &mut Doc<'a>) {
    let Some(Node::Array(users)) = value else {
        return;
    };
    let names: Vec<Node<'a>> = users
        .iter()
        .map(|u| {
            Node::Str(
                u.get("UserName")
                    .and_then(Node::to_text)
                    .unwrap_or_default(),
            )
        })
        .collect();
    ev.add(ev!("active_users"), names.clone());
    let mut related = match doc.get("related.user") {
        Some(Node::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    related.extend(names);
    doc.set("related.user", related);
}
