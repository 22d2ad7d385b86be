//! Fluent Bit events in msgpack: each event is `[[EventTime, {}], {body}]` (the v2 format, with
//! empty metadata), events are concatenated. EventTime is msgpack ext type 0 with 8 bytes:
//! seconds and nanoseconds, each a big-endian u32.

use rmp::encode;
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

/// Encodes one event as [`Events::push`] appends it.
pub fn write_event(buf: &mut Vec<u8>, time: EventTime, body: &Value) {
    // Writes into a Vec cannot fail; the results are ignored.
    let _ = encode::write_array_len(buf, 2);
    let _ = encode::write_array_len(buf, 2);
    let _ = encode::write_ext_meta(buf, 8, 0);
    buf.extend_from_slice(&time.seconds.to_be_bytes());
    buf.extend_from_slice(&time.nanoseconds.to_be_bytes());
    let _ = encode::write_map_len(buf, 0);
    match body {
        Value::Object(_) => write_value(buf, body),
        other => {
            let _ = encode::write_map_len(buf, 1);
            let _ = encode::write_str(buf, "message");
            write_value(buf, other);
        }
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

    #[test]
    fn empty_is_empty() {
        let e = Events::new();
        assert!(e.is_empty());
        assert_eq!(e.byte_len(), 0);
    }
}
