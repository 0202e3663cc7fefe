//! One result in, one archived build out: read (hashing and counting bytes
//! for progress), parse and normalize while streaming samples into Parquet,
//! encode workloads, series and the build row, then hand the objects to the
//! archive, which makes them visible all at once or not at all. Locust and
//! fio results are small and take a shorter path (`ingest_measured`).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use perfkit_schema::records::BuildMeta;
use perfkit_schema::{ArchiveKey, BuildId, BuildRecord, ProjectName, WorkloadRecord};
use sha2::{Digest, Sha256};

use crate::IngestError;
use crate::input::{self, Contents, Input};
use crate::json_inplace;
use crate::rally::{self, ParseError, ParseOptions};
use perfkit_archive::batch::{SampleBatcher, encode_workloads};
use perfkit_archive::progress::Progress;
use perfkit_archive::series::{SeriesCollector, Tee, encode_series};
use perfkit_archive::{Archive, BuildObjects, CommittedRow, PutOutcome};

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
    /// The Zuul build itself (one file for the build).
    Given(BuildId),
    /// One of several files of the Zuul build `0`: the build plus 12 hex
    /// digits of the file's SHA-256, so the id depends on nothing but the
    /// build and the content (not on names or on how many files came along).
    PerFile(String),
    /// Derive a stable id from the file's content.
    FromContent,
}

/// Hex digits of the content digest added to a build id for per-file ids.
const PER_FILE_DIGITS: usize = 12;

/// Picks the id for one of `count` files of one invocation: the Zuul build
/// for a single file, the build plus a content digest when one build
/// produced several files, and a content digest alone when no build is
/// known (so re-ingesting the same file stays idempotent).
pub fn run_id_for(build: Option<&str>, count: usize) -> Result<RunId, IngestError> {
    let Some(build) = build else {
        return Ok(RunId::FromContent);
    };
    let id = BuildId::try_from(build).map_err(|e| IngestError::Metadata(e.to_string()))?;
    if count <= 1 {
        return Ok(RunId::Given(id));
    }
    if build.len() + 1 + PER_FILE_DIGITS > 64 {
        return Err(IngestError::Metadata(format!(
            "build id `{build}` is too long to add a per-file suffix for {count} files (at most {} characters)",
            64 - 1 - PER_FILE_DIGITS
        )));
    }
    Ok(RunId::PerFile(id.as_str().to_string()))
}

/// Archives one result: a Rally report, a Locust CSV set or JSON report,
/// or a fio JSON report (told apart by content, see `input::detect`).
pub async fn ingest_file(
    archive: &Archive,
    path: &Path,
    request: &IngestRequest,
    run_id: RunId,
    progress: &dyn Progress,
) -> Result<IngestReport, IngestError> {
    let input = input::detect(path)?;
    if input != Input::Rally {
        return ingest_measured(archive, path, input, request, run_id).await;
    }
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    let (build_id, mut digest) = build_id_for(run_id, || hash_file(path, progress, size))?;
    let key = key_for(request, &build_id);
    let location = archive.build_url(&key);
    if let Some(archived) = archived_row(archive, request, &key).await? {
        let digest = match digest.take() {
            Some(digest) => digest,
            None => hash_file(path, progress, size)?,
        };
        return already_archived(archive, path, archived, location, &digest).await;
    }

    // Parsing is synchronous and CPU-bound; files are ingested one at a
    // time, so blocking this task is fine.
    let job = request.meta.job.clone().unwrap_or_default();
    let Parsed {
        run,
        samples,
        series,
        sha256,
    } = parse_file(path, &job, &build_id, size, progress)?;

    let build = BuildRecord {
        key: key.clone(),
        meta: request.meta.clone(),
        source_format: run.format.name().to_string(),
        source_format_version: run.format_version.clone(),
        tool_version: run.tool_version.clone(),
        source_file: file_name(path),
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
        failure: None,
    };
    let tables = Tables {
        samples,
        workloads: run.workloads,
        series,
    };
    put(archive, path, build, tables, location, request.replace).await
}

