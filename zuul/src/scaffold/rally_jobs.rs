//! The `rally-jobs/` tree of `perfkit scaffold`: README.rst,
//! task-<project>.yaml (a Rally v2 task), plugins/__init__.py,
//! plugins/README.rst, extra/README.rst, plus the files the workloads need
//! in extra/ and, for a project rally-openstack has no scenarios for, a
//! custom scenario plugin.
//!
//! Which workloads: the catalog entry of the project (`nova` → nova),
//! the `--scenarios` the user named, or the custom plugin. Rendering is
//! minijinja over `rally-jobs-template/rally-jobs/*.j2` (see
//! [`templates`]); the task template's file name stands for its output
//! with `PROJECT` in place of the project. Writing the files and the Zuul
//! job are the caller's business.
//!
//! ```
//! use perfkit_zuul::scaffold::rally_jobs::{plan_rally_jobs, RallyJobsRequest};
//! let plan = plan_rally_jobs(&RallyJobsRequest {
//!     project: "nova".try_into().unwrap(),
//!     scenarios: None,
//!     templates_dir: None,
//! })
//! .unwrap();
//! assert!(plan.files.iter().any(|(p, _)| p.ends_with("rally-jobs/task-nova.yaml")));
//! assert_eq!(plan.service.rally_parent_job.as_deref(), Some("rally-task-nova"));
//! ```

pub mod custom;
pub mod selection;
pub mod templates;
pub mod yaml;

use std::path::PathBuf;

use perfkit_schema::ProjectName;
use serde_json::{Value, json};

use crate::scaffold::ScaffoldError;
use crate::scaffold::catalog::{self, ServiceEntry};
use templates::Templates;

/// Files rally-openstack's `prepare-for-rally-task` role creates in
/// `~/.rally/extra` on the test node; tasks may use them without shipping
/// them.
pub const GATE_EXTRA_FILES: &[&str] = &["dummy_image.qcow2", "dummy_image.raw"];

/// rally-openstack parent jobs that only set `rally_task` on top of
/// `rally-task-at-devstack` (`.zuul.d/rally-task-{nova,cinder,glance}.yaml`):
/// inheriting them gives hand-picked scenarios nothing.
const PLAIN_PARENTS: &[&str] = &["rally-task-nova", "rally-task-cinder", "rally-task-glance"];

/// What to scaffold.
#[derive(Debug, Clone)]
pub struct RallyJobsRequest {
    /// The project; its short name picks the catalog entry.
    pub project: ProjectName,
    /// Scenario names given with `--scenarios`, if any.
    pub scenarios: Option<Vec<String>>,
    /// `--templates DIR`: replaces shipped templates of the same name.
    pub templates_dir: Option<PathBuf>,
}

/// The rendered tree and what the Zuul job needs to run it.
#[derive(Debug, Clone)]
pub struct RallyJobsPlan {
    /// (path relative to the repo root, content), e.g.
    /// `rally-jobs/task-nova.yaml`.
    pub files: Vec<(PathBuf, String)>,
    /// The entry used (synthesized, with parent `rally-task-at-devstack`,
    /// for a project outside the catalog), with the workloads rendered.
    pub service: ServiceEntry,
    /// The task runs the custom scenario in `rally-jobs/plugins/`.
    pub custom_plugin: bool,
    /// Lines for the terminal.
    pub notes: Vec<String>,
}

