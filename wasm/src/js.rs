//! The wasm-bindgen API (wasm32-unknown-unknown): `map`, `mapToJson`, `mapEntries`, `version`.
//! Built into an npm package layout under wasm/pkg by wasm/run-tests.sh (see docs/wasm.md).

use defender_bridge::{Mapper, Options, Output};
use js_sys::{Array, Object, Reflect, JSON};
use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::shell;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options of `map`, `mapToJson` and `mapEntries`; keys may also be written in snake_case. */
export interface MapOptions {
  /** "ecs" (default): Elastic's integration documents; "sentinel": Log Analytics rows. */
  target?: "ecs" | "sentinel";
  /** "auto" (default) detects each record's kind; or alert, machine, machine-action,
   *  vulnerability, event, graph-alert, incident. */
  kind?: string;
  /** Whose ECS output to reproduce: "mde" (default) or "m365". */
  ecsIntegration?: "mde" | "m365";
  /** Keep the source record in `event.original` (Elastic's preserve_original_event). */
  preserveOriginalEvent?: boolean;
  /** Keep vendor fields also copied to ECS (Elastic's preserve_duplicate_custom_fields). */
  preserveDuplicateCustomFields?: boolean;
  /** Sentinel: drop properties that are not columns of the table. */
  strictSchema?: boolean;
  /** "Now" as RFC 3339 for fields that need the ingest time; never read from a clock. */
  now?: string;
  /** "record" (default): unmappable input becomes an error record in the result;
   *  "throw": the first one throws an Error with the core's message instead. */
  onError?: "record" | "throw";
}
/** One mapped document: an ECS document or a Sentinel row (or an error record). */
export type MapRecord = Record<string, unknown>;
/** One result with its exact JSON text and, for an error record, its message. */
export interface MapEntry { json: string; error: string | null; }
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "string | object")]
    pub type MapInput;
    #[wasm_bindgen(typescript_type = "MapOptions")]
    pub type MapOptions;
    #[wasm_bindgen(typescript_type = "MapRecord[]")]
    pub type MapRecords;
    #[wasm_bindgen(typescript_type = "MapEntry[]")]
    pub type MapEntries;
}

fn js_err(e: JsValue) -> JsError {
    JsError::new(
        &e.as_string()
            .unwrap_or_else(|| "JSON.stringify failed".to_string()),
    )
}

/// Maps `input` with `options`; an `Err` becomes a thrown JS `Error`.
fn run(input: &JsValue, options: &JsValue) -> Result<Vec<Output>, JsError> {
    let options = if options.is_undefined() || options.is_null() {
        Value::Null
    } else {
        let text: String = JSON::stringify(options).map_err(js_err)?.into();
        serde_json::from_str(&text).map_err(|e| JsError::new(&format!("options: {e}")))?
    };
    let (options, rest) = shell::options_from_json(&options, Options::default(), &["on_error"])
        .map_err(|e| JsError::new(&e))?;
    let mut throw = false;
    for (k, v) in rest {
        if k == "on_error" {
            throw = match v.as_str() {
                Some("record") => false,
                Some("throw") => true,
                _ => {
                    return Err(JsError::new(
                        "option onError: expected \"record\" or \"throw\"",
                    ))
                }
            };
        }
    }
    let text: String = if let Some(s) = input.as_string() {
        s
    } else if input.is_object() {
        JSON::stringify(input).map_err(js_err)?.into()
    } else {
        return Err(JsError::new(
            "input must be a string of JSON text or an object",
        ));
    };
    let outputs = shell::map_text(&Mapper::new(options), text.as_bytes());
    if throw {
        if let Some(msg) = outputs.iter().find_map(shell::error_message) {
            return Err(JsError::new(&msg));
        }
    }
    Ok(outputs)
}

fn into_text(o: Output) -> String {
    match o {
        Output::Document(j) | Output::Error(j) => j.into_string(),
    }
}

/// Maps Defender records (a JSON text: one record, NDJSON, pretty JSON, a `{"value":[…]}` page, a
/// `{"records":[…]}` envelope, an array; or such an object) to ECS documents or Sentinel rows.
/// Large integers lose precision as JS numbers: use `mapToJson` for the exact bytes.
#[wasm_bindgen(js_name = map)]
pub fn map(input: MapInput, options: Option<MapOptions>) -> Result<MapRecords, JsError> {
    let options: JsValue = options.map(Into::into).unwrap_or(JsValue::UNDEFINED);
    let outputs = run(&input, &options)?;
    let array = Array::new();
    for o in &outputs {
        array.push(&JSON::parse(o.json().as_str()).map_err(js_err)?);
    }
    Ok(JsValue::from(array).unchecked_into())
}

/// Like `map`, but each result is its exact JSON text (the bytes every other shell writes).
#[wasm_bindgen(js_name = mapToJson)]
pub fn map_to_json(input: MapInput, options: Option<MapOptions>) -> Result<Vec<String>, JsError> {
    let options: JsValue = options.map(Into::into).unwrap_or(JsValue::UNDEFINED);
    Ok(run(&input, &options)?.into_iter().map(into_text).collect())
}

/// Like `mapToJson`, with each error record's message beside its text.
#[wasm_bindgen(js_name = mapEntries)]
pub fn map_entries(input: MapInput, options: Option<MapOptions>) -> Result<MapEntries, JsError> {
    let options: JsValue = options.map(Into::into).unwrap_or(JsValue::UNDEFINED);
    let array = Array::new();
    for o in &run(&input, &options)? {
        let entry = Object::new();
        let error = shell::error_message(o)
            .map(JsValue::from)
            .unwrap_or(JsValue::NULL);
        Reflect::set(&entry, &"json".into(), &o.json().as_str().into()).map_err(js_err)?;
        Reflect::set(&entry, &"error".into(), &error).map_err(js_err)?;
        array.push(&entry);
    }
    Ok(JsValue::from(array).unchecked_into())
}

/// The package version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
