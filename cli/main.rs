//! The `perfkit` command: parses arguments (`commands/`), sets up
//! logging, calls the one `perfkit_ops` function of the subcommand and
//! maps its outcome to an exit code (0 ok, 1 regression found, 2 error).
//! Errors reach the user through `perfkit_ops::report_error` alone.

mod commands;

use std::process::ExitCode;

use commands::{collect, compare, demo, ingest, ls, repair, review, scaffold, site, suspects};
use perfkit_ops::{Outcome, env, report_error};

/// Exit code for any error (bad input, unreachable archive, usage).
const EXIT_ERROR: u8 = 2;

use clap::{Parser, Subcommand};

/// perfkit gives OpenStack projects a performance gate and a performance
/// memory: it scaffolds Rally jobs for Zuul, archives Rally results as
/// Parquet keyed by project, change and patchset, and publishes history.
#[derive(Parser)]
#[command(name = "perfkit", version, about, long_about = None)]
#[command(after_help = "Examples:\n  \
  perfkit demo                                    # bundled Rally results -> ./perfkit-archive\n  \
  perfkit scaffold --project nova                 # add a Rally job to this repo\n  \
  perfkit ingest --project openstack/nova --change 912345 --patchset 3 report.json\n  \
  perfkit collect --zuul https://zuul.opendev.org --tenant openstack --job nova-rally-task --since 2d\n  \
  perfkit ls --project openstack/nova\n  \
  perfkit compare --project openstack/nova --change 912345 --patchset 3\n  \
  perfkit review --gerrit https://review.opendev.org --project openstack/nova --change 912345 --patchset 3\n  \
  perfkit site --out public --repo openstack/nova=/srv/git/nova\n  \
  perfkit suspects --project openstack/nova --repo openstack/nova=/srv/git/nova")]
struct Cli {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Ingest(Box<ingest::IngestArgs>),
    Collect(Box<collect::CollectArgs>),
    Ls(ls::LsArgs),
    Repair(repair::RepairArgs),
    Scaffold(scaffold::ScaffoldArgs),
    Compare(compare::CompareArgs),
    Review(review::ReviewArgs),
    Site(site::SiteArgs),
    Suspects(suspects::SuspectsArgs),
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Ingest(args) => perfkit_ops::ingest::run((*args).into()).await,
            Command::Collect(args) => perfkit_ops::collect::run((*args).into()).await,
            Command::Ls(args) => perfkit_ops::ls::run(args.into()).await,
            Command::Repair(args) => perfkit_ops::repair::run(args.into()).await,
            Command::Scaffold(args) => perfkit_ops::scaffold::run(args.into()).map_err(Into::into),
            Command::Compare(args) => perfkit_ops::compare::run(args.into()).await,
            Command::Review(args) => review::run(args).await,
            Command::Suspects(args) => perfkit_ops::suspects::run(args.into()).await,
            Command::Site(args) => perfkit_ops::site::run(args.into()).await,
            Command::Demo(args) => perfkit_ops::demo::run(args.into()).await,
        }
    });
    match outcome {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Regression) => ExitCode::from(1),
        Ok(Outcome::Failed) => ExitCode::from(EXIT_ERROR),
        Err(e) => {
            report_error(&e);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::PERFKIT_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a CI log or a file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}

/// Rust ignores SIGPIPE, so `perfkit ls | head` would panic on a closed
/// pipe; the default action ends the process quietly, as other CLIs do.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
