//! `IngestError`: every way an ingest can fail, each naming the file, key or
//! URL involved, with a `hint` telling the user what to do.

use std::path::PathBuf;

/// An ingest failure. Display is one line; [`IngestError::hint`] is the fix.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON, or not a Rally result, or has a value of
    /// the wrong shape. `json_path` is like `$.tasks[0].subtasks[1]`.
    #[error("cannot ingest `{}`: {message} at {json_path} (line {line}, column {column})", path.display())]
    Malformed {
        path: PathBuf,
        json_path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A Rally report past one of the limits of [`crate::limits`]
    /// (`message` names it), at a JSON path like `Malformed`'s.
    #[error("cannot ingest `{}`: {message} at {json_path} (line {line}, column {column})", path.display())]
    OverLimit {
        path: PathBuf,
        json_path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("cannot ingest `{}`: this is not a Rally, Locust or fio result ({what})", path.display())]
    NotRally { path: PathBuf, what: String },
    /// A Locust or fio result perfkit recognized but cannot archive:
    /// `place` is a line and column, or a JSON path like `$.jobs[1].error`.
    #[error("cannot ingest `{}`: {message} at {place}", path.display())]
    Invalid {
        path: PathBuf,
        place: String,
        message: String,
        hint: String,
    },
    #[error("cannot ingest `{}`: Rally report format `{version}` is not supported (expected {supported})", path.display())]
    UnsupportedVersion {
        path: PathBuf,
        version: String,
        supported: String,
    },
    /// The file was rewritten, truncated or replaced while it was parsed,
    /// so what was parsed and what was hashed may differ.
    #[error("cannot ingest `{}`: the file changed while it was read ({what})", path.display())]
    Changed { path: PathBuf, what: String },
    #[error("invalid build metadata: {0}")]
    Metadata(String),
    #[cfg(feature = "archive")]
    #[error(transparent)]
    Archive(#[from] perfkit_archive::ArchiveError),
    /// The sample sink refused a row. With the `archive` feature (the
    /// default) that is the encoder's [`IngestError::Archive`] instead; this
    /// is for builds without it (the fuzz targets).
    #[error("cannot ingest `{}`: the sample sink refused a row: {message}", path.display())]
    Sink { path: PathBuf, message: String },
    #[error(
        "cannot ingest `{}`: build `{build}` is already archived from a different file (sha256 {archived_sha256:.12}…, this file {sha256:.12}…)",
        path.display()
    )]
    Conflict {
        path: PathBuf,
        build: String,
        archived_sha256: String,
        sha256: String,
    },
}

impl IngestError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            IngestError::Read { .. } => "check the path; pass the files `rally task report --json` wrote".into(),
            IngestError::Malformed { .. } => "the file looks truncated or edited; re-export it with `rally task report <uuid> --json --out report.json`".into(),
            IngestError::OverLimit { .. } => crate::limits::HINT.into(),
            IngestError::NotRally { .. } => "pass the output of `rally task report <uuid> --json` or `rally task results <uuid>`, Locust's `--csv PREFIX` files (the prefix, its directory or its `_stats.csv`) or `--json` output, or `fio --output-format=json` (or `json+`) output".into(),
            IngestError::Invalid { hint, .. } => hint.clone(),
            IngestError::UnsupportedVersion { .. } => "re-export it with `rally task report <uuid> --json` from Rally 3.0 or newer, or report the version to perfkit".into(),
            IngestError::Changed { .. } => "ingest the file once the job that writes it has finished (or from a copy)".into(),
            IngestError::Metadata(_) => "see `perfkit ingest --help` for the build flags".into(),
            #[cfg(feature = "archive")]
            IngestError::Archive(e) => return e.hint(),
            IngestError::Sink { .. } => return None,
            IngestError::Conflict { .. } => "pass `--replace` to archive this file in its place, or a different `--build`".into(),
        })
    }
}
