//! The records of the archive, one struct per table. Samples are borrowed
//! rows streamed straight into Arrow builders: a large Rally report never
//! exists as a vector of owned samples.

use crate::key::ArchiveKey;
use crate::names::{BuildId, ProjectName};

/// One row of the `samples` table: one iteration's whole duration
/// (`action == "total"`, `depth == 0`) or one atomic action in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRow<'a> {
    /// Stable workload key (see `identity::WorkloadPlace::key`).
    pub workload_key: &'a str,
    /// Index of the workload in its build (joins to `workloads`).
    pub workload_index: u32,
    /// Iteration number in start-time order, from 0.
    pub iteration: u32,
    /// `total`, or the atomic action path joined with ` > `.
    pub action: &'a str,
    /// 0 for the iteration, 1 for a top-level atomic action, 2 for its children…
    pub depth: u8,
    /// n-th time the same path occurs in this iteration, from 0.
    pub occurrence: u16,
    /// Seconds. For `total`: Rally's `duration` plus `idle_duration`.
    pub duration_s: f64,
    /// Seconds idle (scenario sleeps); only on `total`.
    pub idle_duration_s: Option<f64>,
    /// Start, microseconds since the Unix epoch (UTC), when Rally recorded it.
    pub started_at_us: Option<i64>,
    pub failed: bool,
    pub error_type: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub error_traceback: Option<&'a str>,
}

/// Recomputed order statistics of a workload's iteration durations.
pub type DurationStats = crate::stats::Summary;

/// One row of the `workloads` table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkloadRecord {
    pub workload_index: u32,
    pub workload_key: String,
    pub config_hash: String,
    pub task_index: u32,
    pub task_uuid: Option<String>,
    pub task_status: Option<String>,
    pub subtask_index: u32,
    pub subtask_title: String,
    pub position: u32,
    pub scenario: String,
    pub description: String,
    pub runner_type: String,
    pub runner_times: Option<u64>,
    pub runner_concurrency: Option<u64>,
    /// JSON of the runner config as written (without the type).
    pub runner_json: String,
    pub args_json: String,
    pub contexts_json: String,
    pub sla_json: String,
    pub hooks_json: String,
    pub start_time_us: Option<i64>,
    pub load_duration_s: Option<f64>,
    pub full_duration_s: Option<f64>,
    pub iterations: u64,
    pub failed_iterations: u64,
    pub pass_sla: bool,
    /// JSON list of `{criterion, success, detail}` as Rally reported them.
    pub sla_results_json: String,
    /// Criteria that failed, including Rally's `something_went_wrong` and `aborted_on_sla`.
    pub sla_failed: Vec<String>,
    /// First context setup error (`type: message`), when a context failed.
    pub context_error: Option<String>,
    pub hooks_failed: u32,
    /// Statistics of the whole-iteration durations (all iterations, as Rally counts them).
    pub duration: Option<DurationStats>,
    /// JSON of what a non-Rally tool reported beyond the common columns
    /// (Locust: counts, percentiles, failures, history; fio: per-direction
    /// IOPS, bandwidth, latency percentiles). `None` for Rally.
    pub details_json: Option<String>,
}

