//! `cargo xtask fuzz --time N [TARGET…]`: seeds the corpora from the fixtures, then runs every
//! cargo-fuzz target (fuzz/) for N seconds each and prints each target's execution count.
//!
//! cargo-fuzz needs nightly flags; on a stable toolchain they are enabled with
//! `RUSTC_BOOTSTRAP=1`. Builds go to `$CARGO_TARGET_DIR` or `target/fuzz` so that the
//! instrumented build never mixes with the normal one.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::root;

/// Every target in fuzz/Cargo.toml, in the order they run.
const TARGETS: &[&str] = &[
    "map_ecs",
    "map_sentinel",
    "splitter",
    "msgpack",
    "filter_wasm",
    "plugin_abi",
];

/// The emulator's tenant and client (fuzz/fuzz_targets/plugin_abi.rs), and the secret it accepts.
const ABI_IDS: &str = "tenant_id=00000000-0000-4000-8000-00000000e001\n\
    client_id=11111111-0000-4000-8000-00000000e001\n";
const ABI_SECRET: &str = "client_secret=fuzz-S3cr3t-never-in-logs-0123456789\n";
const ABI_FAST: &str = "poll_interval=10ms\nretry_base=1ms\nretry_max=4ms\nretry_attempts=2\n\
    http_timeout=2s\npage_size=4\n";

/// plugin_abi seeds: the first byte is the log level (0x40: no input_log_check), then
/// `key=value` lines and `!ops` (see the target's documentation). Valid configurations for the
/// emulator, with every credential and target, and invalid ones of every kind.
fn abi_seeds() -> Vec<Vec<u8>> {
    let valid = |extra: &str, ops: &str| format!("{ABI_IDS}{ABI_SECRET}{ABI_FAST}{extra}!{ops}\n");
    let mut seeds: Vec<(u8, String)> = vec![
        (3, valid("sources=alerts,incidents\ntarget=ecs\nbatch_max_records=5\nstate_dir=@state\napi_host=@emu\ngraph_host=@emu\nlogin_host=@emu\n", "wfwcpe")),
        (4, valid("sources=graph_alerts,machines\ntarget=sentinel\nbatch_max_records=3\n", "wlwfxnNpe")),
        (5, valid("sources=machine_actions,vulnerabilities\ntarget=raw\npreserve_original_event=true\n", "wwffPe")),
        (3, format!("{ABI_IDS}client_secret_file=@secret\n{ABI_FAST}sources=alerts\n!wcfpe\n")),
        (3, format!("{ABI_IDS}client_certificate_file=@cert\n{ABI_FAST}sources=graph_alerts\ntarget=sentinel\n!wfpe\n")),
        (2, valid("api_host=@closed\nlogin_host=@closed\nsources=alerts,machines\n", "cwcpe")),
        (3, valid("api_host=https://example.com/regional/\ngraph_host=http://localhost:1/x\n", "cpe")),
        (3, valid("sources=alerts\n", "eeucfnx0akRieep")),
        (3, valid("sources=alerts,incidents\nincidents_expand_alerts=on\n", "iwiwcle")),
        (1, valid("state_dir=@secret\n", "cpe")),
        (3, valid("state_dir=@missing\ntls_ca_file=@cert\n", "wpe")),
        (3, valid("tls_ca_file=@garbage\n", "c")),
        (3, format!("{ABI_IDS}client_certificate_file=@garbage\n!c\n")),
        (3, format!("{ABI_IDS}client_secret_file=@empty\n!c\n")),
        (3, format!("{ABI_IDS}client_secret_env=DEFENDER_BRIDGE_UNSET_VARIABLE\n!c\n")),
        (3, format!("client_id=c\n{ABI_SECRET}!c\n")),
        (3, format!("tenant_id=not a tenant!\nclient_id=c\n{ABI_SECRET}!c\n")),
        (0x43, valid("sources=alerts,bogus\n", "cpe")),
        (3, valid("target=elastic\ncloud=mars\n", "c")),
        (3, valid("poll_interval=soon\n", "c")),
        (3, valid("batch_max_records=0\npage_size=-1\n", "c")),
        (3, valid("retry_attempts=99999999999999999999999\n", "c")),
        (3, valid("preserve_original_event=maybe\n", "c")),
        (3, valid("proxy=::not a proxy::\nlog_level=trace\ntls.ca_file=@garbage\n", "c")),
        (3, valid("sources=\ntarget=   \n", "c")),
        (5, valid(&format!("tenant_id={}\n", "A".repeat(4000)), "c")),
        (0, valid("", "cpe")),
    ];
    seeds.push((3, "tenant_id=\u{fffd}\nclient_id=\u{0}\n!c\n".to_string()));
    let mut out: Vec<Vec<u8>> = seeds
        .into_iter()
        .map(|(b, s)| std::iter::once(b).chain(s.into_bytes()).collect())
        .collect();
    // Bytes that are not UTF-8 in a key and in values.
    let mut raw = vec![3u8];
    raw.extend_from_slice(ABI_IDS.as_bytes());
    raw.extend_from_slice(b"client_secret=\xff\xfe-secret-\xc3(\x80-long-enough\ntar\xffget=ecs\nsources=alerts\xff\n!cpe\n");
    out.push(raw);
    out
}

