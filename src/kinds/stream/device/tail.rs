//! The end of the Device sub-pipeline: `url.*` from the remote URL, geo enrichment, `related.*`
//! and the removal of vendor fields that were copied to ECS.

use std::borrow::Cow;

use super::{Ctx, Ev};
use crate::tree::{Doc, Node, Obj};
use crate::Options;

/// `related.hosts`, `related.user`, `related.ip` sources (members of `related`), in the
/// pipeline's order.
const RELATED: &[(&str, &str)] = &[
    ("hosts", "host.id"),
    ("hosts", "host.name"),
    ("hosts", "user.domain"),
    (
        "hosts",
        "m365_defender.event.initiating_process.account_domain",
    ),
    ("user", "user.name"),
    (
        "user",
        "m365_defender.event.initiating_process.account_name",
    ),
    ("ip", "m365_defender.event.file.origin_ip"),
    ("ip", "source.ip"),
    ("ip", "destination.ip"),
];

/// `related.hash` sources. The pipeline appends a parent hash when the process hash (not the
/// parent's) is present, rendering a missing parent hash as `""`; that is reproduced.
const RELATED_HASH: &[(&str, &str)] = &[
    ("file.hash.md5", "file.hash.md5"),
    ("file.hash.sha1", "file.hash.sha1"),
    ("file.hash.sha256", "file.hash.sha256"),
    ("process.hash.md5", "process.hash.md5"),
    ("process.hash.sha1", "process.hash.sha1"),
    ("process.hash.sha256", "process.hash.sha256"),
    ("process.hash.md5", "process.parent.hash.md5"),
    ("process.hash.sha1", "process.parent.hash.sha1"),
    ("process.hash.sha256", "process.parent.hash.sha256"),
    (
        "m365_defender.event.issuer_hash",
        "m365_defender.event.issuer_hash",
    ),
    (
        "m365_defender.event.signer_hash",
        "m365_defender.event.signer_hash",
    ),
];

/// Vendor fields removed unless `preserve_duplicate_custom_fields` (as [`duplicate`] has them).
#[cfg(test)]
const DUPLICATES: &[&str] = &[
    "folder_path",
    "md5",
    "sha1",
    "sha256",
    "file.name",
    "file.size",
    "file.origin_referrer_url",
    "device.name",
    "device.id",
    "process.version_info_company_name",
    "process.version_info_product_name",
    "process.version_info_product_version",
    "process.version_info_file_description",
    "initiating_process.file_name",
    "initiating_process.version_info_product_version",
    "initiating_process.version_info_file_description",
    "initiating_process.version_info_original_file_name",
    "initiating_process.file_size",
    "initiating_process.version_info_company_name",
    "initiating_process.version_info_product_name",
    "initiating_process.folder_path",
    "initiating_process.command_line",
    "initiating_process.md5",
    "initiating_process.sha1",
    "initiating_process.sha256",
    "initiating_process.parent_id",
    "initiating_process.id",
    "initiating_process.parent_file_name",
    "initiating_process.parent_creation_time",
    "initiating_process.signature_status",
    "registry.key",
    "registry.value_name",
    "registry.value_data",
    "public_ip.value",
    "local.ip",
    "remote.ip",
    "request.source_ip",
    "local.port",
    "remote.port",
    "request.source_port",
    "account.name",
    "account.sid",
    "certificate.expiration_time",
    "certificate.serial_number",
    "protocol",
    "request.protocol",
    "request.account_domain",
    "request.account_name",
    "os.architecture",
    "os.platform",
    "os.distribution",
    "os.version",
    "device.type",
    "account.domain",
    "mac_address",
    "client_version",
    "device.category",
    "action.type",
    "is_signed",
    "signer",
    "issuer",
    "is_trusted",
    "dns.qclass_name",
    "dns.query",
    "dns.qtype_name",
    "dns.rcode_name",
    "dns.answers",
    "dns.header_flags",
];

/// What the removal of duplicated vendor fields does to a key of `m365_defender.event`.
enum Dup {
    /// The key goes.
    Whole,
    /// These fields of the object under the key go.
    Fields(&'static [&'static str]),
    Keep,
}

