//! One bad object fails alone: in the demo's archive, one build's `series`
//! object is corrupt, another's `series` and `samples` are gone (nothing
//! to rebuild them from) and a third's `builds` object is corrupt.
//! `compare`, `review`, `ls` and `site` each skip those builds with a
//! warning naming them, count them in their summary, and go on with the
//! rest: the same verdict, the other builds listed, the site built.

mod common;

use std::path::{Path, PathBuf};

use common::{demo_archive, perfkit, run};
use serde_json::Value;

const DEMO: &str = "perfkit/demo";

/// `ls --json` rows of the archive.
fn rows(archive: &Path) -> Vec<Value> {
    let (code, out, err) = run(perfkit()
        .args(["ls", "--json"])
        .arg("--archive")
        .arg(archive));
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn object(archive: &Path, table: &str, build: &str) -> PathBuf {
    archive.join(format!(
        "v1/{table}/project=perfkit%2Fdemo/change=0/patchset=0/build={build}.parquet"
    ))
}

/// `perfkit compare` of the demo's regressed patchset: (exit code, stdout,
/// stderr).
fn compare(archive: &Path) -> (i32, String, String) {
    run(perfkit()
        .arg("compare")
        .arg("--archive")
        .arg(archive)
        .args(["--project", DEMO, "--change", "900001", "--patchset", "1"]))
}

/// Breaks the three oldest branch builds; returns their ids, in the
/// order: corrupt `series`, missing `series` and `samples`, corrupt `builds`.
fn break_three(archive: &Path) -> [String; 3] {
    // `ls` lists builds oldest first.
    let branch: Vec<String> = rows(archive)
        .into_iter()
        .filter(|r| r["change"] == 0)
        .map(|r| r["build"].as_str().unwrap().to_string())
        .collect();
    let [a, b, c] = [&branch[0], &branch[1], &branch[2]].map(String::clone);
    std::fs::write(object(archive, "series", &a), b"PAR1 not really").unwrap();
    std::fs::remove_file(object(archive, "series", &b)).unwrap();
    std::fs::remove_file(object(archive, "samples", &b)).unwrap();
    std::fs::write(object(archive, "builds", &c), b"garbage").unwrap();
    [a, b, c]
}

/// Each broken build is named once in a warning with the object at fault.
fn assert_warned(err: &str, broken: &[String], tables: &[&str]) {
    for (build, table) in broken.iter().zip(tables) {
        let warning = err
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "warning: skipped build {build} of {DEMO} change 0 patchset 0: "
                ))
            })
            .unwrap_or_else(|| panic!("no warning about {build}:\n{err}"));
        assert!(
            warning.contains(&format!(
                "v1/{table}/project=perfkit%2Fdemo/change=0/patchset=0/build={build}.parquet"
            )),
            "{warning}"
        );
    }
}

#[test]
fn compare_review_ls_and_site_skip_a_bad_build_and_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let archive = demo_archive(dir.path());
    let all = rows(&archive);
    let total = all.len();
    let branch = all
        .iter()
        .filter(|r| r["change"] == 0 && r["source_format"] != "none")
        .count();
    let (code, before, _) = compare(&archive);
    assert_eq!(code, 1, "{before}");
    let broken = break_three(&archive);

    // compare: the same verdict from the other builds (the broken ones are
    // old, before the branch's change point), exit 1 for the regression.
    let (code, after, err) = compare(&archive);
    assert_eq!(code, 1, "{after}{err}");
    assert_eq!(after, before);
    assert_warned(&err, &broken, &["series", "samples", "builds"]);
    assert!(
        err.contains("skipped 3 unreadable builds (named above); the verdict is of the others"),
        "{err}"
    );

    // review: likewise (a dry run without credentials reads no Gerrit).
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut review = perfkit();
    for var in [
        "PERFKIT_GERRIT_USER",
        "PERFKIT_GERRIT_PASSWORD",
        "PERFKIT_GERRIT_CREDENTIALS",
        "NETRC",
    ] {
        review.env_remove(var);
    }
    review
        .env("HOME", &home)
        .arg("review")
        .arg("--archive")
        .arg(&archive)
        .args(["--gerrit", "https://review.example.org", "--project", DEMO])
        .args(["--change", "900001", "--patchset", "1", "--dry-run"]);
    let (code, out, err) = run(&mut review);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("regression in 2 of 5 series"), "{out}");
    assert_warned(&err, &broken, &["series", "samples", "builds"]);
    assert!(err.contains("skipped 3 unreadable builds"), "{err}");

    // ls reads only `builds` objects: the corrupt one is skipped, the two
    // with broken data are listed.
    let (code, out, err) = run(perfkit().arg("ls").arg("--archive").arg(&archive));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().count(),
        total,
        "a header and {} builds:\n{out}",
        total - 1
    );
    assert!(
        !out.contains(&broken[2]) && out.contains(&broken[0]),
        "{out}"
    );
    assert_warned(&err, &broken[2..], &["builds"]);
    assert!(
        err.contains("skipped 1 unreadable build (named above); the others are listed"),
        "{err}"
    );
    let (code, out, err) = run(perfkit()
        .args(["ls", "--json"])
        .arg("--archive")
        .arg(&archive));
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), total - 1);
    assert!(err.contains("skipped 1 unreadable build"), "{err}");

    // site: built from the others, twice (the second run incremental).
    let out_dir = dir.path().join("site");
    for _ in 0..2 {
        let (code, out, err) = run(perfkit()
            .arg("site")
            .arg("--archive")
            .arg(&archive)
            .arg("--out")
            .arg(&out_dir));
        assert_eq!(code, 0, "{out}{err}");
        assert_warned(&err, &broken, &["series", "samples", "builds"]);
        assert!(
            out.contains("skipped 3 unreadable builds (named above); the site shows the others"),
            "{out}"
        );
        assert!(
            out.contains(&format!("{DEMO}: {} branch builds", branch - 3)),
            "{out}"
        );
        assert!(out_dir.join("index.html").is_file());
    }
}

/// A `builds` row put under another build's path (copied by hand, or
/// written by a credential that may write there) is not read as that
/// build: a branch build's objects copied under the patchset that
/// `compare` judges are skipped with a warning saying what the row and the
/// path each name, and the verdict is the one without them.
#[test]
fn a_build_row_under_another_builds_path_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let archive = demo_archive(dir.path());
    let (code, before, _) = compare(&archive);
    assert_eq!(code, 1, "{before}");
    let listed = rows(&archive).len();
    let branch = rows(&archive)
        .into_iter()
        .find(|r| r["change"] == 0 && r["source_format"] != "none")
        .unwrap()["build"]
        .as_str()
        .unwrap()
        .to_string();
    for table in ["builds", "samples", "workloads", "series"] {
        let from = object(&archive, table, &branch);
        let to = archive.join(format!(
            "v1/{table}/project=perfkit%2Fdemo/change=900001/patchset=1/build={branch}.parquet"
        ));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    let why = format!(
        "its row describes project {DEMO} build {branch} change 0 patchset 0, but its path names project {DEMO} build {branch} change 900001 patchset 1"
    );

    let (code, out, err) = run(perfkit()
        .args(["ls", "--json"])
        .arg("--archive")
        .arg(&archive));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), listed, "{out}");
    assert!(err.contains(&why), "{err}");
    assert!(
        err.contains(&format!(
            "warning: skipped build {branch} of {DEMO} change 900001 patchset 1: "
        )),
        "{err}"
    );

    let (code, after, err) = compare(&archive);
    assert_eq!(code, 1, "{after}{err}");
    assert_eq!(after, before);
    assert!(err.contains(&why), "{err}");
}
