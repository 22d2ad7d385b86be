//! Kill at random points and restart: every record is delivered at least once, and the only
//! duplicates are records that were delivered but not yet acknowledged when the engine died,
//! all inside the overlap window before the saved cursor.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use defender_bridge_pull::emulator::EmulatorConfig;
use rand::{Rng, SeedableRng};

#[test]
fn kill_at_random_points_and_restart() {
    let n = 400u64;
    let expected = 6 * n;
    let overlap_ns = 300 * 1_000_000_000i64;
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
    // kill: exactly these must come again.
    let mut uncovered = 0u64;
    let mut machines_in_killed_runs = 0u64;
    let mut windows: HashMap<String, Vec<i64>> = HashMap::new();
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
        let engine = start(cfg(), &log);
        let batches = rng.gen_range(1..60);
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
                        // Killed after the host wrote the records, before it acknowledged them.
                        unacked_at_kills += b.records.len() as u64;
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
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
            }
            idle_since = None;
        }
        // Random extra moment: workers may be mid-request or blocked on the full queue.
        std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(0..20)));
        engine.stop();
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
                let since = saved.get(source).and_then(|c| c.0);
                // A record that comes again must lie inside the window the next run re-reads.
                if let Some(s) = since {
                    windows.entry(k.clone()).or_default().push(s - overlap_ns);
                }
            }
        }
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

    let dups: Vec<(&String, &u64)> = seen.counts.iter().filter(|(_, c)| **c > 1).collect();
    let duplicate_deliveries: u64 = dups.iter().map(|(_, c)| **c - 1).sum();
    eprintln!(
        "restart: kills={kills} expected={expected} delivered={} unique={} duplicates={} (records un-acked at kills={unacked_at_kills})",
        seen.total,
        seen.unique(),
        duplicate_deliveries
    );
    assert_eq!(
        seen.unique(),
        expected,
        "every record delivered at least once"
    );
    let incremental_dups: u64 = dups
        .iter()
        .filter(|(k, _)| parts(k).0 != "machines")
        .map(|(_, c)| **c - 1)
        .sum();
    let machine_dups = duplicate_deliveries - incremental_dups;
    eprintln!(
        "restart: incremental duplicates={incremental_dups} (uncovered by the cursor at kills={uncovered}); machine duplicates={machine_dups} (machines delivered in killed runs={machines_in_killed_runs})"
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
