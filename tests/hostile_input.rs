//! Hostile input (issue 8, part 2): deep nesting, huge strings and arrays, NaN/Infinity,
//! duplicate keys, numbers beyond i64 and u64, invalid UTF-8 and lone surrogates, a 100 MB page,
//! a `records` envelope with 1,000,000 entries, timestamps in every format Defender has used and
//! nonsense ones, and every field of every fixture record replaced by hostile values.
//!
//! Each case must give, for both targets, an error record or a correct document: no panic, every
//! output serialises to JSON, error records have their shape and a short message, Sentinel rows
//! pass their table's schema, ECS date fields hold dates Elasticsearch accepts.
//!
//! Bounded memory: the two big cases run in a child process (this test binary re-executed) that
//! streams its input through the [`Splitter`] chunk by chunk, as the CLI reads stdin, so the input
//! never exists whole outside the splitter; the child reports its peak RSS (`VmHWM` from
//! /proc/self/status) and the parent checks it against a bound proportional to the record limit.
//! In debug builds the 100 MB page uses a 16 MiB record limit (it becomes one error record, and
//! peak memory stays near the limit) and the envelope is mapped at full size only in release
//! builds (`cargo test --release --test hostile_input`); debug builds map 20,000 entries and say so.

mod support;

use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::Command;

use defender_bridge::split::{Piece, Splitter, DEFAULT_MAX_RECORD_BYTES};
use defender_bridge::{sentinel, Kind, Mapper, Options, Output, Target};
use serde::Deserialize;
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Checking outputs

/// What one mapping produced.
#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    docs: usize,
    errors: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.docs += o.docs;
        self.errors += o.errors;
    }
}

/// Longest error message allowed: an error record must say what went wrong, not echo the input
/// (which it keeps in `event.original` / `RawData`).
const MAX_MESSAGE: usize = 2048;

/// ECS fields that Elasticsearch maps as `date` in Elastic's integrations (and their common
/// vendor siblings): a string here that Elasticsearch cannot parse makes it reject the document.
const ECS_DATE_FIELDS: &[&str] = &[
    "@timestamp",
    "event.created",
    "event.start",
    "event.end",
    "event.ingested",
    "process.start",
    "process.parent.start",
];

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// Elasticsearch's default date format (`strict_date_optional_time||epoch_millis`), the
/// forms that reach it from the core: RFC 3339 with up to 9 fractional digits, or a zone-less
/// `yyyy-MM-dd['T'HH:mm[:ss[.f]]]`.
fn es_accepts_date(s: &str) -> bool {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let frac_ok = s.split_once('.').map_or(true, |(_, f)| {
        f.bytes().take_while(u8::is_ascii_digit).count() <= 9
    });
    let b = s.as_bytes();
    let shape_ok = b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-';
    shape_ok
        && frac_ok
        && ((b.get(10) == Some(&b'T')
            && !s.ends_with('z')
            && DateTime::parse_from_rfc3339(s).is_ok())
            || NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
            || NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").is_ok()
            || (b.len() == 10 && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()))
}

/// Checks one output; returns the problems found.
fn check_output(target: Target, o: &Output) -> Vec<String> {
    let mut p = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(o.as_bytes());
    // As `Json::to_value`: a document nests a few levels deeper than its record.
    de.disable_recursion_limit();
    let v = match Value::deserialize(&mut de).and_then(|v| de.end().map(|()| v)) {
        Ok(v) => v,
        Err(e) => {
            p.push(format!("output is not valid JSON: {e}"));
            return p;
        }
    };
    if !v.is_object() {
        p.push(format!(
            "output is not an object: {}",
            trunc(&v.to_string())
        ));
    }
    let (e, d) = (&v, &v);
    match (o, target) {
        (Output::Error(_), Target::Ecs) => {
            if e["event"]["kind"] != "pipeline_error" {
                p.push("error record without event.kind: pipeline_error".into());
            }
            match e["error"]["message"].as_str() {
                Some(m) if m.len() <= MAX_MESSAGE => {}
                Some(m) => p.push(format!("error message of {} bytes: {}…", m.len(), trunc(m))),
                None => p.push("error record without error.message".into()),
            }
            if !e["event"]["original"].is_string() {
                p.push("error record without event.original".into());
            }
        }
        (Output::Error(_), Target::Sentinel) => {
            if e["Type"] != "DefenderBridgeErrors_CL" {
                p.push("Sentinel error row not in DefenderBridgeErrors_CL".into());
            }
            match e["ErrorMessage"].as_str() {
                Some(m) if m.len() <= MAX_MESSAGE => {}
                Some(m) => p.push(format!("error message of {} bytes: {}…", m.len(), trunc(m))),
                None => p.push("error row without ErrorMessage".into()),
            }
            if !e["RawData"].is_string() {
                p.push("error row without RawData".into());
            }
        }
        (Output::Document(_), Target::Ecs) => {
            for f in ECS_DATE_FIELDS {
                match get_path(d, f) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) if es_accepts_date(s) => {}
                    Some(other) => p.push(format!(
                        "ECS {f} is not a date Elasticsearch accepts: {}",
                        trunc(&other.to_string())
                    )),
                }
            }
        }
        (Output::Document(_), Target::Sentinel) => {
            let Some(row) = d.as_object() else {
                p.push("Sentinel row is not an object".into());
                return p;
            };
            let ty = row.get("Type").and_then(Value::as_str).unwrap_or("");
            match sentinel::table(ty) {
                Some(t) => p.extend(t.check_row(row).into_iter().map(|m| trunc(&m))),
                // Streaming tables without an embedded schema pass properties through.
                None if !ty.is_empty() && row.contains_key("TimeGenerated") => {}
                None => p.push(format!("Sentinel row of unknown table {ty:?}")),
            }
            if let Some(tg) = row.get("TimeGenerated") {
                if !sentinel::ColumnType::Datetime.accepts(tg) {
                    p.push(format!("TimeGenerated is not an ISO UTC datetime: {tg}"));
                }
            }
        }
    }
    let _ = v;
    p
}

