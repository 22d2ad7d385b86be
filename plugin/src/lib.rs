//! The `defender` Fluent Bit input: a proxy plugin (`fluent-bit -e libdefender_bridge_fluentbit.so
//! -i defender …`). Each instance runs a pull engine (its own tenant, sources and checkpoints);
//! the 1-second collect callback hands over what the engine has ready, and a batch is
//! acknowledged (its checkpoint may advance) only once Fluent Bit has copied it.
//!
//! The ABI, the exported symbols and every `unsafe` live in `defender-bridge-ffi`.
#![forbid(unsafe_code)]

use std::ffi::CStr;
use std::sync::Arc;

use defender_bridge_ffi::{
    sys, Events, FfiError, HostConfig, HostLog, InitError, InputInstance, InputPlugin,
};
use defender_bridge_pull::{Batch, Engine, Level, Logger, PullConfig};

mod encode;

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
        let engine = Engine::start_encoded(
            settings,
            Arc::new(FluentBitLogger(log)),
            Box::new(encode::Events),
        )
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
            let json = record.json().as_str();
            events.push_json(encode::time_of(encode::record_time(json).as_deref()), json);
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
