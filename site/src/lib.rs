//! perfkit-site: the static site (`docs/ARCHITECTURE.md`, "The site"). From archived
//! builds it writes, per project, an overview of every series with its
//! trend and status, a page and a data file per series, a page per
//! change/patchset with its verdicts, an alerts page and an Atom feed; and
//! an index of projects with a feed for all of them. Plain files that work
//! from `file://` and any static host; the chart library and styles are
//! embedded in the binary. Rebuilding rewrites only files whose bytes
//! changed (`writer`).

mod data;
pub mod dirs;
pub mod feed;
mod incremental;
pub mod judge;
mod pages;
mod run_chart;
mod sparkline;
mod strip;
pub mod urls;
pub mod writer;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Environment;
use perfkit_analysis::compare::{Comparison, SeriesSamples, Status};
use perfkit_analysis::culprits::{self, CommitLog, Suspects};
use perfkit_analysis::regress::changepoint::ChangePointMemo;
use perfkit_analysis::trend::{ProjectTrends, SeriesTrend, TrendState, TrendStatus};
use perfkit_analysis::{format, report};
use perfkit_schema::{ArchivedBuild, ProjectName};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

pub use crate::dirs::SiteDirs;
use crate::feed::{Alert, FEED_ENTRIES, alerts};
use crate::incremental::{ChangeEntry, SiteFacts, TrendView, change_key};
pub use crate::judge::{BuildSource, build_key};
use crate::pages::CommitLinks;
use crate::run_chart::Runs;
use crate::writer::{SiteWriter, WriteStats};

/// Why the site could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot render {page}: {message}")]
    Template { page: String, message: String },
    #[error("--base-url `{0}` is not an http(s) URL")]
    BaseUrl(String),
    #[error("another `perfkit site` is writing {}", .0.display())]
    Busy(PathBuf),
    #[error("cannot read {}: {reason}", .path.display())]
    State { path: PathBuf, reason: String },
    #[error("cannot read the archive: {0}")]
    Read(String),
    #[error("the state directory {} and the site {} overlap", .state.display(), .out.display())]
    StateInSite { state: PathBuf, out: PathBuf },
}

impl SiteError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> SiteError {
        SiteError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            SiteError::Io { .. } => {
                "check that the --out directory is writable and the disk has room"
            }
            SiteError::Template { .. } => "this is a perfkit bug: please report it",
            SiteError::BaseUrl(_) => {
                "give the URL the site will be served from, e.g. https://perf.example.org/"
            }
            SiteError::Busy(_) => "wait for it to finish, or write to another --out directory",
            SiteError::State { .. } => {
                "rebuild every project once (without --project); that rewrites this file"
            }
            SiteError::Read(_) => "check the archive's URL and credentials, then run again",
            SiteError::StateInSite { .. } => {
                "give --state-dir a directory outside the site (the default is beside it), so publishing the site never ships perfkit's state"
            }
        };
        Some(hint.to_string())
    }
}

/// Settings of a site build.
#[derive(Debug, Clone, Default)]
pub struct SiteOptions {
    /// Where the site is served from; makes feed links absolute.
    pub base_url: Option<String>,
    /// The archive's display URL (no credentials), shown in the footer.
    pub archive: String,
    /// Where the commits of change points are read (suspects); none: no suspects.
    pub commits: Option<Commits>,
    /// Link of a commit, `{project}` and `{sha}` replaced.
    pub commit_url: Option<String>,
}

/// The repositories suspects are read from (`perfkit_git::Repos`).
#[derive(Clone)]
pub struct Commits(pub Arc<dyn CommitLog + Send + Sync>);

impl std::fmt::Debug for Commits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.projects()).finish()
    }
}

/// One project as the archive lists it.
pub struct ProjectInput<'a> {
    pub project: ProjectName,
    /// Every build the archive lists, without series (its index rows):
    /// enough to choose what to read.
    pub listed: Vec<ArchivedBuild>,
    /// Each listed build's version by `build_key`: a rewritten build has
    /// a new one.
    pub versions: BTreeMap<String, String>,
    /// Where builds are read with their series.
    pub source: Box<dyn BuildSource + 'a>,
}

/// A project's line in the index, kept between builds so a build limited
/// to some projects still lists all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSummary {
    pub name: String,
    pub dir: String,
    pub builds: usize,
    pub series: usize,
    pub regressed: usize,
    pub failing: usize,
    pub alerts: usize,
    pub changes: usize,
    pub latest_us: i64,
    /// Rendered alert rows and feed entries (for the all-projects pages).
    #[serde(default)]
    pub alert_rows: Vec<Json>,
}

/// What a site build did.
#[derive(Debug, Clone)]
pub struct SiteReport {
    pub stats: WriteStats,
    pub projects: Vec<ProjectSummary>,
    /// `index.html` of the site.
    pub index: PathBuf,
}

/// The index's project lines, in the state directory.
const STATE: &str = "projects.json";

