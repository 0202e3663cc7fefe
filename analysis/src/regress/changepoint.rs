//! Post-merge change points on a branch history of per-build values (e.g.
//! per-build medians), `docs/ARCHITECTURE.md` "Detection". Windowed E-divisive means as
//! Apache Otava/Hunter do it (Matteson & James 2014; Fleming et al., ICPE
//! 2023): a split step runs hierarchical E-divisive in sliding windows at a
//! weak significance level, a merge step re-tests each candidate between its
//! neighbours at the strict level and drops the weakest until all pass.
//! Unlike Otava, significance comes from permutation tests (no normality
//! assumption) driven by a fixed-seed PRNG seeded per window, so identical
//! input gives identical output. Config-hash changes split the history
//! first and are reported as `ConfigChanged`, never as regressions.

mod memo;

use serde::Serialize;

pub use memo::ChangePointMemo;
use memo::{Outcome, key};

use super::rng::Rng;
use super::stats::{median, qn_scale};
use super::verdict::Direction;

/// Change-point detection settings; `Default` holds the documented values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChangePointConfig {
    /// Builds per E-divisive window (Otava's default 50): bounds the cost at
    /// O(window²) per permutation and keeps old history from drowning a
    /// recent change; windows overlap by half.
    pub window: usize,
    /// Builds on each side of a change point at least (Beam's 5; ChromePerf
    /// uses 6): a shorter run is an outlier burst, and 5 lets a shift be
    /// reported on the 5th build after it.
    pub min_segment: usize,
    /// Strict p-value of the merge step: 0.01, at most 1 of 199 permutations
    /// as extreme. With the effect filters below, simulated clean histories
    /// (300 × 40 and 100 × 200 builds) gave no change point, and 83 % of
    /// 3 × noise steps were found by their 5th build (71 % at 0.005).
    pub p_value: f64,
    /// Split-step ("weak") p-value, 5 × strict (Otava's weak pass uses
    /// 10 ×): candidates that the merge step re-tests between neighbours.
    pub weak_p_value: f64,
    /// Permutations per test (ChromePerf's 199): p has resolution 1/200, and
    /// a clean window stops at its first exceedance.
    pub permutations: usize,
    /// Minimum |after − before| / |before| of the neighbouring segments'
    /// medians: 2 %, the floor below which CI noise is not attributed.
    pub min_magnitude: f64,
    /// Minimum |after − before| in units of build-to-build noise: 1.75 ×.
    /// Once a real step is found each side is searched again, where a ~1 ×
    /// noise wobble can pass the permutation test. In 200 simulated 45-build
    /// histories per setting, a second spurious change point next to a
    /// 3–6 × noise step appeared in up to 1.5 % at 1.5 ×, ≤ 1 % at 1.75 ×,
    /// ≤ 0.5 % at 2 ×, while 3 × noise steps never reported within 15 builds
    /// went 1 % → 1 % → 3 %.
    pub min_shift_noise: f64,
    /// PRNG seed; fixed so runs are reproducible.
    pub seed: u64,
}

impl Default for ChangePointConfig {
    fn default() -> ChangePointConfig {
        ChangePointConfig {
            window: 50,
            min_segment: 5,
            p_value: 0.01,
            weak_p_value: 0.05,
            permutations: 199,
            min_magnitude: 0.02,
            min_shift_noise: 1.75,
            seed: 0x5EED_0F9E_4F0C_1700,
        }
    }
}

/// What happened at a change point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The level moved the worse way for the metric's direction.
    Regression,
    /// The level moved the better way.
    Improvement,
    /// The workload's configuration hash changed here (caller-given): a new
    /// segment, not a regression, whatever the values did.
    ConfigChanged,
}

/// One change point, reported once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangePoint {
    /// Index (into the caller's history) of the first build after the change.
    pub index: usize,
    pub kind: ChangeKind,
    /// Median of the segment before (from the previous change point or
    /// config change) and after (to the next one).
    pub before_median: f64,
    pub after_median: f64,
    /// `100 · (after − before) / |before|`; `None` when `before` is 0.
    pub magnitude_pct: Option<f64>,
    /// Permutation p-value of the merge step; `None` for config changes.
    pub p_value: Option<f64>,
}

