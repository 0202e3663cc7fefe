//! Reading archived builds back for the detector and the site: each build's
//! `builds` row (from the project's index, or its own object) and its
//! `series` rows (rebuilt from `samples` and `workloads` for v1 builds
//! archived before the `series` table existed).
//! [`load_readable`] skips a build whose objects are missing or
//! undecodable, naming it, so that one bad object fails alone.

use futures::{StreamExt, TryStreamExt};
use perfkit_schema::{ArchiveKey, ArchivedBuild, Table};

use crate::ArchiveError;
use crate::batch::CommittedRow;
use crate::parquet_file::decode;
use crate::progress::Progress;
use crate::series::{decode_series, rebuild};
use crate::store::{Archive, BuildRef};

/// How many builds are fetched at once: enough to hide object-store
/// latency, few enough to stay polite to a shared S3 endpoint.
const CONCURRENT_READS: usize = 16;

/// A build that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub key: ArchiveKey,
    /// The error, naming the object at fault.
    pub reason: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let k = &self.key;
        write!(
            f,
            "skipped build {} of {} change {} patchset {}: {}",
            k.build.as_str(),
            k.project,
            k.change,
            k.patchset,
            perfkit_schema::shown(&self.reason)
        )
    }
}

/// The builds read back, and those skipped.
#[derive(Debug, Default)]
pub struct Loaded {
    pub builds: Vec<ArchivedBuild>,
    pub unreadable: Vec<Unreadable>,
}

/// Loads the builds of `rows` (in the given order; the rows come from a
/// project's index, [`Archive::read_index`]), skipping builds with a
/// missing or undecodable object ([`ArchiveError::is_bad_object`]); any
/// other error (the store unreachable) fails the whole load.
pub async fn load_readable(
    archive: &Archive,
    rows: &[CommittedRow],
    progress: &dyn Progress,
) -> Result<Loaded, ArchiveError> {
    progress.start("reading builds", Some(rows.len() as u64));
    let mut done = 0u64;
    let results: Vec<Result<ArchivedBuild, ArchiveError>> =
        futures::stream::iter(rows.iter().map(|row| load_row(archive, row)))
            .buffered(CONCURRENT_READS)
            .inspect(|_| {
                done += 1;
                progress.set(done);
            })
            .collect()
            .await;
    progress.finish();
    let mut loaded = Loaded::default();
    for (row, result) in rows.iter().zip(results) {
        match result {
            Ok(build) => loaded.builds.push(build),
            Err(e) if e.is_bad_object() => loaded.unreadable.push(Unreadable {
                key: row.record.key.clone(),
                reason: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(loaded)
}

/// Loads `builds` (in the given order), reading each one's `builds` object
/// first; progress counts builds. Any build that cannot be read fails the
/// load.
pub async fn load_builds(
    archive: &Archive,
    builds: &[BuildRef],
    progress: &dyn Progress,
) -> Result<Vec<ArchivedBuild>, ArchiveError> {
    progress.start("reading builds", Some(builds.len() as u64));
    let mut done = 0u64;
    let loaded = futures::stream::iter(builds.iter().map(|b| load_build(archive, b)))
        .buffered(CONCURRENT_READS)
        .inspect(|_| {
            done += 1;
            progress.set(done);
        })
        .try_collect()
        .await;
    progress.finish();
    loaded
}

/// Loads one listed build: its `builds` row, then its series rows.
pub async fn load_build(
    archive: &Archive,
    build: &BuildRef,
) -> Result<ArchivedBuild, ArchiveError> {
    let row = match build.attempt {
        Some(attempt) => archive.commit_row(&build.key, attempt).await?,
        None => archive
            .newest_row_v1(&build.key)
            .await?
            .ok_or_else(|| ArchiveError::Decode {
                key: archive.object_url(&build.key, Table::Builds),
                message: "the builds object is gone".into(),
            })?,
    };
    load_row(archive, &row).await
}

/// The `series` object's URL of `row`, for an error.
fn series_url(archive: &Archive, row: &CommittedRow) -> String {
    match &row.commit {
        Some(commit) => archive.url_of(&archive.data_path(&row.record.key, Table::Series, commit)),
        None => archive.object_url(&row.record.key, Table::Series),
    }
}

/// Loads the series rows of the build `row` describes (rebuilt from
/// `samples` and `workloads` for v1 builds archived before the `series`
/// table existed).
pub async fn load_row(
    archive: &Archive,
    row: &CommittedRow,
) -> Result<ArchivedBuild, ArchiveError> {
    let key = &row.record.key;
    let series = match &row.commit {
        Some(commit) => {
            let path = archive.data_path(key, Table::Series, commit);
            let url = archive.url_of(&path);
            let bytes = archive.get_path(&path).await?;
            // Decoding is most of a read's CPU: off the async thread, so the
            // reads in flight decode on every core.
            let key = key.clone();
            tokio::task::spawn_blocking(move || decode_series(&key, &decode(&url, bytes)?))
                .await
                .map_err(|e| ArchiveError::Decode {
                    key: series_url(archive, row),
                    message: format!("the decoding thread failed: {e}"),
                })??
        }
        None => {
            let url = |table| archive.object_url(key, table);
            match archive.get_if_present(key, Table::Series).await? {
                Some(bytes) => decode_series(key, &decode(&url(Table::Series), bytes)?)?,
                None => {
                    let samples = archive.get(key, Table::Samples).await?;
                    let workloads = archive.get(key, Table::Workloads).await?;
                    rebuild(
                        key,
                        &decode(&url(Table::Samples), samples)?,
                        &decode(&url(Table::Workloads), workloads)?,
                    )?
                }
            }
        }
    };
    Ok(ArchivedBuild {
        record: row.record.clone(),
        series,
    })
}