/// Archives a Locust or fio result: small files, read whole. They have no
/// per-iteration samples, so the build's `samples` object is empty and
/// `series` is written from the parsed distributions.
async fn ingest_measured(
    archive: &Archive,
    path: &Path,
    input: Input,
    request: &IngestRequest,
    run_id: RunId,
) -> Result<IngestReport, IngestError> {
    let contents = Contents::read(&input.files(path))?;
    let digest = contents.sha256();
    let (build_id, _) = build_id_for(run_id, || Ok(digest.clone()))?;
    let key = key_for(request, &build_id);
    let location = archive.build_url(&key);
    if let Some(archived) = archived_row(archive, request, &key).await? {
        return already_archived(archive, path, archived, location, &digest).await;
    }
    let job = request.meta.job.clone().unwrap_or_default();
    let measured = input::parse_measured(&input, path, &contents, &job)?;
    let build = BuildRecord {
        key: key.clone(),
        meta: request.meta.clone(),
        source_format: measured.source_format.to_string(),
        source_format_version: measured.format_version.clone(),
        tool_version: measured.tool_version.clone(),
        source_file: file_name(&contents.files[0].0),
        source_sha256: digest,
        source_bytes: contents.bytes(),
        task_count: 1,
        task_statuses: Vec::new(),
        workload_count: measured.workloads.len() as u32,
        iteration_count: measured.operations,
        failed_iteration_count: measured.failed_operations,
        // Neither tool has an SLA; failures are counted in the rows.
        pass_sla: true,
        started_at_us: measured.started_at_us,
        finished_at_us: measured.finished_at_us,
        ingested_at_us: now_us(),
        perfkit_version: env!("CARGO_PKG_VERSION").to_string(),
        failure: None,
    };
    let tables = Tables {
        samples: SampleBatcher::new(&build_id)?,
        workloads: measured.workloads,
        series: measured.series,
    };
    put(archive, path, build, tables, location, request.replace).await
}

/// A build's tables besides its `builds` row. Samples may still be
/// encoding on their own thread: they are finished last.
struct Tables {
    samples: SampleBatcher,
    workloads: Vec<WorkloadRecord>,
    series: Vec<perfkit_schema::records::SeriesRow>,
}

/// Encodes the rest and hands the build to the archive (all or nothing).
async fn put(
    archive: &Archive,
    path: &Path,
    build: BuildRecord,
    tables: Tables,
    location: String,
    replace: bool,
) -> Result<IngestReport, IngestError> {
    let key = build.key.clone();
    // Encoded while the samples thread (if any) drains its queue, which is
    // joined whatever happens here (a samples error comes first).
    let others = (|| {
        Ok::<_, IngestError>((
            encode_workloads(&key.build, &tables.workloads)?,
            encode_series(&key.build, &tables.series)?,
        ))
    })();
    let sample_rows = tables.samples.rows();
    let samples = tables.samples.finish()?;
    let (workloads, series) = others?;
    let objects = BuildObjects {
        samples,
        workloads,
        series,
        record: build.clone(),
    };
    let outcome = archive
        .put_build(objects, replace)
        .await
        .map_err(|e| match e {
            // Said as ingest says a conflict found before parsing.
            perfkit_archive::ArchiveError::Conflict {
                archived_sha256: Some(archived),
                ..
            } if !build.source_sha256.is_empty() => IngestError::Conflict {
                path: path.to_path_buf(),
                build: key.build.to_string(),
                archived_sha256: archived,
                sha256: build.source_sha256.clone(),
            },
            e => e.into(),
        })?;
    Ok(IngestReport {
        path: path.to_path_buf(),
        outcome,
        location,
        build: Some(build),
        workloads: tables.workloads,
        sample_rows,
        key,
    })
}

