//! The `perfkit` command: parses arguments, sets up logging, dispatches to
//! one library call per subcommand and maps the outcome to an exit code
//! (0 ok, 1 regression found, 2 error). Parsing, statistics and rendering
//! live in the library crates.

mod collect;
mod compare;
mod demo;
mod env;
mod ingest;
mod ls;
mod progress;
mod read;
mod review;
mod scaffold;
mod site;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for any error (bad input, unreachable archive, usage).
pub const EXIT_ERROR: u8 = 2;

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
  perfkit site --out public")]
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
    Scaffold(scaffold::ScaffoldArgs),
    Compare(compare::CompareArgs),
    Review(review::ReviewArgs),
    Site(site::SiteArgs),
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
            Command::Ingest(args) => ingest::run(*args).await,
            Command::Collect(args) => collect::run(*args).await,
            Command::Ls(args) => ls::run(args).await,
            Command::Scaffold(args) => scaffold::run(args),
            Command::Compare(args) => compare::run(args).await,
            Command::Review(args) => review::run(args).await,
            Command::Site(args) => site::run(args).await,
            Command::Demo(args) => demo::run(args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Untrusted text (Rally names, messages, Zuul values) for the terminal:
/// control characters are escaped so a crafted report cannot move the
/// cursor, clear the screen or hide text.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        std::borrow::Cow::Owned(
            text.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Prints `error: …` with its causes and, when the library error carries
/// one, a `hint:` line (messages built in the CLI carry theirs inline).
pub fn report_error(e: &anyhow::Error) {
    let message = e.to_string();
    eprintln!("error: {}", shown_lines(&message));
    // Library errors already name their cause; print only what is new.
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            eprintln!("  caused by: {}", shown(&cause));
        }
    }
    let hint = e
        .chain()
        .find_map(|cause| cause.downcast_ref::<perfkit_ingest::IngestError>())
        .and_then(|ie| ie.hint())
        .or_else(|| {
            e.chain()
                .find_map(|cause| cause.downcast_ref::<perfkit_zuul::ScaffoldError>())
                .and_then(|se| se.hint())
        });
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}

/// Like [`shown`], keeping the newline before a `hint:` line.
fn shown_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| shown(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::PERFKIT_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
