//! The shared steps of the default pipeline ([`common`](super::common)'s `pre` and `post`) on
//! the borrowed tree, and the helpers the ported families use. The `Value` versions in `common`
//! stay for the families not ported yet (issue 7) and go with the last of them.

use std::borrow::Cow;

use super::common::{
    first_word, is_supported, java_hash_set_order, ENVELOPE_RENAMES, EVENT_CAPACITY,
    TABLES_WITHOUT_APPLICATION_NAME,
};
use crate::doc::es_date_str;
use crate::tree::{Doc, Node, Obj};
use crate::{MapError, ECS_VERSION};

/// Step 1 of the hook contract (see the module docs of `stream`), moving the envelope's values
/// into the document. Returns the category (`""` when there is none) and the `properties`
/// value, taken out of the record for the family.
pub(crate) fn pre<'a>(
    record: Obj<'a>,
    original: &'a str,
    doc: &mut Doc<'a>,
) -> Result<(Cow<'a, str>, Option<Node<'a>>), MapError> {
    doc.set("ecs.version", ECS_VERSION);
    doc.set("event.original", original);

    let (mut category_value, mut time, mut props) = (None, None, None);
    let mut renamed: [Option<Node<'a>>; ENVELOPE_RENAMES.len()] = Default::default();
    for (k, v) in record {
        match k.as_ref() {
            "category" => category_value = Some(v),
            "time" => time = Some(v),
            "properties" => props = Some(v),
            other => {
                if let Some(i) = ENVELOPE_RENAMES.iter().position(|(from, _)| *from == other) {
                    renamed[i] = Some(v);
                }
            }
        }
    }
    let category = match category_value {
        None | Some(Node::Null) => Cow::Borrowed(""),
        Some(Node::Str(s)) => s,
        // Elastic's category checks call toLowerCase() on it, which fails for other types.
        Some(other) => {
            return Err(MapError::field(
                "category",
                format!("expected a string, got {}", other.type_name()),
            ))
        }
    };
    // The envelope's object is made whole (sized for a record's columns, so that it is not
    // regrown key by key) and put once; the date processors' messages follow it, as they
    // would follow it in the pipeline.
    let mut errors: Vec<String> = Vec::new();
    let time_text = time.as_ref().and_then(|t| date_result(t, &mut errors));
    let stamp = props.as_ref().and_then(|p| p.get("Timestamp"));
    // Streaming records often carry the same text in both: parse and format it once.
    let same = matches!((&time, stamp), (Some(Node::Str(a)), Some(Node::Str(b))) if a == b);
    let ts = match &time_text {
        Some(t) if same => Some(t.clone()),
        _ => stamp.and_then(|s| date_result(s, &mut errors)),
    };
    let mut event = Obj::with_capacity(EVENT_CAPACITY);
    event.push("category", category.clone());
    for ((_, to), v) in ENVELOPE_RENAMES.iter().zip(renamed) {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            continue;
        };
        let rel = &to["m365_defender.event.".len()..];
        match rel.split_once('.') {
            Some((head, leaf)) => {
                let parent = event.slot(head);
                if !parent.is_object() {
                    *parent = Node::Object(Obj::with_capacity(2));
                }
                if let Node::Object(p) = parent {
                    p.insert(leaf, v);
                }
            }
            None => {
                event.insert(rel, v);
            }
        }
    }
    event.put_some("time", time_text);
    event.put_some("timestamp", ts.clone());
    let mut vendor = Obj::with_capacity(1);
    vendor.push("event", event);
    doc.0.push("m365_defender", vendor);
    for e in errors {
        doc.append("error.message", e);
    }
    if let Some(ts) = ts {
        doc.set("@timestamp", ts);
    }

    if category.is_empty() {
        doc.append(
            "error.message",
            "Missing required field: m365_defender.event.category.",
        );
    } else if !is_supported(&category) {
        doc.append(
            "error.message",
            format!("The event category {category} is not supported."),
        );
    }
    Ok((category, props))
}

/// The `properties` object of an envelope, as `stream::properties` checks it.
pub(crate) fn properties(props: Option<Node<'_>>) -> Result<Obj<'_>, MapError> {
    match props {
        Some(Node::Object(p)) => Ok(p),
        None | Some(Node::Null) => Err(MapError::field(
            "properties",
            "missing: a streaming-API record carries its table's columns in `properties`",
        )),
        Some(other) => Err(MapError::field(
            "properties",
            format!("expected an object, got {}", other.type_name()),
        )),
    }
}

/// Step 3 of the hook contract: the default pipeline's tail.
pub(crate) fn post<'a>(table: &str, doc: &mut Doc<'a>) {
    for (pid, entity) in [
        ("process.pid", "process.entity_id"),
        ("process.parent.pid", "process.parent.entity_id"),
    ] {
        if let Some(s) = doc.get(pid).and_then(Node::to_text) {
            if !s.is_empty() {
                doc.set(entity, s);
            }
        }
    }
    process_name_from_command_line(doc);

    if let Some(id) = doc.get("m365_defender.event.device.id") {
        if !is_empty_value(id) {
            let id = id.clone();
            if doc.get("cloud.instance.id").is_none() {
                doc.set("cloud.instance.id", id.clone());
            }
            doc.set("device.id", id);
        }
    }
    if !TABLES_WITHOUT_APPLICATION_NAME.contains(&table) {
        copy(doc, "m365_defender.event.application", "application.name");
    }
    doc.prune_empty();
}

