//! `perfkit collect`: archives finished Zuul builds found through Zuul's
//! REST builds API (`docs/ARCHITECTURE.md`, "Why two ways to archive").
//! `zuul` pages through the API, `results` says where a build's Rally
//! results are, `http` fetches with timeouts and retries, `build` handles
//! one build; this module runs them a few at a time and sums up.

mod build;
mod cycle;

pub use cycle::CycleOptions;

use crate::Outcome;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use perfkit_schema::ProjectName;

use self::build::{Collected, Collector, Outcome as Fate, Settings};
use crate::ingest::open_archive;
use crate::progress::Items;
use perfkit_http::{Fetcher, HttpOptions, OriginPattern, Origins, RetryPolicy};
use perfkit_schema::shown;
use perfkit_zuul::builds::{BuildsQuery, Window, list_builds, parse_since};

pub use perfkit_http::size::parse_size;

/// Wait before the first retry of a failed request (doubled each time).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between two attempts, whatever `Retry-After` asks for.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What `perfkit collect` was asked to do (the binary fills it from its arguments).
pub struct CollectOptions {
    /// Zuul's web address, e.g. https://zuul.opendev.org
    pub zuul: String,
    /// Zuul tenant, e.g. `openstack`
    pub tenant: String,
    /// Job whose builds to collect (repeat for several)
    pub jobs: Vec<String>,
    /// Only builds of this project, e.g. `openstack/nova` (repeat for several)
    pub projects: Vec<String>,
    /// Only builds started since: a date, a UTC time or an age (`2026-01-31`, `2026-01-31T06:00:00`, `2d`, `12h`)
    pub since: Option<String>,
    /// Only the newest N builds
    pub limit: Option<u64>,
    /// Archive to write to [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    pub archive: Option<String>,
    /// File of `KEY=VALUE` lines: the archive URL (`PERFKIT_ARCHIVE`) and
    /// the store's settings and credentials (`AWS_*`, …), kept off the command line
    pub env_file: Option<PathBuf>,
    /// Builds handled at once
    pub concurrency: u16,
    /// Builds asked for per API request
    pub page_size: u32,
    /// Seconds to wait for an answer (or the next part of one) before retrying
    pub timeout: u64,
    /// Retries of a request after connection errors, timeouts, 5xx and 429
    pub retries: u32,
    /// Most bytes one download may have once decompressed
    pub max_download: u64,
    /// Seconds one download may take, retries and body included
    pub deadline: u64,
    /// Origins results may come from (`https://logs.example.org`,
    /// `https://*.example.org`); none: any public origin
    pub results_origins: Vec<String>,
    /// Fetch builds recorded as failed for good again
    pub retry_failed: bool,
    /// Review what is new and rebuild the site, under the collector's
    /// lease (`None`: archive only)
    pub cycle: Option<CycleOptions>,
}

/// How many builds ended which way.
#[derive(Debug, Default)]
struct Tally {
    archived: usize,
    recorded: usize,
    skipped: usize,
    /// `describe()` of each gate build whose change is still in the gate.
    waiting: Vec<String>,
    /// `describe()` of each failed build (or the invalid list entry).
    failed: Vec<String>,
    /// `describe()` of each build recorded as failed for good in this run.
    failed_for_good: Vec<String>,
}

