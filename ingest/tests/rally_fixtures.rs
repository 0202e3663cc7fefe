//! The Rally parsers against every real fixture in `tests/fixtures/rally`,
//! compared with an independent reading of the same file: serde_json's
//! `Value` of the whole text (after blanking Python's bare `Infinity`),
//! walked here without any of the parser's code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use perfkit_archive::sink::OwnedSample;
use perfkit_ingest::rally::{ParseOptions, ParsedRun, SourceFormat, parse};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rally")
}

fn fixture(name: &str) -> PathBuf {
    fixture_dir().join(name)
}

/// All `*.report.json` and `*.results.json`, history included.
fn all_fixtures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [fixture_dir(), fixture_dir().join("history")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".report.json") || name.ends_with(".results.json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn run(path: &Path) -> (ParsedRun, Vec<OwnedSample>) {
    let file = std::fs::File::open(path).unwrap();
    let mut rows = Vec::new();
    let parsed = parse(
        file,
        &ParseOptions {
            job: "perfkit-test",
        },
        &mut rows,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (parsed, rows)
}

/// The fixture as a `Value`; Python's non-finite floats only occur as
/// `: Infinity` values in these files.
fn independent(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .replace(": Infinity", ": null")
        .replace(": -Infinity", ": null")
        .replace(": NaN", ": null");
    serde_json::from_str(&text).unwrap()
}

/// What the independent reading says about one workload.
#[derive(Debug, PartialEq)]
struct Expected {
    scenario: String,
    iterations: u64,
    failed: u64,
    rows: usize,
    pass_sla: bool,
    sla_failed: Vec<String>,
}

fn count_v2_actions(actions: &Value) -> usize {
    actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| 1 + count_v2_actions(&a["children"]))
        .sum()
}

fn failed(iteration: &Value) -> bool {
    iteration["error"].as_array().is_some_and(|e| !e.is_empty())
}

fn sla_outcome(entries: &Value) -> (bool, Vec<String>) {
    let entries = entries.as_array().unwrap();
    let failed: Vec<String> = entries
        .iter()
        .filter(|s| !s["success"].as_bool().unwrap())
        .map(|s| s["criterion"].as_str().unwrap().to_string())
        .collect();
    (failed.is_empty(), failed)
}

fn expected_workloads(doc: &Value) -> Vec<Expected> {
    let mut out = Vec::new();
    if let Some(tasks) = doc.get("tasks") {
        for task in tasks.as_array().unwrap() {
            for subtask in task["subtasks"].as_array().unwrap() {
                for w in subtask["workloads"].as_array().unwrap() {
                    let data = w["data"].as_array().unwrap();
                    let (pass_sla, sla_failed) = sla_outcome(&w["sla_results"]["sla"]);
                    let failed_count = data.iter().filter(|i| failed(i)).count() as u64;
                    // Rally's own counters agree with the raw data in real files.
                    assert_eq!(
                        w["total_iteration_count"].as_u64().unwrap(),
                        data.len() as u64
                    );
                    assert_eq!(w["failed_iteration_count"].as_u64().unwrap(), failed_count);
                    out.push(Expected {
                        scenario: w["scenario"]
                            .as_object()
                            .unwrap()
                            .keys()
                            .next()
                            .unwrap()
                            .clone(),
                        iterations: data.len() as u64,
                        failed: failed_count,
                        rows: data
                            .iter()
                            .map(|i| 1 + count_v2_actions(&i["atomic_actions"]))
                            .sum(),
                        pass_sla,
                        sla_failed,
                    });
                }
            }
        }
    } else {
        for element in doc.as_array().unwrap() {
            let data = element["result"].as_array().unwrap();
            let (pass_sla, sla_failed) = sla_outcome(&element["sla"]);
            let action_rows = |i: &Value| {
                i["atomic_actions"]
                    .as_object()
                    .unwrap()
                    .values()
                    .filter(|v| !v.is_null())
                    .count()
            };
            out.push(Expected {
                scenario: element["key"]["name"].as_str().unwrap().to_string(),
                iterations: data.len() as u64,
                failed: data.iter().filter(|i| failed(i)).count() as u64,
                rows: data.iter().map(|i| 1 + action_rows(i)).sum(),
                pass_sla,
                sla_failed,
            });
        }
    }
    out
}

fn iterations_of(doc: &Value) -> Vec<Vec<Value>> {
    match doc.get("tasks") {
        Some(tasks) => tasks
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["subtasks"].as_array().unwrap().iter())
            .flat_map(|s| s["workloads"].as_array().unwrap().iter())
            .map(|w| w["data"].as_array().unwrap().clone())
            .collect(),
        None => doc
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["result"].as_array().unwrap().clone())
            .collect(),
    }
}

