//! The picture of a flagged series on a change page: a strip plot with one
//! column per build, each dot one of the build's values, the baseline
//! builds the verdict used in grey (oldest first) and the patchset's
//! build(s) in the verdict's colour, a dashed line at the baseline's
//! median. So "is it really slower?" is answered by looking.
//!
//! The numbers come from `perfkit_analysis::compare::SeriesSamples` (at
//! most `PLOT_VALUES_PER_BUILD` values per build); here they are only put
//! in the page's unit and rounded to four significant digits, like the
//! series charts' data (`data.rs`). The page embeds them with minijinja's
//! `tojson` (which escapes `<`, `>`, `&` and `'`) in a script calling
//! `perfkitChangePage` (`assets/site.js`), so the page works from
//! `file://`. The same builds are listed in a table beside it, and the
//! canvas has a text description, for readers who cannot see it.

use perfkit_analysis::Metric;
use perfkit_analysis::compare::{BuildRef, BuildValues, Comparison, SeriesSamples, SeriesVerdict};
use perfkit_analysis::format::timestamp;
use serde_json::{Value as Json, json};

use crate::data::round4;
use crate::pages::value;

/// One strip plot: what the script draws and what the page says about it.
pub(crate) struct Strip {
    /// `{id, unit, status, base, nbase, cols, label}` for `perfkitChangePage`.
    pub(crate) data: Json,
    /// The figure's element id, caption, description and table rows.
    pub(crate) view: Json,
}

