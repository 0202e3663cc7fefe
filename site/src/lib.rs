//! perfkit-site: the static site (`docs/ARCHITECTURE.md`, "The site"). From archived
//! builds it writes, per project, an overview of every series with its
//! trend and status, a page and a data file per series, a page per
//! change/patchset with its verdicts, an alerts page and an Atom feed; and
//! an index of projects with a feed for all of them. Plain files that work
//! from `file://` and any static host; the chart library and styles are
//! embedded in the binary. Rebuilding rewrites only files whose bytes
//! changed (`writer`).

mod data;
pub mod feed;
pub mod incremental;
mod pages;
mod run_chart;
mod sparkline;
pub mod urls;
pub mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Environment;
use perfkit_analysis::compare::{Comparer, Status};
use perfkit_analysis::culprits::{self, CommitLog, Suspects};
use perfkit_analysis::regress::changepoint::ChangePointMemo;
use perfkit_analysis::regress::verdict::Thresholds;
use perfkit_analysis::trend::{ProjectTrends, SeriesTrend, TrendState, TrendStatus};
use perfkit_analysis::{format, report};
use perfkit_schema::{ArchivedBuild, ProjectName};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::feed::{Alert, FEED_ENTRIES, alerts};
use crate::incremental::{ProjectState, SiteFacts};
use crate::pages::CommitLinks;
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

/// One project's builds.
#[derive(Debug, Clone)]
pub struct ProjectInput {
    pub project: ProjectName,
    /// Every build of the project; with `previous`, only the new ones.
    pub builds: Vec<ArchivedBuild>,
    /// The archive's listing (build key → version) the builds come from:
    /// with it, the project's state is kept for the next build.
    pub listing: Option<BTreeMap<String, String>>,
    /// The last build's state, which `ProjectState::accepts` `builds` for.
    pub previous: Option<ProjectState>,
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

/// State kept beside the site (not part of it): `.perfkit/` also holds the
/// writer's manifest and the CLI's build cache; publish without it.
pub const STATE_DIR: &str = ".perfkit";
const STATE: &str = ".perfkit/projects.json";

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
    fn page(&mut self, template: &str, path: &str, mut context: Json) -> Result<(), SiteError> {
        let depth = path.matches('/').count();
        context["root"] = json!("../".repeat(depth));
        context["version"] = json!(env!("CARGO_PKG_VERSION"));
        context["archive"] = json!(self.options.archive);
        let text = self
            .env
            .get_template(template)
            .and_then(|t| t.render(minijinja::value::Serde(&context)))
            .map_err(|e| SiteError::Template {
                page: path.to_string(),
                message: format!("{e:#}"),
            })?;
        self.writer.write(path, text.as_bytes())
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

/// Builds the site for `inputs` into `out`. With `scope`, only those
/// projects are rebuilt and the index keeps the others from the last build.
/// The caller holds `writer::OutputLock` on `out` for the whole run.
pub fn build_site(
    inputs: Vec<ProjectInput>,
    out: &Path,
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
        writer: SiteWriter::new(out)?,
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
    let state_path = out.join(STATE);
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
        progress(input.project.as_str());
        let summary = project_site(&mut pages, input, out)?;
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
        index: out.join("index.html"),
    })
}

