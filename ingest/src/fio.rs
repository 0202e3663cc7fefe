//! fio results: `fio --output-format=json` and `json+` (which adds a
//! latency histogram, `clat_ns.bins`). fio 3.0 and later report latencies
//! in nanoseconds (`clat_ns`, `lat_ns`); fio 2.x wrote microseconds
//! (`clat`, `lat`), read here too. fio may print notes before the JSON
//! (`note: both iodepth >= 1 and synchronous I/O engine…`); they are skipped.
//!
//! One workload per job and direction that did I/O (`read`, `write`,
//! `trim`), three series each: the completion latency (lower is better;
//! the distribution as quantile points, from the histogram when `json+`
//! gave one), the IOPS and the bandwidth (higher is better, one value per
//! build each). Submission and total latency, percentiles and the
//! per-second IOPS/bandwidth statistics are kept in `workloads.details_json`.

use std::collections::HashMap;
use std::path::Path;

use perfkit_schema::identity::config_hash;
use perfkit_schema::records::SECONDS;
use perfkit_schema::{SeriesRow, WorkloadRecord};
use serde_json::{Map, Value, json};

use crate::IngestError;
use crate::limits::{MAX_FIO_JOBS, MAX_FIO_OPTIONS, over};
use crate::measured::{Measured, summary, workload_key};
use crate::quantiles;

/// The options that say which workload a job is; the others (size,
/// runtime, direct…) are its configuration, hashed into `config_hash`.
const IDENTITY_OPTIONS: [(&str, &[&str]); 5] = [
    ("rw", &["rw", "readwrite"]),
    ("bs", &["bs", "blocksize"]),
    ("iodepth", &["iodepth"]),
    ("numjobs", &["numjobs"]),
    ("ioengine", &["ioengine"]),
];

/// Identity options that only some engines have, part of the identity
/// only when set, so that the workloads of jobs without them keep the keys
/// they had before these were added. `pool`: the Ceph pool the `rbd` (and
/// `rados`) engine writes to is the storage measured, as a directory's
/// disk is for the local engines, but unlike a directory it is stable and
/// chosen: another pool (another device class, replication, another
/// cluster) is another series.
const ENGINE_IDENTITY_OPTIONS: [&str; 1] = ["pool"];

/// Options that name places, not the measurement (temporary directories
/// change every run). `rbdname` is the RBD image fio writes to: a job
/// creates a throw-away image for each run and may name it after the
/// build, as fio's local engines get a fresh file in `directory`; the pool
/// it lives in is the identity.
const PLACE_OPTIONS: [&str; 5] = [
    "name",
    "directory",
    "filename",
    "filename_format",
    "rbdname",
];

const DIRECTIONS: [&str; 3] = ["read", "write", "trim"];

/// Where the JSON starts, skipping fio's notes before it; `None` when the
/// content is not fio's (no `"fio version"` near the start).
pub fn json_start(bytes: &[u8]) -> Option<usize> {
    let mut offset = 0;
    for line in bytes.split_inclusive(|b| *b == b'\n').take(64) {
        let trimmed = line.iter().position(|b| !b.is_ascii_whitespace());
        if let Some(i) = trimmed
            && line[i] == b'{'
        {
            let window = &bytes[offset..bytes.len().min(offset + 512)];
            return memchr::memmem::find(window, b"\"fio version\"").map(|_| offset);
        }
        offset += line.len();
    }
    None
}

