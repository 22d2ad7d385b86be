//! Streaming-API (advanced hunting) record -> row of the Log Analytics table it came from.
//!
//! | source                          | target          | rule                                          |
//! |---------------------------------|-----------------|-----------------------------------------------|
//! | `category` `AdvancedHunting-X`  | `Type`          | `X` (the table name)                          |
//! | `properties.Timestamp`          | `TimeGenerated` | ISO-8601 UTC; else the envelope `time`        |
//! | `tenantId`                      | `TenantId`      | as is                                         |
//! | `properties.<Col>`              | `<Col>`         | coerced to the column's type (table schema)   |
//! | `properties.<other>`            | `<other>`       | JSON type kept; dropped with `strict_schema`  |
//! | `properties.<any>: null`        | (none)          | null properties are left out                  |
//!
//! Tables with no embedded schema (Email*, Identity*, Cloud*, …) get their properties as they
//! arrive: there is no column type to coerce to, and guessing would change values silently.
//! `Timestamp` becomes `TimeGenerated` and is not a column of its own when the table has a
//! schema without a `Timestamp` column (Microsoft's Defender XDR connector does the same).

use std::borrow::Cow;

use crate::doc::join;
use crate::sentinel::{self, ColumnType, Table};
use crate::tree::{Node, Obj};
use crate::{MapError, Options};

const CATEGORY_PREFIX: &str = "AdvancedHunting-";

