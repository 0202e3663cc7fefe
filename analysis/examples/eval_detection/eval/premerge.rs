//! Pre-merge: patchsets of a whole job (33 series) against a baseline
//! window of the 30 most recent branch builds (fewer when the branch
//! history, 20–60 builds, is shorter), judged together by
//! `verdicts_for_build_with` so Benjamini–Hochberg acts as in production.
//! A patchset whose verdicts include an Inconclusive is rechecked (another
//! build pooled with the earlier ones), at most `RECHECKS` times, as its
//! reason advises. Each branch build and each patchset build lands on a
//! random node provider; the baseline is narrowed to the patchset's
//! provider as `compare::baseline_window` does. The patchset's builds come
//! from real runs its baseline never contains (`RunSplit`).

use perfkit_analysis::regress::rng::Rng;
use perfkit_analysis::regress::verdict::{
    Counts, Direction, SeriesData, SeriesInput, Test, Thresholds, Verdict, VerdictKind,
    verdicts_for_build_with,
};

use super::noise::{
    NoiseTable, RunSplit, SynthBuild, Template, provider_count, run_of, synth_build,
};
use super::{Bucket, Config, hypothesis, iteration_count};

/// Baseline window: the 30 most recent branch builds.
pub const WINDOW: usize = 30;

/// Rechecks at most, while an Inconclusive remains.
pub const RECHECKS: usize = 2;

