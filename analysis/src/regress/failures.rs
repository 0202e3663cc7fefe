//! Post-merge change points of a failure rate, from the counts of each
//! branch build (`docs/ARCHITECTURE.md` "Detection"). A build's failure
//! fraction of 4–10 iterations takes a handful of values (0, ¼, ½ …), far
//! too coarse for E-divisive on per-build values; the counts themselves are
//! the data here.
//!
//! **The statistic** is the binomial likelihood ratio of a split: for
//! builds `a..b` cut at `τ`, `G(τ) = ℓ(F₁, N₁) + ℓ(F₂, N₂) − ℓ(F, N)` with
//! `ℓ(f, n) = f ln(f/n) + (n − f) ln(1 − f/n)` over the pooled failed and
//! total iterations of each side: the log-likelihood gained by giving the
//! two sides their own failure rate. The best split maximises it over every
//! τ leaving at least `min_segment` builds on each side, in one O(b − a)
//! pass over prefix sums.
//!
//! **Significance**: two tests, both of which must pass, as a verdict's p
//! is the larger of a rank test on iterations and a test against the spread
//! of builds. In both, the null statistic is again maximised over τ, so the
//! scan's own multiplicity is in the null.
//!
//! 1. *Iterations* (`scan_p`): given the F failures among the N iterations,
//!    every placement equally likely (independent failures at one rate).
//!    Its p-value is **exact** (to 1e-12), not sampled: the failures up to
//!    τ form a Markov chain (each build draws its own hypergeometrically
//!    from what is left), so one pass over the builds carries their
//!    distribution and collects the mass whose split reaches the observed
//!    `G`. It is the
//!    powerful one: 8 failures in the last 10 builds after 36 clean ones
//!    are a change, whichever builds they fell in.
//! 2. *Builds* (`shuffled_p`): whole builds shuffled (seeded, `rng`), the
//!    null "builds are exchangeable". Iterations of one build share a node,
//!    and a broken node fails several at once: one build failing 4 of 4
//!    near the end of 40 clean ones passes the first test (p < 0.001) but
//!    not this one (p ≈ 0.25: one odd build, as likely anywhere).
//!
//! Under independent failures both are valid; together they keep the false
//! alarms of the stricter first level and most of the power of the
//! looser second (`failures/tests.rs`, tuning seed: with the build shuffle
//! alone at 0.002 (999 shuffles, windows of 50), 93.2 % of 0 → 25 % rises were found by the 10th build
//! and up to 1.8 % of clean histories alarmed; with both, 94.8 % and
//! ≤ 0.2 %).
//!
//! **The search** is the one `changepoint` runs (Otava's split and merge):
//! binary segmentation in windows of `window` builds stepping by half, each
//! split kept at the weak level of the iteration test; then each candidate
//! is re-tested between its neighbours (at most a window each side) by
//! both tests at their strict levels, the weakest failing one dropped until
//! all pass. The observed statistic of a candidate is `G` at its own τ.
//! Cost per test: O(window × failures × iterations per build) for the
//! exact test, O(window × permutations) for the shuffles, so O(n) per
//! history (10,000 builds: tens of milliseconds); a segment without any
//! failure costs nothing.
//!
//! **Effect filter** (a CI gate must not cry wolf over one extra failure):
//! the pooled rates of the two sides must differ by at least
//! `min_rate_change` and the later side must hold at least
//! `min_excess_failures` failed iterations more (or fewer) than the earlier
//! side's rate predicts for it.

use serde::Serialize;

use super::changepoint::{ChangeKind, ChangePoint};
use super::rng::Rng;
use super::verdict::Counts;
use scan::{Tables, best_split, scan_p, shuffled_p};

mod scan;
#[cfg(test)]
mod tests;

