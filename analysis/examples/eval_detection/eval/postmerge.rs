//! Post-merge: branch histories of per-build medians (or failure
//! fractions) with one injected change, searched by `change_points_with`
//! as the branch grows. Production runs detection after every branch
//! build, so a history is judged on its prefixes: "as of build k" after
//! the change, k = 1..15, gives the delay (first k at which the change is
//! reported) and catches change points that show up once and vanish.

use perfkit_analysis::regress::changepoint::{
    ChangeKind, ChangePoint, ChangePointConfig, change_points_with,
};
use perfkit_analysis::regress::rng::Rng;
use perfkit_analysis::regress::verdict::Direction;

use super::noise::{NoiseTable, Template, synth_any};
use super::{Bucket, iteration_count};

/// Builds searched after the change: delays up to this are measured.
pub const AFTER: usize = 15;
/// A change point counts as the injected one within this many builds of it.
pub const TOLERANCE: usize = 3;

#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// No change; 20–60 builds.
    None,
    /// Durations × factor from the change on.
    Step(f64),
    /// Durations × (1 + m × the series' relative noise) from the change on.
    StepInNoise(f64),
    /// One build × factor, the rest unchanged.
    Outlier(f64),
    /// Durations × (1 + rate · (i − change + 1)) from the change on.
    Creep(f64),
    /// Failure fractions per build; iterations fail with this extra
    /// probability from the change on (on the workload that already fails).
    FailureRise(f64),
    /// The workload's config hash changes at the change (passed as
    /// `config_changes`) and its durations × factor.
    Config(f64),
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub change: Change,
    pub histories: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub histories: usize,
    /// Builds after the change when it was first reported (1-based: k
    /// builds at the new level exist), for histories where it was.
    pub delays: Vec<usize>,
    /// Reported index − true index at first report.
    pub offsets: Vec<i64>,
    /// Builds after the change until reported within ±1 build of it.
    pub delays_exact: Vec<usize>,
    /// Histories with a change point that is not the injected change (any
    /// prefix); for outliers and config changes every Regression or
    /// Improvement counts.
    pub false_alarms: usize,
    /// Config changes reported as ConfigChanged at the right index.
    pub config_reported: usize,
    pub shift_in_noise: Vec<f64>,
}

impl Tally {
    pub fn found_within(&self, k: usize) -> usize {
        self.delays.iter().filter(|&&d| d <= k).count()
    }
}

pub fn run(
    scenario: &Scenario,
    row: u64,
    seed: u64,
    templates: &[Template],
    noise: &mut NoiseTable,
    cfg: &ChangePointConfig,
    buckets: &mut [Bucket<Tally>],
) -> Tally {
    let mut tally = Tally::default();
    let failing: Vec<usize> = (0..templates.len())
        .filter(|&t| templates[t].failure_rate() > 0.0)
        .collect();
    for trial in 0..scenario.histories {
        let mut rng = Rng::from_parts(&[seed, 0xC4, row, trial as u64]);
        let n = iteration_count(&mut rng);
        let template = match scenario.change {
            Change::FailureRise(_) => failing[trial % failing.len()],
            // Only where m × noise clears the 2 % floor (see premerge).
            Change::StepInNoise(m) => {
                let eligible: Vec<usize> = (0..templates.len())
                    .filter(|&t| m * noise.get(templates, t, 0, n) >= cfg.min_magnitude)
                    .collect();
                eligible[trial % eligible.len()]
            }
            _ => trial % templates.len(),
        };
        let t = &templates[template];
        let sigma_rel = noise.get(templates, template, 0, n);
        let (before, len) = match scenario.change {
            Change::None => (0, 20 + rng.below(41) as usize),
            _ => {
                let before = 10 + rng.below(36) as usize;
                (before, before + AFTER)
            }
        };
        let values: Vec<f64> = (0..len)
            .map(|i| {
                let after = i >= before;
                let (factor, extra) = match scenario.change {
                    Change::Step(f) | Change::Config(f) if after => (f, 0.0),
                    Change::StepInNoise(m) if after => (1.0 + m * sigma_rel, 0.0),
                    Change::Outlier(f) if i == before => (f, 0.0),
                    Change::Creep(r) if after => (1.0 + r * (i - before + 1) as f64, 0.0),
                    Change::FailureRise(p) if after => (1.0, p),
                    _ => (1.0, 0.0),
                };
                let b = synth_any(t, &mut rng, n, factor, extra);
                match scenario.change {
                    Change::FailureRise(_) => b.failure_fraction(),
                    _ => b.total_median(),
                }
            })
            .collect();
        let (sigma, relative) = match scenario.change {
            Change::Step(f) => (Some((f - 1.0) / sigma_rel), f - 1.0),
            Change::StepInNoise(m) => (Some(m), m * sigma_rel),
            _ => (None, 0.0),
        };
        let outcome = judge(&values, before, scenario.change, cfg);
        outcome.record(&mut tally, sigma);
        for b in buckets
            .iter_mut()
            .filter(|b| sigma.is_some_and(|s| b.contains(s, relative, cfg.min_magnitude)))
        {
            outcome.record(&mut b.tally, sigma);
        }
    }
    tally
}

