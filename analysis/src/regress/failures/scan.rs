//! The two tests behind `failures` and the statistic they share: the
//! binomial likelihood-ratio gain `G` of a split and its best split, the
//! exact scan p-value over placements of the failed iterations, and the
//! shuffles of whole builds.

use super::super::changepoint::permutation_p;
use super::super::rng::Rng;

/// Hypergeometric terms below this are not carried (nor, squared, is any
/// mass): what the exact test leaves out is below 1e-12 of any p-value it
/// is compared with.
const NEGLIGIBLE: f64 = 1e-18;

/// Statistics within a rounding error of the observed one count as
/// reaching it: counts tie often, and equal `G`s can differ in the last bit.
pub(super) fn tie_bar(observed: f64) -> f64 {
    observed * (1.0 - 1e-9)
}

/// Exact `P(max_τ G(τ) ≥ observed)` over `builds` (τ leaving `m` each
/// side) when their failed iterations fell on the iterations at random,
/// every arrangement equally likely (the conditional null of independent
/// failures at one rate). Failed counts up to τ form a Markov chain (each
/// build draws its failures hypergeometrically from what is left), so a
/// pass over the builds carries the distribution of the failures so far,
/// moving to the answer the mass that reaches the observed statistic:
/// O(builds × failures × iterations per build). Stops once the answer
/// must exceed `alpha` (then it is a lower bound above `alpha`).
pub(super) fn scan_p(
    t: &Tables,
    builds: &[(u64, u64)],
    observed: f64,
    m: usize,
    alpha: f64,
) -> f64 {
    if observed <= 0.0 {
        return 1.0;
    }
    let bar = tie_bar(observed);
    let len = builds.len();
    let (f_all, n_all) = builds
        .iter()
        .fold((0, 0), |(f, n), &(bf, bn)| (f + bf, n + bn));
    let whole = t.loglik(f_all, n_all);
    let size = f_all as usize + 1;
    let mut mass = vec![0.0; size];
    let mut next = vec![0.0; size];
    mass[0] = 1.0;
    let (mut lo, mut hi) = (0usize, 0usize); // failures so far: the support
    let mut n1 = 0u64;
    let mut reached = 0.0;
    for (i, &(_, ni)) in builds.iter().enumerate() {
        let left = n_all - n1; // iterations not yet placed
        next[lo..=(hi + ni as usize).min(f_all as usize)].fill(0.0);
        for f in lo..=hi {
            let p = mass[f];
            if p == 0.0 {
                continue;
            }
            let k = f_all - f as u64; // failures not yet placed
            let (x_lo, x_hi) = (ni.saturating_sub(left - k), ni.min(k));
            // Hypergeometric pmf of x failures among this build's ni: from
            // its mode outwards by the ratio of successive terms, until the
            // terms are negligible (Locust's hundreds of requests a build).
            let ratio = |x: u64| {
                ((k - x) as f64 * (ni - x) as f64)
                    / ((x + 1) as f64 * (left - k + x + 1 - ni) as f64)
            };
            let mode = ((((ni + 1) as u128 * (k + 1) as u128) / (left + 2) as u128) as u64)
                .clamp(x_lo, x_hi);
            let peak = (t.ln_choose(k, mode) + t.ln_choose(left - k, ni - mode)
                - t.ln_choose(left, ni))
            .exp();
            next[f + mode as usize] += p * peak;
            let (mut q, mut x) = (peak, mode);
            while x < x_hi && q >= NEGLIGIBLE {
                q *= ratio(x);
                x += 1;
                next[f + x as usize] += p * q;
            }
            let (mut q, mut x) = (peak, mode);
            while x > x_lo && q >= NEGLIGIBLE {
                x -= 1;
                q /= ratio(x);
                next[f + x as usize] += p * q;
            }
        }
        n1 += ni;
        lo = lo.max(f_all.saturating_sub(n_all - n1) as usize);
        hi = (hi + ni as usize).min(f_all as usize);
        std::mem::swap(&mut mass, &mut next);
        // Mass too small to matter anywhere is dropped with its support.
        while lo < hi && mass[lo] < NEGLIGIBLE * NEGLIGIBLE {
            mass[lo] = 0.0;
            lo += 1;
        }
        while hi > lo && mass[hi] < NEGLIGIBLE * NEGLIGIBLE {
            mass[hi] = 0.0;
            hi -= 1;
        }
        let tau = i + 1;
        if tau >= m && tau + m <= len {
            for (f, p) in mass.iter_mut().enumerate().take(hi + 1).skip(lo) {
                if *p > 0.0
                    && t.loglik(f as u64, n1) + t.loglik(f_all - f as u64, n_all - n1) - whole
                        >= bar
                {
                    reached += *p;
                    *p = 0.0;
                }
            }
            if reached > alpha {
                break;
            }
        }
    }
    reached.min(1.0)
}

