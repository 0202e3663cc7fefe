//! Turning one parsed iteration into sample rows.
//!
//! An iteration's fields and atomic actions are collected into reusable
//! buffers ([`IterBuf`]) while its object is read, because JSON key order
//! is not guaranteed (the `total` row needs `error`, which could come after
//! `atomic_actions`; a child action could come before its parent's `name`).
//! When the object ends, action paths and occurrences are resolved and the
//! rows go to the sink: `total` first, then the actions depth-first in
//! pre-order. No allocation per row once the buffers have grown.
//!
//! Rows need the workload key, which depends on the scenario name and the
//! subtask title. Rally writes both before `data`, but a key-sorted file
//! (`jq -S`) does not; such rows are held in [`Deferred`] until the key is
//! known, and from then on every row goes through it so order is kept.

use perfkit_schema::{SampleRow, WorkloadRecord};

use super::state::{Ctx, Fatal, to_us};
use perfkit_archive::sink::{SampleSink, SinkError};

/// `parent` of a top-level action.
pub(crate) const NO_PARENT: usize = usize::MAX;

/// One atomic action of the current iteration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Action {
    pub parent: usize,
    pub depth: u8,
    /// Range of the name in [`IterBuf::names`].
    pub name: (usize, usize),
    /// Range of the full path in [`IterBuf::paths`], set by `resolve`.
    path: (usize, usize),
    pub occurrence: u16,
    pub duration_s: f64,
    pub started_at: Option<f64>,
    pub failed: bool,
    /// Old format `null` duration: the action never finished; no row.
    pub skip: bool,
}

impl Action {
    pub fn new(parent: usize, depth: u8, name: (usize, usize)) -> Self {
        Action {
            parent,
            depth,
            name,
            path: (0, 0),
            occurrence: 0,
            duration_s: 0.0,
            started_at: None,
            failed: false,
            skip: false,
        }
    }
}

/// The current iteration, reused from one iteration to the next.
#[derive(Debug, Default)]
pub(crate) struct IterBuf {
    pub duration: Option<f64>,
    pub timestamp: Option<f64>,
    pub idle: Option<f64>,
    /// `error` = `[type, message, traceback]`; `error_parts` of them were given.
    pub errors: [String; 3],
    pub error_parts: usize,
    pub actions: Vec<Action>,
    pub names: String,
    paths: String,
    /// (hash, path range, count) of the paths seen in this iteration.
    seen: Vec<(u64, usize, usize, u16)>,
}

impl IterBuf {
    pub fn reset(&mut self) {
        self.duration = None;
        self.timestamp = None;
        self.idle = None;
        for e in &mut self.errors {
            e.clear();
        }
        self.error_parts = 0;
        self.actions.clear();
        self.names.clear();
        self.paths.clear();
        self.seen.clear();
    }

    pub fn name(&self, start: usize, end: usize) -> &str {
        self.names.get(start..end).unwrap_or("")
    }

    fn failed(&self) -> bool {
        self.error_parts > 0
    }

    fn error(&self, i: usize) -> Option<&str> {
        (i < self.error_parts).then(|| self.errors[i].as_str())
    }

    /// Builds every action's path (`parent > child`) and its occurrence.
    /// Old-format names `x (2)`, `x (3)` are Rally's renaming of repeats of
    /// `x`: they become `x`, occurrence 1, 2 when `x` was seen before.
    fn resolve(&mut self, strip_repeat_suffix: bool) {
        for i in 0..self.actions.len() {
            let action = self.actions[i];
            let start = self.paths.len();
            if action.parent != NO_PARENT {
                let (a, b) = self.actions[action.parent].path;
                self.paths.extend_from_within(a..b);
                self.paths.push_str(" > ");
            }
            let prefix_end = self.paths.len();
            let (a, mut b) = action.name;
            if strip_repeat_suffix && let Some(base_len) = repeat_base_len(&self.names[a..b]) {
                self.paths.push_str(&self.names[a..a + base_len]);
                if self.find_seen(start, self.paths.len()).is_some() {
                    b = a + base_len;
                }
                self.paths.truncate(prefix_end);
            }
            self.paths.push_str(&self.names[a..b]);
            let end = self.paths.len();
            if let Some(slot) = self.find_seen(start, end) {
                // A repeat: count it and reuse the first copy of the path text.
                let entry = &mut self.seen[slot];
                entry.3 = entry.3.saturating_add(1);
                self.paths.truncate(start);
                self.actions[i].path = (entry.1, entry.2);
                self.actions[i].occurrence = entry.3;
            } else {
                self.seen
                    .push((hash_str(&self.paths[start..end]), start, end, 0));
                self.actions[i].path = (start, end);
                self.actions[i].occurrence = 0;
            }
        }
    }

