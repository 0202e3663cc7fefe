//! Pre-merge: patchsets of a whole job (33 series) against a baseline
//! window of the 30 most recent branch builds (fewer when the branch
//! history, 20–60 builds, is shorter), judged together by
//! `verdicts_for_build_with` so Benjamini–Hochberg acts as in production.
//! A patchset whose first verdicts include an Inconclusive is rechecked
//! once (a second build pooled with the first), as its reason advises.

use perfkit_analysis::regress::rng::Rng;
use perfkit_analysis::regress::verdict::{
    Counts, Direction, SeriesData, SeriesInput, Verdict, VerdictKind, verdicts_for_build_with,
};

use super::noise::{NoiseTable, SynthBuild, Template, pick_runs, run_of, synth_build};
use super::{Bucket, Config, hypothesis, iteration_count};

/// Baseline window: the 30 most recent branch builds.
pub const WINDOW: usize = 30;

/// What the patchset (or its baseline) does differently.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// Clean patchset.
    None,
    /// Clean patchset; one baseline build ran on a node twice as slow.
    SlowBaselineBuild,
    /// One workload's durations × factor.
    Slower(f64),
    /// One workload's durations × (1 + m × its `total`'s relative noise).
    SlowerInNoise(f64),
    /// One workload's iterations fail with this extra probability; on a
    /// workload that already fails now and then, or on one that never does.
    FailureRise { extra: f64, already_failing: bool },
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub change: Change,
    pub patchsets: usize,
}

/// Verdict counts of one scenario row (or one noise bucket).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub patchsets: usize,
    /// Truly regressed series judged, and what they got on the first build.
    pub regressed: usize,
    pub found: usize,
    pub inconclusive: usize,
    pub missed: usize,
    /// … and after one recheck of patchsets that had an Inconclusive.
    pub found_final: usize,
    pub missed_final: usize,
    /// Regression verdicts on series that did not change.
    pub false_regressions: usize,
    pub clean_series: usize,
    pub clean_inconclusive: usize,
    pub patchsets_with_false_regression: usize,
    pub patchsets_with_false_regression_final: usize,
    pub patchsets_rechecked: usize,
    /// Shift of each regressed series in units of its noise.
    pub shift_in_noise: Vec<f64>,
}

impl Tally {
    pub fn precision(&self) -> Option<f64> {
        let flagged = self.found + self.false_regressions;
        (flagged > 0 && self.regressed > 0).then(|| self.found as f64 / flagged as f64)
    }
}

/// One workload of the job: which real workload and how many iterations
/// its task file runs.
#[derive(Debug, Clone, Copy)]
struct Slot {
    template: usize,
    iterations: usize,
}

struct Job {
    slots: Vec<Slot>,
    /// Baseline builds, then the patchset's builds; `[build][slot]`.
    baseline: Vec<Vec<SynthBuild>>,
}

/// What one patchset changes: which slot, its duration factor and extra
/// failure probability.
#[derive(Debug, Clone, Copy)]
struct Effect {
    target: Option<usize>,
    factor: f64,
    extra_failure: f64,
    failures: bool,
}

