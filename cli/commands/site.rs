//! `perfkit site`: its arguments and help.

use std::path::PathBuf;

use perfkit_ops::site::SiteOptions;

/// Build the static performance site: history per series, verdicts per
/// change, regression alerts and Atom feeds
///
/// Plain files that work from `file://` or any static host. Rebuilding
/// reads only what new builds change (perfkit keeps its working state in
/// --state-dir, outside the site) and rewrites only changed files.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  perfkit site --out public\n  perfkit site --archive s3://perf-archive/openstack --out public --base-url https://perf.example.org/\n  perfkit site --out public --project openstack/nova --project openstack/neutron\n  perfkit site --out public --repo openstack/nova=/srv/git/nova --repo openstack/devstack=/srv/git/devstack"
)]
pub struct SiteArgs {
    /// Archive to read [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    /// Directory to write the site to (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// perfkit's working state between builds (never published; delete it
    /// to rebuild from scratch) [default: DIR.perfkit-state beside DIR]
    #[arg(long, value_name = "STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Only these projects (repeatable); the index keeps the others
    #[arg(long = "project", value_name = "PROJECT")]
    projects: Vec<String>,
    /// URL the site is served from, for absolute links in Atom feeds
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// A local clone of a project (repeatable), kept fetched by you: change
    /// points name the commits between the builds before and after them
    /// (the site never fetches)
    #[arg(long = "repo", value_name = "PROJECT=PATH")]
    repos: Vec<String>,
    /// Link of a suspect commit; `{project}` and `{sha}` are replaced
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://opendev.org/{project}/commit/{sha}"
    )]
    commit_url: String,
}

impl From<SiteArgs> for SiteOptions {
    fn from(args: SiteArgs) -> Self {
        SiteOptions {
            archive: args.archive,
            out: args.out,
            state_dir: args.state_dir,
            projects: args.projects,
            base_url: args.base_url,
            repos: args.repos,
            commit_url: Some(args.commit_url),
        }
    }
}