fn rows_of(rows: &[OwnedSample], workload: u32) -> Vec<&OwnedSample> {
    rows.iter()
        .filter(|r| r.workload_index == workload)
        .collect()
}

#[test]
fn every_fixture_matches_an_independent_reading() {
    let files = all_fixtures();
    assert!(files.len() >= 9, "fixtures missing: {files:?}");
    for path in files {
        let name = path.display().to_string();
        let doc = independent(&path);
        let (parsed, rows) = run(&path);
        let expected = expected_workloads(&doc);
        let is_v2 = doc.get("tasks").is_some();
        assert_eq!(
            parsed.format,
            if is_v2 {
                SourceFormat::RallyV2
            } else {
                SourceFormat::RallyResults
            },
            "{name}"
        );
        assert_eq!(parsed.workloads.len(), expected.len(), "{name}: workloads");
        assert_eq!(
            parsed.iteration_count,
            expected.iter().map(|e| e.iterations).sum::<u64>(),
            "{name}"
        );
        assert_eq!(
            parsed.failed_iteration_count,
            expected.iter().map(|e| e.failed).sum::<u64>(),
            "{name}"
        );
        assert_eq!(
            rows.len(),
            expected.iter().map(|e| e.rows).sum::<usize>(),
            "{name}: rows"
        );
        let data = iterations_of(&doc);
        for (i, (record, want)) in parsed.workloads.iter().zip(&expected).enumerate() {
            let got = Expected {
                scenario: record.scenario.clone(),
                iterations: record.iterations,
                failed: record.failed_iterations,
                rows: rows_of(&rows, i as u32).len(),
                pass_sla: record.pass_sla,
                sla_failed: record.sla_failed.clone(),
            };
            assert_eq!(&got, want, "{name}: workload {i}");
            assert_eq!(record.workload_index, i as u32);
            assert_eq!(record.workload_key.len(), 16, "{name}");
            assert_eq!(record.config_hash.len(), 16, "{name}");
            // Total rows: one per iteration, in list order, duration + idle.
            let totals: Vec<_> = rows_of(&rows, i as u32)
                .into_iter()
                .filter(|r| r.action == "total")
                .collect();
            assert_eq!(totals.len(), data[i].len());
            for (n, (row, it)) in totals.iter().zip(&data[i]).enumerate() {
                assert_eq!(row.iteration, n as u32);
                assert_eq!(row.workload_key, record.workload_key);
                let want = it["duration"].as_f64().unwrap() + it["idle_duration"].as_f64().unwrap();
                assert_eq!(row.duration_s, want, "{name}: workload {i} iteration {n}");
                assert_eq!(row.failed, failed(it));
                assert_eq!(
                    row.error_type.as_deref(),
                    it["error"].get(0).and_then(Value::as_str)
                );
                assert_eq!(
                    row.error_traceback.as_deref(),
                    it["error"].get(2).and_then(Value::as_str)
                );
                let ts = it["timestamp"].as_f64().unwrap();
                assert_eq!(row.started_at_us, Some((ts * 1e6).round() as i64));
            }
            match record.duration {
                Some(s) => assert_eq!(s.count as u64, record.iterations),
                None => assert_eq!(record.iterations, 0),
            }
        }
        let all_pass = expected.iter().all(|e| e.pass_sla);
        if is_v2 {
            let statuses: Vec<String> = doc["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["status"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(parsed.task_statuses, statuses, "{name}");
            assert_eq!(
                parsed.pass_sla,
                all_pass && statuses.iter().all(|s| s == "finished"),
                "{name}"
            );
            assert_eq!(
                parsed.format_version.as_deref(),
                doc["info"]["format_version"].as_str()
            );
            assert_eq!(
                parsed.tool_version.as_deref(),
                doc["info"]["rally_version"].as_str()
            );
        } else {
            assert!(parsed.task_statuses.is_empty());
            assert_eq!(parsed.pass_sla, all_pass, "{name}");
            assert_eq!(parsed.format_version, None);
        }
        if parsed.iteration_count > 0 {
            let (start, end) = (
                parsed.started_at_us.unwrap(),
                parsed.finished_at_us.unwrap(),
            );
            assert!(start < end, "{name}");
            assert!(
                rows.iter()
                    .filter_map(|r| r.started_at_us)
                    .all(|t| t >= start && t <= end),
                "{name}"
            );
        }
    }
}

#[test]
fn dev_success_has_nested_foo_bar_rows() {
    let path = fixture("dev-success.report.json");
    let doc = independent(&path);
    let (parsed, rows) = run(&path);
    let data = &iterations_of(&doc)[0];
    assert_eq!(rows.len(), data.len() * 3);
    for (n, it) in data.iter().enumerate() {
        let rows: Vec<_> = rows.iter().filter(|r| r.iteration == n as u32).collect();
        let shape: Vec<_> = rows
            .iter()
            .map(|r| (r.action.as_str(), r.depth, r.occurrence))
            .collect();
        assert_eq!(shape, [("total", 0, 0), ("foo", 1, 0), ("foo > bar", 2, 0)]);
        let foo = &it["atomic_actions"][0];
        let bar = &foo["children"][0];
        let span =
            |a: &Value| a["finished_at"].as_f64().unwrap() - a["started_at"].as_f64().unwrap();
        assert_eq!(rows[1].duration_s, span(foo));
        assert_eq!(rows[2].duration_s, span(bar));
        assert_eq!(
            rows[2].started_at_us,
            Some((bar["started_at"].as_f64().unwrap() * 1e6).round() as i64)
        );
        assert!(rows.iter().all(|r| !r.failed && r.error_message.is_none()));
        assert_eq!(rows[1].idle_duration_s, None);
    }
    let w = &parsed.workloads[0];
    assert_eq!(
        (w.runner_type.as_str(), w.runner_times, w.runner_concurrency),
        ("constant", Some(10), Some(2))
    );
    assert_eq!(w.subtask_title, "dummy-nested-atomics");
    assert_eq!(w.args_json, r#"{"sleep":0.02}"#);
    assert_eq!(w.task_status.as_deref(), Some("finished"));
    assert!(w.task_uuid.is_some());
    assert!(parsed.pass_sla);
    // Recomputed statistics, not Rally's rounded ones.
    let totals: Vec<f64> = data
        .iter()
        .map(|i| i["duration"].as_f64().unwrap() + i["idle_duration"].as_f64().unwrap())
        .collect();
    let max = totals.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!(w.duration.unwrap().max, max);
}

#[test]
fn dev_failures_keeps_repeated_actions_and_failed_flags() {
    let path = fixture("dev-failures.report.json");
    let doc = independent(&path);
    let (parsed, rows) = run(&path);
    let data = &iterations_of(&doc)[0];
    let mut repeats_seen = 0;
    for (n, it) in data.iter().enumerate() {
        let actions = it["atomic_actions"].as_array().unwrap();
        let rows: Vec<_> = rows
            .iter()
            .filter(|r| r.workload_index == 0 && r.iteration == n as u32 && r.depth == 1)
            .collect();
        assert_eq!(rows.len(), actions.len());
        let mut count: HashMap<&str, u16> = HashMap::new();
        for (row, action) in rows.iter().zip(actions) {
            let name = action["name"].as_str().unwrap();
            let occurrence = count.entry(name).or_default();
            assert_eq!(row.action, name);
            assert_eq!(row.occurrence, *occurrence);
            assert_eq!(
                row.failed,
                action
                    .get("failed")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            );
            *occurrence += 1;
        }
        if count.get("dummy_fail_test").is_some_and(|c| *c > 1) {
            repeats_seen += 1;
        }
    }
    assert!(
        repeats_seen > 0,
        "the fixture has iterations with two dummy_fail_test actions"
    );
    assert!(
        rows.iter()
            .any(|r| r.action == "dummy_fail_test" && r.occurrence == 1)
    );
    let failed_children = rows.iter().filter(|r| r.depth == 2 && r.failed).count();
    assert!(failed_children > 0);
    // Error fields only on failed total rows.
    for r in &rows {
        assert_eq!(
            r.error_type.is_some(),
            r.action == "total" && r.failed,
            "{r:?}"
        );
    }
    let failure_rate = |w: usize| parsed.workloads[w].sla_failed.clone();
    assert_eq!(failure_rate(0), ["failure_rate"]);
    assert_eq!(failure_rate(1), ["failure_rate"]);
    assert!(failure_rate(2).is_empty());
    assert!(!parsed.pass_sla);
}

#[test]
fn dev_output_hooks_parses_infinity_and_counts_the_failed_hook() {
    let (parsed, _) = run(&fixture("dev-output-hooks.report.json"));
    let hooks: Vec<u32> = parsed.workloads.iter().map(|w| w.hooks_failed).collect();
    assert_eq!(hooks, [0, 1]);
    let w = &parsed.workloads[1];
    assert!(
        w.hooks_json.contains(r#""end":"Infinity""#),
        "{}",
        w.hooks_json
    );
    assert_eq!(w.runner_type, "constant_for_duration");
    assert_eq!(w.runner_times, None);
    assert_eq!(w.context_error, None);
    assert_eq!(w.contexts_json, r#"{"dummy_context":{}}"#);
}

#[test]
fn dev_sla_v1_lists_the_failing_criteria() {
    let path = fixture("dev-sla-v1.report.json");
    let (parsed, _) = run(&path);
    let doc = independent(&path);
    let expected = expected_workloads(&doc);
    assert!(
        parsed.workloads[0]
            .sla_failed
            .contains(&"max_avg_duration".to_string())
    );
    assert!(
        parsed.workloads[0]
            .sla_failed
            .contains(&"max_avg_duration_per_atomic".to_string())
    );
    for (i, (w, e)) in parsed.workloads.iter().zip(&expected).enumerate() {
        assert!(!w.sla_failed.is_empty());
        assert_eq!(w.sla_failed, e.sla_failed);
        let listed: Value = serde_json::from_str(&w.sla_results_json).unwrap();
        assert_eq!(
            listed,
            doc["tasks"][0]["subtasks"][i]["workloads"][0]["sla_results"]["sla"]
        );
        // v1 task: subtask title = scenario name.
        assert_eq!(w.subtask_title, w.scenario);
    }
    assert_eq!(parsed.workloads[1].runner_type, "rps");
}

#[test]
fn dev_success_x2_tasks_share_workload_key_and_config_hash() {
    let (parsed, rows) = run(&fixture("dev-success-x2.report.json"));
    assert_eq!(parsed.task_statuses.len(), 2);
    let [a, b] = &parsed.workloads[..] else {
        panic!("two workloads expected")
    };
    assert_eq!((a.task_index, b.task_index), (0, 1));
    assert_eq!(a.workload_key, b.workload_key);
    assert_eq!(a.config_hash, b.config_hash);
    assert_ne!(a.task_uuid, b.task_uuid);
    assert_ne!(
        (a.workload_index, &a.task_uuid),
        (b.workload_index, &b.task_uuid)
    );
    assert!(rows.iter().any(|r| r.workload_index == 1));
}

#[test]
fn the_same_run_in_both_formats_agrees() {
    for case in [
        "dev-success",
        "dev-failures",
        "dev-context-fail",
        "dev-abort-on-sla",
    ] {
        let v2_path = fixture(&format!("{case}.report.json"));
        let old_path = fixture(&format!("{case}.results.json"));
        if !old_path.exists() {
            continue;
        }
        let (v2, v2_rows) = run(&v2_path);
        let (old, old_rows) = run(&old_path);
        assert_eq!(old.workloads.len(), v2.workloads.len(), "{case}");
        for (a, b) in v2.workloads.iter().zip(&old.workloads) {
            assert_eq!(a.config_hash, b.config_hash, "{case}: {}", a.scenario);
            assert_eq!(
                (
                    &a.scenario,
                    a.position,
                    a.iterations,
                    a.failed_iterations,
                    a.pass_sla,
                    &a.sla_failed
                ),
                (
                    &b.scenario,
                    b.position,
                    b.iterations,
                    b.failed_iterations,
                    b.pass_sla,
                    &b.sla_failed
                ),
                "{case}"
            );
            assert_eq!(
                (a.hooks_json.as_str(), a.runner_json.as_str()),
                (b.hooks_json.as_str(), b.runner_json.as_str())
            );
            assert_eq!(a.duration, b.duration, "{case}");
            assert_eq!(
                (a.load_duration_s, a.full_duration_s),
                (b.load_duration_s, b.full_duration_s)
            );
            assert_eq!(a.start_time_us, b.start_time_us, "{case}");
        }
        // Totals and top-level actions are the same rows; the old format has
        // no nested actions and no action start times.
        let top = |rows: &[OwnedSample]| -> Vec<(u32, u32, String, u16, f64, bool)> {
            rows.iter()
                .filter(|r| r.depth <= 1)
                .map(|r| {
                    (
                        r.workload_index,
                        r.iteration,
                        r.action.clone(),
                        r.occurrence,
                        r.duration_s,
                        r.action == "total" && r.failed,
                    )
                })
                .collect()
        };
        assert_eq!(top(&v2_rows), top(&old_rows), "{case}");
        assert!(old_rows.iter().all(|r| r.depth <= 1));
        assert!(
            old_rows
                .iter()
                .filter(|r| r.depth == 1)
                .all(|r| r.started_at_us.is_none())
        );
    }
}

#[test]
fn v1_task_keys_match_across_formats_when_titles_are_scenario_names() {
    // dev-context-fail runs Dummy.dummy in two subtasks: the old format
    // tells them apart by title occurrence.
    let (old, _) = run(&fixture("dev-context-fail.results.json"));
    let [a, b] = &old.workloads[..] else {
        panic!("two workloads expected")
    };
    assert_eq!((a.subtask_index, b.subtask_index), (0, 1));
    assert_ne!(a.workload_key, b.workload_key);
}

#[test]
fn context_failure_gives_a_zero_iteration_workload() {
    let (parsed, rows) = run(&fixture("dev-context-fail.report.json"));
    let [a, b] = &parsed.workloads[..] else {
        panic!("two workloads expected")
    };
    assert_eq!((a.iterations, a.duration, a.start_time_us), (0, None, None));
    assert_eq!(
        a.context_error.as_deref(),
        Some("RallyException: Oops...setup is failed")
    );
    assert_eq!(a.sla_failed, ["something_went_wrong"]);
    assert!(!a.pass_sla);
    assert_eq!(a.load_duration_s, Some(0.0));
    assert!(rows.iter().all(|r| r.workload_index == 1));
    // A cleanup error is not a setup error; the later subtask still ran.
    assert_eq!(b.context_error, None);
    assert_eq!(b.iterations, 5);
    assert!(b.pass_sla);
    assert!(rows.iter().any(|r| r.action == "foo > bar"));
    assert_eq!(parsed.task_statuses, ["finished"]);
    assert!(!parsed.pass_sla);
    let (old, _) = run(&fixture("dev-context-fail.results.json"));
    assert_eq!(old.workloads[0].sla_failed, ["something_went_wrong"]);
    assert_eq!(old.workloads[0].start_time_us, None);
}

#[test]
fn aborted_task_has_aborted_on_sla_and_an_empty_subtask() {
    let (parsed, _) = run(&fixture("dev-abort-on-sla.report.json"));
    assert_eq!(parsed.task_statuses, ["aborted"]);
    let [w] = &parsed.workloads[..] else {
        panic!("one workload expected")
    };
    assert_eq!(w.sla_failed, ["failure_rate", "aborted_on_sla"]);
    assert!(w.iterations < 40);
    assert!(w.failed_iterations > 0);
    assert!(!parsed.pass_sla);
}

#[test]
fn crashed_task_parses_with_no_workloads_and_fails() {
    let path = fixture("dev-crashed.report.json");
    assert_eq!(
        independent(&path)["tasks"][0]["pass_sla"],
        true,
        "Rally says it passed"
    );
    let (parsed, rows) = run(&path);
    assert_eq!(parsed.task_statuses, ["crashed"]);
    assert!(parsed.workloads.is_empty());
    assert!(rows.is_empty());
    assert_eq!((parsed.started_at_us, parsed.finished_at_us), (None, None));
    assert!(!parsed.pass_sla, "a crashed task never passes");
}

#[test]
fn history_builds_keep_their_workload_keys() {
    let dir = fixture_dir().join("history");
    let mut keys = Vec::new();
    let builds = (1..=20).map(|n| format!("build-{n:02}.report.json"));
    let changes = [900001, 900002].map(|c| format!("change-{c}.report.json"));
    for name in builds.chain(changes) {
        let (parsed, _) = run(&dir.join(name));
        keys.push(
            parsed
                .workloads
                .iter()
                .map(|w| (w.workload_key.clone(), w.config_hash.clone()))
                .collect::<Vec<_>>(),
        );
    }
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    assert_eq!(keys[0].len(), 2);
    assert_ne!(keys[0][0].0, keys[0][1].0);
}

#[test]
fn the_job_is_part_of_the_workload_key() {
    let path = fixture("dev-success.report.json");
    let key = |job: &str| {
        let file = std::fs::File::open(&path).unwrap();
        let mut sink = perfkit_archive::sink::CountingSink::default();
        parse(file, &ParseOptions { job }, &mut sink)
            .unwrap()
            .workloads[0]
            .workload_key
            .clone()
    };
    assert_ne!(key("a"), key("b"));
    let expected = perfkit_schema::identity::WorkloadPlace {
        job: "a",
        subtask_title: "dummy-nested-atomics",
        title_occurrence: 0,
        position: 0,
        scenario: "Dummy.dummy",
    }
    .key();
    assert_eq!(key("a"), expected);
}
