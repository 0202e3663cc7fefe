//! Every rally-jobs tree perfkit generates must pass real Rally.
//!
//! For every catalog service, the custom-plugin case and one task holding
//! every `--scenarios` name perfkit can fill, the tree is rendered into a
//! tempdir and `$PERFKIT_RALLY_PYTHON tests/tools/validate-rally-task.py
//! --strict <task>` must exit 0 (rally 5.1.1 + rally-openstack 4.1.0: Jinja
//! render, task schema, plugin registry, run() signatures, Rally's syntax
//! validators; `plugins/` beside the task is loaded). HOME points at a
//! directory laid out as the gate lays out the stack user's: rally-jobs/extra
//! copied to ~/.rally/extra plus the dummy images, so file checks are real.
//!
//! Two more checks use the same Python: every per-atomic-action SLA names an
//! action its scenario records (`tests/support/atomic_actions.py`), and the
//! embedded service-type table matches os-service-types.
//!
//! Without `PERFKIT_RALLY_PYTHON` the tests print why and pass, unless
//! `PERFKIT_REQUIRE_TOOLS=1`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use perfkit_zuul::scaffold::catalog::{self, scenarios, service_types};
use perfkit_zuul::scaffold::rally_jobs::{
    GATE_EXTRA_FILES, RallyJobsPlan, RallyJobsRequest, plan_rally_jobs, selection,
};
use serde_json::{Value, json};

fn rally_python() -> Option<PathBuf> {
    match std::env::var_os("PERFKIT_RALLY_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            assert!(
                std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "PERFKIT_REQUIRE_TOOLS=1 but PERFKIT_RALLY_PYTHON is not set"
            );
            println!(
                "skipped: PERFKIT_RALLY_PYTHON is not set (a python with rally==5.1.1 and rally-openstack==4.1.0)"
            );
            None
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn plan(project: &str, scenarios: Option<Vec<String>>) -> RallyJobsPlan {
    plan_rally_jobs(&RallyJobsRequest {
        project: project.try_into().unwrap(),
        scenarios,
        templates_dir: None,
    })
    .unwrap_or_else(|e| panic!("{project}: {e}"))
}

/// Writes the plan under `root/repo`, and a gate-like home under
/// `root/home`; returns (task file, home).
fn materialize(root: &Path, plan: &RallyJobsPlan) -> (PathBuf, PathBuf) {
    let repo = root.join("repo");
    let mut task = None;
    for (rel, content) in &plan.files {
        let path = repo.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        if rel
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("task-")
        {
            task = Some(path);
        }
    }
    let extra = root.join("home/.rally/extra");
    std::fs::create_dir_all(&extra).unwrap();
    for entry in std::fs::read_dir(repo.join("rally-jobs/extra")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), extra.join(entry.file_name())).unwrap();
    }
    for name in GATE_EXTRA_FILES {
        std::fs::write(extra.join(name), b"").unwrap();
    }
    (task.expect("a task file"), root.join("home"))
}

struct Verdict {
    case: String,
    ok: bool,
    summary: String,
    output: String,
}

