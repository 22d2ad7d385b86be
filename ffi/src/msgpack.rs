//! Fluent Bit events in msgpack: each event is `[[EventTime, {}], {body}]` (the v2 format, with
//! empty metadata), events are concatenated. EventTime is msgpack ext type 0 with 8 bytes:
//! seconds and nanoseconds, each a big-endian u32.

use std::fmt;

use rmp::encode;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// An event timestamp (Unix seconds and nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventTime {
    pub seconds: u32,
    pub nanoseconds: u32,
}

impl EventTime {
    /// The current time.
    pub fn now() -> EventTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        EventTime {
            seconds: u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
            nanoseconds: d.subsec_nanos(),
        }
    }
}

/// A buffer of encoded events.
#[derive(Debug, Default)]
pub struct Events {
    buf: Vec<u8>,
    count: usize,
}

impl Events {
    pub fn new() -> Events {
        Events::default()
    }

    /// Appends one event. A body that is not a JSON object is wrapped as `{"message": body}`
    /// (Fluent Bit requires a map).
    pub fn push(&mut self, time: EventTime, body: &Value) {
        write_event(&mut self.buf, time, body);
        self.count += 1;
    }

    /// Appends one event from its body's JSON text (see [`write_event_json`]).
    pub fn push_json(&mut self, time: EventTime, json: &str) {
        write_event_json(&mut self.buf, time, json);
        self.count += 1;
    }

    /// Appends `count` events already encoded by [`write_event`].
    pub fn extend_encoded(&mut self, bytes: &[u8], count: usize) {
        self.buf.extend_from_slice(bytes);
        self.count += count;
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded events.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The encoded size in bytes.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }
}

/// Writes what comes before an event's body: `[[EventTime, {}], ` (the body follows).
pub fn write_event_head(buf: &mut Vec<u8>, time: EventTime) {
    // Writes into a Vec cannot fail; the results are ignored.
    let _ = encode::write_array_len(buf, 2);
    let _ = encode::write_array_len(buf, 2);
    let _ = encode::write_ext_meta(buf, 8, 0);
    buf.extend_from_slice(&time.seconds.to_be_bytes());
    buf.extend_from_slice(&time.nanoseconds.to_be_bytes());
    let _ = encode::write_map_len(buf, 0);
}

/// Encodes one event as [`Events::push`] appends it.
pub fn write_event(buf: &mut Vec<u8>, time: EventTime, body: &Value) {
    write_event_head(buf, time);
    match body {
        Value::Object(_) => write_value(buf, body),
        other => {
            let _ = encode::write_map_len(buf, 1);
            let _ = encode::write_str(buf, "message");
            write_value(buf, other);
        }
    }
}

/// [`write_event`] of the value `json` is the text of, without building that value: the plugin
/// gets each record as the JSON text the core wrote. The bytes are those of `write_event` for
/// any text without repeated keys (the core writes none). A text that is not JSON (the core
/// writes none either) becomes the event `{"message": text}`.
pub fn write_event_json(buf: &mut Vec<u8>, time: EventTime, json: &str) {
    let start = buf.len();
    write_event_head(buf, time);
    if !json.trim_start().starts_with('{') {
        let _ = encode::write_map_len(buf, 1);
        let _ = encode::write_str(buf, "message");
    }
    let mut de = serde_json::Deserializer::from_str(json);
    // `write_event` has no depth limit; a document is at most a few levels deeper than the
    // record the core parsed (with serde_json's limit).
    de.disable_recursion_limit();
    if MsgpackWriter(buf)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .is_err()
    {
        buf.truncate(start);
        write_event(buf, time, &Value::String(json.to_owned()));
    }
}

/// Writes the value a serde deserializer yields as [`write_value`] writes the same value.
struct MsgpackWriter<'b>(&'b mut Vec<u8>);

/// Where a container's length goes: msgpack puts it first, and a JSON text tells it only at
/// the end. One byte is kept (a fixmap / fixarray header, lengths under 16); longer headers
/// shift the container's bytes once.
fn write_len_at(buf: &mut Vec<u8>, at: usize, len: u32, map: bool) {
    if len < 16 {
        buf[at] = if map { 0x80 } else { 0x90 } | len as u8;
    } else {
        let mut header = Vec::with_capacity(5);
        let _ = if map {
            encode::write_map_len(&mut header, len)
        } else {
            encode::write_array_len(&mut header, len)
        };
        buf.splice(at..at + 1, header);
    }
}

