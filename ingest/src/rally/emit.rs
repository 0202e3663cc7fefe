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

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use perfkit_schema::{SampleRow, WorkloadRecord};

use super::state::{Ctx, Fatal, to_us};
use crate::limits::{
    MAX_ACTION_PATH_BYTES, MAX_DISTINCT_ACTIONS_PER_ITERATION, MAX_SERIES, over, thousands,
};
use perfkit_schema::sink::{SampleSink, SinkError};

/// `parent` of a top-level action.
pub(crate) const NO_PARENT: usize = usize::MAX;

/// One atomic action of the current iteration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Action {
    pub parent: usize,
    pub depth: u8,
    /// Range of the name in [`IterBuf::names`].
    pub name: (usize, usize),
    /// Range of the full path in the workload's [`PathIndex`], set by `resolve`.
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
    /// Scratch space where a path is built before it is looked up.
    path: String,
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

    /// Builds every action's path (`parent > child`) and its occurrence,
    /// and returns how many paths are new to the workload. Old-format names
    /// `x (2)`, `x (3)` are Rally's renaming of repeats of `x`: they become
    /// `x`, occurrence 1, 2 when `x` was seen before in the iteration.
    ///
    /// One hash lookup per action: an iteration of n distinct actions
    /// costs O(n), not O(n²). Fails with the message of the limit passed.
    fn resolve(
        &mut self,
        index: &mut PathIndex,
        strip_repeat_suffix: bool,
    ) -> Result<usize, String> {
        index.iteration += 1;
        let this_iteration = index.iteration;
        let (mut distinct, mut new) = (0, 0);
        for i in 0..self.actions.len() {
            let action = self.actions[i];
            self.path.clear();
            if action.parent != NO_PARENT {
                let (a, b) = self.actions[action.parent].path;
                self.path.push_str(&index.text[a..b]);
                self.path.push_str(" > ");
            }
            let prefix_end = self.path.len();
            let (a, mut b) = action.name;
            if strip_repeat_suffix && let Some(base_len) = repeat_base_len(&self.names[a..b]) {
                self.path.push_str(&self.names[a..a + base_len]);
                if index
                    .find(&self.path)
                    .is_some_and(|e| index.entries[e].seen_in == this_iteration)
                {
                    b = a + base_len;
                }
                self.path.truncate(prefix_end);
            }
            self.path.push_str(&self.names[a..b]);
            if self.path.len() > MAX_ACTION_PATH_BYTES {
                return Err(format!(
                    "an atomic action path (its parents' names and its own, joined by ` > `) of {} bytes, more than {} (perfkit's limit)",
                    thousands(self.path.len() as u64),
                    thousands(MAX_ACTION_PATH_BYTES as u64)
                ));
            }
            let slot = match index.find(&self.path) {
                Some(slot) => slot,
                None => {
                    new += 1;
                    index.insert(&self.path)
                }
            };
            let entry = &mut index.entries[slot];
            if entry.seen_in == this_iteration {
                // A repeat: count it; its rows share the first copy's text.
                entry.occurrence = entry.occurrence.saturating_add(1);
            } else {
                entry.seen_in = this_iteration;
                entry.occurrence = 0;
                distinct += 1;
                if distinct > MAX_DISTINCT_ACTIONS_PER_ITERATION {
                    return Err(over(
                        MAX_DISTINCT_ACTIONS_PER_ITERATION,
                        "distinct atomic actions in one iteration",
                    ));
                }
            }
            self.actions[i].path = entry.range;
            self.actions[i].occurrence = entry.occurrence;
        }
        Ok(new)
    }
}

/// The distinct atomic action paths of the current workload, their text
/// and how often each occurred in the current iteration. Reset per
/// workload; an iteration only bumps [`PathIndex::iteration`], so nothing
/// is cleared per iteration.
#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    /// Keyed (SipHash, random per process): names chosen to collide
    /// cannot be made without knowing the key.
    hasher: RandomState,
    /// Hash → the newest entry with that hash (older ones chain on).
    by_hash: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    entries: Vec<PathEntry>,
    /// Every path's text, back to back.
    text: String,
    /// Counts `resolve` calls: entries last seen in another iteration
    /// start their occurrences again.
    iteration: u64,
}