/// Change points of `values` (one per build, oldest first) with default
/// settings. `config_changes` lists indices of builds whose workload config
/// hash differs from the build before; detection never spans them.
/// Non-finite values are skipped (indices still refer to `values`).
pub fn change_points(
    values: &[f64],
    config_changes: &[usize],
    direction: Direction,
) -> Vec<ChangePoint> {
    change_points_with(
        values,
        config_changes,
        direction,
        &ChangePointConfig::default(),
    )
}

/// `change_points` with explicit settings.
///
/// ```
/// use perfkit_analysis::regress::changepoint::{change_points, ChangeKind};
/// use perfkit_analysis::regress::verdict::Direction;
/// // 30 builds around 10 s, then 20 around 13 s; the job config changed at 40.
/// let history: Vec<f64> = (0..50)
///     .map(|i| if i < 30 { 10.0 } else { 13.0 } + 0.1 * ((i * 7) % 5) as f64)
///     .collect();
/// let found = change_points(&history, &[40], Direction::LowerIsBetter);
/// assert_eq!(found.len(), 2);
/// assert_eq!((found[0].index, found[0].kind), (30, ChangeKind::Regression));
/// assert_eq!((found[1].index, found[1].kind), (40, ChangeKind::ConfigChanged));
/// ```
pub fn change_points_with(
    values: &[f64],
    config_changes: &[usize],
    direction: Direction,
    cfg: &ChangePointConfig,
) -> Vec<ChangePoint> {
    change_points_memo(values, config_changes, direction, cfg, None)
}

/// `change_points_with`, reusing (and filling) `memo`: the same result,
/// but windows and assessments seen before are not computed again.
pub fn change_points_memo(
    values: &[f64],
    config_changes: &[usize],
    direction: Direction,
    cfg: &ChangePointConfig,
    memo: Option<&ChangePointMemo>,
) -> Vec<ChangePoint> {
    let kept: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].is_finite())
        .collect();
    let z: Vec<f64> = kept.iter().map(|&i| values[i]).collect();
    // A config change at original index b starts at the first kept build ≥ b.
    let mut bounds: Vec<usize> = config_changes
        .iter()
        .map(|&b| kept.partition_point(|&i| i < b))
        .filter(|&p| p > 0 && p < z.len())
        .collect();
    bounds.sort_unstable();
    bounds.dedup();

    let mut events: Vec<(usize, Option<f64>)> = Vec::new(); // (compact position, p)
    let mut seg_start = 0;
    for end in bounds.iter().copied().chain(std::iter::once(z.len())) {
        for (pos, p) in detect(&z[seg_start..end], seg_start, cfg, memo) {
            events.push((seg_start + pos, Some(p)));
        }
        if end < z.len() {
            events.push((end, None));
        }
        seg_start = end;
    }
    events.sort_by_key(|e| e.0);

    let mut out = Vec::with_capacity(events.len());
    for (k, &(pos, p)) in events.iter().enumerate() {
        let lo = if k == 0 { 0 } else { events[k - 1].0 };
        let hi = events.get(k + 1).map_or(z.len(), |e| e.0);
        let before = median(&z[lo..pos]).unwrap_or(f64::NAN);
        let after = median(&z[pos..hi]).unwrap_or(f64::NAN);
        let worse = match direction {
            Direction::LowerIsBetter => after > before,
            Direction::HigherIsBetter => after < before,
        };
        let kind = match p {
            None => ChangeKind::ConfigChanged,
            Some(_) if worse => ChangeKind::Regression,
            Some(_) => ChangeKind::Improvement,
        };
        // A config change keeps the caller's index even if that build was skipped.
        let index = match p {
            None => config_changes
                .iter()
                .copied()
                .filter(|&b| kept.partition_point(|&i| i < b) == pos)
                .min()
                .unwrap_or(kept[pos]),
            Some(_) => kept[pos],
        };
        out.push(ChangePoint {
            index,
            kind,
            before_median: before,
            after_median: after,
            magnitude_pct: (before != 0.0).then(|| 100.0 * (after - before) / before.abs()),
            p_value: p,
        });
    }
    out
}

