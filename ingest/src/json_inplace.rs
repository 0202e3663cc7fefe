//! The in-memory twin of [`crate::json_filter`]: quotes Python's bare
//! `Infinity`, `-Infinity` and `NaN` tokens inside one buffer, so a whole
//! file can be parsed with `serde_json::from_slice` (several times faster
//! than a reader), and drops the indentation serde_json would step over a
//! byte at a time. Text inside JSON strings is never touched, and invalid
//! JSON stays invalid.
//!
//! * [`without_indentation`] copies a file without the blanks that start
//!   its lines (two thirds of a Rally report). Line breaks stay, and
//!   [`quote_bare_tokens`] then quotes the tokens of the copy.
//! * [`same_length_quoting`] quotes in place without changing the length:
//!   the two quote bytes are taken from spaces next to the token (Python
//!   writes `"end": Infinity, ` with a space after the colon and after the
//!   comma). This is what lets a file be parsed from a copy-on-write
//!   mapping with only the pages holding a token copied, and its errors
//!   keep the file's lines and columns.
//! * [`quote_non_finite`] grows a `Vec`, two bytes per token: the fallback
//!   when a token has no spaces around it (`[NaN]`).
//!
//! The fast token search is one `memchr2` pass for the capitals `I` and
//! `N`; whether a hit is inside a string is decided from the start of its
//! line, since JSON strings cannot hold a raw line break (a file that has
//! one fails to parse at that line break, before any rewritten byte).

use memchr::{memchr, memchr2, memchr2_iter, memchr3, memrchr};

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

/// The bare tokens of `buf` as found by a `memchr2` pass for their
/// capitals, each checked to be outside strings from the start of its
/// line (or from the end of the previous check, so a file that is one long
/// line is still scanned once at most).
fn bare_tokens(buf: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    // Everything before `outside` has been classified, and `outside` itself
    // is not inside a string.
    let mut outside = 0;
    for at in memchr2_iter(b'I', b'N', buf) {
        if at < outside {
            continue;
        }
        let len = if buf[at..].starts_with(b"Infinity") {
            8
        } else if buf[at..].starts_with(b"NaN") {
            3
        } else {
            continue;
        };
        let line = memrchr(b'\n', &buf[outside..at]).map_or(outside, |p| outside + p + 1);
        match enclosing_string_end(buf, line, at) {
            Enclosing::None => {
                let start = if at > 0 && buf[at - 1] == b'-' {
                    at - 1
                } else {
                    at
                };
                found.push((start, at + len - start));
                outside = at + len;
            }
            Enclosing::String(end) => outside = end + 1,
            Enclosing::Unterminated => break, // serde_json reports it
        }
    }
    found
}

enum Enclosing {
    None,
    /// Inside the string whose closing quote is at this index.
    String(usize),
    Unterminated,
}

/// Whether `at` is inside a string, scanning from `from` (outside strings).
fn enclosing_string_end(buf: &[u8], mut from: usize, at: usize) -> Enclosing {
    while let Some(offset) = memchr(b'"', &buf[from..at]) {
        match string_end(buf, from + offset + 1) {
            Some(end) if end >= at => return Enclosing::String(end),
            Some(end) => from = end + 1,
            None => return Enclosing::Unterminated,
        }
    }
    Enclosing::None
}

/// How far past a token [`same_length_quoting`] looks for a space.
const SPACE_REACH: usize = 256;

/// One rewrite: `bytes` replace as many bytes of the buffer at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    at: usize,
    bytes: Vec<u8>,
}

/// The rewrites that quote every bare non-finite token of a buffer without
/// changing its length (see [`same_length_quoting`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SameLength {
    edits: Vec<Edit>,
}

impl SameLength {
    /// No token: the buffer can be parsed as it is.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Tokens to rewrite.
    pub fn len(&self) -> usize {
        self.edits.len()
    }

    /// Rewrites the buffer the plan was made for.
    pub fn apply(&self, buf: &mut [u8]) {
        for edit in &self.edits {
            buf[edit.at..edit.at + edit.bytes.len()].copy_from_slice(&edit.bytes);
        }
    }
}