/// Maps a record it owns: the properties object becomes the row in place, its names and values
/// (borrowed from the input where they have no escapes) moved, not copied.
pub(crate) fn to_sentinel<'a>(
    mut rec: Obj<'a>,
    opts: &Options,
    out: &mut Vec<Node<'a>>,
) -> Result<(), MapError> {
    let category = rec
        .get("category")
        .and_then(Node::as_cow)
        .ok_or_else(|| MapError::field("category", "missing or not a string"))?;
    let table_name = strip_prefix(category);
    if table_name.is_empty() {
        return Err(MapError::field(
            "category",
            format!(
                "no table name in {:?}",
                rec["category"].as_str().unwrap_or("")
            ),
        ));
    }
    let mut row = match rec.get_mut("properties") {
        // Taken, not removed: the rest of the envelope is read below and then dropped whole.
        Some(Node::Object(props)) => std::mem::take(props),
        Some(_) => return Err(MapError::field("properties", "expected an object")),
        None => return Err(MapError::field("properties", "missing")),
    };
    let schema = sentinel::table(&table_name);
    let time = time_generated(&rec, &row)?;

    let mut failed = None;
    row.retain(|name, value| {
        if failed.is_some() {
            return false;
        }
        match column(schema, name, value, opts.strict_schema) {
            // An absent column and a null one read the same in Log Analytics; nulls only cost bytes.
            Ok(keep) => keep && !value.is_null(),
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    // `column` dropped any property of these names, so they are new members.
    row.push("TimeGenerated", time);
    if let Some(tenant) = rec.get_mut("tenantId").filter(|v| !v.is_null()) {
        if !tenant.is_string() {
            return Err(MapError::field("tenantId", "expected a string"));
        }
        row.push("TenantId", tenant.take());
    }
    row.push("Type", table_name);
    out.push(Node::Object(row));
    Ok(())
}

/// The table name: the category without its prefix, keeping the borrow of the input.
fn strip_prefix(category: Cow<'_, str>) -> Cow<'_, str> {
    match category {
        Cow::Borrowed(c) => Cow::Borrowed(c.strip_prefix(CATEGORY_PREFIX).unwrap_or(c)),
        Cow::Owned(c) => match c.strip_prefix(CATEGORY_PREFIX) {
            Some(t) => Cow::Owned(t.to_string()),
            None => Cow::Owned(c),
        },
    }
}

/// `properties.Timestamp`, else the envelope's `time`, as ISO-8601 UTC (a value already in that
/// form is kept as it is, borrowed).
fn time_generated<'a>(rec: &Obj<'a>, props: &Obj<'a>) -> Result<Node<'a>, MapError> {
    for (path, v) in [
        ("properties.Timestamp", props.get("Timestamp")),
        ("time", rec.get("time")),
    ] {
        match v {
            None | Some(Node::Null) => continue,
            Some(Node::Str(s)) if s.is_empty() => continue,
            Some(v @ Node::Str(s)) => {
                return sentinel::coerce_node(v, ColumnType::Datetime)
                    .map_err(|_| MapError::field(path, format!("not a timestamp: {s:?}")))
            }
            Some(other) => {
                return Err(MapError::field(
                    path,
                    format!("not a timestamp: {}", other.to_json_string()),
                ))
            }
        }
    }
    Err(MapError::field(
        "properties.Timestamp",
        "missing, and no envelope time either",
    ))
}

/// Whether one property stays as a column, its value converted to the column's type in place.
fn column(
    schema: Option<&Table>,
    name: &str,
    value: &mut Node<'_>,
    strict: bool,
) -> Result<bool, MapError> {
    // The envelope decides these; a property of the same name must not override them.
    if matches!(name, "TimeGenerated" | "TenantId" | "Type") {
        return Ok(false);
    }
    let Some(table) = schema else {
        return Ok(true);
    };
    match table.column(name) {
        Some(t) => {
            convert_in_place(value, t).map_err(|e| MapError::field(join("properties", name), e))?;
            Ok(true)
        }
        // Timestamp already became TimeGenerated.
        None if name == "Timestamp" => Ok(false),
        None => Ok(!strict),
    }
}

/// [`convert`] in place: where `sentinel::coerce_node` would return the value unchanged (a copy
/// of it), nothing is done.
fn convert_in_place(value: &mut Node<'_>, t: ColumnType) -> Result<(), String> {
    let unchanged = match (t, &*value) {
        (_, Node::Null) => true,
        (ColumnType::String | ColumnType::Guid, Node::Str(_)) => true,
        (ColumnType::Bool, Node::Bool(_)) => true,
        (ColumnType::Long, Node::UInt(_) | Node::Int(_)) => true,
        (ColumnType::Real, v) => v.is_number(),
        (ColumnType::Dynamic, Node::Str(s)) => {
            let trimmed = s.trim_start();
            !(s.is_empty() || trimmed.starts_with('{') || trimmed.starts_with('['))
        }
        (ColumnType::Dynamic, _) => true,
        _ => false,
    };
    if !unchanged {
        *value = convert(value, t)?;
    }
    Ok(())
}

/// `sentinel::coerce_node`, plus: a whole number sent as a float (`5.0`) fits long/int columns.
fn convert<'a>(value: &Node<'a>, t: ColumnType) -> Result<Node<'a>, String> {
    if let (ColumnType::Long | ColumnType::Int, Node::Float(f)) = (t, value) {
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            return sentinel::coerce_node(&Node::from(*f as i64), t);
        }
    }
    sentinel::coerce_node(value, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;
    use serde_json::{json, Map, Value};

    fn row(record: Value, strict: bool) -> Result<Map<String, Value>, MapError> {
        let opts = Options {
            strict_schema: strict,
            ..Options::default()
        };
        let Node::Object(rec) = Node::from_value(record) else {
            panic!("test records are objects")
        };
        let mut out = Vec::new();
        to_sentinel(rec, &opts, &mut out)?;
        assert_eq!(out.len(), 1);
        Ok(out
            .remove(0)
            .into_value()
            .as_object()
            .cloned()
            .unwrap_or_default())
    }

    fn device_info() -> Value {
        json!({
            "time": "2026-07-18T14:08:10.0236840Z",
            "tenantId": "4b8c18bd-2f9f-4227-af55-9f1061cf9c32",
            "category": "AdvancedHunting-DeviceInfo",
            "properties": {
                "DeviceName": "mbp14",
                "ReportId": 639199803770463703u64,
                "LoggedOnUsers": "[{\"UserName\":\"rob\"}]",
                "IsAzureADJoined": "false",
                "OSBuild": "22631",
                "HardwareUuid": "d8a332db",
                "OSDistribution": null,
                "MergedDeviceIds": "",
                "Timestamp": "2026-07-18T16:05:55.510513+02:00"
            }
        })
    }

    #[test]
    fn columns_get_their_schema_types() {
        let r = row(device_info(), false).unwrap();
        assert_eq!(r["Type"], "DeviceInfo");
        assert_eq!(r["TenantId"], "4b8c18bd-2f9f-4227-af55-9f1061cf9c32");
        assert_eq!(r["TimeGenerated"], "2026-07-18T14:05:55.510513Z");
        // Above 2^53 and still exact.
        assert_eq!(r["ReportId"].as_u64(), Some(639199803770463703));
        assert_eq!(r["LoggedOnUsers"], json!([{"UserName": "rob"}]));
        assert_eq!(r["IsAzureADJoined"], json!(false));
        assert_eq!(r["OSBuild"], json!(22631));
        assert!(!r.contains_key("Timestamp"));
        assert!(!r.contains_key("OSDistribution"));
        assert_eq!(r["MergedDeviceIds"], "");
        let problems = sentinel::table("DeviceInfo").unwrap().check_row(&{
            let mut r = r.clone();
            r.remove("HardwareUuid");
            r
        });
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn unknown_properties_pass_or_drop_with_strict() {
        let loose = row(device_info(), false).unwrap();
        assert_eq!(loose["HardwareUuid"], "d8a332db");
        let strict = row(device_info(), true).unwrap();
        assert!(!strict.contains_key("HardwareUuid"));
        assert!(sentinel::table("DeviceInfo")
            .unwrap()
            .check_row(&strict)
            .is_empty());
    }

    #[test]
    fn tables_without_schema_pass_properties_through() {
        let r = row(
            json!({"time": "2022-11-22T06:21:48.0672868Z", "tenantId": "t",
                   "category": "AdvancedHunting-EmailEvents",
                   "properties": {"AttachmentCount": "4", "AuthenticationDetails": "{\"DKIM\":\"none\"}"}}),
            true,
        )
        .unwrap();
        assert_eq!(r["Type"], "EmailEvents");
        assert_eq!(r["TimeGenerated"], "2022-11-22T06:21:48.0672868Z");
        assert_eq!(r["AttachmentCount"], "4");
        assert_eq!(r["AuthenticationDetails"], "{\"DKIM\":\"none\"}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut rec = device_info();
        rec["properties"]["ReportId"] = json!("not a number");
        let err = row(rec, false).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("properties.ReportId"));

        let mut rec = device_info();
        rec["properties"]["Timestamp"] = json!("yesterday");
        assert_eq!(
            row(rec, false).unwrap_err().path.as_deref(),
            Some("properties.Timestamp")
        );

        let err = row(
            json!({"category": "AdvancedHunting-DeviceInfo", "properties": 3}),
            false,
        );
        assert_eq!(err.unwrap_err().path.as_deref(), Some("properties"));
    }

    #[test]
    fn envelope_time_when_no_timestamp() {
        let mut rec = device_info();
        rec["properties"]
            .as_object_mut()
            .unwrap()
            .remove("Timestamp");
        assert_eq!(
            row(rec, false).unwrap()["TimeGenerated"],
            "2026-07-18T14:08:10.0236840Z"
        );
    }
}