/// Plans the rally-jobs tree for `req` (no file is written).
pub fn plan_rally_jobs(req: &RallyJobsRequest) -> Result<RallyJobsPlan, ScaffoldError> {
    let short = req.project.short_name();
    let own = catalog::lookup(short);
    let mut notes = Vec::new();
    let mut plugin = None;
    let service = match (&req.scenarios, own) {
        (Some(names), _) => {
            let (subtasks, picked) = selection::subtasks(names, own)?;
            notes.extend(picked);
            let mut entry = match own {
                Some(entry) => entry.clone(),
                None => {
                    notes.push(assumed_plugin_note(&req.project));
                    custom::entry(&req.project, vec![])
                }
            };
            entry.subtasks = subtasks;
            add_owner_needs(&mut entry, own.is_some(), &mut notes);
            entry
        }
        (None, Some(entry)) => entry.clone(),
        (None, None) => {
            let p = custom::plugin(&req.project);
            notes.push(format!(
                "rally-openstack has no scenarios for {short}: rally-jobs/task-{short}.yaml runs \
                 the placeholder scenario {} from rally-jobs/plugins/{}; write {short}'s own \
                 scenarios there",
                p.scenario, p.file
            ));
            if !p.service_type_known {
                notes.push(format!(
                    "{short} has no registered service type; the placeholder looks up service \
                     type `{}` in the Keystone catalog: change `service_type` in \
                     rally-jobs/task-{short}.yaml if it is wrong",
                    p.service_type
                ));
            }
            notes.push(assumed_plugin_note(&req.project));
            let entry = custom::entry(&req.project, vec![custom::subtask(&req.project, &p)]);
            plugin = Some(p);
            entry
        }
    };

    let templates = Templates::load(req.templates_dir.as_deref())?;
    for name in &templates.overridden {
        notes.push(format!("template {name} taken from --templates"));
    }
    let extra_files = extra_files_needed(&service)?;
    let context = json!({
        "project": short,
        "project_full": req.project.as_str(),
        "service": service,
        "custom_plugin": plugin.is_some(),
        "plugin": plugin,
        "chosen_scenarios": req.scenarios.is_some(),
        "extra_files": extra_files,
        "gate_extra_files": GATE_EXTRA_FILES,
    });
    let context = yaml::to_jinja(&context);
    let mut outputs = vec![
        (
            "rally-jobs/README.rst.j2",
            "rally-jobs/README.rst".to_string(),
        ),
        (
            "rally-jobs/task-PROJECT.yaml.j2",
            format!("rally-jobs/task-{short}.yaml"),
        ),
        (
            "rally-jobs/plugins/__init__.py.j2",
            "rally-jobs/plugins/__init__.py".to_string(),
        ),
        (
            "rally-jobs/plugins/README.rst.j2",
            "rally-jobs/plugins/README.rst".to_string(),
        ),
    ];
    if let Some(p) = &plugin {
        outputs.push((
            "rally-jobs/plugins/PROJECT_scenarios.py.j2",
            format!("rally-jobs/plugins/{}", p.file),
        ));
    }
    outputs.push((
        "rally-jobs/extra/README.rst.j2",
        "rally-jobs/extra/README.rst".to_string(),
    ));
    let mut files = Vec::new();
    for (template, path) in outputs {
        files.push((PathBuf::from(path), templates.render(template, &context)?));
    }
    for name in &extra_files {
        let template = format!("rally-jobs/extra/{name}.j2");
        files.push((
            PathBuf::from(format!("rally-jobs/extra/{name}")),
            templates.render(&template, &context)?,
        ));
    }
    Ok(RallyJobsPlan {
        files,
        service,
        custom_plugin: plugin.is_some(),
        notes,
    })
}

fn assumed_plugin_note(project: &ProjectName) -> String {
    format!(
        "{} is not in perfkit's catalog: the job assumes it is a devstack plugin at \
         https://opendev.org/{}; adjust devstack_plugins if it is not",
        project.short_name(),
        project.as_str()
    )
}

/// Gives the job the devstack setup that picked scenarios of other
/// services need: their parent job (a project outside the catalog has none
/// of its own) or, failing that, a note.
fn add_owner_needs(entry: &mut ServiceEntry, own_entry: bool, notes: &mut Vec<String>) {
    let mut owners: Vec<&'static ServiceEntry> = Vec::new();
    for wl in entry.subtasks.iter().flat_map(|st| &st.workloads) {
        if let Some(owner) = catalog::owner_of_scenario(&wl.scenario)
            && owner.service != entry.service
            && !owners.iter().any(|o| o.service == owner.service)
        {
            owners.push(owner);
        }
    }
    for owner in owners {
        custom::merge_needs(entry, owner);
        let Some(parent) = owner
            .rally_parent_job
            .as_ref()
            .filter(|p| !PLAIN_PARENTS.contains(&p.as_str()))
        else {
            continue;
        };
        if entry.rally_parent_job.is_none() && !own_entry {
            entry.rally_parent_job = Some(parent.clone());
            notes.push(format!(
                "the job inherits {parent} for the {} scenarios' devstack setup",
                owner.service
            ));
        } else if entry.rally_parent_job.as_ref() != Some(parent) {
            notes.push(format!(
                "{} scenarios run in {parent} upstream; if they fail, copy its devstack \
                 plugins and services into the job",
                owner.service
            ));
        }
    }
}

