//! ECS `file`, `dll`, `host`, `registry`, `source`/`destination`, `user`, `dns`, `network`,
//! `event.action`/`event.outcome` and `observer` fields of the Device tables.

use std::borrow::Cow;

use super::{Ctx, Ev};
use crate::kinds::stream::tree_common::{copy, lower, render, sub};
use crate::tree::{Doc, Node};
use crate::MapError;

/// File columns copied to `file.*` outside process events.
const FILE: &[(&str, &str)] = &[
    (ev!("md5"), "file.hash.md5"),
    (ev!("sha1"), "file.hash.sha1"),
    (ev!("sha256"), "file.hash.sha256"),
    (ev!("file.name"), "file.name"),
    (ev!("file.size"), "file.size"),
];

/// Certificate and signature columns (any table).
const CERT: &[(&str, &str)] = &[
    (ev!("certificate.expiration_time"), "file.x509.not_after"),
    (ev!("certificate.serial_number"), "file.x509.serial_number"),
];
const SIGNATURE: &[(&str, &str)] = &[
    (ev!("signer"), "file.code_signature.subject_name"),
    (ev!("is_signed"), "file.code_signature.exists"),
    (ev!("is_trusted"), "file.code_signature.trusted"),
];

const DLL_HASHES: &[(&str, &str)] = &[
    (ev!("md5"), "dll.hash.md5"),
    (ev!("sha1"), "dll.hash.sha1"),
    (ev!("sha256"), "dll.hash.sha256"),
    (ev!("file.name"), "dll.name"),
];

/// Registry hives and their abbreviations.
const HIVES: &[(&str, &str)] = &[
    ("HKEY_CURRENT_USER", "HKCU"),
    ("HKEY_LOCAL_MACHINE", "HKLM"),
    ("HKEY_USERS", "HKU"),
    ("HKEY_CLASSES_ROOT", "HKCR"),
    ("HKEY_CURRENT_CONFIG", "HKCC"),
];

/// DNS fields of DNS inspections.
const DNS: &[(&str, &str)] = &[
    (ev!("dns.query"), "dns.question.name"),
    (ev!("dns.qclass_name"), "dns.question.class"),
    (ev!("dns.qtype_name"), "dns.question.type"),
    (ev!("dns.rcode_name"), "dns.response_code"),
    (ev!("dns.header_flags"), "dns.header_flags"),
];

/// `Protocol` values that are transports, and the transport they mean.
const TRANSPORTS: &[(&str, &str)] = &[
    ("tcp", "tcp"),
    ("tcpv4", "tcp"),
    ("tcpv6", "tcp"),
    ("udp", "udp"),
    ("udpv4", "udp"),
    ("udpv6", "udp"),
    ("icmp", "icmp"),
    ("icmpv6", "icmp"),
];

/// `Protocol` / `RequestProtocol` values kept as `network.protocol` (others such as
/// `Negotiate`, `Local` or `Unknown` are not network protocols).
const PROTOCOLS: &[&str] = &["ntlm", "kerberos", "smb"];

/// `<Protocol>ConnectionInspected` action types that name the application protocol.
const INSPECTED_PROTOCOLS: &[&str] = &["http", "ssl", "ftp"];

/// `event.action` for file and registry action types.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("file", "filedeleted", "deletion"),
    ("file", "filemodified", "modification"),
    ("file", "filerenamed", "rename"),
    ("file", "filecreated", "creation"),
    ("registry", "registrykeycreated", "creation"),
    ("registry", "registryvalueset", "modification"),
];

pub(super) fn map<'a>(ctx: &Ctx<'_>, ev: &mut Ev<'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    host(ctx, ev, doc)?;
    registry(ev, doc);
    source_destination(ctx, ev, doc);
    user(ctx, ev, doc);
    if ctx.has("network") && ctx.action_contains("dnsconnectioninspected") {
        for (from, to) in DNS {
            ev.copy(doc, from, to);
        }
    }
    network(ctx, ev, doc);
    action_outcome(ctx, ev, doc);
    ev.copy(doc, ev!("client_version"), "observer.version");
    ev.copy(doc, ev!("device.category"), "observer.type");
    Ok(())
}

