//! The parts of Elastic's `m365_defender.event` default pipeline that every table shares: the
//! envelope (`category`, `operationName`, `Tenant`, `tenantId`, `time`, `properties.Timestamp`),
//! the category checks, and the tail (`process.entity_id`, `process.name` from the command line,
//! `cloud.instance.id`, `device.id`, `application.name`, removal of empty values). Also small
//! helpers that the family sub-pipelines all use.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::super::Input;
use super::processors::signature;
use super::{family_ecs, CATEGORY_PREFIX};
use crate::doc::{es_date_str, to_string_value, Doc};
use crate::{MapError, Options, ECS_VERSION};

/// Envelope fields that Elastic renames as they are (any JSON type).
pub(super) const ENVELOPE_RENAMES: &[(&str, &str)] = &[
    ("operationName", "m365_defender.event.operation_name"),
    ("Tenant", "m365_defender.event.tenant.name"),
    ("tenantId", "m365_defender.event.tenant.id"),
];

/// Room for the columns a family writes under `m365_defender.event` before its
/// duplicate-field removal (the largest tables write about 50).
pub(super) const EVENT_CAPACITY: usize = 32;

/// Tables whose fixture (test-app-and-identity, an older era) predates the default pipeline's
/// `application.name` step; the newer fixtures (test-behavior) have it. The fixtures are the spec.
pub(super) const TABLES_WITHOUT_APPLICATION_NAME: &[&str] = &[
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

    // The envelope's fields, found in one pass over its few keys instead of a hashed lookup
    // each.
    let (mut category_value, mut time, mut props) = (None, None, None);
    let mut renamed: [Option<&Value>; ENVELOPE_RENAMES.len()] = [None; ENVELOPE_RENAMES.len()];
    for (k, v) in rec {
        match k.as_str() {
            "category" => category_value = Some(v),
            "time" => time = Some(v),
            "properties" => props = v.as_object(),
            other => {
                if let Some(i) = ENVELOPE_RENAMES.iter().position(|(from, _)| *from == other) {
                    renamed[i] = Some(v);
                }
            }
        }
    }
    let category = match category_value {
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
    // The envelope and most family columns go under `m365_defender.event`: made once, sized
    // for a record's columns, so that it is not regrown (and rehashed) key by key.
    if !doc.0.contains_key("m365_defender") {
        let mut event = Map::with_capacity(EVENT_CAPACITY);
        event.insert("category".to_string(), Value::String(category.to_string()));
        let mut vendor = Map::with_capacity(1);
        vendor.insert("event".to_string(), Value::Object(event));
        doc.0
            .insert("m365_defender".to_string(), Value::Object(vendor));
    } else {
        doc.set("m365_defender.event.category", category);
    }
    for ((_, to), v) in ENVELOPE_RENAMES.iter().zip(renamed) {
        if let Some(v) = v {
            put(doc, to, v.clone());
        }
    }
    date(doc, time, "m365_defender.event.time");
    let stamp = props.and_then(|p| p.get("Timestamp"));
    // Streaming records often carry the same text in both: parse and format it once.
    let same = matches!((time, stamp), (Some(Value::String(a)), Some(Value::String(b))) if a == b);
    let ts = match doc.get("m365_defender.event.time") {
        Some(Value::String(t)) if same => Some(t.clone()),
        _ => date_string(doc, stamp),
    };
    if let Some(ts) = ts {
        put(
            doc,
            "m365_defender.event.timestamp",
            Value::String(ts.clone()),
        );
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
pub(super) fn is_supported(category: &str) -> bool {
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
    fn add(names: &mut Vec<String>, s: String) {
        if !names.contains(&s) {
            names.push(s);
        }
    }
    let (name, commands, other) = match doc.get("process") {
        Some(Value::Object(p)) => (scan(p, "name"), scan(p, "command_line"), false),
        None => (None, None, false),
        // Setting `process.name` replaces a non-object `process`.
        Some(_) => (None, None, true),
    };
    let commands: &[Value] = match commands {
        Some(c @ Value::String(_)) => std::slice::from_ref(c),
        Some(Value::Array(a)) => a,
        _ => &[],
    };
    let has_command = commands
        .iter()
        .any(|c| c.as_str().is_some_and(|c| !c.is_empty()));
    let mut names: Vec<String> = Vec::new();
    match name {
        // The set of one name without a command line is that name: nothing changes.
        Some(Value::String(_)) if !has_command => return,
        // No name and no command line: the script stores an empty list, which the removal of
        // empty values drops again.
        None if !has_command && !other => return,
        Some(Value::String(s)) => add(&mut names, s.clone()),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .for_each(|s| add(&mut names, s.to_string())),
        _ => {}
    }
    for cmd in commands
        .iter()
        .filter_map(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        add(&mut names, first_word(cmd));
    }
    let mut ordered = java_hash_set_order(names);
    let value = if ordered.len() == 1 {
        Value::String(ordered.remove(0))
    } else {
        Value::Array(ordered.into_iter().map(Value::String).collect())
    };
    doc.set("process.name", value);
}

/// `map.get(key)` by comparing keys: the maps of a document are small, and this is cheaper
/// than the SipHash `Map::get` computes.
fn scan<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// The script's executable: first space-separated token of the trimmed line, its last `/`
/// segment, without double quotes. A trailing `:` also goes: Linux daemons rewrite their title
/// (`nginx: master process …`), and the newer fixture (test-cloud) stores `nginx`.
pub(super) fn first_word(cmd: &str) -> String {
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
pub(crate) fn java_hash_set_order<S: AsRef<str>>(items: Vec<S>) -> Vec<S> {
    let mut capacity: u32 = 16;
    while items.len() as u64 > u64::from(capacity) * 3 / 4 {
        capacity *= 2;
    }
    let mut keyed: Vec<(u32, S)> = items
        .into_iter()
        .map(|s| (java_spread_hash(s.as_ref()) & (capacity - 1), s))
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
    if let Some(d) = date_string(doc, value) {
        put(doc, target, Value::String(d));
    }
}

/// What Elastic's `date` processor stores for `value`, `None` when it stores nothing; on
/// failure the processor's message is appended to `error.message`.
fn date_string(doc: &mut Doc, value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let d = es_date_str(s);
            if d.is_none() {
                doc.append("error.message", format!("unable to parse date [{s}]"));
            }
            d
        }
        Some(other) => {
            doc.append("error.message", format!("unable to parse date [{other}]"));
            None
        }
    }
}

/// `doc.set(path, value)`, with a shortcut for the columns under `m365_defender.event` (most
/// of what the families write): the walk to that object is a scan of two small maps, and the
/// leaf is inserted by key, without first scanning the object for it (an existing key keeps
/// its place and takes the new value, as with `Doc::set`).
pub(crate) fn put(doc: &mut Doc, path: &str, value: Value) {
    if value.is_null() {
        return;
    }
    if let Some(rest) = path.strip_prefix("m365_defender.event.") {
        if let Some(event) = event_object(doc) {
            return put_in(event, rest, value);
        }
    }
    doc.set(path, value);
}

/// The `m365_defender.event` object, when there is one.
fn event_object(doc: &mut Doc) -> Option<&mut Map<String, Value>> {
    match doc.0.iter_mut().find(|(k, _)| *k == "m365_defender") {
        Some((_, Value::Object(vendor))) => match vendor.iter_mut().find(|(k, _)| *k == "event") {
            Some((_, Value::Object(event))) => Some(event),
            _ => None,
        },
        _ => None,
    }
}

fn put_in(map: &mut Map<String, Value>, path: &str, value: Value) {
    match split_dot(path) {
        (leaf, None) => {
            map.insert(leaf.to_string(), value);
        }
        (head, Some(tail)) => {
            let found = if map.len() <= 32 {
                map.iter_mut().find(|(k, _)| *k == head).map(|(_, v)| v)
            } else {
                map.get_mut(head)
            };
            let slot = match found {
                Some(v) => v,
                None => map
                    .entry(head.to_string())
                    .or_insert_with(|| Value::Object(Map::new())),
            };
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(sub) = slot {
                put_in(sub, tail, value);
            }
        }
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
        if let Some(v) = prop(props, from) {
            put(doc, to, v.clone());
        }
    }
}

/// [`renames`] for a long table: one pass over the record's columns, each compared with the
/// table's entries by a signature (length, first and last byte; built on first use) before
/// its name, instead of one hashed lookup in the columns per table entry. The renames are
/// applied in table order, so a target that two columns rename to ends up as [`renames`]
/// leaves it.
pub(crate) fn renames_scan(
    doc: &mut Doc,
    props: &Map<String, Value>,
    table: &[(&str, &str)],
    signatures: &OnceLock<Vec<u32>>,
) {
    const MAX: usize = 64;
    // A short table in a wide record: the hashed lookups are fewer.
    if table.len() > MAX || table.len() * 2 < props.len() {
        return renames(doc, props, table);
    }
    let signatures = signatures.get_or_init(|| table.iter().map(|(n, _)| signature(n)).collect());
    let mut hits: [Option<&Value>; MAX] = [None; MAX];
    for (name, value) in props {
        if value.is_null() {
            continue;
        }
        let sig = signature(name);
        for (i, s) in signatures.iter().enumerate() {
            if *s == sig && table[i].0 == name {
                hits[i] = Some(value);
            }
        }
    }
    for (i, hit) in hits.iter().take(table.len()).enumerate() {
        if let Some(v) = hit {
            put(doc, table[i].1, (*v).clone());
        }
    }
}

/// Elastic's `convert` to `type: string`.
pub(crate) fn convert_string(doc: &mut Doc, props: &Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = prop(props, from) {
        if v.as_str() != Some("") {
            if let Some(s) = to_string_value(v) {
                put(doc, to, Value::String(s));
            }
        }
    }
}

/// The `remove_duplicate_custom_fields` step each sub-pipeline ends with: the vendor fields
/// that were copied to ECS go unless the user keeps them.
pub(crate) fn remove_custom_duplicates(opts: &Options, doc: &mut Doc, fields: &[&str]) {
    if opts.preserve_duplicate_custom_fields {
        return;
    }
    // The fields under `m365_defender.event` (one or two levels down) go in one pass over
    // each object on the way; a removal by key hashes the key and shifts the entries after it.
    const PREFIX: &str = "m365_defender.event.";
    // Keys are compared by signature first: most keys of the object are not in the list.
    let mut under: Vec<(u32, &str, Option<&str>)> = Vec::with_capacity(fields.len());
    for f in fields {
        match f.strip_prefix(PREFIX).map(split_dot) {
            Some((head, None)) => under.push((signature(head), head, None)),
            Some((head, Some(tail))) if !tail.contains('.') => {
                under.push((signature(head), head, Some(tail)))
            }
            _ => {
                doc.remove(f);
            }
        }
    }
    let event = match doc.0.iter_mut().find(|(k, _)| *k == "m365_defender") {
        Some((_, Value::Object(vendor))) => match vendor.iter_mut().find(|(k, _)| *k == "event") {
            Some((_, Value::Object(event))) => event,
            _ => return,
        },
        _ => return,
    };
    let listed = |k: &str| {
        let sig = signature(k);
        under.iter().any(|(s, head, _)| *s == sig && *head == k)
    };
    // Nothing to do (the common case for some tables): no rebuild of the map's index.
    if !event.keys().any(|k| listed(k)) {
        return;
    }
    event.retain(|k, v| {
        let sig = signature(k);
        let mut nested = false;
        for (s, head, tail) in &under {
            if *s == sig && head == k {
                match tail {
                    None => return false,
                    Some(_) => nested = true,
                }
            }
        }
        if let (true, Value::Object(sub)) = (nested, v) {
            let gone = |sk: &str| under.iter().any(|(_, h, t)| h == k && *t == Some(sk));
            if sub.keys().any(|sk| gone(sk)) {
                sub.retain(|sk, _| !gone(sk));
            }
        }
        true
    });
}

/// `path` before and after its first `.`.
fn split_dot(path: &str) -> (&str, Option<&str>) {
    match path.bytes().position(|b| b == b'.') {
        Some(i) => (&path[..i], Some(&path[i + 1..])),
        None => (path, None),
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
        let got = java_hash_set_order(vec!["backgroundtaskhost.exe", "backgroundTaskHost.exe"]);
        assert_eq!(got, ["backgroundtaskhost.exe", "backgroundTaskHost.exe"]);
        // "Aa" and "BB" collide in Java; insertion order decides.
        assert_eq!(java_hash_set_order(vec!["BB", "Aa"]), ["BB", "Aa"]);
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
