//! `ArchiveKey`: the only place that knows how archive object keys are
//! shaped (see `docs/ARCHITECTURE.md`, "The archive"). Keys are returned as unencoded
//! path parts; the archive turns them into `object_store` paths, which
//! percent-encode each part (`openstack/nova` → `openstack%2Fnova`), the
//! Hive convention DuckDB, Spark and pyarrow decode.

use crate::names::{BuildId, ProjectName};

/// Layout version: the first path part under the archive root.
pub const LAYOUT_VERSION: &str = "v1";

/// The immutable layout (`docs/archive-v2.md`): every object is written
/// create-only once; a build's `--replace` is its next attempt.
pub const LAYOUT_V2: &str = "v2";

/// Length of the random token in a v2 data object's name (hex digits).
pub const TOKEN_LEN: usize = 16;

/// A v2 object read back from its path parts ([`ArchiveKey::from_v2_parts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Object {
    pub table: Table,
    pub key: ArchiveKey,
    pub attempt: u32,
    /// The writer's token, in data objects' names; `None` for the
    /// `builds` object, the attempt's commit point.
    pub token: Option<String>,
}

/// Whether `token` is shaped like a writer's token (lower-case hex).
pub fn is_token(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The tables of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// One row per iteration and atomic action.
    Samples,
    /// One row per workload run.
    Workloads,
    /// One row per workload and action: the compact per-build summary the
    /// site and the detector read instead of every sample.
    Series,
    /// One row per build; written last, so its presence marks a complete build.
    Builds,
}

impl Table {
    /// Every table, in the order an ingest writes them (builds last).
    pub const WRITE_ORDER: [Table; 4] = [
        Table::Samples,
        Table::Workloads,
        Table::Series,
        Table::Builds,
    ];

    /// The table named `name` (its directory name).
    pub fn from_name(name: &str) -> Option<Table> {
        Table::WRITE_ORDER.into_iter().find(|t| t.name() == name)
    }

    /// The table's directory name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Samples => "samples",
            Table::Workloads => "workloads",
            Table::Series => "series",
            Table::Builds => "builds",
        }
    }
}

/// Where one build's objects live: project, change, patchset and build id.
/// Builds without a change (post, periodic, tag) use change 0 / patchset 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchiveKey {
    pub project: ProjectName,
    pub change: u64,
    pub patchset: u32,
    pub build: BuildId,
}

impl ArchiveKey {
    /// The unencoded path parts of `table`'s object for this build, below
    /// the archive root: `v1/<table>/project=<p>/change=<n>/patchset=<n>/build=<id>.parquet`.
    pub fn parts(&self, table: Table) -> Vec<String> {
        self.layout_parts(LAYOUT_VERSION, table, ".parquet")
    }

    /// `<layout>/<table>/project=…/change=…/patchset=…/build=<id><suffix>`.
    fn layout_parts(&self, layout: &str, table: Table, suffix: &str) -> Vec<String> {
        vec![
            layout.to_string(),
            table.name().to_string(),
            format!("project={}", self.project),
            format!("change={}", self.change),
            format!("patchset={}", self.patchset),
            format!("build={}{suffix}", self.build),
        ]
    }

    /// The key of the unencoded `project=`, `change=`, `patchset=` and
    /// `build=` parts (`build_suffix` cut off the last).
    fn from_key_parts(
        [project, change, patchset, build]: [&str; 4],
        build_suffix: &str,
    ) -> Option<ArchiveKey> {
        Some(ArchiveKey {
            project: ProjectName::try_from(project.strip_prefix("project=")?).ok()?,
            change: change.strip_prefix("change=")?.parse().ok()?,
            patchset: patchset.strip_prefix("patchset=")?.parse().ok()?,
            build: BuildId::try_from(build.strip_prefix("build=")?.strip_suffix(build_suffix)?)
                .ok()?,
        })
    }

    /// The unencoded prefix of `table` for one project (or all, with `None`).
    pub fn table_prefix(table: Table, project: Option<&ProjectName>) -> Vec<String> {
        let mut parts = vec![LAYOUT_VERSION.to_string(), table.name().to_string()];
        if let Some(p) = project {
            parts.push(format!("project={p}"));
        }
        parts
    }

    /// The v2 directory of this build in `table`:
    /// `v2/<table>/project=<p>/change=<n>/patchset=<n>/build=<id>`.
    pub fn v2_build_dir(&self, table: Table) -> Vec<String> {
        self.layout_parts(LAYOUT_V2, table, "")
    }

    /// The commit point of `attempt`: `…/build=<id>/attempt=<n>.parquet`
    /// in the `builds` table. It has no token, so that two writers of one
    /// attempt race for the same name and only one creates it.
    pub fn commit_parts(&self, attempt: u32) -> Vec<String> {
        let mut parts = self.v2_build_dir(Table::Builds);
        parts.push(format!("attempt={attempt}.parquet"));
        parts
    }

    /// A data object of `attempt` written by the writer holding `token`:
    /// `…/build=<id>/attempt=<n>-<token>.parquet`.
    pub fn data_parts(&self, table: Table, attempt: u32, token: &str) -> Vec<String> {
        let mut parts = self.v2_build_dir(table);
        parts.push(format!("attempt={attempt}-{token}.parquet"));
        parts
    }

