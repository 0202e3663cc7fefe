//! A local cache of a project's archived builds for readers that come back
//! often (the site): one listing of the archive, then only builds that are
//! new or were rewritten since the last run are fetched. The cache is
//! append-only segments of Parquet (`series` and `builds` tables of many
//! builds) plus an index naming, per build, the version of its `builds`
//! object and the segment holding it; it is compacted into one segment when
//! segments pile up. A cache that cannot be read is rebuilt, never trusted
//! half-way: it can only make a run faster, not different.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use perfkit_schema::{ArchiveKey, ArchivedBuild, ProjectName, SeriesRow, Table};
use serde::{Deserialize, Serialize};

use crate::ArchiveError;
use crate::batch::{CommittedRow, decode_build_rows, encode_builds};
use crate::history::{Unreadable, load_readable};
use crate::parquet_file::decode;
use crate::progress::Progress;
use crate::series::{decode_series_rows, encode_series_rows};
use crate::store::Archive;

/// Segments allowed before they are merged into one.
const MAX_SEGMENTS: usize = 24;

/// Bumped when the cache's layout changes; an old cache is rebuilt
/// (2: versions name committed attempts).
const CACHE_FORMAT: u32 = 2;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    format: u32,
    /// The archive the cache was filled from (display URL).
    archive: String,
    /// Archive key (its path parts joined) → entry.
    builds: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    version: String,
    segment: String,
}

/// What a cached load did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Builds served from the cache.
    pub cached: usize,
    /// Builds read from the archive (new, rewritten, or all on a cold cache).
    pub fetched: usize,
}

/// A cache directory holding one sub-directory per project.
#[derive(Debug, Clone)]
pub struct BuildCache {
    dir: PathBuf,
}

/// The key a build is listed and cached under (its `builds` object's path).
pub fn cache_key(key: &ArchiveKey) -> String {
    key.parts(Table::Builds).join("/")
}

/// One project's archive listing against the cache: which builds the
/// cache holds as listed, and which must be read from the archive.
#[derive(Debug)]
pub struct CachePlan {
    dir: PathBuf,
    index: Index,
    current: Vec<(ArchiveKey, String)>,
    missing: Vec<(ArchiveKey, String)>,
    /// Builds `read_current` had to read from the archive again.
    reread: usize,
    /// Builds skipped because an object of theirs is missing or
    /// undecodable; they are left out of the listing and the cache.
    unreadable: Vec<Unreadable>,
    /// The index's row of every listed build, by cache key.
    rows: HashMap<String, CommittedRow>,
}

/// A build's version in the cache: which committed attempt it is (v2
/// objects never change), or for v1 its row's digest and ingest time.
fn version_of(row: &CommittedRow) -> String {
    match &row.commit {
        Some(c) => format!("a{}-{}", c.attempt, c.token),
        None => format!(
            "v1-{}-{}",
            row.record.ingested_at_us, row.record.source_sha256
        ),
    }
}

impl CachePlan {
    fn rows_of(&self, list: &[(ArchiveKey, String)]) -> Vec<CommittedRow> {
        list.iter()
            .filter_map(|(k, _)| self.rows.get(&cache_key(k)).cloned())
            .collect()
    }

    /// The builds skipped so far (see [`load_readable`]).
    pub fn unreadable(&self) -> &[Unreadable] {
        &self.unreadable
    }

    /// Leaves the unreadable builds out of `list`.
    fn drop_unreadable(list: &mut Vec<(ArchiveKey, String)>, unreadable: &[Unreadable]) {
        let bad: BTreeSet<String> = unreadable.iter().map(|u| cache_key(&u.key)).collect();
        list.retain(|(k, _)| !bad.contains(&cache_key(k)));
    }

    /// The archive's listing: cache key → version of every build.
    pub fn listing(&self) -> BTreeMap<String, String> {
        self.current
            .iter()
            .chain(&self.missing)
            .map(|(k, v)| (cache_key(k), v.clone()))
            .collect()
    }

    /// Whether the cache's segments should be merged, which needs every
    /// build read (`read_current` does it).
    pub fn compaction_due(&self) -> bool {
        let segments: BTreeSet<&str> = self
            .index
            .builds
            .values()
            .map(|e| e.segment.as_str())
            .collect();
        segments.len() > MAX_SEGMENTS
    }
}

impl BuildCache {
    pub fn new(dir: &Path) -> BuildCache {
        BuildCache {
            dir: dir.to_path_buf(),
        }
    }

    fn project_dir(&self, project: &ProjectName) -> PathBuf {
        self.dir.join(project.as_str().replace('/', "~"))
    }

