//! Arrow record batches for the three archive tables. Samples arrive as a
//! stream ([`SampleBatcher`] is a [`SampleSink`]) and are flushed to the
//! Parquet writer every [`SAMPLE_BATCH_ROWS`] rows, so memory stays bounded
//! whatever the size of the Rally report. Workloads and builds are few and
//! built from records in one go.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, ListArray, ListBuilder, StringArray,
    StringBuilder, TimestampMicrosecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use perfkit_schema::records::BuildMeta;
use perfkit_schema::tables::{
    builds_schema, committed_builds_schema, samples_schema, workloads_schema,
};
use perfkit_schema::{
    ArchiveKey, BuildId, BuildRecord, ProjectName, SampleRow, Table, WorkloadRecord,
};

use crate::ArchiveError;
use crate::parquet_file::{TableWriter, encode};
use crate::sink::{SampleSink, SinkError};

/// Rows gathered before they are handed to Parquet as one record batch.
pub const SAMPLE_BATCH_ROWS: usize = 64 * 1024;

/// Batches of samples waiting for the encoding thread at most (each up to
/// [`SAMPLE_BATCH_ROWS`] rows, a few MB).
pub const QUEUED_SAMPLE_BATCHES: usize = 4;

/// Turns streamed samples into a Parquet file of the `samples` table.
///
/// Rows are packed into plain vectors (texts into one string; a workload
/// key repeated from the previous row is stored once), not Arrow builders:
/// pushing a row costs a few copies, and with an encoding thread the Arrow
/// arrays, Parquet and zstd all happen there. Packed buffers come back
/// from that thread empty, so a long ingest stops allocating.
pub struct SampleBatcher {
    build_id: BuildIdColumn,
    encoder: Encoder,
    rows: u64,
    packed: PackedRows,
}

/// Where a [`SampleBatcher`]'s batches are encoded.
enum Encoder {
    Inline(Box<TableWriter>),
    Thread {
        batches: SyncSender<PackedRows>,
        /// Emptied buffers to reuse.
        returned: Receiver<PackedRows>,
        /// `None` once joined after an error.
        thread: Option<JoinHandle<Result<Bytes, ArchiveError>>>,
    },
}

/// A range of [`PackedRows::text`].
type Text = (u32, u32);

/// One sample row, its texts in [`PackedRows`] (56 bytes: a batch's rows
/// fit in a few MB, and its fresh pages cost little to fault in).
struct PackedRow {
    action: Text,
    workload_index: u32,
    iteration: u32,
    duration_s: f64,
    /// Meaningful with [`HAS_IDLE`].
    idle_duration_s: f64,
    /// Meaningful with [`HAS_START`].
    started_at_us: i64,
    /// Index in [`PackedRows::keys`].
    key: u32,
    /// Index in [`PackedRows::errors`], with [`HAS_ERROR`].
    error: u32,
    occurrence: u16,
    depth: u8,
    flags: u8,
}

const _: () = assert!(std::mem::size_of::<PackedRow>() == 56);

const FAILED: u8 = 1;
const HAS_IDLE: u8 = 2;
const HAS_START: u8 = 4;
const HAS_ERROR: u8 = 8;

/// Text gathered in one batch at most before it is flushed early.
const BATCH_TEXT_BYTES: usize = 1 << 30;

/// Up to a batch of rows.
#[derive(Default)]
struct PackedRows {
    rows: Vec<PackedRow>,
    /// Workload keys, each stored once while the rows keep to one workload.
    keys: Vec<Text>,
    /// Error type, message and traceback of the rows that have some.
    errors: Vec<[Option<Text>; 3]>,
    text: String,
}

impl PackedRows {
    fn with_capacity(rows: usize) -> Self {
        PackedRows {
            rows: Vec::with_capacity(rows),
            text: String::with_capacity(rows * 16),
            ..PackedRows::default()
        }
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= SAMPLE_BATCH_ROWS || self.text.len() >= BATCH_TEXT_BYTES
    }

    fn keep(&mut self, s: &str) -> Result<Text, SinkError> {
        let start = self.text.len();
        self.text.push_str(s);
        match (u32::try_from(start), u32::try_from(self.text.len())) {
            (Ok(start), Ok(end)) => Ok((start, end)),
            _ => Err(SinkError("a sample's texts are longer than 4 GiB".into())),
        }
    }

