//! The context of each page. Everything goes in as plain values and the
//! templates (auto-escaped, `templates/`) escape it; nothing is marked safe.

use perfkit_analysis::compare::{BuildRef, Comparison, SeriesSamples, SeriesVerdict, Status};
use perfkit_analysis::regress::changepoint::ChangeKind;
use perfkit_analysis::trend::{ProjectTrends, SeriesTrend, TrendStatus};
use perfkit_analysis::{Metric, SeriesLabel};
use serde_json::{Value as Json, json};

use crate::data::safe_json;
use crate::feed::Alert;
use crate::judge::PLOTS_PER_PAGE;
use crate::sparkline::sparkline;
use crate::strip::{Strip, strip};
use crate::urls::http_url;
use perfkit_analysis::culprits::Suspects;
use perfkit_analysis::format::{
    change_of, measure, percent, probability, rate_in, share, timestamp,
};
use perfkit_analysis::report::{self, metric_name};

/// Branch builds listed in a series page's table.
pub const TABLE_ROWS: usize = 50;

fn link(url: Option<&str>) -> Json {
    url.and_then(http_url).map_or(Json::Null, |u| json!(u))
}

/// A `data-sort` value: the number, or empty (sorted as text) when missing.
fn sort_key(value: Option<f64>) -> Json {
    value
        .filter(|v| v.is_finite())
        .map_or_else(|| json!(""), |v| json!(v))
}

fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Regression => "regression",
        ChangeKind::Improvement => "improvement",
        ChangeKind::ConfigChanged => "configuration changed",
    }
}

fn kind_class(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Regression => "regression",
        ChangeKind::Improvement => "improvement",
        ChangeKind::ConfigChanged => "config_changed",
    }
}

/// A metric's value as text, in the series' unit (`Duration` in time
/// units or the unit of a measured rate, throughput as a rate).
pub(crate) fn value(metric: Metric, v: f64, label: &SeriesLabel) -> String {
    match metric {
        Metric::Duration => measure(Some(v), &label.unit),
        Metric::Throughput => rate_in(Some(v), &label.rate_unit),
        Metric::FailureRate => share(Some(v)),
    }
}

/// The row of one series in the project overview.
pub fn overview_row(trend: &SeriesTrend) -> Json {
    let last = trend.points.last();
    // Durations first: the throughput of a `total` row moves with them.
    let moves = |metric: Metric| {
        trend
            .annotations
            .iter()
            .rev()
            .find(move |a| a.metric == metric && a.change.kind != ChangeKind::ConfigChanged)
    };
    let latest_move = moves(Metric::Duration)
        .or_else(|| moves(Metric::Throughput))
        .or_else(|| moves(Metric::FailureRate));
    let regressed_from = trend
        .regressions()
        .next()
        .filter(|_| trend.status == TrendStatus::Regressed)
        .map(|a| a.point);
    let medians: Vec<Option<f64>> = trend.points.iter().map(|p| p.median).collect();
    let spark = sparkline(&medians, regressed_from);
    json!({
        "id": trend.id,
        "status": trend.status,
        "status_name": trend.status.name(),
        "status_rank": trend.status as u8,
        "scenario": trend.label.scenario,
        "title": trend.label.subtask_title,
        "action": trend.label.action,
        "depth": trend.label.depth.min(4),
        "job": trend.label.job,
        "branch": trend.label.branch,
        "median": measure(last.and_then(|p| p.median), &trend.label.unit),
        "median_raw": sort_key(last.and_then(|p| p.median)),
        "p95": measure(last.and_then(|p| p.p95), &trend.label.unit),
        "p95_raw": sort_key(last.and_then(|p| p.p95)),
        "fail": share(last.and_then(|p| p.failure_rate())),
        "fail_raw": sort_key(last.and_then(|p| p.failure_rate())),
        "change": latest_move
            .map(|a| match a.metric {
                Metric::Duration => percent(a.change.magnitude_pct),
                m => format!("{} {}", change_of(m, a.change.magnitude_pct), m.name()),
            })
            .unwrap_or_else(|| "–".into()),
        "change_raw": sort_key(latest_move.and_then(|a| a.change.magnitude_pct)),
        "spark": spark,
    })
}

