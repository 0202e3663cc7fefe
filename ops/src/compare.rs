//! `perfkit compare`: the pre-merge verdict of one patchset.

use crate::Outcome;

use perfkit_analysis::compare::{Comparison, compare};
use perfkit_analysis::report;
use perfkit_archive::Archive;
use perfkit_archive::history::Unreadable;
use perfkit_schema::ProjectName;

use crate::read::{load_for_patchset, open_existing, project_names, unreadable_summary};

/// Output formats of `perfkit compare`.
#[derive(Clone, Copy)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// What `perfkit compare` was asked to do (the binary fills it from its arguments).
pub struct CompareOptions {
    /// Archive to read [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    pub archive: Option<String>,
    /// Gerrit project, e.g. `openstack/nova` (a bare `nova` means `openstack/nova`)
    pub project: String,
    /// Gerrit change number
    pub change: u64,
    /// Patchset number
    pub patchset: u32,
    /// Output format
    pub format: Format,
    /// Link to the site's change page, printed in Markdown output
    pub site_url: Option<String>,
}

/// The verdict of one patchset as `perfkit compare` reaches it: the
/// project's index, then the `series` of the patchset's builds and of its
/// baseline only. `None` without builds of the patchset; the builds that
/// could not be read are returned beside.
pub async fn judge(
    archive: &Archive,
    project: &ProjectName,
    change: u64,
    patchset: u32,
) -> anyhow::Result<(Option<Comparison>, Vec<Unreadable>)> {
    let (builds, unreadable) = load_for_patchset(archive, project, change, patchset).await?;
    Ok((compare(&builds, change, patchset), unreadable))
}

pub async fn run(args: CompareOptions) -> anyhow::Result<Outcome> {
    let projects = project_names(std::slice::from_ref(&args.project))?;
    let archive = open_existing(args.archive)?;
    let (comparison, unreadable) =
        judge(&archive, &projects[0], args.change, args.patchset).await?;
    let Some(comparison) = comparison else {
        anyhow::bail!(
            "no build of {} change {} patchset {} in {}\nhint: check the numbers with `perfkit ls --project {}`; builds appear once `perfkit ingest` archived them",
            projects[0],
            args.change,
            args.patchset,
            archive.display_url(),
            projects[0]
        );
    };
    match args.format {
        Format::Text => print!("{}", report::text(&comparison)),
        Format::Markdown => print!(
            "{}",
            report::markdown(&comparison, args.site_url.as_deref())
        ),
        Format::Json => println!("{}", serde_json::to_string_pretty(&comparison)?),
    }
    if let Some(line) = unreadable_summary(&unreadable, "the verdict is of the others") {
        eprintln!("{line}");
    }
    crate::read::log_requests(&archive);
    Ok(if comparison.has_regression() {
        Outcome::Regression
    } else {
        Outcome::Success
    })
}