const SITE_CSS: &str = include_str!("../assets/site.css");
const SITE_JS: &str = include_str!("../assets/site.js");
const UPLOT_JS: &str = include_str!("../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/vendor/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../assets/vendor/uplot/LICENSE");

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("index.html", include_str!("../templates/index.html")),
        ("project.html", include_str!("../templates/project.html")),
        ("series.html", include_str!("../templates/series.html")),
        ("change.html", include_str!("../templates/change.html")),
        ("changes.html", include_str!("../templates/changes.html")),
        ("alerts.html", include_str!("../templates/alerts.html")),
        ("suspects.html", include_str!("../templates/suspects.html")),
        (
            "alerts.atom.xml",
            include_str!("../templates/alerts.atom.xml"),
        ),
    ] {
        env.add_template(name, source)
            .expect("embedded templates parse (checked by tests)");
    }
    env
}

/// Renders and writes pages with the keys every page has.
struct Pages<'a> {
    env: Environment<'static>,
    writer: SiteWriter,
    options: &'a SiteOptions,
}

impl Pages<'_> {
    fn page(&mut self, template: &str, path: &str, context: Json) -> Result<(), SiteError> {
        let text = self.render(template, path, context)?;
        self.writer.write(path, text.as_bytes())
    }

    fn render(&self, template: &str, path: &str, context: Json) -> Result<String, SiteError> {
        render(&self.env, self.options, template, path, context)
    }

    /// An absolute link when the site's URL is known, else `relative`
    /// (relative to the feed's own location).
    fn feed_link(&self, from_root: &str, relative: &str) -> String {
        match &self.options.base_url {
            Some(base) => format!("{base}{from_root}"),
            None => relative.to_string(),
        }
    }
}

/// The text of page `path`: `template` with `context` and the keys every
/// page has.
fn render(
    env: &Environment<'static>,
    options: &SiteOptions,
    template: &str,
    path: &str,
    mut context: Json,
) -> Result<String, SiteError> {
    let depth = path.matches('/').count();
    context["root"] = json!("../".repeat(depth));
    context["version"] = json!(env!("CARGO_PKG_VERSION"));
    context["archive"] = json!(options.archive);
    env.get_template(template)
        .and_then(|t| t.render(minijinja::value::Serde(&context)))
        .map_err(|e| SiteError::Template {
            page: path.to_string(),
            message: format!("{e:#}"),
        })
}

/// Builds the site for `inputs` into `out`. With `scope`, only those
/// projects are rebuilt and the index keeps the others from the last build.
/// The caller holds `writer::OutputLock` on `out` for the whole run.
pub fn build_site(
    inputs: Vec<ProjectInput>,
    dirs: &SiteDirs,
    options: &SiteOptions,
    scope: Option<&[ProjectName]>,
    progress: &dyn Fn(&str),
) -> Result<SiteReport, SiteError> {
    let mut options = options.clone();
    if let Some(base) = &options.base_url {
        if urls::http_url(base).is_none() {
            return Err(SiteError::BaseUrl(base.clone()));
        }
        if !base.ends_with('/') {
            options.base_url = Some(format!("{base}/"));
        }
    }
    let mut pages = Pages {
        env: environment(),
        writer: SiteWriter::new(dirs)?,
        options: &options,
    };
    for (path, text) in [
        ("assets/site.css", SITE_CSS),
        ("assets/site.js", SITE_JS),
        ("assets/vendor/uplot/uPlot.iife.min.js", UPLOT_JS),
        ("assets/vendor/uplot/uPlot.min.css", UPLOT_CSS),
        ("assets/vendor/uplot/LICENSE", UPLOT_LICENSE),
    ] {
        pages.writer.write(path, text.as_bytes())?;
    }

    // A build limited to some projects lists the others from the last
    // build's state; a state that cannot be read must not drop them.
    let state_path = dirs.state_path(STATE);
    let mut summaries: Vec<ProjectSummary> = match (scope, std::fs::read(&state_path)) {
        (Some(_), Ok(bytes)) => serde_json::from_slice(&bytes).map_err(|e| SiteError::State {
            path: state_path.clone(),
            reason: e.to_string(),
        })?,
        (Some(_), Err(e)) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(SiteError::io(&state_path, e));
        }
        _ => Vec::new(),
    };
    for input in inputs {
        let project = input.project.to_string();
        progress(&project);
        let summary = project_site(&mut pages, input, dirs, &|what| {
            progress(&format!("{project}: {what}"))
        })?;
        summaries.retain(|s| s.name != summary.name);
        summaries.push(summary);
    }
    summaries.sort_by(|a, b| a.name.cmp(&b.name));

    index_pages(&mut pages, &summaries)?;
    let scope_dirs: Option<Vec<String>> = scope.map(|projects| {
        projects
            .iter()
            .map(|p| format!("{}/", urls::project_dir(p)))
            .collect()
    });
    let stats = pages.writer.finish(scope_dirs.as_deref())?;
    let state = serde_json::to_vec(&summaries).expect("summaries serialize");
    writer::atomic_write(&state_path, &state)?;
    Ok(SiteReport {
        stats,
        projects: summaries,
        index: dirs.out.join("index.html"),
    })
}

