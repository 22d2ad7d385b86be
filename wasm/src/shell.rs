//! What both wasm shells share, kept target-independent so it is unit-tested natively: options
//! from a JSON object, mapping a text exactly as the CLI does, and the filter_wasm result body.

use defender_bridge::split::{Piece, Splitter};
use defender_bridge::{EcsIntegration, Kind, Mapper, Options, Output, Target};
use serde_json::Value;

/// The key that holds the documents when one Fluent Bit record maps to several (see docs/wasm.md).
pub const DOCUMENTS_KEY: &str = "documents";

/// Maps one text (a record, NDJSON, concatenated or pretty JSON, pages, envelopes, arrays) the way
/// `defender-bridge map` maps a file: through the core's [`Splitter`], so error records carry the
/// same `record N (line L)` positions and every shell gives the same bytes.
pub fn map_text(mapper: &Mapper, text: &[u8]) -> Vec<Output> {
    let mut out = Vec::new();
    let mut splitter = Splitter::default();
    let mut on_piece = |piece: Piece<'_>| mapper.map_piece(piece, &mut |o: Output| out.push(o));
    splitter.feed(text, &mut on_piece);
    splitter.finish(&mut on_piece);
    out
}

/// `fooBar` and `foo-bar` → `foo_bar`, so options read the same from JS and from a config file.
fn snake(key: &str) -> String {
    let mut s = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else if c == '-' {
            s.push('_');
        } else {
            s.push(c);
        }
    }
    s
}

fn want_bool(key: &str, v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("option {key}: expected true or false"))
}

fn want_str<'a>(key: &str, v: &'a Value) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("option {key}: expected a string"))
}

/// Reads mapping options from a JSON object. Keys may be snake_case or camelCase; `null` values
/// are ignored. Keys in `extra` are handed back (normalised to snake_case) for the caller; any
/// other unknown key is an error, so a typo never silently does nothing.
pub fn options_from_json(
    value: &Value,
    mut options: Options,
    extra: &[&str],
) -> Result<(Options, Vec<(String, Value)>), String> {
    let map = match value {
        Value::Null => return Ok((options, Vec::new())),
        Value::Object(map) => map,
        _ => return Err("options must be an object".to_string()),
    };
    let mut rest = Vec::new();
    for (key, v) in map {
        if v.is_null() {
            continue;
        }
        let k = snake(key);
        match k.as_str() {
            "target" => options.target = want_str(key, v)?.parse::<Target>()?,
            "kind" => {
                let s = want_str(key, v)?;
                options.kind = if s.eq_ignore_ascii_case("auto") {
                    None
                } else {
                    Some(s.parse::<Kind>()?)
                };
            }
            "ecs_integration" => {
                options.ecs_integration = want_str(key, v)?.parse::<EcsIntegration>()?
            }
            "preserve_original_event" => options.preserve_original_event = want_bool(key, v)?,
            "preserve_duplicate_custom_fields" => {
                options.preserve_duplicate_custom_fields = want_bool(key, v)?
            }
            "strict_schema" => options.strict_schema = want_bool(key, v)?,
            "now" => options.now = Some(want_str(key, v)?.to_string()),
            _ if extra.contains(&k.as_str()) => rest.push((k, v.clone())),
            _ => return Err(format!("unknown option {key:?}")),
        }
    }
    Ok((options, rest))
}

/// The message of an error record (ECS `error.message`, Sentinel `ErrorMessage`).
pub fn error_message(output: &Output) -> Option<String> {
    if !output.is_error() {
        return None;
    }
    let v = output.to_value();
    let msg = v
        .pointer("/error/message")
        .or_else(|| v.get("ErrorMessage"));
    Some(
        msg.and_then(Value::as_str)
            .unwrap_or("record could not be mapped")
            .to_string(),
    )
}