pub async fn run(args: CollectOptions) -> anyhow::Result<Outcome> {
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
    let pinned = args
        .results_origins
        .iter()
        .map(|o| OriginPattern::parse(o).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let origins = Origins {
        // The operator chose Zuul: its own origin (and logs there) is trusted.
        trusted: OriginPattern::of(query.endpoint().as_url())
            .into_iter()
            .collect(),
        pinned,
    };
    let archive = open_archive(args.archive.clone(), args.env_file.as_deref())?;
    let fetcher = Fetcher::new(HttpOptions {
        retry: RetryPolicy {
            attempts: args.retries.saturating_add(1),
            first_backoff: FIRST_BACKOFF,
            max_backoff: MAX_BACKOFF,
        },
        timeout: Duration::from_secs(args.timeout),
        deadline: Duration::from_secs(args.deadline),
        max_bytes: args.max_download,
        origins,
    })?;
    let window = Window {
        since_us,
        limit: args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let Some(cycle_options) = &args.cycle else {
        return collect_builds(&args, archive, fetcher, query, window, None)
            .await
            .map(|(outcome, _)| outcome);
    };
    let cycle = cycle::Cycle::new(&archive, &args.tenant, cycle_options);
    let Some(lease) = cycle.begin().await? else {
        return Ok(Outcome::Success);
    };
    let result = async {
        let stale_site = cycle.stale_site_marks().await?;
        let earlier = cycle.earlier_pending().await?;
        let (collected, new) =
            collect_builds(&args, archive.clone(), fetcher, query, window, Some(&cycle)).await?;
        // After archiving: the baselines then hold every build listed now.
        let earlier = cycle.finish_pending(earlier).await?;
        let reviewed = match new.pending {
            Some(pending) => cycle.review_list(pending).await?,
            None => cycle::Reviewed::default(),
        };
        let site = cycle
            .site(new.archived > 0, stale_site, new.stale_site)
            .await?;
        let failed = earlier.failed + reviewed.failed;
        if cycle_options.gerrit.is_some() {
            println!(
                "reviews: {} patchsets with a new build, {} left pending earlier{}",
                reviewed.patchsets,
                earlier.patchsets,
                if failed > 0 {
                    format!(", {failed} failed (pending: the next run tries them again)")
                } else {
                    String::new()
                }
            );
        }
        anyhow::Ok(
            if failed > 0 || collected != Outcome::Success || site != Outcome::Success {
                Outcome::Failed
            } else {
                Outcome::Success
            },
        )
    }
    .await;
    cycle.end(lease).await;
    result
}

/// What a collection brought that a cycle acts on.
struct New {
    /// Builds archived (with results or without).
    archived: usize,
    /// The patchsets of the builds that were not archived before this run,
    /// recorded as pending review before any was archived.
    pending: Option<perfkit_archive::collector::Pending>,
    /// The mark that the site is behind the archive, written before any
    /// build was archived.
    stale_site: Option<perfkit_archive::collector::StaleSite>,
}

/// Lists the builds and archives those not archived yet. In a cycle, the
/// patchsets of the builds about to be archived are recorded as pending
/// review first, and the site marked stale, so that a run that dies after
/// archiving one still leaves its review and its site to the next.
async fn collect_builds(
    args: &CollectOptions,
    archive: perfkit_archive::Archive,
    fetcher: Fetcher,
    query: BuildsQuery,
    window: Window,
    cycle: Option<&cycle::Cycle<'_>>,
) -> anyhow::Result<(Outcome, New)> {
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
    let settings = Settings {
        tenant: args.tenant.clone(),
        parallel_ingests: concurrency.min(2),
        retry_failed: args.retry_failed,
        query: query.clone(),
    };
    let collector = Collector::new(archive, fetcher, settings)?;
    let collector = &collector;
    let (mut pending, mut stale_site) = (None, None);
    if let Some(cycle) = cycle {
        let mut keys = Vec::new();
        for build in &listing.builds {
            keys.extend(collector.unarchived_key(build).await);
        }
        pending = cycle.record_pending(&keys).await?;
        stale_site = cycle.mark_site_stale(&keys).await?;
    }
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
            Fate::Archived(line) => {
                tally.archived += 1;
                bar.println(&line);
            }
            Fate::Recorded(line) => {
                tally.recorded += 1;
                bar.println(&line);
            }
            Fate::Skipped => {
                tally.skipped += 1;
                tracing::info!("{} is archived already", build.describe());
            }
            Fate::Waiting => {
                tally.waiting.push(build.describe());
            }
            Fate::FailedForGood(reason) => {
                bar.eprintln(&format!("error: {}: {}", build.describe(), shown(&reason)));
                tally.failed_for_good.push(build.describe());
            }
            Fate::Failed(reason) => {
                bar.eprintln(&format!("error: {}: {}", build.describe(), shown(&reason)));
                tally.failed.push(build.describe());
            }
        }
        bar.inc();
    }
    bar.finish();
    tally.failed.sort();
    tally.failed_for_good.sort();
    tally.waiting.sort();
    print_summary(&tally, &args.jobs, &query, listing.pages);
    let outcome = if tally.failed.is_empty() && tally.failed_for_good.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failed
    };
    let new = New {
        archived: tally.archived + tally.recorded,
        pending,
        stale_site,
    };
    Ok((outcome, new))
}

fn print_summary(tally: &Tally, jobs: &[String], query: &BuildsQuery, pages: u32) {
    let failed = tally.failed.len() + tally.failed_for_good.len();
    let total = tally.archived + tally.recorded + tally.skipped + tally.waiting.len() + failed;
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
        failed
    );
    if !tally.waiting.is_empty() {
        println!(
            "waiting for their change to leave the gate (archived next run, once Zuul says whether it merged):"
        );
        for w in &tally.waiting {
            println!("  {w}");
        }
    }
    if !tally.failed_for_good.is_empty() {
        println!(
            "failed for good (recorded, not fetched again; `--retry-failed` tries them again):"
        );
        for f in &tally.failed_for_good {
            println!("  {f}");
        }
    }
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
