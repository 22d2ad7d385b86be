//! Bad input: every kind of broken record gives exactly one error record that says what and
//! where, keeps the original text, and the next record still maps. Nothing panics.

use defender_bridge::split::{Piece, Splitter};
use defender_bridge::{Mapper, Options, Output, Target};
use serde_json::{json, Value};

/// A well-formed MDE alert that maps to exactly one document.
fn good_alert() -> String {
    json!({
        "id": "da000_1", "severity": "Low", "status": "New", "title": "t", "category": "Malware",
        "detectionSource": "WindowsDefenderAv", "machineId": "m", "computerDnsName": "h",
        "alertCreationTime": "2024-01-01T00:00:00Z", "evidence": []
    })
    .to_string()
}

/// Maps a byte stream the way the CLI does (fed in small chunks) and returns the outputs.
fn map_stream(target: Target, input: &[u8]) -> Vec<Output> {
    let mapper = Mapper::new(Options {
        target,
        ..Options::default()
    });
    let mut out = Vec::new();
    let mut splitter = Splitter::default();
    let mut on_piece = |p: Piece<'_>| mapper.map_piece(p, &mut |o: Output| out.push(o));
    for chunk in input.chunks(64 * 1024) {
        splitter.feed(chunk, &mut on_piece);
    }
    splitter.finish(&mut on_piece);
    out
}

/// Checks: bad line -> one error record mentioning `what` and line 1; then the good line maps.
fn assert_one_error_then_good(name: &str, bad: &[u8], what: &str) {
    let mut input = bad.to_vec();
    input.push(b'\n');
    input.extend_from_slice(good_alert().as_bytes());
    input.push(b'\n');
    let out = map_stream(Target::Ecs, &input);
    assert_eq!(
        out.len(),
        2,
        "{name}: want one error record then one document, got {out:#?}"
    );
    let Output::Error(err) = &out[0] else {
        panic!("{name}: first output is not an error record")
    };
    let err = err.to_value();
    assert_eq!(err["event"]["kind"], "pipeline_error", "{name}");
    let msg = err["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("record 1 (line 1): "),
        "{name}: message does not say where: {msg}"
    );
    assert!(
        msg.contains(what),
        "{name}: message {msg:?} does not say {what:?}"
    );
    let original = err["event"]["original"].as_str().unwrap();
    assert!(!original.is_empty(), "{name}: original text not kept");
    assert!(
        matches!(out[1], Output::Document(_)),
        "{name}: the next record did not map: {:?}",
        out[1]
    );
    assert_eq!(out[1].to_value()["event"]["id"], "da000_1", "{name}");

    // The Sentinel target reports the same way, in its own error table.
    let out = map_stream(Target::Sentinel, &input);
    assert_eq!(out.len(), 2, "{name} (sentinel)");
    assert!(out[0].is_error() && !out[1].is_error(), "{name} (sentinel)");
    assert!(
        out[0].to_value()["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains(what),
        "{name} (sentinel)"
    );
}

#[test]
fn not_json() {
    assert_one_error_then_good("not json", b"this is not json", "invalid JSON");
}

#[test]
fn truncated_record() {
    let good = good_alert();
    assert_one_error_then_good(
        "truncated",
        &good.as_bytes()[..good.len() / 2],
        "EOF while parsing",
    );
}

#[test]
fn wrong_types() {
    let mut v: Value = serde_json::from_str(&good_alert()).unwrap();
    v["severity"] = json!(["High"]);
    assert_one_error_then_good("wrong type", v.to_string().as_bytes(), "field severity");
    v["severity"] = json!("Low");
    v["evidence"] = json!(42);
    assert_one_error_then_good("wrong type", v.to_string().as_bytes(), "field evidence");
}

#[test]
fn unknown_kind() {
    assert_one_error_then_good(
        "unknown kind",
        br#"{"hello":"world","n":1}"#,
        "unknown record kind",
    );
}

#[test]
fn scalar_and_ten_megabyte_string() {
    let mut big = b"\"".to_vec();
    big.extend(std::iter::repeat(b'x').take(10 * 1024 * 1024));
    big.push(b'"');
    assert_one_error_then_good("10 MB string", &big, "expected a JSON object, got string");
}

#[test]
fn ten_megabyte_field_maps_correctly() {
    let mut v: Value = serde_json::from_str(&good_alert()).unwrap();
    let title = "y".repeat(10 * 1024 * 1024);
    v["title"] = json!(title);
    let out = map_stream(Target::Ecs, v.to_string().as_bytes());
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].to_value()["message"].as_str().unwrap().len(),
        title.len()
    );
}

#[test]
fn nesting_ten_thousand_deep() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_one_error_then_good("deep array", deep.as_bytes(), "recursion limit exceeded");
    let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    assert_one_error_then_good("deep object", deep.as_bytes(), "recursion limit exceeded");
}

#[test]
fn invalid_utf8() {
    let mut bad = br#"{"id":"da000_2","title":"caf"#.to_vec();
    bad.extend_from_slice(&[0xC3, 0x28, 0xFF]);
    bad.extend_from_slice(br#"","alertCreationTime":"2024-01-01T00:00:00Z"}"#);
    assert_one_error_then_good("invalid utf-8", &bad, "invalid UTF-8 at byte 28");
}

#[test]
fn empty_page_gives_nothing_and_pages_split() {
    assert!(map_stream(Target::Ecs, br#"{"value":[]}"#).is_empty());
    let page = format!(
        r#"{{"@odata.context":"x","value":[{0},{0}]}}"#,
        good_alert()
    );
    let out = map_stream(Target::Ecs, page.as_bytes());
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| !o.is_error()));
}
