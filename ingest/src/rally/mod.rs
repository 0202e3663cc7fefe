//! Rally result parsers: the v2 JSON report (`rally task report --json`)
//! and the old `rally task results` list, told apart by content.
//!
//! Both stream: serde `DeserializeSeed`s walk the file once and push every
//! iteration's sample rows into a [`SampleSink`] as soon as the iteration
//! object is complete; per workload only its durations are kept (for the
//! recomputed statistics) plus its small config objects. Rally's own
//! `statistics`, `failed_iteration_count` and `pass_sla` are never trusted:
//! everything is recomputed from the raw data. The fixtures
//! under `tests/fixtures/rally/` (real Rally 5.1.1 output) show each case.
//!
//! Python's bare `Infinity`/`NaN` are made strict by
//! [`crate::json_filter::NonFiniteFilter`] (or, for [`parse_slice`],
//! [`crate::json_inplace`]) before serde_json sees them.
//!
//! Layout: `state` (parse context, JSON paths, key and number seeds),
//! `emit` (per-iteration buffers, rows, rows held back until a workload's
//! key is known), `iteration` (iterations and atomic actions, both formats),
//! `config` (workload config, hash, SLA, hooks, contexts), `v2` and
//! `results` (the two file layouts).

mod config;
mod emit;
mod iteration;
mod results;
mod state;
mod v2;

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use perfkit_schema::WorkloadRecord;

use crate::IngestError;
use crate::json_filter::NonFiniteFilter;
use perfkit_schema::sink::SampleSink;

use state::{Ctx, Fatal};

/// v2 report `info.format_version`s this parser reads. Rally's JSON exporter
/// (`rally/plugins/task/exporters/json_exporter.py`) documents its revisions:
/// 1.0 the first v2 report, 1.1 added `contexts_results` (absent in 1.0:
/// read as empty, as `rally task import` does), 1.2 added `env_uuid` and
/// `env_name` (not used here). Rally 5.1.1 writes 1.2.
pub const SUPPORTED_FORMAT_VERSIONS: [&str; 3] = ["1.0", "1.1", "1.2"];

/// Which Rally output a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// `rally task report --json` / `rally task export --type json`.
    RallyV2,
    /// `rally task results` / `rally task export --type old-json-results`.
    RallyResults,
}

impl SourceFormat {
    /// The name stored in the `builds` table.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::RallyV2 => "rally-v2",
            SourceFormat::RallyResults => "rally-results",
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the parser needs to know besides the file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions<'a> {
    /// CI job name, part of every workload key (`""` if unknown).
    pub job: &'a str,
}

/// Everything about a run except its samples (those went to the sink).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRun {
    pub format: SourceFormat,
    /// v2: `info.format_version`; old format: `None`.
    pub format_version: Option<String>,
    /// v2: `info.rally_version`; old format: `None`.
    pub tool_version: Option<String>,
    /// One per task (v2); the old format has no task status.
    pub task_statuses: Vec<String>,
    pub workloads: Vec<WorkloadRecord>,
    pub iteration_count: u64,
    pub failed_iteration_count: u64,
    /// Earliest iteration or workload start, microseconds since the epoch.
    pub started_at_us: Option<i64>,
    /// Latest iteration end (start + duration + idle duration).
    pub finished_at_us: Option<i64>,
    /// Every workload passed its SLA and no task crashed or was aborted.
    pub pass_sla: bool,
}

/// Why a file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Invalid JSON, truncated, or a value of the wrong shape (also I/O
    /// errors while reading: the message says so).
    Malformed,
    /// Valid JSON, but not a Rally result.
    NotRally,
    /// A v2 report of a `format_version` this parser does not know.
    UnsupportedVersion { version: String },
    /// The sample sink refused a row.
    Sink,
    /// Valid, but past one of the limits of [`crate::limits`], which no
    /// real Rally report comes near; the message names the limit.
    OverLimit,
}