/// [`DUPLICATES`] by key of `m365_defender.event`.
fn duplicate(key: &str) -> Dup {
    match key {
        "folder_path" | "md5" | "sha1" | "sha256" | "protocol" | "mac_address"
        | "client_version" | "is_signed" | "signer" | "issuer" | "is_trusted" => Dup::Whole,
        "file" => Dup::Fields(&["name", "size", "origin_referrer_url"]),
        "device" => Dup::Fields(&["name", "id", "type", "category"]),
        "process" => Dup::Fields(&[
            "version_info_company_name",
            "version_info_product_name",
            "version_info_product_version",
            "version_info_file_description",
        ]),
        "initiating_process" => Dup::Fields(&[
            "file_name",
            "version_info_product_version",
            "version_info_file_description",
            "version_info_original_file_name",
            "file_size",
            "version_info_company_name",
            "version_info_product_name",
            "folder_path",
            "command_line",
            "md5",
            "sha1",
            "sha256",
            "parent_id",
            "id",
            "parent_file_name",
            "parent_creation_time",
            "signature_status",
        ]),
        "registry" => Dup::Fields(&["key", "value_name", "value_data"]),
        "public_ip" => Dup::Fields(&["value"]),
        "local" => Dup::Fields(&["ip", "port"]),
        "remote" => Dup::Fields(&["ip", "port"]),
        "request" => Dup::Fields(&[
            "source_ip",
            "source_port",
            "protocol",
            "account_domain",
            "account_name",
        ]),
        "account" => Dup::Fields(&["name", "sid", "domain"]),
        "certificate" => Dup::Fields(&["expiration_time", "serial_number"]),
        "os" => Dup::Fields(&["architecture", "platform", "distribution", "version"]),
        "action" => Dup::Fields(&["type"]),
        "dns" => Dup::Fields(&[
            "qclass_name",
            "query",
            "qtype_name",
            "rcode_name",
            "answers",
            "header_flags",
        ]),
        _ => Dup::Keep,
    }
}

/// Whether `m365_defender.event.<rel>` is one of [`DUPLICATES`] (`remove_custom_duplicates`).
pub(super) fn is_duplicate(rel: &str) -> bool {
    // By byte position: `split_once('.')` goes through the generic char searcher.
    match rel.bytes().position(|b| b == b'.') {
        None => matches!(duplicate(rel), Dup::Whole),
        Some(dot) => match duplicate(&rel[..dot]) {
            Dup::Fields(fields) => fields.contains(&&rel[dot + 1..]),
            _ => false,
        },
    }
}

pub(super) fn map<'a>(opts: &Options, _ctx: &Ctx<'_>, ev: &Ev<'a>, doc: &mut Doc<'a>) {
    if let Some(url) = ev.get_str(ev!("remote.url")).filter(|u| !u.is_empty()) {
        if let Some(parts) = uri_parts(url) {
            let obj = doc.object("url", parts.len());
            for (k, v) in parts {
                obj.insert(k, v);
            }
        }
    }
    ev.copy(
        doc,
        ev!("file.origin_referrer_url"),
        "http.request.referrer",
    );
    geo(opts, doc);

    // The values are gathered, then appended in the same order to the `related` object found
    // once (no step here reads `related`): each append is then a search of that object's few
    // members, not a walk of the document by a dotted path.
    let mut adds: Vec<(&'static str, Cow<'a, str>)> = Vec::with_capacity(24);
    for (field, from) in RELATED {
        let value = if from.starts_with("m365_defender.") {
            ev.get(from)
        } else {
            doc.get(from)
        };
        if let Some(s) = value.and_then(Node::to_text) {
            adds.push((field, s));
        }
    }
    if let Some(Node::Array(ips)) = doc.get("host.ip") {
        adds.extend(ips.iter().filter_map(Node::to_text).map(|ip| ("ip", ip)));
    }
    for path in [ev!("ipv4_dhcp"), ev!("ipv6_dhcp")] {
        if let Some(s) = ev.get(path).and_then(Node::to_text) {
            adds.push(("ip", s));
        }
    }
    for (when, from) in RELATED_HASH {
        if ev.get_any(doc, when).is_some() {
            let v = ev
                .get_any(doc, from)
                .and_then(Node::to_text)
                .unwrap_or_default();
            adds.push(("hash", v));
        }
    }
    if !adds.is_empty() {
        let related = doc.object("related", 4);
        for (field, value) in adds {
            append(related, field, value);
        }
    }
}

/// Elastic's `append` without duplicates to the member `key` of `obj` (as `Doc::append`).
fn append<'a>(obj: &mut Obj<'a>, key: &'static str, value: Cow<'a, str>) {
    let slot = obj.slot(key);
    if !slot.is_array() {
        let old = slot.take();
        *slot = Node::Array(if old.is_null() { vec![] } else { vec![old] });
    }
    if let Node::Array(items) = slot {
        let value = Node::Str(value);
        if !items.contains(&value) {
            items.push(value);
        }
    }
}

/// `geoip` on `host.ip` (first address with data), `source.ip` and `destination.ip`, with
/// AS data for source and destination, through the caller's [`crate::GeoLookup`].
fn geo(opts: &Options, doc: &mut Doc<'_>) {
    let Some(geo) = opts.geo.as_ref() else {
        return;
    };
    let host_ips: Vec<String> = match doc.get("host.ip") {
        Some(Node::Array(a)) => a
            .iter()
            .filter_map(Node::as_str)
            .map(str::to_string)
            .collect(),
        Some(Node::Str(s)) => vec![s.to_string()],
        _ => vec![],
    };
    if let Some(city) = host_ips.iter().find_map(|ip| geo.city(ip)) {
        doc.set("host.geo", Node::from_value(city.into()));
    }
    for (ip_path, geo_path, as_path) in [
        ("source.ip", "source.geo", "source.as"),
        ("destination.ip", "destination.geo", "destination.as"),
    ] {
        let Some(ip) = doc.get_str(ip_path).map(str::to_string) else {
            continue;
        };
        if let Some(city) = geo.city(&ip) {
            doc.set(geo_path, Node::from_value(city.into()));
        }
        if let Some(asn) = geo.asn(&ip) {
            doc.set(as_path, Node::from_value(asn.into()));
        }
    }
}

