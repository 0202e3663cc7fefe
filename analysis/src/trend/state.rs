//! The points of a project's series before change points are sought,
//! kept between site builds: new branch builds (later than the others or
//! backfilled between them) are merged into the saved points instead of
//! reading millions of archived rows again, and give the state that all
//! builds read at once give. A build rewritten or deleted in the archive
//! cannot be taken out: the caller then starts from every build.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{TrendPoint, has_repeated_rows};
use crate::compare::BuildRef;
use crate::state_bytes::{StateReader, StateWriter};
use crate::{SeriesKey, SeriesLabel, merged_rows};
use perfkit_schema::records::{ArchivedBuild, SeriesRow};

const MAGIC: &[u8] = b"perfkit trend state 4\n";

/// Every series' points over a project's branch builds.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendState {
    /// Branch builds, oldest first.
    pub(super) builds: Vec<BuildRef>,
    pub(super) series: BTreeMap<SeriesKey, SeriesHistory>,
}

/// One series' points, its latest name and each point's configuration.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SeriesHistory {
    pub(super) label: SeriesLabel,
    pub(super) points: Vec<TrendPoint>,
    /// Each point's workload configuration, an index into `configs`
    /// (a backfilled point needs its neighbours' to set `config_changed`).
    pub(super) point_configs: Vec<u32>,
    /// The configuration hashes seen, in order of first appearance.
    pub(super) configs: Vec<String>,
}

impl SeriesHistory {
    /// The index of `hash` in `configs`, added when new.
    pub(super) fn config_id(&mut self, hash: &str) -> u32 {
        // Newest first: a series rarely has more than a few configurations.
        match self.configs.iter().rposition(|c| c == hash) {
            Some(i) => i as u32,
            None => {
                self.configs.push(hash.to_string());
                (self.configs.len() - 1) as u32
            }
        }
    }

    /// `config_changed` of every point from the configurations.
    fn mark_config_changes(&mut self) {
        let mut previous = None;
        for (p, &config) in self.points.iter_mut().zip(&self.point_configs) {
            p.config_changed = previous.is_some_and(|c| c != config);
            previous = Some(config);
        }
    }
}

/// What the binary points are preceded by (JSON: a few MB at most).
#[derive(Serialize, Deserialize)]
struct Header {
    builds: Vec<BuildRef>,
    /// Branch, workload key, action, label, configurations, points.
    series: Vec<(String, String, String, SeriesLabel, Vec<String>, usize)>,
}

impl TrendState {
    /// Branch builds so far, oldest first.
    pub fn builds(&self) -> &[BuildRef] {
        &self.builds
    }

    /// The ids (`SeriesKey::id`) of every series with points.
    pub fn series_ids(&self) -> Vec<String> {
        self.series.keys().map(SeriesKey::id).collect()
    }

    /// Adds the branch builds of `new` (builds the state does not hold yet:
    /// the caller checks that), wherever they fall in time: after every
    /// build (periodic runs), or between them (a backfill). The result is
    /// the state `TrendState::of` gives for all the builds together.
    pub fn merge(&mut self, new: &[ArchivedBuild]) {
        self.merge_refs(&new.iter().collect::<Vec<_>>());
    }