/// Plans quoting every bare non-finite token of `buf` in place, with the
/// quote bytes taken from spaces and tabs next to it: first those right
/// before it on its line, then the first ones after it, past commas,
/// closing brackets and line breaks (never a line break itself, so line
/// numbers stay those of the file; at most one following line's indent
/// loses a column). `None` when some token has fewer than two such spaces:
/// use [`quote_non_finite`] then.
pub fn same_length_quoting(buf: &[u8]) -> Option<SameLength> {
    Tokens::find(buf).same_length(buf)
}

/// Where the bare non-finite tokens of a buffer are: found once, then
/// quoted in place ([`Tokens::same_length`]) or, failing that, in a copy
/// ([`Tokens::insert_quotes`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens(Vec<(usize, usize)>);

impl Tokens {
    /// The tokens of `buf`, the fast way (see the module's documentation).
    pub fn find(buf: &[u8]) -> Tokens {
        Tokens(bare_tokens(buf))
    }

    /// None found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// [`same_length_quoting`] of the buffer they were found in.
    pub fn same_length(&self, buf: &[u8]) -> Option<SameLength> {
        same_length_edits(buf, &self.0)
    }

    /// Quotes them in a copy of the buffer they were found in (or the
    /// buffer itself), growing it by two bytes each.
    pub fn insert_quotes(&self, buf: &mut Vec<u8>) {
        insert_quotes(buf, &self.0);
    }
}

fn same_length_edits(buf: &[u8], tokens: &[(usize, usize)]) -> Option<SameLength> {
    let mut edits = Vec::new();
    // Bytes before `free` belong to an earlier edit.
    let mut free = 0;
    for &(start, len) in tokens {
        let end = start + len;
        let mut before = 0;
        while before < 2 && start - before > free && matches!(buf[start - before - 1], b' ' | b'\t')
        {
            before += 1;
        }
        let mut missing = 2 - before;
        let mut tail = Vec::new();
        let mut i = end;
        while missing > 0 {
            match *buf.get(i).filter(|_| i - end < SPACE_REACH)? {
                b' ' | b'\t' => missing -= 1,
                b @ (b'\n' | b'\r' | b',' | b']' | b'}') => tail.push(b),
                _ => return None,
            }
            i += 1;
        }
        let mut bytes = Vec::with_capacity(i - start + before);
        bytes.push(b'"');
        bytes.extend_from_slice(&buf[start..end]);
        bytes.push(b'"');
        bytes.extend_from_slice(&tail);
        debug_assert_eq!(bytes.len(), i - (start - before));
        edits.push(Edit {
            at: start - before,
            bytes,
        });
        free = i;
    }
    Some(SameLength { edits })
}

/// Quotes every bare non-finite token of `buf` in place and returns the
/// indices of the inserted quote bytes, ascending (so the original bytes
/// can still be hashed: see [`original_segments`]).
pub fn quote_non_finite(buf: &mut Vec<u8>) -> Vec<usize> {
    let found = tokens(buf);
    insert_quotes(buf, &found);
    found
        .iter()
        .enumerate()
        .flat_map(|(k, &(start, len))| [start + 2 * k, start + 2 * k + len + 1])
        .collect()
}

/// [`quote_non_finite`] for a buffer whose tokens are found the fast way
/// (one `memchr2` pass; strings told from the start of their line), such
/// as the output of [`without_indentation`]. Returns how many were quoted.
pub fn quote_bare_tokens(buf: &mut Vec<u8>) -> usize {
    let found = bare_tokens(buf);
    insert_quotes(buf, &found);
    found.len()
}

/// Puts quotes around the tokens at `found` (ascending), growing `buf`.
fn insert_quotes(buf: &mut Vec<u8>, found: &[(usize, usize)]) {
    if found.is_empty() {
        return;
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
}

/// A copy of `input` without the spaces and tabs that start its lines.
///
/// Rally writes reports with `indent=4`: two thirds of their bytes are
/// indentation, which serde_json steps over one byte at a time (40 % of
/// the instructions of a parse). Line breaks stay, so the copy has the
/// file's line numbers; and since a JSON string cannot hold a raw line
/// break, the bytes removed are outside strings (a file with such a string
/// is invalid, and so is its copy).
pub fn without_indentation(input: &[u8]) -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { without_indentation_avx2(input) };
    }
    without_indentation_by_line(input)
}

