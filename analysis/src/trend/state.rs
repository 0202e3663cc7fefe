//! The points of a project's series before change points are sought,
//! kept between site builds: when new builds only append to the branch
//! history, their points are added to the saved ones instead of reading
//! millions of archived rows again. `append` refuses anything else, and
//! the caller then starts from every build, so both ways give one result.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{TrendPoint, has_repeated_rows};
use crate::compare::BuildRef;
use crate::state_bytes::{StateReader, StateWriter};
use crate::{SeriesKey, SeriesLabel, in_time_order, merged_rows};
use perfkit_schema::records::{ArchivedBuild, SeriesRow};

const MAGIC: &[u8] = b"perfkit trend state 3\n";

/// Every series' points over a project's branch builds.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendState {
    /// Branch builds, oldest first.
    pub(super) builds: Vec<BuildRef>,
    pub(super) series: BTreeMap<SeriesKey, SeriesHistory>,
}

/// One series' points, its latest name and its current configuration.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SeriesHistory {
    pub(super) label: SeriesLabel,
    pub(super) points: Vec<TrendPoint>,
    pub(super) config: String,
}

/// What the binary points are preceded by (JSON: a few MB at most).
#[derive(Serialize, Deserialize)]
struct Header {
    builds: Vec<BuildRef>,
    series: Vec<(String, String, String, SeriesLabel, String, usize)>,
}

impl TrendState {
    /// Branch builds so far, oldest first.
    pub fn builds(&self) -> &[BuildRef] {
        &self.builds
    }

    /// Whether a series of `branch`, workload and action has points.
    pub fn has_series(&self, branch: &str, workload_key: &str, action: &str) -> bool {
        self.series.contains_key(&SeriesKey {
            branch: branch.to_string(),
            workload_key: workload_key.to_string(),
            action: action.to_string(),
        })
    }

    /// Adds `new` builds when they are all branch builds later than every
    /// branch build so far (so they only append points); `false`, and
    /// nothing changed, otherwise.
    pub fn append(&mut self, new: &[ArchivedBuild]) -> bool {
        let ordered = in_time_order(new);
        let last = self.builds.last().map(|b| (b.time_us, b.build.as_str()));
        let appends = ordered.iter().all(|b| b.is_branch_build())
            && ordered.first().is_none_or(|b| {
                last.is_none_or(|l| (b.time_us(), b.record.key.build.as_str()) > l)
            });
        if !appends {
            return false;
        }
        for build in ordered {
            let index = self.builds.len();
            let branch = build.record.meta.branch.as_deref().unwrap_or_default();
            if has_repeated_rows(build) {
                let mut firsts: HashMap<(&str, &str), &SeriesRow> = HashMap::new();
                for row in &build.series {
                    firsts
                        .entry((row.workload_key.as_str(), row.action.as_str()))
                        .or_insert(row);
                }
                for (_, merged) in merged_rows(build) {
                    let first = firsts[&(merged.workload_key.as_str(), merged.action.as_str())];
                    self.add(branch, build, first, &merged, index);
                }
            } else {
                for row in &build.series {
                    self.add(branch, build, row, row, index);
                }
            }
            self.builds.push(BuildRef::of(build));
        }
        true
    }

    /// As `accumulate` does for a whole history.
    fn add(
        &mut self,
        branch: &str,
        build: &ArchivedBuild,
        named: &SeriesRow,
        row: &SeriesRow,
        index: usize,
    ) {
        let key = SeriesKey {
            branch: branch.to_string(),
            workload_key: named.workload_key.clone(),
            action: named.action.clone(),
        };
        let history = self.series.entry(key).or_insert_with(|| SeriesHistory {
            label: SeriesLabel::of(build, named),
            points: Vec::new(),
            config: row.config_hash.clone(),
        });
        let changed = history.config != row.config_hash;
        history.points.push(TrendPoint::of(index, row, changed));
        if changed {
            history.config = row.config_hash.clone();
        }
        history.label = SeriesLabel::of(build, named);
    }

    /// The state as bytes for `from_bytes`: a JSON header (builds, series
    /// names) and the points in binary, exact to the bit.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            builds: self.builds.clone(),
            series: self
                .series
                .iter()
                .map(|(k, h)| {
                    (
                        k.branch.clone(),
                        k.workload_key.clone(),
                        k.action.clone(),
                        h.label.clone(),
                        h.config.clone(),
                        h.points.len(),
                    )
                })
                .collect(),
        };
        let json = serde_json::to_vec(&header).expect("the header serializes");
        let points: usize = self.series.values().map(|h| h.points.len()).sum();
        let mut out = StateWriter::new(MAGIC, 8 + json.len() + points * 64);
        out.u64(json.len() as u64);
        out.bytes(&json);
        for history in self.series.values() {
            for p in &history.points {
                write_point(&mut out, p);
            }
        }
        out.finish()
    }

    /// A state saved by `to_bytes` (of this perfkit version), else `None`.
    pub fn from_bytes(bytes: &[u8]) -> Option<TrendState> {
        let mut r = StateReader::open(bytes, MAGIC)?;
        let json_len = r.u64()? as usize;
        let header: Header = serde_json::from_slice(r.take(json_len)?).ok()?;
        let mut series = BTreeMap::new();
        for (branch, workload_key, action, label, config, count) in header.series {
            let mut points = Vec::with_capacity(count.min(r.remaining() / 25));
            for _ in 0..count {
                points.push(read_point(&mut r)?);
            }
            let key = SeriesKey {
                branch,
                workload_key,
                action,
            };
            series.insert(
                key,
                SeriesHistory {
                    label,
                    points,
                    config,
                },
            );
        }
        r.is_done().then_some(TrendState {
            builds: header.builds,
            series,
        })
    }
}

