//! A comparison as text for terminals and as Markdown for Gerrit comments
//! and CI summaries (`perfkit compare --format text|markdown`).

use std::fmt::Write;

use crate::compare::{Comparison, SeriesVerdict, Status};
use crate::regress::verdict::{Test, Thresholds, Verdict};
use crate::{Metric, SeriesLabel};

use crate::format::{measure, measure_to, percent, probability, share};

/// One line saying what the comparison found.
pub fn summary(c: &Comparison) -> String {
    let judged = c.series.len();
    let (reg, inc, imp, cfg, new) = (
        c.count(Status::Regression),
        c.count(Status::Inconclusive),
        c.count(Status::Improvement),
        c.count(Status::ConfigChanged),
        c.count(Status::NoBaseline),
    );
    let head = if reg > 0 {
        format!("regression in {reg} of {judged} series")
    } else if inc > 0 {
        format!(
            "no regression proven; {inc} of {judged} series inconclusive: {}",
            settle_all(c)
        )
    } else if c.baseline.is_empty() || new == judged {
        format!("no baseline yet: {judged} series have no branch history to compare with")
    } else {
        format!("no regression in {judged} series")
    };
    let mut extras = Vec::new();
    if reg > 0 && inc > 0 {
        extras.push(format!("{inc} inconclusive"));
    }
    if imp > 0 {
        extras.push(format!("{imp} improved"));
    }
    if cfg > 0 {
        extras.push(format!("{cfg} with a changed configuration"));
    }
    if new > 0 && !c.baseline.is_empty() {
        extras.push(format!("{new} new"));
    }
    if extras.is_empty() {
        head
    } else {
        format!("{head} ({})", extras.join(", "))
    }
}

/// The one line a run through an upgrade adds: "N requests during the
/// upgrade, M failed" (the figure a rolling upgrade is judged by).
pub fn upgrade_line(c: &Comparison) -> Option<String> {
    let t = c.upgrade?;
    let during = if t.builds == 1 {
        "during the upgrade".to_string()
    } else {
        format!("during the upgrades of {} builds", t.builds)
    };
    Some(format!(
        "{} request{} {during}, {} failed",
        t.requests,
        if t.requests == 1 { "" } else { "s" },
        t.failures
    ))
}

/// Builds and baseline in one line.
pub fn provenance(c: &Comparison) -> String {
    let mut jobs: Vec<&str> = c.builds.iter().filter_map(|b| b.job.as_deref()).collect();
    jobs.sort();
    jobs.dedup();
    let mut text = format!(
        "{} build{} ({})",
        c.builds.len(),
        if c.builds.len() == 1 { "" } else { "s" },
        if jobs.is_empty() {
            "job unknown".to_string()
        } else {
            jobs.join(", ")
        }
    );
    match (c.baseline.first(), c.baseline.last()) {
        (Some(first), Some(last)) => {
            let _ = write!(
                text,
                " against {} branch build{} from {} to {}{}",
                c.baseline.len(),
                if c.baseline.len() == 1 { "" } else { "s" },
                crate::format::timestamp(first.time_us),
                crate::format::timestamp(last.time_us),
                if c.same_provider {
                    " on the same node provider"
                } else {
                    ""
                }
            );
        }
        _ => text.push_str("; no branch builds of the same job to compare with"),
    }
    text
}

/// Whether a series is one a message and the change page explain: it
/// regressed, improved, or needs a recheck.
pub fn is_flagged(status: Status) -> bool {
    matches!(
        status,
        Status::Regression | Status::Improvement | Status::Inconclusive
    )
}

/// The sentence a reviewer reads first about a flagged series, in the
/// series' units: "Slower: 46.7 ms against a usual 33.8 ms: +12.5 ms
/// (+37 %), 11× how much builds usually vary (±1.1 ms)." (the shift is the
/// Hodges–Lehmann estimate, so it need not be the difference of the
/// medians shown). An inconclusive one says what would settle it, and
/// plainly when rechecks alone cannot ([`settle`]). The formula text (`Verdict::reason`) is the detail
/// behind it. `None` for series that are not flagged. This is the one
/// wording `perfkit compare`, `perfkit review` and the change pages share.
pub fn lead(s: &SeriesVerdict) -> Option<String> {
    if !is_flagged(s.status) {
        return None;
    }
    let v = s.verdict.as_ref()?;
    Some(match v.test {
        Test::FisherExact => failures_lead(s, v),
        Test::MannWhitney => values_lead(s, v),
    })
}

