//! Reading the archive for `ls`, `compare` and `site`: open it without
//! creating a local directory where a typo pointed, and load builds.

use std::collections::BTreeMap;

use futures::StreamExt;
use perfkit_analysis::compare::compare;
use perfkit_archive::history::{Unreadable, load_readable};
use perfkit_archive::{Archive, CommittedRow};
use perfkit_schema::{ArchivedBuild, ProjectName};

use crate::ingest::archive_url;
use crate::progress::Counter;

/// Opens an existing archive for reading.
pub fn open_existing(flag: Option<String>) -> anyhow::Result<Archive> {
    let url = archive_url(flag);
    let local = url.strip_prefix("file://").unwrap_or(&url);
    if !url.contains("://") || url.starts_with("file://") {
        anyhow::ensure!(
            std::path::Path::new(local).is_dir(),
            "no archive at `{url}`\nhint: pass `--archive` (or set `PERFKIT_ARCHIVE`) to where `perfkit ingest` wrote"
        );
    }
    // Counted, so that `-v` says what a command cost ([`log_requests`]).
    Ok(Archive::open(&url)?.counting())
}

/// Logs (at `-v`) how many requests of each kind the command made.
pub fn log_requests(archive: &Archive) {
    if let Some(requests) = archive.requests() {
        tracing::info!("{}: {requests}", archive.display_url());
    }
}

/// Parses `--project` values.
pub fn project_names(raw: &[String]) -> anyhow::Result<Vec<ProjectName>> {
    raw.iter()
        .map(|p| ProjectName::try_from(p.as_str()).map_err(|e| anyhow::anyhow!("{e}")))
        .collect()
}

/// Builds of each project.
pub type Grouped = BTreeMap<ProjectName, Vec<ArchivedBuild>>;

/// The index rows of each of `projects` (every project of the archive when
/// empty): a few requests per project, whatever its history. Index objects
/// that cannot be read are named in a warning; builds of layout v1 that
/// are not indexed yet are read one by one, with a hint to index them.
pub async fn index_rows(
    archive: &Archive,
    projects: &[ProjectName],
) -> anyhow::Result<BTreeMap<ProjectName, Vec<CommittedRow>>> {
    index_rows_as(archive, projects, false).await
}

/// [`index_rows`], with rows of only the columns a baseline is chosen by
/// when `light` (`Archive::read_index_light`).
async fn index_rows_as(
    archive: &Archive,
    projects: &[ProjectName],
    light: bool,
) -> anyhow::Result<BTreeMap<ProjectName, Vec<CommittedRow>>> {
    let mut out = BTreeMap::new();
    for project in projects_to_read(archive, projects).await? {
        let index = if light {
            archive.read_index_light(&project).await?
        } else {
            archive.read_index(&project).await?
        };
        for why in &index.skipped {
            eprintln!("warning: {}", perfkit_schema::shown(why));
        }
        if index.unindexed_v1 > 0 {
            eprintln!(
                "note: {} builds of {project} (archive layout v1) are not in its index and were read one by one\nhint: `perfkit repair --project {project}` indexes them",
                index.unindexed_v1
            );
        }
        out.insert(project, index.rows);
    }
    Ok(out)
}

/// Every archived build of `projects` (all projects when empty), grouped
/// by project, with a progress bar for long reads. Builds with a missing or
/// undecodable object are skipped with a warning naming them
/// ([`warn_unreadable`]) and returned beside.
pub async fn load_projects(
    archive: &Archive,
    projects: &[ProjectName],
) -> anyhow::Result<(Grouped, Vec<Unreadable>)> {
    let rows: Vec<CommittedRow> = index_rows(archive, projects)
        .await?
        .into_values()
        .flatten()
        .collect();
    let loaded = load_readable(archive, &rows, &Counter::new()).await?;
    warn_unreadable(&loaded.unreadable);
    let mut grouped: Grouped = BTreeMap::new();
    for build in loaded.builds {
        grouped
            .entry(build.record.key.project.clone())
            .or_default()
            .push(build);
    }
    for p in projects {
        grouped.entry(p.clone()).or_default();
    }
    Ok((grouped, loaded.unreadable))
}