/// `file.*` (not for process events and DeviceEvents, where the file is the process) and `dll.*`.
pub(super) fn file_and_dll<'a>(ctx: &Ctx<'_>, ev: &Ev<'a>, doc: &mut Doc<'a>) {
    if ctx.any_cat() && !ctx.has("process") && !ctx.is("DeviceEvents") {
        ev.copy(doc, ev!("folder_path"), "file.path");
        split_path(doc);
        for (from, to) in FILE {
            ev.copy(doc, from, to);
        }
    }
    for (from, to) in CERT {
        ev.copy(doc, from, to);
    }
    if ev.get(ev!("issuer")).is_some() {
        let issuer = ev.render(ev!("issuer"));
        super::push(doc, "file.x509.issuer.common_name", issuer);
    }
    for (from, to) in SIGNATURE {
        ev.copy(doc, from, to);
    }

    let image_load = ctx.any_cat() && ctx.is("DeviceImageLoadEvents");
    let driver = ctx.has("driver");
    if image_load {
        ev.copy(doc, ev!("folder_path"), "dll.path");
    }
    if driver {
        let path = join_path(ev, ev!("folder_path"), ev!("file.name"));
        doc.set("dll.path", path);
    }
    if image_load || driver {
        for (from, to) in DLL_HASHES {
            ev.copy(doc, from, to);
        }
    }
    if image_load {
        ev.copy(doc, ev!("file.size"), "dll.Ext.size");
    }
}

/// `<folder>\\<file>`, or the folder alone when it already ends with the file name (Defender
/// puts the full path in `InitiatingProcessFolderPath` for some events).
pub(super) fn join_path<'a>(ev: &Ev<'a>, folder: &str, file: &str) -> Cow<'a, str> {
    let (folder, file) = (ev.render(folder), ev.render(file));
    if !file.is_empty() && folder.to_lowercase().ends_with(&file.to_lowercase()) {
        folder
    } else {
        Cow::Owned(format!("{folder}\\{file}"))
    }
}

/// `file.name`, `file.directory`, `file.extension` from `file.path` (backslash paths when there
/// is a backslash, else slash paths; the extension is taken from the whole path, as Elastic does).
fn split_path(doc: &mut Doc<'_>) {
    let Some(Node::Str(path)) = doc.get("file.path") else {
        return;
    };
    if path.chars().count() <= 1 {
        return;
    }
    let path = path.clone();
    let idx = if path.contains('\\') {
        path.rfind('\\')
    } else {
        path.rfind('/')
    };
    if let Some(idx) = idx {
        if doc.get("file.name").is_none() {
            doc.set("file.name", sub(&path, |p| &p[idx + 1..]));
        }
        doc.set("file.directory", sub(&path, |p| &p[..idx]));
        if let Some(ext) = path.rfind('.') {
            if doc.get("file.extension").is_none() {
                doc.set("file.extension", sub(&path, |p| &p[ext + 1..]));
            }
        }
    }
}