/// Where a commit is shown on the web: `template` with `{project}` and
/// `{sha}` replaced (e.g. `https://opendev.org/{project}/commit/{sha}`).
#[derive(Debug, Clone, Copy)]
pub struct CommitLinks<'a>(pub Option<&'a str>);

impl CommitLinks<'_> {
    fn link(&self, project: &str, sha: &str) -> Json {
        let url = self
            .0
            .map(|t| t.replace("{project}", project).replace("{sha}", sha));
        link(url.as_deref())
    }
}

/// Suspect ranges as the templates list them (`suspects.html`).
pub fn suspects_view(list: &[Suspects], links: CommitLinks) -> Json {
    let ranges: Vec<Json> = list
        .iter()
        .map(|s| {
            let commits: Vec<Json> = s
                .commits
                .iter()
                .map(|c| {
                    json!({
                        "sha": c.sha.get(..12).unwrap_or(&c.sha),
                        "subject": c.subject,
                        "author": c.author,
                        "time": timestamp(c.time_us),
                        "commit_link": links.link(&s.project, &c.sha),
                        "change": c.change,
                        "change_link": link(c.reviewed_on.as_deref()),
                    })
                })
                .collect();
            json!({
                "project": s.project,
                "summary": s.describe(),
                "culprit": s.is_culprit(),
                "commits": commits,
                "more": s.width.saturating_sub(s.commits.len()),
            })
        })
        .collect();
    json!(ranges)
}

/// The context of a series page (without the common keys); `suspects`
/// names the commits of the change at a point.
pub fn series_page(
    trends: &ProjectTrends,
    trend: &SeriesTrend,
    data: Vec<String>,
    suspects: &dyn Fn(usize) -> Vec<Suspects>,
    links: CommitLinks,
) -> Json {
    let build = |i: usize| &trends.builds[trend.points[i].build];
    let annotations: Vec<Json> = trend
        .annotations
        .iter()
        .map(|a| {
            let b = build(a.point);
            let config = a.change.kind == ChangeKind::ConfigChanged;
            json!({
                "time": timestamp(b.time_us),
                "kind": kind_class(a.change.kind),
                "kind_name": kind_name(a.change.kind),
                "metric": metric_name(a.metric, &trend.label),
                "before": if config { "–".into() } else { value(a.metric, a.change.before_median, &trend.label) },
                "after": if config { "–".into() } else { value(a.metric, a.change.after_median, &trend.label) },
                "pct": if config { "–".into() } else { change_of(a.metric, a.change.magnitude_pct) },
                "p": probability(a.change.p_value),
                "log": link(b.log_url.as_deref()),
                "url": link(b.change_url.as_deref()),
                "suspects": suspects_view(&suspects(a.point), links),
            })
        })
        .collect();
    let unit = trend.label.unit.as_str();
    let rows: Vec<Json> = trend
        .points
        .iter()
        .enumerate()
        .rev()
        .take(TABLE_ROWS)
        .map(|(i, p)| {
            let b = build(i);
            json!({
                "time": timestamp(b.time_us),
                "pipeline": b.pipeline.clone().unwrap_or_default(),
                "median": measure(p.median, unit),
                "p95": measure(p.p95, unit),
                "range": format!("{} – {}", measure(p.min, unit), measure(p.max, unit)),
                "failed": p.failed,
                "samples": p.samples,
                "throughput": rate_in(p.throughput, &trend.label.rate_unit),
                "pass_sla": p.pass_sla,
                "config_changed": p.config_changed,
                "log": link(b.log_url.as_deref()),
                "url": link(b.change_url.as_deref()),
            })
        })
        .collect();
    json!({
        "id": trend.id,
        "label": trend.label,
        "status": trend.status,
        "status_name": trend.status.name(),
        "points": trend.points.len(),
        "annotations": annotations,
        "rows": rows,
        "throughput": trend.points.iter().any(|p| p.throughput.is_some()),
        "data": data,
    })
}

fn build_item(b: &BuildRef) -> Json {
    json!({
        "time": timestamp(b.time_us),
        "job": b.job,
        "pipeline": b.pipeline,
        "log": link(b.log_url.as_deref()),
        "url": link(b.change_url.as_deref()),
    })
}

