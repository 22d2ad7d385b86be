//! `defender-bridge schema`: runs the built binary.

use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_defender-bridge"))
        .arg("schema")
        .args(args)
        .output()
        .expect("the defender-bridge binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn dcr_stream_declaration() {
    let o = run(&["--sentinel", "SecurityIncident"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON on stdout");
    let cols = v["Custom-SecurityIncident"]["columns"]
        .as_array()
        .expect("columns");
    // 31 columns less the ones Log Analytics fills itself (TenantId, Type).
    assert_eq!(cols.len(), 29);
    assert!(cols
        .iter()
        .all(|c| c["name"] != "Type" && c["name"] != "TenantId"));
    let ty = |n: &str| {
        cols.iter()
            .find(|c| c["name"] == n)
            .map(|c| c["type"].clone())
    };
    assert_eq!(ty("TimeGenerated"), Some("datetime".into()));
    assert_eq!(ty("Owner"), Some("dynamic".into()));
    assert_eq!(ty("IncidentNumber"), Some("int".into()));
    // DCRs have no guid or bool type names.
    for c in cols {
        let t = c["type"].as_str().unwrap();
        assert!(
            ["string", "int", "long", "real", "boolean", "datetime", "dynamic"].contains(&t),
            "{c}"
        );
    }
}

#[test]
fn kql_and_datatable() {
    let o = run(&["--sentinel", "DeviceInfo", "--format", "kql"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.starts_with(".create table DeviceInfo ("), "{text}");
    assert!(text.contains("ReportId:long"), "{text}");
    let o = run(&["--sentinel", "DeviceInfo", "--format", "datatable"]);
    assert!(stdout(&o).trim_end().ends_with(")[]"));
}

#[test]
fn list_has_standard_tables() {
    let o = run(&["--list"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.lines()
            .any(|l| l.starts_with("SecurityAlert\tstandard\t")),
        "{text}"
    );
    assert!(text.lines().count() >= 14);
}

#[test]
fn unknown_table_suggests_and_exits_2() {
    let o = run(&["--sentinel", "SecurityAlerts"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown Sentinel table \"SecurityAlerts\""),
        "{err}"
    );
    assert!(err.contains("did you mean SecurityAlert"), "{err}");
}
