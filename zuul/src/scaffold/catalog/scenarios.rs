//! The scenario table: every scenario of rally-openstack 4.1.0 (and
//! rally's own), with its required arguments and contexts and, where a real
//! task file runs it, one real workload to copy. `--scenarios` names are
//! checked against it and filled from it.
//!
//! `data/scenarios.json` is derived from `tests/fixtures/rally/
//! openstack-scenarios.json` and `tests/fixtures/openstack/
//! rally-task-catalog.json` by `zuul/tests/scenario_table.rs`, which fails
//! when the two drift apart (`PERFKIT_BLESS=1` rewrites the file).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The embedded table.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioTable {
    /// Where the data comes from.
    pub generated_from: Vec<String>,
    pub scenarios: Vec<ScenarioInfo>,
    /// For argument names some scenario requires: the value real task files
    /// use most often (after the image/flavor substitution).
    pub arg_values: BTreeMap<String, Value>,
    /// For contexts some scenario requires: the configuration real task
    /// files use most often.
    pub context_values: BTreeMap<String, Value>,
}

/// One scenario.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInfo {
    /// Full name, e.g. `NovaServers.boot_and_delete_server`.
    pub name: String,
    /// Rally platform: `openstack` or `default` (Dummy, HttpRequests).
    pub platform: String,
    /// Arguments of `run()` without a default.
    pub required_args: Vec<RequiredArg>,
    /// Contexts its `required_contexts` validator insists on.
    pub required_contexts: Vec<String>,
    /// A workload from a real task file, if any runs this scenario.
    pub example: Option<Example>,
}

/// A required argument.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredArg {
    pub name: String,
    /// Rally resource type that resolves the value (`glance_image`,
    /// `nova_flavor`, `file`, …), if any.
    pub resource_type: Option<String>,
}

/// A real workload, with the image and flavor replaced by the task's Jinja
/// variables and the runner capped for a check job.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub args: Value,
    pub contexts: Value,
    pub times: u32,
    pub concurrency: u32,
    /// Task file it was taken from, e.g. `rally-openstack/rally-jobs/nova.yaml`.
    pub source: String,
}

/// The embedded table.
pub fn table() -> &'static ScenarioTable {
    static TABLE: OnceLock<ScenarioTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("data/scenarios.json"))
            .expect("embedded catalog/data/scenarios.json parses")
    })
}

/// The scenario called exactly `name`.
pub fn find(name: &str) -> Option<&'static ScenarioInfo> {
    table().scenarios.iter().find(|s| s.name == name)
}

/// Up to three known names close to `name` (case-insensitive match first,
/// then by character similarity, as Python's difflib does for Rally).
pub fn suggest(name: &str) -> Vec<&'static str> {
    let lower = name.to_ascii_lowercase();
    let mut scored: Vec<(f32, &'static str)> = table()
        .scenarios
        .iter()
        .map(|s| {
            let candidate = s.name.to_ascii_lowercase();
            let score = if candidate == lower {
                2.0
            } else {
                similar::TextDiff::from_chars(lower.as_str(), candidate.as_str()).ratio()
            };
            (score, s.name.as_str())
        })
        .filter(|(score, _)| *score >= 0.6)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_rally_openstack_scenarios() {
        let boot = find("NovaServers.boot_and_delete_server").expect("known");
        assert_eq!(boot.platform, "openstack");
        let names: Vec<_> = boot.required_args.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["image", "flavor"]);
        assert!(find("NovaServers.boot_and_delete_servers").is_none());
    }

    #[test]
    fn suggests_near_names() {
        assert_eq!(
            suggest("NovaServers.boot_and_delete_servers")[0],
            "NovaServers.boot_and_delete_server"
        );
        assert_eq!(
            suggest("novaservers.boot_and_delete_server")[0],
            "NovaServers.boot_and_delete_server"
        );
        assert!(suggest("Zzzzzz.qqqqq").is_empty());
    }
}
