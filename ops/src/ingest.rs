//! `perfkit ingest`: resolves build metadata from flags and `--zuul-vars`,
//! archives each file, prints a summary per build. One bad file is
//! reported and skipped; the exit code still says something failed.

use crate::Outcome;
use std::path::{Path, PathBuf};

use perfkit_archive::{Archive, PutOutcome};
use perfkit_ingest::IngestError;
use perfkit_ingest::pipeline::{IngestReport, IngestRequest, ingest_file, run_id_for};
use perfkit_schema::ProjectName;
use perfkit_schema::records::BuildMeta;

use crate::env::{DEFAULT_ARCHIVE, PERFKIT_ARCHIVE};
use crate::progress::Bar;
use perfkit_analysis::format::duration;
use perfkit_schema::shown;

/// What `perfkit ingest` was asked to do (the binary fills it from its arguments).
pub struct IngestOptions {
    /// Archive to write to [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    pub archive: Option<String>,
    /// Gerrit project, e.g. `openstack/nova` (a bare name means openstack/…)
    pub project: Option<String>,
    /// Gerrit change number (check/gate builds)
    pub change: Option<u64>,
    /// Patchset number of the change
    pub patchset: Option<u32>,
    /// Git ref of a post/periodic/tag build, e.g. `refs/heads/master`
    pub git_ref: Option<String>,
    /// Commit a post or tag build ran on
    pub newrev: Option<String>,
    /// The commit of the project under test the build checked out (full
    /// hex sha); wins over the one `--zuul-vars` recorded
    pub commit: Option<String>,
    /// Zuul pipeline, e.g. `check`, `gate`, `periodic`
    pub pipeline: Option<String>,
    /// Target branch
    pub branch: Option<String>,
    /// Zuul job name (part of every workload's identity)
    pub job: Option<String>,
    /// Zuul build uuid [default: derived from the file's content]
    pub build: Option<String>,
    /// Zuul buildset uuid
    pub buildset: Option<String>,
    /// Zuul tenant
    pub tenant: Option<String>,
    /// Link to the build's logs
    pub log_url: Option<String>,
    /// File with the build's `zuul` variables (YAML or JSON, e.g. `{{ zuul | to_json }}`); flags win over it
    pub zuul_vars: Option<PathBuf>,
    /// File of `KEY=VALUE` lines: the archive URL (`PERFKIT_ARCHIVE`) and
    /// store settings and credentials (`AWS_*`, `GOOGLE_*`, `AZURE_*`), so
    /// that secrets never appear on a command line or in the environment
    pub env_file: Option<PathBuf>,
    /// Rewrite a build that is already archived
    pub replace: bool,
    /// Rally result files
    pub files: Vec<PathBuf>,
}

/// Archive URL from the flag, then `PERFKIT_ARCHIVE`, then the default directory.
pub fn archive_url(flag: Option<String>) -> String {
    flag.or_else(|| {
        std::env::var(PERFKIT_ARCHIVE)
            .ok()
            .filter(|v| !v.is_empty())
    })
    .unwrap_or_else(|| DEFAULT_ARCHIVE.to_string())
}

/// `--commit`: a full hex commit id, lower-cased.
fn commit_flag(sha: &str) -> anyhow::Result<String> {
    let lower = sha.trim().to_ascii_lowercase();
    if !perfkit_schema::records::is_commit_sha(&lower) {
        anyhow::bail!(
            "--commit `{}` is not a full commit id\nhint: pass the 40 hex digits `git rev-parse HEAD` prints in the checkout the build tested",
            shown(sha)
        );
    }
    Ok(lower)
}

