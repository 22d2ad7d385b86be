//! Fluent Bit filter_wasm exports (wasm32-wasip1, JSON event format). See docs/wasm.md.
//!
//! Every export has filter_wasm's signature `(tag, tag_len, sec, nsec, record, record_len) -> ptr`
//! and returns a NUL-terminated string from one reused buffer (the host copies it). The target
//! comes from the function name; the other options from `defender-bridge.json`, read once from
//! the module's preopened directories (`accessible_paths`, `.` by default) when it is present.

use std::cell::RefCell;
use std::os::raw::c_char;

use defender_bridge::{Mapper, Options, Target};
use serde_json::{json, Value};

use crate::shell;

/// The optional config file, looked up relative to the preopened directories.
pub const CONFIG_FILE: &str = "defender-bridge.json";

/// A result buffer above this capacity is shrunk again when a later result is small.
const KEEP_CAPACITY: usize = 1 << 20;

struct Config {
    options: Options,
    log_key: String,
}

/// Reads the config file; `Ok(None)` when there is none.
fn load_config() -> Result<Option<Config>, String> {
    let text = match std::fs::read(CONFIG_FILE) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{CONFIG_FILE}: {e}")),
    };
    let value: Value =
        serde_json::from_slice(&text).map_err(|e| format!("{CONFIG_FILE}: invalid JSON: {e}"))?;
    if value.get("target").is_some() {
        return Err(format!(
            "{CONFIG_FILE}: the target comes from function_name (defender_to_ecs, defender_to_sentinel)"
        ));
    }
    let (options, rest) = shell::options_from_json(&value, Options::default(), &["log_key"])
        .map_err(|e| format!("{CONFIG_FILE}: {e}"))?;
    let mut log_key = "log".to_string();
    for (k, v) in rest {
        if k == "log_key" {
            log_key = v
                .as_str()
                .ok_or_else(|| format!("{CONFIG_FILE}: option log_key: expected a string"))?
                .to_string();
        }
    }
    Ok(Some(Config { options, log_key }))
}

struct State {
    config: Result<Config, String>,
    out: Vec<u8>,
}

thread_local! {
    // wasm32-wasip1 has one thread; this is module-instance state, kept between calls.
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn state_init() -> State {
    let config = match load_config() {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Ok(Config { options: Options::default(), log_key: "log".to_string() }),
        Err(e) => {
            // WAMR passes the guest's stderr through to Fluent Bit's.
            eprintln!("defender-bridge: {e}");
            Err(e)
        }
    };
    State { config, out: Vec::new() }
}

/// Maps one record body and returns the guest address of the NUL-terminated result.
fn run(record: &[u8], target: Target, tweak: fn(&mut Options)) -> *const u8 {
    STATE.with(|cell| {
        let mut guard = cell.borrow_mut();
        let state = guard.get_or_insert_with(state_init);
        let mut result = Vec::new();
        match &state.config {
            Ok(config) => {
                let mut options = config.options.clone();
                options.target = target;
                tweak(&mut options);
                shell::filter_body(&Mapper::new(options), record, &config.log_key, &mut result);
            }
            Err(e) => {
                // A bad config must not drop records: each becomes an error record saying why.
                let original = String::from_utf8_lossy(record);
                let v = match target {
                    Target::Ecs => json!({
                        "event": {"kind": "pipeline_error", "original": original},
                        "error": {"message": e},
                        "tags": ["defender_bridge_error"],
                    }),
                    Target::Sentinel => json!({
                        "Type": "DefenderBridgeErrors_CL", "ErrorMessage": e, "RawData": original,
                    }),
                };
                result = serde_json::to_vec(&v).unwrap_or_default();
            }
        }
        // A NUL inside the JSON cannot happen (serde_json escapes U+0000), but the host reads
        // with strlen, so make sure nothing after one is silently lost.
        debug_assert!(!result.contains(&0));
        let out = &mut state.out;
        out.clear();
        if out.capacity() > KEEP_CAPACITY && result.len() < KEEP_CAPACITY {
            out.shrink_to(KEEP_CAPACITY);
        }
        out.extend_from_slice(&result);
        out.push(0);
        // The buffer lives in module state until the next call; the host strdup()s it first.
        out.as_ptr()
    })
}

/// Borrows the record the host copied into guest memory.
fn record<'a>(ptr: *const c_char, len: u32) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: filter_wasm copies the record into guest memory (wasm_runtime_module_dup_data)
    // and passes its address and exact length; the copy stays alive and unchanged until this
    // call returns, and the slice does not outlive the call.
    unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) }
}

macro_rules! export {
    ($(#[$doc:meta])* $name:ident, $target:expr, $tweak:expr) => {
        $(#[$doc])*
        #[no_mangle]
        pub extern "C" fn $name(
            _tag: *const c_char,
            _tag_len: u32,
            _time_sec: u32,
            _time_nsec: u32,
            record_ptr: *const c_char,
            record_len: u32,
        ) -> *const u8 {
            run(record(record_ptr, record_len), $target, $tweak)
        }
    };
}

export!(
    /// ECS documents (Elastic's `microsoft_defender_endpoint` / `m365_defender` output).
    defender_to_ecs, Target::Ecs, |_| {}
);
export!(
    /// ECS documents with `event.original` (Elastic's `preserve_original_event`).
    defender_to_ecs_preserve_original, Target::Ecs, |o| o.preserve_original_event = true
);
export!(
    /// Microsoft Sentinel / Log Analytics rows.
    defender_to_sentinel, Target::Sentinel, |_| {}
);
export!(
    /// Sentinel rows holding only the table's columns (`strict_schema`).
    defender_to_sentinel_strict, Target::Sentinel, |o| o.strict_schema = true
);

extern "C" {
    /// Runs the module's static constructors (generated by wasm-ld).
    fn __wasm_call_ctors();
}

/// WASI reactor entry point: WAMR calls it once after instantiation, so it prints no
/// "command or reactor" warning. It also reads the config file up front.
#[no_mangle]
pub extern "C" fn _initialize() {
    // SAFETY: `__wasm_call_ctors` is defined by wasm-ld for every module and is called exactly
    // once here, before any other export runs (the WASI reactor contract).
    unsafe { __wasm_call_ctors() };
    STATE.with(|cell| {
        cell.borrow_mut().get_or_insert_with(state_init);
    });
}
