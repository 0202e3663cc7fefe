//! The printed evaluation: Markdown tables of the scenarios and noise
//! buckets, and the four goals of the issue with their measured values.

use std::fmt::Write;

use super::noise::NoiseTable;
use super::{Report, bucket_from, postmerge, premerge};

/// One goal of the issue, measured.
#[derive(Debug, Clone)]
pub struct Goal {
    pub name: &'static str,
    pub measured: String,
    pub met: bool,
}

/// The numbers the goals are judged on (also what the test asserts).
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Clean patchsets with ≥ 1 false Regression on the first build, per
    /// 100, and after rechecks.
    pub false_per_100_clean: f64,
    pub false_per_100_clean_after_recheck: f64,
    /// Clean patchsets asked for a recheck (≥ 1 Inconclusive).
    pub clean_rechecked: f64,
    /// Share of patchsets flagged with a Regression that are right (every
    /// Regression on the slowed series) when 1 patchset in 20 / 10 / 5
    /// carries one slowdown drawn from the duration rows.
    pub precision_mix: [(usize, f64); 3],
    /// Regressed series ≥ 5 σ whose first verdict was NoChange or
    /// Improvement (all, and the worst bucket ≥ 5 σ with its name).
    pub missed_5s: f64,
    pub worst_missed_5s: (f64, &'static str),
    /// Regressed series ≥ 3 σ missed on the first build (for reference).
    pub missed_3s: f64,
    /// Regressed series ≥ 4 σ not Regression after at most two rechecks
    /// (all, and the worst bucket ≥ 4 σ).
    pub not_regression_4s_final: f64,
    pub worst_not_regression_4s_final: (f64, &'static str),
    /// Steps ≥ 3 σ: median builds after the step until reported
    /// (unfound counted as never), and the share found by the 5th build.
    pub median_delay_3s: Option<usize>,
    pub found_by_5_3s: f64,
    /// … until reported at the right build (±1).
    pub median_exact_delay_3s: Option<usize>,
    /// Histories with a change point near a single outlier build.
    pub outlier_alarms: f64,
    /// Config changes reported as something other than ConfigChanged.
    pub config_alarms: f64,
    /// Failure-rate rises 0 → 25 %: share found by the 10th build after
    /// it, and histories with another change point.
    pub failure_found_by_10: f64,
    pub failure_false_alarms: f64,
    /// Clean duration histories with any change point.
    pub clean_history_alarms: f64,
    /// How much each goal rests on, so a guard cannot pass on nothing:
    /// clean patchsets, regressed series ≥ 5 σ and ≥ 4 σ, failure-rise and
    /// clean failure histories, outlier histories.
    pub counts: Counts,
    /// 95 % Wilson interval of false Regressions per 100 clean patchsets.
    pub false_per_100_interval: (f64, f64),
    /// perfkit beside Apache Otava on the same histories (None: not run).
    pub otava: Option<OtavaFigures>,
}

/// See `Figures::counts`.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub clean_patchsets: usize,
    pub regressed_5s: usize,
    pub regressed_4s: usize,
    pub failure_rises: usize,
    pub failure_clean: usize,
    pub outliers: usize,
}

/// The 95 % Wilson score interval of `hits` in `n`, per 100.
fn wilson(hits: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 100.0);
    }
    let (z, n) = (1.96_f64, n as f64);
    let p = hits as f64 / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    (
        100.0 * (centre - half).max(0.0),
        100.0 * (centre + half).min(1.0),
    )
}

/// (perfkit, Otava) pairs.
#[derive(Debug, Clone, Copy)]
pub struct OtavaFigures {
    pub f1: (f64, f64),
    pub clean_alarms: (f64, f64),
    pub median_delay: (Option<usize>, Option<usize>),
}

