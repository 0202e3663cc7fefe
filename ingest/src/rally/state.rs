//! The parse context shared by every seed: the JSON path of the value being
//! read (for error messages), the sink, the current iteration, workload
//! and run accumulators; plus the small seeds every layout uses (object
//! keys, numbers that may be Python's `Infinity`, strings appended to a
//! buffer).
//!
//! Paths are kept as a stack of segments pushed before a value is read and
//! popped after it was read successfully; when a seed fails, `?` returns
//! before the pop, so the stack still names the failing value.

use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, Visitor};

use super::emit::{Deferred, IterBuf, PathIndex};
use super::{ParseError, ParseErrorKind, ParsedRun, SourceFormat};
use perfkit_schema::sink::SampleSink;
use perfkit_schema::{Summary, WorkloadRecord};

/// One step of a JSON path.
#[derive(Debug, Clone)]
pub(crate) enum Seg {
    Key(&'static str),
    Index(usize),
    /// A key we do not read (rare, so owning it is fine).
    Name(Box<str>),
    /// An old-format atomic action name, a range of the iteration's name buffer.
    ActionName(usize, usize),
}

/// A failure that is not "malformed": the seed that finds it stores it in
/// the context and returns a serde error to unwind.
#[derive(Debug, Clone)]
pub(crate) enum Fatal {
    NotRally(String),
    UnsupportedVersion(String),
    Sink(String),
    /// Past one of [`crate::limits`]; the message names it.
    Limit(String),
}

impl Fatal {
    fn message(&self) -> String {
        match self {
            Fatal::NotRally(what) => what.clone(),
            Fatal::UnsupportedVersion(v) => format!("Rally report format `{v}` is not supported"),
            Fatal::Sink(msg) => format!("cannot store a sample: {msg}"),
            Fatal::Limit(msg) => msg.clone(),
        }
    }
}

/// Per-workload totals, reset for every workload.
#[derive(Debug, Default)]
pub(crate) struct WorkloadAcc {
    /// `duration + idle_duration` of every iteration, for [`Summary::of`].
    pub durations: Vec<f64>,
    pub iterations: u64,
    pub failed: u64,
    /// Earliest iteration start (seconds), for the old format's start time.
    pub first_timestamp: Option<f64>,
    /// The workload key, once scenario and subtask title are known.
    pub key: Option<String>,
    pub index: u32,
    /// The workload's atomic action paths.
    pub paths: PathIndex,
}

impl WorkloadAcc {
    pub fn reset(&mut self, index: u32) {
        self.durations.clear();
        self.iterations = 0;
        self.failed = 0;
        self.first_timestamp = None;
        self.key = None;
        self.index = index;
        self.paths.reset();
    }

    pub fn summary(&self) -> Option<Summary> {
        Summary::of(&self.durations)
    }
}

/// Whole-file totals.
#[derive(Debug, Default)]
pub(crate) struct RunAcc {
    pub workloads: Vec<WorkloadRecord>,
    pub iterations: u64,
    pub failed: u64,
    pub started_at_us: Option<i64>,
    pub finished_at_us: Option<i64>,
    pub task_statuses: Vec<String>,
    /// A task ended in another state than `finished` (crashed, aborted…).
    pub task_not_finished: bool,
    pub format_version: Option<String>,
    pub tool_version: Option<String>,
    /// Subtasks read so far (v2), for [`crate::limits::MAX_SUBTASKS`].
    pub subtasks: usize,
    /// Distinct atomic action paths summed over workloads, for
    /// [`crate::limits::MAX_SERIES`].
    pub action_series: usize,
}

impl RunAcc {
    pub fn saw_start(&mut self, us: Option<i64>) {
        if let Some(us) = us {
            self.started_at_us = Some(self.started_at_us.map_or(us, |s| s.min(us)));
        }
    }

    pub fn saw_end(&mut self, us: Option<i64>) {
        if let Some(us) = us {
            self.finished_at_us = Some(self.finished_at_us.map_or(us, |s| s.max(us)));
        }
    }
}

/// Everything the seeds share while walking one file.
pub(crate) struct Ctx<'s> {
    pub path: Vec<Seg>,
    pub fatal: Option<Fatal>,
    pub sink: &'s mut dyn SampleSink,
    pub job: &'s str,
    pub iter: IterBuf,
    pub wl: WorkloadAcc,
    pub deferred: Deferred,
    pub run: RunAcc,
}

impl<'s> Ctx<'s> {
    pub fn new(sink: &'s mut dyn SampleSink, job: &'s str) -> Self {
        Ctx {
            path: Vec::with_capacity(16),
            fatal: None,
            sink,
            job,
            iter: IterBuf::default(),
            wl: WorkloadAcc::default(),
            deferred: Deferred::default(),
            run: RunAcc::default(),
        }
    }

    /// Records a non-malformed failure and returns the error that unwinds the parse.
    pub fn fail<E: de::Error>(&mut self, fatal: Fatal) -> E {
        let err = E::custom(fatal.message());
        self.fatal = Some(fatal);
        err
    }

    /// A "missing field" error naming the field in the path.
    pub fn missing<E: de::Error>(&mut self, field: &'static str) -> E {
        self.path.push(Seg::Key(field));
        E::missing_field(field)
    }

