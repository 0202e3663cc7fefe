//! Sparklines for the overview, drawn as inline SVG by the template from
//! the numbers made here: no script, so the overview's trends show without
//! JavaScript, at ~300 bytes per series.

use std::fmt::Write;

use serde::Serialize;

/// Points shown: about two months of a daily job.
pub const SPARK_POINTS: usize = 60;

/// Width and height of the drawing, in SVG user units.
const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 24.0;

/// What the template draws: a polyline and an optional marker line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sparkline {
    /// `x,y x,y …`, digits only.
    pub points: String,
    pub count: usize,
    /// Where the current regression started, if it is in view.
    pub marker_x: Option<String>,
}

/// The last `SPARK_POINTS` finite `values` (oldest first) scaled into the
/// box; `None` when fewer than two are finite.
pub fn sparkline(values: &[Option<f64>], regressed_from: Option<usize>) -> Option<Sparkline> {
    let start = values.len().saturating_sub(SPARK_POINTS);
    let tail: Vec<(usize, f64)> = values[start..]
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)))
        .collect();
    if tail.len() < 2 {
        return None;
    }
    let lo = tail.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = tail.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let last = (values.len() - start - 1).max(1) as f64;
    let mut points = String::new();
    for &(i, v) in &tail {
        let x = WIDTH * i as f64 / last;
        let y = HEIGHT - 2.0 - (HEIGHT - 4.0) * (v - lo) / span;
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    let marker_x = regressed_from
        .filter(|f| *f >= start)
        .map(|f| format!("{:.1}", WIDTH * (f - start) as f64 / last));
    Some(Sparkline {
        points: points.trim_end().to_string(),
        count: tail.len(),
        marker_x,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_only() {
        let values: Vec<Option<f64>> = (0..100).map(|i| Some(i as f64)).collect();
        let s = sparkline(&values, Some(90)).unwrap();
        assert_eq!(s.count, SPARK_POINTS);
        assert_eq!(s.points.matches(',').count(), SPARK_POINTS);
        assert!(
            s.points
                .chars()
                .all(|c| c.is_ascii_digit() || ".,- ".contains(c))
        );
        assert_eq!(s.marker_x.as_deref(), Some("101.7"));
        assert_eq!(sparkline(&[Some(1.0), None], None), None);
    }
}
