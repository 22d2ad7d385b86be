//! Shared by the mapping targets: arbitrary bytes through the Splitter and the Mapper, with the
//! first byte choosing the record kind (auto or forced) and the options, the second the chunk size.
#![allow(dead_code)]

use defender_bridge::split::{Piece, Splitter};
use defender_bridge::{EcsIntegration, Kind, Mapper, Options, Output, Target};
use serde_json::Value;

pub fn options(target: Target, sel: u8) -> Options {
    // 0 = auto, 1..=7 = each kind forced.
    let k = (sel & 0x07) as usize;
    let kind = if k == 0 { None } else { Some(Kind::ALL[k - 1]) };
    Options {
        target,
        kind,
        ecs_integration: if sel & 0x08 != 0 {
            EcsIntegration::M365
        } else {
            EcsIntegration::Mde
        },
        preserve_original_event: sel & 0x10 != 0,
        preserve_duplicate_custom_fields: sel & 0x20 != 0,
        strict_schema: sel & 0x40 != 0,
        geo: None,
        now: (sel & 0x80 != 0).then(|| "2024-01-01T00:00:00Z".to_string()),
    }
}

/// Every output must be an object that serialises to valid JSON, and error records must carry
/// their shape.
fn check(target: Target, o: &Output) {
    let e = o.to_value();
    assert!(e.is_object(), "output is not an object: {e}");
    if o.is_error() {
        match target {
            Target::Ecs => {
                assert_eq!(e["event"]["kind"], "pipeline_error");
                assert!(e["error"]["message"].is_string());
                assert!(e["event"]["original"].is_string());
            }
            Target::Sentinel => {
                assert!(e["ErrorMessage"].is_string());
                assert!(e["RawData"].is_string());
            }
        }
    }
}

pub fn run(target: Target, data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let opts = options(target, data[0]);
    let chunk = (data[1] as usize % 64) + 1;
    let body = &data[2..];

    // The native parse (sonic-rs, serde_json where they could differ) gives serde_json's tree.
    if let Ok(text) = std::str::from_utf8(body) {
        let native = defender_bridge::tree::parse(text).map(|n| n.to_json_string());
        let serde = defender_bridge::tree::parse_with_serde_json(text).map(|n| n.to_json_string());
        assert_eq!(
            native.map_err(|e| e.to_string()),
            serde.map_err(|e| e.to_string()),
            "the native parse differs from serde_json's"
        );
    }
    let mapper = Mapper::new(opts);

    // Chunked through the splitter, as the CLI and the plugin feed it.
    let mut chunked = Vec::new();
    {
        let mut splitter = Splitter::new(0);
        let mut on_piece = |p: Piece<'_>| mapper.map_piece(p, &mut |o: Output| chunked.push(o));
        for c in body.chunks(chunk) {
            splitter.feed(c, &mut on_piece);
        }
        splitter.finish(&mut on_piece);
    }
    // In one piece: the splitter's output must not depend on how the bytes arrived.
    let mut whole = Vec::new();
    {
        let mut splitter = Splitter::new(0);
        let mut on_piece = |p: Piece<'_>| mapper.map_piece(p, &mut |o: Output| whole.push(o));
        splitter.feed(body, &mut on_piece);
        splitter.finish(&mut on_piece);
    }
    assert_eq!(chunked, whole, "outputs depend on the chunk size ({chunk})");
    for o in &chunked {
        check(target, o);
    }

    // The whole input as one text (what the wasm filter and map_bytes callers do).
    let mut direct = Vec::new();
    mapper.map_bytes(body, &mut |o: Output| direct.push(o));
    assert!(
        !direct.is_empty() || body_is_empty_container(body),
        "no output and no error record"
    );
    for o in &direct {
        check(target, o);
    }

    // Item by item (as texts over 1 MiB are mapped): the same outputs, unless the whole text was
    // too deep to parse as one tree while its items are not.
    let mut itemwise = Vec::new();
    mapper.map_bytes_itemwise(body, &mut |o: Output| itemwise.push(o));
    let too_deep = direct
        .iter()
        .any(|o| o.is_error() && o.json().as_str().contains("recursion limit"));
    if !too_deep {
        assert_eq!(itemwise, direct, "item-by-item mapping differs");
    }
}

/// Inputs that legitimately map to nothing: an empty array / page / envelope (possibly nested),
/// after the UTF-8 byte order mark that `map_bytes` skips.
fn body_is_empty_container(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => no_records(&v),
        Err(_) => false,
    }
}

fn no_records(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.iter().all(no_records),
        Value::Object(m) => ["value", "records"].iter().any(|k| {
            matches!(m.get(*k), Some(Value::Array(a)) if a.iter().all(no_records))
                && m.keys().all(|key| key == k || key.starts_with('@'))
        }),
        _ => false,
    }
}