fn project_site(
    pages: &mut Pages,
    input: ProjectInput,
    dirs: &SiteDirs,
    progress: &dyn Fn(&str),
) -> Result<ProjectSummary, SiteError> {
    let ProjectInput {
        project,
        listed,
        versions,
        mut source,
    } = input;
    let name = project.as_str();
    let dir = urls::project_dir(&project);
    let settings = settings_of(pages.options);
    let previous = SiteFacts::load(dirs, &project, &settings);
    // Whatever this build leaves half-done, the next one must not trust
    // pages an older state describes.
    incremental::forget(dirs, &project);

    let key_of = |b: &ArchivedBuild| judge::build_key(&b.record.key);
    let version_of = |k: &str| versions.get(k).cloned().unwrap_or_default();
    let branch_now: BTreeMap<String, String> = listed
        .iter()
        .filter(|b| b.is_branch_build())
        .map(|b| {
            let k = key_of(b);
            let v = version_of(&k);
            (k, v)
        })
        .collect();
    let order: HashMap<String, (i64, String)> = listed
        .iter()
        .map(|b| {
            (
                key_of(b),
                (b.time_us(), b.record.key.build.as_str().to_string()),
            )
        })
        .collect();
    let latest_us = listed.iter().map(|b| b.time_us()).max().unwrap_or_default();
    let planned = judge::plan_changes(&listed, &versions);
    drop(listed);

    // The branch history: as it was, grown by new builds, or read whole.
    let trend_files_there =
        |p: &SiteFacts| p.trend_view.files.iter().all(|f| pages.writer.exists(f));
    let mut work = match &previous {
        Some(p) if p.branch == branch_now && trend_files_there(p) => TrendWork::Unchanged,
        Some(p)
            if p.points_branch
                .iter()
                .all(|(k, v)| branch_now.get(k) == Some(v)) =>
        {
            match p.points(dirs) {
                Some(state) => {
                    // The builds since the points file was written.
                    let added: BTreeSet<String> = branch_now
                        .keys()
                        .filter(|k| !p.points_branch.contains_key(*k))
                        .cloned()
                        .collect();
                    TrendWork::Merge { state, added }
                }
                None => TrendWork::Full,
            }
        }
        _ => TrendWork::Full,
    };
    let mut unreadable: BTreeSet<String> = BTreeSet::new();
    let mut reading = Reading {
        source: source.as_mut(),
        unreadable: &mut unreadable,
    };
    let mut runs = Runs::default();
    let (state, first_changed) = match &mut work {
        TrendWork::Unchanged => (None, usize::MAX),
        TrendWork::Merge { state, added } => {
            let newest_before = state.builds().last().map_or(i64::MIN, |b| b.time_us);
            runs = Runs::since(newest_before);
            // Pages already show the builds merged since the points were
            // saved: chunks change from the first build new to the site.
            let first_new = added
                .iter()
                .filter(|k| previous.as_ref().is_none_or(|p| !p.branch.contains_key(*k)))
                .filter_map(|k| order.get(k))
                .min()
                .cloned();
            let first_changed = first_new.map_or(usize::MAX, |(t, id)| {
                state
                    .builds()
                    .partition_point(|b| (b.time_us, b.build.as_str()) < (t, id.as_str()))
            });
            judge::pass(
                &mut reading,
                &order,
                &[],
                added,
                Some(state),
                &mut runs,
                progress,
                &mut |_, _, _| Ok(()),
            )?;
            let state = std::mem::replace(state, TrendState::of(&[]));
            (Some(state), first_changed)
        }
        TrendWork::Full => (Some(TrendState::of(&[])), 0),
    };
    let full = matches!(work, TrendWork::Full);
    let mut state = state;
    let trend_work = match &work {
        TrendWork::Unchanged => "branch history unchanged".to_string(),
        TrendWork::Merge { added, .. } => {
            let new = added
                .iter()
                .filter(|k| previous.as_ref().is_none_or(|p| !p.branch.contains_key(*k)))
                .count();
            format!(
                "{new} new branch builds merged ({} read since the points were saved)",
                added.len()
            )
        }
        TrendWork::Full => format!("every branch build read ({})", branch_now.len()),
    };

    // The change pages whose inputs changed (all of them when the series
    // with pages changed: every page links to them).
    let series_ids: Vec<String> = match (&state, &previous) {
        (Some(_), _) if full => Vec::new(), // known after the pass below
        (Some(s), _) => s.series_ids(),
        (None, Some(p)) => p.series_ids.clone(),
        (None, None) => unreachable!("no state means a full build"),
    };
    let same_series = !full
        && previous
            .as_ref()
            .is_some_and(|p| p.series_ids == series_ids);
    // Pages rendered from the same inputs before are kept as they are.
    let kept: BTreeMap<String, ChangeEntry> = planned
        .iter()
        .filter_map(|c| {
            let key = change_key(c.change, c.patchset);
            let entry = previous.as_ref()?.changes.get(&key)?;
            (same_series && entry.inputs == c.inputs && pages.writer.exists(&entry.page))
                .then(|| (key, entry.clone()))
        })
        .collect();
    let to_judge: Vec<judge::Planned> = planned
        .iter()
        .filter(|c| !kept.contains_key(&change_key(c.change, c.patchset)))
        .cloned()
        .collect();
    progress(&format!(
        "{trend_work}; {} of {} change pages to judge",
        to_judge.len(),
        planned.len()
    ));
    let branch_keys: BTreeSet<String> = if full {
        branch_now.keys().cloned().collect()
    } else {
        BTreeSet::new()
    };
    // The change pages: kept ones as they are, the others rendered and
    // written as soon as they are judged, a few at a time on every core,
    // so no judged page waits for the rest of the pass.
    let mut changes: BTreeMap<String, ChangeEntry> = BTreeMap::new();
    for (key, entry) in kept {
        pages.writer.keep(&entry.page);
        changes.insert(key, entry);
    }
    // The series with pages, when known before the pass; a full build
    // knows them only once every branch build is merged, so it renders a
    // page at once only when each of its series is among those merged so
    // far, and judges the others (changes adding a series) again after.
    let known: Option<BTreeSet<String>> = (!full).then(|| series_ids.iter().cloned().collect());
    let batch = 2 * threads();
    let mut deferred: Vec<judge::Planned> = Vec::new();
    {
        let mut waiting: Vec<(usize, judge::Judged)> = Vec::new();
        let has_page = |id: &str| known.as_ref().is_none_or(|k| k.contains(id));
        let mut on_judged = |i: usize,
                             judged: judge::Judged,
                             merged: Option<&HashSet<String>>|
         -> Result<(), SiteError> {
            if known.is_none()
                && !merged.is_some_and(|m| judged.0.series.iter().all(|s| m.contains(&s.id)))
            {
                deferred.push(to_judge[i].clone());
                return Ok(());
            }
            waiting.push((i, judged));
            if waiting.len() >= batch {
                let done = std::mem::take(&mut waiting);
                change_pages(pages, name, &dir, &to_judge, &done, &has_page, &mut changes)?;
            }
            Ok(())
        };
        judge::pass(
            &mut reading,
            &order,
            &to_judge,
            &branch_keys,
            state.as_mut().filter(|_| full),
            &mut runs,
            progress,
            &mut on_judged,
        )?;
        change_pages(
            pages,
            name,
            &dir,
            &to_judge,
            &waiting,
            &has_page,
            &mut changes,
        )?;
    }
    if !deferred.is_empty() {
        let ids: BTreeSet<String> = state
            .as_ref()
            .map(|s| s.series_ids().into_iter().collect())
            .unwrap_or_default();
        let has_page = |id: &str| ids.contains(id);
        let mut on_judged = |i: usize, judged: judge::Judged, _: Option<&HashSet<String>>| {
            let one = [(i, judged)];
            change_pages(pages, name, &dir, &deferred, &one, &has_page, &mut changes)
        };
        judge::pass(
            &mut reading,
            &order,
            &deferred,
            &BTreeSet::new(),
            None,
            &mut runs,
            progress,
            &mut on_judged,
        )?;
    }

    // The trend pages; the points are saved again after a full read or
    // once enough builds were merged since they were.
    let rewrite_points = match &work {
        TrendWork::Unchanged => false,
        TrendWork::Merge { added, .. } => added.len() >= POINTS_REWRITE,
        TrendWork::Full => true,
    };
    let (view, series_ids) = match state {
        Some(state) => {
            progress("branch builds read");
            let points = rewrite_points.then(|| {
                let bytes = state.to_bytes();
                let (dirs, project) = (dirs.clone(), project.clone());
                std::thread::spawn(move || incremental::write_points(&dirs, &project, &bytes))
            });
            let series_ids = state.series_ids();
            let view = trend_pages(
                pages,
                state,
                dirs,
                &dir,
                name,
                &runs,
                first_changed,
                full,
                progress,
            )?;
            (Some((view, points)), series_ids)
        }
        None => (None, series_ids),
    };
    let trend_view = match (&view, &previous) {
        (Some((v, _)), _) => v.clone(),
        (None, Some(p)) => {
            for f in &p.trend_view.files {
                pages.writer.keep(f);
            }
            p.trend_view.clone()
        }
        (None, None) => unreachable!("no state means a full build"),
    };

    let mut change_rows: Vec<Json> = changes.values().map(|e| e.row.clone()).collect();
    change_rows.sort_by_key(|r| std::cmp::Reverse(r["time_us"].as_i64().unwrap_or_default()));
    pages.page(
        "changes.html",
        &format!("{dir}/changes.html"),
        json!({"title": format!("Changes of {name}"), "project": name, "changes": change_rows}),
    )?;

    let links = CommitLinks(pages.options.commit_url.as_deref());
    let rows: Vec<Json> = trend_view
        .alerts
        .iter()
        .map(|a| pages::alert_row(a, "../", links))
        .collect();
    pages.page(
        "project.html",
        &format!("{dir}/index.html"),
        json!({
            "title": name,
            "project": name,
            "builds": trend_view.builds,
            "series": trend_view.overview,
            "alerts": trend_view.alerts.len(),
            "changes": change_rows,
        }),
    )?;
    let title = format!("Regressions in {name}");
    pages.page(
        "alerts.html",
        &format!("{dir}/alerts.html"),
        json!({"title": title, "project": name, "alerts": rows}),
    )?;
    feed_page(pages, &format!("{dir}/"), &title, &trend_view.alerts)?;

    // Builds that could not be read are left out of what the state covers:
    // the next build tries them again.
    let mut branch = branch_now;
    branch.retain(|k, _| !unreadable.contains(k));
    let points_branch = match &previous {
        Some(p) if !rewrite_points => p.points_branch.clone(),
        _ => branch.clone(),
    };
    let summary = ProjectSummary {
        name: name.to_string(),
        dir: dir.clone(),
        builds: trend_view.builds,
        series: series_ids.len(),
        regressed: trend_view.regressed,
        failing: trend_view.failing,
        alerts: trend_view.alerts.len(),
        changes: change_rows.len(),
        latest_us,
        alert_rows: trend_view
            .alerts
            .iter()
            .map(|a| json!({"row": pages::alert_row(a, "", links), "alert": a}))
            .collect(),
    };
    let facts = SiteFacts::new(
        settings,
        branch,
        points_branch,
        latest_us,
        series_ids,
        trend_view,
        changes,
    );
    let points = match view.and_then(|(_, p)| p) {
        Some(writing) => Some(writing.join().expect("writing the points does not panic")?),
        None => None,
    };
    facts.save(dirs, &project, points, previous.as_ref())?;
    Ok(summary)
}