/// Where seeds come from: the Elastic fixtures (beside the repository) and our samples.
fn seed_files() -> Vec<PathBuf> {
    let shared = std::env::var("DEFENDER_BRIDGE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("../shared"));
    let mut files = Vec::new();
    let mut dirs = vec![
        shared.join("fixtures/elastic"),
        shared.join("sentinel/samples"),
        root().join("examples/samples"),
    ];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.to_string_lossy();
            if p.is_dir() {
                dirs.push(p);
            } else if (name.ends_with(".log") || name.ends_with(".json"))
                && !name.ends_with("-expected.json")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Writes the seed corpus of `target` (fuzz/corpus/<target>/seed-*); returns how many.
fn seed(target: &str, files: &[PathBuf]) -> Result<usize, String> {
    let dir = root().join("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut n = 0;
    let mut put = |bytes: Vec<u8>| -> Result<(), String> {
        n += 1;
        let p = dir.join(format!("seed-{n:05}"));
        fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))
    };
    // Inputs that once crashed a target (fuzz/regressions/<target>/) stay in its corpus.
    if let Ok(entries) = fs::read_dir(root().join("fuzz/regressions").join(target)) {
        for e in entries.flatten() {
            put(fs::read(e.path()).map_err(|err| format!("{}: {err}", e.path().display()))?)?;
        }
    }
    if target == "plugin_abi" {
        for s in abi_seeds() {
            put(s)?;
        }
        return Ok(n);
    }
    for f in files {
        let text = fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        if target == "splitter" {
            // 4 bytes of chunk sizes, then the file as it is.
            put([3, 7, 1, 16].iter().chain(&text).copied().collect())?;
            continue;
        }
        // One seed per record line, and the whole file; the first byte picks the kind (0 auto,
        // 1..=7 forced) and options, the second the chunk size (msgpack: the first byte only).
        let mut pieces: Vec<&[u8]> = text
            .split(|&b| b == b'\n')
            .filter(|l| l.len() > 2)
            .collect();
        pieces.push(&text);
        for (i, piece) in pieces.iter().enumerate() {
            let sel = [0u8, 0x10 | 0x80, (i % 8) as u8][i % 3];
            let head: &[u8] = if target == "msgpack" {
                &[sel]
            } else {
                &[sel, 63]
            };
            put(head.iter().chain(piece.iter()).copied().collect())?;
        }
    }
    Ok(n)
}

fn have_cargo_fuzz() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Seconds libFuzzer ran, estimated for a run that stopped early: its stats hold no time, but
/// every progress line ends in `exec/s: N`, and the last `#N` over that rate gives it.
fn fuzzed_seconds(log: &str) -> Option<u64> {
    let last = log
        .lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains("exec/s:"))?;
    let n: u64 = last[1..].split_whitespace().next()?.parse().ok()?;
    let rate: u64 = last
        .split("exec/s:")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    (rate > 0).then(|| n / rate)
}

