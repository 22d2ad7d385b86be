//! Faults: 429 and 5xx storms, dropped connections, truncated and unparsable pages, tokens that
//! expire mid-paging, a certificate credential, and secrets that never leak.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use defender_bridge_pull::emulator::{EmulatorConfig, Faults};
use defender_bridge_pull::{Engine, PullConfig};

fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

#[test]
fn storms_are_ridden_out() {
    let n = 200;
    let faults =
        Faults::parse("429=10x4,500=9x3,drop=17,truncate=23,badjson=29,slow=31:20ms,retry_after=0")
            .unwrap();
    let emu = emulator(EmulatorConfig {
        records: n,
        faults,
        ..Default::default()
    });
    let log = Arc::new(Captured::default());
    let engine = start(config(&emu, &[("page_size", "20")]), &log);
    let mut seen = Delivered::default();
    drain(&engine, &mut seen, 6 * n);
    let stats = engine.stats();
    engine.stop();
    let e = emu.stats();
    print_stats("storms", &stats);
    eprintln!(
        "storms: emulator api_requests={} 429={} 500={} dropped={} truncated={} bad_json={} slow={}",
        count(&e.api_requests),
        count(&e.throttled),
        count(&e.server_errors),
        count(&e.dropped),
        count(&e.truncated),
        count(&e.bad_json),
        count(&e.slow)
    );
    eprintln!(
        "storms: expected={} delivered={} unique={} duplicates={}",
        6 * n,
        seen.total,
        seen.unique(),
        seen.duplicates()
    );
    assert_eq!(seen.unique(), 6 * n);
    assert_eq!(seen.total, 6 * n);
    assert!(count(&e.throttled) > 0 && count(&e.server_errors) > 0 && count(&e.dropped) > 0);
    assert!(count(&e.truncated) > 0 && count(&e.bad_json) > 0);
    // Every injected failure cost one retry on the client (but for a wait cut short by the stop).
    let injected = count(&e.throttled)
        + count(&e.server_errors)
        + count(&e.dropped)
        + count(&e.truncated)
        + count(&e.bad_json);
    let retries = count(&stats.http_retries);
    eprintln!("storms: injected failures={injected} client retries={retries}");
    assert!(retries <= injected && retries + 6 >= injected);
}

#[test]
fn a_page_that_never_parses_is_reported_and_retried_later() {
    // Every other request is bad JSON and only 1 attempt is allowed: polls fail, are reported,
    // and the next poll picks up from the cursor; nothing is lost. (No overlap: with the whole
    // tenant inside the window every poll would re-read the same first page and stop at the
    // same bad second one.)
    let n = 60;
    let faults = Faults::parse("badjson=2").unwrap();
    let emu = emulator(EmulatorConfig {
        records: n,
        faults,
        ..Default::default()
    });
    let log = Arc::new(Captured::default());
    let engine = start(
        config(
            &emu,
            &[
                ("sources", "alerts"),
                ("retry_attempts", "1"),
                ("page_size", "10"),
                ("overlap", "0s"),
            ],
        ),
        &log,
    );
    let mut seen = Delivered::default();
    drain(&engine, &mut seen, n);
    let stats = engine.stats();
    engine.stop();
    let errors = count(&stats.sources[0].errors);
    let reported = log
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("not valid JSON"))
        .count();
    eprintln!(
        "bad pages: delivered={} unique={} failed_polls={errors} reported={reported}",
        seen.total,
        seen.unique()
    );
    assert_eq!((seen.total, seen.unique()), (n, n));
    assert!(errors > 0 && reported as u64 == errors);
}

#[test]
fn tokens_expiring_mid_paging_are_renewed() {
    let n = 150;
    // Tokens live 2 s (renewed ahead of expiry) and every 7th API call finds its token expired.
    let faults = Faults::parse("expire=7").unwrap();
    let emu = emulator(EmulatorConfig {
        records: n,
        faults,
        token_lifetime: Duration::from_secs(2),
        ..Default::default()
    });
    let log = Arc::new(Captured::default());
    let engine = start(config(&emu, &[("page_size", "10")]), &log);
    let mut seen = Delivered::default();
    drain(&engine, &mut seen, 6 * n);
    let stats = engine.stats();
    engine.stop();
    print_stats("token expiry", &stats);
    let e = emu.stats();
    eprintln!(
        "token expiry: expired_by_emulator={} unauthorized_answers={} tokens_issued={} renewals_after_401={} delivered={} unique={}",
        count(&e.expired),
        count(&e.unauthorized),
        count(&e.tokens_issued),
        count(&stats.token_renewals_401),
        seen.total,
        seen.unique()
    );
    assert_eq!((seen.total, seen.unique()), (6 * n, 6 * n));
    assert!(count(&e.expired) > 0);
    assert_eq!(count(&stats.token_renewals_401), count(&e.unauthorized));
    assert!(count(&e.tokens_issued) > 2);
}