/// Parses a fio JSON report (`bytes` from `json_start` on).
pub fn parse(path: &Path, bytes: &[u8], job: &str) -> Result<Measured, IngestError> {
    let invalid = |place: String, message: String, hint: &str| IngestError::Invalid {
        path: path.to_path_buf(),
        place,
        message,
        hint: hint.to_string(),
    };
    const RERUN: &str = "pass the complete output of `fio --output-format=json` (or `json+`)";
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    let report = match stream.next() {
        Some(Ok(value)) => value,
        Some(Err(e)) => {
            return Err(invalid(
                format!("line {}, column {}", e.line(), e.column()),
                crate::limits::json_error_text(&e),
                RERUN,
            ));
        }
        None => return Err(invalid("$".into(), "no JSON".into(), RERUN)),
    };
    let version = report
        .get("fio version")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let major = version
        .strip_prefix("fio-")
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < 2) {
        return Err(invalid(
            "$.\"fio version\"".into(),
            format!(
                "fio version `{version}` is not supported (perfkit reads fio 2.x and 3.x JSON)"
            ),
            "run the job with fio 3.x (`fio --output-format=json`)",
        ));
    }
    let jobs = report
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("$.jobs".into(), "missing the list of jobs".into(), RERUN))?;
    let global = report
        .get("global options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let finished_ms = report
        .get("timestamp_ms")
        .and_then(Value::as_i64)
        .or_else(|| {
            report
                .get("timestamp")
                .and_then(Value::as_i64)
                .and_then(|s| s.checked_mul(1000))
        });
    let mut measured = Measured {
        source_format: "fio-json",
        format_version: None,
        tool_version: Some(version),
        // Checked: a hostile timestamp must not overflow (no time then).
        finished_at_us: finished_ms.and_then(|ms| ms.checked_mul(1000)),
        ..Measured::default()
    };
    if jobs.len() > MAX_FIO_JOBS {
        return Err(invalid(
            format!("$.jobs[{MAX_FIO_JOBS}]"),
            over(MAX_FIO_JOBS, "jobs in one report"),
            crate::limits::HINT,
        ));
    }
    let mut longest_s = 0i64;
    // How many jobs of each name came before.
    let mut names_seen: HashMap<String, usize> = HashMap::new();
    for (j, fio_job) in jobs.iter().enumerate() {
        let name = fio_job
            .get("jobname")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let error = fio_job.get("error").and_then(Value::as_i64).unwrap_or(0);
        if error != 0 {
            return Err(invalid(
                format!("$.jobs[{j}].error"),
                format!(
                    "fio job `{name}` failed with error {error} ({}); its numbers are not a measurement",
                    std::io::Error::from_raw_os_error(error as i32)
                ),
                "fix the job (fio printed the cause before its JSON) and run it again",
            ));
        }
        longest_s = longest_s.max(fio_job.get("elapsed").and_then(Value::as_i64).unwrap_or(0));
        let own = fio_job.get("job options").and_then(Value::as_object);
        if global.len() + own.map_or(0, Map::len) > MAX_FIO_OPTIONS {
            return Err(invalid(
                format!("$.jobs[{j}].\"job options\""),
                over(
                    MAX_FIO_OPTIONS,
                    "options for one job (its own and the global ones)",
                ),
                crate::limits::HINT,
            ));
        }
        let mut options = global.clone();
        if let Some(own) = own {
            options.extend(own.clone());
        }
        let identity = identity_of(&options);
        // Two jobs with the same options in one file stay two workloads.
        let seen = names_seen.entry(name.clone()).or_insert(0);
        let occurrence = *seen;
        *seen += 1;
        let mut config = options.clone();
        for place in PLACE_OPTIONS {
            config.remove(place);
        }
        let hash = config_hash(&json!({"tool": "fio", "options": config}));
        for direction in DIRECTIONS {
            let Some(stats) = fio_job.get(direction).and_then(Value::as_object) else {
                continue;
            };
            let ios = stats.get("total_ios").and_then(Value::as_u64).unwrap_or(0);
            if ios == 0 {
                continue;
            }
            let place = format!("$.jobs[{j}].{direction}");
            let latency = Latency::of(stats).ok_or_else(|| {
                invalid(
                    format!("{place}.clat_ns"),
                    "no completion latency (`clat_ns`, or `clat` before fio 3)".into(),
                    RERUN,
                )
            })?;
            let iops = stats
                .get("iops")
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN);
            let runtime_s = stats
                .get("runtime")
                .and_then(Value::as_f64)
                .map(|ms| ms / 1000.0);
            let label = describe(&identity, &name);
            let key = workload_key(
                "fio",
                job,
                &[
                    &name,
                    &occurrence.to_string(),
                    &identity.to_string(),
                    direction,
                ],
            );
            let index = measured.workloads.len() as u32;
            measured.operations += ios;
            let row = |action: String, values: Vec<f64>, unit: &str, higher: bool| SeriesRow {
                workload_key: key.clone(),
                workload_index: index,
                config_hash: hash.clone(),
                scenario: label.clone(),
                subtask_title: String::new(),
                action,
                depth: 0,
                samples: ios,
                failed: 0,
                durations_s: values,
                load_duration_s: None,
                pass_sla: true,
                unit: unit.into(),
                higher_is_better: higher,
                rate_unit: String::new(),
                ..SeriesRow::default()
            };
            measured.series.push(row(
                format!("{direction} latency"),
                latency.points(ios),
                SECONDS,
                false,
            ));
            measured.series.push(row(
                format!("{direction} IOPS"),
                vec![iops].into_iter().filter(|v| v.is_finite()).collect(),
                "IO/s",
                true,
            ));
            // Bandwidth moves with IOPS for one block size, but not for a
            // `bssplit` or a changed `bs`: it is judged on its own.
            let bandwidth = stats.get("bw_bytes").and_then(Value::as_f64).or_else(|| {
                // fio before 3.2 had no `bw_bytes`, only `bw` in KiB/s.
                stats
                    .get("bw")
                    .and_then(Value::as_f64)
                    .map(|kib| kib * 1024.0)
            });
            measured.series.push(row(
                format!("{direction} bandwidth"),
                bandwidth.into_iter().filter(|v| v.is_finite()).collect(),
                "B/s",
                true,
            ));
            let mut details = Map::new();
            details.insert("direction".into(), json!(direction));
            details.insert("jobname".into(), json!(name));
            details.insert("options".into(), Value::Object(options.clone()));
            details.insert("stats".into(), Value::Object(stats.clone()));
            details.insert("latency_unit".into(), json!(latency.source_unit));
            measured.workloads.push(WorkloadRecord {
                workload_index: index,
                workload_key: key.clone(),
                config_hash: hash.clone(),
                subtask_index: j as u32,
                subtask_title: name.clone(),
                position: j as u32,
                scenario: label.clone(),
                description: format!("{direction} of fio job `{name}`"),
                runner_type: "fio".into(),
                runner_json:
                    json!({"numjobs": identity["numjobs"], "iodepth": identity["iodepth"]})
                        .to_string(),
                args_json: Value::Object(options.clone()).to_string(),
                contexts_json: "{}".into(),
                sla_json: "{}".into(),
                hooks_json: "[]".into(),
                load_duration_s: runtime_s,
                full_duration_s: runtime_s,
                iterations: ios,
                pass_sla: true,
                sla_results_json: "[]".into(),
                duration: latency.summary(ios),
                details_json: Some(Value::Object(details).to_string()),
                ..WorkloadRecord::default()
            });
        }
    }
    if measured.workloads.is_empty() {
        return Err(invalid(
            "$.jobs".into(),
            "no job did any I/O".into(),
            "check the job file: every job ran for 0 I/Os",
        ));
    }
    measured.started_at_us = measured
        .finished_at_us
        .and_then(|end| end.checked_sub(longest_s.checked_mul(1_000_000)?));
    Ok(measured)
}

