//! `perfkit scaffold` end to end: plan every file (rally-jobs/ from
//! `rally_jobs`, the post-run playbook, the Locust and fio variants asked
//! for, the Zuul jobs merged into the repo's config), compare with what is
//! on disk, show a diff, and write — only after everything rendered and
//! verified, each file atomically, nothing at all when one write fails.
//! Printing is left to the CLI.

pub mod catalog;
pub mod config;
mod error;
pub mod job;
pub mod merge;
mod playbooks;
pub mod rally_jobs;
#[cfg(feature = "git")]
pub mod repo;
pub mod variants;

pub use error::ScaffoldError;

use std::path::{Component, Path, PathBuf};

use perfkit_schema::ProjectName;

use self::config::{
    ConfigRoot, ExistingConfig, job_name, parse_stanzas, pipeline_jobs, stanza_body,
};
use self::job::{
    DEFAULT_PIPELINES, JobSpec, check_name, default_job_name, render_job, render_project,
};
use self::merge::{JobBlock, JobState, merge_into_file};
use self::playbooks::render_playbooks;
use self::rally_jobs::{RallyJobsRequest, plan_rally_jobs};
use self::variants::{Variant, VariantPlan, plan_variant};

/// The file perfkit adds to a `zuul.d/` or `.zuul.d/` config directory for
/// the Rally job (each variant's job gets its own, `Variant::zuul_dir_file`).
pub const ZUUL_DIR_FILE: &str = "perfkit-rally.yaml";
/// The config file created when a repo has no Zuul config yet.
pub const NEW_CONFIG_FILE: &str = ".zuul.yaml";

/// What to scaffold, where.
#[derive(Debug, Clone)]
pub struct ScaffoldRequest {
    /// Top of the repository's work tree.
    pub repo_root: PathBuf,
    pub project: ProjectName,
    /// Defaults to `<short name>-rally-task`.
    pub job_name: Option<String>,
    /// Pipelines to run the job in; empty means check and gate.
    pub pipelines: Vec<String>,
    /// rally-openstack scenario names instead of the catalog's choice.
    pub scenarios: Option<Vec<String>>,
    /// Templates overriding the built-in ones (same layout as `rally-jobs-template/`).
    pub templates_dir: Option<PathBuf>,
    /// Overwrite files the user has edited.
    pub force: bool,
    /// Jobs to add beside the Rally job (`--with-locust`, `--with-fio`,
    /// `--with-fio --rbd`).
    pub variants: Vec<Variant>,
}

/// What happens to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    Create,
    Update,
    Unchanged,
    /// Differs from what perfkit would write (edited by someone): left alone.
    Kept,
}

/// One file of the plan. Paths are relative to the repo root.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: String,
    pub action: FileAction,
    /// What perfkit did inside the file, or why it left it alone.
    pub detail: Option<String>,
}

impl FileChange {
    /// Whether writing the plan touches this file.
    pub fn writes(&self) -> bool {
        matches!(self.action, FileAction::Create | FileAction::Update)
    }

    /// A unified diff of the change (`/dev/null` for a new file).
    pub fn unified_diff(&self) -> String {
        let old = self.before.as_deref().unwrap_or("");
        let a = match self.before {
            Some(_) => format!("a/{}", self.path.display()),
            None => "/dev/null".to_string(),
        };
        let b = format!("b/{}", self.path.display());
        similar::TextDiff::from_lines(old, &self.after)
            .unified_diff()
            .context_radius(3)
            .header(&a, &b)
            .to_string()
    }
}

/// Everything a scaffold would do.
#[derive(Debug, Clone)]
pub struct ScaffoldPlan {
    pub project: ProjectName,
    /// The Rally job.
    pub job_name: String,
    /// The jobs of the variants asked for, in order.
    pub variant_jobs: Vec<String>,
    pub pipelines: Vec<String>,
    /// The Zuul config layout found (before scaffolding).
    pub config_root: ConfigRoot,
    pub files: Vec<FileChange>,
    /// Notes for the user (from the rally-jobs plan and the Zuul merge).
    pub notes: Vec<String>,
}

impl ScaffoldPlan {
    /// True when a run would change nothing.
    pub fn is_noop(&self) -> bool {
        !self.files.iter().any(FileChange::writes)
    }