    fn push(&mut self, row: &SampleRow<'_>) -> Result<(), SinkError> {
        let same_key = self
            .keys
            .last()
            .is_some_and(|&k| self.get(k) == row.workload_key);
        if !same_key {
            let key = self.keep(row.workload_key)?;
            self.keys.push(key);
        }
        let action = self.keep(row.action)?;
        let mut flags = 0;
        let mut error = 0;
        if row.error_type.is_some() || row.error_message.is_some() || row.error_traceback.is_some()
        {
            let mut keep = |text: Option<&str>| text.map(|s| self.keep(s)).transpose();
            let texts = [
                keep(row.error_type)?,
                keep(row.error_message)?,
                keep(row.error_traceback)?,
            ];
            error = self.errors.len() as u32;
            self.errors.push(texts);
            flags |= HAS_ERROR;
        }
        for (set, flag) in [
            (row.failed, FAILED),
            (row.idle_duration_s.is_some(), HAS_IDLE),
            (row.started_at_us.is_some(), HAS_START),
        ] {
            if set {
                flags |= flag;
            }
        }
        self.rows.push(PackedRow {
            action,
            workload_index: row.workload_index,
            iteration: row.iteration,
            duration_s: row.duration_s,
            idle_duration_s: row.idle_duration_s.unwrap_or_default(),
            started_at_us: row.started_at_us.unwrap_or_default(),
            key: (self.keys.len() - 1) as u32,
            error,
            occurrence: row.occurrence,
            depth: row.depth,
            flags,
        });
        Ok(())
    }

    fn get(&self, (start, end): Text) -> &str {
        &self.text[start as usize..end as usize]
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.keys.clear();
        self.errors.clear();
        self.text.clear();
    }

    /// The rows as a record batch of the `samples` table.
    fn to_batch(&self, build_id: &mut BuildIdColumn) -> Result<RecordBatch, ArchiveError> {
        let rows = &self.rows;
        let has = |r: &PackedRow, flag: u8| r.flags & flag != 0;
        let error = |i: usize| -> ArrayRef {
            Arc::new(StringArray::from_iter(rows.iter().map(|r| {
                let texts = has(r, HAS_ERROR).then(|| self.errors[r.error as usize]);
                texts.and_then(|t| t[i]).map(|t| self.get(t))
            })))
        };
        let columns: Vec<ArrayRef> = vec![
            build_id.of_len(rows.len()),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| self.get(self.keys[r.key as usize])),
            )),
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.workload_index),
            )),
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.iteration),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| self.get(r.action)),
            )),
            Arc::new(UInt8Array::from_iter_values(rows.iter().map(|r| r.depth))),
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|r| r.occurrence),
            )),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.duration_s),
            )),
            Arc::new(Float64Array::from_iter(
                rows.iter()
                    .map(|r| has(r, HAS_IDLE).then_some(r.idle_duration_s)),
            )),
            timestamps(
                rows.iter()
                    .map(|r| has(r, HAS_START).then_some(r.started_at_us)),
            ),
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| has(r, FAILED)).collect::<Vec<_>>(),
            )),
            error(0),
            error(1),
            error(2),
        ];
        RecordBatch::try_new(samples_schema(), columns).map_err(|e| encode_error(e.to_string()))
    }
}

/// The `build_id` column: the same value in every row, so the array of a
/// full batch is made once and shared by every full batch.
struct BuildIdColumn {
    id: String,
    full: Option<ArrayRef>,
}

impl BuildIdColumn {
    fn new(build_id: &BuildId) -> Self {
        BuildIdColumn {
            id: build_id.to_string(),
            full: None,
        }
    }

    fn of_len(&mut self, len: usize) -> ArrayRef {
        let make = |len| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                self.id.as_str(),
                len,
            )))
        };
        match &self.full {
            Some(full) if full.len() == len => Arc::clone(full),
            _ if len == SAMPLE_BATCH_ROWS => {
                let full = make(len);
                self.full = Some(Arc::clone(&full));
                full
            }
            _ => make(len),
        }
    }
}

impl SampleBatcher {
    /// A batcher whose rows all belong to `build_id`, encoding on the
    /// caller's thread.
    pub fn new(build_id: &BuildId) -> Result<Self, ArchiveError> {
        Ok(Self::with_encoder(
            build_id,
            Encoder::Inline(Box::new(new_samples_writer()?)),
        ))
    }

    /// A batcher that hands each batch of rows to a thread of its own for
    /// Arrow, Parquet and zstd (a fifth of a large ingest's work), so the
    /// caller goes on parsing meanwhile. At most
    /// [`QUEUED_SAMPLE_BATCHES`] batches wait for that thread.
    pub fn with_encoding_thread(build_id: &BuildId) -> Result<Self, ArchiveError> {
        let mut build_id_column = BuildIdColumn::new(build_id);
        let mut writer = new_samples_writer()?;
        let (batches, queue) = sync_channel::<PackedRows>(QUEUED_SAMPLE_BATCHES);
        let (give_back, returned) = sync_channel::<PackedRows>(QUEUED_SAMPLE_BATCHES + 1);
        let thread = std::thread::Builder::new()
            .name("samples-parquet".into())
            .spawn(move || {
                for mut packed in queue {
                    writer.write(&packed.to_batch(&mut build_id_column)?)?;
                    packed.clear();
                    // Not wanted any more when the parser has finished.
                    let _ = give_back.try_send(packed);
                }
                writer.finish()
            })
            .map_err(|e| encode_error(format!("cannot start the encoding thread: {e}")))?;
        let thread = Some(thread);
        let mut batcher = Self::with_encoder(
            build_id,
            Encoder::Thread {
                batches,
                returned,
                thread,
            },
        );
        batcher.packed = PackedRows::with_capacity(SAMPLE_BATCH_ROWS);
        Ok(batcher)
    }