fn request_from(args: &IngestOptions) -> anyhow::Result<(IngestRequest, Option<String>)> {
    let from_vars = match &args.zuul_vars {
        Some(path) => perfkit_zuul::vars::read(path)?,
        None => Default::default(),
    };
    let project = match (&args.project, from_vars.project) {
        (Some(p), _) => {
            ProjectName::try_from(p.as_str()).map_err(|e| IngestError::Metadata(e.to_string()))?
        }
        (None, Some(p)) => p,
        (None, None) => anyhow::bail!(
            "no project given\nhint: pass `--project openstack/<name>` or `--zuul-vars FILE`"
        ),
    };
    let v = from_vars.meta;
    if args.zuul_vars.is_some() {
        refuse_contradictions(args, &v)?;
    }
    let pick = |flag: &Option<String>, var: Option<String>| flag.clone().or(var);
    let (change, patchset) = match (args.change, args.patchset) {
        (Some(c), Some(p)) => (Some(c), Some(p)),
        _ => (v.change, v.patchset),
    };
    if change == Some(0) {
        anyhow::bail!(
            "change 0 is reserved for builds without a change\nhint: post and periodic builds have no change: omit it"
        );
    }
    let meta = BuildMeta {
        change,
        patchset,
        git_ref: pick(&args.git_ref, v.git_ref),
        newrev: pick(&args.newrev, v.newrev),
        branch: pick(&args.branch, v.branch),
        tag: v.tag,
        pipeline: pick(&args.pipeline, v.pipeline),
        job: pick(&args.job, v.job),
        zuul_build: pick(&args.build, v.zuul_build),
        buildset: pick(&args.buildset, v.buildset),
        tenant: pick(&args.tenant, v.tenant),
        change_url: v.change_url,
        log_url: pick(&args.log_url, v.log_url),
        node_provider: v.node_provider,
        node_label: v.node_label,
        zuul_result: v.zuul_result,
        zuul_buildset_result: v.zuul_buildset_result,
        commit: match &args.commit {
            Some(sha) => Some(commit_flag(sha)?),
            None => v.commit,
        },
        required_commits: v.required_commits,
    };
    let build = meta.zuul_build.clone();
    Ok((
        IngestRequest {
            project,
            meta,
            replace: args.replace,
        },
        build,
    ))
}

/// A flag that disagrees with `--zuul-vars` would archive a build under a
/// mix of two identities; say so instead of guessing which one is right.
fn refuse_contradictions(args: &IngestOptions, vars: &BuildMeta) -> anyhow::Result<()> {
    let numbers = [
        ("--change", args.change, vars.change),
        (
            "--patchset",
            args.patchset.map(u64::from),
            vars.patchset.map(u64::from),
        ),
    ];
    for (flag, given, known) in numbers {
        if let (Some(given), Some(known)) = (given, known)
            && given != known
        {
            anyhow::bail!(
                "`{flag} {given}` contradicts the zuul variables ({known})\nhint: drop the flag or the `--zuul-vars` file"
            );
        }
        if given.is_some() && known.is_none() && args.zuul_vars.is_some() {
            anyhow::bail!(
                "`{flag} {}` contradicts the zuul variables, which describe a build without a change\nhint: drop the flag or the `--zuul-vars` file",
                given.unwrap_or_default()
            );
        }
    }
    let texts = [
        ("--ref", &args.git_ref, &vars.git_ref),
        ("--newrev", &args.newrev, &vars.newrev),
        ("--pipeline", &args.pipeline, &vars.pipeline),
        ("--branch", &args.branch, &vars.branch),
        ("--build", &args.build, &vars.zuul_build),
    ];
    for (flag, given, known) in texts {
        if let (Some(given), Some(known)) = (given, known)
            && given != known
        {
            anyhow::bail!(
                "`{flag} {}` contradicts the zuul variables (`{}`)\nhint: drop the flag or the `--zuul-vars` file",
                shown(given),
                shown(known)
            );
        }
    }
    Ok(())
}

/// The archive URL and store options: `--archive`, else `PERFKIT_ARCHIVE`
/// from `--env-file`, else from the environment, else the default; every
/// other key of the env file becomes a store option. A key the store does
/// not take is refused by its line number: it may be the wrapped tail of a
/// secret, and is not quoted.
pub fn open_archive(flag: Option<String>, env_file: Option<&Path>) -> anyhow::Result<Archive> {
    let mut options = Vec::new();
    let mut from_file = None;
    if let Some(path) = env_file {
        for entry in perfkit_http::env_file::read_env_entries(path)? {
            if entry.key == crate::env::PERFKIT_ARCHIVE {
                from_file = Some(entry.value);
            } else {
                options.push(entry);
            }
        }
    }
    let url = match flag.or(from_file) {
        Some(url) => url,
        None => archive_url(None),
    };
    if let (Some(path), Some(unknown)) = (
        env_file,
        options
            .iter()
            .find(|e| !Archive::takes_option(&url, &e.key)),
    ) {
        anyhow::bail!(
            "`{}` line {}: not `{}` nor an option of the archive's store (the line is not shown: it may hold a secret)\nhint: the env file holds `{}=…` and the store's settings (`AWS_*` for s3://, `GOOGLE_*` for gs://, `AZURE_*` for az://), one per line; a value must not wrap onto the next line",
            path.display(),
            unknown.line,
            crate::env::PERFKIT_ARCHIVE,
            crate::env::PERFKIT_ARCHIVE
        );
    }
    let options = options.into_iter().map(|e| (e.key, e.value));
    Archive::open_with_options(&url, options).map_err(anyhow::Error::from)
}

