//! Derives perfkit's embedded scenario table (`zuul/src/scaffold/catalog/data/
//! scenarios.json`) from the fixtures it summarizes and fails when the
//! embedded copy differs. `PERFKIT_BLESS=1 cargo test -p perfkit-zuul --test
//! scenario_table` rewrites it after a fixture update.
//!
//! Sources: `tests/fixtures/rally/openstack-scenarios.json` (every scenario
//! of rally 5.1.1 + rally-openstack 4.1.0 with its run() args and
//! validators) and `tests/fixtures/openstack/rally-task-catalog.json` (every
//! workload of 30 real task files).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// Image/flavor literals of real task files that stand for the task's own
/// Jinja variables.
const IMAGE_LITERALS: &[&str] = &["^(cirros.*-disk|TestVM)$", "^cirros.*-disk$"];
const FLAVOR_LITERAL: &str = "m1.tiny";
/// Files rally-openstack's prepare-for-rally-task role creates in
/// ~/.rally/extra on every node (create_dummy_image.yaml).
const GATE_EXTRA_FILES: &[&str] = &["dummy_image.qcow2", "dummy_image.raw"];
/// A check job should not spend long on one hand-picked scenario.
const MAX_TIMES: u64 = 10;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Extra files perfkit can put into rally-jobs/extra/ (its templates) or the
/// gate makes.
fn available_extra_files() -> BTreeSet<String> {
    let dir = workspace().join("rally-jobs-template/rally-jobs/extra");
    let mut names: BTreeSet<String> = GATE_EXTRA_FILES.iter().map(|s| s.to_string()).collect();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".j2")
            && stem != "README.rst"
        {
            names.insert(stem.to_string());
        }
    }
    names
}

/// Replace image/flavor literals by the task's variables; `None` when the
/// value needs a file in ~/.rally/extra that nobody provides.
fn normalize(value: &Value, extra: &BTreeSet<String>) -> Option<Value> {
    Some(match value {
        Value::String(s) => {
            if let Some(file) = s.strip_prefix("~/.rally/extra/")
                && !extra.contains(file)
            {
                return None;
            }
            if IMAGE_LITERALS.contains(&s.as_str()) {
                json!("{{ image_name }}")
            } else if s == FLAVOR_LITERAL {
                json!("{{ flavor_name }}")
            } else {
                value.clone()
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| normalize(v, extra))
                .collect::<Option<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Some((k.clone(), normalize(v, extra)?)))
                .collect::<Option<Map<_, _>>>()?,
        ),
        other => other.clone(),
    })
}

/// A real workload after normalization.
struct RealWorkload {
    source: String,
    scenario: String,
    args: Value,
    contexts: Value,
    runner: Value,
}

fn real_workloads(extra: &BTreeSet<String>) -> Vec<RealWorkload> {
    let catalog = read_json(&workspace().join("tests/fixtures/openstack/rally-task-catalog.json"));
    let mut files: Vec<(&String, &Value)> = catalog.as_object().unwrap().iter().collect();
    // rally-openstack's files are maintained together with the 4.1.0
    // plugins; projects' own files lag behind (v1 format, old arguments).
    files.sort_by_key(|(name, _)| (!name.starts_with("rally-openstack/"), name.to_string()));
    let mut out = Vec::new();
    for (file, task) in files {
        for wl in task["workloads"].as_array().unwrap() {
            let args = if wl["args"].is_null() {
                json!({})
            } else {
                wl["args"].clone()
            };
            let contexts = if wl["contexts"].is_null() {
                json!({})
            } else {
                wl["contexts"].clone()
            };
            let (Some(args), Some(contexts)) =
                (normalize(&args, extra), normalize(&contexts, extra))
            else {
                continue;
            };
            out.push(RealWorkload {
                source: file.clone(),
                scenario: wl["scenario"].as_str().unwrap().to_string(),
                args,
                contexts,
                runner: wl["runner"].clone(),
            });
        }
    }
    out
}

/// The most frequent value (first seen wins a tie).
fn most_common(values: &[Value]) -> Value {
    let mut counts: Vec<(String, usize, &Value)> = Vec::new();
    for v in values {
        let key = v.to_string();
        match counts.iter_mut().find(|(k, _, _)| *k == key) {
            Some(entry) => entry.1 += 1,
            None => counts.push((key, 1, v)),
        }
    }
    let best = counts.iter().map(|c| c.1).max().unwrap();
    counts.into_iter().find(|c| c.1 == best).unwrap().2.clone()
}

