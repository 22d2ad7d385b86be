//! Writing a [`Node`] as compact JSON, always serde_json's exact bytes: [`write_node`] (the
//! documents: the structure written here, short strings by a word-at-a-time check plus
//! serde_json, long ones natively by sonic-rs's SIMD escaper, numbers by serde_json), and
//! `Serialize`, so that any serde format can write a tree, with [`to_writer`] / [`to_string`]
//! for anything serialisable (sonic-rs's writer natively, serde_json's in WebAssembly, where
//! sonic-rs has only a scalar fallback, 40% slower than serde_json).

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{Node, Obj};

/// Appends the compact JSON text of a tree to `out`: serde_json's exact bytes, the structure
/// written directly rather than through serde's `Serializer` calls (a document is mostly short
/// keys and strings, where that machinery cost more than the bytes); strings and numbers are
/// escaped and formatted by serde_json / sonic-rs (see `write_str`).
pub fn write_node(out: &mut Vec<u8>, node: &Node<'_>) {
    match node {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Bool(true) => out.extend_from_slice(b"true"),
        Node::Bool(false) => out.extend_from_slice(b"false"),
        Node::UInt(n) => {
            let _ = serde_json::Serializer::new(&mut *out).serialize_u64(*n);
        }
        Node::Int(n) => {
            let _ = serde_json::Serializer::new(&mut *out).serialize_i64(*n);
        }
        Node::Float(f) => {
            let _ = serde_json::Serializer::new(&mut *out).serialize_f64(*f);
        }
        Node::Str(s) => write_str(out, s),
        Node::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_node(out, item);
            }
            out.push(b']');
        }
        Node::Object(o) => write_obj(out, o),
    }
}

/// [`write_node`] of an object.
pub fn write_obj(out: &mut Vec<u8>, obj: &Obj<'_>) {
    out.push(b'{');
    for (i, (k, v)) in obj.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_node(out, v);
    }
    out.push(b'}');
}

/// A JSON string. Up to [`LONG`] bytes (keys, names, ids, timestamps, hashes), and every
/// string in WebAssembly, a word-at-a-time check: copied between quotes when nothing needs an
/// escape, else escaped by [`write_escaped`]. Longer strings natively by sonic-rs's SIMD
/// escaper, whose setup costs more than the check for shorter ones.
fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    #[cfg(not(target_arch = "wasm32"))]
    if b.len() > LONG {
        let _ = sonic_rs::to_writer(&mut *out, s);
        return;
    }
    let escape = if b.len() <= 16 {
        short_needs_escape(b)
    } else {
        needs_escape(b)
    };
    if escape {
        write_escaped(out, b);
    } else {
        write_plain(out, b);
    }
}

/// Natively, the length past which sonic-rs writes a string.
#[cfg(not(target_arch = "wasm32"))]
const LONG: usize = 64;

/// A string with nothing to escape, between quotes.
#[inline]
fn write_plain(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() + 2);
    out.push(b'"');
    out.extend_from_slice(b);
    out.push(b'"');
}

/// [`needs_escape`] for up to 16 bytes, without a loop: two words that overlap (the first and
/// the last eight bytes, or four and four), so that no byte is looked at alone.
#[inline]
fn short_needs_escape(b: &[u8]) -> bool {
    let n = b.len();
    debug_assert!(n <= 16);
    let half = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    if n >= 8 {
        word_needs_escape(word_at(b, 0)) || word_needs_escape(word_at(b, n - 8))
    } else if n >= 4 {
        word_needs_escape(u64::from(half(0)) | u64::from(half(n - 4)) << 32)
    } else {
        b.iter().any(|&c| byte_needs_escape(c))
    }
}

/// A string that has bytes to escape, as serde_json escapes them (`\"`, `\\`, `\b`, `\f`,
/// `\n`, `\r`, `\t`, other control characters as `\u00xx`): the runs between them are found a
/// word at a time and copied whole, where serde_json looks at every byte. JSON text in string
/// columns (Sentinel's `Entities`, `AdditionalData`) is such a string.
#[cold]
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() + 8);
    out.push(b'"');
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        if i + 8 <= b.len() && !word_needs_escape(word_at(b, i)) {
            i += 8;
            continue;
        }
        let c = b[i];
        if byte_needs_escape(c) {
            out.extend_from_slice(&b[start..i]);
            match c {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 0xf)],
                ]),
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// Whether serde_json would escape any byte of `b` (at least 8 bytes): a control character,
/// `"` or `\`. Eight bytes at a time, the last word overlapping the one before it.
fn needs_escape(b: &[u8]) -> bool {
    let n = b.len();
    debug_assert!(n >= 8);
    let mut at = 0;
    while at + 8 < n {
        if word_needs_escape(word_at(b, at)) {
            return true;
        }
        at += 8;
    }
    word_needs_escape(word_at(b, n - 8))
}