#[derive(Debug, Clone, Copy)]
struct PathEntry {
    /// Range in [`PathIndex::text`].
    range: (usize, usize),
    /// The previous entry with the same hash, or [`NO_ENTRY`].
    next: u32,
    seen_in: u64,
    occurrence: u16,
}

const NO_ENTRY: u32 = u32::MAX;

impl PathIndex {
    pub fn reset(&mut self) {
        // Clearing a map costs its capacity: after a workload of many
        // paths, a fresh one spares each small workload after it that cost.
        if self.by_hash.capacity() > 1024 {
            self.by_hash = HashMap::default();
        } else {
            self.by_hash.clear();
        }
        self.entries.clear();
        self.text.clear();
        self.iteration = 0;
    }

    /// The text of the path at `range` (an [`Action`]'s path).
    fn text(&self, range: (usize, usize)) -> &str {
        &self.text[range.0..range.1]
    }

    fn find(&self, path: &str) -> Option<usize> {
        let mut at = *self.by_hash.get(&self.hasher.hash_one(path))?;
        while at != NO_ENTRY {
            let entry = &self.entries[at as usize];
            if self.text(entry.range) == path {
                return Some(at as usize);
            }
            at = entry.next;
        }
        None
    }

    fn insert(&mut self, path: &str) -> usize {
        let slot = self.entries.len();
        // At most MAX_SERIES paths reach here: the count fits.
        let index = u32::try_from(slot).unwrap_or(NO_ENTRY - 1);
        let next = self
            .by_hash
            .insert(self.hasher.hash_one(path), index)
            .unwrap_or(NO_ENTRY);
        let start = self.text.len();
        self.text.push_str(path);
        self.entries.push(PathEntry {
            range: (start, self.text.len()),
            next,
            seen_in: 0,
            occurrence: 0,
        });
        slot
    }
}

/// A hasher for keys that are already hashes: passes the `u64` through.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8)) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
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
    let resolved = ctx.iter.resolve(&mut ctx.wl.paths, strip_repeat_suffix);
    let new_paths = match resolved {
        Ok(new_paths) => new_paths,
        Err(limit) => return Err(ctx.fail(Fatal::Limit(limit))),
    };
    ctx.run.action_series += new_paths;
    if ctx.run.action_series > MAX_SERIES {
        let limit = over(
            MAX_SERIES,
            "series (distinct workload and atomic action pairs) in one report",
        );
        return Err(ctx.fail(Fatal::Limit(limit)));
    }
    match send_iteration(ctx, iteration) {
        Ok(()) => Ok(()),
        Err(SinkError(msg)) => Err(ctx.fail(Fatal::Sink(msg))),
    }
}

fn send_iteration(ctx: &mut Ctx<'_>, iteration: usize) -> Result<(), SinkError> {
    let Ctx {
        iter,
        wl,
        run,
        sink,
        deferred,
        ..
    } = ctx;
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
            action: wl.paths.text(action.path),
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
        resolved_in(&mut PathIndex::default(), names, parents, strip)
    }

    /// One iteration's actions resolved against a workload's `index`.
    fn resolved_in(
        index: &mut PathIndex,
        names: &[&str],
        parents: &[usize],
        strip: bool,
    ) -> Vec<(String, u16)> {
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
        buf.resolve(index, strip).unwrap();
        buf.actions
            .iter()
            .map(|a| (index.text(a.path).to_string(), a.occurrence))
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
    fn occurrences_start_again_in_each_iteration() {
        let n = NO_PARENT;
        let mut index = PathIndex::default();
        let first = resolved_in(&mut index, &["a", "a", "b"], &[n, n, 1], false);
        assert_eq!(first[1], ("a".to_string(), 1));
        let second = resolved_in(&mut index, &["a", "b", "a", "b"], &[n, 0, n, n], false);
        let want = [("a", 0), ("a > b", 0), ("a", 1), ("b", 0)];
        assert_eq!(second, want.map(|(p, o)| (p.to_string(), o)));
        // `x (2)` is a repeat only of an `x` of the same iteration.
        let third = resolved_in(&mut index, &["b (2)"], &[n], true);
        assert_eq!(third, [("b (2)".to_string(), 0)]);
        // Paths are stored once per workload: a, a > b, b, b (2).
        assert_eq!(index.entries.len(), 4);
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