pub async fn run(args: IngestOptions) -> anyhow::Result<Outcome> {
    let (request, build) = request_from(&args)?;
    let archive = open_archive(args.archive.clone(), args.env_file.as_deref())?;
    let failures = ingest_files(
        &archive,
        &request,
        build.as_deref(),
        &args.files,
        &|p: &Path| p.display().to_string(),
    )
    .await;
    Ok(if failures == 0 {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// Ingests every file, printing a summary or an error for each; returns
/// how many failed.
/// `shown_as` names a file in the summary.
pub async fn ingest_files(
    archive: &Archive,
    request: &IngestRequest,
    build: Option<&str>,
    files: &[PathBuf],
    shown_as: &dyn Fn(&Path) -> String,
) -> usize {
    let progress = Bar::new();
    let mut failures = 0;
    for file in files {
        let result = match run_id_for(build, files.len()) {
            Ok(run_id) => ingest_file(archive, file, request, run_id, &progress).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(report) => print_report(&report, &shown_as(file)),
            Err(e) => {
                failures += 1;
                crate::report_error(&e.into());
            }
        }
    }
    if files.len() > 1 && failures > 0 {
        let rest = if failures < files.len() {
            "; the others were archived"
        } else {
            ""
        };
        eprintln!("{failures} of {} files failed{rest}", files.len());
    }
    failures
}

/// One build's summary: what was archived and where.
pub fn print_report(report: &IngestReport, file: &str) {
    let key = &report.key;
    let what = if key.change == 0 {
        format!("{} build {}", key.project, key.build)
    } else {
        format!(
            "{} change {} patchset {} build {}",
            key.project, key.change, key.patchset, key.build
        )
    };
    let Some(build) = &report.build else {
        println!(
            "{file}: {what} is already in the archive, nothing written (pass `--replace` to ingest it again)"
        );
        return;
    };
    let verb = match report.outcome {
        PutOutcome::Replaced => "replaced",
        PutOutcome::AlreadyArchived => "already archived (its builds row existed when written)",
        PutOutcome::Written => "archived",
    };
    let rally = build.source_format.starts_with("rally");
    let sla = match (rally, build.pass_sla) {
        (false, _) => "",
        (true, true) => ", SLA passed",
        (true, false) => ", SLA FAILED",
    };
    let statuses = if build.task_statuses.iter().all(|s| s == "finished") {
        String::new()
    } else {
        format!(", task {}", shown(&build.task_statuses.join("/")))
    };
    let (unit, units) = counted(&build.source_format);
    println!(
        "{file}: {verb} {what} [{}]: {}, {} ({} failed){sla}{statuses}",
        build.source_format,
        plural(u64::from(build.workload_count), "workload"),
        match build.iteration_count {
            1 => format!("1 {unit}"),
            n => format!("{n} {units}"),
        },
        build.failed_iteration_count,
    );
    for w in &report.workloads {
        let mark = if w.pass_sla { "ok  " } else { "FAIL" };
        let timing = match &w.duration {
            Some(d) => format!(
                "median {} p95 {}",
                duration(Some(d.median)),
                duration(Some(d.p95))
            ),
            None => format!("no {units}"),
        };
        let failed_sla = if w.sla_failed.is_empty() {
            String::new()
        } else {
            format!("  SLA: {}", shown(&w.sla_failed.join(", ")))
        };
        // Rally names a workload by scenario; Locust and fio by what the
        // description says (the request, the job and direction).
        let name = if rally { &w.scenario } else { &w.description };
        println!(
            "  {mark} {:<40} {:>7} {units:<10} {:>4} failed  {timing}{failed_sla}",
            shown(name),
            w.iterations,
            w.failed_iterations
        );
    }
    println!("  -> {}", report.location);
}

/// What one sample of a source format is, singular and plural.
fn counted(source_format: &str) -> (&'static str, &'static str) {
    match source_format {
        f if f.starts_with("locust") => ("request", "requests"),
        f if f.starts_with("fio") => ("I/O", "I/Os"),
        _ => ("iteration", "iterations"),
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