fn trunc(s: &str) -> String {
    if s.len() <= 200 {
        return s.to_string();
    }
    let mut end = 200;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn mapper(target: Target, kind: Option<Kind>) -> Mapper {
    // strict_schema: Sentinel rows then carry only their table's columns, which check_row checks.
    Mapper::new(Options {
        target,
        kind,
        strict_schema: true,
        preserve_original_event: true,
        now: Some("2024-05-01T00:00:00Z".into()),
        ..Options::default()
    })
}

/// Maps a byte stream the way the CLI does (through the splitter, in chunks), checks every
/// output and returns the outputs, or the problems.
fn map_stream(m: &Mapper, input: &[u8], chunk: usize) -> Result<Vec<Output>, String> {
    let target = m.options().target;
    let run = || {
        let mut out = Vec::new();
        let mut splitter = Splitter::default();
        let mut on_piece = |p: Piece<'_>| m.map_piece(p, &mut |o: Output| out.push(o));
        for c in input.chunks(chunk.max(1)) {
            splitter.feed(c, &mut on_piece);
        }
        splitter.finish(&mut on_piece);
        out
    };
    let out =
        catch_unwind(AssertUnwindSafe(run)).map_err(|e| format!("PANIC: {}", panic_text(&e)))?;
    let problems: Vec<String> = out.iter().flat_map(|o| check_output(target, o)).collect();
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("; "))
    }
}

/// Maps one text directly (what the wasm filter and `map_bytes` callers do).
fn map_one(m: &Mapper, input: &[u8]) -> Result<Vec<Output>, String> {
    let target = m.options().target;
    let out = catch_unwind(AssertUnwindSafe(|| {
        let mut out = Vec::new();
        m.map_bytes(input, &mut |o: Output| out.push(o));
        out
    }))
    .map_err(|e| format!("PANIC: {}", panic_text(&e)))?;
    let problems: Vec<String> = out.iter().flat_map(|o| check_output(target, o)).collect();
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("; "))
    }
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn tally(out: &[Output]) -> Tally {
    let errors = out.iter().filter(|o| o.is_error()).count();
    Tally {
        docs: out.len() - errors,
        errors,
    }
}

