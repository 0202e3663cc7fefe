//! The printed evaluation: Markdown tables of the scenarios and noise
//! buckets, and the four goals of the issue with their measured values.

use std::fmt::Write;

use super::noise::NoiseTable;
use super::{Bucket, Report, postmerge, premerge};

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
    /// Regression verdicts that were right, over the patchsets with a change.
    pub precision: f64,
    /// Regressed series ≥ 3 × noise whose first verdict was NoChange or
    /// Improvement: the gate passed them silently.
    pub missed_3x: f64,
    /// … whose first verdict was not Regression (Inconclusive counts too).
    pub not_flagged_3x: f64,
    /// … still not Regression after one recheck.
    pub not_flagged_3x_after_recheck: f64,
    /// The highest missed share of the noise buckets ≥ 3 × noise, and its name.
    pub worst_bucket_missed: (f64, &'static str),
    /// Clean patchsets with ≥ 1 false Regression, per 20.
    pub false_per_20_clean: f64,
    pub false_per_20_clean_after_recheck: f64,
    /// Steps ≥ 3 × noise: median builds after the step until reported
    /// (unfound counted as never), and the share found by the 5th build.
    pub median_delay_3x: Option<usize>,
    pub found_by_5_3x: f64,
    /// … until reported at the right build (±1).
    pub median_exact_delay_3x: Option<usize>,
    /// Histories with a change point near a single outlier build.
    pub outlier_alarms: f64,
    /// Config changes reported as something other than ConfigChanged.
    pub config_alarms: f64,
}

pub fn figures(r: &Report) -> Figures {
    // Over patchsets that carry a change, so the figure does not depend on
    // how many clean patchsets were simulated (those have their own goal).
    let (found, false_reg) = r
        .premerge
        .iter()
        .filter(|(_, t)| t.regressed > 0)
        .fold((0, 0), |(f, x), (_, t)| {
            (f + t.found, x + t.false_regressions)
        });
    let three = &last(&r.premerge_buckets).tally;
    let clean = &r
        .premerge
        .iter()
        .find(|(s, _)| matches!(s.change, premerge::Change::None))
        .expect("a clean row")
        .1;
    let steps = &last(&r.postmerge_buckets).tally;
    let ratio = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    let post_rate = |pick: fn(&postmerge::Change) -> bool| {
        let (alarms, n) = r
            .postmerge
            .iter()
            .filter(|(s, _)| pick(&s.change))
            .fold((0, 0), |(a, n), (_, t)| {
                (a + t.false_alarms, n + t.histories)
            });
        ratio(alarms, n)
    };
    Figures {
        precision: ratio(found, found + false_reg),
        missed_3x: ratio(three.missed, three.regressed),
        not_flagged_3x: ratio(three.regressed - three.found, three.regressed),
        not_flagged_3x_after_recheck: ratio(three.regressed - three.found_final, three.regressed),
        worst_bucket_missed: r.premerge_buckets[..r.premerge_buckets.len() - 1]
            .iter()
            .filter(|b| b.lo >= 3.0)
            .map(|b| (ratio(b.tally.missed, b.tally.regressed), b.name))
            .fold((0.0, "none"), |w, x| if x.0 > w.0 { x } else { w }),
        false_per_20_clean: 20.0 * ratio(clean.patchsets_with_false_regression, clean.patchsets),
        false_per_20_clean_after_recheck: 20.0
            * ratio(clean.patchsets_with_false_regression_final, clean.patchsets),
        median_delay_3x: median_of(&steps.delays, steps.histories),
        median_exact_delay_3x: median_of(&steps.delays_exact, steps.histories),
        found_by_5_3x: ratio(steps.found_within(5), steps.histories),
        outlier_alarms: post_rate(|c| matches!(c, postmerge::Change::Outlier(_))),
        config_alarms: post_rate(|c| matches!(c, postmerge::Change::Config(_))),
    }
}

