//! Elastic's ingest processors as the non-Device families (alert, behavior, email, message,
//! identity, app, cloud) use them, on the borrowed tree: `rename` (one column or a table of
//! them), `convert` to string / long / ip, the `isTruthy` script, `json` on a string column,
//! `append` to `related.*`, the `remove_duplicate_custom_fields` step, the Windows-like
//! command-line split, `uri_parts`, `user_agent` and `geoip`. Values keep their borrow of the
//! record wherever the processor stores the text as it is.
//!
//! The string rules themselves (Java's `Long.decode`, `CommandLineToArgvW`, the URL and
//! user-agent parsers) are plain functions here; the Device family uses some of them too.

use std::borrow::Cow;
use std::sync::OnceLock;

// Families import every processor from here; `copy` (Elastic's `set copy_from`) is shared
// with the default pipeline's tail.
#[allow(unused_imports)]
pub(crate) use super::tree_common::copy;
use super::tree_common::date_string;
use crate::tree::{self, Doc, Node, Obj};
use crate::{MapError, Options};

/// One streaming-API record as a ported family function sees it.
pub(crate) struct Columns<'r, 'a> {
    /// The table: the category without `AdvancedHunting-` (`DeviceEvents`).
    pub table: &'r str,
    /// The `properties` object: the table's columns.
    pub props: &'r Obj<'a>,
    pub opts: &'r Options,
}

/// Maps one table family's columns into a document (step 2 of the hook contract in the
/// module docs of `stream`).
pub(crate) type FamilyFn = for<'r, 'a> fn(&Columns<'r, 'a>, &mut Doc<'a>) -> Result<(), MapError>;

/// Runs one family function on a table's properties (with preserve_duplicate_custom_fields),
/// for the families' unit tests.
#[cfg(test)]
pub(crate) fn run_family(f: FamilyFn, table: &str, props: serde_json::Value) -> Doc<'static> {
    let opts = Options {
        preserve_duplicate_custom_fields: true,
        ..Options::default()
    };
    run_family_with(f, table, props, &opts)
}

/// [`run_family`] with the given options.
#[cfg(test)]
pub(crate) fn run_family_with(
    f: FamilyFn,
    table: &str,
    props: serde_json::Value,
    opts: &Options,
) -> Doc<'static> {
    let Node::Object(props) = Node::from_value(props) else {
        panic!("properties must be an object")
    };
    let cols = Columns {
        table,
        props: &props,
        opts,
    };
    let mut doc = Doc::new();
    f(&cols, &mut doc).expect("family maps the test record");
    doc
}

/// The value at `path` as a `serde_json::Value`, for tests that compare with `json!`.
#[cfg(test)]
pub(crate) fn at(doc: &Doc<'_>, path: &str) -> Option<serde_json::Value> {
    doc.get(path).map(Node::to_value)
}

/// A property by name, `None` when absent or null.
pub(crate) fn prop<'p, 'a>(props: &'p Obj<'a>, name: &str) -> Option<&'p Node<'a>> {
    props.get(name).filter(|v| !v.is_null())
}

/// A string property, keeping its borrow; `None` when absent, null or not a string.
pub(crate) fn prop_str<'a>(props: &Obj<'a>, name: &str) -> Option<Cow<'a, str>> {
    props.get(name).and_then(Node::as_cow)
}

/// Null or `""`: what `ignore_empty_value` skips.
pub(crate) fn is_blank(v: &Node<'_>) -> bool {
    match v {
        Node::Null => true,
        Node::Str(s) => s.is_empty(),
        _ => false,
    }
}

/// Elastic's `rename` of `json.properties.<from>` to `to` (any type, null skipped), for a
/// table of `(property, target)` pairs.
pub(crate) fn renames<'a>(
    doc: &mut Doc<'a>,
    props: &Obj<'a>,
    table: &[(&'static str, &'static str)],
) {
    for (from, to) in table {
        if let Some(v) = prop(props, from) {
            doc.set(to, v.clone());
        }
    }
}

