//! `defender-bridge emulator`: serves the Defender API emulator on a loopback address until
//! SIGINT/SIGTERM, and prints the settings that point a pull (or Fluent Bit, or Vector) at it.

use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::Args;
use defender_bridge_pull::emulator::{Emulator, EmulatorConfig, Faults};

#[derive(Args, Debug, Clone)]
pub struct EmulatorArgs {
    /// Loopback address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Records per source (machines: the inventory size).
    #[arg(long, default_value_t = 1000)]
    pub records: u64,
    /// Seed of the generated tenant: the same seed gives the same records.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Injected faults, e.g. `429=10x3,500=7,drop=13,truncate=17,badjson=11,expire=20,slow=9:200ms,retry_after=1`.
    #[arg(long, default_value = "")]
    pub faults: String,
    /// The client secret the token endpoint accepts.
    #[arg(long = "client-secret", default_value = "emulator-secret")]
    pub client_secret: String,
    /// A PEM certificate whose key may sign client assertions (certificate credential).
    #[arg(long = "client-certificate")]
    pub client_certificate: Option<std::path::PathBuf>,
    /// Token lifetime in seconds.
    #[arg(long = "token-lifetime", default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Server-side throttling: API calls per minute before 429s.
    #[arg(long = "calls-per-minute")]
    pub calls_per_minute: Option<u32>,
}

pub fn run(args: EmulatorArgs) -> Result<ExitCode, String> {
    let faults = Faults::parse(&args.faults).map_err(|e| format!("--faults: {e}"))?;
    let client_cert_der = match &args.client_certificate {
        None => None,
        Some(path) => {
            let pem =
                std::fs::read(path).map_err(|e| format!("{}: {}", path.display(), e.kind()))?;
            let der = defender_bridge_pull::emulator::cert_der_from_pem(&pem)
                .ok_or_else(|| format!("{}: no CERTIFICATE block", path.display()))?;
            Some(der)
        }
    };
    let config = EmulatorConfig {
        records: args.records.max(1),
        seed: args.seed,
        faults,
        client_secret: Some(args.client_secret.clone()),
        client_cert_der,
        token_lifetime: Duration::from_secs(args.token_lifetime.max(1)),
        calls_per_minute: args.calls_per_minute,
        ..EmulatorConfig::default()
    };
    let (tenant, client) = (config.tenant_id.clone(), config.client_id.clone());
    let emu = Emulator::start(config, &args.listen).map_err(|e| format!("emulator: {e}"))?;
    let base = emu.base_url();
    println!("defender-bridge emulator listening on {base}");
    println!("  token:    {base}/{tenant}/oauth2/v2.0/token");
    println!("  MDE:      {base}/api/alerts  /api/machines  /api/machineactions  /api/machines/SoftwareVulnerabilityChangesByMachine");
    println!("  Graph:    {base}/v1.0/security/alerts_v2  /v1.0/security/incidents");
    println!("settings for a pull:");
    println!("  tenant_id  = {tenant}");
    println!("  client_id  = {client}");
    println!("  client_secret = <the value of --client-secret>");
    println!("  login_host = {base}");
    println!("  api_host   = {base}");
    println!("  graph_host = {base}");
    println!("  initial_lookback = {}s", args.records + 3600);
    let (tx, rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(|e| format!("signal handler: {e}"))?;
    let _ = rx.recv();
    eprintln!("defender-bridge emulator: stopping");
    drop(emu);
    Ok(ExitCode::SUCCESS)
}