/// The eight bytes of `b` from `at`, as a little-endian word.
#[inline]
fn word_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Whether serde_json escapes this byte: a control character, `"` or `\\`.
#[inline]
fn byte_needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// Whether any of eight bytes is a control character, `"` or `\\` (may say so for a word that
/// has none only after a byte that is one: the borrows run upward).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte below 0x20: `w - 0x20…` borrows into its high bit while the byte's own high
    // bit is clear.
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let zero = |w: u64| w.wrapping_sub(ONES) & !w;
    (control | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))) & HIGHS
        != 0
}

/// Compact JSON text of a tree (see [`write_node`]).
pub fn node_to_string(node: &Node<'_>) -> String {
    text_of(|out| write_node(out, node))
}

/// Compact JSON text of an object (see [`write_node`]).
pub fn obj_to_string(obj: &Obj<'_>) -> String {
    text_of(|out| write_obj(out, obj))
}

fn text_of(write: impl FnOnce(&mut Vec<u8>)) -> String {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(4096));
    }
    // Written into a buffer kept for the next document, then copied out at its exact size: a
    // fresh buffer grew (a reallocation and a copy) for most streaming documents, and sizing it
    // from the record's length measured no better.
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut out) => {
            out.clear();
            write(&mut out);
            let text = String::from_utf8(out.to_vec()).unwrap_or_default();
            // One huge document does not keep its buffer for good.
            if out.capacity() > 1 << 20 {
                *out = Vec::with_capacity(4096);
            }
            text
        }
        // A document written while another is (not done today): a buffer of its own.
        Err(_) => {
            let mut out = Vec::with_capacity(1024);
            write(&mut out);
            String::from_utf8(out).unwrap_or_default()
        }
    })
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::UInt(n) => s.serialize_u64(*n),
            Node::Int(n) => s.serialize_i64(*n),
            Node::Float(f) => s.serialize_f64(*f),
            Node::Str(v) => s.serialize_str(v),
            Node::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(o) => o.serialize(s),
        }
    }
}

impl Serialize for Obj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

/// Appends the compact JSON text of anything serialisable to `out`. Writing into a Vec fails
/// only for a map key that is not a string, which no caller has.
pub fn to_writer<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    #[cfg(not(target_arch = "wasm32"))]
    let _ = sonic_rs::to_writer(out, v);
    #[cfg(target_arch = "wasm32")]
    let _ = serde_json::to_writer(out, v);
}

/// Compact JSON text of anything serialisable.
pub fn to_string<T: Serialize + ?Sized>(v: &T) -> String {
    let mut out = Vec::with_capacity(1024);
    to_writer(&mut out, v);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// `write_node` gives serde_json's bytes: every byte that needs an escape at every position
    /// of a word, around the word edges, next to non-ASCII text; numbers of every kind.
    #[test]
    fn writes_serde_json_bytes() {
        let mut strings: Vec<String> = vec![
            String::new(),
            "plain".into(),
            "\u{7f}del and é ü 日本 🎉".into(),
            "x".repeat(100),
        ];
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for len in [
                1usize, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 63, 64, 65, 70,
            ] {
                for at in 0..len {
                    let mut b = vec![b'a'; len];
                    b[at] = special;
                    strings.push(String::from_utf8(b).unwrap());
                }
            }
        }
        // Bytes just above the control range and high bytes must not count as escapes.
        strings.push(" !#[]{}~\u{80}\u{ff}abcdefgh".into());
        let mut values: Vec<Value> = strings.iter().map(|s| json!(s)).collect();
        values.extend([
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(-1),
            json!(0.1),
            json!(1e300),
            json!(-2.5e-8),
            json!([]),
            json!({}),
            json!({"a\"b": [1, "x\ny", {"": null}], "k": {"n": -0.0}}),
        ]);
        for v in values {
            let node = Node::from_value(v.clone());
            assert_eq!(
                node_to_string(&node),
                serde_json::to_string(&v).unwrap(),
                "{v}"
            );
        }
        for s in &strings {
            let want = s.bytes().any(|c| c < 0x20 || c == b'"' || c == b'\\');
            if s.len() >= 8 {
                assert_eq!(needs_escape(s.as_bytes()), want, "{s:?}");
            }
            if s.len() <= 16 {
                assert_eq!(short_needs_escape(s.as_bytes()), want, "{s:?}");
            }
            // The escaper WebAssembly uses for every string, at every length.
            let mut out = Vec::new();
            write_escaped(&mut out, s.as_bytes());
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
        let long = format!("{}\"\u{1}é\\{}", "x".repeat(37), "y\n".repeat(20));
        let mut out = Vec::new();
        write_escaped(&mut out, long.as_bytes());
        assert_eq!(out, serde_json::to_vec(&long).unwrap());
        // Object keys are strings too.
        let obj: Obj<'_> = strings.iter().map(|s| (s.as_str(), 1u64)).collect();
        let v = Node::Object(obj).to_value();
        assert_eq!(
            node_to_string(&Node::from_value(v.clone())),
            serde_json::to_string(&v).unwrap()
        );
    }
}
