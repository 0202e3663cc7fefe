//! Locust and fio results from the real tools (fixtures made by
//! `tests/fixtures/{locust,fio}/make.sh`) through ingest, compare and the
//! site: detection by content, figures checked against an independent
//! reading of the files, errors that name the file and place and write
//! nothing, and verdicts that respect each metric's direction.

mod common;

use std::path::Path;

use common::{fixture, ingest_into, perfkit, run, tree};
use serde_json::Value;

fn builds_in(archive: &Path) -> Vec<String> {
    tree(archive)
        .into_iter()
        .filter(|p| p.starts_with("v2/builds/"))
        .collect()
}

/// (requests, failures) of the `Aggregated` row of a Locust stats CSV.
fn locust_totals(stats: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(stats).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row: Vec<&str> = lines
        .find(|l| l.starts_with(",Aggregated,"))
        .unwrap()
        .split(',')
        .collect();
    (
        row[col("Request Count")].parse().unwrap(),
        row[col("Failure Count")].parse().unwrap(),
    )
}

/// Total I/Os and the directions that did I/O, per job, of a fio report.
fn fio_ios(report: &Path) -> (u64, usize) {
    let text = std::fs::read_to_string(report).unwrap();
    let start = text.find("\n{").map_or(0, |i| i + 1);
    let value: Value = serde_json::from_str(&text[start..]).unwrap();
    let mut ios = 0;
    let mut directions = 0;
    for job in value["jobs"].as_array().unwrap() {
        for d in ["read", "write", "trim"] {
            let n = job[d]["total_ios"].as_u64().unwrap_or(0);
            ios += n;
            directions += usize::from(n > 0);
        }
    }
    (ios, directions)
}

#[test]
fn a_locust_csv_set_is_one_build_however_it_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let run_dir = fixture("locust/history/run-01");
    let (requests, failures) = locust_totals(&run_dir.join("locust_stats.csv"));
    let project = [
        "--project",
        "openstack/keystone",
        "--job",
        "keystone-locust",
    ];

    let (code, out, err) = run(ingest_into(&archive).args(project).arg(&run_dir));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[locust-csv]"), "{out}");
    assert!(
        out.contains(&format!(
            "3 workloads, {requests} requests ({failures} failed)"
        )),
        "{out}"
    );
    assert!(out.contains("POST keystone.issue_token"), "{out}");
    assert!(out.contains("GET keystone.validate_token"), "{out}");
    assert!(out.contains(" ms p95 "), "times in ms: {out}");
    assert_eq!(builds_in(&archive).len(), 1);

    // The prefix and the stats file name the same set: same content, same build.
    for same in [run_dir.join("locust"), run_dir.join("locust_stats.csv")] {
        let (code, out, err) = run(ingest_into(&archive).args(project).arg(&same));
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("is already in the archive, nothing written"),
            "{out}"
        );
    }
    assert_eq!(builds_in(&archive).len(), 1);

    // Locust's JSON report of the same run is a different file: its own build.
    let (code, out, err) = run(ingest_into(&archive)
        .args(project)
        .arg(run_dir.join("locust.json")));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[locust-json]"), "{out}");
    assert!(out.contains("3 workloads"), "{out}");
    assert_eq!(builds_in(&archive).len(), 2);
}

#[test]
fn fio_reports_in_every_shape_are_archived_per_job_and_direction() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    for name in [
        "randwrite-4k-qd32.json",
        "randrw-mixed.jsonplus.json",
        "seqread-1m.json",
        "multi-job.json",
        "with-leading-note.json",
    ] {
        let report = fixture("fio").join(name);
        let (ios, directions) = fio_ios(&report);
        let (code, out, err) = run(ingest_into(&archive)
            .args(["--project", "openstack/cinder"])
            .arg(&report));
        assert_eq!(code, 0, "{name}: {err}");
        assert!(out.contains("[fio-json]"), "{out}");
        let workloads = if directions == 1 {
            "1 workload".to_string()
        } else {
            format!("{directions} workloads")
        };
        assert!(
            out.contains(&format!("{workloads}, {ios} I/Os (0 failed)")),
            "{name}: {out}"
        );
    }
    assert_eq!(builds_in(&archive).len(), 5);
}

