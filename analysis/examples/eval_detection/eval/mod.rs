//! Detection quality measured on real noise (issue 4, part 2): synthetic
//! branch histories and patchsets resampled from real Rally runs, with
//! injected changes, judged by `perfkit_analysis::regress`. Shared by the
//! `eval_detection` example (the full table) and the `detection_quality`
//! test (a reduced run that asserts the goals).

pub mod hypothesis;
pub mod noise;
pub mod otava;
pub mod postmerge;
pub mod premerge;
pub mod table;

use std::path::Path;

use perfkit_analysis::regress::changepoint::ChangePointConfig;
use perfkit_analysis::regress::rng::Rng;
use perfkit_analysis::regress::verdict::Thresholds;

use noise::{NoiseTable, Template};

/// Which real runs the synthetic builds are resampled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSet {
    /// `noise/` and `history/`: the runs the rule was tuned on.
    Tuning,
    /// `heldout/`: other servers, latency shapes, two providers, bursty
    /// neighbours; never used to tune (guarded in CI).
    HeldOut,
}

impl DataSet {
    pub fn label(self) -> &'static str {
        match self {
            DataSet::Tuning => "tuning set (noise/, history/)",
            DataSet::HeldOut => "held-out set (heldout/, never tuned on)",
        }
    }
}

/// How much to simulate, and with which settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub set: DataSet,
    /// Patchsets per injected-change row.
    pub patchsets: usize,
    /// Clean patchsets (the false-regression goal is per 20 of these).
    pub clean_patchsets: usize,
    /// Histories per post-merge row.
    pub histories: usize,
    pub thresholds: Thresholds,
    pub changepoints: ChangePointConfig,
    /// False regression verdicts to describe on stderr.
    pub explain: usize,
    /// Hypotheses, not production: see `hypothesis`.
    pub tail_guard: bool,
    pub noise_p_only: bool,
    pub own_spread: bool,
    /// `hypothesis::common_slowdown` at this median z (None: off).
    pub common_slowdown: Option<f64>,
    /// Run Apache Otava on the post-merge histories (`otava`).
    pub otava: bool,
    /// `hypothesis::every_build`.
    pub every_build: bool,
}

impl Config {
    /// The table printed by `tests/bench/detection`.
    pub fn full() -> Config {
        Config {
            seed: 4,
            set: DataSet::Tuning,
            patchsets: 300,
            clean_patchsets: 4000,
            histories: 120,
            thresholds: Thresholds::default(),
            changepoints: ChangePointConfig::default(),
            explain: 0,
            tail_guard: false,
            noise_p_only: false,
            own_spread: false,
            common_slowdown: None,
            otava: true,
            every_build: false,
        }
    }

    /// What the cargo test asserts on (held-out set): enough clean
    /// patchsets (2,000) to guard a rate of 1 in 100, fewer changed ones.
    pub fn quick() -> Config {
        Config {
            set: DataSet::HeldOut,
            patchsets: 80,
            clean_patchsets: 2000,
            histories: 48,
            ..Config::full()
        }
    }
}

/// Tallies for the series whose injected shift, in units of the series'
/// true σ (ln factor / σ, `noise::log_sigma`), is in `[lo, hi)` and at
/// least the detector's floor relative to the median (2 %); `below_floor`
/// collects the smaller shifts, which the detector never reports by design,
/// whatever their size in σ.
#[derive(Debug, Clone)]
pub struct Bucket<T> {
    pub name: &'static str,
    pub lo: f64,
    pub hi: f64,
    pub below_floor: bool,
    pub tally: T,
}

impl<T> Bucket<T> {
    pub fn contains(&self, shift_in_noise: f64, relative_shift: f64, floor: f64) -> bool {
        if self.below_floor {
            relative_shift < floor
        } else {
            relative_shift >= floor && (self.lo..self.hi).contains(&shift_in_noise)
        }
    }
}

/// The σ buckets; the last three (≥ 3, 4, 5 σ) overlap the others and are
/// the ones the goals are about (`bucket_from`).
pub fn buckets<T: Default>() -> Vec<Bucket<T>> {
    [
        ("shift < 2 % (never reported, by design)", 0.0, 0.0, true),
        ("< 1 σ", 0.0, 1.0, false),
        ("1–2 σ", 1.0, 2.0, false),
        ("2–3 σ", 2.0, 3.0, false),
        ("3–4 σ", 3.0, 4.0, false),
        ("4–5 σ", 4.0, 5.0, false),
        ("5–10 σ", 5.0, 10.0, false),
        ("≥ 10 σ", 10.0, f64::INFINITY, false),
        ("all ≥ 3 σ", 3.0, f64::INFINITY, false),
        ("all ≥ 4 σ", 4.0, f64::INFINITY, false),
        ("all ≥ 5 σ", 5.0, f64::INFINITY, false),
    ]
    .into_iter()
    .map(|(name, lo, hi, below_floor)| Bucket {
        name,
        lo,
        hi,
        below_floor,
        tally: T::default(),
    })
    .collect()
}

/// The bucket of shifts ≥ `lo` σ (the aggregate rows at the end).
pub fn bucket_from<T>(buckets: &[Bucket<T>], lo: f64) -> &Bucket<T> {
    buckets
        .iter()
        .find(|b| {
            !b.below_floor && b.lo == lo && b.hi == f64::INFINITY && b.name.starts_with("all")
        })
        .expect("an aggregate bucket")
}

