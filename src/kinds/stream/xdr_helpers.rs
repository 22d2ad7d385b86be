//! Processor helpers that the non-Device families (alert, behavior, email, message, identity,
//! app, cloud) share and that `common` does not have yet: Elastic's `set copy_from`, `convert`
//! to long / ip, the `isTruthy` script, the `json` processor on a string column, the
//! Windows-like command-line split, `uri_parts`, `user_agent` and `geoip`. Candidates to merge
//! into `common`.

use serde_json::{Map, Value};

use super::common::{mustache, prop, put};
// `long_decode` is re-exported for the Device columns until this module goes (issue 7).
pub(crate) use super::processors::long_decode;
use super::processors::{
    action_name, browser, command_line_to_argv, device, operating_system, parse_url,
};
use crate::doc::Doc;
use crate::Options;

/// Null or `""`: what `ignore_empty_value` skips.
pub(crate) fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("")
}

/// `set: {field: to, copy_from: from, ignore_empty_value: true}`.
pub(crate) fn copy(doc: &mut Doc, from: &str, to: &str) {
    if let Some(v) = doc.get(from).filter(|v| !is_blank(v)).cloned() {
        doc.set(to, v);
    }
}

/// Elastic's `append` to `field` (no duplicates) of the field at `from` rendered as mustache
/// does; nothing when it is missing.
pub(crate) fn related_from(doc: &mut Doc, field: &str, from: &str) {
    if let Some(s) = doc.get(from).and_then(mustache) {
        doc.append(field, s);
    }
}

/// `lowercase` in place (`ignore_missing`); non-strings are left alone.
pub(crate) fn lowercase(doc: &mut Doc, path: &str) {
    // Setting a string that is already lowercase changes nothing.
    let lower = doc
        .get_str(path)
        .filter(|s| !s.is_ascii() || s.bytes().any(|b| b.is_ascii_uppercase()))
        .map(str::to_lowercase);
    if let Some(s) = lower {
        doc.set(path, s);
    }
}

/// `event.action` from `m365_defender.event.action.type`: lowercased, spaces to dashes.
pub(crate) fn event_action(doc: &mut Doc) {
    let action = match doc.get("m365_defender.event.action.type") {
        Some(Value::String(s)) if !s.is_empty() => Some(Value::String(action_name(s))),
        Some(v) if !is_blank(v) => Some(v.clone()),
        // Nothing copied: an `event.action` already there is still rewritten.
        _ => doc
            .get_str("event.action")
            .map(|s| Value::String(action_name(s))),
    };
    doc.set_some("event.action", action);
}

/// `json` on a string column (when a non-empty string), then `rename` to `to`. A string that
/// is not JSON stays a string and, as in Elastic, an `error.message` is appended.
pub(crate) fn json_rename(doc: &mut Doc, props: &Map<String, Value>, from: &str, to: &str) {
    match prop(props, from) {
        Some(Value::String(s)) if !s.is_empty() => match serde_json::from_str::<Value>(s) {
            Ok(v) => put(doc, to, v),
            Err(e) => {
                doc.append("error.message", format!("{from}: not valid JSON: {e}"));
                put(doc, to, Value::String(s.clone()));
            }
        },
        Some(other) => put(doc, to, other.clone()),
        None => {}
    }
}

/// `convert: {type: long, ignore_missing: true}` guarded by `if: != ''`; failures append
/// Elastic's message to `error.message` and leave `to` unset.
pub(crate) fn convert_long(doc: &mut Doc, props: &Map<String, Value>, from: &str, to: &str) {
    let Some(v) = prop(props, from).filter(|v| v.as_str() != Some("")) else {
        return;
    };
    match to_long(v) {
        Some(n) => put(doc, to, Value::from(n)),
        None => doc.append(
            "error.message",
            format!("unable to convert [{}] to long", render(v)),
        ),
    }
}