impl<'de> DeserializeSeed<'de> for MsgpackWriter<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MsgpackWriter<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        let _ = encode::write_nil(self.0);
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        let _ = encode::write_nil(self.0);
        Ok(())
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        let _ = encode::write_bool(self.0, v);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        let _ = encode::write_uint(self.0, v);
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        // As `Value`: a non-negative integer is a u64.
        let _ = match u64::try_from(v) {
            Ok(u) => encode::write_uint(self.0, u).map(drop),
            Err(_) => encode::write_sint(self.0, v).map(drop),
        };
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // As `Value`, which holds no NaN or infinity (serde_json parses neither).
        if v.is_finite() {
            let _ = encode::write_f64(self.0, v);
        } else {
            let _ = encode::write_nil(self.0);
        }
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        let _ = encode::write_str(self.0, v);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = self.0.len();
        self.0.push(0);
        let mut n = 0u32;
        while seq.next_element_seed(MsgpackWriter(self.0))?.is_some() {
            n += 1;
        }
        write_len_at(self.0, at, n, false);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.0.len();
        self.0.push(0);
        let mut n = 0u32;
        while map.next_key_seed(KeyWriter(self.0))?.is_some() {
            map.next_value_seed(MsgpackWriter(self.0))?;
            n += 1;
        }
        write_len_at(self.0, at, n, true);
        Ok(())
    }
}

/// Writes a map key as a msgpack string.
struct KeyWriter<'b>(&'b mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for KeyWriter<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyWriter<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        let _ = encode::write_str(self.0, v);
        Ok(())
    }
}

