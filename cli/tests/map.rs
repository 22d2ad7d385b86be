//! `defender-bridge map` end to end: mixed input forms in, NDJSON out in input order, a summary on
//! stderr, exit status non-zero only when input cannot be read.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_defender-bridge"))
}

fn alert(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","severity":"Low","status":"New","title":"t","category":"Malware","detectionSource":"WindowsDefenderAv","machineId":"m","computerDnsName":"H","alertCreationTime":"2024-01-01T00:00:00Z"}}"#
    )
}

fn run_map(args: &[&str], stdin: &[u8]) -> (i32, Vec<Value>, String) {
    let mut child = bin()
        .arg("map")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run defender-bridge");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is one JSON document"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mixed_forms_keep_input_order() {
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&alert("a2")).unwrap())
            .unwrap();
    let input = format!(
        "{}\n{}\n[{},{}]\nnot json\n{{\"value\":[{}]}}{}\n",
        alert("a1"),
        pretty,
        alert("a3"),
        alert("a4"),
        alert("a5"),
        alert("a6")
    );
    let (code, docs, stderr) = run_map(&["--to", "ecs"], input.as_bytes());
    assert_eq!(code, 0, "{stderr}");
    let ids: Vec<String> = docs
        .iter()
        .map(|d| {
            d["event"]["id"]
                .as_str()
                .map_or_else(|| d["event"]["kind"].to_string(), str::to_string)
        })
        .collect();
    assert_eq!(
        ids,
        ["a1", "a2", "a3", "a4", "\"pipeline_error\"", "a5", "a6"]
    );
    assert!(
        stderr.contains("6 records in, 6 documents out, 1 errors"),
        "{stderr}"
    );
}

#[test]
fn sentinel_target_and_forced_kind() {
    let (code, docs, _) = run_map(
        &["--to", "sentinel", "--kind", "alert"],
        alert("x1").as_bytes(),
    );
    assert_eq!(code, 0);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["Type"], "SecurityAlert");
    assert_eq!(docs[0]["VendorOriginalId"], "x1");
}

#[test]
fn unreadable_file_is_the_only_failure() {
    let out = bin()
        .args(["map", "/nonexistent/defender.ndjson"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/defender.ndjson")
    );
}

#[test]
fn bad_option_is_a_usage_error() {
    let out = bin().args(["map", "--to", "splunk"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown target"));
}

#[test]
fn missing_geoip_database_is_a_clear_error() {
    let out = bin()
        .args(["map", "--geoip-city", "no-such.mmdb"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GeoIP database no-such.mmdb"));
}

#[test]
fn geoip_database_adds_geo_fields() {
    let db = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/geoip-test-db/GeoLite2-City-Test.mmdb");
    if !db.is_file() {
        eprintln!(
            "skipped: run scripts/fetch-geoip-test-db.sh for {}",
            db.display()
        );
        return;
    }
    let machine = r#"{"id":"m1","computerDnsName":"h","osPlatform":"Windows10","lastExternalIpAddress":"216.160.83.56","lastSeen":"2025-01-01T00:00:00Z"}"#;
    let (code, docs, stderr) = run_map(&["--geoip-city", db.to_str().unwrap()], machine.as_bytes());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(docs[0]["host"]["geo"]["city_name"], "Milton", "{}", docs[0]);
}
