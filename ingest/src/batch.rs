//! Arrow record batches for the three archive tables. Samples arrive as a
//! stream ([`SampleBatcher`] is a [`SampleSink`]) and are flushed to the
//! Parquet writer every [`SAMPLE_BATCH_ROWS`] rows, so memory stays bounded
//! whatever the size of the Rally report. Workloads and builds are few and
//! built from records in one go.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, BooleanArray, BooleanBuilder, Float64Array, Float64Builder,
    ListArray, ListBuilder, StringArray, StringBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder, UInt32Array, UInt32Builder,
    UInt64Array,
};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use perfkit_schema::records::BuildMeta;
use perfkit_schema::tables::{builds_schema, samples_schema, workloads_schema};
use perfkit_schema::{
    ArchiveKey, BuildId, BuildRecord, ProjectName, SampleRow, Table, WorkloadRecord,
};

use crate::IngestError;
use crate::normalize::{SampleSink, SinkError};
use crate::parquet_file::{TableWriter, encode};

/// Rows buffered in Arrow builders before they are handed to Parquet.
pub const SAMPLE_BATCH_ROWS: usize = 64 * 1024;

fn ts_builder(capacity: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC")
}

/// Turns streamed samples into a Parquet file of the `samples` table.
pub struct SampleBatcher {
    build_id: String,
    writer: TableWriter,
    rows: u64,
    workload_key: StringBuilder,
    workload_index: UInt32Builder,
    iteration: UInt32Builder,
    action: StringBuilder,
    depth: UInt8Builder,
    occurrence: UInt16Builder,
    duration_s: Float64Builder,
    idle_duration_s: Float64Builder,
    started_at: TimestampMicrosecondBuilder,
    failed: BooleanBuilder,
    error_type: StringBuilder,
    error_message: StringBuilder,
    error_traceback: StringBuilder,
}

impl SampleBatcher {
    /// A batcher whose rows all belong to `build_id`.
    pub fn new(build_id: &BuildId) -> Result<Self, IngestError> {
        let n = SAMPLE_BATCH_ROWS;
        Ok(Self {
            build_id: build_id.to_string(),
            writer: TableWriter::new(Table::Samples, samples_schema())?,
            rows: 0,
            workload_key: StringBuilder::with_capacity(n, n * 16),
            workload_index: UInt32Builder::with_capacity(n),
            iteration: UInt32Builder::with_capacity(n),
            action: StringBuilder::with_capacity(n, n * 24),
            depth: UInt8Builder::with_capacity(n),
            occurrence: UInt16Builder::with_capacity(n),
            duration_s: Float64Builder::with_capacity(n),
            idle_duration_s: Float64Builder::with_capacity(n),
            started_at: ts_builder(n),
            failed: BooleanBuilder::with_capacity(n),
            error_type: StringBuilder::new(),
            error_message: StringBuilder::new(),
            error_traceback: StringBuilder::new(),
        })
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn flush(&mut self) -> Result<(), IngestError> {
        let len = self.workload_key.len();
        if len == 0 {
            return Ok(());
        }
        let build_id: ArrayRef = Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            self.build_id.as_str(),
            len,
        )));
        let columns: Vec<ArrayRef> = vec![
            build_id,
            Arc::new(self.workload_key.finish()),
            Arc::new(self.workload_index.finish()),
            Arc::new(self.iteration.finish()),
            Arc::new(self.action.finish()),
            Arc::new(self.depth.finish()),
            Arc::new(self.occurrence.finish()),
            Arc::new(self.duration_s.finish()),
            Arc::new(self.idle_duration_s.finish()),
            Arc::new(self.started_at.finish()),
            Arc::new(self.failed.finish()),
            Arc::new(self.error_type.finish()),
            Arc::new(self.error_message.finish()),
            Arc::new(self.error_traceback.finish()),
        ];
        let batch =
            RecordBatch::try_new(samples_schema(), columns).map_err(|e| IngestError::Encode {
                table: "samples",
                message: e.to_string(),
            })?;
        self.writer.write(&batch)
    }

    /// Flushes the last rows and returns the Parquet file.
    pub fn finish(mut self) -> Result<Bytes, IngestError> {
        self.flush()?;
        self.writer.finish()
    }
}