/// The text a Fluent Bit record body stands for: when the body holds a string under `log_key`
/// (in_tail without a parser gives `{"log":"<line>"}`), that line; otherwise the body itself.
/// Mapping the line rather than Fluent Bit's re-encoding keeps `event.original` byte-exact.
pub fn filter_input<'a>(body: &'a [u8], log_key: &str) -> std::borrow::Cow<'a, [u8]> {
    // Cheap test first: Defender records never hold the key, so most bodies skip the extra parse.
    let quoted = format!("\"{log_key}\"");
    if !log_key.is_empty() && contains(body, quoted.as_bytes()) {
        if let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) {
            if let Some(Value::String(line)) = map.remove(log_key) {
                return std::borrow::Cow::Owned(line.into_bytes());
            }
        }
    }
    std::borrow::Cow::Borrowed(body)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The body filter_wasm gets back for one record (without the trailing NUL):
/// no document → empty (Fluent Bit drops the record); one → that document (an error record is a
/// document here: bad input is never dropped); several → `{"documents":[…]}` in order, which a
/// Fluent Bit Lua filter can split into records (examples/fluent-bit-wasm-filter.lua).
pub fn filter_body(mapper: &Mapper, body: &[u8], log_key: &str, out: &mut Vec<u8>) {
    out.clear();
    let input = filter_input(body, log_key);
    let outputs = map_text(mapper, &input);
    match outputs.as_slice() {
        [] => {}
        [one] => out.extend_from_slice(one.as_bytes()),
        many => {
            out.extend_from_slice(b"{\"");
            out.extend_from_slice(DOCUMENTS_KEY.as_bytes());
            out.extend_from_slice(b"\":[");
            for (i, o) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(o.as_bytes());
            }
            out.extend_from_slice(b"]}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper(target: Target) -> Mapper {
        Mapper::new(Options {
            target,
            ..Options::default()
        })
    }

    #[test]
    fn options_accept_both_spellings_and_reject_typos() {
        let v: Value = serde_json::json!({"target": "sentinel", "preserveOriginalEvent": true,
            "strict_schema": true, "kind": "auto", "now": null, "logKey": "message"});
        let (o, rest) = options_from_json(&v, Options::default(), &["log_key"]).unwrap();
        assert_eq!(o.target, Target::Sentinel);
        assert!(o.preserve_original_event && o.strict_schema && o.kind.is_none());
        assert_eq!(rest, vec![("log_key".to_string(), Value::from("message"))]);
        let bad = serde_json::json!({"preserve_orignal_event": true});
        assert!(options_from_json(&bad, Options::default(), &[])
            .unwrap_err()
            .contains("unknown"));
        let bad = serde_json::json!({"target": "splunk"});
        assert!(options_from_json(&bad, Options::default(), &[])
            .unwrap_err()
            .contains("splunk"));
        assert!(options_from_json(&Value::from(3), Options::default(), &[]).is_err());
    }

    #[test]
    fn empty_page_is_dropped_bad_input_is_not() {
        let m = mapper(Target::Ecs);
        let mut out = Vec::new();
        filter_body(&m, br#"{"value":[]}"#, "log", &mut out);
        assert!(out.is_empty());
        filter_body(&m, b"{not json", "log", &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["event"]["kind"], "pipeline_error");
        assert_eq!(v["event"]["original"], "{not json");
    }

    #[test]
    fn several_documents_go_under_one_key_in_order() {
        let m = mapper(Target::Sentinel);
        let mut out = Vec::new();
        filter_body(&m, b"[1,2]", "log", &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        let docs = v[DOCUMENTS_KEY].as_array().unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["RawData"], "1");
        assert_eq!(docs[1]["RawData"], "2");
    }

    #[test]
    fn a_log_line_is_mapped_as_its_text() {
        let m = mapper(Target::Ecs);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        filter_body(&m, br#"{"log":"{\"value\":[]} x"}"#, "log", &mut a);
        filter_body(&m, br#"{"value":[]} x"#, "log", &mut b);
        assert_eq!(a, b);
        assert!(!a.is_empty());
        // A body whose key is not a string is mapped as it is.
        assert_eq!(
            filter_input(br#"{"log":1}"#, "log").as_ref(),
            br#"{"log":1}"#
        );
        assert_eq!(
            filter_input(br#"{"log":"x"}"#, "").as_ref(),
            br#"{"log":"x"}"#
        );
    }
}