/// Series whose files are rendered at once (on every core).
const SERIES_PER_BATCH: usize = 32;

/// A file of a site build: new text, or the one written before.
enum Output {
    Write(String),
    Keep,
}

/// The cores to render on.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Renders and writes the change pages of `judged` (indices into
/// `planned` with their comparisons), on every core, and notes them in
/// `changes`.
fn change_pages(
    pages: &mut Pages,
    name: &str,
    dir: &str,
    planned: &[judge::Planned],
    judged: &[(usize, judge::Judged)],
    has_page: &(dyn Fn(&str) -> bool + Sync),
    changes: &mut BTreeMap<String, ChangeEntry>,
) -> Result<(), SiteError> {
    let (env, options) = (&pages.env, pages.options);
    let rendered = parallel_map(judged, &|(_, (comparison, samples))| {
        change_page(env, options, comparison, samples, has_page, name, dir)
    });
    for ((i, _), result) in judged.iter().zip(rendered) {
        let c = &planned[*i];
        let (page, text, row) = result?;
        pages.writer.write(&page, text.as_bytes())?;
        changes.insert(
            change_key(c.change, c.patchset),
            ChangeEntry {
                inputs: c.inputs.clone(),
                row,
                page,
            },
        );
    }
    Ok(())
}

/// `f` of every item, on every core, in order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: &(dyn Fn(&T) -> R + Sync)) -> Vec<R> {
    let threads = threads().min(items.len().max(1));
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("rendering does not panic"))
            .collect()
    })
}

