//! Locust results: the CSV files `--csv PREFIX` writes (`PREFIX_stats.csv`
//! with the totals per request, `_stats_history.csv` with a row per second,
//! `_failures.csv`, `_exceptions.csv`) and the `--json` report (per request,
//! a histogram of response times). Response times are milliseconds there;
//! the archive keeps seconds.
//!
//! One workload per request (method and name) plus Locust's `Aggregated`
//! row, each one series row: the response-time distribution as quantile
//! points (`quantiles`), requests and failures, and the request rate.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use perfkit_schema::identity::config_hash;
use perfkit_schema::records::SECONDS;
use perfkit_schema::{SeriesRow, WorkloadRecord};
use serde_json::{Map, Value, json};

use crate::IngestError;
use crate::limits::{MAX_LOCUST_REQUESTS, over};
use crate::locust_phases::{HistoryPoint, PhaseStats, per_second_json, read_window, split};
use crate::measured::{Measured, summary, workload_key};
use crate::quantiles;

/// The `Type` column's value on Locust's total row, whose `Name` is `Aggregated`.
const AGGREGATED: &str = "Aggregated";
/// What the throughput of a Locust series counts.
pub const RATE_UNIT: &str = "requests/s";
const STATS_SUFFIX: &str = "_stats.csv";

/// The files of one `--csv PREFIX` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSet {
    pub stats: PathBuf,
    pub history: Option<PathBuf>,
    pub failures: Option<PathBuf>,
    pub exceptions: Option<PathBuf>,
    /// `PREFIX_upgrade_window.json`: the run went through an upgrade.
    pub window: Option<PathBuf>,
}

impl CsvSet {
    /// The files in a fixed order (stats first), for hashing and reading.
    pub fn files(&self) -> Vec<&Path> {
        let mut out = vec![self.stats.as_path()];
        out.extend(
            [
                &self.history,
                &self.failures,
                &self.exceptions,
                &self.window,
            ]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path),
        );
        out
    }
}

/// Whether `head` (the start of a file) is a Locust stats CSV header.
pub fn is_stats_header(head: &[u8]) -> bool {
    head.starts_with(b"Type,Name,Request Count")
        || head.starts_with(b"\"Type\",\"Name\",\"Request Count\"")
        // Locust before 1.0 (`Method,Name,# requests…`): recognized so the
        // error can say it is too old.
        || head.starts_with(b"\"Method\",\"Name\",\"# requests\"")
        || head.starts_with(b"Method,Name,# requests")
}

/// Finds the Locust CSV set `path` names: a `PREFIX_stats.csv` file, the
/// `PREFIX` itself, or a directory holding exactly one such set. `Ok(None)`
/// when `path` is none of these; the stats file's content is checked by
/// the caller (detection goes by content, not by name).
pub fn find_csv_set(path: &Path) -> Result<Option<CsvSet>, IngestError> {
    let stats = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && name_of(p).ends_with(STATS_SUFFIX))
            .filter(|p| head_of(p).is_some_and(|h| is_stats_header(&h)))
            .collect();
        found.sort();
        match found.len() {
            0 => return Ok(None),
            1 => found.remove(0),
            _ => {
                return Err(IngestError::Invalid {
                    path: path.to_path_buf(),
                    place: "the directory".into(),
                    message: format!(
                        "{} Locust CSV sets ({})",
                        found.len(),
                        found.iter().map(|p| name_of(p)).collect::<Vec<_>>().join(", ")
                    ),
                    hint: "pass each run's `--csv` prefix (e.g. `out/locust`) instead of the directory".into(),
                });
            }
        }
    } else if path.is_file() && name_of(path).ends_with(STATS_SUFFIX) {
        path.to_path_buf()
    } else if !path.exists() {
        let candidate = PathBuf::from(format!("{}{STATS_SUFFIX}", path.display()));
        if !candidate.is_file() {
            return Ok(None);
        }
        candidate
    } else {
        return Ok(None);
    };
    let prefix = stats.to_string_lossy();
    let prefix = &prefix[..prefix.len() - STATS_SUFFIX.len()];
    let sibling = |suffix: &str| {
        let p = PathBuf::from(format!("{prefix}{suffix}"));
        p.is_file().then_some(p)
    };
    Ok(Some(CsvSet {
        history: sibling("_stats_history.csv"),
        failures: sibling("_failures.csv"),
        exceptions: sibling("_exceptions.csv"),
        window: sibling("_upgrade_window.json"),
        stats,
    }))
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn head_of(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = vec![0; 64];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    head.truncate(n);
    Some(head)
}

