//! A job's `zuul` variables file (YAML or JSON) as `perfkit ingest
//! --zuul-vars` reads it: aliases, sizes and shapes are the attacker's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perfkit_zuul::vars;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vars::parse(text);
    }
});
