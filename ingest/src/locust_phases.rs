//! A Locust run through an upgrade (`perfkit scaffold --with-locust
//! --upgrade`): the window file the job writes beside Locust's CSV files
//! (`PREFIX_upgrade_window.json`: `{"start": s, "end": s}`, Unix seconds),
//! and each request's stats history split into the phases before, during
//! and after that window.
//!
//! Counts come from the history's cumulative `Total Request Count` and
//! `Total Failure Count`, so they are exact to the history's second: a
//! phase boundary falls on the last history row at or before it, and
//! whatever Locust counted after its last row belongs to the last phase.
//! The three phases therefore add up to the run's totals. Locust keeps no
//! per-phase histogram; a phase's response-time distribution is the mix of
//! its rows' rolling percentiles, each row weighted by the requests it
//! added.

use std::path::Path;

use perfkit_schema::{Phase, UpgradeWindow};
use serde_json::{Value, json};

use crate::IngestError;
use crate::quantiles;

/// One row of a request's `_stats_history.csv`.
#[derive(Debug, Clone, Default)]
pub struct HistoryPoint {
    /// Unix seconds.
    pub t: f64,
    pub users: u64,
    pub total_requests: u64,
    pub total_failures: u64,
    pub requests_per_s: Option<f64>,
    pub failures_per_s: Option<f64>,
    /// Rolling percentiles: (percent, seconds).
    pub percentiles: Vec<(f64, f64)>,
}

impl HistoryPoint {
    /// A rolling percentile, ms; `None` while Locust had none (its `N/A`,
    /// or the all-zero row before the first response time is known).
    fn percentile_ms(&self, percent: f64) -> Option<f64> {
        if !self.has_times() {
            return None;
        }
        self.percentiles
            .iter()
            .find(|(p, _)| *p == percent)
            .map(|(_, v)| v * 1000.0)
    }

    fn has_times(&self) -> bool {
        self.percentiles.iter().any(|(_, v)| *v > 0.0)
    }
}

/// One request's figures in one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseStats {
    pub phase: Phase,
    pub requests: u64,
    pub failures: u64,
    /// Response-time quantile points, seconds.
    pub points: Vec<f64>,
    /// How long the phase lasted in this run, seconds.
    pub duration_s: f64,
}

/// Reads and checks `PREFIX_upgrade_window.json`.
pub fn read_window(path: &Path) -> Result<UpgradeWindow, IngestError> {
    let bytes = crate::input::read_whole(path)?;
    let invalid = |place: &str, message: String| IngestError::Invalid {
        path: path.to_path_buf(),
        place: place.to_string(),
        message,
        hint: "keep the file the job's locust-through-upgrade.py wrote, or remove it to ingest \
               the run without phases"
            .into(),
    };
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(&format!("line {}", e.line()), format!("not JSON: {e}")))?;
    let seconds = |key: &str| -> Result<f64, IngestError> {
        value
            .get(key)
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e11)
            .ok_or_else(|| invalid(&format!("$.{key}"), "must be a time in Unix seconds".into()))
    };
    let (start, end) = (seconds("start")?, seconds("end")?);
    if end < start {
        return Err(invalid("$.end", "the window ends before it starts".into()));
    }
    let us = |s: f64| (s * 1e6).round() as i64;
    Ok(UpgradeWindow {
        start_us: us(start),
        end_us: us(end),
    })
}

/// The phases of one request: `history` in time order, `requests` and
/// `failures` its final totals from `_stats.csv`.
pub fn split(
    history: &[HistoryPoint],
    requests: u64,
    failures: u64,
    window: UpgradeWindow,
) -> [PhaseStats; 3] {
    let start = window.start_us as f64 / 1e6;
    let end = window.end_us as f64 / 1e6;
    // Cumulative (requests, failures) at the last row at or before `t`.
    let at = |t: f64| {
        history
            .iter()
            .take_while(|p| p.t <= t)
            .last()
            .map_or((0, 0), |p| (p.total_requests, p.total_failures))
    };
    let (req_start, fail_start) = at(start);
    let (req_end, fail_end) = at(end);
    let (req_end, fail_end) = (req_end.max(req_start), fail_end.max(fail_start));
    let first = history.first().map_or(start, |p| p.t);
    let last = history.last().map_or(end, |p| p.t);
    let phase = |phase, requests, failures, lo: f64, hi: f64, from: f64, to: f64| PhaseStats {
        phase,
        requests,
        failures,
        points: mixed_points(history, lo, hi, requests),
        duration_s: (to - from).max(0.0),
    };
    [
        phase(
            Phase::Before,
            req_start,
            fail_start,
            f64::NEG_INFINITY,
            start,
            first,
            start.max(first),
        ),
        phase(
            Phase::During,
            req_end - req_start,
            fail_end - fail_start,
            start,
            end,
            start,
            end,
        ),
        phase(
            Phase::After,
            requests.saturating_sub(req_end),
            failures.saturating_sub(fail_end),
            end,
            f64::INFINITY,
            end,
            last.max(end),
        ),
    ]
}