/// Files under `~/.rally/extra/` the workloads name, other than the ones
/// the gate makes; each must have a template.
fn extra_files_needed(service: &ServiceEntry) -> Result<Vec<String>, ScaffoldError> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => {
                if let Some(name) = s.strip_prefix("~/.rally/extra/")
                    && !GATE_EXTRA_FILES.contains(&name)
                    && !out.iter().any(|n| n == name)
                {
                    out.push(name.to_string());
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    for wl in service.subtasks.iter().flat_map(|st| &st.workloads) {
        walk(&wl.args, &mut names);
        walk(&wl.contexts, &mut names);
    }
    for name in &names {
        let template = format!("rally-jobs/extra/{name}.j2");
        if !templates::names().any(|t| t == template) {
            return Err(ScaffoldError::Template {
                name: template,
                message: format!("no such template; a workload reads ~/.rally/extra/{name}"),
            });
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        project: &str,
        scenarios: Option<&[&str]>,
        dir: Option<&std::path::Path>,
    ) -> RallyJobsRequest {
        RallyJobsRequest {
            project: project.try_into().unwrap(),
            scenarios: scenarios.map(|s| s.iter().map(|n| n.to_string()).collect()),
            templates_dir: dir.map(|d| d.to_path_buf()),
        }
    }

    fn file<'a>(plan: &'a RallyJobsPlan, path: &str) -> &'a str {
        plan.files
            .iter()
            .find(|(p, _)| p == std::path::Path::new(path))
            .map(|(_, c)| c.as_str())
            .unwrap_or_else(|| {
                panic!(
                    "no {path} in {:?}",
                    plan.files.iter().map(|f| &f.0).collect::<Vec<_>>()
                )
            })
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn catalog_project_gets_the_five_files_and_its_parent_job() {
        let plan = plan_rally_jobs(&request("nova", None, None)).unwrap();
        let paths: Vec<String> = plan
            .files
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "rally-jobs/README.rst",
                "rally-jobs/task-nova.yaml",
                "rally-jobs/plugins/__init__.py",
                "rally-jobs/plugins/README.rst",
                "rally-jobs/extra/README.rst",
            ]
        );
        assert!(!plan.custom_plugin);
        assert_eq!(
            plan.service.rally_parent_job.as_deref(),
            Some("rally-task-nova")
        );
        assert_eq!(file(&plan, "rally-jobs/plugins/__init__.py"), "");
        let task = file(&plan, "rally-jobs/task-nova.yaml");
        assert!(task.starts_with(
            "{% set image_name = image_name or \"^(cirros.*-disk|TestVM)$\" %}\n\
             {% set flavor_name = flavor_name or \"m1.tiny\" %}\n"
        ));
        assert!(task.contains("name: \"{{ image_name }}\""));
        // the task is YAML once Rally's two variables are rendered
        let rendered = task
            .lines()
            .filter(|l| !l.starts_with("{%"))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("{{ image_name }}", "cirros")
            .replace("{{ flavor_name }}", "m1.tiny");
        let parsed: Value = yaml_serde::from_str(&rendered).unwrap();
        assert_eq!(parsed["version"], 2);
        let n: usize = plan
            .service
            .subtasks
            .iter()
            .map(|s| s.workloads.len())
            .sum();
        let workloads: usize = parsed["subtasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["workloads"].as_array().unwrap().len())
            .sum();
        assert_eq!(workloads, n);
        for st in parsed["subtasks"].as_array().unwrap() {
            for wl in st["workloads"].as_array().unwrap() {
                assert_eq!(wl["sla"]["failure_rate"]["max"], 0);
                assert!(wl["runner"]["constant"]["times"].is_u64());
                assert!(wl["contexts"]["users"].is_object());
            }
        }
    }

    #[test]
    fn workloads_that_read_extra_files_ship_them() {
        let plan = plan_rally_jobs(&request("heat", None, None)).unwrap();
        let stack = file(&plan, "rally-jobs/extra/random_strings.yaml.template");
        assert!(stack.contains("OS::Heat::RandomString"));
        assert!(
            file(
                &plan,
                "rally-jobs/extra/updated_random_strings_add.yaml.template"
            )
            .contains("test_string_three")
        );
        assert!(
            file(&plan, "rally-jobs/extra/README.rst").contains("random_strings.yaml.template")
        );
        let plan = plan_rally_jobs(&request("mistral", None, None)).unwrap();
        assert!(file(&plan, "rally-jobs/extra/mistral_wb.yaml").contains("wf1:"));
        // glance reads only the images the gate creates
        let plan = plan_rally_jobs(&request("glance", None, None)).unwrap();
        assert_eq!(plan.files.len(), 5);
    }

    #[test]
    fn unknown_project_gets_a_custom_plugin_and_is_told() {
        let plan = plan_rally_jobs(&request("trove", None, None)).unwrap();
        assert!(plan.custom_plugin);
        assert_eq!(plan.service.rally_parent_job, None);
        let module = file(&plan, "rally-jobs/plugins/trove_scenarios.py");
        assert!(module.contains("@scenario.configure(name=\"Trove.request_api_root\""));
        assert!(module.contains("service_type=\"database\""));
        let task = file(&plan, "rally-jobs/task-trove.yaml");
        assert!(task.contains("Trove.request_api_root:"));
        assert!(task.contains("trove.request_api_root: 10"));
        assert!(
            plan.notes[0].contains("rally-jobs/plugins/trove_scenarios.py"),
            "{:?}",
            plan.notes
        );
        assert!(file(&plan, "rally-jobs/README.rst").contains("plugins/trove_scenarios.py"));
    }

    #[test]
    fn scenarios_replace_the_catalog_workloads_but_keep_the_job() {
        let plan = plan_rally_jobs(&request(
            "cinder",
            Some(&["CinderVolumes.create_volume", "NovaServers.boot_server"]),
            None,
        ))
        .unwrap();
        assert_eq!(
            plan.service.rally_parent_job.as_deref(),
            Some("rally-task-cinder")
        );
        let names: Vec<&str> = plan
            .service
            .subtasks
            .iter()
            .flat_map(|s| &s.workloads)
            .map(|w| w.scenario.as_str())
            .collect();
        assert_eq!(
            names,
            ["CinderVolumes.create_volume", "NovaServers.boot_server"]
        );
        assert!(
            plan.notes
                .iter()
                .any(|n| n.starts_with("CinderVolumes.create_volume: arguments from"))
        );
    }

    #[test]
    fn scenarios_of_other_services_bring_their_parent_job() {
        let plan = plan_rally_jobs(&request(
            "x/frobnicator",
            Some(&["Octavia.create_and_list_loadbalancers"]),
            None,
        ))
        .unwrap();
        assert!(!plan.custom_plugin);
        assert_eq!(
            plan.service.rally_parent_job.as_deref(),
            Some("rally-task-octavia")
        );
        assert!(
            plan.service
                .required_projects
                .contains(&"x/frobnicator".to_string())
        );
    }

    #[test]
    fn scenario_errors_are_clear() {
        let err = plan_rally_jobs(&request(
            "nova",
            Some(&["NovaServers.boot_and_delete_servers"]),
            None,
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`NovaServers.boot_and_delete_servers` is not a scenario of rally-openstack 4.1.0 or rally 5.1.1"
        );
        assert!(
            err.hint()
                .unwrap()
                .contains("`NovaServers.boot_and_delete_server`")
        );
        let err = plan_rally_jobs(&request(
            "designate",
            Some(&["DesignateBasic.list_recordsets"]),
            None,
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot fill the argument `zone_id` of scenario `DesignateBasic.list_recordsets`: \
             no catalog workload or real task file sets it"
        );
        let err = plan_rally_jobs(&request("nova", Some(&[]), None)).unwrap_err();
        assert!(matches!(err, ScaffoldError::NoScenarios));
    }

    #[test]
    fn templates_dir_overrides_single_templates() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "rally-jobs/plugins/README.rst.j2",
            "Plugins of {{ project_full }}\n",
        );
        // a template of the Zuul job side lives there too; not ours to judge
        write(dir.path(), "zuul.d/perfkit.yaml.j2", "{{ whatever }}");
        let plan = plan_rally_jobs(&request("nova", None, Some(dir.path()))).unwrap();
        assert_eq!(
            file(&plan, "rally-jobs/plugins/README.rst"),
            "Plugins of openstack/nova\n"
        );
        assert!(
            plan.notes
                .iter()
                .any(|n| n == "template rally-jobs/plugins/README.rst.j2 taken from --templates")
        );
        let shipped = plan_rally_jobs(&request("nova", None, None)).unwrap();
        assert_eq!(
            file(&plan, "rally-jobs/task-nova.yaml"),
            file(&shipped, "rally-jobs/task-nova.yaml")
        );
    }

    #[test]
    fn a_missing_variable_fails_naming_the_template() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "rally-jobs/README.rst.j2",
            "Jobs of {{ project }} by {{ maintainer }}\n",
        );
        let err = plan_rally_jobs(&request("nova", None, Some(dir.path()))).unwrap_err();
        match &err {
            ScaffoldError::Template { name, message } => {
                assert_eq!(name, "rally-jobs/README.rst.j2");
                assert!(message.contains("undefined"), "{message}");
            }
            other => panic!("{other}"),
        }
        assert!(
            err.to_string()
                .starts_with("template `rally-jobs/README.rst.j2` failed: ")
        );
        // strict also inside conditions, where lenient Jinja would be silent
        write(
            dir.path(),
            "rally-jobs/README.rst.j2",
            "{% if maintainer %}x{% endif %}\n",
        );
        assert!(matches!(
            plan_rally_jobs(&request("nova", None, Some(dir.path()))),
            Err(ScaffoldError::Template { .. })
        ));
    }

    #[test]
    fn a_broken_template_or_a_wrong_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "rally-jobs/task-PROJECT.yaml.j2",
            "{% for x in %}\n",
        );
        let err = plan_rally_jobs(&request("nova", None, Some(dir.path()))).unwrap_err();
        assert!(
            matches!(&err, ScaffoldError::Template { name, .. } if name == "rally-jobs/task-PROJECT.yaml.j2"),
            "{err}"
        );
        let missing = dir.path().join("nope");
        let err = plan_rally_jobs(&request("nova", None, Some(&missing))).unwrap_err();
        assert!(matches!(err, ScaffoldError::Read { .. }), "{err}");
    }
}
