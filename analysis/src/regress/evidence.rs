//! The per-series rule behind `verdict`: what is measured for one series
//! (`assess_*`, before Benjamini–Hochberg) and how its q-value and the
//! thresholds turn that into a verdict and a sentence (`decide`).

use super::stats::{
    fisher_exact_greater, hodges_lehmann, mann_whitney, median, qn_scale, robust_sd, student_t_sf,
};
use super::verdict::{Counts, Direction, Test, Thresholds, Verdict, VerdictKind};

/// Qn's efficiency at the normal law (Rousseeuw & Croux 1993): noise
/// estimated from B build medians is worth a sample SD with 0.82·(B − 1)
/// degrees of freedom, which sets the t-test's df.
const QN_EFFICIENCY: f64 = 0.82;

/// Standard error of a sample median over that of the mean at the normal
/// law, √(π/2).
const MEDIAN_SE_FACTOR: f64 = 1.2533;

/// A verdict with its p-value but before BH, plus what deciding needs.
pub(super) struct Assessed {
    pub(super) verdict: Verdict,
    rule: Rule,
}

impl Assessed {
    /// The p-value this series contributes to the build's BH family; series
    /// that cannot be decided on evidence (too few samples) stay out so an
    /// extreme p of theirs cannot loosen everyone else's threshold.
    pub(super) fn family_p(&self) -> Option<f64> {
        match &self.rule {
            Rule::Samples { too_few: None, .. } | Rule::Failures { .. } => self.verdict.p_value,
            _ => None,
        }
    }
}

enum Rule {
    /// Nothing to test; `reason` already says why.
    Untestable,
    Samples {
        worse: bool,
        band: f64,
        too_few: Option<String>,
        detail: String,
    },
    Failures {
        new_failed: u64,
        rose: bool,
    },
}

fn blank(test: Test, direction: Direction) -> Verdict {
    Verdict {
        series: String::new(),
        kind: VerdictKind::Inconclusive,
        test,
        direction,
        baseline_median: None,
        baseline_spread: None,
        new_median: None,
        shift: None,
        change_pct: None,
        floor: None,
        p_value: None,
        q_value: None,
        n_baseline: 0,
        n_new: 0,
        baseline_builds: 0,
        new_builds: 0,
        reason: String::new(),
    }
}

