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

/// The raw WASI calls that list the preopened directories (`accessible_paths`); Rust's std has
/// no API for them.
mod preopens {
    #[repr(C)]
    struct Prestat {
        tag: u8,
        name_len: u32,
    }

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn fd_prestat_get(fd: u32, out: *mut Prestat) -> u16;
        fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: u32) -> u16;
    }

    /// The names of the preopened directories, in the host's order (WASI numbers them from fd 3
    /// without gaps; the first failing fd ends the list).
    pub fn names() -> Vec<String> {
        let mut names = Vec::new();
        for fd in 3..1024u32 {
            let mut stat = Prestat {
                tag: u8::MAX,
                name_len: 0,
            };
            // SAFETY: `stat` is a valid, writable `__wasi_prestat_t` (u8 tag, u32 length at
            // offset 4), which is all fd_prestat_get writes.
            if unsafe { fd_prestat_get(fd, &mut stat) } != 0 || stat.tag != 0 {
                break;
            }
            let mut name = vec![0u8; stat.name_len as usize];
            // SAFETY: `name` has exactly the `name_len` writable bytes the host reported.
            if unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), stat.name_len) } != 0 {
                break;
            }
            let name = String::from_utf8_lossy(&name)
                .trim_end_matches('\0')
                .to_string();
            names.push(name);
        }
        names
    }
}

/// Reads the config file from the first preopened directory that holds one; `Ok(None)` when
/// none does.
fn load_config() -> Result<Option<Config>, String> {
    let mut found = None;
    for dir in preopens::names() {
        let path = format!("{}/{CONFIG_FILE}", dir.trim_end_matches('/'));
        match std::fs::read(&path) {
            Ok(t) => {
                found = Some((path, t));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{path}: {e}")),
        }
    }
    let Some((path, text)) = found else {
        return Ok(None);
    };
    load_config_text(&path, &text).map(Some)
}

fn load_config_text(path: &str, text: &[u8]) -> Result<Config, String> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| format!("{path}: invalid JSON: {e}"))?;
    if value.get("target").is_some() {
        return Err(format!(
            "{path}: the target comes from function_name (defender_to_ecs, defender_to_sentinel)"
        ));
    }
    let (options, rest) = shell::options_from_json(&value, Options::default(), &["log_key"])
        .map_err(|e| format!("{path}: {e}"))?;
    let mut log_key = "log".to_string();
    for (k, v) in rest {
        if k == "log_key" {
            log_key = v
                .as_str()
                .ok_or_else(|| format!("{path}: option log_key: expected a string"))?
                .to_string();
        }
    }
    Ok(Config { options, log_key })
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
        Ok(None) => Ok(Config {
            options: Options::default(),
            log_key: "log".to_string(),
        }),
        Err(e) => {
            // WAMR passes the guest's stderr through to Fluent Bit's.
            eprintln!("defender-bridge: {e}");
            Err(e)
        }
    };
    State {
        config,
        out: Vec::new(),
    }
}

/// An error record made here, for failures before the core is reached (bad config, a record the
/// host could not copy in), in the core's error-record shape.
fn local_error(target: Target, original: &str, message: &str) -> Vec<u8> {
    let v = match target {
        Target::Ecs => json!({
            "ecs": {"version": defender_bridge::ECS_VERSION},
            "event": {"kind": "pipeline_error", "original": original},
            "error": {"message": message},
            "tags": ["defender_bridge_error"],
        }),
        Target::Sentinel => json!({
            "Type": "DefenderBridgeErrors_CL", "ErrorMessage": message, "RawData": original,
        }),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Maps one record body and returns the guest address of the NUL-terminated result.
/// `record` is `None` when the host passed no record although its length is not zero.
fn run(record: Option<&[u8]>, target: Target, tweak: fn(&mut Options)) -> *const u8 {
    // The state is taken out of the cell for the call and put back afterwards, so no borrow is
    // held while mapping: if a call traps (e.g. WAMR's stack is too small), the next call simply
    // starts from a fresh state instead of finding the cell still borrowed.
    let mut state = STATE
        .with(|cell| cell.borrow_mut().take())
        .unwrap_or_else(state_init);
    let result = match (&state.config, record) {
        (Ok(config), Some(record)) => {
            let mut options = config.options.clone();
            options.target = target;
            tweak(&mut options);
            let mut result = Vec::new();
            shell::filter_body(&Mapper::new(options), record, &config.log_key, &mut result);
            result
        }
        // A bad config must not drop records: each becomes an error record saying why.
        (Err(e), Some(record)) => local_error(target, &String::from_utf8_lossy(record), e),
        (_, None) => local_error(
            target,
            "",
            "Fluent Bit could not copy the record into the module (no memory)",
        ),
    };
    // serde_json escapes U+0000, so the result holds no NUL that would cut it short (the host
    // reads it with strlen).
    debug_assert!(!result.contains(&0));
    let out = &mut state.out;
    out.clear();
    if out.capacity() > KEEP_CAPACITY && result.len() < KEEP_CAPACITY {
        out.shrink_to(KEEP_CAPACITY);
    }
    out.extend_from_slice(&result);
    out.push(0);
    // Moving `state` into the cell does not move the buffer's heap allocation: the address stays
    // valid until the next call, and the host strdup()s the string before that.
    let ptr = out.as_ptr();
    STATE.with(|cell| *cell.borrow_mut() = Some(state));
    ptr
}

/// Borrows the record the host copied into guest memory; `None` when the copy failed
/// (WAMR then passes address 0 with the real length).
fn record<'a>(ptr: *const c_char, len: u32) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: filter_wasm copies the record into guest memory (wasm_runtime_module_dup_data,
    // `len + 1` bytes with a NUL) and passes its address and length without the NUL; the copy
    // stays alive and unchanged until this call returns, and the slice does not outlive it.
    Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) })
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
    STATE.with(|cell| *cell.borrow_mut() = Some(state_init()));
}
