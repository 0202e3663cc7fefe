//! The README's quick start: `perfkit demo` archives every bundled example,
//! builds the site, and a second run changes nothing.

mod common;

use common::{perfkit, run, tree};

#[test]
fn demo_archives_the_bundled_examples_once() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let site = dir.path().join("site");
    let demo = || {
        let mut cmd = perfkit();
        cmd.arg("demo")
            .arg("--archive")
            .arg(&archive)
            .arg("--out")
            .arg(&site);
        cmd
    };
    let (code, out, err) = run(&mut demo());
    assert_eq!(code, 0, "{err}");
    let archived = out
        .lines()
        .filter(|l| l.contains(": archived perfkit/demo"))
        .count();
    // 30 Rally results, 13 Locust runs, 13 fio runs.
    assert_eq!(archived, 56, "{out}");
    for format in [
        "[rally-v2]",
        "[rally-results]",
        "[locust-csv]",
        "[fio-json]",
    ] {
        assert!(out.contains(format), "{format}: {out}");
    }
    for change in 900001..=900004 {
        assert!(
            out.contains(&format!("change {change} patchset 1")),
            "{out}"
        );
    }
    assert!(
        out.contains("task aborted") && out.contains("task crashed"),
        "{out}"
    );
    let builds = tree(&archive)
        .into_iter()
        .filter(|p| p.starts_with("v2/builds/"))
        .count();
    assert_eq!(builds, 56);

    assert!(
        out.contains(&format!("open: {}", site.join("index.html").display())),
        "{out}"
    );
    assert!(out.contains("perfkit/demo: 52 branch builds"), "{out}");
    assert!(site.join("perfkit~demo/change/900001-1.html").is_file());
    // The history's step at build 11 is pinned on the one commit between
    // builds 10 and 11 of the demo's own repository, with its Gerrit change.
    let alerts = std::fs::read_to_string(site.join("perfkit~demo/alerts.html"))
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        alerts.contains("perfkit/demo: 1 commit, the culprit")
            && alerts.contains("Validate every request against the policy file")
            && alerts.contains("https://review.opendev.org/c/perfkit/demo/+/800011"),
        "{alerts}"
    );
    let feed = std::fs::read_to_string(site.join("perfkit~demo/alerts.atom")).unwrap();
    assert!(
        feed.contains("Validate every request against the policy file"),
        "{feed}"
    );

    let (code, again, _) = run(&mut demo());
    assert_eq!(code, 0);
    assert!(again.contains("site: 0 files written"), "{again}");
    assert_eq!(
        again
            .lines()
            .filter(|l| l.contains("already in the archive"))
            .count(),
        56,
        "{again}"
    );

    let (code, listing, _) =
        run(perfkit().args(["ls", "--archive", archive.to_str().unwrap(), "--json"]));
    assert_eq!(code, 0);
    assert_eq!(listing.lines().count(), 56);
}
