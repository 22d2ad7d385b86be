//! One module per record kind, each with `to_ecs` and `to_sentinel`; this module dispatches.

use serde_json::{Map, Value};

use crate::{Kind, MapError, Options, Output, Sink, Target};

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

/// One record to map: the parsed object, its source text (for `event.original`), the options.
pub(crate) struct Input<'a> {
    pub record: &'a Map<String, Value>,
    pub original: &'a str,
    pub opts: &'a Options,
}

type MapFn = fn(&Input<'_>, &mut Vec<Value>) -> Result<(), MapError>;

/// Maps one record of a known kind. Either every document is emitted or, on error, none.
pub(crate) fn map(
    kind: Kind,
    record: &Map<String, Value>,
    original: &str,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<(), MapError> {
    let (ecs, sentinel): (MapFn, MapFn) = match kind {
        Kind::Alert => (alert::to_ecs, alert::to_sentinel),
        Kind::Machine => (machine::to_ecs, machine::to_sentinel),
        Kind::MachineAction => (machine_action::to_ecs, machine_action::to_sentinel),
        Kind::Vulnerability => (vulnerability::to_ecs, vulnerability::to_sentinel),
        Kind::StreamEvent => (stream::to_ecs, stream::to_sentinel),
        Kind::GraphAlert => (graph_alert::to_ecs, graph_alert::to_sentinel),
        Kind::Incident => (incident::to_ecs, incident::to_sentinel),
    };
    let input = Input { record, original, opts };
    let mut docs = Vec::new();
    match opts.target {
        Target::Ecs => ecs(&input, &mut docs)?,
        Target::Sentinel => sentinel(&input, &mut docs)?,
    }
    for mut d in docs {
        if opts.target == Target::Ecs {
            add_option_tags(&mut d, opts);
        }
        sink.emit(Output::Document(d));
    }
    Ok(())
}

/// Elastic's agent tags documents with the integration options that shaped them; its expected
/// documents carry them, so ours do too.
fn add_option_tags(doc: &mut Value, opts: &Options) {
    let Some(map) = doc.as_object_mut() else { return };
    let mut d = crate::doc::Doc(std::mem::take(map));
    if opts.preserve_original_event {
        d.append("tags", "preserve_original_event");
    }
    if opts.preserve_duplicate_custom_fields {
        d.append("tags", "preserve_duplicate_custom_fields");
    }
    *map = d.0;
}
