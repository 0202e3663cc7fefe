//! Detection quality on the **held-out** real Rally runs
//! (`tests/fixtures/rally/heldout/`, never tuned on): the evaluation behind
//! `tests/bench/detection` (`analysis/examples/eval_detection`) with 2,000
//! clean patchsets, enough to guard a rate of 1 false Regression in 100,
//! fewer changed ones, and Apache Otava 0.8.0 on the same post-merge
//! histories when its venv is there (`PERFKIT_OTAVA_PYTHON`, made by
//! `tests/run`). The full tables, both sets and their reading:
//! `tests/bench/detection.md`.
//!
//! Goals met on the held-out set are asserted as the issue states them.
//! Goals not met yet are asserted at today's held-out figures plus a small
//! margin, so a change that makes them worse fails; the bounds say which
//! goal each stands for, and move to the goal once it is met.

#[allow(dead_code)] // the example's printing helpers are not all used here
#[path = "../examples/eval_detection/eval/mod.rs"]
mod eval;

use std::sync::OnceLock;

use eval::table::{Figures, figures, render};
use eval::{Config, DataSet, evaluate};

/// The held-out run, once for all tests.
fn heldout() -> &'static (Figures, String) {
    static RUN: OnceLock<(Figures, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let cfg = Config::quick();
        assert_eq!(cfg.set, DataSet::HeldOut);
        assert!(cfg.clean_patchsets >= 2000);
        let report = evaluate(&cfg).expect("the held-out fixtures load");
        if std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() == Ok("1")
            && let Err(why) = &report.otava
        {
            panic!("Apache Otava must run here (PERFKIT_REQUIRE_TOOLS): {why}");
        }
        (figures(&report), render(&report))
    })
}

#[test]
fn the_goals_rest_on_enough_cases() {
    let (f, _) = heldout();
    let c = f.counts;
    assert!(c.clean_patchsets >= 2000, "{c:?}");
    assert!(c.regressed_5s >= 200 && c.regressed_4s >= 300, "{c:?}");
    assert!(c.failure_rises >= 40 && c.failure_clean >= 40, "{c:?}");
    assert!(c.outliers >= 90, "{c:?}");
}

#[test]
fn met_goals_hold_on_held_out_noise() {
    let (f, table) = heldout();
    println!("{table}");
    assert!(
        f.missed_5s <= 0.05 && f.worst_missed_5s.0 <= 0.05,
        "shifts >= 5 sigma missed on the first build: {:.3} (worst bucket {}: {:.3})",
        f.missed_5s,
        f.worst_missed_5s.1,
        f.worst_missed_5s.0
    );
    assert!(
        f.not_regression_4s_final <= 0.10 && f.worst_not_regression_4s_final.0 <= 0.10,
        "shifts >= 4 sigma not a Regression after two rechecks: {:.3}",
        f.not_regression_4s_final
    );
    assert!(
        f.median_delay_3s.is_some_and(|d| d <= 5),
        "median change-point delay for steps >= 3 sigma: {:?}",
        f.median_delay_3s
    );
    assert!(
        f.config_alarms <= 0.05,
        "config changes gave other change points in {:.1} % of histories",
        100.0 * f.config_alarms
    );
    assert!(
        f.outlier_alarms <= 0.05,
        "single outlier builds gave change points in {:.3} of histories",
        f.outlier_alarms
    );
    assert!(
        f.failure_found_by_10 >= 0.9 && f.failure_false_alarms <= 0.02,
        "failure-rate rises found by the 10th build: {:.3}, false alarms {:.3}",
        f.failure_found_by_10,
        f.failure_false_alarms
    );
}

#[test]
fn perfkit_beats_otava_where_the_goal_is_met() {
    let (f, _) = heldout();
    let Some(o) = f.otava else {
        eprintln!("Apache Otava not run (no venv): comparison skipped");
        return;
    };
    assert!(
        o.f1.0 >= o.f1.1,
        "F1: perfkit {:.3}, Otava {:.3}",
        o.f1.0,
        o.f1.1
    );
    assert!(
        o.clean_alarms.0 <= o.clean_alarms.1,
        "clean histories alarmed: perfkit {:.3}, Otava {:.3}",
        o.clean_alarms.0,
        o.clean_alarms.1
    );
}

/// Unmet goals, at today's held-out figures (quick run, seed 4) plus a
/// margin: see `tests/bench/detection.md` for why each is missed.
#[test]
fn unmet_goals_do_not_get_worse() {
    let (f, _) = heldout();
    // Goal ≤ 1 per 100; measured 2.20.
    assert!(
        f.false_per_100_clean <= FALSE_PER_100_AT_MOST,
        "false regressions per 100 clean patchsets: {:.2}",
        f.false_per_100_clean
    );
    // Goal ≥ 90 %; measured 44.7 %.
    let [_, (_, p10), _] = f.precision_mix;
    assert!(
        p10 >= PRECISION_1_IN_10_AT_LEAST,
        "precision at 1 in 10: {p10:.3}"
    );
    // Goal ≤ 10 %; measured 16.7 %.
    assert!(
        f.clean_rechecked <= CLEAN_RECHECKED_AT_MOST,
        "clean patchsets asked for a recheck: {:.3}",
        f.clean_rechecked
    );
    // Goal: ≤ Otava's (1 build); perfkit waits for 4–5 builds on purpose
    // (tests/bench/detection.md, "Otava's delay").
    if let Some(o) = f.otava {
        assert!(
            o.median_delay.0.is_some_and(|d| d <= 5),
            "median delay: perfkit {:?}",
            o.median_delay.0
        );
    }
}

const FALSE_PER_100_AT_MOST: f64 = 3.0;
const PRECISION_1_IN_10_AT_LEAST: f64 = 0.38;
const CLEAN_RECHECKED_AT_MOST: f64 = 0.20;

#[test]
fn the_evaluation_is_deterministic() {
    let tiny = Config {
        set: DataSet::Tuning,
        patchsets: 6,
        clean_patchsets: 6,
        histories: 3,
        otava: false,
        ..Config::quick()
    };
    let once = render(&evaluate(&tiny).unwrap());
    let twice = render(&evaluate(&tiny).unwrap());
    assert_eq!(once, twice);
    assert!(once.contains("| noise/http-lognormal |"), "{once}");
}