    /// As `merge`, of builds held elsewhere.
    pub fn merge_refs(&mut self, new: &[&ArchivedBuild]) {
        let mut ordered: Vec<&ArchivedBuild> = new
            .iter()
            .copied()
            .filter(|b| b.is_branch_build())
            .collect();
        ordered.sort_by(|a, b| {
            (a.time_us(), a.record.key.build.as_str())
                .cmp(&(b.time_us(), b.record.key.build.as_str()))
        });
        if ordered.is_empty() {
            return;
        }
        // The merged build order, and where the old builds moved to.
        let old = std::mem::take(&mut self.builds);
        let mut merged = Vec::with_capacity(old.len() + ordered.len());
        let mut moved = Vec::with_capacity(old.len());
        let mut placed = Vec::with_capacity(ordered.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < ordered.len() {
            let take_old = j == ordered.len()
                || (i < old.len()
                    && (old[i].time_us, old[i].build.as_str())
                        <= (ordered[j].time_us(), ordered[j].record.key.build.as_str()));
            if take_old {
                moved.push(merged.len());
                merged.push(old[i].clone());
                i += 1;
            } else {
                placed.push(merged.len());
                merged.push(BuildRef::of(ordered[j]));
                j += 1;
            }
        }
        self.builds = merged;
        if moved.iter().enumerate().any(|(from, to)| from != *to) {
            for history in self.series.values_mut() {
                for p in &mut history.points {
                    p.build = moved[p.build];
                }
            }
        }
        // New points grouped by series, keyed by borrowed names (as `of`).
        type NewPoint<'a> = (usize, &'a ArchivedBuild, &'a SeriesRow, Cow<'a, SeriesRow>);
        let mut by_series: HashMap<(&str, &str, &str), Vec<NewPoint>> = HashMap::new();
        for (build, &index) in ordered.iter().zip(&placed) {
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
                    by_series
                        .entry((branch, &first.workload_key, &first.action))
                        .or_default()
                        .push((index, build, first, Cow::Owned(merged)));
                }
            } else {
                for row in &build.series {
                    by_series
                        .entry((branch, &row.workload_key, &row.action))
                        .or_default()
                        .push((index, build, row, Cow::Borrowed(row)));
                }
            }
        }
        for ((branch, workload_key, action), points) in by_series {
            let key = SeriesKey {
                branch: branch.to_string(),
                workload_key: workload_key.to_string(),
                action: action.to_string(),
            };
            let (_, newest_build, newest_named, _) = points.last().expect("a group has a point");
            let history = self.series.entry(key).or_insert_with(|| SeriesHistory {
                label: SeriesLabel::of(newest_build, newest_named),
                points: Vec::new(),
                point_configs: Vec::new(),
                configs: Vec::new(),
            });
            let newest_before = history.points.last().map(|p| p.build);
            for (index, _, _, row) in &points {
                let config = history.config_id(&row.config_hash);
                let at = history.points.partition_point(|p| p.build < *index);
                history
                    .points
                    .insert(at, TrendPoint::of(*index, row, false));
                history.point_configs.insert(at, config);
            }
            history.mark_config_changes();
            let (index, build, named, _) = points.last().expect("a group has a point");
            if newest_before.is_none_or(|b| *index > b) {
                history.label = SeriesLabel::of(build, named);
            }
        }
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
                        h.configs.clone(),
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
            for (p, &config) in history.points.iter().zip(&history.point_configs) {
                write_point(&mut out, p);
                out.u32(config);
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
        for (branch, workload_key, action, label, configs, count) in header.series {
            let mut points = Vec::with_capacity(count.min(r.remaining() / 29));
            let mut point_configs = Vec::with_capacity(points.capacity());
            for _ in 0..count {
                points.push(read_point(&mut r)?);
                let config = r.u32()?;
                if config as usize >= configs.len() {
                    return None;
                }
                point_configs.push(config);
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
                    point_configs,
                    configs,
                },
            );
        }
        r.is_done().then_some(TrendState {
            builds: header.builds,
            series,
        })
    }
}

/// 25 bytes and 8 per value present (then the configuration, 4).
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
    fn merging_builds_gives_the_state_of_all_builds() {
        let all: Vec<ArchivedBuild> = (0..60)
            .map(|h| build(h, if h < 45 { 1.0 } else { 1.3 }))
            .collect();
        let whole = TrendState::of(&all);
        // Later builds appended chunk by chunk, through the saved bytes.
        let mut grown = TrendState::of(&all[..10]);
        for chunk in all[10..].chunks(7) {
            let saved = TrendState::from_bytes(&grown.to_bytes()).unwrap();
            assert_eq!(saved, grown);
            grown = saved;
            grown.merge(chunk);
        }
        assert_eq!(grown, whole);
        assert_eq!(grown.analyse(None), trends(&all));
        // Backfills: builds older than some or all of the state's, across
        // the configuration change at hour 30 and the repeated task at 20.
        for (held, late) in [(10..60, 0..10), (0..25, 25..60)] {
            let mut state = TrendState::of(&all[held.clone()]);
            state.merge(&all[late.clone()]);
            assert_eq!(state, whole, "held {held:?}, merged {late:?}");
        }
        let mut state = TrendState::of(&all[..0]);
        let scattered: Vec<ArchivedBuild> = all.iter().step_by(3).cloned().collect();
        let rest: Vec<ArchivedBuild> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, b)| b.clone())
            .collect();
        state.merge(&scattered);
        let mut bytes_back = TrendState::from_bytes(&state.to_bytes()).unwrap();
        bytes_back.merge(&rest);
        assert_eq!(bytes_back, whole);
        assert_eq!(bytes_back.analyse(None), trends(&all));
        assert!(TrendState::from_bytes(b"perfkit trend state 4\n").is_none());
    }
}
