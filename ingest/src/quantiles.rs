//! Locust and fio report a distribution, not the samples behind it: a
//! percentile table (Locust's CSV, fio's `json`) or a histogram (Locust's
//! JSON `response_times`, fio's `json+` `bins`). The `series` table and the
//! detector work on samples, so a distribution is stored as evenly spaced
//! quantiles of it: point i is the ((i + ½) / n)-quantile, n = min(count,
//! `MAX_POINTS`). Their median, p95 and rank order are the distribution's,
//! so trends and rank tests read them as they would the samples; a rank
//! test sees at most `MAX_POINTS` of them, and the run-to-run noise test
//! (which compares build medians) is unaffected by the cap.

/// At most this many points stand for one distribution.
pub const MAX_POINTS: usize = 1000;

/// Quantile points of a distribution known by its percentile table:
/// `(percent, value)` pairs (0 = minimum, 100 = maximum), interpolated
/// linearly between the reported percentiles. Pairs with a non-finite value
/// are skipped; `count` is how many samples the tool measured.
pub fn from_percentiles(table: &[(f64, f64)], count: u64) -> Vec<f64> {
    let mut known: Vec<(f64, f64)> = table
        .iter()
        .copied()
        .filter(|(p, v)| p.is_finite() && v.is_finite() && (0.0..=100.0).contains(p))
        .collect();
    known.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    known.dedup_by(|later, earlier| later.0 == earlier.0);
    let n = points(count);
    if known.is_empty() || n == 0 {
        return Vec::new();
    }
    (0..n)
        .map(|i| {
            let p = 100.0 * (i as f64 + 0.5) / n as f64;
            interpolate(&known, p)
        })
        .collect()
}

/// Quantile points of a histogram of `(value, count)` bins (any order).
pub fn from_histogram(bins: &[(f64, u64)]) -> Vec<f64> {
    let mut sorted: Vec<(f64, u64)> = bins
        .iter()
        .copied()
        .filter(|(v, c)| v.is_finite() && *c > 0)
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Saturating: counts come from the file, and a hostile one can add up
    // past u64 (the points are then approximate, never out of bounds).
    let total: u64 = sorted.iter().fold(0u64, |t, (_, c)| t.saturating_add(*c));
    let n = points(total);
    let mut out = Vec::with_capacity(n);
    let mut bin = 0;
    let mut below = 0u64; // samples in bins before `bin`
    for i in 0..n {
        // The sample at this rank (0-based) among `total`.
        let rank = ((i as f64 + 0.5) / n as f64 * total as f64).floor() as u64;
        while bin + 1 < sorted.len() && below.saturating_add(sorted[bin].1) <= rank {
            below = below.saturating_add(sorted[bin].1);
            bin += 1;
        }
        out.push(sorted[bin].0);
    }
    out
}

fn points(count: u64) -> usize {
    count.min(MAX_POINTS as u64) as usize
}

fn interpolate(known: &[(f64, f64)], p: f64) -> f64 {
    let after = known.partition_point(|(q, _)| *q < p);
    match (after.checked_sub(1).map(|i| known[i]), known.get(after)) {
        (Some((p0, v0)), Some(&(p1, v1))) if p1 > p0 => v0 + (v1 - v0) * (p - p0) / (p1 - p0),
        (_, Some(&(_, v))) => v,
        (Some((_, v)), None) => v,
        (None, None) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_tables_are_interpolated() {
        let table = [(0.0, 10.0), (50.0, 20.0), (100.0, 40.0)];
        let q = from_percentiles(&table, 4);
        // Quantiles 12.5 %, 37.5 %, 62.5 %, 87.5 %.
        assert_eq!(q, vec![12.5, 17.5, 25.0, 35.0]);
        assert_eq!(from_percentiles(&table, 1_000_000).len(), MAX_POINTS);
        assert!(from_percentiles(&table, 0).is_empty());
        // A table without its minimum holds the lowest known value below it.
        assert_eq!(from_percentiles(&[(50.0, 5.0), (99.0, 9.0)], 2)[0], 5.0);
    }

    #[test]
    fn histograms_give_exact_quantiles() {
        // 3 samples of 1, 1 of 5: the quantile points of 4 samples are the samples.
        assert_eq!(
            from_histogram(&[(5.0, 1), (1.0, 3)]),
            vec![1.0, 1.0, 1.0, 5.0]
        );
        let big = from_histogram(&[(1.0, 5_000), (2.0, 5_000)]);
        assert_eq!(big.len(), MAX_POINTS);
        assert_eq!(big.iter().filter(|v| **v == 1.0).count(), 500);
        assert!(from_histogram(&[]).is_empty());
    }
}
