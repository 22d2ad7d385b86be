//! Fault soak with real processes (issue 8, part 3): `defender-bridge emulator` runs as a child
//! process with every kind of injected fault (429 bursts, 5xx, dropped connections, truncated,
//! malformed and slow bodies, token expiry); `defender-bridge pull` runs against it as a child
//! process, again and again, each time SIGKILLed after a random delay, restarting from its
//! checkpoint files; a last `--once` run finishes. Every record written to the pulls' stdout is
//! then checked against the emulator's tenant: nothing missing, and duplicates only for records
//! the checkpoint left on disk at a kill did not cover, each inside the overlap window the next
//! run re-reads (machines: the inventory sweep, at most the machines written by killed runs).
//!
//! `KILL_SOAK_SECS` (default 20) bounds the kill phase, `KILL_SOAK_RECORDS` sets the records per
//! source (default 50 per second of the run), `KILL_SOAK_SEED` the seed of the kill delays and of
//! the tenant. The long run:
//! `KILL_SOAK_SECS=600 cargo test --release -p defender-bridge-cli --test kill_soak -- --nocapture`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use defender_bridge_pull::testing::{cursors, key, Delivered, KillLedger};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_defender-bridge");
const SECRET: &str = "Kill-Soak-S3cr3t-Never-Print-77";
const SOURCES: &str = "alerts,machines,machine_actions,vulnerabilities,graph_alerts,incidents";
/// By API request number: 429 bursts (Retry-After 0), 5xx bursts, connections closed without an
/// answer, bodies cut short, unparsable pages, slow answers, every token expired.
const FAULTS: &str =
    "429=10x3,500=9x2,drop=13,truncate=17,badjson=29,slow=19:40ms,expire=23,retry_after=0";
/// The pulls' `overlap`; the tenant spans far more than this, so the window check means something.
const OVERLAP_SECS: i64 = 60;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: the kill delays, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// A child process that is SIGKILLed and reaped when dropped (also when the test panics).
struct Proc(Child);

impl Proc {
    /// SIGKILL (`Child::kill` on Unix) and reap.
    fn kill(&mut self) -> ExitStatus {
        let _ = self.0.kill();
        self.0.wait().expect("reap the child")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `defender-bridge emulator` on a free loopback port; returns it and its base URL.
fn start_emulator(records: u64, seed: u64) -> (Proc, String) {
    let mut child = Command::new(BIN)
        .args(["emulator", "--listen", "127.0.0.1:0", "--faults", FAULTS])
        .args([
            "--records",
            &records.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(["--client-secret", SECRET])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start defender-bridge emulator");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let proc = Proc(child);
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let base = first
        .trim()
        .strip_prefix("defender-bridge emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the emulator: {first:?}"))
        .to_string();
    // Keep reading: the emulator prints its settings next and must not meet a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (proc, base)
}

/// `GET /emulator/stats`: what the emulator served and injected.
fn emulator_stats(base: &str) -> Value {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the emulator");
    write!(
        s,
        "GET /emulator/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200"), "stats: {head}");
    serde_json::from_str(body).expect("stats JSON")
}

/// One `defender-bridge pull` process and the thread that reads its stdout.
struct Run {
    proc: Proc,
    reader: JoinHandle<u64>,
    keys: Arc<Mutex<Vec<String>>>,
}

/// Reads NDJSON records until EOF, appending each record's key to `keys`; returns the number of
/// partial last lines (a kill in the middle of a write: not a delivered record).
fn read_records(stdout: ChildStdout, keys: Arc<Mutex<Vec<String>>>) -> u64 {
    let mut r = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return 0,
            Ok(_) if line.last() != Some(&b'\n') => return 1,
            Ok(_) => {
                let v: Value = serde_json::from_slice(&line).unwrap_or_else(|e| {
                    panic!(
                        "a complete stdout line is not a JSON record ({e}): {}",
                        String::from_utf8_lossy(&line)
                    )
                });
                keys.lock().unwrap().push(key(&v));
            }
        }
    }
}

fn start_pull(conf: &Path, state: &Path, log: &Path, once: bool) -> Run {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("pull")
        .arg("--config")
        .arg(conf)
        .args(["--source", SOURCES, "--to", "raw"])
        .arg("--state-dir")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    if once {
        cmd.arg("--once");
    }
    let mut child = cmd.spawn().expect("start defender-bridge pull");
    let keys = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let k = keys.clone();
    let reader = std::thread::spawn(move || read_records(stdout, k));
    Run {
        proc: Proc(child),
        reader,
        keys,
    }
}

impl Run {
    /// After the process is gone: its records (all of them reached the reader) and partial lines.
    fn collect(self) -> (Delivered, u64) {
        let partial = self.reader.join().expect("stdout reader");
        let mut run = Delivered::default();
        for k in self.keys.lock().unwrap().drain(..) {
            run.add_key(k);
        }
        drop(self.proc);
        (run, partial)
    }
}

fn write_config(path: &Path, base: &str) {
    let text = format!(
        "# written by cli/tests/kill_soak.rs
tenant_id = 00000000-0000-4000-8000-00000000e001
client_id = 11111111-0000-4000-8000-00000000e001
client_secret = {SECRET}
login_host = {base}
api_host = {base}
graph_host = {base}
initial_lookback = 30d
overlap = {OVERLAP_SECS}s
poll_interval = 100ms
machines_interval = 1h
retry_base = 1ms
retry_max = 20ms
retry_attempts = 12
page_size = 7
batch_max_records = 11
mde_calls_per_minute = 100000
mde_calls_per_hour = 1000000
graph_calls_per_minute = 100000
http_timeout = 10s
"
    );
    std::fs::write(path, text).unwrap();
}

