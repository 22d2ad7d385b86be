//! `cargo xtask <task>`: the one entry point that people and CI use.
//!
//! - `test`: installs what the tests need, then runs formatting, lint and every test suite.
//! - `bench`: release-mode benchmarks; writes BENCHMARKS.md.
//! - `fuzz --time N`: runs every cargo-fuzz target (fuzz/) for N seconds; see xtask/src/fuzz.rs.
//! - `sentinel-tables`: regenerates src/sentinel/tables.json from ../shared/sentinel/tables.json.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::{json, Value};

mod fuzz;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs a command in the workspace root, echoing it; Err with the command line on failure.
fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: $ {cmd} {}", args.join(" "));
    let status = Command::new(cmd)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{cmd} {}` failed ({status})", args.join(" ")))
    }
}

/// Installs the Debian packages the tests need when they are missing (CI runs as root on a fresh
/// machine): valgrind for the plugin harness, libclang for the bindgen drift check.
fn ensure_debian_packages(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    run("apt-get", &args)
}

fn test() -> Result<(), String> {
    ensure_debian_packages(&["valgrind", "libclang-dev"])?;
    // The plugin harness also runs under valgrind and must not skip that in CI.
    env::set_var("DEFENDER_BRIDGE_REQUIRE_VALGRIND", "1");
    // MaxMind's test databases, which Elastic's pipeline tests (and so the fixtures) use.
    run("bash", &["scripts/fetch-geoip-test-db.sh"])?;
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The suites whose exact counts the log should show run again below with their output.
    let shown = [
        "hostile_inputs_are_handled",
        "soak_with_faults_kills_and_restarts",
        "kill_soak_with_real_processes",
    ];
    let mut args = vec!["test", "--workspace", "--"];
    for name in shown {
        args.extend(["--skip", name]);
    }
    run("cargo", &args)?;
    for (package, test, name) in [
        ("defender-bridge", "hostile_input", shown[0]),
        ("defender-bridge-pull", "soak", shown[1]),
        ("defender-bridge-cli", "kill_soak", shown[2]),
    ] {
        run(
            "cargo",
            &[
                "test",
                "-p",
                package,
                "--test",
                test,
                "--",
                name,
                "--exact",
                "--nocapture",
            ],
        )?;
    }
    // The 100 MB page and the 1,000,000-entry envelope at full size need an optimised build.
    run(
        "cargo",
        &[
            "test",
            "--release",
            "-p",
            "defender-bridge",
            "--test",
            "hostile_input",
            "--",
            "hostile_big",
            "--nocapture",
        ],
    )?;
    // wasm32 builds, native/WASI/wasm-bindgen parity, headless Chromium playground test.
    run("bash", &["wasm/run-tests.sh"])?;
    // Every fuzz target for a minute (the long runs are done by hand: docs/fuzzing.md).
    fuzz::fuzz(&["--time".to_string(), "60".to_string()])?;
    Ok(())
}

/// Writes src/sentinel/tables.json: Microsoft's column names and types, one table per line.
fn sentinel_tables() -> Result<(), String> {
    let shared = env::var("DEFENDER_BRIDGE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("../shared"));
    let src = shared.join("sentinel/tables.json");
    let text = std::fs::read_to_string(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", src.display()))?;
    let tables = doc["tables"].as_object().ok_or("no `tables` object")?;
    let mut out = format!("{{\"source\":{},\"tables\":{{\n", doc["source"]);
    for (i, (name, cols)) in tables.iter().enumerate() {
        let cols: Vec<Value> = cols
            .as_array()
            .ok_or(format!("{name}: columns are not a list"))?
            .iter()
            .map(|c| json!([c["name"], c["type"]]))
            .collect();
        let sep = if i + 1 < tables.len() { "," } else { "" };
        out += &format!(
            "{}:{}{sep}\n",
            Value::from(name.as_str()),
            Value::from(cols)
        );
    }
    out += "}}\n";
    let dst = root().join("src/sentinel/tables.json");
    std::fs::write(&dst, out).map_err(|e| format!("{}: {e}", dst.display()))?;
    eprintln!("xtask: wrote {} ({} tables)", dst.display(), tables.len());
    Ok(())
}

/// Output of a command run in the workspace root (stderr passes through).
fn capture(cmd: &str, args: &[&str]) -> Result<String, String> {
    eprintln!("xtask: $ {cmd} {}", args.join(" "));
    let out = Command::new(cmd)
        .args(args)
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{cmd} {}` failed ({})",
            args.join(" "),
            out.status
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`capture`], but prints stdout line by line as it comes (a full bench run is long).
fn capture_teed(cmd: &str, args: &[&str]) -> Result<String, String> {
    use std::io::BufRead;
    eprintln!("xtask: $ {cmd} {}", args.join(" "));
    let mut child = Command::new(cmd)
        .args(args)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    let mut out = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("{cmd}: {e}"))?;
            println!("{line}");
            out.push_str(&line);
            out.push('\n');
        }
    }
    let status = child.wait().map_err(|e| format!("{cmd}: {e}"))?;
    if !status.success() {
        return Err(format!("`{cmd} {}` failed ({status})", args.join(" ")));
    }
    Ok(out)
}