/// Change points inside one config segment: local positions and p-values.
/// `offset` (the segment's position in the whole history) only seeds the PRNG.
fn detect(
    z: &[f64],
    offset: usize,
    cfg: &ChangePointConfig,
    memo: Option<&ChangePointMemo>,
) -> Vec<(usize, f64)> {
    let m = cfg.min_segment.max(2);
    let w = cfg.window.max(2 * m);
    if z.len() < 2 * m {
        return Vec::new();
    }
    let weak = split_step(z, offset, w, m, cfg, memo);
    merge_step(z, weak, offset, w, m, cfg, memo)
}

/// Otava's split step: E-divisive in windows of `w` builds stepping by w/2
/// (or to the last change found); candidates closer than `m` keep the one
/// with the larger energy statistic.
fn split_step(
    z: &[f64],
    offset: usize,
    w: usize,
    m: usize,
    cfg: &ChangePointConfig,
    memo: Option<&ChangePointMemo>,
) -> Vec<usize> {
    let mut found: Vec<(usize, f64)> = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + w).min(z.len());
        let window = &z[start..end];
        let new = match memo {
            None => edivisive(window, offset + start, m, cfg),
            Some(memo) => {
                let key = key("window", &[offset + start, m], cfg, window);
                match memo.get_or(key, || {
                    Outcome::Window(edivisive(window, offset + start, m, cfg))
                }) {
                    Outcome::Window(found) => found,
                    Outcome::Assessment(..) => edivisive(window, offset + start, m, cfg),
                }
            }
        };
        let last = new.iter().map(|c| start + c.0).max().unwrap_or(0);
        found.extend(new.into_iter().map(|(i, q)| (start + i, q)));
        if end == z.len() {
            break;
        }
        start = last.max(start + w / 2);
    }
    strongest_apart(found, m)
}

/// Candidates `(index, strength)` from overlapping windows, sorted, with
/// the strongest kept of any that lie closer than `m` builds: the windows
/// overlap by half, so one change is often found twice. Shared with the
/// failure-rate search (`failures`).
pub(super) fn strongest_apart(mut found: Vec<(usize, f64)>, m: usize) -> Vec<usize> {
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut kept: Vec<(usize, f64)> = Vec::new();
    for (i, q) in found {
        match kept.last_mut() {
            Some(prev) if i - prev.0 < m => {
                if q > prev.1 {
                    *prev = (i, q);
                }
            }
            _ => kept.push((i, q)),
        }
    }
    kept.into_iter().map(|c| c.0).collect()
}

/// Hierarchical E-divisive (Matteson & James) in one window: repeatedly take
/// the best split over the current intervals and keep it while a permutation
/// test (shuffling within intervals) finds it significant at the weak level.
/// Returns window positions and their statistics.
fn edivisive(z: &[f64], offset: usize, m: usize, cfg: &ChangePointConfig) -> Vec<(usize, f64)> {
    let mut cps: Vec<(usize, f64)> = Vec::new();
    loop {
        let mut cuts: Vec<usize> = cps.iter().map(|c| c.0).collect();
        cuts.sort_unstable();
        let bounds: Vec<(usize, usize)> = std::iter::once(0)
            .chain(cuts.iter().copied())
            .zip(cuts.iter().copied().chain(std::iter::once(z.len())))
            .collect();
        let Some((tau, q)) = best_over(z, &bounds, m) else {
            break;
        };
        // A split the merge step would drop for its size is not worth 199
        // permutations; most clean windows end here, cheaply.
        let &(a, b) = bounds
            .iter()
            .find(|&&(a, b)| a < tau && tau < b)
            .unwrap_or(&(0, z.len()));
        if effect(&z[a..tau], &z[tau..b], z, cfg) < 1.0 {
            break;
        }
        let mut rng = Rng::from_parts(&[cfg.seed, offset as u64, z.len() as u64, cps.len() as u64]);
        let mut scratch = z.to_vec();
        let p = permutation_p(q, cfg.weak_p_value, cfg.permutations, || {
            for &(a, b) in &bounds {
                rng.shuffle(&mut scratch[a..b]);
            }
            best_over(&scratch, &bounds, m).map_or(0.0, |c| c.1)
        });
        if p > cfg.weak_p_value {
            break;
        }
        cps.push((tau, q));
    }
    cps
}

