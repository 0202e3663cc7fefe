//! One file in, one archived build out: read (hashing and counting bytes
//! for progress), parse and normalize while streaming samples into Parquet,
//! encode workloads and the build row, then hand the three objects to the
//! archive, which makes them visible all at once or not at all.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use perfkit_schema::records::BuildMeta;
use perfkit_schema::{ArchiveKey, BuildId, BuildRecord, ProjectName, WorkloadRecord};
use sha2::{Digest, Sha256};

use crate::IngestError;
use crate::archive::{Archive, BuildObjects, PutOutcome};
use crate::batch::{SampleBatcher, encode_build, encode_workloads};
use crate::json_inplace;
use crate::progress::Progress;
use crate::rally::{self, ParseOptions};

/// What to archive a file as.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    pub project: ProjectName,
    pub meta: BuildMeta,
    /// Replace a build that is already archived.
    pub replace: bool,
}

/// The result of archiving one file.
#[derive(Debug, Clone)]
pub struct IngestReport {
    pub path: PathBuf,
    pub outcome: PutOutcome,
    /// Where the build row was written (or already was).
    pub location: String,
    /// The build as archived; `None` when it was already there and not re-read.
    pub build: Option<BuildRecord>,
    pub workloads: Vec<WorkloadRecord>,
    pub sample_rows: u64,
    pub key: ArchiveKey,
}

/// How a file's archive build id is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunId {
    /// Use this id (the Zuul build, or the build plus a per-file suffix).
    Given(BuildId),
    /// Derive a stable id from the file's content.
    FromContent,
}

/// Picks the id for the `index`-th of `count` files of one invocation:
/// the Zuul build itself for a single file, the build plus the file's
/// stem when one build produced several files, and a content digest when
/// no build is known (so re-ingesting the same file stays idempotent).
pub fn run_id_for(build: Option<&str>, file: &Path, count: usize) -> Result<RunId, IngestError> {
    let Some(build) = build else {
        return Ok(RunId::FromContent);
    };
    let id = if count <= 1 {
        build.to_string()
    } else {
        let stem: String = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let room = 64usize.saturating_sub(build.len() + 1);
        format!("{build}-{}", &stem[..stem.len().min(room)])
    };
    BuildId::try_from(id.as_str())
        .map(RunId::Given)
        .map_err(|e| IngestError::Metadata(e.to_string()))
}