    /// Unified diffs of every file that would be written.
    pub fn unified_diff(&self) -> String {
        self.files
            .iter()
            .filter(|f| f.writes())
            .map(FileChange::unified_diff)
            .collect()
    }
}

/// Renders and verifies everything; reads the repo but writes nothing.
pub fn plan(req: &ScaffoldRequest) -> Result<ScaffoldPlan, ScaffoldError> {
    let job_name = req
        .job_name
        .clone()
        .unwrap_or_else(|| default_job_name(&req.project));
    check_name("job", &job_name)?;
    let mut pipelines: Vec<String> = Vec::new();
    for p in &req.pipelines {
        check_name("pipeline", p)?;
        if !pipelines.contains(p) {
            pipelines.push(p.clone());
        }
    }
    if pipelines.is_empty() {
        pipelines = DEFAULT_PIPELINES.iter().map(|p| p.to_string()).collect();
    }
    let templates = req.templates_dir.as_deref();

    let rally = plan_rally_jobs(&RallyJobsRequest {
        project: req.project.clone(),
        scenarios: req.scenarios.clone(),
        templates_dir: req.templates_dir.clone(),
    })?;
    let default_task = format!("rally-jobs/task-{}.yaml", req.project.short_name());
    let rally_task = rally
        .files
        .iter()
        .map(|(p, _)| p.to_string_lossy().replace('\\', "/"))
        .find(|p| *p == default_task)
        .or_else(|| {
            rally
                .files
                .iter()
                .map(|(p, _)| p.to_string_lossy().to_string())
                .find(|p| {
                    p.starts_with("rally-jobs/task-")
                        && p.ends_with(".yaml")
                        && !p[16..].contains('/')
                })
        })
        .unwrap_or(default_task);
    let spec = JobSpec::new(&req.project, &job_name, &rally.service, &rally_task);
    let job_text = render_job(&spec, templates)?;
    let job_stanza = rendered_job_stanza(&job_text, &job_name, "zuul/job.yaml.j2")?;

    let existing = config::read(&req.repo_root)?;
    let mut files = Vec::new();
    for (path, content) in &rally.files {
        files.push(whole_file(
            &req.repo_root,
            path,
            content.clone(),
            req.force,
        )?);
    }
    for (path, content) in render_playbooks(&spec, req.project.short_name(), templates)? {
        files.push(whole_file(&req.repo_root, &path, content, req.force)?);
    }
    let mut notes = rally.notes.clone();

    let variants = plan_variants(req, &job_name, &mut files, &mut notes)?;
    let mut jobs = vec![ZuulJob {
        block: JobBlock {
            name: &job_name,
            text: &job_text,
            stanza: &job_stanza,
        },
        dir_file: ZUUL_DIR_FILE,
    }];
    for (variant, planned, stanza) in &variants {
        jobs.push(ZuulJob {
            block: JobBlock {
                name: &planned.job_name,
                text: &planned.job_text,
                stanza,
            },
            dir_file: variant.zuul_dir_file(),
        });
    }
    files.extend(zuul_changes(req, &existing, &jobs, &pipelines, &mut notes)?);
    for ignored in &existing.ignored_roots {
        notes.push(format!(
            "Zuul ignores `{}`: it reads only the first of zuul.yaml, zuul.d/, .zuul.yaml, .zuul.d/ (here `{}`)",
            ignored.display(),
            existing.root.describe()
        ));
    }
    let variant_jobs = variants
        .iter()
        .map(|(_, planned, _)| planned.job_name.clone())
        .collect();
    Ok(ScaffoldPlan {
        project: req.project.clone(),
        job_name,
        variant_jobs,
        pipelines,
        config_root: existing.root.clone(),
        files,
        notes,
    })
}

