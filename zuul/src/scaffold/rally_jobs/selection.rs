//! `--scenarios A,B`: turns scenario names into workloads. Each name must
//! be in the scenario table; its arguments and contexts come, in order of
//! preference, from a catalog workload, from a real task file that runs it,
//! or from the image/flavor variables plus the values real task files use
//! for the same argument or context. A required argument none of these can
//! fill is refused: a guessed value would only fail later, in the gate.

use serde_json::{Value, json};

use crate::scaffold::ScaffoldError;
use crate::scaffold::catalog::scenarios::{self, ScenarioInfo};
use crate::scaffold::catalog::{self, ServiceEntry, Subtask, Workload};

/// Users context when the source has none: the most common setup of the
/// real task files (2 tenants × 2 users).
fn default_users() -> Value {
    json!({"tenants": 2, "users_per_tenant": 2})
}

/// Workloads for `names`, grouped into one subtask per scenario group, and
/// one note per scenario saying where its arguments came from.
pub fn subtasks(
    names: &[String],
    own: Option<&ServiceEntry>,
) -> Result<(Vec<Subtask>, Vec<String>), ScaffoldError> {
    let mut subtasks: Vec<Subtask> = Vec::new();
    let mut notes = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let info = scenarios::find(name).ok_or_else(|| ScaffoldError::UnknownScenario {
            name: name.to_string(),
            suggestions: scenarios::suggest(name)
                .into_iter()
                .map(String::from)
                .collect(),
        })?;
        let (workload, source) = workload_for(info, own)?;
        notes.push(format!("{name}: arguments from {source}"));
        let group = name.split('.').next().unwrap_or(name);
        match subtasks.iter_mut().find(|s| s.title == group) {
            Some(st) => st.workloads.push(workload),
            None => subtasks.push(Subtask {
                title: group.to_string(),
                description: format!("{group} scenarios chosen with --scenarios."),
                workloads: vec![workload],
            }),
        }
    }
    if subtasks.is_empty() {
        return Err(ScaffoldError::NoScenarios);
    }
    Ok((subtasks, notes))
}

fn workload_for(
    info: &'static ScenarioInfo,
    own: Option<&ServiceEntry>,
) -> Result<(Workload, String), ScaffoldError> {
    let in_entry = |entry: &ServiceEntry| {
        entry
            .subtasks
            .iter()
            .flat_map(|st| &st.workloads)
            .find(|wl| wl.scenario == info.name)
            .cloned()
    };
    if let Some(wl) = own.and_then(in_entry) {
        return Ok((wl, format!("perfkit's {} catalog", own.unwrap().service)));
    }
    for service in catalog::services() {
        if let Some(wl) = catalog::lookup(service).and_then(in_entry) {
            return Ok((wl, format!("perfkit's {service} catalog")));
        }
    }
    let (mut args, mut contexts, times, concurrency, source) = match &info.example {
        Some(ex) => (
            ex.args.clone(),
            ex.contexts.clone(),
            ex.times,
            ex.concurrency,
            ex.source.clone(),
        ),
        None => (json!({}), json!({}), 4, 2, String::new()),
    };
    let mut generic = Vec::new();
    for arg in &info.required_args {
        if args.get(&arg.name).is_some() {
            continue;
        }
        let value = match (arg.resource_type.as_deref(), arg.name.as_str()) {
            (Some("glance_image"), _) => json!({"name": "{{ image_name }}"}),
            (Some("nova_flavor"), "flavor") => json!({"name": "{{ flavor_name }}"}),
            _ => match scenarios::table().arg_values.get(&arg.name) {
                Some(v) => v.clone(),
                None => {
                    return Err(ScaffoldError::UnfillableScenario {
                        scenario: info.name.clone(),
                        what: format!("argument `{}`", arg.name),
                    });
                }
            },
        };
        args[&arg.name] = value;
        generic.push(format!("`{}`", arg.name));
    }
    for ctx in &info.required_contexts {
        if contexts.get(ctx).is_some() {
            continue;
        }
        let value = scenarios::table()
            .context_values
            .get(ctx)
            .cloned()
            .ok_or_else(|| ScaffoldError::UnfillableScenario {
                scenario: info.name.clone(),
                what: format!("context `{ctx}`"),
            })?;
        contexts[ctx] = value;
        generic.push(format!("context `{ctx}`"));
    }
    if contexts.get("users").is_none() {
        contexts["users"] = default_users();
    }
    let source = match (source.is_empty(), generic.is_empty()) {
        (false, true) => source,
        (false, false) => format!(
            "{source}, plus {} as real task files set them",
            generic.join(", ")
        ),
        (true, true) => "its defaults".to_string(),
        (true, false) => format!("{} as real task files set them", generic.join(", ")),
    };
    let workload = Workload {
        scenario: info.name.clone(),
        args,
        times,
        concurrency,
        contexts,
        sla: json!({}),
    };
    Ok((workload, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str) -> Result<(Workload, Vec<String>), ScaffoldError> {
        let (subtasks, notes) = subtasks(&[name.to_string()], None)?;
        Ok((subtasks[0].workloads[0].clone(), notes))
    }

    #[test]
    fn catalog_workloads_are_preferred() {
        let (wl, notes) = one("NovaServers.boot_and_delete_server").unwrap();
        assert_eq!(wl.args["image"]["name"], "{{ image_name }}");
        assert!(wl.sla.get("max_avg_duration_per_atomic").is_some());
        assert_eq!(
            notes[0],
            "NovaServers.boot_and_delete_server: arguments from perfkit's nova catalog"
        );
    }

    #[test]
    fn real_task_files_fill_the_rest() {
        let (wl, notes) = one("NovaServers.resize_server").unwrap();
        assert_eq!(wl.args["to_flavor"]["name"], "m1.small");
        assert_eq!(wl.args["flavor"]["name"], "{{ flavor_name }}");
        assert!(
            notes[0].contains("rally-openstack/rally-jobs/nova.yaml"),
            "{notes:?}"
        );
    }

    #[test]
    fn generic_values_fill_a_scenario_no_task_runs() {
        // No real task runs it; `volumes` comes from the tasks that use it.
        let (wl, notes) = one("CinderVolumes.modify_volume_metadata").unwrap();
        assert!(wl.contexts.get("volumes").is_some());
        assert!(notes[0].contains("context `volumes`"), "{notes:?}");
        let (wl, _) = one("Authenticate.validate_neutron").unwrap();
        assert!(wl.args["repetitions"].is_u64());
    }

    #[test]
    fn unknown_names_get_suggestions() {
        let err = one("NovaServers.boot_and_delete_servers").unwrap_err();
        match err {
            ScaffoldError::UnknownScenario { suggestions, .. } => {
                assert_eq!(suggestions[0], "NovaServers.boot_and_delete_server")
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn unfillable_arguments_are_refused() {
        let err = one("DesignateBasic.list_recordsets").unwrap_err();
        assert!(err.to_string().contains("`zone_id`"), "{err}");
    }

    #[test]
    fn empty_lists_are_refused_and_repeats_dropped() {
        assert!(matches!(
            subtasks(&[" ".into()], None),
            Err(ScaffoldError::NoScenarios)
        ));
        let names = vec!["Dummy.dummy".to_string(), "Dummy.dummy".to_string()];
        let (st, _) = subtasks(&names, None).unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].workloads.len(), 1);
    }
}
