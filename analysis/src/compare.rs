//! The pre-merge comparison: a patchset's builds (rechecks pooled) against
//! a baseline window of recent branch builds of the same job and branch.
//!
//! Baseline: builds that measured the branch (`ArchivedBuild::is_branch_build`)
//! of the same job and branch, started before the patchset's last build,
//! the most recent `BASELINE_WINDOW`; when the patchset ran on one node
//! provider and the window holds enough builds from it, only those (shared
//! clouds differ more between providers than between days). Per series,
//! only baseline builds with the patchset's workload configuration count,
//! and only from the window's last change point on (the branch's current
//! level); when none has the configuration, the series is "configuration
//! changed", not a verdict.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Metric, SeriesKey, SeriesLabel, merged_rows};
use crate::regress::changepoint::change_points;
use crate::regress::verdict::{
    Counts, Direction, SeriesData, SeriesInput, Thresholds, Verdict, VerdictKind,
    verdicts_for_build_with,
};
use perfkit_schema::records::{ArchivedBuild, Phase, SeriesRow};

/// Most recent branch builds in a baseline: about a month of a daily
/// periodic job, long enough for a stable noise estimate, short enough that
/// last quarter's level does not count as today's.
pub const BASELINE_WINDOW: usize = 30;

/// The outcome for one series, including the cases no test decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Regression,
    Inconclusive,
    ConfigChanged,
    Improvement,
    NoChange,
    /// The series has no branch history yet (a new workload or action).
    NoBaseline,
}

impl Status {
    fn of(kind: VerdictKind) -> Status {
        match kind {
            VerdictKind::Regression => Status::Regression,
            VerdictKind::Improvement => Status::Improvement,
            VerdictKind::NoChange => Status::NoChange,
            VerdictKind::Inconclusive => Status::Inconclusive,
        }
    }

    /// Words for tables.
    pub fn name(self) -> &'static str {
        match self {
            Status::Regression => "regression",
            Status::Inconclusive => "inconclusive",
            Status::ConfigChanged => "configuration changed",
            Status::Improvement => "improvement",
            Status::NoChange => "no change",
            Status::NoBaseline => "no baseline",
        }
    }
}

/// A build as comparison pages and comments cite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRef {
    pub build: String,
    pub change: u64,
    pub patchset: u32,
    pub job: Option<String>,
    pub pipeline: Option<String>,
    pub branch: Option<String>,
    pub node_provider: Option<String>,
    pub log_url: Option<String>,
    pub change_url: Option<String>,
    pub time_us: i64,
    /// The commits this build can end a suspect range with, project →
    /// sha: those of a periodic or post build (no change). A gate build
    /// tested a speculative merge, so its recorded commit is not one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub commits: BTreeMap<String, String>,
}

impl BuildRef {
    pub fn of(build: &ArchivedBuild) -> BuildRef {
        let r = &build.record;
        BuildRef {
            build: r.key.build.to_string(),
            change: r.key.change,
            patchset: r.key.patchset,
            job: r.meta.job.clone(),
            pipeline: r.meta.pipeline.clone(),
            branch: r.meta.branch.clone(),
            node_provider: r.meta.node_provider.clone(),
            log_url: r.meta.log_url.clone(),
            change_url: r.meta.change_url.clone(),
            time_us: build.time_us(),
            commits: range_ends(build),
        }
    }
}

/// The commits of `build` usable as suspect range ends (see `BuildRef::commits`).
fn range_ends(build: &ArchivedBuild) -> BTreeMap<String, String> {
    let r = &build.record;
    if r.key.change != 0 || !build.is_branch_build() {
        return BTreeMap::new();
    }
    let mut out = r.meta.required_commits.clone();
    if let Some(sha) = &r.meta.commit {
        out.insert(r.key.project.to_string(), sha.clone());
    }
    out
}

/// One series' outcome with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesVerdict {
    /// `SeriesKey::id`, the series page on the site.
    pub id: String,
    pub label: SeriesLabel,
    pub metric: Metric,
    pub status: Status,
    /// The test's numbers; `None` for configuration changes and new series.
    pub verdict: Option<Verdict>,
}