#[test]
fn bad_locust_and_fio_files_name_the_place_and_write_nothing() {
    let cases: [(&str, &[&str]); 5] = [
        (
            "locust/invalid/truncated_stats.csv",
            &["truncated_stats.csv", "at line 2", "looks truncated"],
        ),
        (
            "locust/invalid/missing_columns_stats.csv",
            &["missing column(s)", "Requests/s", "at line 1 (header)"],
        ),
        (
            "locust/invalid/truncated_locust.json",
            &["truncated_locust.json", "invalid JSON", "at line"],
        ),
        (
            "fio/invalid/job-error.json",
            &[
                "fio job `write-dev-full` failed with error 28",
                "$.jobs[0].error",
            ],
        ),
        (
            "fio/invalid/truncated.json",
            &["truncated.json", "invalid JSON", "at line"],
        ),
    ];
    for (file, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let (code, out, err) = run(ingest_into(&archive)
            .args(["--project", "openstack/keystone"])
            .arg(fixture(file)));
        assert_eq!(code, 2, "{file}: {out}{err}");
        for text in expected {
            assert!(err.contains(text), "{file}: `{text}` not in {err}");
        }
        assert!(err.contains("hint: "), "{err}");
        assert!(
            tree(&archive).is_empty(),
            "{file} left {:?}",
            tree(&archive)
        );
    }
}

#[test]
fn rally_locust_and_fio_mix_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let (code, out, err) = run(ingest_into(&archive)
        .args(["--project", "openstack/keystone", "--build", "0123abcd"])
        .arg(fixture("rally/dev-failures.report.json"))
        .arg(fixture("locust/history/run-02/locust"))
        .arg(fixture("fio/seqread-1m.json"))
        .arg(fixture("fio/invalid/job-error.json")));
    // The bad file is reported, the others are archived, each its own build.
    assert_eq!(code, 2, "{out}{err}");
    for format in ["[rally-v2]", "[locust-csv]", "[fio-json]"] {
        assert!(out.contains(format), "{format}: {out}");
    }
    assert!(err.contains("job-error.json"), "{err}");
    let builds = builds_in(&archive);
    assert_eq!(builds.len(), 3, "{builds:?}");
    assert!(
        builds.iter().all(|b| b.contains("build=0123abcd-")),
        "{builds:?}"
    );
}

/// Ingests `files[..baseline]` as periodic branch builds and the next one
/// as change 1001 patchset 1; returns `perfkit compare --format json`.
fn compare_last(
    archive: &Path,
    project: &str,
    job: &str,
    files: &[std::path::PathBuf],
) -> (i32, Value) {
    let (new, branch) = files.split_last().unwrap();
    for file in branch {
        let (code, _, err) = run(ingest_into(archive)
            .args(["--project", project, "--job", job, "--pipeline", "periodic"])
            .args(["--branch", "master"])
            .arg(file));
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = run(ingest_into(archive)
        .args(["--project", project, "--job", job, "--pipeline", "check"])
        .args(["--branch", "master", "--change", "1001", "--patchset", "1"])
        .arg(new));
    assert_eq!(code, 0, "{err}");
    let (code, json, err) = run(perfkit()
        .arg("compare")
        .arg("--archive")
        .arg(archive)
        .args(["--project", project, "--change", "1001", "--patchset", "1"])
        .args(["--format", "json"]));
    assert!(code == 0 || code == 1, "{err}");
    (code, serde_json::from_str(&json).unwrap())
}

fn verdict<'a>(comparison: &'a Value, action: &str, metric: &str) -> &'a Value {
    comparison["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["label"]["action"] == action && s["metric"] == metric)
        .unwrap_or_else(|| panic!("no {action} {metric} in {comparison:#}"))
}

