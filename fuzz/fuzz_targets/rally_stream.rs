//! Rally v2 report / `task results` JSON through the streaming parser
//! (`rally::parse` over a reader, Python's bare non-finite tokens filtered),
//! read in small pieces so that tokens straddle buffer boundaries.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use perfkit_ingest::rally::{self, ParseOptions};
use perfkit_schema::sink::OwnedSample;

/// Hands out at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(buf.len()).min(self.step);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(first % 61) + 1;
    let mut rows: Vec<OwnedSample> = Vec::new();
    if let Ok(run) = rally::parse(
        Trickle { data, step },
        &ParseOptions { job: "job" },
        &mut rows,
    ) {
        assert!(run.failed_iteration_count <= run.iteration_count);
        let totals = rows.iter().filter(|r| r.depth == 0).count() as u64;
        assert_eq!(totals, run.iteration_count, "one `total` row per iteration");
    }
});