fn is_empty_value(v: &Node<'_>) -> bool {
    match v {
        Node::Null => true,
        Node::Str(s) => s.is_empty(),
        _ => false,
    }
}

/// `common`'s `process_name_from_command_line` (Elastic's script of that name): names keep
/// their borrow of the record.
fn process_name_from_command_line<'a>(doc: &mut Doc<'a>) {
    let (name, commands, other) = match doc.get("process") {
        Some(Node::Object(p)) => (p.get("name"), p.get("command_line"), false),
        None => (None, None, false),
        // Setting `process.name` replaces a non-object `process`.
        Some(_) => (None, None, true),
    };
    let commands: &[Node<'a>] = match commands {
        Some(c @ Node::Str(_)) => std::slice::from_ref(c),
        Some(Node::Array(a)) => a,
        _ => &[],
    };
    let has_command = commands
        .iter()
        .any(|c| c.as_str().is_some_and(|c| !c.is_empty()));
    let mut names: Vec<Cow<'a, str>> = Vec::new();
    let mut add = |s: Cow<'a, str>| {
        if !names.contains(&s) {
            names.push(s);
        }
    };
    match name {
        // The set of one name without a command line is that name: nothing changes.
        Some(Node::Str(_)) if !has_command => return,
        // No name and no command line: the script stores an empty list, which the removal of
        // empty values drops again.
        None if !has_command && !other => return,
        Some(Node::Str(s)) => add(s.clone()),
        Some(Node::Array(a)) => a.iter().filter_map(Node::as_cow).for_each(&mut add),
        _ => {}
    }
    for cmd in commands
        .iter()
        .filter_map(Node::as_str)
        .filter(|c| !c.is_empty())
    {
        add(Cow::Owned(first_word(cmd)));
    }
    let mut ordered = java_hash_set_order(names);
    let value = if ordered.len() == 1 {
        Node::Str(ordered.remove(0))
    } else {
        Node::Array(ordered.into_iter().map(Node::Str).collect())
    };
    doc.set("process.name", value);
}

/// What Elastic's `date` processor stores for `value`, `None` when it stores nothing; on
/// failure the processor's message goes to `errors`.
fn date_result(value: &Node<'_>, errors: &mut Vec<String>) -> Option<String> {
    match value {
        Node::Null => None,
        Node::Str(s) => {
            let d = es_date_str(s);
            if d.is_none() {
                errors.push(format!("unable to parse date [{s}]"));
            }
            d
        }
        other => {
            errors.push(format!("unable to parse date [{}]", other.to_json_string()));
            None
        }
    }
}

/// What Elastic's `date` processor stores for `value`, `None` when it stores nothing; on
/// failure the processor's message is appended to `error.message`.
pub(crate) fn date_string(doc: &mut Doc<'_>, value: Option<&Node<'_>>) -> Option<String> {
    match value {
        None | Some(Node::Null) => None,
        Some(Node::Str(s)) => {
            let d = es_date_str(s);
            if d.is_none() {
                doc.append("error.message", format!("unable to parse date [{s}]"));
            }
            d
        }
        Some(other) => {
            doc.append(
                "error.message",
                format!("unable to parse date [{}]", other.to_json_string()),
            );
            None
        }
    }
}

/// Elastic's `set` with `copy_from` and `ignore_empty_value`: copies `from` to `to` unless it
/// is missing, null or `""`.
pub(crate) fn copy<'a>(doc: &mut Doc<'a>, from: &str, to: &'a str) {
    if let Some(v) = doc.get(from) {
        if !is_empty_value(v) {
            let v = v.clone();
            doc.set(to, v);
        }
    }
}

/// What a mustache template `{{{path}}}` renders for a field: `""` when it is missing.
pub(crate) fn render<'a>(doc: &Doc<'a>, path: &str) -> Cow<'a, str> {
    doc.get(path).and_then(Node::to_text).unwrap_or_default()
}

/// The part of `s` that `f` picks, keeping the borrow of the input where `s` has one.
pub(crate) fn sub<'a>(s: &Cow<'a, str>, f: impl for<'x> Fn(&'x str) -> &'x str) -> Cow<'a, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(f(b)),
        Cow::Owned(o) => Cow::Owned(f(o).to_owned()),
    }
}

/// `s` lower-cased, borrowed when it already is (Elastic's `lowercase` of such a string sets
/// the same text).
pub(crate) fn lower<'a>(s: Cow<'a, str>) -> Cow<'a, str> {
    if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_uppercase()) {
        s
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn process_name_single_value_stays_a_string() {
        let mut d = Doc::new();
        d.set("process.name", "cmd.exe");
        d.set("process.command_line", "cmd.exe /c dir");
        process_name_from_command_line(&mut d);
        assert_eq!(d.get_str("process.name"), Some("cmd.exe"));
        d.set("process.command_line", "\"C:\\x\\other.exe\" /c");
        process_name_from_command_line(&mut d);
        // Two names: a list in Java `HashSet` order; only `/` separates path segments.
        assert_eq!(
            d.get("process.name").map(Node::to_value),
            Some(json!(["C:\\x\\other.exe", "cmd.exe"]))
        );
    }

    #[test]
    fn bad_time_appends_error() {
        let mut d = Doc::new();
        assert!(date_string(&mut d, Some(&Node::from("yesterday"))).is_none());
        assert!(date_string(&mut d, Some(&Node::from(5u64))).is_none());
        assert_eq!(
            d.get("error.message").map(Node::to_value),
            Some(json!([
                "unable to parse date [yesterday]",
                "unable to parse date [5]"
            ]))
        );
    }
}