/// Every verdict of one patchset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub project: String,
    pub change: u64,
    pub patchset: u32,
    /// The patchset's builds (rechecks), oldest first.
    pub builds: Vec<BuildRef>,
    /// The branch builds the verdicts compare against, oldest first.
    pub baseline: Vec<BuildRef>,
    /// Whether the baseline was narrowed to the patchset's node provider.
    pub same_provider: bool,
    /// Worst first (regressions, then inconclusive…), then by label.
    pub series: Vec<SeriesVerdict>,
    /// Locust runs through an upgrade among the builds: their requests in
    /// the upgrade's window, all request types together.
    pub upgrade: Option<UpgradeTally>,
}

/// Requests in the upgrade windows of a patchset's Locust runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UpgradeTally {
    /// Builds that ran through an upgrade.
    pub builds: usize,
    pub requests: u64,
    pub failures: u64,
}

impl UpgradeTally {
    /// Sums the `Aggregated` rows during the upgrade (Locust's total over
    /// every request type); `None` when no build ran through one.
    pub fn of<'a>(builds: impl IntoIterator<Item = &'a ArchivedBuild>) -> Option<UpgradeTally> {
        let during = format!("Aggregated{}", Phase::During.action_suffix());
        let mut tally = UpgradeTally {
            builds: 0,
            requests: 0,
            failures: 0,
        };
        for build in builds {
            if let Some(row) = build
                .series
                .iter()
                .find(|r| r.phase == Some(Phase::During) && r.action == during)
            {
                tally.builds += 1;
                tally.requests += row.samples;
                tally.failures += row.failed;
            }
        }
        (tally.builds > 0).then_some(tally)
    }
}

impl Comparison {
    /// Series with this status.
    pub fn count(&self, status: Status) -> usize {
        self.series.iter().filter(|s| s.status == status).count()
    }

    /// Whether any series regressed.
    pub fn has_regression(&self) -> bool {
        self.count(Status::Regression) > 0
    }
}

/// Values kept per build for a picture of a flagged series. A Rally build
/// holds its iterations, a Locust or fio build up to 1,000 quantile
/// points: 200 evenly spaced order statistics (the minimum and maximum
/// among them) draw the same strip at a fraction of the memory and of the
/// page's size. The median and count are of every value.
pub const PLOT_VALUES_PER_BUILD: usize = 200;

/// The values behind a flagged verdict, build by build, for a picture
/// (the change page's strip plot): what the verdict compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSamples {
    /// The series' `SeriesVerdict::id` and metric.
    pub id: String,
    pub metric: Metric,
    /// The baseline builds the verdict used (its configuration, from the
    /// branch's last change point on), oldest first.
    pub baseline: Vec<BuildValues>,
    /// The patchset's builds (rechecks), oldest first.
    pub new: Vec<BuildValues>,
}

/// One build's values of a series: its values in the series' unit, or for
/// a failure rate the build's one failed share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildValues {
    /// The build: an index into `Comparison::baseline` or
    /// `Comparison::builds`.
    pub build: usize,
    /// How many values the build had (for a failure rate, its iterations).
    pub count: u64,
    /// The median of all of them (the failed share for a failure rate).
    pub median: Option<f64>,
    /// At most [`PLOT_VALUES_PER_BUILD`] of them, ascending.
    pub values: Vec<f64>,
}

impl BuildValues {
    /// The finite values of `raw`, thinned for a picture.
    fn of(build: usize, raw: &[f64]) -> Option<BuildValues> {
        let mut values: Vec<f64> = raw.iter().copied().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return None; // left out of the verdict too
        }
        values.sort_by(f64::total_cmp);
        let count = values.len();
        let median = crate::regress::stats::median(&values);
        let cap = PLOT_VALUES_PER_BUILD;
        if count > cap {
            // Order statistics at round(k (n − 1) / (cap − 1)), k = 0…cap − 1.
            let step = |k: usize| (2 * k * (count - 1) + cap - 1) / (2 * (cap - 1));
            values = (0..cap).map(|k| values[step(k)]).collect();
        }
        Some(BuildValues {
            build,
            count: count as u64,
            median,
            values,
        })
    }

    /// A build's failed share.
    fn failures(build: usize, row: &SeriesRow) -> Option<BuildValues> {
        let share =
            (row.samples > 0).then(|| row.failed.min(row.samples) as f64 / row.samples as f64)?;
        Some(BuildValues {
            build,
            count: row.samples,
            median: Some(share),
            values: vec![share],
        })
    }
}

/// Compares change `change` patchset `patchset` (every build of it in
/// `builds`) with its baseline; `None` when the archive has no build of it.
pub fn compare(builds: &[ArchivedBuild], change: u64, patchset: u32) -> Option<Comparison> {
    Comparer::new(builds).compare(change, patchset, &Thresholds::default())
}

