//! The playbooks perfkit adds to a project (and their README): the Rally
//! job's post-run, and the run and post-run playbooks of the Locust and fio
//! variants. Both Locust run playbooks (plain, through an upgrade) import
//! `tasks/prepare-locust.yaml` and share the post-run `post-locust.yaml`.
//! Every post-run imports `tasks/keep-results.yaml`: keep the results as
//! Zuul artifacts, archive them with `perfkit ingest` where a secret allows.
//! Both fio run playbooks (local disk, Ceph RBD) import `tasks/run-fio.yaml`
//! and share the post-run `post-fio.yaml`. Every job's last post-run, with
//! `cleanup: true`, is `cleanup.yaml`. The playbooks are static Ansible
//! (their `{{ }}` are Ansible's), each replaceable by a file at the same
//! path under `--templates`; only the README is a template.

use std::path::{Path, PathBuf};

use minijinja::context;

use crate::scaffold::ScaffoldError;
use crate::scaffold::job::{CLEANUP_PLAYBOOK, JobSpec, POST_RUN_PLAYBOOK, render};
use crate::scaffold::variants::Variant;

/// The post-run tasks every perfkit job shares.
pub const KEEP_RESULTS_TASKS: &str = "playbooks/perfkit/tasks/keep-results.yaml";
/// Where the variants' run and post-run playbooks both find the results.
pub const RESULTS_VARS: &str = "playbooks/perfkit/vars/results.yaml";
/// The tasks that prepare Locust, shared by both Locust run playbooks.
pub const PREPARE_LOCUST_TASKS: &str = "playbooks/perfkit/tasks/prepare-locust.yaml";
/// The script that runs Locust through an upgrade and records its window.
pub const LOCUST_THROUGH_UPGRADE: &str = "playbooks/perfkit/files/locust-through-upgrade.py";
/// The tasks that run fio, shared by both fio run playbooks.
pub const RUN_FIO_TASKS: &str = "playbooks/perfkit/tasks/run-fio.yaml";

const CLEANUP: &str = include_str!("../../../rally-jobs-template/playbooks/perfkit/cleanup.yaml");
const POST_RALLY: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/post-rally-task.yaml");
const KEEP_RESULTS: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/tasks/keep-results.yaml");
const RUN_LOCUST: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/run-locust.yaml");
const RUN_LOCUST_UPGRADE: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/run-locust-upgrade.yaml");
const PREPARE_LOCUST: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/tasks/prepare-locust.yaml");
const THROUGH_UPGRADE: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/files/locust-through-upgrade.py");
const POST_LOCUST: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/post-locust.yaml");
const RESULTS: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/vars/results.yaml");
const RUN_FIO: &str = include_str!("../../../rally-jobs-template/playbooks/perfkit/run-fio.yaml");
const RUN_FIO_RBD: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/run-fio-rbd.yaml");
const RUN_FIO_SHARED: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/tasks/run-fio.yaml");
const POST_FIO: &str = include_str!("../../../rally-jobs-template/playbooks/perfkit/post-fio.yaml");
const README_TEMPLATE: &str =
    include_str!("../../../rally-jobs-template/playbooks/perfkit/README.rst.j2");

/// The Rally job's playbook files and the README, as (path in the repo,
/// content). The README describes the variants too, so that adding one
/// later leaves it unchanged.
pub fn render_playbooks(
    spec: &JobSpec,
    short_name: &str,
    templates_dir: Option<&Path>,
) -> Result<Vec<(PathBuf, String)>, ScaffoldError> {
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
        static_file(POST_RUN_PLAYBOOK, POST_RALLY, templates_dir)?,
        static_file(KEEP_RESULTS_TASKS, KEEP_RESULTS, templates_dir)?,
        static_file(CLEANUP_PLAYBOOK, CLEANUP, templates_dir)?,
        (dir.join("README.rst"), readme),
    ])
}

/// A variant's run and post-run playbooks, the results variables they
/// share (the same file for every variant) and, for fio, the tasks both
/// fio run playbooks import, as (path in the repo, content).
pub fn variant_playbooks(
    variant: Variant,
    templates_dir: Option<&Path>,
) -> Result<Vec<(PathBuf, String)>, ScaffoldError> {
    let (run, post) = match variant {
        Variant::Locust => (RUN_LOCUST, POST_LOCUST),
        Variant::LocustUpgrade => (RUN_LOCUST_UPGRADE, POST_LOCUST),
        Variant::Fio => (RUN_FIO, POST_FIO),
        Variant::FioRbd => (RUN_FIO_RBD, POST_FIO),
    };
    let mut files = vec![
        static_file(&variant.run_playbook(), run, templates_dir)?,
        static_file(&variant.post_run_playbook(), post, templates_dir)?,
        static_file(RESULTS_VARS, RESULTS, templates_dir)?,
        static_file(CLEANUP_PLAYBOOK, CLEANUP, templates_dir)?,
    ];
    if matches!(variant, Variant::Fio | Variant::FioRbd) {
        files.push(static_file(RUN_FIO_TASKS, RUN_FIO_SHARED, templates_dir)?);
    }
    if matches!(variant, Variant::Locust | Variant::LocustUpgrade) {
        files.push(static_file(
            PREPARE_LOCUST_TASKS,
            PREPARE_LOCUST,
            templates_dir,
        )?);
    }
    if variant == Variant::LocustUpgrade {
        files.push(static_file(
            LOCUST_THROUGH_UPGRADE,
            THROUGH_UPGRADE,
            templates_dir,
        )?);
    }
    Ok(files)
}

/// `path` as shipped, or the file at the same path under `--templates DIR`.
fn static_file(
    path: &str,
    builtin: &str,
    templates_dir: Option<&Path>,
) -> Result<(PathBuf, String), ScaffoldError> {
    let content = match templates_dir.map(|d| d.join(path)) {
        Some(override_path) if override_path.is_file() => {
            std::fs::read_to_string(&override_path).map_err(|source| ScaffoldError::Read {
                path: override_path,
                source,
            })?
        }
        _ => builtin.to_string(),
    };
    Ok((PathBuf::from(path), content))
}
