//! `perfkit collect`: its arguments and help.

use std::path::PathBuf;

use perfkit_ops::collect::{CollectOptions, CycleOptions};
use perfkit_ops::review::PlainHttp;

/// Archive the Rally results of finished Zuul builds, found through Zuul's REST API.
///
/// Pages through `<zuul>/api/tenant/<tenant>/builds` for the given jobs
/// (newest first), finds each build's Rally report (the artifact the
/// scaffolded post-run playbook returns, else the known paths below the
/// build's log URL) and ingests it under the key `perfkit ingest
/// --zuul-vars` uses inside the job. An archived build costs one existence
/// check, so it is safe to run from cron; builds that left no Rally
/// results (NODE_FAILURE, …) are archived as such and skipped next time,
/// and so are builds whose results are gone, cut short or invalid
/// (recorded as failed for good; `--retry-failed` fetches them again).
///
/// Log servers that store files compressed (`Content-Encoding: gzip`) and
/// `*.gz` results are decompressed as they stream; `--max-download` caps
/// the decompressed size, `--deadline` the time of one download. A job
/// chooses its log URL, so results come only from public addresses, or
/// with `--results-origin` only from the origins listed.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
  perfkit collect --zuul https://zuul.opendev.org --tenant openstack --job nova-rally-task --since 2d\n  \
  perfkit collect --zuul https://zuul.opendev.org --tenant openstack --job nova-rally-task \\\n      \
  --job cinder-rally-task --limit 500 --archive s3://perf-archive/openstack --env-file archive.env\n  \
  perfkit collect --zuul https://zuul.opendev.org --tenant openstack --job nova-rally-task \\\n      \
  --results-origin 'https://*.rackcdn.com' --results-origin https://storage.bhs.cloud.ovh.net --retry-failed\n  \
  perfkit collect --zuul https://zuul.opendev.org --tenant openstack --job nova-rally-task --since 2h \\\n      \
  --env-file archive.env --review --gerrit https://review.opendev.org --site /srv/perf --site-url https://perf.example.org/\n\n\
The last one is the upstream collector, one line from cron every 15 minutes: it archives what is\n\
new, reviews only the patchsets that got a new build (and any an interrupted run left pending),\n\
rebuilds the site only when something was archived, and holds a lease in the archive so two runs\n\
never overlap.\n\n\
Without --since or --limit every build Zuul still lists is looked at (a backfill); from cron,\n\
--since a little longer than the interval keeps each run short.\n\n\
Exit status: 0 when every build was archived, skipped or recorded without results; 2 when\n\
any failed (the summary names them: those failed for good are recorded and skipped from then\n\
on, the others are tried again next run).")]
pub struct CollectArgs {
    /// Zuul's web address, e.g. https://zuul.opendev.org
    #[arg(long, value_name = "URL")]
    zuul: String,
    /// Zuul tenant, e.g. `openstack`
    #[arg(long)]
    tenant: String,
    /// Job whose builds to collect (repeat for several)
    #[arg(long = "job", value_name = "NAME", required = true)]
    jobs: Vec<String>,
    /// Only builds of this project, e.g. `openstack/nova` (repeat for several)
    #[arg(long = "project", value_name = "PROJECT")]
    projects: Vec<String>,
    /// Only builds started since: a date, a UTC time or an age (`2026-01-31`, `2026-01-31T06:00:00`, `2d`, `12h`)
    #[arg(long, value_name = "DATE", conflicts_with = "limit")]
    since: Option<String>,
    /// Only the newest N builds
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Archive to write to [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    /// File of `KEY=VALUE` lines: the archive URL (`PERFKIT_ARCHIVE`) and
    /// the store's settings and credentials (`AWS_*`, …), kept off the command line
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// Builds handled at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Builds asked for per API request
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: u32,
    /// Seconds to wait for an answer (or the next part of one) before retrying
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Retries of a request after connection errors, timeouts, 5xx and 429
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: u32,
    /// Most bytes one download may have once decompressed (`512MiB`, `2GiB`, bytes)
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    max_download: u64,
    /// Seconds one download may take, its retries and whole body included
    #[arg(long, default_value_t = 600, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    deadline: u64,
    /// Only fetch results from this origin (repeat for several; `https://*.example.org`
    /// matches any host below it) [default: any public address]
    #[arg(long = "results-origin", value_name = "ORIGIN")]
    results_origins: Vec<String>,
    /// Fetch builds recorded as failed for good (results gone, cut short or invalid) again
    #[arg(long)]
    retry_failed: bool,
    /// Then review each patchset that got a new build in this run (and those an
    /// interrupted run left pending) on Gerrit, as `perfkit review` does
    #[arg(long, requires = "gerrit")]
    review: bool,
    /// Gerrit's base URL for `--review`, e.g. https://review.opendev.org (credentials as
    /// for `perfkit review`: PERFKIT_GERRIT_CREDENTIALS, ~/.netrc)
    #[arg(long, value_name = "URL", requires = "review")]
    gerrit: Option<String>,
    /// Then rebuild the static site in DIR, when this run archived something
    #[arg(long = "site", value_name = "DIR")]
    site: Option<PathBuf>,
    /// The site's working state between cycles [default: DIR.perfkit-state beside DIR]
    #[arg(long = "site-state-dir", value_name = "STATE_DIR", requires = "site")]
    site_state_dir: Option<PathBuf>,
    /// Where the site is served: review messages link there, feeds use it
    #[arg(long, value_name = "URL")]
    site_url: Option<String>,
    /// With `--review` or `--site`: minutes a run may hold the collector's lease (kept in
    /// the archive, so two runs never overlap, from cron or from CI)
    #[arg(long, value_name = "MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=1440))]
    lease: u64,
    /// Accept a plain http:// Gerrit on another machine (see `perfkit review --help`)
    #[arg(long)]
    allow_plain_http: bool,
}

fn parse_size(text: &str) -> Result<u64, String> {
    perfkit_ops::collect::parse_size(text)
}

impl From<CollectArgs> for CollectOptions {
    fn from(args: CollectArgs) -> Self {
        CollectOptions {
            zuul: args.zuul,
            tenant: args.tenant,
            jobs: args.jobs,
            projects: args.projects,
            since: args.since,
            limit: args.limit,
            archive: args.archive,
            env_file: args.env_file,
            concurrency: args.concurrency,
            page_size: args.page_size,
            timeout: args.timeout,
            retries: args.retries,
            max_download: args.max_download,
            deadline: args.deadline,
            results_origins: args.results_origins,
            retry_failed: args.retry_failed,
            cycle: (args.review || args.site.is_some()).then(|| CycleOptions {
                gerrit: args.gerrit.filter(|_| args.review),
                site_url: args.site_url,
                site_out: args.site,
                site_state_dir: args.site_state_dir,
                lease: std::time::Duration::from_secs(args.lease * 60),
                plain_http: if args.allow_plain_http {
                    PlainHttp::Allow
                } else {
                    PlainHttp::Refuse
                },
            }),
        }
    }
}