/// A project's builds sorted once, for comparing many patchsets (the site
/// compares every patchset of a project).
pub struct Comparer<'a> {
    /// Branch builds, oldest first.
    branch: Vec<&'a ArchivedBuild>,
    /// Builds of each change/patchset, oldest first.
    patchsets: BTreeMap<(u64, u32), Vec<&'a ArchivedBuild>>,
}

impl<'a> Comparer<'a> {
    pub fn new(builds: &'a [ArchivedBuild]) -> Comparer<'a> {
        Comparer::of_refs(builds.iter())
    }

    /// As `new`, over builds held elsewhere (the site keeps only the
    /// builds a patchset and its baseline need).
    pub fn of_refs(builds: impl IntoIterator<Item = &'a ArchivedBuild>) -> Comparer<'a> {
        let mut ordered: Vec<&ArchivedBuild> = builds.into_iter().collect();
        ordered.sort_by(|a, b| {
            (a.time_us(), a.record.key.build.as_str())
                .cmp(&(b.time_us(), b.record.key.build.as_str()))
        });
        let mut patchsets: BTreeMap<(u64, u32), Vec<&ArchivedBuild>> = BTreeMap::new();
        for b in &ordered {
            if b.record.key.change > 0 {
                patchsets
                    .entry((b.record.key.change, b.record.key.patchset))
                    .or_default()
                    .push(b);
            }
        }
        Comparer {
            branch: ordered
                .into_iter()
                .filter(|b| b.is_branch_build())
                .collect(),
            patchsets,
        }
    }

    /// Every change/patchset with builds, in (change, patchset) order.
    pub fn patchsets(&self) -> impl DoubleEndedIterator<Item = (u64, u32)> + '_ {
        self.patchsets.keys().copied()
    }

    /// The builds of one patchset and the baseline chosen for them (oldest
    /// first), and whether it was narrowed to their node provider; `None`
    /// without builds of it. Reads only the builds' rows, never their
    /// series: builds without series choose the same baseline.
    pub fn select(
        &self,
        change: u64,
        patchset: u32,
        thresholds: &Thresholds,
    ) -> Option<Selection<'a>> {
        let new = self.patchsets.get(&(change, patchset))?;
        new.first()?;
        let mut jobs: Vec<Option<&str>> =
            new.iter().map(|b| b.record.meta.job.as_deref()).collect();
        jobs.sort();
        jobs.dedup();
        let mut baseline: Vec<&ArchivedBuild> = Vec::new();
        let mut same_provider = !jobs.is_empty();
        for job in jobs {
            let of_job: Vec<&ArchivedBuild> = new
                .iter()
                .copied()
                .filter(|b| b.record.meta.job.as_deref() == job)
                .collect();
            let (window, narrowed) = baseline_window(&self.branch, &of_job, change, thresholds);
            same_provider &= narrowed;
            baseline.extend(window);
        }
        baseline.sort_by_key(|b| (b.time_us(), b.record.key.build.as_str().to_string()));
        Some(Selection {
            builds: new.clone(),
            baseline,
            same_provider,
        })
    }

    /// The comparison of one patchset; `None` without builds of it.
    pub fn compare(
        &self,
        change: u64,
        patchset: u32,
        thresholds: &Thresholds,
    ) -> Option<Comparison> {
        self.judge(change, patchset, thresholds, false)
            .map(|(c, _)| c)
    }

    /// The comparison of one patchset and, for every flagged series
    /// (regression, improvement, inconclusive) in its order, the values
    /// the verdict compared, build by build (`SeriesSamples`).
    pub fn compare_with_samples(
        &self,
        change: u64,
        patchset: u32,
        thresholds: &Thresholds,
    ) -> Option<(Comparison, Vec<SeriesSamples>)> {
        self.judge(change, patchset, thresholds, true)
    }

    fn judge(
        &self,
        change: u64,
        patchset: u32,
        thresholds: &Thresholds,
        keep_samples: bool,
    ) -> Option<(Comparison, Vec<SeriesSamples>)> {
        let Selection {
            builds: new,
            baseline,
            same_provider,
        } = self.select(change, patchset, thresholds)?;
        let (series, samples) = judge(&new, &baseline, thresholds, keep_samples);
        let comparison = Comparison {
            project: new[0].record.key.project.to_string(),
            change,
            patchset,
            builds: new.iter().map(|b| BuildRef::of(b)).collect(),
            baseline: baseline.iter().map(|b| BuildRef::of(b)).collect(),
            same_provider,
            series,
            upgrade: UpgradeTally::of(new.iter().copied()),
        };
        Some((comparison, samples))
    }
}

