//! Writes the site incrementally: a file whose bytes did not change is not
//! rewritten (its mtime stays, so rsync and static hosts see no change),
//! and files a previous build wrote that this one did not are removed.
//! Every file goes through a temporary name and a rename, so a reader never
//! sees half a page.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{SiteDirs, SiteError};

/// The list of files the last build wrote, relative to the output root
/// (in the state directory, beside the published files).
const MANIFEST: &str = "site-manifest";

/// What a build did to the output directory.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub bytes_written: u64,
}

/// Collects the files of one site build.
pub struct SiteWriter {
    root: PathBuf,
    manifest: PathBuf,
    seen: BTreeSet<String>,
    stats: WriteStats,
}

impl SiteWriter {
    /// Writes below `dirs.out` (created if missing), keeping its manifest
    /// in `dirs.state`.
    pub fn new(dirs: &SiteDirs) -> Result<SiteWriter, SiteError> {
        let root = &dirs.out;
        fs::create_dir_all(root).map_err(|e| SiteError::io(root, e))?;
        Ok(SiteWriter {
            root: root.to_path_buf(),
            manifest: dirs.state_path(MANIFEST),
            seen: BTreeSet::new(),
            stats: WriteStats::default(),
        })
    }

    /// Writes `relative` (slash-separated, made only of safe parts by the
    /// caller) unless it already holds exactly `bytes`.
    pub fn write(&mut self, relative: &str, bytes: &[u8]) -> Result<(), SiteError> {
        debug_assert!(
            relative
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != ".."),
            "unsafe site path {relative}"
        );
        let path = self.root.join(relative);
        self.seen.insert(relative.to_string());
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            self.stats.unchanged += 1;
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| SiteError::io(dir, e))?;
        }
        atomic_write(&path, bytes)?;
        self.stats.written += 1;
        self.stats.bytes_written += bytes.len() as u64;
        Ok(())
    }

    /// Whether `relative` is there (from an earlier build).
    pub fn exists(&self, relative: &str) -> bool {
        self.root.join(relative).is_file()
    }

    /// Marks a file as part of this build without touching it (a page the
    /// caller knows is unchanged).
    pub fn keep(&mut self, relative: &str) {
        self.seen.insert(relative.to_string());
        self.stats.unchanged += 1;
    }

    /// Removes what the previous build wrote and this one did not, records
    /// this build's files, and returns the counts. With `scope`, only files
    /// under those prefixes are candidates for removal (a build limited to
    /// some projects leaves the others alone).
    pub fn finish(mut self, scope: Option<&[String]>) -> Result<WriteStats, SiteError> {
        let manifest = self.manifest.clone();
        let previous = fs::read_to_string(&manifest).unwrap_or_default();
        let mut recorded: BTreeSet<String> = BTreeSet::new();
        for old in previous.lines().filter(|l| !l.is_empty()) {
            let in_scope =
                scope.is_none_or(|prefixes| prefixes.iter().any(|p| old.starts_with(p.as_str())));
            if self.seen.contains(old) {
                continue;
            }
            if !in_scope {
                recorded.insert(old.to_string());
                continue;
            }
            let safe = old
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..");
            if safe && fs::remove_file(self.root.join(old)).is_ok() {
                self.stats.removed += 1;
            }
        }
        recorded.extend(self.seen.iter().cloned());
        let text: String = recorded.iter().map(|l| format!("{l}\n")).collect();
        if text != previous {
            let dir = manifest.parent().expect("the manifest is in a directory");
            fs::create_dir_all(dir).map_err(|e| SiteError::io(dir, e))?;
            atomic_write(&manifest, text.as_bytes())?;
        }
        Ok(self.stats)
    }
}

/// Writes `path` through a temporary file in the same directory and a
/// rename, so readers see the old bytes or the new ones, never a part.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), SiteError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.perfkit-tmp", std::process::id()));
    let result = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|_| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(SiteError::io(path, e));
    }
    Ok(())
}

