//! Real noise: the per-iteration durations and failure flags of real Rally
//! runs, read with perfkit's own parser, and synthetic builds resampled from
//! them. A synthetic build of a job is one real run picked at random per
//! fixture set (its level: machine load, the server's latency draw, shared
//! by every workload of that run, as a slow CI node is), with each
//! workload's n iterations drawn from that run's successful iterations with
//! replacement (its within-build spread; total and atomic durations of an
//! iteration stay together). Failures are drawn at the workload's pooled
//! failure rate: the fixtures' failures are independent per iteration
//! (`random.random()` in Rally's scenario), and drawing them per real build
//! would add a build-to-build spread of failure rates they do not have.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use perfkit_analysis::regress::rng::Rng;
use perfkit_analysis::regress::stats::{median, qn_scale};
use perfkit_archive::sink::{SampleSink, SinkError};
use perfkit_ingest::json_inplace::quote_non_finite;
use perfkit_ingest::rally::{ParseOptions, parse_slice};
use perfkit_schema::SampleRow;

/// One real iteration: its failure flag and a duration per action of its
/// template (`NaN` where the iteration has none, e.g. it failed first).
#[derive(Debug, Clone)]
pub struct Iteration {
    pub failed: bool,
    pub durations: Vec<f64>,
}

/// One real workload across several real builds: the pool synthetic
/// builds of that workload are drawn from.
#[derive(Debug, Clone)]
pub struct Template {
    /// `<fixture set>/<subtask title>`, e.g. `noise/http-lognormal`.
    pub name: String,
    /// Index of the fixture set: workloads of one set come from the same runs.
    pub source: usize,
    /// How many workloads of a simulated job are drawn from this one.
    pub copies: usize,
    /// `total`, then the top-level atomic actions (first occurrence).
    pub actions: Vec<String>,
    pub builds: Vec<Vec<Iteration>>,
}

impl Template {
    /// Share of failed iterations over all real builds.
    pub fn failure_rate(&self) -> f64 {
        let all: Vec<&Iteration> = self.builds.iter().flatten().collect();
        all.iter().filter(|i| i.failed).count() as f64 / all.len().max(1) as f64
    }

    pub fn iterations(&self) -> usize {
        self.builds.iter().map(Vec::len).sum()
    }
}

/// One real run per fixture set for the next synthetic build of a job:
/// `run_of(picks, t)` is the real build template `t` is drawn from.
pub fn pick_runs(rng: &mut Rng, templates: &[Template]) -> Vec<u64> {
    let sets = templates.iter().map(|t| t.source + 1).max().unwrap_or(0);
    (0..sets).map(|_| rng.next_u64()).collect()
}

pub fn run_of(picks: &[u64], t: &Template) -> usize {
    (picks[t.source] % t.builds.len() as u64) as usize
}

/// Iteration values of one synthetic build, per action of its template
/// (successful iterations only), and its failure counts.
#[derive(Debug, Clone)]
pub struct SynthBuild {
    pub values: Vec<Vec<f64>>,
    pub failed: u64,
    pub total: u64,
}

impl SynthBuild {
    /// Median of the successful iterations' `total` (NaN if none).
    pub fn total_median(&self) -> f64 {
        median(&self.values[0]).unwrap_or(f64::NAN)
    }

    pub fn failure_fraction(&self) -> f64 {
        self.failed as f64 / self.total.max(1) as f64
    }
}

/// A synthetic build of `t` from real build `real`: `n` iterations, each
/// failing at the workload's real failure rate plus `extra_failure`, the
/// others with the durations of a random successful iteration of `real`
/// × `factor`. Duration series hold successful iterations only (as Rally's
/// own duration statistics do).
pub fn synth_build(
    t: &Template,
    rng: &mut Rng,
    real: usize,
    n: usize,
    factor: f64,
    extra_failure: f64,
) -> SynthBuild {
    let ok: Vec<&Iteration> = t.builds[real].iter().filter(|i| !i.failed).collect();
    let fail_rate = t.failure_rate() + extra_failure;
    let mut values = vec![Vec::with_capacity(n); t.actions.len()];
    let mut failed = 0;
    for _ in 0..n {
        if ok.is_empty() || (fail_rate > 0.0 && rng.uniform() < fail_rate) {
            failed += 1;
            continue;
        }
        let it = ok[rng.below(ok.len() as u64) as usize];
        for (out, d) in values.iter_mut().zip(&it.durations) {
            if d.is_finite() {
                out.push(d * factor);
            }
        }
    }
    SynthBuild {
        values,
        failed,
        total: n as u64,
    }
}

/// `synth_build` from a random real build (for single-series histories).
pub fn synth_any(t: &Template, rng: &mut Rng, n: usize, factor: f64, extra: f64) -> SynthBuild {
    let real = rng.below(t.builds.len() as u64) as usize;
    synth_build(t, rng, real, n, factor, extra)
}

/// The series' run-to-run noise as the verdict sees it: the Qn spread of
/// per-build medians of `n`-iteration builds, relative to their median
/// (Monte Carlo over 400 synthetic builds, fixed seed).
pub fn relative_noise(t: &Template, index: usize, action: usize, n: usize) -> f64 {
    let mut rng = Rng::from_parts(&[0x0015E, index as u64, action as u64, n as u64]);
    let medians: Vec<f64> = (0..400)
        .filter_map(|_| median(&synth_any(t, &mut rng, n, 1.0, 0.0).values[action]))
        .collect();
    let centre = median(&medians).unwrap_or(f64::NAN);
    qn_scale(&medians).unwrap_or(0.0) / centre
}