/// Precision of Regression verdicts when a share `1/every` of patchsets
/// carries one slowdown: from the clean row's and the slowdown rows'
/// per-patchset rates, as a mix of them would give.
fn mix_precision(clean: &premerge::Tally, slow: &premerge::Tally, every: usize) -> f64 {
    let pi = 1.0 / every as f64;
    let rate = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    let right = pi * rate(slow.patchsets_flagged_right, slow.patchsets);
    let flagged = pi * rate(slow.patchsets_flagged, slow.patchsets)
        + (1.0 - pi) * rate(clean.patchsets_flagged, clean.patchsets);
    if flagged > 0.0 { right / flagged } else { 1.0 }
}

pub fn figures(r: &Report) -> Figures {
    let clean = &r
        .premerge
        .iter()
        .find(|(s, _)| matches!(s.change, premerge::Change::None))
        .expect("a clean row")
        .1;
    let slow = r
        .premerge
        .iter()
        .filter(|(s, _)| {
            matches!(
                s.change,
                premerge::Change::Slower(_) | premerge::Change::SlowerInNoise(_)
            )
        })
        .fold(premerge::Tally::default(), |mut acc, (_, t)| {
            acc.patchsets += t.patchsets;
            acc.patchsets_flagged += t.patchsets_flagged;
            acc.patchsets_flagged_right += t.patchsets_flagged_right;
            acc
        });
    let ratio = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    let b = &r.premerge_buckets;
    let (five, four, three) = (
        &bucket_from(b, 5.0).tally,
        &bucket_from(b, 4.0).tally,
        &bucket_from(b, 3.0).tally,
    );
    let worst = |lo: f64, share: fn(&premerge::Tally) -> (usize, usize)| {
        b.iter()
            .filter(|x| !x.below_floor && x.lo >= lo && !x.name.starts_with("all"))
            .map(|x| {
                let (a, n) = share(&x.tally);
                (ratio(a, n), x.name)
            })
            .fold((-1.0, "none"), |w, x| if x.0 > w.0 { x } else { w })
    };
    let steps = &bucket_from(&r.postmerge_buckets, 3.0).tally;
    let post = |pick: fn(&postmerge::Change) -> bool| {
        r.postmerge.iter().filter(|(s, _)| pick(&s.change)).fold(
            postmerge::Tally::default(),
            |mut acc, (_, t)| {
                acc.histories += t.histories;
                acc.false_alarms += t.false_alarms;
                acc.delays.extend(&t.delays);
                acc
            },
        )
    };
    let outliers = post(|c| matches!(c, postmerge::Change::Outlier(_)));
    let configs = post(|c| matches!(c, postmerge::Change::Config(_)));
    let failures = post(|c| matches!(c, postmerge::Change::FailureRise(_)));
    let failure_clean = post(|c| matches!(c, postmerge::Change::FailuresClean));
    let cleans = post(|c| matches!(c, postmerge::Change::None));
    Figures {
        false_per_100_clean: 100.0 * ratio(clean.patchsets_with_false_regression, clean.patchsets),
        false_per_100_clean_after_recheck: 100.0
            * ratio(clean.patchsets_with_false_regression_final, clean.patchsets),
        clean_rechecked: ratio(clean.patchsets_rechecked, clean.patchsets),
        precision_mix: [20, 10, 5].map(|e| (e, mix_precision(clean, &slow, e))),
        missed_5s: ratio(five.missed, five.regressed),
        worst_missed_5s: worst(5.0, |t| (t.missed, t.regressed)),
        missed_3s: ratio(three.missed, three.regressed),
        not_regression_4s_final: ratio(four.regressed - four.found_final, four.regressed),
        worst_not_regression_4s_final: worst(4.0, |t| (t.regressed - t.found_final, t.regressed)),
        median_delay_3s: median_of(&steps.delays, steps.histories),
        median_exact_delay_3s: median_of(&steps.delays_exact, steps.histories),
        found_by_5_3s: ratio(steps.found_within(5), steps.histories),
        outlier_alarms: ratio(outliers.false_alarms, outliers.histories),
        config_alarms: ratio(configs.false_alarms, configs.histories),
        failure_found_by_10: ratio(failures.found_within(10), failures.histories),
        counts: Counts {
            clean_patchsets: clean.patchsets,
            regressed_5s: five.regressed,
            regressed_4s: four.regressed,
            failure_rises: failures.histories,
            failure_clean: failure_clean.histories,
            outliers: outliers.histories,
        },
        false_per_100_interval: wilson(clean.patchsets_with_false_regression, clean.patchsets),
        // Clean histories only: a rise's own prefixes are all after it.
        failure_false_alarms: ratio(failure_clean.false_alarms, failure_clean.histories),
        clean_history_alarms: ratio(cleans.false_alarms, cleans.histories),
        otava: r.otava.as_ref().ok().map(|c| OtavaFigures {
            f1: (c.perfkit.f1(), c.otava.f1()),
            clean_alarms: (c.perfkit.clean_alarms(), c.otava.clean_alarms()),
            median_delay: (c.perfkit.step_delay().0, c.otava.step_delay().0),
        }),
    }
}