/// Runs one scenario; regressed series are also tallied into `buckets`.
pub fn run(
    scenario: &Scenario,
    row: u64,
    cfg: &Config,
    templates: &[Template],
    noise: &mut NoiseTable,
    explain: &mut usize,
    buckets: &mut [Bucket<Tally>],
) -> Tally {
    let mut tally = Tally::default();
    for trial in 0..scenario.patchsets {
        let mut rng = Rng::from_parts(&[cfg.seed, 0x9E, row, trial as u64]);
        let job = branch(&mut rng, templates, scenario.change);
        let effect = pick_effect(
            &mut rng,
            templates,
            &job.slots,
            noise,
            scenario.change,
            cfg.thresholds.min_effect_rel,
        );
        let judge = |new: &[Vec<SynthBuild>]| {
            let input = series(templates, &job, new);
            let mut verdicts = verdicts_for_build_with(&input, &cfg.thresholds);
            if cfg.noise_p_only {
                verdicts = hypothesis::noise_p_only(verdicts, &cfg.thresholds);
            }
            if cfg.tail_guard {
                verdicts = hypothesis::tail_guard(verdicts, &input);
            }
            if cfg.own_spread {
                verdicts = hypothesis::own_spread(verdicts, &input, &cfg.thresholds);
            }
            verdicts
        };
        let mut new = vec![patchset_build(&mut rng, templates, &job, effect)];
        let first = judge(&new);
        let recheck = first.iter().any(|v| v.kind == VerdictKind::Inconclusive);
        let last = if recheck {
            new.push(patchset_build(&mut rng, templates, &job, effect));
            judge(&new)
        } else {
            first.clone()
        };
        tally.patchsets += 1;
        tally.patchsets_rechecked += usize::from(recheck);
        let mut false_first = false;
        for (v, v_last) in first.iter().zip(&last) {
            if !is_target(v, effect) {
                tally.clean_series += 1;
                tally.clean_inconclusive += usize::from(v.kind == VerdictKind::Inconclusive);
                if v.kind == VerdictKind::Regression {
                    tally.false_regressions += 1;
                    false_first = true;
                    if *explain > 0 {
                        *explain -= 1;
                        eprintln!(
                            "false regression ({}): {}: {}",
                            scenario.name, v.series, v.reason
                        );
                    }
                }
                continue;
            }
            let sigma = (!effect.failures).then(|| {
                let slot = job.slots[slot_of(v)];
                let n = noise.get(templates, slot.template, action_of(v), slot.iterations);
                (effect.factor - 1.0) / n
            });
            if *explain > 0
                && sigma.is_some_and(|s| s >= 3.0)
                && !matches!(v.kind, VerdictKind::Regression | VerdictKind::Inconclusive)
            {
                *explain -= 1;
                eprintln!(
                    "missed ({}, {:.1} × noise): {}: {}",
                    scenario.name,
                    sigma.unwrap_or(0.0),
                    v.series,
                    v.reason
                );
            }
            let count = |t: &mut Tally| {
                t.regressed += 1;
                match v.kind {
                    VerdictKind::Regression => t.found += 1,
                    VerdictKind::Inconclusive => t.inconclusive += 1,
                    _ => t.missed += 1,
                }
                match v_last.kind {
                    VerdictKind::Regression => t.found_final += 1,
                    VerdictKind::Inconclusive => {}
                    _ => t.missed_final += 1,
                }
                if let Some(s) = sigma {
                    t.shift_in_noise.push(s);
                }
            };
            count(&mut tally);
            for b in buckets.iter_mut().filter(|b| {
                let floor = cfg.thresholds.min_effect_rel;
                sigma.is_some_and(|s| b.contains(s, effect.factor - 1.0, floor))
            }) {
                count(&mut b.tally);
            }
        }
        let false_last = last
            .iter()
            .any(|v| v.kind == VerdictKind::Regression && !is_target(v, effect));
        tally.patchsets_with_false_regression += usize::from(false_first);
        tally.patchsets_with_false_regression_final += usize::from(false_last);
    }
    tally
}

/// The job's workloads and its baseline window.
fn branch(rng: &mut Rng, templates: &[Template], change: Change) -> Job {
    let slots: Vec<Slot> = (0..templates.len())
        .flat_map(|t| std::iter::repeat_n(t, templates[t].copies))
        .map(|template| Slot {
            template,
            iterations: iteration_count(rng),
        })
        .collect();
    let history = 20 + rng.below(41) as usize;
    let window = history.min(WINDOW);
    let slow = match change {
        Change::SlowBaselineBuild => Some(rng.below(window as u64) as usize),
        _ => None,
    };
    let baseline = (0..window)
        .map(|b| {
            let factor = if slow == Some(b) { 2.0 } else { 1.0 };
            let runs = pick_runs(rng, templates);
            slots
                .iter()
                .map(|s| {
                    let t = &templates[s.template];
                    synth_build(t, rng, run_of(&runs, t), s.iterations, factor, 0.0)
                })
                .collect()
        })
        .collect();
    Job { slots, baseline }
}

