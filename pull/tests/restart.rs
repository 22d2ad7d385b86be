//! Kill at random points and restart: every record is delivered at least once, and the only
//! duplicates are records that were delivered but not yet acknowledged when the engine died,
//! all inside the overlap window before the saved cursor.

mod common;

use std::sync::Arc;

use common::*;
use defender_bridge_pull::emulator::EmulatorConfig;
use defender_bridge_pull::testing::{cursors, KillLedger};
use rand::SeedableRng;

#[test]
fn kill_at_random_points_and_restart() {
    let n = 400u64;
    let expected = 6 * n;
    let emu = emulator(EmulatorConfig {
        records: n,
        ties: 2,
        ..Default::default()
    });
    let dir = temp_dir("restart");
    let log = Arc::new(Captured::default());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut seen = Delivered::default();
    // Records taken but never acknowledged before a kill: the duplicates we allow.
    let mut unacked_at_kills = 0u64;
    // Incremental records delivered in a killed run but not covered by the cursor saved at the
    // kill: exactly these must come again, inside the window the next run re-reads.
    let mut ledger = KillLedger::new(300 * 1_000_000_000);
    let kills = 8;
    let cfg = || {
        config(
            &emu,
            &[
                ("sources", ALL),
                ("state_dir", dir.to_str().unwrap()),
                ("page_size", "9"),
                ("batch_max_records", "13"),
            ],
        )
    };
    for kill in 0..kills {
        let (run, unacked) = kill_run(start(cfg(), &log), &mut rng, 60, &mut seen);
        unacked_at_kills += unacked;
        ledger.record_kill(&run, &cursors(&dir));
        eprintln!(
            "kill {kill}: delivered so far {} (unique {})",
            seen.total,
            seen.unique()
        );
    }
    let engine = start(cfg(), &log);
    drain(&engine, &mut seen, expected);
    let stats = engine.stats();
    engine.stop();
    print_stats("final run", &stats);

    let r = ledger.report(&seen, expected);
    eprintln!(
        "restart: kills={kills} expected={expected} delivered={} unique={} duplicates={} (records un-acked at kills={unacked_at_kills})",
        r.delivered, r.unique, r.duplicates
    );
    eprintln!(
        "restart: incremental duplicates={} (uncovered by the cursor at kills={}); machine duplicates={} (machines delivered in killed runs={})",
        r.incremental, ledger.uncovered, r.machines, ledger.machines_in_killed_runs
    );
    // Every record delivered at least once; exactly the records the saved cursors did not cover
    // came again, all inside the overlap window; no more machine duplicates than machines
    // delivered in killed runs.
    if let Err(e) = ledger.check(&seen, expected) {
        panic!("{e}");
    }
    assert!(!read_all(&dir).contains(SECRET));
    let _ = std::fs::remove_dir_all(&dir);
}
