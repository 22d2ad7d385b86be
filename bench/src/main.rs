//! Core throughput per record kind and target, against the cost of just parsing and writing the
//! same JSON (`serde_json::from_slice::<Value>` + `serde_json::to_vec`), measured in the same run.
//!
//! Inputs: the Elastic fixture inputs in ../shared, replicated with varied ids and timestamps to
//! `--mb` megabytes per kind (default 100). Prints a Markdown table; `cargo xtask bench` runs it
//! in release mode.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::DateTime;
use defender_bridge::{EcsIntegration, Mapper, Options, Output, Target};
use serde_json::Value;

/// (group name, fixture file relative to fixtures/elastic, ECS integration).
const SOURCES: &[(&str, &str, EcsIntegration)] = &[
    ("alert (MDE)", "microsoft_defender_endpoint/log/test-defenderatp.log", EcsIntegration::Mde),
    ("machine", "microsoft_defender_endpoint/machine/test-machine.log", EcsIntegration::Mde),
    ("machine action", "microsoft_defender_endpoint/machine_action/test-machine-action.log", EcsIntegration::Mde),
    ("vulnerability", "microsoft_defender_endpoint/vulnerability/test-vulnerability.log", EcsIntegration::Mde),
    ("incident (Graph)", "m365_defender/incident/test-incident-no-alerts.log", EcsIntegration::M365),
    ("events", "m365_defender/event/test-device.log", EcsIntegration::M365),
    ("events", "m365_defender/event/test-alert.log", EcsIntegration::M365),
    ("events", "m365_defender/event/test-email.log", EcsIntegration::M365),
    ("events", "m365_defender/event/test-app-and-identity.log", EcsIntegration::M365),
    ("events", "m365_defender/event/test-behavior.log", EcsIntegration::M365),
    ("events", "m365_defender/event/test-cloud.log", EcsIntegration::M365),
    ("events", "m365_defender/event/test-message.log", EcsIntegration::M365),
];

/// Streaming tables grouped into the families the report lists.
fn family(category: &str) -> &'static str {
    let t = category.trim_start_matches("AdvancedHunting-");
    for (prefix, name) in [
        ("Device", "events: Device*"),
        ("Alert", "events: Alert*"),
        ("Email", "events: Email*"),
        ("Identity", "events: Identity*"),
        ("Behavior", "events: Behavior*"),
        ("Message", "events: Message*"),
        ("Cloud", "events: Cloud*"),
    ] {
        if t.starts_with(prefix) {
            return name;
        }
    }
    "events: other (UrlClick, …)"
}

fn shared_dir() -> PathBuf {
    std::env::var_os("DEFENDER_BRIDGE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// Makes replica `n` of a record: ids get a suffix, timestamps move by `n` seconds.
fn vary(v: &mut Value, n: u64) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if let Value::String(s) = x {
                    let lk = k.to_ascii_lowercase();
                    if lk == "id" || lk.ends_with("id") && !lk.ends_with("tenantid") {
                        s.push_str(&format!("-{n}"));
                        continue;
                    }
                    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                        let t = t + chrono::Duration::seconds(n as i64);
                        *s = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                        continue;
                    }
                }
                vary(x, n);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| vary(x, n)),
        _ => {}
    }
}

struct Corpus {
    integration: EcsIntegration,
    lines: Vec<Vec<u8>>,
    bytes: usize,
}

fn corpora(mb: usize) -> BTreeMap<String, Corpus> {
    let root = shared_dir().join("fixtures/elastic");
    let mut seeds: BTreeMap<String, (EcsIntegration, Vec<Value>)> = BTreeMap::new();
    for (group, file, integration) in SOURCES {
        let path = root.join(file);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).expect("fixture lines are JSON");
            if v.get("value").is_some_and(|x| x.as_array().is_some_and(Vec::is_empty)) {
                continue;
            }
            let name = match v.get("category").and_then(Value::as_str) {
                Some(c) if *group == "events" => family(c).to_string(),
                _ => group.to_string(),
            };
            seeds.entry(name).or_insert_with(|| (*integration, Vec::new())).1.push(v);
        }
    }
    let target = mb * 1024 * 1024;
    seeds
        .into_iter()
        .map(|(name, (integration, seeds))| {
            let mut lines = Vec::new();
            let mut bytes = 0;
            let mut n = 0u64;
            while bytes < target {
                for s in &seeds {
                    let mut v = s.clone();
                    vary(&mut v, n);
                    let line = serde_json::to_vec(&v).expect("serialise");
                    bytes += line.len();
                    lines.push(line);
                }
                n += 1;
            }
            (name, Corpus { integration, lines, bytes })
        })
        .collect()
}

/// Best of `runs` timings of `f` over the corpus.
fn time(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut out = 0;
    for _ in 0..runs {
        let t = Instant::now();
        out = std::hint::black_box(f());
        best = best.min(t.elapsed());
    }
    (best, out)
}

fn main() {
    let mut mb = 100;
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mb" => mb = args.next().and_then(|v| v.parse().ok()).expect("--mb N"),
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            other => panic!("unknown argument {other} (use --mb N --runs N)"),
        }
    }
    let corpora = corpora(mb);
    println!("| kind | target | records | MB | baseline MB/s | mapped records/s | mapped MB/s | ratio (≥ 1.0 = as fast as the baseline) | errors |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, c) in &corpora {
        let (base, _) = time(runs, || {
            c.lines
                .iter()
                .map(|l| serde_json::to_vec(&serde_json::from_slice::<Value>(l).expect("json")).expect("ser").len())
                .sum()
        });
        for target in [Target::Ecs, Target::Sentinel] {
            let mapper = Mapper::new(Options {
                target,
                ecs_integration: c.integration,
                preserve_original_event: true,
                ..Options::default()
            });
            let mut errors = 0;
            let (mapped, _) = time(runs, || {
                errors = 0;
                let mut n = 0;
                for l in &c.lines {
                    mapper.map_bytes(l, &mut |o: Output| {
                        errors += o.is_error() as usize;
                        n += o.to_json().len();
                    });
                }
                n
            });
            let secs = mapped.as_secs_f64();
            let mbs = c.bytes as f64 / 1048576.0;
            println!(
                "| {name} | {target:?} | {} | {mbs:.0} | {:.1} | {:.0} | {:.1} | {:.2} | {errors} |",
                c.lines.len(),
                mbs / base.as_secs_f64(),
                c.lines.len() as f64 / secs,
                mbs / secs,
                base.as_secs_f64() / secs,
            );
        }
    }
}