impl SampleSink for SampleBatcher {
    fn push(&mut self, row: &SampleRow<'_>) -> Result<(), SinkError> {
        self.workload_key.append_value(row.workload_key);
        self.workload_index.append_value(row.workload_index);
        self.iteration.append_value(row.iteration);
        self.action.append_value(row.action);
        self.depth.append_value(row.depth);
        self.occurrence.append_value(row.occurrence);
        self.duration_s.append_value(row.duration_s);
        self.idle_duration_s.append_option(row.idle_duration_s);
        self.started_at.append_option(row.started_at_us);
        self.failed.append_value(row.failed);
        self.error_type.append_option(row.error_type);
        self.error_message.append_option(row.error_message);
        self.error_traceback.append_option(row.error_traceback);
        self.rows += 1;
        if self.workload_key.len() >= SAMPLE_BATCH_ROWS {
            self.flush().map_err(|e| SinkError(e.to_string()))?;
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
) -> Result<Bytes, IngestError> {
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
        RecordBatch::try_new(workloads_schema(), columns).map_err(|e| IngestError::Encode {
            table: "workloads",
            message: e.to_string(),
        })?;
    encode(Table::Workloads, &batch)
}

/// The `builds` table of one build (one row) as a Parquet file.
pub fn encode_build(build: &BuildRecord) -> Result<Bytes, IngestError> {
    encode_builds(std::slice::from_ref(build))
}

/// A `builds` table of several builds (the local build cache).
pub fn encode_builds(builds: &[BuildRecord]) -> Result<Bytes, IngestError> {
    let b = builds;
    let text = |f: fn(&BuildRecord) -> Option<&str>| strings(b.iter().map(f));
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
    ];
    let batch =
        RecordBatch::try_new(builds_schema(), columns).map_err(|e| IngestError::Encode {
            table: "builds",
            message: e.to_string(),
        })?;
    encode(Table::Builds, &batch)
}

/// Reads a `builds` file back into records (the key's project is the truth
/// for the partition; the file's `gerrit_project` must agree).
pub fn decode_builds(
    key: &ArchiveKey,
    batches: &[RecordBatch],
) -> Result<Vec<BuildRecord>, IngestError> {
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
        let statuses = col.list("task_statuses")?;
        for row in 0..batch.num_rows() {
            let text = |a: &StringArray| (!a.is_null(row)).then(|| a.value(row).to_string());
            let opt = |name: &str| col.string(name).map(|a| text(&a));
            let record = BuildRecord {
                key: ArchiveKey {
                    project: ProjectName::try_from(project.value(row)).map_err(|e| col.bad(e))?,
                    change: key.change,
                    patchset: key.patchset,
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
            };
            out.push(record);
        }
    }
    Ok(out)
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
    pub(crate) fn bad(&self, e: impl std::fmt::Display) -> IngestError {
        IngestError::Decode {
            key: self.key.parts(self.table).join("/"),
            message: e.to_string(),
        }
    }

    pub(crate) fn column<T: Clone + 'static>(&self, name: &str) -> Result<T, IngestError> {
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

    pub(crate) fn string(&self, name: &str) -> Result<StringArray, IngestError> {
        self.column(name)
    }
    pub(crate) fn u64(&self, name: &str) -> Result<UInt64Array, IngestError> {
        self.column(name)
    }
    pub(crate) fn u32(&self, name: &str) -> Result<UInt32Array, IngestError> {
        self.column(name)
    }
    pub(crate) fn bool(&self, name: &str) -> Result<BooleanArray, IngestError> {
        self.column(name)
    }
    pub(crate) fn list(&self, name: &str) -> Result<ListArray, IngestError> {
        self.column(name)
    }
    /// A column added after v1 shipped: `None` in files written before it.
    pub(crate) fn optional_column<T: Clone + 'static>(
        &self,
        name: &str,
    ) -> Result<Option<T>, IngestError> {
        match self.batch.column_by_name(name) {
            Some(_) => self.column(name).map(Some),
            None => Ok(None),
        }
    }
    pub(crate) fn optional_string(&self, name: &str) -> Result<Option<StringArray>, IngestError> {
        self.optional_column(name)
    }
    pub(crate) fn ts(&self, name: &str) -> Result<Option<TimestampMicrosecondArray>, IngestError> {
        Ok(self.batch.column_by_name(name).and_then(|c| {
            c.as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .cloned()
        }))
    }
}
