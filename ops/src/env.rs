//! Names of the environment variables perfkit reads, in one place.

/// Archive URL used when `--archive` is not given.
pub const PERFKIT_ARCHIVE: &str = "PERFKIT_ARCHIVE";
/// `tracing` filter for log output (e.g. `debug`, `perfkit_ingest=trace`).
pub const PERFKIT_LOG: &str = "PERFKIT_LOG";
/// Archive used when neither `--archive` nor `PERFKIT_ARCHIVE` is set.
pub const DEFAULT_ARCHIVE: &str = "./perfkit-archive";