/// Failure-rate change-point settings; `Default` holds the documented
/// values. The figures below are of the simulation in `failures/tests.rs`
/// on its tuning seed (`tuning_grid`: 500 histories per case, every
/// prefix); the defaults find 94.8 % of 0 → 25 % rises by the 10th build
/// and alarm on ≤ 0.2 % of clean histories at 0–30 %.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FailureChangeConfig {
    /// Builds per window of the split step: bounds each test at O(window)
    /// and keeps old history from drowning a recent change; windows overlap
    /// by half. Twice `ChangePointConfig`'s 50, as a build's counts say less
    /// than its median: the same figures on ≤ 60-build histories, but with
    /// 50 a 10,000-build history at 11 % with 1,000 builds at 40 % got a
    /// spurious 22-build burst and lost the fall back (`failures/tests.rs`).
    pub window: usize,
    /// Builds on each side of a change point at least: 5, as the other
    /// change points (a suspect is told once 5 builds confirm a change).
    /// 4 found 79.4 % instead of 76.6 % by the 5th build, the same by the
    /// 10th, and alarmed on 0.4 % of clean histories at 30 %.
    pub min_segment: usize,
    /// Strict level of the merge step's exact test (failed iterations
    /// placed at random): 0.002 found 96.4 % and alarmed up to 0.6 %,
    /// 0.0005 found 92.8 %.
    pub p_value: f64,
    /// Level of the split step's exact test: candidates the merge step
    /// re-tests (0.02 changed nothing).
    pub weak_p_value: f64,
    /// Level of the merge step's second test, shuffling whole builds: a
    /// change must not be explainable by a few builds that failed together.
    /// 0.005 found 93.2 %, 0.02 95.0 %, with the same alarms: under
    /// independent failures the exact test bounds those, and this one is
    /// the guard against clustered ones.
    pub build_p_value: f64,
    /// Build shuffles per test (199: 94.4 %); p has resolution
    /// 1 / (permutations + 1), and a test stops as soon as p must exceed
    /// its level.
    pub permutations: usize,
    /// Minimum |after − before| of the pooled failure rates, a fraction
    /// (0.05 is 5 percentage points). Rally's 4–10 iterations a build never
    /// reach it before the tests pass (10 pp and 3 failures changed
    /// nothing); Locust's hundreds of requests a build do: at 578 a build, a
    /// 2 % → 3 % move over 50 builds is 7.7 standard errors, and a flaky
    /// percent is not what a gate should page about.
    pub min_rate_change: f64,
    /// Minimum |failed after − before rate × iterations after|: failed
    /// iterations beyond what the old rate explains (a verdict on failures
    /// also needs 2 new ones).
    pub min_excess_failures: f64,
    /// PRNG seed; fixed so runs are reproducible.
    pub seed: u64,
}

impl Default for FailureChangeConfig {
    fn default() -> FailureChangeConfig {
        FailureChangeConfig {
            window: 100,
            min_segment: 5,
            p_value: 0.001,
            weak_p_value: 0.01,
            build_p_value: 0.01,
            permutations: 499,
            min_rate_change: 0.05,
            min_excess_failures: 2.0,
            seed: 0x5EED_FA11_0C0B_7E57,
        }
    }
}