/// The variants asked for, each once: their files go into `files` (a file
/// they share, once), their notes into `notes`; returns each with its job
/// stanza parsed.
fn plan_variants(
    req: &ScaffoldRequest,
    rally_job: &str,
    files: &mut Vec<FileChange>,
    notes: &mut Vec<String>,
) -> Result<Vec<(Variant, VariantPlan, yaml_serde::Value)>, ScaffoldError> {
    let mut variants: Vec<(Variant, VariantPlan, yaml_serde::Value)> = Vec::new();
    for &variant in &req.variants {
        if variants.iter().any(|(v, _, _)| *v == variant) {
            continue;
        }
        let planned = plan_variant(variant, &req.project, req.templates_dir.as_deref())?;
        if planned.job_name == rally_job {
            return Err(ScaffoldError::JobNameTaken {
                name: rally_job.to_string(),
                flag: variant.flag(),
            });
        }
        for (path, content) in &planned.files {
            if files.iter().any(|f| f.path == *path) {
                continue;
            }
            files.push(whole_file(
                &req.repo_root,
                path,
                content.clone(),
                req.force,
            )?);
        }
        notes.extend(planned.notes.clone());
        let stanza = rendered_job_stanza(
            &planned.job_text,
            &planned.job_name,
            variant.job_template_name(),
        )?;
        variants.push((variant, planned, stanza));
    }
    Ok(variants)
}

/// One job to add to the Zuul config.
struct ZuulJob<'a> {
    block: JobBlock<'a>,
    /// Its own file in a `zuul.d/` layout.
    dir_file: &'static str,
}

/// Checks that a job template rendered one `- job:` stanza with our name
/// (re-runs find the job by it) and returns it parsed.
fn rendered_job_stanza(
    text: &str,
    name: &str,
    template: &str,
) -> Result<yaml_serde::Value, ScaffoldError> {
    let bad = |message: String| ScaffoldError::Template {
        name: template.into(),
        message,
    };
    let stanzas = parse_stanzas(Path::new(template), text).map_err(|e| bad(e.to_string()))?;
    match stanzas.as_slice() {
        [one] if job_name(one) == Some(name) => Ok(one.clone()),
        _ => Err(bad(format!(
            "must render exactly one `- job:` stanza named `{name}`"
        ))),
    }
}

