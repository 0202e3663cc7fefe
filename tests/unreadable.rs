//! One bad object fails alone: in the demo's archive, one build's `series`
//! object is corrupt and another's `series` and `samples` are gone.
//! `site` skips those builds with a warning naming them and the object,
//! counts them in its summary, and goes on with the rest; `compare` and
//! `review` read only the patchset's builds and its baseline (the newest
//! branch builds), so old broken builds do not touch them, and a broken
//! one in the baseline is skipped the same way. `ls` reads only the
//! project's index and lists every build; a corrupt `builds` object is
//! read by no reader once its row is indexed.

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

/// The one object of `build`'s first attempt in `table`.
fn object(archive: &Path, table: &str, build: &str) -> PathBuf {
    let dir = archive.join(format!(
        "v2/{table}/project=perfkit%2Fdemo/change=0/patchset=0/build={build}"
    ));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

/// The part of `path` below the archive, as warnings name it.
fn relative(archive: &Path, path: &Path) -> String {
    path.strip_prefix(archive).unwrap().display().to_string()
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

/// Breaks the three oldest branch builds; returns their ids and the
/// objects at fault: corrupt `series`, missing `series` and `samples`,
/// corrupt `builds`.
fn break_three(archive: &Path) -> ([String; 3], [String; 3]) {
    // `ls` lists builds oldest first.
    let branch: Vec<String> = rows(archive)
        .into_iter()
        .filter(|r| r["change"] == 0)
        .map(|r| r["build"].as_str().unwrap().to_string())
        .collect();
    let [a, b, c] = [&branch[0], &branch[1], &branch[2]].map(String::clone);
    let faults = [
        object(archive, "series", &a),
        object(archive, "series", &b),
        object(archive, "builds", &c),
    ];
    std::fs::write(&faults[0], b"PAR1 not really").unwrap();
    std::fs::remove_file(&faults[1]).unwrap();
    std::fs::remove_file(object(archive, "samples", &b)).unwrap();
    std::fs::write(&faults[2], b"garbage").unwrap();
    ([a, b, c], faults.map(|f| relative(archive, &f)))
}

/// Each broken build is named once in a warning with the object at fault.
fn assert_warned(err: &str, broken: &[String], objects: &[String]) {
    for (build, object) in broken.iter().zip(objects) {
        let warning = err
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "warning: skipped build {build} of {DEMO} change 0 patchset 0: "
                ))
            })
            .unwrap_or_else(|| panic!("no warning about {build}:\n{err}"));
        assert!(warning.contains(object.as_str()), "{warning}");
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
    let (broken, faults) = break_three(&archive);

    // compare: the same verdict, exit 1 for the regression. It reads the
    // patchset's builds and its baseline (the most recent branch builds)
    // only, so the broken builds, the oldest, are not even read.
    let (code, after, err) = compare(&archive);
    assert_eq!(code, 1, "{after}{err}");
    assert_eq!(after, before);
    assert!(!err.contains("skipped"), "{err}");

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
    assert!(!err.contains("skipped"), "{err}");

    // ls reads only the index: every build is listed.
    let (code, out, err) = run(perfkit().arg("ls").arg("--archive").arg(&archive));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().count(),
        total + 1,
        "a header and {total} builds:\n{out}"
    );
    assert!(broken.iter().all(|b| out.contains(b.as_str())), "{out}");
    assert_eq!(rows(&archive).len(), total);

    // repair reads the `builds` objects the index lacks only: the index
    // has the corrupt one's row, so nothing changes.
    let (code, out, err) = run(perfkit().arg("repair").arg("--archive").arg(&archive));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(
        out.contains(&format!("{DEMO}: {total} builds listed, 0 added")),
        "{out}"
    );

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
        assert_warned(&err, &broken[..2], &faults[..2]);
        assert!(
            out.contains("skipped 2 unreadable builds (named above); the site shows the others"),
            "{out}"
        );
        assert!(
            out.contains(&format!("{DEMO}: {} branch builds", branch - 2)),
            "{out}"
        );
        assert!(out_dir.join("index.html").is_file());
    }

    // A broken build inside compare's baseline is skipped, named and
    // counted; the verdict is of the others.
    let (_, json, _) = run(perfkit()
        .arg("compare")
        .arg("--archive")
        .arg(&archive)
        .args(["--project", DEMO, "--change", "900001", "--patchset", "1"])
        .args(["--format", "json"]));
    let json: Value = serde_json::from_str(&json).unwrap();
    let newest = json["baseline"].as_array().unwrap().last().unwrap()["build"]
        .as_str()
        .unwrap()
        .to_string();
    let series = object(&archive, "series", &newest);
    std::fs::write(&series, b"PAR1 not really").unwrap();
    let (code, out, err) = compare(&archive);
    assert_eq!(code, 1, "{out}{err}");
    assert_warned(&err, &[newest], &[relative(&archive, &series)]);
    assert!(
        err.contains("skipped 1 unreadable build (named above); the verdict is of the others"),
        "{err}"
    );
}

/// A build's objects copied under another build's path (by hand, or by a
/// credential that may write there) are not read as that build: readers
/// do not see them (the index has no row for them), and `perfkit repair`,
/// which reads every `builds` object, names the mismatch and leaves them
/// out; the verdict is the one without them.
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
        let to = archive
            .join(format!(
                "v2/{table}/project=perfkit%2Fdemo/change=900001/patchset=1/build={branch}"
            ))
            .join(from.file_name().unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    let why = format!(
        "its row describes build {branch} of {DEMO} change 0 patchset 0 attempt Some(0), not the one its path names"
    );

    let (code, out, err) = run(perfkit().arg("repair").arg("--archive").arg(&archive));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(&why), "{err}");
    // Listed (its objects are there) but not added.
    assert!(
        out.contains(&format!("{} builds listed, 0 added", listed + 1)),
        "{out}"
    );
    assert_eq!(rows(&archive).len(), listed);

    let (code, after, err) = compare(&archive);
    assert_eq!(code, 1, "{after}{err}");
    assert_eq!(after, before);
}

/// A writer killed mid-put leaves the local store's staging file
/// (`<key>#<n>`), which no listing shows; `repair` deletes it once it is
/// older than ten minutes and keeps a fresh one (a put may still own it).
#[test]
fn repair_deletes_staging_files_killed_writers_left() {
    let dir = tempfile::tempdir().unwrap();
    let archive = demo_archive(dir.path());
    let (_, before, _) = compare(&archive);
    let builds = archive.join("v2/builds");
    let stale = builds.join("part.parquet#3");
    let fresh = builds.join("part.parquet#4");
    for path in [&stale, &fresh] {
        std::fs::write(path, b"half a parquet file").unwrap();
    }
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();

    let (code, out, err) = run(perfkit().arg("repair").arg("--archive").arg(&archive));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("deleted 1 staging files (older than 60 min) that killed writers left"),
        "{out}"
    );
    assert!(!stale.exists());
    assert!(fresh.exists());
    let (_, after, _) = compare(&archive);
    assert_eq!(after, before);
}