/// The build id for `run_id`, and the content digest if computing it
/// needed one (`digest` is only called then).
fn build_id_for(
    run_id: RunId,
    digest: impl FnOnce() -> Result<String, IngestError>,
) -> Result<(BuildId, Option<String>), IngestError> {
    Ok(match run_id {
        RunId::Given(id) => (id, None),
        RunId::FromContent => {
            let digest = digest()?;
            (BuildId::from_digest(&digest), Some(digest))
        }
        RunId::PerFile(build) => {
            let digest = digest()?;
            let id = format!("{build}-{}", &digest[..PER_FILE_DIGITS]);
            let id =
                BuildId::try_from(id.as_str()).map_err(|e| IngestError::Metadata(e.to_string()))?;
            (id, Some(digest))
        }
    })
}

fn key_for(request: &IngestRequest, build: &BuildId) -> ArchiveKey {
    ArchiveKey {
        project: request.project.clone(),
        change: request.meta.change.unwrap_or(0),
        patchset: request.meta.patchset.unwrap_or(0),
        build: build.clone(),
    }
}

/// The row of `key` when it is archived with results and this is not a
/// `--replace` (a build recorded without results is superseded by one with
/// them); `None` also when the store refuses to say (the create-only
/// commit decides then).
async fn archived_row(
    archive: &Archive,
    request: &IngestRequest,
    key: &ArchiveKey,
) -> Result<Option<CommittedRow>, IngestError> {
    if request.replace {
        return Ok(None);
    }
    Ok(archive
        .newest_row(key)
        .await?
        .filter(|row| row.record.has_results()))
}

