//! What a Locust or fio result becomes before encoding: the workloads and
//! series rows of one build and its build-level counts. (Rally's richer
//! parse streams samples instead; see `rally::ParsedRun`.)

use perfkit_schema::identity::sha256_hex;
use perfkit_schema::{SeriesRow, Summary, WorkloadRecord};

/// One parsed Locust or fio result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    /// `builds.source_format`: `locust-csv`, `locust-json` or `fio-json`.
    pub source_format: &'static str,
    pub format_version: Option<String>,
    pub tool_version: Option<String>,
    pub workloads: Vec<WorkloadRecord>,
    pub series: Vec<SeriesRow>,
    /// Requests or I/Os measured, and how many failed.
    pub operations: u64,
    pub failed_operations: u64,
    pub started_at_us: Option<i64>,
    pub finished_at_us: Option<i64>,
}

/// A workload key for a non-Rally workload: 16 hex digits of a hash of
/// the tool, the Zuul job and the parts that name it in the tool's output.
pub fn workload_key(tool: &str, job: &str, parts: &[&str]) -> String {
    let mut text = format!("{tool}\0{job}");
    for part in parts {
        text.push('\0');
        text.push_str(part);
    }
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// A `Summary` from a tool's own figures (seconds).
pub fn summary(
    count: u64,
    min: f64,
    median: f64,
    p90: f64,
    p95: f64,
    max: f64,
    mean: f64,
) -> Option<Summary> {
    [min, median, p90, p95, max, mean]
        .iter()
        .all(|v| v.is_finite())
        .then_some(Summary {
            count: count as usize,
            min,
            median,
            p90,
            p95,
            max,
            mean,
        })
}
