//! Regression alerts: change points where a branch series got worse, for
//! the alerts pages and the Atom feeds. Each alert has a stable id derived
//! from project, series and build, so feed readers show it once.

use perfkit_analysis::Metric;
use perfkit_analysis::SeriesLabel;
use perfkit_analysis::compare::BuildRef;
use perfkit_analysis::culprits::Suspects;
use perfkit_analysis::regress::changepoint::ChangeKind;
use perfkit_analysis::trend::{ProjectTrends, SeriesTrend};
use perfkit_schema::identity::sha256_hex;
use serde::{Deserialize, Serialize};

/// Entries in a feed: enough for a reader that polls daily.
pub const FEED_ENTRIES: usize = 50;

/// One regression change point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `urn:uuid:` made from project, series and build.
    pub id: String,
    pub project: String,
    pub project_dir: String,
    pub series: String,
    pub label: SeriesLabel,
    pub metric: Metric,
    pub before: f64,
    pub after: f64,
    pub magnitude_pct: Option<f64>,
    pub p_value: Option<f64>,
    /// The first build after the change.
    pub build: BuildRef,
    /// The commits between the last build before the change and this one,
    /// per project with a repository (`--repo`).
    #[serde(default)]
    pub suspects: Vec<Suspects>,
    /// Branch builds from the change on (it is confirmed with at least
    /// the minimum segment, 5).
    #[serde(default)]
    pub builds_after: usize,
}

/// Every regression change point of a project, newest first (ties by id).
/// `suspects` names the commits of a series' change at a point.
pub fn alerts(
    project: &str,
    project_dir: &str,
    trends: &ProjectTrends,
    suspects: &dyn Fn(&SeriesTrend, usize) -> Vec<Suspects>,
) -> Vec<Alert> {
    let mut out = Vec::new();
    for s in &trends.series {
        let duration_at = |point: usize| {
            s.annotations.iter().any(|d| {
                d.point == point
                    && d.metric == Metric::Duration
                    && d.change.kind == ChangeKind::Regression
            })
        };
        // A slower `total` is also a lower throughput: one event, one alert.
        for a in s.annotations.iter().filter(|a| {
            a.change.kind == ChangeKind::Regression
                && !(a.metric == Metric::Throughput && duration_at(a.point))
        }) {
            let build = &trends.builds[s.points[a.point].build];
            let digest = sha256_hex(
                format!("{project}\0{}\0{:?}\0{}", s.id, a.metric, build.build).as_bytes(),
            );
            out.push(Alert {
                id: format!(
                    "urn:uuid:{}-{}-{}-{}-{}",
                    &digest[0..8],
                    &digest[8..12],
                    &digest[12..16],
                    &digest[16..20],
                    &digest[20..32]
                ),
                project: project.to_string(),
                project_dir: project_dir.to_string(),
                series: s.id.clone(),
                label: s.label.clone(),
                metric: a.metric,
                before: a.change.before_median,
                after: a.change.after_median,
                magnitude_pct: a.change.magnitude_pct,
                p_value: a.change.p_value,
                build: build.clone(),
                suspects: suspects(s, a.point),
                builds_after: s.points.len() - a.point,
            });
        }
    }
    sort(&mut out);
    out
}

/// Newest first, then by id: the order of pages and feeds.
pub fn sort(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| b.build.time_us.cmp(&a.build.time_us).then(a.id.cmp(&b.id)));
}