/// Caches `relative_noise` per (template, action, iterations).
#[derive(Default)]
pub struct NoiseTable {
    cache: BTreeMap<(usize, usize, usize), f64>,
}

impl NoiseTable {
    pub fn get(&mut self, templates: &[Template], t: usize, action: usize, n: usize) -> f64 {
        *self
            .cache
            .entry((t, action, n))
            .or_insert_with(|| relative_noise(&templates[t], t, action, n))
    }
}

/// Real runs of one task file, and how to use them.
pub struct Source {
    pub label: &'static str,
    pub files: Vec<PathBuf>,
    /// Only these subtask titles (all when empty).
    pub only: &'static [&'static str],
    /// Workloads of a simulated job per real workload.
    pub copies: usize,
}

/// The fixture sets used: the noise runs (20 builds, identical config),
/// twice each in a job; `history/` builds 01–10 (20 ms server delay) and
/// the HTTP workload of builds 11–20 (30 ms), each level on its own, once.
/// Jobs have 33 series: 11 workloads × (total, one atomic, failure rate).
pub fn default_sources(fixtures: &Path) -> Vec<Source> {
    let numbered = |dir: &str, builds: std::ops::RangeInclusive<usize>| -> Vec<PathBuf> {
        builds
            .map(|b| fixtures.join(dir).join(format!("build-{b:02}.report.json")))
            .filter(|p| p.exists())
            .collect()
    };
    vec![
        Source {
            label: "noise",
            files: numbered("noise", 1..=99),
            only: &[],
            copies: 2,
        },
        Source {
            label: "history",
            files: numbered("history", 1..=10),
            only: &[],
            copies: 1,
        },
        Source {
            label: "history-30ms",
            files: numbered("history", 11..=20),
            only: &["http-check-request"],
            copies: 1,
        },
    ]
}

/// Reads every source into templates, one per workload (subtask title).
pub fn load(sources: &[Source]) -> Result<Vec<Template>, String> {
    let mut out = Vec::new();
    for (set, source) in sources.iter().enumerate() {
        if source.files.is_empty() {
            return Err(format!("no Rally reports for {}", source.label));
        }
        let mut by_title: BTreeMap<String, Template> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for file in &source.files {
            for (title, actions, iterations) in read_report(file)? {
                if !source.only.is_empty() && !source.only.contains(&title.as_str()) {
                    continue;
                }
                let t = by_title.entry(title.clone()).or_insert_with(|| {
                    order.push(title.clone());
                    Template {
                        name: format!("{}/{title}", source.label),
                        source: set,
                        copies: source.copies,
                        actions: vec!["total".to_string()],
                        builds: Vec::new(),
                    }
                });
                for a in &actions {
                    if !t.actions.contains(a) {
                        t.actions.push(a.clone());
                    }
                }
                let build: Vec<Iteration> = iterations
                    .into_iter()
                    .map(|it| Iteration {
                        failed: it.failed,
                        durations: t
                            .actions
                            .iter()
                            .map(|a| it.durations.get(a).copied().unwrap_or(f64::NAN))
                            .collect(),
                    })
                    .collect();
                if !build.is_empty() {
                    t.builds.push(build);
                }
            }
        }
        for title in order {
            let mut t = by_title.remove(&title).expect("collected above");
            let width = t.actions.len();
            for it in t.builds.iter_mut().flatten() {
                it.durations.resize(width, f64::NAN);
            }
            out.push(t);
        }
    }
    Ok(out)
}

struct RawIteration {
    failed: bool,
    durations: BTreeMap<String, f64>,
}

/// Rows of one report, grouped per workload: (subtask title, top-level
/// actions in first-seen order, iterations).
type Workloads = Vec<(String, Vec<String>, Vec<RawIteration>)>;

fn read_report(path: &Path) -> Result<Workloads, String> {
    let mut buf = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    quote_non_finite(&mut buf);
    let mut sink = Collect::default();
    let run = parse_slice(&buf, &ParseOptions { job: "eval" }, &mut sink)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out: Workloads = run
        .workloads
        .iter()
        .map(|w| (w.subtask_title.clone(), Vec::new(), Vec::new()))
        .collect();
    for row in sink.rows {
        let Some((_, actions, iterations)) = out.get_mut(row.workload as usize) else {
            return Err(format!("{}: row of an unknown workload", path.display()));
        };
        let i = row.iteration as usize;
        if iterations.len() <= i {
            iterations.resize_with(i + 1, || RawIteration {
                failed: false,
                durations: BTreeMap::new(),
            });
        }
        if row.action == "total" {
            iterations[i].failed = row.failed;
        } else if !actions.contains(&row.action) {
            actions.push(row.action.clone());
        }
        iterations[i].durations.insert(row.action, row.duration);
    }
    Ok(out)
}

struct Row {
    workload: u32,
    iteration: u32,
    action: String,
    duration: f64,
    failed: bool,
}

/// Keeps `total` rows and the first occurrence of top-level atomic actions.
#[derive(Default)]
struct Collect {
    rows: Vec<Row>,
}

impl SampleSink for Collect {
    fn push(&mut self, row: &SampleRow<'_>) -> Result<(), SinkError> {
        if row.depth <= 1 && row.occurrence == 0 {
            self.rows.push(Row {
                workload: row.workload_index,
                iteration: row.iteration,
                action: row.action.to_string(),
                duration: row.duration_s,
                failed: row.failed,
            });
        }
        Ok(())
    }
}
