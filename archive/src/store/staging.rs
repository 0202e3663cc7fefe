//! Staging files a killed writer left in a local-directory archive.
//!
//! `object_store`'s local store writes `<key>#<n>` and renames it to `<key>`
//! when the write completes, so a process killed mid-put leaves the staging
//! file behind. No listing shows it (the store hides names with `#`), so
//! only a walk of the directory finds it; `perfkit repair` deletes those
//! older than its grace period, by which time no live put still owns them.

use std::path::Path;
use std::time::{Duration, SystemTime};

/// Deletes staging files (`…#<digits>`) under `dir` last modified more
/// than `grace` ago; returns how many. Unreadable entries are skipped: a
/// sweep never fails a repair.
pub(crate) fn sweep(dir: &Path, grace: Duration) -> usize {
    let now = SystemTime::now();
    let mut deleted = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(entry.path());
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > grace);
            if kind.is_file()
                && old
                && is_staging_name(&entry.file_name().to_string_lossy())
                && std::fs::remove_file(entry.path()).is_ok()
            {
                deleted += 1;
            }
        }
    }
    deleted
}

/// `name#123`: the local store's staging suffix.
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(stem, n)| {
        !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_staging_files_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("v2/p/builds");
        std::fs::create_dir_all(&deep).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let make = |name: &str, old: bool| {
            let path = deep.join(name);
            let file = std::fs::File::create(&path).unwrap();
            if old {
                file.set_modified(hour_ago).unwrap();
            }
            path
        };
        let stale = make("b.parquet#1", true);
        let fresh = make("c.parquet#2", false);
        let data = make("d.parquet", true);
        let odd = make("e#x", true);
        assert_eq!(sweep(dir.path(), Duration::from_secs(600)), 1);
        assert!(!stale.exists());
        assert!(fresh.exists() && data.exists() && odd.exists());
    }

    #[test]
    fn staging_names() {
        assert!(is_staging_name("x.parquet#12"));
        assert!(!is_staging_name("#12"));
        assert!(!is_staging_name("x.parquet#"));
        assert!(!is_staging_name("x.parquet"));
        assert!(!is_staging_name("x#1a"));
    }
}