/// Best split over several intervals: (position in `z`, statistic).
fn best_over(z: &[f64], bounds: &[(usize, usize)], m: usize) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for &(a, b) in bounds {
        if let Some((t, q)) = best_split(&z[a..b], m, None)
            && best.is_none_or(|c| q > c.1)
        {
            best = Some((a + t, q));
        }
    }
    best
}

/// Otava's merge step at the strict level: each candidate is re-tested in
/// its neighbourhood (between its neighbours, at most `w` builds each side);
/// the weakest failing one (largest p, then smallest effect) is dropped and
/// its neighbours re-tested, until every candidate passes the permutation
/// test and both effect filters.
fn merge_step(
    z: &[f64],
    weak: Vec<usize>,
    offset: usize,
    w: usize,
    m: usize,
    cfg: &ChangePointConfig,
    memo: Option<&ChangePointMemo>,
) -> Vec<(usize, f64)> {
    let mut cps = weak;
    let assess_at = |cps: &[usize], k: usize| -> (f64, f64) {
        let lo = if k == 0 { 0 } else { cps[k - 1] };
        let hi = cps.get(k + 1).copied().unwrap_or(z.len());
        let tau = cps[k];
        let (a, b) = (lo.max(tau.saturating_sub(w)), hi.min(tau + w));
        let from = tau.saturating_sub(w);
        let local = &z[from..(tau + w).min(z.len())];
        let Some(memo) = memo else {
            return assess(z, local, (a, tau, b), offset, m, cfg);
        };
        // `local` holds every value the assessment reads (a..b lies in it).
        let ints = [offset + from, offset + a, offset + tau, offset + b, m];
        match memo.get_or(key("assess", &ints, cfg, local), || {
            let (p, size) = assess(z, local, (a, tau, b), offset, m, cfg);
            Outcome::Assessment(p, size)
        }) {
            Outcome::Assessment(p, size) => (p, size),
            Outcome::Window(_) => assess(z, local, (a, tau, b), offset, m, cfg),
        }
    };
    let mut stats: Vec<(f64, f64)> = (0..cps.len()).map(|k| assess_at(&cps, k)).collect();
    while !cps.is_empty() {
        // Weakest: largest p; ties go to the smaller effect, then the later index.
        let weakest = (0..cps.len())
            .max_by(|&i, &j| {
                let (si, sj) = (stats[i], stats[j]);
                si.0.total_cmp(&sj.0)
                    .then(sj.1.total_cmp(&si.1))
                    .then(i.cmp(&j))
            })
            .unwrap_or(0);
        let drop = if stats[weakest].0 > cfg.p_value {
            Some(weakest)
        } else {
            let smallest = (0..cps.len())
                .min_by(|&i, &j| stats[i].1.total_cmp(&stats[j].1).then(j.cmp(&i)))
                .unwrap_or(0);
            (stats[smallest].1 < 1.0).then_some(smallest)
        };
        let Some(k) = drop else { break };
        cps.remove(k);
        stats.remove(k);
        for j in [k.wrapping_sub(1), k] {
            if j < cps.len() {
                stats[j] = assess_at(&cps, j);
            }
        }
    }
    cps.into_iter().zip(stats).map(|(c, s)| (c, s.0)).collect()
}

/// One merge-step assessment of the change at `tau` between `a` and `b`:
/// (permutation p-value, effect); `local` is the builds around `tau`.
fn assess(
    z: &[f64],
    local: &[f64],
    (a, tau, b): (usize, usize, usize),
    offset: usize,
    m: usize,
    cfg: &ChangePointConfig,
) -> (f64, f64) {
    let size = effect(&z[a..tau], &z[tau..b], local, cfg);
    if size < 1.0 {
        return (1.0, size); // dropped whatever its p: skip the permutations
    }
    let nb = &z[a..b];
    let observed = best_split(nb, m, Some(tau - a)).map_or(0.0, |c| c.1);
    let seeds = [
        cfg.seed,
        u64::MAX,
        (offset + a) as u64,
        (offset + tau) as u64,
        (offset + b) as u64,
    ];
    let mut rng = Rng::from_parts(&seeds);
    let mut scratch = nb.to_vec();
    let p = permutation_p(observed, cfg.p_value, cfg.permutations, || {
        rng.shuffle(&mut scratch);
        best_split(&scratch, m, None).map_or(0.0, |c| c.1)
    });
    (p, size)
}

