//! `perfkit site`: the static site from the archive.

use crate::Outcome;
use std::path::PathBuf;

use perfkit_archive::Archive;
use perfkit_archive::build_cache::{BuildCache, cache_key};
use perfkit_schema::ProjectName;
use perfkit_site::incremental::ProjectState;
use perfkit_site::{ProjectInput, build_site};

use crate::progress::Counter;
use crate::read::{
    open_existing, project_names, projects_to_read, unreadable_summary, warn_unreadable,
};
use perfkit_archive::history::Unreadable;

/// What `perfkit site` was asked to do (the binary fills it from its arguments).
pub struct SiteOptions {
    /// Archive to read [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    pub archive: Option<String>,
    /// Directory to write the site to (created if missing)
    pub out: PathBuf,
    /// Only these projects (repeatable); the index keeps the others
    pub projects: Vec<String>,
    /// URL the site is served from, for absolute links in Atom feeds
    pub base_url: Option<String>,
    /// Local clones, `PROJECT=PATH`, that suspects are read from
    pub repos: Vec<String>,
    /// Link of a suspect commit, `{project}` and `{sha}` replaced
    pub commit_url: Option<String>,
}

/// `--repo PROJECT=PATH` arguments as repositories, each checked.
pub fn open_repos(args: &[String]) -> anyhow::Result<Option<perfkit_site::Commits>> {
    if args.is_empty() {
        return Ok(None);
    }
    let pairs = args
        .iter()
        .map(|a| {
            perfkit_git::parse_repo_arg(a).map_err(|e| {
                anyhow::anyhow!(
                    "--repo: {e}\nhint: give `--repo PROJECT=PATH`, e.g. `--repo openstack/nova=/srv/git/nova`"
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let repos = perfkit_git::Repos::open(pairs)?;
    Ok(Some(perfkit_site::Commits(std::sync::Arc::new(repos))))
}

pub async fn run(args: SiteOptions) -> anyhow::Result<Outcome> {
    run_on(None, args).await
}

/// [`run`] on an archive already open (the collector's), or the one
/// `args.archive` names.
pub async fn run_on(archive: Option<Archive>, args: SiteOptions) -> anyhow::Result<Outcome> {
    let projects = project_names(&args.projects)?;
    let archive = match archive {
        Some(archive) => archive,
        None => open_existing(args.archive)?,
    };
    let commits = open_repos(&args.repos)?;
    if let Some(base) = &args.base_url
        && perfkit_site::urls::http_url(base).is_none()
    {
        // Before the lock creates the output directory: a bad flag writes nothing.
        return Err(perfkit_site::SiteError::BaseUrl(base.clone()).into());
    }
    // Held until the end: the cache and the pages live in the out directory.
    let _lock = perfkit_site::writer::OutputLock::acquire(&args.out)?;
    let cache = args.out.join(perfkit_site::STATE_DIR).join("cache");
    let mut inputs = Vec::new();
    let mut unreadable = Vec::new();
    for project in projects_to_read(&archive, &projects).await? {
        let (input, skipped) = project_input(&archive, project, &cache, &args.out).await?;
        warn_unreadable(&skipped);
        unreadable.extend(skipped);
        inputs.push(input);
    }
    let options = perfkit_site::SiteOptions {
        base_url: args.base_url,
        archive: archive.display_url().to_string(),
        commits,
        commit_url: args.commit_url,
    };
    let scope = (!projects.is_empty()).then_some(projects.as_slice());
    let report = tokio::task::block_in_place(|| {
        build_site(inputs, &args.out, &options, scope, &|p| {
            tracing::info!("rendering {p}");
        })
    })?;
    for p in &report.projects {
        if scope.is_none_or(|s| s.iter().any(|n| n.as_str() == p.name)) {
            println!(
                "{}: {} branch builds, {} series ({} regressed, {} failing), {} alerts, {} changes",
                perfkit_schema::shown(&p.name),
                p.builds,
                p.series,
                p.regressed,
                p.failing,
                p.alerts,
                p.changes
            );
        }
    }
    let s = report.stats;
    println!(
        "site: {} files written, {} unchanged, {} removed",
        s.written, s.unchanged, s.removed
    );
    if let Some(line) = unreadable_summary(&unreadable, "the site shows the others") {
        println!("{line}");
    }
    println!("open: {}", report.index.display());
    crate::read::log_requests(&archive);
    Ok(Outcome::Success)
}

/// One project's builds through the build cache: only the new ones when
/// the site's state from its last build accepts them (they extend the
/// branch history), else every build. Builds with a missing or
/// undecodable object are left out (as if not archived) and returned beside.
async fn project_input(
    archive: &Archive,
    project: ProjectName,
    cache_dir: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<(ProjectInput, Vec<Unreadable>)> {
    let cache = BuildCache::new(cache_dir);
    let mut plan = cache.plan(archive, &project).await?;
    let fetched = cache.fetch(archive, &mut plan, &Counter::new()).await?;
    let listing = plan.listing();
    let new_keys: Vec<String> = fetched.iter().map(|b| cache_key(&b.record.key)).collect();
    let previous = ProjectState::load(out, &project).filter(|s| {
        !plan.compaction_due()
            && s.accepts(out, archive.display_url(), &listing, &new_keys, &fetched)
    });
    if previous.is_some() {
        tracing::info!(
            "{project}: {} new builds on the last site build",
            fetched.len()
        );
        let input = ProjectInput {
            project,
            builds: fetched,
            listing: Some(listing),
            previous,
        };
        return Ok((input, plan.unreadable().to_vec()));
    }
    let mut builds = cache
        .read_current(archive, &mut plan, &fetched, &Counter::new())
        .await?;
    tracing::info!(
        "{project}: {} builds from the cache, {} read from the archive",
        builds.len(),
        fetched.len()
    );
    builds.extend(fetched);
    let input = ProjectInput {
        project,
        builds,
        listing: Some(listing),
        previous: None,
    };
    Ok((input, plan.unreadable().to_vec()))
}
