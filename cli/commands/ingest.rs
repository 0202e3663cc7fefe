//! `perfkit ingest`: its arguments and help.

use std::path::PathBuf;

use perfkit_ops::ingest::IngestOptions;

/// Archive Rally, Locust and fio results as Parquet, keyed by project, change and patchset.
///
/// Reads `rally task report --json` (v2) and `rally task results` output,
/// Locust's `--csv PREFIX` files (give the prefix, its directory or its
/// `_stats.csv`) and `--json` report, and `fio --output-format=json` or
/// `json+` output, each detected from the content. Ingesting the same build twice writes
/// nothing the second time; a failed ingest leaves nothing visible.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
  perfkit ingest --project openstack/nova --change 912345 --patchset 3 --build 5f2c1e0a report.json\n  \
  perfkit ingest --zuul-vars zuul-vars.yaml --archive s3://perf-archive/openstack report.json\n  \
  perfkit ingest --project openstack/nova --pipeline periodic --branch master report.json\n  \
  perfkit ingest --zuul-vars zuul-vars.yaml results/locust results/fio.json   # Locust --csv prefix, fio JSON\n\n\
Archive URLs: a directory, file:///dir, s3://bucket/prefix, gs://bucket/prefix,\n\
az://container/prefix, memory://. S3-compatible stores (Ceph RGW, Swift's S3 API) take the\n\
usual AWS_* settings incl. AWS_ENDPOINT and AWS_ALLOW_HTTP, from the environment or --env-file.")]
pub struct IngestArgs {
    /// Archive to write to [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    /// Gerrit project, e.g. `openstack/nova` (a bare name means openstack/…)
    #[arg(long)]
    project: Option<String>,
    /// Gerrit change number (check/gate builds)
    #[arg(long, requires = "patchset")]
    change: Option<u64>,
    /// Patchset number of the change
    #[arg(long, requires = "change")]
    patchset: Option<u32>,
    /// Git ref of a post/periodic/tag build, e.g. `refs/heads/master`
    #[arg(long = "ref", value_name = "REF")]
    git_ref: Option<String>,
    /// Commit a post or tag build ran on
    #[arg(long)]
    newrev: Option<String>,
    /// Commit of the project under test the build checked out (40 hex
    /// digits); wins over the one recorded in `--zuul-vars`
    #[arg(long, value_name = "SHA")]
    commit: Option<String>,
    /// Zuul pipeline, e.g. `check`, `gate`, `periodic`
    #[arg(long)]
    pipeline: Option<String>,
    /// Target branch
    #[arg(long)]
    branch: Option<String>,
    /// Zuul job name (part of every workload's identity)
    #[arg(long)]
    job: Option<String>,
    /// Zuul build uuid [default: derived from the file's content]
    #[arg(long)]
    build: Option<String>,
    /// Zuul buildset uuid
    #[arg(long)]
    buildset: Option<String>,
    /// Zuul tenant
    #[arg(long)]
    tenant: Option<String>,
    /// Link to the build's logs
    #[arg(long, value_name = "URL")]
    log_url: Option<String>,
    /// File with the build's `zuul` variables (YAML or JSON, e.g. `{{ zuul | to_json }}`); flags win over it
    #[arg(long, value_name = "FILE")]
    zuul_vars: Option<PathBuf>,
    /// File of `KEY=VALUE` lines: the archive URL (`PERFKIT_ARCHIVE`) and
    /// store settings and credentials (`AWS_*`, `GOOGLE_*`, `AZURE_*`), so
    /// that secrets never appear on a command line or in the environment
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// Rewrite a build that is already archived
    #[arg(long)]
    replace: bool,
    /// Rally result files
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

impl From<IngestArgs> for IngestOptions {
    fn from(args: IngestArgs) -> Self {
        IngestOptions {
            archive: args.archive,
            project: args.project,
            change: args.change,
            patchset: args.patchset,
            git_ref: args.git_ref,
            newrev: args.newrev,
            commit: args.commit,
            pipeline: args.pipeline,
            branch: args.branch,
            job: args.job,
            build: args.build,
            buildset: args.buildset,
            tenant: args.tenant,
            log_url: args.log_url,
            zuul_vars: args.zuul_vars,
            env_file: args.env_file,
            replace: args.replace,
            files: args.files,
        }
    }
}