/// Encodes a JSON value as msgpack: integers as the smallest int, other numbers as float64.
pub fn write_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => {
            let _ = encode::write_nil(buf);
        }
        Value::Bool(b) => {
            let _ = encode::write_bool(buf, *b);
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = encode::write_uint(buf, u);
            } else if let Some(i) = n.as_i64() {
                let _ = encode::write_sint(buf, i);
            } else {
                let _ = encode::write_f64(buf, n.as_f64().unwrap_or(0.0));
            }
        }
        Value::String(s) => {
            let _ = encode::write_str(buf, s);
        }
        Value::Array(items) => {
            let _ = encode::write_array_len(buf, items.len() as u32);
            for item in items {
                write_value(buf, item);
            }
        }
        Value::Object(map) => {
            let _ = encode::write_map_len(buf, map.len() as u32);
            for (k, v) in map {
                let _ = encode::write_str(buf, k);
                write_value(buf, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_all(mut bytes: &[u8]) -> Vec<rmpv::Value> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            out.push(rmpv::decode::read_value(&mut bytes).unwrap());
        }
        out
    }

    #[test]
    fn event_shape() {
        let mut e = Events::new();
        let t = EventTime {
            seconds: 1_700_000_000,
            nanoseconds: 123,
        };
        e.push(
            t,
            &json!({"a": 1, "b": [-2, 1.5, "x", null, true], "c": {"d": u64::MAX}}),
        );
        e.push(t, &json!("plain"));
        assert_eq!(e.len(), 2);
        let events = decode_all(e.as_bytes());
        assert_eq!(events.len(), 2);
        let first = events[0].as_array().unwrap();
        let header = first[0].as_array().unwrap();
        let (ty, data) = match &header[0] {
            rmpv::Value::Ext(ty, data) => (*ty, data.clone()),
            other => panic!("not an ext: {other:?}"),
        };
        assert_eq!(ty, 0);
        assert_eq!(
            data,
            [
                &1_700_000_000u32.to_be_bytes()[..],
                &123u32.to_be_bytes()[..]
            ]
            .concat()
        );
        assert_eq!(header[1].as_map().unwrap().len(), 0);
        let body = first[1].as_map().unwrap();
        assert_eq!(body[0].0.as_str(), Some("a"));
        assert_eq!(body[0].1.as_u64(), Some(1));
        let b = body[1].1.as_array().unwrap();
        assert_eq!(b[0].as_i64(), Some(-2));
        assert_eq!(b[1].as_f64(), Some(1.5));
        assert!(b[3].is_nil());
        assert_eq!(body[2].1.as_map().unwrap()[0].1.as_u64(), Some(u64::MAX));
        let second = events[1].as_array().unwrap()[1].as_map().unwrap();
        assert_eq!(second[0].0.as_str(), Some("message"));
        assert_eq!(second[0].1.as_str(), Some("plain"));
    }

    #[test]
    fn pre_encoded_events_equal_pushed_ones() {
        let t = EventTime {
            seconds: 1_700_000_000,
            nanoseconds: 7,
        };
        let bodies = [
            json!({"a": [1, -2, 1.5, null, true], "s": "é"}),
            json!([1, "x"]),
        ];
        let mut pushed = Events::new();
        let mut pre = Vec::new();
        for b in &bodies {
            pushed.push(t, b);
            write_event(&mut pre, t, b);
        }
        let mut extended = Events::new();
        extended.extend_encoded(&pre, bodies.len());
        assert_eq!(extended.len(), 2);
        assert!(extended.as_bytes() == pushed.as_bytes());
        assert_eq!(decode_all(extended.as_bytes()).len(), 2);
    }

    /// `write_event_json` of a value's text against `write_event` of the value.
    fn same_as_write_event(v: &Value) {
        let t = EventTime {
            seconds: 1_700_000_000,
            nanoseconds: 7,
        };
        let mut want = vec![0xc0];
        write_event(&mut want, t, v);
        for text in [
            serde_json::to_string(v).unwrap(),
            serde_json::to_string_pretty(v).unwrap(),
        ] {
            let mut got = vec![0xc0];
            write_event_json(&mut got, t, &text);
            assert!(got == want, "write_event_json differs on {text}");
        }
    }

    #[test]
    fn json_text_encodes_as_its_value_does() {
        let mut wide = serde_json::Map::new();
        for i in 0..70_000 {
            wide.insert(format!("k{i}"), json!(i));
        }
        let values = [
            json!({}),
            json!({"a": [], "b": {}, "c": [[]], "d": [{}]}),
            json!({"s": "é\u{0}\u{1f}\"\\/\u{2028}😀", "esc\"key\n": "x"}),
            json!({"n": [0, 1, 127, 128, 255, 256, 65535, 65536, u32::MAX, u64::MAX]}),
            json!({"i": [-1, -32, -33, -128, -129, -32768, -32769, i32::MIN, i64::MIN]}),
            json!({"f": [0.0, -0.0, 1.5, 1e300, -1e-300, 1.5e-7, f64::MAX, f64::MIN_POSITIVE]}),
            json!({"b": [true, false, null]}),
            json!({"long": "x".repeat(70_000), "arr": (0..20).collect::<Vec<_>>()}),
            json!({"m": (0..20).map(|i| (i.to_string(), json!(i))).collect::<serde_json::Map<_, _>>()}),
            Value::Object(wide),
            json!((0..70_000).collect::<Vec<_>>()),
            json!([1, "x"]),
            json!("plain"),
            json!(12),
            json!(null),
        ];
        for v in &values {
            same_as_write_event(v);
        }
        // Deeper than serde_json's default limit of 128 levels.
        let mut deep = json!("leaf");
        for _ in 0..200 {
            deep = json!({ "a": [deep] });
        }
        same_as_write_event(&deep);
        // Text that is not JSON becomes a message, as `write_event` of the text as a string.
        let t = EventTime::default();
        for bad in ["{\"a\":", "{} {}", "", "nul"] {
            let (mut want, mut got) = (Vec::new(), Vec::new());
            write_event(&mut want, t, &json!(bad));
            write_event_json(&mut got, t, bad);
            assert!(got == want, "{bad:?}");
        }
    }

    /// Every record, envelope and expected document of the shared fixtures and samples.
    #[test]
    fn json_text_of_every_fixture_encodes_as_its_value_does() {
        let shared = std::env::var_os("DEFENDER_BRIDGE_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
            });
        let mut dirs = vec![shared.join("fixtures"), shared.join("sentinel/samples")];
        let mut n = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let mut values: Vec<Value> = text
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    if let Some(docs) = v.get("expected").and_then(Value::as_array) {
                        values.extend(docs.iter().cloned());
                    }
                    values.push(v);
                }
                for v in &values {
                    same_as_write_event(v);
                    n += 1;
                }
            }
        }
        assert!(n > 200, "only {n} fixture values under {shared:?}");
    }

    #[test]
    fn empty_is_empty() {
        let e = Events::new();
        assert!(e.is_empty());
        assert_eq!(e.byte_len(), 0);
    }
}
