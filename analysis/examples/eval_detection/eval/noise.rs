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
use perfkit_analysis::regress::stats::median;
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
    /// The node provider each real build ran on (0 when the set has one).
    pub providers: Vec<usize>,
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

    /// Real builds of one provider (all of them for `None`).
    pub fn runs_of(&self, provider: Option<usize>) -> Vec<usize> {
        (0..self.builds.len())
            .filter(|&b| provider.is_none_or(|p| self.providers[b] == p))
            .collect()
    }
}

/// Providers the templates' runs came from (1 when no set has several).
pub fn provider_count(templates: &[Template]) -> usize {
    templates
        .iter()
        .flat_map(|t| t.providers.iter().map(|p| p + 1))
        .max()
        .unwrap_or(1)
}

/// Which real runs of each fixture set a job's baseline builds and its
/// patchset builds are drawn from, per provider: `PATCHSET_RUNS` random
/// runs for the patchset (its first build and rechecks), the rest for the
/// branch, so a patchset's source run never sits in its own baseline (a
/// real patchset runs on a node and at a time the baseline did not). Not
/// halves: a kind of run that is rare but recurs (a slow node) must be able
/// to appear on both sides, as it does in CI; with halves, a set's one slow
/// run would be either never in a baseline or never in a patchset.
pub const PATCHSET_RUNS: usize = 3;

#[derive(Debug, Clone)]
pub struct RunSplit {
    /// Per fixture set, per provider: (baseline runs, patchset runs).
    sets: Vec<Vec<(Vec<usize>, Vec<usize>)>>,
}

impl RunSplit {
    pub fn new(rng: &mut Rng, templates: &[Template]) -> RunSplit {
        let sets = templates.iter().map(|t| t.source + 1).max().unwrap_or(0);
        let providers = provider_count(templates);
        let sets = (0..sets)
            .map(|s| {
                let first = templates
                    .iter()
                    .find(|t| t.source == s)
                    .expect("every set has a template");
                (0..providers)
                    .map(|p| {
                        let mut order = first.runs_of(Some(p));
                        assert!(
                            order.len() >= PATCHSET_RUNS + 5,
                            "{}: fewer than {} runs of provider {p}",
                            first.name,
                            PATCHSET_RUNS + 5
                        );
                        for i in (1..order.len()).rev() {
                            order.swap(i, rng.below(i as u64 + 1) as usize);
                        }
                        let patch = order.split_off(order.len() - PATCHSET_RUNS);
                        (order, patch)
                    })
                    .collect()
            })
            .collect();
        RunSplit { sets }
    }

    /// One real run per fixture set for the next baseline (or patchset)
    /// build on `provider`: `run_of(picks, t)` is the real build template
    /// `t` is drawn from.
    pub fn pick(&self, rng: &mut Rng, patchset: bool, provider: usize) -> Vec<usize> {
        self.sets
            .iter()
            .map(|providers| {
                let (base, patch) = &providers[provider];
                let from = if patchset { patch } else { base };
                from[rng.below(from.len() as u64) as usize]
            })
            .collect()
    }
}