/// A parse failure with the place it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// Like `$.tasks[0].subtasks[1].workloads[0].data[17].duration` (`$` for the top).
    pub json_path: String,
    /// 1-based line and column in the input, 0 when unknown.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ParseErrorKind::NotRally => write!(f, "not a Rally result ({})", self.message),
            _ => write!(
                f,
                "{} at {} (line {}, column {})",
                self.message, self.json_path, self.line, self.column
            ),
        }
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// The pipeline's error for `path` (the file that was parsed).
    pub fn into_ingest_error(self, path: &Path) -> IngestError {
        let path = path.to_path_buf();
        match self.kind {
            ParseErrorKind::Malformed => IngestError::Malformed {
                path,
                json_path: self.json_path,
                line: self.line,
                column: self.column,
                message: self.message,
            },
            ParseErrorKind::NotRally => IngestError::NotRally {
                path,
                what: self.message,
            },
            ParseErrorKind::UnsupportedVersion { version } => IngestError::UnsupportedVersion {
                path,
                version,
                supported: supported_versions_text(),
            },
            ParseErrorKind::OverLimit => IngestError::OverLimit {
                path,
                json_path: self.json_path,
                line: self.line,
                column: self.column,
                message: self.message,
            },
            #[cfg(feature = "archive")]
            ParseErrorKind::Sink => IngestError::Archive(perfkit_archive::ArchiveError::Encode {
                table: "samples",
                message: self.message,
            }),
            #[cfg(not(feature = "archive"))]
            ParseErrorKind::Sink => IngestError::Sink {
                path,
                message: self.message,
            },
        }
    }
}

/// `` `1.0`, `1.1` or `1.2` ``.
fn supported_versions_text() -> String {
    let quoted: Vec<String> = SUPPORTED_FORMAT_VERSIONS
        .iter()
        .map(|v| format!("`{v}`"))
        .collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Parses a Rally v2 report or old results list from `input`, pushing one
/// sample row per iteration (`total`) and per atomic action into `sink`,
/// in file order, and returns the run's workloads and totals.
///
/// Nothing is returned on error, but rows pushed before the error stay in
/// the sink: callers discard the sink's output when this fails.
///
/// ```
/// use perfkit_schema::sink::CountingSink;
/// use perfkit_ingest::rally::{parse, ParseOptions, SourceFormat};
///
/// let report = r#"{"info": {"format_version": "1.2", "rally_version": "5.1.1"},
///   "tasks": [{"status": "finished", "subtasks": [{"title": "t", "workloads": [{
///     "scenario": {"Dummy.dummy": {}}, "runner": {"serial": {"times": 1}},
///     "sla_results": {"sla": [{"criterion": "failure_rate", "success": true, "detail": ""}]},
///     "data": [{"duration": 0.5, "timestamp": 1.0, "idle_duration": 0.0, "error": [],
///               "atomic_actions": [{"name": "foo", "started_at": 1.0, "finished_at": 1.25,
///                                   "children": []}]}]}]}]}]}"#;
/// let mut sink = CountingSink::default();
/// let run = parse(report.as_bytes(), &ParseOptions { job: "my-job" }, &mut sink).unwrap();
/// assert_eq!(run.format, SourceFormat::RallyV2);
/// assert_eq!((run.iteration_count, sink.rows), (1, 2));
/// assert!(run.pass_sla);
/// ```
pub fn parse<R: Read>(
    input: R,
    options: &ParseOptions<'_>,
    sink: &mut dyn SampleSink,
) -> Result<ParsedRun, ParseError> {
    let mut reader = BufReader::with_capacity(64 * 1024, NonFiniteFilter::new(input));
    let mut skipped_lines = 0;
    let detected = detect(&mut reader, &mut skipped_lines)?;
    let de = serde_json::Deserializer::from_reader(reader);
    run_parser(de, detected, options, sink).map_err(|mut error| {
        if error.line > 0 {
            error.line += skipped_lines;
        }
        error
    })
}

/// Parses a whole Rally result held in memory: the fast path for files.
///
/// `bytes` must already have Python's non-finite tokens quoted (see
/// [`crate::json_inplace`]); serde_json then reads it as a slice, several
/// times faster than through a reader. Results and errors are the same as
/// [`parse`]'s.
pub fn parse_slice(
    bytes: &[u8],
    options: &ParseOptions<'_>,
    sink: &mut dyn SampleSink,
) -> Result<ParsedRun, ParseError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Some(first) = body
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    else {
        return Err(not_rally("an empty file"));
    };
    let detected = classify(body[first])?;
    // Checked once here, text is not checked again string by string (that
    // was 8 % of a parse); invalid UTF-8 is left to the slice reader,
    // which says where it is.
    match std::str::from_utf8(body) {
        Ok(text) => run_parser(
            serde_json::Deserializer::from_str(text),
            detected,
            options,
            sink,
        ),
        Err(_) => run_parser(
            serde_json::Deserializer::from_slice(body),
            detected,
            options,
            sink,
        ),
    }
}

