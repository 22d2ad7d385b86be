//! The `defender` Fluent Bit input: a proxy plugin (`fluent-bit -e libdefender_bridge_fluentbit.so
//! -i defender …`). Each instance runs a pull engine (its own tenant, sources and checkpoints);
//! the 1-second collect callback hands over what the engine has ready, and a batch is
//! acknowledged (its checkpoint may advance) only once Fluent Bit has copied it.
//!
//! The ABI, the exported symbols and every `unsafe` live in `defender-bridge-ffi`.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::ffi::CStr;
use std::sync::Arc;

use defender_bridge::Output;
use defender_bridge_ffi::msgpack::write_event_json;
use defender_bridge_ffi::{
    sys, EventTime, Events, FfiError, HostConfig, HostLog, InitError, InputInstance, InputPlugin,
};
use defender_bridge_pull::{Batch, Engine, Level, Logger, PullConfig};
use serde::Deserialize;
use serde_json::Value;

/// The plugin type behind the exported symbols.
pub struct Defender;

defender_bridge_ffi::export_input_plugin!(Defender);

/// Sends the engine's lines to Fluent Bit's log (the engine already removed secrets).
struct FluentBitLogger(HostLog);

impl Logger for FluentBitLogger {
    fn log(&self, level: Level, message: &str) {
        self.0.log(level as i32, message)
    }
}

impl InputPlugin for Defender {
    const NAME: &'static CStr = c"defender";
    const DESCRIPTION: &'static CStr =
        c"Microsoft Defender for Endpoint / Defender XDR records as ECS documents or Sentinel rows";
    type Instance = Instance;

    fn init(config: &HostConfig<'_>, log: HostLog) -> Result<Instance, InitError> {
        let mut settings =
            PullConfig::from_lookup(&|key| config.get(key)).map_err(|e| InitError {
                kind: FfiError::Config,
                message: e.to_string(),
            })?;
        // `log_level` is a core property of every Fluent Bit input: the host keeps it and the
        // plugin only sees its effect, through input_log_check. Let the engine log at that level.
        if config.get("log_level").is_none() {
            settings.log_level = level_of(log.max_level());
        }
        let max = settings.batch_max_records;
        let summary = format!(
            "starting: tenant {}, sources {}, target {}, state_dir {}",
            settings.tenant_id,
            settings
                .sources
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(","),
            format!("{:?}", settings.target).to_ascii_lowercase(),
            settings
                .state_dir
                .as_ref()
                .map_or("(none: checkpoints kept in memory)".to_string(), |d| d
                    .display()
                    .to_string()),
        );
        log.log(sys::FLB_LOG_INFO, &summary);
        // The workers encode each record as soon as it is mapped: the queue holds msgpack instead
        // of value trees, and collect only copies bytes.
        let encode = Box::new(|record: &Output, buf: &mut Vec<u8>| {
            write_event_json(buf, event_time(record), record.json().as_str())
        });
        let engine = Engine::start_encoded(settings, Arc::new(FluentBitLogger(log)), encode)
            .map_err(|e| InitError {
                kind: FfiError::Start,
                message: e.to_string(),
            })?;
        Ok(Instance { engine, max, log })
    }
}

/// One `[INPUT] Name defender` section.
pub struct Instance {
    engine: Engine,
    max: usize,
    log: HostLog,
}

impl InputInstance for Instance {
    type Delivery = Batch;

    fn collect(&mut self, events: &mut Events) -> Option<Batch> {
        let batch = self.engine.take(self.max)?;
        for record in &batch.records {
            events.push_json(event_time(record), record.json().as_str());
        }
        events.extend_encoded(&batch.bytes, batch.encoded);
        self.log.log(
            sys::FLB_LOG_DEBUG,
            &format!(
                "handing over {} records ({} bytes)",
                events.len(),
                events.byte_len()
            ),
        );
        Some(batch)
    }

    fn delivered(&mut self, delivery: Batch) {
        delivery.ack();
    }

    fn exit(self) {
        self.log.log(sys::FLB_LOG_INFO, "stopping");
        self.engine.stop();
    }
}

/// The engine level for a Fluent Bit level number (0, logging off, keeps errors).
fn level_of(n: i32) -> Level {
    match n {
        i32::MIN..=1 => Level::Error,
        2 => Level::Warn,
        3 => Level::Info,
        4 => Level::Debug,
        _ => Level::Trace,
    }
}

/// The event time: the record's own time (`@timestamp` in ECS, `TimeGenerated` in Sentinel
/// rows), else now (when the record was mapped).
fn event_time(record: &Output) -> EventTime {
    record_time(record.json().as_str())
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
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

/// The first string of `@timestamp` and `TimeGenerated`.
fn record_time(json: &str) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<Times>(json) {
        Ok(t) => t.timestamp.or(t.time_generated),
        // A time that is not a string, or no object: read as a tree, as every field was before.
        Err(_) => {
            let value: Value = serde_json::from_str(json).ok()?;
            ["@timestamp", "TimeGenerated"]
                .iter()
                .find_map(|k| value.get(*k).and_then(Value::as_str))
                .map(|s| Cow::Owned(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_time_from_record() {
        let t = event_time(&Output::document(
            &json!({"@timestamp": "2024-01-02T03:04:05.5Z"}),
        ));
        assert_eq!(
            t,
            EventTime {
                seconds: 1_704_164_645,
                nanoseconds: 500_000_000
            }
        );
        let t = event_time(&Output::document(
            &json!({"TimeGenerated": "2024-01-02T03:04:05Z"}),
        ));
        assert_eq!(t.seconds, 1_704_164_645);
        let now = EventTime::now().seconds;
        assert!(event_time(&Output::document(&json!({"x": 1}))).seconds >= now);
        // Escapes, a time that is not a string, and a time after other fields.
        assert_eq!(
            record_time(r#"{"a":{"@timestamp":1},"@timestamp":"2024-01-02T03:04:05\u005a"}"#)
                .as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        let t = event_time(&Output::document(
            &json!({"@timestamp": 5, "TimeGenerated": "2024-01-02T03:04:05Z"}),
        ));
        assert_eq!(t.seconds, 1_704_164_645);
    }
}
