//! Shared test helpers: where ../shared is, and a field-by-field JSON diff.
#![allow(dead_code)]

pub mod geo;

use std::path::PathBuf;

use serde_json::Value;

/// The shared folder beside the repository (fixtures, Sentinel schemas). Override with
/// `DEFENDER_BRIDGE_SHARED`.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("DEFENDER_BRIDGE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("fixtures/elastic").is_dir(),
        "the shared folder with Elastic's fixtures is not at {} (set DEFENDER_BRIDGE_SHARED)",
        dir.display()
    );
    dir
}

/// Differences between `got` and `want`, one line per field path; empty when equal.
/// Objects compare without regard to key order; numbers compare by value; `dynamic` paths only
/// need to be present on both sides.
pub fn diff(got: &Value, want: &Value, dynamic: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    walk("", got, want, dynamic, &mut out);
    out
}

fn walk(path: &str, got: &Value, want: &Value, dynamic: &[String], out: &mut Vec<String>) {
    if dynamic.iter().any(|d| d == path) {
        return;
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => walk(&join(k), gv, wv, dynamic, out),
                    None => out.push(format!("  - {}: missing, want {}", join(k), short(wv))),
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    out.push(format!("  + {}: unexpected {}", join(k), short(gv)));
                }
            }
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                walk(&format!("{path}[{i}]"), gv, wv, dynamic, out);
            }
        }
        (Value::Number(g), Value::Number(w)) if g.as_f64() == w.as_f64() => {}
        _ if got == want => {}
        _ => out.push(format!(
            "  ~ {path}: got {}, want {}",
            short(got),
            short(want)
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 160 {
        let mut cut = 160;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &s[..cut])
    } else {
        s
    }
}
