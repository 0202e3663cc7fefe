//! perfkit-archive: the archive on any object store, read and written.
//! Opening a directory or URL as a store ([`Archive::open`]), keys and
//! paths, Parquet encoding of the tables ([`batch`], [`parquet_file`]),
//! the atomic put of a build (its `builds` object last, create-only),
//! listing and reading builds back ([`history`]) and the `series` table
//! ([`series`]). See `docs/ARCHITECTURE.md` ("The archive").
//!
//! It parses no tool output (that is `perfkit-ingest`) and judges nothing
//! (that is `perfkit-analysis`).

pub mod batch;
pub mod collector;
mod error;
pub mod history;
pub mod index;
pub mod parquet_file;
pub mod progress;
pub mod series;
pub mod sink;
mod store;

pub use batch::{Commit, CommittedRow};
pub use error::ArchiveError;
pub use store::{Archive, BuildObjects, BuildRef, MULTIPART_THRESHOLD, PutOutcome};
