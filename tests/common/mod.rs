//! Shared helpers for the end-to-end tests: run the built `perfkit`,
//! locate fixtures, find the Python tools `tests/run` installs, and open
//! pages in a real browser (`browse.py` driving Chromium) served by
//! [`serve_dir`].
#![allow(dead_code)]

pub mod gerrit;
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)] // most test binaries serve no site
pub use serve::{ServerGuard, serve_dir};

/// The Python that runs the stand-in servers of `tests/tools` (the tools
/// venv's, else `python3`); `None`, after a note that the test is skipped,
/// when there is none, and a panic when `PERFKIT_REQUIRE_TOOLS=1`.
pub fn tools_python() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PERFKIT_TOOLS_BIN") {
        let p = PathBuf::from(bin).join("python");
        if p.exists() {
            return Some(p);
        }
    }
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(PathBuf::from("python3"));
    }
    if std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("no Python 3 for the test servers in tests/tools");
    }
    eprintln!("skipped: no python3 for the test servers in tests/tools");
    None
}

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
/// `perfkit demo` into `dir/archive` (site in `dir/demo-site`): the real
/// Rally history of `perfkit/demo`, with changes 900001 (slower) and
/// 900002 (clean). Returns the archive.
pub fn demo_archive(dir: &Path) -> PathBuf {
    let archive = dir.join("archive");
    let (code, _, err) = run(perfkit()
        .arg("demo")
        .arg("--archive")
        .arg(&archive)
        .arg("--out")
        .arg(dir.join("demo-site")));
    assert_eq!(code, 0, "{err}");
    archive
}

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
/// [`tree`] with what differs between two ingests of the same builds left
/// out ([`key_shapes`]), so that two archives of the same builds compare
/// equal.
#[allow(dead_code)] // not every test binary compares archives
pub fn archive_shape(dir: &Path) -> Vec<String> {
    key_shapes(tree(dir))
}

/// Archive keys with each writer's random token and the index segments'
/// names (their time and token) left out, sorted.
#[allow(dead_code)]
pub fn key_shapes(keys: Vec<String>) -> Vec<String> {
    let mut shapes: Vec<String> = keys
        .into_iter()
        .map(|key| {
            if let Some(rest) = key.strip_suffix(".parquet")
                && let Some((head, tail)) = rest.rsplit_once('-')
                && tail.len() == 16
                && tail.bytes().all(|b| b.is_ascii_hexdigit())
            {
                for kind in ["segments", "compacts"] {
                    if let Some((dir, _)) = head.rsplit_once(&format!("/{kind}/")) {
                        return format!("{dir}/{kind}/*");
                    }
                }
                return format!("{head}-TOKEN.parquet");
            }
            key
        })
        .collect();
    shapes.sort();
    shapes
}

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

/// What [`Browser::browse`] needs: the tools venv's Python, `browse.py`,
/// and the Chromium it drives.
pub struct Browser {
    pub python: PathBuf,
    pub script: PathBuf,
    pub chromium: PathBuf,
    /// Per page: the `load` event, then `window.perfkitReady`. A test of a
    /// page that never gets ready lowers it.
    pub timeout_ms: u32,
}

/// The headless browser harness: `Some` when the tools venv and
/// `PERFKIT_CHROMIUM` are there, else `None` after printing why the test is
/// skipped. With `PERFKIT_REQUIRE_TOOLS=1` a missing piece panics.
pub fn browser() -> Option<Browser> {
    let python = tool("PERFKIT_TOOLS_BIN", "python")?;
    let chromium = std::env::var_os("PERFKIT_CHROMIUM")
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    let Some(chromium) = chromium else {
        if std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!(
                "PERFKIT_CHROMIUM does not point at a Chromium; \
                 `apt-get install chromium`, then run the tests with tests/run"
            );
        }
        eprintln!(
            "skipped: PERFKIT_CHROMIUM is not set (`apt-get install chromium`, then tests/run)"
        );
        return None;
    };
    Some(Browser {
        python,
        script: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/browse.py"),
        chromium,
        timeout_ms: 15_000,
    })
}

impl Browser {
    /// Opens every URL in one Chromium and returns browse.py's report
    /// (`{"pages": [...]}`, one entry per URL in order), writing a
    /// full-page screenshot per URL into `screenshots`. Panics with
    /// browse.py's stderr when it cannot run.
    pub fn browse(&self, urls: &[String], screenshots: &Path) -> serde_json::Value {
        let output = Command::new(&self.python)
            .arg(&self.script)
            .arg("--chromium")
            .arg(&self.chromium)
            .arg("--screenshots")
            .arg(screenshots)
            .arg(format!("--timeout-ms={}", self.timeout_ms))
            .arg("--")
            .args(urls)
            .output()
            .expect("browse.py runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "browse.py failed ({}):\n{stderr}",
            output.status
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "browse.py printed no JSON report ({e}):\n{}\n{stderr}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}

/// [`Browser::browse`] with the harness from [`browser`]; call [`browser`]
/// first to skip a test where the harness is missing.
pub fn browse(urls: &[String], screenshots: &Path) -> serde_json::Value {
    browser()
        .expect("the browser harness is installed (see the message above)")
        .browse(urls, screenshots)
}
