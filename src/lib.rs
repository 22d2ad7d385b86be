//! defender-bridge core: maps Microsoft Defender for Endpoint and Defender XDR records to the
//! documents Elastic's integrations store (ECS) or to Microsoft Sentinel table rows.
//!
//! The core is pure: no I/O, no clock, no unsafe. Shells (CLI, Fluent Bit plugin, wasm) feed it
//! bytes and receive [`Output`]s through a [`Sink`].
//!
//! ```
//! use defender_bridge::{Mapper, Options, Output, Target};
//! let mapper = Mapper::new(Options { target: Target::Ecs, ..Options::default() });
//! let mut docs = Vec::new();
//! mapper.map_text(r#"{"value":[]}"#, &mut |o: Output| docs.push(o));
//! assert!(docs.is_empty());
//! ```
#![forbid(unsafe_code)]

mod detect;
pub mod doc;
mod error;
mod kinds;
mod large;
mod options;
pub mod sentinel;
pub mod split;
pub mod tree;

pub use detect::Kind;
pub use error::MapError;
pub use options::{EcsIntegration, GeoInfo, GeoLookup, Options, Target};

use serde_json::Value;
use tree::Node;

/// The ECS version stamped on error records.
pub const ECS_VERSION: &str = "8.11.0";

/// The compact JSON text of one object, as every shell writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json(String);

impl Json {
    /// Serialises `v` (natively with sonic-rs, see [`tree::to_writer`]). `String::from_utf8` checks
    /// the bytes once more; that costs far less than writing them, and the core has no unsafe.
    pub(crate) fn write<T: serde::Serialize + ?Sized>(v: &T) -> Json {
        Json(tree::to_string(v))
    }
    /// The text of a tree (the mapped documents), written by [`tree::write_node`].
    pub(crate) fn of_node(v: &Node<'_>) -> Json {
        Json(tree::node_to_string(v))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
    pub fn into_string(self) -> String {
        self.0
    }
    /// Parses the text into a tree, for tests and the rare shell that needs one.
    pub fn to_value(&self) -> Value {
        use serde::Deserialize;
        let mut de = serde_json::Deserializer::from_str(&self.0);
        // A document may nest a few levels deeper than the 128 its record was parsed with.
        de.disable_recursion_limit();
        Value::deserialize(&mut de).expect("the core writes valid JSON")
    }
}

/// One result of mapping: a document (ECS or Sentinel row) or an error record, as JSON text:
/// documents built in a borrowed tree cannot outlive the input, their text can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A mapped document.
    Document(Json),
    /// An error record: the input could not be mapped. Holds the original text.
    Error(Json),
}

impl Output {
    /// A document written from anything serialisable (the pull engine's pass-through mode).
    pub fn document<T: serde::Serialize + ?Sized>(v: &T) -> Output {
        Output::Document(Json::write(v))
    }
    /// An error record written from anything serialisable.
    pub fn error<T: serde::Serialize + ?Sized>(v: &T) -> Output {
        Output::Error(Json::write(v))
    }
    pub fn json(&self) -> &Json {
        match self {
            Output::Document(j) | Output::Error(j) => j,
        }
    }
    /// The compact JSON text; every shell writes these bytes, so their outputs are identical.
    pub fn as_bytes(&self) -> &[u8] {
        self.json().as_bytes()
    }
    /// A copy of [`Output::as_bytes`].
    pub fn to_json(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    pub fn to_value(&self) -> Value {
        self.json().to_value()
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Output::Error(_))
    }
}

/// Where the mapper hands its outputs: the small trait every shell implements.
pub trait Sink {
    fn emit(&mut self, output: Output);
    /// A mapped document before it is written as text. A sink that encodes documents itself
    /// (the Fluent Bit plugin writes msgpack) takes it here and returns `true`; by default the
    /// document is written as JSON text and handed to [`Sink::emit`]. Error records always go
    /// to `emit`.
    fn document(&mut self, _document: &Node<'_>) -> bool {
        false
    }
}

impl<F: FnMut(Output)> Sink for F {
    fn emit(&mut self, output: Output) {
        self(output)
    }
}

/// Where a record came from, for error messages: the 1-based record number and line in the input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub record: u64,
    pub line: u64,
}

/// Maps records with fixed options. Cheap to share; holds no per-record state.
#[derive(Clone, Default)]
pub struct Mapper {
    options: Options,
}

