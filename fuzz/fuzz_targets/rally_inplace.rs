//! Rally v2 report / `task results` JSON through the in-place fast path as
//! `perfkit ingest` takes it (`pipeline::parse_file`): the unindented copy
//! with bare tokens quoted, else same-length quoting in place, else quotes
//! inserted in a copy; and the unmapped path's quoting, whose segments must
//! hash the original bytes. The outcome must agree with the streaming
//! parser's (the documented contract of `rally::parse_slice`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use perfkit_ingest::json_inplace;
use perfkit_ingest::rally::{self, ParseOptions, ParsedRun};
use perfkit_schema::sink::CountingSink;

fn slice(bytes: &[u8]) -> Option<(ParsedRun, u64)> {
    let mut sink = CountingSink::default();
    let run = rally::parse_slice(bytes, &ParseOptions { job: "job" }, &mut sink).ok()?;
    Some((run, sink.rows))
}

fn in_place(data: &[u8]) -> Option<(ParsedRun, u64)> {
    let tokens = json_inplace::Tokens::find(data);
    if tokens.is_empty() {
        return slice(data);
    }
    if let Some(quoting) = tokens.same_length(data) {
        let mut copy = data.to_vec();
        quoting.apply(&mut copy);
        return slice(&copy);
    }
    let mut copy = data.to_vec();
    tokens.insert_quotes(&mut copy);
    slice(&copy)
}

fuzz_target!(|data: &[u8]| {
    let fast = if json_inplace::is_indented(data) {
        let mut compact = json_inplace::without_indentation(data);
        json_inplace::quote_bare_tokens(&mut compact);
        slice(&compact).or_else(|| in_place(data))
    } else {
        in_place(data)
    };

    let mut buffer = data.to_vec();
    let inserted = json_inplace::quote_non_finite(&mut buffer);
    let original: Vec<u8> = json_inplace::original_segments(&buffer, &inserted)
        .flat_map(|s| s.iter().copied())
        .collect();
    assert_eq!(
        original, data,
        "original_segments must give back the file's bytes"
    );
    let unmapped = slice(&buffer);

    let mut sink = CountingSink::default();
    let streamed = rally::parse(data, &ParseOptions { job: "job" }, &mut sink)
        .ok()
        .map(|run| (run, sink.rows));
    for (name, other) in [("in-place", &fast), ("unmapped", &unmapped)] {
        match (&streamed, other) {
            (Some((a, rows_a)), Some((b, rows_b))) => {
                assert_eq!(
                    (
                        a.iteration_count,
                        a.failed_iteration_count,
                        a.workloads.len(),
                        rows_a
                    ),
                    (
                        b.iteration_count,
                        b.failed_iteration_count,
                        b.workloads.len(),
                        rows_b
                    ),
                    "{name} and streamed parses differ"
                );
            }
            (None, None) => {}
            (a, b) => panic!(
                "{name} parse {} but the streamed one {}",
                if b.is_some() { "succeeded" } else { "failed" },
                if a.is_some() { "succeeded" } else { "failed" }
            ),
        }
    }
});