    /// Every archived build of `project`, from the cache where it is
    /// current, from the archive otherwise; the cache is updated after.
    pub async fn load(
        &self,
        archive: &Archive,
        project: &ProjectName,
        progress: &dyn Progress,
    ) -> Result<(Vec<ArchivedBuild>, CacheStats), ArchiveError> {
        let mut plan = self.plan(archive, project).await?;
        let fetched = self.fetch(archive, &mut plan, progress).await?;
        let mut builds = self
            .read_current(archive, &mut plan, &fetched, progress)
            .await?;
        let stats = CacheStats {
            cached: builds.len() - plan.reread,
            fetched: fetched.len() + plan.reread,
        };
        builds.extend(fetched);
        Ok((builds, stats))
    }

    /// Lists `project`'s builds and compares them with the cache.
    pub async fn plan(
        &self,
        archive: &Archive,
        project: &ProjectName,
    ) -> Result<CachePlan, ArchiveError> {
        let indexed = archive.read_index(project).await?;
        for why in &indexed.skipped {
            tracing::warn!("{why}");
        }
        let dir = self.project_dir(project);
        let index = read_index(&dir, archive.display_url());
        let mut current: Vec<(ArchiveKey, String)> = Vec::new();
        let mut missing: Vec<(ArchiveKey, String)> = Vec::new();
        let mut rows = HashMap::new();
        for row in indexed.rows {
            let key = row.record.key.clone();
            let version = version_of(&row);
            rows.insert(cache_key(&key), row);
            match index.builds.get(&cache_key(&key)) {
                Some(e) if e.version == version => current.push((key, version)),
                _ => missing.push((key, version)),
            }
        }
        Ok(CachePlan {
            dir,
            index,
            current,
            missing,
            reread: 0,
            unreadable: Vec::new(),
            rows,
        })
    }

    /// Reads the builds the cache lacks from the archive and adds them to
    /// the cache (which forgets builds no longer listed).
    pub async fn fetch(
        &self,
        archive: &Archive,
        plan: &mut CachePlan,
        progress: &dyn Progress,
    ) -> Result<Vec<ArchivedBuild>, ArchiveError> {
        let rows = plan.rows_of(&plan.missing);
        let loaded = load_readable(archive, &rows, progress).await?;
        CachePlan::drop_unreadable(&mut plan.missing, &loaded.unreadable);
        plan.unreadable.extend(loaded.unreadable);
        let fetched = loaded.builds;
        let live: BTreeSet<String> = plan
            .current
            .iter()
            .chain(&plan.missing)
            .map(|(k, _)| cache_key(k))
            .collect();
        let dir = plan.dir.clone();
        let changed = plan.index.builds.len() != live.len() || !fetched.is_empty();
        plan.index.builds.retain(|k, _| live.contains(k));
        if !fetched.is_empty()
            && let Err(e) = append_segment(&dir, &mut plan.index, &fetched, &plan.missing)
        {
            tracing::warn!("cannot update the build cache in {}: {e}", dir.display());
        }
        if changed {
            save_index(&dir, &plan.index);
        }
        Ok(fetched)
    }

    /// The builds the cache held as listed (read from the archive again
    /// if the cache is unusable); merges the cache's segments when due.
    /// `fetched` are the builds `fetch` returned.
    pub async fn read_current(
        &self,
        archive: &Archive,
        plan: &mut CachePlan,
        fetched: &[ArchivedBuild],
        progress: &dyn Progress,
    ) -> Result<Vec<ArchivedBuild>, ArchiveError> {
        let dir = plan.dir.clone();
        let cached = match read_segments(&dir, &plan.index, &plan.current) {
            Ok(builds) => builds,
            Err(why) => {
                tracing::warn!(
                    "build cache in {} is unusable ({why}); rebuilding it",
                    dir.display()
                );
                let rows = plan.rows_of(&plan.current);
                let loaded = load_readable(archive, &rows, progress).await?;
                for (key, _) in &plan.current {
                    plan.index.builds.remove(&cache_key(key));
                }
                CachePlan::drop_unreadable(&mut plan.current, &loaded.unreadable);
                plan.unreadable.extend(loaded.unreadable);
                let again = loaded.builds;
                if !again.is_empty()
                    && let Err(e) = append_segment(&dir, &mut plan.index, &again, &plan.current)
                {
                    tracing::warn!("cannot update the build cache in {}: {e}", dir.display());
                }
                save_index(&dir, &plan.index);
                plan.reread = again.len();
                again
            }
        };
        if plan.compaction_due() {
            let all: Vec<&ArchivedBuild> = cached.iter().chain(fetched).collect();
            match compact(&dir, &mut plan.index, &all) {
                Ok(()) => save_index(&dir, &plan.index),
                Err(e) => {
                    tracing::warn!("cannot compact the build cache in {}: {e}", dir.display())
                }
            }
        }
        Ok(cached)
    }
}

/// Writes the index and removes segments it no longer names.
fn save_index(dir: &Path, index: &Index) {
    if let Err(e) = write_index(dir, index) {
        tracing::warn!(
            "cannot write the build cache index in {}: {e}",
            dir.display()
        );
    }
    remove_unused_segments(dir, index);
}

