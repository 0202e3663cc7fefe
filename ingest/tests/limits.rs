//! The limits of `perfkit_ingest::limits`: a report past one is refused
//! with an error naming the place and the limit; one just below it (far
//! larger than any real report) parses to the right counts. Behaviour
//! only: how fast is `tests/bench/pathological`'s business.

use std::fmt::Write as _;
use std::path::Path;

use perfkit_archive::sink::{CountingSink, OwnedSample};
use perfkit_ingest::IngestError;
use perfkit_ingest::limits::{
    MAX_ACTION_DEPTH, MAX_ACTION_NAME_BYTES, MAX_ACTIONS_PER_ITERATION,
    MAX_DISTINCT_ACTIONS_PER_ITERATION, MAX_SERIES, MAX_SUBTASKS, MAX_TASKS, MAX_WORKLOADS,
};
use perfkit_ingest::rally::{ParseError, ParseErrorKind, ParseOptions, ParsedRun, parse_slice};

const WORKLOAD_HEAD: &str = r#""scenario": {"Dummy.dummy": {}}, "runner": {"serial": {"times": 1}}, "sla_results": {"sla": []}"#;

/// A v2 report with one task and subtask, and `workloads` (JSON texts).
fn report(workloads: &[String]) -> String {
    format!(
        r#"{{"info": {{"format_version": "1.2"}}, "tasks": [{{"status": "finished", "subtasks": [{{"title": "t", "workloads": [{}]}}]}}]}}"#,
        workloads.join(",")
    )
}

/// A workload with `iterations` (each the JSON text of its atomic actions).
fn workload(iterations: &[String]) -> String {
    let data: Vec<String> = iterations
        .iter()
        .enumerate()
        .map(|(i, actions)| {
            format!(
                r#"{{"duration": 1.0, "timestamp": {}, "idle_duration": 0.0, "error": [], "atomic_actions": {actions}}}"#,
                1000 + i
            )
        })
        .collect();
    format!("{{{WORKLOAD_HEAD}, \"data\": [{}]}}", data.join(","))
}

/// A v2 atomic action with `children` (JSON texts).
fn action(name: &str, children: &[String]) -> String {
    format!(
        r#"{{"name": {}, "started_at": 1.0, "finished_at": 1.5, "children": [{}]}}"#,
        serde_json::Value::from(name),
        children.join(",")
    )
}

/// `[a0, a1, …]`: `n` distinct top-level actions named `prefix` + i.
fn distinct(prefix: &str, n: usize) -> String {
    let mut out = String::from("[");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        write!(
            out,
            r#"{{"name": "{prefix}{i}", "started_at": 1.0, "finished_at": 1.5, "children": []}}"#
        )
        .unwrap();
    }
    out.push(']');
    out
}

fn parse_text(text: &str) -> Result<(ParsedRun, u64), ParseError> {
    let mut sink = CountingSink::default();
    let run = parse_slice(text.as_bytes(), &ParseOptions { job: "j" }, &mut sink)?;
    Ok((run, sink.rows))
}

/// The limit error `text` must give, at `json_path`, naming `limit`.
fn refused(text: &str, json_path: &str, limit: &str) -> ParseError {
    let err = match parse_text(text) {
        Ok((run, rows)) => panic!("parsed: {} workloads, {rows} rows", run.workloads.len()),
        Err(e) => e,
    };
    assert_eq!(err.kind, ParseErrorKind::OverLimit, "{err}");
    assert_eq!(err.json_path, json_path, "{err}");
    assert!(err.message.contains(limit), "{limit:?} not in {err}");
    assert!(err.message.contains("perfkit's limit"), "{err}");
    assert!(err.line > 0 && err.column > 0, "{err:?}");
    err
}

#[test]
fn many_distinct_actions_up_to_the_limit_parse() {
    // Each iteration names the same actions: occurrences start again per
    // iteration, rows keep their paths.
    let n = MAX_DISTINCT_ACTIONS_PER_ITERATION;
    let actions = distinct("action.", n);
    let text = report(&[workload(&[actions.clone(), actions.clone(), actions])]);
    let mut rows: Vec<OwnedSample> = Vec::new();
    let run = parse_slice(text.as_bytes(), &ParseOptions { job: "j" }, &mut rows).unwrap();
    assert_eq!(run.iteration_count, 3);
    assert_eq!(rows.len(), 3 * (n + 1));
    let second = &rows[n + 1..2 * (n + 1)];
    assert_eq!(second[0].action, "total");
    assert_eq!(second[1].action, "action.0");
    assert_eq!(second[n].action, format!("action.{}", n - 1));
    assert!(rows.iter().all(|r| r.occurrence == 0));
}

