//! One `compare` of a patchset, by one of two methods, for the index
//! benchmark (`tests/bench/index`): prints one JSON line with the object
//! store requests it made and a digest of the verdict.
//!
//!   compare_methods --archive DIR --project P --change C --patchset S --method index|every-build
//!
//! - `index`: what `perfkit compare` does (`perfkit_ops::compare::judge`):
//!   the project's index, then the `series` of the patchset's builds and
//!   of its baseline.
//! - `every-build`: what `perfkit compare` did before the index (the
//!   baseline of the benchmark): list every `builds` object of the project,
//!   read each one's row and `series`, then judge.
//!
//! Both verdicts must be the same; the benchmark checks the digests.

use std::process::ExitCode;

use perfkit_archive::Archive;
use perfkit_archive::history::load_builds;
use perfkit_archive::progress::Silent;
use perfkit_schema::ProjectName;

struct Args {
    archive: String,
    project: String,
    change: u64,
    patchset: u32,
    method: String,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        archive: String::new(),
        project: String::new(),
        change: 0,
        patchset: 0,
        method: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--archive" => a.archive = value,
            "--project" => a.project = value,
            "--change" => a.change = value.parse().map_err(bad)?,
            "--patchset" => a.patchset = value.parse().map_err(bad)?,
            "--method" => a.method = value,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(a)
}

async fn run(a: Args) -> Result<serde_json::Value, String> {
    let archive = Archive::open(&a.archive)
        .map_err(|e| e.to_string())?
        .counting();
    let project = ProjectName::try_from(a.project.as_str()).map_err(|e| e.to_string())?;
    let comparison = match a.method.as_str() {
        "index" => {
            perfkit_ops::compare::judge(&archive, &project, a.change, a.patchset)
                .await
                .map_err(|e| format!("{e:#}"))?
                .0
        }
        "every-build" => {
            let listed = archive
                .list_builds(Some(&project))
                .await
                .map_err(|e| e.to_string())?;
            let builds = load_builds(&archive, &listed, &Silent)
                .await
                .map_err(|e| e.to_string())?;
            perfkit_analysis::compare::compare(&builds, a.change, a.patchset)
        }
        other => return Err(format!("unknown method {other}")),
    };
    let comparison = comparison.ok_or("no build of that patchset")?;
    let verdict = serde_json::to_vec(&comparison).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "method": a.method,
        "requests": archive.requests(),
        "baseline_builds": comparison.baseline.len(),
        "verdict_sha256": perfkit_schema::identity::sha256_hex(&verdict),
    }))
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("compare_methods: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare_methods: {e}");
            ExitCode::from(2)
        }
    }
}