fn derive() -> Value {
    let extra = available_extra_files();
    let listing = read_json(&workspace().join("tests/fixtures/rally/openstack-scenarios.json"));
    let real = real_workloads(&extra);

    let mut scenarios = Vec::new();
    let mut required_arg_names = BTreeSet::new();
    let mut required_context_names = BTreeSet::new();
    for s in listing["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let known_args: BTreeSet<&str> = s["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        let accepts_kwargs = s["accepts_kwargs"].as_bool().unwrap();
        let required_args: Vec<Value> = s["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["required"].as_bool().unwrap())
            .map(|a| json!({"name": a["name"], "resource_type": a.get("resource_type").cloned().unwrap_or(Value::Null)}))
            .collect();
        for a in &required_args {
            required_arg_names.insert(a["name"].as_str().unwrap().to_string());
        }
        let mut required_contexts = Vec::new();
        for v in s["validators"].as_array().unwrap() {
            if v["name"] != "required_contexts" {
                continue;
            }
            match &v["args"]["contexts"] {
                Value::String(c) => required_contexts.push(c.clone()),
                Value::Array(cs) => {
                    for c in cs {
                        required_contexts
                            .push(c.as_str().expect("alternatives are not used").to_string());
                    }
                }
                other => panic!("{name}: required_contexts {other}"),
            }
        }
        required_context_names.extend(required_contexts.iter().cloned());
        // The task file named after the scenario's service (nova.yaml for
        // NovaServers.*) comes first, then the general order.
        let group = name.split('.').next().unwrap().to_ascii_lowercase();
        let own_file = |w: &RealWorkload| {
            let stem = w
                .source
                .rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".yaml");
            stem.split('-').any(|part| group.starts_with(part))
        };
        let mut candidates: Vec<&RealWorkload> = real.iter().collect();
        candidates.sort_by_key(|w| !own_file(w));
        let example = candidates
            .into_iter()
            .find(|w| {
                w.scenario == name
                    && w.runner["type"] == "constant"
                    && (accepts_kwargs
                        || w.args
                            .as_object()
                            .unwrap()
                            .keys()
                            .all(|k| known_args.contains(k.as_str())))
            })
            .map(|w| {
                let times = w.runner["times"].as_u64().unwrap().min(MAX_TIMES);
                let concurrency = w.runner["concurrency"].as_u64().unwrap().min(times);
                json!({"args": w.args, "contexts": w.contexts, "times": times,
                       "concurrency": concurrency, "source": w.source})
            });
        scenarios.push(json!({
            "name": name,
            "platform": s["platform"],
            "required_args": required_args,
            "required_contexts": required_contexts,
            "example": example,
        }));
    }

    let mut arg_values = BTreeMap::new();
    for arg in &required_arg_names {
        let seen: Vec<Value> = real
            .iter()
            .filter_map(|w| w.args.get(arg).cloned())
            .collect();
        if !seen.is_empty() {
            arg_values.insert(arg.clone(), most_common(&seen));
        }
    }
    let mut context_values = BTreeMap::new();
    for ctx in &required_context_names {
        let seen: Vec<Value> = real
            .iter()
            .filter_map(|w| w.contexts.get(ctx).cloned())
            .collect();
        if !seen.is_empty() {
            context_values.insert(ctx.clone(), most_common(&seen));
        }
    }
    json!({
        "generated_from": [
            format!("tests/fixtures/rally/openstack-scenarios.json ({})", listing["versions"]),
            "tests/fixtures/openstack/rally-task-catalog.json".to_string(),
            "derived by zuul/tests/scenario_table.rs".to_string(),
        ],
        "scenarios": scenarios,
        "arg_values": arg_values,
        "context_values": context_values,
    })
}

#[test]
fn embedded_scenario_table_matches_the_fixtures() {
    let derived = derive();
    let path = workspace().join("zuul/src/scaffold/catalog/data/scenarios.json");
    if std::env::var_os("PERFKIT_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&derived).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let embedded = read_json(&path);
    assert!(
        embedded == derived,
        "{} is stale; rerun with PERFKIT_BLESS=1 and review the diff",
        path.display()
    );
}

#[test]
fn derived_table_covers_every_listed_scenario() {
    let derived = derive();
    let listing = read_json(&workspace().join("tests/fixtures/rally/openstack-scenarios.json"));
    assert_eq!(
        derived["scenarios"].as_array().unwrap().len() as u64,
        listing["count"].as_u64().unwrap()
    );
    // A scenario real tasks run has an example, with our variables in place.
    let boot = derived["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "NovaServers.boot_and_delete_server")
        .unwrap();
    assert_eq!(boot["example"]["args"]["image"]["name"], "{{ image_name }}");
    assert_eq!(
        boot["example"]["args"]["flavor"]["name"],
        "{{ flavor_name }}"
    );
    assert_eq!(
        boot["example"]["source"],
        "rally-openstack/rally-jobs/nova.yaml"
    );
}