fn host<'a>(ctx: &Ctx<'_>, ev: &mut Ev<'a>, doc: &mut Doc<'a>) -> Result<(), MapError> {
    ev.copy(doc, ev!("device.name"), "host.name");
    if let Some(Node::Str(name)) = doc.get_mut("host.name") {
        *name = lower(std::mem::take(name));
    }
    ev.copy(doc, ev!("device.id"), "host.id");
    if ev
        .get(ev!("public_ip.value"))
        .is_some_and(|v| v.as_str() != Some(""))
    {
        let ip = ev.render(ev!("public_ip.value"));
        super::push(doc, "host.ip", ip);
    }
    ev.copy(doc, ev!("os.architecture"), "host.architecture");
    let platform = match ev.get(ev!("os.platform")) {
        None | Some(Node::Null) => None,
        Some(Node::Str(s)) => Some(s.to_lowercase()),
        Some(other) => {
            return Err(MapError::field(
                "properties.OSPlatform",
                format!("expected a string, got {}", other.type_name()),
            ))
        }
    };
    for os in ["windows", "linux", "macos"] {
        if platform.as_deref().is_some_and(|p| p.contains(os)) {
            doc.set("host.os.type", os);
        }
    }
    let has_sid = |f: &str| ev.get(f).is_some();
    let ip_sid = has_sid(ev!("initiating_process.account_sid"));
    let windows = ["api", "registry", "library", "driver"]
        .iter()
        .any(|c| ctx.has(c))
        || (ctx.has("file") && (ip_sid || has_sid(ev!("request.account_sid"))))
        || (ctx.has("process") && ip_sid)
        || (ctx.has("authentication") && (ip_sid || has_sid(ev!("account.sid"))))
        || (ctx.has("network") && ip_sid);
    if windows {
        doc.set("host.os.type", "windows");
    }
    // macOS/Linux sensors report POSIX process details in AdditionalFields.
    let posix = match ev.get(ev!("additional_fields")) {
        Some(Node::Object(af)) => af.keys().any(|k| k.starts_with("InitiatingProcessPosix")),
        _ => false,
    };
    if posix {
        doc.set("host.os.type", "unix");
    }
    ev.copy(doc, ev!("os.platform"), "host.os.full");
    ev.copy(doc, ev!("os.distribution"), "host.os.platform");
    ev.copy(doc, ev!("os.version"), "host.os.version");
    ev.copy(doc, ev!("device.type"), "host.type");

    if let Some(mac) = ev.get_str(ev!("mac_address")) {
        let mac = mac.replace([':', '.'], "-").to_uppercase();
        ev.set(ev!("mac_address"), mac.clone());
        if !mac.is_empty() {
            // Only bare hex digits get dashes between pairs; separated forms are already ECS.
            let mac = if mac.contains('-') {
                mac
            } else {
                dash_pairs(&mac)
            };
            doc.append("host.mac", mac);
        }
    }
    Ok(())
}

/// The pipeline's `gsub` of `(..)(?!$)` with `$1-`: a dash after every pair of characters that
/// is not at the end.
fn dash_pairs(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i + 2 < chars.len() {
        out.extend(&chars[i..i + 2]);
        out.push('-');
        i += 2;
    }
    out.extend(&chars[i..]);
    out
}

fn registry<'a>(ev: &Ev<'a>, doc: &mut Doc<'a>) {
    let key = ev
        .get(ev!("registry.key"))
        .and_then(Node::as_cow)
        .filter(|k| !k.is_empty());
    let prev = ev
        .get(ev!("previous.registry_key"))
        .and_then(Node::as_cow)
        .filter(|k| !k.is_empty());
    if let Some(k) = key.as_ref().or(prev.as_ref()) {
        let hive_full = k.split('\\').next().unwrap_or("");
        if let Some((_, abbr)) = HIVES.iter().find(|(full, _)| *full == hive_full) {
            doc.set("registry.hive", *abbr);
        }
    }
    let strip = |k: &str| {
        k.replace("HKEY_CURRENT_USER\\", "")
            .replace("HKEY_LOCAL_MACHINE\\", "")
    };
    if let Some(k) = &key {
        doc.set("registry.key", strip(k));
    } else if let Some(p) = &prev {
        if doc.get("registry.key").is_none() {
            doc.set("registry.key", strip(p));
        }
    }
    ev.copy(doc, ev!("registry.value_name"), "registry.value");
    if doc.get("registry.value").is_none() {
        ev.copy(doc, ev!("previous.registry_value_name"), "registry.value");
    }
    if doc.get_str("registry.key").is_some_and(|k| !k.is_empty())
        && doc.get("registry.value").is_some()
    {
        let path = format!(
            "{}\\{}\\{}",
            render(doc, "registry.hive"),
            render(doc, "registry.key"),
            render(doc, "registry.value")
        );
        doc.set("registry.path", path);
    }
    for from in [
        ev!("registry.value_data"),
        ev!("previous.registry_value_data"),
    ] {
        if ev.get(from).is_some() {
            let data = ev.render(from);
            doc.append("registry.data.strings", data);
        }
    }
    ev.copy(doc, ev!("registry.value_type"), "registry.data.type");
}