/// How far a level shift clears both effect filters: the smaller of
/// (relative change of medians / `min_magnitude`) and (change / noise /
/// `min_shift_noise`). Noise is the Qn spread of successive differences in
/// `local` (the builds around the change, at most `window` each side) over
/// √2: differences ignore level shifts, so noise comes from ~2 × window
/// builds even when the neighbouring segments are short, where the spread
/// within them would be underestimated. Below 1 the change point is dropped.
fn effect(before: &[f64], after: &[f64], local: &[f64], cfg: &ChangePointConfig) -> f64 {
    let (Some(b), Some(a)) = (median(before), median(after)) else {
        return 0.0;
    };
    let ratio = |x: f64, y: f64| {
        if y > 0.0 {
            x / y
        } else if x > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    };
    let diffs: Vec<f64> = local.windows(2).map(|p| p[1] - p[0]).collect();
    let noise = qn_scale(&diffs).unwrap_or(0.0) / std::f64::consts::SQRT_2;
    let relative = ratio((a - b).abs(), b.abs() * cfg.min_magnitude);
    let in_noise = ratio((a - b).abs(), noise * cfg.min_shift_noise);
    relative.min(in_noise)
}

/// Permutation p-value `(1 + b) / (R + 1)`, where `b` counts null statistics
/// ≥ `observed`. Stops early once p must exceed `alpha` (the answer is then
/// a lower bound above `alpha`, which is all callers need): clean windows
/// cost a few permutations instead of 199. Shared with `failures`.
pub(super) fn permutation_p(
    observed: f64,
    alpha: f64,
    permutations: usize,
    mut null: impl FnMut() -> f64,
) -> f64 {
    if observed <= 0.0 {
        return 1.0;
    }
    let r = permutations as f64;
    let mut b = 0usize;
    for _ in 0..permutations {
        if null() >= observed {
            b += 1;
            if (1.0 + b as f64) / (r + 1.0) > alpha {
                break;
            }
        }
    }
    (1.0 + b as f64) / (r + 1.0)
}

/// The E-divisive split of `z` maximising Matteson & James' statistic
/// `Q(X, Y) = nx·ny/(nx+ny) · (2·mean|X−Y| − mean|X−X'| − mean|Y−Y'|)` for
/// `X = z[..τ]`, `Y = z[τ..κ]`, both at least `m` long. With `fixed_tau`
/// only that τ is scored (κ still maximised). Returns `(τ, Q)`.
fn best_split(z: &[f64], m: usize, fixed_tau: Option<usize>) -> Option<(usize, f64)> {
    let n = z.len();
    if n < 2 * m {
        return None;
    }
    let w = within_sums(z);
    let at = |i: usize, j: usize| w[i * (n + 1) + j];
    let taus = match fixed_tau {
        Some(t) if t >= m && t + m <= n => t..=t,
        Some(_) => return None,
        None => m..=n - m,
    };
    let mut best: Option<(usize, f64)> = None;
    for tau in taus {
        let nx = tau as f64;
        let wx = at(0, tau);
        for kappa in tau + m..=n {
            let ny = (kappa - tau) as f64;
            let wy = at(tau, kappa);
            let cross = at(0, kappa) - wx - wy;
            let e = 2.0 * cross / (nx * ny)
                - 2.0 * wx / (nx * (nx - 1.0))
                - 2.0 * wy / (ny * (ny - 1.0));
            let q = nx * ny / (nx + ny) * e;
            if best.is_none_or(|b| q > b.1) {
                best = Some((tau, q));
            }
        }
    }
    best
}

