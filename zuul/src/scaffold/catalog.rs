//! The service catalog: for each OpenStack service rally-openstack has
//! scenarios for, a curated set of workloads with arguments checked by real
//! Rally, and what the Zuul job needs to run them (parent job, devstack
//! plugins and services).
//!
//! The types are here; the data is one YAML file per service in
//! `catalog/services/`, embedded in the binary. The scenario table used to
//! check `--scenarios` is in [`scenarios`], the project → service-type table
//! in [`service_types`]. Rendering the task file is `rally_jobs`' job.
//!
//! Job fields: when `rally_parent_job` is set, the devstack plugins,
//! services and required projects listed are only those the parent does not
//! already provide (usually none: the parent is the job rally-openstack
//! runs the same service's task in); without a parent they are everything
//! the service needs on top of `rally-task-at-devstack`. Per-atomic-action
//! SLA names are checked against what each scenario records by
//! `zuul/tests/rally_conformance.rs`.

pub mod scenarios;
pub mod service_types;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything perfkit knows about one service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// Short service name, e.g. `nova` (also the usual project short name).
    pub service: String,
    /// Parent job defined by rally-openstack (`rally-task-nova`), if any;
    /// otherwise the job inherits `rally-task-at-devstack`.
    pub rally_parent_job: Option<String>,
    /// Devstack plugins to enable: (name, git URL). `rally-openstack` itself
    /// is not listed: every job needs it, so the job writer always adds it.
    pub devstack_plugins: Vec<(String, String)>,
    /// Devstack services to switch on (true) or off (false).
    pub devstack_services: Vec<(String, bool)>,
    /// Extra `required-projects` besides `openstack/rally-openstack`.
    pub required_projects: Vec<String>,
    /// Job timeout in seconds.
    pub timeout_s: u32,
    /// One subtask per resource area.
    pub subtasks: Vec<Subtask>,
}

/// A subtask of the generated Rally task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subtask {
    pub title: String,
    pub description: String,
    pub workloads: Vec<Workload>,
}

/// One workload: a scenario with its args, a constant runner, contexts and SLA.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// rally-openstack scenario name, e.g. `NovaServers.boot_and_delete_server`.
    pub scenario: String,
    /// Scenario arguments. Strings may reference the task's Jinja variables
    /// (`{{ image_name }}`, `{{ flavor_name }}`) as rendered text.
    pub args: Value,
    pub times: u32,
    pub concurrency: u32,
    /// Contexts (users, quotas, …).
    pub contexts: Value,
    /// SLA beyond `failure_rate: {max: 0}` (e.g. per-atomic-action limits).
    pub sla: Value,
}

/// The catalog files, in the order `services()` lists them.
const SERVICE_FILES: &[(&str, &str)] = &[
    ("nova", include_str!("catalog/services/nova.yaml")),
    ("neutron", include_str!("catalog/services/neutron.yaml")),
    ("cinder", include_str!("catalog/services/cinder.yaml")),
    ("glance", include_str!("catalog/services/glance.yaml")),
    ("keystone", include_str!("catalog/services/keystone.yaml")),
    ("swift", include_str!("catalog/services/swift.yaml")),
    ("heat", include_str!("catalog/services/heat.yaml")),
    ("ironic", include_str!("catalog/services/ironic.yaml")),
    ("designate", include_str!("catalog/services/designate.yaml")),
    ("octavia", include_str!("catalog/services/octavia.yaml")),
    ("manila", include_str!("catalog/services/manila.yaml")),
    ("barbican", include_str!("catalog/services/barbican.yaml")),
    ("magnum", include_str!("catalog/services/magnum.yaml")),
    ("mistral", include_str!("catalog/services/mistral.yaml")),
    ("zaqar", include_str!("catalog/services/zaqar.yaml")),
    ("watcher", include_str!("catalog/services/watcher.yaml")),
    ("gnocchi", include_str!("catalog/services/gnocchi.yaml")),
    (
        "networking-bgpvpn",
        include_str!("catalog/services/networking-bgpvpn.yaml"),
    ),
];

fn entries() -> &'static [ServiceEntry] {
    static ENTRIES: OnceLock<Vec<ServiceEntry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        SERVICE_FILES
            .iter()
            .map(|(name, text)| {
                // The data is embedded and covered by tests, so a parse error
                // is a build defect, not a user error.
                let entry: ServiceEntry = yaml_serde::from_str(text)
                    .unwrap_or_else(|e| panic!("catalog/services/{name}.yaml: {e}"));
                assert_eq!(entry.service, *name, "catalog/services/{name}.yaml");
                entry
            })
            .collect()
    })
}

/// The catalog entry of `service` (a project short name such as `nova`).
pub fn lookup(service: &str) -> Option<&'static ServiceEntry> {
    entries().iter().find(|e| e.service == service)
}

/// Every service in the catalog, in catalog order.
pub fn services() -> Vec<&'static str> {
    entries().iter().map(|e| e.service.as_str()).collect()
}