#[test]
fn a_fio_slowdown_is_a_regression_of_iops_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    // Runs 1-8 alone on the disk, run 9 with a second tenant on it.
    let files: Vec<_> = (1..=9)
        .map(|n| fixture(&format!("fio/history/run-{n:02}.json")))
        .collect();
    let (code, c) = compare_last(&archive, "openstack/cinder", "cinder-fio", &files);
    assert_eq!(code, 1, "{c:#}");
    let iops = verdict(&c, "write IOPS", "duration");
    assert_eq!(iops["status"], "regression", "{iops:#}");
    assert_eq!(iops["label"]["unit"], "IO/s");
    assert_eq!(iops["label"]["higher_is_better"], true);
    let v = &iops["verdict"];
    assert_eq!(v["direction"], "higher_is_better");
    assert!(v["change_pct"].as_f64().unwrap() < -20.0, "{v:#}");
    assert_eq!(v["n_new"], 1, "one IOPS value per build");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("one value per build")
    );
    let bandwidth = verdict(&c, "write bandwidth", "duration");
    assert_eq!(bandwidth["status"], "regression", "{bandwidth:#}");
    assert_eq!(bandwidth["label"]["unit"], "B/s");
    assert_eq!(bandwidth["verdict"]["direction"], "higher_is_better");
    let latency = verdict(&c, "write latency", "duration");
    assert_eq!(latency["status"], "regression", "{latency:#}");
    assert_eq!(latency["verdict"]["direction"], "lower_is_better");
    assert!(latency["verdict"]["change_pct"].as_f64().unwrap() > 20.0);

    // The same build as a branch build is the trend's change point.
    let (code, text, err) = run(perfkit()
        .arg("compare")
        .arg("--archive")
        .arg(&archive)
        .args([
            "--project",
            "openstack/cinder",
            "--change",
            "1001",
            "--patchset",
            "1",
        ]));
    assert_eq!(code, 1, "{err}");
    assert!(text.contains("k IO/s "), "IOPS shown in its unit: {text}");
    assert!(
        text.contains(" MB/s "),
        "bandwidth shown in its unit: {text}"
    );
    // The sentence a reviewer reads: fewer IO/s than the branch's usual.
    let lead = text
        .lines()
        .find(|l| l.trim_start().starts_with("Lower: ") && l.contains(" IO/s against a usual "))
        .unwrap_or_else(|| panic!("no IOPS sentence in {text}"));
    assert!(
        lead.contains(" IO/s: -") && lead.contains("× how much builds usually vary (±"),
        "{lead}"
    );
}

/// The real fio run on Ceph RBD (tests/fixtures/fio/rbd) after eight
/// local-disk runs of the same job name under the same Zuul job: its series
/// are its own (engine and pool in the workload's identity), so the far
/// slower RBD numbers are "no baseline", never a regression of the disk's.
#[test]
fn fio_on_rbd_is_its_own_series_beside_the_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let rbd = fixture("fio/rbd/randwrite-seqread-rbd.json");
    let mut files: Vec<_> = (1..=8)
        .map(|n| fixture(&format!("fio/history/run-{n:02}.json")))
        .collect();
    files.push(rbd.clone());
    let (code, c) = compare_last(&archive, "openstack/cinder", "cinder-fio", &files);
    assert_eq!(code, 0, "{c:#}");
    let series = c["series"].as_array().unwrap();
    // randwrite-4k-qd32 (write) and seqread-1m (read): latency, IOPS, bandwidth.
    assert_eq!(series.len(), 6, "{c:#}");
    for s in series {
        assert_eq!(s["status"], "no_baseline", "{s:#}");
    }
    let write = verdict(&c, "write IOPS", "duration");
    assert_eq!(
        write["label"]["scenario"],
        "fio randwrite bs=4k iodepth=32 ioengine=rbd pool=volumes (randwrite-4k-qd32)",
        "{write:#}"
    );
    let (ios, directions) = fio_ios(&rbd);
    assert_eq!(directions, 2);
    let (code, out, err) = run(ingest_into(&archive)
        .args(["--project", "openstack/cinder", "--job", "cinder-fio-rbd"])
        .arg(&rbd));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("2 workloads, {ios} I/Os (0 failed)")),
        "{out}"
    );
}