/// Measures one duration-like series: medians, noise, shift, floor, p.
pub(super) fn assess_samples(
    new: &[Vec<f64>],
    baseline: &[Vec<f64>],
    direction: Direction,
    t: &Thresholds,
) -> Assessed {
    let finite = |builds: &[Vec<f64>]| -> Vec<Vec<f64>> {
        builds
            .iter()
            .map(|b| {
                b.iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .collect::<Vec<f64>>()
            })
            .filter(|b| !b.is_empty())
            .collect()
    };
    let (new_b, base_b) = (finite(new), finite(baseline));
    let (new_all, base_all) = (new_b.concat(), base_b.concat());
    let mut v = blank(Test::MannWhitney, direction);
    v.baseline_median = median(&base_all);
    v.new_median = median(&new_all);
    v.n_baseline = base_all.len() as u64;
    v.n_new = new_all.len() as u64;
    v.baseline_builds = base_b.len();
    v.new_builds = new_b.len();
    let (Some(base_med), Some(_)) = (v.baseline_median, v.new_median) else {
        v.reason = if new_all.is_empty() {
            "no new samples to compare".to_string()
        } else {
            "no baseline builds of this series yet: nothing to compare against".to_string()
        };
        return Assessed {
            verdict: v,
            rule: Rule::Untestable,
        };
    };
    let build_medians: Vec<f64> = base_b.iter().filter_map(|b| median(b)).collect();
    let noise = qn_scale(&build_medians)
        .unwrap_or(0.0)
        .max(t.noise_floor_rel * base_med.abs());
    // The new level averages `new_builds` build levels and the baseline centre
    // `baseline_builds` of them: the noise of their difference.
    let scale = (1.0 / new_b.len() as f64 + 1.0 / base_b.len() as f64).sqrt();
    let noise_eff = noise * scale;
    // The new builds' own spread: a build with a burst of slow iterations (a
    // busy node) has a median far off and a wide spread, a real slowdown
    // moves every iteration and keeps it. The standard error of the new
    // median (1.2533 × robust SD / √n) joins the noise a regression must
    // clear; on the real-noise evaluation this took precision from 83 % to
    // 92 % without missing more shifts (tests/bench/detection.md).
    let own_se = robust_sd(&new_all).map_or(0.0, |sd| {
        MEDIAN_SE_FACTOR * sd / (new_all.len() as f64).sqrt()
    });
    let rel_floor = t.min_effect_rel * base_med.abs();
    let floor = (t.k_regression * (noise_eff * noise_eff + own_se * own_se).sqrt()).max(rel_floor);
    let band = (t.k_inconclusive * noise_eff).max(rel_floor);
    let shift = hodges_lehmann(&base_all, &new_all).unwrap_or(0.0);
    let worse = match direction {
        Direction::LowerIsBetter => shift > 0.0,
        Direction::HigherIsBetter => shift < 0.0,
    };
    // A value measured once per build (fio's IOPS) has no iterations: the
    // build values are the samples, and the noise test below is the test of
    // the new build against the baseline's builds. A rank test of 1 value
    // against 30 could never go below p = 1/31.
    let once_per_build = new_all.len() == new_b.len() && base_all.len() == base_b.len();
    let p_rank = if once_per_build {
        0.0
    } else {
        mann_whitney(&new_all, &base_all).map_or(1.0, |m| m.p_value)
    };
    let z = if noise_eff > 0.0 {
        shift / noise_eff
    } else if shift == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    let df = (QN_EFFICIENCY * (base_b.len() as f64 - 1.0)).max(1.0);
    let p_noise = (2.0 * student_t_sf(z.abs(), df)).min(1.0);
    v.baseline_spread = Some(noise);
    v.shift = Some(shift);
    v.change_pct = (base_med != 0.0).then(|| 100.0 * shift / base_med);
    v.floor = Some(floor);
    v.p_value = Some(p_rank.max(p_noise));
    let mut short = Vec::new();
    if new_all.len() < t.min_new_samples && !once_per_build {
        short.push(format!(
            "{} new iterations (need {})",
            new_all.len(),
            t.min_new_samples
        ));
    }
    if base_b.len() < t.min_baseline_builds {
        short.push(format!(
            "{} baseline builds (need {})",
            base_b.len(),
            t.min_baseline_builds
        ));
    }
    let detail = if once_per_build {
        format!(
            "noise {} × √(1/{} + 1/{}) builds, one value per build; noise p {} (shift/noise {})",
            num(noise),
            new_b.len(),
            base_b.len(),
            sci(p_noise),
            num(z),
        )
    } else {
        format!(
            "noise {} × √(1/{} + 1/{}) builds; rank p {}, noise p {} (shift/noise {})",
            num(noise),
            new_b.len(),
            base_b.len(),
            sci(p_rank),
            sci(p_noise),
            num(z),
        )
    };
    Assessed {
        verdict: v,
        rule: Rule::Samples {
            worse,
            band,
            too_few: (!short.is_empty()).then(|| short.join(", ")),
            detail,
        },
    }
}

/// Measures one failure-rate series: rates and the one-sided Fisher p.
pub(super) fn assess_failures(new: Counts, baseline: Counts) -> Assessed {
    let rate = |c: Counts| (c.total > 0).then(|| c.failed.min(c.total) as f64 / c.total as f64);
    let mut v = blank(Test::FisherExact, Direction::LowerIsBetter);
    v.baseline_median = rate(baseline);
    v.new_median = rate(new);
    v.n_baseline = baseline.total;
    v.n_new = new.total;
    let (Some(base_rate), Some(new_rate)) = (v.baseline_median, v.new_median) else {
        v.reason = if new.total == 0 {
            "no new iterations to compare".to_string()
        } else {
            "no baseline iterations of this workload yet: nothing to compare against".to_string()
        };
        return Assessed {
            verdict: v,
            rule: Rule::Untestable,
        };
    };
    let (nf, bf) = (
        new.failed.min(new.total),
        baseline.failed.min(baseline.total),
    );
    v.shift = Some(new_rate - base_rate);
    v.change_pct = Some(100.0 * (new_rate - base_rate));
    v.p_value = Some(fisher_exact_greater(
        nf,
        new.total - nf,
        bf,
        baseline.total - bf,
    ));
    Assessed {
        verdict: v,
        rule: Rule::Failures {
            new_failed: nf,
            rose: new_rate > base_rate,
        },
    }
}

