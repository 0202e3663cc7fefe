//! Apache Otava 0.8.0 side by side with perfkit's change points, on exactly
//! the histories the post-merge rows generated: each history's prefixes go
//! to `tests/bench/otava/otava_changepoints.py` (Otava's own
//! `compute_change_points` with its defaults: window 50, p 0.001, no
//! magnitude floor), run with the Python of Otava's venv, and the answers
//! are scored by the same `postmerge::score` as perfkit's.
//!
//! Compared: the duration rows (clean, steps, single outliers, creep).
//! Config changes are left out (Otava has no notion of them) and so is the
//! failure-rate row (perfkit tests failure counts, not per-build fractions).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use perfkit_analysis::regress::changepoint::ChangeKind;
use serde_json::{Value, json};

use super::postmerge::{self, Change, Outcome, Tally, is_hit, open_ended, prefixes, score};

/// What one detector did on the compared rows.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// Per compared row: (row name, tally).
    pub rows: Vec<(String, Tally)>,
    /// Whole histories: injected changes found (a Regression within the
    /// tolerance), missed, and other change points reported.
    pub true_positives: usize,
    pub false_negatives: usize,
    pub false_positives: usize,
}

impl Side {
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }

    fn rows_where(&self, pick: impl Fn(&str) -> bool) -> Tally {
        self.rows
            .iter()
            .filter(|(name, _)| pick(name))
            .fold(Tally::default(), |mut acc, (_, t)| {
                acc.histories += t.histories;
                acc.false_alarms += t.false_alarms;
                acc.delays.extend(&t.delays);
                acc
            })
    }

    /// Clean histories with any change point on any prefix.
    pub fn clean_alarms(&self) -> f64 {
        let t = self.rows_where(|n| n.starts_with("clean"));
        ratio(t.false_alarms, t.histories)
    }

    /// Single-outlier histories with any change point on any prefix.
    pub fn outlier_alarms(&self) -> f64 {
        let t = self.rows_where(|n| n.contains("outlier"));
        ratio(t.false_alarms, t.histories)
    }

    /// Steps of ≥ 3 σ: median builds after the step until reported
    /// (unfound counted as never), and the share found by the 5th build.
    pub fn step_delay(&self) -> (Option<usize>, f64) {
        let t = self.rows_where(|n| n.starts_with("step +") && n.ends_with(" σ"));
        let mut d = t.delays.clone();
        d.sort_unstable();
        let half = t.histories.div_ceil(2);
        let median = (t.histories > 0 && d.len() >= half).then(|| d[half - 1]);
        (median, ratio(t.found_within(5), t.histories))
    }
}

/// perfkit and Otava on the same histories.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub perfkit: Side,
    pub otava: Side,
    pub analyses: usize,
}

fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b.max(1) as f64
}

fn compared(change: Change) -> bool {
    matches!(
        change,
        Change::None
            | Change::Step(_)
            | Change::StepInNoise(_)
            | Change::Outlier(_)
            | Change::Creep(_)
    )
}

/// The Python of Otava's venv: `PERFKIT_OTAVA_PYTHON`, else
/// `target/venvs/otava/bin/python` when it exists (what `tests/run` makes).
pub fn find_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PERFKIT_OTAVA_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = repo_root().join("target/venvs/otava/bin/python");
    venv.exists().then_some(venv)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs Otava on every compared history and scores both detectors.
pub fn compare(
    rows: &[(postmerge::Scenario, Tally)],
    min_segment: usize,
    python: &Path,
) -> Result<Comparison, String> {
    let mut input = Vec::new();
    for (r, (s, t)) in rows.iter().enumerate() {
        if !compared(s.change) {
            continue;
        }
        for (h, history) in t.kept.iter().enumerate() {
            input.push(json!({
                "id": format!("{r}/{h}"),
                "values": history.values,
                "prefixes": prefixes(history.values.len(), history.at, history.change, min_segment),
            }));
        }
    }
    let answers = run_otava(python, &json!({ "histories": input }))?;
    let mut perfkit = Side::default();
    let mut otava = Side::default();
    let mut analyses = 0;
    for (r, (s, t)) in rows.iter().enumerate() {
        if !compared(s.change) {
            continue;
        }
        let mut otava_tally = Tally::default();
        for (h, history) in t.kept.iter().enumerate() {
            let id = format!("{r}/{h}");
            let per_prefix = answers
                .get(&id)
                .ok_or(format!("Otava's answer has no history {id}"))?;
            analyses += per_prefix.len();
            let found: Vec<(usize, Vec<(usize, ChangeKind)>)> = per_prefix
                .iter()
                .map(|(end, cps)| (*end, cps.clone()))
                .collect();
            let outcome: Outcome = score(&found, history.at, history.change);
            outcome.record(&mut otava_tally, None);
            let last = found.last().map(|(_, c)| c.as_slice()).unwrap_or(&[]);
            count_whole(&mut otava, history, last);
            count_whole(&mut perfkit, history, &t.final_points[h]);
        }
        otava.rows.push((s.name.clone(), otava_tally));
        perfkit.rows.push((s.name.clone(), t.clone()));
    }
    Ok(Comparison {
        perfkit,
        otava,
        analyses,
    })
}

/// F1 counts on a whole history: the injected change found or missed, and
/// every other change point a false positive (all of them on clean and
/// single-outlier histories).
fn count_whole(side: &mut Side, history: &postmerge::History, points: &[(usize, ChangeKind)]) {
    let steps = !matches!(history.change, Change::None | Change::Outlier(_));
    let hit = |c: &(usize, ChangeKind)| steps && is_hit(c, history.at, open_ended(history.change));
    if steps {
        if points.iter().any(hit) {
            side.true_positives += 1;
        } else {
            side.false_negatives += 1;
        }
    }
    side.false_positives += points.iter().filter(|c| !hit(c)).count();
}

/// Otava's change points per history id and prefix length, oldest prefix
/// first; an increase of the durations is a Regression.
type Answers = BTreeMap<String, BTreeMap<usize, Vec<(usize, ChangeKind)>>>;

fn run_otava(python: &Path, input: &Value) -> Result<Answers, String> {
    let script = repo_root().join("tests/bench/otava/otava_changepoints.py");
    let mut file = tempfile::NamedTempFile::new().map_err(|e| format!("temp file: {e}"))?;
    file.write_all(input.to_string().as_bytes())
        .map_err(|e| format!("temp file: {e}"))?;
    let out = Command::new(python)
        .arg(&script)
        .arg(file.path())
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed ({}): {}",
            python.display(),
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let parsed: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("Otava's answer: {e}"))?;
    let mut answers = Answers::new();
    for (id, prefixes) in parsed
        .as_object()
        .ok_or("Otava's answer is not an object")?
    {
        let mut per_prefix = BTreeMap::new();
        for (end, cps) in prefixes.as_object().ok_or("a history is not an object")? {
            let end: usize = end.parse().map_err(|_| format!("prefix `{end}`"))?;
            let points = cps
                .as_array()
                .ok_or("change points are not a list")?
                .iter()
                .map(|c| {
                    let index = c["index"].as_u64().ok_or("a change point has no index")? as usize;
                    let kind = match c["direction"].as_str() {
                        Some("increase") => ChangeKind::Regression,
                        _ => ChangeKind::Improvement,
                    };
                    Ok((index, kind))
                })
                .collect::<Result<Vec<_>, String>>()?;
            per_prefix.insert(end, points);
        }
        answers.insert(id.clone(), per_prefix);
    }
    Ok(answers)
}
