//! One build: skipped when archived (one existence check), else its Rally
//! results are found, downloaded and ingested under the key the in-job
//! path uses, or, when it left none, the build is recorded as such. A
//! build whose results are gone, cut short or invalid is recorded as
//! failed for good (`source_format` "failed"), so that the next cycle
//! skips it; with `--retry-failed` such builds are fetched again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use perfkit_archive::progress::Silent;
use perfkit_archive::{Archive, PutOutcome};
use perfkit_ingest::IngestError;
use perfkit_ingest::pipeline::{
    IngestReport, IngestRequest, RunId, archive_failure, archive_without_results, ingest_file,
};
use perfkit_schema::{ArchiveKey, BuildId, ProjectName};
use perfkit_zuul::vars::interpret;
use reqwest::Url;
use tokio::sync::Semaphore;

use perfkit_http::{FetchError, Fetcher};
use perfkit_schema::shown;
use perfkit_zuul::builds::{ApiBuild, BuildsQuery, buildset_result, parse_utc_us};
use perfkit_zuul::results::{KNOWN_PATHS, candidates};

/// What became of one build.
#[derive(Debug)]
pub enum Outcome {
    /// Its Rally results were archived; the line says what they hold.
    Archived(String),
    /// It left no Rally results and was archived as such.
    Recorded(String),
    /// It was in the archive already.
    Skipped,
    /// Its results are gone, cut short or invalid: recorded as failed for
    /// good, so the next run skips it (`--retry-failed` tries again).
    FailedForGood(String),
    /// Something went wrong that may pass; the next run tries again.
    Failed(String),
    /// A gate build whose change is still in the gate: archived once Zuul
    /// says whether it merged, so that baselines know (next run).
    Waiting,
}

/// Why a build could not be archived.
enum Trouble {
    /// It may pass (a timeout, a 5xx, the archive unreachable): try next run.
    Retry(String),
    /// It will not pass by itself: record it.
    ForGood(String),
}

impl From<String> for Trouble {
    fn from(message: String) -> Trouble {
        Trouble::Retry(message)
    }
}

/// What became of one build, and what to warn about on the way.
#[derive(Debug)]
pub struct Collected {
    pub outcome: Outcome,
    pub warnings: Vec<String>,
}

/// What the download found.
enum Found {
    File(PathBuf, Url),
    /// The build plainly left no results (it did not succeed).
    Nothing,
    /// It should have results, but none of the places has them (404).
    Gone(String),
}

/// What the collector was told besides the archive and the client.
pub struct Settings {
    pub tenant: String,
    /// Builds ingested at once (parsing is CPU-bound).
    pub parallel_ingests: usize,
    /// Fetch builds recorded as failed for good again.
    pub retry_failed: bool,
    /// Zuul's API, to ask for a gate build's buildset result.
    pub query: BuildsQuery,
}

/// Shared state of a run.
pub struct Collector {
    archive: Archive,
    fetcher: Fetcher,
    tenant: String,
    retry_failed: bool,
    query: BuildsQuery,
    scratch: Scratch,
    /// Parsing is CPU-bound and holds a report in memory: a few at a time.
    ingest_slots: Semaphore,
    /// Per project, the builds its index holds (and whether each failed
    /// for good): read once per run, so an archived build costs no request.
    known: tokio::sync::Mutex<HashMap<ProjectName, Arc<Known>>>,
}

/// A project's indexed builds: (change, patchset, build id) → failed for good.
type Known = HashMap<(u64, u32, String), bool>;

impl Collector {
    pub fn new(
        archive: Archive,
        fetcher: Fetcher,
        settings: Settings,
    ) -> anyhow::Result<Collector> {
        Ok(Collector {
            archive,
            fetcher,
            tenant: settings.tenant,
            retry_failed: settings.retry_failed,
            query: settings.query,
            scratch: Scratch::new()?,
            ingest_slots: Semaphore::new(settings.parallel_ingests.max(1)),
            known: Default::default(),
        })
    }