/// `w[i·(n+1) + j] = Σ_{i ≤ a < b < j} |z_a − z_b|` for all `i ≤ j`, in O(n²).
fn within_sums(z: &[f64]) -> Vec<f64> {
    let n = z.len();
    let mut w = vec![0.0; (n + 1) * (n + 1)];
    for j in 1..n {
        // Extend every [i, j) by z[j]: add Σ_{i ≤ a < j} |z_a − z_j|.
        let mut col = 0.0;
        for i in (0..j).rev() {
            col += (z[i] - z[j]).abs();
            w[i * (n + 1) + j + 1] = w[i * (n + 1) + j] + col;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q straight from Matteson & James' definition, for checking the O(n²) tables.
    fn q_direct(x: &[f64], y: &[f64]) -> f64 {
        let mean_abs = |a: &[f64], b: &[f64], same: bool| {
            let (mut s, mut k) = (0.0, 0.0);
            for (i, u) in a.iter().enumerate() {
                for (j, v) in b.iter().enumerate() {
                    if !same || i < j {
                        s += (u - v).abs();
                        k += 1.0;
                    }
                }
            }
            s / k
        };
        let (nx, ny) = (x.len() as f64, y.len() as f64);
        nx * ny / (nx + ny)
            * (2.0 * mean_abs(x, y, false) - mean_abs(x, x, true) - mean_abs(y, y, true))
    }

    #[test]
    fn split_statistic_matches_the_definition() {
        let mut rng = Rng::new(3);
        let z: Vec<f64> = (0..23)
            .map(|i| rng.normal() + if i >= 14 { 2.0 } else { 0.0 })
            .collect();
        let (tau, q) = best_split(&z, 3, None).unwrap();
        let mut want = (0, f64::NEG_INFINITY);
        for t in 3..=20 {
            for k in t + 3..=23 {
                let v = q_direct(&z[..t], &z[t..k]);
                if v > want.1 {
                    want = (t, v);
                }
            }
        }
        assert_eq!(tau, want.0);
        assert!(
            (q - want.1).abs() < 1e-9 * want.1.abs(),
            "{q} vs {}",
            want.1
        );
        assert_eq!(tau, 14);
        // Fixed τ scores only that split.
        let (t, _) = best_split(&z, 3, Some(7)).unwrap();
        assert_eq!(t, 7);
        assert_eq!(best_split(&z[..5], 3, None), None);
    }

    #[test]
    fn a_memo_changes_nothing_but_the_work() {
        let mut rng = Rng::new(11);
        let history: Vec<f64> = (0..400)
            .map(|i| 10.0 + rng.normal() * 0.3 + if (i / 90) % 2 == 1 { 2.0 } else { 0.0 })
            .collect();
        let cfg = ChangePointConfig::default();
        let plain =
            |n: usize| change_points_with(&history[..n], &[200], Direction::LowerIsBetter, &cfg);
        let memo = ChangePointMemo::new();
        let with = |n: usize, memo: &ChangePointMemo| {
            change_points_memo(
                &history[..n],
                &[200],
                Direction::LowerIsBetter,
                &cfg,
                Some(memo),
            )
        };
        assert!(!plain(399).is_empty());
        assert_eq!(with(399, &memo), plain(399));
        let filled = memo.len();
        // The history grows by one build: most windows are reused, and
        // what a saved memo answers is what the computation answers.
        let saved = ChangePointMemo::from_bytes(&memo.to_bytes());
        assert_eq!(with(400, &saved), plain(400));
        assert!(saved.len() < filled + 10, "{} of {filled}", saved.len());
        assert_eq!(with(399, &saved), plain(399));
    }

    #[test]
    fn permutation_p_counts_and_stops_early() {
        let mut calls = 0;
        let p = permutation_p(10.0, 0.01, 199, || {
            calls += 1;
            1.0
        });
        assert_eq!((p, calls), (1.0 / 200.0, 199));
        let mut calls = 0;
        let p = permutation_p(10.0, 0.01, 199, || {
            calls += 1;
            20.0
        });
        assert!(p > 0.01);
        assert_eq!(calls, 2, "stops once 2 of 199 beat it: (1+2)/200 > 0.01");
        assert_eq!(permutation_p(0.0, 0.01, 199, || 0.0), 1.0);
    }
}