/// What a series counts: Rally iterations, Locust requests, or the
/// operations of a tool's distribution (fio).
fn noun(label: &SeriesLabel) -> &'static str {
    if label.rate_unit == "requests/s" {
        "requests"
    } else if label.depth > 0 || label.rate_unit == "iterations/s" {
        "iterations"
    } else {
        "operations"
    }
}

/// The unit the verdict's values are in.
fn unit_of(s: &SeriesVerdict) -> &str {
    match s.metric {
        Metric::Throughput if !s.label.rate_unit.is_empty() => &s.label.rate_unit,
        Metric::Throughput => "iterations/s",
        _ => &s.label.unit,
    }
}

/// A change in % the way people say it: `+37 %`, `-4.2 %`.
fn rounded_percent(pct: f64) -> String {
    if pct.abs() >= 9.95 {
        format!("{pct:+.0} %")
    } else {
        format!("{pct:+.1} %")
    }
}

/// `11×`, `2.4×`.
fn times(ratio: f64) -> String {
    if ratio >= 9.95 {
        format!("{ratio:.0}×")
    } else {
        format!("{ratio:.1}×")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn values_lead(s: &SeriesVerdict, v: &Verdict) -> String {
    let unit = unit_of(s);
    let (Some(base), Some(new)) = (v.baseline_median, v.new_median) else {
        return format!(
            "Nothing to compare yet ({}): a recheck or more branch builds would settle it.",
            v.reason
        );
    };
    let shift = v.shift.unwrap_or(new - base);
    let time = unit.is_empty() || unit == perfkit_schema::records::SECONDS;
    let moved = match (time, shift > 0.0) {
        (true, true) => "slower",
        (true, false) => "faster",
        (false, true) => "higher",
        (false, false) => "lower",
    };
    let word = if s.status == Status::Inconclusive {
        format!("Possibly {moved}")
    } else {
        let mut w = moved.to_string();
        w[..1].make_ascii_uppercase();
        w
    };
    let over = if v.new_builds > 1 {
        format!(" over {} builds", v.new_builds)
    } else {
        String::new()
    };
    let mut text = format!(
        "{word}: {}{over} against a usual {}: {}",
        measure(Some(new), unit),
        measure(Some(base), unit),
        signed_measure(shift, unit)
    );
    if let Some(pct) = v.change_pct.filter(|p| p.is_finite()) {
        let _ = write!(text, " ({})", rounded_percent(pct));
    }
    // How much builds vary, only when the baseline measured it: too few
    // builds, or build medians closer than the noise floor, leave the
    // floor's 0.5 % of the median, not a spread anyone saw.
    let t = Thresholds::default();
    let spread = v.baseline_spread.filter(|n| {
        *n > 0.0
            && n.is_finite()
            && v.baseline_builds >= t.min_baseline_builds
            && *n > t.noise_floor_rel * base.abs() * (1.0 + 1e-9)
    });
    if let Some(noise) = spread {
        let _ = write!(
            text,
            ", {} how much builds usually vary (±{})",
            times(shift.abs() / noise),
            measure_to(Some(noise), unit, 2)
        );
    }
    if s.status == Status::Inconclusive {
        text.push_str("; ");
        text.push_str(&values_settle(s, v));
    }
    text.push('.');
    text
}

/// `+12.5 ms`, `-14.6k IO/s`.
fn signed_measure(x: f64, unit: &str) -> String {
    let sign = if x < 0.0 { "-" } else { "+" };
    format!("{sign}{}", measure(Some(x.abs()), unit))
}

/// What would settle an inconclusive verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// This many more builds of the patchset (rechecks), 1 to 3, would
    /// take the shift past the floor (or add the samples it lacks).
    Rechecks(usize),
    /// More branch builds would: the baseline has too few builds to tell
    /// how much builds vary, or a fuller one would lower the floor enough.
    BranchBuilds,
    /// Neither: the shift is within what more builds could tell from noise.
    Neither,
}

/// What would settle `s`; `None` unless it is inconclusive. From the
/// verdict's numbers: the floor a regression must clear is max(k ×
/// √(noise² × (1/n + 1/m) + se²), `min_effect_rel` × median) with n new
/// builds, m baseline builds and se the new median's standard error
/// (shrinking as 1/√n), so it is worked out again for a few more rechecks
/// and for a full baseline window.
pub fn settle(s: &SeriesVerdict) -> Option<Settle> {
    if s.status != Status::Inconclusive {
        return None;
    }
    let Some(v) = s.verdict.as_ref() else {
        return Some(Settle::BranchBuilds);
    };
    let t = Thresholds::default();
    if v.baseline_median.is_none() {
        return Some(Settle::BranchBuilds);
    }
    if v.test == Test::FisherExact || v.new_median.is_none() {
        return Some(Settle::Rechecks(1));
    }
    let (n, m) = (v.new_builds.max(1), v.baseline_builds);
    if m < t.min_baseline_builds {
        return Some(Settle::BranchBuilds);
    }
    let once_per_build = v.n_new as usize == v.new_builds;
    if !once_per_build && (v.n_new as usize) < t.min_new_samples {
        return Some(Settle::Rechecks(1));
    }
    let (Some(noise), Some(floor), Some(shift), Some(base)) =
        (v.baseline_spread, v.floor, v.shift, v.baseline_median)
    else {
        return Some(Settle::Rechecks(1));
    };
    let shift = shift.abs();
    if shift >= floor {
        // Past the floor, short of q: more samples lower p.
        return Some(Settle::Rechecks(1));
    }
    let k = t.k_regression;
    let rel = t.min_effect_rel * base.abs();
    let noise2 = |n: usize, m: usize| noise * noise * (1.0 / n as f64 + 1.0 / m as f64);
    let se2 = ((floor / k).powi(2) - noise2(n, m)).max(0.0);
    let floor_with =
        |n2: usize, m2: usize| (k * (noise2(n2, m2) + se2 * n as f64 / n2 as f64).sqrt()).max(rel);
    if let Some(extra) = (1..=3).find(|e| floor_with(n + e, m) <= shift) {
        return Some(Settle::Rechecks(extra));
    }
    let window = crate::compare::BASELINE_WINDOW;
    if m < window && floor_with(n + 1, window) <= shift {
        return Some(Settle::BranchBuilds);
    }
    Some(Settle::Neither)
}

/// What would settle the inconclusive series of `c`, for a heading or
/// summary: "a recheck would settle them", "rechecks alone cannot tell it
/// from noise", …
pub fn settle_all(c: &Comparison) -> String {
    let kinds: Vec<Settle> = c.series.iter().filter_map(settle).collect();
    let it = |n: usize| if n == 1 { "it" } else { "them" };
    let most = kinds
        .iter()
        .filter_map(|k| match k {
            Settle::Rechecks(e) => Some(*e),
            _ => None,
        })
        .max();
    let by_rechecks = kinds
        .iter()
        .filter(|k| matches!(k, Settle::Rechecks(_)))
        .count();
    let rest = kinds.len() - by_rechecks;
    match most {
        Some(e) if rest == 0 => format!("{} would settle {}", rechecks(e), it(by_rechecks)),
        Some(e) => format!(
            "{} would settle {by_rechecks} of them; rechecks alone cannot settle the other {rest}",
            rechecks(e)
        ),
        None if kinds.iter().all(|k| *k == Settle::BranchBuilds) => {
            format!("more branch builds would settle {}", it(rest))
        }
        None => format!("rechecks alone cannot tell {} from noise", it(rest)),
    }
}

/// "a recheck", "two rechecks", "three rechecks".
fn rechecks(n: usize) -> &'static str {
    match n {
        1 => "a recheck",
        2 => "two rechecks",
        _ => "three rechecks",
    }
}

