//! The parts of Elastic's `m365_defender.event` default pipeline that every table shares: the
//! envelope (`category`, `operationName`, `Tenant`, `tenantId`, `time`, `properties.Timestamp`),
//! the category checks, and the tail (`process.entity_id`, `process.name` from the command line,
//! `cloud.instance.id`, `device.id`, `application.name`, removal of empty values). Also small
//! helpers that the family sub-pipelines all use.

use serde_json::{Map, Value};

use super::super::Input;
use super::{family_ecs, CATEGORY_PREFIX};
use crate::doc::{es_date_str, to_string_value, Doc};
use crate::{MapError, Options, ECS_VERSION};

/// Envelope fields that Elastic renames as they are (any JSON type).
const ENVELOPE_RENAMES: &[(&str, &str)] = &[
    ("operationName", "m365_defender.event.operation_name"),
    ("Tenant", "m365_defender.event.tenant.name"),
    ("tenantId", "m365_defender.event.tenant.id"),
];

/// Tables whose fixture (test-app-and-identity, an older era) predates the default pipeline's
/// `application.name` step; the newer fixtures (test-behavior) have it. The fixtures are the spec.
const TABLES_WITHOUT_APPLICATION_NAME: &[&str] = &[
    "IdentityLogonEvents",
    "IdentityQueryEvents",
    "IdentityDirectoryEvents",
    "IdentityInfo",
    "CloudAppEvents",
];

/// Step 1 of the hook contract (see the module docs of `stream`). Returns the category, `""`
/// when there is none.
pub(crate) fn pre<'a>(input: &Input<'a>, doc: &mut Doc) -> Result<&'a str, MapError> {
    let rec = input.record;
    doc.set("ecs.version", ECS_VERSION);
    doc.set("event.original", input.original);

    let category = match rec.get("category") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        // Elastic's category checks call toLowerCase() on it, which fails for other types.
        Some(other) => {
            return Err(MapError::field(
                "category",
                format!("expected a string, got {}", crate::error::type_name(other)),
            ))
        }
    };
    doc.set("m365_defender.event.category", category);
    for (from, to) in ENVELOPE_RENAMES {
        doc.set_opt(to, rec.get(*from));
    }
    date(doc, rec.get("time"), "m365_defender.event.time");
    let props = rec.get("properties").and_then(Value::as_object);
    date(
        doc,
        props.and_then(|p| p.get("Timestamp")),
        "m365_defender.event.timestamp",
    );
    if let Some(ts) = doc.get("m365_defender.event.timestamp").cloned() {
        doc.set("@timestamp", ts);
    }

    if category.is_empty() {
        doc.append(
            "error.message",
            "Missing required field: m365_defender.event.category.",
        );
    } else if !is_supported(category) {
        doc.append(
            "error.message",
            format!("The event category {category} is not supported."),
        );
    }
    Ok(category)
}

/// A category Elastic's pipeline maps: one with a family function.
fn is_supported(category: &str) -> bool {
    category
        .strip_prefix(CATEGORY_PREFIX)
        .is_some_and(|t| family_ecs(t).is_some())
}

/// Step 3 of the hook contract: the default pipeline's tail.
pub(crate) fn post(table: &str, doc: &mut Doc) {
    for (pid, entity) in [
        ("process.pid", "process.entity_id"),
        ("process.parent.pid", "process.parent.entity_id"),
    ] {
        if let Some(s) = doc.get(pid).and_then(mustache) {
            if !s.is_empty() {
                doc.set(entity, s);
            }
        }
    }
    process_name_from_command_line(doc);

    if let Some(id) = doc.get("m365_defender.event.device.id").cloned() {
        if !is_empty_value(&id) {
            if doc.get("cloud.instance.id").is_none() {
                doc.set("cloud.instance.id", id.clone());
            }
            doc.set("device.id", id);
        }
    }
    if !TABLES_WITHOUT_APPLICATION_NAME.contains(&table) {
        copy(doc, "m365_defender.event.application", "application.name");
    }
    // `event.original` stays whatever `preserve_original_event` says: this pipeline (4.0.1 era)
    // has no step that removes it. The option tags are added by `kinds::map` for every kind.
    doc.prune_empty();
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// How a mustache template `{{{field}}}` renders a scalar value.
pub(crate) fn mustache(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        other => to_string_value(other),
    }
}

/// Elastic's `set_process_name_from_command_line` script: `process.name` becomes the set of its
/// own values plus the first word of each `process.command_line` (basename, quotes removed), a
/// string when the set has one element. The set is a Java `HashSet`, so its order is that of a
/// `HashSet` ([`java_hash_set_order`]), which is what Elastic stores.
fn process_name_from_command_line(doc: &mut Doc) {
    let mut names: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if !names.contains(&s) {
            names.push(s);
        }
    };
    match doc.get("process.name") {
        Some(Value::String(s)) => add(s.clone()),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .for_each(|s| add(s.to_string())),
        _ => {}
    }
    let commands: Vec<String> = match doc.get("process.command_line") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    };
    for cmd in commands.iter().filter(|c| !c.is_empty()) {
        add(first_word(cmd));
    }
    let mut ordered = java_hash_set_order(names);
    let value = if ordered.len() == 1 {
        Value::String(ordered.remove(0))
    } else {
        Value::Array(ordered.into_iter().map(Value::String).collect())
    };
    doc.set("process.name", value);
}

/// The script's executable: first space-separated token of the trimmed line, its last `/`
/// segment, without double quotes. A trailing `:` also goes: Linux daemons rewrite their title
/// (`nginx: master process …`), and the newer fixture (test-cloud) stores `nginx`.
fn first_word(cmd: &str) -> String {
    let trimmed = java_trim(cmd);
    let first = trimmed.split(' ').next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    let base = base.replace('"', "");
    base.strip_suffix(':').map(str::to_string).unwrap_or(base)
}

