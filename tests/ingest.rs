//! End-to-end tests of `perfkit ingest` and `perfkit ls` on real Rally
//! fixtures with a local archive in a temporary directory.

mod common;

use common::{fixture, ingest_into, perfkit, run, tree};

fn builds_in(archive: &std::path::Path) -> Vec<String> {
    tree(archive)
        .into_iter()
        .filter(|p| p.starts_with("v2/builds/"))
        .collect()
}

#[test]
fn ingest_twice_is_idempotent_and_replace_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let args = [
        "ingest",
        "--archive",
        archive.to_str().unwrap(),
        "--project",
        "openstack/nova",
        "--change",
        "912345",
        "--patchset",
        "3",
        "--build",
        "5f2c1e0a9b8d4c3e8f7a6b5c4d3e2f1a",
        "--pipeline",
        "check",
        "--job",
        "nova-rally-task",
    ];
    let report = fixture("rally/dev-failures.report.json");
    let (code, out, err) = run(perfkit().args(args).arg(&report));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("archived openstack/nova change 912345 patchset 3"),
        "{out}"
    );
    assert!(
        out.contains("3 workloads, 31 iterations (11 failed), SLA FAILED"),
        "{out}"
    );
    let files = tree(&archive);
    let build_dir =
        "project=openstack%2Fnova/change=912345/patchset=3/build=5f2c1e0a9b8d4c3e8f7a6b5c4d3e2f1a";
    for table in ["samples", "workloads", "series"] {
        let prefix = format!("v2/{table}/{build_dir}/attempt=0-");
        assert_eq!(
            files.iter().filter(|f| f.starts_with(&prefix)).count(),
            1,
            "{files:?}"
        );
    }
    assert!(
        files.contains(&format!("v2/builds/{build_dir}/attempt=0.parquet")),
        "{files:?}"
    );
    assert_eq!(
        files
            .iter()
            .filter(|f| f.starts_with("v2/index/project=openstack%2Fnova/segments/"))
            .count(),
        1,
        "{files:?}"
    );
    let before: Vec<_> = files
        .iter()
        .map(|f| std::fs::read(archive.join(f)).unwrap())
        .collect();

    let (code, out, _) = run(perfkit().args(args).arg(&report));
    assert_eq!(code, 0);
    assert!(
        out.contains("already in the archive, nothing written"),
        "{out}"
    );
    let after: Vec<_> = files
        .iter()
        .map(|f| std::fs::read(archive.join(f)).unwrap())
        .collect();
    assert_eq!(before, after, "a second ingest must not touch the archive");
    assert_eq!(tree(&archive), files);

    // Replace commits attempt 1 beside attempt 0, which is never touched.
    let (code, out, _) = run(perfkit().args(args).arg("--replace").arg(&report));
    assert_eq!(code, 0);
    assert!(out.contains("replaced openstack/nova"), "{out}");
    let replaced = tree(&archive);
    for (file, bytes) in files.iter().zip(&before) {
        assert_eq!(&std::fs::read(archive.join(file)).unwrap(), bytes, "{file}");
    }
    let new: Vec<&String> = replaced.iter().filter(|f| !files.contains(f)).collect();
    assert_eq!(
        new.len(),
        5,
        "three data objects, the commit, a segment: {new:?}"
    );
    assert!(
        new.iter()
            .any(|f| f.ends_with(&format!("{build_dir}/attempt=1.parquet"))),
        "{new:?}"
    );
    let (_, listed, _) = run(perfkit().args(["ls", "--json", "--archive"]).arg(&archive));
    assert_eq!(listed.lines().count(), 1, "{listed}");
}

#[test]
fn without_a_build_id_the_content_decides() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let ingest = |file: &str| {
        run(ingest_into(&archive)
            .args(["--project", "nova"])
            .arg(fixture(file)))
    };
    assert_eq!(ingest("rally/dev-success.report.json").0, 0);
    let (code, out, _) = ingest("rally/dev-success.report.json");
    assert_eq!(code, 0);
    assert!(out.contains("already in the archive"), "{out}");
    assert_eq!(ingest("rally/dev-success.results.json").0, 0);
    let builds = builds_in(&archive);
    assert_eq!(builds.len(), 2, "{builds:?}");
    assert!(
        builds
            .iter()
            .all(|b| b.contains("project=openstack%2Fnova/change=0/patchset=0/")),
        "{builds:?}"
    );
}