pub fn goals(f: &Figures) -> Vec<Goal> {
    vec![
        Goal {
            name: "precision ≥ 90 % (Regression verdicts in patchsets with an injected change)",
            measured: pct(f.precision),
            met: f.precision >= 0.9,
        },
        Goal {
            name: "≤ 5 % missed at shifts ≥ 3 × noise (first build NoChange/Improvement), \
                   in every noise bucket",
            measured: format!(
                "all ≥ 3 × noise: {} missed (not a Regression on the first build {}, \
                 after one recheck {}); worst bucket {}: {} missed",
                pct(f.missed_3x),
                pct(f.not_flagged_3x),
                pct(f.not_flagged_3x_after_recheck),
                f.worst_bucket_missed.1,
                pct(f.worst_bucket_missed.0),
            ),
            met: f.missed_3x <= 0.05 && f.worst_bucket_missed.0 <= 0.05,
        },
        Goal {
            name: "≤ 1 false regression per 20 clean patchsets",
            measured: format!(
                "{:.2} per 20 (after rechecks {:.2})",
                f.false_per_20_clean, f.false_per_20_clean_after_recheck
            ),
            met: f.false_per_20_clean <= 1.0,
        },
        Goal {
            name: "change points found ≤ 5 builds after the shift (steps ≥ 3 × noise, median)",
            measured: format!(
                "median {}; {} found by the 5th build; at the right build (±1): median {}",
                builds(f.median_delay_3x),
                pct(f.found_by_5_3x),
                builds(f.median_exact_delay_3x),
            ),
            met: f.median_delay_3x.is_some_and(|d| d <= 5),
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
    ]
}

/// The whole printout (deterministic: no timings).
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let c = &r.config;
    let _ = writeln!(
        out,
        "# Detection quality on real Rally noise\n\nseed {}; {} patchsets per change, {} clean; \
         {} histories per post-merge row; jobs of {} series; baseline window ≤ {} builds.\n",
        c.seed,
        c.patchsets,
        c.clean_patchsets,
        c.histories,
        job_series(r),
        premerge::WINDOW,
    );
    noise_table(&mut out, r);
    premerge_table(&mut out, r);
    postmerge_table(&mut out, r);
    let _ = writeln!(out, "## Goals\n");
    let _ = writeln!(out, "| goal | measured | met |\n| --- | --- | --- |");
    for g in goals(&figures(r)) {
        let met = if g.met { "yes" } else { "**NO**" };
        let _ = writeln!(out, "| {} | {} | {met} |", g.name, g.measured);
    }
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
         Noise = Qn of per-build medians / their median, for builds of 4 and 10 iterations.\n\n\
         | workload | duration series | in a job | real builds | iterations | failed | median total | noise total (4 / 10 it.) |\n\
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
        let _ = writeln!(
            out,
            "| {} | {} | {}× | {} | {} | {} | {} | {} / {} |",
            t.name,
            t.actions.join(", "),
            t.copies,
            t.builds.len(),
            t.iterations(),
            pct(t.failure_rate()),
            duration(med),
            pct(table.get(&r.templates, i, 0, 4)),
            pct(table.get(&r.templates, i, 0, 10)),
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
         first build, and Regression after one recheck. Precision = right Regression verdicts \
         / all Regression verdicts of the row. False reg. = patchsets with ≥ 1 Regression on \
         an unchanged series, per 20.\n\n\
         | scenario | patchsets | regressed series | shift/noise (median) | regression | inconclusive | missed | after recheck | precision | false reg. /20 patchsets | rechecked patchsets | inconclusive clean series |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
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
    let per20 = |n: usize| {
        if bucket {
            "—".to_string()
        } else {
            format!("{:.2}", 20.0 * n as f64 / t.patchsets.max(1) as f64)
        }
    };
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
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
        of(t.found_final),
        if bucket {
            "—".to_string()
        } else {
            t.precision().map_or("—".to_string(), pct)
        },
        per20(t.patchsets_with_false_regression),
        if bucket {
            "—".to_string()
        } else {
            frac(t.patchsets_rechecked, t.patchsets)
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
         | scenario | histories | shift/noise (median) | found ≤ 5 builds | found ≤ {} builds | delay median / p90 | offset at first report (median) | right build: delay median / p90 | false alarms | config change reported |\n\
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

fn last<T>(buckets: &[Bucket<T>]) -> &Bucket<T> {
    buckets.last().expect("buckets are not empty")
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
    delay.map_or("never".to_string(), |d| format!("{d} builds"))
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
