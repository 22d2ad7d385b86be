//! Every streaming-API sample in ../shared/sentinel/samples/*/ maps to an ECS document with the
//! basics right: `@timestamp`, `event.kind`, `host.name` lowercased from `DeviceName`, and
//! `related.ip` / `related.user` / `related.hash` when the record carries addresses, accounts or
//! hashes. (Elastic's fixtures pin the full documents; these samples have no expected output.)

mod support;

use std::fs;
use std::path::PathBuf;

use defender_bridge::{EcsIntegration, Mapper, Options, Output, Target};
use serde_json::{Map, Value};

/// Property names whose values are IP addresses, account names, or hashes.
const IP_FIELDS: &[&str] = &[
    "IPAddress",
    "LocalIP",
    "RemoteIP",
    "PublicIP",
    "FileOriginIP",
    "RequestSourceIP",
];
const USER_FIELDS: &[&str] = &[
    "AccountName",
    "AccountUpn",
    "InitiatingProcessAccountName",
    "RequestAccountName",
];
const HASH_FIELDS: &[&str] = &[
    "SHA1",
    "SHA256",
    "MD5",
    "InitiatingProcessSHA1",
    "InitiatingProcessSHA256",
    "InitiatingProcessMD5",
];

fn samples() -> Vec<PathBuf> {
    let root = support::shared_dir().join("sentinel/samples");
    let mut out = Vec::new();
    for dir in fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|x| x == "json") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn non_empty_strings<'a>(props: &'a Map<String, Value>, fields: &[&str]) -> Vec<&'a str> {
    fields
        .iter()
        .filter_map(|f| props.get(*f)?.as_str())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The problems of one document mapped from `record`.
fn check(record: &Value, doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let props = record["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if doc.get("@timestamp").and_then(Value::as_str).is_none() {
        problems.push("no @timestamp".to_string());
    }
    if doc.pointer("/event/kind").and_then(Value::as_str).is_none() {
        problems.push("no event.kind".to_string());
    }
    if let Some(name) = props
        .get("DeviceName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        let want = Value::String(name.to_lowercase());
        let got = doc.pointer("/host/name");
        let ok = match got {
            Some(Value::Array(a)) => a.contains(&want),
            Some(v) => *v == want,
            None => false,
        };
        if !ok {
            problems.push(format!(
                "host.name is {got:?}, want {want} (DeviceName lowercased)"
            ));
        }
    }
    let related = |kind: &str, values: Vec<&str>, problems: &mut Vec<String>| {
        if values.is_empty() {
            return;
        }
        let got: Vec<&str> = doc
            .pointer(&format!("/related/{kind}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if got.is_empty() {
            problems.push(format!("no related.{kind}, record has {values:?}"));
        } else if !values
            .iter()
            .any(|v| got.iter().any(|g| g.eq_ignore_ascii_case(v)))
        {
            problems.push(format!("related.{kind} {got:?} has none of {values:?}"));
        }
    };
    let ips: Vec<&str> = non_empty_strings(&props, IP_FIELDS)
        .into_iter()
        .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
        .collect();
    related("ip", ips, &mut problems);
    related(
        "user",
        non_empty_strings(&props, USER_FIELDS),
        &mut problems,
    );
    related(
        "hash",
        non_empty_strings(&props, HASH_FIELDS),
        &mut problems,
    );
    problems
}

#[test]
fn samples_map_to_ecs_with_basic_fields() {
    let mapper = Mapper::new(Options {
        target: Target::Ecs,
        ecs_integration: EcsIntegration::M365,
        ..Options::default()
    });
    let files = samples();
    assert!(!files.is_empty(), "no samples found");
    let mut failed = Vec::new();
    for file in &files {
        let name = file
            .strip_prefix(support::shared_dir())
            .unwrap_or(file)
            .display()
            .to_string();
        let text = fs::read_to_string(file).unwrap();
        let record: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut outs: Vec<Output> = Vec::new();
        mapper.map_text(&text, &mut |o: Output| outs.push(o));
        let problems: Vec<String> = match outs.as_slice() {
            [Output::Document(doc)] => check(&record, &doc.to_value()),
            [Output::Error(e)] => {
                vec![format!(
                    "error record: {}",
                    e.to_value()["error"]["message"]
                )]
            }
            other => vec![format!("want 1 document, got {}", other.len())],
        };
        println!(
            "{name}: {}",
            if problems.is_empty() { "ok" } else { "FAILED" }
        );
        for p in &problems {
            println!("  {p}");
        }
        if !problems.is_empty() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "samples with problems: {failed:#?}");
}

#[test]
fn samples_map_to_sentinel_rows_of_their_table() {
    let mapper = Mapper::new(Options {
        target: Target::Sentinel,
        ..Options::default()
    });
    for file in samples() {
        let text = fs::read_to_string(&file).unwrap();
        let record: Value = serde_json::from_str(&text).unwrap();
        let table = record["category"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("AdvancedHunting-")
            .to_string();
        let mut outs: Vec<Output> = Vec::new();
        mapper.map_text(&text, &mut |o: Output| outs.push(o));
        assert_eq!(outs.len(), 1, "{}", file.display());
        let row = &outs[0].to_value();
        assert!(!outs[0].is_error(), "{}: {row}", file.display());
        assert_eq!(row["Type"], Value::String(table), "{}", file.display());
        assert_eq!(row["TenantId"], record["tenantId"], "{}", file.display());
        assert!(
            row["TimeGenerated"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{}",
            file.display()
        );
        // Non-strict: every property arrives, under its own name (Timestamp became TimeGenerated).
        for key in record["properties"].as_object().unwrap().keys() {
            if key != "Timestamp" {
                assert!(
                    row.get(key).is_some() || record["properties"][key].is_null(),
                    "{}: {key} lost",
                    file.display()
                );
            }
        }
    }
}
