//! The builds a site build reads, and the comparisons it makes of them.
//! Which builds a change page needs (the patchset's and its baseline) is
//! chosen from the archive's listing alone (index rows, no series), so a
//! build reads only the builds of pages whose inputs changed, plus new
//! branch builds for the trends. They are read oldest first, a chunk at a
//! time, and a build is dropped as soon as no page waiting for it and no
//! trend needs it: a 10,000-build history is never in memory at once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use perfkit_analysis::compare::{Comparer, Comparison, SeriesSamples};
use perfkit_analysis::regress::verdict::Thresholds;
use perfkit_analysis::trend::TrendState;
use perfkit_schema::{ArchiveKey, ArchivedBuild};

use crate::SiteError;
use crate::run_chart::Runs;

/// Builds read per request to the source.
const CHUNK: usize = 256;

/// Flagged series of a patchset drawn on its change page (the rest are
/// in its table, and the page says so): each keeps at most
/// `PLOT_VALUES_PER_BUILD` values per build (≤ 31 builds × 200 values ×
/// 20 series, 1 MB, for the worst page). A judged page is handed to its
/// renderer at once (see [`pass`]), so only the pages of one chunk's
/// worth of judging are ever held.
pub(crate) const PLOTS_PER_PAGE: usize = 20;

/// A patchset's comparison and the values behind its first flagged series.
pub(crate) type Judged = (Comparison, Vec<SeriesSamples>);

/// Where a site build reads builds with their series from (on a thread of
/// its own, ahead of the one using them).
pub trait BuildSource: Send {
    /// The builds of `keys` (`build_key`s of listed builds) with their
    /// series. A build that cannot be read is left out (the source tells
    /// the user which and why).
    fn read(&mut self, keys: &[String]) -> Result<Vec<ArchivedBuild>, SiteError>;
}

/// A build's key in the site's state and requests to its source.
pub fn build_key(key: &ArchiveKey) -> String {
    format!("{}/{}/{}", key.change, key.patchset, key.build.as_str())
}

/// A change page's inputs, chosen from the listing.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub(crate) change: u64,
    pub(crate) patchset: u32,
    /// The builds of the patchset and of its baseline.
    pub(crate) needs: Vec<String>,
    /// Digest of `needs` with their versions.
    pub(crate) inputs: String,
}

/// Every patchset's inputs, from `listed` (builds without series).
pub(crate) fn plan_changes(
    listed: &[ArchivedBuild],
    versions: &BTreeMap<String, String>,
) -> Vec<Planned> {
    let comparer = Comparer::new(listed);
    let thresholds = Thresholds::default();
    let mut planned = Vec::new();
    for (change, patchset) in comparer.patchsets() {
        let Some(selection) = comparer.select(change, patchset, &thresholds) else {
            continue;
        };
        let mut needs: Vec<String> = selection
            .builds
            .iter()
            .chain(&selection.baseline)
            .map(|b| build_key(&b.record.key))
            .collect();
        needs.sort();
        needs.dedup();
        let text: String = needs
            .iter()
            .map(|k| format!("{k}={}\n", versions.get(k).map_or("", String::as_str)))
            .collect();
        planned.push(Planned {
            change,
            patchset,
            inputs: perfkit_schema::identity::sha256_hex(text.as_bytes()),
            needs,
        });
    }
    planned
}

/// What [`pass`] hands a judged change to: its index in `changes`, its
/// comparison with the values of its first [`PLOTS_PER_PAGE`] flagged
/// series, and (when the pass merges branch builds into trends) the ids of
/// the series merged so far.
pub(crate) type OnJudged<'a> =
    dyn FnMut(usize, Judged, Option<&HashSet<String>>) -> Result<(), SiteError> + 'a;