fn source_destination<'a>(ctx: &Ctx<'_>, ev: &Ev<'a>, doc: &mut Doc<'a>) {
    let dir = ev.get_str(ev!("network_direction"));
    let no_dir = ev.get(ev!("network_direction")).is_none();
    let auth = ctx.has("authentication");
    let net = ctx.has("network");
    let any = ctx.any_cat();
    let (net_in, net_out) = (net && dir == Some("In"), net && dir == Some("Out"));

    let rules: [(bool, &str, &str); 14] = [
        (auth, ev!("remote.ip"), "source.ip"),
        (net_in, ev!("remote.ip"), "source.ip"),
        (any && !auth && no_dir, ev!("local.ip"), "source.ip"),
        (net_out, ev!("local.ip"), "source.ip"),
        (ctx.has("file"), ev!("request.source_ip"), "source.ip"),
        (net_in, ev!("remote.port"), "source.port"),
        (auth, ev!("remote.port"), "source.port"),
        (any && !auth, ev!("local.port"), "source.port"),
        (net_out, ev!("local.port"), "source.port"),
        (true, ev!("request.source_port"), "source.port"),
        (true, ev!("remote.device_name"), "source.domain"),
        (net_out, ev!("remote.ip"), "destination.ip"),
        (any && !auth && no_dir, ev!("remote.ip"), "destination.ip"),
        (net_in, ev!("local.ip"), "destination.ip"),
    ];
    for (when, from, to) in rules {
        if when {
            ev.copy(doc, from, to);
        }
    }
    if net && doc.get("destination.ip").is_some() {
        copy(doc, "destination.ip", "destination.address");
    }
    for (when, from) in [
        (any && !auth && no_dir, ev!("remote.port")),
        (net_out, ev!("remote.port")),
        (net_in, ev!("local.port")),
    ] {
        if when {
            ev.copy(doc, from, "destination.port");
        }
    }
}

fn user<'a>(ctx: &Ctx<'_>, ev: &Ev<'a>, doc: &mut Doc<'a>) {
    let initiating = ["library", "registry", "network", "driver", "api"]
        .iter()
        .any(|c| ctx.has(c));
    ev.copy(doc, ev!("account.name"), "user.name");
    ev.copy(doc, ev!("request.account_domain"), "user.domain");
    ev.copy(doc, ev!("request.account_name"), "user.name");
    if initiating && doc.get("user.name").is_none() {
        ev.copy(doc, ev!("initiating_process.account_name"), "user.name");
    }
    ev.copy(doc, ev!("account.domain"), "user.domain");
    if initiating && doc.get("user.domain").is_none() {
        ev.copy(doc, ev!("initiating_process.account_domain"), "user.domain");
    }
    ev.copy(doc, ev!("account.sid"), "user.id");
    if (initiating || ctx.has("file")) && doc.get("user.id").is_none() {
        ev.copy(doc, ev!("initiating_process.account_sid"), "user.id");
    }
    if ctx.has("file") && doc.get("user.id").is_none() {
        ev.copy(doc, ev!("request.account_sid"), "user.id");
    }
}

