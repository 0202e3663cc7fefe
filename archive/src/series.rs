//! The `series` table: per build, one row per workload and action with the
//! durations of its successful samples (`docs/ARCHITECTURE.md`,
//! "The archive": a compact summary that can be rebuilt from the raw tables).
//! Ingest fills a [`SeriesCollector`] from the same sample stream that feeds
//! the `samples` encoder; [`rebuild`] makes the same rows from an archived
//! build's `samples` and `workloads` objects, for builds archived before the
//! table existed.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Float64Builder, ListArray, ListBuilder,
    StringArray, TimestampMicrosecondArray, UInt8Array, UInt32Array, UInt64Array,
};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use perfkit_schema::records::{Phase, SECONDS, SeriesRow, UpgradeWindow};
use perfkit_schema::tables::series_schema;
use perfkit_schema::{ArchiveKey, BuildId, SampleRow, Summary, Table, WorkloadRecord};

use crate::ArchiveError;
use crate::batch::Columns;
use crate::parquet_file::encode;
use crate::sink::{SampleSink, SinkError};

/// One action's samples while a build streams by.
#[derive(Debug, Default)]
struct Accumulated {
    action: String,
    depth: u8,
    samples: u64,
    failed: u64,
    durations_s: Vec<f64>,
}

/// What a Rally `total`'s throughput counts.
pub const RALLY_RATE_UNIT: &str = "iterations/s";

/// Gathers series rows from the sample stream: per workload, the actions in
/// order of first appearance (`total` first, as parsers emit it).
#[derive(Debug, Default)]
pub struct SeriesCollector {
    workloads: Vec<Actions>,
}

/// One workload's actions, in order of first appearance.
#[derive(Debug, Default)]
struct Actions {
    list: Vec<Accumulated>,
    /// Action → its place in `list`, kept once `list` outgrows [`SCANNED`].
    index: HashMap<String, usize>,
}

/// Workloads have a handful of actions, found faster by a scan than by
/// hashing; past this many a crafted report could make the scan quadratic.
const SCANNED: usize = 16;

impl Actions {
    fn slot(&mut self, action: &str, depth: u8) -> &mut Accumulated {
        let found = if self.list.len() <= SCANNED {
            self.list.iter().position(|a| a.action == action)
        } else {
            self.index.get(action).copied()
        };
        let at = match found {
            Some(at) => at,
            None => {
                self.list.push(Accumulated {
                    action: action.to_string(),
                    depth,
                    ..Accumulated::default()
                });
                let at = self.list.len() - 1;
                if self.list.len() > SCANNED {
                    if self.index.is_empty() {
                        let all = self.list.iter().enumerate();
                        self.index = all.map(|(i, a)| (a.action.clone(), i)).collect();
                    } else {
                        self.index.insert(action.to_string(), at);
                    }
                }
                at
            }
        };
        &mut self.list[at]
    }
}

impl SeriesCollector {
    /// Takes one sample (a duplicate of [`SampleSink::push`] that cannot fail).
    pub fn add(
        &mut self,
        workload_index: u32,
        action: &str,
        depth: u8,
        duration: f64,
        failed: bool,
    ) {
        let index = workload_index as usize;
        if self.workloads.len() <= index {
            self.workloads.resize_with(index + 1, Actions::default);
        }
        let slot = self.workloads[index].slot(action, depth);
        slot.samples += 1;
        if failed {
            slot.failed += 1;
        } else if duration.is_finite() {
            slot.durations_s.push(duration);
        }
    }

    /// The rows of every workload: its actions, and a `total` row even when
    /// no iteration ran (a context that failed still shows in the history).
    pub fn into_rows(mut self, workloads: &[WorkloadRecord]) -> Vec<SeriesRow> {
        let mut rows = Vec::new();
        for w in workloads {
            let mut actions = self
                .workloads
                .get_mut(w.workload_index as usize)
                .map(|a| std::mem::take(&mut a.list))
                .unwrap_or_default();
            if !actions.iter().any(|a| a.action == "total") {
                actions.insert(
                    0,
                    Accumulated {
                        action: "total".into(),
                        ..Accumulated::default()
                    },
                );
            }
            for a in actions {
                let total = a.action == "total";
                rows.push(SeriesRow {
                    workload_key: w.workload_key.clone(),
                    workload_index: w.workload_index,
                    config_hash: w.config_hash.clone(),
                    scenario: w.scenario.clone(),
                    subtask_title: w.subtask_title.clone(),
                    action: a.action,
                    depth: a.depth,
                    samples: a.samples,
                    failed: a.failed,
                    durations_s: a.durations_s,
                    load_duration_s: if total { w.load_duration_s } else { None },
                    pass_sla: w.pass_sla,
                    rate_unit: if total { RALLY_RATE_UNIT } else { "" }.to_string(),
                    ..SeriesRow::default()
                });
            }
        }
        rows
    }
}