fn temp_dir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("defender-bridge-kill-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn kill_soak_with_real_processes() {
    let secs = env_u64("KILL_SOAK_SECS", 20);
    // 50 records per source and second: records are still being delivered during a good part
    // of the kills (about half of them on a busy 2-core machine), then the pulls idle-poll.
    let records = env_u64("KILL_SOAK_RECORDS", 300.max(50 * secs));
    let seed = env_u64("KILL_SOAK_SEED", 5);
    let expected = 6 * records;
    let dir = temp_dir();
    let (conf, state, log) = (
        dir.join("pull.conf"),
        dir.join("state"),
        dir.join("pull.log"),
    );
    let (mut emulator, base) = start_emulator(records, seed);
    write_config(&conf, &base);

    let mut rng = Rng(seed);
    let mut seen = Delivered::default();
    let mut ledger = KillLedger::new(OVERLAP_SECS * 1_000_000_000);
    let (mut kills, mut partial_lines) = (0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        let mut run = start_pull(&conf, &state, &log, false);
        // From before the first token to well into the paging.
        std::thread::sleep(Duration::from_millis(rng.range(20, 1500)));
        if let Ok(Some(status)) = run.proc.0.try_wait() {
            panic!(
                "defender-bridge pull exited by itself ({status}); log: {}",
                log.display()
            );
        }
        run.proc.kill();
        kills += 1;
        let (delivered, partial) = run.collect();
        partial_lines += partial;
        seen.merge(&delivered);
        // The process is gone: the cursors on disk are the ones the next run starts from.
        ledger.record_kill(&delivered, &cursors(&state));
        if kills % 25 == 0 {
            eprintln!(
                "kill-soak: {kills} kills in {} s, {} of {expected} records",
                started.elapsed().as_secs(),
                seen.unique()
            );
        }
    }
    let kill_phase = started.elapsed();
    let unique_after_kills = seen.unique();

    // Let it finish: `--once` runs until every record arrived (a poll that ran out of retry
    // attempts ends a `--once` run early; the next one goes on from its checkpoint).
    let deadline = Instant::now() + Duration::from_secs(secs.max(30));
    let mut final_runs = 0u64;
    loop {
        let mut run = start_pull(&conf, &state, &log, true);
        final_runs += 1;
        let status = loop {
            if let Some(s) = run.proc.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the final run did not finish in time; log: {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // Exit status 1 is a `--once` run in which a source's poll gave up (the emulator's
        // faults) and nothing was written: once every record is out, a run has nothing left
        // to write. The next run goes on from the checkpoints; the deadline catches a pull
        // that never gets anywhere. Anything else (a signal, a panic's 101) fails here.
        assert!(
            status.success() || status.code() == Some(1),
            "the final pull failed: {status}; log: {}",
            log.display()
        );
        let (delivered, partial) = run.collect();
        assert_eq!(partial, 0, "a clean exit leaves no partial line");
        seen.merge(&delivered);
        if seen.unique() >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {expected} records after {final_runs} final runs; log: {}",
            seen.unique(),
            log.display()
        );
        // Stopped cleanly: everything it wrote was acknowledged and is covered.
        ledger.record_kill(&delivered, &cursors(&state));
    }

    let es = emulator_stats(&base);
    emulator.kill();
    let g = |k: &str| es[k].as_u64().unwrap_or(0);
    let verdict = ledger.check(&seen, expected);
    let r = verdict.clone().unwrap_or_default();
    println!(
        "kill-soak: {} s, seed {seed}, {kills} kills ({unique_after_kills} unique by then), {final_runs} final run(s), requests={} tokens={} records_served={}, faults: 429={} 5xx={} resets={} truncated={} slow={} bad_json={} token_expiries={} (401s={}); expected={expected} delivered={} unique={} missing={} duplicates={} (incremental {} = uncovered by the checkpoint at kills {}, of which {} before a first checkpoint; machines {} <= {} written by killed runs; partial lines at kills {partial_lines}) ({})",
        kill_phase.as_secs(),
        g("api_requests"),
        g("tokens_issued"),
        g("records_served"),
        g("throttled"),
        g("server_errors"),
        g("dropped"),
        g("truncated"),
        g("slow"),
        g("bad_json"),
        g("expired"),
        g("unauthorized"),
        seen.total,
        seen.unique(),
        expected.saturating_sub(seen.unique()),
        seen.duplicates(),
        r.incremental,
        ledger.uncovered,
        ledger.uncovered_without_cursor,
        r.machines,
        ledger.machines_in_killed_runs,
        if verdict.is_ok() {
            "all inside the overlap"
        } else {
            "FAILED"
        }
    );
    if let Err(e) = verdict {
        panic!("{e}; log: {}", log.display());
    }
    for k in [
        "throttled",
        "server_errors",
        "dropped",
        "truncated",
        "slow",
        "bad_json",
        "expired",
    ] {
        assert!(g(k) > 0, "no {k} fault was injected");
    }
    assert!(kills >= 3, "only {kills} kills");
    let pull_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!pull_log.contains(SECRET), "the secret reached the log");
    let _ = std::fs::remove_dir_all(&dir);
}