/// [`renames`] for a long table: one pass over the record's columns, each looked up in the
/// table through a [`NameTable`] of the names (built on first use), instead of one scan of
/// the columns per table entry. The renames are applied in table order, so a target that two
/// columns rename to ends up as [`renames`] leaves it; targets under `m365_defender.event` are
/// set in that object, found once.
pub(crate) fn renames_scan<'a>(
    doc: &mut Doc<'a>,
    props: &Obj<'a>,
    table: &[(&'static str, &'static str)],
    plan: &Signatures,
) {
    const MAX: usize = 64;
    if table.len() > MAX {
        return renames(doc, props, table);
    }
    let plan = plan.get_or_init(|| RenamePlan::new(table));
    let mut hits: [Option<&Node<'a>>; MAX] = [None; MAX];
    let mut any = false;
    for (name, value) in props.iter() {
        if value.is_null() {
            continue;
        }
        // Every candidate is compared: a column may be listed twice.
        plan.names.candidates(name, |i| {
            if table[i].0 == name {
                hits[i] = Some(value);
                any = true;
            }
        });
    }
    if !any {
        return;
    }
    for (i, hit) in hits.iter().take(table.len()).enumerate() {
        if let (Some(v), None) = (hit, plan.relative[i]) {
            doc.set(table[i].1, (*v).clone());
        }
    }
    let event = doc.object("m365_defender.event", 32);
    for (i, hit) in hits.iter().take(table.len()).enumerate() {
        if let (Some(v), Some(rel)) = (hit, plan.relative[i]) {
            event.set_path(rel, (*v).clone());
        }
    }
}

/// The lookup [`renames_scan`] builds for a rename table on first use (a `static`).
pub(crate) type Signatures = OnceLock<RenamePlan>;

/// A rename table's names in a [`NameTable`], and each target relative to
/// `m365_defender.event` when it is under it.
pub(crate) struct RenamePlan {
    names: NameTable,
    relative: Vec<Option<&'static str>>,
}

impl RenamePlan {
    fn new(table: &[(&'static str, &'static str)]) -> Self {
        RenamePlan {
            names: NameTable::new(table.iter().map(|(name, _)| *name)),
            relative: (table.iter())
                .map(|(_, to)| to.strip_prefix("m365_defender.event."))
                .collect(),
        }
    }
}

/// Up to 255 names in an open-addressing table (index plus one; 0 is a free slot) of at least
/// four slots per name, probed linearly from a hash of the name's [`signature`]: a lookup
/// costs about one comparison, where a scan or a binary search of a family's tables cost tens.
struct NameTable {
    slots: Box<[u8]>,
}

impl NameTable {
    fn new<'n>(names: impl ExactSizeIterator<Item = &'n str>) -> Self {
        let size = (names.len() * 4).next_power_of_two().max(8);
        let mut t = NameTable {
            slots: vec![0; size].into_boxed_slice(),
        };
        let mask = size - 1;
        for (i, name) in names.enumerate() {
            let mut at = t.start(name);
            while t.slots[at & mask] != 0 {
                at += 1;
            }
            t.slots[at & mask] = u8::try_from(i + 1).expect("at most 255 names");
        }
        t
    }

    fn start(&self, name: &str) -> usize {
        (signature(name).wrapping_mul(0x9E37_79B1) >> 16) as usize
    }

    /// Calls `f` with the index of every name that could be `name` (every name in its probe
    /// run, which holds all the names equal to it); `f` compares.
    #[inline]
    fn candidates(&self, name: &str, mut f: impl FnMut(usize)) {
        let mask = self.slots.len() - 1;
        let mut at = self.start(name);
        loop {
            match self.slots[at & mask] {
                0 => return,
                e => f(usize::from(e) - 1),
            }
            at += 1;
        }
    }
}

/// A cheap fingerprint of a name: its length, first and last byte.
pub(crate) fn signature(name: &str) -> u32 {
    let b = name.as_bytes();
    let first = b.first().copied().unwrap_or(0);
    let last = b.last().copied().unwrap_or(0);
    ((b.len() as u32) << 16) | (u32::from(first) << 8) | u32::from(last)
}

