//! Changes to the verdict rule tried here as post-processing, to test a
//! hypothesis about a missed goal before anyone edits `regress` (the
//! example's `--tail-guard` and `--noise-p-only`). Not production code.

use perfkit_analysis::regress::stats::{bh_q_values, median, robust_sd, student_t_sf};
use perfkit_analysis::regress::verdict::{
    SeriesData, SeriesInput, Test, Thresholds, Verdict, VerdictKind,
};

/// A duration Regression whose new median is not above every baseline
/// build's median becomes Inconclusive. The robust noise (Qn) discounts a
/// rare slow run in the baseline; this asks the patchset to be slower than
/// all of them. Only on one new build: builds on two or more nodes that
/// agree are not one slow node.
pub fn tail_guard(mut verdicts: Vec<Verdict>, input: &[SeriesInput]) -> Vec<Verdict> {
    for v in &mut verdicts {
        if v.kind != VerdictKind::Regression || v.new_builds != 1 {
            continue;
        }
        let Some(SeriesData::Samples { baseline, .. }) =
            input.iter().find(|s| s.series == v.series).map(|s| &s.data)
        else {
            continue;
        };
        let highest = baseline
            .iter()
            .filter_map(|b| median(b))
            .fold(f64::NEG_INFINITY, f64::max);
        if v.new_median.is_some_and(|m| m <= highest) {
            v.kind = VerdictKind::Inconclusive;
        }
    }
    verdicts
}

/// A duration Regression becomes Inconclusive when its shift is within
/// `k_regression` × the noise of the new level counting the new builds' own
/// spread: √(noise_eff² + se²), se = 1.2533 × robust SD of the new
/// iterations / √n (the standard error of a median). A build with a burst
/// of slow iterations (a busy node) has a median far off but a huge spread;
/// a real slowdown moves every iteration and keeps the spread.
pub fn own_spread(
    mut verdicts: Vec<Verdict>,
    input: &[SeriesInput],
    t: &Thresholds,
) -> Vec<Verdict> {
    for v in &mut verdicts {
        if v.kind != VerdictKind::Regression || v.test != Test::MannWhitney {
            continue;
        }
        let Some(SeriesData::Samples { new, .. }) =
            input.iter().find(|s| s.series == v.series).map(|s| &s.data)
        else {
            continue;
        };
        let all: Vec<f64> = new
            .iter()
            .flatten()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        let se = 1.2533 * robust_sd(&all).unwrap_or(0.0) / (all.len().max(1) as f64).sqrt();
        let scale =
            (1.0 / v.new_builds.max(1) as f64 + 1.0 / v.baseline_builds.max(1) as f64).sqrt();
        let noise_eff = v.baseline_spread.unwrap_or(0.0) * scale;
        let floor = t.k_regression * (noise_eff * noise_eff + se * se).sqrt();
        if v.shift.unwrap_or(0.0).abs() < floor {
            v.kind = VerdictKind::Inconclusive;
        }
    }
    verdicts
}

/// Qn's efficiency at the normal law, as in `regress::evidence`.
const QN_EFFICIENCY: f64 = 0.82;