#[test]
fn bad_files_fail_alone_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let good = fixture("rally/dev-success.report.json");
    let text = std::fs::read_to_string(&good).unwrap();
    let cases = [
        ("truncated.json", text[..text.len() / 2].to_string(), "line"),
        ("notes.txt", "this is not json".to_string(), "notes.txt"),
        (
            "object.json",
            r#"{"hello": "world"}"#.to_string(),
            "not a Rally, Locust or fio result",
        ),
        (
            "future.json",
            text.replace(r#""format_version": "1.2""#, r#""format_version": "9.9""#),
            "`9.9` is not supported",
        ),
    ];
    for (name, content, expected) in &cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let (code, out, err) = run(ingest_into(&archive)
            .args(["--project", "openstack/nova"])
            .arg(&path));
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(
            err.contains(name) && err.contains(expected),
            "{name}: {err}"
        );
        assert!(
            err.lines().any(|l| l.starts_with("hint: ")),
            "{name}: {err}"
        );
        assert!(
            builds_in(&archive).is_empty(),
            "{name} left a visible build"
        );
    }
    // A missing file and a bad one among good ones: the good one is archived, exit 2.
    let (code, out, err) = run(ingest_into(&archive)
        .args(["--project", "openstack/nova"])
        .arg(dir.path().join("missing.json"))
        .arg(dir.path().join("object.json"))
        .arg(&good));
    assert_eq!(code, 2);
    assert!(err.contains("missing.json"), "{err}");
    assert!(err.contains("2 of 3 files failed"), "{err}");
    assert!(out.contains("archived openstack/nova"), "{out}");
    assert_eq!(builds_in(&archive).len(), 1);
}

#[test]
fn unwritable_archive_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let (code, _, err) = run(perfkit()
        .args(["ingest", "--project", "openstack/nova", "--archive"])
        .arg(blocker.join("archive"))
        .arg(fixture("rally/dev-success.report.json")));
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("hint: "), "{err}");
}

#[test]
fn zuul_vars_key_change_and_branch_builds() {
    // The example variable sets are hand-written and share build uuids, so
    // each goes into its own archive.
    let dir = tempfile::tempdir().unwrap();
    for kind in ["change", "periodic", "post", "tag"] {
        let archive = dir.path().join(kind);
        let vars = fixture(&format!("zuul-vars/{kind}.yaml"));
        let (code, out, err) = run(ingest_into(&archive)
            .args(["--zuul-vars"])
            .arg(&vars)
            .arg(fixture("rally/dev-success.report.json")));
        assert_eq!(code, 0, "{kind}: {err}");
        assert!(out.contains("archived openstack/nova"), "{kind}: {out}");

        let text = std::fs::read_to_string(&vars).unwrap();
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("  {key}: ")))
                .map(|v| v.trim().trim_matches('"').to_string())
        };
        let builds = builds_in(&archive);
        let partition = match (value("change"), value("patchset")) {
            (Some(c), Some(p)) => format!("/change={c}/patchset={p}/"),
            _ => "/change=0/patchset=0/".to_string(),
        };
        let build = value("build").unwrap();
        assert_eq!(builds.len(), 1, "{kind}: {builds:?}");
        assert!(
            builds[0].contains(&partition)
                && builds[0].ends_with(&format!("build={build}/attempt=0.parquet")),
            "{kind}: {builds:?}"
        );

        let (code, out, _) =
            run(perfkit().args(["ls", "--archive", archive.to_str().unwrap(), "--json"]));
        assert_eq!(code, 0);
        let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            row["pipeline"].as_str(),
            value("pipeline").as_deref(),
            "{kind}"
        );
        assert_eq!(row["job"].as_str(), value("job").as_deref(), "{kind}");
        assert_eq!(row["ref"].as_str(), value("ref").as_deref(), "{kind}");
        assert_eq!(row["branch"].as_str(), value("branch").as_deref(), "{kind}");
    }
}