/// The Zuul config changes for whichever layout the repo has: one file per
/// job in a config directory, else every job merged into the one file.
fn zuul_changes(
    req: &ScaffoldRequest,
    existing: &ExistingConfig,
    jobs: &[ZuulJob<'_>],
    pipelines: &[String],
    notes: &mut Vec<String>,
) -> Result<Vec<FileChange>, ScaffoldError> {
    match &existing.root {
        ConfigRoot::Dir(dir) => jobs
            .iter()
            .map(|job| dir_change(req, existing, dir, job, pipelines))
            .collect(),
        ConfigRoot::File(path) => {
            let file = existing
                .files
                .first()
                .ok_or_else(|| ScaffoldError::MergeCheck {
                    path: path.clone(),
                    message: "the config file was not read".into(),
                })?;
            let merged = merge_jobs(req, path, &file.text, &file.stanzas, jobs, pipelines)?;
            for name in &merged.kept_edited {
                notes.push(format!(
                    "job `{name}` in `{}` was edited since perfkit wrote it; left as it is (`--force` rewrites it)",
                    path.display()
                ));
            }
            let changed = merged.text != file.text;
            let action = match (changed, merged.kept_edited.is_empty()) {
                (true, _) => FileAction::Update,
                (false, false) => FileAction::Kept,
                (false, true) => FileAction::Unchanged,
            };
            let detail = match action {
                FileAction::Update => Some(merged.details.join("; ")),
                FileAction::Kept => {
                    Some("job edited since perfkit wrote it; --force rewrites it".to_string())
                }
                _ => None,
            };
            Ok(vec![FileChange {
                path: path.clone(),
                before: Some(file.text.clone()),
                after: merged.text,
                action,
                detail,
            }])
        }
        ConfigRoot::None => {
            // Same path as a single file, so a second run sees its own output.
            let path = PathBuf::from(NEW_CONFIG_FILE);
            let merged = merge_jobs(req, &path, "", &[], jobs, pipelines)?;
            Ok(vec![FileChange {
                path,
                before: None,
                after: merged.text,
                action: FileAction::Create,
                detail: Some(merged.details.join("; ")),
            }])
        }
    }
}

/// perfkit's own file for `job` in the config directory Zuul reads; the
/// other files there stay untouched.
fn dir_change(
    req: &ScaffoldRequest,
    existing: &ExistingConfig,
    dir: &Path,
    job: &ZuulJob<'_>,
    pipelines: &[String],
) -> Result<FileChange, ScaffoldError> {
    let name = job.block.name;
    let ours = dir.join(job.dir_file);
    let others: Vec<_> = existing.files.iter().filter(|f| f.path != ours).collect();
    if let Some(f) = others
        .iter()
        .find(|f| f.stanzas.iter().any(|s| job_name(s) == Some(name)))
    {
        return Err(ScaffoldError::JobConflict {
            job: name.to_string(),
            path: f.path.clone(),
            line: job_line(&f.text, name),
        });
    }
    let missing: Vec<String> = pipelines
        .iter()
        .filter(|p| {
            !others.iter().any(|f| {
                f.stanzas
                    .iter()
                    .filter_map(|s| stanza_body(s, "project"))
                    .any(|proj| pipeline_jobs(proj, p).contains(&name))
            })
        })
        .cloned()
        .collect();
    let mut content = job.block.text.to_string();
    if !missing.is_empty() {
        content.push('\n');
        content.push_str(&render_project(
            name,
            &missing,
            req.templates_dir.as_deref(),
        )?);
    }
    // Prove the file is what we think it is before anyone reads it.
    let stanzas = parse_stanzas(&ours, &content).map_err(|e| ScaffoldError::MergeCheck {
        path: ours.clone(),
        message: e.to_string(),
    })?;
    if stanzas.len() != 1 + usize::from(!missing.is_empty()) {
        return Err(ScaffoldError::Template {
            name: "zuul/project.yaml.j2".into(),
            message: "must render exactly one `- project:` stanza".into(),
        });
    }
    let mut change = whole_file(&req.repo_root, &ours, content, req.force)?;
    if change.writes() {
        change.detail = Some(describe(JobState::Added, &[], &missing));
    }
    Ok(change)
}

/// Every job merged, one after the other, into a single config file.
struct MergedJobs {
    text: String,
    /// What was done, per job that changed the text.
    details: Vec<String>,
    /// Jobs perfkit wrote that were edited since, left alone.
    kept_edited: Vec<String>,
}

fn merge_jobs(
    req: &ScaffoldRequest,
    path: &Path,
    original: &str,
    stanzas: &[yaml_serde::Value],
    jobs: &[ZuulJob<'_>],
    pipelines: &[String],
) -> Result<MergedJobs, ScaffoldError> {
    let templates = req.templates_dir.as_deref();
    let mut text = original.to_string();
    let mut stanzas = stanzas.to_vec();
    let mut details = Vec::new();
    let mut kept_edited = Vec::new();
    for job in jobs {
        let name = job.block.name;
        let project_stanza = |p: &[String]| render_project(name, p, templates);
        let merged = merge_into_file(
            path,
            &text,
            &stanzas,
            &job.block,
            pipelines,
            &project_stanza,
            req.force,
        )?;
        if merged.job == JobState::KeptEdited {
            kept_edited.push(name.to_string());
        }
        if merged.text != text {
            let what = describe(
                merged.job,
                &merged.pipelines_in_place,
                &merged.pipelines_new_stanza,
            );
            // One job needs no name; several do.
            details.push(if jobs.len() == 1 {
                what
            } else {
                format!("{name}: {what}")
            });
            stanzas = parse_stanzas(path, &merged.text)?;
            text = merged.text;
        }
    }
    Ok(MergedJobs {
        text,
        details,
        kept_edited,
    })
}

fn describe(job: JobState, in_place: &[String], new_stanza: &[String]) -> String {
    let mut parts = Vec::new();
    match job {
        JobState::Added => parts.push("job added".to_string()),
        JobState::Rewritten => parts.push("job rewritten (--force)".to_string()),
        JobState::KeptEdited => parts.push("edited job kept".to_string()),
        JobState::Unchanged => {}
    }
    if !in_place.is_empty() {
        parts.push(format!(
            "listed in {} of the existing project stanza",
            in_place.join(", ")
        ));
    }
    if !new_stanza.is_empty() {
        parts.push(format!(
            "listed in {} by a new project stanza",
            new_stanza.join(", ")
        ));
    }
    parts.join("; ")
}

/// 1-based line of the `name: <job>` line, for messages.
fn job_line(text: &str, job: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim()
                .strip_prefix("name:")
                .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == job)
        })
        .map(|i| i + 1)
}

