//! The seam between parsers and encoders: parsers push borrowed
//! [`SampleRow`]s into a [`SampleSink`] as they stream through a file, so a
//! report of any size is never held as owned samples. It is the contract
//! between the parsers (`perfkit-ingest`) and the encoders
//! (`perfkit-archive`), so it lives here, below both.

use crate::SampleRow;

/// Why a sink refused a row (e.g. the Parquet encoder failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Receives samples in file order.
pub trait SampleSink {
    /// Takes one row; an error stops the parse.
    fn push(&mut self, row: &SampleRow<'_>) -> Result<(), SinkError>;
}

/// An owned copy of a [`SampleRow`], for tests and small inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedSample {
    pub workload_key: String,
    pub workload_index: u32,
    pub iteration: u32,
    pub action: String,
    pub depth: u8,
    pub occurrence: u16,
    pub duration_s: f64,
    pub idle_duration_s: Option<f64>,
    pub started_at_us: Option<i64>,
    pub failed: bool,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub error_traceback: Option<String>,
}

impl SampleSink for Vec<OwnedSample> {
    fn push(&mut self, row: &SampleRow<'_>) -> Result<(), SinkError> {
        self.push_owned(row);
        Ok(())
    }
}

trait PushOwned {
    fn push_owned(&mut self, row: &SampleRow<'_>);
}

impl PushOwned for Vec<OwnedSample> {
    fn push_owned(&mut self, row: &SampleRow<'_>) {
        self.push(OwnedSample {
            workload_key: row.workload_key.to_string(),
            workload_index: row.workload_index,
            iteration: row.iteration,
            action: row.action.to_string(),
            depth: row.depth,
            occurrence: row.occurrence,
            duration_s: row.duration_s,
            idle_duration_s: row.idle_duration_s,
            started_at_us: row.started_at_us,
            failed: row.failed,
            error_type: row.error_type.map(str::to_string),
            error_message: row.error_message.map(str::to_string),
            error_traceback: row.error_traceback.map(str::to_string),
        });
    }
}

/// Counts rows without keeping them (for dry runs and benchmarks).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CountingSink {
    pub rows: u64,
}

impl SampleSink for CountingSink {
    fn push(&mut self, _row: &SampleRow<'_>) -> Result<(), SinkError> {
        self.rows += 1;
        Ok(())
    }
}