/// 25 bytes and 8 per value present.
fn write_point(out: &mut StateWriter, p: &TrendPoint) {
    let values = [p.median, p.p95, p.min, p.max, p.throughput];
    let mut flags = 0u8;
    for (i, v) in values.iter().enumerate() {
        if v.is_some() {
            flags |= 1 << i;
        }
    }
    flags |= u8::from(p.pass_sla) << 5 | u8::from(p.config_changed) << 6;
    out.u64(p.build as u64);
    out.u64(p.samples);
    out.u64(p.failed);
    out.u8(flags);
    for v in values.into_iter().flatten() {
        out.f64(v);
    }
}

fn read_point(r: &mut StateReader) -> Option<TrendPoint> {
    let build = r.u64()? as usize;
    let samples = r.u64()?;
    let failed = r.u64()?;
    let flags = r.u8()?;
    let mut values = [None; 5];
    for (i, v) in values.iter_mut().enumerate() {
        if flags & (1 << i) != 0 {
            *v = Some(r.f64()?);
        }
    }
    let [median, p95, min, max, throughput] = values;
    Some(TrendPoint {
        build,
        samples,
        failed,
        median,
        p95,
        min,
        max,
        throughput,
        pass_sla: flags & (1 << 5) != 0,
        config_changed: flags & (1 << 6) != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trend::trends;
    use perfkit_schema::records::{BuildMeta, BuildRecord};
    use perfkit_schema::{ArchiveKey, BuildId};

    /// A periodic build at `hour` whose `total` lasts about `level` s; the
    /// configuration changes at hour 30, and hour 20 holds its task twice.
    fn build(hour: i64, level: f64) -> ArchivedBuild {
        let row = |action: &str, scale: f64| SeriesRow {
            workload_key: "wk1".into(),
            config_hash: if hour < 30 { "c1" } else { "c2" }.into(),
            scenario: "Nova.boot".into(),
            subtask_title: format!("boot {}", hour / 25),
            action: action.into(),
            samples: 3,
            durations_s: (0..3)
                .map(|i| scale * level * (1.0 + 0.01 * ((hour * 7 + i) % 5) as f64))
                .collect(),
            load_duration_s: (action == "total").then_some(3.0),
            pass_sla: true,
            ..SeriesRow::default()
        };
        let mut series = vec![row("total", 1.0), row("nova.boot_server", 0.8)];
        if hour == 20 {
            series.push(row("total", 1.1));
        }
        ArchivedBuild {
            record: BuildRecord {
                key: ArchiveKey {
                    project: perfkit_schema::ProjectName::try_from("openstack/nova").unwrap(),
                    change: 0,
                    patchset: 0,
                    build: BuildId::try_from(format!("b{hour}").as_str()).unwrap(),
                },
                meta: BuildMeta {
                    pipeline: Some("periodic".into()),
                    job: Some("rally".into()),
                    branch: Some("master".into()),
                    ..BuildMeta::default()
                },
                source_format: "rally-v2".into(),
                source_format_version: None,
                tool_version: None,
                source_file: "report.json".into(),
                source_sha256: String::new(),
                source_bytes: 0,
                task_count: 1,
                task_statuses: vec!["finished".into()],
                workload_count: 1,
                iteration_count: 3,
                failed_iteration_count: 0,
                pass_sla: true,
                started_at_us: Some(1_700_000_000_000_000 + hour * 3_600_000_000),
                finished_at_us: None,
                ingested_at_us: 0,
                perfkit_version: "test".into(),
                failure: None,
            },
            series,
        }
    }

    #[test]
    fn appending_builds_gives_the_state_of_all_builds() {
        let all: Vec<ArchivedBuild> = (0..60)
            .map(|h| build(h, if h < 45 { 1.0 } else { 1.3 }))
            .collect();
        let whole = TrendState::of(&all);
        let mut grown = TrendState::of(&all[..10]);
        for chunk in all[10..].chunks(7) {
            let saved = TrendState::from_bytes(&grown.to_bytes()).unwrap();
            assert_eq!(saved, grown);
            grown = saved;
            assert!(grown.append(chunk));
        }
        assert_eq!(grown, whole);
        assert_eq!(grown.analyse(None), trends(&all));
        // An older build does not append; the state is left as it was.
        let mut state = TrendState::of(&all[5..]);
        assert!(!state.append(&all[..1]));
        assert_eq!(state, TrendState::of(&all[5..]));
        assert!(TrendState::from_bytes(b"perfkit trend state 3\n").is_none());
    }
}