impl Mapper {
    pub fn new(options: Options) -> Self {
        Mapper { options }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Maps one JSON text (a record, a `{"value":[…]}` page, a `{"records":[…]}` envelope or an
    /// array of those). Bad input gives exactly one error record.
    pub fn map_text(&self, text: &str, sink: &mut dyn Sink) {
        self.map_at(text.as_bytes(), Position::default(), sink)
    }

    /// Like [`Mapper::map_text`] for raw bytes, which may be invalid UTF-8.
    pub fn map_bytes(&self, bytes: &[u8], sink: &mut dyn Sink) {
        self.map_at(bytes, Position::default(), sink)
    }

    /// Maps one JSON text whose position in a larger input is known (used by the stream splitter
    /// so that error records say where the bad record was).
    pub fn map_at(&self, bytes: &[u8], pos: Position, sink: &mut dyn Sink) {
        // A UTF-8 byte order mark (Windows tools write one) is not part of the JSON text.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let err = MapError::new(format!("invalid UTF-8 at byte {}", e.valid_up_to()));
                sink.emit(error::record(
                    &self.options,
                    &String::from_utf8_lossy(bytes),
                    pos,
                    &err,
                ));
                return;
            }
        };
        if text.len() > large::ITEMWISE_ABOVE {
            if let Some(items) = large::items(text) {
                return self.map_items(&items, pos, sink);
            }
        }
        let node = match tree::parse(text) {
            Ok(n) => n,
            Err(e) => {
                let err = MapError::new(format!("invalid JSON: {e}"));
                sink.emit(error::record(&self.options, text, pos, &err));
                return;
            }
        };
        self.map_parsed(node, Some(text), pos, sink)
    }

    /// Maps the items of a large array, page or envelope one at a time (see `large`).
    fn map_items(
        &self,
        items: &[&serde_json::value::RawValue],
        pos: Position,
        sink: &mut dyn Sink,
    ) {
        for item in items {
            match tree::parse(item.get()) {
                Ok(node) => self.map_parsed(node, None, pos, sink),
                Err(e) => {
                    let err = MapError::new(format!("invalid JSON: {e}"));
                    sink.emit(error::record(&self.options, item.get(), pos, &err));
                }
            }
        }
    }

    /// Maps one JSON text item by item, as texts over 1 MiB always are: the same outputs as
    /// [`Mapper::map_bytes`] for any array, page or envelope whose items parse, with less memory.
    /// Exposed for the fuzzers and tests that check exactly that.
    #[doc(hidden)]
    pub fn map_bytes_itemwise(&self, bytes: &[u8], sink: &mut dyn Sink) {
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let items = std::str::from_utf8(text).ok().and_then(large::items);
        match items {
            Some(items) => self.map_items(&items, Position::default(), sink),
            None => self.map_bytes(bytes, sink),
        }
    }

    /// Maps an already-parsed value. `original` is its exact source text when the caller has it
    /// (it becomes `event.original`); otherwise the value is re-serialised.
    pub fn map_value(&self, value: Value, sink: &mut dyn Sink) {
        self.map_parsed(Node::from_value(value), None, Position::default(), sink)
    }

    /// Like [`Mapper::map_value`] for a value parsed from `text`, its exact source: `text`
    /// becomes `event.original` (and the raw data of an error record) as it is, instead of the
    /// value being serialised again for them. A caller that can parse with [`tree::parse`]
    /// should use [`Mapper::map_node_with_text`], which copies no strings (the pull engine does).
    pub fn map_value_with_text(&self, value: Value, text: &str, sink: &mut dyn Sink) {
        self.map_parsed(
            Node::from_value(value),
            Some(text),
            Position::default(),
            sink,
        )
    }

    /// Like [`Mapper::map_value_with_text`] for a record parsed with [`tree::parse`] from
    /// `text`: its strings borrow `text`, and documents are built from them without copies.
    pub fn map_node_with_text<'a>(&self, node: Node<'a>, text: &'a str, sink: &mut dyn Sink) {
        self.map_parsed(node, Some(text), Position::default(), sink)
    }

    fn oversize_error(&self, head: &[u8], size: usize, pos: Position, sink: &mut dyn Sink) {
        let err = MapError::new(format!(
            "record of {size} bytes is larger than the limit; only its first {} bytes are kept here",
            head.len()
        ));
        sink.emit(error::record(
            &self.options,
            &String::from_utf8_lossy(head),
            pos,
            &err,
        ));
    }

    fn map_parsed<'a>(
        &self,
        node: Node<'a>,
        original: Option<&'a str>,
        pos: Position,
        sink: &mut dyn Sink,
    ) {
        match node {
            Node::Array(items) => {
                for item in items {
                    self.map_parsed(item, None, pos, sink)
                }
            }
            Node::Object(mut map) => {
                // Pages and Event Hubs envelopes are split into their items.
                for wrapper in ["value", "records"] {
                    if detect::is_wrapper(&map, wrapper) {
                        if let Some(Node::Array(items)) = map.remove(wrapper) {
                            for item in items {
                                self.map_parsed(item, None, pos, sink);
                            }
                        }
                        return;
                    }
                }
                let owned;
                let original = match original {
                    Some(o) => o,
                    None => {
                        owned = tree::obj_to_string(&map);
                        &owned
                    }
                };
                let result = detect::kind_of(&map, self.options.kind)
                    .and_then(|kind| kinds::map(kind, map, original, &self.options, sink));
                if let Err(err) = result {
                    sink.emit(error::record(&self.options, original, pos, &err));
                }
            }
            other => {
                let text = other.to_json_string();
                let err =
                    MapError::new(format!("expected a JSON object, got {}", other.type_name()));
                sink.emit(error::record(
                    &self.options,
                    original.unwrap_or(&text),
                    pos,
                    &err,
                ));
            }
        }
    }
}