/// Whether [`without_indentation`] would remove at least a fifth of
/// `input`, judged from its first MB (an unindented file gains nothing
/// from a copy).
pub fn is_indented(input: &[u8]) -> bool {
    let head = &input[..input.len().min(1 << 20)];
    without_indentation_by_line(head).len() * 5 < head.len() * 4
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// [`without_indentation`] a line at a time.
fn without_indentation_by_line(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    prefer_huge_pages(&out);
    let mut at = 0;
    while at < input.len() {
        // Eight spaces at a time through deep indentation.
        while let Some(word) = input.get(at..at + 8) {
            let other =
                u64::from_le_bytes(word.try_into().expect("8 bytes")) ^ 0x2020_2020_2020_2020;
            if other != 0 {
                at += (other.trailing_zeros() / 8) as usize;
                break;
            }
            at += 8;
        }
        while at < input.len() && is_blank(input[at]) {
            at += 1;
        }
        let end = memchr(b'\n', &input[at..]).map_or(input.len(), |p| at + p + 1);
        out.extend_from_slice(&input[at..end]);
        at = end;
    }
    out
}

/// [`without_indentation`] 64 bytes at a time: AVX2 compares give masks of
/// the blanks and line breaks; one addition turns them into the mask of
/// indentation (a line break's carry runs through the blanks after it),
/// and the other bytes are copied a run at a time.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn without_indentation_avx2(input: &[u8]) -> Vec<u8> {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8, _mm256_storeu_si256,
    };

    /// One bit per byte of `block`: equal to `a` or `b`.
    #[target_feature(enable = "avx2")]
    fn mask_of(block: [__m256i; 2], a: __m256i, b: __m256i) -> u64 {
        let low = _mm256_or_si256(
            _mm256_cmpeq_epi8(block[0], a),
            _mm256_cmpeq_epi8(block[0], b),
        );
        let high = _mm256_or_si256(
            _mm256_cmpeq_epi8(block[1], a),
            _mm256_cmpeq_epi8(block[1], b),
        );
        u64::from(_mm256_movemask_epi8(low).cast_unsigned())
            | (u64::from(_mm256_movemask_epi8(high).cast_unsigned()) << 32)
    }

    let len = input.len();
    // 64 bytes of slack: runs are copied 64 bytes at a time.
    let mut out: Vec<u8> = Vec::with_capacity(len + 64);
    prefer_huge_pages(&out);
    let src = input.as_ptr();
    let dst = out.as_mut_ptr();
    let mut written = 0;
    let (space, tab, newline) = (
        _mm256_set1_epi8(b' ' as i8),
        _mm256_set1_epi8(b'\t' as i8),
        _mm256_set1_epi8(b'\n' as i8),
    );
    // Bit 0 of the next block starts a line or continues an indentation.
    let mut carry = 1u64;
    let mut at = 0;
    while at + 64 <= len {
        // SAFETY (every pointer access below): reads stay inside `input`
        // (`at + 64 <= len`, and a run's 64-byte copy is only made when
        // `at + from + 64 <= len`); writes start at `written <= at + from`
        // and span at most 64 bytes, inside the capacity `len + 64`.
        let block = unsafe {
            [
                _mm256_loadu_si256(src.add(at).cast::<__m256i>()),
                _mm256_loadu_si256(src.add(at + 32).cast::<__m256i>()),
            ]
        };
        let blanks = mask_of(block, space, tab);
        let breaks = mask_of(block, newline, newline);
        let starts = (breaks << 1) | carry;
        let indentation = (blanks.wrapping_add(starts) ^ blanks) & blanks;
        carry = (breaks >> 63) | (indentation >> 63);
        let mut keep = !indentation;
        if keep == u64::MAX {
            unsafe {
                _mm256_storeu_si256(dst.add(written).cast::<__m256i>(), block[0]);
                _mm256_storeu_si256(dst.add(written + 32).cast::<__m256i>(), block[1]);
            }
            written += 64;
            keep = 0;
        }
        while keep != 0 {
            let from = keep.trailing_zeros() as usize;
            let run = (!(keep >> from)).trailing_zeros() as usize;
            unsafe {
                let from_ptr = src.add(at + from);
                let to_ptr = dst.add(written);
                if at + from + 64 <= len {
                    let head = _mm256_loadu_si256(from_ptr.cast::<__m256i>());
                    let tail = _mm256_loadu_si256(from_ptr.add(32).cast::<__m256i>());
                    _mm256_storeu_si256(to_ptr.cast::<__m256i>(), head);
                    _mm256_storeu_si256(to_ptr.add(32).cast::<__m256i>(), tail);
                } else {
                    std::ptr::copy_nonoverlapping(from_ptr, to_ptr, run);
                }
            }
            written += run;
            let end = from + run;
            keep = if end >= 64 {
                0
            } else {
                keep & (u64::MAX << end)
            };
        }
        at += 64;
    }
    // SAFETY: the first `written` bytes were copied from `input`.
    unsafe { out.set_len(written) };
    let mut line_start = carry != 0;
    for &b in &input[at..] {
        if !(line_start && is_blank(b)) {
            line_start = b == b'\n';
            out.push(b);
        }
    }
    out
}

