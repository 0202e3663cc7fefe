//! The archive is readable by others: DuckDB (from PyPI) reads it with
//! `hive_partitioning=true`, decodes `project=openstack%2Fnova` and types
//! change/patchset as integers, and its row counts match an independent
//! Python reading of the source JSON (`tests/tools/rally_counts.py`).

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
src = lambda t: f"read_parquet('{root}/v1/{t}/**/*.parquet', hive_partitioning=true, union_by_name=true)"
con = duckdb.connect()
out = {}
out["builds"] = [
    dict(zip(["project", "change", "patchset", "change_type", "patchset_type", "source_file", "iterations", "failed"], r))
    for r in con.sql(f"SELECT project, change, patchset, typeof(change), typeof(patchset), source_file, iteration_count, failed_iteration_count FROM {src('builds')} ORDER BY source_file").fetchall()
]
out["samples"] = dict(con.sql(f"SELECT b.source_file, count(*) FROM {src('samples')} s JOIN {src('builds')} b USING (build_id) GROUP BY ALL").fetchall())
out["totals"] = dict(con.sql(f"SELECT b.source_file, count(*) FILTER (WHERE s.action = 'total') FROM {src('samples')} s JOIN {src('builds')} b USING (build_id) GROUP BY ALL").fetchall())
out["workloads"] = dict(con.sql(f"SELECT b.source_file, count(*) FROM {src('workloads')} w JOIN {src('builds')} b USING (build_id) GROUP BY ALL").fetchall())
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
            .arg(fixture(file)));
        assert_eq!(code, 0, "{file}: {err}");
    }
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