/// Runs the parser of the detected layout over any serde_json input.
fn run_parser<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    detected: Detected,
    options: &ParseOptions<'_>,
    sink: &mut dyn SampleSink,
) -> Result<ParsedRun, ParseError> {
    let format = match detected {
        Detected::Object => SourceFormat::RallyV2,
        Detected::List => SourceFormat::RallyResults,
    };
    let mut ctx = Ctx::new(sink, options.job);
    let parsed = match format {
        SourceFormat::RallyV2 => v2::parse_report(&mut de, &mut ctx),
        SourceFormat::RallyResults => results::parse_results(&mut de, &mut ctx),
    };
    let finished = parsed.and_then(|()| {
        ctx.path.clear();
        de.end()
    });
    match finished {
        Ok(()) => Ok(ctx.into_run(format)),
        Err(err) => Err(ctx.error_from(&err)),
    }
}

enum Detected {
    Object,
    List,
}

/// Looks at the first non-blank byte. Blank bytes are only consumed when a
/// whole buffer is blank; `skipped_lines` counts the newlines consumed so
/// that serde_json's line numbers can be corrected.
fn detect<R: Read>(
    reader: &mut BufReader<R>,
    skipped_lines: &mut usize,
) -> Result<Detected, ParseError> {
    let mut at_start = true;
    loop {
        let buf = reader.fill_buf().map_err(|e| read_error(&e))?;
        if buf.is_empty() {
            return Err(not_rally("an empty file"));
        }
        // A UTF-8 byte order mark is not JSON, but editors add it.
        if at_start && buf.starts_with(b"\xEF\xBB\xBF") {
            reader.consume(3);
            continue;
        }
        at_start = false;
        let Some(first) = buf
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        else {
            *skipped_lines += buf.iter().filter(|&&b| b == b'\n').count();
            let n = buf.len();
            reader.consume(n);
            continue;
        };
        return classify(buf[first]);
    }
}

/// The format a file starting with `first` (after whitespace) has, or why
/// it is not a Rally result.
fn classify(first: u8) -> Result<Detected, ParseError> {
    let what = match first {
        b'{' => return Ok(Detected::Object),
        b'[' => return Ok(Detected::List),
        b'"' => "a JSON string".to_string(),
        b'-' | b'0'..=b'9' => "a JSON number".to_string(),
        b't' | b'f' => "a JSON boolean".to_string(),
        b'n' => "JSON `null`".to_string(),
        b'<' => "not JSON: it starts with `<` (an HTML or XML page?)".to_string(),
        b if b.is_ascii_graphic() => format!("not JSON: it starts with `{}`", b as char),
        b => format!("not JSON: it starts with byte 0x{b:02x}"),
    };
    Err(not_rally(&what))
}

fn not_rally(what: &str) -> ParseError {
    ParseError {
        kind: ParseErrorKind::NotRally,
        json_path: "$".into(),
        line: 0,
        column: 0,
        message: what.into(),
    }
}

fn read_error(err: &std::io::Error) -> ParseError {
    ParseError {
        kind: ParseErrorKind::Malformed,
        json_path: "$".into(),
        line: 0,
        column: 0,
        message: format!("cannot read the input: {err}"),
    }
}

impl From<Fatal> for ParseErrorKind {
    fn from(fatal: Fatal) -> Self {
        match fatal {
            Fatal::NotRally(_) => ParseErrorKind::NotRally,
            Fatal::UnsupportedVersion(version) => ParseErrorKind::UnsupportedVersion { version },
            Fatal::Sink(_) => ParseErrorKind::Sink,
            Fatal::Limit(_) => ParseErrorKind::OverLimit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_versions_read_like_a_sentence() {
        assert_eq!(supported_versions_text(), "`1.0`, `1.1` or `1.2`");
    }
}