pub fn goals(f: &Figures) -> Vec<Goal> {
    let [p20, p10, p5] = f.precision_mix;
    let mut goals = vec![
        Goal {
            name: "false regressions ≤ 1 per 100 clean patchsets (first build)",
            measured: format!(
                "{:.2} per 100 (95 % interval {:.2}–{:.2}; after rechecks {:.2})",
                f.false_per_100_clean,
                f.false_per_100_interval.0,
                f.false_per_100_interval.1,
                f.false_per_100_clean_after_recheck
            ),
            met: f.false_per_100_clean <= 1.0,
        },
        Goal {
            name: "precision ≥ 90 % when 1 patchset in 10 carries one slowdown",
            measured: format!(
                "1 in {}: {}; 1 in {}: {}; 1 in {}: {}",
                p10.0,
                pct(p10.1),
                p20.0,
                pct(p20.1),
                p5.0,
                pct(p5.1)
            ),
            met: p10.1 >= 0.9,
        },
        Goal {
            name: "≤ 5 % of shifts ≥ 5 σ missed (NoChange/Improvement) on the first build, \
                   in every σ bucket",
            measured: format!(
                "all ≥ 5 σ: {}; worst bucket {}: {} (≥ 3 σ: {})",
                pct(f.missed_5s),
                f.worst_missed_5s.1,
                pct(f.worst_missed_5s.0),
                pct(f.missed_3s),
            ),
            met: f.missed_5s <= 0.05 && f.worst_missed_5s.0 <= 0.05,
        },
        Goal {
            name: "≤ 10 % of clean patchsets asked for a recheck, and ≤ 10 % of shifts ≥ 4 σ \
                   not a Regression after ≤ 2 rechecks, in every σ bucket",
            measured: format!(
                "clean rechecked {}; ≥ 4 σ not a Regression {}; worst bucket {}: {}",
                pct(f.clean_rechecked),
                pct(f.not_regression_4s_final),
                f.worst_not_regression_4s_final.1,
                pct(f.worst_not_regression_4s_final.0),
            ),
            met: f.clean_rechecked <= 0.1
                && f.not_regression_4s_final <= 0.1
                && f.worst_not_regression_4s_final.0 <= 0.1,
        },
        Goal {
            name: "change points found ≤ 5 builds after the shift (steps ≥ 3 σ, median)",
            measured: format!(
                "median {}; {} found by the 5th build; at the right build (±1): median {}; \
                 clean histories alarmed {}",
                builds(f.median_delay_3s),
                pct(f.found_by_5_3s),
                builds(f.median_exact_delay_3s),
                pct(f.clean_history_alarms),
            ),
            met: f.median_delay_3s.is_some_and(|d| d <= 5),
        },
        Goal {
            name: "single outlier builds give no change point",
            measured: format!("{} of histories alarmed", pct(f.outlier_alarms)),
            met: f.outlier_alarms <= 0.05,
        },
        Goal {
            name: "config changes are ConfigChanged, not Regression",
            measured: format!(
                "{} of histories with another change point",
                pct(f.config_alarms)
            ),
            met: f.config_alarms <= 0.05,
        },
        Goal {
            name: "failure rate 0 → 25 %: ≥ 90 % found by the 10th build, ≤ 2 % false alarms",
            measured: format!(
                "{} found by the 10th build; {} of clean histories of failing workloads \
                 with a change point",
                pct(f.failure_found_by_10),
                pct(f.failure_false_alarms)
            ),
            met: f.failure_found_by_10 >= 0.9 && f.failure_false_alarms <= 0.02,
        },
    ];
    let not_run = |what: &str| format!("Otava {what}");
    let (f1, clean, delay) = match f.otava {
        Some(o) => (
            (
                format!("perfkit {:.3}, Otava {:.3}", o.f1.0, o.f1.1),
                o.f1.0 >= o.f1.1,
            ),
            (
                format!(
                    "perfkit {}, Otava {}",
                    pct(o.clean_alarms.0),
                    pct(o.clean_alarms.1)
                ),
                o.clean_alarms.0 <= o.clean_alarms.1,
            ),
            (
                format!(
                    "perfkit {}, Otava {}",
                    builds(o.median_delay.0),
                    builds(o.median_delay.1)
                ),
                o.median_delay.0.unwrap_or(usize::MAX) <= o.median_delay.1.unwrap_or(usize::MAX),
            ),
        ),
        None => (
            (not_run("not run"), false),
            (not_run("not run"), false),
            (not_run("not run"), false),
        ),
    };
    for (name, (measured, met)) in [
        (
            "change points: F1 ≥ Apache Otava 0.8.0's on the same histories",
            f1,
        ),
        (
            "change points: false alarms per clean history ≤ Otava's",
            clean,
        ),
        ("change points: median delay (steps ≥ 3 σ) ≤ Otava's", delay),
    ] {
        goals.push(Goal {
            name,
            measured,
            met,
        });
    }
    goals
}