fn error_text(o: &Output) -> String {
    let v = o.to_value();
    v["error"]["message"]
        .as_str()
        .or(v["ErrorMessage"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Both targets, streamed and direct: exactly one error record whose message contains `what`.
fn expect_one_error(input: &[u8], what: &str) -> Result<Tally, String> {
    let mut t = Tally::default();
    for target in [Target::Ecs, Target::Sentinel] {
        let m = mapper(target, None);
        for (how, out) in [
            ("stream", map_stream(&m, input, 4096)?),
            ("direct", map_one(&m, input)?),
        ] {
            if out.len() != 1 || !out[0].is_error() {
                return Err(format!(
                    "{target:?} {how}: want one error record, got {} docs, {} errors",
                    tally(&out).docs,
                    tally(&out).errors
                ));
            }
            if !error_text(&out[0]).contains(what) {
                return Err(format!(
                    "{target:?} {how}: message {:?} does not say {what:?}",
                    trunc(&error_text(&out[0]))
                ));
            }
            t += tally(&out);
        }
    }
    Ok(t)
}

/// Both targets, streamed and direct: `docs` documents and no error record; returns the ECS
/// documents (direct) for further checks.
fn expect_docs(input: &[u8], docs: usize) -> Result<(Tally, Vec<Value>), String> {
    expect_docs_each(input, docs, docs)
}

/// Like [`expect_docs`] when the targets give different numbers of documents.
fn expect_docs_each(
    input: &[u8],
    ecs_docs: usize,
    sentinel_docs: usize,
) -> Result<(Tally, Vec<Value>), String> {
    let mut t = Tally::default();
    let mut ecs = Vec::new();
    for target in [Target::Ecs, Target::Sentinel] {
        let m = mapper(target, None);
        let docs = if target == Target::Ecs {
            ecs_docs
        } else {
            sentinel_docs
        };
        for (how, out) in [
            ("stream", map_stream(&m, input, 4096)?),
            ("direct", map_one(&m, input)?),
        ] {
            let got = tally(&out);
            if got.docs != docs || got.errors != 0 {
                let first_err = out
                    .iter()
                    .find(|o| o.is_error())
                    .map(|o| trunc(&error_text(o)))
                    .unwrap_or_default();
                return Err(format!(
                    "{target:?} {how}: want {docs} docs, got {} docs, {} errors {first_err}",
                    got.docs, got.errors
                ));
            }
            if target == Target::Ecs && how == "direct" {
                ecs = out.iter().map(Output::to_value).collect();
            }
            t += got;
        }
    }
    Ok((t, ecs))
}

/// Both targets: whatever comes out passes the checks (documents or error records).
fn expect_handled(m_kind: Option<Kind>, input: &[u8]) -> Result<Tally, String> {
    let mut t = Tally::default();
    for target in [Target::Ecs, Target::Sentinel] {
        let m = mapper(target, m_kind);
        let out = map_one(&m, input)?;
        if out.is_empty() {
            return Err(format!("{target:?}: no output at all (a silent drop)"));
        }
        t += tally(&out);
    }
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// Inputs

fn shared() -> PathBuf {
    support::shared_dir()
}

/// A well-formed MDE alert that maps to exactly one document.
fn good_alert() -> Value {
    json!({
        "id": "da000_1", "severity": "Low", "status": "New", "title": "t", "category": "Malware",
        "detectionSource": "WindowsDefenderAv", "machineId": "m", "computerDnsName": "h",
        "alertCreationTime": "2024-01-01T00:00:00Z", "alertUpdateTime": "2024-01-01T00:05:00Z",
        "evidence": []
    })
}

/// A small streaming-API record (DeviceInfo).
fn small_event(i: usize) -> String {
    format!(
        r#"{{"time":"2024-01-01T00:00:00Z","tenantId":"t","category":"AdvancedHunting-DeviceInfo","properties":{{"DeviceId":"d{i}","DeviceName":"h{i}","Timestamp":"2024-01-01T00:00:00Z","ReportId":{i}}}}}"#
    )
}

/// One record of every kind, from the fixtures and samples: (file, record).
fn fixture_records() -> Vec<(String, Map<String, Value>)> {
    let mut files = Vec::new();
    let mut dirs = vec![
        shared().join("fixtures/elastic"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/samples"),
    ];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let n = p.to_string_lossy().into_owned();
            if p.is_dir() {
                dirs.push(p);
            } else if (n.ends_with(".log") || n.ends_with(".json"))
                && !n.ends_with("-expected.json")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read(&f).unwrap();
        let mut records = Vec::new();
        let mut s = Splitter::default();
        let mut on = |p: Piece<'_>| {
            if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(p.bytes) {
                records.push(m);
            }
        };
        s.feed(&text, &mut on);
        s.finish(&mut on);
        // Up to two records a file keeps the sweep quick in debug builds.
        let name = f.strip_prefix(shared()).unwrap_or(&f).display().to_string();
        out.extend(records.into_iter().take(2).map(|r| (name.clone(), r)));
    }
    out
}

/// Values that replace fields in the sweep.
fn hostile_values() -> Vec<(&'static str, Value)> {
    let deep = (0..100).fold(json!(1), |v, _| json!([v]));
    vec![
        ("null", Value::Null),
        ("true", json!(true)),
        (
            "u64::MAX+1",
            serde_json::from_str("18446744073709551616").unwrap(),
        ),
        (
            "i64::MIN-1",
            serde_json::from_str("-9223372036854775809").unwrap(),
        ),
        ("u64::MAX", json!(u64::MAX)),
        ("i64::MIN", json!(i64::MIN)),
        ("1e308", json!(1e308)),
        ("-1.5", json!(-1.5)),
        ("\"NaN\"", json!("NaN")),
        ("\"-Infinity\"", json!("-Infinity")),
        ("\"1e999\"", json!("1e999")),
        ("\"99999999999999999999\"", json!("99999999999999999999")),
        ("\"\"", json!("")),
        ("control chars", json!("\u{0}\u{1b}[31m\r\n\u{202e}")),
        ("emoji", json!("😀\u{10FFFF}")),
        ("[]", json!([])),
        ("{}", json!({})),
        ("nested 100", deep),
        ("array of 1000", json!(vec![json!({"a": 1}); 1000])),
        ("json in a string", json!("{\"a\":[1,2,{\"b\":null}]}")),
    ]
}

/// Timestamp forms Defender has used (must map) and nonsense (error record, or a document in
/// which the nonsense is not in a date field).
const GOOD_TIMES: &[&str] = &[
    "2020-06-30T10:09:01.1569718Z", // MDE API: 7 fractional digits
    "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00.000Z",
    "2024-01-01T00:00:00.1Z",
    "2023-09-25T14:30:00.123456789Z",
    "2023-09-25T14:30:00+02:00",
    "2023-09-25T14:30:00.1234567+00:00",
    "2023-09-25T14:30:00-07:30",
    "2023-09-25T14:30:00",         // zone-less ISO (Graph, some exports)
    "2023-09-25T14:30:00.1234567", // zone-less with fraction
    "2023-09-25 14:30:00",         // vulnerability export
    "2023-09-25 14:30:00.1234567",
    "0001-01-01T00:00:00Z", // "never" in several MDE fields
    "1601-01-01T00:00:00Z", // FILETIME zero
    "9999-12-31T23:59:59.9999999Z",
];
const BAD_TIMES: &[&str] = &[
    "yesterday",
    "2023-13-45T25:61:61Z",
    "2023-02-30T00:00:00Z",
    "2023-09-25T14:30:00+99:99",
    "+275760-09-13T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "/Date(1600000000000)/",
    "1600000000000",
    "2023-09-25T14:30:00.12345678901234567890123456789Z",
    "2023-09-25T14:30:00Z\u{0}",
    "２０２３-09-25T14:30:00Z",
    "T",
    "",
];

/// Field names whose value is a timestamp in some Defender record.
fn is_time_field(key: &str, v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        defender_bridge::doc::parse_time(s).is_some() && s.len() >= 10 && s.as_bytes()[4] == b'-'
    }) && !key.is_empty()
}

// ---------------------------------------------------------------------------------------------
// The suite

type CaseFn = Box<dyn Fn() -> Result<Tally, String>>;

fn cases() -> Vec<(&'static str, CaseFn)> {
    let mut c: Vec<(&'static str, CaseFn)> = Vec::new();
    let alert = good_alert();

    // Deep nesting.
    c.push((
        "deep array 100,000",
        Box::new(|| {
            let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
            expect_one_error(deep.as_bytes(), "recursion limit exceeded")
        }),
    ));
    c.push((
        "deep object 100,000",
        Box::new(|| {
            let deep = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
            expect_one_error(deep.as_bytes(), "recursion limit exceeded")
        }),
    ));
    c.push((
        "deep unterminated 200,000",
        Box::new(|| expect_one_error("[{\"a\":".repeat(100_000).as_bytes(), "invalid JSON")),
    ));
    c.push((
        "stray closers",
        Box::new(|| expect_one_error("]]]]}}}}".repeat(1000).as_bytes(), "invalid JSON")),
    ));
    {
        let alert = alert.clone();
        c.push((
            "field nested 120 deep",
            Box::new(move || {
                let mut a = alert.clone();
                a["extra"] = (0..120).fold(json!("x"), |v, _| json!({"n": [v]}));
                // 120 levels of {"n":[…]} are 240 JSON levels: past the parser's limit of 128.
                let t = expect_one_error(a.to_string().as_bytes(), "recursion limit exceeded")?;
                let mut a = alert.clone();
                a["extra"] = (0..60).fold(json!("x"), |v, _| json!({"n": [v]}));
                let (t2, _) = expect_docs(a.to_string().as_bytes(), 1)?;
                let mut t = t;
                t += t2;
                Ok(t)
            }),
        ));
    }
    {
        let alert = alert.clone();
        c.push((
            "record inside 100 nested arrays",
            Box::new(move || {
                let text = format!("{}{}{}", "[".repeat(100), alert, "]".repeat(100));
                Ok(expect_docs(text.as_bytes(), 1)?.0)
            }),
        ));
    }

    // Huge strings and arrays.
    {
        let alert = alert.clone();
        c.push((
            "huge string field (8 MB; 64 MB in release builds)",
            Box::new(move || {
                let mb = if cfg!(debug_assertions) { 8 } else { 64 };
                let mut a = alert.clone();
                // Two-byte characters: lengths in bytes and in characters differ.
                a["title"] = json!("\u{e9}".repeat(mb / 2 * 1024 * 1024));
                let (t, ecs) = expect_docs(a.to_string().as_bytes(), 1)?;
                let got = ecs[0]["message"].as_str().map_or(0, str::len);
                if got != mb * 1024 * 1024 {
                    return Err(format!("message is {got} bytes, want {}", mb * 1024 * 1024));
                }
                Ok(t)
            }),
        ));
    }
    c.push((
        "8 MB key",
        Box::new(|| {
            let text = format!("{{\"{}\":1,\"b\":2}}", "k".repeat(8 * 1024 * 1024));
            expect_one_error(text.as_bytes(), "unknown record kind")
        }),
    ));
    {
        let alert = alert.clone();
        c.push(("alert with 1,000 evidence", Box::new(move || {
            let mut a = alert.clone();
            a["evidence"] = json!((0..1000)
                .map(|i| json!({"entityType": "File", "sha1": format!("{i:040x}"), "fileName": format!("f{i}.exe")}))
                .collect::<Vec<_>>());
            // ECS: one document per evidence; Sentinel: one SecurityAlert row with its entities.
                let (t, ecs) = expect_docs_each(a.to_string().as_bytes(), 1000, 1)?;
            if ecs[999]["file"]["name"] != "f999.exe" {
                return Err(format!("last evidence not mapped: {}", trunc(&ecs[999].to_string())));
            }
            Ok(t)
        })));
    }
    {
        let alert = alert.clone();
        c.push((
            "field with 1,000,000 numbers",
            Box::new(move || {
                let mut a = alert.clone();
                a["extra"] = json!(vec![0u8; 1_000_000]);
                Ok(expect_docs(a.to_string().as_bytes(), 1)?.0)
            }),
        ));
    }
    c.push((
        "event with 50,000 properties",
        Box::new(|| {
            let mut v: Value = serde_json::from_str(&small_event(1)).unwrap();
            for i in 0..50_000 {
                v["properties"][format!("Extra{i}")] = json!(i);
            }
            Ok(expect_docs(v.to_string().as_bytes(), 1)?.0)
        }),
    ));
    c.push((
        "page of 20,000 empty objects",
        Box::new(|| {
            let text = format!("{{\"value\":[{}{{}}]}}", "{},".repeat(19_999));
            let mut t = Tally::default();
            for target in [Target::Ecs, Target::Sentinel] {
                let out = map_stream(&mapper(target, None), text.as_bytes(), 100_000)?;
                let got = tally(&out);
                if got.errors != 20_000 || got.docs != 0 {
                    return Err(format!("{target:?}: want 20000 error records, got {got:?}"));
                }
                t += got;
            }
            Ok(t)
        }),
    ));

    // NaN / Infinity / numbers out of range.
    for (name, lit, what) in [
        ("NaN literal", "NaN", "invalid JSON"),
        ("Infinity literal", "Infinity", "invalid JSON"),
        ("-Infinity literal", "-Infinity", "invalid JSON"),
        ("1e400", "1e400", "number out of range"),
        ("-1e400", "-1e400", "number out of range"),
    ] {
        let alert = alert.clone();
        c.push((
            name,
            Box::new(move || {
                let text =
                    alert
                        .to_string()
                        .replacen("\"title\":\"t\"", &format!("\"title\":{lit}"), 1);
                assert_ne!(text, alert.to_string());
                expect_one_error(text.as_bytes(), what)
            }),
        ));
    }
    {
        let alert = alert.clone();
        c.push((
            "1e-400 underflows to 0",
            Box::new(move || {
                let text = alert.to_string().replacen(
                    "\"title\":\"t\"",
                    "\"title\":\"t\",\"tiny\":1e-400",
                    1,
                );
                Ok(expect_docs(text.as_bytes(), 1)?.0)
            }),
        ));
    }
    c.push((
        "numbers beyond i64/u64 in a stream event",
        Box::new(|| {
            let mut t = Tally::default();
            for n in [
                "18446744073709551616",
                "-9223372036854775809",
                "123456789012345678901234567890",
                "1e300",
                "-0",
                "0.0000001",
            ] {
                let text = small_event(1).replace("\"ReportId\":1", &format!("\"ReportId\":{n}"));
                t += expect_handled(None, text.as_bytes())?;
            }
            Ok(t)
        }),
    ));

    // Duplicate keys: the last one wins, as in a JSON object read into a map.
    {
        let alert = alert.clone();
        c.push((
            "duplicate keys",
            Box::new(move || {
                let text = alert.to_string().replacen(
                    "\"severity\":\"Low\"",
                    "\"severity\":\"Low\",\"severity\":\"High\"",
                    1,
                );
                let (t, ecs) = expect_docs(text.as_bytes(), 1)?;
                let mut last_wins = alert.clone();
                last_wins["severity"] = json!("High");
                let (_, want) = expect_docs(last_wins.to_string().as_bytes(), 1)?;
                let strip = |mut v: Value| {
                    v["event"].as_object_mut().map(|e| e.remove("original"));
                    v
                };
                if strip(ecs[0].clone()) != strip(want[0].clone()) {
                    return Err(
                        "duplicate key: not the same document as with the last value alone".into(),
                    );
                }
                Ok(t)
            }),
        ));
    }
    {
        let alert = alert.clone();
        c.push((
            "duplicate value key in a page",
            Box::new(move || {
                let text = format!("{{\"value\":[{alert},{alert}],\"value\":[{alert}]}}");
                Ok(expect_docs(text.as_bytes(), 1)?.0)
            }),
        ));
    }

    // Invalid UTF-8 and surrogates.
    for (name, bytes) in [
        ("invalid UTF-8: lone continuation", &b"\x80"[..]),
        ("invalid UTF-8: 0xFF", b"\xff\xfe"),
        ("invalid UTF-8: overlong slash", b"\xc0\xaf"),
        ("invalid UTF-8: CESU surrogate", b"\xed\xa0\x80"),
        ("invalid UTF-8: truncated sequence", b"\xe2\x82"),
        ("invalid UTF-8: beyond U+10FFFF", b"\xf4\x90\x80\x80"),
    ] {
        let alert = alert.clone();
        c.push((
            name,
            Box::new(move || {
                let mut text = alert.to_string().into_bytes();
                let at = text.windows(4).position(|w| w == b"\"t\",").unwrap() + 2;
                text.splice(at..at, bytes.iter().copied());
                expect_one_error(&text, "invalid UTF-8")
            }),
        ));
    }
    {
        let alert = alert.clone();
        c.push((
            "invalid UTF-8 in a key",
            Box::new(move || {
                let text = alert
                    .to_string()
                    .replacen("\"title\"", "\"ti\u{1}tle\"", 1)
                    .replace('\u{1}', "\u{7f}");
                let mut b = text.into_bytes();
                let at = b.iter().position(|&x| x == 0x7f).unwrap();
                b[at] = 0xff;
                expect_one_error(&b, "invalid UTF-8")
            }),
        ));
    }
    for (name, esc, want) in [
        ("lone leading surrogate", "\\ud800", Some("invalid JSON")),
        ("lone trailing surrogate", "\\udc00", Some("surrogate")),
        (
            "reversed surrogate pair",
            "\\ude00\\ud83d",
            Some("surrogate"),
        ),
        ("valid surrogate pair", "\\ud83d\\ude00", None),
        ("escaped NUL", "\\u0000", None),
    ] {
        let alert = alert.clone();
        c.push((
            name,
            Box::new(move || {
                let text = alert.to_string().replacen(
                    "\"title\":\"t\"",
                    &format!("\"title\":\"a{esc}b\""),
                    1,
                );
                match want {
                    Some(w) => expect_one_error(text.as_bytes(), w),
                    None => Ok(expect_docs(text.as_bytes(), 1)?.0),
                }
            }),
        ));
    }
    c.push((
        "raw control characters",
        Box::new(|| expect_one_error(b"{\"title\":\"a\x00\x01\x1b\"}", "control character")),
    ));
    {
        let alert = alert.clone();
        c.push((
            "UTF-8 byte order mark",
            Box::new(move || {
                // PowerShell's Out-File and Notepad write one; the first record must not be lost.
                let mut text = b"\xef\xbb\xbf".to_vec();
                text.extend_from_slice(alert.to_string().as_bytes());
                text.push(b'\n');
                text.extend_from_slice(serde_json::to_string_pretty(&alert).unwrap().as_bytes());
                let mut t = Tally::default();
                for target in [Target::Ecs, Target::Sentinel] {
                    let out = map_stream(&mapper(target, None), &text, 7)?;
                    let got = tally(&out);
                    if got.docs != 2 || got.errors != 0 {
                        return Err(format!(
                            "{target:?}: want 2 docs, got {got:?}: {}",
                            out.first().map(error_text).unwrap_or_default()
                        ));
                    }
                    t += got;
                }
                let mut one = b"\xef\xbb\xbf".to_vec();
                one.extend_from_slice(alert.to_string().as_bytes());
                t += expect_docs(&one, 1)?.0;
                Ok(t)
            }),
        ));
    }

    // Timestamps: every time field of one record of each kind, in every form.
    c.push((
        "timestamps in every form, every time field",
        Box::new(timestamp_sweep),
    ));

    // Every field of every fixture record replaced with each hostile value, each kind forced.
    c.push((
        "hostile values in every field of every fixture",
        Box::new(field_sweep),
    ));
    c.push((
        "every fixture record forced to every kind",
        Box::new(kind_sweep),
    ));
    c
}

/// Problems of a sweep, at most one per field (and target), so that one run shows them all.
#[derive(Default)]
struct Problems {
    seen: std::collections::BTreeMap<String, String>,
}

impl Problems {
    fn add(&mut self, what: &str, problem: String) {
        self.seen.entry(what.to_string()).or_insert(problem);
    }
    fn result(self, t: Tally) -> Result<Tally, String> {
        if self.seen.is_empty() {
            return Ok(t);
        }
        let n = self.seen.len();
        let list: Vec<String> = self
            .seen
            .into_iter()
            .take(40)
            .map(|(k, v)| format!("\n    {k}: {v}"))
            .collect();
        Err(format!("{n} fields with problems:{}", list.join("")))
    }
}

/// Replaces every time field of one record per fixture file with every timestamp form.
fn timestamp_sweep() -> Result<Tally, String> {
    let mut t = Tally::default();
    let mut fields = 0;
    let mut problems = Problems::default();
    for (file, rec) in fixture_records() {
        // Top-level fields, and the properties of streaming records.
        let mut paths: Vec<(Option<&str>, String)> = rec
            .iter()
            .filter(|(k, v)| is_time_field(k, v))
            .map(|(k, _)| (None, k.clone()))
            .collect();
        if let Some(Value::Object(p)) = rec.get("properties") {
            paths.extend(
                p.iter()
                    .filter(|(k, v)| is_time_field(k, v))
                    .map(|(k, _)| (Some("properties"), k.clone())),
            );
        }
        for (parent, key) in paths {
            fields += 1;
            for (good, ts) in GOOD_TIMES
                .iter()
                .map(|s| (true, *s))
                .chain(BAD_TIMES.iter().map(|s| (false, *s)))
            {
                let mut r = Value::Object(rec.clone());
                match parent {
                    Some(p) => r[p][&key] = json!(ts),
                    None => r[&key] = json!(ts),
                }
                let text = r.to_string();
                for target in [Target::Ecs, Target::Sentinel] {
                    let what = format!("{file} {key} {target:?}");
                    let out = match map_one(&mapper(target, None), text.as_bytes()) {
                        Ok(out) => out,
                        Err(e) => {
                            problems.add(&what, format!("{ts:?}: {e}"));
                            continue;
                        }
                    };
                    let got = tally(&out);
                    // The one error a good form may give: a first/last event time pair more
                    // than 292 years apart has no `event.duration` in nanoseconds (Elastic's
                    // script fails the same way).
                    let too_far = out.iter().any(|o| error_text(o).contains("too far from"));
                    if good && got.errors > 0 && !too_far {
                        let err = out
                            .iter()
                            .find(|o| o.is_error())
                            .map(error_text)
                            .unwrap_or_default();
                        problems.add(&what, format!("{ts:?}: error record: {}", trunc(&err)));
                    }
                    if got.docs + got.errors == 0 {
                        problems.add(&what, format!("{ts:?}: no output"));
                    }
                    t += got;
                }
            }
        }
    }
    println!(
        "hostile:   timestamp sweep: {fields} time fields x {} forms x 2 targets",
        GOOD_TIMES.len() + BAD_TIMES.len()
    );
    problems.result(t)
}

/// Replaces every top-level field (and every streaming property) of each fixture record with each
/// hostile value; everything must be handled.
fn field_sweep() -> Result<Tally, String> {
    let records = fixture_records();
    let values = hostile_values();
    // Two threads (records split by parity): the sweep is most of this file's time.
    let sweep = |part: usize| {
        let mut t = Tally::default();
        let mut problems = Problems::default();
        let mut n = 0;
        for (file, rec) in records.iter().skip(part).step_by(2) {
            let mut paths: Vec<(Option<&str>, String)> =
                rec.keys().map(|k| (None, k.clone())).collect();
            if let Some(Value::Object(p)) = rec.get("properties") {
                paths.extend(p.keys().map(|k| (Some("properties"), k.clone())));
            }
            for (fi, (parent, key)) in paths.into_iter().enumerate() {
                for (j, (vname, v)) in values.iter().enumerate() {
                    // Debug builds: every third value per field, rotating with the field, so
                    // every value still meets many fields of every kind; release builds: all.
                    if cfg!(debug_assertions) && (fi + j) % 3 != 0 {
                        continue;
                    }
                    let mut r = Value::Object(rec.clone());
                    match parent {
                        Some(p) => r[p][&key] = v.clone(),
                        None => r[&key] = v.clone(),
                    }
                    n += 1;
                    match expect_handled(None, r.to_string().as_bytes()) {
                        Ok(got) => t += got,
                        Err(e) => problems.add(&format!("{file} {key}"), format!("{vname}: {e}")),
                    }
                }
            }
        }
        (t, problems, n)
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| sweep(0));
        let b = sweep(1);
        (a.join().expect("sweep thread"), b)
    });
    let mut t = a.0;
    t += b.0;
    let mut problems = a.1;
    problems.seen.extend(b.1.seen);
    println!(
        "hostile:   field sweep: {} records x 2 targets{}",
        a.2 + b.2,
        if cfg!(debug_assertions) {
            " (debug build: a third of the values per field)"
        } else {
            ""
        }
    );
    problems.result(t)
}

