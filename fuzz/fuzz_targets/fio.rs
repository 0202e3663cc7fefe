//! fio's `--output-format=json` and `json+` output, with whatever fio
//! printed before the JSON (as `perfkit ingest` finds its start).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use perfkit_ingest::fio;

fuzz_target!(|data: &[u8]| {
    let start = fio::json_start(data).unwrap_or(0);
    let _ = fio::parse(Path::new("fio.json"), &data[start..], "job");
});