/// Turns a measurement and its q-value into the verdict and its reason.
pub(super) fn decide(a: Assessed, q: Option<f64>, t: &Thresholds) -> Verdict {
    let mut v = a.verdict;
    v.q_value = q;
    let q_text = q.map_or("not in the FDR family".to_string(), |q| {
        format!("q {}", sci(q))
    });
    let proven = q.is_some_and(|q| q <= t.q_max);
    let suggestive = q.is_some_and(|q| q <= t.q_inconclusive);
    match a.rule {
        Rule::Untestable => v.kind = VerdictKind::Inconclusive,
        Rule::Samples {
            worse,
            band,
            too_few,
            detail,
        } => {
            let shift = v.shift.unwrap_or(0.0);
            let floor = v.floor.unwrap_or(f64::INFINITY);
            let size = format!("shift {} ({})", signed(shift), pct(v.change_pct));
            let beyond = shift.abs() >= floor;
            (v.kind, v.reason) = if let Some(short) = too_few {
                if worse && shift.abs() >= band {
                    let what =
                        format!("{size} but only {short}: recheck or wait for branch builds");
                    (VerdictKind::Inconclusive, what)
                } else {
                    (
                        VerdictKind::NoChange,
                        format!("{size} is small; only {short}"),
                    )
                }
            } else if beyond && proven {
                let kind = if worse {
                    VerdictKind::Regression
                } else {
                    VerdictKind::Improvement
                };
                let limits = format!("floor {} and {q_text} ≤ {}", num(floor), num(t.q_max));
                (kind, format!("{size} beyond {limits}; {detail}"))
            } else if worse && shift.abs() >= band && suggestive {
                let missing = if beyond {
                    format!("{q_text} > {}", num(t.q_max))
                } else {
                    format!("below floor {}", num(floor))
                };
                let what = format!("{size} is {missing}: recheck to add samples; {detail}");
                (VerdictKind::Inconclusive, what)
            } else {
                let why = if beyond {
                    format!(
                        "beyond floor {} but {q_text} is as common as noise",
                        num(floor)
                    )
                } else {
                    format!("within floor {} ({q_text})", num(floor))
                };
                (VerdictKind::NoChange, format!("{size} is {why}; {detail}"))
            };
        }
        Rule::Failures { new_failed, rose } => {
            let rates = format!(
                "failure rate {} of {} new vs {} of {} baseline iterations; Fisher p {}, {q_text}",
                pct(v.new_median.map(|r| 100.0 * r)),
                v.n_new,
                pct(v.baseline_median.map(|r| 100.0 * r)),
                v.n_baseline,
                sci(v.p_value.unwrap_or(1.0)),
            );
            (v.kind, v.reason) = if rose && proven && new_failed >= t.min_new_failures {
                (VerdictKind::Regression, rates)
            } else if rose && suggestive {
                let need = format!(
                    "regression needs {} failed and q ≤ {}",
                    t.min_new_failures,
                    num(t.q_max)
                );
                let what = format!("{rates} ({need}): recheck to add samples");
                (VerdictKind::Inconclusive, what)
            } else {
                (VerdictKind::NoChange, rates)
            };
        }
    }
    v
}

/// Four significant digits, without relying on `log10` (so the text is the
/// same on every platform).
fn num(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    let a = x.abs();
    let (mut decimals, mut unit) = (3usize, 1.0f64);
    while a >= unit * 10.0 && decimals > 0 {
        unit *= 10.0;
        decimals -= 1;
    }
    while a < unit && decimals < 12 {
        unit /= 10.0;
        decimals += 1;
    }
    format!("{x:.decimals$}")
}

fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", num(x))
    } else {
        num(x)
    }
}

fn pct(x: Option<f64>) -> String {
    match x {
        Some(p) if p > 0.0 => format!("+{p:.1} %"),
        Some(p) => format!("{p:.1} %"),
        None => "n/a".to_string(),
    }
}

fn sci(p: f64) -> String {
    format!("{p:.2e}")
}