/// Every fixture record forced to every kind (a record of the wrong kind must give error records
/// or documents, never a panic).
fn kind_sweep() -> Result<Tally, String> {
    let mut t = Tally::default();
    for (file, rec) in fixture_records() {
        let text = Value::Object(rec).to_string();
        for k in Kind::ALL {
            t += expect_handled(Some(k), text.as_bytes())
                .map_err(|e| format!("{file} as {}: {e}", k.name()))?;
        }
    }
    Ok(t)
}

#[test]
fn hostile_inputs_are_handled() {
    let cases = cases();
    let total = cases.len();
    let mut handled = 0;
    let mut failures = Vec::new();
    for (name, case) in cases {
        let started = std::time::Instant::now();
        let result = catch_unwind(AssertUnwindSafe(case));
        // (Informational only; nothing asserts on time.)
        eprintln!("hostile: {name} took {:.1?}", started.elapsed());
        match result {
            Ok(Ok(t)) => {
                handled += 1;
                println!(
                    "hostile: ok   {name}: {} documents, {} error records",
                    t.docs, t.errors
                );
            }
            Ok(Err(e)) => {
                println!("hostile: FAIL {name}: {e}");
                failures.push(name);
            }
            Err(p) => {
                println!("hostile: FAIL {name}: PANIC {}", panic_text(&p));
                failures.push(name);
            }
        }
    }
    println!("hostile: {handled}/{total} cases handled");
    assert!(failures.is_empty(), "not handled: {failures:?}");
}

