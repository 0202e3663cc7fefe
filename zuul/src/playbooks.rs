//! The post-run playbook perfkit adds to a project (and its README): keep
//! Rally's results as Zuul artifacts, archive them with `perfkit ingest`
//! where a secret allows. The playbook is static Ansible (its `{{ }}` are
//! Ansible's); only the README is a template.

use std::path::{Path, PathBuf};

use minijinja::context;

use crate::ScaffoldError;
use crate::zuul_job::{JobSpec, POST_RUN_PLAYBOOK, render};

const PLAYBOOK: &str =
    include_str!("../../rally-jobs-template/playbooks/perfkit/post-rally-task.yaml");
const README_TEMPLATE: &str =
    include_str!("../../rally-jobs-template/playbooks/perfkit/README.rst.j2");

/// The playbook files, as (path in the repo, content).
pub fn render_playbooks(
    spec: &JobSpec,
    short_name: &str,
    templates_dir: Option<&Path>,
) -> Result<Vec<(PathBuf, String)>, ScaffoldError> {
    let playbook = match templates_dir.map(|d| d.join("playbooks/perfkit/post-rally-task.yaml")) {
        Some(path) if path.is_file() => {
            std::fs::read_to_string(&path).map_err(|source| ScaffoldError::Read { path, source })?
        }
        _ => PLAYBOOK.to_string(),
    };
    let readme = render(
        "playbooks/perfkit/README.rst.j2",
        README_TEMPLATE,
        templates_dir,
        context! {
            project => spec.project.clone(),
            job_name => spec.job_name.clone(),
            parent => spec.parent.clone(),
            rally_task => spec.rally_task.clone(),
            short_name,
        },
    )?;
    let dir = Path::new(POST_RUN_PLAYBOOK)
        .parent()
        .unwrap_or(Path::new("playbooks"));
    Ok(vec![
        (PathBuf::from(POST_RUN_PLAYBOOK), playbook),
        (dir.join("README.rst"), readme),
    ])
}