#[test]
fn too_many_distinct_actions_in_an_iteration() {
    let actions = distinct("a", MAX_DISTINCT_ACTIONS_PER_ITERATION + 1);
    let text = report(&[workload(&["[]".into(), actions])]);
    refused(
        &text,
        "$.tasks[0].subtasks[0].workloads[0].data[1]",
        "more than 10,000 distinct atomic actions in one iteration",
    );
}

#[test]
fn repeats_count_towards_the_actions_of_an_iteration() {
    // Repeats of one name are fine up to the limit, and counted.
    let one = r#"{"name": "x", "started_at": 1.0, "finished_at": 1.5, "children": []}"#;
    let many = |n: usize| format!("[{}]", vec![one; n].join(","));
    let text = report(&[workload(&[many(MAX_ACTIONS_PER_ITERATION)])]);
    let (run, rows) = parse_text(&text).unwrap();
    assert_eq!(
        (run.iteration_count, rows),
        (1, MAX_ACTIONS_PER_ITERATION as u64 + 1)
    );

    let text = report(&[workload(&[many(MAX_ACTIONS_PER_ITERATION + 1)])]);
    refused(
        &text,
        "$.tasks[0].subtasks[0].workloads[0].data[0].atomic_actions[100000]",
        "more than 100,000 atomic actions in one iteration",
    );
}

/// One chain of actions `depth` deep.
fn chain(depth: usize, name: &str) -> String {
    let mut inner: Vec<String> = Vec::new();
    for _ in 0..depth {
        inner = vec![action(name, &inner)];
    }
    format!("[{}]", inner.join(","))
}

#[test]
fn nesting_depth() {
    let depth = usize::from(MAX_ACTION_DEPTH);
    let (_, rows) = parse_text(&report(&[workload(&[chain(depth, "n")])])).unwrap();
    assert_eq!(rows, depth as u64 + 1);

    let text = report(&[workload(&[chain(depth + 1, "n")])]);
    let deepest = ".atomic_actions[0]".to_string() + &".children[0]".repeat(depth);
    refused(
        &text,
        &format!("$.tasks[0].subtasks[0].workloads[0].data[0]{deepest}"),
        "atomic actions nested more than 32 levels deep",
    );
}

#[test]
fn long_names_and_paths() {
    let name = "n".repeat(MAX_ACTION_NAME_BYTES);
    let (_, rows) = parse_text(&report(&[workload(&[chain(1, &name)])])).unwrap();
    assert_eq!(rows, 2);

    let longer = "n".repeat(MAX_ACTION_NAME_BYTES + 1);
    refused(
        &report(&[workload(&[chain(1, &longer)])]),
        "$.tasks[0].subtasks[0].workloads[0].data[0].atomic_actions[0].name",
        "an atomic action name of 1,025 bytes, more than 1,024",
    );
    // Old format: the name is the key; the path stops before it.
    let old = format!(
        r#"[{{"key": {{"name": "Dummy.dummy", "pos": 0, "kw": {{"runner": {{"type": "serial"}}}}}}, "sla": [], "result": [{{"duration": 1, "timestamp": 1, "error": [], "atomic_actions": {{"{longer}": 1.0}}}}]}}]"#
    );
    refused(
        &old,
        "$[0].result[0].atomic_actions",
        "an atomic action name of 1,025 bytes",
    );

    // Four levels of 1,024 bytes: a path of 4,105 bytes.
    refused(
        &report(&[workload(&[chain(4, &name)])]),
        "$.tasks[0].subtasks[0].workloads[0].data[0]",
        "an atomic action path (its parents' names and its own, joined by ` > `) of 4,105 bytes, more than 4,096",
    );
}

