//! A page of Zuul's builds API as `perfkit collect` reads it: each element
//! into an `ApiBuild`, its facts into build metadata, the places of its
//! results, and its times.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perfkit_zuul::{builds, results, vars};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for item in &items {
        let Ok(build) = builds::ApiBuild::from_json(item) else {
            continue;
        };
        let _ = build.time_us();
        let _ = build.succeeded();
        let _ = build.describe();
        let _ = results::candidates(&build);
        let _ = vars::interpret(build.facts("openstack"));
        for time in [&build.start_time, &build.end_time].into_iter().flatten() {
            let _ = builds::parse_utc_us(time);
            let _ = builds::parse_since(time, 1_700_000_000_000_000);
        }
    }
});
