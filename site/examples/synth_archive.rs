//! A synthetic archive for the site benchmark (`tests/bench/site`): N
//! periodic branch builds of one project, written through perfkit's own
//! encoders and `Archive::put_build`, so the site reads exactly what
//! `perfkit ingest` would have written.
//!
//!   cargo run --release -p perfkit-site --example synth_archive -- \
//!     --out DIR [--builds 10000] [--workloads 20] [--actions 10] [--start-build 0] [--seed 1]
//!     [--check-every 0] [--variant plain|check|recheck|backfill]
//!
//! Every build is periodic (change 0, pipeline `periodic`, branch `master`,
//! job `bench-rally`, one a day, Zuul-like ids and log URLs) of
//! `openstack/bench` and holds `workloads` workloads of `actions` actions
//! each (`total` plus atomic actions, one in four nested), i.e.
//! workloads × actions series. Each workload runs 4–10 iterations with
//! lognormal noise; every series gets a level shift in about half of each
//! 2,500-build epoch, a few workloads change their configuration, and about
//! 0.3 % of iterations fail. Everything is a pure function of the seed and
//! the build's index, so `--start-build K` appends builds K.. that continue
//! the same history. The `samples` objects are empty but valid (the site
//! reads only `builds` and `series`). With `--check-every N`, every Nth
//! build is instead a check build of a change of its own (the index
//! benchmark judges the newest). `--variant` makes the builds written the
//! site benchmark's updates: `check` builds of their own changes, a
//! `recheck` (another build of build K's change, two hours later, as if
//! it were a check build) or a `backfill` (a periodic build half a day
//! after build K, between it and the next).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use perfkit_archive::batch::{SampleBatcher, encode_workloads};
use perfkit_archive::series::encode_series;
use perfkit_archive::{Archive, BuildObjects, PutOutcome};
use perfkit_schema::identity::{WorkloadPlace, config_hash, sha256_hex};
use perfkit_schema::records::BuildMeta;
use perfkit_schema::{ArchiveKey, BuildId, BuildRecord, ProjectName, SeriesRow, Summary};
use perfkit_schema::{WorkloadRecord, records::DurationStats};
use serde_json::json;

const PROJECT: &str = "openstack/bench";
const JOB: &str = "bench-rally";
const BRANCH: &str = "master";
/// 2000-01-01T00:00:00Z; build `i` starts on day `i` at about 03:00.
const EPOCH_US: i64 = 946_684_800_000_000;
const DAY_US: i64 = 86_400_000_000;
/// Level shifts: each series may shift once in each epoch of this many builds.
const SHIFT_EPOCH: u64 = 2500;
/// Builds encoded and written at once.
const IN_FLIGHT: usize = 16;

const SCENARIOS: [&str; 10] = [
    "NovaServers.boot_and_delete_server",
    "NovaServers.boot_and_list_server",
    "CinderVolumes.create_and_delete_volume",
    "NeutronNetworks.create_and_delete_networks",
    "NeutronNetworks.create_and_list_ports",
    "KeystoneBasic.create_delete_user",
    "KeystoneBasic.authenticate_user_and_validate_token",
    "GlanceImages.create_and_delete_image",
    "HeatStacks.create_and_delete_stack",
    "SwiftObjects.create_container_and_object_then_delete_all",
];

const ATOMIC: [&str; 20] = [
    "nova.boot_server",
    "nova.delete_server",
    "nova.list_servers",
    "nova.wait_for_status",
    "cinder_v3.create_volume",
    "cinder_v3.delete_volume",
    "neutron.create_network",
    "neutron.delete_network",
    "neutron.create_subnet",
    "neutron.create_port",
    "neutron.list_ports",
    "keystone_v3.create_user",
    "keystone_v3.delete_user",
    "keystone_v3.validate_token",
    "glance_v2.create_image",
    "glance_v2.delete_image",
    "heat.create_stack",
    "heat.delete_stack",
    "swift.create_container",
    "swift.upload_object",
];

#[derive(Debug, Clone)]
struct Options {
    out: String,
    builds: u64,
    workloads: u32,
    actions: u32,
    start: u64,
    seed: u64,
    check_every: u64,
    variant: Variant,
}

