//! One module per record kind, each with `to_ecs` and `to_sentinel`; this module dispatches.

use crate::tree::{Node, Obj};

use crate::{Json, Kind, MapError, Options, Output, Sink, Target};

mod alert;
mod graph_alert;
mod graph_common;
mod graph_evidence;
mod incident;
mod machine;
mod machine_action;
mod mde_common;
mod stream;
mod vulnerability;

/// One record to map in the borrowed tree: the record (owned, so a kind may move its values
/// into the document), its source text (for `event.original`), the options. Documents may
/// borrow from all three.
pub(crate) struct TreeInput<'a> {
    pub record: Obj<'a>,
    pub original: &'a str,
    pub opts: &'a Options,
}

/// A kind's mapping to one target in the borrowed tree.
type TreeFn = for<'a> fn(TreeInput<'a>, &mut Vec<Node<'a>>) -> Result<(), MapError>;

/// The tree mapping of a kind and target (issue 7: every kind maps the borrowed tree).
fn tree_fn(kind: Kind, target: Target) -> TreeFn {
    match (kind, target) {
        (Kind::Alert, Target::Ecs) => alert::to_ecs,
        (Kind::Alert, Target::Sentinel) => alert::to_sentinel,
        (Kind::GraphAlert, Target::Ecs) => graph_alert::to_ecs,
        (Kind::GraphAlert, Target::Sentinel) => graph_alert::to_sentinel,
        (Kind::Incident, Target::Ecs) => incident::to_ecs,
        (Kind::Incident, Target::Sentinel) => incident::to_sentinel,
        (Kind::MachineAction, Target::Ecs) => machine_action::to_ecs,
        (Kind::MachineAction, Target::Sentinel) => machine_action::to_sentinel,
        (Kind::Machine, Target::Ecs) => machine::to_ecs,
        (Kind::Machine, Target::Sentinel) => machine::to_sentinel,
        (Kind::Vulnerability, Target::Ecs) => vulnerability::to_ecs,
        (Kind::Vulnerability, Target::Sentinel) => vulnerability::to_sentinel,
        (Kind::StreamEvent, Target::Sentinel) => stream::to_sentinel_tree,
        (Kind::StreamEvent, Target::Ecs) => stream::to_ecs_tree,
    }
}

/// Elastic's agent tags documents with the integration options that shaped them; its expected
/// documents carry them, so ours do too.
fn tree_option_tags<'a>(map: &mut Obj<'a>, opts: &Options) {
    let mut d = crate::tree::Doc(std::mem::take(map));
    if opts.preserve_original_event {
        d.append("tags", "preserve_original_event");
    }
    if opts.preserve_duplicate_custom_fields {
        d.append("tags", "preserve_duplicate_custom_fields");
    }
    *map = d.0;
}

/// Maps one record of a known kind (it owns the record, so a kind may take values out of it
/// instead of copying them). Either every document is emitted or, on error, none.
pub(crate) fn map<'a>(
    kind: Kind,
    record: Obj<'a>,
    original: &'a str,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<(), MapError> {
    let to_tree = tree_fn(kind, opts.target);
    let mut docs = Vec::new();
    to_tree(
        TreeInput {
            record,
            original,
            opts,
        },
        &mut docs,
    )?;
    for mut d in docs {
        if let (Target::Ecs, Node::Object(map)) = (opts.target, &mut d) {
            tree_option_tags(map, opts);
            // Elastic's agent stamps `@timestamp` with the collection time and its pipelines
            // override it only where the record has a better time; a document without one gets
            // the shell's `now` (offline mapping without `now` leaves the field out).
            if let Some(now) = &opts.now {
                if !map.contains_key("@timestamp") {
                    map.push("@timestamp", now.as_str());
                }
            }
        }
        // Written as it is: a kind appends with `Obj::push` only keys it knows are not there,
        // so the text is the one its `Value` copy would give.
        if !sink.document(&d) {
            sink.emit(Output::Document(Json::of_node(&d)));
        }
    }
    Ok(())
}

/// Runs one tree mapping on a JSON value (as the record and `original` text), for the kind
/// modules' unit tests.
#[cfg(test)]
pub(crate) fn run_tree(
    to_tree: TreeFn,
    record: serde_json::Value,
    original: &str,
    opts: &Options,
) -> Result<Vec<serde_json::Value>, MapError> {
    let Node::Object(record) = Node::from_value(record) else {
        panic!("a record is an object");
    };
    let mut out = Vec::new();
    to_tree(
        TreeInput {
            record,
            original,
            opts,
        },
        &mut out,
    )?;
    Ok(out.iter().map(Node::to_value).collect())
}

#[cfg(test)]
mod tests {
    use crate::{Mapper, Options, Output, Target};
    use serde_json::json;

    #[test]
    fn a_value_mapped_with_its_text_keeps_that_text_as_original() {
        // Source spacing and escapes that serialising the value again would change.
        let text =
            r#"{ "id": "a", "alertCreationTime": "2024-01-01T00:00:00Z", "title": "caf\u00e9" }"#;
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let mapper = Mapper::new(Options {
            target: Target::Ecs,
            preserve_original_event: true,
            ..Options::default()
        });
        let mut out = Vec::new();
        mapper.map_value_with_text(value.clone(), text, &mut |o: Output| out.push(o));
        assert_eq!(out[0].to_value()["event"]["original"], json!(text));
        out.clear();
        mapper.map_value(value.clone(), &mut |o: Output| out.push(o));
        assert_eq!(
            out[0].to_value()["event"]["original"],
            json!(value.to_string())
        );
    }

    #[test]
    fn collection_time_fills_a_missing_timestamp_only() {
        let alert = json!({"id": "a", "alertCreationTime": "2024-01-01T00:00:00Z", "title": "t"});
        let now = "2026-11-23T10:00:00.000Z".to_string();
        let with_now = Mapper::new(Options {
            target: Target::Ecs,
            now: Some(now.clone()),
            ..Options::default()
        });
        let mut out = Vec::new();
        with_now.map_value(alert.clone(), &mut |o: Output| out.push(o));
        assert_eq!(out[0].to_value()["@timestamp"], json!(now));
        let mut updated = alert;
        updated["alertUpdateTime"] = json!("2024-01-02T00:00:00Z");
        out.clear();
        with_now.map_value(updated, &mut |o: Output| out.push(o));
        assert_eq!(
            out[0].to_value()["@timestamp"],
            json!("2024-01-02T00:00:00Z")
        );
        out.clear();
        Mapper::new(Options::default()).map_value(
            json!({"id": "a", "alertCreationTime": "x"}),
            &mut |o: Output| out.push(o),
        );
        assert!(out[0].to_value().get("@timestamp").is_none());
    }
}