/// Asks Linux to back the 2 MiB-aligned part of `buffer`'s allocation with
/// huge pages: filling a large copy then takes one page fault per 2 MiB
/// instead of one per 4 KiB (a tenth of a parse's time went to faults).
/// Only advice: where transparent huge pages are off it changes nothing.
/// Only for buffers above glibc's largest mmap threshold (32 MiB), which
/// always get a mapping of their own: smaller ones may come from the heap,
/// where the advice would outlive the buffer.
fn prefer_huge_pages(buffer: &Vec<u8>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        const OWN_MAPPING: usize = 32 << 20;
        if buffer.capacity() <= OWN_MAPPING {
            return;
        }
        let start = buffer.as_ptr() as usize;
        let end = start + buffer.capacity();
        let (from, to) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if to > from {
            // SAFETY: the range lies inside `buffer`'s allocation, and
            // MADV_HUGEPAGE changes how its pages are backed, never what
            // they hold; an error (no THP support) is harmless.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
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

    /// The in-place rewrite of `input`, checked to keep its length and to
    /// read as the same JSON as the streaming filter's output.
    fn same_length(input: &[u8]) -> Option<Vec<u8>> {
        let quoting = same_length_quoting(input)?;
        let mut buf = input.to_vec();
        quoting.apply(&mut buf);
        assert_eq!(buf.len(), input.len());
        let ours = serde_json::from_slice::<serde_json::Value>(&buf).map_err(|e| e.to_string());
        let theirs =
            serde_json::from_slice::<serde_json::Value>(&streamed(input)).map_err(|e| e.line());
        assert_eq!(
            ours.as_ref().ok(),
            theirs.as_ref().ok(),
            "{}",
            String::from_utf8_lossy(input)
        );
        Some(buf)
    }

    #[test]
    fn same_length_quoting_borrows_spaces_around_the_token() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"end": Infinity, "x": 1}"#,
                r#"{"end":"Infinity","x": 1}"#,
            ),
            (
                "{\n    \"end\": Infinity,\n    \"x\": 1\n}",
                "{\n    \"end\":\"Infinity\",\n   \"x\": 1\n}",
            ),
            ("[\n  NaN,\n  -Infinity\n]", "[\n\"NaN\",\n\"-Infinity\"\n]"),
            (r#"{"a": [1, NaN, 2]}"#, r#"{"a": [1,"NaN",2]}"#),
            (
                r#"{"a": {"b": NaN}}, "c": 1"#,
                r#"{"a": {"b":"NaN"}},"c": 1"#,
            ),
            (
                r#"{"s": "Infinity NaN \" Infinity \\", "t": 1}"#,
                r#"{"s": "Infinity NaN \" Infinity \\", "t": 1}"#,
            ),
            ("{}", "{}"),
        ];
        for (input, want) in cases {
            let got = same_length(input.as_bytes()).expect(input);
            assert_eq!(String::from_utf8(got).unwrap(), *want);
        }
    }

    #[test]
    fn same_length_quoting_needs_two_spaces() {
        for input in [
            "[NaN]",
            r#"{"a":Infinity}"#,
            r#"{"a": NaN}"#,
            "[NaN, NaN]",
            "NaN",
        ] {
            assert_eq!(same_length_quoting(input.as_bytes()), None, "{input}");
        }
    }

    #[test]
    fn strings_are_told_from_the_start_of_their_line() {
        // Tokens inside strings, on one long line or after line breaks.
        let long = format!(
            r#"{{"a": "{}Infinity", "b": NaN, "c": "x\"NaN", "d": Infinity }}"#,
            "y".repeat(5000)
        );
        let got = same_length(long.as_bytes()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(value["b"], "NaN");
        assert_eq!(value["c"], "x\"NaN");
        assert_eq!(value["d"], "Infinity");
        let lines = "{\n \"a\": \"NaN\",\n \"b\": \"\\\"Infinity\",\n \"c\":  NaN\n}";
        let got = same_length(lines.as_bytes()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(
            (&value["a"], &value["b"], &value["c"]),
            (&"NaN".into(), &"\"Infinity".into(), &"NaN".into())
        );
    }

    #[test]
    fn broken_json_stays_broken_at_the_same_place() {
        let mut rewritten = 0;
        for input in [
            "{\"a\": \"x\n  NaN, \"b\": 1}",
            "{\"a\": \"unterminated Infinity",
            "{\"a\": Infinity x}",
            "{\"a\": NaNa }",
        ] {
            if let Some(quoting) = same_length_quoting(input.as_bytes()) {
                let mut buf = input.as_bytes().to_vec();
                quoting.apply(&mut buf);
                let ours = serde_json::from_slice::<serde_json::Value>(&buf).unwrap_err();
                let theirs =
                    serde_json::from_slice::<serde_json::Value>(&streamed(input.as_bytes()))
                        .unwrap_err();
                // Same line; columns are the file's (the filter's are 2 more).
                assert_eq!(ours.line(), theirs.line(), "{input}");
                assert_eq!(ours.classify(), theirs.classify(), "{input}");
                rewritten += quoting.len();
            }
        }
        assert_eq!(rewritten, 2);
    }

    #[test]
    fn same_length_agrees_on_every_fixture() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rally");
        let mut rewritten = 0;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).unwrap();
                let quoting = same_length_quoting(&bytes).expect("Rally indents its reports");
                rewritten += quoting.len();
                same_length(&bytes);
            }
        }
        assert!(rewritten >= 1, "dev-output-hooks has `Infinity`");
    }

    /// Byte by byte: what [`without_indentation`] must give.
    fn unindented(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line_start = true;
        for &b in input {
            if !(line_start && (b == b' ' || b == b'\t')) {
                line_start = b == b'\n';
                out.push(b);
            }
        }
        out
    }

    #[test]
    fn indentation_goes_and_everything_else_stays() {
        // A cheap deterministic generator of blank-heavy text.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in (0..300).chain([1000, 4096, 70_000]) {
            let text: Vec<u8> = (0..len)
                .map(|_| match next() % 10 {
                    0..=4 => b' ',
                    5 => b'\t',
                    6 => b'\n',
                    7 => b'\r',
                    8 => b'"',
                    _ => b'x',
                })
                .collect();
            let want = unindented(&text);
            assert_eq!(without_indentation(&text), want, "{len}");
            assert_eq!(without_indentation_by_line(&text), want, "{len}");
        }
        let lines = format!(
            "{}x\n{}\n\n{}",
            " ".repeat(200),
            "\t ".repeat(50),
            " ".repeat(64)
        );
        assert_eq!(without_indentation(lines.as_bytes()), b"x\n\n\n");
    }

    #[test]
    fn unindented_fixtures_read_the_same() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rally");
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).unwrap();
                assert!(is_indented(&bytes), "{}", path.display());
                let mut compact = without_indentation(&bytes);
                assert_eq!(compact, unindented(&bytes));
                assert_eq!(
                    compact.iter().filter(|&&b| b == b'\n').count(),
                    bytes.iter().filter(|&&b| b == b'\n').count()
                );
                quote_bare_tokens(&mut compact);
                let read = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
                assert_eq!(
                    read(&compact),
                    read(&streamed(&bytes)),
                    "{}",
                    path.display()
                );
            }
        }
        assert!(!is_indented(br#"{"a": [1, 2, 3], "b": {"c": "  d"}}"#));
    }
}
