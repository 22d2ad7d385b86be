//! Processor helpers that the non-Device families (alert, behavior, email, message, identity,
//! app, cloud) share and that `common` does not have yet: Elastic's `set copy_from`, `convert`
//! to long / ip, the `isTruthy` script, the `json` processor on a string column, the
//! Windows-like command-line split, `uri_parts`, `user_agent` and `geoip`. Candidates to merge
//! into `common`.

use serde_json::{Map, Value};

use super::common::{mustache, prop, put};
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

fn action_name(s: &str) -> String {
    let lower = s.to_lowercase();
    if lower.contains(' ') {
        lower.replace(' ', "-")
    } else {
        lower
    }
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

/// Java's `Long.decode` of a string.
pub(crate) fn long_decode(s: &str) -> Option<i64> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (digits, radix) =
        if let Some(h) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            (h, 16)
        } else if let Some(h) = rest.strip_prefix('#') {
            (h, 16)
        } else if rest.len() > 1 && rest.starts_with('0') {
            (&rest[1..], 8)
        } else {
            (rest, 10)
        };
    if digits.is_empty() || digits.starts_with(['-', '+']) {
        return None;
    }
    let n = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -n } else { n })
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

/// Windows `CommandLineToArgvW` rules, "prior to 2008" handling of doubled quotes.
pub(crate) fn command_line_to_argv(cmd: &str) -> Vec<String> {
    let chars: Vec<char> = cmd.chars().collect();
    let mut args = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' || chars[i] == '\t' {
            i += 1;
            continue;
        }
        let mut arg = String::new();
        let mut in_quote = false;
        let mut slashes = 0usize;
        while i < chars.len() {
            let c = chars[i];
            if (c == ' ' || c == '\t') && !in_quote {
                break;
            }
            if c == '"' {
                arg.extend(std::iter::repeat('\\').take(slashes / 2));
                if slashes % 2 == 0 {
                    if in_quote && chars.get(i + 1) == Some(&'"') {
                        arg.push('"');
                        i += 1;
                    }
                    in_quote = !in_quote;
                } else {
                    arg.push('"');
                }
                slashes = 0;
            } else if c == '\\' {
                slashes += 1;
            } else {
                arg.extend(std::iter::repeat('\\').take(slashes));
                slashes = 0;
                arg.push(c);
            }
            i += 1;
        }
        arg.extend(std::iter::repeat('\\').take(slashes));
        args.push(arg);
        // The separator after an argument is consumed with it.
        i += 1;
    }
    args
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

struct UrlParts<'a> {
    scheme: &'a str,
    user_info: Option<&'a str>,
    host: &'a str,
    port: Option<u16>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

/// An absolute hierarchical URL (`scheme://[user@]host[:port][/path][?query][#fragment]`).
fn parse_url(s: &str) -> Option<UrlParts<'_>> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = s.split_once("://")?;
    let mut sc = scheme.chars();
    if !sc.next()?.is_ascii_alphabetic()
        || !sc.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || host_port.starts_with('[') => {
            if p.is_empty() {
                (h, None)
            } else {
                (h, Some(p.parse::<u16>().ok()?))
            }
        }
        _ => (host_port, None),
    };
    if host.is_empty() {
        return None;
    }
    Some(UrlParts {
        scheme,
        user_info,
        host,
        port,
        path,
        query,
        fragment,
    })
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

/// The dotted version after `token` (`Chrome/91.0.4472.124` -> `91.0.4472.124`), at most
/// four numeric parts as ua-parser keeps them.
fn version_after(ua: &str, token: &str) -> Option<String> {
    let start = ua.find(token)? + token.len();
    let v: String = ua[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '_')
        .collect();
    let parts: Vec<&str> = v
        .split(['.', '_'])
        .filter(|p| !p.is_empty())
        .take(4)
        .collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

fn browser(ua: &str) -> (&'static str, Option<String>) {
    const RULES: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("Edge/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Chrome Mobile iOS"),
    ];
    for (token, name) in RULES {
        if ua.contains(token) {
            return (name, version_after(ua, token));
        }
    }
    if ua.contains("Chrome/") {
        let name = if ua.contains("Android") && ua.contains("Mobile") {
            "Chrome Mobile"
        } else {
            "Chrome"
        };
        return (name, version_after(ua, "Chrome/"));
    }
    if ua.contains("Safari/") && ua.contains("Version/") {
        let name = if ua.contains("Mobile") {
            "Mobile Safari"
        } else {
            "Safari"
        };
        return (name, version_after(ua, "Version/"));
    }
    if ua.contains("MSIE ") {
        return ("IE", version_after(ua, "MSIE "));
    }
    if ua.contains("Trident/") && ua.contains("rv:") {
        return ("IE", version_after(ua, "rv:"));
    }
    ("Other", None)
}

fn operating_system(ua: &str) -> (&'static str, Option<String>) {
    if let Some(nt) = version_after(ua, "Windows NT ") {
        let v = match nt.as_str() {
            "10.0" => "10",
            "6.3" => "8.1",
            "6.2" => "8",
            "6.1" => "7",
            "6.0" => "Vista",
            "5.1" | "5.2" => "XP",
            _ => return ("Windows", None),
        };
        return ("Windows", Some(v.to_string()));
    }
    if ua.contains("iPhone OS ") || ua.contains("CPU OS ") {
        let v = version_after(ua, "iPhone OS ").or_else(|| version_after(ua, "CPU OS "));
        return ("iOS", v);
    }
    if ua.contains("Mac OS X") {
        return ("Mac OS X", version_after(ua, "Mac OS X "));
    }
    if ua.contains("Android") {
        return ("Android", version_after(ua, "Android "));
    }
    if ua.contains("CrOS") {
        return ("Chrome OS", None);
    }
    if ua.contains("Linux") {
        return ("Linux", None);
    }
    ("Other", None)
}

fn device(ua: &str) -> &'static str {
    if ua.contains("iPhone") {
        "iPhone"
    } else if ua.contains("iPad") {
        "iPad"
    } else if ua.contains("Macintosh") {
        "Mac"
    } else if ua.contains("Android") && ua.contains("Mobile") {
        "Generic Smartphone"
    } else if ua.contains("Android") {
        "Generic Tablet"
    } else {
        "Other"
    }
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