const CERT_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/test-client.pem");

fn cert_der() -> Vec<u8> {
    defender_bridge_pull::emulator::cert_der_from_pem(&std::fs::read(CERT_PEM).unwrap()).unwrap()
}

#[test]
fn certificate_credential_works() {
    let n = 50;
    let emu = emulator(EmulatorConfig {
        records: n,
        client_cert_der: Some(cert_der()),
        ..Default::default()
    });
    let log = Arc::new(Captured::default());
    let engine = start(
        config(
            &emu,
            &[("client_secret", ""), ("client_certificate_file", CERT_PEM)],
        ),
        &log,
    );
    let mut seen = Delivered::default();
    drain(&engine, &mut seen, 6 * n);
    engine.stop();
    eprintln!(
        "certificate: tokens_issued={} delivered={} unique={}",
        count(&emu.stats().tokens_issued),
        seen.total,
        seen.unique()
    );
    assert_eq!((seen.total, seen.unique()), (6 * n, 6 * n));
    assert!(count(&emu.stats().tokens_issued) >= 2, "one token per API");
}

#[test]
fn wrong_credentials_are_reported_without_the_secret() {
    let emu = emulator(EmulatorConfig {
        records: 5,
        ..Default::default()
    });
    let wrong = "Wrong-Secret-Value-123456";
    let log = Arc::new(Captured::default());
    let engine = start(
        config(&emu, &[("client_secret", wrong), ("sources", "alerts")]),
        &log,
    );
    let stats = engine.stats();
    while count(&stats.sources[0].errors) < 2 {
        assert!(engine.take(10).is_none());
        std::thread::sleep(Duration::from_millis(2));
    }
    engine.stop();
    let lines = log.0.lock().unwrap().join("\n");
    eprintln!(
        "wrong credentials: {}",
        lines.lines().find(|l| l.contains("token")).unwrap_or("")
    );
    assert!(lines.contains("refused the credentials") || lines.contains("invalid_client"));
    assert!(!lines.contains(wrong));
}

#[test]
fn the_secret_never_appears_in_any_output() {
    let n = 40;
    let faults = Faults::parse("429=5,500=7,expire=6,truncate=11,retry_after=0").unwrap();
    let emu = emulator(EmulatorConfig {
        records: n,
        faults,
        ..Default::default()
    });
    let dir = temp_dir("secret");
    let mut outputs = String::new();
    for target in ["raw", "ecs", "sentinel"] {
        let log = Arc::new(Captured::default());
        let cfg: PullConfig = config(
            &emu,
            &[
                ("target", target),
                ("state_dir", dir.to_str().unwrap()),
                ("preserve_original_event", "true"),
                ("log_level", "trace"),
            ],
        );
        outputs.push_str(&format!("{cfg:?}"));
        let engine = Engine::start(cfg, log.clone()).unwrap();
        let mut seen = Delivered {
            keep_json: true,
            ..Default::default()
        };
        drain(&engine, &mut seen, if target == "raw" { 6 * n } else { 0 });
        engine.stop();
        outputs.push_str(&seen.json.join("\n"));
        outputs.push_str(&log.0.lock().unwrap().join("\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Errors from a config that fails, too.
    let e = PullConfig::from_lookup(&|k| match k {
        "tenant_id" => Some("t".into()),
        "client_id" => Some("c".into()),
        "client_secret" => Some(SECRET.into()),
        "api_host" => Some("http://example.com".into()),
        _ => None,
    })
    .unwrap_err();
    outputs.push_str(&e.to_string());
    eprintln!(
        "secret check: scanned {} bytes of records, logs (trace level), config Debug and errors",
        outputs.len()
    );
    assert!(outputs.len() > 10_000);
    assert!(!outputs.contains(SECRET));
}