    fn with_encoder(build_id: &BuildId, encoder: Encoder) -> Self {
        Self {
            build_id: BuildIdColumn::new(build_id),
            encoder,
            rows: 0,
            packed: PackedRows::default(),
        }
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Hands the rows gathered so far to the encoder, so that an encoding
    /// thread can work on them while the caller does something else before
    /// [`finish`](Self::finish).
    pub fn send_pending(&mut self) -> Result<(), ArchiveError> {
        self.flush(false)
    }

    /// Hands the gathered rows to the encoder; `more` says whether more
    /// rows are expected (then a full-size buffer takes their place).
    fn flush(&mut self, more: bool) -> Result<(), ArchiveError> {
        if self.packed.rows.is_empty() {
            return Ok(());
        }
        match &mut self.encoder {
            Encoder::Inline(writer) => {
                writer.write(&self.packed.to_batch(&mut self.build_id)?)?;
                self.packed.clear();
                Ok(())
            }
            Encoder::Thread {
                batches,
                returned,
                thread,
            } => {
                let next = match returned.try_recv() {
                    Ok(emptied) => emptied,
                    Err(_) if more => PackedRows::with_capacity(SAMPLE_BATCH_ROWS),
                    Err(_) => PackedRows::default(),
                };
                match batches.send(std::mem::replace(&mut self.packed, next)) {
                    Ok(()) => Ok(()),
                    // The thread stopped at an error: that error.
                    Err(_) => Err(joined(thread.take())),
                }
            }
        }
    }

    /// Flushes the last rows and returns the Parquet file.
    pub fn finish(mut self) -> Result<Bytes, ArchiveError> {
        self.flush(false)?;
        match self.encoder {
            Encoder::Inline(writer) => writer.finish(),
            Encoder::Thread {
                batches, thread, ..
            } => {
                drop(batches);
                match thread.map(JoinHandle::join) {
                    Some(Ok(encoded)) => encoded,
                    _ => Err(encode_error("the encoding thread failed".into())),
                }
            }
        }
    }
}

/// The error that stopped an encoding thread.
fn joined(thread: Option<JoinHandle<Result<Bytes, ArchiveError>>>) -> ArchiveError {
    match thread.map(JoinHandle::join) {
        Some(Ok(Err(e))) => e,
        _ => encode_error("the encoding thread failed".into()),
    }
}

fn new_samples_writer() -> Result<TableWriter, ArchiveError> {
    TableWriter::new(Table::Samples, samples_schema())
}

fn encode_error(message: String) -> ArchiveError {
    ArchiveError::Encode {
        table: "samples",
        message,
    }
}

impl SampleSink for SampleBatcher {
    fn push(&mut self, row: &SampleRow<'_>) -> Result<(), SinkError> {
        self.packed.push(row)?;
        self.rows += 1;
        if self.packed.is_full() {
            self.flush(true).map_err(|e| SinkError(e.to_string()))?;
        }
        Ok(())
    }
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

fn string_lists<'a>(lists: impl Iterator<Item = &'a [String]>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for list in lists {
        for item in list {
            builder.values().append_value(item);
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn timestamps(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(values).with_timezone("UTC"))
}

/// The `workloads` table of one build as a Parquet file.
pub fn encode_workloads(
    build_id: &BuildId,
    workloads: &[WorkloadRecord],
) -> Result<Bytes, ArchiveError> {
    let w = workloads;
    let stat = |f: fn(&perfkit_schema::Summary) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter(
            w.iter().map(|r| r.duration.as_ref().map(f)),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        strings(w.iter().map(|_| Some(build_id.as_str()))),
        Arc::new(UInt32Array::from_iter_values(
            w.iter().map(|r| r.workload_index),
        )),
        strings(w.iter().map(|r| Some(r.workload_key.as_str()))),
        strings(w.iter().map(|r| Some(r.config_hash.as_str()))),
        Arc::new(UInt32Array::from_iter_values(
            w.iter().map(|r| r.task_index),
        )),
        strings(w.iter().map(|r| r.task_uuid.as_deref())),
        strings(w.iter().map(|r| r.task_status.as_deref())),
        Arc::new(UInt32Array::from_iter_values(
            w.iter().map(|r| r.subtask_index),
        )),
        strings(w.iter().map(|r| Some(r.subtask_title.as_str()))),
        Arc::new(UInt32Array::from_iter_values(w.iter().map(|r| r.position))),
        strings(w.iter().map(|r| Some(r.scenario.as_str()))),
        strings(w.iter().map(|r| Some(r.description.as_str()))),
        strings(w.iter().map(|r| Some(r.runner_type.as_str()))),
        Arc::new(UInt64Array::from_iter(w.iter().map(|r| r.runner_times))),
        Arc::new(UInt64Array::from_iter(
            w.iter().map(|r| r.runner_concurrency),
        )),
        strings(w.iter().map(|r| Some(r.runner_json.as_str()))),
        strings(w.iter().map(|r| Some(r.args_json.as_str()))),
        strings(w.iter().map(|r| Some(r.contexts_json.as_str()))),
        strings(w.iter().map(|r| Some(r.sla_json.as_str()))),
        strings(w.iter().map(|r| Some(r.hooks_json.as_str()))),
        timestamps(w.iter().map(|r| r.start_time_us)),
        Arc::new(Float64Array::from_iter(w.iter().map(|r| r.load_duration_s))),
        Arc::new(Float64Array::from_iter(w.iter().map(|r| r.full_duration_s))),
        Arc::new(UInt64Array::from_iter_values(
            w.iter().map(|r| r.iterations),
        )),
        Arc::new(UInt64Array::from_iter_values(
            w.iter().map(|r| r.failed_iterations),
        )),
        Arc::new(BooleanArray::from_iter(w.iter().map(|r| Some(r.pass_sla)))),
        strings(w.iter().map(|r| Some(r.sla_results_json.as_str()))),
        string_lists(w.iter().map(|r| r.sla_failed.as_slice())),
        strings(w.iter().map(|r| r.context_error.as_deref())),
        Arc::new(UInt32Array::from_iter_values(
            w.iter().map(|r| r.hooks_failed),
        )),
        stat(|s| s.min),
        stat(|s| s.median),
        stat(|s| s.p90),
        stat(|s| s.p95),
        stat(|s| s.max),
        stat(|s| s.mean),
        strings(w.iter().map(|r| r.details_json.as_deref())),
    ];
    let batch =
        RecordBatch::try_new(workloads_schema(), columns).map_err(|e| ArchiveError::Encode {
            table: "workloads",
            message: e.to_string(),
        })?;
    encode(Table::Workloads, &batch)
}

/// The `builds` table of one build (one row) as a Parquet file.
pub fn encode_build(build: &BuildRecord) -> Result<Bytes, ArchiveError> {
    encode_builds(std::slice::from_ref(build))
}

/// A `builds` table of several builds (the local build cache).
pub fn encode_builds(builds: &[BuildRecord]) -> Result<Bytes, ArchiveError> {
    let batch = RecordBatch::try_new(builds_schema(), build_columns(builds)).map_err(|e| {
        ArchiveError::Encode {
            table: "builds",
            message: e.to_string(),
        }
    })?;
    encode(Table::Builds, &batch)
}

/// Where a build's committed objects are: attempt `attempt` of layout v2,
/// whose data objects carry `token` in their names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Commit {
    pub attempt: u32,
    pub token: String,
}

/// A build's row as a v2 `builds` object and the project index hold it:
/// the record and its commit (`None`: a build of layout v1, indexed by
/// `perfkit repair`).
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedRow {
    pub record: BuildRecord,
    pub commit: Option<Commit>,
}

/// A build's version: which committed attempt it is (v2 objects never
/// change), or for v1 its row's digest and ingest time. A rewritten build
/// has a new one.
pub fn row_version(row: &CommittedRow) -> String {
    match &row.commit {
        Some(c) => format!("a{}-{}", c.attempt, c.token),
        None => format!(
            "v1-{}-{}",
            row.record.ingested_at_us, row.record.source_sha256
        ),
    }
}

/// Committed rows as one Parquet file (a v2 `builds` object holds one, an
/// index segment many).
pub fn encode_committed(rows: &[CommittedRow]) -> Result<Bytes, ArchiveError> {
    encode_committed_with(rows, Vec::new())
}

/// Like [`encode_committed`], with more key-value metadata in the footer.
pub fn encode_committed_with(
    rows: &[CommittedRow],
    metadata: Vec<(String, String)>,
) -> Result<Bytes, ArchiveError> {
    let records: Vec<BuildRecord> = rows.iter().map(|r| r.record.clone()).collect();
    let mut columns = build_columns(&records);
    columns.push(Arc::new(UInt64Array::from_iter_values(
        rows.iter().map(|r| r.record.key.change),
    )));
    columns.push(Arc::new(UInt32Array::from_iter_values(
        rows.iter().map(|r| r.record.key.patchset),
    )));
    columns.push(Arc::new(UInt32Array::from_iter(
        rows.iter().map(|r| r.commit.as_ref().map(|c| c.attempt)),
    )));
    columns.push(strings(
        rows.iter()
            .map(|r| r.commit.as_ref().map(|c| c.token.as_str())),
    ));
    let batch = RecordBatch::try_new(committed_builds_schema(), columns).map_err(|e| {
        ArchiveError::Encode {
            table: "builds",
            message: e.to_string(),
        }
    })?;
    let mut writer = TableWriter::with_metadata(Table::Builds, batch.schema(), metadata)?;
    writer.write(&batch)?;
    writer.finish()
}

/// Reads committed rows back; `name` names the object in errors. Each
/// row's key is its own (`archive_change`, `archive_patchset`), checked
/// against its `builds` columns as [`decode_builds`] checks a path.
pub fn decode_committed(
    name: &ArchiveKey,
    batches: &[RecordBatch],
) -> Result<Vec<CommittedRow>, ArchiveError> {
    let records = decode_build_rows(name, batches)?;
    let mut out = Vec::with_capacity(records.len());
    let mut row_iter = records.into_iter();
    for batch in batches {
        let col = Columns {
            batch,
            key: name,
            table: Table::Builds,
        };
        let attempts = col.u32("attempt")?;
        let tokens = col.string("token")?;
        for row in 0..batch.num_rows() {
            let Some(record) = row_iter.next() else { break };
            let commit = commit_at(&col, &attempts, &tokens, row)?;
            check_row_matches_path(&record.key, &record)?;
            out.push(CommittedRow { record, commit });
        }
    }
    Ok(out)
}

/// The columns [`decode_light_rows`] reads: what choosing a baseline needs.
pub const LIGHT_COLUMNS: [&str; 17] = [
    "build_id",
    "gerrit_project",
    "gerrit_change",
    "gerrit_patchset",
    "archive_change",
    "archive_patchset",
    "attempt",
    "token",
    "job",
    "branch",
    "pipeline",
    "node_provider",
    "zuul_result",
    "zuul_buildset_result",
    "source_format",
    "started_at",
    "ingested_at",
];

/// Committed rows read from [`LIGHT_COLUMNS`] only (the rest default, and
/// empty): enough to choose a baseline, not to report on a
/// build. Decoding a project's index this way costs a tenth of the memory
/// of whole rows.
pub fn decode_light_rows(
    name: &ArchiveKey,
    batches: &[RecordBatch],
) -> Result<Vec<CommittedRow>, ArchiveError> {
    let mut out = Vec::new();
    for batch in batches {
        let col = Columns {
            batch,
            key: name,
            table: Table::Builds,
        };
        let project = col.string("gerrit_project")?;
        let build_id = col.string("build_id")?;
        let change = col.u64("gerrit_change")?;
        let patchset = col.u32("gerrit_patchset")?;
        let archive_change = col.u64("archive_change")?;
        let archive_patchset = col.u32("archive_patchset")?;
        let attempts = col.u32("attempt")?;
        let tokens = col.string("token")?;
        let source_format = col.string("source_format")?;
        let started = col.ts("started_at")?;
        let ingested = col.ts("ingested_at")?;
        let optional = |name: &str| col.optional_string(name);
        let texts = [
            optional("job")?,
            optional("branch")?,
            optional("pipeline")?,
            optional("node_provider")?,
            optional("zuul_result")?,
            optional("zuul_buildset_result")?,
        ];
        for row in 0..batch.num_rows() {
            let text = |a: &Option<StringArray>| {
                a.as_ref()
                    .filter(|a| !a.is_null(row))
                    .map(|a| a.value(row).to_string())
            };
            let [
                job,
                branch,
                pipeline,
                node_provider,
                zuul_result,
                zuul_buildset_result,
            ] = texts.each_ref().map(text);
            let key = ArchiveKey {
                project: ProjectName::try_from(project.value(row)).map_err(|e| col.bad(e))?,
                change: archive_change.value(row),
                patchset: archive_patchset.value(row),
                build: BuildId::try_from(build_id.value(row)).map_err(|e| col.bad(e))?,
            };
            let meta = BuildMeta {
                change: (!change.is_null(row)).then(|| change.value(row)),
                patchset: (!patchset.is_null(row)).then(|| patchset.value(row)),
                job,
                branch,
                pipeline,
                node_provider,
                zuul_result,
                zuul_buildset_result,
                ..BuildMeta::default()
            };
            let record = BuildRecord {
                started_at_us: started
                    .as_ref()
                    .filter(|a| !a.is_null(row))
                    .map(|a| a.value(row)),
                ingested_at_us: ingested.as_ref().map_or(0, |a| a.value(row)),
                ..BuildRecord::nothing_measured(key, meta, source_format.value(row).to_string())
            };
            check_row_matches_path(&record.key, &record)?;
            let commit = commit_at(&col, &attempts, &tokens, row)?;
            out.push(CommittedRow { record, commit });
        }
    }
    Ok(out)
}

/// The commit a committed row names (`None`: a v1 build), or an error
/// when only one of attempt and token is there, or the token is malformed.
fn commit_at(
    col: &Columns<'_>,
    attempts: &UInt32Array,
    tokens: &StringArray,
    row: usize,
) -> Result<Option<Commit>, ArchiveError> {
    match (attempts.is_null(row), tokens.is_null(row)) {
        (true, true) => Ok(None),
        (false, false) if perfkit_schema::key::is_token(tokens.value(row)) => Ok(Some(Commit {
            attempt: attempts.value(row),
            token: tokens.value(row).to_string(),
        })),
        _ => Err(col.bad(format!("row {row} has a malformed attempt or token"))),
    }
}

/// The `builds` columns of `builds`, in [`builds_schema`]'s order.
fn build_columns(builds: &[BuildRecord]) -> Vec<ArrayRef> {
    let b = builds;
    let text = |f: fn(&BuildRecord) -> Option<&str>| strings(b.iter().map(f));
    // `project=sha` items, sorted by project.
    let required: Vec<Vec<String>> = b
        .iter()
        .map(|r| {
            r.meta
                .required_commits
                .iter()
                .map(|(p, sha)| format!("{p}={sha}"))
                .collect()
        })
        .collect();
    let columns: Vec<ArrayRef> = vec![
        text(|r| Some(r.key.build.as_str())),
        text(|r| Some(r.key.project.as_str())),
        Arc::new(UInt64Array::from_iter(b.iter().map(|r| r.meta.change))),
        Arc::new(UInt32Array::from_iter(b.iter().map(|r| r.meta.patchset))),
        text(|r| r.meta.git_ref.as_deref()),
        text(|r| r.meta.newrev.as_deref()),
        text(|r| r.meta.branch.as_deref()),
        text(|r| r.meta.tag.as_deref()),
        text(|r| r.meta.pipeline.as_deref()),
        text(|r| r.meta.job.as_deref()),
        text(|r| r.meta.zuul_build.as_deref()),
        text(|r| r.meta.buildset.as_deref()),
        text(|r| r.meta.tenant.as_deref()),
        text(|r| r.meta.change_url.as_deref()),
        text(|r| r.meta.log_url.as_deref()),
        text(|r| r.meta.node_provider.as_deref()),
        text(|r| r.meta.node_label.as_deref()),
        text(|r| Some(&r.source_format)),
        text(|r| r.source_format_version.as_deref()),
        text(|r| r.tool_version.as_deref()),
        text(|r| Some(&r.source_file)),
        text(|r| Some(&r.source_sha256)),
        Arc::new(UInt64Array::from_iter_values(
            b.iter().map(|r| r.source_bytes),
        )),
        Arc::new(UInt32Array::from_iter_values(
            b.iter().map(|r| r.task_count),
        )),
        string_lists(b.iter().map(|r| r.task_statuses.as_slice())),
        Arc::new(UInt32Array::from_iter_values(
            b.iter().map(|r| r.workload_count),
        )),
        Arc::new(UInt64Array::from_iter_values(
            b.iter().map(|r| r.iteration_count),
        )),
        Arc::new(UInt64Array::from_iter_values(
            b.iter().map(|r| r.failed_iteration_count),
        )),
        Arc::new(BooleanArray::from_iter(b.iter().map(|r| Some(r.pass_sla)))),
        timestamps(b.iter().map(|r| r.started_at_us)),
        timestamps(b.iter().map(|r| r.finished_at_us)),
        timestamps(b.iter().map(|r| Some(r.ingested_at_us))),
        text(|r| Some(&r.perfkit_version)),
        text(|r| r.meta.zuul_result.as_deref()),
        text(|r| r.meta.zuul_buildset_result.as_deref()),
        text(|r| r.meta.commit.as_deref()),
        string_lists(required.iter().map(Vec::as_slice)),
        text(|r| r.failure.as_deref()),
    ];
    columns
}

/// Reads the `builds` object at `key` back into its record(s): each row
/// must describe the build `key` names ([`check_row_matches_path`]).
pub fn decode_builds(
    key: &ArchiveKey,
    batches: &[RecordBatch],
) -> Result<Vec<BuildRecord>, ArchiveError> {
    let records = decode_build_rows(key, batches)?;
    for record in &records {
        check_row_matches_path(key, record)?;
    }
    Ok(records)
}

/// Reads `builds` rows of any builds (e.g. the build cache's segments,
/// which hold many): change and patchset are `key`'s, which only names the
/// object in errors; no row is checked against it.
pub fn decode_build_rows(
    key: &ArchiveKey,
    batches: &[RecordBatch],
) -> Result<Vec<BuildRecord>, ArchiveError> {
    let mut out = Vec::new();
    for batch in batches {
        let col = Columns {
            batch,
            key,
            table: Table::Builds,
        };
        let project = col.string("gerrit_project")?;
        let build_id = col.string("build_id")?;
        let change = col.u64("gerrit_change")?;
        let patchset = col.u32("gerrit_patchset")?;
        // Committed rows name their own key; other rows take `key`'s.
        let archive_change = col.optional_column::<UInt64Array>("archive_change")?;
        let archive_patchset = col.optional_column::<UInt32Array>("archive_patchset")?;
        let statuses = col.list("task_statuses")?;
        let required = match batch.column_by_name("required_commits") {
            Some(_) => Some(col.list("required_commits")?),
            None => None,
        };
        for row in 0..batch.num_rows() {
            let text = |a: &StringArray| (!a.is_null(row)).then(|| a.value(row).to_string());
            let opt = |name: &str| col.string(name).map(|a| text(&a));
            let record = BuildRecord {
                key: ArchiveKey {
                    project: ProjectName::try_from(project.value(row)).map_err(|e| col.bad(e))?,
                    change: archive_change.as_ref().map_or(key.change, |a| a.value(row)),
                    patchset: archive_patchset
                        .as_ref()
                        .map_or(key.patchset, |a| a.value(row)),
                    build: BuildId::try_from(build_id.value(row)).map_err(|e| col.bad(e))?,
                },
                meta: BuildMeta {
                    change: (!change.is_null(row)).then(|| change.value(row)),
                    patchset: (!patchset.is_null(row)).then(|| patchset.value(row)),
                    git_ref: opt("ref")?,
                    newrev: opt("newrev")?,
                    branch: opt("branch")?,
                    tag: opt("tag")?,
                    pipeline: opt("pipeline")?,
                    job: opt("job")?,
                    zuul_build: opt("zuul_build")?,
                    buildset: opt("buildset")?,
                    tenant: opt("tenant")?,
                    change_url: opt("change_url")?,
                    log_url: opt("log_url")?,
                    node_provider: opt("node_provider")?,
                    node_label: opt("node_label")?,
                    // Absent from files written before the column existed.
                    zuul_result: match batch.column_by_name("zuul_result") {
                        Some(_) => opt("zuul_result")?,
                        None => None,
                    },
                    zuul_buildset_result: match batch.column_by_name("zuul_buildset_result") {
                        Some(_) => opt("zuul_buildset_result")?,
                        None => None,
                    },
                    commit: match batch.column_by_name("commit") {
                        Some(_) => opt("commit")?,
                        None => None,
                    },
                    required_commits: match &required {
                        Some(list) if !list.is_null(row) => list_values(list, row)
                            .iter()
                            .filter_map(|item| item.split_once('='))
                            .map(|(p, sha)| (p.to_string(), sha.to_string()))
                            .collect(),
                        _ => Default::default(),
                    },
                },
                source_format: opt("source_format")?.unwrap_or_default(),
                source_format_version: opt("source_format_version")?,
                tool_version: opt("tool_version")?,
                source_file: opt("source_file")?.unwrap_or_default(),
                source_sha256: opt("source_sha256")?.unwrap_or_default(),
                source_bytes: col.u64("source_bytes")?.value(row),
                task_count: col.u32("task_count")?.value(row),
                task_statuses: list_values(&statuses, row),
                workload_count: col.u32("workload_count")?.value(row),
                iteration_count: col.u64("iteration_count")?.value(row),
                failed_iteration_count: col.u64("failed_iteration_count")?.value(row),
                pass_sla: col.bool("pass_sla")?.value(row),
                started_at_us: col
                    .ts("started_at")?
                    .map(|a| a.value(row))
                    .filter(|_| !col.null("started_at", row)),
                finished_at_us: col
                    .ts("finished_at")?
                    .map(|a| a.value(row))
                    .filter(|_| !col.null("finished_at", row)),
                ingested_at_us: col
                    .ts("ingested_at")?
                    .map(|a| a.value(row))
                    .unwrap_or_default(),
                perfkit_version: opt("perfkit_version")?.unwrap_or_default(),
                // Absent from files written before the column existed.
                failure: match batch.column_by_name("failure") {
                    Some(_) => opt("failure")?,
                    None => None,
                },
            };
            out.push(record);
        }
    }
    Ok(out)
}

/// A `builds` row must describe the build its path names: project and build
/// id come from the row, change and patchset from the path, so a row put
/// under another build's key (copied by hand, or forged by a credential
/// that may write there) would otherwise be read as that build.
fn check_row_matches_path(key: &ArchiveKey, record: &BuildRecord) -> Result<(), ArchiveError> {
    let row = (
        record.key.project.as_str(),
        record.key.build.as_str(),
        record.meta.change.unwrap_or(0),
        record.meta.patchset.unwrap_or(0),
    );
    let path = (
        key.project.as_str(),
        key.build.as_str(),
        key.change,
        key.patchset,
    );
    if row == path {
        return Ok(());
    }
    Err(ArchiveError::Decode {
        key: key.parts(Table::Builds).join("/"),
        message: format!(
            "its row describes project {} build {} change {} patchset {}, but its path names project {} build {} change {} patchset {}; the build is skipped (was the object copied or written under another build's key?)",
            row.0, row.1, row.2, row.3, path.0, path.1, path.2, path.3
        ),
    })
}

fn list_values(list: &ListArray, row: usize) -> Vec<String> {
    let values = list.value(row);
    let Some(items) = values.as_any().downcast_ref::<StringArray>() else {
        return Vec::new();
    };
    items.iter().flatten().map(str::to_string).collect()
}

/// Typed access to a decoded batch's columns, with errors naming the key.
pub(crate) struct Columns<'a> {
    pub(crate) batch: &'a RecordBatch,
    pub(crate) key: &'a ArchiveKey,
    pub(crate) table: Table,
}

impl Columns<'_> {
    pub(crate) fn bad(&self, e: impl std::fmt::Display) -> ArchiveError {
        ArchiveError::Decode {
            key: self.key.parts(self.table).join("/"),
            message: e.to_string(),
        }
    }