/// What the builds written are (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Plain,
    Check,
    Recheck,
    Backfill,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        out: String::new(),
        builds: 10_000,
        workloads: 20,
        actions: 10,
        start: 0,
        seed: 1,
        check_every: 0,
        variant: Variant::Plain,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--out" => o.out = value()?,
            "--builds" => o.builds = number(value()?)?,
            "--workloads" => o.workloads = number(value()?)? as u32,
            "--actions" => o.actions = number(value()?)? as u32,
            "--start-build" => o.start = number(value()?)?,
            "--seed" => o.seed = number(value()?)?,
            "--check-every" => o.check_every = number(value()?)?,
            "--variant" => {
                o.variant = match value()?.as_str() {
                    "plain" => Variant::Plain,
                    "check" => Variant::Check,
                    "recheck" => Variant::Recheck,
                    "backfill" => Variant::Backfill,
                    other => return Err(format!("--variant: unknown variant {other}")),
                }
            }
            "-h" | "--help" => return Err(usage()),
            _ => return Err(format!("unknown argument {flag}\n{}", usage())),
        }
    }
    if o.out.is_empty() {
        return Err(format!("--out is required\n{}", usage()));
    }
    if o.workloads == 0 || o.actions == 0 {
        return Err("--workloads and --actions must be at least 1".into());
    }
    Ok(o)
}

fn usage() -> String {
    "usage: synth_archive --out DIR [--builds N] [--workloads W] [--actions A] [--start-build K] [--seed S] [--check-every N] [--variant plain|check|recheck|backfill]".into()
}

/// SplitMix64: small, fast, and seeded per (seed, build, workload, …) so
/// that any build can be generated alone.
struct Rng(u64);

impl Rng {
    fn new(parts: &[u64]) -> Rng {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for p in parts {
            state = Rng(state ^ p.wrapping_mul(0xff51_afd7_ed55_8ccd)).next_u64();
        }
        Rng(state)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low)
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }
}

/// One action of a workload: its name, depth and noise.
#[derive(Debug, Clone)]
struct ActionPlan {
    name: String,
    depth: u8,
    base_s: f64,
    sigma: f64,
}

/// What stays the same from build to build for one workload.
#[derive(Debug, Clone)]
struct WorkloadPlan {
    scenario: String,
    title: String,
    key: String,
    times: u64,
    /// Build from which the configuration runs two more iterations.
    config_change_at: Option<u64>,
    /// `actions[0]` is `total`: the overhead on top of the atomic actions.
    actions: Vec<ActionPlan>,
}

struct Plan {
    seed: u64,
    check_every: u64,
    variant: Variant,
    project: ProjectName,
    workloads: Vec<WorkloadPlan>,
}

impl Plan {
    fn new(o: &Options) -> Plan {
        let workloads = (0..o.workloads)
            .map(|w| workload_plan(o.seed, w, o.actions))
            .collect();
        Plan {
            seed: o.seed,
            check_every: o.check_every,
            variant: o.variant,
            project: ProjectName::try_from(PROJECT).expect("a valid project name"),
            workloads,
        }
    }

    /// The level of one series at `build`: the product of the shifts so far.
    fn level(&self, workload: u32, action: usize, build: u64) -> f64 {
        let mut level = 1.0;
        for epoch in 0..=build / SHIFT_EPOCH {
            let mut rng = Rng::new(&[self.seed, 7, workload as u64, action as u64, epoch]);
            if rng.unit() >= 0.5 {
                continue;
            }
            let at = epoch * SHIFT_EPOCH + rng.range(if epoch == 0 { 50 } else { 0 }, SHIFT_EPOCH);
            if at <= build {
                let size = 0.1 + 0.3 * rng.unit();
                level *= if rng.unit() < 0.6 {
                    1.0 + size
                } else {
                    1.0 / (1.0 + size)
                };
            }
        }
        level
    }
}

