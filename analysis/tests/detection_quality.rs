//! Detection quality on real Rally noise, reduced (issue 4, part 2): the
//! evaluation behind `tests/bench/detection` (`analysis/examples/eval_detection`)
//! on fewer patchsets and histories, so a change of `regress` thresholds or
//! method that breaks a goal fails CI. The full table and its reading:
//! `tests/bench/detection.md`.

#[allow(dead_code)] // the example's printing helpers are not all used here
#[path = "../examples/eval_detection/eval/mod.rs"]
mod eval;

use std::sync::OnceLock;

use eval::table::{Figures, figures, render};
use eval::{Config, evaluate};

/// The reduced evaluation, run once for all tests (~5 s in the dev profile).
fn quick() -> &'static (Figures, String) {
    static QUICK: OnceLock<(Figures, String)> = OnceLock::new();
    QUICK.get_or_init(|| {
        let report = evaluate(&Config::quick()).expect("the noise fixtures load");
        (figures(&report), render(&report))
    })
}

#[test]
fn detection_goals_hold_on_real_noise() {
    let (f, table) = quick();
    println!("{table}");
    // Goals of the issue that the current thresholds meet.
    assert!(
        f.false_per_20_clean <= 1.0,
        "false regressions per 20 clean patchsets: {:.2}",
        f.false_per_20_clean
    );
    assert!(
        f.median_delay_3x.is_some_and(|d| d <= 5),
        "median change-point delay for steps >= 3 x noise: {:?}",
        f.median_delay_3x
    );
    assert!(
        f.outlier_alarms <= 0.05,
        "single outlier builds gave change points in {:.1} % of histories",
        100.0 * f.outlier_alarms
    );
    assert!(
        f.config_alarms <= 0.05,
        "config changes gave other change points in {:.1} % of histories",
        100.0 * f.config_alarms
    );
}

#[test]
fn verdicts_are_precise() {
    let (f, _) = quick();
    // Full run 92.5 %, quick run 95.8 %, since a regression must also clear
    // the new builds' own spread (regress::evidence).
    assert!(f.precision >= 0.90, "precision {:.3}", f.precision);
}

/// One goal is not met and cannot be with one build per patchset: <= 5 %
/// missed at >= 3 x noise. A 3 x noise shift measured with the noise of a
/// single new build falls under any floor that keeps clean patchsets quiet
/// about a third of the time (tests/bench/detection.md, "Why"). Until the
/// goal is restated, this floor sits above today's figure (quick run 19.1 %
/// missed, full run 21.2 %) so that a change that makes it worse fails.
#[test]
fn misses_do_not_get_worse() {
    let (f, _) = quick();
    assert!(
        f.missed_3x <= 0.22,
        "missed at >= 3 x noise {:.3}",
        f.missed_3x
    );
}

#[test]
fn the_evaluation_is_deterministic() {
    let tiny = Config {
        patchsets: 6,
        clean_patchsets: 6,
        histories: 3,
        ..Config::quick()
    };
    let once = render(&evaluate(&tiny).unwrap());
    let twice = render(&evaluate(&tiny).unwrap());
    assert_eq!(once, twice);
    let row = "| noise/http-lognormal | total, requests.check_request | 2× | 20 | 200 |";
    assert!(once.contains(row), "{once}");
}
