//! The plugin .so driven by the C host harness exactly as Fluent Bit's proxy drives it, against
//! the loopback emulator: two instances (two tenants, different sources and targets), the
//! records compared with what the pull engine yields for the same tenant, a restart from the
//! checkpoint, configuration errors, and (when valgrind is there) the same under valgrind.
//!
//! Under valgrind: `DEFENDER_BRIDGE_REQUIRE_VALGRIND=1` makes a missing valgrind a failure
//! (CI sets it); otherwise that test skips with a note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use defender_bridge_pull::emulator::{Emulator, EmulatorConfig};
use defender_bridge_pull::{Engine, Level, Logger, PullConfig};
use fluentbit_harness::{check_valgrind, plugin_so, run, valgrind_available, Event, Instance};
use serde_json::Value;

const SECRET: &str = "emulator-secret-f00d";
const RECORDS: u64 = 24;

fn emulator(tenant: &str, seed: u64) -> Emulator {
    let config = EmulatorConfig {
        records: RECORDS,
        seed,
        tenant_id: tenant.to_string(),
        client_secret: Some(SECRET.to_string()),
        ..EmulatorConfig::default()
    };
    Emulator::start(config, "127.0.0.1:0").expect("start the emulator")
}

fn settings(emu: &Emulator, tenant: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut s = emu.settings();
    s.push(("tenant_id".into(), tenant.into()));
    s.push(("client_id".into(), EmulatorConfig::default().client_id));
    s.push(("client_secret".into(), SECRET.into()));
    for (k, v) in extra {
        s.retain(|(key, _)| !key.eq_ignore_ascii_case(k));
        s.push((k.to_string(), v.to_string()));
    }
    s
}

struct Quiet;
impl Logger for Quiet {
    fn log(&self, _: Level, _: &str) {}
}