/// Elastic's `convert` to `type: string` of a column (`""` skipped).
pub(crate) fn convert_string<'a>(doc: &mut Doc<'a>, props: &Obj<'a>, from: &str, to: &'a str) {
    if let Some(v) = prop(props, from) {
        if v.as_str() != Some("") {
            if let Some(s) = v.to_text() {
                doc.set(to, s);
            }
        }
    }
}

/// Elastic's `date` processor with `formats: [ISO8601]` into `target`; on failure it appends
/// the processor's message to `error.message` and leaves `target` unset.
pub(crate) fn date<'a>(doc: &mut Doc<'a>, value: Option<&Node<'_>>, target: &'a str) {
    if let Some(d) = date_string(doc, value) {
        doc.set(target, d);
    }
}

/// The fields a sub-pipeline's `remove_duplicate_custom_fields` step drops (a `static` per
/// family), with the lookup [`remove_custom_duplicates`] needs, worked out on first use rather
/// than for every record.
pub(crate) struct Duplicates {
    fields: &'static [&'static str],
    plan: OnceLock<Plan>,
}

/// The fields under `m365_defender.event` grouped by their key there (a [`NameTable`] finds a
/// key's group): the key goes whole, or these keys of the object under it do. The others (not
/// one or two levels under `m365_defender.event`) as paths.
struct Plan {
    heads: NameTable,
    groups: Vec<Group>,
    elsewhere: Vec<&'static str>,
}

struct Group {
    head: &'static str,
    whole: bool,
    tails: Vec<&'static str>,
}

impl Duplicates {
    pub(crate) const fn new(fields: &'static [&'static str]) -> Self {
        Duplicates {
            fields,
            plan: OnceLock::new(),
        }
    }

    fn plan(&self) -> &Plan {
        self.plan.get_or_init(|| {
            const PREFIX: &str = "m365_defender.event.";
            let (mut groups, mut elsewhere) = (Vec::<Group>::new(), Vec::new());
            for f in self.fields {
                let (head, tail) = match f.strip_prefix(PREFIX).map(|p| (p, p.split_once('.'))) {
                    Some((head, None)) => (head, None),
                    Some((_, Some((head, tail)))) if !tail.contains('.') => (head, Some(tail)),
                    _ => {
                        elsewhere.push(*f);
                        continue;
                    }
                };
                let i = match groups.iter().position(|g| g.head == head) {
                    Some(i) => i,
                    None => {
                        groups.push(Group {
                            head,
                            whole: false,
                            tails: Vec::new(),
                        });
                        groups.len() - 1
                    }
                };
                match tail {
                    None => groups[i].whole = true,
                    Some(t) => groups[i].tails.push(t),
                }
            }
            Plan {
                heads: NameTable::new(groups.iter().map(|g| g.head)),
                groups,
                elsewhere,
            }
        })
    }
}

/// The `remove_duplicate_custom_fields` step each sub-pipeline ends with: the vendor fields
/// that were copied to ECS go unless the user keeps them.
pub(crate) fn remove_custom_duplicates(opts: &Options, doc: &mut Doc<'_>, fields: &Duplicates) {
    if opts.preserve_duplicate_custom_fields {
        return;
    }
    let plan = fields.plan();
    for f in &plan.elsewhere {
        doc.remove(f);
    }
    let Some(Node::Object(event)) = doc.get_mut("m365_defender.event") else {
        return;
    };
    // One pass over the object, each key's group (most keys have none) found by hash.
    event.retain(|k, v| {
        let mut group = None;
        plan.heads.candidates(k, |i| {
            if plan.groups[i].head == k {
                group = Some(&plan.groups[i]);
            }
        });
        match (group, v) {
            (None, _) => true,
            (Some(g), _) if g.whole => false,
            (Some(g), Node::Object(sub)) => {
                if sub.keys().any(|sk| g.tails.contains(&sk)) {
                    sub.retain(|sk, _| !g.tails.contains(&sk));
                }
                true
            }
            (Some(_), _) => true,
        }
    });
}

/// Elastic's `append` to `related.*` (no duplicates) of a value rendered as mustache does.
pub(crate) fn related<'a>(doc: &mut Doc<'a>, field: &'a str, value: Option<&Node<'a>>) {
    if let Some(s) = value.and_then(Node::to_text) {
        doc.append(field, s);
    }
}

