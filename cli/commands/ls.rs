//! `perfkit ls`: its arguments and help.

use perfkit_ops::ls::LsOptions;

/// List archived builds: project, change, patchset, pipeline, job, time, SLA
///
/// One line per build (or `--json`), with its workload, iteration and failure counts.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  perfkit ls\n  perfkit ls --project openstack/nova --archive s3://perf-archive/openstack\n  perfkit ls --json | jq ."
)]
pub struct LsArgs {
    /// Archive to read [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    /// Only this project, e.g. `openstack/nova`
    #[arg(long)]
    project: Option<String>,
    /// One JSON object per line instead of a table
    #[arg(long)]
    json: bool,
}

impl From<LsArgs> for LsOptions {
    fn from(args: LsArgs) -> Self {
        LsOptions {
            archive: args.archive,
            project: args.project,
            json: args.json,
        }
    }
}
