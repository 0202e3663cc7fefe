//! What a project's last site build knew, kept in `.perfkit/projects/`
//! so the next build can start from it: the archive listing it was built
//! from, the series' points (`TrendState`) and the change pages. When the
//! archive only gained branch builds later than everything before
//! (periodic runs: the common case), only those are read and added;
//! anything else (a rewritten, deleted or backfilled build, a new
//! patchset, a new series) rebuilds the project from every build. Either
//! way the site's bytes are the same.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use perfkit_analysis::trend::TrendState;
use perfkit_schema::{ArchivedBuild, ProjectName};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::{STATE_DIR, SiteError, urls, writer};

const MAGIC: &[u8] = b"perfkit project state 1\n";

/// A project's state after a site build.
#[derive(Debug, Clone)]
pub struct ProjectState {
    pub(crate) site: SiteFacts,
    pub(crate) trends: TrendState,
}

/// The parts besides the points (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SiteFacts {
    /// perfkit's version: another one may render differently.
    version: String,
    /// The archive's display URL, which pages show.
    archive: String,
    /// Every build the state covers: listing key → version.
    pub(crate) listing: BTreeMap<String, String>,
    /// Newest build time of any build (branch or patchset).
    pub(crate) latest_us: i64,
    /// Rows of the changes table, newest first.
    pub(crate) change_rows: Vec<Json>,
    /// Site paths of the change pages.
    pub(crate) change_pages: Vec<String>,
}

fn path_of(out: &Path, project: &ProjectName) -> PathBuf {
    out.join(STATE_DIR)
        .join("projects")
        .join(format!("{}.bin", urls::project_dir(project)))
}

impl ProjectState {
    /// The state of `project`'s last build into `out`, if it is readable
    /// and from this perfkit version.
    pub fn load(out: &Path, project: &ProjectName) -> Option<ProjectState> {
        let bytes = std::fs::read(path_of(out, project)).ok()?;
        let rest = bytes.strip_prefix(MAGIC)?;
        let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
        let site: SiteFacts = serde_json::from_slice(rest.get(8..8 + len)?).ok()?;
        if site.version != env!("CARGO_PKG_VERSION") {
            return None;
        }
        let trends = TrendState::from_bytes(rest.get(8 + len..)?)?;
        Some(ProjectState { site, trends })
    }

    /// Whether a build from this state plus `new` (the builds of
    /// `listing` this state does not cover, read with keys `new_keys`)
    /// gives the site a build from every build would; `out` is checked
    /// for the pages that would be kept, `archive` (display URL) is the
    /// one they name.
    pub fn accepts(
        &self,
        out: &Path,
        archive: &str,
        listing: &BTreeMap<String, String>,
        new_keys: &[String],
        new: &[ArchivedBuild],
    ) -> bool {
        let covered = &self.site.listing;
        let unchanged = covered.iter().all(|(k, v)| listing.get(k) == Some(v));
        let added: BTreeSet<&String> = listing
            .keys()
            .filter(|k| !covered.contains_key(*k))
            .collect();
        let read: BTreeSet<&String> = new_keys.iter().collect();
        let later = new.iter().all(|b| {
            // Later than any build: no comparison's baseline can change.
            b.is_branch_build() && b.time_us() > self.site.latest_us
        });
        // A new series would give change pages a link they lack.
        let known_series = new.iter().all(|b| {
            let branch = b.record.meta.branch.as_deref().unwrap_or_default();
            b.series
                .iter()
                .all(|r| self.trends.has_series(branch, &r.workload_key, &r.action))
        });
        let pages_there = self.site.change_pages.iter().all(|p| out.join(p).is_file());
        self.site.archive == archive
            && unchanged
            && added == read
            && later
            && known_series
            && pages_there
    }
}

/// Saves `project`'s state for the next build; `points` is
/// `TrendState::to_bytes`.
pub(crate) fn save(
    out: &Path,
    project: &ProjectName,
    site: SiteFacts,
    points: &[u8],
) -> Result<(), SiteError> {
    let path = path_of(out, project);
    let json = serde_json::to_vec(&SiteFacts {
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..site
    })
    .expect("site facts serialize");
    let mut bytes = Vec::with_capacity(MAGIC.len() + 8 + json.len() + points.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    bytes.extend_from_slice(points);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| SiteError::io(dir, e))?;
    }
    writer::atomic_write(&path, &bytes)
}

/// Forgets `project`'s state (a build that cannot save a new one must not
/// leave an old one behind).
pub(crate) fn forget(out: &Path, project: &ProjectName) {
    let _ = std::fs::remove_file(path_of(out, project));
}

impl SiteFacts {
    pub(crate) fn new(
        archive: &str,
        listing: BTreeMap<String, String>,
        latest_us: i64,
        change_rows: Vec<Json>,
        change_pages: Vec<String>,
    ) -> SiteFacts {
        SiteFacts {
            version: env!("CARGO_PKG_VERSION").to_string(),
            archive: archive.to_string(),
            listing,
            latest_us,
            change_rows,
            change_pages,
        }
    }
}