/// Branch builds merged into saved points before they are saved again: a
/// 10,000-build history's points are ~125 MB, too much to rewrite for
/// every new build, and reading the few builds since costs less.
const POINTS_REWRITE: usize = 50;

/// What the branch history needs this build.
enum TrendWork {
    /// Nothing: no branch build was added, rewritten or removed.
    Unchanged,
    /// The saved points, and the branch builds to merge into them.
    Merge {
        state: TrendState,
        added: BTreeSet<String>,
    },
    /// Every branch build, read again.
    Full,
}

/// A source that notes the builds it could not give.
struct Reading<'a> {
    source: &'a mut dyn BuildSource,
    unreadable: &'a mut BTreeSet<String>,
}

impl BuildSource for Reading<'_> {
    fn read(&mut self, keys: &[String]) -> Result<Vec<ArchivedBuild>, SiteError> {
        let builds = self.source.read(keys)?;
        if builds.len() < keys.len() {
            let got: BTreeSet<String> = builds
                .iter()
                .map(|b| judge::build_key(&b.record.key))
                .collect();
            self.unreadable
                .extend(keys.iter().filter(|k| !got.contains(*k)).cloned());
        }
        Ok(builds)
    }
}

/// What besides the builds shapes a project's pages.
fn settings_of(options: &SiteOptions) -> String {
    format!(
        "archive={}\ncommit_url={}\nsuspects={}",
        options.archive,
        options.commit_url.as_deref().unwrap_or_default(),
        options
            .commits
            .as_ref()
            .map(|Commits(log)| log.projects().join(","))
            .unwrap_or_default()
    )
}