fn workload_plan(seed: u64, w: u32, actions: u32) -> WorkloadPlan {
    let mut rng = Rng::new(&[seed, 1, w as u64]);
    let scenario = SCENARIOS[w as usize % SCENARIOS.len()].to_string();
    let round = w as usize / SCENARIOS.len();
    let title = if round == 0 {
        scenario.clone()
    } else {
        format!("{scenario} (variant {round})")
    };
    let key = WorkloadPlace {
        job: JOB,
        subtask_title: &title,
        title_occurrence: 0,
        position: 0,
        scenario: &scenario,
    }
    .key();
    let mut plans = vec![ActionPlan {
        name: "total".into(),
        depth: 0,
        base_s: 0.05 + 0.2 * rng.unit(),
        sigma: 0.03 + 0.05 * rng.unit(),
    }];
    for j in 1..actions as usize {
        let atomic = ATOMIC[(w as usize * 3 + j) % ATOMIC.len()];
        let lap = (j - 1) / ATOMIC.len();
        let name = if lap == 0 {
            atomic.to_string()
        } else {
            format!("{atomic} ({})", lap + 1)
        };
        // One in four actions is nested in the one before it, as Rally's
        // atomic actions inside atomic actions are.
        let (name, depth) = if j % 4 == 0 {
            (format!("{} > {name}", plans[j - 1].name), 2)
        } else {
            (name, 1)
        };
        plans.push(ActionPlan {
            name,
            depth,
            base_s: (0.2 + 3.0 * rng.unit()).powi(2) / 2.0,
            sigma: 0.04 + 0.12 * rng.unit(),
        });
    }
    WorkloadPlan {
        scenario,
        title,
        key,
        times: rng.range(4, 11),
        config_change_at: (w % 7 == 3).then_some(4000 + 37 * w as u64),
        actions: plans,
    }
}

/// One workload's run in one build.
struct WorkloadRun {
    record: WorkloadRecord,
    rows: Vec<SeriesRow>,
    iterations: u64,
    failed: u64,
    full_s: f64,
}

fn run_workload(plan: &Plan, w: u32, build: u64, start_us: i64) -> WorkloadRun {
    let wp = &plan.workloads[w as usize];
    let changed = wp.config_change_at.is_some_and(|at| build >= at);
    let times = wp.times + if changed { 2 } else { 0 };
    let config = json!({
        "scenario": {wp.scenario.as_str(): {"image": {"name": "cirros"}, "flavor": {"name": "m1.tiny"}}},
        "runner": {"constant": {"times": times, "concurrency": 1}},
        "contexts": {"users": {"tenants": 2, "users_per_tenant": 1}},
        "sla": {"failure_rate": {"max": 0}},
        "hooks": [],
    });
    let levels: Vec<f64> = (0..wp.actions.len())
        .map(|a| plan.level(w, a, build))
        .collect();
    let mut rng = Rng::new(&[plan.seed, 2, build, w as u64]);
    let mut rows: Vec<SeriesRow> = wp
        .actions
        .iter()
        .map(|a| SeriesRow {
            workload_key: wp.key.clone(),
            workload_index: w,
            config_hash: config_hash(&config),
            scenario: wp.scenario.clone(),
            subtask_title: wp.title.clone(),
            action: a.name.clone(),
            depth: a.depth,
            rate_unit: if a.depth == 0 { "iterations/s" } else { "" }.into(),
            ..SeriesRow::default()
        })
        .collect();
    let mut all_totals = Vec::new();
    let mut failed = 0;
    for _ in 0..times {
        // Rally stops an iteration at the failing action.
        let fails_at = (rng.unit() < 0.003).then(|| rng.range(1, wp.actions.len().max(2) as u64));
        let mut total = 0.0;
        for (a, action) in wp.actions.iter().enumerate() {
            let d = action.base_s * levels[a] * (action.sigma * rng.normal()).exp();
            if a == 0 {
                total += d;
                continue;
            }
            let row = &mut rows[a];
            row.samples += 1;
            total += d;
            if fails_at == Some(a as u64) {
                row.failed += 1;
                break;
            }
            row.durations_s.push(d);
        }
        let row = &mut rows[0];
        row.samples += 1;
        all_totals.push(total);
        if fails_at.is_some() {
            row.failed += 1;
            failed += 1;
        } else {
            row.durations_s.push(total);
        }
    }
    let load_s: f64 = all_totals.iter().sum();
    let full_s = load_s + 20.0 + 5.0 * rng.unit();
    let pass_sla = failed == 0;
    rows[0].load_duration_s = Some(load_s);
    for row in &mut rows {
        row.pass_sla = pass_sla;
    }
    let sla_results = json!([{
        "criterion": "failure_rate",
        "success": pass_sla,
        "detail": format!("Failure rate criteria 0.00% <= {:.2}% <= 0.00% - {}", 100.0 * failed as f64 / times as f64, if pass_sla { "Passed" } else { "Failed" }),
    }]);
    let duration: Option<DurationStats> = Summary::of(&all_totals);
    let record = WorkloadRecord {
        workload_index: w,
        workload_key: wp.key.clone(),
        config_hash: config_hash(&config),
        task_index: 0,
        task_uuid: Some(uuid(&format!("task {} {build}", plan.seed))),
        task_status: Some("finished".into()),
        subtask_index: w,
        subtask_title: wp.title.clone(),
        position: 0,
        scenario: wp.scenario.clone(),
        description: String::new(),
        runner_type: "constant".into(),
        runner_times: Some(times),
        runner_concurrency: Some(1),
        runner_json: config["runner"]["constant"].to_string(),
        args_json: config["scenario"][wp.scenario.as_str()].to_string(),
        contexts_json: config["contexts"].to_string(),
        sla_json: config["sla"].to_string(),
        hooks_json: "[]".into(),
        start_time_us: Some(start_us),
        load_duration_s: Some(load_s),
        full_duration_s: Some(full_s),
        iterations: times,
        failed_iterations: failed,
        pass_sla,
        sla_results_json: sla_results.to_string(),
        sla_failed: if pass_sla {
            Vec::new()
        } else {
            vec!["failure_rate".into()]
        },
        context_error: None,
        hooks_failed: 0,
        duration,
        details_json: None,
    };
    WorkloadRun {
        record,
        rows,
        iterations: times,
        failed,
        full_s,
    }
}

