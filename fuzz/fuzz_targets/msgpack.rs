//! The Fluent Bit plugin's msgpack event encoder (ffi/src/msgpack.rs): mapped documents and
//! arbitrary JSON values encode to events that decode back to the same values, and encoding
//! their JSON text (`write_event_json`, the plugin's path) gives the bytes of encoding the value.
#![no_main]

use defender_bridge::{Mapper, Output};
use defender_bridge_ffi::msgpack::{write_event, write_event_json, EventTime, Events};
use libfuzzer_sys::fuzz_target;
use rmpv::Value as Mp;
use serde_json::Value;

#[path = "common.rs"]
mod common;

/// msgpack → JSON for comparison: integers as integers, floats as f64.
fn to_json(v: &Mp) -> Value {
    match v {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(*b),
        Mp::Integer(i) => i
            .as_i64()
            .map(Value::from)
            .or_else(|| i.as_u64().map(Value::from))
            .expect("an integer"),
        Mp::F32(f) => Value::from(f64::from(*f)),
        Mp::F64(f) => Value::from(*f),
        Mp::String(s) => Value::String(s.as_str().expect("UTF-8 string").to_string()),
        Mp::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Mp::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().expect("string key").to_string(), to_json(v)))
                .collect(),
        ),
        other => panic!("unexpected msgpack value {other:?}"),
    }
}

/// Numbers compare by value (a float that holds an integer may come back as either).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || (x.as_f64().is_some() && x.as_f64() == y.as_f64())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let mapper = Mapper::new(common::options(defender_bridge::Target::Ecs, data[0]));
    let body = &data[1..];
    let mut outputs = Vec::new();
    mapper.map_bytes(body, &mut |o: Output| outputs.push(o));
    let mut bodies: Vec<Value> = outputs.iter().map(Output::to_value).collect();
    let mut texts: Vec<String> = outputs.iter().map(|o| o.json().as_str().into()).collect();
    // Arbitrary JSON too (scalars and arrays are wrapped as {"message": …}).
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        texts.push(serde_json::to_string(&v).unwrap());
        bodies.push(v);
    }
    let time = EventTime {
        seconds: u32::from_le_bytes([data[0], 1, 2, 3]),
        nanoseconds: 999_999_999,
    };
    for (b, t) in bodies.iter().zip(&texts) {
        let (mut from_value, mut from_text) = (Vec::new(), Vec::new());
        write_event(&mut from_value, time, b);
        write_event_json(&mut from_text, time, t);
        assert!(from_value == from_text, "write_event_json differs on {t}");
    }
    let mut events = Events::new();
    for b in &bodies {
        events.push(time, b);
    }
    assert_eq!(events.len(), bodies.len());
    let mut rd = events.as_bytes();
    for b in &bodies {
        let ev = rmpv::decode::read_value(&mut rd).expect("a whole event");
        let Mp::Array(parts) = ev else {
            panic!("event is not an array")
        };
        assert_eq!(parts.len(), 2);
        let Mp::Array(head) = &parts[0] else {
            panic!("no [time, metadata]")
        };
        match &head[0] {
            Mp::Ext(0, t) => {
                assert_eq!(t[..4], time.seconds.to_be_bytes());
                assert_eq!(t[4..], time.nanoseconds.to_be_bytes());
            }
            other => panic!("time is not EventTime: {other:?}"),
        }
        let got = to_json(&parts[1]);
        let want = match b {
            Value::Object(_) => b.clone(),
            other => serde_json::json!({ "message": other }),
        };
        assert!(
            same(&got, &want),
            "round trip changed the body:\n{got}\n{want}"
        );
    }
    assert!(rd.is_empty(), "bytes after the last event");
    assert_eq!(events.byte_len(), events.as_bytes().len());
});
