//! A clean run delivers every record exactly once, over all six sources, with pages that split
//! runs of records sharing one update time.

mod common;

use std::sync::Arc;

use common::*;
use defender_bridge_pull::emulator::EmulatorConfig;

#[test]
fn every_record_once() {
    let n = 300;
    let emu = emulator(EmulatorConfig {
        records: n,
        ties: 3,
        ..Default::default()
    });
    let log = Arc::new(Captured::default());
    let dir = temp_dir("clean");
    let engine = start(
        config(
            &emu,
            &[
                ("page_size", "7"),
                ("state_dir", dir.to_str().unwrap()),
                ("incidents_expand_alerts", "true"),
            ],
        ),
        &log,
    );
    let mut seen = Delivered::default();
    drain(&engine, &mut seen, 6 * n);
    let stats = engine.stats();
    engine.stop();
    print_stats("clean run", &stats);
    eprintln!(
        "clean run: expected={} delivered={} unique={} duplicates={}",
        6 * n,
        seen.total,
        seen.unique(),
        seen.duplicates()
    );
    assert_eq!(seen.unique(), 6 * n);
    assert_eq!(seen.total, 6 * n);
    let _ = std::fs::remove_dir_all(&dir);
    for s in &stats.sources {
        assert_eq!(
            s.errors.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "{}",
            s.name
        );
    }
}

#[test]
fn mapped_targets_produce_documents() {
    let emu = emulator(EmulatorConfig {
        records: 20,
        ..Default::default()
    });
    for target in ["ecs", "sentinel"] {
        let log = Arc::new(Captured::default());
        let engine = start(config(&emu, &[("target", target)]), &log);
        let mut docs = 0u64;
        let mut errors = 0u64;
        let stats = engine.stats();
        for _ in 0..100_000 {
            match engine.take(100) {
                Some(b) => {
                    docs += b.records.len() as u64;
                    errors += b.records.iter().filter(|r| r.is_error()).count() as u64;
                    b.ack();
                }
                None => {
                    if polls(&stats) >= 2
                        && stats
                            .sources
                            .iter()
                            .all(|s| s.polls.load(std::sync::atomic::Ordering::Relaxed) >= 1)
                    {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
        }
        engine.stop();
        let records: u64 = stats
            .sources
            .iter()
            .map(|s| s.delivered.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        eprintln!(
            "target {target}: {records} API records -> {docs} outputs ({errors} error records)"
        );
        assert_eq!(records, 6 * 20);
        assert!(docs >= records);
    }
}