/// Elastic's `append` to `field` (no duplicates) of the field at `from` rendered as mustache
/// does; nothing when it is missing.
pub(crate) fn related_from<'a>(doc: &mut Doc<'a>, field: &'a str, from: &str) {
    if let Some(s) = doc.get(from).and_then(Node::to_text) {
        doc.append(field, s);
    }
}

/// `lowercase` in place (`ignore_missing`); non-strings are left alone.
pub(crate) fn lowercase<'a>(doc: &mut Doc<'a>, path: &'a str) {
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
pub(crate) fn event_action(doc: &mut Doc<'_>) {
    let action = match doc.get("m365_defender.event.action.type") {
        Some(Node::Str(s)) if !s.is_empty() => Some(Node::from(action_name(s))),
        Some(v) if !is_blank(v) => Some(v.clone()),
        // Nothing copied: an `event.action` already there is still rewritten.
        _ => doc.get_str("event.action").map(|s| action_name(s).into()),
    };
    doc.set_some("event.action", action);
}

/// An action type as `event.action` stores it: lowercased, spaces to dashes.
pub(crate) fn action_name(s: &str) -> String {
    let lower = s.to_lowercase();
    if lower.contains(' ') {
        lower.replace(' ', "-")
    } else {
        lower
    }
}

/// `json` on a string column (when a non-empty string), then `rename` to `to`. A string that
/// is not JSON stays a string and, as in Elastic, an `error.message` is appended.
pub(crate) fn json_rename<'a>(doc: &mut Doc<'a>, props: &Obj<'a>, from: &str, to: &'a str) {
    match prop(props, from) {
        Some(Node::Str(s)) if !s.is_empty() => {
            let parsed = match s {
                Cow::Borrowed(b) => tree::parse(b),
                Cow::Owned(o) => tree::parse(o).map(Node::into_owned),
            };
            match parsed {
                Ok(v) => doc.set(to, v),
                Err(e) => {
                    doc.append("error.message", format!("{from}: not valid JSON: {e}"));
                    doc.set(to, s.clone());
                }
            }
        }
        Some(other) => doc.set(to, other.clone()),
        None => {}
    }
}

/// `convert: {type: long, ignore_missing: true}` guarded by `if: != ''`; failures append
/// Elastic's message to `error.message` and leave `to` unset.
pub(crate) fn convert_long<'a>(doc: &mut Doc<'a>, props: &Obj<'a>, from: &str, to: &'a str) {
    let Some(v) = prop(props, from).filter(|v| v.as_str() != Some("")) else {
        return;
    };
    let n = match v {
        Node::Str(s) => long_decode(s),
        n if n.is_number() => n.as_i64(),
        _ => None,
    };
    match n {
        Some(n) => doc.set(to, n),
        None => doc.append(
            "error.message",
            format!("unable to convert [{}] to long", render(v)),
        ),
    }
}

/// `convert: {type: ip}` guarded by `if: != ''`: the value stays a string when it is an IP.
pub(crate) fn convert_ip<'a>(doc: &mut Doc<'a>, props: &Obj<'a>, from: &str, to: &'a str) {
    let Some(v) = prop(props, from).filter(|v| v.as_str() != Some("")) else {
        return;
    };
    if v.as_str()
        .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok())
    {
        doc.set(to, v.clone());
    } else {
        doc.append(
            "error.message",
            format!("'{}' is not an IP string literal.", render(v)),
        );
    }
}

/// A value as the processors' messages quote it: a string as it is, anything else as JSON.
fn render(v: &Node<'_>) -> String {
    v.as_str()
        .map_or_else(|| v.to_json_string(), str::to_string)
}