/// Permutation p-value of `observed` against the best split of `builds`
/// shuffled as whole builds, stopping once p must exceed `alpha`.
pub(super) fn shuffled_p(
    t: &Tables,
    builds: &[(u64, u64)],
    observed: f64,
    m: usize,
    alpha: f64,
    permutations: usize,
    rng: &mut Rng,
) -> f64 {
    let mut scratch = builds.to_vec();
    permutation_p(tie_bar(observed), alpha, permutations, || {
        shuffle(rng, &mut scratch);
        best_split(t, &scratch, m).map_or(0.0, |c| c.1)
    })
}

/// Fisher–Yates with Lemire's multiply-shift bounded draws (a division
/// only in the rare rejection zone): `Rng::shuffle`'s modulo per element
/// was most of a permutation's cost.
pub(super) fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let range = i as u64 + 1;
        let mut wide = u128::from(rng.next_u64()) * u128::from(range);
        if (wide as u64) < range {
            let threshold = range.wrapping_neg() % range;
            while (wide as u64) < threshold {
                wide = u128::from(rng.next_u64()) * u128::from(range);
            }
        }
        items.swap(i, (wide >> 64) as usize);
    }
}

/// The split of `builds` (failed, total) maximising the likelihood-ratio
/// gain `G`, at least `m` builds each side: (τ, G).
pub(super) fn best_split(t: &Tables, builds: &[(u64, u64)], m: usize) -> Option<(usize, f64)> {
    let len = builds.len();
    if len < 2 * m {
        return None;
    }
    let (f, n) = builds
        .iter()
        .fold((0, 0), |(f, n), &(bf, bn)| (f + bf, n + bn));
    let whole = t.loglik(f, n);
    let (mut f1, mut n1) = (0, 0);
    let mut best: Option<(usize, f64)> = None;
    for (i, &(bf, bn)) in builds[..len - m].iter().enumerate() {
        f1 += bf;
        n1 += bn;
        let tau = i + 1;
        if tau < m {
            continue;
        }
        let g = t.loglik(f1, n1) + t.loglik(f - f1, n - n1) - whole;
        if best.is_none_or(|c| g > c.1) {
            best = Some((tau, g));
        }
    }
    best
}

/// `k ln k` and `ln k!`, tabled up to the most iterations a test sees (at
/// most `TABLED`, computed beyond): the likelihoods and hypergeometric
/// terms are sums of these, without a logarithm in the loops.
pub(super) struct Tables {
    xlnx: Vec<f64>,
    ln_factorial: Vec<f64>,
}

/// Entries tabled at most: 1 MB, far more than Rally's iterations in two
/// windows; Locust's requests beyond it are computed.
pub(super) const TABLED: u64 = 1 << 16;

impl Tables {
    /// Tables up to `n` (capped at `TABLED`).
    pub(super) fn upto(n: u64) -> Tables {
        let n = n.min(TABLED);
        let xlnx = (0..=n).map(xlnx).collect();
        let mut ln_factorial = Vec::with_capacity(n as usize + 1);
        let mut sum = 0.0;
        ln_factorial.push(0.0);
        for k in 1..=n {
            sum += (k as f64).ln();
            ln_factorial.push(sum);
        }
        Tables { xlnx, ln_factorial }
    }

    fn xlnx(&self, k: u64) -> f64 {
        match self.xlnx.get(k as usize) {
            Some(&v) => v,
            None => xlnx(k),
        }
    }

    pub(super) fn ln_factorial(&self, k: u64) -> f64 {
        match self.ln_factorial.get(k as usize) {
            Some(&v) => v,
            None => {
                // Stirling's series; its next term is < 1e-25 here.
                let x = k as f64;
                let inv = 1.0 / x;
                x * x.ln() - x
                    + 0.5 * (2.0 * std::f64::consts::PI * x).ln()
                    + inv * (1.0 / 12.0 - inv * inv / 360.0)
            }
        }
    }

    /// Binomial log-likelihood at the fitted rate,
    /// `f ln(f/n) + (n−f) ln((n−f)/n) = f ln f + (n−f) ln(n−f) − n ln n`.
    pub(super) fn loglik(&self, f: u64, n: u64) -> f64 {
        self.xlnx(f) + self.xlnx(n - f) - self.xlnx(n)
    }

    /// `G` of one split: the log-likelihood two rates gain over one.
    pub(super) fn gain(&self, f1: u64, n1: u64, f2: u64, n2: u64) -> f64 {
        self.loglik(f1, n1) + self.loglik(f2, n2) - self.loglik(f1 + f2, n1 + n2)
    }

    /// `ln C(n, k)`.
    pub(super) fn ln_choose(&self, n: u64, k: u64) -> f64 {
        self.ln_factorial(n) - self.ln_factorial(k) - self.ln_factorial(n - k)
    }
}

/// `k ln k`, 0 for 0.
fn xlnx(k: u64) -> f64 {
    if k == 0 {
        0.0
    } else {
        k as f64 * (k as f64).ln()
    }
}
