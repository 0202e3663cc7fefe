use super::Metric;
use super::compare::{BASELINE_WINDOW, Comparer, PLOT_VALUES_PER_BUILD, Status, compare};
use super::trend::{TrendStatus, trends};
use crate::regress::changepoint::ChangeKind;
use crate::regress::verdict::Thresholds;
use perfkit_schema::records::{ArchivedBuild, BuildMeta, BuildRecord, SeriesRow};
use perfkit_schema::{ArchiveKey, BuildId, ProjectName};

/// Deterministic noise in [-1, 1].
fn wobble(seed: usize) -> f64 {
    (((seed * 7919 + 13) % 1000) as f64 / 500.0) - 1.0
}

struct Spec<'a> {
    change: u64,
    patchset: u32,
    pipeline: &'a str,
    job: &'a str,
    branch: &'a str,
    provider: Option<&'a str>,
    hour: i64,
    level: f64,
    failed: u64,
    config: &'a str,
}

fn spec(hour: i64, level: f64) -> Spec<'static> {
    Spec {
        change: 0,
        patchset: 0,
        pipeline: "periodic",
        job: "rally",
        branch: "master",
        provider: None,
        hour,
        level,
        failed: 0,
        config: "cfg1",
    }
}

fn build(s: Spec) -> ArchivedBuild {
    let id = format!("b{}-{}-{}-{}", s.hour, s.change, s.patchset, s.job);
    let durations: Vec<f64> = (0..6)
        .map(|i| s.level * (1.0 + 0.02 * wobble(s.hour as usize * 10 + i)))
        .collect();
    let row = |action: &str, scale: f64| SeriesRow {
        workload_key: "wk1".into(),
        workload_index: 0,
        config_hash: s.config.into(),
        scenario: "Nova.boot".into(),
        subtask_title: "boot".into(),
        action: action.into(),
        depth: u8::from(action != "total"),
        samples: 6,
        failed: s.failed,
        durations_s: durations.iter().map(|d| d * scale).collect(),
        load_duration_s: (action == "total").then_some(6.0),
        pass_sla: s.failed == 0,
        ..SeriesRow::default()
    };
    ArchivedBuild {
        record: BuildRecord {
            key: ArchiveKey {
                project: ProjectName::try_from("openstack/nova").unwrap(),
                change: s.change,
                patchset: s.patchset,
                build: BuildId::try_from(id.as_str()).unwrap(),
            },
            meta: BuildMeta {
                change: (s.change > 0).then_some(s.change),
                patchset: (s.change > 0).then_some(s.patchset),
                pipeline: Some(s.pipeline.into()),
                job: Some(s.job.into()),
                branch: Some(s.branch.into()),
                node_provider: s.provider.map(str::to_string),
                log_url: Some(format!("https://logs.example.org/{id}/")),
                ..BuildMeta::default()
            },
            source_format: "rally-v2".into(),
            source_format_version: Some("1.2".into()),
            tool_version: None,
            source_file: "report.json".into(),
            source_sha256: String::new(),
            source_bytes: 0,
            task_count: 1,
            task_statuses: vec!["finished".into()],
            workload_count: 1,
            iteration_count: 6,
            failed_iteration_count: s.failed,
            pass_sla: s.failed == 0,
            started_at_us: Some(1_700_000_000_000_000 + s.hour * 3_600_000_000),
            finished_at_us: None,
            ingested_at_us: 0,
            perfkit_version: "test".into(),
            failure: None,
        },
        series: vec![row("total", 1.0), row("nova.boot_server", 0.8)],
    }
}

fn history(n: i64, level: f64) -> Vec<ArchivedBuild> {
    (0..n).map(|h| build(spec(h, level))).collect()
}

fn check(change: u64, patchset: u32, hour: i64, level: f64) -> Spec<'static> {
    Spec {
        change,
        patchset,
        pipeline: "check",
        ..spec(hour, level)
    }
}

