//! Reading archived builds back for the detector and the site: each build's
//! `builds` row and its `series` rows (rebuilt from `samples` and
//! `workloads` for builds archived before the `series` table existed).
//! [`load_readable`] skips a build whose objects are missing or
//! undecodable, naming it, so that one bad object fails alone.

use futures::{StreamExt, TryStreamExt};
use perfkit_schema::{ArchiveKey, ArchivedBuild, Table};

use crate::ArchiveError;
use crate::batch::decode_builds;
use crate::parquet_file::decode;
use crate::progress::Progress;
use crate::series::{decode_series, rebuild};
use crate::store::Archive;

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

/// Loads `keys` (in the given order), skipping builds with a missing or
/// undecodable object ([`ArchiveError::is_bad_object`]); any other error
/// (the store unreachable) fails the whole load.
pub async fn load_readable(
    archive: &Archive,
    keys: &[ArchiveKey],
    progress: &dyn Progress,
) -> Result<Loaded, ArchiveError> {
    progress.start("reading builds", Some(keys.len() as u64));
    let mut done = 0u64;
    let results: Vec<Result<ArchivedBuild, ArchiveError>> =
        futures::stream::iter(keys.iter().map(|key| load_build(archive, key)))
            .buffered(CONCURRENT_READS)
            .inspect(|_| {
                done += 1;
                progress.set(done);
            })
            .collect()
            .await;
    progress.finish();
    let mut loaded = Loaded::default();
    for (key, result) in keys.iter().zip(results) {
        match result {
            Ok(build) => loaded.builds.push(build),
            Err(e) if e.is_bad_object() => loaded.unreadable.push(Unreadable {
                key: key.clone(),
                reason: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(loaded)
}

/// Loads `keys` (in the given order); progress counts builds. Any build
/// that cannot be read fails the load (see [`load_readable`]).
pub async fn load_builds(
    archive: &Archive,
    keys: &[ArchiveKey],
    progress: &dyn Progress,
) -> Result<Vec<ArchivedBuild>, ArchiveError> {
    progress.start("reading builds", Some(keys.len() as u64));
    let mut done = 0u64;
    let loaded = futures::stream::iter(keys.iter().map(|key| load_build(archive, key)))
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

/// Loads one build: its record and series rows.
pub async fn load_build(
    archive: &Archive,
    key: &ArchiveKey,
) -> Result<ArchivedBuild, ArchiveError> {
    let url = |table| archive.object_url(key, table);
    let builds = archive.get(key, Table::Builds).await?;
    let record = decode_builds(key, &decode(&url(Table::Builds), builds)?)?
        .into_iter()
        .next()
        .ok_or_else(|| ArchiveError::Decode {
            key: url(Table::Builds),
            message: "the builds object has no row".into(),
        })?;
    let series = match archive.get_if_present(key, Table::Series).await? {
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
    };
    Ok(ArchivedBuild { record, series })
}