impl SampleSink for SeriesCollector {
    fn push(&mut self, row: &SampleRow<'_>) -> Result<(), SinkError> {
        self.add(
            row.workload_index,
            row.action,
            row.depth,
            row.duration_s,
            row.failed,
        );
        Ok(())
    }
}

/// Feeds every sample to two sinks (the `samples` encoder and the collector).
pub struct Tee<'a, A, B>(pub &'a mut A, pub &'a mut B);

impl<A: SampleSink, B: SampleSink> SampleSink for Tee<'_, A, B> {
    fn push(&mut self, row: &SampleRow<'_>) -> Result<(), SinkError> {
        self.0.push(row)?;
        self.1.push(row)
    }
}

/// The `series` table of one build as a Parquet file.
pub fn encode_series(build_id: &BuildId, rows: &[SeriesRow]) -> Result<Bytes, ArchiveError> {
    let tagged: Vec<(&str, &SeriesRow)> = rows.iter().map(|r| (build_id.as_str(), r)).collect();
    encode_series_rows(&tagged)
}

/// A `series` table of rows from several builds, each with its id in the
/// `build_id` column (the local build cache keeps whole projects so).
pub fn encode_series_rows(rows: &[(&str, &SeriesRow)]) -> Result<Bytes, ArchiveError> {
    let text = |f: fn(&SeriesRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|(_, r)| f(r)),
        ))
    };
    // One sort per row for both statistics.
    let summaries: Vec<Option<Summary>> = rows
        .iter()
        .map(|(_, r)| Summary::of(&r.durations_s))
        .collect();
    let stat = |f: fn(&Summary) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter(
            summaries.iter().map(|s| s.as_ref().map(f)),
        ))
    };
    let mut durations = ListBuilder::new(Float64Builder::new());
    for (_, r) in rows {
        durations.values().append_slice(&r.durations_s);
        durations.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|(id, _)| *id),
        )),
        text(|r| &r.workload_key),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|(_, r)| r.workload_index),
        )),
        text(|r| &r.config_hash),
        text(|r| &r.scenario),
        text(|r| &r.subtask_title),
        text(|r| &r.action),
        Arc::new(UInt8Array::from_iter_values(
            rows.iter().map(|(_, r)| r.depth),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, r)| r.samples),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, r)| r.failed),
        )),
        Arc::new(durations.finish()),
        stat(|s| s.median),
        stat(|s| s.p95),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|(_, r)| r.load_duration_s),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|(_, r)| Some(r.pass_sla)),
        )),
        text(|r| &r.unit),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|(_, r)| Some(r.higher_is_better)),
        )),
        text(|r| &r.rate_unit),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|(_, r)| r.phase.map(Phase::as_str)),
        )),
        timestamps(rows.iter().map(|(_, r)| r.window.map(|w| w.start_us))),
        timestamps(rows.iter().map(|(_, r)| r.window.map(|w| w.end_us))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|(_, r)| r.per_second_json.as_deref()),
        )),
    ];
    let batch =
        RecordBatch::try_new(series_schema(), columns).map_err(|e| ArchiveError::Encode {
            table: "series",
            message: e.to_string(),
        })?;
    encode(Table::Series, &batch)
}

/// Reads a `series` file back into rows.
pub fn decode_series(
    key: &ArchiveKey,
    batches: &[RecordBatch],
) -> Result<Vec<SeriesRow>, ArchiveError> {
    Ok(decode_series_rows(key, batches)?
        .into_iter()
        .map(|(_, row)| row)
        .collect())
}