// ---------------------------------------------------------------------------------------------
// The big cases, in a child process that reports its peak memory

/// Generates a big input in pieces, so that the input itself never sits whole in memory.
trait Source {
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> bool;
}

/// A `{"value":[…]}` page of MDE alerts, `bytes` long (roughly).
struct Page {
    left: usize,
    started: bool,
    done: bool,
    n: usize,
}

impl Source for Page {
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.done {
            return false;
        }
        if !self.started {
            self.started = true;
            buf.extend_from_slice(b"{\"@odata.context\":\"https://api.securitycenter.microsoft.com/api/$metadata#Alerts\",\"value\":[");
        }
        let mut a = good_alert();
        while buf.len() < 256 * 1024 {
            a["id"] = json!(format!("da{:012}", self.n));
            let rec = a.to_string();
            if self.n > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(rec.as_bytes());
            self.n += 1;
            self.left = self.left.saturating_sub(rec.len() + 1);
            if self.left == 0 {
                buf.extend_from_slice(b"]}\n");
                self.done = true;
                break;
            }
        }
        true
    }
}

/// A `{"records":[…]}` envelope of `entries` streaming records, one in every 1000 broken.
struct Envelope {
    entries: usize,
    n: usize,
    started: bool,
    done: bool,
}

fn envelope_entry(i: usize) -> String {
    if i % 1000 == 999 {
        // A DeviceInfo record whose properties are not an object: an error record.
        r#"{"time":"2024-01-01T00:00:00Z","category":"AdvancedHunting-DeviceInfo","properties":42}"#
            .to_string()
    } else {
        small_event(i)
    }
}

