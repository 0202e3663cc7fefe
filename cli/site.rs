//! `perfkit site`: the static site from the archive.

use std::path::PathBuf;
use std::process::ExitCode;

use perfkit_site::{ProjectInput, SiteOptions, build_site};

use crate::read::{load_projects_cached, open_existing, project_names};

/// Build the static performance site: history per series, verdicts per
/// change, regression alerts and Atom feeds
///
/// Plain files that work from `file://` or any static host. Rebuilding
/// reads only new builds (a cache in DIR/.perfkit/, which is not part of the
/// site: leave it out when publishing) and rewrites only changed files.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  perfkit site --out public\n  perfkit site --archive s3://perf-archive/openstack --out public --base-url https://perf.example.org/\n  perfkit site --out public --project openstack/nova --project openstack/neutron"
)]
pub struct SiteArgs {
    /// Archive to read [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    #[arg(long, value_name = "URL")]
    pub archive: Option<String>,
    /// Directory to write the site to (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Only these projects (repeatable); the index keeps the others
    #[arg(long = "project", value_name = "PROJECT")]
    pub projects: Vec<String>,
    /// URL the site is served from, for absolute links in Atom feeds
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

pub async fn run(args: SiteArgs) -> anyhow::Result<ExitCode> {
    let projects = project_names(&args.projects)?;
    let archive = open_existing(args.archive)?;
    let site_error = |e: perfkit_site::SiteError| {
        let hint = e.hint();
        anyhow::anyhow!("{e}\nhint: {hint}")
    };
    if let Some(base) = &args.base_url
        && perfkit_site::urls::http_url(base).is_none()
    {
        // Before the lock creates the output directory: a bad flag writes nothing.
        return Err(site_error(perfkit_site::SiteError::BaseUrl(base.clone())));
    }
    // Held until the end: the cache and the pages live in the out directory.
    let _lock = perfkit_site::writer::OutputLock::acquire(&args.out).map_err(site_error)?;
    let cache = args.out.join(perfkit_site::STATE_DIR).join("cache");
    let grouped = load_projects_cached(&archive, &projects, &cache).await?;
    let inputs: Vec<ProjectInput> = grouped
        .into_iter()
        .map(|(project, builds)| ProjectInput { project, builds })
        .collect();
    let options = SiteOptions {
        base_url: args.base_url,
        archive: archive.display_url().to_string(),
    };
    let scope = (!projects.is_empty()).then_some(projects.as_slice());
    let report = tokio::task::block_in_place(|| {
        build_site(&inputs, &args.out, &options, scope, &|p| {
            tracing::info!("rendering {p}");
        })
    })
    .map_err(site_error)?;
    for p in &report.projects {
        if scope.is_none_or(|s| s.iter().any(|n| n.as_str() == p.name)) {
            println!(
                "{}: {} branch builds, {} series ({} regressed, {} failing), {} alerts, {} changes",
                crate::shown(&p.name),
                p.builds,
                p.series,
                p.regressed,
                p.failing,
                p.alerts,
                p.changes
            );
        }
    }
    let s = report.stats;
    println!(
        "site: {} files written, {} unchanged, {} removed",
        s.written, s.unchanged, s.removed
    );
    println!("open: {}", report.index.display());
    Ok(ExitCode::SUCCESS)
}