/// Reads the builds `changes` need and `merge` names, oldest first, in
/// chunks: merges the named branch builds into `trends` (with their
/// per-second runs into `runs`) and judges each change once its builds
/// have gone by, handing it to `judged` there and then (nothing for a
/// change none of whose builds could be read): no judged page waits for
/// the rest of the pass. `order` gives each listed build's (time, build
/// id).
#[allow(clippy::too_many_arguments)]
pub(crate) fn pass(
    source: &mut (dyn BuildSource + '_),
    order: &HashMap<String, (i64, String)>,
    changes: &[Planned],
    merge: &BTreeSet<String>,
    mut trends: Option<&mut TrendState>,
    runs: &mut Runs,
    progress: &dyn Fn(&str),
    judged: &mut OnJudged<'_>,
) -> Result<(), SiteError> {
    let mut wanted: BTreeSet<&String> = merge.iter().collect();
    let mut refs: HashMap<&str, usize> = HashMap::new();
    for c in changes {
        for k in &c.needs {
            *refs.entry(k.as_str()).or_default() += 1;
            wanted.insert(k);
        }
    }
    let position = |k: &str| order.get(k).cloned().unwrap_or((i64::MAX, k.to_string()));
    let mut keys: Vec<&String> = wanted.into_iter().collect();
    keys.sort_by_cached_key(|k| position(k));
    let rank: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    // Changes in the order their last build comes by.
    let mut ready: Vec<(usize, usize)> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.needs.iter().map(|k| rank[k.as_str()]).max().unwrap_or(0),
                i,
            )
        })
        .collect();
    ready.sort();
    let mut next_ready = 0;
    let mut kept: HashMap<String, ArchivedBuild> = HashMap::new();
    // The series merged into `trends` so far (each has a page).
    let mut merged: Option<HashSet<String>> = None;
    let thresholds = Thresholds::default();
    let total = keys.len();
    let chunks: Vec<Vec<String>> = keys
        .chunks(CHUNK)
        .map(|c| c.iter().map(|k| (*k).clone()).collect())
        .collect();
    // One thread reads (and decodes) the next chunk while this one merges
    // and judges the current one; another frees what is done with (freeing
    // millions of rows allocated on other threads is slow work of its own).
    std::thread::scope(|scope| -> Result<(), SiteError> {
        let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel(1);
        let (drop_tx, drop_rx) = std::sync::mpsc::channel::<Vec<ArchivedBuild>>();
        scope.spawn(move || {
            for names in &chunks {
                let read = source.read(names);
                let failed = read.is_err();
                if chunk_tx.send(read).is_err() || failed {
                    break;
                }
            }
        });
        scope.spawn(move || drop_rx.into_iter().for_each(drop));
        for n in 0..total.div_ceil(CHUNK) {
            let builds = chunk_rx
                .recv()
                .map_err(|_| SiteError::Read("the reader stopped".into()))??;
            if let Some(trends) = trends.as_deref_mut() {
                let to_merge: Vec<&ArchivedBuild> = builds
                    .iter()
                    .filter(|b| merge.contains(&build_key(&b.record.key)))
                    .collect();
                runs.observe(&to_merge);
                trends.merge_refs(&to_merge);
                if !changes.is_empty() {
                    merged = Some(trends.series_ids().into_iter().collect());
                }
            }
            let mut done = Vec::new();
            for b in builds {
                let key = build_key(&b.record.key);
                if refs.contains_key(key.as_str()) {
                    kept.insert(key, b);
                } else {
                    done.push(b);
                }
            }
            let read_so_far = ((n + 1) * CHUNK).min(total);
            while next_ready < ready.len() && ready[next_ready].0 < read_so_far {
                let i = ready[next_ready].1;
                next_ready += 1;
                let c = &changes[i];
                let comparer = Comparer::of_refs(c.needs.iter().filter_map(|k| kept.get(k)));
                if let Some((comparison, mut samples)) =
                    comparer.compare_with_samples(c.change, c.patchset, &thresholds)
                {
                    samples.truncate(PLOTS_PER_PAGE);
                    judged(i, (comparison, samples), merged.as_ref())?;
                }
                for k in &c.needs {
                    if let Some(left) = refs.get_mut(k.as_str()) {
                        *left -= 1;
                        if *left == 0
                            && let Some(b) = kept.remove(k)
                        {
                            done.push(b);
                        }
                    }
                }
            }
            let _ = drop_tx.send(done);
            if total > CHUNK {
                progress(&format!("read {read_so_far} of {total} builds"));
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfkit_schema::records::{BuildMeta, BuildRecord, SeriesRow};
    use perfkit_schema::{BuildId, ProjectName};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A build at `hour` of `change` (0: a periodic branch build).
    fn build(hour: i64, change: u64) -> ArchivedBuild {
        let id = format!("b{hour}-{change}");
        let row = SeriesRow {
            workload_key: "wk1".into(),
            config_hash: "c1".into(),
            scenario: "Nova.boot".into(),
            subtask_title: "boot".into(),
            action: "total".into(),
            samples: 4,
            durations_s: (0..4)
                .map(|i| if change > 0 { 2.0 } else { 1.0 } + 0.01 * ((hour + i) % 3) as f64)
                .collect(),
            load_duration_s: Some(4.0),
            pass_sla: true,
            ..SeriesRow::default()
        };
        ArchivedBuild {
            record: BuildRecord {
                key: ArchiveKey {
                    project: ProjectName::try_from("openstack/nova").unwrap(),
                    change,
                    patchset: u32::from(change > 0),
                    build: BuildId::try_from(id.as_str()).unwrap(),
                },
                meta: BuildMeta {
                    change: (change > 0).then_some(change),
                    patchset: (change > 0).then_some(1),
                    pipeline: Some(if change > 0 { "check" } else { "periodic" }.into()),
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
                iteration_count: 4,
                failed_iteration_count: 0,
                pass_sla: true,
                started_at_us: Some(1_700_000_000_000_000 + hour * 3_600_000_000),
                finished_at_us: None,
                ingested_at_us: 0,
                perfkit_version: "test".into(),
                failure: None,
            },
            series: vec![row],
        }
    }

    /// Gives builds of `all` and counts the chunks asked for.
    struct Counting {
        all: HashMap<String, ArchivedBuild>,
        chunks: Arc<AtomicUsize>,
    }

    impl BuildSource for Counting {
        fn read(&mut self, keys: &[String]) -> Result<Vec<ArchivedBuild>, SiteError> {
            self.chunks.fetch_add(1, Ordering::SeqCst);
            Ok(keys
                .iter()
                .filter_map(|k| self.all.get(k).cloned())
                .collect())
        }
    }

    /// Memory stays bounded however many pages a build judges: each page
    /// is handed on as soon as its builds have gone by, while most of the
    /// history is still unread, and the pass keeps none of them.
    #[test]
    fn each_page_is_handed_on_as_soon_as_it_is_judged() {
        let branch = 5 * CHUNK as i64;
        let mut builds: Vec<ArchivedBuild> = (0..branch).map(|h| build(h, 0)).collect();
        // A slower patchset early in the history, one late.
        builds.push(build(40, 7));
        builds.push(build(branch - 10, 8));
        let planned = plan_changes(&builds, &BTreeMap::new());
        assert_eq!(planned.len(), 2);
        let order: HashMap<String, (i64, String)> = builds
            .iter()
            .map(|b| {
                let id = b.record.key.build.as_str().to_string();
                (build_key(&b.record.key), (b.time_us(), id))
            })
            .collect();
        // Every branch build merged into the trends (a full site build).
        let merge: BTreeSet<String> = builds
            .iter()
            .filter(|b| b.record.key.change == 0)
            .map(|b| build_key(&b.record.key))
            .collect();
        let mut trends = TrendState::of(&[]);
        let chunks = Arc::new(AtomicUsize::new(0));
        let mut source = Counting {
            all: builds
                .into_iter()
                .map(|b| (build_key(&b.record.key), b))
                .collect(),
            chunks: chunks.clone(),
        };
        let mut seen: Vec<(u64, usize, usize)> = Vec::new();
        pass(
            &mut source,
            &order,
            &planned,
            &merge,
            Some(&mut trends),
            &mut Runs::default(),
            &|_| {},
            &mut |i, (comparison, samples), merged| {
                // Its series are among those merged so far.
                let merged = merged.unwrap();
                assert!(comparison.series.iter().all(|s| merged.contains(&s.id)));
                assert!(comparison.has_regression());
                assert!(samples.len() <= PLOTS_PER_PAGE);
                seen.push((planned[i].change, i, chunks.load(Ordering::SeqCst)));
                Ok(())
            },
        )
        .unwrap();
        // The early page went on while the reader was at most two chunks
        // ahead (of the six the pass reads); the late one at the end.
        assert_eq!(seen.len(), 2, "{seen:?}");
        let early = seen.iter().find(|s| s.0 == 7).unwrap();
        assert!(early.2 <= 3, "{seen:?}");
        assert_eq!(chunks.load(Ordering::SeqCst), 6);
    }
}