impl Source for Envelope {
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.done {
            return false;
        }
        if !self.started {
            self.started = true;
            buf.extend_from_slice(b"{\"records\":[\n");
        }
        while buf.len() < 256 * 1024 && self.n < self.entries {
            if self.n > 0 {
                buf.extend_from_slice(b",\n");
            }
            buf.extend_from_slice(envelope_entry(self.n).as_bytes());
            self.n += 1;
        }
        if self.n == self.entries {
            buf.extend_from_slice(b"\n]}\n");
            self.done = true;
        }
        true
    }
}

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Streams a source through the splitter and the mapper, the outputs serialised and dropped as
/// an output plugin would; returns (docs, errors, input bytes, first error message).
fn stream_source(
    src: &mut dyn Source,
    max_record: usize,
    target: Target,
) -> (usize, usize, usize, String) {
    let m = mapper(target, None);
    let mut s = Splitter::new(max_record);
    let (mut docs, mut errors, mut bytes, mut first_err) = (0, 0, 0, String::new());
    let mut out_bytes = 0usize;
    let mut on_piece = |p: Piece<'_>| {
        m.map_piece(p, &mut |o: Output| {
            let problems = check_output(target, &o);
            assert!(problems.is_empty(), "{problems:?}");
            out_bytes += o.as_bytes().len();
            if o.is_error() {
                if first_err.is_empty() {
                    first_err = error_text(&o);
                }
                errors += 1;
            } else {
                docs += 1;
            }
        })
    };
    let mut buf = Vec::with_capacity(512 * 1024);
    while src.next_chunk(&mut buf) {
        bytes += buf.len();
        s.feed(&buf, &mut on_piece);
        buf.clear();
    }
    s.finish(&mut on_piece);
    (docs, errors, bytes, first_err)
}

