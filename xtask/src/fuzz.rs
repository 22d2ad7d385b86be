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
];

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
            tail.trim_start()
                .starts_with("DONE")
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
        let out = Command::new("cargo")
            .args(&args)
            .current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", &target_dir)
            .stdout(Stdio::inherit())
            .output()
            .map_err(|e| format!("cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
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
        let line = format!(
            "fuzz: {t}: {} executions in {secs} s, {status} ({})",
            execs.map_or("?".to_string(), |n| n.to_string()),
            if out.status.success() {
                "no crash"
            } else {
                "FAILED"
            }
        );
        if !out.status.success() {
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
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