/// Analyses `state` (the change-point memo kept between runs) and writes
/// the series pages and data files; chunks of builds before
/// `first_changed` are kept as they are (`keep_chunks`: they were written
/// from the same points before).
#[allow(clippy::too_many_arguments)]
fn trend_pages(
    pages: &mut Pages,
    state: TrendState,
    dirs: &SiteDirs,
    dir: &str,
    name: &str,
    runs: &Runs,
    first_changed: usize,
    full: bool,
    progress: &dyn Fn(&str),
) -> Result<TrendView, SiteError> {
    let memo = dirs.state_path(&format!("changepoints/{dir}.bin"));
    let trends = memoised_trends(state, &memo)?;
    progress(&format!(
        "change points of {} series found",
        trends.series.len()
    ));
    let mut files = Vec::new();
    let unchanged_chunks = if full {
        0
    } else {
        first_changed / data::BUILDS_PER_CHUNK
    };
    let chunk_count = data::chunk_count(trends.builds.len());
    for chunk in 0..chunk_count {
        let path = format!("{dir}/data/builds-{chunk}.js");
        pages
            .writer
            .write(&path, data::builds_chunk(chunk, &trends.builds).as_bytes())?;
        files.push(path);
    }
    let chunks: Vec<String> = (0..chunk_count)
        .map(|c| format!("../data/builds-{c}.js"))
        .collect();
    let log = pages.options.commits.clone();
    let suspects_of = |s: &SeriesTrend, point: usize| -> Vec<Suspects> {
        let Some(Commits(log)) = &log else {
            return Vec::new();
        };
        culprits::suspects(
            log.as_ref(),
            name,
            &s.key.branch,
            &trends.builds,
            &s.points,
            point,
        )
    };
    let commit_url = pages.options.commit_url.clone();
    let links = CommitLinks(commit_url.as_deref());
    // Each series' files rendered on every core, a batch at a time (a
    // batch's text stays small), then written in order.
    let (env, options, out_dir) = (&pages.env, pages.options, dirs.out.clone());
    let exists = |path: &str| out_dir.join(path).is_file();
    let one_series = |trend: &SeriesTrend| -> Result<Vec<(String, Output)>, SiteError> {
        let id = &trend.id;
        let mut out = vec![(
            format!("{dir}/data/{id}.js"),
            Output::Write(data::series(trend, chunk_count)),
        )];
        for chunk in 0..chunk_count {
            let path = format!("{dir}/data/{id}-{chunk}.js");
            let text = if chunk < unchanged_chunks && exists(&path) {
                Output::Keep
            } else {
                Output::Write(data::series_chunk(trend, chunk))
            };
            out.push((path, text));
        }
        let mut scripts = chunks.clone();
        scripts.push(format!("../data/{id}.js"));
        scripts.extend((0..chunk_count).map(|c| format!("../data/{id}-{c}.js")));
        // The newest run second by second: new when a build read now has a
        // newer one, else the one written before.
        let run_path = format!("{dir}/data/{id}-run.js");
        let run = match runs.get(&trend.key) {
            Some(run) => Some(Output::Write(data::run(id, run))),
            None if !full && exists(&run_path) => Some(Output::Keep),
            None => None,
        };
        let has_run = run.is_some();
        if let Some(run) = run {
            scripts.push(format!("../data/{id}-run.js"));
            out.push((run_path, run));
        }
        let mut context =
            pages::series_page(&trends, trend, scripts, &|p| suspects_of(trend, p), links);
        context["has_run"] = json!(has_run);
        context["title"] = json!(format!("{} › {}", trend.label.scenario, trend.label.action));
        context["project"] = json!(name);
        let path = format!("{dir}/series/{}.html", trend.id);
        let page = render(env, options, "series.html", &path, context)?;
        out.push((path, Output::Write(page)));
        Ok(out)
    };
    for batch in trends.series.chunks(SERIES_PER_BATCH) {
        for rendered in parallel_map(batch, &one_series) {
            for (path, output) in rendered? {
                match output {
                    Output::Write(text) => pages.writer.write(&path, text.as_bytes())?,
                    Output::Keep => pages.writer.keep(&path),
                }
                files.push(path);
            }
        }
    }
    progress("series pages written");
    let found = alerts(name, dir, &trends, &suspects_of);
    let count = |status| trends.series.iter().filter(|s| s.status == status).count();
    Ok(TrendView {
        builds: trends.builds.len(),
        regressed: count(TrendStatus::Regressed),
        failing: count(TrendStatus::Failing),
        overview: overview_order(&trends)
            .into_iter()
            .map(pages::overview_row)
            .collect(),
        alerts: found,
        files,
    })
}

/// `trends` with the change-point memo kept in `path` between runs: a
/// rebuild after a few new builds recomputes only the windows they touch.
/// A memo that cannot be read is started afresh: it saves time, it never
/// changes a result.
fn memoised_trends(state: TrendState, path: &Path) -> Result<ProjectTrends, SiteError> {
    let memo = std::fs::read(path)
        .map(|bytes| ChangePointMemo::from_bytes(&bytes))
        .unwrap_or_default();
    let trends = state.analyse(Some(&memo));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| SiteError::io(parent, e))?;
    }
    writer::atomic_write(path, &memo.to_bytes())?;
    Ok(trends)
}

/// The page of one comparison: its path, text and row in the changes
/// table.
fn change_page(
    env: &Environment<'static>,
    options: &SiteOptions,
    c: &Comparison,
    samples: &[SeriesSamples],
    has_page: &dyn Fn(&str) -> bool,
    name: &str,
    dir: &str,
) -> Result<(String, String, Json), SiteError> {
    let path = format!("{dir}/change/{}-{}.html", c.change, c.patchset);
    let mut context = pages::change_page(c, samples, has_page);
    context["title"] = json!(format!("{name} {},{}", c.change, c.patchset));
    context["project"] = json!(name);
    let text = render(env, options, "change.html", &path, context)?;
    let time_us = c.builds.iter().map(|b| b.time_us).max().unwrap_or_default();
    let row = json!({
        "change": c.change,
        "patchset": c.patchset,
        "link": format!("change/{}-{}.html", c.change, c.patchset),
        "time": format::timestamp(time_us),
        "time_us": time_us,
        "regressions": c.count(Status::Regression),
        "inconclusive": c.count(Status::Inconclusive),
        "summary": report::summary(c),
    });
    Ok((path, text, row))
}

