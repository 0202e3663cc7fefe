//! `perfkit scaffold`: arguments, and printing the plan perfkit-zuul makes
//! (files created/updated/unchanged/kept, notes, next steps, or a diff for
//! `--dry-run`). Finding the repo, rendering and merging live in
//! `perfkit_zuul::{repo, scaffold}`.

use crate::Outcome;
use std::path::PathBuf;

use perfkit_zuul::ScaffoldError;
use perfkit_zuul::scaffold::variants::Variant;
use perfkit_zuul::scaffold::{self, FileAction, ScaffoldPlan, ScaffoldRequest};

/// What `perfkit scaffold` was asked to do (the binary fills it from its arguments).
pub struct ScaffoldOptions {
    /// Gerrit project, e.g. `openstack/nova` or just `nova` (default: taken
    /// from the repository's `origin` or `gerrit` remote).
    pub project: Option<String>,

    /// Top directory of the repository to write into (default: the git
    /// repository containing the current directory).
    pub repo: Option<PathBuf>,

    /// Zuul pipelines to run the job in, comma-separated.
    pub pipelines: Vec<String>,

    /// rally-openstack scenarios to run instead of the catalog's choice,
    /// comma-separated (e.g. `NovaServers.boot_and_delete_server`).
    pub scenarios: Option<Vec<String>>,

    /// Name of the Zuul job (default: `<project short name>-rally-task`).
    pub job_name: Option<String>,

    /// Directory of templates overriding the built-in ones (same layout as
    /// perfkit's `rally-jobs-template/`; missing files fall back).
    pub templates: Option<PathBuf>,

    /// Also add a Locust job `<project>-locust`: rally-jobs/locust/locustfile.py
    /// (Keystone tokens, issued 30 % and validated 70 % of the time) run
    /// headless against devstack, its CSV and JSON results kept and
    /// archived like Rally's.
    pub with_locust: bool,

    /// Also add a fio job `<project>-fio`: rally-jobs/fio/<project>.fio (4k
    /// random writes at depth 32, 1M sequential reads) run on the test
    /// node, its JSON+ output kept and archived like Rally's.
    pub with_fio: bool,

    /// With `with_fio`: the fio job `<project>-fio-rbd` instead, on Ceph
    /// RBD: devstack with Ceph (devstack-plugin-ceph's job as parent), fio's
    /// rbd engine on a throw-away image in the pool `volumes`
    /// (rally-jobs/fio/<project>-rbd.fio), its JSON+ output kept and
    /// archived like the local-disk job's.
    pub rbd: bool,

    /// With `with_locust`: the Locust job `<project>-locust-upgrade`
    /// instead, on grenade: Locust runs while grenade upgrades the node, and
    /// the upgrade's window is recorded (failures and latency before,
    /// during and after it are archived).
    pub upgrade: bool,

    /// Print a unified diff of what would change and write nothing.
    pub dry_run: bool,

    /// Overwrite files (and perfkit's job stanza) edited since perfkit wrote them.
    pub force: bool,
}

pub fn run(args: ScaffoldOptions) -> Result<Outcome, ScaffoldError> {
    let cwd = std::env::current_dir().map_err(|source| ScaffoldError::Read {
        path: PathBuf::from("."),
        source,
    })?;
    let repo = perfkit_zuul::scaffold::repo::open(args.repo.as_deref(), &cwd)?;
    let (project, project_note) =
        perfkit_zuul::scaffold::repo::resolve_project(args.project.as_deref(), &repo)?;
    let variants = [
        (args.with_locust && !args.upgrade, Variant::Locust),
        (args.with_locust && args.upgrade, Variant::LocustUpgrade),
        (args.with_fio && !args.rbd, Variant::Fio),
        (args.with_fio && args.rbd, Variant::FioRbd),
    ]
    .into_iter()
    .filter_map(|(wanted, variant)| wanted.then_some(variant))
    .collect();
    let request = ScaffoldRequest {
        repo_root: repo.root.clone(),
        project,
        job_name: args.job_name,
        pipelines: args.pipelines,
        scenarios: args.scenarios,
        templates_dir: args.templates,
        force: args.force,
        variants,
    };
    let mut plan = scaffold::plan(&request)?;
    plan.notes.extend(project_note);

    let jobs: Vec<&str> = std::iter::once(plan.job_name.as_str())
        .chain(plan.variant_jobs.iter().map(String::as_str))
        .collect();
    println!(
        "perfkit scaffold: {} in {} (Zuul config: {}; {} {} in {})",
        plan.project,
        repo.root.display(),
        plan.config_root.describe(),
        if jobs.len() == 1 { "job" } else { "jobs" },
        jobs.join(", "),
        plan.pipelines.join(", ")
    );
    if args.dry_run {
        print!("{}", plan.unified_diff());
        print_files(&plan, true);
        print_notes(&plan);
        println!("dry run: nothing written");
        return Ok(Outcome::Success);
    }
    if !plan.is_noop() {
        scaffold::write(&plan, &repo.root)?;
    }
    print_files(&plan, false);
    print_notes(&plan);
    if plan.is_noop() {
        println!("nothing to do: every file is already as perfkit writes it");
    } else {
        let written: Vec<String> = plan
            .files
            .iter()
            .filter(|f| f.writes())
            .map(|f| f.path.display().to_string())
            .collect();
        println!("next steps:");
        println!("  git add {}", written.join(" "));
        let verb = if plan.files.iter().any(|f| f.action == FileAction::Create) {
            "Add"
        } else {
            "Update"
        };
        let what = if jobs.len() == 1 {
            "a Rally performance job"
        } else {
            "performance jobs"
        };
        println!("  git commit -m \"{verb} {what} ({})\"", jobs.join(", "));
        println!("  git review");
    }
    Ok(Outcome::Success)
}

fn print_files(plan: &ScaffoldPlan, dry_run: bool) {
    for f in &plan.files {
        let verb = match (f.action, dry_run) {
            (FileAction::Create, false) => "created",
            (FileAction::Create, true) => "would create",
            (FileAction::Update, false) => "updated",
            (FileAction::Update, true) => "would update",
            (FileAction::Unchanged, _) => "unchanged",
            (FileAction::Kept, _) => "kept",
        };
        match &f.detail {
            Some(d) => println!("  {verb:<12} {} ({d})", f.path.display()),
            None => println!("  {verb:<12} {}", f.path.display()),
        }
    }
}

fn print_notes(plan: &ScaffoldPlan) {
    let mut notes = plan.notes.clone();
    if plan.files.iter().any(|f| f.action == FileAction::Kept) {
        notes.push(
            "kept files differ from what perfkit would write; `perfkit scaffold --dry-run --force` shows how".into(),
        );
    }
    if notes.is_empty() {
        return;
    }
    println!("notes:");
    for note in &notes {
        println!("  - {note}");
    }
}