/// What would settle an inconclusive values verdict, said plainly.
fn values_settle(s: &SeriesVerdict, v: &Verdict) -> String {
    let t = Thresholds::default();
    let once_per_build = v.n_new as usize == v.new_builds;
    match settle(s) {
        Some(Settle::BranchBuilds) if v.baseline_builds < t.min_baseline_builds => format!(
            "only {} to tell how much builds vary — more branch builds would settle it",
            plural(v.baseline_builds, "branch build", "branch builds")
        ),
        Some(Settle::BranchBuilds) => {
            "rechecks alone cannot tell this from noise — more branch builds would settle it"
                .to_string()
        }
        Some(Settle::Neither) => "rechecks alone cannot tell a shift this small from noise".into(),
        Some(Settle::Rechecks(1)) if !once_per_build && (v.n_new as usize) < t.min_new_samples => {
            format!(
                "only {} — a recheck would settle it",
                plural(
                    v.n_new as usize,
                    &format!("new {}", noun_one(&s.label)),
                    &format!("new {}", noun(&s.label))
                )
            )
        }
        Some(Settle::Rechecks(e)) => {
            let how = match (e, v.new_builds <= 1) {
                (1, true) => "a recheck".to_string(),
                (1, false) => "another recheck".to_string(),
                (e, true) => rechecks(e).to_string(),
                (2, false) => "two more rechecks".to_string(),
                (_, false) => "three more rechecks".to_string(),
            };
            if v.new_builds <= 1 {
                format!("one build cannot tell this from a slow node — {how} would settle it")
            } else {
                format!(
                    "{} builds cannot yet tell this from a slow node — {how} would settle it",
                    v.new_builds
                )
            }
        }
        None => String::new(),
    }
}