#[test]
fn a_slower_patchset_is_a_regression_with_its_numbers() {
    let mut builds = history(20, 1.0);
    builds.push(build(check(42, 1, 100, 1.5)));
    let c = compare(&builds, 42, 1).unwrap();
    assert_eq!(c.builds.len(), 1);
    assert_eq!(c.baseline.len(), 20);
    assert!(c.has_regression());
    let total = c
        .series
        .iter()
        .find(|s| s.label.action == "total" && s.metric == Metric::Duration)
        .unwrap();
    assert_eq!(total.status, Status::Regression);
    let v = total.verdict.as_ref().unwrap();
    assert!((v.change_pct.unwrap() - 50.0).abs() < 5.0, "{v:?}");
    assert_eq!((v.n_new, v.n_baseline), (6, 120));
    assert!(v.q_value.unwrap() < 0.05);
    assert!(c.series.iter().all(|s| s.status == Status::Regression));
}

#[test]
fn a_clean_patchset_is_no_change_and_rechecks_pool() {
    let mut builds = history(20, 1.0);
    builds.push(build(check(42, 2, 100, 1.0)));
    builds.push(build(check(42, 2, 101, 1.0)));
    builds.push(build(check(42, 1, 99, 3.0))); // another patchset: ignored
    let c = compare(&builds, 42, 2).unwrap();
    assert_eq!(c.builds.len(), 2);
    assert!(!c.has_regression());
    let v = c.series[0].verdict.as_ref().unwrap();
    assert_eq!((v.n_new, v.new_builds), (12, 2));
    assert!(
        c.series.iter().all(|s| s.status == Status::NoChange),
        "{:?}",
        c.series
    );
}

#[test]
fn the_baseline_is_the_same_job_and_branch_before_the_patchset() {
    let mut builds = history(40, 1.0);
    builds.push(build(Spec {
        job: "other",
        ..spec(50, 9.0)
    }));
    builds.push(build(Spec {
        branch: "stable/2025.1",
        ..spec(51, 9.0)
    }));
    builds.push(build(check(7, 1, 52, 9.0))); // another change's check build
    let mut merged = build(Spec {
        change: 8,
        patchset: 1,
        pipeline: "gate",
        ..spec(53, 1.0)
    });
    merged.record.meta.zuul_result = Some("SUCCESS".into());
    merged.record.meta.zuul_buildset_result = Some("SUCCESS".into());
    builds.push(merged);
    // A later gate build whose change failed to merge: never a baseline.
    let mut failed = build(Spec {
        change: 9,
        patchset: 1,
        pipeline: "gate",
        ..spec(54, 9.0)
    });
    failed.record.meta.zuul_result = Some("SUCCESS".into());
    failed.record.meta.zuul_buildset_result = Some("MERGE_FAILURE".into());
    builds.push(failed);
    builds.push(build(spec(500, 9.0))); // after the patchset ran
    builds.push(build(check(42, 1, 100, 1.0)));
    let c = compare(&builds, 42, 1).unwrap();
    assert_eq!(c.baseline.len(), BASELINE_WINDOW);
    let newest = c.baseline.last().unwrap();
    assert_eq!(
        (newest.change, newest.pipeline.as_deref()),
        (8, Some("gate"))
    );
    assert!(c.baseline.iter().all(|b| b.job.as_deref() == Some("rally")
        && b.branch.as_deref() == Some("master")
        && b.time_us < c.builds[0].time_us));
    assert!(!c.has_regression());
}

/// A recheck that never ran (NODE_FAILURE, no start time) measured
/// nothing and has no time but when it was archived: it must not move the
/// patchset's baseline to the branch builds after the patchset ran, which
/// would change its verdict with every later branch build.
#[test]
fn a_build_that_measured_nothing_does_not_move_the_baseline() {
    // Branch builds before the patchset ran and after it.
    let mut builds = history(40, 1.0);
    builds.push(build(check(42, 1, 20, 1.0)));
    let before = compare(&builds, 42, 1).unwrap();
    let mut never_ran = build(check(42, 1, 21, 1.0));
    never_ran.record = BuildRecord {
        ingested_at_us: 1_700_000_000_000_000 + 1_000 * 3_600_000_000,
        ..BuildRecord::nothing_measured(
            never_ran.record.key.clone(),
            never_ran.record.meta.clone(),
            "none".into(),
        )
    };
    never_ran.series.clear();
    builds.push(never_ran);
    let after = compare(&builds, 42, 1).unwrap();
    assert!(
        after
            .baseline
            .iter()
            .all(|b| b.time_us <= before.builds[0].time_us),
        "{:?}",
        after.baseline.last()
    );
    assert_eq!(after.baseline.len(), before.baseline.len());
}

