//! Branch history per series: one point per branch build, the change
//! points found on it (windowed E-divisive on the values,
//! `regress::changepoint`; a count-based scan on the failure rate,
//! `regress::failures`), and configuration changes as segment boundaries,
//! never as regressions.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::compare::BuildRef;
use super::{Metric, SeriesKey, SeriesLabel, in_time_order, merged_rows};
use crate::regress::changepoint::{
    ChangeKind, ChangePoint, ChangePointConfig, ChangePointMemo, change_points_memo,
};
use crate::regress::failures::{FailureChangeConfig, failure_change_points};
use crate::regress::verdict::{Counts, Direction};
use perfkit_schema::records::{ArchivedBuild, SeriesRow};
use perfkit_schema::stats::Summary;

mod state;

use state::SeriesHistory;
pub use state::TrendState;

/// One branch build of one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// Index into `ProjectTrends::builds`.
    pub build: usize,
    pub samples: u64,
    pub failed: u64,
    /// Duration statistics of the successful samples, seconds.
    pub median: Option<f64>,
    pub p95: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub throughput: Option<f64>,
    pub pass_sla: bool,
    /// The workload configuration differs from the previous point's.
    pub config_changed: bool,
}

impl TrendPoint {
    fn of(build: usize, row: &SeriesRow, config_changed: bool) -> TrendPoint {
        let summary = Summary::of(&row.durations_s);
        TrendPoint {
            build,
            samples: row.samples,
            failed: row.failed,
            median: summary.map(|s| s.median),
            p95: summary.map(|s| s.p95),
            min: summary.map(|s| s.min),
            max: summary.map(|s| s.max),
            throughput: row.throughput(),
            pass_sla: row.pass_sla,
            config_changed,
        }
    }

    /// Failed share of the samples.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.failed as f64 / self.samples as f64)
    }
}

/// A change point of one metric, placed on the series' points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    /// Index into `SeriesTrend::points` of the first point after the change.
    pub point: usize,
    pub metric: Metric,
    pub change: ChangePoint,
}

/// Where a series stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendStatus {
    /// Since the latest configuration change, the last move of the values
    /// (durations, else throughput) or of the failure rate is a regression.
    Regressed,
    /// The latest build failed its SLA or some samples.
    Failing,
    /// Not regressed, not failing, and one of those last moves is an
    /// improvement.
    Improved,
    /// No change point, or only configuration changes.
    Stable,
}

impl TrendStatus {
    pub fn name(self) -> &'static str {
        match self {
            TrendStatus::Regressed => "regressed",
            TrendStatus::Failing => "failing",
            TrendStatus::Improved => "improved",
            TrendStatus::Stable => "stable",
        }
    }
}

/// The branch history of one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesTrend {
    pub id: String,
    pub key: SeriesKey,
    pub label: SeriesLabel,
    pub points: Vec<TrendPoint>,
    /// Oldest first; configuration changes included.
    pub annotations: Vec<Annotation>,
    pub status: TrendStatus,
}

impl SeriesTrend {
    /// The annotations that are regressions, newest first.
    pub fn regressions(&self) -> impl Iterator<Item = &Annotation> {
        self.annotations
            .iter()
            .rev()
            .filter(|a| a.change.kind == ChangeKind::Regression)
    }
}

/// Every series of a project's branch builds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectTrends {
    /// Branch builds, oldest first.
    pub builds: Vec<BuildRef>,
    /// Sorted by label.
    pub series: Vec<SeriesTrend>,
}

/// The branch histories of `builds` (one project; other builds ignored).
pub fn trends(builds: &[ArchivedBuild]) -> ProjectTrends {
    trends_with(builds, None)
}

/// `trends`, with change points taken from (and added to) `memo` where
/// their windows were seen before: the same result, faster on a history
/// that grew by a few builds.
pub fn trends_with(builds: &[ArchivedBuild], memo: Option<&ChangePointMemo>) -> ProjectTrends {
    TrendState::of(builds).analyse(memo)
}

