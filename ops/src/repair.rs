//! `perfkit repair`: rebuilds what a project's index lacks from its
//! `builds` objects and deletes what no reader can reach
//! (`docs/archive-v2.md`, "The index").

use perfkit_archive::index::RepairReport;

use crate::Outcome;
use crate::read::{open_existing, project_names, projects_to_read};

/// What `perfkit repair` was asked to do (the binary fills it from its arguments).
pub struct RepairOptions {
    /// Archive to repair [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    pub archive: Option<String>,
    /// Only these projects (every project of the archive when empty)
    pub projects: Vec<String>,
    /// How long index objects a newer compact covers are kept for readers
    /// that listed before it
    pub grace: std::time::Duration,
}

pub async fn run(args: RepairOptions) -> anyhow::Result<Outcome> {
    let projects = project_names(&args.projects)?;
    let archive = open_existing(args.archive)?;
    let projects = projects_to_read(&archive, &projects).await?;
    let mut total = RepairReport::default();
    let mut skipped = 0;
    for project in &projects {
        eprintln!("repairing the index of {project}…");
        let report = archive.repair_index_with_grace(project, args.grace).await?;
        for why in &report.skipped {
            eprintln!("warning: not indexed: {}", perfkit_schema::shown(why));
        }
        println!(
            "{project}: {} builds listed, {} added to the index, {} unreachable objects deleted",
            report.listed, report.added, report.deleted
        );
        total.listed += report.listed;
        total.added += report.added;
        total.deleted += report.deleted;
        skipped += report.skipped.len();
    }
    // Even with --grace 0 a staging file of a put still in flight is kept:
    // no local put takes ten minutes.
    let staging_grace = args.grace.max(std::time::Duration::from_secs(600));
    let staging = archive.sweep_staging(staging_grace);
    if staging > 0 {
        println!(
            "deleted {staging} staging files (older than {} min) that killed writers left",
            staging_grace.as_secs() / 60
        );
    }
    if skipped > 0 {
        eprintln!(
            "left {skipped} unreadable objects out of the index (named above); readers do not see them\nhint: `perfkit ingest --replace` of a build's result file archives it again as its next attempt"
        );
    }
    if projects.len() > 1 {
        println!(
            "{} projects: {} builds listed, {} added, {} deleted",
            projects.len(),
            total.listed,
            total.added,
            total.deleted
        );
    }
    Ok(Outcome::Success)
}