/// What the pull engine yields for these settings, in-process (the reference).
fn reference(settings: &[(String, String)]) -> Vec<Value> {
    let map: BTreeMap<String, String> = settings
        .iter()
        .filter(|(k, _)| k != "state_dir")
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let config = PullConfig::from_lookup(&|k| map.get(k).cloned()).expect("reference config");
    let engine = Engine::start(config, Arc::new(Quiet)).expect("reference engine");
    let mut out = Vec::new();
    let mut last = Instant::now();
    let started = Instant::now();
    while last.elapsed() < Duration::from_secs(3) && started.elapsed() < Duration::from_secs(60) {
        match engine.take(1000) {
            Some(batch) => {
                out.extend(batch.records.iter().map(|r| comparable(r.to_value())));
                batch.ack();
                last = Instant::now();
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    engine.stop();
    out
}

fn sorted(values: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut v: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
    v.sort();
    v
}

fn instance(expect: usize, settings: &[(String, String)]) -> Instance {
    Instance {
        expect,
        props: settings.to_vec(),
    }
}

/// Record bodies for comparing runs: `@timestamp` goes, since where the record has no time of its
/// own it is the time of collection, which differs from run to run.
fn bodies(events: &[Event]) -> Vec<Value> {
    events.iter().map(|e| comparable(e.body.clone())).collect()
}

fn comparable(mut body: Value) -> Value {
    if let Some(m) = body.as_object_mut() {
        m.shift_remove("@timestamp");
    }
    body
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "defender-bridge-harness-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Removes a scratch dir, unless DEFENDER_BRIDGE_HARNESS_KEEP is set (to read the logs).
fn cleanup(dir: &Path) {
    if std::env::var_os("DEFENDER_BRIDGE_HARNESS_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn show(run: &fluentbit_harness::Run) -> String {
    format!("status {:?}\n--- stderr ---\n{}", run.status, run.stderr)
}

/// Two instances (tenant A: MDE alerts as ECS; tenant B: Graph alerts and incidents as
/// Sentinel rows), then a restart of both from their checkpoints.
fn two_instances_and_restart(valgrind: bool) {
    let so = plugin_so();
    let dir = scratch(if valgrind { "valgrind" } else { "native" });
    let (tenant_a, tenant_b) = (
        "aaaaaaaa-0000-4000-8000-00000000000a",
        "bbbbbbbb-0000-4000-8000-00000000000b",
    );
    let (emu_a, emu_b) = (emulator(tenant_a, 1), emulator(tenant_b, 2));
    let state_a = dir.join("state-a");
    let state_b = dir.join("state-b");
    let a = settings(
        &emu_a,
        tenant_a,
        &[
            ("sources", "alerts"),
            ("target", "ecs"),
            ("batch_max_records", "5"),
            ("log_level", "debug"),
        ],
    );
    let b = settings(
        &emu_b,
        tenant_b,
        &[
            ("Sources", "graph_alerts,incidents"),
            ("TARGET", "sentinel"),
            ("batch_max_records", "7"),
        ],
    );
    let ref_a = reference(&a);
    let ref_b = reference(&b);
    assert!(
        !ref_a.is_empty() && !ref_b.is_empty(),
        "the reference pulls gave nothing"
    );
    let with_state = |s: &[(String, String)], dir: &Path| {
        let mut s = s.to_vec();
        s.push(("state_dir".into(), dir.display().to_string()));
        s
    };
    let (a, b) = (with_state(&a, &state_a), with_state(&b, &state_b));

    // First run: A stops after about half of its records (so its checkpoint sits in the
    // middle); B takes everything.
    let half = ref_a.len() / 2;
    let first_started = Instant::now();
    let first = run(
        &so,
        &dir.join("run1"),
        90,
        &[instance(half, &a), instance(ref_b.len(), &b)],
        valgrind,
    );
    assert_eq!(first.status, Some(0), "first run\n{}", show(&first));
    let a1 = bodies(&first.events[0]);
    let b1 = bodies(&first.events[1]);
    assert!(
        a1.len() >= half && a1.len() < ref_a.len(),
        "A got {} of {}",
        a1.len(),
        ref_a.len()
    );
    assert_eq!(
        sorted(b1.clone()),
        sorted(ref_b.clone()),
        "B's records differ from the emulator tenant's"
    );

    // ECS documents (A) and Sentinel rows (B).
    for doc in &a1 {
        assert_eq!(
            doc.pointer("/ecs/version").and_then(Value::as_str),
            Some("8.11.0"),
            "ecs.version: {doc}"
        );
        assert_eq!(
            doc.pointer("/event/kind").and_then(Value::as_str),
            Some("alert"),
            "event.kind: {doc}"
        );
        assert_eq!(
            doc.pointer("/observer/vendor").and_then(Value::as_str),
            Some("Microsoft"),
            "observer.vendor: {doc}"
        );
        assert_eq!(
            doc.pointer("/cloud/account/id").and_then(Value::as_str),
            Some(tenant_a),
            "cloud.account.id: {doc}"
        );
        assert!(
            doc.pointer("/event/id").and_then(Value::as_str).is_some(),
            "event.id: {doc}"
        );
        assert!(doc.get("TimeGenerated").is_none());
    }
    for row in &b1 {
        assert!(
            row.get("TimeGenerated").and_then(Value::as_str).is_some(),
            "not a Sentinel row: {row}"
        );
        assert!(row.get("ecs").is_none());
    }
    // The event time is the record's own time (@timestamp, TimeGenerated), else the time of
    // collection; the metadata map is empty.
    let started = first_started.elapsed().as_secs() + 5;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for (e, key) in first.events[0]
        .iter()
        .map(|e| (e, "@timestamp"))
        .chain(first.events[1].iter().map(|e| (e, "TimeGenerated")))
    {
        match e.body.get(key).and_then(Value::as_str) {
            Some(ts) => {
                let t = chrono::DateTime::parse_from_rfc3339(ts).expect("RFC 3339 time");
                assert_eq!(i64::from(e.seconds), t.timestamp(), "event time of {ts}");
            }
            None => assert!(
                u64::from(e.seconds) + started >= now && u64::from(e.seconds) <= now,
                "event time {}",
                e.seconds
            ),
        }
        assert_eq!(e.metadata, Value::Object(Default::default()));
    }
    assert!(!first.stderr.contains(SECRET), "the secret was logged");
    assert!(
        first.stderr.contains("[debug]"),
        "log_level debug gave no debug line\n{}",
        first.stderr
    );

    // Restart from the checkpoints: A gets the rest (at-least-once: whatever was not
    // acknowledged may come again, nothing is lost), B gets nothing new.
    let second = run(
        &so,
        &dir.join("run2"),
        8,
        &[instance(0, &a), instance(0, &b)],
        valgrind,
    );
    assert_eq!(second.status, Some(0), "second run\n{}", show(&second));
    let a2 = bodies(&second.events[0]);
    let b2 = bodies(&second.events[1]);
    assert!(
        b2.is_empty(),
        "B re-delivered {} records after a restart",
        b2.len()
    );
    assert!(
        !a2.is_empty(),
        "A got nothing after the restart\n{}",
        second.stderr
    );
    assert!(
        a2.len() < ref_a.len(),
        "A started over: {} records",
        a2.len()
    );
    let mut all_a = sorted(a1.iter().chain(a2.iter()).cloned());
    all_a.dedup();
    assert_eq!(
        all_a,
        sorted(ref_a.clone()),
        "A lost or changed records across the restart"
    );
    let dups = a1.len() + a2.len() - ref_a.len();
    eprintln!(
        "A: {} + {} records over two runs ({} delivered twice), reference {}; B: {} then {}",
        a1.len(),
        a2.len(),
        dups,
        ref_a.len(),
        b1.len(),
        b2.len()
    );
    for r in [&first, &second] {
        if let Some(log) = &r.valgrind_log {
            match check_valgrind(log) {
                Ok(summary) => eprintln!("valgrind:\n{summary}"),
                Err(e) => panic!("valgrind found problems:\n{e}"),
            }
        }
    }
    cleanup(&dir);
}

#[test]
fn two_instances_then_restart_from_checkpoint() {
    two_instances_and_restart(false);
}

#[test]
fn two_instances_then_restart_under_valgrind() {
    if !valgrind_available() {
        assert!(
            std::env::var_os("DEFENDER_BRIDGE_REQUIRE_VALGRIND").is_none(),
            "DEFENDER_BRIDGE_REQUIRE_VALGRIND is set but valgrind is not installed"
        );
        eprintln!("skipped: valgrind is not installed (apt-get install valgrind)");
        return;
    }
    two_instances_and_restart(true);
}

/// A bad or missing key fails Init with one log line naming the key; the other instance runs.
#[test]
fn config_errors_name_the_key() {
    let so = plugin_so();
    let dir = scratch("config");
    let tenant = "cccccccc-0000-4000-8000-00000000000c";
    let emu = emulator(tenant, 3);
    let good = settings(&emu, tenant, &[("sources", "machines")]);
    let cases: &[(&str, Vec<(String, String)>)] = &[
        (
            "tenant_id",
            good.iter()
                .filter(|(k, _)| k != "tenant_id")
                .cloned()
                .collect(),
        ),
        ("target", settings(&emu, tenant, &[("target", "splunk")])),
        (
            "sources",
            settings(&emu, tenant, &[("sources", "alerts,bogus")]),
        ),
        ("overlap", settings(&emu, tenant, &[("overlap", "soon")])),
        (
            "api_host",
            settings(&emu, tenant, &[("api_host", "http://example.com")]),
        ),
    ];
    for (key, props) in cases {
        let r = run(&so, &dir.join(key), 3, &[instance(0, props)], false);
        assert_eq!(r.status, Some(2), "{key}: Init should fail\n{}", show(&r));
        let errors: Vec<&str> = r.stderr.lines().filter(|l| l.contains("[error]")).collect();
        assert_eq!(
            errors.len(),
            1,
            "{key}: one error line expected\n{}",
            r.stderr
        );
        assert!(
            errors[0].contains(key),
            "{key}: the error line does not name the key: {}",
            errors[0]
        );
        assert!(!r.stderr.contains(SECRET), "{key}: the secret was logged");
    }
    // One bad instance next to a good one: the good one still delivers.
    let bad = settings(&emu, tenant, &[("target", "splunk")]);
    let r = run(
        &so,
        &dir.join("mixed"),
        30,
        &[instance(0, &bad), instance(RECORDS as usize, &good)],
        false,
    );
    assert_eq!(r.status, Some(2), "{}", show(&r));
    assert!(
        r.events[1].len() >= RECORDS as usize,
        "the good instance got {}\n{}",
        r.events[1].len(),
        r.stderr
    );
    cleanup(&dir);
}