fn validate(python: &Path, case: &str, task: &Path, home: &Path) -> Verdict {
    let out = Command::new(python)
        .arg(workspace().join("tests/tools/validate-rally-task.py"))
        .arg("--strict")
        .arg("--json")
        .arg(task)
        .env("HOME", home)
        .output()
        .expect("run the Rally validator");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    let summary = format!(
        "exit {}, {} workload(s), {} error(s), {} warning(s)",
        out.status.code().unwrap_or(-1),
        report["workloads"],
        report["errors"].as_array().map_or(0, Vec::len),
        report["warnings"].as_array().map_or(0, Vec::len),
    );
    Verdict {
        case: case.to_string(),
        ok: out.status.success() && report["valid"] == true,
        summary,
        output: format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// Every scenario of the table that `--scenarios` can fill.
fn fillable_scenarios() -> (Vec<String>, Vec<String>) {
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for s in &scenarios::table().scenarios {
        match selection::subtasks(std::slice::from_ref(&s.name), None) {
            Ok(_) => ok.push(s.name.clone()),
            Err(_) => refused.push(s.name.clone()),
        }
    }
    (ok, refused)
}

#[test]
fn every_generated_task_passes_real_rally() {
    let Some(python) = rally_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, RallyJobsPlan)> = catalog::services()
        .into_iter()
        .map(|s| (s.to_string(), plan(s, None)))
        .collect();
    let trove = plan("trove", None);
    assert!(trove.custom_plugin);
    cases.push(("trove (custom plugin)".into(), trove));
    let (fillable, refused) = fillable_scenarios();
    println!(
        "--scenarios: {} fillable, refused: {}",
        fillable.len(),
        refused.join(", ")
    );
    cases.push((
        format!("x/perfkit-all-scenarios ({} scenarios)", fillable.len()),
        plan("x/perfkit-all-scenarios", Some(fillable)),
    ));

    let jobs: Vec<(String, PathBuf, PathBuf)> = cases
        .iter()
        .enumerate()
        .map(|(i, (case, plan))| {
            let (task, home) = materialize(&tmp.path().join(i.to_string()), plan);
            (case.clone(), task, home)
        })
        .collect();
    // ~3 s per process; run a few at once.
    let queue = Mutex::new(jobs.into_iter());
    let verdicts = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some((case, task, home)) = next else {
                        break;
                    };
                    let verdict = validate(&python, &case, &task, &home);
                    verdicts.lock().unwrap().push(verdict);
                }
            });
        }
    });
    let mut verdicts = verdicts.into_inner().unwrap();
    verdicts.sort_by(|a, b| a.case.cmp(&b.case));
    let mut failed = Vec::new();
    for v in &verdicts {
        println!(
            "{:<45} {} ({})",
            v.case,
            if v.ok { "VALID" } else { "INVALID" },
            v.summary
        );
        if !v.ok {
            failed.push(format!("== {}\n{}", v.case, v.output));
        }
    }
    assert_eq!(verdicts.len(), catalog::services().len() + 2);
    assert!(
        failed.is_empty(),
        "Rally rejected generated tasks:\n{}",
        failed.join("\n")
    );
}

/// SLA atomic names the mocked run cannot reach (the mock stops the
/// scenario earlier), checked by reading rally-openstack 4.1.0 instead.
const READ_IN_CODE: &[(&str, &str, &str)] = &[
    (
        "ManilaShares.create_share_then_allow_and_deny_access",
        "manila.access_deny_share",
        "shares.py run() calls self._deny_access_share, decorated with action_timer(\"manila.access_deny_share\") in manila/utils.py",
    ),
    (
        "MistralExecutions.create_execution_from_workbook",
        "mistral.create_execution",
        "executions.py run() calls self._create_execution, decorated with action_timer(\"mistral.create_execution\") in mistral/utils.py",
    ),
];

#[test]
fn per_atomic_slas_name_actions_their_scenarios_record() {
    let Some(python) = rally_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut items = Vec::new();
    let mut expected: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for service in catalog::services() {
        let plan = plan(service, None);
        let (_, home) = materialize(&tmp.path().join(service), &plan);
        let extra = home.join(".rally/extra");
        for (i, wl) in plan
            .service
            .subtasks
            .iter()
            .flat_map(|st| &st.workloads)
            .enumerate()
        {
            let Some(limits) = wl.sla.get("max_avg_duration_per_atomic") else {
                continue;
            };
            let id = format!("{service}#{i} {}", wl.scenario);
            items.push(json!({"id": id, "scenario": wl.scenario, "args": wl.args,
                              "extra_dir": extra.display().to_string()}));
            let names = limits.as_object().unwrap().keys().cloned().collect();
            expected.insert(id, (wl.scenario.clone(), names));
        }
    }
    let mut child = Command::new(&python)
        .arg(workspace().join("zuul/tests/support/atomic_actions.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run atomic_actions.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&items).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "atomic_actions.py failed");
    let recorded: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut problems = Vec::new();
    for (id, (scenario, names)) in &expected {
        let got = &recorded[id];
        let atomics: Vec<&str> = got["atomics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        for name in names {
            let read = READ_IN_CODE
                .iter()
                .any(|(s, a, _)| s == scenario && a == name);
            if !atomics.contains(&name.as_str()) && !read {
                problems.push(format!(
                    "{id}: SLA on `{name}`, recorded {atomics:?} ({})",
                    got["error"]
                ));
            }
        }
    }
    println!("{} workloads with per-atomic SLAs checked", expected.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn service_type_table_matches_os_service_types() {
    let Some(python) = rally_python() else { return };
    let script = "import json, os, os_service_types as o\n\
                  p = os.path.join(os.path.dirname(o.__file__), 'data', 'service-types.json')\n\
                  d = json.load(open(p))\n\
                  print(json.dumps({k: v['service_type'] for k, v in d['primary_service_by_project'].items()}))";
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let upstream: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
    let embedded: BTreeMap<String, String> = service_types::all()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    assert_eq!(embedded, upstream);
}