/// A parsed CSV file: its header and rows, errors naming file and line.
struct Table {
    path: PathBuf,
    columns: Vec<String>,
    /// The first column of each name, in header order.
    distinct: Vec<usize>,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    fn read(path: &Path, required: &[&str], what: &str) -> Result<Table, IngestError> {
        let bytes = crate::input::read_whole(path)?;
        let invalid = |place: String, message: String| IngestError::Invalid {
            path: path.to_path_buf(),
            place,
            message,
            hint: format!(
                "pass the {what} Locust 1.0 or newer writes with `--csv PREFIX`, complete (a run cut short leaves a truncated file)"
            ),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes.as_slice());
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| invalid("line 1".into(), format!("unreadable CSV header: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        if columns.iter().any(|c| c == "# requests") {
            return Err(invalid(
                "line 1".into(),
                "this is the CSV of Locust before 1.0 (`# requests` columns), which perfkit does not read".into(),
            ));
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| !columns.iter().any(|c| c == r))
            .collect();
        if !missing.is_empty() {
            return Err(invalid(
                "line 1 (header)".into(),
                format!("missing column(s) `{}`", missing.join("`, `")),
            ));
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                invalid(format!("line {line}"), csv_error_text(&e))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push((line, record));
        }
        // A cut inside the last row's final field still parses; Locust ends
        // every file with a newline, so a missing one means a cut.
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let line = rows.last().map_or(1, |(l, _)| *l);
            return Err(invalid(
                format!("line {line}"),
                "the file ends in the middle of a row".into(),
            ));
        }
        let distinct = {
            let mut seen = std::collections::HashSet::new();
            (0..columns.len())
                .filter(|&i| seen.insert(columns[i].as_str()))
                .collect()
        };
        Ok(Table {
            path: path.to_path_buf(),
            distinct,
            columns,
            rows,
        })
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    /// Each column (the first of a repeated name) and its cell in `row`:
    /// one pass, where looking each column up by name would be quadratic
    /// in the header's width.
    fn cells<'t, 'r>(
        &'t self,
        row: &'r csv::StringRecord,
    ) -> impl Iterator<Item = (&'t String, &'r str)> {
        self.distinct
            .iter()
            .map(|&i| (&self.columns[i], row.get(i).unwrap_or("")))
    }

    fn text<'r>(&self, row: &'r csv::StringRecord, column: &str) -> &'r str {
        self.index(column).and_then(|i| row.get(i)).unwrap_or("")
    }

    /// A number; `N/A` (no requests yet) and empty cells are `None`.
    fn number(
        &self,
        line: u64,
        row: &csv::StringRecord,
        column: &str,
    ) -> Result<Option<f64>, IngestError> {
        let text = self.text(row, column).trim();
        if text.is_empty() || text == "N/A" {
            return Ok(None);
        }
        text.parse::<f64>()
            .map(Some)
            .map_err(|_| IngestError::Invalid {
                path: self.path.clone(),
                place: format!("line {line}, column `{column}`"),
                message: format!("`{text}` is not a number"),
                hint: "the file looks edited or truncated; keep the files Locust wrote".into(),
            })
    }

    fn count(&self, line: u64, row: &csv::StringRecord, column: &str) -> Result<u64, IngestError> {
        Ok(self.number(line, row, column)?.unwrap_or(0.0).max(0.0) as u64)
    }

    /// The percentile columns (`50%`, `99.9%`…) as (percent, column name).
    fn percentile_columns(&self) -> Vec<(f64, String)> {
        self.columns
            .iter()
            .filter_map(|c| {
                let p = c.strip_suffix('%')?.parse::<f64>().ok()?;
                Some((p, c.clone()))
            })
            .collect()
    }
}

fn csv_error_text(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "a row has {len} fields where the header has {expected_len} (the file looks truncated)"
        ),
        _ => e.to_string(),
    }
}

const STATS_COLUMNS: [&str; 11] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Requests/s",
    "Failures/s",
    "50%",
];