/// A file perfkit owns whole: created, unchanged, or (edited) kept unless `force`.
fn whole_file(
    root: &Path,
    path: &Path,
    content: String,
    force: bool,
) -> Result<FileChange, ScaffoldError> {
    let safe = !path.as_os_str().is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !safe {
        return Err(ScaffoldError::UnsafePath {
            path: path.to_path_buf(),
        });
    }
    let abs = root.join(path);
    let before = match std::fs::symlink_metadata(&abs) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(ScaffoldError::Write {
                path: path.to_path_buf(),
                source: std::io::Error::other("a file stands where a directory is needed"),
            });
        }
        Err(source) => return Err(ScaffoldError::Read { path: abs, source }),
        Ok(meta) if !meta.is_file() => {
            return Err(ScaffoldError::Write {
                path: path.to_path_buf(),
                source: std::io::Error::other("something other than a regular file is in the way"),
            });
        }
        Ok(_) => Some(
            std::fs::read_to_string(&abs)
                .map_err(|source| ScaffoldError::Read { path: abs, source })?,
        ),
    };
    let (action, detail) = match &before {
        None => (FileAction::Create, None),
        Some(old) if *old == content => (FileAction::Unchanged, None),
        Some(_) if force => (
            FileAction::Update,
            Some("overwritten (--force)".to_string()),
        ),
        Some(_) => (
            FileAction::Kept,
            Some("differs from what perfkit would write; --force overwrites it".to_string()),
        ),
    };
    Ok(FileChange {
        path: path.to_path_buf(),
        before,
        after: content,
        action,
        detail,
    })
}

/// Writes every file the plan creates or updates. Each goes to a temporary
/// file beside its target first; only when all of them are written are they
/// renamed into place, so a failure leaves the repo as it was (temporary
/// files and directories made for them are removed again).
pub fn write(plan: &ScaffoldPlan, repo_root: &Path) -> Result<(), ScaffoldError> {
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    let staged = plan
        .files
        .iter()
        .filter(|f| f.writes())
        .try_for_each(|f| stage(repo_root, f, &mut made_dirs, &mut temps));
    if let Err(e) = staged {
        undo(&temps, &made_dirs);
        return Err(e);
    }
    for (i, (temp, target)) in temps.iter().enumerate() {
        if let Err(source) = std::fs::rename(temp, target) {
            undo(&temps[i..], &[]);
            return Err(ScaffoldError::Write {
                path: target.clone(),
                source,
            });
        }
    }
    Ok(())
}

fn stage(
    root: &Path,
    file: &FileChange,
    made_dirs: &mut Vec<PathBuf>,
    temps: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), ScaffoldError> {
    let err = |source: std::io::Error| ScaffoldError::Write {
        path: file.path.clone(),
        source,
    };
    let target = root.join(&file.path);
    let parent = target.parent().unwrap_or(root).to_path_buf();
    let mut dir = root.to_path_buf();
    for part in file.path.parent().into_iter().flat_map(Path::components) {
        dir.push(part);
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(err(std::io::Error::other(format!(
                    "`{}` is a file, not a directory",
                    dir.strip_prefix(root).unwrap_or(&dir).display()
                ))));
            }
            Err(_) => {
                std::fs::create_dir(&dir).map_err(err)?;
                made_dirs.push(dir.clone());
            }
        }
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = parent.join(format!(".{name}.perfkit-{}.tmp", std::process::id()));
    let written = (|| {
        use std::io::Write as _;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        out.write_all(file.after.as_bytes())?;
        out.sync_all()?;
        if let Ok(meta) = std::fs::metadata(&target) {
            std::fs::set_permissions(&temp, meta.permissions())?;
        }
        Ok(())
    })();
    match written {
        Ok(()) => {
            temps.push((temp, target));
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(err(e))
        }
    }
}

