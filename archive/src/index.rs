//! A project's index (`docs/archive-v2.md`, "The index"): the rows of its
//! builds in a few objects, so that listing a project costs a handful of
//! requests whatever its history. Each ingest adds a create-only segment;
//! a compact object gathers the rows of the newest compact and of every
//! segment it read, and names those segments in its footer. The index is a
//! cache of the `builds` objects: [`Archive::repair_index`] rebuilds what
//! it lacks from them.

use std::collections::{BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use perfkit_schema::key::is_token;
use perfkit_schema::{ArchiveKey, BuildId, ProjectName, Table};

use crate::ArchiveError;
use crate::batch::{
    CommittedRow, LIGHT_COLUMNS, decode_committed, decode_light_rows, encode_committed_with,
};
use crate::parquet_file::for_each_batch;
use crate::store::{Archive, BuildRef};

/// Segments a reader tolerates before it writes a compact object.
pub const COMPACT_AFTER: usize = 32;

/// Footer key of a compact object: the names of the segments it covers.
const COVERS_KEY: &str = "perfkit.index.covers";

/// How many index objects are fetched at once.
const CONCURRENT_READS: usize = 16;

/// How long a superseded compact, or a segment a compact covers, is kept
/// for readers that listed before.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(3_600);

/// An hour, in µs: data objects no commit names are deleted once a day old.
const HOUR_US: i64 = 3_600 * 1_000_000;

/// How far behind the compactor's clock a writer's clock may be: segments
/// named earlier than a compact by more than this are taken as covered by
/// it (readers do not list them); `perfkit repair` indexes any it is not.
const CLOCK_SKEW_US: i64 = 3_600 * 1_000_000;

/// A project's builds as its index and the v1 listing give them.
#[derive(Debug, Default)]
pub struct ProjectIndex {
    /// One row per build: its newest indexed attempt.
    pub rows: Vec<CommittedRow>,
    /// Index objects that could not be read (named), skipped.
    pub skipped: Vec<String>,
    /// Builds of layout v1 not in the index, read one by one.
    pub unindexed_v1: usize,
    /// Segments not covered by the newest compact when read.
    pub loose_segments: usize,
}

/// What [`Archive::repair_index`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Committed builds found by listing.
    pub listed: usize,
    /// Of them, the builds whose newest attempt the index lacked (now added).
    pub added: usize,
    /// Index objects and orphan data objects deleted.
    pub deleted: usize,
    /// Builds left out, each with why (a `builds` object that does not
    /// decode, or whose row names another build than its path).
    pub skipped: Vec<String>,
}

/// An index object's name: `segments/` or `compacts/`, then the writer's
/// clock in µs (20 digits, so names sort by time) and a token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct IndexName {
    time_us: u64,
    token: String,
    compact: bool,
}

impl IndexName {
    fn new(compact: bool) -> IndexName {
        IndexName {
            time_us: now_us().max(0) as u64,
            token: crate::store::new_token(),
            compact,
        }
    }

    /// Reads a listed index object's last two path parts back.
    fn parse(location: &Path) -> Option<IndexName> {
        let mut parts = location.parts().collect::<Vec<_>>().into_iter().rev();
        let file = parts.next()?;
        let compact = match parts.next()?.as_ref() {
            "segments" => false,
            "compacts" => true,
            _ => return None,
        };
        let (time, token) = file.as_ref().strip_suffix(".parquet")?.split_once('-')?;
        if time.len() != 20 || !time.bytes().all(|b| b.is_ascii_digit()) || !is_token(token) {
            return None;
        }
        Some(IndexName {
            time_us: time.parse().ok()?,
            token: token.to_string(),
            compact,
        })
    }

