//! `perfkit site`: the static site from the archive.

use crate::Outcome;
use std::path::PathBuf;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use perfkit_archive::Archive;
use perfkit_archive::batch::CommittedRow;
use perfkit_archive::batch::row_version;
use perfkit_archive::history::{Unreadable, load_readable};
use perfkit_archive::progress::Silent;
use perfkit_schema::{ArchivedBuild, ProjectName};
use perfkit_site::{BuildSource, ProjectInput, SiteDirs, SiteError, build_key, build_site};

use crate::read::{index_rows, open_existing, project_names, unreadable_summary, warn_unreadable};

/// What `perfkit site` was asked to do (the binary fills it from its arguments).
pub struct SiteOptions {
    /// Archive to read [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    pub archive: Option<String>,
    /// Directory to write the site to (created if missing)
    pub out: PathBuf,
    /// perfkit's working state for the next build [default: OUT.perfkit-state beside OUT]
    pub state_dir: Option<PathBuf>,
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
        // Before anything is created: a bad flag writes nothing.
        return Err(perfkit_site::SiteError::BaseUrl(base.clone()).into());
    }
    let dirs = SiteDirs::new(&args.out, args.state_dir.as_deref());
    dirs.prepare()?;
    // Held until the end: two builds into one site would delete each other's files.
    let _lock = perfkit_site::writer::OutputLock::acquire(&dirs)?;
    let unreadable = Mutex::new(Vec::new());
    let mut inputs = Vec::new();
    for (project, rows) in index_rows(&archive, &projects).await? {
        inputs.push(project_input(&archive, project, rows, &unreadable));
    }
    let options = perfkit_site::SiteOptions {
        base_url: args.base_url,
        archive: archive.display_url().to_string(),
        commits,
        commit_url: args.commit_url,
    };
    let scope = (!projects.is_empty()).then_some(projects.as_slice());
    let report = tokio::task::block_in_place(|| {
        build_site(inputs, &dirs, &options, scope, &|p| {
            tracing::info!("{p}");
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
    if let Some(line) = unreadable_summary(
        &unreadable.lock().expect("not poisoned"),
        "the site shows the others",
    ) {
        println!("{line}");
    }
    println!("open: {}", report.index.display());
    crate::read::log_requests(&archive);
    Ok(Outcome::Success)
}

/// One project as its index lists it, its builds read from the archive
/// only when the site needs them (`perfkit_site::judge`).
fn project_input<'a>(
    archive: &'a Archive,
    project: ProjectName,
    rows: Vec<CommittedRow>,
    unreadable: &'a Mutex<Vec<Unreadable>>,
) -> ProjectInput<'a> {
    let mut versions = BTreeMap::new();
    let mut listed = Vec::with_capacity(rows.len());
    let mut by_key = HashMap::with_capacity(rows.len());
    for row in rows {
        let key = build_key(&row.record.key);
        versions.insert(key.clone(), row_version(&row));
        listed.push(ArchivedBuild {
            record: row.record.clone(),
            series: Vec::new(),
        });
        by_key.insert(key, row);
    }
    ProjectInput {
        project,
        listed,
        versions,
        source: Box::new(ArchiveSource {
            archive,
            rows: by_key,
            unreadable,
            reported: HashSet::new(),
            runtime: tokio::runtime::Handle::current(),
        }),
    }
}

/// Builds read from the archive with their series; the unreadable ones are
/// named in a warning and counted for the summary.
struct ArchiveSource<'a> {
    archive: &'a Archive,
    rows: HashMap<String, CommittedRow>,
    unreadable: &'a Mutex<Vec<Unreadable>>,
    /// Builds already named: the site may read a build twice (a page
    /// judged again after the branch pass), but names and counts it once.
    reported: HashSet<String>,
    runtime: tokio::runtime::Handle,
}

impl BuildSource for ArchiveSource<'_> {
    fn read(&mut self, keys: &[String]) -> Result<Vec<ArchivedBuild>, SiteError> {
        let rows: Vec<CommittedRow> = keys
            .iter()
            .filter_map(|k| self.rows.get(k).cloned())
            .collect();
        let loaded = self
            .runtime
            .block_on(load_readable(self.archive, &rows, &Silent))
            .map_err(|e| SiteError::Read(e.to_string()))?;
        let new: Vec<Unreadable> = loaded
            .unreadable
            .into_iter()
            .filter(|u| self.reported.insert(build_key(&u.key)))
            .collect();
        warn_unreadable(&new);
        self.unreadable.lock().expect("not poisoned").extend(new);
        Ok(loaded.builds)
    }
}