/// The goals of several data sets side by side: goal | measured per set | met per set.
pub fn render_goals(reports: &[&Report]) -> String {
    let mut out = String::from("## Goals\n\n| goal |");
    for r in reports {
        let _ = write!(out, " {} | met |", r.config.set.label());
    }
    out.push_str("\n| --- |");
    for _ in reports {
        out.push_str(" --- | --- |");
    }
    out.push('\n');
    let all: Vec<Vec<Goal>> = reports.iter().map(|r| goals(&figures(r))).collect();
    for (i, g) in all[0].iter().enumerate() {
        let _ = write!(out, "| {} |", g.name);
        for set in &all {
            let met = if set[i].met { "yes" } else { "**NO**" };
            let _ = write!(out, " {} | {met} |", set[i].measured);
        }
        out.push('\n');
    }
    out
}

/// The whole printout (deterministic: no timings).
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let c = &r.config;
    let _ = writeln!(
        out,
        "# Detection quality: {}\n\nseed {}; {} patchsets per change, {} clean; \
         {} histories per post-merge row; jobs of {} series; baseline window ≤ {} builds \
         (a patchset's real runs, {} per provider, never in its baseline; baselines narrowed \
         to the patchset's provider as `perfkit compare` does); \
         at most {} rechecks.\n",
        c.set.label(),
        c.seed,
        c.patchsets,
        c.clean_patchsets,
        c.histories,
        job_series(r),
        premerge::WINDOW,
        super::noise::PATCHSET_RUNS,
        premerge::RECHECKS,
    );
    noise_table(&mut out, r);
    premerge_table(&mut out, r);
    recheck_curve(&mut out, r);
    postmerge_table(&mut out, r);
    otava_table(&mut out, r);
    out.push_str(&render_goals(&[r]));
    out
}

fn job_series(r: &Report) -> usize {
    r.templates
        .iter()
        .map(|t| t.copies * (t.actions.len() + 1))
        .sum()
}