#[test]
fn ls_shows_what_is_archived() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let (code, _, missing) = run(perfkit().args(["ls", "--archive", archive.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert!(missing.contains("no archive at"), "{missing}");
    assert!(!archive.exists(), "ls must not create an archive");
    std::fs::create_dir_all(&archive).unwrap();
    let (code, _, empty) = run(perfkit().args(["ls", "--archive", archive.to_str().unwrap()]));
    assert_eq!(code, 0);
    assert!(empty.contains("no builds"), "{empty}");
    run(ingest_into(&archive)
        .args([
            "--project",
            "openstack/cinder",
            "--change",
            "42",
            "--patchset",
            "7",
            "--pipeline",
            "check",
            "--job",
            "cinder-rally-task",
        ])
        .arg(fixture("rally/dev-failures.report.json")));
    let (code, out, err) = run(perfkit().args([
        "ls",
        "--archive",
        archive.to_str().unwrap(),
        "--project",
        "cinder",
    ]));
    assert_eq!(code, 0, "{err}");
    let line = out.lines().nth(1).unwrap_or_default();
    for expected in [
        "openstack/cinder",
        "42",
        "7",
        "check",
        "cinder-rally-task",
        "31",
        "11",
        "FAIL",
    ] {
        assert!(line.contains(expected), "{expected} missing in {line}");
    }
    let (_, other, _) = run(perfkit().args([
        "ls",
        "--archive",
        archive.to_str().unwrap(),
        "--project",
        "nova",
    ]));
    assert!(other.is_empty(), "{other}");
}

#[test]
fn several_files_of_one_build_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(
        fixture("rally/dev-success.report.json"),
        a.join("report.json"),
    )
    .unwrap();
    std::fs::copy(
        fixture("rally/dev-failures.report.json"),
        b.join("report.json"),
    )
    .unwrap();
    let ingest = |files: &[&std::path::Path]| {
        run(ingest_into(&archive)
            .args(["--project", "nova", "--build", "abc"])
            .args(files))
    };
    let (code, out, err) = ingest(&[&a.join("report.json"), &b.join("report.json")]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches(": archived openstack/nova").count(), 2, "{out}");
    assert_eq!(builds_in(&archive).len(), 2);
    // Same files again: nothing new. One of them alone under the bare build
    // id, then another file for that id: a conflict, not a silent skip.
    let (code, out, _) = ingest(&[&a.join("report.json"), &b.join("report.json")]);
    assert_eq!(
        (code, out.matches("already in the archive").count()),
        (0, 2),
        "{out}"
    );
    assert_eq!(ingest(&[&a.join("report.json")]).0, 0);
    let (code, _, err) = ingest(&[&b.join("report.json")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already archived from a different file") && err.contains("--replace"),
        "{err}"
    );
}

#[test]
fn flags_that_contradict_zuul_vars_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    for (vars, flags, expected) in [
        (
            "change.yaml",
            vec!["--change", "7", "--patchset", "2"],
            "`--change 7` contradicts",
        ),
        (
            "periodic.yaml",
            vec!["--change", "5", "--patchset", "1"],
            "build without a change",
        ),
        (
            "change.yaml",
            vec!["--pipeline", "periodic"],
            "`--pipeline periodic` contradicts",
        ),
    ] {
        let (code, _, err) = run(ingest_into(&archive)
            .args(["--zuul-vars"])
            .arg(fixture(&format!("zuul-vars/{vars}")))
            .args(&flags)
            .arg(fixture("rally/dev-success.report.json")));
        assert_eq!(code, 2, "{vars} {flags:?}: {err}");
        assert!(err.contains(expected) && err.contains("hint: "), "{err}");
    }
    assert!(!archive.exists() || builds_in(&archive).is_empty());
}

#[test]
fn credentials_come_from_an_env_file_and_are_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let env_file = dir.path().join("archive.env");
    std::fs::write(
        &env_file,
        format!("# settings\nPERFKIT_ARCHIVE={}\n", archive.display()),
    )
    .unwrap();
    let (code, out, err) = run(perfkit()
        .args(["ingest", "--project", "nova", "--env-file"])
        .arg(&env_file)
        .arg(fixture("rally/dev-success.report.json")));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("archived"), "{out}");
    assert_eq!(builds_in(&archive).len(), 1);

    std::fs::write(
        &env_file,
        "PERFKIT_ARCHIVE=s3://bucket/p\nAWS_SECRET_ACESS_KEY=hunter2\n",
    )
    .unwrap();
    let (code, _, err) = run(perfkit()
        .args(["ingest", "--project", "nova", "--env-file"])
        .arg(&env_file)
        .arg(fixture("rally/dev-success.report.json")));
    assert_eq!(code, 2);
    // Named by its line: a key the store does not take may be the wrapped
    // tail of a secret, so no text of the line is shown.
    assert!(
        err.contains("line 2") && !err.contains("hunter2") && !err.contains("ACESS"),
        "{err}"
    );

    for url in ["s3://KEY:hunter2@bucket/p", "s3:/KEY:hunter2@bucket"] {
        let (code, _, err) = run(perfkit()
            .args(["ingest", "--project", "nova", "--archive", url])
            .arg(fixture("rally/dev-success.report.json")));
        assert_eq!(code, 2, "{url}");
        assert!(!err.contains("hunter2"), "{url}: {err}");
    }
}