fn noun_one(label: &SeriesLabel) -> &'static str {
    match noun(label) {
        "requests" => "request",
        "operations" => "operation",
        _ => "iteration",
    }
}

fn failures_lead(s: &SeriesVerdict, v: &Verdict) -> String {
    let noun = noun(&s.label);
    let (Some(base), Some(new)) = (v.baseline_median, v.new_median) else {
        return format!(
            "Nothing to compare yet ({}): a recheck or more branch builds would settle it.",
            v.reason
        );
    };
    let failed = (new * v.n_new as f64).round() as u64;
    let rates = format!(
        "failed {failed} of {} {noun} ({})",
        v.n_new,
        share(Some(new))
    );
    let usual = if base > 0.0 {
        format!(" against {} usually", share(Some(base)))
    } else {
        ", where none usually fail".to_string()
    };
    if s.status == Status::Inconclusive {
        let why = if failed < Thresholds::default().min_new_failures {
            "one failure on a shared cloud is as often a hiccup as a bug"
        } else {
            "so few are not yet more than chance"
        };
        format!("Possibly more failures: {rates}{usual}; {why} — a recheck would settle it.")
    } else {
        let mut text = format!("{rates}{usual}.");
        text[..1].make_ascii_uppercase();
        text
    }
}

/// The cells of one verdict: baseline, new, change, q.
pub fn cells(s: &SeriesVerdict) -> [String; 4] {
    let Some(v) = &s.verdict else {
        return ["–".into(), "–".into(), "–".into(), "–".into()];
    };
    match s.metric {
        Metric::FailureRate => [
            share(v.baseline_median),
            share(v.new_median),
            v.change_pct
                .map(|p| format!("{p:+.1} pts"))
                .unwrap_or_else(|| "–".into()),
            probability(v.q_value),
        ],
        _ => [
            format!(
                "{} ±{}",
                measure(v.baseline_median, &s.label.unit),
                measure(v.baseline_spread, &s.label.unit)
            ),
            measure(v.new_median, &s.label.unit),
            percent(v.change_pct),
            probability(v.q_value),
        ],
    }
}