/// Child side: runs one big case when `HOSTILE_CHILD` names it, and prints its result.
#[test]
fn hostile_child() {
    let Ok(case) = std::env::var("HOSTILE_CHILD") else {
        return;
    };
    let release = !cfg!(debug_assertions);
    let (docs, errors, bytes, first_err) = match case.as_str() {
        "page-100mb" => {
            let max = if release {
                DEFAULT_MAX_RECORD_BYTES
            } else {
                16 * 1024 * 1024
            };
            let mut src = Page {
                left: 100 * 1024 * 1024,
                started: false,
                done: false,
                n: 0,
            };
            stream_source(&mut src, max, Target::Ecs)
        }
        "envelope-1m" => {
            let entries = if release { 1_000_000 } else { 20_000 };
            let mut src = Envelope {
                entries,
                n: 0,
                started: false,
                done: false,
            };
            stream_source(&mut src, DEFAULT_MAX_RECORD_BYTES, Target::Sentinel)
        }
        other => panic!("unknown case {other}"),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "HOSTILE-RESULT docs={docs} errors={errors} bytes={bytes} vmhwm_kb={} first_error={first_err:?}", vm_hwm_kb())
        .unwrap();
}

struct ChildResult {
    docs: usize,
    errors: usize,
    bytes: usize,
    hwm_kb: u64,
    first_error: String,
}