/// One row of the `series` table: one workload's one action in one build.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRow {
    pub workload_key: String,
    pub workload_index: u32,
    pub config_hash: String,
    pub scenario: String,
    pub subtask_title: String,
    /// `total` or the atomic action path, as in `samples`; for Locust the
    /// request (`GET /v3/auth/tokens`), for fio the direction and measure
    /// (`write latency`, `write IOPS`).
    pub action: String,
    pub depth: u8,
    /// Samples of this action (iterations for `total`; every occurrence of
    /// a repeated action counts), failed ones included.
    pub samples: u64,
    pub failed: u64,
    /// The measured values, in `unit`. Rally: durations of the successful
    /// samples in iteration order, seconds (failed iterations stop early and
    /// would fake a speed-up). Locust and fio report distributions, not
    /// samples: evenly spaced quantiles of them (see `perfkit_ingest::quantiles`).
    /// A rate measured once per build (fio IOPS) is one value.
    pub durations_s: Vec<f64>,
    /// The workload's load duration, on depth-0 rows only (throughput).
    pub load_duration_s: Option<f64>,
    /// Whether the workload passed its SLA.
    pub pass_sla: bool,
    /// Unit of `durations_s`: `s` for every duration; `IO/s`, `B/s` for rates.
    pub unit: String,
    /// Whether a rise is an improvement (IOPS, bandwidth); durations are
    /// lower-is-better.
    pub higher_is_better: bool,
    /// What the throughput counts per second (`iterations/s`, `requests/s`);
    /// empty where it has none.
    pub rate_unit: String,
    /// For a Locust run through an upgrade: the phase whose requests alone
    /// this row counts (its action names it too); `None` for whole runs.
    pub phase: Option<Phase>,
    /// For a Locust run through an upgrade: the window, on every row.
    pub window: Option<UpgradeWindow>,
    /// For a whole-run Locust row with a stats history: its per-second
    /// chart, JSON `{"t": [Unix s], "users", "requests_per_s",
    /// "failures_per_s", "p50_ms", "p95_ms": [number or null]}` (one entry
    /// per history row; percentiles are Locust's rolling ones), else `None`.
    pub per_second_json: Option<String>,
}

/// When an upgrade ran, Unix µs: from the upgrade's start marker to its end
/// marker (or to when Locust stopped, if the end never came).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeWindow {
    pub start_us: i64,
    pub end_us: i64,
}

/// A part of a run through an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Before,
    During,
    After,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Before, Phase::During, Phase::After];

    /// The `series.phase` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::During => "during",
            Phase::After => "after",
        }
    }

    /// Reads a `series.phase` value; other text is no phase.
    pub fn parse(text: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The suffix a phase row's action carries: `GET /x (during the upgrade)`.
    pub fn action_suffix(self) -> String {
        format!(" ({} the upgrade)", self.as_str())
    }
}

/// `SeriesRow::unit` of durations.
pub const SECONDS: &str = "s";

impl Default for SeriesRow {
    fn default() -> SeriesRow {
        SeriesRow {
            workload_key: String::new(),
            workload_index: 0,
            config_hash: String::new(),
            scenario: String::new(),
            subtask_title: String::new(),
            action: String::new(),
            depth: 0,
            samples: 0,
            failed: 0,
            durations_s: Vec::new(),
            load_duration_s: None,
            pass_sla: false,
            unit: SECONDS.to_string(),
            higher_is_better: false,
            rate_unit: String::new(),
            phase: None,
            window: None,
            per_second_json: None,
        }
    }
}

impl SeriesRow {
    /// Samples per second over the load duration (depth-0 rows: a Rally
    /// `total`, a Locust request; an atomic action has no load of its own).
    pub fn throughput(&self) -> Option<f64> {
        let load = self.load_duration_s.filter(|d| *d > 0.0)?;
        (self.depth == 0 && self.samples > 0).then(|| self.samples as f64 / load)
    }

    /// Whether the values are durations (as opposed to a measured rate).
    pub fn is_duration(&self) -> bool {
        self.unit.is_empty() || self.unit == SECONDS
    }

    /// Failed share of the samples; `None` without samples.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.failed as f64 / self.samples as f64)
    }
}

/// Build metadata known from Zuul (flags, `--zuul-vars`, or the builds API).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildMeta {
    pub change: Option<u64>,
    pub patchset: Option<u32>,
    pub git_ref: Option<String>,
    pub newrev: Option<String>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub pipeline: Option<String>,
    pub job: Option<String>,
    pub zuul_build: Option<String>,
    pub buildset: Option<String>,
    pub tenant: Option<String>,
    pub change_url: Option<String>,
    pub log_url: Option<String>,
    pub node_provider: Option<String>,
    pub node_label: Option<String>,
    /// Zuul's result for the build (`SUCCESS`, `FAILURE`, `NODE_FAILURE`…),
    /// known once it finished: from the builds API, not from a running job.
    pub zuul_result: Option<String>,
    /// Zuul's result for the whole buildset (the queue item): in a gate
    /// pipeline `SUCCESS` means every job passed and Zuul saw the change
    /// merge (a change that failed to merge is `MERGE_FAILURE`). From the
    /// builds API's buildset, so only `perfkit collect` knows it.
    pub zuul_buildset_result: Option<String>,
    /// The commit of the project under test the build checked out (full
    /// hex SHA-1); `None` when unknown (builds archived before it was
    /// recorded). A gate build's commit is a speculative merge.
    pub commit: Option<String>,
    /// The commits of the job's other required projects (devstack,
    /// rally-openstack…), project name → hex SHA, sorted by project.
    pub required_commits: std::collections::BTreeMap<String, String>,
}