/// The options that identify the workload, normalized (aliases, absent → null).
fn identity_of(options: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (name, aliases) in IDENTITY_OPTIONS {
        let value = aliases
            .iter()
            .find_map(|a| options.get(*a))
            .cloned()
            .unwrap_or(Value::Null);
        out.insert(name.into(), value);
    }
    for name in ENGINE_IDENTITY_OPTIONS {
        if let Some(value) = options.get(name) {
            out.insert(name.into(), value.clone());
        }
    }
    Value::Object(out)
}

/// `fio randwrite bs=4k iodepth=32 (job name)`.
fn describe(identity: &Value, name: &str) -> String {
    let text = |k: &str| identity.get(k).and_then(Value::as_str);
    let mut out = format!("fio {}", text("rw").unwrap_or("read"));
    for key in ["bs", "iodepth", "numjobs", "ioengine", "pool"] {
        if let Some(v) = text(key) {
            out.push_str(&format!(" {key}={v}"));
        }
    }
    out.push_str(&format!(" ({name})"));
    out
}

/// One direction's completion latency, in seconds.
struct Latency {
    min: f64,
    max: f64,
    mean: f64,
    /// (percent, seconds).
    percentiles: Vec<(f64, f64)>,
    /// (seconds, count), from `json+`.
    bins: Vec<(f64, u64)>,
    source_unit: &'static str,
}