impl TrendState {
    /// The points of every series of `builds`' branch builds.
    pub fn of(builds: &[ArchivedBuild]) -> TrendState {
        let branch: Vec<&ArchivedBuild> = in_time_order(builds)
            .into_iter()
            .filter(|b| b.is_branch_build())
            .collect();
        // Keyed by borrowed names: a 10,000-build history has millions of rows,
        // and a key or label allocated per row would dominate the run time.
        let mut by_series: HashMap<(&str, &str, &str), Accumulator> = HashMap::new();
        for (index, build) in branch.iter().enumerate() {
            let branch_name = build.record.meta.branch.as_deref().unwrap_or_default();
            if !has_repeated_rows(build) {
                for row in &build.series {
                    accumulate(&mut by_series, branch_name, build, row, row, index);
                }
                continue;
            }
            // A report holding the same task twice: its rows merged (owned),
            // keyed and named by the first borrowed row of each.
            let mut firsts: HashMap<(&str, &str), &SeriesRow> = HashMap::new();
            for row in &build.series {
                firsts
                    .entry((row.workload_key.as_str(), row.action.as_str()))
                    .or_insert(row);
            }
            for (_, merged) in merged_rows(build) {
                let first = firsts[&(merged.workload_key.as_str(), merged.action.as_str())];
                accumulate(&mut by_series, branch_name, build, first, &merged, index);
            }
        }
        let series: BTreeMap<SeriesKey, SeriesHistory> = by_series
            .into_iter()
            .map(|((branch, workload_key, action), acc)| {
                let key = SeriesKey {
                    branch: branch.to_string(),
                    workload_key: workload_key.to_string(),
                    action: action.to_string(),
                };
                let (build, row) = acc.newest;
                let history = SeriesHistory {
                    label: SeriesLabel::of(build, row),
                    points: acc.points,
                    point_configs: acc.point_configs,
                    configs: acc.configs,
                };
                (key, history)
            })
            .collect();
        TrendState {
            builds: branch.iter().map(|b| BuildRef::of(b)).collect(),
            series,
        }
    }

    /// The trends: change points of every series (from `memo` where seen).
    pub fn analyse(self, memo: Option<&ChangePointMemo>) -> ProjectTrends {
        let inputs: Vec<(SeriesKey, SeriesLabel, Vec<TrendPoint>)> = self
            .series
            .into_iter()
            .map(|(key, h)| (key, h.label, h.points))
            .collect();
        let mut series = analyse_all(inputs, memo);
        series.sort_by(|a, b| (&a.label, &a.id).cmp(&(&b.label, &b.id)));
        ProjectTrends {
            builds: self.builds,
            series,
        }
    }
}

/// Change points per series on every core: series are independent, and a
/// long history costs tens of milliseconds each.
fn analyse_all(
    inputs: Vec<(SeriesKey, SeriesLabel, Vec<TrendPoint>)>,
    memo: Option<&ChangePointMemo>,
) -> Vec<SeriesTrend> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(inputs.len().max(1));
    if threads <= 1 {
        return inputs
            .into_iter()
            .map(|(k, l, p)| analyse(k, l, p, memo))
            .collect();
    }
    let mut chunks: Vec<Vec<(SeriesKey, SeriesLabel, Vec<TrendPoint>)>> =
        (0..threads).map(|_| Vec::new()).collect();
    for (i, input) in inputs.into_iter().enumerate() {
        chunks[i % threads].push(input);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(k, l, p)| analyse(k, l, p, memo))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("change-point analysis does not panic"))
            .collect()
    })
}

/// One series' points while the builds stream by.
struct Accumulator<'a> {
    points: Vec<TrendPoint>,
    /// As `SeriesHistory`'s.
    point_configs: Vec<u32>,
    configs: Vec<String>,
    /// The newest build and row: they name the series (a renamed title).
    newest: (&'a ArchivedBuild, &'a SeriesRow),
}

/// Adds `row` (whose values make the point) of `build` to its series,
/// keyed and named by `named` (the same row, or its first twin).
fn accumulate<'a>(
    by_series: &mut HashMap<(&'a str, &'a str, &'a str), Accumulator<'a>>,
    branch: &'a str,
    build: &'a ArchivedBuild,
    named: &'a SeriesRow,
    row: &SeriesRow,
    index: usize,
) {
    let acc = by_series
        .entry((branch, &named.workload_key, &named.action))
        .or_insert_with(|| Accumulator {
            points: Vec::new(),
            point_configs: Vec::new(),
            configs: Vec::new(),
            newest: (build, named),
        });
    let previous = acc.point_configs.last().copied();
    let config = match acc.configs.iter().rposition(|c| *c == row.config_hash) {
        Some(i) => i as u32,
        None => {
            acc.configs.push(row.config_hash.clone());
            (acc.configs.len() - 1) as u32
        }
    };
    let changed = previous.is_some_and(|p| p != config);
    acc.points.push(TrendPoint::of(index, row, changed));
    acc.point_configs.push(config);
    acc.newest = (build, named);
}

