//! The filter_wasm entry (wasm/src/filter.rs calls `shell::filter_body` for every record),
//! compiled natively: arbitrary record bodies give nothing, one JSON document, or
//! `{"documents":[…]}`, never a NUL byte (the host reads the result with strlen).
#![no_main]

use defender_bridge::Mapper;
use defender_bridge_wasm::shell::{filter_body, DOCUMENTS_KEY};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let target = if data[1] & 1 == 0 {
        defender_bridge::Target::Ecs
    } else {
        defender_bridge::Target::Sentinel
    };
    let mapper = Mapper::new(common::options(target, data[0]));
    let log_key = if data[1] & 2 == 0 { "log" } else { "" };
    let mut out = Vec::new();
    filter_body(&mapper, &data[2..], log_key, &mut out);
    assert!(!out.contains(&0), "NUL in the result");
    if out.is_empty() {
        return;
    }
    let v: Value = serde_json::from_slice(&out).expect("the result is JSON");
    let obj = v.as_object().expect("the result is an object");
    if let Some(Value::Array(docs)) = obj.get(DOCUMENTS_KEY) {
        assert!(
            docs.len() >= 2 || obj.len() > 1,
            "documents wrapper with fewer than two documents"
        );
    }
});
