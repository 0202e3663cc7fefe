//! Rally parser failures (kind, JSON path, line) and inputs that are valid
//! but unusual: any chunking of the input, key-sorted files, a subtask
//! title after its workloads, a sink that refuses rows.

use std::io::Read;
use std::path::{Path, PathBuf};

use perfkit_archive::sink::{OwnedSample, SampleSink, SinkError};
use perfkit_ingest::IngestError;
use perfkit_ingest::rally::{ParseError, ParseErrorKind, ParseOptions, ParsedRun, parse};
use perfkit_schema::SampleRow;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/rally")
        .join(name)
}

fn parse_bytes(input: &[u8]) -> Result<(ParsedRun, Vec<OwnedSample>), ParseError> {
    let mut rows = Vec::new();
    let run = parse(input, &ParseOptions { job: "j" }, &mut rows)?;
    Ok((run, rows))
}

fn parse_err(input: &str) -> ParseError {
    match parse_bytes(input.as_bytes()) {
        Ok(_) => panic!("{input:?} parsed"),
        Err(e) => e,
    }
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

#[test]
fn not_rally_inputs_say_what_they_are() {
    for (input, what) in [
        ("", "an empty file"),
        ("  \n ", "an empty file"),
        ("{}", "a JSON object without `tasks`"),
        (
            r#"{"info": {"format_version": "1.2"}, "other": [1, 2]}"#,
            "a JSON object without `tasks`",
        ),
        ("[]", "an empty list"),
        (" \n[ ]\n", "an empty list"),
        ("[1, 2]", "a JSON list of numbers, not of Rally results"),
        (
            r#"[{"a": 1}]"#,
            "a JSON list of objects without Rally's `key` and `result`",
        ),
        (
            "<html><body>404</body></html>",
            "not JSON: it starts with `<` (an HTML or XML page?)",
        ),
        ("hello", "not JSON: it starts with `h`"),
        ("42", "a JSON number"),
        (r#""text""#, "a JSON string"),
    ] {
        let err = parse_err(input);
        assert_eq!(err.kind, ParseErrorKind::NotRally, "{input:?}: {err:?}");
        assert_eq!(err.message, what, "{input:?}");
    }
}

#[test]
fn wrong_shapes_are_malformed_with_a_path() {
    let err = parse_err(r#"{"info": {"format_version": "1.2"}, "tasks": 5}"#);
    assert_eq!(err.kind, ParseErrorKind::Malformed);
    assert_eq!(err.json_path, "$.tasks");
    assert!(
        err.message.contains("expected a list of tasks"),
        "{}",
        err.message
    );
    assert_eq!(err.line, 1);

    let err = parse_err(r#"{"tasks": 5}"#);
    assert_eq!(
        (err.kind, err.json_path.as_str()),
        (ParseErrorKind::Malformed, "$.tasks")
    );

    let err = parse_err(r#"{"tasks": []}"#);
    assert_eq!(
        (err.kind, err.json_path.as_str()),
        (ParseErrorKind::Malformed, "$.info")
    );
    assert_eq!(err.message, "missing field `info`");

    let err = parse_err(r#"{"info": {"rally_version": "5.1.1"}, "tasks": []}"#);
    assert_eq!(err.json_path, "$.info.format_version");

    let err = parse_err(r#"{"info": {"format_version": "1.2"}, "tasks": [{"subtasks": []}]}"#);
    assert_eq!(
        (err.json_path.as_str(), err.message.as_str()),
        ("$.tasks[0].status", "missing field `status`")
    );

    let err = parse_err("[1, {]");
    assert_eq!(err.kind, ParseErrorKind::NotRally);

    let err = parse_err(r#"{"info": {"format_version": "1.2"}, "tasks": []} trailing"#);
    assert_eq!(
        (err.kind, err.json_path.as_str()),
        (ParseErrorKind::Malformed, "$")
    );
}

#[test]
fn unknown_format_versions_are_refused_before_or_after_tasks() {
    let text = read("dev-success.report.json");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let tasks = doc["tasks"].to_string();
    for input in [
        format!(r#"{{"info": {{"format_version": "9.9"}}, "tasks": {tasks}}}"#),
        format!(r#"{{"tasks": {tasks}, "info": {{"format_version": "9.9"}}}}"#),
    ] {
        let err = parse_err(&input);
        assert_eq!(
            err.kind,
            ParseErrorKind::UnsupportedVersion {
                version: "9.9".into()
            }
        );
        assert_eq!(err.json_path, "$.info");
        let ingest = err.into_ingest_error(Path::new("report.json"));
        assert!(
            matches!(&ingest, IngestError::UnsupportedVersion { supported, .. } if supported == "`1.0`, `1.1` or `1.2`")
        );
        assert!(ingest.to_string().contains("`9.9`"), "{ingest}");
    }
    // Earlier revisions of the same shape are read (1.0 has no `contexts_results`).
    for version in ["1.0", "1.1"] {
        let mut doc = doc.clone();
        doc["info"]["format_version"] = version.into();
        doc["tasks"][0]["subtasks"][0]["workloads"][0]
            .as_object_mut()
            .unwrap()
            .remove("contexts_results");
        let (run, rows) = parse_bytes(doc.to_string().as_bytes()).unwrap();
        assert_eq!(run.format_version.as_deref(), Some(version));
        assert_eq!(rows.len(), 30);
    }
}

#[test]
fn truncated_files_name_the_place() {
    let text = read("dev-failures.report.json");
    // `statistics` (before `data`) names the actions too: cut inside `data`.
    let data = text.find("\"data\": [").unwrap();
    let cut = data + text[data..].find("\"dummy_fail_inner_test\"").unwrap();
    let err = parse_err(&text[..cut + 5]);
    assert_eq!(err.kind, ParseErrorKind::Malformed);
    assert!(
        err.message.starts_with("EOF while parsing"),
        "{}",
        err.message
    );
    assert!(
        err.json_path
            .starts_with("$.tasks[0].subtasks[0].workloads[0].data[")
            && err.json_path.contains(".atomic_actions["),
        "{}",
        err.json_path
    );
    assert_eq!(err.line, text[..cut].lines().count());
    let ingest = err.into_ingest_error(Path::new("out/report.json"));
    assert!(
        ingest
            .to_string()
            .starts_with("cannot ingest `out/report.json`: EOF while parsing"),
        "{ingest}"
    );
    assert!(ingest.hint().is_some());

    let old = read("dev-success.results.json");
    let err = parse_err(&old[..old.len() / 2]);
    assert_eq!(err.kind, ParseErrorKind::Malformed);
    assert!(
        err.json_path.starts_with("$[0].result["),
        "{}",
        err.json_path
    );
}

#[test]
fn a_missing_iteration_field_is_reported_at_its_path() {
    let mut doc: Value = serde_json::from_str(&read("dev-failures.report.json")).unwrap();
    let data = &mut doc["tasks"][0]["subtasks"][0]["workloads"][2]["data"][5];
    data.as_object_mut().unwrap().remove("duration");
    let err = parse_err(&serde_json::to_string_pretty(&doc).unwrap());
    assert_eq!(err.kind, ParseErrorKind::Malformed);
    assert_eq!(
        err.json_path,
        "$.tasks[0].subtasks[0].workloads[2].data[5].duration"
    );
    assert_eq!(err.message, "missing field `duration`");
    assert!(err.line > 1);

    let mut doc: Value = serde_json::from_str(&read("dev-success.report.json")).unwrap();
    doc["tasks"][0]["subtasks"][0]["workloads"][0]["data"][3]["atomic_actions"][0]["children"][0]
        ["finished_at"] = "soon".into();
    let err = parse_err(&doc.to_string());
    assert_eq!(
        err.json_path,
        "$.tasks[0].subtasks[0].workloads[0].data[3].atomic_actions[0].children[0].finished_at"
    );
    assert!(err.message.contains("expected a number"), "{}", err.message);
}

/// Yields one byte per read.
struct OneByte<'a>(&'a [u8]);

impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some((&first, rest)) = self.0.split_first() else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = first;
        self.0 = rest;
        Ok(1)
    }
}

#[test]
fn one_byte_reads_give_the_same_result() {
    for name in ["dev-output-hooks.report.json", "dev-failures.results.json"] {
        let text = read(name);
        let whole = parse_bytes(text.as_bytes()).unwrap();
        let mut rows = Vec::new();
        let run = parse(
            OneByte(text.as_bytes()),
            &ParseOptions { job: "j" },
            &mut rows,
        )
        .unwrap();
        assert_eq!((run, rows), whole, "{name}");
    }
}

#[test]
fn key_sorted_files_give_the_same_rows() {
    // serde_json's Map is sorted: this is the file as `jq -S` writes it,
    // with `data` before `scenario` and atomic `children` before `name`.
    for name in [
        "dev-failures.report.json",
        "dev-success-x2.report.json",
        "dev-failures.results.json",
    ] {
        let text = read(name);
        let doc: Value = serde_json::from_str(&text).unwrap();
        let sorted = serde_json::to_string(&doc).unwrap();
        assert!(
            name.ends_with("results.json") || sorted.find("\"data\"") < sorted.find("\"scenario\"")
        );
        assert_eq!(
            parse_bytes(sorted.as_bytes()).unwrap(),
            parse_bytes(text.as_bytes()).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn a_subtask_title_after_its_workloads_still_names_them() {
    let text = read("dev-failures.report.json");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let sub = &doc["tasks"][0]["subtasks"][0];
    let moved = format!(
        r#"{{"info": {}, "tasks": [{{"status": "finished", "subtasks": [{{"workloads": {}, "title": {}}}]}}]}}"#,
        doc["info"], sub["workloads"], sub["title"]
    );
    let (run_moved, rows_moved) = parse_bytes(moved.as_bytes()).unwrap();
    let (run, rows) = parse_bytes(text.as_bytes()).unwrap();
    assert_eq!(rows_moved, rows);
    let keys = |r: &ParsedRun| {
        r.workloads
            .iter()
            .map(|w| (w.workload_key.clone(), w.subtask_title.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&run_moved), keys(&run));
}

#[test]
fn repeated_subtask_titles_get_distinct_keys() {
    let doc: Value = serde_json::from_str(&read("dev-success.report.json")).unwrap();
    let sub = doc["tasks"][0]["subtasks"][0].clone();
    let mut doc2 = doc.clone();
    doc2["tasks"][0]["subtasks"] = Value::Array(vec![sub.clone(), sub]);
    let (run, rows) = parse_bytes(doc2.to_string().as_bytes()).unwrap();
    let [a, b] = &run.workloads[..] else { panic!() };
    assert_ne!(a.workload_key, b.workload_key);
    assert_eq!(a.config_hash, b.config_hash);
    assert_eq!((a.subtask_index, b.subtask_index), (0, 1));
    assert_eq!(
        rows.iter()
            .filter(|r| r.workload_key == b.workload_key)
            .count(),
        30
    );
}

struct Refusing {
    accepted: usize,
}

impl SampleSink for Refusing {
    fn push(&mut self, _row: &SampleRow<'_>) -> Result<(), SinkError> {
        if self.accepted == 7 {
            return Err(SinkError("disk full".into()));
        }
        self.accepted += 1;
        Ok(())
    }
}

#[test]
fn a_sink_error_stops_the_parse() {
    for name in ["dev-success.report.json", "dev-success.results.json"] {
        let file = std::fs::File::open(fixture(name)).unwrap();
        let mut sink = Refusing { accepted: 0 };
        let err = parse(file, &ParseOptions::default(), &mut sink).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Sink);
        assert!(err.message.contains("disk full"));
        assert!(
            err.json_path.contains("data[") || err.json_path.contains("result["),
            "{}",
            err.json_path
        );
        assert!(matches!(
            err.into_ingest_error(Path::new("x")),
            IngestError::Archive(perfkit_archive::ArchiveError::Encode { .. })
        ));
    }
}

#[test]
fn old_format_null_actions_and_repeats() {
    let input = r#"[{"key": {"name": "S.s", "pos": 0, "kw": {"args": {}, "runner": {"type": "serial", "times": 1},
        "context": {}, "sla": {}, "hooks": []}},
      "result": [{"duration": 2.0, "timestamp": 10.0, "idle_duration": 0.5, "error": [],
                  "atomic_actions": {"a": 1.0, "a (2)": null, "a (3)": 0.25, "b (2)": 0.5}}],
      "sla": [], "hooks": [], "load_duration": 3.0, "full_duration": 4.0}]"#;
    let (run, rows) = parse_bytes(input.as_bytes()).unwrap();
    let shape: Vec<_> = rows
        .iter()
        .map(|r| (r.action.as_str(), r.occurrence, r.duration_s))
        .collect();
    // `a (2)` never finished: no row, but `a (3)` is still the third `a`.
    assert_eq!(
        shape,
        [
            ("total", 0, 2.5),
            ("a", 0, 1.0),
            ("a", 2, 0.25),
            ("b (2)", 0, 0.5)
        ]
    );
    let w = &run.workloads[0];
    assert_eq!(
        (w.runner_type.as_str(), w.runner_json.as_str()),
        ("serial", r#"{"times":1}"#)
    );
    assert_eq!(w.start_time_us, Some(10_000_000));
    assert!(w.pass_sla);
    assert_eq!(run.finished_at_us, Some(12_500_000));
}

#[test]
fn non_finite_numbers_are_read_where_numbers_are_expected() {
    let input = r#"[{"key": {"name": "S.s", "pos": 0, "kw": {"runner": {"type": "serial"}}},
      "result": [{"duration": NaN, "timestamp": 10.0, "atomic_actions": {"a": Infinity}, "error": null}],
      "sla": [{"criterion": "x", "success": true, "detail": "NaN Infinity"}], "load_duration": -Infinity}]"#;
    let (run, rows) = parse_bytes(input.as_bytes()).unwrap();
    assert!(rows[0].duration_s.is_nan());
    assert_eq!(rows[1].duration_s, f64::INFINITY);
    assert_eq!(run.workloads[0].load_duration_s, Some(f64::NEG_INFINITY));
    assert_eq!(
        run.workloads[0].duration, None,
        "NaN durations are left out of the statistics"
    );
    assert!(run.workloads[0].sla_results_json.contains("NaN Infinity"));
}
