//! Elastic conformance: every fixture pair under ../shared/fixtures/elastic that the core covers is
//! mapped and compared, document by document, with Elastic's expected output.
//!
//! Prints `N/M documents identical` per data stream and test file, and a field diff for each
//! difference. `CONFORMANCE_ONLY=microsoft_defender_endpoint/log` limits the run to some streams.

mod support;

use std::fs;
use std::path::Path;

use defender_bridge::{EcsIntegration, Mapper, Options, Output, Target};
use serde_json::Value;

/// The data streams the core maps, as `<integration>/<data stream>`.
const COVERED: &[&str] = &[
    "microsoft_defender_endpoint/log",
    "microsoft_defender_endpoint/machine",
    "microsoft_defender_endpoint/machine_action",
    "microsoft_defender_endpoint/vulnerability",
    "m365_defender/vulnerability",
    "m365_defender/event",
    "m365_defender/incident",
];

/// Options of a fixture: the tags of its expected documents and its `test-*-config.yml`.
struct FixtureConfig {
    tags: Vec<String>,
    dynamic: Vec<String>,
}

fn read_config(log: &Path, expected: &[Value]) -> FixtureConfig {
    let mut tags: Vec<String> = Vec::new();
    for doc in expected {
        for t in doc
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = t.as_str() {
                if !tags.iter().any(|x| x == t) {
                    tags.push(t.to_string());
                }
            }
        }
    }
    // test-foo.log -> test-foo-config.yml, else the folder's test-common-config.yml.
    let stem = log
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".log")
        .to_string();
    let dir = log.parent().unwrap();
    let yml = [
        dir.join(format!("{stem}-config.yml")),
        dir.join("test-common-config.yml"),
    ]
    .into_iter()
    .find(|p| p.is_file());
    let mut dynamic = Vec::new();
    if let Some(yml) = yml {
        let text = fs::read_to_string(yml).unwrap();
        let mut in_dynamic = false;
        for line in text.lines() {
            if !line.starts_with(' ') {
                in_dynamic = line.starts_with("dynamic_fields:");
                continue;
            }
            if in_dynamic {
                if let Some((k, _)) = line.trim().split_once(':') {
                    dynamic.push(k.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    FixtureConfig { tags, dynamic }
}

fn options_for(stream: &str, cfg: &FixtureConfig) -> Options {
    Options {
        target: Target::Ecs,
        ecs_integration: if stream.starts_with("m365_defender/") {
            EcsIntegration::M365
        } else {
            EcsIntegration::Mde
        },
        preserve_original_event: cfg.tags.iter().any(|t| t == "preserve_original_event"),
        preserve_duplicate_custom_fields: cfg
            .tags
            .iter()
            .any(|t| t == "preserve_duplicate_custom_fields"),
        geo: support::geo::lookup(),
        ..Options::default()
    }
}

/// Runs one fixture pair; returns (identical, total, report lines).
fn run_pair(stream: &str, log: &Path) -> (usize, usize, Vec<String>) {
    let expected_path = log.with_file_name(format!(
        "{}-expected.json",
        log.file_name().unwrap().to_string_lossy()
    ));
    let expected: Value = serde_json::from_slice(&fs::read(&expected_path).unwrap()).unwrap();
    let expected = expected["expected"]
        .as_array()
        .expect("expected array")
        .clone();
    let cfg = read_config(log, &expected);
    let mapper = Mapper::new(options_for(stream, &cfg));
    let input = fs::read_to_string(log).unwrap();
    let lines: Vec<&str> = input.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        expected.len(),
        "{}: input lines vs expected entries",
        log.display()
    );

    let mut same = 0;
    let mut report = Vec::new();
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let mut got: Vec<Output> = Vec::new();
        mapper.map_text(line, &mut |o: Output| got.push(o));
        let problems: Vec<String> = match (want, got.as_slice()) {
            (Value::Null, []) => vec![],
            (Value::Null, docs) => vec![format!("  want no document, got {}", docs.len())],
            (want, [Output::Document(doc)]) => support::diff(&doc.to_value(), want, &cfg.dynamic),
            (_, [Output::Error(e)]) => {
                vec![format!(
                    "  error record: {}",
                    e.to_value()["error"]["message"]
                )]
            }
            (_, docs) => vec![format!("  want 1 document, got {}", docs.len())],
        };
        if problems.is_empty() {
            same += 1;
        } else {
            report.push(format!(
                "{stream} {} entry {i}:",
                log.file_name().unwrap().to_string_lossy()
            ));
            report.extend(problems);
        }
    }
    (same, expected.len(), report)
}

#[test]
fn elastic_fixtures_conform() {
    let root = support::shared_dir().join("fixtures/elastic");
    let only = std::env::var("CONFORMANCE_ONLY").ok();
    let mut failures = Vec::new();
    let mut pairs = 0;
    for stream in COVERED {
        if let Some(only) = &only {
            if !only.split(',').any(|o| stream.starts_with(o.trim())) {
                continue;
            }
        }
        let dir = root.join(stream);
        let mut logs: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        assert!(!logs.is_empty(), "no fixture pairs in {}", dir.display());
        for log in logs {
            // CONFORMANCE_FILE=test-device runs only the fixture files whose name contains it.
            if let Ok(file) = std::env::var("CONFORMANCE_FILE") {
                if !log
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .contains(file.as_str())
                {
                    continue;
                }
            }
            pairs += 1;
            let (same, total, report) = run_pair(stream, &log);
            println!(
                "{stream} {}: {same}/{total} documents identical",
                log.file_name().unwrap().to_string_lossy()
            );
            for line in &report {
                println!("{line}");
            }
            if same != total {
                failures.push(format!("{stream} {}", log.display()));
            }
        }
    }
    assert!(pairs > 0, "no fixture pair matched CONFORMANCE_ONLY");
    assert!(failures.is_empty(), "documents differ in: {failures:#?}");
}