impl BuildMeta {
    /// The commit of `project` this build checked out: its own project's
    /// `commit`, else a required project's.
    pub fn commit_of(&self, own: &str, project: &str) -> Option<&str> {
        if own == project {
            self.commit.as_deref()
        } else {
            self.required_commits.get(project).map(String::as_str)
        }
    }
}

/// Whether `sha` is a full hex commit id (40 hex digits for SHA-1, 64 for
/// SHA-256), lower-cased by the caller.
pub fn is_commit_sha(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64)
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One row of the `builds` table.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildRecord {
    pub key: ArchiveKey,
    pub meta: BuildMeta,
    /// `rally-v2` (task report JSON) or `rally-results` (old `rally task results`).
    pub source_format: String,
    pub source_format_version: Option<String>,
    pub tool_version: Option<String>,
    /// File name (no directories) of the ingested result.
    pub source_file: String,
    pub source_sha256: String,
    pub source_bytes: u64,
    pub task_count: u32,
    /// Statuses of the tasks, e.g. `finished`, `aborted`, `crashed`.
    pub task_statuses: Vec<String>,
    pub workload_count: u32,
    pub iteration_count: u64,
    pub failed_iteration_count: u64,
    pub pass_sla: bool,
    pub started_at_us: Option<i64>,
    pub finished_at_us: Option<i64>,
    pub ingested_at_us: i64,
    pub perfkit_version: String,
    /// Why a build recorded with [`FAILED_FORMAT`] has no results (its
    /// report was cut short or invalid, or is gone from the log server).
    pub failure: Option<String>,
}

/// `source_format` of a build archived without a result file: Zuul's
/// `NODE_FAILURE`, a job that failed before Rally ran… (`perfkit collect`).
pub const NO_RESULTS_FORMAT: &str = "none";

/// `source_format` of a build `perfkit collect` gave up on for good: its
/// report is cut short or invalid, or gone from the log server. The row
/// keeps the collector from downloading it every cycle; `perfkit collect
/// --retry-failed` tries it again. `failure` says why.
pub const FAILED_FORMAT: &str = "failed";

impl BuildRecord {
    /// A record of `key` with `meta` and `source_format` and nothing
    /// measured: no file, no tasks, no iterations, no SLA passed, no times.
    pub fn nothing_measured(key: ArchiveKey, meta: BuildMeta, source_format: String) -> Self {
        BuildRecord {
            key,
            meta,
            source_format,
            source_format_version: None,
            tool_version: None,
            source_file: String::new(),
            source_sha256: String::new(),
            source_bytes: 0,
            task_count: 0,
            task_statuses: Vec::new(),
            workload_count: 0,
            iteration_count: 0,
            failed_iteration_count: 0,
            pass_sla: false,
            started_at_us: None,
            finished_at_us: None,
            ingested_at_us: 0,
            perfkit_version: String::new(),
            failure: None,
        }
    }

    /// Whether the build was archived from a result file (see
    /// [`NO_RESULTS_FORMAT`] and [`FAILED_FORMAT`]).
    pub fn has_results(&self) -> bool {
        self.source_format != NO_RESULTS_FORMAT && !self.failed_for_good()
    }

    /// Whether the collector recorded the build as failed for good.
    pub fn failed_for_good(&self) -> bool {
        self.source_format == FAILED_FORMAT
    }