/// An exclusive lock on a site's directories: two site builds into one
/// directory at once would delete each other's files. Both the state
/// directory (its `lock` file) and the output directory itself are
/// locked, so two builds naming different state directories for one site
/// still exclude each other. Released when dropped (or the process ends).
pub struct OutputLock {
    _files: [fs::File; 2],
}

impl OutputLock {
    /// Takes the lock, or fails at once when another build holds it.
    pub fn acquire(dirs: &SiteDirs) -> Result<OutputLock, SiteError> {
        fs::create_dir_all(&dirs.state).map_err(|e| SiteError::io(&dirs.state, e))?;
        fs::create_dir_all(&dirs.out).map_err(|e| SiteError::io(&dirs.out, e))?;
        let path = dirs.state.join("lock");
        let state = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| SiteError::io(&path, e))?;
        // A directory opened for reading can be locked like a file (flock).
        let out = fs::File::open(&dirs.out).map_err(|e| SiteError::io(&dirs.out, e))?;
        for (file, path) in [(&state, &path), (&out, &dirs.out)] {
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(SiteError::Busy(dirs.out.clone()));
                }
                Err(fs::TryLockError::Error(e)) => return Err(SiteError::io(path, e)),
            }
        }
        Ok(OutputLock {
            _files: [state, out],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs_in(dir: &Path) -> SiteDirs {
        SiteDirs::new(&dir.join("site"), Some(&dir.join("state")))
    }

    #[test]
    fn unchanged_files_are_left_alone_and_stale_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SiteWriter::new(&dirs_in(dir.path())).unwrap();
        w.write("a/index.html", b"one").unwrap();
        w.write("b.html", b"two").unwrap();
        let first = w.finish(None).unwrap();
        assert_eq!((first.written, first.unchanged, first.removed), (2, 0, 0));
        let mtime = |p: &str| {
            fs::metadata(dir.path().join("site").join(p))
                .unwrap()
                .modified()
                .unwrap()
        };
        let before = mtime("a/index.html");

        let mut w = SiteWriter::new(&dirs_in(dir.path())).unwrap();
        w.write("a/index.html", b"one").unwrap();
        w.write("c.html", b"three").unwrap();
        let second = w.finish(None).unwrap();
        assert_eq!(
            (second.written, second.unchanged, second.removed),
            (1, 1, 1)
        );
        assert_eq!(mtime("a/index.html"), before);
        assert!(!dir.path().join("site/b.html").exists());
        assert!(!dir.path().join("site/a/index.perfkit-tmp").exists());
    }

    #[test]
    fn a_scoped_build_keeps_other_projects() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SiteWriter::new(&dirs_in(dir.path())).unwrap();
        w.write("p1/index.html", b"1").unwrap();
        w.write("p2/index.html", b"2").unwrap();
        w.finish(None).unwrap();
        let mut w = SiteWriter::new(&dirs_in(dir.path())).unwrap();
        w.write("p1/index.html", b"1").unwrap();
        let stats = w.finish(Some(&["p1/".to_string()])).unwrap();
        assert_eq!(stats.removed, 0);
        assert!(dir.path().join("site/p2/index.html").exists());
        // p2 is still recorded, so a later full build can remove it.
        let stats = SiteWriter::new(&dirs_in(dir.path()))
            .unwrap()
            .finish(None)
            .unwrap();
        assert_eq!(stats.removed, 2);
    }
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    fn dirs_in(dir: &Path) -> SiteDirs {
        SiteDirs::new(&dir.join("site"), Some(&dir.join("state")))
    }

    #[test]
    fn one_build_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let held = OutputLock::acquire(&dirs_in(dir.path())).unwrap();
        assert!(matches!(
            OutputLock::acquire(&dirs_in(dir.path())),
            Err(SiteError::Busy(_))
        ));
        // Another state directory for the same site does not get round it.
        let other = SiteDirs::new(&dir.path().join("site"), Some(&dir.path().join("other")));
        assert!(matches!(
            OutputLock::acquire(&other),
            Err(SiteError::Busy(_))
        ));
        drop(held);
        OutputLock::acquire(&dirs_in(dir.path())).unwrap();
    }
}
