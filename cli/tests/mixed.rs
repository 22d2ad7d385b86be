//! `defender-bridge map` on one stream that mixes every record kind (MDE API alerts, machines,
//! machine actions, vulnerabilities, Graph incidents, streaming-API events of every table, pretty
//! printed samples): each is detected and mapped, to ECS and to Sentinel, with no error record.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn shared() -> PathBuf {
    std::env::var_os("DEFENDER_BRIDGE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// Every fixture input line plus every pretty-printed sample, interleaved round-robin so that
/// kinds alternate; returns the stream and the number of ECS documents Elastic expects of it.
fn mixed_stream() -> (String, usize) {
    let root = shared().join("fixtures/elastic");
    let mut sources: Vec<Vec<String>> = Vec::new();
    let mut expected = 0;
    for dir in [
        "microsoft_defender_endpoint/log",
        "microsoft_defender_endpoint/machine",
        "microsoft_defender_endpoint/machine_action",
        "microsoft_defender_endpoint/vulnerability",
        "m365_defender/incident",
        "m365_defender/event",
    ] {
        let mut logs: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        for log in logs {
            let want: Value = serde_json::from_slice(
                &std::fs::read(format!("{}-expected.json", log.display())).unwrap(),
            )
            .unwrap();
            expected += want["expected"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| !d.is_null())
                .count();
            let text = std::fs::read_to_string(&log).unwrap();
            sources.push(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect(),
            );
        }
    }
    let samples = shared().join("sentinel/samples");
    for dir in std::fs::read_dir(samples).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                sources.push(vec![std::fs::read_to_string(p).unwrap()]);
                expected += 1;
            }
        }
    }
    let mut stream = String::new();
    let longest = sources.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for s in &sources {
            if let Some(rec) = s.get(i) {
                stream.push_str(rec);
                stream.push('\n');
            }
        }
    }
    (stream, expected)
}

fn map(target: &str, input: &str) -> (Vec<Value>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_defender-bridge"))
        .args(["map", "--to", target, "--preserve-original-event"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    let docs = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (docs, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_kind_in_one_stream() {
    let (stream, expected) = mixed_stream();
    let (docs, summary) = map("ecs", &stream);
    let errors: Vec<&Value> = docs
        .iter()
        .filter(|d| d["event"]["kind"] == "pipeline_error")
        .collect();
    println!(
        "ecs: {} documents, {} errors; {}",
        docs.len(),
        errors.len(),
        summary.trim()
    );
    assert!(errors.is_empty(), "error records: {errors:#?}");
    assert_eq!(
        docs.len(),
        expected,
        "documents out vs Elastic's expected documents"
    );

    let (rows, summary) = map("sentinel", &stream);
    let errors: Vec<&Value> = rows
        .iter()
        .filter(|d| d["Type"] == "DefenderBridgeErrors_CL")
        .collect();
    println!(
        "sentinel: {} rows, {} errors; {}",
        rows.len(),
        errors.len(),
        summary.trim()
    );
    assert!(errors.is_empty(), "error rows: {errors:#?}");
    let mut tables: Vec<&str> = rows.iter().filter_map(|r| r["Type"].as_str()).collect();
    tables.sort();
    tables.dedup();
    println!("sentinel tables: {}", tables.join(", "));
    for t in [
        "SecurityAlert",
        "SecurityIncident",
        "DeviceInfo",
        "DeviceProcessEvents",
        "DefenderMachineActions_CL",
        "DefenderVulnerabilities_CL",
    ] {
        assert!(tables.contains(&t), "no {t} row in {tables:?}");
    }
}
