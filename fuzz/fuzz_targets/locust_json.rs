//! Locust's `--json` / `--json-file` output.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use perfkit_ingest::locust;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(measured) = locust::parse_json(Path::new("locust.json"), &value, "job") {
        assert!(measured.failed_operations <= measured.operations);
    }
});
