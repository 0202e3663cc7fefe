//! `perfkit compare`: the pre-merge verdict of one patchset.

use crate::Outcome;

use perfkit_analysis::compare::compare;
use perfkit_analysis::report;

use crate::read::{load_projects, open_existing, project_names, unreadable_summary};

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

pub async fn run(args: CompareOptions) -> anyhow::Result<Outcome> {
    let projects = project_names(std::slice::from_ref(&args.project))?;
    let archive = open_existing(args.archive)?;
    let (grouped, unreadable) = load_projects(&archive, &projects).await?;
    let builds = grouped.into_values().next().unwrap_or_default();
    let Some(comparison) = compare(&builds, args.change, args.patchset) else {
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
    Ok(if comparison.has_regression() {
        Outcome::Regression
    } else {
        Outcome::Success
    })
}