/// Same id, same bytes: nothing to do but make sure the project's index
/// has the build (its writer may have died before adding it). Same id,
/// other bytes: a different result claims this build; never drop it
/// silently.
async fn already_archived(
    archive: &Archive,
    path: &Path,
    archived: CommittedRow,
    location: String,
    digest: &str,
) -> Result<IngestReport, IngestError> {
    let key = archived.record.key.clone();
    if archived.record.source_sha256 != digest {
        return Err(IngestError::Conflict {
            path: path.to_path_buf(),
            build: key.build.to_string(),
            archived_sha256: archived.record.source_sha256,
            sha256: digest.to_string(),
        });
    }
    // A writer that died between its commit and its index segment left the
    // build out of the index: add it (only then, so that a second ingest of
    // the same file writes nothing).
    if archived.commit.is_some() && archive.is_indexed(&archived).await? != Some(true) {
        archive
            .append_index(&key.project, std::slice::from_ref(&archived))
            .await?;
    }
    Ok(IngestReport {
        path: path.to_path_buf(),
        outcome: PutOutcome::AlreadyArchived,
        location,
        build: None,
        workloads: Vec::new(),
        sample_rows: 0,
        key,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub use perfkit_schema::records::{FAILED_FORMAT, NO_RESULTS_FORMAT};

/// Archives a build that left no result file (Zuul's `NODE_FAILURE`, a
/// job that failed before Rally ran…): empty `samples`, `workloads` and
/// `series` objects and a `builds` row with `source_format` "none", so
/// that the build is known to be archived (a collector skips it next
/// time) and readers see it has no measurements. `started_at_us` and
/// `finished_at_us` are Zuul's times for the build.
pub async fn archive_without_results(
    archive: &Archive,
    request: &IngestRequest,
    build_id: BuildId,
    started_at_us: Option<i64>,
    finished_at_us: Option<i64>,
) -> Result<IngestReport, IngestError> {
    let times = (started_at_us, finished_at_us);
    record_gap(archive, request, build_id, times, None).await
}

/// Records a build `perfkit collect` gave up on for good (its report is cut
/// short or invalid, or gone): like [`archive_without_results`], with
/// `source_format` "failed" and `failure` saying why, so that the next
/// cycle skips it instead of downloading it again.
pub async fn archive_failure(
    archive: &Archive,
    request: &IngestRequest,
    build_id: BuildId,
    times: (Option<i64>, Option<i64>),
    failure: String,
) -> Result<IngestReport, IngestError> {
    record_gap(archive, request, build_id, times, Some(failure)).await
}

/// A `builds` row without measurements: "none", or "failed" with `failure`.
async fn record_gap(
    archive: &Archive,
    request: &IngestRequest,
    build_id: BuildId,
    (started_at_us, finished_at_us): (Option<i64>, Option<i64>),
    failure: Option<String>,
) -> Result<IngestReport, IngestError> {
    let key = ArchiveKey {
        project: request.project.clone(),
        change: request.meta.change.unwrap_or(0),
        patchset: request.meta.patchset.unwrap_or(0),
        build: build_id.clone(),
    };
    let location = archive.build_url(&key);
    let format = match failure {
        Some(_) => FAILED_FORMAT,
        None => NO_RESULTS_FORMAT,
    };
    // Nothing was measured, so nothing passed.
    let build = BuildRecord {
        started_at_us,
        finished_at_us,
        ingested_at_us: now_us(),
        perfkit_version: env!("CARGO_PKG_VERSION").to_string(),
        failure,
        ..BuildRecord::nothing_measured(key.clone(), request.meta.clone(), format.to_string())
    };
    let tables = Tables {
        samples: SampleBatcher::new(&build_id)?,
        workloads: Vec::new(),
        series: Vec::new(),
    };
    put(
        archive,
        Path::new(""),
        build,
        tables,
        location,
        request.replace,
    )
    .await
}

/// One parsed file: the run, its samples (all handed to the encoder, which
/// may still be busy) and its series rows.
struct Parsed {
    run: rally::ParsedRun,
    samples: SampleBatcher,
    series: Vec<perfkit_schema::records::SeriesRow>,
    sha256: String,
}

/// Parses the file on this thread while a second one hashes it and a
/// third encodes the samples. The file is mapped, not read: the mapping
/// shares the page cache, so nothing is copied out of it or zeroed, and
/// serde_json's slice reader is several times faster than a reader. The
/// digest is always of the file's own bytes.
fn parse_file(
    path: &Path,
    job: &str,
    build_id: &BuildId,
    size: u64,
    progress: &dyn Progress,
) -> Result<Parsed, IngestError> {
    let file = File::open(path).map_err(|source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let stamp = FileStamp::of(&file).map_err(|source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Only a regular file whose size did not move since it was measured
    // is mapped; anything else (a pipe, a device, a file being written)
    // is read, so the bytes parsed are the bytes hashed.
    let mappable = stamp.regular && stamp.len == size;
    progress.start("parsing", None);
    let (sha256, parsed) = match map_file(&file, size, false).filter(|_| mappable) {
        Some(map) if json_inplace::is_indented(&map) => {
            parse_indented(path, &file, Arc::new(map), job, build_id)
        }
        Some(map) => std::thread::scope(|scope| {
            let hasher = scope.spawn(|| sha256_of(path));
            // The whole page table at once (no kernel support: faults).
            let _ = map.advise(memmap2::Advice::PopulateRead);
            let parsed = parse_in_place(path, map, job, build_id);
            let sha256 = match hasher.join() {
                Ok(read) => read.map_err(|source| IngestError::Read {
                    path: path.to_path_buf(),
                    source,
                }),
                Err(_) => Err(hasher_panicked()),
            };
            (sha256, parsed)
        }),
        None => parse_unmapped(path, size, job, build_id),
    };
    progress.finish();
    if mappable {
        stamp.check_unchanged(path, &file)?;
    }
    let (run, mut samples, collector) = parsed?.map_err(|e| e.into_ingest_error(path))?;
    let sha256 = sha256?;
    // The last rows go to the encoder now; it works on them while this
    // thread gathers the series and encodes the other tables.
    samples.send_pending()?;
    let series = collector.into_rows(&run.workloads);
    Ok(Parsed {
        run,
        samples,
        series,
        sha256,
    })
}

fn hasher_panicked() -> IngestError {
    IngestError::Archive(perfkit_archive::ArchiveError::Encode {
        table: "builds",
        message: "the hashing thread panicked".into(),
    })
}

/// What identifies a file's contents without reading them: a mapped file
/// rewritten, truncated or replaced during the parse is caught by
/// comparing these before and after (a truncation can also end the
/// process with SIGBUS, the price of every mapped reader).
struct FileStamp {
    regular: bool,
    len: u64,
    modified: Option<std::time::SystemTime>,
    device: u64,
    inode: u64,
}

impl FileStamp {
    fn of(file: &File) -> std::io::Result<FileStamp> {
        Ok(FileStamp::from_metadata(&file.metadata()?))
    }

    fn from_metadata(meta: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            regular: meta.is_file(),
            len: meta.len(),
            modified: meta.modified().ok(),
            device: meta.dev(),
            inode: meta.ino(),
        }
    }

    /// The open file still has the size and modification time it had,
    /// and the path still names it (the hashing thread may read by path).
    fn check_unchanged(&self, path: &Path, file: &File) -> Result<(), IngestError> {
        let changed = |what: &str| IngestError::Changed {
            path: path.to_path_buf(),
            what: what.into(),
        };
        let now = FileStamp::of(file).map_err(|source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if now.len != self.len {
            return Err(changed(&format!("{} bytes, then {}", self.len, now.len)));
        }
        if now.modified != self.modified {
            return Err(changed("its modification time moved"));
        }
        match std::fs::metadata(path) {
            Ok(meta) => {
                let named = FileStamp::from_metadata(&meta);
                if (named.device, named.inode) != (self.device, self.inode) {
                    return Err(changed("the path now names another file"));
                }
                Ok(())
            }
            Err(_) => Err(changed("the path no longer names a file")),
        }
    }
}

/// A read-only private mapping of the whole file, its page table filled
/// at once if `populate` (cheaper than a fault per few pages); `None` when
/// the file cannot be mapped (empty, not a regular file).
fn map_file(file: &File, size: u64, populate: bool) -> Option<memmap2::Mmap> {
    if size == 0 {
        return None;
    }
    let mut options = memmap2::MmapOptions::new();
    if populate {
        options.populate();
    }
    // SAFETY: the mapping is private, so writing to it (after `make_mut`)
    // never reaches the file. Another process truncating the file while it
    // is parsed would end this one with SIGBUS: the price of every mapped
    // reader.
    unsafe { options.map_copy_read_only(file) }.ok()
}

/// A parse's run and the sinks that took its rows.
type Sunk = (rally::ParsedRun, SampleBatcher, SeriesCollector);

/// What a parse gives: the file's digest, and its run (or why not).
type Outcome = (
    Result<String, IngestError>,
    Result<Result<Sunk, ParseError>, IngestError>,
);

/// Parses an indented file (Rally's reports are) from a copy without its
/// indentation, which serde_json would otherwise step over a byte at a
/// time: the copy is a third of the file and parses in half the time.
/// Another thread hashes the mapping meanwhile and unmaps it when done.
/// Errors are always reported from the file itself, with its own lines
/// and columns: a copy that fails to parse is dropped and the file parsed
/// as it is.
fn parse_indented(
    path: &Path,
    file: &File,
    map: Arc<memmap2::Mmap>,
    job: &str,
    build_id: &BuildId,
) -> Outcome {
    let size = map.len() as u64;
    let hasher = {
        let map = Arc::clone(&map);
        std::thread::spawn(move || {
            // Filling the page table here, ahead of the copy below (which
            // is slower), spares this thread's partner the page faults.
            // Without kernel support (Linux < 5.14) the pages fault in.
            let _ = map.advise(memmap2::Advice::PopulateRead);
            hex(&Sha256::digest(&map[..]))
        })
    };
    let mut compact = json_inplace::without_indentation(&map);
    drop(map);
    json_inplace::quote_bare_tokens(&mut compact);
    let parsed = match parse_bytes(&compact, job, build_id) {
        Ok(Err(_)) => {
            drop(compact);
            match map_file(file, size, true) {
                Some(map) => parse_in_place(path, map, job, build_id),
                None => parse_unmapped(path, size, job, build_id).1,
            }
        }
        parsed => parsed,
    };
    (hasher.join().map_err(|_| hasher_panicked()), parsed)
}

/// Quotes Python's bare non-finite tokens (which serde_json refuses) in
/// the mapping without changing the file's length, so only the pages
/// holding one are copied and errors keep the file's lines and columns,
/// then parses it. A file where that is impossible (`[NaN]`, or JSON
/// written without spaces) is copied and quoted in the copy.
fn parse_in_place(
    path: &Path,
    map: memmap2::Mmap,
    job: &str,
    build_id: &BuildId,
) -> Result<Result<Sunk, ParseError>, IngestError> {
    let tokens = json_inplace::Tokens::find(&map);
    if tokens.is_empty() {
        return parse_bytes(&map, job, build_id);
    }
    if let Some(quoting) = tokens.same_length(&map) {
        let mut map = map.make_mut().map_err(|source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        quoting.apply(&mut map);
        return parse_bytes(&map, job, build_id);
    }
    let mut buffer = released_copy(map, 2 * tokens.len());
    tokens.insert_quotes(&mut buffer);
    parse_bytes(&buffer, job, build_id)
}

/// A copy of the mapped file with room for `extra` bytes, its pages
/// released as they are copied so that memory holds the file once.
fn released_copy(map: memmap2::Mmap, extra: usize) -> Vec<u8> {
    const CHUNK: usize = 32 << 20;
    let mut copy = Vec::with_capacity(map.len() + extra);
    let mut at = 0;
    while at < map.len() {
        let end = map.len().min(at + CHUNK);
        copy.extend_from_slice(&map[at..end]);
        // SAFETY: the mapping is private and was never written, so its
        // pages can be dropped: a later read would fault them in again
        // from the file, and none comes. `at` is a multiple of the page
        // size. Failure only means the pages stay until the unmap.
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, at, end - at) };
        at = end;
    }
    copy
}

/// Parses a file that cannot be mapped (empty, not a regular file) from
/// memory, while another thread hashes what was read.
fn parse_unmapped(path: &Path, size: u64, job: &str, build_id: &BuildId) -> Outcome {
    let mut buffer = match read_file(path, size) {
        Ok(buffer) => buffer,
        Err(e) => return (Ok(String::new()), Err(e)),
    };
    let inserted = json_inplace::quote_non_finite(&mut buffer);
    std::thread::scope(|scope| {
        let hasher = scope.spawn(|| {
            let mut hasher = Sha256::new();
            for segment in json_inplace::original_segments(&buffer, &inserted) {
                hasher.update(segment);
            }
            hex(&hasher.finalize())
        });
        let parsed = parse_bytes(&buffer, job, build_id);
        (hasher.join().map_err(|_| hasher_panicked()), parsed)
    })
}

/// Parses a whole Rally result, its tokens quoted, into fresh sinks.
fn parse_bytes(
    bytes: &[u8],
    job: &str,
    build_id: &BuildId,
) -> Result<Result<Sunk, ParseError>, IngestError> {
    let mut batcher = SampleBatcher::with_encoding_thread(build_id)?;
    let mut collector = SeriesCollector::default();
    let run = rally::parse_slice(
        bytes,
        &ParseOptions { job },
        &mut Tee(&mut batcher, &mut collector),
    );
    Ok(run.map(|run| (run, batcher, collector)))
}

/// The whole file, for one that cannot be mapped.
fn read_file(path: &Path, size: u64) -> Result<Vec<u8>, IngestError> {
    let mut file = File::open(path).map_err(|source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Room for a few quoted non-finite tokens without reallocating.
    let mut buffer = Vec::with_capacity(size as usize + 4096);
    // `read_to_end` fills the spare capacity without zeroing it first.
    file.read_to_end(&mut buffer)
        .map_err(|source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(buffer)
}

fn hash_file(path: &Path, progress: &dyn Progress, size: u64) -> Result<String, IngestError> {
    progress.start("hashing", Some(size));
    let digest =
        sha256_of_with(path, |done| progress.set(done)).map_err(|source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        });
    progress.finish();
    digest
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    sha256_of_with(path, |_| {})
}

/// The file's SHA-256, read in chunks small enough to stay in cache.
fn sha256_of_with(path: &Path, mut done: impl FnMut(u64)) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&chunk[..n]);
        total += n as u64;
        done(total);
    }
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
    fn a_file_rewritten_truncated_or_replaced_during_the_parse_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, b"[1, 2, 3]").unwrap();
        let file = File::open(&path).unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        assert!(stamp.regular);
        stamp.check_unchanged(&path, &file).expect("nothing moved");

        // Truncated in place: same file, other size.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4)
            .unwrap();
        let err = stamp.check_unchanged(&path, &file).unwrap_err();
        assert!(
            matches!(&err, IngestError::Changed { what, .. } if what == "9 bytes, then 4"),
            "{err}"
        );
        assert!(err.to_string().contains("report.json"), "{err}");

        // Rewritten with the same size: the modification time moves.
        let file = File::open(&path).unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        let later = stamp.modified.unwrap() + std::time::Duration::from_secs(5);
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.set_modified(later).unwrap();
        let err = stamp.check_unchanged(&path, &file).unwrap_err();
        assert!(
            matches!(&err, IngestError::Changed { what, .. } if what.contains("modification time")),
            "{err}"
        );

        // Replaced by another file under the same name (a rename over it).
        let file = File::open(&path).unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        let other = dir.path().join("other.json");
        std::fs::write(&other, b"[9]").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let err = stamp.check_unchanged(&path, &file).unwrap_err();
        assert!(
            matches!(&err, IngestError::Changed { what, .. } if what.contains("another file")),
            "{err}"
        );
        assert!(err.hint().is_some());
    }

    #[test]
    fn a_pipe_is_read_not_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("report.fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        // Opening a FIFO for reading blocks until a writer comes: open it
        // read-write so the test needs none.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        assert!(
            !stamp.regular,
            "a FIFO is not a regular file, so it is never mapped"
        );
    }

    #[test]
    fn run_ids() {
        assert_eq!(run_id_for(None, 1).unwrap(), RunId::FromContent);
        assert_eq!(run_id_for(None, 3).unwrap(), RunId::FromContent);
        assert_eq!(
            run_id_for(Some("abc"), 1).unwrap(),
            RunId::Given(BuildId::try_from("abc").unwrap())
        );
        assert_eq!(
            run_id_for(Some("ABC"), 2).unwrap(),
            RunId::PerFile("abc".into())
        );
        assert!(run_id_for(Some("../x"), 1).is_err());
        let long = "a".repeat(60);
        let err = run_id_for(Some(&long), 2).unwrap_err().to_string();
        assert!(err.contains("too long to add a per-file suffix"), "{err}");
    }

    use arrow::array::{Array, Float64Array, StringArray, UInt32Array};

    use perfkit_archive::progress::Silent;
    use perfkit_archive::sink::OwnedSample;

    /// `parse_file` of `text`, written to a file.
    fn parse_text(text: &[u8]) -> Result<Parsed, IngestError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, text).unwrap();
        let id = BuildId::try_from("b1").unwrap();
        parse_file(&path, "job", &id, text.len() as u64, &Silent)
    }

    /// What the streaming reader makes of `text`.
    fn streamed(text: &[u8]) -> Result<(rally::ParsedRun, Vec<OwnedSample>), ParseError> {
        let mut rows = Vec::new();
        let run = rally::parse(text, &ParseOptions { job: "job" }, &mut rows)?;
        Ok((run, rows))
    }

    /// (workload, iteration, action, duration, error message) of each row.
    type Row = (String, u32, String, f64, Option<String>);

    fn rows_of(samples: &bytes::Bytes) -> Vec<Row> {
        let mut rows = Vec::new();
        for batch in perfkit_archive::parquet_file::decode("samples", samples.clone()).unwrap() {
            let column = |name: &str| batch.column_by_name(name).unwrap().clone();
            let text = |name: &str| {
                column(name)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .clone()
            };
            let (key, action, message) =
                (text("workload_key"), text("action"), text("error_message"));
            let iteration = column("iteration");
            let iteration = iteration.as_any().downcast_ref::<UInt32Array>().unwrap();
            let duration = column("duration_s");
            let duration = duration.as_any().downcast_ref::<Float64Array>().unwrap();
            for i in 0..batch.num_rows() {
                rows.push((
                    key.value(i).to_string(),
                    iteration.value(i),
                    action.value(i).to_string(),
                    duration.value(i),
                    (!message.is_null(i)).then(|| message.value(i).to_string()),
                ));
            }
        }
        rows
    }

    fn owned_rows(rows: &[OwnedSample]) -> Vec<Row> {
        rows.iter()
            .map(|r| {
                let (key, action) = (r.workload_key.clone(), r.action.clone());
                (
                    key,
                    r.iteration,
                    action,
                    r.duration_s,
                    r.error_message.clone(),
                )
            })
            .collect()
    }

    fn fixture(name: &str) -> Vec<u8> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rally");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn files_parse_as_the_reader_reads_them_and_hash_as_they_are() {
        let indented = fixture("dev-output-hooks.report.json");
        assert!(json_inplace::is_indented(&indented));
        // One line with `: Infinity}` (no space to quote it in place) and
        // one where each token has a space on both sides.
        let one_line: Vec<u8> = json_inplace::without_indentation(&indented)
            .into_iter()
            .filter(|&b| b != b'\n')
            .collect();
        let spaced = String::from_utf8(one_line.clone())
            .unwrap()
            .replace(": Infinity", ":  Infinity ");
        for text in [indented, one_line, spaced.into_bytes()] {
            let parsed = parse_text(&text).unwrap();
            let (run, rows) = streamed(&text).unwrap();
            assert_eq!(parsed.run, run);
            assert_eq!(parsed.samples.rows(), rows.len() as u64);
            assert_eq!(
                rows_of(&parsed.samples.finish().unwrap()),
                owned_rows(&rows)
            );
            assert_eq!(parsed.sha256, perfkit_schema::identity::sha256_hex(&text));
        }
    }

    fn position(text: &[u8], needle: &[u8]) -> usize {
        text.windows(needle.len())
            .position(|w| w == needle)
            .expect("the fixture has the needle")
    }

    #[test]
    fn text_beyond_ascii_reads_as_streamed() {
        let text = fixture("dev-output-hooks.report.json");
        let at = position(&text, b"\"title\": \"dummy-output") + b"\"title\": \"".len();
        let accented = [&text[..at], "Tâche ✓ ".as_bytes(), &text[at..]].concat();
        let parsed = parse_text(&accented).unwrap();
        let (run, rows) = streamed(&accented).unwrap();
        assert_eq!(parsed.run, run);
        assert!(
            run.workloads
                .iter()
                .any(|w| w.subtask_title == "Tâche ✓ dummy-output"),
            "{:?}",
            run.workloads
        );
        assert_eq!(
            rows_of(&parsed.samples.finish().unwrap()),
            owned_rows(&rows)
        );
    }

    #[test]
    fn errors_name_the_place_in_the_file() {
        let text = fixture("dev-output-hooks.report.json");
        let cut = text.len() * 2 / 3;
        let broken = [&text[..cut], b"x", &text[cut..]].concat();
        for bad in [&text[..cut], &broken[..]] {
            let IngestError::Malformed {
                json_path,
                line,
                column,
                ..
            } = parse_text(bad).err().unwrap()
            else {
                panic!("not a malformed-file error");
            };
            let want = streamed(bad).unwrap_err();
            assert_eq!(
                (json_path, line, column),
                (want.json_path, want.line, want.column)
            );
        }
        // Bytes that are not UTF-8, inside a string: where they are.
        let at = position(&text, b"\"title\": \"dummy-output") + b"\"title\": \"".len();
        let not_utf8 = [&text[..at], b"\xff\xfe", &text[at..]].concat();
        let IngestError::Malformed {
            json_path,
            line,
            column,
            ..
        } = parse_text(&not_utf8).err().unwrap()
        else {
            panic!("not a malformed-file error");
        };
        let want = streamed(&not_utf8).unwrap_err();
        assert_eq!(
            (json_path, line, column),
            (want.json_path, want.line, want.column)
        );
        assert_eq!(line, 24);
        // An empty file cannot be mapped: it is read, and is no report.
        let empty = parse_text(b"").err().unwrap();
        assert!(matches!(empty, IngestError::NotRally { .. }), "{empty}");
    }
}
