//! Arrow schemas of the archive tables. Columns are only ever added, never
//! retyped; `SCHEMA_VERSION` goes into every file's key-value metadata.
//! Partition values (project, change, patchset) live in the object key, so
//! inside files they are named `gerrit_*` (readers prefer directory values
//! over same-named columns, silently).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Version of the table schemas below.
pub const SCHEMA_VERSION: u32 = 1;
/// Parquet key-value metadata key holding `SCHEMA_VERSION`.
pub const SCHEMA_VERSION_KEY: &str = "perfkit.schema_version";
/// Parquet key-value metadata key naming the table.
pub const TABLE_KEY: &str = "perfkit.table";

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn f64_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Float64, nullable)
}

/// `samples`: one row per iteration (`total`) and per atomic action.
pub fn samples_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("build_id", false),
        utf8("workload_key", false),
        Field::new("workload_index", DataType::UInt32, false),
        Field::new("iteration", DataType::UInt32, false),
        utf8("action", false),
        Field::new("depth", DataType::UInt8, false),
        Field::new("occurrence", DataType::UInt16, false),
        f64_field("duration_s", false),
        f64_field("idle_duration_s", true),
        Field::new("started_at", ts(), true),
        Field::new("failed", DataType::Boolean, false),
        utf8("error_type", true),
        utf8("error_message", true),
        utf8("error_traceback", true),
    ]))
}

/// Names of the recomputed duration statistics columns of `workloads`.
pub const DURATION_STAT_COLUMNS: [&str; 6] = [
    "duration_min_s",
    "duration_median_s",
    "duration_p90_s",
    "duration_p95_s",
    "duration_max_s",
    "duration_mean_s",
];

/// `workloads`: one row per workload run.
pub fn workloads_schema() -> SchemaRef {
    let mut fields = vec![
        utf8("build_id", false),
        Field::new("workload_index", DataType::UInt32, false),
        utf8("workload_key", false),
        utf8("config_hash", false),
        Field::new("task_index", DataType::UInt32, false),
        utf8("task_uuid", true),
        utf8("task_status", true),
        Field::new("subtask_index", DataType::UInt32, false),
        utf8("subtask_title", false),
        Field::new("position", DataType::UInt32, false),
        utf8("scenario", false),
        utf8("description", false),
        utf8("runner_type", false),
        Field::new("runner_times", DataType::UInt64, true),
        Field::new("runner_concurrency", DataType::UInt64, true),
        utf8("runner_json", false),
        utf8("args_json", false),
        utf8("contexts_json", false),
        utf8("sla_json", false),
        utf8("hooks_json", false),
        Field::new("start_time", ts(), true),
        f64_field("load_duration_s", true),
        f64_field("full_duration_s", true),
        Field::new("iterations", DataType::UInt64, false),
        Field::new("failed_iterations", DataType::UInt64, false),
        Field::new("pass_sla", DataType::Boolean, false),
        utf8("sla_results_json", false),
        Field::new(
            "sla_failed",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        utf8("context_error", true),
        Field::new("hooks_failed", DataType::UInt32, false),
    ];
    fields.extend(DURATION_STAT_COLUMNS.iter().map(|n| f64_field(n, true)));
    // Added with Locust and fio (null for Rally and in older files).
    fields.push(utf8("details_json", true));
    Arc::new(Schema::new(fields))
}

/// `series`: one row per workload and action of a build (`total` is the
/// whole iteration), with the durations of its successful samples. The site
/// and the detector read this instead of `samples`; it can be rebuilt from
/// `samples` and `workloads`.
pub fn series_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("build_id", false),
        utf8("workload_key", false),
        Field::new("workload_index", DataType::UInt32, false),
        utf8("config_hash", false),
        utf8("scenario", false),
        utf8("subtask_title", false),
        utf8("action", false),
        Field::new("depth", DataType::UInt8, false),
        Field::new("samples", DataType::UInt64, false),
        Field::new("failed", DataType::UInt64, false),
        Field::new(
            "durations_s",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            false,
        ),
        f64_field("median_s", true),
        f64_field("p95_s", true),
        f64_field("load_duration_s", true),
        Field::new("pass_sla", DataType::Boolean, false),
        // Added with Locust and fio: files written before lack them and are
        // read as `s`, lower is better, `iterations/s` (Rally's).
        utf8("unit", true),
        Field::new("higher_is_better", DataType::Boolean, true),
        utf8("rate_unit", true),
        // Added with Locust runs through an upgrade: null for every other
        // row and in older files.
        utf8("phase", true),
        Field::new("window_start", ts(), true),
        Field::new("window_end", ts(), true),
        utf8("per_second_json", true),
    ]))
}

/// `builds`: one row per build; its presence marks the build complete.
pub fn builds_schema() -> SchemaRef {
    Arc::new(Schema::new(build_fields()))
}

/// A `builds` row of layout v2 and a row of a project's index
/// (`docs/archive-v2.md`): the `builds` columns, the build's change and
/// patchset as its path names them, and which committed attempt the row
/// describes (null attempt and token: a build of layout v1).
pub fn committed_builds_schema() -> SchemaRef {
    let mut fields = build_fields();
    fields.extend([
        Field::new("archive_change", DataType::UInt64, false),
        Field::new("archive_patchset", DataType::UInt32, false),
        Field::new("attempt", DataType::UInt32, true),
        utf8("token", true),
    ]);
    Arc::new(Schema::new(fields))
}

fn build_fields() -> Vec<Field> {
    vec![
        utf8("build_id", false),
        utf8("gerrit_project", false),
        Field::new("gerrit_change", DataType::UInt64, true),
        Field::new("gerrit_patchset", DataType::UInt32, true),
        utf8("ref", true),
        utf8("newrev", true),
        utf8("branch", true),
        utf8("tag", true),
        utf8("pipeline", true),
        utf8("job", true),
        utf8("zuul_build", true),
        utf8("buildset", true),
        utf8("tenant", true),
        utf8("change_url", true),
        utf8("log_url", true),
        utf8("node_provider", true),
        utf8("node_label", true),
        utf8("source_format", false),
        utf8("source_format_version", true),
        utf8("tool_version", true),
        utf8("source_file", false),
        utf8("source_sha256", false),
        Field::new("source_bytes", DataType::UInt64, false),
        Field::new("task_count", DataType::UInt32, false),
        Field::new(
            "task_statuses",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        Field::new("workload_count", DataType::UInt32, false),
        Field::new("iteration_count", DataType::UInt64, false),
        Field::new("failed_iteration_count", DataType::UInt64, false),
        Field::new("pass_sla", DataType::Boolean, false),
        Field::new("started_at", ts(), true),
        Field::new("finished_at", ts(), true),
        Field::new("ingested_at", ts(), false),
        utf8("perfkit_version", false),
        // Added after v1 shipped: files written before lack it (read as null).
        utf8("zuul_result", true),
        // Added for baseline trust: null in older files (a gate build then
        // stays out of baselines).
        utf8("zuul_buildset_result", true),
        // Added with suspects (null / empty in older files: unknown).
        utf8("commit", true),
        Field::new(
            "required_commits",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        // Added later still: why `perfkit collect` gave up on a build
        // (`source_format = "failed"`); null otherwise and in older files.
        utf8("failure", true),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_column_shadows_a_partition_key() {
        for schema in [
            samples_schema(),
            workloads_schema(),
            series_schema(),
            builds_schema(),
            committed_builds_schema(),
        ] {
            for name in ["project", "change", "patchset", "build"] {
                assert!(
                    schema.field_with_name(name).is_err(),
                    "{name} would shadow the partition"
                );
            }
        }
    }
}