/// Java's `Long.decode` of a string: decimal, `0x`/`#` hex, leading-zero octal.
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
pub(crate) fn truthy(v: Option<&Node<'_>>) -> Option<bool> {
    match v? {
        Node::Bool(b) => Some(*b),
        // Jackson reads small integers as Integer; larger ones are Long, which the script
        // does not recognise.
        n if n.is_i64() => match n.as_i64().filter(|i| i32::try_from(*i).is_ok()) {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Node::Str(s) => match s.as_ref() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `target = isTruthy(json.properties.<from>)` for a table of `(property, target)` pairs.
pub(crate) fn truthies(doc: &mut Doc<'_>, props: &Obj<'_>, table: &[(&str, &'static str)]) {
    for (from, to) in table {
        if let Some(b) = truthy(props.get(from)) {
            doc.set(to, b);
        }
    }
}

/// `convert` to long for a table of `(property, target)` pairs.
pub(crate) fn longs<'a>(doc: &mut Doc<'a>, props: &Obj<'a>, table: &[(&str, &'static str)]) {
    for (from, to) in table {
        convert_long(doc, props, from, to);
    }
}

/// `process.args`, `args_count` and `executable` from `process.command_line`, split the way
/// Windows does (Elastic's `split-command-line` script, a port of Go's `commandLineToArgv`).
pub(crate) fn split_command_line_into_process(doc: &mut Doc<'_>) {
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

/// `part` with `whole`'s borrow of the record when `part` is a slice of `whole`'s text (the URL
/// parser also returns `""` literals, which are not), else a copy.
fn part_of<'a>(whole: &Cow<'a, str>, part: &str) -> Cow<'a, str> {
    if let Cow::Borrowed(b) = whole {
        let start = (part.as_ptr() as usize).wrapping_sub(b.as_ptr() as usize);
        // In range only when `part` lies in `b` (then `b[start..]` starts where `part` does).
        if let Some(p) = start
            .checked_add(part.len())
            .and_then(|end| b.get(start..end))
        {
            return Cow::Borrowed(p);
        }
    }
    Cow::Owned(part.to_owned())
}

/// Elastic's `uri_parts` on the URL at `from` into `url.*`; on a URL it cannot parse only
/// `url.original` is set (the pipelines' `on_failure`).
pub(crate) fn uri_parts(doc: &mut Doc<'_>, from: &str) {
    let raw = match doc.get(from) {
        None | Some(Node::Null) => return,
        Some(Node::Str(s)) => s.clone(),
        Some(other) => {
            let other = other.clone();
            doc.set("url.original", other);
            return;
        }
    };
    let parts = parse_url(&raw);
    // The fields go into the `url` object in one go rather than path by path.
    let url = doc.object("url", 10);
    url.insert("original", raw.clone());
    let Some(parts) = parts else {
        return;
    };
    let p = |s: &str| part_of(&raw, s);
    url.put("scheme", p(parts.scheme));
    url.put("domain", p(parts.host));
    if let Some(port) = parts.port {
        url.insert("port", port);
    }
    url.put("path", p(parts.path));
    if let Some(dot) = memchr::memrchr(b'.', parts.path.as_bytes()) {
        url.put("extension", p(&parts.path[dot + 1..]));
    }
    if let Some(q) = parts.query {
        url.put("query", p(q));
    }
    if let Some(f) = parts.fragment {
        url.put("fragment", p(f));
    }
    if let Some(ui) = parts.user_info {
        url.put("user_info", p(ui));
        match ui.split_once(':') {
            Some((u, pw)) => {
                url.put("username", p(u));
                url.put("password", p(pw));
            }
            None => url.put("username", p(ui)),
        }
    }
}

pub(crate) struct UrlParts<'a> {
    pub scheme: &'a str,
    pub user_info: Option<&'a str>,
    pub host: &'a str,
    pub port: Option<u16>,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

/// An absolute hierarchical URL (`scheme://[user@]host[:port][/path][?query][#fragment]`).
pub(crate) fn parse_url<'s>(s: &'s str) -> Option<UrlParts<'s>> {
    // Whitespace and control characters are bytes up to space, DEL, or non-ASCII: only text
    // with such bytes (one branch-free pass finds them) is checked char by char.
    let suspect = (s.bytes()).fold(false, |any, b| any | (b <= b' ') | (b >= 0x7f));
    if suspect && s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    // The scheme ends at the first `:` (it cannot hold one), which must start `://`.
    let colon = memchr::memchr(b':', s.as_bytes())?;
    let (scheme, rest) = (&s[..colon], s[colon..].strip_prefix("://")?);
    let mut sc = scheme.bytes();
    if !sc.next()?.is_ascii_alphabetic()
        || !sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let split = |text: &'s str, at: u8| {
        memchr::memchr(at, text.as_bytes()).map(|i| (&text[..i], &text[i + 1..]))
    };
    let (rest, fragment) = match split(rest, b'#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (rest, query) = match split(rest, b'?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match memchr::memchr(b'/', rest.as_bytes()) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let rsplit = |text: &'s str, at: u8| {
        memchr::memrchr(at, text.as_bytes()).map(|i| (&text[..i], &text[i + 1..]))
    };
    let (user_info, host_port) = match rsplit(authority, b'@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = match rsplit(host_port, b':') {
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
pub(crate) fn geoip<'a>(opts: &Options, doc: &mut Doc<'a>, from: &str, to: &'a str) {
    let (Some(geo), Some(ip)) = (opts.geo.as_ref(), doc.get_str(from)) else {
        return;
    };
    if let Some(city) = geo.city(ip) {
        if !city.is_empty() {
            doc.set(to, Node::from_value(serde_json::Value::Object(city)));
        }
    }
}