    pub(crate) fn column<T: Clone + 'static>(&self, name: &str) -> Result<T, ArchiveError> {
        self.batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<T>().cloned())
            .ok_or_else(|| self.bad(format!("column `{name}` is missing or has another type")))
    }

    pub(crate) fn null(&self, name: &str, row: usize) -> bool {
        self.batch
            .column_by_name(name)
            .is_none_or(|c| c.is_null(row))
    }

    pub(crate) fn string(&self, name: &str) -> Result<StringArray, ArchiveError> {
        self.column(name)
    }
    pub(crate) fn u64(&self, name: &str) -> Result<UInt64Array, ArchiveError> {
        self.column(name)
    }
    pub(crate) fn u32(&self, name: &str) -> Result<UInt32Array, ArchiveError> {
        self.column(name)
    }
    pub(crate) fn bool(&self, name: &str) -> Result<BooleanArray, ArchiveError> {
        self.column(name)
    }
    pub(crate) fn list(&self, name: &str) -> Result<ListArray, ArchiveError> {
        self.column(name)
    }
    /// A column added after v1 shipped: `None` in files written before it.
    pub(crate) fn optional_column<T: Clone + 'static>(
        &self,
        name: &str,
    ) -> Result<Option<T>, ArchiveError> {
        match self.batch.column_by_name(name) {
            Some(_) => self.column(name).map(Some),
            None => Ok(None),
        }
    }
    pub(crate) fn optional_string(&self, name: &str) -> Result<Option<StringArray>, ArchiveError> {
        self.optional_column(name)
    }
    pub(crate) fn ts(&self, name: &str) -> Result<Option<TimestampMicrosecondArray>, ArchiveError> {
        Ok(self.batch.column_by_name(name).and_then(|c| {
            c.as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .cloned()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows over several batches: failed ones with errors, several
    /// workloads, optional values missing now and then.
    fn push_rows(sink: &mut SampleBatcher, count: u32) {
        let keys = ["job/a#0/0/Dummy.dummy", "job/b#0/1/Dummy.failure"];
        for i in 0..count {
            let failed = i % 7 == 0;
            let message = format!("boom {i}");
            sink.push(&SampleRow {
                workload_key: keys[(i / 1000 % 2) as usize],
                workload_index: i / 1000,
                iteration: i,
                action: if i % 3 == 0 { "total" } else { "foo > bar" },
                depth: (i % 3) as u8,
                occurrence: (i % 2) as u16,
                duration_s: f64::from(i) / 8.0,
                idle_duration_s: (i % 5 != 0).then_some(0.5),
                started_at_us: (i % 11 != 0).then_some(i64::from(i) * 1000),
                failed,
                error_type: failed.then_some("KeyError"),
                error_message: failed.then_some(message.as_str()),
                error_traceback: failed.then_some("Traceback..."),
            })
            .unwrap();
        }
    }

    #[test]
    fn the_encoding_thread_writes_what_the_caller_would() {
        let id = BuildId::try_from("b1").unwrap();
        let rows = 2 * SAMPLE_BATCH_ROWS as u32 + 123;
        let mut inline = SampleBatcher::new(&id).unwrap();
        let mut threaded = SampleBatcher::with_encoding_thread(&id).unwrap();
        push_rows(&mut inline, rows);
        push_rows(&mut threaded, rows);
        assert_eq!(threaded.rows(), u64::from(rows));
        let (inline, threaded) = (inline.finish().unwrap(), threaded.finish().unwrap());
        assert_eq!(inline, threaded);
        let batches = crate::parquet_file::decode("samples", threaded).unwrap();
        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(total, rows as usize);
        let batch = &arrow::compute::concat_batches(&samples_schema(), &batches).unwrap();
        let text = |name: &str, row: usize| {
            let column = batch.column_by_name(name).unwrap();
            let strings = column.as_any().downcast_ref::<StringArray>().unwrap();
            (!strings.is_null(row)).then(|| strings.value(row).to_string())
        };
        assert_eq!(text("build_id", 5).as_deref(), Some("b1"));
        assert_eq!(
            text("workload_key", 1500).as_deref(),
            Some("job/b#0/1/Dummy.failure")
        );
        assert_eq!(text("error_message", 7).as_deref(), Some("boom 7"));
        assert_eq!(text("error_message", 8), None);
        assert!(batch.column_by_name("idle_duration_s").unwrap().is_null(5));
    }
}