/// One request's figures, from either format (milliseconds).
struct RequestStats {
    method: String,
    name: String,
    requests: u64,
    failures: u64,
    /// Response-time quantile points, seconds.
    points: Vec<f64>,
    min_ms: Option<f64>,
    median_ms: Option<f64>,
    p90_ms: Option<f64>,
    p95_ms: Option<f64>,
    max_ms: Option<f64>,
    mean_ms: Option<f64>,
    requests_per_s: Option<f64>,
    details: Map<String, Value>,
    /// The stats history's rows of this request (CSV sets only).
    history: Vec<HistoryPoint>,
    /// Before, during and after an upgrade window, when the run has one.
    phases: Option<[PhaseStats; 3]>,
}

/// Parses a `--csv` set.
pub fn parse_csv(set: &CsvSet, job: &str) -> Result<Measured, IngestError> {
    let stats = Table::read(&set.stats, &STATS_COLUMNS, "`PREFIX_stats.csv`")?;
    let percentiles = stats.percentile_columns();
    if let Some((line, _)) = stats.rows.get(MAX_LOCUST_REQUESTS) {
        return Err(IngestError::Invalid {
            path: set.stats.clone(),
            place: format!("line {line}"),
            message: over(MAX_LOCUST_REQUESTS, "requests (rows) in one stats file"),
            hint: crate::limits::HINT.into(),
        });
    }
    let mut requests = Vec::new();
    for (line, row) in &stats.rows {
        let line = *line;
        let num = |c: &str| stats.number(line, row, c);
        let count = stats.count(line, row, "Request Count")?;
        let failures = stats.count(line, row, "Failure Count")?;
        if failures > count {
            return Err(IngestError::Invalid {
                path: set.stats.clone(),
                place: format!("line {line}, column `Failure Count`"),
                message: more_failures_than_requests(failures, count),
                hint: "the file looks edited; keep the files Locust wrote".into(),
            });
        }
        let table: Vec<(f64, f64)> = percentiles
            .iter()
            .filter_map(|(p, c)| num(c).transpose().map(|v| v.map(|v| (*p, v / 1000.0))))
            .chain(
                num("Min Response Time")
                    .transpose()
                    .map(|v| v.map(|v| (0.0, v / 1000.0))),
            )
            .collect::<Result<_, _>>()?;
        let mut details = Map::new();
        for (column, text) in stats.cells(row) {
            if let Some(v) = num_or_text(text) {
                details.insert(column.clone(), v);
            }
        }
        let at = |p: f64| {
            percentiles
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, c)| c.as_str())
        };
        requests.push(RequestStats {
            method: stats.text(row, "Type").to_string(),
            name: stats.text(row, "Name").to_string(),
            requests: count,
            failures,
            points: quantiles::from_percentiles(&table, count),
            min_ms: num("Min Response Time")?,
            median_ms: num("Median Response Time")?,
            p90_ms: at(90.0).map(&num).transpose()?.flatten(),
            p95_ms: at(95.0).map(&num).transpose()?.flatten(),
            max_ms: num("Max Response Time")?,
            mean_ms: num("Average Response Time")?,
            requests_per_s: num("Requests/s")?,
            details,
            history: Vec::new(),
            phases: None,
        });
    }
    if !requests
        .iter()
        .any(|r| r.name == AGGREGATED && r.method.is_empty())
    {
        return Err(IngestError::Invalid {
            path: set.stats.clone(),
            place: format!("line {}", stats.rows.len() + 2),
            message:
                "no `Aggregated` row, which Locust always writes last: the file looks truncated"
                    .into(),
            hint: "pass the complete `PREFIX_stats.csv` of a finished Locust run".into(),
        });
    }
    let history = match &set.history {
        Some(path) => Some(Table::read(
            path,
            &[
                "Timestamp",
                "User Count",
                "Type",
                "Name",
                "Requests/s",
                "Failures/s",
            ],
            "`PREFIX_stats_history.csv`",
        )?),
        None => None,
    };
    // (method, name) → request, for the history and failure rows.
    let mut by_name: HashMap<(String, String), usize> = HashMap::new();
    for (i, r) in requests.iter().enumerate() {
        by_name
            .entry((r.method.clone(), r.name.clone()))
            .or_insert(i);
    }
    let find = |method: &str, name: &str| by_name.get(&(method.to_string(), name.to_string()));
    let mut times = Vec::new();
    let mut max_users = None::<u64>;
    if let Some(h) = &history {
        let history_percentiles = h.percentile_columns();
        for (line, row) in &h.rows {
            let t = h.number(*line, row, "Timestamp")?;
            if let Some(t) = t {
                times.push(t);
            }
            let users = h.count(*line, row, "User Count")?;
            max_users = Some(max_users.map_or(users, |m| m.max(users)));
            let (method, name) = (h.text(row, "Type"), h.text(row, "Name"));
            if let Some(&i) = find(method, name) {
                let r = &mut requests[i];
                let num = |c: &str| h.number(*line, row, c);
                let mut percentiles = Vec::new();
                for (p, column) in &history_percentiles {
                    if let Some(v) = num(column)? {
                        percentiles.push((*p, v / 1000.0));
                    }
                }
                r.history.push(HistoryPoint {
                    t: t.unwrap_or(f64::NAN),
                    users,
                    total_requests: h.count(*line, row, "Total Request Count")?,
                    total_failures: h.count(*line, row, "Total Failure Count")?,
                    requests_per_s: num("Requests/s")?,
                    failures_per_s: num("Failures/s")?,
                    percentiles,
                });
                let mut point = Map::new();
                for (column, text) in h.cells(row) {
                    if let Some(v) = num_or_text(text) {
                        point.insert(column.clone(), v);
                    }
                }
                point.remove("Type");
                point.remove("Name");
                history_of(&mut r.details).push(Value::Object(point));
            }
        }
    }
    if let Some(path) = &set.failures {
        let f = Table::read(
            path,
            &["Method", "Name", "Error", "Occurrences"],
            "`PREFIX_failures.csv`",
        )?;
        for (line, row) in &f.rows {
            let (method, name) = (f.text(row, "Method"), f.text(row, "Name"));
            let failure = json!({
                "error": f.text(row, "Error"),
                "occurrences": f.count(*line, row, "Occurrences")?,
            });
            if let Some(&i) = find(method, name) {
                list_of(&mut requests[i].details, "failures").push(failure);
            }
        }
    }
    if let Some(path) = &set.exceptions {
        let e = Table::read(
            path,
            &["Count", "Message", "Traceback"],
            "`PREFIX_exceptions.csv`",
        )?;
        let mut exceptions = Vec::new();
        for (line, row) in &e.rows {
            exceptions.push(json!({
                "count": e.count(*line, row, "Count")?,
                "message": e.text(row, "Message"),
                "traceback": e.text(row, "Traceback"),
                "nodes": e.text(row, "Nodes"),
            }));
        }
        if let Some(total) = requests.iter_mut().find(|r| r.name == AGGREGATED) {
            total
                .details
                .insert("exceptions".into(), Value::Array(exceptions));
        }
    }
    let window = set.window.as_deref().map(read_window).transpose()?;
    if let Some(window) = window {
        for r in &mut requests {
            r.history.retain(|p| p.t.is_finite());
            r.phases = Some(split(&r.history, r.requests, r.failures, window));
        }
    }
    let to_us = |t: f64| (t * 1e6) as i64;
    let started = times.iter().copied().reduce(f64::min).map(to_us);
    let finished = times.iter().copied().reduce(f64::max).map(to_us);
    let mut measured = assemble("locust-csv", requests, max_users, job, started, finished);
    if let Some(window) = window {
        for row in &mut measured.series {
            row.window = Some(window);
        }
    }
    Ok(measured)
}

