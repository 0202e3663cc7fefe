//! The per-second chart of a Locust series: the newest branch run's stats
//! history (`SeriesRow::per_second_json`), with the upgrade window marked
//! and "N requests during the upgrade, M failed" when the run went through
//! one. Written as `data/<id>-run.js`; the series page draws it.

use perfkit_analysis::{SeriesKey, branch_of};
use perfkit_schema::{ArchivedBuild, Phase};
use serde_json::{Value as Json, json};

/// The chart data of `key`'s newest branch run that has a history.
pub fn newest_run(builds: &[ArchivedBuild], key: &SeriesKey) -> Option<Json> {
    let (build, row) = builds
        .iter()
        .filter(|b| b.is_branch_build() && branch_of(b) == key.branch)
        .filter_map(|b| {
            let row = b.series.iter().find(|r| {
                r.phase.is_none()
                    && r.workload_key == key.workload_key
                    && r.action == key.action
                    && r.per_second_json.is_some()
            })?;
            Some((b, row))
        })
        .max_by_key(|(b, _)| (b.time_us(), b.record.key.build.as_str().to_string()))?;
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