/// What the patchset (or its baseline) does differently.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// Clean patchset.
    None,
    /// Clean patchset; one baseline build ran on a node twice as slow.
    SlowBaselineBuild,
    /// One workload's durations × factor.
    Slower(f64),
    /// One workload's durations × e^(m σ), σ its `total`'s true
    /// build-to-build σ (`noise::log_sigma`).
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
    /// … after one recheck of patchsets that had an Inconclusive, and
    /// after at most `RECHECKS` (each while an Inconclusive remains).
    pub found_one_recheck: usize,
    pub found_final: usize,
    pub missed_final: usize,
    /// Patchsets with ≥ 1 Regression on the first build, and those whose
    /// Regressions are all on the changed series (for precision on a mix).
    pub patchsets_flagged: usize,
    pub patchsets_flagged_right: usize,
    /// Regression verdicts on series that did not change.
    pub false_regressions: usize,
    pub clean_series: usize,
    pub clean_inconclusive: usize,
    pub patchsets_with_false_regression: usize,
    pub patchsets_with_false_regression_final: usize,
    pub patchsets_rechecked: usize,
    pub patchsets_rechecked_twice: usize,
    /// Shift of each regressed series in units of its σ (ln factor / σ).
    pub shift_in_noise: Vec<f64>,
    /// For the recheck trade-off curve, on the first build: per patchset,
    /// the smallest q at which a clean series would be Inconclusive
    /// (`recheck_q`); per regressed duration series, whether it was a
    /// Regression and its own `recheck_q`.
    pub clean_recheck_q: Vec<f64>,
    pub regressed_recheck_q: Vec<(bool, f64)>,
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
    /// The branch history, oldest first: each build's provider and
    /// `[slot]` builds.
    history: Vec<(usize, Vec<SynthBuild>)>,
    /// The real runs baseline and patchset builds are drawn from.
    split: RunSplit,
    /// The branch build that ran on a node twice as slow, if any.
    slow: Option<usize>,
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
        let mut job = branch(&mut rng, templates, scenario.change);
        let providers = provider_count(templates) as u64;
        let first_provider = rng.below(providers) as usize;
        // The slow baseline build ran on the patchset's provider, so the
        // narrowed baseline holds it (own RNG: the other rows' draws stay).
        if let Some(slow) = job.slow {
            let mut own = Rng::from_parts(&[cfg.seed, 0x510, row, trial as u64]);
            job.history[slow] = (
                first_provider,
                branch_build(&mut own, templates, &job, first_provider, 2.0),
            );
        }
        let effect = pick_effect(
            &mut rng,
            templates,
            &job.slots,
            noise,
            scenario.change,
            cfg.thresholds.min_effect_rel,
            first_provider,
        );
        let judge = |new: &[(usize, Vec<SynthBuild>)]| {
            let baseline = job.baseline(new, cfg.thresholds.min_baseline_builds);
            let new: Vec<&Vec<SynthBuild>> = new.iter().map(|(_, b)| b).collect();
            let input = series(templates, &job, &new, &baseline);
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
            if cfg.every_build {
                verdicts = hypothesis::every_build(verdicts, &input, &cfg.thresholds);
            }
            if let Some(z) = cfg.common_slowdown {
                verdicts = hypothesis::common_slowdown(verdicts, z);
            }
            verdicts
        };
        let mut new = vec![patchset_build(
            &mut rng,
            templates,
            &job,
            effect,
            first_provider,
        )];
        let first = judge(&new);
        let mut rounds = vec![first.clone()];
        while new.len() <= RECHECKS
            && rounds
                .last()
                .is_some_and(|r| r.iter().any(|v| v.kind == VerdictKind::Inconclusive))
        {
            // A recheck lands on whichever provider has a node.
            let provider = rng.below(providers) as usize;
            new.push(patchset_build(&mut rng, templates, &job, effect, provider));
            rounds.push(judge(&new));
        }
        let after_one = &rounds[rounds.len().min(2) - 1];
        let last = rounds.last().expect("the first round").clone();
        tally.patchsets += 1;
        tally.patchsets_rechecked += usize::from(rounds.len() > 1);
        tally.patchsets_rechecked_twice += usize::from(rounds.len() > 2);
        let flagged: Vec<&Verdict> = first
            .iter()
            .filter(|v| v.kind == VerdictKind::Regression)
            .collect();
        if !flagged.is_empty() {
            tally.patchsets_flagged += 1;
            tally.patchsets_flagged_right +=
                usize::from(flagged.iter().all(|v| is_target(v, effect)));
        }
        let mut false_first = false;
        tally.clean_recheck_q.push(
            first
                .iter()
                .filter(|v| !is_target(v, effect))
                .map(|v| recheck_q(v, &cfg.thresholds))
                .fold(f64::INFINITY, f64::min),
        );
        for ((v, v_one), v_last) in first.iter().zip(after_one).zip(&last) {
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
                let n = noise.on(
                    templates,
                    slot.template,
                    action_of(v),
                    slot.iterations,
                    Some(first_provider),
                );
                effect.factor.ln() / n
            });
            if *explain > 0
                && sigma.is_some_and(|s| s >= 3.0)
                && !matches!(v.kind, VerdictKind::Regression | VerdictKind::Inconclusive)
            {
                *explain -= 1;
                eprintln!(
                    "missed ({}, {:.1} σ): {}: {}",
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
                t.found_one_recheck += usize::from(v_one.kind == VerdictKind::Regression);
                match v_last.kind {
                    VerdictKind::Regression => t.found_final += 1,
                    VerdictKind::Inconclusive => {}
                    _ => t.missed_final += 1,
                }
                if let Some(s) = sigma {
                    t.shift_in_noise.push(s);
                    t.regressed_recheck_q.push((
                        v.kind == VerdictKind::Regression,
                        recheck_q(v, &cfg.thresholds),
                    ));
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

/// The job's workloads and its branch history (20–60 builds, each on a
/// random provider).
fn branch(rng: &mut Rng, templates: &[Template], change: Change) -> Job {
    let slots: Vec<Slot> = (0..templates.len())
        .flat_map(|t| std::iter::repeat_n(t, templates[t].copies))
        .map(|template| Slot {
            template,
            iterations: iteration_count(rng),
        })
        .collect();
    let length = 20 + rng.below(41) as usize;
    // The slow build is among the most recent ones, so it is in the window
    // (`run` moves it to the patchset's provider, for the narrowed one).
    let slow = match change {
        Change::SlowBaselineBuild => Some(length - 1 - rng.below(WINDOW as u64 / 2) as usize),
        _ => None,
    };
    let providers = provider_count(templates) as u64;
    let split = RunSplit::new(rng, templates);
    let mut job = Job {
        slots,
        history: Vec::with_capacity(length),
        split,
        slow,
    };
    for b in 0..length {
        let factor = if slow == Some(b) { 2.0 } else { 1.0 };
        let provider = rng.below(providers) as usize;
        let builds = branch_build(rng, templates, &job, provider, factor);
        job.history.push((provider, builds));
    }
    job
}

/// One branch build of the job's workloads on `provider`, durations × `factor`.
fn branch_build(
    rng: &mut Rng,
    templates: &[Template],
    job: &Job,
    provider: usize,
    factor: f64,
) -> Vec<SynthBuild> {
    let runs = job.split.pick(rng, false, provider);
    job.slots
        .iter()
        .map(|s| {
            let t = &templates[s.template];
            synth_build(t, rng, run_of(&runs, t), s.iterations, factor, 0.0)
        })
        .collect()
}

impl Job {
    /// The baseline of `new` as `compare::baseline_window` chooses it: the
    /// last `WINDOW` branch builds, narrowed to the new builds' provider
    /// when they all share one and the branch has at least `min_builds` of
    /// it.
    fn baseline(&self, new: &[(usize, Vec<SynthBuild>)], min_builds: usize) -> Vec<&[SynthBuild]> {
        let provider = new[0].0;
        let one_provider = new.iter().all(|(p, _)| *p == provider);
        let same = self.history.iter().filter(|(p, _)| *p == provider).count();
        let narrowed = one_provider && same >= min_builds;
        let chosen: Vec<&[SynthBuild]> = self
            .history
            .iter()
            .filter(|(p, _)| !narrowed || *p == provider)
            .map(|(_, b)| b.as_slice())
            .collect();
        let skip = chosen.len().saturating_sub(WINDOW);
        chosen[skip..].to_vec()
    }
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
    provider: usize,
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
                let sigma = noise.on(templates, s.template, 0, s.iterations, Some(provider));
                (m * sigma).exp() - 1.0 >= min_effect
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
            let sigma = noise.on(templates, slot.template, 0, slot.iterations, Some(provider));
            effect.factor = (m * sigma).exp();
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
    provider: usize,
) -> (usize, Vec<SynthBuild>) {
    let runs = job.split.pick(rng, true, provider);
    let builds = job
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let hit = effect.target == Some(i);
            let factor = if hit { effect.factor } else { 1.0 };
            let extra = if hit { effect.extra_failure } else { 0.0 };
            let t = &templates[s.template];
            synth_build(t, rng, run_of(&runs, t), s.iterations, factor, extra)
        })
        .collect();
    (provider, builds)
}

/// Series keys: `w07/<template>/<action>` for durations, `w07/<template>/failure_rate`.
fn series(
    templates: &[Template],
    job: &Job,
    new: &[&Vec<SynthBuild>],
    baseline: &[&[SynthBuild]],
) -> Vec<SeriesInput> {
    let mut out = Vec::new();
    for (i, slot) in job.slots.iter().enumerate() {
        let t = &templates[slot.template];
        for (a, action) in t.actions.iter().enumerate() {
            out.push(SeriesInput {
                series: format!("w{i:02}/{}/{a}:{action}", t.name),
                direction: Direction::LowerIsBetter,
                data: SeriesData::Samples {
                    new: new.iter().map(|b| b[i].values[a].clone()).collect(),
                    baseline: baseline.iter().map(|b| b[i].values[a].clone()).collect(),
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
                baseline: sum(&mut baseline.iter().map(|b| &b[i])),
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

/// The smallest `q_inconclusive` at which this first-build verdict would be
/// Inconclusive (∞: at none), recomputed from its numbers as
/// `regress::evidence::decide` decides: a worse shift past the band
/// (max(k_inconclusive × noise_eff, min_effect_rel × median)) that is not a
/// Regression, or a rise in failures that is not one; with too few
/// samples, at any q.
fn recheck_q(v: &Verdict, t: &Thresholds) -> f64 {
    if v.kind == VerdictKind::Regression {
        return f64::INFINITY;
    }
    // Nothing testable (e.g. no successful new iteration): always
    // Inconclusive in `decide`.
    if v.p_value.is_none() {
        return 0.0;
    }
    let shift = v.shift.unwrap_or(0.0);
    let q = v.q_value.unwrap_or(f64::INFINITY);
    if v.test == Test::FisherExact {
        return if shift > 0.0 { q } else { f64::INFINITY };
    }
    let (Some(spread), Some(base)) = (v.baseline_spread, v.baseline_median) else {
        return f64::INFINITY;
    };
    let builds = 1.0 / v.new_builds.max(1) as f64 + 1.0 / v.baseline_builds.max(1) as f64;
    let band = (t.k_inconclusive * spread * builds.sqrt()).max(t.min_effect_rel * base.abs());
    if shift <= 0.0 || shift < band {
        return f64::INFINITY;
    }
    let once_per_build =
        v.n_new as usize == v.new_builds && v.n_baseline as usize == v.baseline_builds;
    let too_few = (v.n_new as usize) < t.min_new_samples && !once_per_build
        || v.baseline_builds < t.min_baseline_builds;
    if too_few { 0.0 } else { q }
}