fn history_of(details: &mut Map<String, Value>) -> &mut Vec<Value> {
    list_of(details, "history")
}

fn list_of<'a>(details: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = details
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    match slot {
        Value::Array(items) => items,
        _ => unreachable!("only arrays are stored under {key}"),
    }
}

/// A CSV cell as JSON: a number when it is one, else the text; `None` when empty.
fn num_or_text(text: &str) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    Some(match text.parse::<f64>() {
        Ok(v) if v.is_finite() => json!(v),
        _ => Value::String(text.to_string()),
    })
}

/// Parses Locust's `--json` report (a list of per-request stats entries).
/// Locust counts every failed request among its requests, so a report
/// with more failures than requests was not written by Locust (and would
/// give a failure rate above 1).
fn more_failures_than_requests(failures: u64, requests: u64) -> String {
    format!(
        "{failures} failures out of {requests} requests (Locust counts failed requests among its requests)"
    )
}

pub fn parse_json(path: &Path, value: &Value, job: &str) -> Result<Measured, IngestError> {
    let invalid = |place: String, message: String| IngestError::Invalid {
        path: path.to_path_buf(),
        place,
        message,
        hint: "pass the complete output of `locust --json` (Locust 2.x)".into(),
    };
    let entries = value
        .as_array()
        .ok_or_else(|| invalid("$".into(), "expected a list of request statistics".into()))?;
    if entries.len() > MAX_LOCUST_REQUESTS {
        return Err(IngestError::Invalid {
            path: path.to_path_buf(),
            place: format!("$[{MAX_LOCUST_REQUESTS}]"),
            message: over(MAX_LOCUST_REQUESTS, "requests in one report"),
            hint: crate::limits::HINT.into(),
        });
    }
    let mut requests = Vec::new();
    let mut all_bins: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut total_requests, mut total_failures) = (0u64, 0u64);
    let mut total_time_ms = 0.0;
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, entry) in entries.iter().enumerate() {
        let place = |key: &str| format!("$[{i}].{key}");
        let field = |key: &str| {
            entry
                .get(key)
                .ok_or_else(|| invalid(place(key), format!("missing `{key}`")))
        };
        let count = |key: &str| {
            field(key)?
                .as_u64()
                .ok_or_else(|| invalid(place(key), "expected a count".into()))
        };
        let text = |key: &str| {
            field(key)?
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid(place(key), "expected text".into()))
        };
        let (name, method) = (text("name")?, text("method")?);
        let (n, failures) = (count("num_requests")?, count("num_failures")?);
        if failures > n {
            return Err(invalid(
                place("num_failures"),
                more_failures_than_requests(failures, n),
            ));
        }
        let histogram = field("response_times")?
            .as_object()
            .ok_or_else(|| invalid(place("response_times"), "expected an object".into()))?;
        let mut bins = Vec::with_capacity(histogram.len());
        for (ms, c) in histogram {
            let (Ok(ms), Some(c)) = (ms.parse::<u64>(), c.as_u64()) else {
                return Err(invalid(
                    format!("$[{i}].response_times[\"{ms}\"]"),
                    "expected a whole number of milliseconds and a count".into(),
                ));
            };
            let bin = all_bins.entry(ms).or_default();
            *bin = bin.saturating_add(c);
            bins.push((ms as f64 / 1000.0, c));
        }
        let number = |key: &str| entry.get(key).and_then(Value::as_f64);
        let start = number("start_time");
        let end = number("last_request_timestamp");
        if let (Some(s), Some(e)) = (start, end) {
            first = first.min(s);
            last = last.max(e);
        }
        total_requests = total_requests.saturating_add(n);
        total_failures = total_failures.saturating_add(failures);
        total_time_ms += number("total_response_time").unwrap_or(f64::NAN);
        let points = quantiles::from_histogram(&bins);
        let stat = |q: f64| -> Option<f64> {
            let summary = perfkit_schema::Summary::of(&points)?;
            Some(
                1000.0
                    * if q == 0.5 {
                        summary.median
                    } else if q == 0.9 {
                        summary.p90
                    } else {
                        summary.p95
                    },
            )
        };
        let mut details = Map::new();
        for key in [
            "num_requests",
            "num_none_requests",
            "num_failures",
            "total_response_time",
            "min_response_time",
            "max_response_time",
            "total_content_length",
            "start_time",
            "last_request_timestamp",
            "response_times",
            "num_reqs_per_sec",
            "num_fail_per_sec",
        ] {
            if let Some(v) = entry.get(key) {
                details.insert(key.into(), v.clone());
            }
        }
        let duration = match (start, end) {
            (Some(s), Some(e)) if e > s => Some(e - s),
            _ => None,
        };
        requests.push(RequestStats {
            method,
            name,
            requests: n,
            failures,
            min_ms: number("min_response_time"),
            median_ms: stat(0.5),
            p90_ms: stat(0.9),
            p95_ms: stat(0.95),
            max_ms: number("max_response_time"),
            mean_ms: number("total_response_time")
                .filter(|_| n > 0)
                .map(|t| t / n as f64),
            requests_per_s: duration.map(|d| n as f64 / d),
            points,
            details,
            history: Vec::new(),
            phases: None,
        });
    }
    // The CSV's `Aggregated` row, made the same way from the merged histograms.
    let bins: Vec<(f64, u64)> = all_bins
        .iter()
        .map(|(ms, c)| (*ms as f64 / 1000.0, *c))
        .collect();
    let points = quantiles::from_histogram(&bins);
    let summary = perfkit_schema::Summary::of(&points);
    let span = (last > first).then_some(last - first);
    requests.push(RequestStats {
        method: String::new(),
        name: AGGREGATED.into(),
        requests: total_requests,
        failures: total_failures,
        min_ms: requests.iter().filter_map(|r| r.min_ms).reduce(f64::min),
        median_ms: summary.map(|s| 1000.0 * s.median),
        p90_ms: summary.map(|s| 1000.0 * s.p90),
        p95_ms: summary.map(|s| 1000.0 * s.p95),
        max_ms: requests.iter().filter_map(|r| r.max_ms).reduce(f64::max),
        mean_ms: (total_requests > 0).then(|| total_time_ms / total_requests as f64),
        requests_per_s: span.map(|d| total_requests as f64 / d),
        points,
        details: Map::new(),
        history: Vec::new(),
        phases: None,
    });
    let to_us = |t: f64| (t * 1e6) as i64;
    let started = first.is_finite().then(|| to_us(first));
    let finished = last.is_finite().then(|| to_us(last));
    Ok(assemble(
        "locust-json",
        requests,
        None,
        job,
        started,
        finished,
    ))
}