pub fn run_of(picks: &[usize], t: &Template) -> usize {
    picks[t.source]
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

/// `synth_build` from a random real build of one provider (any for `None`).
fn synth_on(t: &Template, rng: &mut Rng, provider: Option<usize>, n: usize) -> SynthBuild {
    let runs = t.runs_of(provider);
    let real = runs[rng.below(runs.len() as u64) as usize];
    synth_build(t, rng, real, n, 1.0, 0.0)
}

/// Clean builds drawn per series to measure its σ.
pub const SIGMA_BUILDS: usize = 10_000;

/// The series' true build-to-build σ, from the generator and independent of
/// the detector: the standard deviation of ln(median) of `n`-iteration
/// builds over `SIGMA_BUILDS` clean synthetic builds (each from a random
/// real run of `provider`, or of any provider for `None`, as any build of
/// the branch could be). A shift of m σ is a factor e^(m σ). Pre-merge uses
/// the σ of the provider the patchset's first build landed on, since the
/// baseline is narrowed to that provider (`compare::baseline_window`).
pub fn log_sigma(
    t: &Template,
    index: usize,
    action: usize,
    n: usize,
    provider: Option<usize>,
) -> f64 {
    let tag = provider.map_or(0, |p| p as u64 + 1);
    let mut rng = Rng::from_parts(&[0x5161A, index as u64, action as u64, n as u64, tag]);
    let logs: Vec<f64> = (0..SIGMA_BUILDS)
        .filter_map(|_| median(&synth_on(t, &mut rng, provider, n).values[action]))
        .filter(|m| *m > 0.0)
        .map(f64::ln)
        .collect();
    let k = logs.len().max(2) as f64;
    let mean = logs.iter().sum::<f64>() / k;
    (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt()
}

/// Caches `log_sigma` per (template, action, iterations, provider).
#[derive(Default)]
pub struct NoiseTable {
    cache: BTreeMap<(usize, usize, usize, Option<usize>), f64>,
}

impl NoiseTable {
    /// σ over builds of any provider (post-merge histories).
    pub fn get(&mut self, templates: &[Template], t: usize, action: usize, n: usize) -> f64 {
        self.on(templates, t, action, n, None)
    }

    /// σ over builds of one provider (`None`: any).
    pub fn on(
        &mut self,
        templates: &[Template],
        t: usize,
        action: usize,
        n: usize,
        provider: Option<usize>,
    ) -> f64 {
        *self
            .cache
            .entry((t, action, n, provider))
            .or_insert_with(|| log_sigma(&templates[t], t, action, n, provider))
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
    /// The node provider of each file (parallel to `files`).
    pub providers: Vec<usize>,
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
    let one_provider = |label, files: Vec<PathBuf>, only, copies| Source {
        label,
        providers: vec![0; files.len()],
        files,
        only,
        copies,
    };
    vec![
        one_provider("noise", numbered("noise", 1..=99), &[], 2),
        one_provider("history", numbered("history", 1..=10), &[], 1),
        one_provider(
            "history-30ms",
            numbered("history", 11..=20),
            &["http-check-request"],
            1,
        ),
    ]
}

/// The held-out set (`tests/fixtures/rally/heldout/`), never used to tune
/// the rule: runs of two "providers" (`a-NN`, fast and quiet; `b-NN`,
/// slower, noisier, some with a bursty neighbour), provider 0 and 1, so a
/// build lands on either, as a CI tenant's jobs do; its five workloads twice
/// each in a job (30 series).
pub fn heldout_sources(fixtures: &Path) -> Vec<Source> {
    let dir = fixtures.join("heldout");
    let mut files: Vec<PathBuf> = ["a", "b"]
        .iter()
        .flat_map(|p| (1..=99).map(move |b| format!("{p}-{b:02}.report.json")))
        .map(|name| dir.join(name))
        .filter(|p| p.exists())
        .collect();
    files.sort();
    let providers = files
        .iter()
        .map(|f| {
            usize::from(
                f.file_name()
                    .is_some_and(|n| n.as_encoded_bytes()[0] == b'b'),
            )
        })
        .collect();
    vec![Source {
        label: "heldout",
        files,
        providers,
        only: &[],
        copies: 2,
    }]
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
        for (file, &provider) in source.files.iter().zip(&source.providers) {
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
                        providers: Vec::new(),
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
                    t.providers.push(provider);
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
        // Run r of a set is file r for every workload: builds are picked by
        // index across the set's templates.
        let of_set = || out.iter().filter(|t| t.source == set);
        if of_set().any(|t| t.builds.len() != source.files.len()) {
            return Err(format!(
                "{}: every report must have every workload, with iterations",
                source.label
            ));
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
