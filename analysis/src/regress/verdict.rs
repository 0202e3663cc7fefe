//! The pre-merge verdict (`docs/ARCHITECTURE.md`, "Detection"): each series of a
//! patchset's build(s) against a baseline window of the same series' recent
//! branch builds. Choosing the baseline (same branch, same provider when
//! known, before the tested commit) is the caller's job; this file holds the
//! types and the build-level flow, `evidence` the per-series rule:
//!
//! 1. a Mann–Whitney U test of the new iterations against the baseline
//!    iterations (rank-based: Rally durations are skewed, with outliers);
//! 2. the series' own run-to-run noise, the robust spread (Qn) of the
//!    baseline's per-build medians. The iterations of one build share a
//!    node, so the rank test alone calls every slow node a regression; the
//!    shift is therefore also tested against this noise (a t-test on
//!    shift/noise), and the larger of the two p-values is kept;
//! 3. Benjamini–Hochberg over every series of the build
//!    (`verdicts_for_build`), so a job with 40 series is held to the same
//!    false-alarm rate per patchset as a job with one;
//! 4. an effect-size floor, |shift| ≥ max(k × √(noise² + se²), 2 % of the
//!    median), se being the standard error of the new builds' own median;
//! 5. a worse shift that is not proven, or too few samples, is
//!    `Inconclusive`: a recheck adds a build, which shrinks the noise of the
//!    new level by √(builds), so it can settle the question.
//!
//! Failure rates get Fisher's exact test instead (`failure_verdict`).

use serde::Serialize;

use super::evidence::{assess_failures, assess_samples, decide};
use super::stats::bh_q_values;

/// Which way is worse for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Durations: a rise is a regression.
    #[default]
    LowerIsBetter,
    /// Throughput: a fall is a regression.
    HigherIsBetter,
}

/// The outcome for one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Worse beyond the floor, with q ≤ `Thresholds::q_max`.
    Regression,
    /// Better beyond the floor, with q ≤ `Thresholds::q_max`.
    Improvement,
    /// No shift worth a recheck.
    NoChange,
    /// Possibly worse, not proven: recheck to add samples (see `reason`).
    Inconclusive,
}

/// The test behind a verdict, which also says how to read its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// Duration-like values; medians, spread, shift and floor are in the
    /// metric's unit; p is max(Mann–Whitney, noise t-test).
    MannWhitney,
    /// Failure rate; medians are failure fractions, `shift` is the rise in
    /// fraction and `change_pct` the rise in percentage points.
    FisherExact,
}

/// Failed and total iteration counts (pooled over builds by adding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    pub failed: u64,
    pub total: u64,
}

/// Decision thresholds. `Default` holds the documented values; the
/// evaluation (issue 4, part 2) may tune them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// BH false-discovery rate per build: on a clean patchset every series is
    /// null, so with exact p-values this would bound the chance of any false
    /// regression verdict. Real build noise is heavier-tailed than the tests
    /// assume (a slow node's iterations are not independent draws), so the
    /// level is set on the evaluation's tuning set (`tests/bench/detection`):
    /// 0.005 gives 0.5 false regressions per 100 clean 33-series patchsets
    /// there (0.05 gave 2.8), the goal being ≤ 1; what it no longer proves
    /// on one build becomes a recheck (`q_inconclusive`).
    pub q_max: f64,
    /// Looser BH level below which a worse shift is `Inconclusive` rather than
    /// `NoChange`: worth a recheck. 0.08 keeps "recheck" off 90 % of clean
    /// patchsets on the tuning set (0.2 asked one in seven) while ≤ 1 % of
    /// 5 σ slowdowns pass as NoChange; the trade-off curve is printed by
    /// `tests/bench/detection`.
    pub q_inconclusive: f64,
    /// Regression needs |shift| ≥ 3 × noise (noise scaled by √(1/new builds +
    /// 1/baseline builds)). With many series BH is the stricter bar; with one
    /// series this is, and a clean build passed it in 1.5 % of simulated
    /// single-series patchsets (noise estimated from 20 builds).
    pub k_regression: f64,
    /// A worse shift under 1.5 × noise is `NoChange` whatever its p: a clean
    /// build is that far out for 7 % of series, too common to ask for rechecks.
    pub k_inconclusive: f64,
    /// Shifts under 2 % of the baseline median are never reported: below what
    /// shared-cloud CI can attribute (Perfherder's and the anchors' floor).
    pub min_effect_rel: f64,
    /// Noise is at least 0.5 % of the baseline median, so build medians that
    /// happen to be identical (Qn 0, coarse timers) never make the floor 0.
    pub noise_floor_rel: f64,
    /// Fewer than 3 new iterations: one odd iteration is half the evidence,
    /// and 1 vs 80 cannot reach p < 0.025 anyway.
    pub min_new_samples: usize,
    /// Fewer than 5 baseline builds: the spread of so few build medians is
    /// too unstable to serve as the noise.
    pub min_baseline_builds: usize,
    /// A failure-rate regression needs ≥ 2 failed new iterations: a single
    /// failure on a shared cloud is as often a hiccup as a bug.
    pub min_new_failures: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            q_max: 0.005,
            q_inconclusive: 0.08,
            k_regression: 3.0,
            k_inconclusive: 1.5,
            min_effect_rel: 0.02,
            noise_floor_rel: 0.005,
            min_new_samples: 3,
            min_baseline_builds: 5,
            min_new_failures: 2,
        }
    }
}