#[test]
fn the_same_provider_is_preferred_when_it_has_enough_builds() {
    let mut builds: Vec<ArchivedBuild> = (0..20)
        .map(|h| {
            build(Spec {
                provider: Some(if h % 2 == 0 { "rax" } else { "ovh" }),
                ..spec(h, 1.0)
            })
        })
        .collect();
    builds.push(build(Spec {
        provider: Some("ovh"),
        ..check(42, 1, 100, 1.0)
    }));
    let c = compare(&builds, 42, 1).unwrap();
    assert!(c.same_provider);
    assert_eq!(c.baseline.len(), 10);
    assert!(
        c.baseline
            .iter()
            .all(|b| b.node_provider.as_deref() == Some("ovh"))
    );
}

#[test]
fn config_changes_and_new_series_are_not_verdicts() {
    let mut builds = history(20, 1.0);
    builds.push(build(Spec {
        config: "cfg2",
        ..check(42, 1, 100, 3.0)
    }));
    let c = compare(&builds, 42, 1).unwrap();
    assert!(!c.has_regression());
    assert!(
        c.series
            .iter()
            .all(|s| s.status == Status::ConfigChanged && s.verdict.is_none())
    );

    let c = compare(&[build(check(43, 1, 1, 1.0))], 43, 1).unwrap();
    assert!(c.baseline.is_empty());
    assert!(c.series.iter().all(|s| s.status == Status::NoBaseline));
    assert_eq!(compare(&builds, 99, 1), None);
}

#[test]
fn failures_get_their_own_series() {
    let mut builds = history(20, 1.0);
    builds.push(build(Spec {
        failed: 4,
        ..check(42, 1, 100, 1.0)
    }));
    let c = compare(&builds, 42, 1).unwrap();
    let failures: Vec<_> = c
        .series
        .iter()
        .filter(|s| s.metric == Metric::FailureRate)
        .collect();
    assert_eq!(failures.len(), 2);
    assert!(
        failures.iter().all(|s| s.status == Status::Regression),
        "{failures:?}"
    );
}

