//! Snapshots of every rally-jobs file perfkit generates: one per file per
//! catalog service, plus the custom-plugin case (`trove`) and a
//! `--scenarios` case. Review `.snap` diffs like code
//! (`cargo insta review`).

use perfkit_zuul::scaffold::catalog;
use perfkit_zuul::scaffold::rally_jobs::{RallyJobsRequest, plan_rally_jobs};

fn snapshot_plan(case: &str, req: &RallyJobsRequest) {
    let plan = plan_rally_jobs(req).unwrap_or_else(|e| panic!("{case}: {e}"));
    for (path, content) in &plan.files {
        // e.g. "nova__rally-jobs__task-nova.yaml"
        let name = format!("{case}__{}", path.display().to_string().replace('/', "__"));
        insta::assert_snapshot!(name, content);
    }
    let listing: Vec<String> = plan
        .files
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    insta::assert_snapshot!(
        format!("{case}__plan"),
        format!(
            "files:\n  {}\nparent: {:?}\ncustom_plugin: {}\nnotes:\n  {}\n",
            listing.join("\n  "),
            plan.service.rally_parent_job,
            plan.custom_plugin,
            plan.notes.join("\n  ")
        )
    );
}

fn request(project: &str, scenarios: Option<&[&str]>) -> RallyJobsRequest {
    RallyJobsRequest {
        project: project.try_into().unwrap(),
        scenarios: scenarios.map(|s| s.iter().map(|n| n.to_string()).collect()),
        templates_dir: None,
    }
}

#[test]
fn every_catalog_service() {
    for service in catalog::services() {
        snapshot_plan(service, &request(service, None));
    }
}

#[test]
fn custom_plugin_for_a_project_without_scenarios() {
    snapshot_plan("trove", &request("trove", None));
}

#[test]
fn scenarios_picked_for_an_unknown_project() {
    snapshot_plan(
        "x-frobnicator-scenarios",
        &request(
            "x/frobnicator",
            Some(&[
                "NovaServers.resize_server",
                "CinderVolumes.modify_volume_metadata",
                "Octavia.create_and_list_loadbalancers",
            ]),
        ),
    );
}