/// What judging one patchset of `project` needs: the patchset's builds and
/// the baseline the detector picks for them, found from the index rows
/// alone (only the columns the choice reads); only those builds' whole
/// rows and `series` objects are read (at most ~30 per job), never the
/// project's whole history.
pub async fn load_for_patchset(
    archive: &Archive,
    project: &ProjectName,
    change: u64,
    patchset: u32,
) -> anyhow::Result<(Vec<ArchivedBuild>, Vec<Unreadable>)> {
    let rows = index_rows_as(archive, std::slice::from_ref(project), true)
        .await?
        .into_values()
        .flatten()
        .collect::<Vec<_>>();
    // The baseline is chosen from the rows (job, branch, time, provider,
    // result), so builds without their series choose the same one.
    let (records, commits): (Vec<_>, Vec<_>) =
        rows.into_iter().map(|r| (r.record, r.commit)).unzip();
    let bare: Vec<ArchivedBuild> = records
        .into_iter()
        .map(|record| ArchivedBuild {
            record,
            series: Vec::new(),
        })
        .collect();
    let needed: std::collections::HashSet<String> = match compare(&bare, change, patchset) {
        Some(c) => c
            .builds
            .iter()
            .chain(&c.baseline)
            .map(|b| b.build.clone())
            .collect(),
        None => Default::default(),
    };
    let chosen: Vec<CommittedRow> = bare
        .into_iter()
        .zip(commits)
        .filter(|(b, _)| {
            let k = &b.record.key;
            needed.contains(k.build.as_str()) || (k.change == change && k.patchset == patchset)
        })
        .map(|(b, commit)| CommittedRow {
            record: b.record,
            commit,
        })
        .collect();
    // The chosen builds' whole rows, from their own `builds` objects.
    let whole: Vec<_> = futures::stream::iter(chosen.iter().map(|row| archive.whole_row(row)))
        .buffered(16)
        .collect()
        .await;
    let mut wanted = Vec::with_capacity(chosen.len());
    let mut unreadable = Vec::new();
    for (row, result) in chosen.iter().zip(whole) {
        match result {
            Ok(whole) => wanted.push(whole),
            Err(e) if e.is_bad_object() => unreadable.push(Unreadable {
                key: row.record.key.clone(),
                reason: e.to_string(),
            }),
            Err(e) => return Err(e.into()),
        }
    }
    let loaded = load_readable(archive, &wanted, &Counter::new()).await?;
    unreadable.extend(loaded.unreadable);
    warn_unreadable(&unreadable);
    Ok((loaded.builds, unreadable))
}

/// One warning per skipped build, naming it and the object at fault.
pub fn warn_unreadable(unreadable: &[Unreadable]) {
    for u in unreadable {
        eprintln!("warning: {u}");
    }
}

/// The summary line about skipped builds (`None` when none was).
pub fn unreadable_summary(unreadable: &[Unreadable], rest: &str) -> Option<String> {
    match unreadable.len() {
        0 => None,
        1 => Some(format!(
            "skipped 1 unreadable build (named above); {rest}\nhint: `perfkit ingest --replace` of its result file rewrites it"
        )),
        n => Some(format!(
            "skipped {n} unreadable builds (named above); {rest}\nhint: `perfkit ingest --replace` of their result files rewrites them"
        )),
    }
}

/// `projects`, or every project of the archive when empty.
pub async fn projects_to_read(
    archive: &Archive,
    projects: &[ProjectName],
) -> anyhow::Result<Vec<ProjectName>> {
    if !projects.is_empty() {
        return Ok(projects.to_vec());
    }
    Ok(archive.list_projects().await?)
}
