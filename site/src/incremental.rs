//! What a project's last site build knew, kept in the state directory's
//! `projects/` so the next build redoes only what its new builds change:
//! the branch builds its trend points cover (with their versions), the
//! points themselves (`TrendState`, in a file of their own that is
//! rewritten only when the branch history changed), what the trend pages
//! gave the project page and the index, and per change page the inputs it
//! was rendered from (its builds and baseline, with versions). A build
//! that leaves a page's inputs as they were leaves the page alone; either
//! way the site's bytes are those a build from scratch writes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use perfkit_analysis::trend::TrendState;
use perfkit_schema::ProjectName;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::feed::Alert;
use crate::{SiteDirs, SiteError, urls, writer};

/// Bumped when the state's layout or meaning changes (3: trend views
/// include failure-rate change points and the alerts they raise).
const FORMAT: u32 = 3;

/// A project's state after a site build (JSON; the points beside it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SiteFacts {
    format: u32,
    /// perfkit's version: another one may render differently.
    version: String,
    /// What else shapes the pages (archive URL, link templates, suspects).
    pub(crate) settings: String,
    /// Branch builds the site covers: build key → version.
    pub(crate) branch: BTreeMap<String, String>,
    /// Branch builds the points file holds (some of `branch`: the file is
    /// rewritten only every `POINTS_REWRITE` new builds, and the builds
    /// since are read again and merged in).
    pub(crate) points_branch: BTreeMap<String, String>,
    /// The points' file name, in `projects/`.
    points: String,
    /// Newest build time of any build (branch or patchset).
    pub(crate) latest_us: i64,
    /// Ids of the series with pages (change pages link to them).
    pub(crate) series_ids: Vec<String>,
    pub(crate) trend_view: TrendView,
    /// Change pages by `change,patchset`.
    pub(crate) changes: BTreeMap<String, ChangeEntry>,
}

/// What the trend pages give the rest of the site.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TrendView {
    /// Branch builds.
    pub(crate) builds: usize,
    pub(crate) regressed: usize,
    pub(crate) failing: usize,
    /// The overview's rows, in order.
    pub(crate) overview: Vec<Json>,
    pub(crate) alerts: Vec<Alert>,
    /// The series pages and data files, kept as they are while the branch
    /// history does not change.
    pub(crate) files: Vec<String>,
}

/// One change page and what it was rendered from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChangeEntry {
    /// Digest of the page's inputs (`judge::Planned::inputs`).
    pub(crate) inputs: String,
    /// Its row in the changes table.
    pub(crate) row: Json,
    /// Its site path.
    pub(crate) page: String,
}

/// The key of a change in `SiteFacts::changes`.
pub(crate) fn change_key(change: u64, patchset: u32) -> String {
    format!("{change},{patchset}")
}

fn dir_of(dirs: &SiteDirs) -> PathBuf {
    dirs.state.join("projects")
}

fn facts_path(dirs: &SiteDirs, project: &ProjectName) -> PathBuf {
    dir_of(dirs).join(format!("{}.json", urls::project_dir(project)))
}

impl SiteFacts {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        settings: String,
        branch: BTreeMap<String, String>,
        points_branch: BTreeMap<String, String>,
        latest_us: i64,
        series_ids: Vec<String>,
        trend_view: TrendView,
        changes: BTreeMap<String, ChangeEntry>,
    ) -> SiteFacts {
        SiteFacts {
            format: FORMAT,
            version: env!("CARGO_PKG_VERSION").to_string(),
            settings,
            branch,
            points_branch,
            points: String::new(),
            latest_us,
            series_ids,
            trend_view,
            changes,
        }
    }

    /// The state of `project`'s last build, if it is readable, of this
    /// perfkit version and rendered with the same `settings`.
    pub(crate) fn load(
        dirs: &SiteDirs,
        project: &ProjectName,
        settings: &str,
    ) -> Option<SiteFacts> {
        let bytes = std::fs::read(facts_path(dirs, project)).ok()?;
        let facts: SiteFacts = serde_json::from_slice(&bytes).ok()?;
        (facts.format == FORMAT
            && facts.version == env!("CARGO_PKG_VERSION")
            && facts.settings == settings)
            .then_some(facts)
    }

    /// The saved points, if their file is there and whole.
    pub(crate) fn points(&self, dirs: &SiteDirs) -> Option<TrendState> {
        let bytes = std::fs::read(dir_of(dirs).join(&self.points)).ok()?;
        TrendState::from_bytes(&bytes)
    }

    /// Saves the state; `points` names the points file `write_points`
    /// wrote for this build, `None` when the one of `previous` is kept.
    pub(crate) fn save(
        mut self,
        dirs: &SiteDirs,
        project: &ProjectName,
        points: Option<String>,
        previous: Option<&SiteFacts>,
    ) -> Result<(), SiteError> {
        let dir = dir_of(dirs);
        self.points = match (points, previous) {
            (Some(name), _) => name,
            (None, Some(previous)) => previous.points.clone(),
            (None, None) => {
                return Err(SiteError::State {
                    path: dir,
                    reason: "no points to save".into(),
                });
            }
        };
        let json = serde_json::to_vec(&self).expect("site facts serialize");
        writer::atomic_write(&facts_path(dirs, project), &json)?;
        remove_other_points(&dir, &urls::project_dir(project), &self.points);
        Ok(())
    }
}

/// Writes `project`'s points (`TrendState::to_bytes`) to a file of a new
/// name and returns the name: the facts name their points, so a crash
/// between the two writes leaves the old pair whole. 125 MB at 10,000
/// builds x 200 series, so the site writes it while it renders.
pub(crate) fn write_points(
    dirs: &SiteDirs,
    project: &ProjectName,
    points: &[u8],
) -> Result<String, SiteError> {
    let dir = dir_of(dirs);
    std::fs::create_dir_all(&dir).map_err(|e| SiteError::io(&dir, e))?;
    let token = perfkit_schema::identity::sha256_hex(
        format!("{project} {:?}", std::time::SystemTime::now()).as_bytes(),
    );
    let name = format!("{}.{}.points", urls::project_dir(project), &token[..12]);
    writer::atomic_write(&dir.join(&name), points)?;
    Ok(name)
}

/// Removes the points files of `stem` other than `keep`.
fn remove_other_points(dir: &std::path::Path, stem: &str, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `<stem>.<token>.points`: a project named `<stem>.x` has a dot more.
        let ours = name
            .strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.strip_suffix(".points"))
            .is_some_and(|token| !token.contains('.'));
        if ours && name != keep {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Forgets `project`'s state (a build that cannot save a new one must not
/// leave an old one behind).
pub(crate) fn forget(dirs: &SiteDirs, project: &ProjectName) {
    let _ = std::fs::remove_file(facts_path(dirs, project));
}
