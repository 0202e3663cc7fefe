//! One build: skipped when archived (one existence check), else its Rally
//! results are found, downloaded and ingested under the key the in-job
//! path uses, or, when it left none, the build is recorded as such.

use std::path::{Path, PathBuf};

use perfkit_archive::progress::Silent;
use perfkit_archive::{Archive, PutOutcome};
use perfkit_ingest::pipeline::{
    IngestReport, IngestRequest, RunId, archive_without_results, ingest_file,
};
use perfkit_schema::{ArchiveKey, BuildId};
use perfkit_zuul::vars::interpret;
use reqwest::Url;
use tokio::sync::Semaphore;

use perfkit_http::{FetchError, Fetcher};
use perfkit_schema::shown;
use perfkit_zuul::builds::{ApiBuild, parse_utc_us};
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
    /// It succeeded, yet its Rally results are not (or no longer) on the
    /// log server: a failure, and one that expired logs repeat every run.
    Gone(String),
    /// Something went wrong; the next run tries again.
    Failed(String),
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

/// Shared state of a run.
pub struct Collector {
    archive: Archive,
    fetcher: Fetcher,
    tenant: String,
    scratch: Scratch,
    /// Parsing is CPU-bound and holds a report in memory: a few at a time.
    ingest_slots: Semaphore,
}

impl Collector {
    pub fn new(
        archive: Archive,
        fetcher: Fetcher,
        tenant: &str,
        parallel_ingests: usize,
    ) -> anyhow::Result<Collector> {
        Ok(Collector {
            archive,
            fetcher,
            tenant: tenant.to_string(),
            scratch: Scratch::new()?,
            ingest_slots: Semaphore::new(parallel_ingests.max(1)),
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
        let request = IngestRequest {
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
        if self
            .archive
            .contains(&key)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(Outcome::Skipped);
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        match self.download(build, dir, warnings).await? {
            Found::File(path, url) => self.ingest(build, &request, id, &path, &url).await,
            Found::Gone(reason) => Ok(Outcome::Gone(reason)),
            Found::Nothing => {
                let report = archive_without_results(
                    &self.archive,
                    &request,
                    id,
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
        }
    }

    /// Downloads the first candidate that exists.
    async fn download(
        &self,
        build: &ApiBuild,
        dir: &Path,
        warnings: &mut Vec<String>,
    ) -> Result<Found, String> {
        let places = candidates(build);
        warnings.extend(places.ignored);
        let mut declared_missing = Vec::new();
        for candidate in places.candidates {
            let dest = dir.join(&candidate.file_name);
            match self.fetcher.download(&candidate.url, &dest).await {
                Ok(_) => {
                    refuse_compressed(&dest, &candidate.url)?;
                    return Ok(Found::File(dest, candidate.url));
                }
                Err(FetchError::NotFound) if candidate.declared => {
                    declared_missing.push(candidate.url.to_string());
                }
                Err(FetchError::NotFound) => {}
                Err(e) => return Err(format!("cannot download {}: {e}", candidate.url)),
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

    async fn ingest(
        &self,
        build: &ApiBuild,
        request: &IngestRequest,
        id: BuildId,
        path: &Path,
        url: &Url,
    ) -> Result<Outcome, String> {
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
            e.to_string()
                .replace(&path.display().to_string(), url.as_str())
        })?;
        Ok(match report.outcome {
            PutOutcome::AlreadyArchived => Outcome::Skipped,
            PutOutcome::Written | PutOutcome::Replaced => {
                Outcome::Archived(archived_line(build, &report))
            }
        })
    }
}

/// `[check, SUCCESS]`: where and how the build ran.
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

/// A gzip body (a log server that stores files compressed and ignores
/// `Accept-Encoding: identity`) would otherwise read as corrupt JSON.
fn refuse_compressed(path: &Path, url: &Url) -> Result<(), String> {
    use std::io::Read;
    let mut magic = [0u8; 2];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        return Err(format!(
            "{url} came gzip-compressed; perfkit reads uncompressed results only"
        ));
    }
    Ok(())
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
