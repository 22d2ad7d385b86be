//! Splitter invariants: the same pieces (bytes, positions, oversize) whatever the chunk sizes,
//! and no piece larger than the limit.
#![no_main]

use defender_bridge::split::{Piece, Splitter};
use libfuzzer_sys::fuzz_target;

type Got = Vec<(Vec<u8>, u64, u64, Option<usize>)>;

fn split(data: &[u8], max: usize, chunks: &mut dyn Iterator<Item = usize>) -> Got {
    let mut s = Splitter::new(max);
    let mut out = Got::new();
    let mut f = |p: Piece<'_>| out.push((p.bytes.to_vec(), p.pos.record, p.pos.line, p.oversize));
    let mut rest = data;
    while !rest.is_empty() {
        let n = chunks.next().unwrap_or(rest.len()).clamp(1, rest.len());
        s.feed(&rest[..n], &mut f);
        rest = &rest[n..];
    }
    s.finish(&mut f);
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    // The smallest limit the splitter allows (it keeps a 4 KiB head) so that the oversize path
    // is reachable with fuzz-sized inputs.
    let max = 0;
    let sizes: Vec<usize> = data[..4].iter().map(|&b| b as usize % 17 + 1).collect();
    let body = &data[4..];
    let whole = split(body, max, &mut std::iter::empty());
    let ones = split(body, max, &mut std::iter::repeat(1));
    let mixed = split(body, max, &mut sizes.iter().copied().cycle());
    assert_eq!(whole, ones, "byte-at-a-time feeding differs");
    assert_eq!(whole, mixed, "chunk sizes {sizes:?} differ");
    let mut total_lines = 1;
    for (i, (bytes, record, line, oversize)) in whole.iter().enumerate() {
        assert_eq!(*record, i as u64 + 1, "records are numbered 1, 2, …");
        assert!(*line >= total_lines, "lines never go back");
        total_lines = *line;
        match oversize {
            None => assert!(!bytes.is_empty(), "empty piece"),
            Some(size) => {
                assert!(bytes.len() <= 4096, "oversize piece keeps only its head");
                assert!(*size > bytes.len());
            }
        }
    }
    // Nothing but whitespace is lost or repeated: without oversized pieces, the pieces hold
    // exactly the input's non-whitespace bytes.
    if whole.iter().all(|p| p.3.is_none()) {
        let sig = |b: &[u8]| {
            b.iter()
                .filter(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                .count()
        };
        let kept: usize = whole.iter().map(|p| sig(&p.0)).sum();
        // (A UTF-8 byte order mark at the very start is skipped.)
        let bom = if body.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        assert_eq!(
            kept,
            sig(body) - bom,
            "non-whitespace bytes lost or duplicated"
        );
    }
});
