//! `perfkit scaffold`: its arguments and help.

use std::path::PathBuf;

use perfkit_ops::scaffold::ScaffoldOptions;

/// Add a Rally performance job (rally-jobs/, Zuul job, post-run playbook) to a project's repo
///
/// Writes a `rally-jobs/` task, a Zuul job `<project>-rally-task` merged
/// into the repo's existing Zuul config, and a post-run playbook that keeps
/// Rally's results as build artifacts (and archives them with `perfkit
/// ingest` when a secret provides credentials). `--with-locust` and
/// `--with-fio` add a Locust and a fio job beside it, whose results are kept
/// and archived the same way; `--with-fio --rbd` runs fio on devstack's Ceph
/// RBD instead of the node's disk; `--with-locust --upgrade` runs Locust
/// through grenade's upgrade instead. Safe to run again: unchanged files stay
/// untouched and edited files are kept unless `--force`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
  perfkit scaffold                             # in a clone of nova: project from the remote\n  \
  perfkit scaffold --project nova --dry-run    # show the diff, write nothing\n  \
  perfkit scaffold --project openstack/cinder --job-name cinder-perfkit-rally\n  \
  perfkit scaffold --project trove --repo ~/src/trove --pipelines check\n  \
  perfkit scaffold --project keystone --with-locust   # + keystone-locust: tokens under load\n  \
  perfkit scaffold --project keystone --with-locust --upgrade  # + keystone-locust-upgrade: through grenade\n  \
  perfkit scaffold --project cinder --with-fio        # + cinder-fio: the node's storage\n  \
  perfkit scaffold --project cinder --with-fio --rbd  # + cinder-fio-rbd: fio on devstack's Ceph RBD\n  \
  perfkit scaffold --project nova \\\n      --scenarios NovaServers.boot_and_delete_server,NovaKeypair.create_and_list_keypairs")]
pub struct ScaffoldArgs {
    /// Gerrit project, e.g. `openstack/nova` or just `nova` (default: taken
    /// from the repository's `origin` or `gerrit` remote).
    #[arg(long)]
    project: Option<String>,

    /// Top directory of the repository to write into (default: the git
    /// repository containing the current directory).
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,

    /// Zuul pipelines to run the job in, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "check,gate")]
    pipelines: Vec<String>,

    /// rally-openstack scenarios to run instead of the catalog's choice,
    /// comma-separated (e.g. `NovaServers.boot_and_delete_server`).
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<String>>,

    /// Name of the Zuul job (default: `<project short name>-rally-task`).
    #[arg(long, value_name = "NAME")]
    job_name: Option<String>,

    /// Directory of templates overriding the built-in ones (same layout as
    /// perfkit's `rally-jobs-template/`; missing files fall back).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,

    /// Also add a Locust job `<project>-locust`: rally-jobs/locust/locustfile.py
    /// (Keystone tokens, issued 30 % and validated 70 % of the time) run
    /// headless against devstack, its CSV and JSON results kept and
    /// archived like Rally's.
    #[arg(long)]
    with_locust: bool,

    /// Also add a fio job `<project>-fio`: rally-jobs/fio/<project>.fio (4k
    /// random writes at depth 32, 1M sequential reads) run on the test
    /// node, its JSON+ output kept and archived like Rally's.
    #[arg(long)]
    with_fio: bool,

    /// With `--with-fio`: the fio job `<project>-fio-rbd` instead, on Ceph
    /// RBD: devstack with Ceph (devstack-plugin-ceph's job as parent), fio's
    /// rbd engine on a throw-away image in the pool `volumes`
    /// (rally-jobs/fio/<project>-rbd.fio), its JSON+ output kept and
    /// archived like the local-disk job's.
    #[arg(long, requires = "with_fio")]
    rbd: bool,

    /// With `--with-locust`: the Locust job `<project>-locust-upgrade`
    /// instead, on grenade (single-node: the old services stop, the new ones
    /// start): Locust runs from when the old release's Keystone answers
    /// until after the new code serves; the upgrade's window comes from
    /// grenade's summary log, and requests, failures and latency before,
    /// during and after it are archived.
    #[arg(long, requires = "with_locust")]
    upgrade: bool,

    /// Print a unified diff of what would change and write nothing.
    #[arg(long)]
    dry_run: bool,

    /// Overwrite files (and perfkit's job stanza) edited since perfkit wrote them.
    #[arg(long)]
    force: bool,
}

impl From<ScaffoldArgs> for ScaffoldOptions {
    fn from(args: ScaffoldArgs) -> Self {
        ScaffoldOptions {
            project: args.project,
            repo: args.repo,
            pipelines: args.pipelines,
            scenarios: args.scenarios,
            job_name: args.job_name,
            templates: args.templates,
            with_locust: args.with_locust,
            with_fio: args.with_fio,
            rbd: args.rbd,
            upgrade: args.upgrade,
            dry_run: args.dry_run,
            force: args.force,
        }
    }
}