    fn dir(compact: bool) -> &'static str {
        if compact { "compacts" } else { "segments" }
    }

    fn file_name(&self) -> String {
        format!("{:020}-{}.parquet", self.time_us, self.token)
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl Archive {
    fn index_path(&self, project: &ProjectName, name: &IndexName) -> Path {
        let mut parts = ArchiveKey::index_prefix(Some(project));
        parts.push(IndexName::dir(name.compact).to_string());
        parts.push(name.file_name());
        crate::store::join(self.root(), parts)
    }

    fn index_dir(&self, project: &ProjectName, compact: bool) -> Path {
        let mut parts = ArchiveKey::index_prefix(Some(project));
        parts.push(IndexName::dir(compact).to_string());
        crate::store::join(self.root(), parts)
    }

    /// The index objects of one kind, optionally only those named after
    /// `after` (a LIST that starts there: S3's `start-after`).
    async fn list_index(
        &self,
        project: &ProjectName,
        compact: bool,
        after: Option<&IndexName>,
    ) -> Result<Vec<IndexName>, ArchiveError> {
        let prefix = self.index_dir(project, compact);
        let metas = match after {
            Some(name) => {
                let offset = self.index_path(project, name);
                self.list_after(&prefix, &offset).await?
            }
            None => self.list_all(&prefix).await?,
        };
        let mut names: Vec<IndexName> = metas
            .iter()
            .filter_map(|m| IndexName::parse(&m.location))
            .filter(|n| n.compact == compact)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Adds `rows` to `project`'s index as one new segment (create-only).
    pub async fn append_index(
        &self,
        project: &ProjectName,
        rows: &[CommittedRow],
    ) -> Result<(), ArchiveError> {
        if rows.is_empty() {
            return Ok(());
        }
        let path = self.index_path(project, &IndexName::new(false));
        self.put_new(&path, encode_committed_with(rows, Vec::new())?)
            .await
    }

    /// The index objects of `project`: their rows, newest attempt per build
    /// (`light`: only [`LIGHT_COLUMNS`], and never compacted from).
    async fn read_index_objects(
        &self,
        project: &ProjectName,
        light: bool,
    ) -> Result<(ProjectIndex, NewestRows), ArchiveError> {
        let compacts = self.list_index(project, true, None).await?;
        let mut index = ProjectIndex::default();
        let mut covered = BTreeSet::new();
        let mut rows = Vec::new();
        let mut base: Option<&IndexName> = None;
        // The newest compact that reads; an older one if it does not.
        for compact in compacts.iter().rev() {
            match self.read_index_object(project, compact, light).await? {
                Ok((compact_rows, covers)) => {
                    rows.extend(compact_rows);
                    covered = covers;
                    base = Some(compact);
                    break;
                }
                Err(why) => index.skipped.push(why),
            }
        }
        // Segments older than the compact by more than the clock skew a
        // writer may have are covered by it (or by `perfkit repair`): list
        // from there on, so a reader's cost follows the recent writes, not
        // the history.
        // Never from later than this reader's own clock: a compact named in
        // the future must not hide the segments written until then.
        let after = base.map(|c| IndexName {
            time_us: c
                .time_us
                .min(now_us().max(0) as u64)
                .saturating_sub(CLOCK_SKEW_US as u64),
            token: String::new(),
            compact: false,
        });
        let segments = self.list_index(project, false, after.as_ref()).await?;
        let loose: Vec<&IndexName> = segments
            .iter()
            .filter(|s| !covered.contains(&s.file_name()))
            .collect();
        index.loose_segments = loose.len();
        let read: Vec<_> = futures::stream::iter(
            loose
                .iter()
                .map(|name| self.read_index_object(project, name, light)),
        )
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await?;
        let mut read_segments = Vec::new();
        for (name, result) in loose.iter().zip(read) {
            match result {
                Ok((segment_rows, _)) => {
                    rows.extend(segment_rows);
                    read_segments.push(name.file_name());
                }
                Err(why) => index.skipped.push(why),
            }
        }
        let newest = newest_per_build(rows);
        if read_segments.len() > COMPACT_AFTER && !light {
            let mut covers: Vec<String> = covered.into_iter().collect();
            covers.extend(read_segments);
            let compact_rows: Vec<CommittedRow> = newest.values().cloned().collect();
            if let Err(e) = self.write_compact(project, &compact_rows, covers).await {
                // A reader may not write (a read-only credential): `repair` will.
                tracing::info!("did not compact the index of {project}: {e}");
            }
        }
        Ok((index, newest))
    }

    /// Whether `project`'s index holds `row`'s build at `row`'s attempt (or
    /// a later one). `None` when the store refuses to list the index.
    pub async fn is_indexed(&self, row: &CommittedRow) -> Result<Option<bool>, ArchiveError> {
        let key = &row.record.key;
        let (_, newest) = match self.read_index_objects(&key.project, true).await {
            Ok(read) => read,
            Err(ArchiveError::Store { source, .. }) if crate::store::denied(&source) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let attempt = |r: &CommittedRow| r.commit.as_ref().map(|c| c.attempt);
        Ok(Some(
            newest
                .get(&(key.change, key.patchset, key.build.clone()))
                .is_some_and(|have| attempt(have) >= attempt(row)),
        ))
    }

    /// `project`'s builds with their rows, from its index (one LIST, the
    /// newest compact, the segments it does not cover) and the builds of
    /// layout v1 the index lacks (one LIST, one GET each). Writes a compact
    /// object when more than [`COMPACT_AFTER`] segments are loose (best
    /// effort: a credential that may only read leaves that to the next).
    pub async fn read_index(&self, project: &ProjectName) -> Result<ProjectIndex, ArchiveError> {
        self.read_index_as(project, false).await
    }

    /// [`Archive::read_index`] with rows of [`LIGHT_COLUMNS`] only (v1 rows
    /// not indexed yet are whole): for choosing a baseline; fetch the whole
    /// row of a chosen build with [`Archive::whole_row`].
    pub async fn read_index_light(
        &self,
        project: &ProjectName,
    ) -> Result<ProjectIndex, ArchiveError> {
        self.read_index_as(project, true).await
    }

    /// The whole row of the build `row` names, from its `builds` object.
    pub async fn whole_row(&self, row: &CommittedRow) -> Result<CommittedRow, ArchiveError> {
        let key = &row.record.key;
        match &row.commit {
            Some(commit) => self.commit_row(key, commit.attempt).await,
            None => self
                .newest_row_v1(key)
                .await?
                .ok_or_else(|| ArchiveError::Decode {
                    key: self.object_url(key, Table::Builds),
                    message: "the builds object is gone".into(),
                }),
        }
    }

    async fn read_index_as(
        &self,
        project: &ProjectName,
        light: bool,
    ) -> Result<ProjectIndex, ArchiveError> {
        let (mut index, mut newest) = self.read_index_objects(project, light).await?;
        // Builds of layout v1 that `perfkit repair` has not indexed yet.
        let v1_prefix = crate::store::join(
            self.root(),
            ArchiveKey::table_prefix(Table::Builds, Some(project)),
        );
        let mut v1_keys = Vec::new();
        for meta in self.list_all(&v1_prefix).await? {
            if let Some((Table::Builds, key)) = crate::store::parse_v1(self.root(), &meta.location)
                && key.project == *project
                && !newest.contains_key(&(key.change, key.patchset, key.build.clone()))
            {
                v1_keys.push(key);
            }
        }
        index.unindexed_v1 = v1_keys.len();
        let v1_rows: Vec<_> = futures::stream::iter(
            v1_keys
                .iter()
                .map(|key| async move { self.row_of(key, crate::store::Newest::V1).await }),
        )
        .buffered(CONCURRENT_READS)
        .collect()
        .await;
        for (key, row) in v1_keys.iter().zip(v1_rows) {
            match row {
                Ok(Some(row)) => {
                    newest.insert((key.change, key.patchset, key.build.clone()), row);
                }
                Ok(None) => {}
                Err(e) if e.is_bad_object() => index.skipped.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        index.rows = newest.into_values().collect();
        index.rows.sort_by(|a, b| {
            let (a, b) = (&a.record.key, &b.record.key);
            (a.change, a.patchset, a.build.as_str()).cmp(&(b.change, b.patchset, b.build.as_str()))
        });
        Ok(index)
    }

    /// One index object's rows and (for a compact) the segments it covers;
    /// `Err(why)` when the object is missing or undecodable.
    async fn read_index_object(
        &self,
        project: &ProjectName,
        name: &IndexName,
        light: bool,
    ) -> Result<Result<IndexObject, String>, ArchiveError> {
        let path = self.index_path(project, name);
        let url = self.url_of(&path);
        let bytes = match self.get_path(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.is_bad_object() => return Ok(Err(e.to_string())),
            Err(e) => return Err(e),
        };
        // Batch by batch, so a compact of many builds is never held both as
        // Arrow arrays and as rows.
        let mut rows = Vec::new();
        let name = index_error_key(project);
        let columns = light.then_some(&LIGHT_COLUMNS[..]);
        let decoded = for_each_batch(&url, bytes, columns, |batch| {
            let batch = std::slice::from_ref(&batch);
            let decoded = if light {
                decode_light_rows(&name, batch)
            } else {
                decode_committed(&name, batch)
            };
            rows.extend(decoded.map_err(|e| rename(e, &url))?);
            Ok(())
        })
        .map(|metadata| {
            let covers = metadata
                .into_iter()
                .find(|(k, _)| k == COVERS_KEY)
                .map(|(_, v)| v.lines().map(str::to_string).collect())
                .unwrap_or_default();
            (std::mem::take(&mut rows), covers)
        });
        Ok(match decoded {
            // Rows of another project in its index would re-key builds.
            Ok((rows, _)) if rows.iter().any(|r| r.record.key.project != *project) => Err(format!(
                "index object `{url}` holds rows of another project; skipped"
            )),
            Ok(read) => Ok(read),
            Err(e) => Err(e.to_string()),
        })
    }

    async fn write_compact(
        &self,
        project: &ProjectName,
        rows: &[CommittedRow],
        covers: Vec<String>,
    ) -> Result<(), ArchiveError> {
        // Named after the newest segment it covers (never after this
        // writer's clock): readers list the segments from that time on, so a
        // compactor whose clock runs ahead hides nothing written since.
        let mut name = IndexName::new(true);
        let newest_covered = covers
            .iter()
            .filter_map(|file| file.split_once('-')?.0.parse::<u64>().ok())
            .max();
        if let Some(time) = newest_covered {
            name.time_us = name.time_us.min(time);
        }
        let path = self.index_path(project, &name);
        let bytes = encode_committed_with(rows, vec![(COVERS_KEY.to_string(), covers.join("\n"))])?;
        self.put_new(&path, bytes).await
    }

    /// Rebuilds what `project`'s index lacks from the `builds` objects: one
    /// listing of both layouts, one GET per build the index does not have
    /// at its newest attempt, written as one segment; then compacts the
    /// index and deletes what no reader can reach any more (segments the
    /// newest compact covers, compacts superseded for an hour, data objects
    /// of attempts that were never committed, older than a day).
    pub async fn repair_index(&self, project: &ProjectName) -> Result<RepairReport, ArchiveError> {
        self.repair_index_at(project, now_us(), DEFAULT_GRACE).await
    }

    /// [`Archive::repair_index`], keeping index objects a newer compact
    /// supersedes for `grace` instead of an hour (0 right after a backfill,
    /// when no reader is running).
    pub async fn repair_index_with_grace(
        &self,
        project: &ProjectName,
        grace: std::time::Duration,
    ) -> Result<RepairReport, ArchiveError> {
        self.repair_index_at(project, now_us(), grace).await
    }

    /// [`Archive::repair_index`] as if the clock said `now_us`.
    pub(crate) async fn repair_index_at(
        &self,
        project: &ProjectName,
        now_us: i64,
        grace: std::time::Duration,
    ) -> Result<RepairReport, ArchiveError> {
        let listed = self.list_builds(Some(project)).await?;
        let index = self.read_index(project).await?;
        // What the index itself holds (v1 rows the reader fetched one by
        // one are not in it: `unindexed_v1` of them).
        let indexed: HashMap<BuildOf, Option<u32>> = index
            .rows
            .iter()
            .map(|r| {
                let k = &r.record.key;
                (
                    (k.change, k.patchset, k.build.clone()),
                    r.commit.as_ref().map(|c| c.attempt),
                )
            })
            .collect();
        let missing: Vec<&BuildRef> = listed
            .iter()
            .filter(|b| {
                let k = &b.key;
                indexed.get(&(k.change, k.patchset, k.build.clone())) != Some(&b.attempt)
                    || (b.attempt.is_none() && index.unindexed_v1 > 0)
            })
            .collect();
        let rows: Vec<_> = futures::stream::iter(missing.iter().map(|b| async move {
            match b.attempt {
                Some(attempt) => self.commit_row(&b.key, attempt).await.map(Some),
                None => self.row_of(&b.key, crate::store::Newest::V1).await,
            }
        }))
        .buffered(CONCURRENT_READS)
        .collect()
        .await;
        let mut added = Vec::new();
        let mut skipped = index.skipped.clone();
        for row in rows {
            match row {
                Ok(Some(row)) => added.push(row),
                Ok(None) => {}
                Err(e) if e.is_bad_object() => skipped.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        self.append_index(project, &added).await?;
        let mut report = RepairReport {
            listed: listed.len(),
            added: added.len(),
            deleted: 0,
            skipped,
        };
        let mut newest = NewestRows::new();
        for row in index.rows.into_iter().chain(added) {
            let k = &row.record.key;
            newest.insert((k.change, k.patchset, k.build.clone()), row);
        }
        report.deleted = self
            .collect_garbage(project, &newest, now_us, grace.as_micros() as i64)
            .await?;
        Ok(report)
    }
}

/// A build of a project: change, patchset, build id.
type BuildOf = (u64, u32, BuildId);

/// Per build, the row of its highest attempt.
type NewestRows = HashMap<BuildOf, CommittedRow>;

/// An index object's rows and the segments it covers (a compact's).
type IndexObject = (Vec<CommittedRow>, BTreeSet<String>);

/// Per build, the row of its highest attempt (v2 above v1).
fn newest_per_build(rows: Vec<CommittedRow>) -> NewestRows {
    let mut newest = NewestRows::new();
    for row in rows {
        let k = &row.record.key;
        let id = (k.change, k.patchset, k.build.clone());
        let rank = |r: &CommittedRow| r.commit.as_ref().map(|c| c.attempt);
        match newest.get(&id) {
            Some(have) if rank(have) >= rank(&row) => {}
            _ => {
                newest.insert(id, row);
            }
        }
    }
    newest
}

/// The key decode errors of an index object name (replaced by its URL).
fn index_error_key(project: &ProjectName) -> ArchiveKey {
    ArchiveKey {
        project: project.clone(),
        change: 0,
        patchset: 0,
        build: BuildId::try_from("index").expect("a valid build id"),
    }
}

fn rename(e: ArchiveError, url: &str) -> ArchiveError {
    match e {
        ArchiveError::Decode { message, .. } => ArchiveError::Decode {
            key: url.to_string(),
            message,
        },
        other => other,
    }
}

impl Archive {
    /// Deletes what no reader can reach: index segments covered by the
    /// newest compact and compacts older than it, once that compact is an
    /// hour old (a reader that listed before may still be reading them);
    /// data objects older than a day that no committed row names (the
    /// leftovers of a writer that died or lost a race). Data objects of an
    /// older committed attempt are kept: they are that attempt's.
    async fn collect_garbage(
        &self,
        project: &ProjectName,
        newest: &NewestRows,
        now_us: i64,
        grace_us: i64,
    ) -> Result<usize, ArchiveError> {
        let mut doomed: Vec<Path> = Vec::new();
        // The newest compact, and when the store says it was written (its
        // name's time is that of the newest segment it covers).
        let mut compacts: Vec<(IndexName, i64)> = self
            .list_all(&self.index_dir(project, true))
            .await?
            .iter()
            .filter_map(|m| {
                Some((
                    IndexName::parse(&m.location)?,
                    m.last_modified.timestamp_micros(),
                ))
            })
            .filter(|(n, _)| n.compact)
            .collect();
        compacts.sort();
        if let Some((compact, written_us)) = compacts.last()
            && now_us - written_us >= grace_us
            && let Ok(Ok((_, covers))) = self.read_index_object(project, compact, true).await
        {
            for (older, _) in &compacts[..compacts.len() - 1] {
                doomed.push(self.index_path(project, older));
            }
            for segment in self.list_index(project, false, None).await? {
                if covers.contains(&segment.file_name()) {
                    doomed.push(self.index_path(project, &segment));
                }
            }
        }
        let committed: BTreeSet<(u64, u32, BuildId, u32)> = self
            .list_all(&crate::store::join(
                self.root(),
                ArchiveKey::v2_table_prefix(Table::Builds, Some(project)),
            ))
            .await?
            .iter()
            .filter_map(|m| crate::store::parse_v2_object(self.root(), &m.location))
            .map(|o| (o.key.change, o.key.patchset, o.key.build, o.attempt))
            .collect();
        for table in [Table::Samples, Table::Workloads, Table::Series] {
            let prefix = crate::store::join(
                self.root(),
                ArchiveKey::v2_table_prefix(table, Some(project)),
            );
            for meta in self.list_all(&prefix).await? {
                let Some(object) = crate::store::parse_v2_object(self.root(), &meta.location)
                else {
                    continue;
                };
                let day_old = now_us - meta.last_modified.timestamp_micros() > 24 * HOUR_US;
                let k = &object.key;
                let id = (k.change, k.patchset, k.build.clone());
                let is_newest_attempt = newest
                    .get(&id)
                    .and_then(|r| r.commit.as_ref())
                    .is_some_and(|c| c.attempt == object.attempt);
                let named = newest
                    .get(&id)
                    .and_then(|r| r.commit.as_ref())
                    .is_some_and(|c| Some(&c.token) == object.token.as_ref());
                let uncommitted =
                    !committed.contains(&(k.change, k.patchset, k.build.clone(), object.attempt));
                if day_old && (uncommitted || (is_newest_attempt && !named)) {
                    doomed.push(meta.location);
                }
            }
        }
        let mut deleted = 0;
        for path in doomed {
            match self.store().delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => return Err(self.error("delete", &path, e)),
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuildObjects;
    use crate::batch::Commit;
    use perfkit_schema::BuildRecord;
    use perfkit_schema::records::BuildMeta;

    fn project() -> ProjectName {
        ProjectName::try_from("openstack/nova").unwrap()
    }

    fn build(n: u64) -> BuildObjects {
        let key = ArchiveKey {
            project: project(),
            change: 0,
            patchset: 0,
            build: BuildId::try_from(format!("b{n}").as_str()).unwrap(),
        };
        BuildObjects {
            samples: "s".into(),
            workloads: "w".into(),
            series: format!("series {n}").into(),
            record: BuildRecord {
                key,
                meta: BuildMeta::default(),
                source_format: "rally-v2".into(),
                source_format_version: None,
                tool_version: None,
                source_file: "r.json".into(),
                source_sha256: format!("sha{n}"),
                source_bytes: 1,
                task_count: 1,
                task_statuses: Vec::new(),
                workload_count: 1,
                iteration_count: 1,
                failed_iteration_count: 0,
                pass_sla: true,
                started_at_us: Some(n as i64),
                finished_at_us: None,
                ingested_at_us: 0,
                perfkit_version: "test".into(),
                failure: None,
            },
        }
    }

    async fn names(archive: &Archive, compact: bool) -> Vec<IndexName> {
        archive.list_index(&project(), compact, None).await.unwrap()
    }

    /// Past 32 loose segments a reader writes a compact; the next reader
    /// reads the compact and only the segments written since, and
    /// `repair` deletes what the compact covers once it is an hour old,
    /// and data objects no commit names once they are a day old, while
    /// every build stays readable.
    #[tokio::test]
    async fn segments_are_compacted_then_collected() {
        let archive = Archive::open("memory://").unwrap();
        for n in 0..40 {
            archive.put_build(build(n), false).await.unwrap();
        }
        let first = archive.read_index(&project()).await.unwrap();
        assert_eq!((first.rows.len(), first.loose_segments), (40, 40));
        assert_eq!(
            names(&archive, true).await.len(),
            1,
            "a compact was written"
        );
        archive.put_build(build(40), false).await.unwrap();
        let second = archive.read_index(&project()).await.unwrap();
        assert_eq!((second.rows.len(), second.loose_segments), (41, 1));
        assert_eq!(
            names(&archive, true).await.len(),
            1,
            "no compact for one segment"
        );

        // A writer that died before its commit left data objects.
        let orphan = Commit {
            attempt: 0,
            token: "00000000deadbeef".into(),
        };
        let key = build(99).record.key;
        let orphan_path = archive.data_path(&key, Table::Series, &orphan);
        archive.put_new(&orphan_path, "x".into()).await.unwrap();

        // Within the hour nothing goes; later, the covered segments and
        // (after a day) the orphan do.
        let report = archive.repair_index(&project()).await.unwrap();
        assert_eq!((report.added, report.deleted), (0, 0));
        let later = now_us() + 2 * HOUR_US;
        let report = archive
            .repair_index_at(&project(), later, DEFAULT_GRACE)
            .await
            .unwrap();
        assert_eq!((report.added, report.deleted), (0, 40));
        assert_eq!(names(&archive, false).await.len(), 1);
        let next_day = now_us() + 25 * HOUR_US;
        let report = archive
            .repair_index_at(&project(), next_day, DEFAULT_GRACE)
            .await
            .unwrap();
        assert_eq!(report.deleted, 1, "the orphan");
        assert!(archive.get_path(&orphan_path).await.is_err());
        let index = archive.read_index(&project()).await.unwrap();
        assert_eq!(index.rows.len(), 41);
        for row in &index.rows {
            let n: u64 = row.record.key.build.as_str()[1..].parse().unwrap();
            let series = archive.get_data(row, Table::Series).await.unwrap();
            assert_eq!(series, format!("series {n}").as_bytes());
        }
    }

    #[test]
    fn index_names_round_trip_and_foreign_names_are_ignored() {
        let name = IndexName::new(false);
        let path = Path::from(format!("a/segments/{}", name.file_name()));
        assert_eq!(IndexName::parse(&path), Some(name.clone()));
        for foreign in [
            "a/segments/123-0123456789abcdef.parquet",
            "a/segments/00000000000000000001-0123456789ABCDEF.parquet",
            "a/others/00000000000000000001-0123456789abcdef.parquet",
            "a/segments/00000000000000000001-0123456789abcdef.json",
        ] {
            assert_eq!(IndexName::parse(&Path::from(foreign)), None, "{foreign}");
        }
    }
}