fn assemble(
    format: &'static str,
    requests: Vec<RequestStats>,
    max_users: Option<u64>,
    job: &str,
    started_at_us: Option<i64>,
    finished_at_us: Option<i64>,
) -> Measured {
    let mut measured = Measured {
        source_format: format,
        started_at_us,
        finished_at_us,
        ..Measured::default()
    };
    for (index, r) in requests.into_iter().enumerate() {
        let label = if r.method.is_empty() {
            r.name.clone()
        } else {
            format!("{} {}", r.method, r.name)
        };
        if r.name == AGGREGATED && r.method.is_empty() {
            measured.operations = r.requests;
            measured.failed_operations = r.failures;
        }
        let key = workload_key("locust", job, &[&r.method, &r.name]);
        let identity = json!({"method": r.method, "name": r.name});
        // The number of users is the load's configuration: more users, other
        // latencies. Known from the history file only.
        let config =
            config_hash(&json!({"tool": "locust", "request": identity, "users": max_users}));
        let s = |ms: Option<f64>| ms.map_or(f64::NAN, |v| v / 1000.0);
        let load_duration_s = r
            .requests_per_s
            .filter(|rate| *rate > 0.0)
            .map(|rate| r.requests as f64 / rate);
        let whole = SeriesRow {
            workload_key: key.clone(),
            workload_index: index as u32,
            config_hash: config.clone(),
            scenario: "locust".into(),
            action: label.clone(),
            samples: r.requests,
            failed: r.failures.min(r.requests),
            durations_s: r.points,
            load_duration_s,
            pass_sla: true,
            unit: SECONDS.into(),
            rate_unit: RATE_UNIT.into(),
            per_second_json: (!r.history.is_empty()).then(|| per_second_json(&r.history)),
            ..SeriesRow::default()
        };
        // A run through an upgrade: the same request once per phase, so
        // that "during the upgrade" has its own failure rate and latency.
        let phase_rows: Vec<SeriesRow> = r
            .phases
            .iter()
            .flatten()
            .map(|p| SeriesRow {
                action: format!("{label}{}", p.phase.action_suffix()),
                samples: p.requests,
                failed: p.failures.min(p.requests),
                durations_s: p.points.clone(),
                load_duration_s: (p.duration_s > 0.0).then_some(p.duration_s),
                phase: Some(p.phase),
                per_second_json: None,
                ..whole.clone()
            })
            .collect();
        measured.series.push(whole);
        measured.series.extend(phase_rows);
        measured.workloads.push(WorkloadRecord {
            workload_index: index as u32,
            workload_key: key,
            config_hash: config,
            position: index as u32,
            scenario: "locust".into(),
            description: label,
            runner_type: "locust".into(),
            runner_json: json!({"users": max_users}).to_string(),
            args_json: identity.to_string(),
            contexts_json: "{}".into(),
            sla_json: "{}".into(),
            hooks_json: "[]".into(),
            load_duration_s,
            iterations: r.requests,
            failed_iterations: r.failures.min(r.requests),
            // Locust has no SLA; failures are counted, not judged here.
            pass_sla: true,
            sla_results_json: "[]".into(),
            duration: summary(
                r.requests,
                s(r.min_ms),
                s(r.median_ms),
                s(r.p90_ms),
                s(r.p95_ms),
                s(r.max_ms),
                s(r.mean_ms),
            ),
            details_json: Some(Value::Object(r.details).to_string()),
            ..WorkloadRecord::default()
        });
    }
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/locust/history/run-01"
    );

    fn copy_set(to: &Path, prefix: &str) {
        for suffix in [
            "_stats.csv",
            "_stats_history.csv",
            "_failures.csv",
            "_exceptions.csv",
        ] {
            std::fs::copy(
                Path::new(RUN).join(format!("locust{suffix}")),
                to.join(format!("{prefix}{suffix}")),
            )
            .unwrap();
        }
    }

    #[test]
    fn a_set_is_found_by_prefix_directory_or_stats_file() {
        let dir = tempfile::tempdir().unwrap();
        copy_set(dir.path(), "run");
        let by_dir = find_csv_set(dir.path()).unwrap().unwrap();
        let by_prefix = find_csv_set(&dir.path().join("run")).unwrap().unwrap();
        let by_stats = find_csv_set(&dir.path().join("run_stats.csv"))
            .unwrap()
            .unwrap();
        assert_eq!(by_dir, by_prefix);
        assert_eq!(by_dir, by_stats);
        assert_eq!(by_dir.files().len(), 4);
        assert!(find_csv_set(&dir.path().join("other")).unwrap().is_none());

        copy_set(dir.path(), "second");
        let err = find_csv_set(dir.path()).unwrap_err().to_string();
        assert!(err.contains("2 Locust CSV sets"), "{err}");
    }

    #[test]
    fn history_failures_and_the_user_count_are_kept() {
        let set = find_csv_set(Path::new(RUN)).unwrap().unwrap();
        let m = parse_csv(&set, "job").unwrap();
        let validate = m
            .workloads
            .iter()
            .find(|w| w.description == "GET keystone.validate_token")
            .unwrap();
        let details: Value =
            serde_json::from_str(validate.details_json.as_deref().unwrap()).unwrap();
        assert!(details["history"].as_array().unwrap().len() > 5);
        assert_eq!(
            details["history"][0]["User Count"]
                .as_f64()
                .map(|u| u > 0.0),
            Some(true)
        );
        assert!(
            details["failures"][0]["error"]
                .as_str()
                .unwrap()
                .contains("expected 200")
        );
        assert!(details["Requests/s"].as_f64().unwrap() > 0.0);
        assert!(
            validate.runner_json.contains("\"users\":10"),
            "{}",
            validate.runner_json
        );
        // Response times are stored in seconds, requests/s as the throughput.
        let row = m
            .series
            .iter()
            .find(|r| r.action == "GET keystone.validate_token")
            .unwrap();
        let median = perfkit_schema::Summary::of(&row.durations_s)
            .unwrap()
            .median;
        assert!((0.015..0.035).contains(&median), "{median}");
        let rps = details["Requests/s"].as_f64().unwrap();
        assert!((row.throughput().unwrap() - rps).abs() < 1e-9);
        assert!(m.started_at_us.unwrap() < m.finished_at_us.unwrap());
    }

    #[test]
    fn requests_past_the_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("x_stats.csv");
        let original = std::fs::read_to_string(Path::new(RUN).join("locust_stats.csv")).unwrap();
        let mut lines = original.lines();
        let header = lines.next().unwrap();
        let row = lines.next().unwrap();
        let total = original.lines().last().unwrap();
        let with_requests = |n: usize| {
            let mut text = format!("{header}\n");
            for i in 0..n {
                text.push_str(&row.replacen("keystone.issue_token", &format!("r{i}"), 1));
                text.push('\n');
            }
            text.push_str(total);
            text.push('\n');
            text
        };
        // The limit counts rows, `Aggregated` included.
        std::fs::write(&stats, with_requests(MAX_LOCUST_REQUESTS - 1)).unwrap();
        let set = find_csv_set(&stats).unwrap().unwrap();
        let m = parse_csv(&set, "job").unwrap();
        assert_eq!(m.workloads.len(), MAX_LOCUST_REQUESTS);
        std::fs::write(&stats, with_requests(MAX_LOCUST_REQUESTS)).unwrap();
        let err = parse_csv(&set, "job").unwrap_err().to_string();
        assert!(
            err.contains(
                "more than 10,000 requests (rows) in one stats file (perfkit's limit) at line 10002"
            ),
            "{err}"
        );

        let entry = json!({"name": "/", "method": "GET", "num_requests": 1, "num_failures": 0,
                           "response_times": {"20": 1}});
        let report = Value::Array(vec![entry; MAX_LOCUST_REQUESTS + 1]);
        let err = parse_json(Path::new("l.json"), &report, "job")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("more than 10,000 requests in one report (perfkit's limit) at $[10000]"),
            "{err}"
        );
    }

    /// Found by the `locust_json` fuzz target: a failure rate above 1.
    #[test]
    fn more_failures_than_requests_are_refused() {
        let entry = |requests: u64, failures: u64| {
            json!({"name": "/", "method": "GET", "num_requests": requests,
                   "num_failures": failures, "response_times": {"20": requests}})
        };
        let err = parse_json(
            Path::new("l.json"),
            &json!([entry(191, 762799916323)]),
            "job",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("762799916323 failures out of 191 requests")
                && err.contains("$[0].num_failures"),
            "{err}"
        );
        let m = parse_json(Path::new("l.json"), &json!([entry(3, 3)]), "job").unwrap();
        assert_eq!((m.operations, m.failed_operations), (3, 3));

        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("x_stats.csv");
        let original = std::fs::read(Path::new(RUN).join("locust_stats.csv")).unwrap();
        let mut reader = csv::Reader::from_reader(original.as_slice());
        let headers = reader.headers().unwrap().clone();
        let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let mut writer = csv::Writer::from_path(&stats).unwrap();
        writer.write_record(&headers).unwrap();
        for (i, row) in reader.records().enumerate() {
            let mut row: Vec<String> = row.unwrap().iter().map(str::to_string).collect();
            if i == 0 {
                let requests: u64 = row[column("Request Count")].parse().unwrap();
                row[column("Failure Count")] = (requests + 1).to_string();
            }
            writer.write_record(&row).unwrap();
        }
        writer.flush().unwrap();
        let set = find_csv_set(&stats).unwrap().unwrap();
        let err = parse_csv(&set, "job").unwrap_err().to_string();
        assert!(err.contains("line 2, column `Failure Count`"), "{err}");
        assert!(err.contains("failures out of"), "{err}");
    }

    /// Counts near `u64::MAX` add up without overflowing.
    #[test]
    fn huge_counts_saturate() {
        let entry = json!({"name": "/", "method": "GET", "num_requests": u64::MAX,
                           "num_failures": 0, "response_times": {"20": u64::MAX, "30": 1}});
        let m = parse_json(Path::new("l.json"), &json!([entry.clone(), entry]), "job").unwrap();
        assert_eq!(m.operations, u64::MAX);
        let points = crate::quantiles::from_histogram(&[(0.02, u64::MAX), (0.03, u64::MAX)]);
        assert_eq!(points.len(), 1000);
        assert!(points.iter().all(|p| [0.02, 0.03].contains(p)));
    }

    #[test]
    fn quoted_names_and_old_locust_csv() {
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("x_stats.csv");
        let original = std::fs::read_to_string(Path::new(RUN).join("locust_stats.csv")).unwrap();
        // A request name with a comma and a quote, quoted as Locust's csv
        // writer does.
        let renamed = original.replace(
            "GET,keystone.validate_token,",
            "GET,\"/v3/auth/tokens?a=1,b=\"\"<x>\"\"\",",
        );
        std::fs::write(&stats, renamed).unwrap();
        let set = find_csv_set(&stats).unwrap().unwrap();
        let m = parse_csv(&set, "job").unwrap();
        assert!(
            m.series
                .iter()
                .any(|r| r.action == "GET /v3/auth/tokens?a=1,b=\"<x>\"")
        );

        std::fs::write(
            &stats,
            "\"Method\",\"Name\",\"# requests\",\"# failures\"\n\"GET\",\"/\",1,0\n",
        )
        .unwrap();
        let err = parse_csv(&set, "job").unwrap_err().to_string();
        assert!(err.contains("before 1.0"), "{err}");
    }
}
