//! perfkit-analysis: from archived builds to answers (`docs/ARCHITECTURE.md`,
//! "Series and identity" and "Detection"): which series a project has, how each moved on its branch
//! (`trend`), and what a patchset did to them (`compare`). The statistics
//! live in `regress`; this module picks the samples, the baseline window
//! and the segments they are applied to.

pub mod compare;
pub mod culprits;
pub mod format;
pub mod regress;
pub mod report;
mod state_bytes;
#[cfg(test)]
mod tests;
pub mod trend;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::regress::verdict::Direction;
use perfkit_schema::identity::sha256_hex;
use perfkit_schema::records::{ArchivedBuild, SeriesRow};

/// What a series measures; its direction decides which way is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The series' values: durations of successful samples (per-build
    /// median and p95 shown), or a rate measured once per build (fio IOPS),
    /// in the series' unit and direction.
    Duration,
    /// Failed share of the samples.
    FailureRate,
    /// Iterations per second over the load duration (`total` only).
    Throughput,
}

impl Metric {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Duration => "duration",
            Metric::FailureRate => "failure rate",
            Metric::Throughput => "throughput",
        }
    }
}

/// A series' source: one workload's one action on one branch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SeriesKey {
    pub branch: String,
    pub workload_key: String,
    pub action: String,
}

impl SeriesKey {
    /// Stable short id, safe in file names and URLs (16 hex digits).
    pub fn id(&self) -> String {
        let text = format!("{}\0{}\0{}", self.branch, self.workload_key, self.action);
        sha256_hex(text.as_bytes())[..16].to_string()
    }
}

/// What people read for a series (all untrusted text from the results).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesLabel {
    pub job: String,
    pub branch: String,
    pub subtask_title: String,
    pub scenario: String,
    pub action: String,
    pub depth: u8,
    /// Unit of the series' values (`s` for durations; `IO/s`…).
    #[serde(default = "seconds")]
    pub unit: String,
    /// Whether a rise of the values is an improvement.
    #[serde(default)]
    pub higher_is_better: bool,
    /// What its throughput counts per second (`iterations/s`, `requests/s`).
    #[serde(default)]
    pub rate_unit: String,
}

fn seconds() -> String {
    perfkit_schema::records::SECONDS.to_string()
}

impl SeriesLabel {
    fn of(build: &ArchivedBuild, row: &SeriesRow) -> SeriesLabel {
        SeriesLabel {
            job: build.record.meta.job.clone().unwrap_or_default(),
            branch: branch_of(build),
            subtask_title: row.subtask_title.clone(),
            scenario: row.scenario.clone(),
            action: row.action.clone(),
            depth: row.depth,
            unit: row.unit.clone(),
            higher_is_better: row.higher_is_better,
            rate_unit: row.rate_unit.clone(),
        }
    }

    /// Which way is worse for the series' values.
    pub fn direction(&self) -> Direction {
        if self.higher_is_better {
            Direction::HigherIsBetter
        } else {
            Direction::LowerIsBetter
        }
    }

    /// Whether the values are durations (time units) rather than a rate.
    pub fn is_duration(&self) -> bool {
        self.unit.is_empty() || self.unit == perfkit_schema::records::SECONDS
    }

    /// One line: `scenario › action (job)`.
    pub fn short(&self) -> String {
        let mut text = format!("{} › {}", self.scenario, self.action);
        if !self.job.is_empty() {
            text.push_str(&format!(" ({})", self.job));
        }
        text
    }
}

/// The branch a build measured; `""` when Zuul did not say.
pub fn branch_of(build: &ArchivedBuild) -> String {
    build.record.meta.branch.clone().unwrap_or_default()
}

/// Rows of one build merged per action of a workload: a report holding
/// the same task twice gives one workload key twice.
pub(crate) fn merged_rows(build: &ArchivedBuild) -> Vec<(SeriesKey, SeriesRow)> {
    let branch = branch_of(build);
    let mut out: Vec<(SeriesKey, SeriesRow)> = Vec::with_capacity(build.series.len());
    let mut index: HashMap<(&str, &str), usize> = HashMap::with_capacity(build.series.len());
    for row in &build.series {
        match index.get(&(row.workload_key.as_str(), row.action.as_str())) {
            Some(&i) => {
                let merged = &mut out[i].1;
                merged.samples += row.samples;
                merged.failed += row.failed;
                merged.durations_s.extend_from_slice(&row.durations_s);
                merged.pass_sla &= row.pass_sla;
                merged.load_duration_s = match (merged.load_duration_s, row.load_duration_s) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
            }
            None => {
                index.insert((&row.workload_key, &row.action), out.len());
                let key = SeriesKey {
                    branch: branch.clone(),
                    workload_key: row.workload_key.clone(),
                    action: row.action.clone(),
                };
                out.push((key, row.clone()));
            }
        }
    }
    out
}

/// Builds in time order (ties by build id), as references.
pub(crate) fn in_time_order(builds: &[ArchivedBuild]) -> Vec<&ArchivedBuild> {
    let mut sorted: Vec<&ArchivedBuild> = builds.iter().collect();
    sorted.sort_by(|a, b| {
        (a.time_us(), a.record.key.build.as_str()).cmp(&(b.time_us(), b.record.key.build.as_str()))
    });
    sorted
}
