//! Shared helpers for the end-to-end tests: run the built `perfkit`,
//! locate fixtures, and find the Python tools `tests/run` installs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A `perfkit` command with a clean environment for archive settings.
pub fn perfkit() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfkit"));
    cmd.env_remove("PERFKIT_ARCHIVE").env("NO_COLOR", "1");
    cmd
}

/// `perfkit ingest --archive <archive>`, for the caller to add flags and files.
pub fn ingest_into(archive: &Path) -> Command {
    let mut cmd = perfkit();
    cmd.arg("ingest").arg("--archive").arg(archive);
    cmd
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("perfkit runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Every file below `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A tool from `tests/run`'s venvs: `Some(path)`, or `None` after printing
/// why the test is skipped. With `PERFKIT_REQUIRE_TOOLS=1` a missing tool panics.
pub fn tool(var: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os(var)
        .map(PathBuf::from)
        .map(|p| if name.is_empty() { p } else { p.join(name) });
    match found {
        Some(p) if p.exists() => Some(p),
        _ => {
            if std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() == Ok("1") {
                panic!("{var} does not point at {name:?}; run the tests with tests/run");
            }
            eprintln!("skipped: {var} is not set (run tests/run to install {name})");
            None
        }
    }
}