/// Iterations a workload's task file runs: 4 in 55 % of workloads (the
/// OpenStack CI median), else 5, 6, 8 or 10.
pub fn iteration_count(rng: &mut Rng) -> usize {
    const COUNTS: [usize; 20] = [
        4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 6, 6, 8, 8, 10, 10, 10,
    ];
    COUNTS[rng.below(COUNTS.len() as u64) as usize]
}

/// Everything the tables are printed from.
pub struct Report {
    pub config: Config,
    pub templates: Vec<Template>,
    pub noise: NoiseTable,
    pub premerge: Vec<(premerge::Scenario, premerge::Tally)>,
    pub premerge_buckets: Vec<Bucket<premerge::Tally>>,
    pub postmerge: Vec<(postmerge::Scenario, postmerge::Tally)>,
    pub postmerge_buckets: Vec<Bucket<postmerge::Tally>>,
    /// perfkit beside Apache Otava, or why it was not run.
    pub otava: Result<otava::Comparison, String>,
}

pub fn premerge_scenarios(cfg: &Config) -> Vec<premerge::Scenario> {
    use premerge::Change::*;
    let n = cfg.patchsets;
    [
        ("clean", None, cfg.clean_patchsets),
        ("clean, one baseline build 2× slow", SlowBaselineBuild, n),
        ("+5 %", Slower(1.05), n),
        ("+10 %", Slower(1.10), n),
        ("+25 %", Slower(1.25), n),
        ("+50 %", Slower(1.50), n),
        ("2×", Slower(2.0), n),
        ("+3 σ", SlowerInNoise(3.0), n),
        ("+4 σ", SlowerInNoise(4.0), n),
        ("+5 σ", SlowerInNoise(5.0), n),
        ("+6 σ", SlowerInNoise(6.0), n),
        ("+8 σ", SlowerInNoise(8.0), n),
        (
            "failures +25 pp (a workload that fails now and then)",
            FailureRise {
                extra: 0.25,
                already_failing: true,
            },
            n,
        ),
        (
            "failures 0 → 25 %",
            FailureRise {
                extra: 0.25,
                already_failing: false,
            },
            n,
        ),
        (
            "failures 0 → 50 %",
            FailureRise {
                extra: 0.5,
                already_failing: false,
            },
            n,
        ),
    ]
    .into_iter()
    .map(|(name, change, patchsets)| premerge::Scenario {
        name: name.to_string(),
        change,
        patchsets,
    })
    .collect()
}

pub fn postmerge_scenarios(cfg: &Config) -> Vec<postmerge::Scenario> {
    use postmerge::Change::*;
    [
        ("clean (20–60 builds)", None),
        ("step +5 %", Step(1.05)),
        ("step +10 %", Step(1.10)),
        ("step +25 %", Step(1.25)),
        ("step +50 %", Step(1.50)),
        ("step 2×", Step(2.0)),
        ("step +3 σ", StepInNoise(3.0)),
        ("step +4 σ", StepInNoise(4.0)),
        ("step +6 σ", StepInNoise(6.0)),
        ("single outlier build 2×", Outlier(2.0)),
        ("single outlier build 3×", Outlier(3.0)),
        ("creep +1 %/build", Creep(0.01)),
        ("failure rate 0 → 25 % (counts)", FailureRise(0.25)),
        (
            "failure rate, clean (workloads that fail now and then)",
            FailuresClean,
        ),
        ("config change, same level", Config(1.0)),
        ("config change, 2× slower", Config(2.0)),
    ]
    .into_iter()
    .map(|(name, change)| postmerge::Scenario {
        name: name.to_string(),
        change,
        histories: cfg.histories,
    })
    .collect()
}

/// The fixture directory of the repository (`tests/fixtures/rally`).
pub fn fixtures_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rally")
}

/// Loads the real noise and runs every scenario.
pub fn evaluate(cfg: &Config) -> Result<Report, String> {
    let sources = match cfg.set {
        DataSet::Tuning => noise::default_sources(&fixtures_dir()),
        DataSet::HeldOut => noise::heldout_sources(&fixtures_dir()),
    };
    let templates = noise::load(&sources)?;
    let mut noise = NoiseTable::default();
    let mut premerge_buckets = buckets();
    let mut explain = cfg.explain;
    let premerge = premerge_scenarios(cfg)
        .into_iter()
        .enumerate()
        .map(|(row, s)| {
            let t = premerge::run(
                &s,
                row as u64,
                cfg,
                &templates,
                &mut noise,
                &mut explain,
                &mut premerge_buckets,
            );
            (s, t)
        })
        .collect();
    let mut postmerge_buckets = buckets();
    let postmerge: Vec<(postmerge::Scenario, postmerge::Tally)> = postmerge_scenarios(cfg)
        .into_iter()
        .enumerate()
        .map(|(row, s)| {
            let t = postmerge::run(
                &s,
                row as u64,
                cfg.seed,
                &templates,
                &mut noise,
                &cfg.changepoints,
                &mut postmerge_buckets,
            );
            (s, t)
        })
        .collect();
    let otava = match (cfg.otava, otava::find_python()) {
        (false, _) => Err("not run (--no-otava)".to_string()),
        (true, None) => Err("not run: no Otava venv (set PERFKIT_OTAVA_PYTHON, or let \
                             tests/run create target/venvs/otava)"
            .to_string()),
        (true, Some(python)) => otava::compare(&postmerge, cfg.changepoints.min_segment, &python),
    };
    Ok(Report {
        otava,
        config: cfg.clone(),
        templates,
        noise,
        premerge,
        premerge_buckets,
        postmerge,
        postmerge_buckets,
    })
}
