//! The builds a site build reads, and the comparisons it makes of them.
//! Which builds a change page needs (the patchset's and its baseline) is
//! chosen from the archive's listing alone (index rows, no series), so a
//! build reads only the builds of pages whose inputs changed, plus new
//! branch builds for the trends. They are read oldest first, a chunk at a
//! time, and a build is dropped as soon as no page waiting for it and no
//! trend needs it: a 10,000-build history is never in memory at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use perfkit_analysis::compare::{Comparer, Comparison, SeriesSamples};
use perfkit_analysis::regress::verdict::Thresholds;
use perfkit_analysis::trend::TrendState;
use perfkit_schema::{ArchiveKey, ArchivedBuild};

use crate::SiteError;
use crate::run_chart::Runs;

/// Builds read per request to the source.
const CHUNK: usize = 256;

/// Flagged series of a patchset drawn on its change page (the rest are
/// in its table): judged pages wait in memory until they are rendered, so
/// each keeps the values of at most this many series, each at most
/// `PLOT_VALUES_PER_BUILD` values per build (≤ 31 builds × 200 values ×
/// 20 series, 1 MB, for the worst page).
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

/// Reads the builds `changes` need and `merge` names, oldest first, in
/// chunks: merges the named branch builds into `trends` (with their
/// per-second runs into `runs`) and judges each change once its builds
/// have gone by (`None` where none of its builds could be read), keeping
/// the values of its first [`PLOTS_PER_PAGE`] flagged series for its
/// pictures. `order` gives each listed build's (time, build id).
pub(crate) fn pass(
    source: &mut (dyn BuildSource + '_),
    order: &HashMap<String, (i64, String)>,
    changes: &[Planned],
    merge: &BTreeSet<String>,
    mut trends: Option<&mut TrendState>,
    runs: &mut Runs,
    progress: &dyn Fn(&str),
) -> Result<Vec<Option<Judged>>, SiteError> {
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
    let mut judged: Vec<Option<Judged>> = vec![None; changes.len()];
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
                judged[i] = comparer
                    .compare_with_samples(c.change, c.patchset, &thresholds)
                    .map(|(comparison, mut samples)| {
                        samples.truncate(PLOTS_PER_PAGE);
                        (comparison, samples)
                    });
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
    })?;
    Ok(judged)
}