fn noise_table(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "## Real noise (per workload, from the fixtures)\n\n\
         σ = standard deviation of ln(build median) over 10,000 clean generated builds of 4 and \
         10 iterations (independent of the detector; +σ ≈ +σ × 100 %).\n\n\
         | workload | duration series | in a job | real builds | iterations | failed | median total | σ total (4 / 10 it.; per provider) |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let mut table = NoiseTable::default();
    for (i, t) in r.templates.iter().enumerate() {
        let totals: Vec<f64> = t
            .builds
            .iter()
            .flatten()
            .map(|it| it.durations[0])
            .filter(|d| d.is_finite())
            .collect();
        let med = perfkit_analysis::regress::stats::median(&totals).unwrap_or(f64::NAN);
        let providers = super::noise::provider_count(&r.templates);
        let sigma = (0..providers)
            .map(|p| {
                let on = (providers > 1).then_some(p);
                let name = if providers > 1 {
                    format!("{}: ", (b'a' + p as u8) as char)
                } else {
                    String::new()
                };
                format!(
                    "{name}{} / {}",
                    pct(table.on(&r.templates, i, 0, 4, on)),
                    pct(table.on(&r.templates, i, 0, 10, on))
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            out,
            "| {} | {} | {}× | {} | {} | {} | {} | {} |",
            t.name,
            t.actions.join(", "),
            t.copies,
            t.builds.len(),
            t.iterations(),
            pct(t.failure_rate()),
            duration(med),
            sigma,
        );
    }
    out.push('\n');
}

fn premerge_table(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "## Pre-merge verdicts\n\n\
         Per regressed series (one workload's duration series, or its failure rate): \
         share that got Regression / Inconclusive / missed (NoChange or Improvement) on the \
         first build, and Regression after one recheck and after at most two. Precision = \
         right Regression verdicts / all Regression verdicts of the row. False reg. = \
         patchsets with ≥ 1 Regression on an unchanged series, per 100.\n\n\
         | scenario | patchsets | regressed series | shift/σ (median) | regression | inconclusive | missed | after 1 recheck | after ≤ 2 rechecks | precision | false reg. /100 patchsets | rechecked patchsets (twice) | inconclusive clean series |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (s, t) in &r.premerge {
        premerge_row(out, &s.name, t);
    }
    for b in r.premerge_buckets.iter().filter(|b| b.tally.regressed > 0) {
        premerge_row(out, &format!("_all steps, {}_", b.name), &b.tally);
    }
    out.push('\n');
}

fn premerge_row(out: &mut String, name: &str, t: &premerge::Tally) {
    let of = |a: usize| frac(a, t.regressed);
    let bucket = t.patchsets == 0;
    let per100 = |n: usize| {
        if bucket {
            "—".to_string()
        } else {
            format!("{:.2}", 100.0 * n as f64 / t.patchsets.max(1) as f64)
        }
    };
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        if bucket {
            "—".to_string()
        } else {
            t.patchsets.to_string()
        },
        t.regressed,
        median_f(&t.shift_in_noise).map_or("—".to_string(), |m| format!("{m:.1}")),
        of(t.found),
        of(t.inconclusive),
        of(t.missed),
        of(t.found_one_recheck),
        of(t.found_final),
        if bucket {
            "—".to_string()
        } else {
            t.precision().map_or("—".to_string(), pct)
        },
        per100(t.patchsets_with_false_regression),
        if bucket {
            "—".to_string()
        } else {
            format!(
                "{} ({})",
                frac(t.patchsets_rechecked, t.patchsets),
                frac(t.patchsets_rechecked_twice, t.patchsets)
            )
        },
        frac(t.clean_inconclusive, t.clean_series),
    );
}

