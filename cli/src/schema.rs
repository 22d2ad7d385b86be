//! `defender-bridge schema`: the column schema of a Sentinel / Log Analytics table, as a Data
//! Collection Rule stream declaration (`--format dcr`) or a KQL declaration (`--format kql`:
//! `.create table`; `--format datatable`: `datatable(…)[]`). `--list` lists every table.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use defender_bridge::sentinel::{self, ColumnType, Table};
use serde_json::{json, Value};

#[derive(Args, Debug, Clone)]
pub struct SchemaArgs {
    /// The table (`SecurityAlert`, `DeviceProcessEvents`, a custom `…_CL` table).
    #[arg(long, value_name = "TABLE", required_unless_present = "list")]
    pub sentinel: Option<String>,
    /// Output: `dcr` (stream declaration JSON), `kql` (`.create table`), `datatable`.
    #[arg(long, value_enum, default_value = "dcr")]
    pub format: Format,
    /// List every known table (standard and custom) with its column count.
    #[arg(long, conflicts_with = "sentinel")]
    pub list: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Dcr,
    Kql,
    Datatable,
}

/// Column type as a DCR stream declaration names it (DCRs have no `guid`; `bool` is `boolean`).
fn dcr_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::String | ColumnType::Guid => "string",
        ColumnType::Bool => "boolean",
        other => other.name(),
    }
}

/// Columns Log Analytics fills itself: a DCR stream or a `.create table` may not declare them.
const RESERVED: &[&str] = &["Type", "TenantId", "_ResourceId", "_SubscriptionId"];

fn declared(table: &Table) -> impl Iterator<Item = &(String, ColumnType)> {
    table
        .columns
        .iter()
        .filter(|(n, _)| !RESERVED.contains(&n.as_str()))
}

pub fn dcr(table: &Table) -> Value {
    let columns: Vec<Value> = declared(table)
        .map(|(name, t)| json!({ "name": name, "type": dcr_type(*t) }))
        .collect();
    json!({ format!("Custom-{}", table.name): { "columns": columns } })
}

fn kql_columns<'a>(cols: impl Iterator<Item = &'a (String, ColumnType)>) -> String {
    let cols: Vec<String> = cols.map(|(n, t)| format!("{n}:{}", t.name())).collect();
    cols.join(", ")
}

pub fn kql(table: &Table) -> String {
    format!(
        ".create table {} ({})",
        table.name,
        kql_columns(declared(table))
    )
}

pub fn datatable(table: &Table) -> String {
    // A query-time datatable may hold every column, `Type` included.
    format!("datatable({})[]", kql_columns(table.columns.iter()))
}

/// Levenshtein distance, case-insensitive, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Known tables close to `name`: same name in another case, a substring either way, or a few
/// edits away.
pub fn close_names(name: &str) -> Vec<&'static str> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(usize, &'static str)> = sentinel::tables()
        .iter()
        .filter_map(|t| {
            let tl = t.name.to_lowercase();
            let d = distance(name, &t.name);
            let close =
                d <= 3 || (lower.len() >= 4 && (tl.contains(&lower) || lower.contains(&tl)));
            close.then_some((d, t.name.as_str()))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

pub fn run(args: SchemaArgs) -> Result<ExitCode, String> {
    let mut out = io::stdout().lock();
    let write_err = |e: io::Error| format!("writing to stdout: {e}");
    if args.list {
        for t in sentinel::tables() {
            let kind = if t.name.ends_with("_CL") {
                "custom"
            } else {
                "standard"
            };
            writeln!(out, "{}\t{}\t{} columns", t.name, kind, t.columns.len())
                .map_err(write_err)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.sentinel.unwrap_or_default();
    let Some(table) = sentinel::table(&name) else {
        let close = close_names(&name);
        let hint = if close.is_empty() {
            "run `defender-bridge schema --list` for the known tables".to_string()
        } else {
            format!("did you mean {}?", close.join(", "))
        };
        return Err(format!("unknown Sentinel table {name:?}; {hint}"));
    };
    let text = match args.format {
        Format::Dcr => serde_json::to_string_pretty(&dcr(table)).map_err(|e| e.to_string())?,
        Format::Kql => kql(table),
        Format::Datatable => datatable(table),
    };
    writeln!(out, "{text}").map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcr_types_and_names() {
        let t = sentinel::table("SecurityIncident").expect("SecurityIncident");
        let v = dcr(t);
        let cols = v["Custom-SecurityIncident"]["columns"].as_array().unwrap();
        assert!(
            cols.iter()
                .all(|c| c["name"] != "Type" && c["name"] != "TenantId"),
            "reserved columns declared"
        );
        assert!(cols.contains(&json!({"name": "AlertIds", "type": "dynamic"})));
        assert!(cols.contains(&json!({"name": "IncidentNumber", "type": "int"})));
        let alert = dcr(sentinel::table("SecurityAlert").unwrap());
        let cols = alert["Custom-SecurityAlert"]["columns"].as_array().unwrap();
        assert!(cols.contains(&json!({"name": "IsIncident", "type": "boolean"})));
    }

    #[test]
    fn kql_declarations() {
        let t = sentinel::table("AlertInfo").unwrap();
        assert!(kql(t).starts_with(".create table AlertInfo (AlertId:string, "));
        assert!(datatable(t).ends_with("Type:string)[]"));
    }

    #[test]
    fn close_names_suggest() {
        assert_eq!(close_names("securityalert").first(), Some(&"SecurityAlert"));
        assert!(close_names("DeviceProcess").contains(&"DeviceProcessEvents"));
        assert!(close_names("zzzzzzzzzzzzzzzzz").is_empty());
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