/// The overview's rows: what needs attention first (regressed, failing,
/// improved, stable), then by job, branch, subtask, scenario and action.
fn overview_order(trends: &ProjectTrends) -> Vec<&perfkit_analysis::trend::SeriesTrend> {
    let mut rows: Vec<_> = trends.series.iter().collect();
    rows.sort_by(|a, b| (a.status, &a.label).cmp(&(b.status, &b.label)));
    rows
}

/// `text` without the characters XML 1.0 forbids (most C0 controls,
/// U+FFFE, U+FFFF): a Rally name carrying one must not make the feed
/// unreadable. Escaping is the template's job.
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|&c| match c {
            '\t' | '\n' | '\r' => true,
            c if c < ' ' => false,
            '\u{fffe}' | '\u{ffff}' => false,
            _ => true,
        })
        .collect()
}

/// `alerts.atom` in `dir` (`""` for the root, else `<project>/`).
fn feed_page(pages: &mut Pages, dir: &str, title: &str, alerts: &[Alert]) -> Result<(), SiteError> {
    let root_rel = if dir.is_empty() { "" } else { "../" };
    let entries: Vec<Json> = alerts
        .iter()
        .take(FEED_ENTRIES)
        .map(|a| {
            let page = format!("{}/series/{}.html", a.project_dir, a.series);
            let headline = format!(
                "{} {} of {} in {}",
                report::metric_name(a.metric, &a.label),
                format::change_of(a.metric, a.magnitude_pct),
                a.label.short(),
                a.project
            );
            let mut summary = format!(
                "From the build of {} on, the branch's {} moved from {} to {} (p {}).",
                format::timestamp(a.build.time_us),
                report::metric_name(a.metric, &a.label),
                pages::value(a.metric, a.before, &a.label),
                pages::value(a.metric, a.after, &a.label),
                format::probability(a.p_value)
            );
            for s in &a.suspects {
                summary.push_str(&format!(" Suspects in {}.", s.describe()));
                for c in &s.commits {
                    let change = c
                        .change
                        .map(|n| format!(", change {n}"))
                        .unwrap_or_default();
                    summary.push_str(&format!(
                        " {} {} ({}{change});",
                        c.sha.get(..12).unwrap_or(&c.sha),
                        c.subject,
                        c.author
                    ));
                }
            }
            json!({
                "id": a.id,
                "headline": xml_text(&headline),
                "updated": format::rfc3339(a.build.time_us),
                "href": pages.feed_link(&page, &format!("{root_rel}{page}")),
                "summary": xml_text(&summary),
            })
        })
        .collect();
    let updated = alerts
        .iter()
        .map(|a| a.build.time_us)
        .max()
        .unwrap_or_default();
    let feed_id = perfkit_schema::identity::sha256_hex(format!("perfkit feed {dir}").as_bytes());
    pages.page(
        "alerts.atom.xml",
        &format!("{dir}alerts.atom"),
        json!({
            "title": title,
            "feed_id": format!("urn:uuid:{}-{}-{}-{}-{}", &feed_id[0..8], &feed_id[8..12], &feed_id[12..16], &feed_id[16..20], &feed_id[20..32]),
            "updated": format::rfc3339(updated),
            "self_link": pages.feed_link(&format!("{dir}alerts.atom"), "alerts.atom"),
            "page_link": pages.feed_link(&format!("{dir}alerts.html"), "alerts.html"),
            "alerts": entries,
        }),
    )
}