/// The slot that regresses, if any (any workload for a slowdown; one that
/// already fails, or never does, for a failure-rate rise), and how.
fn pick_effect(
    rng: &mut Rng,
    templates: &[Template],
    slots: &[Slot],
    noise: &mut NoiseTable,
    change: Change,
    min_effect: f64,
) -> Effect {
    let mut effect = Effect {
        target: None,
        factor: 1.0,
        extra_failure: 0.0,
        failures: false,
    };
    let candidates: Vec<usize> = match change {
        Change::None | Change::SlowBaselineBuild => return effect,
        Change::Slower(_) => (0..slots.len()).collect(),
        // Only where m × noise clears the 2 % floor: below it nothing is
        // ever reported, by design (the fixed-% rows show those series).
        Change::SlowerInNoise(m) => (0..slots.len())
            .filter(|&i| {
                let s = slots[i];
                m * noise.get(templates, s.template, 0, s.iterations) >= min_effect
            })
            .collect(),
        Change::FailureRise {
            already_failing, ..
        } => (0..slots.len())
            .filter(|&i| (templates[slots[i].template].failure_rate() > 0.0) == already_failing)
            .collect(),
    };
    assert!(!candidates.is_empty(), "no workload fits {change:?}");
    let target = candidates[rng.below(candidates.len() as u64) as usize];
    let slot = slots[target];
    effect.target = Some(target);
    match change {
        Change::Slower(f) => effect.factor = f,
        Change::SlowerInNoise(m) => {
            effect.factor = 1.0 + m * noise.get(templates, slot.template, 0, slot.iterations);
        }
        Change::FailureRise { extra, .. } => {
            effect.extra_failure = extra;
            effect.failures = true;
        }
        Change::None | Change::SlowBaselineBuild => {}
    }
    effect
}

fn patchset_build(
    rng: &mut Rng,
    templates: &[Template],
    job: &Job,
    effect: Effect,
) -> Vec<SynthBuild> {
    let runs = pick_runs(rng, templates);
    job.slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let hit = effect.target == Some(i);
            let factor = if hit { effect.factor } else { 1.0 };
            let extra = if hit { effect.extra_failure } else { 0.0 };
            let t = &templates[s.template];
            synth_build(t, rng, run_of(&runs, t), s.iterations, factor, extra)
        })
        .collect()
}

/// Series keys: `w07/<template>/<action>` for durations, `w07/<template>/failure_rate`.
fn series(templates: &[Template], job: &Job, new: &[Vec<SynthBuild>]) -> Vec<SeriesInput> {
    let mut out = Vec::new();
    for (i, slot) in job.slots.iter().enumerate() {
        let t = &templates[slot.template];
        for (a, action) in t.actions.iter().enumerate() {
            out.push(SeriesInput {
                series: format!("w{i:02}/{}/{a}:{action}", t.name),
                direction: Direction::LowerIsBetter,
                data: SeriesData::Samples {
                    new: new.iter().map(|b| b[i].values[a].clone()).collect(),
                    baseline: job
                        .baseline
                        .iter()
                        .map(|b| b[i].values[a].clone())
                        .collect(),
                },
            });
        }
        let sum = |builds: &mut dyn Iterator<Item = &SynthBuild>| {
            builds.fold(Counts::default(), |c, b| Counts {
                failed: c.failed + b.failed,
                total: c.total + b.total,
            })
        };
        out.push(SeriesInput {
            series: format!("w{i:02}/{}/failure_rate", t.name),
            direction: Direction::LowerIsBetter,
            data: SeriesData::Failures {
                new: sum(&mut new.iter().map(|b| &b[i])),
                baseline: sum(&mut job.baseline.iter().map(|b| &b[i])),
            },
        });
    }
    out
}

fn slot_of(v: &Verdict) -> usize {
    v.series[1..3].parse().expect("series keys start with wNN/")
}

/// Action index of a duration series (`…/<index>:<action>`).
fn action_of(v: &Verdict) -> usize {
    let last = v.series.rsplit('/').next().unwrap_or("");
    last.split(':')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
}

fn is_target(v: &Verdict, effect: Effect) -> bool {
    effect.target == Some(slot_of(v)) && v.series.ends_with("/failure_rate") == effect.failures
}
