//! `perfkit ls`: what the archive holds, one line per build.

use crate::Outcome;

use perfkit_schema::ProjectName;

use perfkit_schema::shown;

use crate::read::index_rows;

/// What `perfkit ls` was asked to do (the binary fills it from its arguments).
pub struct LsOptions {
    /// Archive to read [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    pub archive: Option<String>,
    /// Only this project, e.g. `openstack/nova`
    pub project: Option<String>,
    /// One JSON object per line instead of a table
    pub json: bool,
}

pub async fn run(args: LsOptions) -> anyhow::Result<Outcome> {
    let project = args
        .project
        .as_deref()
        .map(ProjectName::try_from)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let archive = crate::read::open_existing(args.archive)?;
    let projects: Vec<ProjectName> = project.into_iter().collect();
    // One index per project: a few requests, not one per build.
    let mut builds: Vec<perfkit_schema::BuildRecord> = index_rows(&archive, &projects)
        .await?
        .into_values()
        .flatten()
        .map(|row| row.record)
        .collect();
    builds.sort_by(|a, b| (a.started_at_us, &a.key.build).cmp(&(b.started_at_us, &b.key.build)));
    crate::read::log_requests(&archive);
    if args.json {
        use std::io::Write;
        // One write per buffer, not per line: 10,000 builds are one
        // command's output.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for b in &builds {
            let line = serde_json::json!({
                "project": b.key.project.as_str(), "change": b.key.change, "patchset": b.key.patchset,
                "build": b.key.build.as_str(), "pipeline": b.meta.pipeline, "job": b.meta.job,
                "branch": b.meta.branch, "ref": b.meta.git_ref, "started_at_us": b.started_at_us,
                "workloads": b.workload_count, "iterations": b.iteration_count,
                "failed_iterations": b.failed_iteration_count, "pass_sla": b.pass_sla,
                "task_statuses": b.task_statuses, "source_format": b.source_format,
                "zuul_result": b.meta.zuul_result, "failure": b.failure,
            });
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        return Ok(Outcome::Success);
    }
    if builds.is_empty() {
        eprintln!("no builds in {}", archive.display_url());
        return Ok(Outcome::Success);
    }
    println!(
        "{:<28} {:>8} {:>3} {:<10} {:<26} {:<36} {:<20} {:>4} {:>6} {:>6}  SLA",
        "PROJECT",
        "CHANGE",
        "PS",
        "PIPELINE",
        "JOB",
        "BUILD",
        "STARTED (UTC)",
        "WL",
        "ITER",
        "FAILED"
    );
    for b in &builds {
        let dash = || "-".to_string();
        println!(
            "{:<28} {:>8} {:>3} {:<10} {:<26} {:<36} {:<20} {:>4} {:>6} {:>6}  {}",
            b.key.project.as_str(),
            if b.key.change == 0 {
                dash()
            } else {
                b.key.change.to_string()
            },
            if b.key.change == 0 {
                dash()
            } else {
                b.key.patchset.to_string()
            },
            b.meta
                .pipeline
                .as_deref()
                .map(shown)
                .map(|s| s.into_owned())
                .unwrap_or_else(dash),
            b.meta
                .job
                .as_deref()
                .map(shown)
                .map(|s| s.into_owned())
                .unwrap_or_else(dash),
            b.key.build.as_str(),
            b.started_at_us
                .map(perfkit_analysis::format::datetime)
                .unwrap_or_else(dash),
            b.workload_count,
            b.iteration_count,
            b.failed_iteration_count,
            sla_column(b),
        );
    }
    Ok(Outcome::Success)
}

/// `pass`/`FAIL`, or for a build that left no results, Zuul's word for it
/// (`NODE_FAILURE`…): there was no SLA to pass. Locust and fio have no SLA.
/// A build the collector gave up on says so (its `failure` is in `--json`).
fn sla_column(b: &perfkit_schema::BuildRecord) -> String {
    if b.failed_for_good() {
        return "- (failed for good: see `ls --json`)".to_string();
    }
    if !b.has_results() {
        let result = b.meta.zuul_result.as_deref().unwrap_or("no results");
        return format!("- ({})", shown(result));
    }
    if !b.source_format.starts_with("rally") {
        return "-".to_string();
    }
    if b.pass_sla { "pass" } else { "FAIL" }.to_string()
}
