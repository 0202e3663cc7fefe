//! The archive is readable by others: DuckDB (from PyPI) reads it with
//! `hive_partitioning=true`, decodes `project=openstack%2Fnova` and types
//! change/patchset as integers, and its row counts match an independent
//! Python reading of the source JSON (`tests/tools/rally_counts.py`). The
//! README's query reads each build's newest attempt only: a build replaced
//! by another result and the leftovers of a writer that died are not read.

mod common;

use std::process::Command;

use common::{fixture, ingest_into, run, tool};

const FILES: [&str; 5] = [
    "rally/dev-success.report.json",
    "rally/dev-failures.report.json",
    "rally/dev-output-hooks.report.json",
    "rally/dev-sla-v1.report.json",
    "rally/dev-failures.results.json",
];

const QUERY: &str = r#"
import duckdb, json, sys
root = sys.argv[1]
src = lambda t: f"read_parquet('{root}/v2/{t}/**/*.parquet', hive_partitioning=true, union_by_name=true, filename=true)"
con = duckdb.connect()
# The README's view of builds: each build's newest attempt.
con.sql(f"""CREATE VIEW newest AS SELECT * FROM {src('builds')}
            QUALIFY attempt = max(attempt) OVER (PARTITION BY project, build_id)""")
one = lambda t: f"""(SELECT x.* FROM {src(t)} x JOIN newest b ON x.build_id = b.build_id
                    AND x.filename LIKE '%/attempt=' || b.attempt || '-' || b.token || '.parquet')"""
out = {}
out["builds"] = [
    dict(zip(["project", "change", "patchset", "change_type", "patchset_type", "source_file", "iterations", "failed"], r))
    for r in con.sql("SELECT project, change, patchset, typeof(change), typeof(patchset), source_file, iteration_count, failed_iteration_count FROM newest ORDER BY source_file").fetchall()
]
out["samples"] = dict(con.sql(f"SELECT b.source_file, count(*) FROM {one('samples')} s JOIN newest b USING (build_id) GROUP BY ALL").fetchall())
out["totals"] = dict(con.sql(f"SELECT b.source_file, count(*) FILTER (WHERE s.action = 'total') FROM {one('samples')} s JOIN newest b USING (build_id) GROUP BY ALL").fetchall())
out["workloads"] = dict(con.sql(f"SELECT b.source_file, count(*) FROM {one('workloads')} w JOIN newest b USING (build_id) GROUP BY ALL").fetchall())
out["all_attempts"] = con.sql(f"SELECT count(*) FROM {src('builds')}").fetchall()[0][0]
print(json.dumps(out))
"#;

#[test]
fn duckdb_reads_what_perfkit_wrote() {
    let Some(python) = tool("PERFKIT_TOOLS_BIN", "python") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    for (i, file) in FILES.iter().enumerate() {
        let (code, _, err) = run(ingest_into(&archive)
            .args(["--project", "openstack/nova"])
            .args(["--change", "912345", "--patchset", &(i + 1).to_string()])
            .args(["--build", &format!("build{i}")])
            .arg(fixture(file)));
        assert_eq!(code, 0, "{file}: {err}");
    }
    // Patchset 1's build is first archived from another report, then
    // replaced: its attempt 0 stays, and must not be read.
    let replaced = dir.path().join("replaced");
    std::fs::create_dir_all(&replaced).unwrap();
    for (file, replace) in [("rally/dev-sla-v1.report.json", false), (FILES[0], true)] {
        let (code, _, err) = run(ingest_into(&replaced)
            .args([
                "--project",
                "openstack/nova",
                "--change",
                "912345",
                "--patchset",
                "1",
            ])
            .args(["--build", "build0"])
            .args(replace.then_some("--replace"))
            .arg(fixture(file)));
        assert_eq!(code, 0, "{file}: {err}");
    }
    copy_tree(&replaced, &archive, "build=build0");
    // A writer that died before its commit left a data object behind.
    let orphan_dir =
        archive.join("v2/workloads/project=openstack%2Fnova/change=912345/patchset=2/build=build1");
    let committed = std::fs::read_dir(&orphan_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(
        &committed,
        orphan_dir.join("attempt=0-00000000deadbeef.parquet"),
    )
    .unwrap();
    let output = Command::new(&python)
        .args(["-c", QUERY])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let builds = got["builds"].as_array().unwrap();
    assert_eq!(builds.len(), FILES.len());
    assert_eq!(
        got["all_attempts"],
        FILES.len() + 1,
        "build0 has two attempts"
    );
    for b in builds {
        assert_eq!(b["project"], "openstack/nova", "{b}");
        assert_eq!(b["change"], 912345);
        assert!(
            matches!(b["change_type"].as_str(), Some("BIGINT" | "INTEGER")),
            "{b}"
        );
        assert!(
            matches!(b["patchset_type"].as_str(), Some("BIGINT" | "INTEGER")),
            "{b}"
        );
    }
    for file in FILES {
        let name = file.rsplit('/').next().unwrap();
        let oracle = Command::new(&python)
            .arg(fixture("../tools/rally_counts.py"))
            .arg(fixture(file))
            .output()
            .unwrap();
        assert!(
            oracle.status.success(),
            "{}",
            String::from_utf8_lossy(&oracle.stderr)
        );
        let expected: serde_json::Value = serde_json::from_slice(&oracle.stdout).unwrap();
        assert_eq!(
            got["samples"][name], expected["sample_rows"],
            "sample rows of {name}"
        );
        assert_eq!(
            got["totals"][name], expected["iterations"],
            "iterations of {name}"
        );
        assert_eq!(
            got["workloads"][name], expected["workloads"],
            "workloads of {name}"
        );
        let build = builds.iter().find(|b| b["source_file"] == name).unwrap();
        assert_eq!(build["iterations"], expected["iterations"], "{name}");
        assert_eq!(build["failed"], expected["failed_iterations"], "{name}");
    }
}

/// Replaces `to`'s objects of the build directories named `build_dir` with
/// `from`'s (the same relative paths), leaving everything else.
fn copy_tree(from: &std::path::Path, to: &std::path::Path, build_dir: &str) {
    for table in ["builds", "samples", "workloads", "series"] {
        let rel =
            format!("v2/{table}/project=openstack%2Fnova/change=912345/patchset=1/{build_dir}");
        let (src, dst) = (from.join(&rel), to.join(&rel));
        std::fs::remove_dir_all(&dst).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
        }
    }
}
