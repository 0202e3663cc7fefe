//! `perfkit repair`: its arguments and help.

use perfkit_ops::repair::RepairOptions;

/// Rebuild what a project's index lacks from the archived builds
///
/// Each ingest adds its build to the project's index; a crash between the
/// two, or builds written by a perfkit older than the index, leave builds
/// the index lacks. `repair` lists every build of the project, adds those
/// rows, compacts the index and deletes what no reader can reach (index
/// objects a newer compact covers, data objects of attempts never
/// committed, older than a day; in a local-directory archive also the
/// staging files of writes a killed process left, older than 10 minutes).
/// Safe to run at any time, e.g. daily from cron beside the collector.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  perfkit repair --project openstack/nova\n  perfkit repair --archive s3://perf-archive/openstack"
)]
pub struct RepairArgs {
    /// Archive to repair [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    /// Only this project (repeatable); every project of the archive without it
    #[arg(long = "project", value_name = "PROJECT")]
    projects: Vec<String>,
    /// Minutes index objects a newer compact covers are kept for readers that listed
    /// before it; 0 right after a backfill, when nothing else reads the archive
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    grace: u64,
}

impl From<RepairArgs> for RepairOptions {
    fn from(args: RepairArgs) -> Self {
        RepairOptions {
            archive: args.archive,
            projects: args.projects,
            grace: std::time::Duration::from_secs(args.grace * 60),
        }
    }
}