/// 32 hex digits, as Zuul build and buildset ids are.
fn zuul_id(text: &str) -> String {
    sha256_hex(text.as_bytes())[..32].to_string()
}

fn uuid(text: &str) -> String {
    BuildId::from_digest(&sha256_hex(text.as_bytes())).to_string()
}

/// The archive key and encoded objects of build `index`.
fn build_objects(
    plan: &Plan,
    index: u64,
) -> Result<(ArchiveKey, BuildObjects), perfkit_archive::ArchiveError> {
    let id = match plan.variant {
        Variant::Plain | Variant::Check => zuul_id(&format!("build {} {index}", plan.seed)),
        Variant::Recheck => zuul_id(&format!("recheck {} {index}", plan.seed)),
        Variant::Backfill => zuul_id(&format!("backfill {} {index}", plan.seed)),
    };
    let build_id = BuildId::try_from(id.as_str()).expect("hex is a valid build id");
    let mut rng = Rng::new(&[plan.seed, 3, index]);
    let later_us = match plan.variant {
        Variant::Recheck => 2 * 3_600_000_000,
        Variant::Backfill => DAY_US / 2,
        Variant::Plain | Variant::Check => 0,
    };
    let started_us = EPOCH_US
        + index as i64 * DAY_US
        + 3 * 3_600_000_000
        + rng.range(0, 1_800_000_000) as i64
        + later_us;
    let mut at_us = started_us;
    let mut workloads = Vec::new();
    let mut rows = Vec::new();
    let (mut iterations, mut failed) = (0, 0);
    for w in 0..plan.workloads.len() as u32 {
        let run = run_workload(plan, w, index, at_us);
        at_us += (run.full_s * 1e6) as i64;
        iterations += run.iterations;
        failed += run.failed;
        workloads.push(run.record);
        rows.extend(run.rows);
    }
    // With `--check-every N`, every Nth build is a check build of its own
    // change (900000 + index, patchset 1) instead of a periodic one.
    let check = match plan.variant {
        Variant::Plain => plan.check_every > 0 && index % plan.check_every == plan.check_every - 1,
        Variant::Check | Variant::Recheck => true,
        Variant::Backfill => false,
    };
    let change = if check { 900_000 + index } else { 0 };
    let key = ArchiveKey {
        project: plan.project.clone(),
        change,
        patchset: u32::from(check),
        build: build_id.clone(),
    };
    let record = BuildRecord {
        key: key.clone(),
        meta: BuildMeta {
            change: check.then_some(change),
            patchset: check.then_some(1),
            git_ref: Some(if check {
                format!("refs/changes/{:02}/{change}/1", change % 100)
            } else {
                format!("refs/heads/{BRANCH}")
            }),
            newrev: Some(
                sha256_hex(format!("commit {} {index}", plan.seed).as_bytes())[..40].to_string(),
            ),
            branch: Some(BRANCH.into()),
            pipeline: Some(if check { "check" } else { "periodic" }.into()),
            job: Some(JOB.into()),
            zuul_build: Some(id.clone()),
            buildset: Some(zuul_id(&format!("buildset {} {index}", plan.seed))),
            tenant: Some("openstack".into()),
            log_url: Some(format!(
                "https://storage.bench-cloud.example/v1/AUTH_e8fd161dc34c421a979a9e6421f823e9/zuul_opendev_logs_{}/periodic/opendev.org/{PROJECT}/{BRANCH}/{JOB}/{}/",
                &id[..3],
                &id[..7]
            )),
            node_provider: Some(
                ["rax-dfw", "ovh-gra1", "vexxhost-ca-ymq-1"][index as usize % 3].into(),
            ),
            node_label: Some("ubuntu-noble".into()),
            ..BuildMeta::default()
        },
        source_format: "rally-v2".into(),
        source_format_version: Some("1.2".into()),
        tool_version: Some("5.1.1".into()),
        source_file: "report.json".into(),
        source_sha256: sha256_hex(format!("report {} {index}", plan.seed).as_bytes()),
        source_bytes: 200_000 + 10_000 * plan.workloads.len() as u64,
        task_count: 1,
        task_statuses: vec!["finished".into()],
        workload_count: workloads.len() as u32,
        iteration_count: iterations,
        failed_iteration_count: failed,
        pass_sla: failed == 0,
        started_at_us: Some(started_us),
        finished_at_us: Some(at_us),
        ingested_at_us: at_us + 300_000_000,
        perfkit_version: env!("CARGO_PKG_VERSION").into(),
        failure: None,
    };
    let objects = BuildObjects {
        samples: SampleBatcher::new(&build_id)?.finish()?,
        workloads: encode_workloads(&build_id, &workloads)?,
        series: encode_series(&build_id, &rows)?,
        record,
    };
    Ok((key, objects))
}

