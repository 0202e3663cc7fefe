//! The in-memory twin of [`crate::json_filter`]: quotes Python's bare
//! `Infinity`, `-Infinity` and `NaN` tokens inside one buffer, so a whole
//! file can be parsed with `serde_json::from_slice` (several times faster
//! than a reader) without a second copy of the input.
//!
//! One forward pass finds the tokens: `memchr` jumps between quote, `I`
//! and `N` bytes and skips string bodies, since outside strings JSON has no
//! other words with those capitals. A backward pass then grows the buffer
//! in place, two quote bytes per token. Invalid JSON stays invalid.

use memchr::{memchr2, memchr3};

/// Where a token starts and how long it is (with its `-`).
fn tokens(buf: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(offset) = memchr3(b'"', b'I', b'N', &buf[i..]) {
        let at = i + offset;
        if buf[at] == b'"' {
            i = match string_end(buf, at + 1) {
                Some(end) => end + 1,
                None => return found, // unterminated string: serde_json reports it
            };
        } else if buf[at..].starts_with(b"Infinity") {
            let start = if at > 0 && buf[at - 1] == b'-' {
                at - 1
            } else {
                at
            };
            found.push((start, at + 8 - start));
            i = at + 8;
        } else if buf[at..].starts_with(b"NaN") {
            found.push((at, 3));
            i = at + 3;
        } else {
            i = at + 1;
        }
    }
    found
}

/// Index of the quote closing the string whose body starts at `from`.
fn string_end(buf: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = from + memchr2(b'"', b'\\', &buf[from..])?;
        if buf[at] == b'"' {
            return Some(at);
        }
        from = at + 2;
        if from > buf.len() {
            return None;
        }
    }
}

/// Quotes every bare non-finite token of `buf` in place and returns the
/// indices of the inserted quote bytes, ascending (so the original bytes
/// can still be hashed: see [`original_segments`]).
pub fn quote_non_finite(buf: &mut Vec<u8>) -> Vec<usize> {
    let found = tokens(buf);
    if found.is_empty() {
        return Vec::new();
    }
    let old_len = buf.len();
    buf.resize(old_len + 2 * found.len(), 0);
    // Walk back from the end: everything after token k moves right by
    // 2 * (k + 1) bytes, then the token is rewritten with its quotes.
    let mut tail_end = old_len;
    for (k, &(start, len)) in found.iter().enumerate().rev() {
        let shift = 2 * (k + 1);
        let tail_start = start + len;
        buf.copy_within(tail_start..tail_end, tail_start + shift);
        buf.copy_within(start..start + len, start + shift - 1);
        buf[start + shift - 2] = b'"';
        buf[start + len + shift - 1] = b'"';
        tail_end = start;
    }
    found
        .iter()
        .enumerate()
        .flat_map(|(k, &(start, len))| [start + 2 * k, start + 2 * k + len + 1])
        .collect()
}

/// The runs of `buf` that are original bytes, skipping `inserted` indices.
pub fn original_segments<'a>(
    buf: &'a [u8],
    inserted: &'a [usize],
) -> impl Iterator<Item = &'a [u8]> {
    let bounds = std::iter::once(None).chain(inserted.iter().copied().map(Some));
    let ends = inserted.iter().copied().chain(std::iter::once(buf.len()));
    bounds
        .zip(ends)
        .map(move |(skip, end)| &buf[skip.map_or(0, |i| i + 1)..end])
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::json_filter::NonFiniteFilter;

    fn streamed(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        NonFiniteFilter::new(input).read_to_end(&mut out).unwrap();
        out
    }

    fn in_place(input: &[u8]) -> Vec<u8> {
        let mut buf = input.to_vec();
        let inserted = quote_non_finite(&mut buf);
        let original: Vec<u8> = original_segments(&buf, &inserted)
            .flatten()
            .copied()
            .collect();
        assert_eq!(
            original, input,
            "skipping the inserted quotes gives the input back"
        );
        buf
    }

    #[test]
    fn agrees_with_the_streaming_filter() {
        let cases: &[&[u8]] = &[
            br#"{"end": Infinity, "a": -Infinity, "b": [NaN, 1, NaN]}"#,
            br#"{"s": "Infinity NaN \" Infinity \\", "t": Infinity}"#,
            br#"["NovaServers", "INFO", Infinity]"#,
            b"NaN",
            b"{}",
            br#"{"unterminated": "Infinity"#,
            br#"{"escaped\\": NaN}"#,
        ];
        for case in cases {
            assert_eq!(
                in_place(case),
                streamed(case),
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn agrees_on_every_fixture() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rally");
        let mut with_tokens = 0;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).unwrap();
                let mut buf = bytes.clone();
                let inserted = quote_non_finite(&mut buf);
                with_tokens += usize::from(!inserted.is_empty());
                assert_eq!(buf, streamed(&bytes), "{}", path.display());
                let original: Vec<u8> = original_segments(&buf, &inserted)
                    .flatten()
                    .copied()
                    .collect();
                assert_eq!(original, bytes);
            }
        }
        assert!(with_tokens >= 1, "dev-output-hooks has `Infinity`");
    }
}
