//! `defender-bridge pull`: pulls the Defender APIs (or the built-in emulator), maps the records
//! with the core, writes NDJSON to stdout as it comes (Vector's `exec` source in streaming mode),
//! logs to stderr, and on SIGTERM/SIGINT stops after flushing and checkpointing.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use defender_bridge_pull::emulator::{Emulator, EmulatorConfig, Faults};
use defender_bridge_pull::{Engine, PullConfig, Stats, StderrLogger};

#[derive(Args, Debug, Clone)]
pub struct PullArgs {
    /// Sources, comma-separated: alerts, machines, machine_actions, vulnerabilities,
    /// graph_alerts, incidents (default: the config file's `sources`, else alerts).
    #[arg(long = "source")]
    pub source: Option<String>,
    /// Output: ecs, sentinel, or raw (the Defender records as received).
    #[arg(long = "to")]
    pub target: Option<String>,
    /// Settings file: `key = value` lines (the keys of docs/pull.md), `#` comments.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory for the per-source checkpoint files (without it, cursors live in memory only).
    #[arg(long = "state-dir")]
    pub state_dir: Option<PathBuf>,
    /// Any other setting, repeatable: `--set overlap=10m`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Pull from a built-in emulator on 127.0.0.1 instead of Microsoft's APIs (real OAuth,
    /// paging and mapping path; generated tenant). Implies --once unless --follow is given.
    #[arg(long)]
    pub emulator: bool,
    /// Emulator: records per source.
    #[arg(long = "emulator-records", default_value_t = 25)]
    pub emulator_records: u64,
    /// Emulator: seed of the generated tenant.
    #[arg(long = "emulator-seed", default_value_t = 1)]
    pub emulator_seed: u64,
    /// Emulator: injected faults, e.g. `429=10x3,500=7,drop=13`.
    #[arg(long = "emulator-faults", default_value = "")]
    pub emulator_faults: String,
    /// Exit once every source finished one poll and everything was written.
    #[arg(long)]
    pub once: bool,
    /// With --emulator: keep polling instead of exiting after one pass.
    #[arg(long)]
    pub follow: bool,
}

/// Reads `key = value` (or `key value`, Fluent Bit style) lines.
fn read_config_file(path: &PathBuf) -> Result<HashMap<String, String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{}: {}", path.display(), e.kind()))?;
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .or_else(|| line.split_once(char::is_whitespace))
            .ok_or_else(|| format!("{}: expected `key = value`, got {line:?}", path.display()))?;
        out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    Ok(out)
}

fn random_secret() -> String {
    // Good enough for a loopback emulator that lives as long as this process.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("emu-{:x}{:x}", t.as_nanos(), std::process::id())
}

pub fn run(args: PullArgs) -> Result<ExitCode, String> {
    let mut settings: HashMap<String, String> = match &args.config {
        Some(p) => read_config_file(p)?,
        None => HashMap::new(),
    };
    let once = args.once || (args.emulator && !args.follow);
    let _emulator = if args.emulator {
        let faults =
            Faults::parse(&args.emulator_faults).map_err(|e| format!("--emulator-faults: {e}"))?;
        let secret = random_secret();
        let config = EmulatorConfig {
            records: args.emulator_records.max(1),
            seed: args.emulator_seed,
            faults,
            client_secret: Some(secret.clone()),
            ..EmulatorConfig::default()
        };
        let (tenant, client) = (config.tenant_id.clone(), config.client_id.clone());
        let emu = Emulator::start(config, "127.0.0.1:0").map_err(|e| format!("emulator: {e}"))?;
        eprintln!("defender-bridge: built-in emulator at {}", emu.base_url());
        for (k, v) in emu.settings() {
            settings.insert(k, v);
        }
        settings.insert("tenant_id".into(), tenant);
        settings.insert("client_id".into(), client);
        settings.insert("client_secret".into(), secret);
        settings.remove("client_secret_file");
        settings.remove("client_secret_env");
        settings.remove("client_certificate_file");
        settings
            .entry("initial_lookback".into())
            .or_insert_with(|| format!("{}s", args.emulator_records + 3600));
        settings.entry("sources".into()).or_insert_with(|| {
            "alerts,machines,machine_actions,vulnerabilities,graph_alerts,incidents".into()
        });
        settings
            .entry("poll_interval".into())
            .or_insert_with(|| "5s".into());
        Some(emu)
    } else {
        None
    };
    if let Some(s) = &args.source {
        settings.insert("sources".into(), s.clone());
    }
    if let Some(t) = &args.target {
        settings.insert("target".into(), t.clone());
    }
    if let Some(d) = &args.state_dir {
        settings.insert("state_dir".into(), d.display().to_string());
    }
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
        settings.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let config = PullConfig::from_lookup(&|k| settings.get(&k.to_ascii_lowercase()).cloned())
        .map_err(|e| e.to_string())?;
    let batch = config.batch_max_records;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let engine = Engine::start(config, Arc::new(StderrLogger)).map_err(|e| e.to_string())?;
    let stats = engine.stats();
    let mut out = io::stdout().lock();
    let mut written = 0u64;
    let mut code = ExitCode::SUCCESS;
    while !stop.load(Ordering::SeqCst) {
        // Read before taking: a source that finished its poll has queued everything it fetched.
        let all_polled = stats
            .sources
            .iter()
            .all(|s| Stats::get(&s.polls) + Stats::get(&s.errors) >= 1);
        match engine.take(batch) {
            Some(b) => {
                let mut buf = Vec::with_capacity(b.records.len() * 512);
                for r in &b.records {
                    buf.extend_from_slice(r.as_bytes());
                    buf.push(b'\n');
                }
                // Acknowledge only what reached stdout: a broken pipe leaves the batch for next time.
                if let Err(e) = out.write_all(&buf).and_then(|_| out.flush()) {
                    eprintln!("defender-bridge: stdout: {e}");
                    code = ExitCode::from(1);
                    break;
                }
                written += b.records.len() as u64;
                b.ack();
            }
            None if once && all_polled => break,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    engine.stop();
    let g = Stats::get;
    let per_source: Vec<String> = stats
        .sources
        .iter()
        .map(|s| format!("{}={}", s.name, g(&s.delivered)))
        .collect();
    eprintln!(
        "defender-bridge: {written} documents written ({}); {} API calls, {} retries",
        per_source.join(", "),
        g(&stats.http_requests),
        g(&stats.http_retries)
    );
    if stats.sources.iter().any(|s| g(&s.errors) > 0) && written == 0 {
        code = ExitCode::from(1);
    }
    Ok(code)
}