    /// Collects one build; `index` names its scratch directory.
    pub async fn collect(&self, build: &ApiBuild, index: usize) -> Collected {
        let dir = self.scratch.root().join(index.to_string());
        let mut warnings = Vec::new();
        let outcome = match self.try_collect(build, &dir, &mut warnings).await {
            Ok(outcome) => outcome,
            Err(reason) => Outcome::Failed(reason),
        };
        // Best effort: the whole scratch directory goes at the end anyway.
        let _ = std::fs::remove_dir_all(&dir);
        Collected { outcome, warnings }
    }

    async fn try_collect(
        &self,
        build: &ApiBuild,
        dir: &Path,
        warnings: &mut Vec<String>,
    ) -> Result<Outcome, String> {
        let zuul = interpret(build.facts(&self.tenant))
            .map_err(|e| format!("cannot read Zuul's description of the build: {e}"))?;
        let project = zuul.project.ok_or("Zuul names no project for the build")?;
        let id = BuildId::try_from(build.uuid.as_str()).map_err(|e| e.to_string())?;
        let mut request = IngestRequest {
            project,
            meta: zuul.meta,
            replace: false,
        };
        let key = ArchiveKey {
            project: request.project.clone(),
            change: request.meta.change.unwrap_or(0),
            patchset: request.meta.patchset.unwrap_or(0),
            build: id.clone(),
        };
        let indexed = self.known(&key.project).await?;
        let failed_for_good = match indexed.get(&(key.change, key.patchset, id.to_string())) {
            Some(&failed) => Some(failed),
            // Not indexed: a build whose writer died before its index
            // segment is still archived (two HEAD requests tell); it is
            // indexed now, so that readers and reviews see it.
            None => match self
                .archive
                .newest_row(&key)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(row) => {
                    if row.commit.is_some() {
                        self.archive
                            .append_index(&key.project, std::slice::from_ref(&row))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Some(row.record.failed_for_good())
                }
                None => None,
            },
        };
        if let Some(failed) = failed_for_good {
            if !(self.retry_failed && failed) {
                return Ok(Outcome::Skipped);
            }
            // Its row says "failed": replaced by whatever this attempt finds.
            request.replace = true;
        }
        if is_gate(build) && build.succeeded() {
            // Only a merged change's gate build joins baselines; whether it
            // merged is the buildset's (the queue item's) result.
            let uuid = build.buildset.as_deref().unwrap_or_default();
            match buildset_result(&self.fetcher, &self.query, uuid).await {
                Ok(Some(result)) => request.meta.zuul_buildset_result = Some(result),
                Ok(None) => return Ok(Outcome::Waiting),
                Err(e) => return Err(e.to_string()),
            }
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let found = match self.download(build, dir, warnings).await {
            Ok(found) => found,
            Err(trouble) => return self.settle(build, &request, id, trouble).await,
        };
        let result = match found {
            Found::File(path, url) => self.ingest(build, &request, id.clone(), &path, &url).await,
            Found::Gone(reason) => Err(Trouble::ForGood(reason)),
            Found::Nothing => {
                let report = archive_without_results(
                    &self.archive,
                    &request,
                    id.clone(),
                    build.start_time.as_deref().and_then(parse_utc_us),
                    build.end_time.as_deref().and_then(parse_utc_us),
                )
                .await
                .map_err(|e| e.to_string())?;
                Ok(match report.outcome {
                    PutOutcome::AlreadyArchived => Outcome::Skipped,
                    _ => Outcome::Recorded(format!(
                        "recorded {} {}: no Rally results",
                        build.describe(),
                        tags(build)
                    )),
                })
            }
        };
        match result {
            Ok(outcome) => Ok(outcome),
            Err(trouble) => self.settle(build, &request, id, trouble).await,
        }
    }

    /// A failure that will not pass is recorded; one that may is reported.
    async fn settle(
        &self,
        build: &ApiBuild,
        request: &IngestRequest,
        id: BuildId,
        trouble: Trouble,
    ) -> Result<Outcome, String> {
        let reason = match trouble {
            Trouble::Retry(reason) => return Err(reason),
            Trouble::ForGood(reason) => reason,
        };
        let times = (
            build.start_time.as_deref().and_then(parse_utc_us),
            build.end_time.as_deref().and_then(parse_utc_us),
        );
        archive_failure(&self.archive, request, id, times, reason.clone())
            .await
            .map_err(|e| format!("{reason}; recording it as failed failed too: {e}"))?;
        Ok(Outcome::FailedForGood(reason))
    }

    /// The key `build` would be archived under, when its project's index
    /// does not hold it yet (`None` when it does, or when Zuul's
    /// description of it is unusable: collecting says why).
    pub async fn unarchived_key(&self, build: &ApiBuild) -> Option<ArchiveKey> {
        let zuul = interpret(build.facts(&self.tenant)).ok()?;
        let key = ArchiveKey {
            project: zuul.project?,
            change: zuul.meta.change.unwrap_or(0),
            patchset: zuul.meta.patchset.unwrap_or(0),
            build: BuildId::try_from(build.uuid.as_str()).ok()?,
        };
        let known = self.known(&key.project).await.ok()?;
        (!known.contains_key(&(key.change, key.patchset, key.build.to_string()))).then_some(key)
    }

    /// The builds `project`'s index holds, read on first use.
    async fn known(&self, project: &ProjectName) -> Result<Arc<Known>, String> {
        let mut known = self.known.lock().await;
        if let Some(builds) = known.get(project) {
            return Ok(builds.clone());
        }
        let index = self
            .archive
            .read_index(project)
            .await
            .map_err(|e| e.to_string())?;
        let builds: Known = index
            .rows
            .iter()
            .map(|row| {
                let k = &row.record.key;
                (
                    (k.change, k.patchset, k.build.to_string()),
                    row.record.failed_for_good(),
                )
            })
            .collect();
        let builds = Arc::new(builds);
        known.insert(project.clone(), builds.clone());
        Ok(builds)
    }

    /// Downloads the first candidate that exists.
    async fn download(
        &self,
        build: &ApiBuild,
        dir: &Path,
        warnings: &mut Vec<String>,
    ) -> Result<Found, Trouble> {
        let places = candidates(build);
        warnings.extend(places.ignored);
        let mut declared_missing = Vec::new();
        for candidate in places.candidates {
            let dest = dir.join(&candidate.file_name);
            match self.fetcher.download(&candidate.url, &dest).await {
                Ok(_) => {
                    self.download_companions(&candidate.companions, dir).await?;
                    return Ok(Found::File(dest, candidate.url));
                }
                Err(FetchError::NotFound) if candidate.declared => {
                    declared_missing.push(candidate.url.to_string());
                }
                Err(FetchError::NotFound) => {}
                Err(e) => return Err(download_trouble(&candidate.url, e)),
            }
        }
        if !declared_missing.is_empty() {
            return Ok(Found::Gone(format!(
                "its Rally results artifact is gone: {} (404)",
                shown(&declared_missing.join(", "))
            )));
        }
        if !build.succeeded() {
            // NODE_FAILURE, a devstack that failed before Rally ran, …
            return Ok(Found::Nothing);
        }
        Ok(Found::Gone(match &build.log_url {
            Some(log_url) => format!(
                "no Rally results: the build succeeded, but {} has none of {} (404) and it returned no Rally artifact",
                shown(log_url),
                KNOWN_PATHS.join(", ")
            ),
            None => {
                "no Rally results: the build succeeded but Zuul gives no log URL or Rally artifact"
                    .into()
            }
        }))
    }

    /// Downloads the files that go with a result (the rest of a Locust
    /// CSV set) into `dir`; those the build did not leave are skipped.
    async fn download_companions(
        &self,
        companions: &[(Url, String)],
        dir: &Path,
    ) -> Result<(), Trouble> {
        for (url, name) in companions {
            match self.fetcher.download(url, &dir.join(name)).await {
                Ok(_) | Err(FetchError::NotFound) => {}
                Err(e) => return Err(download_trouble(url, e)),
            }
        }
        Ok(())
    }

    async fn ingest(
        &self,
        build: &ApiBuild,
        request: &IngestRequest,
        id: BuildId,
        path: &Path,
        url: &Url,
    ) -> Result<Outcome, Trouble> {
        let _slot = self
            .ingest_slots
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        let (archive, request, file) = (self.archive.clone(), request.clone(), path.to_path_buf());
        let runtime = tokio::runtime::Handle::current();
        // Parsing blocks for as long as the file is large: off the async workers.
        let result = tokio::task::spawn_blocking(move || {
            runtime.block_on(ingest_file(
                &archive,
                &file,
                &request,
                RunId::Given(id),
                &Silent,
            ))
        })
        .await
        .map_err(|e| format!("ingesting {url} failed: {e}"))?;
        // Messages name the scratch file; the URL is what the reader knows.
        let report = result.map_err(|e| {
            let message = e
                .to_string()
                .replace(&path.display().to_string(), url.as_str());
            if is_bad_file(&e) {
                Trouble::ForGood(message)
            } else {
                Trouble::Retry(message)
            }
        })?;
        Ok(match report.outcome {
            PutOutcome::AlreadyArchived => Outcome::Skipped,
            PutOutcome::Written | PutOutcome::Replaced => {
                Outcome::Archived(archived_line(build, &report))
            }
        })
    }
}

/// Whether a failed download may pass next time: the same file gives the
/// same answer when it is too large, corrupt or refused.
fn download_trouble(url: &Url, e: FetchError) -> Trouble {
    let message = format!("cannot download {url}: {e}");
    match e {
        FetchError::TooLarge(_) | FetchError::Corrupt(_) | FetchError::Refused(_) => {
            Trouble::ForGood(message)
        }
        _ => Trouble::Retry(message),
    }
}

/// A build of a gate pipeline, which belongs to a buildset (queue item).
fn is_gate(build: &ApiBuild) -> bool {
    build
        .pipeline
        .as_deref()
        .is_some_and(|p| p.starts_with("gate"))
        && build.buildset.is_some()
}

/// `[check, job, SUCCESS]`: where and how the build ran.
fn tags(build: &ApiBuild) -> String {
    let parts: Vec<String> = [&build.pipeline, &build.job_name, &build.result]
        .into_iter()
        .flatten()
        .map(|s| shown(s).into_owned())
        .collect();
    format!("[{}]", parts.join(", "))
}

fn archived_line(build: &ApiBuild, report: &IngestReport) -> String {
    let mut line = format!("archived {} {}", build.describe(), tags(build));
    if let Some(b) = &report.build {
        line.push_str(&format!(
            ": {}, {} workloads, {} iterations ({} failed), SLA {}",
            b.source_format,
            b.workload_count,
            b.iteration_count,
            b.failed_iteration_count,
            if b.pass_sla { "passed" } else { "FAILED" }
        ));
    }
    line
}

/// Whether ingest refused the file itself (cut short, invalid, not a
/// result, past a limit): the same file fails the same way next time.
fn is_bad_file(e: &IngestError) -> bool {
    matches!(
        e,
        IngestError::Malformed { .. }
            | IngestError::OverLimit { .. }
            | IngestError::NotRally { .. }
            | IngestError::Invalid { .. }
            | IngestError::UnsupportedVersion { .. }
    )
}

/// A private scratch directory for downloads, removed when the run ends.
/// Its name is random and it is created afresh (never one that exists)
/// with mode 0700, so another local user can neither have made it
/// beforehand to swap files in it between download and ingest, nor read it.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("perfkit-collect-");
        // tempfile creates directories with the default mode (0755 under the
        // usual umask): others could read the downloads.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let dir = builder.tempdir().map_err(|e| {
            anyhow::anyhow!(
                "cannot create a scratch directory in `{}`: {e}",
                std::env::temp_dir().display()
            )
        })?;
        Ok(Scratch { dir })
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old name, `perfkit-collect-<pid>`, could be made by anyone first.
    #[test]
    fn scratch_is_private_and_never_one_made_before() {
        let predictable =
            std::env::temp_dir().join(format!("perfkit-collect-{}", std::process::id()));
        let made_here = std::fs::create_dir(&predictable).is_ok();
        let (a, b) = (Scratch::new(), Scratch::new());
        if made_here {
            let _ = std::fs::remove_dir(&predictable);
        }
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_ne!(a.root(), predictable);
        assert_ne!(a.root(), b.root());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(a.root()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let root = a.root().to_path_buf();
        drop(a);
        assert!(!root.exists());
    }
}