/// `convert: {type: ip}` guarded by `if: != ''`: the value stays a string when it is an IP.
pub(crate) fn convert_ip(doc: &mut Doc, props: &Map<String, Value>, from: &str, to: &str) {
    let Some(v) = prop(props, from).filter(|v| v.as_str() != Some("")) else {
        return;
    };
    match v.as_str().filter(|s| s.parse::<std::net::IpAddr>().is_ok()) {
        Some(ip) => put(doc, to, Value::String(ip.to_string())),
        None => doc.append(
            "error.message",
            format!("'{}' is not an IP string literal.", render(v)),
        ),
    }
}

fn render(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Java's `Long.decode(value.toString())`: decimal, `0x`/`#` hex, leading-zero octal.
fn to_long(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => long_decode(s),
        _ => None,
    }
}

/// The pipelines' `isTruthy` script: booleans, the integers 1/0 and the strings
/// `"1"`/`"true"`/`"0"`/`"false"`; anything else is null.
pub(crate) fn truthy(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        // Jackson reads small integers as Integer; larger ones are Long, which the script
        // does not recognise.
        Value::Number(n) => match n.as_i64().filter(|i| i32::try_from(*i).is_ok()) {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `target = isTruthy(json.properties.<from>)` for a table of `(property, target)` pairs.
pub(crate) fn truthies(doc: &mut Doc, props: &Map<String, Value>, table: &[(&str, &str)]) {
    for (from, to) in table {
        if let Some(b) = truthy(props.get(*from)) {
            put(doc, to, Value::Bool(b));
        }
    }
}

/// `convert` to long for a table of `(property, target)` pairs.
pub(crate) fn longs(doc: &mut Doc, props: &Map<String, Value>, table: &[(&str, &str)]) {
    for (from, to) in table {
        convert_long(doc, props, from, to);
    }
}

/// `process.args`, `args_count` and `executable` from `process.command_line`, split the way
/// Windows does (Elastic's `split-command-line` script, a port of Go's `commandLineToArgv`).
pub(crate) fn split_command_line_into_process(doc: &mut Doc) {
    let Some(cmd) = doc
        .get_str("process.command_line")
        .filter(|c| !c.is_empty())
    else {
        return;
    };
    let args = command_line_to_argv(cmd);
    doc.set("process.args_count", args.len());
    if let Some(first) = args.first() {
        doc.set("process.executable", first.clone());
    }
    doc.set("process.args", args);
}

/// Elastic's `uri_parts` on the URL at `from` into `url.*`; on a URL it cannot parse only
/// `url.original` is set (the pipelines' `on_failure`).
pub(crate) fn uri_parts(doc: &mut Doc, from: &str) {
    let Some(raw) = doc.get(from).filter(|v| !v.is_null()).cloned() else {
        return;
    };
    let Some(s) = raw.as_str() else {
        doc.set("url.original", raw);
        return;
    };
    doc.set("url.original", s);
    let Some(parts) = parse_url(s) else {
        return;
    };
    doc.set("url.scheme", parts.scheme);
    doc.set("url.domain", parts.host);
    if let Some(p) = parts.port {
        doc.set("url.port", p);
    }
    doc.set("url.path", parts.path);
    if let Some((_, ext)) = parts.path.rsplit_once('.') {
        doc.set("url.extension", ext);
    }
    if let Some(q) = parts.query {
        doc.set("url.query", q);
    }
    if let Some(f) = parts.fragment {
        doc.set("url.fragment", f);
    }
    if let Some(ui) = parts.user_info {
        doc.set("url.user_info", ui);
        match ui.split_once(':') {
            Some((u, p)) => {
                doc.set("url.username", u);
                doc.set("url.password", p);
            }
            None => doc.set("url.username", ui),
        }
    }
}

/// Elastic's `geoip` (city database) of the IP at `from` into `to` (`client.geo`, …), through
/// the lookup the shell passes in; nothing without one.
pub(crate) fn geoip(opts: &Options, doc: &mut Doc, from: &str, to: &str) {
    let (Some(geo), Some(ip)) = (opts.geo.as_ref(), doc.get_str(from)) else {
        return;
    };
    if let Some(city) = geo.city(ip) {
        if !city.is_empty() {
            doc.set(to, Value::Object(city));
        }
    }
}

/// Elastic's `user_agent` processor (ua-parser's regexes) for the common browsers and
/// systems: `user_agent.{original,name,version,os.{name,version,full},device.name}`.
/// Agents it does not know get Elastic's `Other`.
pub(crate) fn user_agent(doc: &mut Doc, from: &str) {
    let Some(ua) = doc
        .get_str(from)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
    else {
        return;
    };
    doc.set("user_agent.original", ua.as_str());
    let (name, version) = browser(&ua);
    doc.set("user_agent.name", name);
    if let Some(v) = version {
        doc.set("user_agent.version", v);
    }
    let (os, os_version) = operating_system(&ua);
    doc.set("user_agent.os.name", os);
    if let Some(v) = os_version {
        doc.set("user_agent.os.full", format!("{os} {v}"));
        doc.set("user_agent.os.version", v);
    }
    doc.set("user_agent.device.name", device(&ua));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn converts_follow_java() {
        let p =
            props(json!({"a": "0x10", "b": "12x", "c": 7, "d": "", "ip": "::1", "bad": "1.2.3"}));
        let mut d = Doc::new();
        convert_long(&mut d, &p, "a", "a");
        convert_long(&mut d, &p, "b", "b");
        convert_long(&mut d, &p, "c", "c");
        convert_long(&mut d, &p, "d", "d");
        convert_ip(&mut d, &p, "ip", "ip");
        convert_ip(&mut d, &p, "bad", "bad");
        assert_eq!(d.get("a"), Some(&json!(16)));
        assert_eq!(d.get("c"), Some(&json!(7)));
        assert!(d.get("b").is_none() && d.get("d").is_none() && d.get("bad").is_none());
        assert_eq!(d.get("ip"), Some(&json!("::1")));
        assert_eq!(
            d.get("error.message")
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn truthy_knows_only_its_values() {
        assert_eq!(truthy(Some(&json!("0"))), Some(false));
        assert_eq!(truthy(Some(&json!(1))), Some(true));
        assert_eq!(truthy(Some(&json!(5_000_000_000_i64))), None);
        assert_eq!(truthy(Some(&json!("yes"))), None);
    }

    #[test]
    fn command_line_splits_like_windows() {
        assert_eq!(
            command_line_to_argv(r#""InstallUtil.exe" /u "C:\Program Files (x86)\x.exe""#),
            ["InstallUtil.exe", "/u", r"C:\Program Files (x86)\x.exe"]
        );
        assert_eq!(
            command_line_to_argv(r#"a\\\"b "c""d""#),
            [r#"a\"b"#, r#"c"d"#]
        );
    }

    #[test]
    fn uri_parts_of_a_full_url() {
        let mut d = Doc::new();
        d.set("u", "http://me:pw@www.example.com:80/foo.gif?k=v#frag");
        uri_parts(&mut d, "u");
        assert_eq!(d.get("url.port"), Some(&json!(80)));
        assert_eq!(d.get_str("url.extension"), Some("gif"));
        assert_eq!(d.get_str("url.password"), Some("pw"));
        assert_eq!(d.get_str("url.fragment"), Some("frag"));
        let mut bad = Doc::new();
        bad.set("u", "not a url");
        uri_parts(&mut bad, "u");
        assert_eq!(bad.get_str("url.original"), Some("not a url"));
        assert!(bad.get("url.domain").is_none());
    }

    #[test]
    fn user_agent_chrome_on_windows() {
        let mut d = Doc::new();
        d.set("ua", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36");
        user_agent(&mut d, "ua");
        assert_eq!(d.get_str("user_agent.name"), Some("Chrome"));
        assert_eq!(d.get_str("user_agent.version"), Some("91.0.4472.124"));
        assert_eq!(d.get_str("user_agent.os.full"), Some("Windows 10"));
        assert_eq!(d.get_str("user_agent.device.name"), Some("Other"));
    }
}
