//! Statistics recomputed from raw iterations. Rally's own `statistics`
//! block is rounded to 3 decimals, so perfkit never reads it.

/// Order statistics of a set of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub min: f64,
    pub median: f64,
    pub p90: f64,
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// Summarizes `values` (NaN ignored); `None` when nothing is left.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        // Values equal under `total_cmp` are the same bits: stability
        // cannot show, so the faster unstable sort gives the same order.
        sorted.sort_unstable_by(f64::total_cmp);
        let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
        Some(Summary {
            count: sorted.len(),
            min: sorted[0],
            median: percentile(&sorted, 0.5),
            p90: percentile(&sorted, 0.9),
            p95: percentile(&sorted, 0.95),
            max: sorted[sorted.len() - 1],
            mean,
        })
    }
}

/// Linear-interpolation percentile of sorted values, the same rule as
/// `rally.common.utils.percentile`, so figures agree with Rally's reports.
pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let k = (sorted.len() - 1) as f64 * fraction;
    let (f, c) = (k.floor(), k.ceil());
    if f == c {
        return sorted[k as usize];
    }
    sorted[f as usize] * (c - k) + sorted[c as usize] * (k - f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rallys_interpolation() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0, f64::NAN]).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!((s.min, s.max, s.mean), (1.0, 4.0, 2.5));
        assert_eq!(s.median, 2.5);
        assert!((s.p90 - 3.7).abs() < 1e-12);
        assert!((s.p95 - 3.85).abs() < 1e-12);
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[2.0]).unwrap().p95, 2.0);
    }
}
