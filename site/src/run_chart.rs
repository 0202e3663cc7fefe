//! The per-second chart of a Locust series: the newest branch run's stats
//! history (`SeriesRow::per_second_json`), with the upgrade window marked
//! and "N requests during the upgrade, M failed" when the run went through
//! one. Written as `data/<id>-run.js`; the series page draws it.

use perfkit_analysis::{SeriesKey, branch_of};
use std::collections::HashMap;

use perfkit_schema::{ArchivedBuild, Phase, SeriesRow};
use serde_json::{Value as Json, json};

/// The newest branch run with a per-second history of each series, among
/// the builds observed.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    /// Only builds later than this count (a merge of backfilled builds must
    /// not replace the chart of a newer run written before).
    since_us: Option<i64>,
    newest: HashMap<SeriesKey, ((i64, String), Json)>,
}

impl Runs {
    /// Runs of builds later than `since_us` only.
    pub(crate) fn since(since_us: i64) -> Runs {
        Runs {
            since_us: Some(since_us),
            newest: HashMap::new(),
        }
    }

    /// Takes the runs of `builds` that are newer than those seen.
    pub(crate) fn observe(&mut self, builds: &[&ArchivedBuild]) {
        for build in builds {
            if !build.is_branch_build() || self.since_us.is_some_and(|t| build.time_us() <= t) {
                continue;
            }
            let at = (build.time_us(), build.record.key.build.as_str().to_string());
            for row in &build.series {
                if row.phase.is_some() || row.per_second_json.is_none() {
                    continue;
                }
                let key = SeriesKey {
                    branch: branch_of(build).to_string(),
                    workload_key: row.workload_key.clone(),
                    action: row.action.clone(),
                };
                if self.newest.get(&key).is_some_and(|(seen, _)| *seen >= at) {
                    continue;
                }
                if let Some(chart) = chart(build, row) {
                    self.newest.insert(key, (at.clone(), chart));
                }
            }
        }
    }

    /// The chart of `key`'s newest run seen.
    pub(crate) fn get(&self, key: &SeriesKey) -> Option<&Json> {
        self.newest.get(key).map(|(_, chart)| chart)
    }
}

/// The chart data of one run: `row` of `build`.
fn chart(build: &ArchivedBuild, row: &SeriesRow) -> Option<Json> {
    let mut data: Json = serde_json::from_str(row.per_second_json.as_deref()?).ok()?;
    let during = build
        .series
        .iter()
        .find(|r| r.phase == Some(Phase::During) && r.workload_key == row.workload_key);
    data["window"] = match row.window {
        Some(w) => json!([w.start_us as f64 / 1e6, w.end_us as f64 / 1e6]),
        None => Json::Null,
    };
    data["line"] = match during {
        Some(d) => json!(format!(
            "{} request{} during the upgrade, {} failed",
            d.samples,
            if d.samples == 1 { "" } else { "s" },
            d.failed
        )),
        None => Json::Null,
    };
    data["build"] = json!(build.record.key.build.as_str());
    Some(data)
}