fn project_site(
    pages: &mut Pages,
    input: ProjectInput,
    out: &Path,
) -> Result<ProjectSummary, SiteError> {
    let name = input.project.as_str();
    let dir = urls::project_dir(&input.project);
    // Whatever this build leaves half-done, the next one must not trust
    // pages an older state describes.
    incremental::forget(out, &input.project);
    let (state, previous) = match input.previous {
        Some(previous) => {
            let mut state = previous.trends;
            let known = state.builds().len();
            if !state.append(&input.builds) {
                return Err(SiteError::State {
                    path: out.join(STATE_DIR),
                    reason: "new builds do not extend the saved history".into(),
                });
            }
            (state, Some((previous.site, known)))
        }
        None => (TrendState::of(&input.builds), None),
    };
    let saved_points = input.listing.as_ref().map(|_| state.to_bytes());
    let memo = out.join(STATE_DIR).join(format!("changepoints/{dir}.bin"));
    let trends = memoised_trends(state, &memo)?;
    // Chunks before the first new build hold the same points as before.
    let unchanged_chunks = previous
        .as_ref()
        .map_or(0, |(_, known)| known / data::BUILDS_PER_CHUNK);

    for chunk in 0..data::chunk_count(trends.builds.len()) {
        let path = format!("{dir}/data/builds-{chunk}.js");
        pages
            .writer
            .write(&path, data::builds_chunk(chunk, &trends.builds).as_bytes())?;
    }
    let chunks: Vec<String> = (0..data::chunk_count(trends.builds.len()))
        .map(|c| format!("../data/builds-{c}.js"))
        .collect();
    let chunk_count = data::chunk_count(trends.builds.len());
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
    for trend in &trends.series {
        let id = &trend.id;
        pages.writer.write(
            &format!("{dir}/data/{id}.js"),
            data::series(trend, chunk_count).as_bytes(),
        )?;
        for chunk in 0..chunk_count {
            let path = format!("{dir}/data/{id}-{chunk}.js");
            if chunk < unchanged_chunks && pages.writer.exists(&path) {
                pages.writer.keep(&path);
            } else {
                pages
                    .writer
                    .write(&path, data::series_chunk(trend, chunk).as_bytes())?;
            }
        }
        let mut scripts = chunks.clone();
        scripts.push(format!("../data/{id}.js"));
        scripts.extend((0..chunk_count).map(|c| format!("../data/{id}-{c}.js")));
        // The newest run second by second: new when a new build has one,
        // else (only new builds are at hand) the one written before.
        let run_path = format!("{dir}/data/{id}-run.js");
        let has_run = match run_chart::newest_run(&input.builds, &trend.key) {
            Some(run) => {
                pages
                    .writer
                    .write(&run_path, data::run(id, &run).as_bytes())?;
                true
            }
            None if previous.is_some() && pages.writer.exists(&run_path) => {
                pages.writer.keep(&run_path);
                true
            }
            None => false,
        };
        if has_run {
            scripts.push(format!("../data/{id}-run.js"));
        }
        let mut context =
            pages::series_page(&trends, trend, scripts, &|p| suspects_of(trend, p), links);
        context["has_run"] = json!(has_run);
        context["title"] = json!(format!("{} › {}", trend.label.scenario, trend.label.action));
        context["project"] = json!(name);
        pages.page(
            "series.html",
            &format!("{dir}/series/{}.html", trend.id),
            context,
        )?;
    }

    let newest = input.builds.iter().map(|b| b.time_us()).max();
    let (change_rows, change_pages, latest_us) = match previous {
        // Only later branch builds are new: no comparison changed.
        Some((site, _)) => {
            for page in &site.change_pages {
                pages.writer.keep(page);
            }
            let latest = newest.map_or(site.latest_us, |t| t.max(site.latest_us));
            (site.change_rows, site.change_pages, latest)
        }
        None => {
            let (rows, paths) = change_pages(pages, &input.builds, &trends, name, &dir)?;
            (rows, paths, newest.unwrap_or_default())
        }
    };
    pages.page(
        "changes.html",
        &format!("{dir}/changes.html"),
        json!({"title": format!("Changes of {name}"), "project": name, "changes": change_rows}),
    )?;

    let found = alerts(name, &dir, &trends, &suspects_of);
    let rows: Vec<Json> = found
        .iter()
        .map(|a| pages::alert_row(a, "../", links))
        .collect();
    pages.page(
        "project.html",
        &format!("{dir}/index.html"),
        json!({
            "title": name,
            "project": name,
            "builds": trends.builds.len(),
            "series": overview_order(&trends).into_iter().map(pages::overview_row).collect::<Vec<_>>(),
            "alerts": found.len(),
            "changes": change_rows,
        }),
    )?;
    let title = format!("Regressions in {name}");
    pages.page(
        "alerts.html",
        &format!("{dir}/alerts.html"),
        json!({"title": title, "project": name, "alerts": rows}),
    )?;
    feed_page(pages, &format!("{dir}/"), &title, &found)?;

    if let (Some(listing), Some(points)) = (input.listing, saved_points) {
        let facts = SiteFacts::new(
            &pages.options.archive,
            listing,
            latest_us,
            change_rows.clone(),
            change_pages,
        );
        incremental::save(out, &input.project, facts, &points)?;
    }
    let count = |status| trends.series.iter().filter(|s| s.status == status).count();
    Ok(ProjectSummary {
        name: name.to_string(),
        dir: dir.clone(),
        builds: trends.builds.len(),
        series: trends.series.len(),
        regressed: count(TrendStatus::Regressed),
        failing: count(TrendStatus::Failing),
        alerts: found.len(),
        changes: change_rows.len(),
        latest_us,
        alert_rows: found
            .iter()
            .map(|a| json!({"row": pages::alert_row(a, "", links), "alert": a}))
            .collect(),
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

/// Every change/patchset's page; returns the changes table's rows
/// (newest first) and the pages' paths.
fn change_pages(
    pages: &mut Pages,
    builds: &[ArchivedBuild],
    trends: &ProjectTrends,
    name: &str,
    dir: &str,
) -> Result<(Vec<Json>, Vec<String>), SiteError> {
    let with_page: BTreeSet<&str> = trends.series.iter().map(|s| s.id.as_str()).collect();
    let mut change_rows = Vec::new();
    let mut paths = Vec::new();
    // One patchset at a time: a project with thousands of check builds
    // keeps only the table row of each, not every comparison.
    let comparer = Comparer::new(builds);
    let thresholds = Thresholds::default();
    let patchsets: Vec<(u64, u32)> = comparer.patchsets().rev().collect();
    for (change, patchset) in patchsets {
        let Some(c) = comparer.compare(change, patchset, &thresholds) else {
            continue;
        };
        let c = &c;
        let path = format!("{dir}/change/{}-{}.html", c.change, c.patchset);
        let mut context = pages::change_page(c, &|id| with_page.contains(id));
        context["title"] = json!(format!("{name} {},{}", c.change, c.patchset));
        context["project"] = json!(name);
        pages.page("change.html", &path, context)?;
        paths.push(path);
        let time_us = c.builds.iter().map(|b| b.time_us).max().unwrap_or_default();
        change_rows.push(json!({
            "change": c.change,
            "patchset": c.patchset,
            "link": format!("change/{}-{}.html", c.change, c.patchset),
            "time": format::timestamp(time_us),
            "time_us": time_us,
            "regressions": c.count(Status::Regression),
            "inconclusive": c.count(Status::Inconclusive),
            "summary": report::summary(c),
        }));
    }
    change_rows.sort_by_key(|r| std::cmp::Reverse(r["time_us"].as_i64().unwrap_or_default()));
    Ok((change_rows, paths))
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
                format::percent(a.magnitude_pct),
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