/// A patchset's builds and its baseline (`Comparer::select`).
pub struct Selection<'a> {
    /// The patchset's builds, oldest first.
    pub builds: Vec<&'a ArchivedBuild>,
    /// Its baseline, oldest first.
    pub baseline: Vec<&'a ArchivedBuild>,
    /// Whether the baseline was narrowed to the builds' node provider.
    pub same_provider: bool,
}

/// The baseline of one job's new builds, and whether it was narrowed to
/// their node provider.
fn baseline_window<'a>(
    branch: &[&'a ArchivedBuild],
    new: &[&ArchivedBuild],
    change: u64,
    thresholds: &Thresholds,
) -> (Vec<&'a ArchivedBuild>, bool) {
    let meta = &new[0].record.meta;
    // A build that measured nothing (NODE_FAILURE: often no start time, so
    // its time is when it was archived) does not say when the patchset ran.
    let latest = new
        .iter()
        .filter(|b| b.record.has_results())
        .map(|b| b.time_us())
        .max()
        .unwrap_or(i64::MAX);
    let candidates: Vec<&ArchivedBuild> = branch
        .iter()
        .copied()
        .filter(|b| {
            b.record.key.change != change
                && b.record.meta.job == meta.job
                && (meta.branch.is_none() || b.record.meta.branch == meta.branch)
                && b.time_us() <= latest
        })
        .collect();
    let recent = |list: Vec<&'a ArchivedBuild>| -> Vec<&'a ArchivedBuild> {
        let skip = list.len().saturating_sub(BASELINE_WINDOW);
        list.into_iter().skip(skip).collect()
    };
    let provider = meta.node_provider.as_deref();
    let one_provider = provider.is_some()
        && new
            .iter()
            .all(|b| b.record.meta.node_provider.as_deref() == provider);
    if one_provider {
        let same: Vec<&ArchivedBuild> = candidates
            .iter()
            .copied()
            .filter(|b| b.record.meta.node_provider.as_deref() == provider)
            .collect();
        if same.len() >= thresholds.min_baseline_builds {
            return (recent(same), true);
        }
    }
    (recent(candidates), false)
}

/// Rows of one series across builds: one entry per build that has it.
type PerBuild = Vec<(SeriesRow, usize)>;

/// The rows a flagged series' picture is drawn from: (build index, row).
struct PlotRows<'r> {
    new: Vec<(usize, &'r SeriesRow)>,
    baseline: Vec<(usize, &'r SeriesRow)>,
}

impl PlotRows<'_> {
    fn samples(&self, id: String, metric: Metric) -> SeriesSamples {
        let values = |rows: &[(usize, &SeriesRow)]| -> Vec<BuildValues> {
            rows.iter()
                .filter_map(|&(i, r)| match metric {
                    Metric::FailureRate => BuildValues::failures(i, r),
                    _ => BuildValues::of(i, &r.durations_s),
                })
                .collect()
        };
        SeriesSamples {
            id,
            metric,
            baseline: values(&self.baseline),
            new: values(&self.new),
        }
    }
}