    fn find_seen(&self, start: usize, end: usize) -> Option<usize> {
        let text = &self.paths[start..end];
        let hash = hash_str(text);
        self.seen
            .iter()
            .position(|&(h, a, b, _)| h == hash && &self.paths[a..b] == text)
    }
}

/// For `name (N)` with N ≥ 2, the length of `name`.
fn repeat_base_len(name: &str) -> Option<usize> {
    let inner = name.strip_suffix(')')?;
    let open = inner.rfind(" (")?;
    let digits = &inner[open + 2..];
    let n: u32 = digits.parse().ok()?;
    (n >= 2 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(open)
}

/// FNV-1a: cheap, and only used to skip most string comparisons.
fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Rows held back until their workload key is known (key-sorted files).
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    rows: Vec<HeldRow>,
    text: String,
}

#[derive(Debug)]
struct HeldRow {
    workload_index: u32,
    iteration: u32,
    action: (usize, usize),
    depth: u8,
    occurrence: u16,
    duration_s: f64,
    idle_duration_s: Option<f64>,
    started_at_us: Option<i64>,
    failed: bool,
    errors: [Option<(usize, usize)>; 3],
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn hold(&mut self, row: &SampleRow<'_>) {
        let mut keep = |s: &str| {
            let start = self.text.len();
            self.text.push_str(s);
            (start, self.text.len())
        };
        let action = keep(row.action);
        let errors = [
            row.error_type.map(&mut keep),
            row.error_message.map(&mut keep),
            row.error_traceback.map(&mut keep),
        ];
        self.rows.push(HeldRow {
            workload_index: row.workload_index,
            iteration: row.iteration,
            action,
            depth: row.depth,
            occurrence: row.occurrence,
            duration_s: row.duration_s,
            idle_duration_s: row.idle_duration_s,
            started_at_us: row.started_at_us,
            failed: row.failed,
            errors,
        });
    }

    /// Sends held rows, in order, as long as their workload has a key.
    pub fn flush(
        &mut self,
        workloads: &[WorkloadRecord],
        sink: &mut dyn SampleSink,
    ) -> Result<(), SinkError> {
        let mut sent = 0;
        for held in &self.rows {
            let key = workloads
                .get(held.workload_index as usize)
                .map(|w| w.workload_key.as_str())
                .unwrap_or("");
            if key.is_empty() {
                break;
            }
            let text = |r: (usize, usize)| &self.text[r.0..r.1];
            sink.push(&SampleRow {
                workload_key: key,
                workload_index: held.workload_index,
                iteration: held.iteration,
                action: text(held.action),
                depth: held.depth,
                occurrence: held.occurrence,
                duration_s: held.duration_s,
                idle_duration_s: held.idle_duration_s,
                started_at_us: held.started_at_us,
                failed: held.failed,
                error_type: held.errors[0].map(text),
                error_message: held.errors[1].map(text),
                error_traceback: held.errors[2].map(text),
            })?;
            sent += 1;
        }
        self.rows.drain(..sent);
        if self.rows.is_empty() {
            self.text.clear();
        }
        Ok(())
    }
}

/// Sends held rows whose keys became known; a sink error becomes fatal.
pub(crate) fn flush_deferred<E: serde::de::Error>(ctx: &mut Ctx<'_>) -> Result<(), E> {
    if ctx.deferred.is_empty() {
        return Ok(());
    }
    let Ctx {
        deferred,
        run,
        sink,
        ..
    } = ctx;
    match deferred.flush(&run.workloads, &mut **sink) {
        Ok(()) => Ok(()),
        Err(SinkError(msg)) => Err(ctx.fail(Fatal::Sink(msg))),
    }
}

/// Accounts for the iteration in [`IterBuf`] and sends its rows.
/// `duration` and `timestamp` must have been checked present.
pub(crate) fn finish_iteration<E: serde::de::Error>(
    ctx: &mut Ctx<'_>,
    iteration: usize,
    strip_repeat_suffix: bool,
) -> Result<(), E> {
    match send_iteration(ctx, iteration, strip_repeat_suffix) {
        Ok(()) => Ok(()),
        Err(SinkError(msg)) => Err(ctx.fail(Fatal::Sink(msg))),
    }
}

