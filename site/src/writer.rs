//! Writes the site incrementally: a file whose bytes did not change is not
//! rewritten (its mtime stays, so rsync and static hosts see no change),
//! and files a previous build wrote that this one did not are removed.
//! Every file goes through a temporary name and a rename, so a reader never
//! sees half a page.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::SiteError;

/// The list of files the last build wrote, relative to the output root
/// (in `.perfkit/`, perfkit's working state beside the published files).
const MANIFEST: &str = ".perfkit/site-manifest";

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
    seen: BTreeSet<String>,
    stats: WriteStats,
}

impl SiteWriter {
    /// Writes below `root` (created if missing).
    pub fn new(root: &Path) -> Result<SiteWriter, SiteError> {
        fs::create_dir_all(root).map_err(|e| SiteError::io(root, e))?;
        Ok(SiteWriter {
            root: root.to_path_buf(),
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
        let manifest = self.root.join(MANIFEST);
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

/// An exclusive lock on an output directory (`.perfkit/lock`): two site
/// builds into one directory at once would delete each other's files.
/// Released when dropped (or when the process ends).
pub struct OutputLock {
    _file: fs::File,
}

impl OutputLock {
    /// Takes the lock, or fails at once when another build holds it.
    pub fn acquire(root: &Path) -> Result<OutputLock, SiteError> {
        let dir = root.join(".perfkit");
        fs::create_dir_all(&dir).map_err(|e| SiteError::io(&dir, e))?;
        let path = dir.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| SiteError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(OutputLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(SiteError::Busy(root.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => Err(SiteError::io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_files_are_left_alone_and_stale_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SiteWriter::new(dir.path()).unwrap();
        w.write("a/index.html", b"one").unwrap();
        w.write("b.html", b"two").unwrap();
        let first = w.finish(None).unwrap();
        assert_eq!((first.written, first.unchanged, first.removed), (2, 0, 0));
        let mtime = |p: &str| {
            fs::metadata(dir.path().join(p))
                .unwrap()
                .modified()
                .unwrap()
        };
        let before = mtime("a/index.html");

        let mut w = SiteWriter::new(dir.path()).unwrap();
        w.write("a/index.html", b"one").unwrap();
        w.write("c.html", b"three").unwrap();
        let second = w.finish(None).unwrap();
        assert_eq!(
            (second.written, second.unchanged, second.removed),
            (1, 1, 1)
        );
        assert_eq!(mtime("a/index.html"), before);
        assert!(!dir.path().join("b.html").exists());
        assert!(!dir.path().join("a/index.perfkit-tmp").exists());
    }

    #[test]
    fn a_scoped_build_keeps_other_projects() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SiteWriter::new(dir.path()).unwrap();
        w.write("p1/index.html", b"1").unwrap();
        w.write("p2/index.html", b"2").unwrap();
        w.finish(None).unwrap();
        let mut w = SiteWriter::new(dir.path()).unwrap();
        w.write("p1/index.html", b"1").unwrap();
        let stats = w.finish(Some(&["p1/".to_string()])).unwrap();
        assert_eq!(stats.removed, 0);
        assert!(dir.path().join("p2/index.html").exists());
        // p2 is still recorded, so a later full build can remove it.
        let stats = SiteWriter::new(dir.path()).unwrap().finish(None).unwrap();
        assert_eq!(stats.removed, 2);
    }
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    #[test]
    fn one_build_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let held = OutputLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            OutputLock::acquire(dir.path()),
            Err(SiteError::Busy(_))
        ));
        drop(held);
        OutputLock::acquire(dir.path()).unwrap();
    }
}