    /// The unencoded v2 prefix of `table` for one project (or all).
    pub fn v2_table_prefix(table: Table, project: Option<&ProjectName>) -> Vec<String> {
        let mut parts = vec![LAYOUT_V2.to_string(), table.name().to_string()];
        if let Some(p) = project {
            parts.push(format!("project={p}"));
        }
        parts
    }

    /// The prefix of a project's index segments: `v2/index/project=<p>`
    /// (or of every project's with `None`).
    pub fn index_prefix(project: Option<&ProjectName>) -> Vec<String> {
        let mut parts = vec![LAYOUT_V2.to_string(), "index".to_string()];
        if let Some(p) = project {
            parts.push(format!("project={p}"));
        }
        parts
    }

    /// Reads a v2 object back from its unencoded parts.
    pub fn from_v2_parts(parts: &[String]) -> Option<V2Object> {
        let [version, table, project, change, patchset, build, file] = parts else {
            return None;
        };
        if version != LAYOUT_V2 {
            return None;
        }
        let table = Table::from_name(table)?;
        let key =
            ArchiveKey::from_key_parts([project, change, patchset, build].map(String::as_str), "")?;
        let stem = file.strip_prefix("attempt=")?.strip_suffix(".parquet")?;
        let (attempt, token) = match stem.split_once('-') {
            Some((n, token)) if table != Table::Builds && is_token(token) => {
                (n, Some(token.to_string()))
            }
            None if table == Table::Builds => (stem, None),
            _ => return None,
        };
        // Digits only: `+1` or `01` would name another object than the one listed.
        if attempt.is_empty()
            || !attempt.bytes().all(|b| b.is_ascii_digit())
            || (attempt.len() > 1 && attempt.starts_with('0'))
        {
            return None;
        }
        Some(V2Object {
            table,
            key,
            attempt: attempt.parse().ok()?,
            token,
        })
    }

    /// Reads a key back from its unencoded parts (as listed from the store).
    pub fn from_parts(parts: &[String]) -> Option<(Table, ArchiveKey)> {
        let [version, table, project, change, patchset, build] = parts else {
            return None;
        };
        if version != LAYOUT_VERSION {
            return None;
        }
        let table = Table::from_name(table)?;
        let key = ArchiveKey::from_key_parts(
            [project, change, patchset, build].map(String::as_str),
            ".parquet",
        )?;
        Some((table, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_round_trip() {
        let key = ArchiveKey {
            project: ProjectName::try_from("openstack/nova").unwrap(),
            change: 912345,
            patchset: 3,
            build: BuildId::try_from("5f2c1e0a").unwrap(),
        };
        let parts = key.parts(Table::Workloads);
        assert_eq!(
            parts.join("|"),
            "v1|workloads|project=openstack/nova|change=912345|patchset=3|build=5f2c1e0a.parquet"
        );
        assert_eq!(
            ArchiveKey::from_parts(&parts),
            Some((Table::Workloads, key))
        );
    }

    #[test]
    fn v2_parts_round_trip() {
        let key = ArchiveKey {
            project: ProjectName::try_from("openstack/nova").unwrap(),
            change: 912345,
            patchset: 3,
            build: BuildId::try_from("5f2c1e0a").unwrap(),
        };
        let commit = key.commit_parts(2);
        assert_eq!(
            commit.join("|"),
            "v2|builds|project=openstack/nova|change=912345|patchset=3|build=5f2c1e0a|attempt=2.parquet"
        );
        let read = ArchiveKey::from_v2_parts(&commit).unwrap();
        assert_eq!(
            (read.table, &read.key, read.attempt, read.token),
            (Table::Builds, &key, 2, None)
        );
        let data = key.data_parts(Table::Series, 0, "0123456789abcdef");
        assert_eq!(data.last().unwrap(), "attempt=0-0123456789abcdef.parquet");
        let read = ArchiveKey::from_v2_parts(&data).unwrap();
        assert_eq!(read.table, Table::Series);
        assert_eq!(read.token.as_deref(), Some("0123456789abcdef"));
        for file in [
            "attempt=01.parquet",
            "attempt=+1.parquet",
            "attempt=.parquet",
            "attempt=1-0123456789abcdef.parquet",
            "attempt=1.parquet.tmp",
        ] {
            let mut parts = key.v2_build_dir(Table::Builds);
            parts.push(file.to_string());
            assert_eq!(ArchiveKey::from_v2_parts(&parts), None, "{file}");
        }
        for file in [
            "attempt=1.parquet",
            "attempt=1-0123456789ABCDEF.parquet",
            "attempt=1-abc.parquet",
        ] {
            let mut parts = key.v2_build_dir(Table::Samples);
            parts.push(file.to_string());
            assert_eq!(ArchiveKey::from_v2_parts(&parts), None, "{file}");
        }
    }

    #[test]
    fn foreign_keys_are_ignored() {
        let parts: Vec<String> = [
            "v1",
            "builds",
            "project=a/b",
            "change=x",
            "patchset=1",
            "build=a.parquet",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(ArchiveKey::from_parts(&parts), None);
    }
}