/// The catalog service that owns a scenario, judged by its name: the group
/// (`NovaServers` → nova), or the service named in `Authenticate.validate_<s>`
/// and `Quotas.<s>_…`. Used to give a job the devstack setup that
/// hand-picked scenarios need.
pub fn owner_of_scenario(scenario: &str) -> Option<&'static ServiceEntry> {
    let (group, method) = scenario.split_once('.')?;
    let by_name = |name: &str| lookup(name);
    match group {
        "Authenticate" => method.strip_prefix("validate_").and_then(by_name),
        "Quotas" => method.split('_').next().and_then(by_name),
        _ => GROUP_OWNERS
            .iter()
            .find(|(prefix, _)| group.starts_with(prefix))
            .and_then(|(_, service)| by_name(service)),
    }
}

/// Scenario group prefixes and the service whose devstack setup they need.
const GROUP_OWNERS: &[(&str, &str)] = &[
    ("Nova", "nova"),
    ("NeutronBGPVPN", "networking-bgpvpn"),
    ("NeutronTrunks", "neutron"),
    ("Neutron", "neutron"),
    ("Cinder", "cinder"),
    ("Glance", "glance"),
    ("Keystone", "keystone"),
    ("Swift", "swift"),
    ("Heat", "heat"),
    ("Ironic", "ironic"),
    ("Designate", "designate"),
    ("Octavia", "octavia"),
    ("Manila", "manila"),
    ("Barbican", "barbican"),
    ("Magnum", "magnum"),
    ("K8sPods", "magnum"),
    ("Mistral", "mistral"),
    ("Zaqar", "zaqar"),
    ("Watcher", "watcher"),
    ("Gnocchi", "gnocchi"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_service_parses_and_is_found() {
        let names = services();
        assert_eq!(names.len(), SERVICE_FILES.len());
        for name in names {
            let entry = lookup(name).expect("listed service is found");
            assert!(!entry.subtasks.is_empty(), "{name} has no subtasks");
            for st in &entry.subtasks {
                assert!(!st.workloads.is_empty(), "{name}/{}", st.title);
            }
        }
        assert!(lookup("trove").is_none());
    }

    #[test]
    fn the_issue_s_services_are_all_there() {
        for s in [
            "nova",
            "cinder",
            "neutron",
            "keystone",
            "glance",
            "swift",
            "heat",
            "ironic",
            "designate",
            "octavia",
            "manila",
            "barbican",
            "magnum",
            "mistral",
            "zaqar",
            "watcher",
            "gnocchi",
        ] {
            assert!(lookup(s).is_some(), "{s} missing");
        }
    }

    #[test]
    fn workloads_are_sane() {
        for entry in entries() {
            for st in &entry.subtasks {
                for wl in &st.workloads {
                    let at = format!("{}: {}", entry.service, wl.scenario);
                    assert!(wl.times >= 1 && wl.concurrency >= 1, "{at}");
                    // Rally's constant runner refuses concurrency > times.
                    assert!(wl.concurrency <= wl.times, "{at}");
                    assert!(wl.args.is_object(), "{at}: args");
                    assert!(wl.contexts.is_object(), "{at}: contexts");
                    assert!(wl.sla.is_object(), "{at}: sla");
                    assert!(
                        wl.sla.get("failure_rate").is_none(),
                        "{at}: failure_rate is always max 0, set by the template"
                    );
                    let info = scenarios::find(&wl.scenario)
                        .unwrap_or_else(|| panic!("{at}: not a rally-openstack 4.1.0 scenario"));
                    for ctx in &info.required_contexts {
                        assert!(wl.contexts.get(ctx).is_some(), "{at}: needs context {ctx}");
                    }
                    for arg in &info.required_args {
                        assert!(
                            wl.args.get(&arg.name).is_some(),
                            "{at}: needs arg {}",
                            arg.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn catalog_text_cannot_break_rally_s_jinja() {
        // Rally renders the task with Jinja2 before parsing YAML, so template
        // syntax in titles, descriptions, keys or args would be evaluated;
        // only the task's own two variables may appear.
        fn strings(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
                Value::Object(map) => {
                    for (k, v) in map {
                        out.push(k.clone());
                        strings(v, out);
                    }
                }
                _ => {}
            }
        }
        for entry in entries() {
            let mut all = Vec::new();
            strings(&serde_json::to_value(entry).unwrap(), &mut all);
            for s in all {
                let stripped = s
                    .replace("{{ image_name }}", "")
                    .replace("{{ flavor_name }}", "");
                for bad in ["{{", "{%", "{#", "}}", "%}", "#}"] {
                    assert!(
                        !stripped.contains(bad),
                        "{}: `{s}` contains `{bad}`",
                        entry.service
                    );
                }
            }
        }
    }

    #[test]
    fn owners_follow_scenario_names() {
        let owner = |s: &str| owner_of_scenario(s).map(|e| e.service.as_str());
        assert_eq!(owner("NovaServers.boot_and_delete_server"), Some("nova"));
        assert_eq!(owner("Authenticate.validate_cinder"), Some("cinder"));
        assert_eq!(owner("Quotas.neutron_update"), Some("neutron"));
        assert_eq!(
            owner("NeutronBGPVPN.create_and_list_bgpvpns"),
            Some("networking-bgpvpn")
        );
        assert_eq!(owner("GnocchiMetric.list_metric"), Some("gnocchi"));
        assert_eq!(owner("Dummy.dummy"), None);
        assert_eq!(owner("Authenticate.keystone"), None);
    }
}