#[test]
fn workloads_subtasks_and_tasks_per_report() {
    let empty = || format!("{{{WORKLOAD_HEAD}, \"data\": []}}");
    let legal: Vec<String> = (0..MAX_WORKLOADS).map(|_| empty()).collect();
    let (run, rows) = parse_text(&report(&legal)).unwrap();
    assert_eq!((run.workloads.len(), rows), (MAX_WORKLOADS, 0));

    let over: Vec<String> = (0..=MAX_WORKLOADS).map(|_| empty()).collect();
    refused(
        &report(&over),
        "$.tasks[0].subtasks[0].workloads[10000]",
        "more than 10,000 workloads in one report",
    );

    let subtask = r#"{"title": "t", "workloads": []}"#;
    let subtasks = vec![subtask; MAX_SUBTASKS + 1].join(",");
    let text = format!(
        r#"{{"info": {{"format_version": "1.2"}}, "tasks": [{{"status": "finished", "subtasks": [{subtasks}]}}]}}"#
    );
    refused(
        &text,
        "$.tasks[0].subtasks[10000]",
        "more than 10,000 subtasks in one report",
    );

    let task = r#"{"status": "finished", "subtasks": []}"#;
    let tasks = vec![task; MAX_TASKS + 1].join(",");
    let text = format!(r#"{{"info": {{"format_version": "1.2"}}, "tasks": [{tasks}]}}"#);
    refused(
        &text,
        "$.tasks[1000]",
        "more than 1,000 tasks in one report",
    );
}

#[test]
fn old_format_workloads_per_file() {
    let element = r#"{"key": {"name": "Dummy.dummy", "pos": 0, "kw": {"runner": {"type": "serial"}}}, "sla": [], "result": []}"#;
    let text = format!("[{}]", vec![element; MAX_WORKLOADS].join(","));
    assert_eq!(parse_text(&text).unwrap().0.workloads.len(), MAX_WORKLOADS);
    let text = format!("[{}]", vec![element; MAX_WORKLOADS + 1].join(","));
    refused(
        &text,
        "$[10000]",
        "more than 10,000 workloads (list elements) in one file",
    );
}

#[test]
fn series_per_report() {
    // Every iteration names other actions: each is a series of its workload.
    let per_iteration = MAX_DISTINCT_ACTIONS_PER_ITERATION;
    let iterations = MAX_SERIES / per_iteration;
    let names: Vec<String> = (0..iterations)
        .map(|i| distinct(&format!("i{i}."), per_iteration))
        .collect();
    let (run, rows) = parse_text(&report(&[workload(&names)])).unwrap();
    assert_eq!(run.iteration_count, iterations as u64);
    assert_eq!(rows, (iterations * (per_iteration + 1)) as u64);

    let text = report(&[workload(&names), workload(&[distinct("x", 1)])]);
    refused(
        &text,
        "$.tasks[0].subtasks[0].workloads[1].data[0]",
        "more than 100,000 series (distinct workload and atomic action pairs) in one report",
    );
}

#[test]
fn the_ingest_error_names_the_file_place_and_limit_and_says_what_to_do() {
    let text = report(&[workload(&[chain(usize::from(MAX_ACTION_DEPTH) + 1, "n")])]);
    let err = parse_text(&text)
        .unwrap_err()
        .into_ingest_error(Path::new("logs/report.json"));
    assert!(matches!(err, IngestError::OverLimit { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.starts_with("cannot ingest `logs/report.json`: atomic actions nested more than 32 levels deep (perfkit's limit) at $.tasks[0]"),
        "{shown}"
    );
    assert!(shown.contains("(line 1, column "), "{shown}");
    let hint = err.hint().unwrap();
    assert!(hint.contains("README") && hint.contains("split"), "{hint}");
}

#[test]
fn json_deeper_than_the_parser_allows_is_said_plainly() {
    let args = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let text = report(&[format!(
        r#"{{"scenario": {{"Dummy.dummy": {{"x": {args}}}}}, "runner": {{"serial": {{}}}}, "data": []}}"#
    )]);
    let err = parse_text(&text).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::Malformed);
    assert!(
        err.message
            .starts_with("JSON nested more than 128 levels deep"),
        "{err}"
    );
    assert_eq!(
        err.json_path,
        "$.tasks[0].subtasks[0].workloads[0].scenario"
    );
}

#[test]
fn long_keys_and_strings_are_cut_in_errors() {
    let key = "k".repeat(100_000);
    let text = report(&[format!(
        r#"{{{WORKLOAD_HEAD}, "{key}": {{"x": [1, }}, "data": []}}"#
    )]);
    let err = parse_text(&text).unwrap_err();
    assert!(err.json_path.len() < 300, "{}", err.json_path.len());
    assert!(err.json_path.ends_with("…\"]"), "{}", &err.json_path[..80]);

    let long = "s".repeat(100_000);
    let text = report(&[workload(&[format!(
        r#"[{{"name": "a", "started_at": "{long}", "finished_at": 1.0, "children": []}}]"#
    )])]);
    let err = parse_text(&text).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::Malformed);
    assert!(err.message.len() < 400, "{}", err.message.len());
    assert!(err.message.contains("invalid type: string"), "{err}");
}
