//! Detection quality on real Rally noise: prints precision, recall, missed
//! regressions, false regressions per 100 clean patchsets, inconclusive rate
//! and change-point delay by scenario and by shift in units of noise, and
//! whether each goal of the issue is met. Run by `tests/bench/detection`:
//!
//!   cargo run -p perfkit-analysis --example eval_detection -- [options]
//!
//! Options:
//!   --quick                 the reduced run of `analysis/tests/detection_quality.rs`
//!   --data SET              tuning, heldout or both (default tuning: the set rules are
//!                           chosen on; name the held-out set to see it)
//!   --seed N                RNG seed (default 4)
//!   --patchsets N           patchsets per injected change (clean: twice as many)
//!   --clean N               clean patchsets (default 4,000)
//!   --histories N           histories per post-merge row
//!   --no-otava              skip Apache Otava (run by default when its venv exists:
//!                           PERFKIT_OTAVA_PYTHON or target/venvs/otava)
//!   --set NAME=VALUE        override a `Thresholds` or `ChangePointConfig` field,
//!                           e.g. --set k_regression=2.5 --set min_shift_noise=1.5
//!   --explain N             describe the first N false regression verdicts on stderr
//!   --tail-guard            hypothesis, not production: a duration Regression whose
//!                           new median is within the baseline builds' range is
//!                           Inconclusive instead
//!   --noise-p-only          hypothesis, not production: duration series decided on
//!                           the noise t-test's p alone (no Mann–Whitney cap)
//!   --own-spread            hypothesis, not production: a duration Regression must
//!                           also clear k × √(noise² + se²), se the standard error
//!                           of the new builds' own median
//!   --check                 exit 1 when a goal is missed on the held-out set
//!
//! The output is deterministic (the same table every run); the run time
//! goes to stderr.

#[allow(dead_code)] // items only the cargo test uses
mod eval;

use std::process::ExitCode;
use std::time::Instant;

use eval::{Config, DataSet};

fn main() -> ExitCode {
    let started = Instant::now();
    let (cfg, check, sets) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("eval_detection: {message}");
            return ExitCode::from(2);
        }
    };
    let mut reports = Vec::new();
    for set in sets {
        match eval::evaluate(&Config { set, ..cfg.clone() }) {
            Ok(report) => {
                println!("{}", eval::table::render(&report));
                reports.push(report);
            }
            Err(message) => {
                eprintln!("eval_detection: {message}");
                return ExitCode::from(2);
            }
        }
    }
    if reports.len() > 1 {
        print!(
            "# Both sets\n\n{}",
            eval::table::render_goals(&reports.iter().collect::<Vec<_>>())
        );
    }
    eprintln!("eval_detection: {:.1} s", started.elapsed().as_secs_f64());
    // --check judges the held-out set when it ran (the tuning set is not
    // where a rule proves itself), else the set that ran.
    let judged = reports.last().expect("at least one set");
    let missed = eval::table::goals(&eval::table::figures(judged))
        .iter()
        .any(|g| !g.met);
    if check && missed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn parse_args(
    mut args: impl Iterator<Item = String>,
) -> Result<(Config, bool, Vec<DataSet>), String> {
    let mut cfg = Config::full();
    let mut check = false;
    // Tuning only unless asked: a grid of --set runs must not show the
    // held-out figures it is not allowed to be chosen on.
    let mut sets = vec![DataSet::Tuning];
    let mut overrides = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--quick" => {
                let seed = cfg.seed;
                cfg = Config {
                    seed,
                    ..Config::quick()
                };
            }
            "--data" => {
                sets = match value("--data")?.as_str() {
                    "tuning" => vec![DataSet::Tuning],
                    "heldout" => vec![DataSet::HeldOut],
                    "both" => vec![DataSet::Tuning, DataSet::HeldOut],
                    other => {
                        return Err(format!(
                            "--data takes tuning, heldout or both, not `{other}`"
                        ));
                    }
                }
            }
            "--seed" => cfg.seed = number(&value("--seed")?)?,
            "--patchsets" => {
                cfg.patchsets = number(&value("--patchsets")?)?;
                cfg.clean_patchsets = 2 * cfg.patchsets;
            }
            "--clean" => cfg.clean_patchsets = number(&value("--clean")?)?,
            "--no-otava" => cfg.otava = false,
            "--every-build" => cfg.every_build = true,
            "--histories" => cfg.histories = number(&value("--histories")?)?,
            "--set" => overrides.push(value("--set")?),
            "--check" => check = true,
            "--tail-guard" => cfg.tail_guard = true,
            "--noise-p-only" => cfg.noise_p_only = true,
            "--own-spread" => cfg.own_spread = true,
            "--common-slowdown" => {
                cfg.common_slowdown = Some(number(&value("--common-slowdown")?)?)
            }
            "--explain" => cfg.explain = number(&value("--explain")?)?,
            "-h" | "--help" => {
                println!("{}", HELP.trim());
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    for o in overrides {
        set(&mut cfg, &o)?;
    }
    Ok((cfg, check, sets))
}

const HELP: &str = "
usage: eval_detection [--quick] [--data tuning|heldout|both] [--seed N] [--patchsets N] [--clean N] [--histories N] [--no-otava]
                      [--set NAME=VALUE]... [--explain N] [--tail-guard]
                      [--noise-p-only] [--own-spread] [--check]
NAME: q_max, q_inconclusive, k_regression, k_inconclusive, min_effect_rel,
      noise_floor_rel, min_new_samples, min_baseline_builds, min_new_failures
      (verdict thresholds); cp_window, cp_min_segment, cp_p_value,
      cp_weak_p_value, cp_permutations, cp_min_magnitude, min_shift_noise
      (change points)";

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: `{text}`"))
}

fn set(cfg: &mut Config, assignment: &str) -> Result<(), String> {
    let (name, text) = assignment
        .split_once('=')
        .ok_or(format!("--set wants NAME=VALUE, got `{assignment}`"))?;
    let t = &mut cfg.thresholds;
    let c = &mut cfg.changepoints;
    match name {
        "q_max" => t.q_max = number(text)?,
        "q_inconclusive" => t.q_inconclusive = number(text)?,
        "k_regression" => t.k_regression = number(text)?,
        "k_inconclusive" => t.k_inconclusive = number(text)?,
        "min_effect_rel" => t.min_effect_rel = number(text)?,
        "noise_floor_rel" => t.noise_floor_rel = number(text)?,
        "min_new_samples" => t.min_new_samples = number(text)?,
        "min_baseline_builds" => t.min_baseline_builds = number(text)?,
        "min_new_failures" => t.min_new_failures = number(text)?,
        "cp_window" => c.window = number(text)?,
        "cp_min_segment" => c.min_segment = number(text)?,
        "cp_p_value" => c.p_value = number(text)?,
        "cp_weak_p_value" => c.weak_p_value = number(text)?,
        "cp_permutations" => c.permutations = number(text)?,
        "cp_min_magnitude" => c.min_magnitude = number(text)?,
        "min_shift_noise" => c.min_shift_noise = number(text)?,
        _ => return Err(format!("unknown setting `{name}` (try --help)")),
    }
    Ok(())
}