/// A plain-text report for terminals.
pub fn text(c: &Comparison) -> String {
    let mut out = format!(
        "{} change {} patchset {}: {}\n{}\n",
        c.project,
        c.change,
        c.patchset,
        summary(c),
        provenance(c)
    );
    if let Some(line) = upgrade_line(c) {
        out.push_str(&line);
        out.push('\n');
    }
    if c.series.is_empty() {
        return out;
    }
    let rows: Vec<[String; 7]> = c
        .series
        .iter()
        .map(|s| {
            let [base, new, change, q] = cells(s);
            [
                s.status.name().to_string(),
                metric_name(s.metric, &s.label),
                base,
                new,
                change,
                q,
                s.label.short(),
            ]
        })
        .collect();
    let header = [
        "status",
        "metric",
        "baseline ±noise",
        "new",
        "change",
        "q",
        "series",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut l = String::from(" ");
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(&format!(" {cell}"));
            } else {
                let pad = widths[i] - cell.chars().count();
                l.push_str(&format!(" {cell}{}", " ".repeat(pad)));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push('\n');
    out.push_str(&line(&header));
    for (row, s) in rows.iter().zip(&c.series) {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
        // The plain sentence first, the formula text for those who want it.
        if let Some(lead) = lead(s) {
            out.push_str(&format!("      {lead}\n"));
            if let Some(v) = &s.verdict {
                out.push_str(&format!("      {}\n", v.reason));
            }
        }
    }
    out
}

/// Escapes text for Markdown table cells (and HTML, which Gerrit's
/// renderer would otherwise interpret).
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A Markdown report: summary, one sentence ([`lead`]) per flagged series,
/// a table of every series (regressions and inconclusive ones first), and
/// a link when given.
pub fn markdown(c: &Comparison, link: Option<&str>) -> String {
    let mut out = format!(
        "**perfkit**: {} — change {} patchset {}\n\n{}\n",
        markdown_escape(&summary(c)),
        c.change,
        c.patchset,
        markdown_escape(&provenance(c))
    );
    if let Some(line) = upgrade_line(c) {
        let _ = writeln!(out, "\n{}", markdown_escape(&line));
    }
    let leads: Vec<String> = c
        .series
        .iter()
        .filter_map(|s| {
            let lead = lead(s)?;
            Some(format!(
                "- {}: {} — {}\n",
                s.status.name(),
                markdown_escape(&s.label.short()),
                markdown_escape(&lead)
            ))
        })
        .collect();
    if !leads.is_empty() {
        out.push('\n');
        leads.iter().for_each(|l| out.push_str(l));
    }
    if !c.series.is_empty() {
        out.push_str("\n| status | series | metric | baseline ±noise | new | change | q |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for s in &c.series {
            let [base, new, change, q] = cells(s);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                s.status.name(),
                markdown_escape(&s.label.short()),
                metric_name(s.metric, &s.label),
                base,
                new,
                change,
                q
            );
        }
    }
    if let Some(link) = link {
        let _ = write!(out, "\nDetails: {}\n", autolink(link));
    }
    out
}

/// An operator's URL as a Markdown autolink (`<…>`), percent-encoded where
/// Markdown would trip.
pub fn autolink(url: &str) -> String {
    let safe: String = url
        .chars()
        .map(|c| match c {
            ' ' | '<' | '>' | '"' | '`' | '|' => format!("%{:02X}", c as u32),
            c if c.is_control() => String::new(),
            c => c.to_string(),
        })
        .collect();
    format!("<{safe}>")
}