/// Elastic's `uri_parts` (java.net.URI): scheme, domain (IPv6 kept in brackets), port, path,
/// extension (of the last path segment), query, fragment, user info; `url.original` kept.
/// `None` when the text is not a URI.
pub(crate) fn uri_parts(s: &str) -> Option<Obj<'static>> {
    const ILLEGAL: &[char] = &[' ', '"', '<', '>', '\\', '^', '`', '{', '|', '}'];
    if s.chars().any(|c| ILLEGAL.contains(&c) || c.is_control()) {
        return None;
    }
    let mut parts = Obj::with_capacity(10);
    let (rest, fragment) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    let scheme_end = rest.find(':').filter(|&i| {
        let head = &rest[..i];
        let mut chars = head.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let (scheme, rest) = match scheme_end {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    if let Some(f) = fragment {
        parts.insert("fragment", percent_decode(f));
    }
    if scheme.is_some() && !rest.starts_with('/') {
        // Opaque URI (`mailto:x`): no host, no path.
        parts.insert("scheme", scheme.unwrap_or_default().to_string());
        parts.insert("original", s.to_string());
        return Some(parts);
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(a) => match a.find('/') {
            Some(i) => (Some(&a[..i]), &a[i..]),
            None => (Some(a), ""),
        },
        None => (None, rest),
    };
    if let Some(auth) = authority {
        let (user_info, host_port) = match auth.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, auth),
        };
        let (host, port) = split_host_port(host_port);
        if let Some(h) = host {
            parts.insert("domain", h.to_string());
            if let Some(p) = port {
                parts.insert("port", p);
            }
            if let Some(u) = user_info {
                parts.insert("user_info", percent_decode(u));
                if let Some((name, pass)) = u.split_once(':') {
                    parts.insert("username", percent_decode(name));
                    parts.insert("password", percent_decode(pass));
                }
            }
        }
    }
    let path = percent_decode(path);
    if let Some(seg) = path.rfind('/').map(|i| &path[i..]) {
        if let Some(dot) = seg.rfind('.') {
            parts.insert("extension", seg[dot + 1..].to_string());
        }
    }
    parts.insert("path", path);
    if let Some(q) = query {
        parts.insert("query", percent_decode(q));
    }
    if let Some(sc) = scheme {
        parts.insert("scheme", sc.to_string());
    }
    parts.insert("original", s.to_string());
    Some(parts)
}

/// Host and port of a server authority; a host java.net.URI would not accept gives `None`.
fn split_host_port(hp: &str) -> (Option<&str>, Option<u16>) {
    let (host, port) = if hp.starts_with('[') {
        match hp.find(']') {
            Some(i) => (&hp[..=i], hp[i + 1..].strip_prefix(':')),
            None => return (None, None),
        }
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    };
    let valid = host.starts_with('[')
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    if !valid {
        return (None, None);
    }
    let port = match port {
        Some(p) if !p.is_empty() => match p.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => return (None, None),
        },
        _ => None,
    };
    (Some(host), port)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicate_matches_the_list() {
        for path in DUPLICATES {
            let ok = match path.split_once('.') {
                None => matches!(duplicate(path), Dup::Whole),
                Some((key, field)) => {
                    matches!(duplicate(key), Dup::Fields(fields) if fields.contains(&field))
                }
            };
            assert!(ok, "{path}");
        }
        let listed: usize = DUPLICATES
            .iter()
            .map(|p| p.split_once('.').map_or(*p, |(k, _)| k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|k| match duplicate(k) {
                Dup::Whole => 1,
                Dup::Fields(f) => f.len(),
                Dup::Keep => 0,
            })
            .sum();
        assert_eq!(listed, DUPLICATES.len());
    }

    #[test]
    fn uri_parts_like_elastic() {
        let p = Node::Object(uri_parts("http://[fe80::1]:5357/a/b.txt?q=1").unwrap()).to_value();
        assert_eq!(p["domain"], json!("[fe80::1]"));
        assert_eq!(p["port"], json!(5357));
        assert_eq!(p["path"], json!("/a/b.txt"));
        assert_eq!(p["extension"], json!("txt"));
        assert_eq!(p["query"], json!("q=1"));
        let p = Node::Object(uri_parts("subdomain.domain.tld").unwrap()).to_value();
        assert_eq!(p["path"], json!("subdomain.domain.tld"));
        assert!(p.get("extension").is_none() && p.get("domain").is_none());
        assert!(uri_parts("http://a b").is_none());
    }
}