/// Whether one build has the same workload and action twice.
fn has_repeated_rows(build: &ArchivedBuild) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(build.series.len());
    !build
        .series
        .iter()
        .all(|r| seen.insert((r.workload_key.as_str(), r.action.as_str())))
}

fn analyse(
    key: SeriesKey,
    label: SeriesLabel,
    points: Vec<TrendPoint>,
    memo: Option<&ChangePointMemo>,
) -> SeriesTrend {
    let config_changes: Vec<usize> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.config_changed)
        .map(|(i, _)| i)
        .collect();
    let cfg = ChangePointConfig::default();
    let change_points = |values: &[f64], direction| {
        change_points_memo(values, &config_changes, direction, &cfg, memo)
    };
    let mut annotations = Vec::new();
    let medians: Vec<f64> = points
        .iter()
        .map(|p| p.median.unwrap_or(f64::NAN))
        .collect();
    for change in change_points(&medians, label.direction()) {
        annotations.push(Annotation {
            point: change.index,
            metric: Metric::Duration,
            change,
        });
    }
    if points.iter().any(|p| p.throughput.is_some()) {
        let rates: Vec<f64> = points
            .iter()
            .map(|p| p.throughput.unwrap_or(f64::NAN))
            .collect();
        // Config changes are already annotated once, from the durations.
        for change in change_points(&rates, Direction::HigherIsBetter) {
            if change.kind != ChangeKind::ConfigChanged {
                annotations.push(Annotation {
                    point: change.index,
                    metric: Metric::Throughput,
                    change,
                });
            }
        }
    }
    // Failure rates from the counts (builds without samples skipped), with
    // their own test: a build's fraction of 4–10 iterations is too coarse
    // for E-divisive. Only series that ever failed can have one.
    if points.iter().any(|p| p.failed > 0) {
        let counts: Vec<Counts> = points
            .iter()
            .map(|p| Counts {
                failed: p.failed,
                total: p.samples,
            })
            .collect();
        let found =
            failure_change_points(&counts, &config_changes, &FailureChangeConfig::default());
        for change in found {
            if change.kind != ChangeKind::ConfigChanged {
                annotations.push(Annotation {
                    point: change.index,
                    metric: Metric::FailureRate,
                    change,
                });
            }
        }
    }
    annotations.sort_by_key(|a| (a.point, a.metric));
    let status = status_of(&points, &annotations);
    SeriesTrend {
        id: key.id(),
        key,
        label,
        points,
        annotations,
        status,
    }
}

/// Where a series stands: its current moves are the last change point of
/// its values (durations first, as the overview shows them: a `total`'s
/// throughput moves with its duration, and a later throughput wobble must
/// not hide a duration regression) and the last of its failure rate, each
/// only if after the latest configuration change. A failure-rate rise is
/// a regression like a slowdown (it has its alert); a rate that fell back
/// is an improvement, unless the newest build still failed.
fn status_of(points: &[TrendPoint], annotations: &[Annotation]) -> TrendStatus {
    let moves = |metric: Metric| {
        annotations
            .iter()
            .rev()
            .find(move |a| a.metric == metric && a.change.kind != ChangeKind::ConfigChanged)
    };
    let last_config = annotations
        .iter()
        .rev()
        .find(|a| a.change.kind == ChangeKind::ConfigChanged)
        .map(|a| a.point);
    // A move before the latest configuration change belongs to old history.
    let current = |a: Option<&Annotation>| {
        a.filter(|a| last_config.is_none_or(|c| a.point >= c))
            .map(|a| a.change.kind)
    };
    let kinds = [
        current(moves(Metric::Duration).or_else(|| moves(Metric::Throughput))),
        current(moves(Metric::FailureRate)),
    ];
    let kinds: Vec<ChangeKind> = kinds.into_iter().flatten().collect();
    if kinds.contains(&ChangeKind::Regression) {
        return TrendStatus::Regressed;
    }
    if points.last().is_some_and(|p| p.failed > 0 || !p.pass_sla) {
        return TrendStatus::Failing;
    }
    if kinds.contains(&ChangeKind::Improvement) {
        return TrendStatus::Improved;
    }
    TrendStatus::Stable
}
