//! Where a site build writes: the published directory (`out`) and its
//! working state (`state`: the writer's manifest, each project's saved
//! state, the change-point memo, the build cache). The state is kept
//! outside `out` so that publishing `out` (`rsync OUT/`, a Pages upload)
//! never ships it; by default it is `<out>.perfkit-state` beside `out`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::SiteError;

/// Where perfkit versions before `--state-dir` kept the state: inside `out`.
const LEGACY_STATE: &str = ".perfkit";

/// The two directories of a site build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteDirs {
    pub out: PathBuf,
    pub state: PathBuf,
}

impl SiteDirs {
    /// `out` and `state`, or the default state directory beside `out`.
    pub fn new(out: &Path, state: Option<&Path>) -> SiteDirs {
        SiteDirs {
            out: out.to_path_buf(),
            state: state.map_or_else(|| default_state_dir(out), Path::to_path_buf),
        }
    }

    /// Creates both directories and moves a state an older perfkit left
    /// inside `out` to `state` (or drops it when `state` already exists),
    /// so it stops being published. Refuses a state directory inside `out`.
    pub fn prepare(&self) -> Result<(), SiteError> {
        // Checked on the names first, so a refused pair creates nothing,
        // and again once both exist (symbolic links).
        let (out, state) = (lexical(&self.out), lexical(&self.state));
        if state.starts_with(&out) || out.starts_with(&state) {
            return Err(self.overlap());
        }
        fs::create_dir_all(&self.out).map_err(|e| SiteError::io(&self.out, e))?;
        let out = fs::canonicalize(&self.out).map_err(|e| SiteError::io(&self.out, e))?;
        if let Some(parent) = self.state.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| SiteError::io(parent, e))?;
        }
        let legacy = self.out.join(LEGACY_STATE);
        if legacy.is_dir() {
            if self.state.exists() {
                fs::remove_dir_all(&legacy).map_err(|e| SiteError::io(&legacy, e))?;
            } else if fs::rename(&legacy, &self.state).is_err() {
                // Another file system: start afresh (the state only saves time).
                fs::remove_dir_all(&legacy).map_err(|e| SiteError::io(&legacy, e))?;
            }
        }
        fs::create_dir_all(&self.state).map_err(|e| SiteError::io(&self.state, e))?;
        let state = fs::canonicalize(&self.state).map_err(|e| SiteError::io(&self.state, e))?;
        if state.starts_with(&out) || out.starts_with(&state) {
            return Err(self.overlap());
        }
        Ok(())
    }

    fn overlap(&self) -> SiteError {
        SiteError::StateInSite {
            state: self.state.clone(),
            out: self.out.clone(),
        }
    }

    /// A file or directory of the state.
    pub fn state_path(&self, relative: &str) -> PathBuf {
        self.state.join(relative)
    }
}

/// `path` made absolute, with `.` and `..` resolved by name.
fn lexical(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `<out>.perfkit-state`, beside `out` (for `.` or `/`, named after the
/// directory they are).
pub fn default_state_dir(out: &Path) -> PathBuf {
    let absolute = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    let name = absolute
        .components()
        .next_back()
        .and_then(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .unwrap_or_else(|| "site".to_string());
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    parent.join(format!("{name}.perfkit-state"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_state_is_beside_the_site() {
        assert_eq!(
            default_state_dir(Path::new("/srv/perf/public")),
            Path::new("/srv/perf/public.perfkit-state")
        );
        assert_eq!(
            default_state_dir(Path::new("/srv/perf/public/")),
            Path::new("/srv/perf/public.perfkit-state")
        );
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            default_state_dir(Path::new("site")),
            here.join("site.perfkit-state")
        );
    }

    #[test]
    fn an_old_state_inside_the_site_moves_out() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("public");
        fs::create_dir_all(out.join(".perfkit/projects")).unwrap();
        fs::write(out.join(".perfkit/site-manifest"), "index.html\n").unwrap();
        let dirs = SiteDirs::new(&out, None);
        dirs.prepare().unwrap();
        assert!(!out.join(".perfkit").exists());
        assert_eq!(
            fs::read_to_string(dir.path().join("public.perfkit-state/site-manifest")).unwrap(),
            "index.html\n"
        );
        // With a state already there, the old one is dropped.
        fs::create_dir_all(out.join(".perfkit")).unwrap();
        dirs.prepare().unwrap();
        assert!(!out.join(".perfkit").exists());
    }

    #[test]
    fn a_state_inside_the_site_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("public");
        let dirs = SiteDirs::new(&out, Some(&out.join("state")));
        assert!(matches!(dirs.prepare(), Err(SiteError::StateInSite { .. })));
        let dirs = SiteDirs::new(&out, Some(dir.path()));
        assert!(matches!(dirs.prepare(), Err(SiteError::StateInSite { .. })));
    }
}
