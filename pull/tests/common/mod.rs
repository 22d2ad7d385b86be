//! Shared test helpers: an emulator on 127.0.0.1:0, a pull config pointing at it with tiny
//! intervals and back-offs, and a consumer that counts every delivered record.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use defender_bridge_pull::emulator::{Emulator, EmulatorConfig};
use defender_bridge_pull::{Engine, Level, Logger, PullConfig, Stats};
use rand::Rng;

pub const SECRET: &str = "S3cr3t-Value-Never-Print-42";
pub const ALL: &str = "alerts,machines,machine_actions,vulnerabilities,graph_alerts,incidents";

pub fn emulator(config: EmulatorConfig) -> Emulator {
    Emulator::start(
        EmulatorConfig {
            client_secret: Some(SECRET.into()),
            ..config
        },
        "127.0.0.1:0",
    )
    .expect("emulator starts")
}

/// Settings for a pull from `emu`; `extra` overrides.
pub fn config(emu: &Emulator, extra: &[(&str, &str)]) -> PullConfig {
    config_at(&emu.base_url(), extra)
}

/// Settings for a pull from the emulator at `base`; `extra` overrides.
pub fn config_at(base: &str, extra: &[(&str, &str)]) -> PullConfig {
    let defaults = EmulatorConfig::default();
    let mut map: HashMap<String, String> = HashMap::new();
    for (k, v) in [
        ("tenant_id", defaults.tenant_id.as_str()),
        ("client_id", defaults.client_id.as_str()),
        ("client_secret", SECRET),
        ("sources", ALL),
        ("target", "raw"),
        ("initial_lookback", "30d"),
        ("overlap", "5m"),
        ("poll_interval", "10ms"),
        ("retry_base", "1ms"),
        ("retry_max", "4ms"),
        ("retry_attempts", "12"),
        ("page_size", "50"),
        ("batch_max_records", "40"),
        ("machines_interval", "1h"),
        ("mde_calls_per_minute", "100000"),
        ("mde_calls_per_hour", "1000000"),
        ("graph_calls_per_minute", "100000"),
        ("http_timeout", "10s"),
        ("log_level", "debug"),
    ] {
        map.insert(k.into(), v.into());
    }
    for k in ["api_host", "graph_host", "login_host"] {
        map.insert(k.into(), base.into());
    }
    for (k, v) in extra {
        map.insert(k.to_string(), v.to_string());
    }
    map.retain(|_, v| !v.is_empty());
    PullConfig::from_lookup(&|k| map.get(k).cloned()).expect("valid config")
}

/// Keeps every log line (to check them for secrets) and prints warnings and errors.
#[derive(Default)]
pub struct Captured(pub Mutex<Vec<String>>);

impl Logger for Captured {
    fn log(&self, level: Level, message: &str) {
        if level <= Level::Warn || std::env::var_os("PULL_TEST_LOG").is_some() {
            eprintln!("[{}] {message}", level.name());
        }
        self.0
            .lock()
            .unwrap()
            .push(format!("[{}] {message}", level.name()));
    }
}

// The delivered set lives in the library, shared with the CLI's real-process kill soak
// (cli/tests/kill_soak.rs).
#[allow(unused_imports)]
pub use defender_bridge_pull::testing::Delivered;

/// Finished polls (successful or failed) of the slowest incremental source (machines sweep
/// once per `machines_interval`).
pub fn polls(stats: &Stats) -> u64 {
    stats
        .sources
        .iter()
        .filter(|s| s.name != "machines")
        .map(|s| Stats::get(&s.polls) + Stats::get(&s.errors))
        .min()
        .unwrap_or(u64::MAX)
}

/// Takes and acknowledges until `expected` records arrived and every source completed two more
/// polls (so any extra record would have shown up). The iteration cap only prevents a hang.
pub fn drain(engine: &Engine, seen: &mut Delivered, expected: u64) {
    let stats = engine.stats();
    let mut settled_at = None;
    for _ in 0..40_000 {
        match engine.take(64) {
            Some(batch) => {
                seen.add(&batch.records);
                batch.ack();
                continue;
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
        if seen.total >= expected {
            let p = polls(&stats);
            match settled_at {
                None => settled_at = Some(p),
                Some(s) if p >= s + 2 => return,
                _ => {}
            }
        }
    }
    panic!("gave up waiting: {} of {expected} records", seen.total);
}

/// One run of a kill/restart test (restart.rs, soak.rs), ended in-process: takes up to a random
/// number (below `max_batches`) of batches of random sizes, counting them in `seen` and in the
/// returned run, and acknowledges them, except that the last is left un-acknowledged with
/// probability 0.7 (the host died after writing it); stops taking once two more polls found
/// nothing. Then, after a random moment (workers may be mid-request or blocked on the full
/// queue), stops the engine. Returns the run's deliveries (for
/// [`KillLedger::record_kill`](defender_bridge_pull::testing::KillLedger::record_kill)) and the
/// number of records left un-acknowledged.
pub fn kill_run(
    engine: Engine,
    rng: &mut impl Rng,
    max_batches: i32,
    seen: &mut Delivered,
) -> (Delivered, u64) {
    let batches = rng.gen_range(1..max_batches);
    let mut taken = 0;
    let mut run = Delivered::default();
    let mut unacked = 0u64;
    let stats = engine.stats();
    let mut idle_since = None;
    for _ in 0..200_000 {
        if taken == batches {
            break;
        }
        match engine.take(rng.gen_range(1..30)) {
            Some(b) => {
                seen.add(&b.records);
                run.add(&b.records);
                taken += 1;
                if taken == batches && rng.gen_bool(0.7) {
                    // Killed after the host wrote the records, before it acknowledged them.
                    unacked += b.records.len() as u64;
                    drop(b);
                } else {
                    b.ack();
                }
            }
            None => {
                // Nothing left to take: stop waiting once two more polls found nothing.
                let p = polls(&stats);
                match idle_since {
                    None => idle_since = Some(p),
                    Some(s) if p >= s + 2 => break,
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        }
        idle_since = None;
    }
    std::thread::sleep(Duration::from_millis(rng.gen_range(0..20)));
    engine.stop();
    (run, unacked)
}

pub fn start(config: PullConfig, log: &Arc<Captured>) -> Engine {
    Engine::start(config, log.clone()).expect("engine starts")
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "defender-bridge-pull-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn read_all(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    out
}

pub fn print_stats(label: &str, stats: &Stats) {
    let g = Stats::get;
    eprintln!(
        "{label}: http_requests={} retries={} throttled_waits={} token_requests={} token_renewals_401={}",
        g(&stats.http_requests),
        g(&stats.http_retries),
        g(&stats.http_throttled),
        g(&stats.token_requests),
        g(&stats.token_renewals_401)
    );
    for s in &stats.sources {
        eprintln!(
            "  {}: fetched={} delivered={} duplicates_skipped={} polls={} errors={} checkpoints={}",
            s.name,
            g(&s.fetched),
            g(&s.delivered),
            g(&s.duplicates_skipped),
            g(&s.polls),
            g(&s.errors),
            g(&s.checkpoints)
        );
    }
}