struct Outcome {
    first_found: Option<(usize, i64)>,
    first_exact: Option<usize>,
    false_alarm: bool,
    config_reported: bool,
}

impl Outcome {
    fn record(&self, tally: &mut Tally, sigma: Option<f64>) {
        tally.histories += 1;
        if let Some((k, offset)) = self.first_found {
            tally.delays.push(k);
            tally.offsets.push(offset);
        }
        tally.delays_exact.extend(self.first_exact);
        tally.false_alarms += usize::from(self.false_alarm);
        tally.config_reported += usize::from(self.config_reported);
        tally.shift_in_noise.extend(sigma);
    }
}

/// Runs detection on the prefixes that production would have seen.
fn judge(values: &[f64], at: usize, change: Change, cfg: &ChangePointConfig) -> Outcome {
    let mut out = Outcome {
        first_found: None,
        first_exact: None,
        false_alarm: false,
        config_reported: true,
    };
    let config: Vec<usize> = match change {
        Change::Config(_) => vec![at],
        _ => Vec::new(),
    };
    // Prefixes: every length for clean histories (from 2 × min_segment on,
    // the first that can hold a change point), else the builds after the change.
    let ends: Vec<usize> = match change {
        Change::None => (2 * cfg.min_segment..=values.len()).collect(),
        _ => (at + 1..=values.len()).collect(),
    };
    for end in ends {
        let cps = change_points_with(&values[..end], &config, Direction::LowerIsBetter, cfg);
        let k = end - at;
        match change {
            Change::None => out.false_alarm |= !cps.is_empty(),
            Change::Outlier(_) => out.false_alarm |= !cps.is_empty(),
            Change::Config(_) => {
                out.false_alarm |= cps.iter().any(|c| c.kind != ChangeKind::ConfigChanged);
                out.config_reported &= cps
                    .iter()
                    .any(|c| c.kind == ChangeKind::ConfigChanged && c.index == at);
            }
            Change::Step(_)
            | Change::StepInNoise(_)
            | Change::Creep(_)
            | Change::FailureRise(_) => {
                let creep = matches!(change, Change::Creep(_));
                let hit = |c: &ChangePoint| {
                    c.kind == ChangeKind::Regression
                        && c.index + TOLERANCE >= at
                        && (creep || c.index <= at + TOLERANCE)
                };
                if out.first_found.is_none()
                    && let Some(c) = cps.iter().find(|c| hit(c))
                {
                    out.first_found = Some((k, c.index as i64 - at as i64));
                }
                if out.first_exact.is_none()
                    && cps
                        .iter()
                        .any(|c| c.kind == ChangeKind::Regression && c.index.abs_diff(at) <= 1)
                {
                    out.first_exact = Some(k);
                }
                out.false_alarm |= cps.iter().any(|c| !hit(c));
            }
        }
    }
    out.config_reported &= matches!(change, Change::Config(_));
    out
}
