//! Locust's `--csv PREFIX` set: the input is split at NUL bytes into the
//! `_stats.csv`, `_stats_history.csv`, `_failures.csv`, `_exceptions.csv`
//! and `_upgrade_window.json` files (absent when there are fewer parts),
//! written to a scratch directory and parsed as `perfkit ingest` parses
//! them (with a window, split into the phases of an upgrade).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use perfkit_ingest::locust::{self, CsvSet};

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("perfkit-fuzz-locust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    let mut parts = data.splitn(5, |&b| b == 0);
    let file = |suffix: &str, part: Option<&[u8]>| {
        let path = dir.join(format!("run{suffix}"));
        match part {
            Some(bytes) => {
                std::fs::write(&path, bytes).unwrap();
                Some(path)
            }
            None => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    };
    let stats = file("_stats.csv", parts.next()).unwrap();
    let set = CsvSet {
        stats,
        history: file("_stats_history.csv", parts.next()),
        failures: file("_failures.csv", parts.next()),
        exceptions: file("_exceptions.csv", parts.next()),
        window: file("_upgrade_window.json", parts.next()),
    };
    if let Ok(measured) = locust::parse_csv(&set, "job") {
        assert!(measured.failed_operations <= measured.operations);
    }
});