/// Change points of a failure rate over `counts` (failed and total
/// iterations per branch build, oldest first).
///
/// Builds with no iterations are skipped (indices still refer to
/// `counts`; a `failed` above `total` counts as `total`). `config_changes`
/// lists indices of builds whose workload configuration differs from the
/// build before: detection never spans them, and each is returned as a
/// `ConfigChanged` point, as `change_points_with` does. A rise of the rate
/// is a `Regression`, a fall an `Improvement`; `before_median` and
/// `after_median` are the pooled failure fractions (failed / total
/// iterations) of the segments on either side, up to the neighbouring
/// change points; `magnitude_pct` is the change in **percentage points**,
/// `100 · (after − before)` (0 → 25 % is `+25`), as a verdict's
/// `change_pct` for failures; `p_value` is the larger of the merge step's
/// two p-values, the exact one and the build shuffles' (whose resolution is
/// 1 / (permutations + 1): 0.002 by default), `None` for configuration
/// changes. Deterministic: the shuffles are seeded from `cfg.seed` and the
/// positions tested.
///
/// ```
/// use perfkit_analysis::regress::failures::{FailureChangeConfig, failure_change_points};
/// use perfkit_analysis::regress::changepoint::ChangeKind;
/// use perfkit_analysis::regress::verdict::Counts;
/// // 30 builds of 4 iterations that never failed, then 15 failing 1 or 2.
/// let counts: Vec<Counts> = (0..45)
///     .map(|i| Counts { failed: if i < 30 { 0 } else { 1 + i % 2 }, total: 4 })
///     .collect();
/// let found = failure_change_points(&counts, &[], &FailureChangeConfig::default());
/// assert_eq!(found.len(), 1);
/// assert_eq!((found[0].index, found[0].kind), (30, ChangeKind::Regression));
/// assert_eq!(found[0].before_median, 0.0);
/// assert!((found[0].magnitude_pct.unwrap() - 100.0 * 22.0 / 60.0).abs() < 1e-9);
/// ```
pub fn failure_change_points(
    counts: &[Counts],
    config_changes: &[usize],
    cfg: &FailureChangeConfig,
) -> Vec<ChangePoint> {
    let kept: Vec<usize> = (0..counts.len()).filter(|&i| counts[i].total > 0).collect();
    let builds: Vec<(u64, u64)> = kept
        .iter()
        .map(|&i| (counts[i].failed.min(counts[i].total), counts[i].total))
        .collect();
    // A config change at original index b starts at the first kept build ≥ b.
    let mut bounds: Vec<usize> = config_changes
        .iter()
        .map(|&b| kept.partition_point(|&i| i < b))
        .filter(|&p| p > 0 && p < builds.len())
        .collect();
    bounds.sort_unstable();
    bounds.dedup();

    let mut events: Vec<(usize, Option<f64>)> = Vec::new(); // (compact position, p)
    let mut seg_start = 0;
    for end in bounds.iter().copied().chain(std::iter::once(builds.len())) {
        let segment = Segment::of(&builds[seg_start..end]);
        for (pos, p) in detect(&segment, seg_start, cfg) {
            events.push((seg_start + pos, Some(p)));
        }
        if end < builds.len() {
            events.push((end, None));
        }
        seg_start = end;
    }
    events.sort_by_key(|e| e.0);

    let all = Segment::of(&builds);
    let mut out = Vec::with_capacity(events.len());
    for (k, &(pos, p)) in events.iter().enumerate() {
        let lo = if k == 0 { 0 } else { events[k - 1].0 };
        let hi = events.get(k + 1).map_or(builds.len(), |e| e.0);
        let before = all.rate(lo, pos);
        let after = all.rate(pos, hi);
        let kind = match p {
            None => ChangeKind::ConfigChanged,
            Some(_) if after > before => ChangeKind::Regression,
            Some(_) => ChangeKind::Improvement,
        };
        // A config change keeps the caller's index even if that build was skipped.
        let index = match p {
            None => config_changes
                .iter()
                .copied()
                .filter(|&b| kept.partition_point(|&i| i < b) == pos)
                .min()
                .unwrap_or(kept[pos]),
            Some(_) => kept[pos],
        };
        out.push(ChangePoint {
            index,
            kind,
            before_median: before,
            after_median: after,
            magnitude_pct: (before.is_finite() && after.is_finite())
                .then_some(100.0 * (after - before)),
            p_value: p,
        });
    }
    out
}

/// Prefix sums of failed and total iterations over a run of builds.
struct Segment {
    failed: Vec<u64>,
    total: Vec<u64>,
}

impl Segment {
    fn of(builds: &[(u64, u64)]) -> Segment {
        let mut failed = Vec::with_capacity(builds.len() + 1);
        let mut total = Vec::with_capacity(builds.len() + 1);
        let (mut f, mut n) = (0, 0);
        failed.push(0);
        total.push(0);
        for &(bf, bn) in builds {
            f += bf;
            n += bn;
            failed.push(f);
            total.push(n);
        }
        Segment { failed, total }
    }

    fn len(&self) -> usize {
        self.failed.len() - 1
    }

    /// Failed and total iterations of builds `a..b`.
    fn sums(&self, a: usize, b: usize) -> (u64, u64) {
        (
            self.failed[b] - self.failed[a],
            self.total[b] - self.total[a],
        )
    }

    /// The builds `a..b` themselves.
    fn builds(&self, a: usize, b: usize) -> Vec<(u64, u64)> {
        (a..b)
            .map(|i| {
                (
                    self.failed[i + 1] - self.failed[i],
                    self.total[i + 1] - self.total[i],
                )
            })
            .collect()
    }