fn send_iteration(
    ctx: &mut Ctx<'_>,
    iteration: usize,
    strip_repeat_suffix: bool,
) -> Result<(), SinkError> {
    let Ctx {
        iter,
        wl,
        run,
        sink,
        deferred,
        ..
    } = ctx;
    iter.resolve(strip_repeat_suffix);
    let duration = iter.duration.unwrap_or(f64::NAN);
    let idle = iter.idle.unwrap_or(0.0);
    let total = duration + idle;
    let timestamp = iter.timestamp.unwrap_or(f64::NAN);
    let failed = iter.failed();

    wl.durations.push(total);
    wl.iterations += 1;
    run.iterations += 1;
    if failed {
        wl.failed += 1;
        run.failed += 1;
    }
    if timestamp.is_finite() {
        wl.first_timestamp = Some(wl.first_timestamp.map_or(timestamp, |t| t.min(timestamp)));
    }
    let started_at_us = to_us(timestamp);
    run.saw_start(started_at_us);
    run.saw_end(to_us(timestamp + total));

    let hold = wl.key.is_none() || !deferred.is_empty();
    let key = wl.key.as_deref().unwrap_or("");
    let iteration = u32::try_from(iteration).unwrap_or(u32::MAX);
    let mut send = |row: &SampleRow<'_>| -> Result<(), SinkError> {
        if hold {
            deferred.hold(row);
            Ok(())
        } else {
            sink.push(row)
        }
    };
    send(&SampleRow {
        workload_key: key,
        workload_index: wl.index,
        iteration,
        action: "total",
        depth: 0,
        occurrence: 0,
        duration_s: total,
        idle_duration_s: Some(idle),
        started_at_us,
        failed,
        error_type: iter.error(0),
        error_message: iter.error(1),
        error_traceback: iter.error(2),
    })?;
    for action in iter.actions.iter().filter(|a| !a.skip) {
        send(&SampleRow {
            workload_key: key,
            workload_index: wl.index,
            iteration,
            action: &iter.paths[action.path.0..action.path.1],
            depth: action.depth,
            occurrence: action.occurrence,
            duration_s: action.duration_s,
            idle_duration_s: None,
            started_at_us: action.started_at.and_then(to_us),
            failed: action.failed,
            error_type: None,
            error_message: None,
            error_traceback: None,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(names: &[&str], parents: &[usize], strip: bool) -> Vec<(String, u16)> {
        let mut buf = IterBuf::default();
        for (name, &parent) in names.iter().zip(parents) {
            let start = buf.names.len();
            buf.names.push_str(name);
            let depth = if parent == NO_PARENT {
                1
            } else {
                buf.actions[parent].depth + 1
            };
            buf.actions
                .push(Action::new(parent, depth, (start, buf.names.len())));
        }
        buf.resolve(strip);
        buf.actions
            .iter()
            .map(|a| (buf.paths[a.path.0..a.path.1].to_string(), a.occurrence))
            .collect()
    }

    #[test]
    fn paths_and_occurrences_follow_list_order() {
        let n = NO_PARENT;
        let got = resolved(&["a", "b", "a", "b", "c"], &[n, 0, n, 2, 3], false);
        let want = [
            ("a", 0),
            ("a > b", 0),
            ("a", 1),
            ("a > b", 1),
            ("a > b > c", 0),
        ];
        assert_eq!(got, want.map(|(p, o)| (p.to_string(), o)));
    }

    #[test]
    fn old_format_repeat_suffixes_map_to_occurrences() {
        let n = NO_PARENT;
        let got = resolved(&["x", "x (2)", "y (2)", "x (3)", "x (10)"], &[n; 5], true);
        let want = [("x", 0), ("x", 1), ("y (2)", 0), ("x", 2), ("x", 3)];
        assert_eq!(got, want.map(|(p, o)| (p.to_string(), o)));
        // Without stripping (v2 names are real names), suffixes stay.
        let got = resolved(&["x", "x (2)"], &[n; 2], false);
        assert_eq!(got[1], ("x (2)".to_string(), 0));
    }

    #[test]
    fn repeat_suffix_needs_a_number_from_two() {
        assert_eq!(repeat_base_len("foo (2)"), Some(3));
        assert_eq!(repeat_base_len("foo (12)"), Some(3));
        assert_eq!(repeat_base_len("foo (1)"), None);
        assert_eq!(repeat_base_len("foo (x)"), None);
        assert_eq!(repeat_base_len("foo (+2)"), None);
        assert_eq!(repeat_base_len("foo"), None);
    }
}