fn judge(
    new: &[&ArchivedBuild],
    baseline: &[&ArchivedBuild],
    thresholds: &Thresholds,
    keep_samples: bool,
) -> (Vec<SeriesVerdict>, Vec<SeriesSamples>) {
    let mut new_rows: BTreeMap<SeriesKey, (SeriesLabel, PerBuild)> = BTreeMap::new();
    for (i, build) in new.iter().enumerate() {
        for (key, row) in merged_rows(build) {
            let entry = new_rows
                .entry(key)
                .or_insert_with(|| (SeriesLabel::of(build, &row), Vec::new()));
            entry.1.push((row, i));
        }
    }
    // Keyed without the branch: the window holds the patchset's branch by
    // construction (or any branch when Zuul did not name one).
    let mut base_rows: BTreeMap<(String, String), PerBuild> = BTreeMap::new();
    for (i, build) in baseline.iter().enumerate() {
        for (key, row) in merged_rows(build) {
            base_rows
                .entry((key.workload_key, key.action))
                .or_default()
                .push((row, i));
        }
    }

    let mut out = Vec::new();
    let mut inputs = Vec::new();
    let mut pending: BTreeMap<String, (SeriesKey, SeriesLabel, Metric, Option<PlotRows>)> =
        BTreeMap::new();
    for (key, (label, rows)) in &new_rows {
        let config = &rows.last().expect("one row at least").0.config_hash;
        let history = base_rows
            .get(&(key.workload_key.clone(), key.action.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let same_config: Vec<&(SeriesRow, usize)> = history
            .iter()
            .filter(|(r, _)| &r.config_hash == config)
            .collect();
        let same_config = since_last_change(same_config, label.direction());
        let status = if history.is_empty() {
            Some(Status::NoBaseline)
        } else if same_config.is_empty() {
            Some(Status::ConfigChanged)
        } else {
            None
        };
        if let Some(status) = status {
            out.push(SeriesVerdict {
                id: key.id(),
                label: label.clone(),
                metric: Metric::Duration,
                status,
                verdict: None,
            });
            continue;
        }
        // Only a site build draws the values: compare and review skip them.
        let plot_rows = || {
            keep_samples.then(|| PlotRows {
                new: rows.iter().map(|(r, i)| (*i, r)).collect(),
                baseline: same_config.iter().map(|(r, i)| (*i, r)).collect(),
            })
        };
        let name = |metric: Metric| format!("{}/{}", key.id(), metric.name());
        inputs.push(SeriesInput {
            series: name(Metric::Duration),
            direction: label.direction(),
            data: SeriesData::Samples {
                new: rows.iter().map(|(r, _)| r.durations_s.clone()).collect(),
                baseline: same_config
                    .iter()
                    .map(|(r, _)| r.durations_s.clone())
                    .collect(),
            },
        });
        pending.insert(
            name(Metric::Duration),
            (key.clone(), label.clone(), Metric::Duration, plot_rows()),
        );
        let counts = |rs: &mut dyn Iterator<Item = &SeriesRow>| {
            rs.fold(Counts::default(), |c, r| Counts {
                failed: c.failed + r.failed,
                total: c.total + r.samples,
            })
        };
        let new_counts = counts(&mut rows.iter().map(|(r, _)| r));
        // A rate with no new failure cannot have risen: leaving it out of
        // the family keeps Benjamini–Hochberg's bar where it belongs.
        if new_counts.failed > 0 {
            inputs.push(SeriesInput {
                series: name(Metric::FailureRate),
                direction: Direction::LowerIsBetter,
                data: SeriesData::Failures {
                    new: new_counts,
                    baseline: counts(&mut same_config.iter().map(|(r, _)| r)),
                },
            });
            pending.insert(
                name(Metric::FailureRate),
                (key.clone(), label.clone(), Metric::FailureRate, plot_rows()),
            );
        }
    }
    let mut plots: BTreeMap<(String, Metric), SeriesSamples> = BTreeMap::new();
    for verdict in verdicts_for_build_with(&inputs, thresholds) {
        let Some((key, label, metric, rows)) = pending.remove(&verdict.series) else {
            continue;
        };
        let status = Status::of(verdict.kind);
        if let Some(rows) = rows.filter(|_| crate::report::is_flagged(status)) {
            plots.insert((key.id(), metric), rows.samples(key.id(), metric));
        }
        out.push(SeriesVerdict {
            id: key.id(),
            label,
            metric,
            status,
            verdict: Some(verdict),
        });
    }
    out.sort_by(|a, b| (a.status, &a.label, a.metric).cmp(&(b.status, &b.label, b.metric)));
    let samples = out
        .iter()
        .filter_map(|s| plots.remove(&(s.id.clone(), s.metric)))
        .collect();
    (out, samples)
}

/// The baseline rows from the branch's last change point on: a level the
/// branch left behind is not what a patchset should be measured against
/// (it would turn an old, already-alerted step into the patchset's
/// regression). Rows are oldest first; detection is on per-build medians.
fn since_last_change(
    rows: Vec<&(SeriesRow, usize)>,
    direction: Direction,
) -> Vec<&(SeriesRow, usize)> {
    let medians: Vec<f64> = rows
        .iter()
        .map(|(r, _)| crate::regress::stats::median(&r.durations_s).unwrap_or(f64::NAN))
        .collect();
    let last = change_points(&medians, &[], direction)
        .into_iter()
        .map(|c| c.index)
        .max();
    match last {
        Some(cut) => rows.into_iter().skip(cut).collect(),
        None => rows,
    }
}