    /// Pooled failure fraction of builds `a..b` (NaN without iterations).
    fn rate(&self, a: usize, b: usize) -> f64 {
        let (f, n) = self.sums(a, b);
        if n == 0 {
            f64::NAN
        } else {
            f as f64 / n as f64
        }
    }
}

/// Change points inside one config segment: local positions and p-values.
/// `offset` (the segment's position in the whole history) only seeds the PRNG.
fn detect(s: &Segment, offset: usize, cfg: &FailureChangeConfig) -> Vec<(usize, f64)> {
    let m = cfg.min_segment.max(1);
    let w = cfg.window.max(2 * m);
    let (f, n) = s.sums(0, s.len());
    // No failure at all (or nothing but failures): no rate can have moved.
    if s.len() < 2 * m || f == 0 || f == n {
        return Vec::new();
    }
    // A test reads at most the builds of two windows.
    let span = (2 * w).min(s.len());
    let most = (0..=s.len() - span)
        .map(|a| s.sums(a, a + span).1)
        .max()
        .unwrap_or(n);
    let t = Tables::upto(most);
    let weak = split_step(s, &t, w, m, cfg);
    merge_step(s, &t, weak, offset, w, m, cfg)
}

/// Binary segmentation in windows of `w` builds stepping by w/2 (or to the
/// last change found); candidates closer than `m` keep the one with the
/// larger statistic.
fn split_step(
    s: &Segment,
    t: &Tables,
    w: usize,
    m: usize,
    cfg: &FailureChangeConfig,
) -> Vec<usize> {
    let mut found: Vec<(usize, f64)> = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + w).min(s.len());
        let mut new = Vec::new();
        bisect(s, t, (start, end), m, cfg, &mut new);
        let last = new.iter().map(|c| c.0).max().unwrap_or(0);
        found.extend(new);
        if end == s.len() {
            break;
        }
        start = last.max(start + w / 2);
    }
    super::changepoint::strongest_apart(found, m)
}

/// Recursive binary segmentation of builds `a..b`, keeping splits whose
/// exact scan p-value is within the weak level: pushes (position,
/// statistic) of each.
fn bisect(
    s: &Segment,
    t: &Tables,
    (a, b): (usize, usize),
    m: usize,
    cfg: &FailureChangeConfig,
    out: &mut Vec<(usize, f64)>,
) {
    let builds = s.builds(a, b);
    let Some((tau, g)) = best_split(t, &builds, m) else {
        return;
    };
    // A split the merge step would drop for its size is not worth a test.
    if effect(s.sums(a, a + tau), s.sums(a + tau, b), cfg) < 1.0 {
        return;
    }
    if scan_p(t, &builds, g, m, cfg.weak_p_value) > cfg.weak_p_value {
        return;
    }
    out.push((a + tau, g));
    bisect(s, t, (a, a + tau), m, cfg, out);
    bisect(s, t, (a + tau, b), m, cfg, out);
}