/// Re-decides every series with the duration p-value taken from the noise
/// t-test alone instead of max(Mann–Whitney, noise): with 4 new iterations
/// the rank test cannot go below ~7e-4 even when all 4 beat every baseline
/// iteration, which BH over ~36 series (rank-1 bar 0.05/36) rarely lets
/// through. Same floors, bands and BH as `regress::evidence::decide`.
pub fn noise_p_only(mut verdicts: Vec<Verdict>, t: &Thresholds) -> Vec<Verdict> {
    let noise_eff = |v: &Verdict| {
        let scale =
            (1.0 / v.new_builds.max(1) as f64 + 1.0 / v.baseline_builds.max(1) as f64).sqrt();
        v.baseline_spread.unwrap_or(0.0) * scale
    };
    let family: Vec<Option<f64>> = verdicts
        .iter()
        .map(|v| {
            v.q_value?; // outside the family stays outside
            match v.test {
                Test::FisherExact => v.p_value,
                Test::MannWhitney => {
                    let (shift, eff) = (v.shift?, noise_eff(v));
                    let z = if eff > 0.0 {
                        shift / eff
                    } else {
                        f64::INFINITY
                    };
                    let df = (QN_EFFICIENCY * (v.baseline_builds as f64 - 1.0)).max(1.0);
                    Some((2.0 * student_t_sf(z.abs(), df)).min(1.0))
                }
            }
        })
        .collect();
    let q = bh_q_values(&family);
    for (v, q) in verdicts.iter_mut().zip(q) {
        let Some(q) = q else { continue };
        v.q_value = Some(q);
        let shift = v.shift.unwrap_or(0.0);
        let worse = shift > 0.0; // every series here is lower-is-better
        let proven = q <= t.q_max;
        let suggestive = q <= t.q_inconclusive;
        v.kind = match v.test {
            Test::MannWhitney => {
                let base = v.baseline_median.unwrap_or(0.0).abs();
                let band = (t.k_inconclusive * noise_eff(v)).max(t.min_effect_rel * base);
                let beyond = shift.abs() >= v.floor.unwrap_or(f64::INFINITY);
                if beyond && proven {
                    if worse {
                        VerdictKind::Regression
                    } else {
                        VerdictKind::Improvement
                    }
                } else if worse && shift.abs() >= band && suggestive {
                    VerdictKind::Inconclusive
                } else {
                    VerdictKind::NoChange
                }
            }
            Test::FisherExact => {
                let failed = (v.new_median.unwrap_or(0.0) * v.n_new as f64).round() as u64;
                if worse && proven && failed >= t.min_new_failures {
                    VerdictKind::Regression
                } else if worse && suggestive {
                    VerdictKind::Inconclusive
                } else {
                    VerdictKind::NoChange
                }
            }
        };
    }
    verdicts
}

/// On one new build, Regressions become Inconclusive when the build as a
/// whole ran slow: the median, over the job's duration series, of the shift
/// in units of each series' noise_eff is at least `z`. A slow node slows
/// most workloads of the build; a real regression moves one or a few, which
/// barely moves the median. A change that slows everything is then asked
/// for a recheck, which lands on another node.
pub fn common_slowdown(mut verdicts: Vec<Verdict>, z: f64) -> Vec<Verdict> {
    let zs: Vec<f64> = verdicts
        .iter()
        .filter(|v| v.test == Test::MannWhitney && v.new_builds == 1)
        .filter_map(|v| {
            let spread = v.baseline_spread?;
            let scale = (1.0 + 1.0 / v.baseline_builds.max(1) as f64).sqrt();
            let shift = v.shift?;
            (spread > 0.0).then(|| shift / (spread * scale))
        })
        .collect();
    if zs.len() < 6 || median(&zs).is_none_or(|m| m < z) {
        return verdicts;
    }
    for v in &mut verdicts {
        if v.kind == VerdictKind::Regression && v.test == Test::MannWhitney && v.new_builds == 1 {
            v.kind = VerdictKind::Inconclusive;
        }
    }
    verdicts
}

/// With two or more new builds, a duration Regression also needs every new
/// build to be worse on its own by the Inconclusive band (k_inconclusive ×
/// noise × √(1 + 1/baseline builds)); otherwise it stays Inconclusive. A
/// slow node's build pooled with a normal recheck is then not proven, as a
/// reviewer would read it ("the recheck came back normal").
pub fn every_build(
    mut verdicts: Vec<Verdict>,
    input: &[SeriesInput],
    t: &Thresholds,
) -> Vec<Verdict> {
    for v in &mut verdicts {
        if v.kind != VerdictKind::Regression || v.test != Test::MannWhitney || v.new_builds < 2 {
            continue;
        }
        let Some(SeriesData::Samples { new, .. }) =
            input.iter().find(|s| s.series == v.series).map(|s| &s.data)
        else {
            continue;
        };
        let (Some(base), Some(spread)) = (v.baseline_median, v.baseline_spread) else {
            continue;
        };
        let band = t.k_inconclusive * spread * (1.0 + 1.0 / v.baseline_builds.max(1) as f64).sqrt();
        let all_worse = new
            .iter()
            .filter_map(|b| median(b))
            .all(|m| m - base >= band);
        if !all_worse {
            v.kind = VerdictKind::Inconclusive;
        }
    }
    verdicts
}
