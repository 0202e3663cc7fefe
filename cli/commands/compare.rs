//! `perfkit compare`: its arguments and help.

use perfkit_ops::compare::{CompareOptions, Format as OpsFormat};

/// Output formats of `perfkit compare`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

impl From<Format> for OpsFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Text => OpsFormat::Text,
            Format::Json => OpsFormat::Json,
            Format::Markdown => OpsFormat::Markdown,
        }
    }
}

/// Compare a patchset's builds with recent branch builds: exit 0 when no
/// series regressed, 1 when one did, 2 on error
///
/// Each series (workload × atomic action) of the patchset's builds (rechecks
/// pooled) is tested against the last 30 branch builds (periodic, post and
/// gate builds) of the same job and branch: a rank test and the series'
/// own build-to-build noise for durations, Fisher's exact test for failure
/// rates, Benjamini–Hochberg across all series. Each flagged series leads
/// with one sentence in its units, the test's numbers after it.
/// Inconclusive series need a recheck to add samples.
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

impl From<CompareArgs> for CompareOptions {
    fn from(args: CompareArgs) -> Self {
        CompareOptions {
            archive: args.archive,
            project: args.project,
            change: args.change,
            patchset: args.patchset,
            format: args.format.into(),
            site_url: args.site_url,
        }
    }
}
