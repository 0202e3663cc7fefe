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
    #[error("cannot read Zuul variables from `{}`: {message}", path.display())]
    ZuulVars { path: PathBuf, message: String },
    #[error("invalid build metadata: {0}")]
    Metadata(String),
    #[error("cannot open archive `{url}`: {message}")]
    ArchiveUrl { url: String, message: String },
    #[error("archive `{url}`: {action} `{key}` failed: {source}")]
    Archive {
        url: String,
        action: &'static str,
        key: String,
        /// Boxed: `object_store::Error` is large, and every `Result` of this
        /// crate would carry its size otherwise (clippy::result_large_err).
        #[source]
        source: Box<object_store::Error>,
    },
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
    #[error("cannot encode {table} as Parquet: {message}")]
    Encode {
        table: &'static str,
        message: String,
    },
    #[error("archive object `{key}` is unreadable: {message}")]
    Decode { key: String, message: String },
}

impl IngestError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            IngestError::Read { .. } => "check the path; pass the files `rally task report --json` wrote".into(),
            IngestError::Malformed { .. } => "the file looks truncated or edited; re-export it with `rally task report <uuid> --json --out report.json`".into(),
            IngestError::NotRally { .. } => "pass the output of `rally task report <uuid> --json` or `rally task results <uuid>`, Locust's `--csv PREFIX` files (the prefix, its directory or its `_stats.csv`) or `--json` output, or `fio --output-format=json` (or `json+`) output".into(),
            IngestError::Invalid { hint, .. } => hint.clone(),
            IngestError::UnsupportedVersion { .. } => "re-export it with `rally task report <uuid> --json` from Rally 3.0 or newer, or report the version to perfkit".into(),
            IngestError::ZuulVars { .. } => "pass the `zuul` variables as Ansible dumps them, e.g. `{{ zuul | to_yaml }}` into a file".into(),
            IngestError::Metadata(_) => "see `perfkit ingest --help` for the build flags".into(),
            IngestError::ArchiveUrl { .. } => "use a directory, `file://`, `s3://bucket/prefix`, `gs://`, `az://` or `memory://` URL".into(),
            IngestError::Archive { .. } => "check the archive URL, credentials (`AWS_*`, `GOOGLE_*`, `AZURE_*`) and that the store is reachable, then run the same command again: it is safe to repeat".into(),
            IngestError::Conflict { .. } => "pass `--replace` to archive this file in its place, or a different `--build`".into(),
            IngestError::Encode { .. } | IngestError::Decode { .. } => return None,
        })
    }
}