#[test]
fn a_locust_slowdown_is_a_latency_regression() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    // Runs 1-8 at 20 ms, run 9 at 35 ms with more errors.
    let files: Vec<_> = (1..=9)
        .map(|n| fixture(&format!("locust/history/run-{n:02}")))
        .collect();
    let (code, c) = compare_last(&archive, "openstack/keystone", "keystone-locust", &files);
    assert_eq!(code, 1, "{c:#}");
    for action in [
        "POST keystone.issue_token",
        "GET keystone.validate_token",
        "Aggregated",
    ] {
        let v = verdict(&c, action, "duration");
        assert_eq!(v["status"], "regression", "{action}: {v:#}");
        assert_eq!(v["verdict"]["direction"], "lower_is_better");
        let pct = v["verdict"]["change_pct"].as_f64().unwrap();
        assert!(pct > 30.0, "{action}: +{pct} %");
        assert_eq!(v["label"]["rate_unit"], "requests/s");
    }
}

#[test]
fn the_site_charts_fio_and_locust_with_their_units_and_directions() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    for n in 1..=13 {
        for (project, job, file) in [
            (
                "openstack/cinder",
                "cinder-fio",
                format!("fio/history/run-{n:02}.json"),
            ),
            (
                "openstack/keystone",
                "keystone-locust",
                format!("locust/history/run-{n:02}"),
            ),
        ] {
            let (code, _, err) = run(ingest_into(&archive)
                .args(["--project", project, "--job", job, "--pipeline", "periodic"])
                .args(["--branch", "master"])
                .arg(fixture(&file)));
            assert_eq!(code, 0, "{err}");
        }
    }
    let out = dir.path().join("site");
    let (code, stdout, err) = run(perfkit()
        .arg("site")
        .arg("--archive")
        .arg(&archive)
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{stdout}{err}");

    // fio: IOPS charted in its unit, higher is better. (Whether the real,
    // noisy disk history holds a change point is the detector's call; the
    // direction of change points is tested in perfkit-schema.)
    let overview = std::fs::read_to_string(out.join("openstack~cinder/index.html")).unwrap();
    assert!(overview.contains("write IOPS") && overview.contains("write latency"));
    // (minijinja escapes `/` in text as `&#x2f;`.)
    assert!(overview.contains(" IO&#x2f;s"), "latest IOPS in its unit");
    let series_pages: Vec<_> = std::fs::read_dir(out.join("openstack~cinder/series"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let iops_page = series_pages
        .iter()
        .find(|p| p.contains("write IOPS"))
        .expect("an IOPS page");
    assert!(
        iops_page
            .contains("IO&#x2f;s per branch build, measured once per build (higher is better)")
    );
    let latency_page = series_pages
        .iter()
        .find(|p| p.contains("write latency"))
        .expect("a latency page");
    assert!(latency_page.contains("quantiles of the distribution"));
    let data: Vec<String> = std::fs::read_dir(out.join("openstack~cinder/data"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        data.iter().any(|d| d.contains(r#""unit":"IO/s""#)),
        "the chart knows the unit"
    );

    // Locust: the 20 ms → 35 ms step of validate_token is an alert.
    let feed = std::fs::read_to_string(out.join("openstack~keystone/alerts.atom")).unwrap();
    assert!(feed.contains("keystone.validate_token"), "{feed}");
    let locust_pages: Vec<_> = std::fs::read_dir(out.join("openstack~keystone/series"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        locust_pages
            .iter()
            .any(|p| p.contains("requests&#x2f;s over the load duration")),
        "Locust throughput in requests/s"
    );
}