/// The merge step at the strict levels: each candidate is re-tested between
/// its neighbours (at most `w` builds each side); the weakest failing one
/// (furthest from its levels, then smallest effect) is dropped and its
/// neighbours re-tested, until every candidate passes both tests and the
/// effect filter.
fn merge_step(
    s: &Segment,
    t: &Tables,
    weak: Vec<usize>,
    offset: usize,
    w: usize,
    m: usize,
    cfg: &FailureChangeConfig,
) -> Vec<(usize, f64)> {
    let mut cps = weak;
    let assess_at = |cps: &[usize], k: usize| -> Assessed {
        let lo = if k == 0 { 0 } else { cps[k - 1] };
        let hi = cps.get(k + 1).copied().unwrap_or(s.len());
        let tau = cps[k];
        let (a, b) = (lo.max(tau.saturating_sub(w)), hi.min(tau + w));
        assess(s, t, (a, tau, b), offset, m, cfg)
    };
    let mut stats: Vec<Assessed> = (0..cps.len()).map(|k| assess_at(&cps, k)).collect();
    while !cps.is_empty() {
        // Weakest: furthest from its levels; ties go to the smaller effect,
        // then the later index.
        let weakest = (0..cps.len())
            .max_by(|&i, &j| {
                let (si, sj) = (&stats[i], &stats[j]);
                si.shortfall
                    .total_cmp(&sj.shortfall)
                    .then(sj.size.total_cmp(&si.size))
                    .then(i.cmp(&j))
            })
            .unwrap_or(0);
        let drop = if stats[weakest].shortfall > 1.0 {
            Some(weakest)
        } else {
            let smallest = (0..cps.len())
                .min_by(|&i, &j| stats[i].size.total_cmp(&stats[j].size).then(j.cmp(&i)))
                .unwrap_or(0);
            (stats[smallest].size < 1.0).then_some(smallest)
        };
        let Some(k) = drop else { break };
        cps.remove(k);
        stats.remove(k);
        for j in [k.wrapping_sub(1), k] {
            if j < cps.len() {
                stats[j] = assess_at(&cps, j);
            }
        }
    }
    cps.into_iter().zip(stats).map(|(c, s)| (c, s.p)).collect()
}

/// One merge-step assessment.
struct Assessed {
    /// The larger of the two p-values.
    p: f64,
    /// The larger of p / level over the two tests: passes at ≤ 1.
    shortfall: f64,
    /// How far the effect filter is cleared: passes at ≥ 1.
    size: f64,
}

/// The change at `tau` between `a` and `b`, tested twice; the observed
/// statistic is `G` at `tau`, the nulls the best split wherever it falls:
/// exactly over arrangements of the failed iterations (`scan_p`, at
/// `p_value`), and over shuffles of whole builds (`shuffled_p`, at
/// `build_p_value`). Both must pass, as a verdict's p is the larger of a
/// rank test on iterations and a test against the spread of builds.
fn assess(
    s: &Segment,
    t: &Tables,
    (a, tau, b): (usize, usize, usize),
    offset: usize,
    m: usize,
    cfg: &FailureChangeConfig,
) -> Assessed {
    let size = effect(s.sums(a, tau), s.sums(tau, b), cfg);
    let failed = Assessed {
        p: 1.0,
        shortfall: f64::INFINITY,
        size,
    };
    if size < 1.0 || tau < a + m || tau + m > b {
        return failed; // dropped whatever its p: skip the tests
    }
    let (f1, n1) = s.sums(a, tau);
    let (f2, n2) = s.sums(tau, b);
    let observed = t.gain(f1, n1, f2, n2);
    let builds = s.builds(a, b);
    let p_iterations = scan_p(t, &builds, observed, m, cfg.p_value);
    if p_iterations > cfg.p_value {
        return Assessed {
            p: p_iterations,
            shortfall: p_iterations / cfg.p_value,
            size,
        };
    }
    let seeds = [
        cfg.seed,
        (offset + a) as u64,
        (offset + tau) as u64,
        (offset + b) as u64,
    ];
    let mut rng = Rng::from_parts(&seeds);
    let p_builds = shuffled_p(
        t,
        &builds,
        observed,
        m,
        cfg.build_p_value,
        cfg.permutations,
        &mut rng,
    );
    Assessed {
        p: p_iterations.max(p_builds),
        shortfall: (p_iterations / cfg.p_value).max(p_builds / cfg.build_p_value),
        size,
    }
}

/// How far a split clears the effect filter: the smaller of |Δ rate| /
/// `min_rate_change` and |excess failures after| / `min_excess_failures`.
/// Below 1 the change point is dropped.
fn effect((f1, n1): (u64, u64), (f2, n2): (u64, u64), cfg: &FailureChangeConfig) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 0.0;
    }
    let r1 = f1 as f64 / n1 as f64;
    let r2 = f2 as f64 / n2 as f64;
    let ratio = |x: f64, y: f64| {
        if y > 0.0 {
            x / y
        } else if x > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    };
    let by_rate = ratio((r2 - r1).abs(), cfg.min_rate_change);
    let excess = ratio((f2 as f64 - r1 * n2 as f64).abs(), cfg.min_excess_failures);
    by_rate.min(excess)
}