fn read_index(dir: &Path, archive: &str) -> Index {
    let fresh = Index {
        format: CACHE_FORMAT,
        archive: archive.to_string(),
        builds: BTreeMap::new(),
    };
    match fs::read(dir.join("index.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Index>(&b).ok())
    {
        Some(index) if index.format == CACHE_FORMAT && index.archive == archive => index,
        _ => fresh,
    }
}

fn write_index(dir: &Path, index: &Index) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join("index.json.tmp");
    fs::write(
        &tmp,
        serde_json::to_vec(index).map_err(std::io::Error::other)?,
    )?;
    fs::rename(tmp, dir.join("index.json"))
}

/// The current builds, read from their segments.
fn read_segments(
    dir: &Path,
    index: &Index,
    current: &[(ArchiveKey, String)],
) -> Result<Vec<ArchivedBuild>, String> {
    let mut by_segment: BTreeMap<&str, Vec<&ArchiveKey>> = BTreeMap::new();
    for (key, _) in current {
        let entry = &index.builds[&cache_key(key)];
        by_segment.entry(&entry.segment).or_default().push(key);
    }
    let mut out = Vec::with_capacity(current.len());
    for (segment, keys) in by_segment {
        let read = |table: &str| -> Result<Vec<arrow::record_batch::RecordBatch>, String> {
            let path = dir.join(format!("{segment}.{table}.parquet"));
            let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            decode(&path.display().to_string(), Bytes::from(bytes)).map_err(|e| e.to_string())
        };
        let anchor = keys[0];
        let mut records: HashMap<String, perfkit_schema::BuildRecord> = HashMap::new();
        for mut record in decode_build_rows(anchor, &read("builds")?).map_err(|e| e.to_string())? {
            // Rows of many builds: the key comes from each row's own change.
            record.key.change = record.meta.change.unwrap_or(0);
            record.key.patchset = record.meta.patchset.unwrap_or(0);
            records.insert(cache_key(&record.key), record);
        }
        let mut series: HashMap<String, Vec<SeriesRow>> = HashMap::new();
        for (id, row) in decode_series_rows(anchor, &read("series")?).map_err(|e| e.to_string())? {
            series.entry(id).or_default().push(row);
        }
        for key in keys {
            let k = cache_key(key);
            let record = records
                .remove(&k)
                .ok_or_else(|| format!("segment {segment} lacks {k}"))?;
            out.push(ArchivedBuild {
                record,
                series: series.remove(&k).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

fn write_segment(dir: &Path, builds: &[&ArchivedBuild]) -> Result<String, ArchiveError> {
    let keys: Vec<String> = builds.iter().map(|b| cache_key(&b.record.key)).collect();
    let name = format!(
        "seg-{}",
        &perfkit_schema::identity::sha256_hex(keys.join("\n").as_bytes())[..16]
    );
    let rows: Vec<(&str, &SeriesRow)> = builds
        .iter()
        .zip(&keys)
        .flat_map(|(b, k)| b.series.iter().map(move |r| (k.as_str(), r)))
        .collect();
    let records: Vec<perfkit_schema::BuildRecord> =
        builds.iter().map(|b| b.record.clone()).collect();
    let io = |e: std::io::Error| ArchiveError::Encode {
        table: "cache",
        message: e.to_string(),
    };
    fs::create_dir_all(dir).map_err(io)?;
    for (table, bytes) in [
        ("series", encode_series_rows(&rows)?),
        ("builds", encode_builds(&records)?),
    ] {
        let path = dir.join(format!("{name}.{table}.parquet"));
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, &bytes).map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
    }
    Ok(name)
}

fn append_segment(
    dir: &Path,
    index: &mut Index,
    fetched: &[ArchivedBuild],
    versions: &[(ArchiveKey, String)],
) -> Result<(), ArchiveError> {
    let refs: Vec<&ArchivedBuild> = fetched.iter().collect();
    let segment = write_segment(dir, &refs)?;
    for (key, version) in versions {
        index.builds.insert(
            cache_key(key),
            Entry {
                version: version.clone(),
                segment: segment.clone(),
            },
        );
    }
    Ok(())
}

fn compact(dir: &Path, index: &mut Index, builds: &[&ArchivedBuild]) -> Result<(), ArchiveError> {
    let segment = write_segment(dir, builds)?;
    for entry in index.builds.values_mut() {
        entry.segment = segment.clone();
    }
    Ok(())
}

fn remove_unused_segments(dir: &Path, index: &Index) {
    let used: BTreeSet<&str> = index.builds.values().map(|e| e.segment.as_str()).collect();
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let segment = name.split('.').next().unwrap_or_default();
        if name.starts_with("seg-") && !used.contains(segment) {
            let _ = fs::remove_file(entry.path());
        }
    }
}
