//! `KEY=VALUE` settings and secrets files (`--env-file`, Gerrit's
//! credentials file): whatever the text, entries are well formed and an
//! error carries only a line number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perfkit_http::env_file::parse_env;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count();
    match parse_env(text) {
        Ok(entries) => {
            for entry in entries {
                assert!(!entry.key.is_empty());
                assert!(
                    entry
                        .key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                );
                assert!((1..=lines).contains(&entry.line));
            }
        }
        Err((line, _)) => assert!((1..=lines).contains(&line)),
    }
});