impl Latency {
    fn of(stats: &Map<String, Value>) -> Option<Latency> {
        let (clat, scale, unit) = match stats.get("clat_ns") {
            Some(c) => (c, 1e-9, "ns"),
            None => (stats.get("clat")?, 1e-6, "us"),
        };
        let number = |k: &str| clat.get(k).and_then(Value::as_f64).map(|v| v * scale);
        let pairs = |k: &str| -> Vec<(f64, f64)> {
            clat.get(k)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(p, v)| Some((p.parse::<f64>().ok()?, v.as_f64()? * scale)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let bins = clat
            .get("bins")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(v, c)| Some((v.parse::<f64>().ok()? * scale, c.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default();
        Some(Latency {
            min: number("min")?,
            max: number("max")?,
            mean: number("mean")?,
            percentiles: pairs("percentile"),
            bins,
            source_unit: unit,
        })
    }

    fn points(&self, ios: u64) -> Vec<f64> {
        if !self.bins.is_empty() {
            return quantiles::from_histogram(&self.bins);
        }
        let mut table = self.percentiles.clone();
        table.push((0.0, self.min));
        table.push((100.0, self.max));
        quantiles::from_percentiles(&table, ios)
    }

    fn summary(&self, ios: u64) -> Option<perfkit_schema::Summary> {
        let at = |p: f64| {
            self.percentiles
                .iter()
                .find(|(q, _)| (*q - p).abs() < 1e-9)
                .map(|(_, v)| *v)
        };
        let points = self.points(ios);
        let from_points = perfkit_schema::Summary::of(&points);
        let pick = |p: f64, fallback: Option<f64>| at(p).or(fallback).unwrap_or(f64::NAN);
        summary(
            ios,
            self.min,
            pick(50.0, from_points.map(|s| s.median)),
            pick(90.0, from_points.map(|s| s.p90)),
            pick(95.0, from_points.map(|s| s.p95)),
            self.max,
            self.mean,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../../tests/fixtures/fio/randwrite-4k-qd32.json");

    fn latency_median(m: &Measured) -> f64 {
        m.workloads[0].duration.unwrap().median
    }

    /// Found by the `fio` fuzz target: timestamps near `i64::MAX`
    /// overflowed when turned into microseconds.
    #[test]
    fn timestamps_past_the_range_leave_the_time_unknown() {
        for (key, value) in [
            ("timestamp_ms", i64::MAX / 10),
            ("timestamp", i64::MAX / 10),
        ] {
            let mut report: Value = serde_json::from_str(REAL).unwrap();
            report.as_object_mut().unwrap().remove("timestamp_ms");
            report["timestamp"] = Value::Null;
            report[key] = value.into();
            let m = parse(Path::new("fio.json"), report.to_string().as_bytes(), "job").unwrap();
            assert_eq!((m.finished_at_us, m.started_at_us), (None, None), "{key}");
        }
        let m = parse(Path::new("fio.json"), REAL.as_bytes(), "job").unwrap();
        assert!(m.started_at_us.unwrap() < m.finished_at_us.unwrap());
    }

    #[test]
    fn fio_2_microsecond_latencies_read_as_seconds() {
        // fio before 3.0 wrote `clat`/`lat` in µs; the same numbers moved to
        // `clat_ns`/`lat_ns` in ns. Rewrite the real 3.33 report the old way.
        let mut old: Value = serde_json::from_str(REAL).unwrap();
        old["fio version"] = json!("fio-2.20");
        let write = old["jobs"][0]["write"].as_object_mut().unwrap();
        let mut clat = write.remove("clat_ns").unwrap();
        for key in ["min", "max", "mean", "stddev"] {
            clat[key] = json!(clat[key].as_f64().unwrap() / 1000.0);
        }
        for (_, v) in clat["percentile"].as_object_mut().unwrap() {
            *v = json!(v.as_f64().unwrap() / 1000.0);
        }
        write.insert("clat".into(), clat);
        let path = Path::new("old.json");
        let new = parse(path, REAL.as_bytes(), "j").unwrap();
        let old = parse(path, old.to_string().as_bytes(), "j").unwrap();
        let (a, b) = (latency_median(&new), latency_median(&old));
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        assert!(a > 1e-6 && a < 1e-2, "a disk latency in seconds: {a}");
        assert_eq!(old.tool_version.as_deref(), Some("fio-2.20"));
    }

    #[test]
    fn jobs_and_options_past_the_limits_are_refused() {
        let base: Value = serde_json::from_str(REAL).unwrap();
        let with_jobs = |n: usize| {
            let mut v = base.clone();
            let job = v["jobs"][0].clone();
            v["jobs"] = Value::Array(vec![job; n]);
            v.to_string()
        };
        // Jobs of one name stay apart by occurrence: one workload each.
        let m = parse(Path::new("x.json"), with_jobs(MAX_FIO_JOBS).as_bytes(), "j").unwrap();
        assert_eq!(m.workloads.len(), MAX_FIO_JOBS);
        let keys: std::collections::HashSet<_> =
            m.workloads.iter().map(|w| &w.workload_key).collect();
        assert_eq!(keys.len(), MAX_FIO_JOBS);
        let err = parse(
            Path::new("x.json"),
            with_jobs(MAX_FIO_JOBS + 1).as_bytes(),
            "j",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("more than 10,000 jobs in one report (perfkit's limit) at $.jobs[10000]"),
            "{err}"
        );

        let mut v = base.clone();
        let options = v["jobs"][0]["job options"].as_object_mut().unwrap();
        for i in 0..MAX_FIO_OPTIONS {
            options.insert(format!("opt{i}"), json!("1"));
        }
        let err = parse(Path::new("x.json"), v.to_string().as_bytes(), "j")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("more than 1,000 options for one job (its own and the global ones)"),
            "{err}"
        );
        assert!(err.contains("at $.jobs[0].\"job options\""), "{err}");
    }

    #[test]
    fn unknown_versions_and_idle_jobs_are_refused() {
        let mut v: Value = serde_json::from_str(REAL).unwrap();
        v["fio version"] = json!("fio-1.59");
        let err = parse(Path::new("x.json"), v.to_string().as_bytes(), "j").unwrap_err();
        assert!(
            err.to_string().contains("`fio-1.59` is not supported"),
            "{err}"
        );
        let mut v: Value = serde_json::from_str(REAL).unwrap();
        v["jobs"][0]["write"]["total_ios"] = json!(0);
        let err = parse(Path::new("x.json"), v.to_string().as_bytes(), "j").unwrap_err();
        assert!(err.to_string().contains("no job did any I/O"), "{err}");
    }

    #[test]
    fn the_workload_is_named_by_its_options_and_configured_by_the_rest() {
        let base: Value = serde_json::from_str(REAL).unwrap();
        let run = |edit: &dyn Fn(&mut Value)| {
            let mut v = base.clone();
            edit(&mut v);
            let m = parse(Path::new("x.json"), v.to_string().as_bytes(), "j").unwrap();
            (
                m.workloads[0].workload_key.clone(),
                m.workloads[0].config_hash.clone(),
            )
        };
        let (key, config) = run(&|_| {});
        // Another temporary directory: the same workload and configuration.
        let moved = run(&|v| v["jobs"][0]["job options"]["directory"] = json!("/tmp/other"));
        assert_eq!(moved, (key.clone(), config.clone()));
        // Another runtime: the same workload, configuration changed.
        let longer = run(&|v| v["jobs"][0]["job options"]["runtime"] = json!("60"));
        assert_eq!(longer.0, key);
        assert_ne!(longer.1, config);
        // Another block size: another workload.
        let bigger = run(&|v| v["jobs"][0]["job options"]["bs"] = json!("64k"));
        assert_ne!(bigger.0, key);
    }

    #[test]
    fn the_ceph_pool_is_part_of_the_identity_and_the_image_name_is_not() {
        let base: Value = serde_json::from_str(REAL).unwrap();
        let run = |edit: &dyn Fn(&mut Value)| {
            let mut v = base.clone();
            edit(&mut v);
            let m = parse(Path::new("x.json"), v.to_string().as_bytes(), "j").unwrap();
            let w = &m.workloads[0];
            (
                w.workload_key.clone(),
                w.config_hash.clone(),
                w.scenario.clone(),
            )
        };
        let (key, config, label) = run(&|_| {});
        // Jobs without a pool keep the keys archived before `pool` counted.
        assert_eq!(key, "907f060e8528082f");
        assert_eq!(
            label,
            "fio randwrite bs=4k iodepth=32 ioengine=libaio (randwrite-4k-qd32)"
        );
        let rbd = |pool: &'static str, image: &'static str| {
            move |v: &mut Value| {
                let opts = v["jobs"][0]["job options"].as_object_mut().unwrap();
                opts.remove("directory");
                opts.remove("direct");
                opts.insert("ioengine".into(), json!("rbd"));
                opts.insert("clientname".into(), json!("admin"));
                opts.insert("pool".into(), json!(pool));
                opts.insert("rbdname".into(), json!(image));
                opts.insert("invalidate".into(), json!("0"));
            }
        };
        let volumes = run(&rbd("volumes", "perfkit-fio-1111"));
        assert_ne!(volumes.0, key, "RBD and local-disk histories mixed");
        assert_eq!(
            volumes.2,
            "fio randwrite bs=4k iodepth=32 ioengine=rbd pool=volumes (randwrite-4k-qd32)"
        );
        // The next build's throw-away image: the same workload and configuration.
        let next = run(&rbd("volumes", "perfkit-fio-2222"));
        assert_eq!(next, volumes);
        // Another pool: another workload.
        let other = run(&rbd("fast-ssd", "perfkit-fio-1111"));
        assert_ne!(other.0, volumes.0);
        // The engine alone separates them too: a pool set for libaio (where fio
        // ignores it) still names another workload than none.
        let libaio_pool = run(&|v| v["jobs"][0]["job options"]["pool"] = json!("volumes"));
        assert_ne!(libaio_pool.0, key);
        assert_ne!(libaio_pool.0, volumes.0);
        assert_ne!(config, volumes.1);
    }

    #[test]
    fn the_real_rbd_run_is_its_own_series() {
        const RBD: &str = include_str!("../../tests/fixtures/fio/rbd/randwrite-seqread-rbd.json");
        let rbd = parse(Path::new("rbd.json"), RBD.as_bytes(), "cinder-fio").unwrap();
        let local = parse(Path::new("local.json"), REAL.as_bytes(), "cinder-fio").unwrap();
        let labels: Vec<&str> = rbd.workloads.iter().map(|w| w.scenario.as_str()).collect();
        assert_eq!(
            labels,
            [
                "fio randwrite bs=4k iodepth=32 ioengine=rbd pool=volumes (randwrite-4k-qd32)",
                "fio read bs=1M iodepth=16 ioengine=rbd pool=volumes (seqread-1m)",
            ]
        );
        // The same job name and Zuul job as the local-disk randwrite run, yet
        // another workload: their histories never mix.
        assert_eq!(
            rbd.workloads[0].subtask_title,
            local.workloads[0].subtask_title
        );
        assert_ne!(
            rbd.workloads[0].workload_key,
            local.workloads[0].workload_key
        );
        let options: Value = serde_json::from_str(&rbd.workloads[0].args_json).unwrap();
        assert_eq!(options["rbdname"], "fio_test");
        assert_eq!(options["clientname"], "admin");
        // IOPS and bandwidth once per build; latency from the json+ bins.
        let write: Vec<&SeriesRow> = rbd
            .series
            .iter()
            .filter(|r| r.workload_index == 0)
            .collect();
        let actions: Vec<&str> = write.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, ["write latency", "write IOPS", "write bandwidth"]);
        assert!(
            (write[1].durations_s[0] - 2979.0).abs() < 1.0,
            "{:?}",
            write[1].durations_s
        );
        assert!(write[0].durations_s.len() > 100);
        let median = rbd.workloads[0].duration.unwrap().median;
        assert!(median > 1e-4 && median < 1e-2, "{median}");
    }

    #[test]
    fn notes_before_the_json_are_skipped() {
        let with_note =
            format!("note: both iodepth >= 1 and synchronous I/O engine are selected\n{REAL}");
        let start = json_start(with_note.as_bytes()).unwrap();
        assert!(with_note[start..].starts_with('{'));
        assert_eq!(json_start(b"{\"tasks\": []}"), None, "not fio");
    }
}
