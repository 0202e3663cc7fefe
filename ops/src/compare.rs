//! `perfkit compare`: the pre-merge verdict of one patchset.

use std::process::ExitCode;

use perfkit_analysis::compare::compare;
use perfkit_analysis::report;

use crate::read::{load_projects, open_existing, project_names};

/// Output formats of `perfkit compare`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// Compare a patchset's builds with recent branch builds: exit 0 when no
/// series regressed, 1 when one did, 2 on error
///
/// Each series (workload × atomic action) of the patchset's builds (rechecks
/// pooled) is tested against the last 30 branch builds (periodic, post and
/// gate builds) of the same job and branch: a rank test and the series'
/// own build-to-build noise for durations, Fisher's exact test for failure
/// rates, Benjamini–Hochberg across all series. Inconclusive series need a
/// recheck to add samples.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  perfkit compare --project openstack/nova --change 912345 --patchset 3\n  perfkit compare --project perfkit/demo --change 900001 --patchset 1 --format markdown\n  perfkit compare --project nova --change 912345 --patchset 3 --format json | jq '.series[0]'"
)]
pub struct CompareArgs {
    /// Archive to read [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    /// Gerrit project, e.g. `openstack/nova` (a bare `nova` means `openstack/nova`)
    #[arg(long)]
    project: String,
    /// Gerrit change number
    #[arg(long)]
    change: u64,
    /// Patchset number
    #[arg(long)]
    patchset: u32,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Link to the site's change page, printed in Markdown output
    #[arg(long, value_name = "URL")]
    site_url: Option<String>,
}

pub async fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let projects = project_names(std::slice::from_ref(&args.project))?;
    let archive = open_existing(args.archive)?;
    let grouped = load_projects(&archive, &projects).await?;
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
    Ok(if comparison.has_regression() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