/// Quantile points of the rows with `lo < t <= hi`: each row's rolling
/// percentiles, weighted by the requests it added.
fn mixed_points(history: &[HistoryPoint], lo: f64, hi: f64, requests: u64) -> Vec<f64> {
    let mut weighted: Vec<(f64, f64)> = Vec::new();
    let mut previous = 0;
    for p in history {
        let added = p.total_requests.saturating_sub(previous);
        previous = p.total_requests;
        if !(p.t > lo && p.t <= hi) || added == 0 || !p.has_times() {
            continue;
        }
        let n = added.min(50);
        let points = quantiles::from_percentiles(&p.percentiles, n);
        let weight = added as f64 / points.len().max(1) as f64;
        weighted.extend(points.into_iter().map(|v| (v, weight)));
    }
    if weighted.is_empty() || requests == 0 {
        return Vec::new();
    }
    weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = weighted.iter().map(|(_, w)| w).sum();
    let n = (requests as usize).min(quantiles::MAX_POINTS);
    let mut out = Vec::with_capacity(n);
    let (mut i, mut below) = (0, 0.0);
    for k in 0..n {
        let rank = (k as f64 + 0.5) / n as f64 * total;
        while i + 1 < weighted.len() && below + weighted[i].1 <= rank {
            below += weighted[i].1;
            i += 1;
        }
        out.push(weighted[i].0);
    }
    out
}

/// The per-second chart of one request (`SeriesRow::per_second_json`).
pub fn per_second_json(history: &[HistoryPoint]) -> String {
    let column = |f: &dyn Fn(&HistoryPoint) -> Value| -> Value {
        Value::Array(history.iter().map(f).collect())
    };
    json!({
        "t": column(&|p| json!(p.t)),
        "users": column(&|p| json!(p.users)),
        "requests_per_s": column(&|p| json!(p.requests_per_s)),
        "failures_per_s": column(&|p| json!(p.failures_per_s)),
        "p50_ms": column(&|p| json!(p.percentile_ms(50.0))),
        "p95_ms": column(&|p| json!(p.percentile_ms(95.0))),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64, total: u64, failed: u64, median_ms: f64) -> HistoryPoint {
        HistoryPoint {
            t,
            users: 2,
            total_requests: total,
            total_failures: failed,
            requests_per_s: Some(10.0),
            failures_per_s: Some(0.0),
            percentiles: vec![
                (50.0, median_ms / 1000.0),
                (100.0, 2.0 * median_ms / 1000.0),
            ],
        }
    }

    #[test]
    fn phases_add_up_and_failures_land_in_the_window() {
        let history = [
            point(100.0, 10, 0, 10.0),
            point(101.0, 20, 0, 10.0),
            point(102.0, 30, 4, 100.0),
            point(103.0, 40, 9, 100.0),
            point(104.0, 50, 9, 10.0),
            point(105.0, 60, 9, 10.0),
        ];
        let window = UpgradeWindow {
            start_us: 101_500_000,
            end_us: 103_200_000,
        };
        let [before, during, after] = split(&history, 63, 9, window);
        assert_eq!((before.requests, before.failures), (20, 0));
        assert_eq!((during.requests, during.failures), (20, 9));
        assert_eq!((after.requests, after.failures), (23, 0));
        assert_eq!(before.requests + during.requests + after.requests, 63);
        assert!((during.duration_s - 1.7).abs() < 1e-9);
        // The slow rows are the window's.
        let median = |p: &PhaseStats| p.points[p.points.len() / 2];
        assert!(median(&during) > 0.05, "{:?}", during.points);
        assert!(median(&before) < 0.02 && median(&after) < 0.02);
        assert_eq!(during.points.len(), 20);
    }

    #[test]
    fn a_window_file_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locust_upgrade_window.json");
        std::fs::write(&path, r#"{"start": 1700000000.5, "end": 1700000010}"#).unwrap();
        let w = read_window(&path).unwrap();
        assert_eq!(
            (w.start_us, w.end_us),
            (1_700_000_000_500_000, 1_700_000_010_000_000)
        );
        std::fs::write(&path, r#"{"start": 1700000010, "end": 1700000000}"#).unwrap();
        let e = read_window(&path).unwrap_err().to_string();
        assert!(e.contains("$.end") && e.contains("ends before"), "{e}");
        std::fs::write(&path, r#"{"start": "soon", "end": 1700000000}"#).unwrap();
        let e = read_window(&path).unwrap_err().to_string();
        assert!(e.contains("$.start"), "{e}");
    }
}
