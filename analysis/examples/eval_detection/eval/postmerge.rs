//! Post-merge: branch histories of per-build medians (or failure
//! fractions) with one injected change, searched by `change_points_with`
//! as the branch grows. Production runs detection after every branch
//! build, so a history is judged on its prefixes: "as of build k" after
//! the change, k = 1..15, gives the delay (first k at which the change is
//! reported) and catches change points that show up once and vanish.

use perfkit_analysis::regress::changepoint::{ChangeKind, ChangePointConfig, change_points_with};
use perfkit_analysis::regress::failures::{FailureChangeConfig, failure_change_points};
use perfkit_analysis::regress::rng::Rng;
use perfkit_analysis::regress::verdict::{Counts, Direction};

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
    /// Durations × e^(m σ) from the change on (σ: `noise::log_sigma`).
    StepInNoise(f64),
    /// One build × factor, the rest unchanged.
    Outlier(f64),
    /// Durations × (1 + rate · (i − change + 1)) from the change on.
    Creep(f64),
    /// Failed/total iterations per build, judged by the count-based test
    /// (`regress::failures`); iterations fail with this extra probability
    /// from the change on (on a workload that never failed).
    FailureRise(f64),
    /// Failed/total iterations per build of a workload that fails now and
    /// then, nothing changed (20–60 builds): any change point is false.
    FailuresClean,
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

/// One generated history, kept so another detector (Apache Otava) can be
/// scored on exactly the same values (`super::otava`).
#[derive(Debug, Clone)]
pub struct History {
    pub values: Vec<f64>,
    /// Index of the first build after the change (0 for clean histories).
    pub at: usize,
    pub change: Change,
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
    /// The histories themselves (rows only, not buckets).
    pub kept: Vec<History>,
    /// Change points perfkit reports on each whole history (for F1).
    pub final_points: Vec<Vec<(usize, ChangeKind)>>,
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
    let never_failing: Vec<usize> = (0..templates.len())
        .filter(|&t| templates[t].failure_rate() == 0.0)
        .collect();
    let failing: Vec<usize> = (0..templates.len())
        .filter(|&t| templates[t].failure_rate() > 0.0)
        .collect();
    for trial in 0..scenario.histories {
        let mut rng = Rng::from_parts(&[seed, 0xC4, row, trial as u64]);
        let n = iteration_count(&mut rng);
        let template = match scenario.change {
            Change::FailureRise(_) => never_failing[trial % never_failing.len()],
            Change::FailuresClean => failing[trial % failing.len()],
            // Only where m × noise clears the 2 % floor (see premerge).
            Change::StepInNoise(m) => {
                let eligible: Vec<usize> = (0..templates.len())
                    .filter(|&t| {
                        (m * noise.get(templates, t, 0, n)).exp() - 1.0 >= cfg.min_magnitude
                    })
                    .collect();
                eligible[trial % eligible.len()]
            }
            _ => trial % templates.len(),
        };
        let t = &templates[template];
        // The series' true σ of ln(build median), from the generator.
        let sigma_log = noise.get(templates, template, 0, n);
        let (before, len) = match scenario.change {
            Change::None | Change::FailuresClean => (0, 20 + rng.below(41) as usize),
            _ => {
                let before = 10 + rng.below(36) as usize;
                (before, before + AFTER)
            }
        };
        let mut counts = Vec::with_capacity(len);
        let values: Vec<f64> = (0..len)
            .map(|i| {
                let after = i >= before;
                let (factor, extra) = match scenario.change {
                    Change::Step(f) | Change::Config(f) if after => (f, 0.0),
                    Change::StepInNoise(m) if after => ((m * sigma_log).exp(), 0.0),
                    Change::Outlier(f) if i == before => (f, 0.0),
                    Change::Creep(r) if after => (1.0 + r * (i - before + 1) as f64, 0.0),
                    Change::FailureRise(p) if after => (1.0, p),
                    _ => (1.0, 0.0),
                };
                let b = synth_any(t, &mut rng, n, factor, extra);
                counts.push(Counts {
                    failed: b.failed,
                    total: b.total,
                });
                match scenario.change {
                    Change::FailureRise(_) | Change::FailuresClean => b.failure_fraction(),
                    _ => b.total_median(),
                }
            })
            .collect();
        let (sigma, relative) = match scenario.change {
            Change::Step(f) => (Some(f.ln() / sigma_log), f - 1.0),
            Change::StepInNoise(m) => (Some(m), (m * sigma_log).exp() - 1.0),
            _ => (None, 0.0),
        };
        let (outcome, last) = judge(&values, &counts, before, scenario.change, cfg);
        outcome.record(&mut tally, sigma);
        tally.final_points.push(last);
        tally.kept.push(History {
            values: values.clone(),
            at: before,
            change: scenario.change,
        });
        for b in buckets
            .iter_mut()
            .filter(|b| sigma.is_some_and(|s| b.contains(s, relative, cfg.min_magnitude)))
        {
            outcome.record(&mut b.tally, sigma);
        }
    }
    tally
}

