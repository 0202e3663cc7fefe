//! perfkit-ingest: reads tool output (Rally's v2 report and old results
//! JSON, Locust's CSV and JSON, fio's JSON) into the archive's records and
//! streams them into the archive (`perfkit-archive`), one build at a time.
//!
//! It reads no Zuul or Gerrit API: build metadata comes in as plain
//! [`perfkit_schema::records::BuildMeta`]. Printing and progress bars are
//! left to the caller; progress is reported through
//! [`perfkit_archive::progress::Progress`].

mod error;
mod fio;
mod input;
mod json_filter;
pub mod json_inplace;
pub mod limits;
mod locust;
mod locust_phases;
mod measured;
pub mod pipeline;
pub mod quantiles;
pub mod rally;

pub use error::IngestError;
