//! The Zuul job perfkit adds: what goes in it (from the service catalog and
//! the options) and its text, rendered from `rally-jobs-template/zuul/`.
//! Where the text goes is `merge`'s and `scaffold`'s business.

use std::path::Path;

use minijinja::{Environment, context};
use perfkit_schema::ProjectName;

use crate::scaffold::ScaffoldError;
use crate::scaffold::catalog::ServiceEntry;

/// Parent every Rally job can fall back on (rally-openstack `.zuul.d/base.yaml`).
pub const GENERIC_PARENT: &str = "rally-task-at-devstack";
/// Where the scaffolded post-run playbook lives in the project repo.
pub const POST_RUN_PLAYBOOK: &str = "playbooks/perfkit/post-rally-task.yaml";
/// The cleanup playbook (a post-run with `cleanup: true`) every perfkit job
/// shares: it removes the archive credentials when the post-run timed out or
/// the build was aborted.
pub const CLEANUP_PLAYBOOK: &str = "playbooks/perfkit/cleanup.yaml";
/// Pipelines used when `--pipelines` is not given.
pub const DEFAULT_PIPELINES: [&str; 2] = ["check", "gate"];
/// Changes that cannot alter performance (docs, release notes).
pub(crate) const IRRELEVANT_FILES: [&str; 4] = [
    r"^.*\.rst$",
    r"^api-ref/.*$",
    r"^doc/.*$",
    r"^releasenotes/.*$",
];

const JOB_TEMPLATE: &str = include_str!("../../../rally-jobs-template/zuul/job.yaml.j2");
const PROJECT_TEMPLATE: &str = include_str!("../../../rally-jobs-template/zuul/project.yaml.j2");

/// Everything the job stanza says.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Full Gerrit name, e.g. `openstack/nova`.
    pub project: String,
    pub job_name: String,
    pub parent: String,
    pub timeout: u32,
    /// `vars.rally_task`, relative to the project repo.
    pub rally_task: String,
    pub post_run: String,
    pub required_projects: Vec<String>,
    pub devstack_plugins: Vec<(String, String)>,
    pub devstack_services: Vec<(String, bool)>,
    pub irrelevant_files: Vec<String>,
}

