//! Projects perfkit's catalog does not know: a job entry synthesized from
//! the project name (parent `rally-task-at-devstack`, the project's own
//! devstack plugin), and the custom scenario plugin that stands in until
//! the project writes its own scenarios.

use serde::Serialize;
use serde_json::json;

use crate::scaffold::catalog::{ServiceEntry, Subtask, Workload, service_types};
use perfkit_schema::ProjectName;

/// The custom scenario written to `rally-jobs/plugins/`.
#[derive(Debug, Clone, Serialize)]
pub struct Plugin {
    /// Python module name (also the file stem, plus `_scenarios`).
    pub module: String,
    /// File name under `rally-jobs/plugins/`.
    pub file: String,
    /// Rally scenario name, e.g. `Trove.request_api_root`.
    pub scenario: String,
    /// Python class name.
    pub class_name: String,
    /// Atomic action the scenario records.
    pub atomic: String,
    /// Service type looked up in the Keystone catalog.
    pub service_type: String,
    /// Whether `service_type` came from the service-types authority (else it
    /// is the project name, a guess).
    pub service_type_known: bool,
}

/// Python identifier for a project short name (`networking-sfc` →
/// `networking_sfc`).
fn module_name(short: &str) -> String {
    let mut m: String = short
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if m.starts_with(|c: char| c.is_ascii_digit()) {
        m.insert_str(0, "p_");
    }
    m
}

/// CamelCase scenario group for a project short name (`networking-sfc` →
/// `NetworkingSfc`).
fn group_name(short: &str) -> String {
    let camel: String = short
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            let first = cs.next().unwrap().to_ascii_uppercase();
            std::iter::once(first)
                .chain(cs.map(|c| c.to_ascii_lowercase()))
                .collect::<String>()
        })
        .collect();
    if camel.starts_with(|c: char| c.is_ascii_digit()) {
        format!("P{camel}")
    } else {
        camel
    }
}

/// The custom scenario for `project`.
pub fn plugin(project: &ProjectName) -> Plugin {
    let short = project.short_name();
    let module = module_name(short);
    let known = service_types::for_project(short);
    Plugin {
        file: format!("{module}_scenarios.py"),
        scenario: format!("{}.request_api_root", group_name(short)),
        class_name: "RequestApiRoot".into(),
        atomic: format!("{module}.request_api_root"),
        service_type: known.unwrap_or(short).to_string(),
        service_type_known: known.is_some(),
        module,
    }
}

/// Job entry for a project outside the catalog: the plain Rally parent job
/// and the project's own devstack plugin (an assumption the caller reports).
pub fn entry(project: &ProjectName, subtasks: Vec<Subtask>) -> ServiceEntry {
    let short = project.short_name();
    ServiceEntry {
        service: short.to_string(),
        rally_parent_job: None,
        devstack_plugins: vec![(
            short.to_string(),
            format!("https://opendev.org/{}", project.as_str()),
        )],
        devstack_services: vec![],
        required_projects: vec![project.as_str().to_string()],
        timeout_s: 7200,
        subtasks,
    }
}

/// The one subtask that runs the custom scenario.
pub fn subtask(project: &ProjectName, plugin: &Plugin) -> Subtask {
    Subtask {
        title: format!("{} API", project.short_name()),
        description: format!(
            "Placeholder from rally-jobs/plugins/{}: replace it with {}'s own scenarios.",
            plugin.file,
            project.short_name()
        ),
        workloads: vec![Workload {
            scenario: plugin.scenario.clone(),
            args: json!({"service_type": plugin.service_type, "repetitions": 2}),
            times: 20,
            concurrency: 2,
            contexts: json!({"users": {"tenants": 1, "users_per_tenant": 1}}),
            sla: json!({"max_avg_duration_per_atomic": {plugin.atomic.clone(): 10}}),
        }],
    }
}

/// Adds to `entry` the devstack setup of the catalog services whose
/// scenarios were picked with `--scenarios` (plugins, services, projects,
/// the longest timeout), without duplicates.
pub fn merge_needs(entry: &mut ServiceEntry, needs: &ServiceEntry) {
    for p in &needs.devstack_plugins {
        if !entry.devstack_plugins.iter().any(|q| q.0 == p.0) {
            entry.devstack_plugins.push(p.clone());
        }
    }
    for s in &needs.devstack_services {
        if !entry.devstack_services.iter().any(|t| t.0 == s.0) {
            entry.devstack_services.push(s.clone());
        }
    }
    for r in &needs.required_projects {
        if !entry.required_projects.contains(r) {
            entry.required_projects.push(r.clone());
        }
    }
    entry.timeout_s = entry.timeout_s.max(needs.timeout_s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str) -> ProjectName {
        ProjectName::try_from(name).unwrap()
    }

    #[test]
    fn names_are_valid_python_and_rally_names() {
        let p = plugin(&project("networking-sfc"));
        assert_eq!(p.module, "networking_sfc");
        assert_eq!(p.file, "networking_sfc_scenarios.py");
        assert_eq!(p.scenario, "NetworkingSfc.request_api_root");
        assert_eq!(plugin(&project("x/3par.driver")).module, "p_3par_driver");
        assert_eq!(
            plugin(&project("x/3par.driver")).scenario,
            "P3parDriver.request_api_root"
        );
    }

    #[test]
    fn service_type_comes_from_the_authority_when_known() {
        let trove = plugin(&project("trove"));
        assert_eq!(
            (trove.service_type.as_str(), trove.service_type_known),
            ("database", true)
        );
        let other = plugin(&project("x/frobnicator"));
        assert_eq!(
            (other.service_type.as_str(), other.service_type_known),
            ("frobnicator", false)
        );
    }

    #[test]
    fn entry_points_at_the_project_s_own_plugin() {
        let e = entry(&project("x/frobnicator"), vec![]);
        assert_eq!(e.rally_parent_job, None);
        assert_eq!(
            e.devstack_plugins,
            vec![(
                "frobnicator".to_string(),
                "https://opendev.org/x/frobnicator".to_string()
            )]
        );
        assert_eq!(e.required_projects, vec!["x/frobnicator".to_string()]);
    }
}
