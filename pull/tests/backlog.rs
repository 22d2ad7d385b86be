//! Memory with a 1,000,000-record backlog: pages stream through a bounded queue, so the peak
//! resident size stays flat however many records wait. Slow in debug builds, hence ignored:
//! `cargo test -p defender-bridge-pull --release --test backlog -- --ignored --nocapture`
//! With `BACKLOG_API=http://127.0.0.1:PORT` it pulls from a separate
//! `defender-bridge emulator --records 1000000` process, so that only the client is measured.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::*;
use defender_bridge_pull::emulator::EmulatorConfig;

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore]
fn one_million_record_backlog_in_bounded_memory() {
    let n: u64 = std::env::var("BACKLOG_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let external = std::env::var("BACKLOG_API").ok();
    let emu = match external {
        Some(_) => None,
        None => Some(emulator(EmulatorConfig {
            records: n,
            ..Default::default()
        })),
    };
    let dir = temp_dir("backlog");
    let log = Arc::new(Captured::default());
    let engine = start(
        config_at(
            &external
                .clone()
                .unwrap_or_else(|| emu.as_ref().map(|e| e.base_url()).unwrap_or_default()),
            &[
                (
                    "client_secret",
                    if external.is_some() {
                        "emulator-secret"
                    } else {
                        SECRET
                    },
                ),
                ("sources", "alerts"),
                ("target", "ecs"),
                ("page_size", "1000"),
                ("batch_max_records", "500"),
                ("initial_lookback", "3650d"),
                ("state_dir", dir.to_str().unwrap()),
                ("log_level", "info"),
            ],
        ),
        &log,
    );
    let started = Instant::now();
    let stats = engine.stats();
    let (mut docs, mut next_report) = (0u64, n / 10);
    let before = vm_hwm_kib();
    loop {
        match engine.take(500) {
            Some(b) => {
                docs += b.records.len() as u64;
                b.ack();
            }
            None => {
                if stats.sources[0]
                    .delivered
                    .load(std::sync::atomic::Ordering::Relaxed)
                    >= n
                    && polls(&stats) >= 1
                {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        let delivered = stats.sources[0]
            .delivered
            .load(std::sync::atomic::Ordering::Relaxed);
        if delivered >= next_report {
            eprintln!(
                "backlog: {delivered} records, VmHWM {} KiB, {:.1}s",
                vm_hwm_kib(),
                started.elapsed().as_secs_f64()
            );
            next_report += n / 10;
        }
    }
    engine.stop();
    let records = stats.sources[0]
        .delivered
        .load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "backlog: {records} alerts (with evidence) -> {docs} ECS documents in {:.1}s; VmHWM at start {before} KiB, at end {} KiB",
        started.elapsed().as_secs_f64(),
        vm_hwm_kib()
    );
    assert_eq!(records, n);
    let _ = std::fs::remove_dir_all(&dir);
}