/// A verdict and every number that explains it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The caller's series key (empty from the single-series functions).
    pub series: String,
    pub kind: VerdictKind,
    pub test: Test,
    pub direction: Direction,
    /// Median of all baseline iterations (failure fraction for Fisher).
    pub baseline_median: Option<f64>,
    /// Run-to-run noise: Qn robust SD of the baseline's per-build medians
    /// (as robust as the MAD, twice as efficient), floored at
    /// `noise_floor_rel` × median. `None` for Fisher.
    pub baseline_spread: Option<f64>,
    /// Median of all new iterations (failure fraction for Fisher).
    pub new_median: Option<f64>,
    /// Hodges–Lehmann shift new − baseline (failure-fraction rise for Fisher).
    pub shift: Option<f64>,
    /// `shift` relative to the baseline median, in % (points for Fisher).
    pub change_pct: Option<f64>,
    /// The |shift| a regression needs: max(k × noise × √(1/new builds +
    /// 1/baseline builds), `min_effect_rel` × median). `None` for Fisher.
    pub floor: Option<f64>,
    /// Two-sided p (max of Mann–Whitney and noise t-test) or one-sided
    /// Fisher p. `None` when nothing could be tested.
    pub p_value: Option<f64>,
    /// Benjamini–Hochberg q-value over the build (= p for a single series).
    /// `None` for series left out of the family (too few samples).
    pub q_value: Option<f64>,
    /// Iterations in the baseline window and in the new build(s).
    pub n_baseline: u64,
    pub n_new: u64,
    /// Builds behind the baseline and new samples (rechecks pooled); 0 for
    /// Fisher, whose inputs are already pooled counts.
    pub baseline_builds: usize,
    pub new_builds: usize,
    /// One sentence with the deciding numbers.
    pub reason: String,
}

/// One series of a build, as `verdicts_for_build` takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInput {
    /// Caller's key (workload identity × action × statistic); sorts the output.
    pub series: String,
    pub direction: Direction,
    pub data: SeriesData,
}

/// The samples of one series.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesData {
    /// Per-build iteration values: `new` holds the patchset's builds (one per
    /// recheck), `baseline` the branch builds of the window.
    Samples {
        new: Vec<Vec<f64>>,
        baseline: Vec<Vec<f64>>,
    },
    /// Failed/total iterations of the patchset and of the baseline window.
    Failures { new: Counts, baseline: Counts },
}

/// Verdicts for every series of one build: each series is tested, q-values
/// come from Benjamini–Hochberg over all testable series, then each is
/// decided. Sorted by series key (ties keep input order), so the output
/// does not depend on the order the caller collected the series in.
///
/// ```
/// use perfkit_analysis::regress::verdict::*;
/// let baseline: Vec<Vec<f64>> = (0..20)
///     .map(|b| (0..4).map(|i| 10.0 + 0.1 * ((b * 7 + i * 3) % 11) as f64).collect())
///     .collect();
/// let series = [SeriesInput {
///     series: "boot/total/median".into(),
///     direction: Direction::LowerIsBetter,
///     data: SeriesData::Samples { new: vec![vec![20.1, 20.4, 19.8, 20.0]], baseline },
/// }];
/// let v = &verdicts_for_build(&series)[0];
/// assert_eq!(v.kind, VerdictKind::Regression);
/// assert!(v.change_pct.unwrap() > 90.0);
/// ```
pub fn verdicts_for_build(series: &[SeriesInput]) -> Vec<Verdict> {
    verdicts_for_build_with(series, &Thresholds::default())
}

/// `verdicts_for_build` with explicit thresholds.
pub fn verdicts_for_build_with(series: &[SeriesInput], t: &Thresholds) -> Vec<Verdict> {
    let assessed: Vec<_> = series
        .iter()
        .map(|s| {
            let mut a = match &s.data {
                SeriesData::Samples { new, baseline } => {
                    assess_samples(new, baseline, s.direction, t)
                }
                SeriesData::Failures { new, baseline } => assess_failures(*new, *baseline),
            };
            a.verdict.series = s.series.clone();
            a
        })
        .collect();
    let family: Vec<Option<f64>> = assessed.iter().map(|a| a.family_p()).collect();
    let q = bh_q_values(&family);
    let mut out: Vec<Verdict> = assessed
        .into_iter()
        .zip(q)
        .map(|(a, q)| decide(a, q, t))
        .collect();
    out.sort_by(|a, b| a.series.cmp(&b.series)); // stable: equal keys keep input order
    out
}

/// Verdict for one duration-like series tested alone (q = p). `new` holds
/// the patchset's builds (rechecks), `baseline` the branch builds; each
/// inner list is one build's iteration values. Non-finite values are dropped.
pub fn sample_verdict(
    new: &[Vec<f64>],
    baseline: &[Vec<f64>],
    direction: Direction,
    t: &Thresholds,
) -> Verdict {
    let a = assess_samples(new, baseline, direction, t);
    let q = a.family_p();
    decide(a, q, t)
}

/// Verdict for a failure rate tested alone (q = p): did the share of failed
/// iterations rise? Fisher's exact test, one-sided.
pub fn failure_verdict(new: Counts, baseline: Counts, t: &Thresholds) -> Verdict {
    let a = assess_failures(new, baseline);
    let q = a.family_p();
    decide(a, q, t)
}