/// The last `stat::number_of_executed_runs` / `#N DONE` count libFuzzer printed.
fn exec_count(log: &str) -> Option<u64> {
    let from_stat = log.lines().rev().find_map(|l| {
        l.strip_prefix("stat::number_of_executed_runs:")
            .map(|v| v.trim().parse().ok())
    });
    from_stat.flatten().or_else(|| {
        log.lines().rev().find_map(|l| {
            let rest = l.strip_prefix('#')?;
            let (n, tail) = rest.split_once(char::is_whitespace)?;
            // `#N DONE …` at the end; after a crash, the last progress line (`#N NEW …`,
            // `#N pulse …`): a lower bound.
            tail.trim_start()
                .starts_with(|c: char| c.is_ascii_alphabetic())
                .then(|| n.parse().ok())
                .flatten()
        })
    })
}

pub fn fuzz(args: &[String]) -> Result<(), String> {
    let mut secs = 60u64;
    let mut only = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--time" => {
                secs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--time needs a number of seconds")?
            }
            t if TARGETS.contains(&t) => only.push(t),
            other => {
                return Err(format!(
                    "fuzz: unknown argument {other:?} (targets: {})",
                    TARGETS.join(", ")
                ))
            }
        }
    }
    let targets: Vec<&str> = if only.is_empty() {
        TARGETS.to_vec()
    } else {
        only
    };
    if !have_cargo_fuzz() {
        super::run("cargo", &["install", "cargo-fuzz", "--locked"])?;
    }
    let fuzz_dir = root().join("fuzz");
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/fuzz"));
    let files = seed_files();
    let mut report = Vec::new();
    let mut failed = Vec::new();
    for t in &targets {
        let seeds = seed(t, &files)?;
        let corpus = fuzz_dir.join("corpus").join(t);
        let artifacts = fuzz_dir.join("artifacts").join(t);
        fs::create_dir_all(&artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
        let max_len = if *t == "splitter" { "65536" } else { "16384" };
        let args = [
            "fuzz".to_string(),
            "run".into(),
            "-O".into(),
            t.to_string(),
            corpus.display().to_string(),
            "--".into(),
            format!("-max_total_time={secs}"),
            format!("-max_len={max_len}"),
            "-print_final_stats=1".into(),
            "-rss_limit_mb=4096".into(),
            format!("-artifact_prefix={}/", artifacts.display()),
        ];
        eprintln!("xtask: $ cargo {} ({seeds} seeds)", args.join(" "));
        let started = std::time::Instant::now();
        let out = Command::new("cargo")
            .args(&args)
            .current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", &target_dir)
            .env(
                "LSAN_OPTIONS",
                format!(
                    "suppressions={}:print_suppressions=0",
                    fuzz_dir.join("lsan-suppressions.txt").display()
                ),
            )
            .stdout(Stdio::inherit())
            .output()
            .map_err(|e| format!("cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        // On failure: the sanitizer's or the panic's report (it comes before libFuzzer's own
        // summary, so a plain tail of the log would cut it off), else the last lines.
        let lines: Vec<&str> = log.lines().collect();
        let report_start = lines
            .iter()
            .position(|l| l.contains("==ERROR: ") || l.contains("panicked at"))
            .unwrap_or(lines.len().saturating_sub(40));
        let failure = &lines[report_start..lines.len().min(report_start + 200)];
        let execs = exec_count(&log);
        // libFuzzer's last status line: `#N DONE cov: … ft: … corp: …/…b …`.
        let status = log
            .lines()
            .rev()
            .find(|l| l.starts_with('#') && l.contains("cov:"))
            .and_then(|l| {
                l.find("cov:")
                    .map(|i| l[i..].split("lim:").next().unwrap_or("").trim().to_string())
            })
            .unwrap_or_default();
        // The build is part of the wall time; libFuzzer's own figure is exact when it has one.
        let ran = if out.status.success() {
            secs.to_string()
        } else {
            fuzzed_seconds(&log)
                .map_or_else(|| started.elapsed().as_secs(), |s| s.min(secs))
                .to_string()
        };
        let line = format!(
            "fuzz: {t}: {} executions in {ran} s, {status} ({})",
            execs.map_or("?".to_string(), |n| n.to_string()),
            if out.status.success() {
                "no crash"
            } else {
                "FAILED"
            }
        );
        if !out.status.success() {
            eprintln!("{}", failure.join("\n"));
            failed.push(t.to_string());
        }
        println!("{line}");
        report.push(line);
    }
    println!("{}", report.join("\n"));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed: {} (crash inputs in fuzz/artifacts/)",
            failed.join(", ")
        ))
    }
}