fn run_child(case: &str) -> ChildResult {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(&exe)
        .args([
            "hostile_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOSTILE_CHILD", case)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{case}: child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("HOSTILE-RESULT ").map(|x| x.1))
        .unwrap_or_else(|| panic!("{case}: no result in {stdout}"));
    let field = |k: &str| -> String {
        let start = line.find(&format!("{k}=")).unwrap() + k.len() + 1;
        line[start..].split(' ').next().unwrap().to_string()
    };
    ChildResult {
        docs: field("docs").parse().unwrap(),
        errors: field("errors").parse().unwrap(),
        bytes: field("bytes").parse().unwrap(),
        hwm_kb: field("vmhwm_kb").parse().unwrap(),
        first_error: line
            .split_once("first_error=")
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
    }
}

/// Peak memory allowed for a big input of `bytes`: the splitter holds the text once (its buffer
/// may double while it grows), the item texts are slices of it, and only one item is parsed at a
/// time; plus the process itself. A whole parsed tree would need ~10x the text.
fn big_input_bound_kb(bytes: usize) -> u64 {
    (bytes as u64 * 3) / 1024 + 64 * 1024
}

#[test]
fn hostile_big_inputs_bounded_memory() {
    let release = !cfg!(debug_assertions);
    let mb = |kb: u64| kb as f64 / 1024.0;
    let mut handled = 0;

    // 100 MB page.
    let r = run_child("page-100mb");
    if release {
        // Every alert maps; the page (100 MB) is held once by the splitter and mapped item by
        // item (src/large.rs), each item's documents going to the sink as they are made.
        let records = r.docs;
        assert!(
            records > 300_000 && r.errors == 0,
            "page: {} docs, {} errors {}",
            r.docs,
            r.errors,
            r.first_error
        );
        let bound_kb = big_input_bound_kb(r.bytes);
        assert!(
            r.hwm_kb < bound_kb,
            "page: peak RSS {:.0} MB over {:.0} MB",
            mb(r.hwm_kb),
            mb(bound_kb)
        );
    } else {
        // Debug builds: a 16 MiB record limit; the page becomes one error record and memory stays
        // near the limit however large the page.
        assert_eq!((r.docs, r.errors), (0, 1), "page: {}", r.first_error);
        assert!(
            r.first_error.contains("larger than the limit"),
            "{}",
            r.first_error
        );
        assert!(
            r.hwm_kb < 128 * 1024,
            "page: peak RSS {:.0} MB with a 16 MiB record limit",
            mb(r.hwm_kb)
        );
    }
    handled += 1;
    println!(
        "hostile-big: ok   100 MB page ({} bytes, {}): {} documents, {} error records, peak RSS {:.0} MB",
        r.bytes,
        if release { "release build, 256 MiB record limit" } else { "debug build, 16 MiB record limit" },
        r.docs,
        r.errors,
        mb(r.hwm_kb)
    );

    // 1,000,000-entry envelope (20,000 in debug builds).
    let r = run_child("envelope-1m");
    let entries = if release { 1_000_000 } else { 20_000 };
    assert_eq!(r.docs + r.errors, entries, "envelope: one output per entry");
    assert_eq!(
        r.errors,
        entries / 1000,
        "envelope: one error record per broken entry: {}",
        r.first_error
    );
    let bound_kb = big_input_bound_kb(r.bytes);
    assert!(
        r.hwm_kb < bound_kb,
        "envelope: peak RSS {:.0} MB over {:.0} MB",
        mb(r.hwm_kb),
        mb(bound_kb)
    );
    handled += 1;
    println!(
        "hostile-big: ok   records envelope with {entries} entries ({} bytes{}): {} documents, {} error records, peak RSS {:.0} MB",
        r.bytes,
        if release { "" } else { "; debug build: 20000 of 1000000 entries, run with --release for all" },
        r.docs,
        r.errors,
        mb(r.hwm_kb)
    );
    println!("hostile-big: {handled}/2 cases handled");
}

/// Texts over 1 MiB are mapped item by item (src/large.rs): a page, an envelope and an array of
/// every fixture record, repeated past 1 MiB, give exactly the outputs of mapping each item alone,
/// in order, with `preserve_original_event` on (so `event.original` is compared too).
#[test]
fn large_texts_map_item_by_item_like_small_ones() {
    let records: Vec<Value> = fixture_records()
        .into_iter()
        .map(|(_, r)| Value::Object(r))
        .collect();
    let mut items = Vec::new();
    let mut len = 0;
    while len <= 1 << 20 {
        for r in &records {
            len += r.to_string().len() + 1;
            items.push(r.clone());
        }
    }
    for target in [Target::Ecs, Target::Sentinel] {
        let m = mapper(target, None);
        let mut want = Vec::new();
        for item in &items {
            m.map_value(item.clone(), &mut |o: Output| want.push(o));
        }
        for (what, text) in [
            (
                "page",
                json!({"@odata.context": "x", "value": items}).to_string(),
            ),
            ("envelope", json!({ "records": items }).to_string()),
            ("array", Value::Array(items.clone()).to_string()),
        ] {
            assert!(text.len() > 1 << 20);
            let mut got = Vec::new();
            m.map_text(&text, &mut |o: Output| got.push(o));
            assert_eq!(got.len(), want.len(), "{what} ({target:?}): output count");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{what} ({target:?}): output {i} differs");
            }
        }
    }
}