impl JobSpec {
    /// The job for `project` from its catalog entry: parent `rally-task-<service>`
    /// when rally-openstack defines one, else `rally-task-at-devstack`.
    pub fn new(
        project: &ProjectName,
        job_name: &str,
        entry: &ServiceEntry,
        rally_task: &str,
    ) -> Self {
        let mut required_projects = vec!["openstack/rally-openstack".to_string()];
        for extra in &entry.required_projects {
            let full = if extra.contains('/') {
                extra.clone()
            } else {
                format!("openstack/{extra}")
            };
            if !required_projects.contains(&full) {
                required_projects.push(full);
            }
        }
        JobSpec {
            project: project.as_str().to_string(),
            job_name: job_name.to_string(),
            parent: entry
                .rally_parent_job
                .clone()
                .unwrap_or_else(|| GENERIC_PARENT.to_string()),
            timeout: entry.timeout_s,
            rally_task: rally_task.to_string(),
            post_run: POST_RUN_PLAYBOOK.to_string(),
            required_projects,
            devstack_plugins: with_rally_plugin(&entry.devstack_plugins),
            devstack_services: entry.devstack_services.clone(),
            irrelevant_files: IRRELEVANT_FILES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The catalog leaves out the `rally-openstack` devstack plugin (every job
/// needs it); the job lists it first, as rally-openstack's own jobs do.
fn with_rally_plugin(plugins: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = vec![(
        "rally-openstack".to_string(),
        "https://opendev.org/openstack/rally-openstack".to_string(),
    )];
    all.extend(
        plugins
            .iter()
            .filter(|(name, _)| name != "rally-openstack")
            .cloned(),
    );
    all
}

/// `<short name>-rally-task`, the OpenStack naming rule (`<project>-…`).
pub fn default_job_name(project: &ProjectName) -> String {
    format!("{}-rally-task", project.short_name())
}

/// Job and pipeline names end up as YAML scalars and in file names' company:
/// keep them to Zuul's usual characters.
pub fn check_name(kind: &'static str, name: &str) -> Result<(), ScaffoldError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::InvalidName {
            kind,
            name: name.to_string(),
        })
    }
}

/// The `- job:` stanza, with perfkit's header comment.
pub fn render_job(spec: &JobSpec, templates_dir: Option<&Path>) -> Result<String, ScaffoldError> {
    render(
        "zuul/job.yaml.j2",
        JOB_TEMPLATE,
        templates_dir,
        context! {
            project => spec.project.clone(),
            job_name => spec.job_name.clone(),
            parent => spec.parent.clone(),
            timeout => spec.timeout,
            rally_task => spec.rally_task.clone(),
            post_run => spec.post_run.clone(),
            cleanup_run => CLEANUP_PLAYBOOK,
            required_projects => spec.required_projects.clone(),
            devstack_plugins => spec.devstack_plugins.clone(),
            devstack_services => spec.devstack_services.clone(),
            irrelevant_files => spec.irrelevant_files.clone(),
        },
    )
}

/// A `- project:` stanza listing `job_name` in each pipeline.
pub fn render_project(
    job_name: &str,
    pipelines: &[String],
    templates_dir: Option<&Path>,
) -> Result<String, ScaffoldError> {
    render(
        "zuul/project.yaml.j2",
        PROJECT_TEMPLATE,
        templates_dir,
        context! { job_name, pipelines => pipelines.to_vec() },
    )
}

/// Renders template `name` (relative to the templates root): the copy under
/// `--templates DIR` when there is one, else the built-in text.
pub(crate) fn render(
    name: &str,
    builtin: &str,
    templates_dir: Option<&Path>,
    ctx: minijinja::Value,
) -> Result<String, ScaffoldError> {
    let template_error = |e: minijinja::Error| ScaffoldError::Template {
        name: name.to_string(),
        message: e.to_string(),
    };
    let source = match templates_dir.map(|d| d.join(name)) {
        Some(path) if path.is_file() => {
            std::fs::read_to_string(&path).map_err(|source| ScaffoldError::Read { path, source })?
        }
        _ => builtin.to_string(),
    };
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(template_error)?,
    );
    // minijinja would JSON-escape `*.yaml.j2` output; these templates quote
    // for YAML themselves (`yaml_str`).
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("yaml_str", yaml_str);
    env.add_template_owned(name.to_string(), source)
        .map_err(template_error)?;
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(template_error)
}

/// A string as a YAML scalar: plain when that reads back as the same
/// string, double-quoted (JSON escaping is valid YAML) otherwise.
fn yaml_str(s: String) -> String {
    let plain_ok = !s.is_empty()
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && s.chars().all(|c| !c.is_control())
        && !looks_like_non_string(&s);
    if plain_ok {
        s
    } else {
        serde_json::to_string(&s).unwrap_or(s)
    }
}

/// Plain scalars YAML (1.1 or 1.2) would read as a bool, null or number.
fn looks_like_non_string(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    ) || s.parse::<f64>().is_ok()
        || lower.starts_with("0x")
        || lower.starts_with("0o")
        || lower.starts_with(".inf")
        || lower == ".nan"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_strings_read_back_unchanged() {
        for s in [
            "openstack/rally-openstack",
            r"^.*\.rst$",
            "https://opendev.org/openstack/rally-openstack",
            "c-api",
            "yes",
            "1.0",
            "a: b",
            "#x",
            "- x",
            "it's",
            "*alias",
            "x #y",
        ] {
            let text = format!("k: {}\n", yaml_str(s.to_string()));
            let back: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
            assert_eq!(back.get("k").and_then(|v| v.as_str()), Some(s), "{text}");
        }
    }

    #[test]
    fn odd_names_are_refused() {
        assert!(check_name("job", "nova-rally-task").is_ok());
        for bad in ["", "-x", "a b", "a:b", "x\ny", "a/b"] {
            assert!(check_name("job", bad).is_err(), "{bad:?}");
        }
    }
}