/// What a metric of a series is called: `duration` for durations, the
/// unit for a measured rate (`IO/s`), `throughput`, `failure rate`.
pub fn metric_name(metric: Metric, label: &SeriesLabel) -> String {
    match metric {
        Metric::Duration if !label.is_duration() => label.unit.clone(),
        other => other.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regress::verdict::{Direction, VerdictKind};

    fn label(unit: &str, higher_is_better: bool, rate_unit: &str) -> SeriesLabel {
        SeriesLabel {
            job: "perf-job".into(),
            branch: "master".into(),
            subtask_title: "title".into(),
            scenario: "HttpRequests.check_request".into(),
            action: "total".into(),
            depth: 0,
            unit: unit.into(),
            higher_is_better,
            rate_unit: rate_unit.into(),
        }
    }

    /// A values verdict: (baseline median, spread, new median, shift, %).
    fn values(
        status: Status,
        label: SeriesLabel,
        [base, spread, new, shift, pct]: [f64; 5],
    ) -> SeriesVerdict {
        let kind = match status {
            Status::Regression => VerdictKind::Regression,
            Status::Improvement => VerdictKind::Improvement,
            Status::Inconclusive => VerdictKind::Inconclusive,
            _ => VerdictKind::NoChange,
        };
        SeriesVerdict {
            id: "0123456789abcdef".into(),
            metric: Metric::Duration,
            status,
            verdict: Some(Verdict {
                series: String::new(),
                kind,
                test: Test::MannWhitney,
                direction: label.direction(),
                baseline_median: Some(base),
                baseline_spread: Some(spread),
                new_median: Some(new),
                shift: Some(shift),
                change_pct: Some(pct),
                floor: Some(3.0 * spread),
                p_value: Some(1e-5),
                q_value: Some(if kind == VerdictKind::Inconclusive {
                    0.1
                } else {
                    1e-4
                }),
                n_baseline: 200,
                n_new: 20,
                baseline_builds: 10,
                new_builds: 1,
                reason: "shift +0.01249 (+36.9 %) beyond floor 0.005312".into(),
            }),
            label,
        }
    }

    /// A failure-rate verdict: `failed` of `total` new iterations against
    /// a baseline rate.
    fn failures(
        status: Status,
        label: SeriesLabel,
        failed: u64,
        total: u64,
        base: f64,
    ) -> SeriesVerdict {
        let mut s = values(status, label, [0.0; 5]);
        s.metric = Metric::FailureRate;
        let v = s.verdict.as_mut().unwrap();
        let new = failed as f64 / total as f64;
        *v = Verdict {
            test: Test::FisherExact,
            direction: Direction::LowerIsBetter,
            baseline_median: Some(base),
            baseline_spread: None,
            new_median: Some(new),
            shift: Some(new - base),
            change_pct: Some(100.0 * (new - base)),
            floor: None,
            n_baseline: 480,
            n_new: total,
            baseline_builds: 0,
            new_builds: 0,
            ..v.clone()
        };
        s
    }

    fn lead_of(s: &SeriesVerdict) -> String {
        lead(s).unwrap()
    }

    #[test]
    fn milliseconds_lead_with_the_usual_level_and_spread() {
        let s = values(
            Status::Regression,
            label("s", false, "iterations/s"),
            [0.0338, 0.001093, 0.0467, 0.01249, 36.9],
        );
        assert_eq!(
            lead_of(&s),
            "Slower: 46.7 ms against a usual 33.8 ms: +12.5 ms (+37 %), 11× how much builds usually vary (±1.1 ms)."
        );
    }

    #[test]
    fn microseconds_and_seconds_pick_their_unit() {
        let s = values(
            Status::Regression,
            label("s", false, ""),
            [416e-6, 9e-6, 512e-6, 96e-6, 23.1],
        );
        assert_eq!(
            lead_of(&s),
            "Slower: 512 µs against a usual 416 µs: +96 µs (+23 %), 11× how much builds usually vary (±9 µs)."
        );
        let s = values(
            Status::Regression,
            label("s", false, "iterations/s"),
            [1.25, 0.04, 1.52, 0.27, 21.6],
        );
        assert_eq!(
            lead_of(&s),
            "Slower: 1.52 s against a usual 1.25 s: +270 ms (+22 %), 6.8× how much builds usually vary (±40 ms)."
        );
    }

    #[test]
    fn an_improvement_is_faster() {
        let s = values(
            Status::Improvement,
            label("s", false, "iterations/s"),
            [0.0338, 0.001093, 0.0301, -0.0037, -10.9],
        );
        assert_eq!(
            lead_of(&s),
            "Faster: 30.1 ms against a usual 33.8 ms: -3.7 ms (-11 %), 3.4× how much builds usually vary (±1.1 ms)."
        );
    }

    #[test]
    fn rates_measured_once_per_build_read_in_their_unit() {
        let s = values(
            Status::Regression,
            label("IO/s", true, ""),
            [75_843.0, 1_200.0, 61_200.0, -14_600.0, -19.25],
        );
        assert_eq!(
            lead_of(&s),
            "Lower: 61.2k IO/s against a usual 75.8k IO/s: -14.6k IO/s (-19 %), 12× how much builds usually vary (±1.2k IO/s)."
        );
        let s = values(
            Status::Improvement,
            label("B/s", true, ""),
            [612e6, 8e6, 700e6, 88e6, 14.4],
        );
        assert_eq!(
            lead_of(&s),
            "Higher: 700 MB/s against a usual 612 MB/s: +88 MB/s (+14 %), 11× how much builds usually vary (±8 MB/s)."
        );
        let mut s = values(
            Status::Regression,
            label("s", false, "requests/s"),
            [13.7, 0.2, 11.0, -2.7, -19.7],
        );
        s.metric = Metric::Throughput;
        s.verdict.as_mut().unwrap().direction = Direction::HigherIsBetter;
        assert_eq!(
            lead_of(&s),
            "Lower: 11 requests/s against a usual 13.7 requests/s: -2.7 requests/s (-20 %), 14× how much builds usually vary (±0.2 requests/s)."
        );
    }

    /// An inconclusive values verdict of `n` new and `m` baseline builds
    /// at 33.8 ms ± 1.1 ms, `shift` ms slower, with the floor the detector
    /// sets (no own standard error).
    fn inconclusive(shift_ms: f64, n: usize, m: usize) -> SeriesVerdict {
        let (base, spread, shift) = (0.0338, 0.0011, shift_ms / 1000.0);
        let mut s = values(
            Status::Inconclusive,
            label("s", false, "iterations/s"),
            [base, spread, base + shift, shift, 100.0 * shift / base],
        );
        let v = s.verdict.as_mut().unwrap();
        v.floor = Some(3.0 * spread * (1.0 / n as f64 + 1.0 / m as f64).sqrt());
        (v.new_builds, v.baseline_builds) = (n, m);
        s
    }

    #[test]
    fn inconclusive_says_what_would_settle_it() {
        let mut s = values(
            Status::Inconclusive,
            label("s", false, "iterations/s"),
            [0.0338, 0.0032, 0.0412, 0.0071, 21.0],
        );
        // 7.1 ms is under 3 × 3.2 ms × √(1/1 + 1/10) = 10 ms; two more
        // builds take the floor to 6.3 ms.
        s.verdict.as_mut().unwrap().floor = Some(3.0 * 0.0032 * 1.1f64.sqrt());
        assert_eq!(settle(&s), Some(Settle::Rechecks(2)));
        assert_eq!(
            lead_of(&s),
            "Possibly slower: 41.2 ms against a usual 33.8 ms: +7.1 ms (+21 %), 2.2× how much builds usually vary (±3.2 ms); one build cannot tell this from a slow node — two rechecks would settle it."
        );
        let v = s.verdict.as_mut().unwrap();
        v.new_builds = 2;
        v.floor = Some(3.0 * 0.0032 * 0.6f64.sqrt());
        assert_eq!(settle(&s), Some(Settle::Rechecks(1)));
        assert_eq!(
            lead_of(&s),
            "Possibly slower: 41.2 ms over 2 builds against a usual 33.8 ms: +7.1 ms (+21 %), 2.2× how much builds usually vary (±3.2 ms); 2 builds cannot yet tell this from a slow node — another recheck would settle it."
        );
        // Too few samples: not in the q family. With 3 branch builds there
        // is no spread to speak of.
        let v = s.verdict.as_mut().unwrap();
        (v.new_builds, v.q_value, v.baseline_builds) = (1, None, 3);
        assert_eq!(settle(&s), Some(Settle::BranchBuilds));
        assert_eq!(
            lead_of(&s),
            "Possibly slower: 41.2 ms against a usual 33.8 ms: +7.1 ms (+21 %); only 3 branch builds to tell how much builds vary — more branch builds would settle it."
        );
        let v = s.verdict.as_mut().unwrap();
        (v.baseline_builds, v.n_new) = (10, 2);
        assert_eq!(settle(&s), Some(Settle::Rechecks(1)));
        assert!(
            lead_of(&s).ends_with("; only 2 new iterations — a recheck would settle it."),
            "{}",
            lead_of(&s)
        );
    }

    #[test]
    fn a_recheck_is_promised_only_when_it_would_settle_it() {
        // One build, 20 baseline builds: floor 3.4 ms now, 2.4 ms with a
        // recheck, 2.0 ms with two.
        let s = inconclusive(3.2, 1, 20);
        assert_eq!(settle(&s), Some(Settle::Rechecks(1)));
        assert!(lead_of(&s).ends_with(" — a recheck would settle it."));
        let s = inconclusive(2.3, 1, 20);
        assert_eq!(settle(&s), Some(Settle::Rechecks(2)));
        assert!(lead_of(&s).ends_with(" — two rechecks would settle it."));
        // Past the floor, short of q: more samples.
        let mut s = inconclusive(4.0, 2, 20);
        s.verdict.as_mut().unwrap().q_value = Some(0.02);
        assert_eq!(settle(&s), Some(Settle::Rechecks(1)));
        assert!(lead_of(&s).ends_with(" — another recheck would settle it."));
        // 1 ms: no number of rechecks takes the floor (≥ 3 × 1.1 ms / √20)
        // under it.
        let s = inconclusive(1.0, 1, 20);
        assert_eq!(settle(&s), Some(Settle::Neither));
        assert_eq!(
            lead_of(&s),
            "Possibly slower: 34.8 ms against a usual 33.8 ms: +1 ms (+3.0 %), 0.9× how much builds usually vary (±1.1 ms); rechecks alone cannot tell a shift this small from noise."
        );
        // 5 baseline builds: a full window of 30 would settle 1.8 ms, three
        // more rechecks would not.
        let s = inconclusive(1.8, 4, 5);
        assert_eq!(settle(&s), Some(Settle::BranchBuilds));
        assert!(
            lead_of(&s).ends_with(
                "; rechecks alone cannot tell this from noise — more branch builds would settle it."
            ),
            "{}",
            lead_of(&s)
        );
        // Not inconclusive: nothing to settle.
        let mut s = inconclusive(3.2, 1, 20);
        s.status = Status::Regression;
        assert_eq!(settle(&s), None);
    }

    #[test]
    fn headings_say_what_would_settle_the_inconclusive_series() {
        let of = |series: Vec<SeriesVerdict>| Comparison {
            project: "p".into(),
            change: 1,
            patchset: 1,
            builds: Vec::new(),
            baseline: Vec::new(),
            same_provider: false,
            series,
            upgrade: None,
        };
        let recheck = || inconclusive(3.2, 1, 20);
        let two = || inconclusive(2.3, 1, 20);
        let neither = || inconclusive(1.0, 1, 20);
        let branch = || inconclusive(1.8, 4, 5);
        assert_eq!(
            settle_all(&of(vec![recheck()])),
            "a recheck would settle it"
        );
        assert_eq!(
            settle_all(&of(vec![recheck(), recheck()])),
            "a recheck would settle them"
        );
        assert_eq!(
            settle_all(&of(vec![recheck(), two()])),
            "two rechecks would settle them"
        );
        assert_eq!(
            settle_all(&of(vec![recheck(), neither(), branch()])),
            "a recheck would settle 1 of them; rechecks alone cannot settle the other 2"
        );
        assert_eq!(
            settle_all(&of(vec![branch()])),
            "more branch builds would settle it"
        );
        assert_eq!(
            settle_all(&of(vec![neither(), branch()])),
            "rechecks alone cannot tell them from noise"
        );
        assert_eq!(
            summary(&of(vec![neither()])),
            "no regression proven; 1 of 1 series inconclusive: rechecks alone cannot tell it from noise"
        );
    }

    #[test]
    fn the_spread_is_left_out_when_the_baseline_did_not_measure_it() {
        // Build medians closer than 0.5 % of the median: the noise is the
        // floor, not a spread anyone saw.
        let s = values(
            Status::Regression,
            label("s", false, "iterations/s"),
            [0.0338, 0.005 * 0.0338, 0.0467, 0.01249, 36.9],
        );
        assert_eq!(
            lead_of(&s),
            "Slower: 46.7 ms against a usual 33.8 ms: +12.5 ms (+37 %)."
        );
        // Fewer than 5 baseline builds.
        let mut s = values(
            Status::Regression,
            label("s", false, "iterations/s"),
            [0.0338, 0.001093, 0.0467, 0.01249, 36.9],
        );
        s.verdict.as_mut().unwrap().baseline_builds = 4;
        assert_eq!(
            lead_of(&s),
            "Slower: 46.7 ms against a usual 33.8 ms: +12.5 ms (+37 %)."
        );
    }

    #[test]
    fn failure_rates_are_shares_of_iterations() {
        let s = failures(
            Status::Regression,
            label("s", false, "iterations/s"),
            6,
            24,
            0.004,
        );
        assert_eq!(
            lead_of(&s),
            "Failed 6 of 24 iterations (25 %) against 0.4 % usually."
        );
        let s = failures(
            Status::Regression,
            label("s", false, "requests/s"),
            12,
            578,
            0.0,
        );
        assert_eq!(
            lead_of(&s),
            "Failed 12 of 578 requests (2.1 %), where none usually fail."
        );
        let s = failures(
            Status::Inconclusive,
            label("s", false, "iterations/s"),
            1,
            24,
            0.004,
        );
        assert_eq!(
            lead_of(&s),
            "Possibly more failures: failed 1 of 24 iterations (4.2 %) against 0.4 % usually; one failure on a shared cloud is as often a hiccup as a bug — a recheck would settle it."
        );
    }

    #[test]
    fn only_flagged_series_have_a_lead() {
        let s = values(
            Status::NoChange,
            label("s", false, "iterations/s"),
            [0.0338, 0.001093, 0.0339, 0.0001, 0.3],
        );
        assert_eq!(lead(&s), None);
    }
}
