//! perfkit's archive contract: validated names, archive keys, the Arrow
//! schemas of the `samples`, `workloads` and `builds` tables, the records
//! that fill them, workload identity and recomputed statistics.
//!
//! The Arrow schemas (`tables`) are behind the default `arrow` feature, so
//! parsers can build without Arrow (the fuzz targets do).
//!
//! Pure data and functions: no I/O, no async, no HTTP. Parsing tool output
//! lives in `perfkit-ingest`; rendering lives in `perfkit-zuul` and the site.

pub mod identity;
pub mod key;
pub mod names;
pub mod records;
mod shown;
pub mod sink;
pub mod stats;
#[cfg(feature = "arrow")]
pub mod tables;

pub use key::{ArchiveKey, Table};
pub use names::{BuildId, NameError, ProjectName};
pub use records::{
    ArchivedBuild, BuildRecord, Phase, SampleRow, SeriesRow, UpgradeWindow, WorkloadRecord,
};
pub use shown::shown;
pub use stats::Summary;
#[cfg(feature = "arrow")]
pub use tables::SCHEMA_VERSION;
