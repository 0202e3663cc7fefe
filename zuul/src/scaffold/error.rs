//! `ScaffoldError`: every way a scaffold can fail, with the file or value
//! involved and a hint.

use std::path::PathBuf;

use crate::scaffold::variants::Variant;

/// A scaffold failure. Display is one line; [`ScaffoldError::hint`] is the fix.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("service `{0}` has no Rally scenarios in perfkit's catalog")]
    UnknownService(String),
    #[error("template `{name}` failed: {message}")]
    Template { name: String, message: String },
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    // --- scaffold: repo, Zuul config, writing (perfkit scaffold parts 1, 5-7) ---
    #[error("no git repository {} `{}`", if *searched_up { "at or above" } else { "at" }, path.display())]
    NotARepo { path: PathBuf, searched_up: bool },
    #[error("`{}` is a bare repository: there is no work tree to scaffold into", path.display())]
    BareRepo { path: PathBuf },
    #[error("cannot tell which project this repository is{}", remote.as_ref().map(|u| format!(" (remote `{u}` names none)")).unwrap_or_else(|| " (it has no remote)".into()))]
    ProjectUnknown { remote: Option<String> },
    #[error("{0}")]
    InvalidProject(String),
    #[error("{kind} name `{name}` is not valid: use letters, digits, `-`, `_` and `.`")]
    InvalidName { kind: &'static str, name: String },
    #[error("cannot parse the Zuul config `{}`: {message}", path.display())]
    ZuulParse { path: PathBuf, message: String },
    #[error("job `{job}` is already defined in `{}`{} and was not written by perfkit", path.display(), line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    JobConflict {
        job: String,
        path: PathBuf,
        line: Option<usize>,
    },
    #[error("job name `{name}` is the name of the `{flag}` job")]
    JobNameTaken { name: String, flag: &'static str },
    #[error("cannot merge perfkit's job into `{}` safely: {message}", path.display())]
    MergeCheck { path: PathBuf, message: String },
    #[error("generated file path `{}` is not inside the repository", path.display())]
    UnsafePath { path: PathBuf },
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    // --- rally-jobs: --scenarios (perfkit scaffold parts 2-4) ---
    #[error("`{name}` is not a scenario of rally-openstack 4.1.0 or rally 5.1.1")]
    UnknownScenario {
        name: String,
        suggestions: Vec<String>,
    },
    #[error(
        "cannot fill the {what} of scenario `{scenario}`: no catalog workload or real task file sets it"
    )]
    UnfillableScenario { scenario: String, what: String },
    #[error("`--scenarios` names no scenario")]
    NoScenarios,
}

impl ScaffoldError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ScaffoldError::UnknownService(_) => Some(
                "pass `--scenarios` with rally-openstack scenario names, or omit it to get a custom plugin skeleton".into(),
            ),
            ScaffoldError::Template { .. } => {
                Some("check the templates given with `--templates`".into())
            }
            ScaffoldError::Read { .. } => None,
            ScaffoldError::NotARepo { searched_up: true, .. } => Some(
                "run `perfkit scaffold` inside the project's git clone, or pass `--repo PATH`".into(),
            ),
            ScaffoldError::NotARepo { .. } => {
                Some("`--repo` must be the top directory of a git clone".into())
            }
            ScaffoldError::BareRepo { .. } => {
                Some("clone the repository with a work tree and run it there".into())
            }
            ScaffoldError::ProjectUnknown { .. } => {
                Some("pass `--project`, e.g. `--project openstack/nova` (or just `nova`)".into())
            }
            ScaffoldError::InvalidProject(_) => {
                Some("pass the Gerrit project name, e.g. `--project openstack/nova` or `nova`".into())
            }
            ScaffoldError::InvalidName { kind: "pipeline", .. } => {
                Some("list Zuul pipelines separated by commas, e.g. `--pipelines check,gate`".into())
            }
            ScaffoldError::InvalidName { .. } => {
                Some("pick a job name like `nova-rally-task` with `--job-name`".into())
            }
            ScaffoldError::ZuulParse { .. } => Some(
                "fix the YAML first (Zuul would refuse it too), then run `perfkit scaffold` again".into(),
            ),
            ScaffoldError::JobConflict { job, .. } => match variant_of(job) {
                Some(variant) => Some(format!(
                    "the `{flag}` job is always named `{job}`: rename the existing job, or leave out `{flag}`",
                    flag = variant.flag()
                )),
                None => Some(format!(
                    "pick another name for perfkit's job with `--job-name`, e.g. `--job-name {}-perfkit-rally`",
                    job.strip_suffix("-rally-task").unwrap_or(job)
                )),
            },
            ScaffoldError::JobNameTaken { name, .. } => Some(format!(
                "give the Rally job another name, e.g. `--job-name {name}-rally`"
            )),
            ScaffoldError::MergeCheck { .. } => Some(
                "nothing was written; add the job by hand from `perfkit scaffold --dry-run` output and report this".into(),
            ),
            ScaffoldError::UnsafePath { .. } => {
                Some("check the templates given with `--templates`".into())
            }
            ScaffoldError::Write { .. } => Some(
                "nothing was changed; check that the repository is writable and that no file stands where a directory is needed".into(),
            ),
            ScaffoldError::UnknownScenario { suggestions, .. } if !suggestions.is_empty() => {
                Some(format!("did you mean {}?", suggestions.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")))
            }
            ScaffoldError::UnknownScenario { .. } => Some(
                "names are `Group.method` as in `rally plugin list --plugin-base Scenario`, e.g. `NovaServers.boot_and_delete_server`".into(),
            ),
            ScaffoldError::UnfillableScenario { .. } => Some(
                "leave it out of `--scenarios` and add its workload to rally-jobs/task-<project>.yaml by hand, with the value your cloud needs".into(),
            ),
            ScaffoldError::NoScenarios => Some(
                "give comma-separated names, e.g. `--scenarios NovaServers.boot_and_delete_server`, or drop the option".into(),
            ),
        }
    }
}

/// The variant whose job `job` is named like (`<short>-fio-rbd` before
/// `<short>-fio`).
fn variant_of(job: &str) -> Option<Variant> {
    [Variant::FioRbd, Variant::Locust, Variant::Fio]
        .into_iter()
        .find(|v| {
            job.strip_suffix(v.name())
                .and_then(|rest| rest.strip_suffix('-'))
                .is_some_and(|short| !short.is_empty())
        })
}
