//! `perfkit collect`: archives finished Zuul builds found through Zuul's
//! REST builds API (DESIGN.md "Why two ways to archive", the collector).
//! `zuul` pages through the API, `results` says where a build's Rally
//! results are, `http` fetches with timeouts and retries, `build` handles
//! one build; this module runs them a few at a time and sums up.

mod build;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use perfkit_schema::ProjectName;

use self::build::{Collected, Collector, Outcome};
use crate::ingest::open_archive;
use crate::progress::Items;
use perfkit_http::{Fetcher, HttpOptions};
use perfkit_schema::shown;
use perfkit_zuul::builds::{BuildsQuery, Window, list_builds, parse_since};

/// Wait before the first retry of a failed request (doubled each time).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Archive the Rally results of finished Zuul builds, found through Zuul's REST API.
///
/// Pages through `<zuul>/api/tenant/<tenant>/builds` for the given jobs
/// (newest first), finds each build's Rally report (the artifact the
/// scaffolded post-run playbook returns, else the known paths below the
/// build's log URL) and ingests it under the key `perfkit ingest
/// --zuul-vars` uses inside the job. An archived build costs one existence
/// check, so it is safe to run from cron; builds that left no Rally
/// results (NODE_FAILURE, …) are archived as such and skipped next time.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
  perfkit collect --zuul https://zuul.opendev.org --tenant openstack --job nova-rally-task --since 2d\n  \
  perfkit collect --zuul https://zuul.opendev.org --tenant openstack --job nova-rally-task \\\n      \
  --job cinder-rally-task --limit 500 --archive s3://perf-archive/openstack --env-file archive.env\n\n\
Without --since or --limit every build Zuul still lists is looked at (a backfill); from cron,\n\
--since a little longer than the interval keeps each run short.\n\n\
Exit status: 0 when every build was archived, skipped or recorded without results; 2 when\n\
any failed (the summary names them; the next run tries them again).")]
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
}

/// How many builds ended which way.
#[derive(Debug, Default)]
struct Tally {
    archived: usize,
    recorded: usize,
    skipped: usize,
    /// `describe()` of each failed build (or the invalid list entry).
    failed: Vec<String>,
    /// How many of them succeeded but have no results (left) on the log server.
    gone: usize,
}

pub async fn run(args: CollectArgs) -> anyhow::Result<ExitCode> {
    let since_us = args
        .since
        .as_deref()
        .map(|s| parse_since(s, now_us()))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let projects = args
        .projects
        .iter()
        .map(|p| {
            ProjectName::try_from(p.as_str())
                .map(|p| p.to_string())
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let query = BuildsQuery::new(
        &args.zuul,
        &args.tenant,
        &args.jobs,
        &projects,
        args.page_size,
    )?;
    let archive = open_archive(args.archive.clone(), args.env_file.as_deref())?;
    let fetcher = Fetcher::new(HttpOptions {
        retries: args.retries,
        backoff: FIRST_BACKOFF,
        timeout: Duration::from_secs(args.timeout),
    })?;
    let window = Window {
        since_us,
        limit: args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };

    let bar = Items::spinner("listing builds");
    let listing = list_builds(&fetcher, &query, window, &|n| {
        bar.set_message(format!("listing builds: {n}"))
    })
    .await;
    let listing = match listing {
        Ok(listing) => listing,
        Err(e) => {
            bar.finish();
            return Err(e);
        }
    };
    bar.count("collecting", listing.builds.len() as u64);

    let mut tally = Tally::default();
    for warning in &listing.warnings {
        bar.eprintln(&format!("warning: {warning}"));
    }
    for invalid in &listing.invalid {
        bar.eprintln(&format!("error: {}", shown(invalid)));
        tally.failed.push(shown(invalid).into_owned());
    }
    let concurrency = usize::from(args.concurrency);
    let collector = Collector::new(archive, fetcher, &args.tenant, concurrency.min(2))?;
    let collector = &collector;
    let mut outcomes = futures::stream::iter(listing.builds.iter().enumerate())
        .map(|(index, build)| async move { (build, collector.collect(build, index).await) })
        .buffer_unordered(concurrency);
    while let Some((build, Collected { outcome, warnings })) = outcomes.next().await {
        for warning in &warnings {
            bar.eprintln(&format!(
                "warning: {}: {}",
                build.describe(),
                shown(warning)
            ));
        }
        match outcome {
            Outcome::Archived(line) => {
                tally.archived += 1;
                bar.println(&line);
            }
            Outcome::Recorded(line) => {
                tally.recorded += 1;
                bar.println(&line);
            }
            Outcome::Skipped => {
                tally.skipped += 1;
                tracing::info!("{} is archived already", build.describe());
            }
            Outcome::Gone(reason) => {
                bar.eprintln(&format!("error: {}: {}", build.describe(), shown(&reason)));
                tally.failed.push(build.describe());
                tally.gone += 1;
            }
            Outcome::Failed(reason) => {
                bar.eprintln(&format!("error: {}: {}", build.describe(), shown(&reason)));
                tally.failed.push(build.describe());
            }
        }
        bar.inc();
    }
    bar.finish();
    tally.failed.sort();
    print_summary(&tally, &args.jobs, &query, listing.pages);
    if tally.gone > 0 && args.since.is_none() {
        eprintln!(
            "hint: log servers delete old logs, and a build whose results are gone fails on every run; `--since` (e.g. `--since 2d` from cron) limits the run to recent builds"
        );
    }
    Ok(if tally.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_ERROR)
    })
}

fn print_summary(tally: &Tally, jobs: &[String], query: &BuildsQuery, pages: u32) {
    let total = tally.archived + tally.recorded + tally.skipped + tally.failed.len();
    let jobs: Vec<String> = jobs.iter().map(|j| shown(j).into_owned()).collect();
    println!(
        "summary: {total} builds of {} from {} ({pages} {}): {} new ({} archived, {} without Rally results), {} skipped (already archived), {} failed",
        jobs.join(", "),
        query.endpoint(),
        if pages == 1 { "page" } else { "pages" },
        tally.archived + tally.recorded,
        tally.archived,
        tally.recorded,
        tally.skipped,
        tally.failed.len()
    );
    if !tally.failed.is_empty() {
        println!("failed (tried again next run):");
        for f in &tally.failed {
            println!("  {f}");
        }
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}