fn postmerge_table(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "## Post-merge change points\n\n\
         Detection runs as the branch grows (history prefixes). Found = a Regression change \
         point within ±{} builds of the change, by the k-th build after it (k builds at the \
         new level); delay = that k; offset = its index − the change's at that first report. \
         Right build = first k with a Regression within ±1 build. False alarms = histories \
         with any other change point (outliers and config changes: any Regression or \
         Improvement at all).\n\n\
         | scenario | histories | shift/σ (median) | found ≤ 5 builds | found ≤ {} builds | delay median / p90 | offset at first report (median) | right build: delay median / p90 | false alarms | config change reported |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        postmerge::TOLERANCE,
        postmerge::AFTER,
    );
    for (s, t) in &r.postmerge {
        let config = matches!(s.change, postmerge::Change::Config(_));
        postmerge_row(out, &s.name, t, config);
    }
    for b in r.postmerge_buckets.iter().filter(|b| b.tally.histories > 0) {
        postmerge_row(out, &format!("_all steps, {}_", b.name), &b.tally, false);
    }
    out.push('\n');
}

fn postmerge_row(out: &mut String, name: &str, t: &postmerge::Tally, config: bool) {
    let detects = !t.delays.is_empty() || !t.shift_in_noise.is_empty();
    let dash = || "—".to_string();
    let quantiles = |d: &[usize]| {
        let mut d = d.to_vec();
        d.sort_unstable();
        if d.is_empty() {
            dash()
        } else {
            format!(
                "{} / {}",
                d[(d.len() - 1) / 2],
                d[(d.len() * 9).div_ceil(10) - 1]
            )
        }
    };
    let mut offsets = t.offsets.clone();
    offsets.sort_unstable();
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        t.histories,
        median_f(&t.shift_in_noise).map_or(dash(), |m| format!("{m:.1}")),
        if detects {
            frac(t.found_within(5), t.histories)
        } else {
            dash()
        },
        if detects {
            frac(t.delays.len(), t.histories)
        } else {
            dash()
        },
        quantiles(&t.delays),
        offsets
            .get(offsets.len().saturating_sub(1) / 2)
            .filter(|_| !offsets.is_empty())
            .map_or(dash(), |o| format!("{o:+}")),
        quantiles(&t.delays_exact),
        frac(t.false_alarms, t.histories),
        if config {
            frac(t.config_reported, t.histories)
        } else {
            dash()
        },
    );
}

/// Median delay over all histories of the bucket, unfound ones counted as
/// never (so it is `None` once half are unfound).
fn median_of(delays: &[usize], histories: usize) -> Option<usize> {
    let mut d = delays.to_vec();
    d.sort_unstable();
    let half = histories.div_ceil(2);
    (histories > 0 && d.len() >= half).then(|| d[half - 1])
}

fn builds(delay: Option<usize>) -> String {
    delay.map_or("never".to_string(), |d| {
        format!("{d} build{}", if d == 1 { "" } else { "s" })
    })
}

fn median_f(values: &[f64]) -> Option<f64> {
    perfkit_analysis::regress::stats::median(values)
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn frac(a: usize, b: usize) -> String {
    if b == 0 {
        "—".to_string()
    } else {
        pct(a as f64 / b as f64)
    }
}

fn duration(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{:.1} µs", seconds * 1e6)
    } else {
        format!("{:.1} ms", seconds * 1e3)
    }
}