/// Java's `String.trim()`: strips every char up to U+0020, not just Unicode whitespace.
pub(crate) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// The iteration order of a `java.util.HashSet` filled with `items` in order (no duplicates):
/// buckets in index order, insertion order within a bucket (resizing keeps it), the table
/// starting at 16 buckets and doubling past a 0.75 load.
pub(crate) fn java_hash_set_order(items: Vec<String>) -> Vec<String> {
    let mut capacity: u32 = 16;
    while items.len() as u64 > u64::from(capacity) * 3 / 4 {
        capacity *= 2;
    }
    let mut keyed: Vec<(u32, String)> = items
        .into_iter()
        .map(|s| (java_spread_hash(&s) & (capacity - 1), s))
        .collect();
    keyed.sort_by_key(|(bucket, _)| *bucket);
    keyed.into_iter().map(|(_, s)| s).collect()
}

/// `String.hashCode()` over UTF-16 units, then `HashMap.hash`'s `h ^ (h >>> 16)`.
fn java_spread_hash(s: &str) -> u32 {
    let h = s
        .encode_utf16()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
    h ^ (h >> 16)
}

/// Elastic's `date` processor with `formats: [ISO8601]` into `target`; on failure it appends
/// the processor's message to `error.message` and leaves `target` unset.
pub(crate) fn date(doc: &mut Doc, value: Option<&Value>, target: &str) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match es_date_str(s) {
            Some(d) => doc.set(target, d),
            None => doc.append("error.message", format!("unable to parse date [{s}]")),
        },
        Some(other) => doc.append("error.message", format!("unable to parse date [{other}]")),
    }
}

/// A property by name, `None` when absent or null.
pub(crate) fn prop<'a>(props: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    props.get(name).filter(|v| !v.is_null())
}

/// A string property; `None` when absent, null or not a string.
pub(crate) fn prop_str<'a>(props: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    props.get(name).and_then(Value::as_str)
}

/// Elastic's `rename` of `json.properties.<from>` to `to` (any type, null skipped), for a
/// table of `(property, target)` pairs.
pub(crate) fn renames(doc: &mut Doc, props: &Map<String, Value>, table: &[(&str, &str)]) {
    for (from, to) in table {
        doc.set_opt(to, prop(props, from));
    }
}

/// Elastic's `convert` to `type: string`.
pub(crate) fn convert_string(doc: &mut Doc, props: &Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = prop(props, from) {
        if v.as_str() != Some("") {
            doc.set_some(to, to_string_value(v).map(Value::String));
        }
    }
}

/// The `remove_duplicate_custom_fields` step each sub-pipeline ends with: the vendor fields
/// that were copied to ECS go unless the user keeps them.
pub(crate) fn remove_custom_duplicates(opts: &Options, doc: &mut Doc, fields: &[&str]) {
    if !opts.preserve_duplicate_custom_fields {
        for f in fields {
            doc.remove(f);
        }
    }
}

/// Elastic's `set` with `copy_from` and `ignore_empty_value`: copies `from` to `to` unless it
/// is missing, null or `""`.
pub(crate) fn copy(doc: &mut Doc, from: &str, to: &str) {
    if let Some(v) = doc.get(from) {
        if !is_empty_value(v) {
            let v = v.clone();
            doc.set(to, v);
        }
    }
}

/// What a mustache template `{{{path}}}` renders for a field: `""` when it is missing.
pub(crate) fn render(doc: &Doc, path: &str) -> String {
    doc.get(path).and_then(mustache).unwrap_or_default()
}

/// Elastic's `append` to `related.*` (no duplicates) of a value rendered as mustache does.
pub(crate) fn related(doc: &mut Doc, field: &str, value: Option<&Value>) {
    if let Some(s) = value.and_then(mustache) {
        doc.append(field, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_set_order_matches_java() {
        // Java: new HashSet() + add("backgroundtaskhost.exe"), add("backgroundTaskHost.exe")
        // iterates in this order (Elastic's test-device fixture shows it).
        let got = java_hash_set_order(vec![
            "backgroundtaskhost.exe".into(),
            "backgroundTaskHost.exe".into(),
        ]);
        assert_eq!(got, ["backgroundtaskhost.exe", "backgroundTaskHost.exe"]);
        // "Aa" and "BB" collide in Java; insertion order decides.
        assert_eq!(
            java_hash_set_order(vec!["BB".into(), "Aa".into()]),
            ["BB", "Aa"]
        );
    }

    #[test]
    fn first_word_strips_path_and_quotes() {
        assert_eq!(first_word("  \"/usr/bin/python3\" -c x"), "python3");
        assert_eq!(
            first_word("\"backgroundTaskHost.exe\" -ServerName:x"),
            "backgroundTaskHost.exe"
        );
        assert_eq!(first_word("nginx: master process nginx -g"), "nginx");
    }

    #[test]
    fn process_name_single_value_stays_a_string() {
        let mut d = Doc::new();
        d.set("process.name", "cmd.exe");
        d.set("process.command_line", "cmd.exe /c dir");
        process_name_from_command_line(&mut d);
        assert_eq!(d.get("process.name"), Some(&json!("cmd.exe")));
    }

    #[test]
    fn bad_time_appends_error() {
        let mut d = Doc::new();
        date(
            &mut d,
            Some(&json!("yesterday")),
            "m365_defender.event.time",
        );
        assert!(d.get("m365_defender.event.time").is_none());
        assert_eq!(
            d.get("error.message"),
            Some(&json!(["unable to parse date [yesterday]"]))
        );
    }
}