fn network<'a>(ctx: &Ctx<'_>, ev: &Ev<'a>, doc: &mut Doc<'a>) {
    for from in [ev!("protocol"), ev!("request.protocol")] {
        let Some(p) = ev.get_str(from).map(str::to_lowercase) else {
            continue;
        };
        if let Some((_, t)) = TRANSPORTS.iter().find(|(name, _)| *name == p) {
            doc.set("network.transport", *t);
        } else if let Some(known) = PROTOCOLS.iter().find(|known| **known == p) {
            doc.set("network.protocol", *known);
        }
    }
    if ctx.action_contains("dns") {
        doc.set("network.protocol", "dns");
    }
    if let Some(a) = ctx.action.as_deref() {
        let inspected = a.strip_suffix("connectioninspected");
        if let Some(p) = INSPECTED_PROTOCOLS.iter().find(|p| inspected == Some(**p)) {
            doc.set("network.protocol", *p);
        }
    }
    if ctx.has("network") {
        let direction = match ev.get(ev!("network_direction")) {
            None => Some("unknown"),
            Some(v) if v.as_str() == Some("In") => Some("inbound"),
            Some(v) if v.as_str() == Some("Out") => Some("outbound"),
            Some(_) => None,
        };
        if let Some(d) = direction {
            doc.set("network.direction", d);
        }
    }
}

fn action_outcome<'a>(ctx: &Ctx<'_>, ev: &Ev<'a>, doc: &mut Doc<'a>) {
    let action = ctx.action.as_deref();
    for (cat, from, to) in ACTIONS {
        if ctx.has(cat) && action == Some(*from) {
            doc.set("event.action", *to);
        }
    }
    if ctx.has("driver") {
        doc.set("event.action", "load");
    }
    if ctx.has("process") && action == Some("processcreated") {
        doc.set("event.action", "start");
    }
    if ctx.any_cat() && !ctx.has("file") && doc.get("event.action").is_none() {
        ev.copy(doc, ev!("action.type"), "event.action");
    }
    if let Some(Node::Str(a)) = doc.get_mut("event.action") {
        // Already lower-case without spaces (most action names after the steps above): the
        // same text, kept.
        if !a.is_ascii() || a.bytes().any(|b| b.is_ascii_uppercase() || b == b' ') {
            *a = Cow::Owned(a.to_lowercase().replace(' ', "-"));
        }
    }
    if ctx.is("DeviceLogonEvents") {
        let failed = ev
            .get(ev!("failure_reason"))
            .is_some_and(|v| v.as_str() != Some(""));
        doc.set("event.outcome", if failed { "failure" } else { "success" });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry(doc: &mut Doc<'static>) {
        let ev = Ev::from_doc(doc);
        super::registry(&ev, doc);
    }

    fn source_destination(ctx: &Ctx<'_>, doc: &mut Doc<'static>) {
        let ev = Ev::from_doc(doc);
        super::source_destination(ctx, &ev, doc);
    }

    #[test]
    fn mac_gets_dashes_between_pairs() {
        assert_eq!(dash_pairs("001122AABBCC"), "00-11-22-AA-BB-CC");
        assert_eq!(dash_pairs("AB"), "AB");
    }

    #[test]
    fn registry_key_hive_and_path() {
        let mut d = Doc::new();
        d.set(
            "m365_defender.event.registry.key",
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\X",
        );
        d.set("m365_defender.event.registry.value_name", "V");
        d.set("m365_defender.event.registry.value_data", 1u64);
        registry(&mut d);
        assert_eq!(d.get_str("registry.hive"), Some("HKLM"));
        assert_eq!(d.get_str("registry.key"), Some("SOFTWARE\\X"));
        assert_eq!(d.get_str("registry.path"), Some("HKLM\\SOFTWARE\\X\\V"));
        assert_eq!(
            d.get("registry.data.strings").unwrap().to_value(),
            json!(["1"])
        );
    }

    #[test]
    fn inbound_connection_swaps_source_and_destination() {
        let mut d = Doc::new();
        d.set("m365_defender.event.network_direction", "In");
        d.set("m365_defender.event.remote.ip", "1.1.1.1");
        d.set("m365_defender.event.local.ip", "10.0.0.1");
        let ctx = Ctx {
            table: "DeviceNetworkEvents",
            cats: vec!["network"],
            action: None,
        };
        source_destination(&ctx, &mut d);
        assert_eq!(d.get_str("source.ip"), Some("1.1.1.1"));
        assert_eq!(d.get_str("destination.ip"), Some("10.0.0.1"));
    }
}
