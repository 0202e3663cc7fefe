//! perfkit-ops: what each `perfkit` command does, one function per
//! command, composing the feature crates (`perfkit-ingest`, `-zuul`,
//! `-gerrit`, `-site`) over the archive and the analysis. The binary only
//! parses arguments, calls one of these and maps the outcome to an exit
//! code. See `docs/ARCHITECTURE.md`.

pub mod collect;
pub mod compare;
pub mod demo;
pub mod env;
pub mod ingest;
pub mod ls;
mod progress;
mod read;
pub mod repair;
pub mod review;
pub mod scaffold;
pub mod site;
pub mod suspects;

use std::error::Error;

pub use perfkit_schema::shown;

/// How a command ended; the binary maps it to its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done (exit 0).
    Success,
    /// `perfkit compare` found a regression (exit 1).
    Regression,
    /// Something failed and was reported (exit 2); for commands that go on
    /// past a bad file or build, the others were done.
    Failed,
}

/// Prints `error: …`, the causes the message does not already say, and the
/// first `hint:` any error in the chain offers: the one place errors reach
/// the user.
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
    if let Some(hint) = e.chain().find_map(hint_of) {
        eprintln!("hint: {}", shown_lines(&hint));
    }
}

/// The hint of a library error, whichever crate it comes from.
fn hint_of(e: &(dyn Error + 'static)) -> Option<String> {
    if let Some(e) = e.downcast_ref::<perfkit_ingest::IngestError>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<perfkit_archive::ArchiveError>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<perfkit_zuul::ScaffoldError>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<perfkit_zuul::vars::VarsError>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<perfkit_http::Problem>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<perfkit_site::SiteError>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<perfkit_git::RepoError>() {
        return e.hint();
    }
    None
}

/// Like [`shown`], keeping the newline before a `hint:` line.
fn shown_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| shown(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}
