//! perfkit-ingest: reads tool output (Rally's v2 report and old results
//! JSON, Locust's CSV and JSON, fio's JSON) into the archive's records and
//! streams them into the archive (`perfkit-archive`), one build at a time.
//!
//! It reads no Zuul or Gerrit API: build metadata comes in as plain
//! [`perfkit_schema::records::BuildMeta`]. Printing and progress bars are
//! left to the caller; progress is reported through
//! `perfkit_archive::progress::Progress`.
//!
//! The parsers build without the archive: [`pipeline`] (and with it Arrow,
//! Parquet, object_store and tokio) is behind the default `archive`
//! feature, which the fuzz targets (`fuzz/`) leave off.

mod error;
pub mod fio;
// Without `archive` only the Locust reader uses it (its size limit).
#[cfg_attr(not(feature = "archive"), allow(dead_code))]
mod input;
mod json_filter;
pub mod json_inplace;
pub mod limits;
pub mod locust;
mod locust_phases;
mod measured;
#[cfg(feature = "archive")]
pub mod pipeline;
pub mod quantiles;
pub mod rally;

pub use error::IngestError;