/// The strip plot of `s` (a flagged series of `c`) with element id `id`;
/// `None` without values to draw.
pub(crate) fn strip(
    id: &str,
    c: &Comparison,
    s: &SeriesVerdict,
    samples: &SeriesSamples,
) -> Option<Strip> {
    if samples.new.is_empty() || samples.baseline.is_empty() {
        return None;
    }
    let failures = s.metric == Metric::FailureRate;
    // A failure rate is drawn in % of iterations; values in their unit.
    let scale = if failures { 100.0 } else { 1.0 };
    let unit = match s.metric {
        Metric::FailureRate => "%",
        Metric::Throughput if !s.label.rate_unit.is_empty() => s.label.rate_unit.as_str(),
        Metric::Throughput => "iterations/s",
        Metric::Duration if s.label.unit.is_empty() => "s",
        Metric::Duration => s.label.unit.as_str(),
    };
    let text = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| value(s.metric, v, &s.label));
    let column = |b: &BuildValues| -> Json {
        b.values
            .iter()
            .map(|v| round4(Some(v * scale)))
            .collect::<Vec<Json>>()
            .into()
    };
    let cols: Vec<Json> = samples
        .baseline
        .iter()
        .chain(&samples.new)
        .map(column)
        .collect();
    let base = s.verdict.as_ref().and_then(|v| v.baseline_median);

    let medians: Vec<f64> = samples.baseline.iter().filter_map(|b| b.median).collect();
    let lowest = medians.iter().copied().reduce(f64::min);
    let highest = medians.iter().copied().reduce(f64::max);
    let (nbase, nnew) = (samples.baseline.len(), samples.new.len());
    let builds =
        |n: usize, what: &str| format!("{n} {what} build{}", if n == 1 { "" } else { "s" });
    let what = if failures { "failed share" } else { "median" };
    let new_medians: Vec<String> = samples.new.iter().map(|b| text(b.median)).collect();
    let label = format!(
        "Strip plot: {} ({what}s {} to {}) beside {} ({what}{} {}); the dashed line is the baseline's {}, {}.",
        builds(nbase, "baseline"),
        text(lowest),
        text(highest),
        builds(nnew, "new"),
        if nnew == 1 { "" } else { "s" },
        new_medians.join(", "),
        if failures { "failure rate" } else { "median" },
        text(base)
    );
    let thinned = samples
        .baseline
        .iter()
        .chain(&samples.new)
        .any(|b| b.count > b.values.len() as u64);
    let caption = format!(
        "{}: the {} the verdict used, oldest first (grey), then this patchset's {} (in colour). The dashed line is the baseline's {}.{}",
        if failures {
            "One dot per build, its failed share of iterations"
        } else {
            "One column per build, one dot per value"
        },
        builds(nbase, "baseline"),
        if nnew == 1 {
            "build".to_string()
        } else {
            format!("{nnew} builds")
        },
        if failures { "failure rate" } else { "median" },
        if thinned {
            format!(
                " A build with more than {} values shows that many, evenly spaced from its lowest to its highest.",
                perfkit_analysis::compare::PLOT_VALUES_PER_BUILD
            )
        } else {
            String::new()
        }
    );
    let row = |b: &BuildValues, build: Option<&BuildRef>, name: String, new: bool| -> Json {
        let when = build.map(|r| timestamp(r.time_us)).unwrap_or_default();
        let range = match (b.values.first(), b.values.last()) {
            (Some(lo), Some(hi)) if b.values.len() > 1 => {
                format!("{} – {}", text(Some(*lo)), text(Some(*hi)))
            }
            _ => "–".to_string(),
        };
        json!({"build": name, "time": when, "new": new, "count": b.count, "median": text(b.median), "range": range})
    };
    let mut rows: Vec<Json> = samples
        .baseline
        .iter()
        .enumerate()
        .map(|(i, b)| {
            row(
                b,
                c.baseline.get(b.build),
                format!("baseline {}", i + 1),
                false,
            )
        })
        .collect();
    rows.extend(samples.new.iter().enumerate().map(|(i, b)| {
        let name = if i == 0 {
            "new".to_string()
        } else {
            format!("recheck {i}")
        };
        row(b, c.builds.get(b.build), name, true)
    }));
    Some(Strip {
        data: json!({
            "id": id,
            "unit": unit,
            "status": s.status,
            "base": round4(base.map(|b| b * scale)),
            "nbase": nbase,
            "cols": cols,
            "label": label,
        }),
        view: json!({
            "id": id,
            "label": label,
            "caption": caption,
            "count_header": if failures { "Iterations" } else { "Values" },
            "median_header": if failures { "Failed" } else { "Median" },
            "rows": rows,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfkit_analysis::SeriesLabel;
    use perfkit_analysis::compare::Status;
    use perfkit_analysis::regress::verdict::{Direction, Test, Verdict, VerdictKind};

    fn build_ref(n: i64) -> BuildRef {
        BuildRef {
            build: format!("b{n}"),
            change: 0,
            patchset: 0,
            job: Some("job".into()),
            pipeline: Some("periodic".into()),
            branch: Some("master".into()),
            node_provider: None,
            log_url: None,
            change_url: None,
            time_us: 1_795_442_709_000_000 + n * 3_600_000_000,
            commits: Default::default(),
        }
    }

    fn verdict(metric: Metric, unit: &str) -> SeriesVerdict {
        SeriesVerdict {
            id: "0123456789abcdef".into(),
            label: SeriesLabel {
                job: "job".into(),
                branch: "master".into(),
                subtask_title: "t".into(),
                scenario: "HttpRequests.check_request".into(),
                action: "total".into(),
                depth: 0,
                unit: unit.into(),
                higher_is_better: false,
                rate_unit: "iterations/s".into(),
            },
            metric,
            status: Status::Regression,
            verdict: Some(Verdict {
                series: String::new(),
                kind: VerdictKind::Regression,
                test: Test::MannWhitney,
                direction: Direction::LowerIsBetter,
                baseline_median: Some(if metric == Metric::FailureRate {
                    0.004
                } else {
                    0.0338
                }),
                baseline_spread: Some(0.001),
                new_median: Some(0.0467),
                shift: Some(0.0125),
                change_pct: Some(37.0),
                floor: Some(0.005),
                p_value: Some(1e-5),
                q_value: Some(1e-4),
                n_baseline: 40,
                n_new: 4,
                baseline_builds: 10,
                new_builds: 1,
                reason: String::new(),
            }),
        }
    }

    fn values(build: usize, values: &[f64], count: u64) -> BuildValues {
        BuildValues {
            build,
            count,
            median: Some(values[values.len() / 2]),
            values: values.to_vec(),
        }
    }

    fn comparison() -> Comparison {
        Comparison {
            project: "perfkit/demo".into(),
            change: 900001,
            patchset: 1,
            builds: vec![build_ref(100), build_ref(101)],
            baseline: (0..10).map(build_ref).collect(),
            same_provider: false,
            series: Vec::new(),
            upgrade: None,
        }
    }

    #[test]
    fn columns_are_baseline_builds_then_new_ones_in_the_pages_unit() {
        let c = comparison();
        let s = verdict(Metric::Duration, "s");
        let samples = SeriesSamples {
            id: s.id.clone(),
            metric: s.metric,
            baseline: (0..10)
                .map(|i| values(i, &[0.0331, 0.033812345, 0.0345], 3))
                .collect(),
            new: vec![
                values(0, &[0.0461, 0.0467, 0.0472], 3),
                values(1, &[0.0459, 0.0466, 0.0470], 250),
            ],
        };
        let strip = strip("strip-0", &c, &s, &samples).unwrap();
        let d = &strip.data;
        assert_eq!(d["id"], "strip-0");
        assert_eq!(d["unit"], "s");
        assert_eq!(d["status"], "regression");
        assert_eq!(d["nbase"], 10);
        assert_eq!(d["base"], json!(0.0338));
        let cols = d["cols"].as_array().unwrap();
        assert_eq!(
            cols.len(),
            12,
            "10 baseline builds, then the build and its recheck"
        );
        assert_eq!(
            cols[0],
            json!([0.0331, 0.03381, 0.0345]),
            "four significant digits"
        );
        assert_eq!(cols[11], json!([0.0459, 0.0466, 0.047]));
        assert_eq!(
            d["label"],
            "Strip plot: 10 baseline builds (medians 33.8 ms to 33.8 ms) beside 2 new builds (medians 46.7 ms, 46.6 ms); the dashed line is the baseline's median, 33.8 ms."
        );
        let rows = strip.view["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 12);
        assert_eq!(rows[0]["build"], "baseline 1");
        assert_eq!(rows[0]["time"], "2026-11-23 14:05 UTC");
        assert_eq!(
            (&rows[10]["build"], &rows[11]["build"]),
            (&json!("new"), &json!("recheck 1"))
        );
        assert_eq!(rows[11]["new"], true);
        assert_eq!(rows[11]["median"], "46.6 ms");
        assert_eq!(rows[11]["range"], "45.9 ms – 47 ms");
        assert_eq!(rows[11]["count"], 250);
        let caption = strip.view["caption"].as_str().unwrap();
        assert!(
            caption.contains("more than 200 values"),
            "one build was thinned: {caption}"
        );
    }

    #[test]
    fn a_failure_rate_is_one_dot_per_build_in_percent() {
        let c = comparison();
        let s = verdict(Metric::FailureRate, "s");
        let samples = SeriesSamples {
            id: s.id.clone(),
            metric: s.metric,
            baseline: (0..10).map(|i| values(i, &[0.0], 6)).collect(),
            new: vec![values(0, &[0.25], 24)],
        };
        let strip = strip("strip-1", &c, &s, &samples).unwrap();
        assert_eq!(strip.data["unit"], "%");
        assert_eq!(strip.data["base"], json!(0.4));
        assert_eq!(strip.data["cols"][10], json!([25.0]));
        assert_eq!(strip.view["rows"][10]["median"], "25 %");
        assert_eq!(strip.view["rows"][10]["range"], "–");
        assert!(
            strip.view["caption"]
                .as_str()
                .unwrap()
                .starts_with("One dot per build")
        );
        // Nothing to draw without both sides.
        let none = SeriesSamples {
            new: Vec::new(),
            ..samples
        };
        assert!(super::strip("x", &c, &s, &none).is_none());
    }
}