fn index_pages(pages: &mut Pages, summaries: &[ProjectSummary]) -> Result<(), SiteError> {
    let projects: Vec<Json> = summaries
        .iter()
        .map(|s| {
            json!({
                "name": s.name, "dir": s.dir, "builds": s.builds, "series": s.series,
                "regressed": s.regressed, "failing": s.failing, "alerts": s.alerts,
                "latest": if s.latest_us > 0 { format::timestamp(s.latest_us) } else { "–".into() },
                "latest_us": s.latest_us,
            })
        })
        .collect();
    pages.page(
        "index.html",
        "index.html",
        json!({"title": "Performance history", "projects": projects}),
    )?;
    let mut all: Vec<(&Json, Alert)> = summaries
        .iter()
        .flat_map(|s| s.alert_rows.iter())
        .filter_map(|r| Some((&r["row"], serde_json::from_value(r["alert"].clone()).ok()?)))
        .collect();
    all.sort_by(|a, b| {
        b.1.build
            .time_us
            .cmp(&a.1.build.time_us)
            .then(a.1.id.cmp(&b.1.id))
    });
    let rows: Vec<&Json> = all.iter().map(|(r, _)| *r).collect();
    pages.page(
        "alerts.html",
        "alerts.html",
        json!({"title": "Regressions in all projects", "project": null, "alerts": rows}),
    )?;
    let alerts: Vec<Alert> = all.into_iter().map(|(_, a)| a).collect();
    feed_page(pages, "", "Regressions in all projects", &alerts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_text_keeps_only_what_xml_allows() {
        assert_eq!(xml_text("a\u{b}b\u{0}c\td\u{fffe}é"), "abc\tdé");
    }

    /// A change page with one regression of hostile names and units.
    fn hostile_change_page() -> String {
        use perfkit_analysis::SeriesLabel;
        use perfkit_analysis::compare::{BuildRef, BuildValues, SeriesVerdict};
        use perfkit_analysis::regress::verdict::{Direction, Test, Verdict, VerdictKind};
        let build = |n: i64| BuildRef {
            build: format!("b{n}"),
            change: 0,
            patchset: 0,
            job: Some("job".into()),
            pipeline: Some("periodic".into()),
            branch: None,
            node_provider: None,
            log_url: None,
            change_url: None,
            time_us: n * 3_600_000_000,
            commits: Default::default(),
        };
        // U+2028 ends a line in old JavaScript engines, inside a string too.
        let evil = "</script><script>alert('x')</script>\u{2028}";
        let series = SeriesVerdict {
            id: "0123456789abcdef".into(),
            label: SeriesLabel {
                job: evil.into(),
                branch: String::new(),
                subtask_title: evil.into(),
                scenario: evil.into(),
                action: "total".into(),
                depth: 0,
                unit: evil.into(),
                higher_is_better: false,
                rate_unit: String::new(),
            },
            metric: perfkit_analysis::Metric::Duration,
            status: Status::Regression,
            verdict: Some(Verdict {
                series: String::new(),
                kind: VerdictKind::Regression,
                test: Test::MannWhitney,
                direction: Direction::LowerIsBetter,
                baseline_median: Some(10.0),
                baseline_spread: Some(0.5),
                new_median: Some(15.0),
                shift: Some(5.0),
                change_pct: Some(50.0),
                floor: Some(1.5),
                p_value: Some(1e-6),
                q_value: Some(1e-5),
                n_baseline: 30,
                n_new: 3,
                baseline_builds: 10,
                new_builds: 1,
                reason: evil.into(),
            }),
        };
        let values = |build: usize, at: f64| BuildValues {
            build,
            count: 3,
            median: Some(at),
            values: vec![at - 0.5, at, at + 0.5],
        };
        let samples = SeriesSamples {
            id: series.id.clone(),
            metric: series.metric,
            baseline: (0..10).map(|i| values(i, 10.0)).collect(),
            new: vec![values(0, 15.0)],
        };
        let c = Comparison {
            project: "p/q".into(),
            change: 7,
            patchset: 1,
            builds: vec![build(20)],
            baseline: (0..10).map(build).collect(),
            same_provider: false,
            series: vec![series],
            upgrade: None,
        };
        let context = pages::change_page(&c, &[samples], &|_| true);
        render(
            &environment(),
            &SiteOptions::default(),
            "change.html",
            "p~q/change/7-1.html",
            context,
        )
        .unwrap()
    }

    #[test]
    fn a_flagged_series_is_drawn_from_data_embedded_in_its_page() {
        let page = hostile_change_page();
        // The data, escaped for a script, in the page itself (file:// has
        // no fetch): ten baseline columns then the new build's.
        let call = page
            .split("perfkitChangePage(")
            .nth(1)
            .and_then(|rest| rest.split(");</script>").next())
            .unwrap_or_else(|| panic!("no plot data in {page}"));
        assert!(!call.contains('<') && !call.contains('>'), "{call}");
        assert!(call.contains("\\u003c/script\\u003e"), "{call}");
        assert!(
            !call.contains('\u{2028}') && call.contains("\\u2028"),
            "{call}"
        );
        let plots: Json = serde_json::from_str(call).unwrap();
        let plot = &plots[0];
        assert_eq!(plot["id"], "strip-0");
        assert_eq!(plot["nbase"], 10);
        assert_eq!(plot["base"], json!(10.0));
        let cols = plot["cols"].as_array().unwrap();
        assert_eq!(cols.len(), 11);
        assert_eq!(cols[10], json!([14.5, 15.0, 15.5]));
        assert!(page.contains("<div class=\"chart strip-chart\" id=\"strip-0\"></div>"));
        // Nothing of the names reaches the page unescaped.
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(
            page.contains("&lt;&#x2f;script&gt;&lt;script&gt;alert("),
            "{page}"
        );
        // The text beside the picture: the sentence, and the builds as a table.
        assert!(page.contains("<p class=\"lead\">Higher: 15 "), "{page}");
        assert_eq!(page.matches("<tr class=\"new-build\">").count(), 1);
        assert!(page.contains("<td>baseline 10</td>"), "{page}");
        assert!(page.contains("uPlot.iife.min.js"));
    }

    #[test]
    fn templates_parse() {
        let env = environment();
        for name in [
            "index.html",
            "project.html",
            "series.html",
            "change.html",
            "changes.html",
            "alerts.html",
            "alerts.atom.xml",
            "suspects.html",
        ] {
            env.get_template(name).unwrap();
        }
    }
}