fn undo(temps: &[(PathBuf, PathBuf)], made_dirs: &[PathBuf]) {
    for (temp, _) in temps {
        let _ = std::fs::remove_file(temp);
    }
    for dir in made_dirs.iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(root: &Path, variants: Vec<Variant>) -> ScaffoldRequest {
        ScaffoldRequest {
            repo_root: root.to_path_buf(),
            project: ProjectName::try_from("keystone").unwrap(),
            job_name: None,
            pipelines: vec![],
            scenarios: None,
            templates_dir: None,
            force: false,
            variants,
        }
    }

    #[test]
    fn variants_are_merged_one_after_the_other_and_a_rerun_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let original = "- project:\n    check:\n      jobs:\n        - tox-py3\n";
        std::fs::write(dir.path().join(".zuul.yaml"), original).unwrap();
        let req = request(
            dir.path(),
            vec![Variant::Locust, Variant::Fio, Variant::Locust],
        );
        let planned = plan(&req).unwrap();
        assert_eq!(planned.variant_jobs, ["keystone-locust", "keystone-fio"]);
        let shared = planned
            .files
            .iter()
            .filter(|f| f.path == Path::new("playbooks/perfkit/vars/results.yaml"))
            .count();
        assert_eq!(shared, 1);

        let zuul = planned
            .files
            .iter()
            .find(|f| f.path == Path::new(".zuul.yaml"))
            .unwrap();
        assert_eq!(zuul.action, FileAction::Update);
        assert!(zuul.after.starts_with(original), "{}", zuul.after);
        let stanzas = parse_stanzas(Path::new(".zuul.yaml"), &zuul.after).unwrap();
        let jobs: Vec<&str> = stanzas.iter().filter_map(job_name).collect();
        assert_eq!(
            jobs,
            ["keystone-rally-task", "keystone-locust", "keystone-fio"]
        );
        let listed = |pipeline: &str| -> Vec<&str> {
            stanzas
                .iter()
                .filter_map(|s| stanza_body(s, "project"))
                .flat_map(|p| pipeline_jobs(p, pipeline))
                .collect()
        };
        assert_eq!(
            listed("check"),
            [
                "tox-py3",
                "keystone-rally-task",
                "keystone-locust",
                "keystone-fio"
            ]
        );
        assert_eq!(
            listed("gate"),
            ["keystone-rally-task", "keystone-locust", "keystone-fio"]
        );
        let detail = zuul.detail.as_deref().unwrap();
        assert!(
            detail.starts_with("keystone-rally-task: job added; listed in check of the existing project stanza; listed in gate by a new project stanza; keystone-locust: job added;"),
            "{detail}"
        );

        write(&planned, dir.path()).unwrap();
        let again = plan(&req).unwrap();
        assert!(again.is_noop(), "{:?}", again.files);
    }

    #[test]
    fn both_fio_jobs_share_their_playbooks_and_each_gets_its_own_job() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("zuul.d")).unwrap();
        let req = request(dir.path(), vec![Variant::Fio, Variant::FioRbd]);
        let planned = plan(&req).unwrap();
        assert_eq!(planned.variant_jobs, ["keystone-fio", "keystone-fio-rbd"]);
        let paths: Vec<String> = planned
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        for (path, times) in [
            ("playbooks/perfkit/post-fio.yaml", 1),
            ("playbooks/perfkit/tasks/run-fio.yaml", 1),
            ("playbooks/perfkit/run-fio.yaml", 1),
            ("playbooks/perfkit/run-fio-rbd.yaml", 1),
            ("rally-jobs/fio/keystone.fio", 1),
            ("rally-jobs/fio/keystone-rbd.fio", 1),
            ("zuul.d/perfkit-fio.yaml", 1),
            ("zuul.d/perfkit-fio-rbd.yaml", 1),
        ] {
            let n = paths.iter().filter(|p| *p == path).count();
            assert_eq!(n, times, "{path} in {paths:?}");
        }
        write(&planned, dir.path()).unwrap();
        assert!(plan(&req).unwrap().is_noop());
    }

    #[test]
    fn a_variant_named_like_the_rally_job_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = request(dir.path(), vec![Variant::Fio]);
        req.job_name = Some("keystone-fio".into());
        let err = plan(&req).unwrap_err();
        assert!(
            matches!(
                err,
                ScaffoldError::JobNameTaken {
                    flag: "--with-fio",
                    ..
                }
            ),
            "{err}"
        );
        let mut req = request(dir.path(), vec![Variant::FioRbd]);
        req.job_name = Some("keystone-fio-rbd".into());
        let err = plan(&req).unwrap_err().to_string();
        assert_eq!(
            err,
            "job name `keystone-fio-rbd` is the name of the `--with-fio --rbd` job"
        );
    }
}
