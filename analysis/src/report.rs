//! A comparison as text for terminals and as Markdown for Gerrit comments
//! and CI summaries (`perfkit compare --format text|markdown`).

use std::fmt::Write;

use crate::compare::{Comparison, SeriesVerdict, Status};
use crate::{Metric, SeriesLabel};

use crate::format::{measure, percent, probability, share};

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
            "no regression proven; {inc} of {judged} series inconclusive, a recheck adds samples"
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
        if matches!(s.status, Status::Regression | Status::Inconclusive)
            && let Some(v) = &s.verdict
        {
            out.push_str(&format!("      {}\n", v.reason));
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

/// A Markdown report: summary, a table of the series that matter
/// (regressions and inconclusive ones first), and a link when given.
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