/// The context of a change/patchset page; `has_page` tells which series
/// have a page to link to, `samples` holds the values of flagged series
/// to draw (`Comparer::compare_with_samples`).
pub fn change_page(
    c: &Comparison,
    samples: &[SeriesSamples],
    has_page: &dyn Fn(&str) -> bool,
) -> Json {
    let link_of = |s: &SeriesVerdict| has_page(&s.id).then(|| format!("../series/{}.html", s.id));
    // Each flagged series: its sentence first (the one the review message
    // leads with), its picture, then the numbers.
    let mut plots = Vec::new();
    let flagged: Vec<Json> = c
        .series
        .iter()
        .filter_map(|s| Some((s, report::lead(s)?)))
        .map(|(s, lead)| {
            let plot = samples
                .iter()
                .find(|p| p.id == s.id && p.metric == s.metric)
                .and_then(|p| strip(&format!("strip-{}", plots.len()), c, s, p));
            let view = plot.map(|Strip { data, view }| {
                plots.push(data);
                view
            });
            json!({
                "status": s.status,
                "status_name": s.status.name(),
                "series": s.label.short(),
                "link": link_of(s),
                "metric": metric_name(s.metric, &s.label),
                "lead": lead,
                "reason": s.verdict.as_ref().map(|v| v.reason.clone()),
                "plot": view,
            })
        })
        .collect();
    let rows: Vec<Json> = c
        .series
        .iter()
        .map(|s| {
            let [baseline, new, change, q] = report::cells(s);
            // A flagged series reads as its sentence here; its formula
            // text is under it in the flagged section.
            let lead = report::lead(s);
            let reason = match (&lead, &s.verdict) {
                (Some(_), _) => String::new(),
                (None, Some(v)) => v.reason.clone(),
                (None, None) => match s.status {
                    Status::ConfigChanged => "The workload's configuration differs from every baseline build: a new segment, not a regression.".into(),
                    Status::NoBaseline => "No branch build has run this series yet.".into(),
                    _ => String::new(),
                },
            };
            json!({
                "status": s.status,
                "status_name": s.status.name(),
                "rank": s.status as u8,
                "series": s.label.short(),
                "link": link_of(s),
                "metric": metric_name(s.metric, &s.label),
                "lead": lead,
                "baseline": baseline,
                "new": new,
                "change": change,
                "q": q,
                "reason": reason,
            })
        })
        .collect();
    let verdict_class = if c.has_regression() {
        "regression"
    } else if c.count(Status::Inconclusive) > 0 {
        "inconclusive"
    } else {
        "no_change"
    };
    // Only the first flagged series have their values (judge.rs).
    let unplotted = flagged.len().saturating_sub(PLOTS_PER_PAGE);
    // The pictures' data, as script text: `data::safe_json`, so no name
    // can close the script or end a line in it (U+2028, U+2029).
    let plots = (!plots.is_empty())
        .then(|| safe_json(&serde_json::to_string(&plots).expect("JSON values always serialize")));
    json!({
        "change": c.change,
        "patchset": c.patchset,
        "summary": report::summary(c),
        "unplotted": unplotted,
        "plotted_max": PLOTS_PER_PAGE,
        "provenance": report::provenance(c),
        "verdict_class": verdict_class,
        "builds": c.builds.iter().map(build_item).collect::<Vec<_>>(),
        "flagged": flagged,
        "plots": plots,
        "rows": rows,
    })
}

/// One alert as the alerts page shows it; `root` leads from the page to
/// the site root.
pub fn alert_row(a: &Alert, root: &str, links: CommitLinks) -> Json {
    json!({
        "time": timestamp(a.build.time_us),
        "time_us": a.build.time_us,
        "project": a.project,
        "series": a.label.short(),
        "link": format!("{root}{}/series/{}.html", a.project_dir, a.series),
        "metric": metric_name(a.metric, &a.label),
        "before": value(a.metric, a.before, &a.label),
        "after": value(a.metric, a.after, &a.label),
        "pct": change_of(a.metric, a.magnitude_pct),
        "p": probability(a.p_value),
        "log": link(a.build.log_url.as_deref()),
        "url": link(a.build.change_url.as_deref()),
        "suspects": suspects_view(&a.suspects, links),
    })
}