#[test]
fn flagged_series_come_with_the_values_they_were_judged_on() {
    let mut builds = history(20, 1.0);
    builds.push(build(Spec {
        failed: 4,
        ..check(42, 1, 100, 1.5)
    }));
    builds.push(build(check(42, 1, 101, 1.5)));
    let comparer = Comparer::new(&builds);
    let (c, samples) = comparer
        .compare_with_samples(42, 1, &Thresholds::default())
        .unwrap();
    assert_eq!(Some(&c), compare(&builds, 42, 1).as_ref());
    let flagged: Vec<(&str, Metric)> = c
        .series
        .iter()
        .filter(|s| crate::report::is_flagged(s.status))
        .map(|s| (s.id.as_str(), s.metric))
        .collect();
    let plotted: Vec<(&str, Metric)> = samples.iter().map(|s| (s.id.as_str(), s.metric)).collect();
    assert_eq!(plotted, flagged);
    assert!(
        plotted.iter().any(|(_, m)| *m == Metric::FailureRate),
        "{plotted:?}"
    );
    for s in &samples {
        let v = c
            .series
            .iter()
            .find(|v| v.id == s.id && v.metric == s.metric)
            .and_then(|v| v.verdict.as_ref())
            .unwrap();
        assert_eq!(s.new.iter().map(|b| b.build).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(s.baseline.len(), 20);
        assert!(s.baseline.iter().all(|b| b.build < c.baseline.len()));
        match s.metric {
            Metric::FailureRate => {
                // One share per build: 4 of 6 failed in the first.
                assert_eq!(s.new[0].values, [4.0 / 6.0]);
                assert_eq!(s.new[1].values, [0.0]);
                assert_eq!(s.new[0].count, 6);
            }
            _ => {
                assert_eq!(v.baseline_builds, s.baseline.len());
                assert_eq!(v.new_builds, s.new.len());
                for b in s.baseline.iter().chain(&s.new) {
                    assert_eq!((b.count, b.values.len()), (6, 6));
                    assert!(b.values.is_sorted_by(|x, y| x <= y));
                    let m = b.median.unwrap();
                    assert!(b.values[0] <= m && m <= b.values[5]);
                }
                let all: Vec<f64> = s.new.iter().flat_map(|b| b.values.clone()).collect();
                assert!(
                    all.iter()
                        .all(|x| (1.4..1.6).contains(x) || (1.1..1.3).contains(x)),
                    "{all:?}"
                );
            }
        }
    }
    // Nothing flagged, nothing kept.
    let mut clean = history(20, 1.0);
    clean.push(build(check(43, 1, 100, 1.0)));
    let (_, samples) = Comparer::new(&clean)
        .compare_with_samples(43, 1, &Thresholds::default())
        .unwrap();
    assert!(samples.is_empty());
}

#[test]
fn a_build_with_many_values_is_thinned_for_its_picture() {
    let mut builds = history(20, 1.0);
    let mut new = build(check(42, 1, 100, 1.5));
    let values: Vec<f64> = (0..1000).map(|i| 1.5 + i as f64 * 1e-4).collect();
    new.series[0].durations_s = values.clone();
    new.series[0].durations_s.push(f64::NAN);
    builds.push(new);
    let (c, samples) = Comparer::new(&builds)
        .compare_with_samples(42, 1, &Thresholds::default())
        .unwrap();
    let total = c
        .series
        .iter()
        .find(|s| s.label.action == "total" && s.metric == Metric::Duration)
        .unwrap();
    let s = samples.iter().find(|s| s.id == total.id).unwrap();
    let b = &s.new[0];
    assert_eq!(b.count, 1000, "finite values counted");
    assert_eq!(b.values.len(), PLOT_VALUES_PER_BUILD);
    assert_eq!(
        (b.values[0], *b.values.last().unwrap()),
        (values[0], values[999])
    );
    assert!(
        b.values.is_sorted_by(|x, y| x < y),
        "distinct order statistics"
    );
    assert_eq!(b.median, crate::regress::stats::median(&values));
}

#[test]
fn comparisons_are_deterministic() {
    let mut builds = history(25, 1.0);
    builds.push(build(check(42, 1, 100, 1.2)));
    let a = serde_json::to_string(&compare(&builds, 42, 1)).unwrap();
    builds.reverse();
    let b = serde_json::to_string(&compare(&builds, 42, 1)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn trends_find_the_step_and_the_config_change() {
    let mut builds: Vec<ArchivedBuild> = (0..30)
        .map(|h| build(spec(h, if h < 15 { 1.0 } else { 1.3 })))
        .collect();
    builds.extend((30..40).map(|h| {
        build(Spec {
            config: "cfg2",
            ..spec(h, 2.0)
        })
    }));
    builds.push(build(check(42, 1, 35, 5.0))); // not branch history
    let t = trends(&builds);
    assert_eq!(t.builds.len(), 40);
    assert_eq!(t.series.len(), 2);
    let total = t.series.iter().find(|s| s.label.action == "total").unwrap();
    assert_eq!(total.points.len(), 40);
    let kinds: Vec<(usize, ChangeKind, Metric)> = total
        .annotations
        .iter()
        .map(|a| (a.point, a.change.kind, a.metric))
        .collect();
    assert!(
        kinds.contains(&(15, ChangeKind::Regression, Metric::Duration)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(30, ChangeKind::ConfigChanged, Metric::Duration)),
        "{kinds:?}"
    );
    assert!(
        !kinds
            .iter()
            .any(|k| k.0 == 30 && k.1 == ChangeKind::Regression),
        "a config change is not a regression: {kinds:?}"
    );
    // The regression predates the configuration change: old history.
    assert_eq!(total.status, TrendStatus::Stable);
    assert!(total.points[30].config_changed);
    assert_eq!(total.points[0].throughput, Some(1.0));
}

#[test]
fn a_recent_step_marks_the_series_regressed() {
    let builds: Vec<ArchivedBuild> = (0..30)
        .map(|h| build(spec(h, if h < 20 { 1.0 } else { 1.4 })))
        .collect();
    let t = trends(&builds);
    let total = t.series.iter().find(|s| s.label.action == "total").unwrap();
    assert_eq!(total.status, TrendStatus::Regressed);
    assert_eq!(total.regressions().next().unwrap().point, 20);
}

/// A branch history at 1.0 whose builds fail `failed(hour)` of their 6 iterations.
fn failing_history(n: i64, failed: impl Fn(i64) -> u64) -> Vec<ArchivedBuild> {
    (0..n)
        .map(|h| {
            build(Spec {
                failed: failed(h),
                ..spec(h, 1.0)
            })
        })
        .collect()
}

#[test]
fn a_failure_rate_rise_is_a_regression_of_the_series() {
    // Never failing for 30 builds, then 1 or 2 of 6 iterations a build.
    let t = trends(&failing_history(45, |h| {
        if h < 30 { 0 } else { 1 + h as u64 % 2 }
    }));
    let total = t.series.iter().find(|s| s.label.action == "total").unwrap();
    let rises: Vec<_> = total
        .annotations
        .iter()
        .filter(|a| a.metric == Metric::FailureRate)
        .collect();
    assert_eq!(rises.len(), 1, "{:?}", total.annotations);
    let a = rises[0];
    assert_eq!((a.point, a.change.kind), (30, ChangeKind::Regression));
    assert_eq!(a.change.before_median, 0.0);
    assert!((a.change.after_median - 22.0 / 90.0).abs() < 1e-12, "{a:?}");
    // Percentage points, as a verdict's change for failures.
    assert!((a.change.magnitude_pct.unwrap() - 100.0 * 22.0 / 90.0).abs() < 1e-9);
    assert_eq!(total.status, TrendStatus::Regressed);
    assert_eq!(total.regressions().next().unwrap().point, 30);

    // Fixed at 35: the rate fell back, an improvement once the newest
    // build passes; failing while it does not.
    let fixed = |last_fails: bool| {
        let t = trends(&failing_history(50, |h| match h {
            20..35 => 2,
            49 if last_fails => 1,
            _ => 0,
        }));
        let total = t
            .series
            .into_iter()
            .find(|s| s.label.action == "total")
            .unwrap();
        let moves: Vec<(usize, ChangeKind)> = total
            .annotations
            .iter()
            .filter(|a| a.metric == Metric::FailureRate)
            .map(|a| (a.point, a.change.kind))
            .collect();
        assert_eq!(
            moves,
            [(20, ChangeKind::Regression), (35, ChangeKind::Improvement)]
        );
        total.status
    };
    assert_eq!(fixed(false), TrendStatus::Improved);
    assert_eq!(fixed(true), TrendStatus::Failing);
}

#[test]
fn the_baseline_starts_at_the_branchs_last_change_point() {
    let mut builds: Vec<ArchivedBuild> = (0..24)
        .map(|h| build(spec(h, if h < 12 { 1.0 } else { 1.3 })))
        .collect();
    builds.push(build(check(42, 1, 100, 1.3)));
    builds.push(build(check(43, 1, 100, 1.7)));
    let clean = compare(&builds, 42, 1).unwrap();
    assert!(!clean.has_regression(), "{:?}", clean.series);
    let v = clean.series[0].verdict.as_ref().unwrap();
    assert_eq!(v.baseline_builds, 12);
    let slower = compare(&builds, 43, 1).unwrap();
    assert!(slower.has_regression());
}

#[test]
#[ignore = "timing probe: cargo test -p perfkit-schema --release -- --ignored --nocapture"]
fn change_point_cost_on_a_long_history() {
    use crate::regress::changepoint::change_points;
    use crate::regress::verdict::Direction;
    for n in [1000usize, 10_000] {
        let values: Vec<f64> = (0..n)
            .map(|i| if i % 997 < 600 { 1.0 } else { 1.2 } + 0.05 * wobble(i))
            .collect();
        let start = std::time::Instant::now();
        let found = change_points(&values, &[], Direction::LowerIsBetter);
        eprintln!(
            "{n} points: {} change points in {:?}",
            found.len(),
            start.elapsed()
        );
    }
}

/// The history of an IOPS-like series (one value per build, higher is
/// better): `level` per build until `drop_at`, then `after`.
fn iops_history(builds: i64, drop_at: i64, level: f64, after: f64) -> Vec<ArchivedBuild> {
    (0..builds)
        .map(|h| {
            let mut b = build(spec(h, 1.0));
            let value =
                if h < drop_at { level } else { after } * (1.0 + 0.005 * wobble(h as usize));
            b.series = vec![SeriesRow {
                workload_key: "fio-w".into(),
                config_hash: "cfg1".into(),
                scenario: "fio randwrite bs=4k".into(),
                action: "write IOPS".into(),
                samples: 1000,
                durations_s: vec![value],
                unit: "IO/s".into(),
                higher_is_better: true,
                pass_sla: true,
                ..SeriesRow::default()
            }];
            b
        })
        .collect()
}

#[test]
fn higher_is_better_series_regress_when_they_fall() {
    let t = trends(&iops_history(30, 20, 10_000.0, 7_000.0));
    let s = &t.series[0];
    assert!(s.label.higher_is_better && s.label.unit == "IO/s");
    let cp = s
        .annotations
        .iter()
        .find(|a| a.metric == Metric::Duration)
        .unwrap();
    assert_eq!((cp.point, cp.change.kind), (20, ChangeKind::Regression));
    assert_eq!(s.status, TrendStatus::Regressed, "{:?}", s.annotations);

    let t = trends(&iops_history(30, 20, 10_000.0, 13_000.0));
    let cp = &t.series[0].annotations[0];
    assert_eq!((cp.point, cp.change.kind), (20, ChangeKind::Improvement));
    assert_eq!(t.series[0].status, TrendStatus::Improved);

    // A patchset build that lost IOPS against that branch is a regression.
    let mut builds = iops_history(20, 99, 10_000.0, 0.0);
    let mut new = iops_history(21, 0, 0.0, 8_000.0).pop().unwrap();
    new.record.key.change = 42;
    new.record.key.patchset = 1;
    new.record.meta.pipeline = Some("check".into());
    builds.push(new);
    let c = compare(&builds, 42, 1).unwrap();
    let v = &c.series[0];
    assert_eq!(v.status, Status::Regression, "{v:?}");
    assert_eq!(v.verdict.as_ref().unwrap().n_new, 1);
}

/// Only periodic and post builds end suspect ranges: a gate build's
/// commit (a speculative merge) is kept in the archive but not used.
#[test]
fn gate_builds_end_no_suspect_range() {
    use crate::compare::BuildRef;
    use crate::culprits::range_of;
    let sha = |n: i64| format!("{n:040x}");
    let mut builds: Vec<ArchivedBuild> = (0..20)
        .map(|h| {
            let mut b = build(spec(h, if h < 10 { 1.0 } else { 1.5 }));
            b.record.meta.commit = Some(sha(h));
            b
        })
        .collect();
    // The first build after the step is a gate build with its own commit.
    let mut gate = build(Spec {
        change: 4242,
        patchset: 1,
        pipeline: "gate",
        ..spec(10, 1.5)
    });
    gate.record.meta.commit = Some(sha(99));
    // Its change merged, so it is on the branch history; its commit (a
    // speculative merge) still ends no range.
    gate.record.meta.zuul_result = Some("SUCCESS".into());
    gate.record.meta.zuul_buildset_result = Some("SUCCESS".into());
    builds.remove(10);
    builds.insert(10, gate);
    let t = trends(&builds);
    let refs: &[BuildRef] = &t.builds;
    let s = &t.series[0];
    let at = s
        .annotations
        .iter()
        .find(|a| a.change.kind == ChangeKind::Regression);
    let point = at.map_or(10, |a| a.point);
    assert_eq!(point, 10, "{:?}", s.annotations);
    assert!(refs[s.points[point].build].commits.is_empty());
    assert_eq!(
        range_of(refs, &s.points, point, "openstack/nova"),
        Some((sha(9), sha(11)))
    );
}
