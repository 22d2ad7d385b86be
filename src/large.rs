//! Large texts: a page, an envelope or an array bigger than [`ITEMWISE_ABOVE`] is cut into its
//! items' texts before any item is parsed, so peak memory stays near the size of the text
//! instead of the ~10× a whole parsed tree of small JSON values costs.
//!
//! The outputs are the ones the whole-tree path gives, item for item, with one deliberate
//! difference: an item nested too deep for the parser becomes its own error record instead of
//! turning the whole page into one.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Texts above this size are mapped item by item. Below it the whole tree is cheaper (one parse
/// instead of a scan plus one parse per item) and small enough not to matter.
pub(crate) const ITEMWISE_ABOVE: usize = 1 << 20;

/// The texts of the items of `text` when it is an array, a `{"value":[…]}` page or a
/// `{"records":[…]}` envelope (the wrapper key and `@`-annotations only, as
/// `detect::is_wrapper` decides for parsed values); `None` for anything else, including text that
/// is not JSON (the whole-tree path then reports it).
pub(crate) fn items(text: &str) -> Option<Vec<&RawValue>> {
    match serde_json::from_str::<Top<'_>>(text).ok()? {
        Top::Items(items) => Some(items),
        Top::Wrapper(raw) => serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok(),
        Top::Other => None,
    }
}

enum Top<'a> {
    /// A top-level array's items.
    Items(Vec<&'a RawValue>),
    /// The array of a page or an envelope, still unparsed.
    Wrapper(&'a RawValue),
    Other,
}

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<&RawValue>()? {
            items.push(item);
        }
        Ok(Top::Items(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        // The last value of a repeated key wins, as in a parsed map.
        let (mut value, mut records) = (None, None);
        let mut other_keys = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Value => value = Some(map.next_value::<&RawValue>()?),
                Key::Records => records = Some(map.next_value::<&RawValue>()?),
                Key::Annotation => {
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Other => {
                    other_keys = true;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let is_array = |raw: &RawValue| raw.get().starts_with('[');
        Ok(match (value, records, other_keys) {
            (Some(v), None, false) if is_array(v) => Top::Wrapper(v),
            (None, Some(r), false) if is_array(r) => Top::Wrapper(r),
            _ => Top::Other,
        })
    }

    fn visit_bool<E>(self, _: bool) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_unit<E>(self) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
}

/// A top-level key, classified without keeping it.
enum Key {
    Value,
    Records,
    Annotation,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E>(self, k: &str) -> Result<Key, E> {
                Ok(match k {
                    "value" => Key::Value,
                    "records" => Key::Records,
                    _ if k.starts_with('@') => Key::Annotation,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Option<Vec<String>> {
        items(text).map(|v| v.iter().map(|r| r.get().to_string()).collect())
    }

    #[test]
    fn splits_pages_envelopes_and_arrays() {
        let page = r#"{"@odata.context":"x","value":[{"id":1}, {"id":"2"}],"@odata.nextLink":"y"}"#;
        assert_eq!(texts(page).unwrap(), [r#"{"id":1}"#, r#"{"id":"2"}"#]);
        let env = r#"{"records":[{"a":[1,{"b":2}]}]}"#;
        assert_eq!(texts(env).unwrap(), [r#"{"a":[1,{"b":2}]}"#]);
        assert_eq!(
            texts(r#"[1, "x", {"v":[]}]"#).unwrap(),
            ["1", r#""x""#, r#"{"v":[]}"#]
        );
        assert_eq!(texts(r#"{"value":[]}"#).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn records_and_bad_text_are_left_whole() {
        // A record that happens to have a `value` array, both wrapper keys, a non-array wrapper,
        // scalars, and text that is not JSON.
        for text in [
            r#"{"value":[1],"id":"x"}"#,
            r#"{"value":[1],"records":[2]}"#,
            r#"{"value":{"a":1}}"#,
            r#""a string""#,
            "42",
            r#"{"value":[1,]}"#,
            r#"[{"id":1}] trailing"#,
        ] {
            assert!(texts(text).is_none(), "{text}");
        }
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        assert_eq!(
            texts(r#"{"value":{"a":1},"value":[{"id":3}]}"#).unwrap(),
            [r#"{"id":3}"#]
        );
        assert!(texts(r#"{"value":[1],"value":"x"}"#).is_none());
    }
}