/// Reads a `series` file back into rows, each with its `build_id`.
pub fn decode_series_rows(
    key: &ArchiveKey,
    batches: &[RecordBatch],
) -> Result<Vec<(String, SeriesRow)>, ArchiveError> {
    let mut out = Vec::new();
    for batch in batches {
        let col = Columns {
            batch,
            key,
            table: Table::Series,
        };
        let build_id = col.string("build_id")?;
        let workload_key = col.string("workload_key")?;
        let workload_index = col.u32("workload_index")?;
        let config_hash = col.string("config_hash")?;
        let scenario = col.string("scenario")?;
        let title = col.string("subtask_title")?;
        let action = col.string("action")?;
        let depth: UInt8Array = col.column("depth")?;
        let samples = col.u64("samples")?;
        let failed = col.u64("failed")?;
        let durations = col.list("durations_s")?;
        let load: Float64Array = col.column("load_duration_s")?;
        let pass_sla = col.bool("pass_sla")?;
        // Columns added with Locust and fio; older files are all Rally's.
        let unit = col.optional_string("unit")?;
        let higher: Option<BooleanArray> = col.optional_column("higher_is_better")?;
        let rate_unit = col.optional_string("rate_unit")?;
        // Columns added with Locust runs through an upgrade.
        let phase = col.optional_string("phase")?;
        let window_start = col.ts("window_start")?;
        let window_end = col.ts("window_end")?;
        let per_second = col.optional_string("per_second_json")?;
        for row in 0..batch.num_rows() {
            let text_or = |a: &Option<StringArray>, default: &str| match a {
                Some(a) if !a.is_null(row) => a.value(row).to_string(),
                _ => default.to_string(),
            };
            let depth = depth.value(row);
            let series = SeriesRow {
                workload_key: workload_key.value(row).to_string(),
                workload_index: workload_index.value(row),
                config_hash: config_hash.value(row).to_string(),
                scenario: scenario.value(row).to_string(),
                subtask_title: title.value(row).to_string(),
                action: action.value(row).to_string(),
                depth,
                samples: samples.value(row),
                failed: failed.value(row),
                durations_s: floats(&durations, row),
                load_duration_s: (!load.is_null(row)).then(|| load.value(row)),
                pass_sla: pass_sla.value(row),
                unit: text_or(&unit, SECONDS),
                higher_is_better: higher
                    .as_ref()
                    .is_some_and(|a| !a.is_null(row) && a.value(row)),
                rate_unit: text_or(&rate_unit, if depth == 0 { RALLY_RATE_UNIT } else { "" }),
                phase: phase
                    .as_ref()
                    .filter(|a| !a.is_null(row))
                    .and_then(|a| Phase::parse(a.value(row))),
                window: match (&window_start, &window_end) {
                    (Some(s), Some(e)) if !s.is_null(row) && !e.is_null(row) => {
                        Some(UpgradeWindow {
                            start_us: s.value(row),
                            end_us: e.value(row),
                        })
                    }
                    _ => None,
                },
                per_second_json: per_second
                    .as_ref()
                    .filter(|a| !a.is_null(row))
                    .map(|a| a.value(row).to_string()),
            };
            out.push((build_id.value(row).to_string(), series));
        }
    }
    Ok(out)
}

/// A UTC µs timestamp column, as the schema declares it.
fn timestamps(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(values).with_timezone("UTC"))
}

fn floats(list: &ListArray, row: usize) -> Vec<f64> {
    let values = list.value(row);
    values
        .as_any()
        .downcast_ref::<Float64Array>()
        .map(|a| a.iter().flatten().collect())
        .unwrap_or_default()
}

/// The series rows of an archived build made from its `samples` and
/// `workloads` objects: what ingest would have written.
pub fn rebuild(
    key: &ArchiveKey,
    samples: &[RecordBatch],
    workloads: &[RecordBatch],
) -> Result<Vec<SeriesRow>, ArchiveError> {
    let mut collector = SeriesCollector::default();
    for batch in samples {
        let col = Columns {
            batch,
            key,
            table: Table::Samples,
        };
        let index = col.u32("workload_index")?;
        let action = col.string("action")?;
        let depth: UInt8Array = col.column("depth")?;
        let duration: Float64Array = col.column("duration_s")?;
        let failed = col.bool("failed")?;
        for row in 0..batch.num_rows() {
            collector.add(
                index.value(row),
                action.value(row),
                depth.value(row),
                duration.value(row),
                failed.value(row),
            );
        }
    }
    let mut records = Vec::new();
    for batch in workloads {
        let col = Columns {
            batch,
            key,
            table: Table::Workloads,
        };
        let index = col.u32("workload_index")?;
        let workload_key = col.string("workload_key")?;
        let config_hash = col.string("config_hash")?;
        let scenario = col.string("scenario")?;
        let title = col.string("subtask_title")?;
        let load: Float64Array = col.column("load_duration_s")?;
        let pass_sla = col.bool("pass_sla")?;
        for row in 0..batch.num_rows() {
            records.push(WorkloadRecord {
                workload_index: index.value(row),
                workload_key: workload_key.value(row).to_string(),
                config_hash: config_hash.value(row).to_string(),
                scenario: scenario.value(row).to_string(),
                subtask_title: title.value(row).to_string(),
                load_duration_s: (!load.is_null(row)).then(|| load.value(row)),
                pass_sla: pass_sla.value(row),
                ..WorkloadRecord::default()
            });
        }
    }
    records.sort_by_key(|w| w.workload_index);
    Ok(collector.into_rows(&records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_actions_keep_their_order_and_counts() {
        let mut collector = SeriesCollector::default();
        for round in 0..3 {
            collector.add(0, "total", 0, 2.0, false);
            for i in 0..100 {
                let failed = round == 2 && i % 2 == 0;
                collector.add(0, &format!("a{i}"), 1, 1.0, failed);
            }
        }
        let workload = WorkloadRecord::default();
        let rows = collector.into_rows(&[workload]);
        let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
        let want: Vec<String> = std::iter::once("total".to_string())
            .chain((0..100).map(|i| format!("a{i}")))
            .collect();
        assert_eq!(actions, want);
        assert!(rows.iter().all(|r| r.samples == 3));
        assert_eq!((rows[1].failed, rows[1].durations_s.len()), (1, 2));
        assert_eq!((rows[2].failed, rows[2].durations_s.len()), (0, 3));
    }
}
