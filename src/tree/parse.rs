//! Parsing a JSON text into a [`Node`]: the same grammar, limits (nesting depth 128), values
//! and error messages as `serde_json::from_str::<Value>`, but strings without escapes borrow
//! the text and objects are vectors, not hashed maps.
//!
//! Natively the text is parsed by sonic-rs (SIMD string and number scanning; serde_json's
//! parse was a fifth of the mapping's time), and by serde_json whenever sonic-rs might not
//! give what serde_json gives: a text it rejects (serde_json's error is the one reported), a
//! zero float (sonic-rs drops the sign of `-0`) and nesting deeper than [`GUARD_DEPTH`]
//! (sonic-rs allows a little more than 128). A unit test and the fuzz targets check that the
//! two agree.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};

use super::{Node, Obj};

/// Parses one JSON text (trailing whitespace allowed, nothing else after the value).
pub fn parse(text: &str) -> Result<Node<'_>, serde_json::Error> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut de = sonic_rs::Deserializer::from_str(text);
        if let Ok(node) = (NodeVisitor::<true> { depth: 0 }).deserialize(&mut de) {
            if de.end().is_ok() {
                return Ok(node);
            }
        }
    }
    parse_with_serde_json(text)
}

/// [`parse`] by serde_json alone (what WebAssembly uses, and what the native parse is
/// checked against).
pub fn parse_with_serde_json(text: &str) -> Result<Node<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

/// Nesting past which the native parse leaves the text to serde_json (whose limit is 128).
const GUARD_DEPTH: u32 = 100;

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor::<false> { depth: 0 })
    }
}

/// Builds a node; `GUARDED` (the sonic-rs parse) fails where serde_json could differ.
#[derive(Clone, Copy)]
struct NodeVisitor<const GUARDED: bool> {
    depth: u32,
}

impl<const GUARDED: bool> NodeVisitor<GUARDED> {
    /// The visitor of the values inside an array or object.
    fn inner<E: Error>(&self) -> Result<Self, E> {
        if GUARDED && self.depth >= GUARD_DEPTH {
            return Err(E::custom("deep: left to serde_json"));
        }
        Ok(NodeVisitor {
            depth: self.depth + 1,
        })
    }
}

impl<'de, const GUARDED: bool> DeserializeSeed<'de> for NodeVisitor<GUARDED> {
    type Value = Node<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, const GUARDED: bool> Visitor<'de> for NodeVisitor<GUARDED> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Node<'de>, E> {
        Ok(Node::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Node<'de>, E> {
        Ok(Node::UInt(n))
    }
    fn visit_f64<E: Error>(self, f: f64) -> Result<Node<'de>, E> {
        if GUARDED && f == 0.0 {
            return Err(E::custom("zero: its sign left to serde_json"));
        }
        Ok(Node::float(f))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        let inner = self.inner()?;
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Node<'de>)> = Vec::with_capacity(16);
        let mut seen = Seen::default();
        let inner = self.inner()?;
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value_seed(inner)?;
            match seen.check(&key, &members) {
                // A repeated key keeps its first position and takes the last value, as
                // serde_json's `Map` (an `IndexMap`) does.
                Some(i) => members[i].1 = value,
                None => members.push((key, value)),
            }
        }
        Ok(Node::Object(Obj::from_vec(members)))
    }
}

/// Finds repeated keys without comparing each key with all before it: a 256-bit filter of
/// cheap key hashes says "certainly new" for almost every key of a record, and a hit is
/// confirmed by a scan. Objects past [`Seen::SCAN_MAX`] keys switch to a hash map, so that a
/// hostile object with 100,000 keys costs linear time.
#[derive(Default)]
struct Seen {
    bits: [u64; 4],
    index: Option<HashMap<String, usize>>,
}

impl Seen {
    const SCAN_MAX: usize = 64;

    /// The index of `key` among `members` if it is there (`key` is about to be pushed when not).
    fn check(&mut self, key: &str, members: &[(Cow<'_, str>, Node<'_>)]) -> Option<usize> {
        if self.index.is_none() && members.len() >= Self::SCAN_MAX {
            let index = members
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.to_string(), i))
                .collect();
            self.index = Some(index);
        }
        if let Some(index) = &mut self.index {
            if let Some(&i) = index.get(key) {
                return Some(i);
            }
            index.insert(key.to_owned(), members.len());
            return None;
        }
        let h = filter_hash(key.as_bytes());
        let (word, bit) = (h / 64, 1u64 << (h % 64));
        let maybe = self.bits[word] & bit != 0;
        self.bits[word] |= bit;
        if maybe {
            members.iter().position(|(k, _)| k.as_ref() == key)
        } else {
            None
        }
    }
}

/// A hash in 0..256 of a key's length and first, middle and last bytes (enough to tell apart
/// the keys of one record: they differ in length or in one of those bytes almost always).
fn filter_hash(b: &[u8]) -> usize {
    let (first, mid, last) = match b {
        [] => (0, 0, 0),
        _ => (b[0], b[b.len() / 2], b[b.len() - 1]),
    };
    let h = (b.len() as u32).wrapping_mul(0x9E37_79B1)
        ^ u32::from(first).wrapping_mul(0x85EB_CA6B)
        ^ u32::from(mid).wrapping_mul(0xC2B2_AE35)
        ^ u32::from(last).wrapping_mul(0x27D4_EB2F);
    (h >> 24) as usize
}

