//! Sentinel rows: every row produced from the Elastic fixture inputs and the Sentinel samples has
//! only columns of its table (`Type`) and only values of each column's type.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use defender_bridge::{sentinel, Mapper, Options, Output, Target};
use serde_json::Value;

/// Inputs whose Sentinel rows are checked, relative to the shared folder.
const INPUTS: &[&str] = &[
    "fixtures/elastic/microsoft_defender_endpoint/log",
    "fixtures/elastic/microsoft_defender_endpoint/machine",
    "fixtures/elastic/microsoft_defender_endpoint/machine_action",
    "fixtures/elastic/microsoft_defender_endpoint/vulnerability",
    "fixtures/elastic/m365_defender/vulnerability",
    "fixtures/elastic/m365_defender/event",
    "fixtures/elastic/m365_defender/incident",
    "sentinel/samples/streaming-envelope-graph2otel",
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "log" || x == "json")
                && !p.to_string_lossy().ends_with("-expected.json")
        })
        .collect();
    v.sort();
    v
}

/// Checks every row mapped from `file`; returns (rows, problems).
pub fn check_file(file: &Path) -> (usize, Vec<String>) {
    // strict_schema: rows of standard tables carry only the table's columns (stream properties
    // newer than the embedded schema pass through without it, see src/kinds/stream/sentinel.rs).
    let mapper = Mapper::new(Options {
        target: Target::Sentinel,
        strict_schema: true,
        ..Options::default()
    });
    let mut rows = 0;
    let mut problems = Vec::new();
    let text = fs::read(file).unwrap();
    let mut splitter = defender_bridge::split::Splitter::default();
    let mut on_piece = |p: defender_bridge::split::Piece<'_>| {
        let line = p.pos.line;
        mapper.map_piece(p, &mut |o: Output| {
            rows += 1;
            let where_ = format!("{}:{line}", file.display());
            match (&o, o.to_value()) {
                (Output::Error(_), e) => {
                    problems.push(format!("{where_}: error record {}", e["ErrorMessage"]))
                }
                (Output::Document(_), Value::Object(row)) => {
                    let ty = row.get("Type").and_then(Value::as_str).unwrap_or("");
                    match sentinel::table(ty) {
                        // Streaming tables with no embedded schema (Email*, Identity*, …) pass
                        // their properties through; only TimeGenerated is required of them.
                        None if row.contains_key("TenantId") && !ty.is_empty() => {}
                        None => {
                            problems.push(format!("{where_}: Type {ty:?} is not a known table"))
                        }
                        Some(t) => problems.extend(
                            t.check_row(&row)
                                .into_iter()
                                .map(|p| format!("{where_}: {p}")),
                        ),
                    }
                    if !row.contains_key("TimeGenerated") {
                        problems.push(format!("{where_}: no TimeGenerated"));
                    }
                }
                (Output::Document(_), other) => {
                    problems.push(format!("{where_}: row is not an object: {other}"))
                }
            }
        });
    };
    splitter.feed(&text, &mut on_piece);
    splitter.finish(&mut on_piece);
    (rows, problems)
}

#[test]
fn sentinel_rows_match_table_schemas() {
    let shared = support::shared_dir();
    let mut all = Vec::new();
    for dir in INPUTS {
        for file in files(&shared.join(dir)) {
            let (rows, problems) = check_file(&file);
            println!(
                "{}: {rows} rows, {} problems",
                file.strip_prefix(&shared).unwrap().display(),
                problems.len()
            );
            assert!(rows > 0, "{}: no rows", file.display());
            all.extend(problems);
        }
    }
    for p in &all {
        println!("{p}");
    }
    assert!(all.is_empty(), "{} schema problems", all.len());
}

/// The embedded schemas equal Microsoft's reference in ../shared (regenerate with
/// `cargo xtask sentinel-tables`).
#[test]
fn embedded_tables_match_the_reference() {
    let path = support::shared_dir().join("sentinel/tables.json");
    let reference: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    let reference = reference["tables"].as_object().unwrap();
    for (name, cols) in reference {
        let table = sentinel::table(name).unwrap_or_else(|| panic!("{name} is not embedded"));
        let want: Vec<(String, String)> = cols
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let got: Vec<(String, String)> = table
            .columns
            .iter()
            .map(|(n, t)| (n.clone(), t.name().to_string()))
            .collect();
        assert_eq!(
            got, want,
            "{name}: embedded columns drifted; run `cargo xtask sentinel-tables`"
        );
    }
}
