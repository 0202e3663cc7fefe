//! `ArchiveKey`: the only place that knows how archive object keys are
//! shaped (see `docs/ARCHITECTURE.md`, "The archive"). Keys are returned as unencoded
//! path parts; the archive turns them into `object_store` paths, which
//! percent-encode each part (`openstack/nova` → `openstack%2Fnova`), the
//! Hive convention DuckDB, Spark and pyarrow decode.

use crate::names::{BuildId, ProjectName};

/// Layout version: the first path part under the archive root.
pub const LAYOUT_VERSION: &str = "v1";

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
        vec![
            LAYOUT_VERSION.to_string(),
            table.name().to_string(),
            format!("project={}", self.project),
            format!("change={}", self.change),
            format!("patchset={}", self.patchset),
            format!("build={}.parquet", self.build),
        ]
    }

    /// The unencoded prefix of `table` for one project (or all, with `None`).
    pub fn table_prefix(table: Table, project: Option<&ProjectName>) -> Vec<String> {
        let mut parts = vec![LAYOUT_VERSION.to_string(), table.name().to_string()];
        if let Some(p) = project {
            parts.push(format!("project={p}"));
        }
        parts
    }

    /// Reads a key back from its unencoded parts (as listed from the store).
    pub fn from_parts(parts: &[String]) -> Option<(Table, ArchiveKey)> {
        let [version, table, project, change, patchset, build] = parts else {
            return None;
        };
        if version != LAYOUT_VERSION {
            return None;
        }
        let table = match table.as_str() {
            "samples" => Table::Samples,
            "workloads" => Table::Workloads,
            "series" => Table::Series,
            "builds" => Table::Builds,
            _ => return None,
        };
        let value = |part: &str, name: &str| part.strip_prefix(name).map(str::to_string);
        let project = ProjectName::try_from(value(project, "project=")?.as_str()).ok()?;
        let change = value(change, "change=")?.parse().ok()?;
        let patchset = value(patchset, "patchset=")?.parse().ok()?;
        let build = value(build, "build=")?;
        let build = BuildId::try_from(build.strip_suffix(".parquet")?).ok()?;
        Some((
            table,
            ArchiveKey {
                project,
                change,
                patchset,
                build,
            },
        ))
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