    /// The project, for convenience.
    pub fn project(&self) -> &ProjectName {
        &self.key.project
    }

    /// The archive build id.
    pub fn build_id(&self) -> &BuildId {
        &self.key.build
    }
}

/// An archived build as the detector and the site read it back: its
/// `builds` row and its `series` rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedBuild {
    pub record: BuildRecord,
    pub series: Vec<SeriesRow>,
}

impl ArchivedBuild {
    /// When the build ran (Rally's start, else when it was ingested), µs.
    pub fn time_us(&self) -> i64 {
        self.record
            .started_at_us
            .unwrap_or(self.record.ingested_at_us)
    }

    /// Whether this build measured the branch rather than a proposed
    /// change: no change (periodic, post, tag builds), or a gate build of
    /// a change that then merged. A gate build tests the change on the
    /// branch tip, but one that failed or was dequeued measured a change
    /// the branch never got, so it counts only when Zuul reported both the
    /// build and its buildset `SUCCESS` (known to `perfkit collect`; an
    /// in-job ingest cannot know it and keeps its gate builds out). A
    /// build archived without results (Zuul's `NODE_FAILURE`…) measured
    /// nothing and takes no place in a baseline or trend.
    pub fn is_branch_build(&self) -> bool {
        self.record.has_results() && self.is_on_branch()
    }

    fn is_on_branch(&self) -> bool {
        let meta = &self.record.meta;
        let succeeded = |result: &Option<String>| result.as_deref() == Some("SUCCESS");
        self.record.key.change == 0
            || (meta
                .pipeline
                .as_deref()
                .is_some_and(|p| p.starts_with("gate"))
                && succeeded(&meta.zuul_result)
                && succeeded(&meta.zuul_buildset_result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn periodic(source_format: &str) -> ArchivedBuild {
        ArchivedBuild {
            record: BuildRecord::nothing_measured(
                ArchiveKey {
                    project: ProjectName::try_from("openstack/nova").unwrap(),
                    change: 0,
                    patchset: 0,
                    build: BuildId::try_from("b1").unwrap(),
                },
                BuildMeta {
                    pipeline: Some("periodic".into()),
                    ..BuildMeta::default()
                },
                source_format.into(),
            ),
            series: Vec::new(),
        }
    }

    #[test]
    fn a_build_without_results_is_no_branch_build() {
        assert!(!periodic(NO_RESULTS_FORMAT).is_branch_build());
        // A crashed task still ran Rally: it stays in the history.
        assert!(periodic("rally-v2").is_branch_build());
    }

    #[test]
    fn a_gate_build_is_a_branch_build_only_once_its_change_merged() {
        let gate = |result: Option<&str>, buildset: Option<&str>| {
            let mut build = periodic("rally-v2");
            build.record.key.change = 912345;
            build.record.key.patchset = 3;
            let meta = &mut build.record.meta;
            meta.pipeline = Some("gate".into());
            meta.zuul_result = result.map(str::to_string);
            meta.zuul_buildset_result = buildset.map(str::to_string);
            build
        };
        assert!(gate(Some("SUCCESS"), Some("SUCCESS")).is_branch_build());
        // Another job of the item failed, so the change did not merge.
        assert!(!gate(Some("SUCCESS"), Some("FAILURE")).is_branch_build());
        // Every job passed but Gerrit refused the merge.
        assert!(!gate(Some("SUCCESS"), Some("MERGE_FAILURE")).is_branch_build());
        assert!(!gate(Some("SUCCESS"), Some("DEQUEUED")).is_branch_build());
        assert!(!gate(Some("FAILURE"), Some("SUCCESS")).is_branch_build());
        // Archived in the job, before anything was known: left out.
        assert!(!gate(None, None).is_branch_build());
        assert!(!gate(Some("SUCCESS"), None).is_branch_build());
        // A check build is never one, whatever its results.
        let mut check = gate(Some("SUCCESS"), Some("SUCCESS"));
        check.record.meta.pipeline = Some("check".into());
        assert!(!check.is_branch_build());
    }
}
