//! Runs the C host harness (harness.c, built by build.rs) against the plugin .so, optionally
//! under valgrind, and decodes the msgpack events it received.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

/// The compiled harness executable.
pub fn harness_bin() -> &'static str {
    env!("HARNESS_BIN")
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Builds the plugin (same profile and target directory as this test binary) and returns the
/// path of `libdefender_bridge_fluentbit.so`. `DEFENDER_BRIDGE_PLUGIN_SO` overrides it.
pub fn plugin_so() -> PathBuf {
    if let Some(p) = std::env::var_os("DEFENDER_BRIDGE_PLUGIN_SO") {
        return PathBuf::from(p);
    }
    // The test binary lives in <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "-p",
            "defender-bridge-fluentbit",
            "--target-dir",
        ])
        .arg(&target_dir);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building the plugin failed");
    let so = profile_dir.join("libdefender_bridge_fluentbit.so");
    assert!(so.exists(), "{} not found", so.display());
    so
}

/// One `-i` instance: the number of events to wait for (0: run until the time limit) and its
/// configuration properties.
#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub expect: usize,
    pub props: Vec<(String, String)>,
}

impl Instance {
    pub fn new(expect: usize, props: &[(&str, &str)]) -> Instance {
        Instance {
            expect,
            props: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seconds: u32,
    pub nanoseconds: u32,
    pub metadata: Value,
    pub body: Value,
}

/// What a harness run gave.
#[derive(Debug)]
pub struct Run {
    /// The harness's exit status (valgrind's 99 when it found errors).
    pub status: Option<i32>,
    pub stderr: String,
    /// Events per instance, in order.
    pub events: Vec<Vec<Event>>,
    /// valgrind's log, when run under valgrind.
    pub valgrind_log: Option<String>,
}

/// Whether valgrind can be run.
pub fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the harness with `instances` for at most `max_seconds`, writing into `dir`.
pub fn run(so: &Path, dir: &Path, max_seconds: u32, instances: &[Instance], valgrind: bool) -> Run {
    std::fs::create_dir_all(dir).expect("create the output dir");
    let prefix = dir.join("events");
    let vg_log = dir.join("valgrind.log");
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite",
            "--num-callers=30",
        ])
        .arg(format!("--log-file={}", vg_log.display()));
        // Extra options (e.g. --show-leak-kinds=all), after ours so that they win.
        if let Ok(extra) = std::env::var("DEFENDER_BRIDGE_VALGRIND_ARGS") {
            c.args(extra.split_whitespace());
        }
        c.arg(harness_bin());
        c
    } else {
        Command::new(harness_bin())
    };
    cmd.arg(so).arg(&prefix).arg(max_seconds.to_string());
    for i in instances {
        cmd.arg("-i").arg(i.expect.to_string());
        for (k, v) in &i.props {
            cmd.arg(format!("{k}={v}"));
        }
    }
    let out = cmd.output().expect("run the harness");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let events = (0..instances.len())
        .map(|n| {
            let path = PathBuf::from(format!("{}.{n}.msgpack", prefix.display()));
            std::fs::read(&path)
                .map(|b| decode_events(&b))
                .unwrap_or_default()
        })
        .collect();
    let valgrind_log = valgrind.then(|| std::fs::read_to_string(&vg_log).unwrap_or_default());
    Run {
        status: out.status.code(),
        stderr,
        events,
        valgrind_log,
    }
}

/// Decodes concatenated Fluent Bit events (`[[ext0, {meta}], {body}]`). Panics on anything else.
pub fn decode_events(mut bytes: &[u8]) -> Vec<Event> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let v = rmpv::decode::read_value(&mut bytes).expect("a msgpack value");
        let parts = v.as_array().expect("an event is an array");
        assert_eq!(parts.len(), 2, "an event has two parts");
        let header = parts[0].as_array().expect("v2 event: [[time, meta], body]");
        assert_eq!(header.len(), 2);
        let (seconds, nanoseconds) = match &header[0] {
            rmpv::Value::Ext(0, d) if d.len() == 8 => (
                u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
            ),
            other => panic!("event time is not EventTime: {other:?}"),
        };
        out.push(Event {
            seconds,
            nanoseconds,
            metadata: to_json(&header[1]),
            body: to_json(&parts[1]),
        });
    }
    out
}

/// msgpack to JSON (maps must have string keys).
pub fn to_json(v: &rmpv::Value) -> Value {
    match v {
        rmpv::Value::Nil => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(*b),
        rmpv::Value::Integer(i) => {
            if let Some(u) = i.as_u64() {
                Value::from(u)
            } else {
                Value::from(i.as_i64().expect("an integer"))
            }
        }
        rmpv::Value::F32(f) => Value::from(f64::from(*f)),
        rmpv::Value::F64(f) => Value::from(*f),
        rmpv::Value::String(s) => Value::String(s.as_str().expect("UTF-8 string").to_string()),
        rmpv::Value::Binary(b) => Value::String(format!("<{} bytes>", b.len())),
        rmpv::Value::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        rmpv::Value::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.as_str().expect("string keys").to_string(), to_json(v));
            }
            Value::Object(out)
        }
        rmpv::Value::Ext(t, d) => panic!("unexpected ext {t} ({} bytes) in a record", d.len()),
    }
}

/// Checks a valgrind log: no errors and no definite leaks. Returns the summary lines.
pub fn check_valgrind(log: &str) -> Result<String, String> {
    let summary: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("ERROR SUMMARY")
                || l.contains("definitely lost")
                || l.contains("indirectly lost")
                || l.contains("possibly lost")
                || l.contains("All heap blocks were freed")
        })
        .collect();
    let text = summary.join("\n");
    let clean_errors = log
        .lines()
        .filter(|l| l.contains("ERROR SUMMARY"))
        .all(|l| l.contains("ERROR SUMMARY: 0 errors"));
    let no_definite = log
        .lines()
        .filter(|l| l.contains("definitely lost:"))
        .all(|l| l.contains("definitely lost: 0 bytes"));
    if summary.is_empty() {
        return Err("valgrind log has no summary".to_string());
    }
    if clean_errors && no_definite {
        Ok(text)
    } else {
        Err(format!("{text}\n--- full log ---\n{log}"))
    }
}