#[test]
fn control_characters_in_reports_do_not_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("rally/dev-success.report.json")).unwrap();
    let crafted = dir.path().join("crafted.json");
    std::fs::write(
        &crafted,
        text.replace("\"Dummy.dummy\"", "\"Dummy.du\\u001b[31mmmy\""),
    )
    .unwrap();
    let (code, out, err) = run(ingest_into(&dir.path().join("a"))
        .args(["--project", "nova"])
        .arg(&crafted));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("Dummy.du\\u{1b}[31mmmy"), "{out}");
}

/// Two `perfkit ingest` processes of one build id with different results,
/// started together, ten times: exactly one archives it; the other fails
/// with a conflict (exit 2) and leaves nothing visible; what readers see is
/// the winner's build whole (its iteration count, its file's digest).
#[test]
fn racing_ingests_of_one_build_leave_the_winner_intact() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("rally/dev-success.report.json", 10),
        ("rally/dev-failures.report.json", 31),
    ];
    for round in 0..10 {
        let archive = dir.path().join(format!("archive-{round}"));
        let spawn = |file: &str| {
            ingest_into(&archive)
                .args(["--project", "openstack/nova", "--build", "raced"])
                .arg(fixture(file))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let children = [spawn(files[0].0), spawn(files[1].0)];
        let outputs: Vec<std::process::Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let codes: Vec<i32> = outputs.iter().map(|o| o.status.code().unwrap()).collect();
        let winner = codes.iter().position(|&c| c == 0).expect("one archives it");
        let loser = &outputs[1 - winner];
        assert_eq!(codes[1 - winner], 2, "round {round}: {codes:?}");
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(
            err.contains("already archived from a different file")
                || err.contains("is archived from other bytes"),
            "round {round}: {err}"
        );
        let (code, out, err) = run(perfkit().args(["ls", "--json", "--archive"]).arg(&archive));
        assert_eq!(code, 0, "{err}");
        let rows: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 1, "round {round}: {out}");
        assert_eq!(rows[0]["iterations"], files[winner].1, "round {round}");
        // The committed attempt's data objects are the winner's: its
        // `series` rows count the winner's iterations.
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store = perfkit_archive::Archive::open(archive.to_str().unwrap()).unwrap();
        let listed = rt.block_on(store.list_builds(None)).unwrap();
        let build = rt
            .block_on(perfkit_archive::history::load_build(&store, &listed[0]))
            .unwrap();
        let iterations: u64 = build
            .series
            .iter()
            .filter(|s| s.action == "total")
            .map(|s| s.samples)
            .sum();
        assert_eq!(iterations, files[winner].1, "round {round}");
        let commits = tree(&archive)
            .into_iter()
            .filter(|p| p.starts_with("v2/builds/") && p.ends_with(".parquet"))
            .count();
        assert_eq!(commits, 1, "round {round}");
    }
}
