//! `perfkit compare` on the demo's real Rally history: the slower patchset
//! (HTTP server at 40 ms against a 30 ms branch) is a regression, exit 1;
//! the clean one is not, exit 0; errors exit 2 with a hint.

mod common;

use std::path::Path;

use common::{demo_archive, perfkit, run};

fn compare(archive: &Path, change: &str, format: &str) -> (i32, String, String) {
    run(perfkit()
        .arg("compare")
        .arg("--archive")
        .arg(archive)
        .args([
            "--project",
            "perfkit/demo",
            "--change",
            change,
            "--patchset",
            "1",
        ])
        .args(["--format", format]))
}

#[test]
fn verdicts_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let archive = demo_archive(dir.path());

    let (code, text, err) = compare(&archive, "900001", "text");
    assert_eq!(code, 1, "{text}{err}");
    assert!(
        text.starts_with("perfkit/demo change 900001 patchset 1: regression in 2 of 5 series"),
        "{text}"
    );
    let http = text
        .lines()
        .find(|l| l.contains("regression") && l.contains("HttpRequests.check_request › total"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(http.contains("+3") && http.contains(" ms"), "{http}");

    let (code, text, _) = compare(&archive, "900002", "text");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("no regression in 5 series"), "{text}");

    let (code, json, _) = compare(&archive, "900001", "json");
    assert_eq!(code, 1);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["change"], 900001);
    assert_eq!(value["builds"].as_array().unwrap().len(), 1);
    let regressions: Vec<&serde_json::Value> = value["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "regression")
        .collect();
    assert_eq!(regressions.len(), 2);
    for r in regressions {
        let v = &r["verdict"];
        for field in [
            "baseline_median",
            "baseline_spread",
            "new_median",
            "change_pct",
            "p_value",
            "q_value",
        ] {
            assert!(v[field].is_number(), "{field} in {v}");
        }
        assert!(v["q_value"].as_f64().unwrap() <= 0.05);
        assert_eq!(v["new_builds"], 1);
        assert!(v["baseline_builds"].as_u64().unwrap() >= 5);
    }

    let (code, md, _) = compare(&archive, "900001", "markdown");
    assert_eq!(code, 1);
    assert!(
        md.starts_with("**perfkit**: regression in 2 of 5 series"),
        "{md}"
    );
    assert!(md.contains("| status | series | metric |"), "{md}");

    // The same archive gives the same bytes.
    assert_eq!(compare(&archive, "900001", "json").1, json);
}

#[test]
fn unknown_changes_and_archives_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let archive = demo_archive(dir.path());
    let (code, _, err) = compare(&archive, "123", "text");
    assert_eq!(code, 2);
    assert!(
        err.contains("no build of perfkit/demo change 123 patchset 1"),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");

    let (code, _, err) = compare(&dir.path().join("nowhere"), "900001", "text");
    assert_eq!(code, 2);
    assert!(err.contains("no archive at"), "{err}");
}