async fn write_build(plan: Arc<Plan>, archive: Archive, index: u64) -> Result<bool, String> {
    let (_, objects) = build_objects(&plan, index).map_err(|e| e.to_string())?;
    let outcome = archive
        .put_build(objects, false)
        .await
        .map_err(|e| e.to_string())?;
    Ok(outcome == PutOutcome::Written)
}

async fn generate(o: Options) -> Result<(u64, u64), String> {
    let archive = Archive::open(&o.out).map_err(|e| e.to_string())?;
    let plan = Arc::new(Plan::new(&o));
    let mut tasks = tokio::task::JoinSet::new();
    let (mut written, mut existing) = (0u64, 0u64);
    let mut tally = |joined: Result<Result<bool, String>, tokio::task::JoinError>| {
        match joined.map_err(|e| e.to_string())?? {
            true => written += 1,
            false => existing += 1,
        }
        let done = written + existing;
        if done % 1000 == 0 {
            eprintln!("synth_archive: {done}/{} builds", o.builds);
        }
        Ok::<(), String>(())
    };
    for index in o.start..o.start + o.builds {
        if tasks.len() >= IN_FLIGHT {
            tally(tasks.join_next().await.expect("tasks are running"))?;
        }
        tasks.spawn(write_build(plan.clone(), archive.clone(), index));
    }
    while let Some(joined) = tasks.join_next().await {
        tally(joined)?;
    }
    Ok((written, existing))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("synth_archive: {message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let summary = format!(
        "{} builds {}..{} of {PROJECT}, {} workloads x {} actions = {} series",
        options.builds,
        options.start,
        options.start + options.builds,
        options.workloads,
        options.actions,
        options.workloads * options.actions
    );
    match runtime.block_on(generate(options.clone())) {
        Ok((written, existing)) => {
            eprintln!(
                "synth_archive: {summary} into {}: {written} written, {existing} already there, {:.1} s",
                options.out,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("synth_archive: {message}");
            ExitCode::FAILURE
        }
    }
}