/// Runs the benchmarks in release mode, prints their tables and writes them to BENCHMARKS.md
/// with the machine, the command and the date.
fn bench(extra: &[String]) -> Result<(), String> {
    // The artifacts the bench measures: the plugin .so (release) and the filter_wasm module
    // (profile wasm, as wasm/run-tests.sh builds it). Without the wasm32-wasip1 target or node,
    // the WASM part is left out and the output says so.
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    run(
        "cargo",
        &[
            "build",
            "--release",
            "--quiet",
            "-p",
            "defender-bridge-fluentbit",
        ],
    )?;
    let so = target_dir.join("release/libdefender_bridge_fluentbit.so");
    let wasm = target_dir.join("wasm32-wasip1/wasm/defender_bridge_wasm.wasm");
    let wasm_ok = run(
        "cargo",
        &[
            "build",
            "--quiet",
            "-p",
            "defender-bridge-wasm",
            "--profile",
            "wasm",
            "--target",
            "wasm32-wasip1",
        ],
    )
    .is_ok()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    let (so, wasm) = (so.display().to_string(), wasm.display().to_string());
    let mut args = vec![
        "run",
        "--release",
        "--quiet",
        "-p",
        "defender-bridge-bench",
        "--",
        "--so",
        &so,
    ];
    if wasm_ok {
        args.extend(["--wasm", &wasm]);
    } else {
        eprintln!("xtask: no wasm32-wasip1 build or no node: the WASM part is left out");
    }
    args.extend(extra.iter().map(String::as_str));
    let table = capture_teed("cargo", &args)?;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"])?;
    let doc = format!(
        "# Benchmarks\n\nMachine: {cores} cores, {cpu}. Date: {}. Command: `cargo xtask bench {}`.\n\n\
         Every figure is measured in the same run as its baseline. Times are CPU times of the process\n\
         doing the work (user + system), best of `--runs`, so that other load on the machine does not\n\
         count (part 1 alternates baseline and mapping runs, so that a slow stretch falls on both);\n\
         the plugin's records/s is wall time. Mapping options: the defaults (no `event.original`),\n\
         as the plugin and the WASM exports use them. Part 1's ratio is baseline time / mapping time,\n\
         the baseline being a `serde_json::from_slice::<Value>` + `serde_json::to_vec` round trip over\n\
         the same input bytes (1.0 = mapping costs as much as the round trip). Inputs are generated at\n\
         run time (bench/src/main.rs), not committed. Where the time goes, instruction counts that do\n\
         not move with the load, and what the targets need: [docs/performance.md](docs/performance.md).\n\n{table}",
        date.trim(),
        extra.join(" ")
    );
    std::fs::write(root().join("BENCHMARKS.md"), doc).map_err(|e| format!("BENCHMARKS.md: {e}"))?;
    eprintln!("xtask: wrote BENCHMARKS.md");
    Ok(())
}

fn main() -> ExitCode {
    let task = env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "test" => test(),
        "sentinel-tables" => sentinel_tables(),
        "bench" => bench(&env::args().skip(2).collect::<Vec<_>>()),
        "fuzz" => fuzz::fuzz(&env::args().skip(2).collect::<Vec<_>>()),
        _ => Err("usage: cargo xtask <test|bench [--mb N] [--runs N] [--wasm-mb N] [--plugin-records N]|fuzz [--time SECS] [TARGET…]|sentinel-tables>".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
