//! Fault soak (issue 8, part 3) against the loopback emulator: injected 429s, 5xx, connection
//! resets, truncated, malformed and slow bodies, token expiry, and random kills + restarts from
//! the checkpoints, for `SOAK_SECS` seconds. The delivered set is then checked against the
//! emulator's tenant. The kill/restart bookkeeping is the one of tests/restart.rs.
//!
//! Long run: `SOAK_SECS=600 cargo test --release -p defender-bridge-pull --test soak -- --nocapture`.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use defender_bridge_pull::emulator::{EmulatorConfig, Faults};
use rand::{Rng, SeedableRng};

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
    let overlap_ns = 300 * 1_000_000_000i64;
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
    let mut uncovered = 0u64;
    let mut machines_in_killed_runs = 0u64;
    let mut windows: HashMap<String, Vec<i64>> = HashMap::new();
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
        let engine = start(cfg(), &log);
        let batches = rng.gen_range(1..80);
        let mut taken = 0;
        let mut run = Delivered::default();
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
                        unacked_at_kills += b.records.len() as u64;
                        drop(b);
                    } else {
                        b.ack();
                    }
                }
                None => {
                    let p = polls(&stats);
                    match idle_since {
                        None => idle_since = Some(p),
                        Some(s) if p >= s + 2 => break,
                        _ => {}
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
            }
            idle_since = None;
        }
        std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(0..20)));
        engine.stop();
        kills += 1;
        let saved = cursors(&dir);
        for k in run.counts.keys() {
            let (source, id, t) = parts(k);
            if source == "machines" {
                machines_in_killed_runs += 1;
                continue;
            }
            let t = t.unwrap();
            let covered = saved.get(source).is_some_and(|(since, seen)| {
                since.is_some_and(|s| t < s - overlap_ns) || seen.contains(&(id.clone(), t))
            });
            if !covered {
                uncovered += 1;
                if let Some(s) = saved.get(source).and_then(|c| c.0) {
                    windows.entry(k.clone()).or_default().push(s - overlap_ns);
                }
            }
        }
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

    let dups: Vec<(&String, &u64)> = seen.counts.iter().filter(|(_, c)| **c > 1).collect();
    let duplicate_deliveries: u64 = dups.iter().map(|(_, c)| **c - 1).sum();
    let incremental_dups: u64 = dups
        .iter()
        .filter(|(k, _)| parts(k).0 != "machines")
        .map(|(_, c)| **c - 1)
        .sum();
    let machine_dups = duplicate_deliveries - incremental_dups;
    println!(
        "soak: kills+restarts={kills} expected={expected} delivered={} unique={} missing={} duplicates={duplicate_deliveries} (incremental {incremental_dups}, uncovered by the cursor at kills {uncovered}; machines {machine_dups} of {machines_in_killed_runs} delivered in killed runs; un-acked at kills {unacked_at_kills})",
        seen.total,
        seen.unique(),
        expected.saturating_sub(seen.unique())
    );
    assert_eq!(
        seen.unique(),
        expected,
        "every record of the tenant delivered"
    );
    assert_eq!(
        incremental_dups, uncovered,
        "exactly the records the saved cursors did not cover came again"
    );
    assert!(machine_dups <= machines_in_killed_runs);
    for (k, _) in &dups {
        let (source, _, t) = parts(k);
        if source == "machines" {
            continue;
        }
        let w = windows
            .get(*k)
            .unwrap_or_else(|| panic!("duplicate {k} was covered by a cursor"));
        assert!(
            w.iter().all(|lo| t.unwrap() >= *lo),
            "duplicate {k} outside the overlap window"
        );
    }
    assert!(!read_all(&dir).contains(SECRET));
    let _ = std::fs::remove_dir_all(&dir);
}