/// Archives one Rally result file.
pub async fn ingest_file(
    archive: &Archive,
    path: &Path,
    request: &IngestRequest,
    run_id: RunId,
    progress: &dyn Progress,
) -> Result<IngestReport, IngestError> {
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    let build_id = match run_id {
        RunId::Given(id) => id,
        RunId::FromContent => BuildId::from_digest(&hash_file(path, progress, size)?),
    };
    let key = ArchiveKey {
        project: request.project.clone(),
        change: request.meta.change.unwrap_or(0),
        patchset: request.meta.patchset.unwrap_or(0),
        build: build_id.clone(),
    };
    let location = archive.object_url(&key, perfkit_schema::Table::Builds);
    if !request.replace && archive.contains(&key).await? {
        return Ok(IngestReport {
            path: path.to_path_buf(),
            outcome: PutOutcome::AlreadyArchived,
            location,
            build: None,
            workloads: Vec::new(),
            sample_rows: 0,
            key,
        });
    }

    // Parsing is synchronous and CPU-bound; files are ingested one at a
    // time, so blocking this task is fine.
    let job = request.meta.job.clone().unwrap_or_default();
    let (run, samples, sha256, sample_rows) = parse_file(path, &job, &build_id, size, progress)?;

    let build = BuildRecord {
        key: key.clone(),
        meta: request.meta.clone(),
        source_format: run.format.name().to_string(),
        source_format_version: run.format_version.clone(),
        tool_version: run.tool_version.clone(),
        source_file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        source_sha256: sha256,
        source_bytes: size,
        task_count: run
            .task_statuses
            .len()
            .max(usize::from(!run.workloads.is_empty())) as u32,
        task_statuses: run.task_statuses.clone(),
        workload_count: run.workloads.len() as u32,
        iteration_count: run.iteration_count,
        failed_iteration_count: run.failed_iteration_count,
        pass_sla: run.pass_sla,
        started_at_us: run.started_at_us,
        finished_at_us: run.finished_at_us,
        ingested_at_us: now_us(),
        perfkit_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let objects = BuildObjects {
        samples,
        workloads: encode_workloads(&build_id, &run.workloads)?,
        builds: encode_build(&build)?,
    };
    let outcome = archive.put_build(&key, objects, request.replace).await?;
    Ok(IngestReport {
        path: path.to_path_buf(),
        outcome,
        location,
        build: Some(build),
        workloads: run.workloads,
        sample_rows,
        key,
    })
}

type Parsed = (rally::ParsedRun, bytes::Bytes, String, u64);

/// Reads the file into one buffer, then parses it on this thread while a
/// second thread hashes it: the whole file in memory costs its size once
/// (well inside the budget of 1.5x the input) and buys serde_json's slice
/// reader, several times faster than streaming through a reader.
fn parse_file(
    path: &Path,
    job: &str,
    build_id: &BuildId,
    size: u64,
    progress: &dyn Progress,
) -> Result<Parsed, IngestError> {
    let mut buffer = read_file(path, size, progress)?;
    let inserted = json_inplace::quote_non_finite(&mut buffer);
    let mut batcher = SampleBatcher::new(build_id)?;
    progress.start("parsing", None);
    let (sha256, run) = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| {
            let mut hasher = Sha256::new();
            for segment in json_inplace::original_segments(&buffer, &inserted) {
                hasher.update(segment);
            }
            hex(&hasher.finalize())
        });
        let run = rally::parse_slice(&buffer, &ParseOptions { job }, &mut batcher);
        (hasher.join(), run)
    });
    progress.finish();
    let run = run.map_err(|e| e.into_ingest_error(path))?;
    let sha256 = sha256.map_err(|_| IngestError::Encode {
        table: "builds",
        message: "the hashing thread panicked".into(),
    })?;
    drop(buffer);
    let rows = batcher.rows();
    Ok((run, batcher.finish()?, sha256, rows))
}

/// The whole file, read in chunks so a long read shows progress.
fn read_file(path: &Path, size: u64, progress: &dyn Progress) -> Result<Vec<u8>, IngestError> {
    const CHUNK: usize = 8 << 20;
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    // Room for a few quoted non-finite tokens without reallocating.
    let mut buffer = Vec::with_capacity(size as usize + 4096);
    progress.start("reading", Some(size));
    loop {
        let len = buffer.len();
        buffer.resize(len + CHUNK, 0);
        match file.read(&mut buffer[len..]) {
            Ok(0) => {
                buffer.truncate(len);
                break;
            }
            Ok(n) => {
                buffer.truncate(len + n);
                progress.set(buffer.len() as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buffer.truncate(len),
            Err(e) => return Err(read_error(e)),
        }
    }
    progress.finish();
    Ok(buffer)
}

fn hash_file(path: &Path, progress: &dyn Progress, size: u64) -> Result<String, IngestError> {
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    progress.start("hashing", Some(size));
    let mut hasher = Sha256::new();
    let mut chunk = vec![0; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        hasher.update(&chunk[..n]);
        done += n as u64;
        progress.set(done);
    }
    progress.finish();
    Ok(hex(&hasher.finalize()))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids() {
        let f = Path::new("out/report.json");
        assert_eq!(run_id_for(None, f, 1).unwrap(), RunId::FromContent);
        assert_eq!(
            run_id_for(Some("abc"), f, 1).unwrap(),
            RunId::Given(BuildId::try_from("abc").unwrap())
        );
        assert_eq!(
            run_id_for(Some("abc"), Path::new("x/Results v1.json"), 2).unwrap(),
            RunId::Given(BuildId::try_from("abc-results_v1").unwrap())
        );
        assert!(run_id_for(Some("../x"), f, 1).is_err());
    }
}