/// An object key, borrowed from the text unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn same_as_serde_json(text: &str) {
        let ours = parse(text).map(|n| n.to_value()).map_err(|e| e.to_string());
        let theirs = serde_json::from_str::<Value>(text).map_err(|e| e.to_string());
        assert_eq!(ours, theirs, "{text}");
        if let (Ok(n), Ok(v)) = (parse(text), theirs) {
            // Same bytes out, in the same member order.
            assert_eq!(
                n.to_json_string(),
                serde_json::to_string(&v).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn parses_and_writes_as_serde_json_does() {
        for text in [
            r#"{"a":1,"b":-2,"c":1.5,"d":"x\u00e9\n","e":[true,false,null],"f":{}}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"k":{"x":1,"x":{"y":2}}, "k":[1e300, -0.0, 18446744073709551615, -9223372036854775808]}"#,
            r#"[1, "two", {"three": 3}]"#,
            "\"\\ud83d\\ude00 \\u0000\"",
            "{\"a\":1} x",
            "{\"a\":}",
            "[",
            "",
            "1e400",
        ] {
            same_as_serde_json(text);
        }
    }

    #[test]
    fn repeated_keys_in_wide_objects_keep_first_position_and_last_value() {
        let mut text = String::from("{");
        for i in 0..200 {
            text.push_str(&format!("\"k{}\":{i},", i % 150));
        }
        text.push_str("\"k0\":\"last\"}");
        same_as_serde_json(&text);
        let n = parse(&text).unwrap();
        assert_eq!(n.as_object().unwrap().len(), 150);
        assert_eq!(n["k0"], "last");
    }

    #[test]
    fn strings_without_escapes_borrow_the_text() {
        let text = r#"{"plain":"abc","escaped":"a\"b"}"#;
        let n = parse(text).unwrap();
        assert!(matches!(n["plain"], Node::Str(Cow::Borrowed(_))));
        assert!(matches!(n["escaped"], Node::Str(Cow::Owned(_))));
    }

    #[test]
    fn deep_nesting_fails_like_serde_json() {
        same_as_serde_json(&"[".repeat(200));
        same_as_serde_json(&format!("{}{}", "[".repeat(100), "]".repeat(100)));
    }

    /// The native parse (sonic-rs, serde_json where they could differ) against serde_json
    /// alone, on the texts where they part ways and on random texts: numbers of every form,
    /// escapes and surrogates, control characters, nesting around the limit.
    #[test]
    fn native_parse_equals_serde_json() {
        fn check(text: &str) {
            let native = parse(text)
                .map(|n| n.to_json_string())
                .map_err(|e| e.to_string());
            let serde = (parse_with_serde_json(text))
                .map(|n| n.to_json_string())
                .map_err(|e| e.to_string());
            assert_eq!(native, serde, "{text:?}");
        }
        let nest = |open: &str, close: &str, n: usize| open.repeat(n) + &close.repeat(n);
        let mut texts: Vec<String> = [
            r#""\ud800""#,
            r#""\udc00x""#,
            "\"a\u{1}b\"",
            "[1] x",
            "[1]  \n",
            "\u{feff}[1]",
            "-0",
            "-0.0",
            "0.0",
            "[0e0, -0E-0, 1e-400, -1e-400]",
            "18446744073709551616",
            "-9223372036854775809",
            "1e400",
            "1.7976931348623157e308",
            "5e-324",
            "01",
            "1.",
            ".5",
            "+1",
            "NaN",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "\"\\x\"",
            "123456789012345678901234567890",
            "1E2",
            "2.5e+3",
            "[\"a\"\u{c}]",
            "\"\\/\"",
            "",
            " ",
            "nul",
            "true false",
            "{\"a\":1}{}",
            "\"\\uD83D\\uDE00\"",
            "\"\\uDE00\\uD83D\"",
            "{\"a\":1,\"a\":-0}",
            "\t[ 1 ,\r\n2 ]\n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in [98, 99, 100, 101, 102, 126, 127, 128, 129, 130, 200] {
            texts.push(nest("[", "]", n));
            texts.push(nest("{\"a\":", "}", n).replace("{\"a\":}", "{\"a\":1}"));
        }
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        const PIECES: &[&str] = &[
            "0",
            "1",
            "-",
            "7",
            "9",
            ".",
            "e",
            "E",
            "+",
            "-",
            "5",
            "00",
            "3",
            "1234567890123",
        ];
        const CHARS: &[&str] = &[
            "a",
            "é",
            "日",
            "🎉",
            "\\n",
            "\\\"",
            "\\\\",
            "\\u00e9",
            "\\ud83d\\ude00",
            "\\ud800",
            "\\u0000",
            "\u{1}",
            " ",
            "\\t",
            "\\/",
            "\\q",
            "\u{7f}",
        ];
        for _ in 0..20_000 {
            let mut t = String::new();
            let items = 1 + next(6);
            t.push('[');
            for i in 0..items {
                if i > 0 {
                    t.push(',');
                }
                match next(4) {
                    0 | 1 => {
                        for _ in 0..1 + next(6) {
                            t.push_str(PIECES[next(PIECES.len() as u64) as usize]);
                        }
                    }
                    2 => {
                        t.push('"');
                        for _ in 0..next(8) {
                            t.push_str(CHARS[next(CHARS.len() as u64) as usize]);
                        }
                        t.push('"');
                    }
                    _ => {
                        let k = next(3);
                        t.push_str(&format!(
                            "{{\"k{k}\":{},\"k{}\":[-0,0.0]}}",
                            next(100),
                            next(3)
                        ));
                    }
                }
            }
            t.push(']');
            texts.push(t);
        }
        for t in &texts {
            check(t);
        }
    }
}
