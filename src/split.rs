//! Splits a byte stream of JSON texts into one piece per top-level value: NDJSON, concatenated or
//! pretty-printed documents. I/O-free: shells feed chunks as they read them.
//!
//! Bad input never swallows good input: a line starting with `{` at column 0 while a value is
//! still open ends that value (a truncated record), and a stray token outside any value runs to
//! the end of its line. Each piece is then parsed by the mapper, which turns a bad piece into one
//! error record.

use crate::{Mapper, Position, Sink};

/// Pieces larger than this are not kept in memory; they become an error record.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;
/// How much of an oversized piece is kept for the error record.
const OVERSIZE_HEAD: usize = 4096;

/// One top-level value (or what is left of a broken one) and where it started.
#[derive(Debug)]
pub struct Piece<'a> {
    pub bytes: &'a [u8],
    pub pos: Position,
    /// `Some(total size)` when the piece was too large: `bytes` then holds only its head.
    pub oversize: Option<usize>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Between,
    /// Inside `{…}` or `[…]`.
    Value { depth: u32, in_str: bool, esc: bool },
    /// A stray token outside any value; ends at the end of the line.
    Bare,
}

/// Incremental splitter. Feed chunks with [`Splitter::feed`], then call [`Splitter::finish`].
#[derive(Debug)]
pub struct Splitter {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// Start of the current piece in `buf`.
    start: usize,
    state: State,
    line: u64,
    piece_line: u64,
    records: u64,
    max: usize,
    /// Bytes of the current piece dropped because it grew past `max`.
    dropped: usize,
    /// The previous byte scanned was a newline (a cut may follow).
    after_newline: bool,
    /// The last byte outside whitespace, to tell an unfinished line from one that expects more.
    last_sig: u8,
    /// Bytes of a UTF-8 byte order mark matched at the start of the stream (3: done, or none).
    bom: u8,
}

/// The UTF-8 byte order mark that Windows tools (PowerShell's `Out-File`, Notepad) write first.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

impl Default for Splitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_BYTES)
    }
}

impl Splitter {
    pub fn new(max_record_bytes: usize) -> Self {
        Splitter {
            buf: Vec::new(),
            scanned: 0,
            start: 0,
            state: State::Between,
            line: 1,
            piece_line: 1,
            records: 0,
            max: max_record_bytes.max(OVERSIZE_HEAD),
            dropped: 0,
            after_newline: true,
            last_sig: b' ',
            bom: 0,
        }
    }

