//! `perfkit suspects`: its arguments and help.

use perfkit_ops::suspects::SuspectsOptions;

/// List every change point and configuration change of a project's branch
/// histories with its suspects: the merged commits between the last build
/// before it and the first build after it
///
/// Commits are read from local clones you keep fetched (`--repo
/// PROJECT=PATH`, repeatable: the project under test and the required
/// projects whose commits the builds recorded); perfkit never fetches.
/// Ranges come from periodic and post builds: a gate build tested a
/// speculative merge. First-parent order, newest first; a 1-commit range
/// is the culprit, a wide one a hint.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  perfkit suspects --project openstack/nova --repo openstack/nova=/srv/git/nova\n  perfkit suspects --project nova --repo nova=/srv/git/nova --repo openstack/devstack=/srv/git/devstack --json | jq '.[] | select(.kind == \"regression\")'"
)]
pub struct SuspectsArgs {
    /// Archive to read [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    /// Gerrit project, e.g. `openstack/nova` (a bare `nova` means `openstack/nova`)
    #[arg(long)]
    project: String,
    /// A local clone of a project (repeatable)
    #[arg(long = "repo", value_name = "PROJECT=PATH", required = true)]
    repos: Vec<String>,
    /// JSON (a list of change points with their suspects) instead of text
    #[arg(long)]
    json: bool,
}

impl From<SuspectsArgs> for SuspectsOptions {
    fn from(args: SuspectsArgs) -> Self {
        SuspectsOptions {
            archive: args.archive,
            project: args.project,
            repos: args.repos,
            json: args.json,
        }
    }
}
