//! The plugin's [`Encoder`]: Fluent Bit events in msgpack, written by the pull workers as soon
//! as a record is mapped. Documents are encoded from the core's tree (no JSON text is written
//! or read again for them); error records and raw pass-through records from their JSON text.
//! Both give the bytes [`defender_bridge_ffi::msgpack::write_event`] gives for the same value.

use std::borrow::Cow;

use defender_bridge::tree::Node;
use defender_bridge::Output;
use defender_bridge_ffi::msgpack::{write_event_head, write_event_json};
use defender_bridge_ffi::EventTime;
use defender_bridge_pull::Encoder;
use rmp::encode;
use serde::Deserialize;
use serde_json::Value;

/// The fields an event's time is read from, first string wins: `@timestamp` (ECS),
/// `TimeGenerated` (Sentinel rows).
const TIME_FIELDS: [&str; 2] = ["@timestamp", "TimeGenerated"];

/// Encodes events as Fluent Bit's `flb_input_log_append` takes them.
pub struct Events;

impl Encoder for Events {
    fn output(&self, output: &Output, buf: &mut Vec<u8>) {
        let json = output.json().as_str();
        write_event_json(buf, time_of(record_time(json).as_deref()), json)
    }

    fn document(&self, document: &Node<'_>, buf: &mut Vec<u8>) {
        let time = TIME_FIELDS
            .iter()
            .find_map(|k| document.get(k).and_then(Node::as_str));
        write_event_head(buf, time_of(time));
        match document {
            Node::Object(_) => write_node(buf, document),
            // The core maps records to objects; anything else is wrapped as `write_event` does.
            other => {
                let _ = encode::write_map_len(buf, 1);
                let _ = encode::write_str(buf, "message");
                write_node(buf, other);
            }
        }
    }
}

/// Writes a tree value as `ffi::msgpack::write_value` writes the same `serde_json::Value`.
fn write_node(buf: &mut Vec<u8>, node: &Node<'_>) {
    // Writes into a Vec cannot fail; the results are ignored.
    match node {
        Node::Null => {
            let _ = encode::write_nil(buf);
        }
        Node::Bool(b) => {
            let _ = encode::write_bool(buf, *b);
        }
        Node::UInt(u) => {
            let _ = encode::write_uint(buf, *u);
        }
        // A `Value` holds a non-negative integer as unsigned.
        Node::Int(i) => match u64::try_from(*i) {
            Ok(u) => {
                let _ = encode::write_uint(buf, u);
            }
            Err(_) => {
                let _ = encode::write_sint(buf, *i);
            }
        },
        Node::Float(f) => {
            let _ = encode::write_f64(buf, *f);
        }
        Node::Str(s) => {
            let _ = encode::write_str(buf, s);
        }
        Node::Array(items) => {
            let _ = encode::write_array_len(buf, items.len() as u32);
            for item in items {
                write_node(buf, item);
            }
        }
        Node::Object(map) => {
            let _ = encode::write_map_len(buf, map.len() as u32);
            for (k, v) in map.iter() {
                let _ = encode::write_str(buf, k);
                write_node(buf, v);
            }
        }
    }
}

/// The event time: the record's own time (`@timestamp` in ECS, `TimeGenerated` in Sentinel
/// rows), else now (when the record was mapped).
pub(crate) fn time_of(time: Option<&str>) -> EventTime {
    time.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .and_then(|t| {
            Some(EventTime {
                seconds: u32::try_from(t.timestamp()).ok()?,
                nanoseconds: t.timestamp_subsec_nanos(),
            })
        })
        .unwrap_or_else(EventTime::now)
}

/// The two time fields of a document; serde skips the others without building them.
#[derive(Deserialize)]
struct Times<'a> {
    #[serde(rename = "@timestamp", borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "TimeGenerated", borrow, default)]
    time_generated: Option<Cow<'a, str>>,
}

/// The first string of `@timestamp` and `TimeGenerated` in a document's text.
pub(crate) fn record_time(json: &str) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<Times>(json) {
        Ok(t) => t.timestamp.or(t.time_generated),
        // A time that is not a string, or no object: read as a tree, as every field was before.
        Err(_) => {
            let value: Value = serde_json::from_str(json).ok()?;
            TIME_FIELDS
                .iter()
                .find_map(|k| value.get(*k).and_then(Value::as_str))
                .map(|s| Cow::Owned(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use defender_bridge::tree;

    /// A document's event from its tree equals the event from its text, for documents of
    /// every shape the core writes (nested objects, arrays, every number kind, escapes).
    #[test]
    fn document_from_tree_equals_document_from_text() {
        let texts = [
            r#"{"@timestamp":"2024-01-02T03:04:05.5Z","a":{"b":[1,-2,3.5,true,null,"x\"y\u00e9"]},"n":18446744073709551615,"m":-9223372036854775808,"z":0}"#,
            r#"{"TimeGenerated":"2024-01-02T03:04:05Z","Entities":"[{\"a\":1}]","x":[],"y":{}}"#,
            r#"{"@timestamp":5,"TimeGenerated":"2024-01-02T03:04:05Z","k":"v"}"#,
            r#"{"@timestamp":"2024-01-02T03:04:05Z","big":{"0":0,"1":1,"2":2,"3":3,"4":4,"5":5,"6":6,"7":7,"8":8,"9":9,"10":10,"11":11,"12":12,"13":13,"14":14,"15":15,"16":16},"s":"0123456789012345678901234567890123456789"}"#,
        ];
        for text in texts {
            let node = tree::parse(text).unwrap();
            let (mut from_tree, mut from_text) = (Vec::new(), Vec::new());
            Events.document(&node, &mut from_tree);
            Events.output(&Output::document(&node), &mut from_text);
            assert!(from_tree == from_text, "differs on {text}");
        }
        // Built in the tree with signed integers (as kinds do), not parsed.
        let mut obj = tree::Obj::new();
        obj.push("pos", Node::Int(7));
        obj.push("neg", Node::Int(-7));
        obj.push("f", Node::Float(0.25));
        let node = Node::Object(obj);
        let (mut from_tree, mut from_text) = (Vec::new(), Vec::new());
        Events.document(&node, &mut from_tree);
        Events.output(&Output::document(&node), &mut from_text);
        // Same except the event time (now, for a document without one): compare what follows
        // the 13-byte head (two array headers, the 10-byte EventTime, the empty metadata map).
        assert_eq!(from_tree[13..], from_text[13..]);
    }

    #[test]
    fn event_time_from_record() {
        let t = time_of(record_time(r#"{"@timestamp":"2024-01-02T03:04:05.5Z"}"#).as_deref());
        assert_eq!(
            t,
            EventTime {
                seconds: 1_704_164_645,
                nanoseconds: 500_000_000
            }
        );
        let t = time_of(record_time(r#"{"TimeGenerated":"2024-01-02T03:04:05Z"}"#).as_deref());
        assert_eq!(t.seconds, 1_704_164_645);
        let now = EventTime::now().seconds;
        assert!(time_of(record_time(r#"{"x":1}"#).as_deref()).seconds >= now);
        // Escapes, a time that is not a string, and a time after other fields.
        assert_eq!(
            record_time(r#"{"a":{"@timestamp":1},"@timestamp":"2024-01-02T03:04:05\u005a"}"#)
                .as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        let t = time_of(
            record_time(r#"{"@timestamp":5,"TimeGenerated":"2024-01-02T03:04:05Z"}"#).as_deref(),
        );
        assert_eq!(t.seconds, 1_704_164_645);
    }
}