/// Elastic's `user_agent` processor (ua-parser's regexes) for the common browsers and
/// systems: `user_agent.{original,name,version,os.{name,version,full},device.name}`.
/// Agents it does not know get Elastic's `Other`.
pub(crate) fn user_agent(doc: &mut Doc<'_>, from: &str) {
    let Some(ua) = doc
        .get(from)
        .and_then(Node::as_cow)
        .filter(|s| !s.is_empty())
    else {
        return;
    };
    let (name, version) = browser(&ua);
    let (os, os_version) = operating_system(&ua);
    let device = device(&ua);
    doc.set("user_agent.original", ua);
    doc.set("user_agent.name", name);
    doc.set_some("user_agent.version", version);
    doc.set("user_agent.os.name", os);
    if let Some(v) = os_version {
        doc.set("user_agent.os.full", format!("{os} {v}"));
        doc.set("user_agent.os.version", v);
    }
    doc.set("user_agent.device.name", device);
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

/// The browser name and version ua-parser finds in a user agent.
pub(crate) fn browser(ua: &str) -> (&'static str, Option<String>) {
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

/// The operating system name and version ua-parser finds in a user agent.
pub(crate) fn operating_system(ua: &str) -> (&'static str, Option<String>) {
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

/// The device name ua-parser finds in a user agent.
pub(crate) fn device(ua: &str) -> &'static str {
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
    use serde_json::{json, Value};

    fn props(v: Value) -> Obj<'static> {
        match Node::from_value(v) {
            Node::Object(o) => o,
            _ => Obj::new(),
        }
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
        assert_eq!(at(&d, "a"), Some(json!(16)));
        assert_eq!(at(&d, "c"), Some(json!(7)));
        assert!(d.get("b").is_none() && d.get("d").is_none() && d.get("bad").is_none());
        assert_eq!(at(&d, "ip"), Some(json!("::1")));
        assert_eq!(
            at(&d, "error.message"),
            Some(json!([
                "unable to convert [12x] to long",
                "'1.2.3' is not an IP string literal."
            ]))
        );
    }

    #[test]
    fn truthy_knows_only_its_values() {
        let t = |v: Value| truthy(Some(&Node::from_value(v)));
        assert_eq!(t(json!("0")), Some(false));
        assert_eq!(t(json!(1)), Some(true));
        assert_eq!(t(json!(5_000_000_000_i64)), None);
        assert_eq!(t(json!("yes")), None);
        assert_eq!(t(json!(1.0)), None);
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
        assert_eq!(at(&d, "url.port"), Some(json!(80)));
        assert_eq!(d.get_str("url.extension"), Some("gif"));
        assert_eq!(d.get_str("url.password"), Some("pw"));
        assert_eq!(d.get_str("url.fragment"), Some("frag"));
        // No path: the parser's `""` is not a slice of the record (a fuzz find: it panicked).
        let text = String::from(r#"{"u":"https://host.example"}"#);
        let Ok(Node::Object(rec)) = tree::parse(&text) else {
            panic!("an object")
        };
        let mut borrowed = Doc::new();
        borrowed.set("u", rec.get("u").cloned().unwrap());
        uri_parts(&mut borrowed, "u");
        assert_eq!(borrowed.get_str("url.domain"), Some("host.example"));
        assert!(borrowed.get("url.path").is_none() || borrowed.get_str("url.path") == Some(""));
        // An escaped (owned) string gives the same parts.
        let mut owned = Doc::new();
        owned.set("u", String::from("https://h.example/a/b.txt?q"));
        uri_parts(&mut owned, "u");
        assert_eq!(owned.get_str("url.path"), Some("/a/b.txt"));
        assert_eq!(owned.get_str("url.extension"), Some("txt"));
        let mut bad = Doc::new();
        bad.set("u", "not a url");
        uri_parts(&mut bad, "u");
        assert_eq!(bad.get_str("url.original"), Some("not a url"));
        assert!(bad.get("url.domain").is_none());
    }

    #[test]
    fn url_parser_rules() {
        let host = |u: &'static str| parse_url(u).map(|p| (p.scheme, p.host, p.port, p.path));
        // Whitespace or control characters anywhere, ASCII or not, reject the URL.
        for bad in [
            "https://a.example/x y",
            "https://a.example/\u{7f}",
            "https://a.example/\u{a0}x",
            "https://a.example/\u{2003}",
            "https://a.example/\u{85}",
            "mailto:x://y",
            "1http://a.example/",
            "https://",
            "https://a.example:99999/",
        ] {
            assert!(parse_url(bad).is_none(), "{bad:?}");
        }
        // Other non-ASCII text is fine.
        assert_eq!(
            host("https://bücher.example/ü?q#f"),
            Some(("https", "bücher.example", None, "/ü"))
        );
        assert_eq!(
            host("svn+ssh://u@[::1]:8443"),
            Some(("svn+ssh", "[::1]", Some(8443), ""))
        );
        let p = parse_url("http://me:pw@h.example:/a.b/c?x=1:2@3#a?b").unwrap();
        assert_eq!(
            (p.user_info, p.host, p.port, p.path, p.query, p.fragment),
            (
                Some("me:pw"),
                "h.example",
                None,
                "/a.b/c",
                Some("x=1:2@3"),
                Some("a?b")
            )
        );
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

    #[test]
    fn json_rename_parses_or_keeps_the_string() {
        let p = props(json!({"ok": "{\"a\":[1,\"x\"]}", "bad": "{nope", "n": 5}));
        let mut d = Doc::new();
        json_rename(&mut d, &p, "ok", "o");
        json_rename(&mut d, &p, "bad", "b");
        json_rename(&mut d, &p, "n", "n");
        assert_eq!(at(&d, "o"), Some(json!({"a": [1, "x"]})));
        assert_eq!(at(&d, "b"), Some(json!("{nope")));
        assert_eq!(at(&d, "n"), Some(json!(5)));
        assert_eq!(
            d.get("error.message")
                .and_then(Node::as_array)
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn duplicates_go_one_and_two_levels_down() {
        let mut d = Doc::new();
        d.set("m365_defender.event.a", "1");
        d.set("m365_defender.event.b.c", "2");
        d.set("m365_defender.event.b.d", "3");
        d.set("x.y", "4");
        static FIELDS: Duplicates =
            Duplicates::new(&["m365_defender.event.a", "m365_defender.event.b.c", "x.y"]);
        let keep = Options {
            preserve_duplicate_custom_fields: true,
            ..Options::default()
        };
        remove_custom_duplicates(&keep, &mut d, &FIELDS);
        assert!(d.get("m365_defender.event.a").is_some());
        remove_custom_duplicates(&Options::default(), &mut d, &FIELDS);
        assert_eq!(
            at(&d, "m365_defender.event"),
            Some(json!({"b": {"d": "3"}}))
        );
        assert_eq!(at(&d, "x"), Some(json!({})));
    }
}