/// The recheck trade-off: for each `q_inconclusive`, the share of clean
/// patchsets asked for a recheck on the first build against the share of
/// +3/4/5 σ slowdowns missed (NoChange/Improvement) on it. Recomputed from
/// each first-build verdict's numbers (`premerge::recheck_q`), so the rows
/// are what those settings would give on the same draws.
fn recheck_curve(out: &mut String, r: &Report) {
    let row = |name: &str| {
        r.premerge
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(_, t)| t)
    };
    let (Some(clean), rows) = (row("clean"), ["+3 σ", "+4 σ", "+5 σ"].map(row)) else {
        return;
    };
    let current = r.config.thresholds.q_inconclusive;
    let _ = writeln!(
        out,
        "## Recheck trade-off (first build)\n\n\
         A worse shift past the band that is not a Regression is Inconclusive (a recheck) \
         when its q ≤ q_inconclusive. Raising it asks more clean patchsets for a recheck and \
         lets fewer slowdowns through silently. Current setting: {current}.\n\n\
         | q_inconclusive | clean patchsets rechecked | +3 σ missed | +4 σ missed | +5 σ missed |\n\
         | --- | --- | --- | --- | --- |"
    );
    let share = |hits: usize, of: usize| pct(hits as f64 / of.max(1) as f64);
    let mut levels = vec![0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, current];
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    for q in levels {
        let rechecked = clean.clean_recheck_q.iter().filter(|m| **m <= q).count();
        let mut line = format!(
            "| {q}{} | {} |",
            if q == current { " (current)" } else { "" },
            share(rechecked, clean.clean_recheck_q.len())
        );
        for t in rows.iter().flatten() {
            let missed = t
                .regressed_recheck_q
                .iter()
                .filter(|(regression, rq)| !regression && *rq > q)
                .count();
            let _ = write!(line, " {} |", share(missed, t.regressed_recheck_q.len()));
        }
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
}

/// perfkit and Apache Otava 0.8.0 on the same post-merge histories.
fn otava_table(out: &mut String, r: &Report) {
    let c = match &r.otava {
        Ok(c) => c,
        Err(why) => {
            let _ = writeln!(out, "## Apache Otava 0.8.0 side by side\n\n{why}\n");
            return;
        }
    };
    let _ = writeln!(
        out,
        "## Apache Otava 0.8.0 side by side\n\n\
         The same histories (duration rows; config changes and failure rates left out) and \
         prefixes, Otava's `compute_change_points` with its defaults (window 50, p 0.001, no \
         magnitude floor; {} analyses), scored alike: found = a Regression within ±3 builds; \
         false alarms = any other change point on any prefix. F1 on whole histories: the \
         injected change found (true positive) or not (false negative); every other change \
         point a false positive.\n\n\
         | detector | F1 | precision | recall | clean histories alarmed | single outliers alarmed | steps ≥ 3 σ: median delay, found by the 5th build |\n\
         | --- | --- | --- | --- | --- | --- | --- |",
        c.analyses
    );
    for (name, side) in [("perfkit", &c.perfkit), ("Otava 0.8.0", &c.otava)] {
        let (delay, by5) = side.step_delay();
        let _ = writeln!(
            out,
            "| {name} | {:.3} | {} | {} | {} | {} | {}, {} |",
            side.f1(),
            pct(side.precision()),
            pct(side.recall()),
            pct(side.clean_alarms()),
            pct(side.outlier_alarms()),
            builds(delay),
            pct(by5),
        );
    }
    let _ = writeln!(
        out,
        "\n| scenario | found ≤ 5 builds (perfkit / Otava) | found ≤ 15 builds | delay median (perfkit / Otava) | false alarms (perfkit / Otava) |\n\
         | --- | --- | --- | --- | --- |"
    );
    for ((name, p), (_, o)) in c.perfkit.rows.iter().zip(&c.otava.rows) {
        let share =
            |t: &postmerge::Tally, k| pct(t.found_within(k) as f64 / t.histories.max(1) as f64);
        let median = |t: &postmerge::Tally| {
            let mut d = t.delays.clone();
            d.sort_unstable();
            d.get(d.len().saturating_sub(1) / 2)
                .map_or("—".to_string(), |m| m.to_string())
        };
        let steps = !(name.starts_with("clean") || name.contains("outlier"));
        let found = |k| {
            if steps {
                format!("{} / {}", share(p, k), share(o, k))
            } else {
                "—".to_string()
            }
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} / {} |",
            found(5),
            found(15),
            if steps {
                format!("{} / {}", median(p), median(o))
            } else {
                "—".to_string()
            },
            pct(p.false_alarms as f64 / p.histories.max(1) as f64),
            pct(o.false_alarms as f64 / o.histories.max(1) as f64),
        );
    }
    out.push('\n');
}