pub struct Outcome {
    first_found: Option<(usize, i64)>,
    first_exact: Option<usize>,
    false_alarm: bool,
    config_reported: bool,
}

impl Outcome {
    pub fn record(&self, tally: &mut Tally, sigma: Option<f64>) {
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

/// The history lengths production would have judged: every length of a
/// clean history from 2 × `min_segment` on (the first that can hold a
/// change point), else every length with builds after the change.
pub fn prefixes(len: usize, at: usize, change: Change, min_segment: usize) -> Vec<usize> {
    match change {
        Change::None | Change::FailuresClean => (2 * min_segment..=len).collect(),
        _ => (at + 1..=len).collect(),
    }
}

/// Runs detection on the prefixes that production would have seen; also
/// returns the change points of the whole history.
fn judge(
    values: &[f64],
    counts: &[Counts],
    at: usize,
    change: Change,
    cfg: &ChangePointConfig,
) -> (Outcome, Vec<(usize, ChangeKind)>) {
    let config: Vec<usize> = match change {
        Change::Config(_) => vec![at],
        _ => Vec::new(),
    };
    let found: Vec<(usize, Vec<(usize, ChangeKind)>)> =
        prefixes(values.len(), at, change, cfg.min_segment)
            .into_iter()
            .map(|end| {
                let cps = match change {
                    Change::FailureRise(_) | Change::FailuresClean => failure_change_points(
                        &counts[..end],
                        &config,
                        &FailureChangeConfig::default(),
                    ),
                    _ => change_points_with(&values[..end], &config, Direction::LowerIsBetter, cfg),
                };
                (end, cps.iter().map(|c| (c.index, c.kind)).collect())
            })
            .collect();
    // Every prefix list ends with the whole history.
    let last = found.last().map(|(_, cps)| cps.clone()).unwrap_or_default();
    (score(&found, at, change), last)
}

/// Scores the change points found on each prefix (`(end, [(index, kind)])`)
/// against the injected change: delays, offsets and false alarms.
pub fn score(found: &[(usize, Vec<(usize, ChangeKind)>)], at: usize, change: Change) -> Outcome {
    let mut out = Outcome {
        first_found: None,
        first_exact: None,
        false_alarm: false,
        config_reported: true,
    };
    for (end, cps) in found {
        let k = end - at;
        match change {
            Change::None | Change::Outlier(_) | Change::FailuresClean => {
                out.false_alarm |= !cps.is_empty()
            }
            Change::Config(_) => {
                out.false_alarm |= cps.iter().any(|c| c.1 != ChangeKind::ConfigChanged);
                out.config_reported &= cps
                    .iter()
                    .any(|c| c.1 == ChangeKind::ConfigChanged && c.0 == at);
            }
            Change::Step(_)
            | Change::StepInNoise(_)
            | Change::Creep(_)
            | Change::FailureRise(_) => {
                let hit = |c: &(usize, ChangeKind)| is_hit(c, at, open_ended(change));
                if out.first_found.is_none()
                    && let Some(c) = cps.iter().find(|c| hit(c))
                {
                    out.first_found = Some((k, c.0 as i64 - at as i64));
                }
                if out.first_exact.is_none()
                    && cps
                        .iter()
                        .any(|c| c.1 == ChangeKind::Regression && c.0.abs_diff(at) <= 1)
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

/// A Regression within `TOLERANCE` builds of the change (for an
/// `open_ended` change, any time after its start too).
pub fn is_hit(c: &(usize, ChangeKind), at: usize, open_ended: bool) -> bool {
    c.1 == ChangeKind::Regression && c.0 + TOLERANCE >= at && (open_ended || c.0 <= at + TOLERANCE)
}

/// Changes whose start is not where the data first shows them: a creep
/// grows from nothing, and a failure rate of 25 % leaves a build of 4
/// iterations without a failure 32 % of the time, so a rise is often first
/// seen builds after it began. A Regression anywhere after such a start is
/// the change, found late; before it, it is a false alarm.
pub fn open_ended(change: Change) -> bool {
    matches!(change, Change::Creep(_) | Change::FailureRise(_))
}
