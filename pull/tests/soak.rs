//! Fault soak (issue 8, part 3) against the loopback emulator: injected 429s, 5xx, connection
//! resets, truncated, malformed and slow bodies, token expiry, and random kills + restarts from
//! the checkpoints, for `SOAK_SECS` seconds. The delivered set is then checked against the
//! emulator's tenant. The kill/restart bookkeeping is the one of tests/restart.rs
//! (`common::kill_run`, `testing::KillLedger`).
//!
//! Long run: `SOAK_SECS=600 cargo test --release -p defender-bridge-pull --test soak -- --nocapture`.

mod common;

use std::sync::Arc;

use common::*;
use defender_bridge_pull::emulator::{EmulatorConfig, Faults};
use defender_bridge_pull::testing::{cursors, KillLedger};
use rand::SeedableRng;

/// Faults on the emulator's API requests (by request number): 429 bursts with Retry-After 0,
/// 5xx bursts, connection resets, truncated and slow bodies, tokens expiring mid-paging.
const FAULTS: &str =
    "429=10x3,500=9x2,drop=13,truncate=17,badjson=29,slow=19:15ms,expire=23,retry_after=0";

/// A soak: random faults from the emulator and random kills (the engine stopped at a random
/// point, its last batch taken but not acknowledged) and restarts from the checkpoints, for
/// `SOAK_SECS` seconds (default 15; the long run is `SOAK_SECS=600`). At the end the
/// delivered set is checked against the emulator's tenant: nothing missing, and duplicates only
/// for records the saved cursors did not cover, all inside the overlap window.
#[test]
fn soak_with_faults_kills_and_restarts() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let n = std::env::var("SOAK_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300u64);
    let expected = 6 * n;
    let emu = emulator(EmulatorConfig {
        records: n,
        ties: 2,
        faults: Faults::parse(FAULTS).unwrap(),
        ..Default::default()
    });
    let dir = temp_dir("soak");
    let log = Arc::new(Captured::default());
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11u64);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut seen = Delivered::default();
    let mut unacked_at_kills = 0u64;
    let mut ledger = KillLedger::new(300 * 1_000_000_000);
    let cfg = || {
        config(
            &emu,
            &[
                ("sources", ALL),
                ("state_dir", dir.to_str().unwrap()),
                ("page_size", "7"),
                ("batch_max_records", "11"),
            ],
        )
    };
    // The run length bounds the loop; nothing asserts on time.
    let started = std::time::Instant::now();
    let mut kills = 0u64;
    while started.elapsed().as_secs() < secs {
        let (run, unacked) = kill_run(start(cfg(), &log), &mut rng, 80, &mut seen);
        unacked_at_kills += unacked;
        kills += 1;
        ledger.record_kill(&run, &cursors(&dir));
    }
    let engine = start(cfg(), &log);
    drain(&engine, &mut seen, expected);
    let stats = engine.stats();
    engine.stop();
    print_stats("soak final run", &stats);
    let es = emu.stats();
    let g = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "soak: {secs} s, seed {seed}: emulator served {} API requests, {} tokens; injected 429={} 5xx={} resets={} truncated={} bad_json={} slow={} expired={} (401s: {})",
        g(&es.api_requests),
        g(&es.tokens_issued),
        g(&es.throttled),
        g(&es.server_errors),
        g(&es.dropped),
        g(&es.truncated),
        g(&es.bad_json),
        g(&es.slow),
        g(&es.expired),
        g(&es.unauthorized)
    );

    let r = ledger.report(&seen, expected);
    println!(
        "soak: kills+restarts={kills} expected={expected} delivered={} unique={} missing={} duplicates={} (incremental {}, uncovered by the cursor at kills {}; machines {} of {} delivered in killed runs; un-acked at kills {unacked_at_kills})",
        r.delivered,
        r.unique,
        r.missing,
        r.duplicates,
        r.incremental,
        ledger.uncovered,
        r.machines,
        ledger.machines_in_killed_runs
    );
    // Nothing missing; exactly the records the saved cursors did not cover came again, all
    // inside the overlap window; no more machine duplicates than machines in killed runs.
    if let Err(e) = ledger.check(&seen, expected) {
        panic!("{e}");
    }
    assert!(!read_all(&dir).contains(SECRET));
    let _ = std::fs::remove_dir_all(&dir);
}
