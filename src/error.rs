//! Mapping errors and the error record that replaces a record that could not be mapped.

use std::fmt;

use serde_json::{json, Value};

use crate::{Options, Output, Position, Target, ECS_VERSION};

/// Why a record could not be mapped. `path` names the offending field when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    pub message: String,
    pub path: Option<String>,
}

impl MapError {
    pub fn new(message: impl Into<String>) -> Self {
        MapError {
            message: message.into(),
            path: None,
        }
    }

    /// An error about one field: `field("severity", "expected a string, got number")`.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        MapError {
            message: message.into(),
            path: Some(path.into()),
        }
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "field {p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for MapError {}

/// Table that Sentinel error rows go to (a custom table, as the Logs Ingestion API requires).
pub const SENTINEL_ERROR_TABLE: &str = "DefenderBridgeErrors_CL";

/// Longest error message kept (bytes); longer ones are cut and end with `…`.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Builds the error record for `original` (ECS: `event.kind: pipeline_error`; Sentinel: a row of
/// [`SENTINEL_ERROR_TABLE`]). The message says what went wrong and where.
pub(crate) fn record(opts: &Options, original: &str, pos: Position, err: &MapError) -> Output {
    let mut message = if pos.record > 0 {
        format!("record {} (line {}): {err}", pos.record, pos.line)
    } else {
        err.to_string()
    };
    // A message names the problem; the input itself is in the original. Messages that quote
    // a huge value or key are cut so an error record is not a second copy of a hostile input.
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    let value = match opts.target {
        Target::Ecs => json!({
            "ecs": { "version": ECS_VERSION },
            "event": { "kind": "pipeline_error", "original": original },
            "error": { "message": message },
            "tags": ["defender_bridge_error"],
        }),
        Target::Sentinel => {
            let mut row = json!({
                "Type": SENTINEL_ERROR_TABLE,
                "ErrorMessage": message,
                "RawData": original,
            });
            if let Some(now) = &opts.now {
                row["TimeGenerated"] = Value::String(now.clone());
            }
            row
        }
    };
    Output::error(&value)
}
