//! Reading the archive for `ls`, `compare` and `site`: open it without
//! creating a local directory where a typo pointed, and load builds.

use std::collections::BTreeMap;

use perfkit_archive::Archive;
use perfkit_archive::history::{Unreadable, load_readable};
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
    Archive::open(&url).map_err(anyhow::Error::from)
}

/// Parses `--project` values.
pub fn project_names(raw: &[String]) -> anyhow::Result<Vec<ProjectName>> {
    raw.iter()
        .map(|p| ProjectName::try_from(p.as_str()).map_err(|e| anyhow::anyhow!("{e}")))
        .collect()
}

/// Builds of each project.
pub type Grouped = BTreeMap<ProjectName, Vec<ArchivedBuild>>;

/// Every archived build of `projects` (all projects when empty), grouped
/// by project, with a progress bar for long reads. Builds with a missing or
/// undecodable object are skipped with a warning naming them
/// ([`warn_unreadable`]) and returned beside.
pub async fn load_projects(
    archive: &Archive,
    projects: &[ProjectName],
) -> anyhow::Result<(Grouped, Vec<Unreadable>)> {
    let mut keys = Vec::new();
    if projects.is_empty() {
        keys = archive.list_builds(None).await?;
    } else {
        for p in projects {
            keys.extend(archive.list_builds(Some(p)).await?);
        }
    }
    let loaded = load_readable(archive, &keys, &Counter::new()).await?;
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
    let mut all: Vec<ProjectName> = archive
        .list_builds(None)
        .await?
        .into_iter()
        .map(|k| k.project)
        .collect();
    all.dedup();
    Ok(all)
}