    /// The rendered JSON path of the value being read.
    pub fn json_path(&self) -> String {
        let mut out = String::from("$");
        for seg in &self.path {
            match seg {
                Seg::Key(k) => push_key(&mut out, k),
                Seg::Name(k) => push_key(&mut out, k),
                Seg::ActionName(a, b) => push_key(&mut out, self.iter.name(*a, *b)),
                Seg::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }

    /// The [`ParseError`] for a serde_json error raised while walking.
    pub fn error_from(&mut self, err: &serde_json::Error) -> ParseError {
        let (line, column) = (err.line(), err.column());
        let json_path = self.json_path();
        if let Some(fatal) = self.fatal.take() {
            let message = fatal.message();
            return ParseError {
                kind: fatal.into(),
                json_path,
                line,
                column,
                message,
            };
        }
        let mut message = err.to_string();
        if message.starts_with("recursion limit exceeded") {
            message = crate::limits::TOO_DEEP.into();
        }
        if line > 0 {
            let suffix = format!(" at line {line} column {column}");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message.truncate(stripped.len());
            }
        }
        if err.is_io() {
            message = format!("cannot read the input: {message}");
        }
        let message = cut(&message).into_owned();
        ParseError {
            kind: ParseErrorKind::Malformed,
            json_path,
            line,
            column,
            message,
        }
    }

    pub fn into_run(self, format: SourceFormat) -> ParsedRun {
        let run = self.run;
        let pass_sla = !run.task_not_finished && run.workloads.iter().all(|w| w.pass_sla);
        ParsedRun {
            format,
            format_version: run.format_version,
            tool_version: run.tool_version,
            task_statuses: run.task_statuses,
            workloads: run.workloads,
            iteration_count: run.iterations,
            failed_iteration_count: run.failed,
            started_at_us: run.started_at_us,
            finished_at_us: run.finished_at_us,
            pass_sla,
        }
    }
}

/// Keys and messages longer than this are cut in errors (a crafted
/// file's 100 MB key or string must not become a 100 MB message).
const SHOWN_CHARS: usize = 200;

/// `text`, cut after [`SHOWN_CHARS`] characters with `…` to say so.
fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]).into(),
        None => text.into(),
    }
}

fn push_key(out: &mut String, key: &str) {
    let key = &*cut(key);
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        out.push('.');
        out.push_str(key);
    } else {
        out.push('[');
        out.push_str(&serde_json::Value::from(key).to_string());
        out.push(']');
    }
}

/// Seconds since the epoch to microseconds; `None` for non-finite values.
pub(crate) fn to_us(seconds: f64) -> Option<i64> {
    seconds.is_finite().then(|| (seconds * 1e6).round() as i64)
}

/// An object key: one of the keys a visitor reads, or another one.
pub(crate) enum Key {
    Known(&'static str),
    Unknown(Box<str>),
}

/// Reads an object key and matches it against `0` without allocating.
pub(crate) struct KeySeed(pub &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(
            match self.0.iter().find(|k| same_key(k.as_bytes(), v.as_bytes())) {
                Some(k) => Key::Known(k),
                None => Key::Unknown(v.into()),
            },
        )
    }
}

/// `a == b` for the short keys of Rally's objects, without calling
/// `memcmp` (a few percent of a parse: every key of every iteration).
fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8"));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4"));
    // Two overlapping loads cover every length from one load's to twice it.
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// A number, or Python's non-finite words as rewritten by the JSON filter;
/// `null` too when `nullable`.
#[derive(Clone, Copy)]
pub(crate) struct Num {
    pub nullable: bool,
}

pub(crate) const NUM: Num = Num { nullable: false };
pub(crate) const OPT_NUM: Num = Num { nullable: true };

impl<'de> DeserializeSeed<'de> for Num {
    type Value = Option<f64>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<f64>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Num {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.nullable {
            "a number or null"
        } else {
            "a number"
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
        Ok(Some(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<f64>, E> {
        match v {
            "Infinity" => Ok(Some(f64::INFINITY)),
            "-Infinity" => Ok(Some(f64::NEG_INFINITY)),
            "NaN" => Ok(Some(f64::NAN)),
            _ => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
        if self.nullable {
            Ok(None)
        } else {
            Err(E::invalid_type(de::Unexpected::Unit, &self))
        }
    }
}

/// Appends a JSON string to a buffer (names, error texts), without allocating.
pub(crate) struct AppendStr<'a>(pub &'a mut String);

impl<'de> DeserializeSeed<'de> for AppendStr<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for AppendStr<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_like_strings() {
        let words = [
            "",
            "a",
            "ab",
            "abc",
            "name",
            "error",
            "failed",
            "output",
            "duration",
            "timestamp",
            "started_at",
            "finished_at",
            "idle_duration",
            "atomic_actions",
            "contexts_results",
            "a key longer than sixteen bytes",
            "a key longer than sixteen bytez",
        ];
        for a in words {
            for b in words {
                assert_eq!(same_key(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
            }
            // Same length, one byte off anywhere.
            for at in 0..a.len() {
                let mut other = a.as_bytes().to_vec();
                other[at] ^= 1;
                assert!(!same_key(a.as_bytes(), &other), "{a} at {at}");
            }
        }
    }
}
