//! Writing a build in layout v2 (`docs/archive-v2.md`, "Writing a build"):
//! data objects under a fresh token, then the attempt's `builds` object
//! create-only as the commit point, then an index segment. Nothing is ever
//! overwritten, so racing writers never touch each other's objects and a
//! `--replace` is the next attempt, visible all at once.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use perfkit_schema::key::TOKEN_LEN;
use perfkit_schema::{ArchiveKey, BuildRecord, Table};

use super::{Archive, BuildObjects, PutOutcome, paths};
use crate::batch::{Commit, CommittedRow, decode_builds, decode_committed, encode_committed};
use crate::error::ArchiveError;
use crate::parquet_file::decode;

/// The newest committed version of a build, as found without listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Newest {
    /// The store refused to say (a credential that may only add objects).
    Unknown,
    Absent,
    /// Archived by a perfkit that wrote layout v1.
    V1,
    V2(u32),
}

/// A fresh writer's token: 64 random bits as hex.
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_LEN / 2];
    // The OS generator does not fail on the systems perfkit runs on; if it
    // ever did, the time still makes a token unlikely to repeat.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id()).rotate_left(40)).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Archive {
    /// The newest attempt of `key`, by HEAD requests: attempt 0, 1, … until
    /// one is missing, then (without any) the v1 object. A new build costs
    /// two requests; a denied HEAD (real S3 answers 403 for a missing key
    /// when the caller may not list) ends the probe as "missing" once an
    /// attempt was found, and as [`Newest::Unknown`] before.
    pub(crate) async fn newest(&self, key: &ArchiveKey) -> Result<Newest, ArchiveError> {
        let mut newest = None;
        for attempt in 0u32.. {
            let path = self.commit_path(key, attempt);
            match self.store.head(&path).await {
                Ok(_) => newest = Some(attempt),
                Err(object_store::Error::NotFound { .. }) => break,
                Err(object_store::Error::PermissionDenied { .. }) if newest.is_some() => break,
                Err(object_store::Error::PermissionDenied { .. }) => return Ok(Newest::Unknown),
                Err(e) => return Err(self.error("check", &path, e)),
            }
        }
        if let Some(attempt) = newest {
            return Ok(Newest::V2(attempt));
        }
        let v1 = self.path(key, Table::Builds);
        match self.store.head(&v1).await {
            Ok(_) => Ok(Newest::V1),
            Err(object_store::Error::NotFound { .. }) => Ok(Newest::Absent),
            Err(object_store::Error::PermissionDenied { .. }) => Ok(Newest::Unknown),
            Err(e) => Err(self.error("check", &v1, e)),
        }
    }

    /// The row of the newest committed attempt of `key`; `None` when the
    /// build is not archived, or when the store refuses to say.
    pub async fn newest_row(&self, key: &ArchiveKey) -> Result<Option<CommittedRow>, ArchiveError> {
        let newest = self.newest(key).await?;
        self.row_of(key, newest).await
    }

    /// The row of `key`'s v1 `builds` object, `None` when it is missing.
    pub(crate) async fn newest_row_v1(
        &self,
        key: &ArchiveKey,
    ) -> Result<Option<CommittedRow>, ArchiveError> {
        self.row_of(key, Newest::V1).await
    }

    pub(crate) async fn row_of(
        &self,
        key: &ArchiveKey,
        newest: Newest,
    ) -> Result<Option<CommittedRow>, ArchiveError> {
        match newest {
            Newest::Unknown | Newest::Absent => Ok(None),
            Newest::V1 => {
                let bytes = self.get(key, Table::Builds).await?;
                let url = self.object_url(key, Table::Builds);
                let record = first_row(&url, decode_builds(key, &decode(&url, bytes)?)?)?;
                Ok(Some(CommittedRow {
                    record,
                    commit: None,
                }))
            }
            Newest::V2(attempt) => self.commit_row(key, attempt).await.map(Some),
        }
    }

    /// The row of attempt `attempt` of `key`, checked against its path.
    pub(crate) async fn commit_row(
        &self,
        key: &ArchiveKey,
        attempt: u32,
    ) -> Result<CommittedRow, ArchiveError> {
        let path = self.commit_path(key, attempt);
        let bytes = self.get_path(&path).await?;
        let url = self.url_of(&path);
        let rows = decode_committed(key, &decode(&url, bytes)?)?;
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| ArchiveError::Decode {
                key: url.clone(),
                message: "the builds object has no row".into(),
            })?;
        let matches =
            row.record.key == *key && row.commit.as_ref().is_some_and(|c| c.attempt == attempt);
        if !matches {
            return Err(ArchiveError::Decode {
                key: url,
                message: format!(
                    "its row describes build {} of {} change {} patchset {} attempt {:?}, not the one its path names; the build is skipped (was the object copied or written under another build's key?)",
                    row.record.key.build.as_str(),
                    row.record.key.project,
                    row.record.key.change,
                    row.record.key.patchset,
                    row.commit.map(|c| c.attempt)
                ),
            });
        }
        Ok(row)
    }

    /// Writes one build (`docs/archive-v2.md`, "Writing a build"). Without
    /// `replace`, a build archived from the same bytes is left alone
    /// ([`PutOutcome::AlreadyArchived`]) and one from other bytes is a
    /// [`ArchiveError::Conflict`]; a build recorded without results
    /// (`none`, `failed`) is superseded by a real result. With `replace`,
    /// the build's next attempt is committed. A crash at any step leaves
    /// the previous attempt as the one readers see.
    pub async fn put_build(
        &self,
        objects: BuildObjects,
        replace: bool,
    ) -> Result<PutOutcome, ArchiveError> {
        let key = objects.record.key.clone();
        self.ensure_create_only(&key.project).await?;
        let newest = self.newest(&key).await?;
        let previous = self.row_of(&key, newest).await?;
        if let Some(previous) = &previous {
            let superseded = !previous.record.has_results() && objects.record.has_results();
            if !replace && !superseded {
                return self.settle_existing(previous, &objects.record).await;
            }
        }
        let attempt = match newest {
            Newest::V2(n) => n + 1,
            Newest::Absent | Newest::V1 => 0,
            Newest::Unknown if replace => {
                return Err(self.conflict(
                    &key,
                    "cannot be replaced: the credential may not read the build's attempts, so the next one cannot be chosen".into(),
                    None,
                ));
            }
            Newest::Unknown => 0,
        };
        let commit = Commit {
            attempt,
            token: new_token(),
        };
        let data = [
            (Table::Samples, objects.samples),
            (Table::Workloads, objects.workloads),
            (Table::Series, objects.series),
        ]
        .map(|(table, bytes)| (self.data_path(&key, table, &commit), bytes));
        let written = futures::future::join_all(
            data.iter()
                .map(|(path, bytes)| self.put_new(path, bytes.clone())),
        )
        .await;
        if let Some(e) = written.into_iter().find_map(Result::err) {
            self.delete_orphans(&data).await;
            return Err(e);
        }
        let row = CommittedRow {
            record: objects.record,
            commit: Some(commit),
        };
        let commit_path = self.commit_path(&key, attempt);
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let payload = PutPayload::from(encode_committed(std::slice::from_ref(&row))?);
        let ours = row.commit.as_ref().map(|c| c.token.clone());
        match self.store.put_opts(&commit_path, payload, options).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                let theirs = match self.commit_row(&key, attempt).await {
                    Ok(row) => row,
                    // A credential that may only add objects cannot read
                    // the row: archived, without comparing bytes (this
                    // writer's data objects stay for `perfkit repair`).
                    Err(ArchiveError::Store { source, .. }) if super::denied(&source) => {
                        return Ok(PutOutcome::AlreadyArchived);
                    }
                    Err(e) => return Err(e),
                };
                // A retried put whose first try landed finds its own row.
                if theirs.commit.as_ref().map(|c| &c.token) != ours.as_ref() {
                    // Another writer committed this attempt first.
                    self.delete_orphans(&data).await;
                    if replace && previous.is_some() {
                        return Err(self.conflict(
                            &key,
                            format!("was replaced by another ingest at the same time (attempt {attempt}); run again to replace it after that one"),
                            Some(theirs.record.source_sha256),
                        ));
                    }
                    return self.settle_existing(&theirs, &row.record).await;
                }
            }
            Err(e) => {
                // The put may have landed although its answer was lost: data
                // objects a commit names are never deleted.
                match self.commit_row(&key, attempt).await {
                    Ok(landed) if landed.commit.as_ref().map(|c| &c.token) == ours.as_ref() => {}
                    Err(missing) if missing.is_bad_object() => {
                        self.delete_orphans(&data).await;
                        return Err(self.error("write", &commit_path, e));
                    }
                    // Not known: the data objects stay for `perfkit repair`.
                    _ => return Err(self.error("write", &commit_path, e)),
                }
            }
        }
        self.append_index(&key.project, std::slice::from_ref(&row))
            .await?;
        Ok(if previous.is_some() {
            PutOutcome::Replaced
        } else {
            PutOutcome::Written
        })
    }

    /// Another ingest archived this build: the same bytes are "already
    /// archived" (and indexed again, in case its writer died before its
    /// segment), other bytes a conflict.
    async fn settle_existing(
        &self,
        archived: &CommittedRow,
        ours: &BuildRecord,
    ) -> Result<PutOutcome, ArchiveError> {
        if archived.record.source_sha256 != ours.source_sha256 {
            return Err(self.conflict(
                &ours.key,
                format!(
                    "is archived from other bytes (sha256 {}, file `{}`) than this ingest's (sha256 {})",
                    archived.record.source_sha256,
                    perfkit_schema::shown(&archived.record.source_file),
                    ours.source_sha256
                ),
                Some(archived.record.source_sha256.clone()),
            ));
        }
        if archived.commit.is_some() {
            self.append_index(&ours.key.project, std::slice::from_ref(archived))
                .await?;
        }
        Ok(PutOutcome::AlreadyArchived)
    }

    fn conflict(&self, key: &ArchiveKey, what: String, archived: Option<String>) -> ArchiveError {
        ArchiveError::Conflict {
            url: self.display.clone(),
            key: format!(
                "{} of {} change {} patchset {}",
                key.build.as_str(),
                key.project,
                key.change,
                key.patchset
            ),
            what,
            archived_sha256: archived,
        }
    }

    /// Best effort: objects no `builds` row names are invisible to readers;
    /// a credential that may only add objects cannot delete them, and
    /// `perfkit repair` removes what is left.
    async fn delete_orphans(&self, data: &[(Path, Bytes)]) {
        for (path, _) in data {
            let _ = self.store.delete(path).await;
        }
    }

    pub(crate) fn commit_path(&self, key: &ArchiveKey, attempt: u32) -> Path {
        paths::join(&self.root, key.commit_parts(attempt))
    }

    pub(crate) fn data_path(&self, key: &ArchiveKey, table: Table, commit: &Commit) -> Path {
        paths::join(
            &self.root,
            key.data_parts(table, commit.attempt, &commit.token),
        )
    }
}

fn first_row(url: &str, rows: Vec<BuildRecord>) -> Result<BuildRecord, ArchiveError> {
    rows.into_iter().next().ok_or_else(|| ArchiveError::Decode {
        key: url.to_string(),
        message: "the builds object has no row".into(),
    })
}