    /// Feeds a chunk; calls `f` for every piece completed by it.
    pub fn feed(&mut self, chunk: &[u8], f: &mut dyn FnMut(Piece<'_>)) {
        self.buf.extend_from_slice(chunk);
        self.scan(f);
        self.compact();
    }

    /// Ends the stream: whatever is still open becomes a last piece.
    pub fn finish(&mut self, f: &mut dyn FnMut(Piece<'_>)) {
        if self.state != State::Between || (1..3).contains(&self.bom) {
            let end = self.buf.len();
            self.emit(end, f);
        }
        self.buf.clear();
        self.scanned = 0;
        self.start = 0;
    }

    fn emit(&mut self, end: usize, f: &mut dyn FnMut(Piece<'_>)) {
        self.records += 1;
        // A cut record ends at the newline before the next record; the newline is not part of it.
        // Only JSON's own whitespace is trimmed: a form feed or vertical tab is a stray byte
        // that must reach the mapper (and become an error record), not vanish.
        let mut bytes = &self.buf[self.start..end];
        while let [rest @ .., b' ' | b'\t' | b'\r' | b'\n'] = bytes {
            bytes = rest;
        }
        let oversize = (self.dropped > 0).then_some(self.dropped + bytes.len());
        let bytes = if oversize.is_some() {
            &bytes[..bytes.len().min(OVERSIZE_HEAD)]
        } else {
            bytes
        };
        f(Piece {
            bytes,
            pos: Position {
                record: self.records,
                line: self.piece_line,
            },
            oversize,
        });
        self.start = end;
        self.dropped = 0;
        self.state = State::Between;
    }

    fn scan(&mut self, f: &mut dyn FnMut(Piece<'_>)) {
        let mut i = self.scanned;
        while i < self.buf.len() {
            // A byte order mark at the very start of the stream is skipped; the first bytes of
            // one followed by something else are a stray token like any other.
            if self.bom < 3 {
                if self.state == State::Between && self.buf[i] == BOM[self.bom as usize] {
                    self.bom += 1;
                    i += 1;
                    if self.bom == 3 {
                        self.start = i;
                    }
                    continue;
                }
                if self.bom > 0 {
                    self.piece_line = self.line;
                    self.state = State::Bare;
                }
                self.bom = 3;
            }
            // Fast path: string contents are most of the bytes; jump to the next byte that can
            // end the string, start an escape or end the line.
            if let State::Value {
                in_str: true,
                esc: false,
                ..
            } = self.state
            {
                if !self.after_newline {
                    let skip = memchr::memchr3(b'"', b'\\', b'\n', &self.buf[i..])
                        .unwrap_or(self.buf.len() - i);
                    if skip > 0 {
                        i += skip;
                        self.last_sig = b'a';
                        if i - self.start > self.max {
                            let keep = self.start + OVERSIZE_HEAD;
                            self.dropped += i - keep;
                            self.buf.drain(keep..i);
                            i = keep;
                        }
                        continue;
                    }
                }
            }
            let b = self.buf[i];
            let line_start = self.after_newline;
            self.after_newline = b == b'\n';
            match self.state {
                State::Between => match b {
                    b' ' | b'\t' | b'\r' | b'\n' => self.start = i + 1,
                    b'{' | b'[' => {
                        self.start = i;
                        self.piece_line = self.line;
                        self.state = State::Value {
                            depth: 1,
                            in_str: false,
                            esc: false,
                        };
                    }
                    _ => {
                        self.start = i;
                        self.piece_line = self.line;
                        self.state = State::Bare;
                    }
                },
                State::Bare => {
                    if b == b'\n' {
                        self.emit(i, f);
                        self.start = i + 1;
                    }
                }
                State::Value { depth, in_str, esc } => {
                    let expects_value =
                        !in_str && matches!(self.last_sig, b',' | b'[' | b'{' | b':');
                    if line_start && b == b'{' && i > self.start && !expects_value {
                        // A record starts at column 0 while the previous line ended mid-value
                        // (not after `,` `[` `{` `:`, or inside a string): the previous record
                        // was truncated. Cut it here and start anew.
                        self.emit(i, f);
                        self.piece_line = self.line;
                        self.state = State::Value {
                            depth: 1,
                            in_str: false,
                            esc: false,
                        };
                    } else if in_str {
                        let (in_str, esc) = match (esc, b) {
                            (true, _) => (true, false),
                            (false, b'\\') => (true, true),
                            (false, b'"') => (false, false),
                            _ => (true, false),
                        };
                        self.state = State::Value { depth, in_str, esc };
                    } else {
                        match b {
                            b'"' => {
                                self.state = State::Value {
                                    depth,
                                    in_str: true,
                                    esc: false,
                                }
                            }
                            b'{' | b'[' => {
                                self.state = State::Value {
                                    depth: depth + 1,
                                    in_str,
                                    esc,
                                }
                            }
                            b'}' | b']' => {
                                if depth == 1 {
                                    self.emit(i + 1, f);
                                } else {
                                    self.state = State::Value {
                                        depth: depth - 1,
                                        in_str,
                                        esc,
                                    };
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            if b == b'\n' {
                self.line += 1;
            } else if !b.is_ascii_whitespace() {
                self.last_sig = b;
            }
            i += 1;
            // Bound memory: an open piece past the limit keeps only its head.
            if self.state != State::Between && i - self.start > self.max {
                let keep = self.start + OVERSIZE_HEAD;
                self.dropped += i - keep;
                self.buf.drain(keep..i);
                i = keep;
            }
        }
        self.scanned = i;
    }

    fn compact(&mut self) {
        // (The first bytes of a possible byte order mark stay until the next chunk decides.)
        if self.state == State::Between && !(1..3).contains(&self.bom) {
            self.start = self.scanned;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
    }
}

impl Mapper {
    /// Maps one piece from a [`Splitter`]: oversized pieces become an error record.
    pub fn map_piece(&self, piece: Piece<'_>, sink: &mut dyn Sink) {
        match piece.oversize {
            None => self.map_at(piece.bytes, piece.pos, sink),
            Some(size) => self.oversize_error(piece.bytes, size, piece.pos, sink),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], chunk: usize) -> Vec<(String, u64, u64)> {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        let mut f = |p: Piece<'_>| {
            out.push((
                String::from_utf8_lossy(p.bytes).into_owned(),
                p.pos.record,
                p.pos.line,
            ))
        };
        for c in input.chunks(chunk.max(1)) {
            s.feed(c, &mut f);
        }
        s.finish(&mut f);
        out
    }

    #[test]
    fn ndjson_pretty_and_concatenated() {
        let input =
            b"{\"a\":1}\n{\"b\":\"}\\\"{\"}\n\n{\n  \"c\": [1, {\"d\": 2}]\n}{\"e\":3} [4]\n";
        for chunk in [1, 3, 1000] {
            let got: Vec<_> = split(input, chunk).into_iter().map(|p| p.0).collect();
            assert_eq!(
                got,
                [
                    "{\"a\":1}",
                    "{\"b\":\"}\\\"{\"}",
                    "{\n  \"c\": [1, {\"d\": 2}]\n}",
                    "{\"e\":3}",
                    "[4]"
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn truncated_record_does_not_swallow_the_next() {
        let got = split(b"{\"a\":1\n{\"b\":2}\nnot json\n{\"c\":3}", 4);
        let texts: Vec<_> = got.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(texts, ["{\"a\":1", "{\"b\":2}", "not json", "{\"c\":3}"]);
        let lines: Vec<_> = got.iter().map(|p| (p.1, p.2)).collect();
        assert_eq!(lines, [(1, 1), (2, 2), (3, 3), (4, 4)]);
    }

    #[test]
    fn arrays_with_one_object_per_line_stay_whole() {
        let input = b"[\n{\"a\":1},\n{\"b\":2}\n]\n{\"value\":[{\"c\":3},\n{\"d\":4}]}\n";
        let got: Vec<_> = split(input, 5).into_iter().map(|p| p.0).collect();
        assert_eq!(
            got,
            [
                "[\n{\"a\":1},\n{\"b\":2}\n]",
                "{\"value\":[{\"c\":3},\n{\"d\":4}]}"
            ]
        );
    }

    #[test]
    fn byte_order_mark_at_the_start_is_skipped() {
        for chunk in [1, 2, 4, 100] {
            let got: Vec<_> = split(b"\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}", chunk)
                .into_iter()
                .map(|p| p.0)
                .collect();
            assert_eq!(got, ["{\"a\":1}", "{\"b\":2}"], "chunk size {chunk}");
            // Pretty-printed after a BOM: the first line is not a stray token.
            let got: Vec<_> = split(b"\xEF\xBB\xBF{\n  \"a\": 1\n}\n", chunk)
                .into_iter()
                .map(|p| p.0)
                .collect();
            assert_eq!(got, ["{\n  \"a\": 1\n}"], "chunk size {chunk}");
            // Not a BOM after all: kept, as a stray token.
            let got = split(b"\xEF\xBBx\n{\"a\":1}", chunk);
            assert_eq!(got[0].0, String::from_utf8_lossy(b"\xEF\xBBx"));
            assert_eq!(got[1].0, "{\"a\":1}");
            let got = split(b"\xEF\xBB", chunk);
            assert_eq!(got.len(), 1);
            // Only at the very start.
            let got = split(b"{}\n\xEF\xBB\xBF{}", chunk);
            assert_eq!(got.len(), 2);
            assert_eq!(got[1].0.as_bytes(), b"\xEF\xBB\xBF{}");
        }
    }

    #[test]
    fn stray_form_feed_is_a_piece_not_an_empty_one() {
        // Found by the splitter fuzz target: a line holding only a form feed (ASCII whitespace,
        // but not JSON whitespace) gave an empty piece, so its error record lost the byte.
        for chunk in [1, 2, 100] {
            let got: Vec<_> = split(b"\x0c\n{\"a\":1}\n\x0b \x0c\n", chunk)
                .into_iter()
                .map(|p| p.0)
                .collect();
            assert_eq!(
                got,
                ["\x0c", "{\"a\":1}", "\x0b \x0c"],
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn unterminated_last_record_is_a_piece() {
        let got = split(b"{\"a\":1}\n{\"b\":", 2);
        assert_eq!(got.last().unwrap().0, "{\"b\":");
    }

    #[test]
    fn oversized_piece_keeps_only_a_head() {
        let mut big = b"{\"s\":\"".to_vec();
        big.extend(std::iter::repeat(b'x').take(100_000));
        big.extend(b"\"}\n{\"ok\":1}\n");
        let mut s = Splitter::new(10_000);
        let mut seen = Vec::new();
        let mut f = |p: Piece<'_>| seen.push((p.bytes.len(), p.oversize));
        for c in big.chunks(777) {
            s.feed(c, &mut f);
        }
        s.finish(&mut f);
        assert_eq!(seen, [(OVERSIZE_HEAD, Some(100_008)), (8, None)]);
    }
}
