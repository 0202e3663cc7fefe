//! perfkit-ingest: reads tool output (Rally's v2 report and old results
//! JSON, Locust's CSV and JSON, fio's JSON), normalizes it into the archive's records, encodes Arrow/Parquet
//! and writes builds atomically into an `object_store` archive.
//!
//! Printing and progress bars are left to the CLI; this crate reports
//! progress through [`progress::Progress`].

pub mod archive;
pub mod batch;
pub mod build_cache;
pub mod error;
pub mod fio;
pub mod history;
pub mod input;
pub mod json_filter;
pub mod json_inplace;
pub mod locust;
pub mod measured;
pub mod normalize;
pub mod parquet_file;
pub mod pipeline;
pub mod progress;
pub mod quantiles;
pub mod rally;
pub mod series;
pub mod zuul_vars;

pub use error::IngestError;
