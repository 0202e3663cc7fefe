//! `ArchiveError`: every way reading or writing the archive can fail, each
//! naming the URL or key involved, with a `hint` telling the user what to do.

/// An archive failure. Display is one line; [`ArchiveError::hint`] is the fix.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot open archive `{url}`: {message}")]
    Url { url: String, message: String },
    #[error("archive `{url}`: {action} `{key}` failed: {source}")]
    Store {
        url: String,
        action: &'static str,
        key: String,
        /// Boxed: `object_store::Error` is large, and every `Result` of this
        /// crate would carry its size otherwise (clippy::result_large_err).
        #[source]
        source: Box<object_store::Error>,
    },
    #[error(
        "archive `{url}`: the store overwrote `{key}` although perfkit put it create-only (`If-None-Match: *`) twice; nothing was written"
    )]
    CreateOnlyIgnored { url: String, key: String },
    #[error("archive `{url}`: build `{key}` {what}; nothing of this ingest was kept")]
    Conflict {
        url: String,
        key: String,
        /// What was found, e.g. "is archived from other bytes (sha256 …)".
        what: String,
        /// The SHA-256 of the archived result, when it could be read.
        archived_sha256: Option<String>,
    },
    #[error("cannot encode {table} as Parquet: {message}")]
    Encode {
        table: &'static str,
        message: String,
    },
    #[error("archive object `{key}` is unreadable: {message}")]
    Decode { key: String, message: String },
}

impl ArchiveError {
    /// Whether this is one object's fault (missing or undecodable) rather
    /// than the store's: a reader skips that build and goes on.
    pub fn is_bad_object(&self) -> bool {
        match self {
            ArchiveError::Decode { .. } => true,
            ArchiveError::Store { source, .. } => {
                matches!(**source, object_store::Error::NotFound { .. })
            }
            _ => false,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ArchiveError::Url { .. } => "use a directory, `file://`, `s3://bucket/prefix`, `gs://`, `az://` or `memory://` URL".into(),
            ArchiveError::Store { action, source, .. }
                if matches!(**source, object_store::Error::PermissionDenied { .. }) =>
            {
                format!(
                    "the credential may not {action} this key: a credential scoped to one project's keys (docs/credentials.md) can only add that project's builds; check `--project` and the credential"
                )
            }
            ArchiveError::CreateOnlyIgnored { .. } => "this store ignores conditional creates, so two ingests of one build could overwrite each other's objects unnoticed; use one that honours them (AWS S3, Ceph RGW, MinIO, GCS, Azure, a local directory) or ask its operator to enable them".into(),
            ArchiveError::Store { .. } => "check the archive URL, credentials (`AWS_*`, `GOOGLE_*`, `AZURE_*`) and that the store is reachable, then run the same command again: it is safe to repeat".into(),
            ArchiveError::Conflict { .. } => "pass `--replace` to archive this result as the build's next attempt (readers then see it, all at once), or a different `--build`".into(),
            ArchiveError::Encode { .. } | ArchiveError::Decode { .. } => return None,
        })
    }
}
