//! Listing the builds of an archive from their `builds` objects, in both
//! layouts: the newest attempt of each v2 build, and v1 builds no v2
//! attempt replaced. This is the complete (and per-build) view that
//! `perfkit repair` rebuilds the index from; readers of one project use the
//! index ([`crate::index`]).

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use perfkit_schema::{ArchiveKey, ProjectName, Table};

use super::{Archive, paths};
use crate::error::ArchiveError;

/// A committed build: its key and the attempt readers see (`None`: the
/// build is in layout v1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuildRef {
    pub key: ArchiveKey,
    pub attempt: Option<u32>,
}

impl Archive {
    /// Every archived build, optionally of one project, sorted by project,
    /// change, patchset and build: one listing of each layout's `builds`
    /// objects. Objects not shaped like archive keys are ignored.
    pub async fn list_builds(
        &self,
        project: Option<&ProjectName>,
    ) -> Result<Vec<BuildRef>, ArchiveError> {
        let v2_prefix = paths::join(
            &self.root,
            ArchiveKey::v2_table_prefix(Table::Builds, project),
        );
        let mut newest: BTreeMap<SortKey, u32> = BTreeMap::new();
        for meta in self.list_all(&v2_prefix).await? {
            let Some(object) = paths::parse_v2(&self.root, &meta.location) else {
                continue;
            };
            if object.table != Table::Builds || project.is_some_and(|p| &object.key.project != p) {
                continue;
            }
            let entry = newest.entry(SortKey(object.key)).or_insert(object.attempt);
            *entry = (*entry).max(object.attempt);
        }
        let mut builds: BTreeMap<SortKey, Option<u32>> =
            newest.into_iter().map(|(k, a)| (k, Some(a))).collect();
        let v1_prefix = paths::join(&self.root, ArchiveKey::table_prefix(Table::Builds, project));
        for meta in self.list_all(&v1_prefix).await? {
            let Some((table, key)) = paths::parse_key(&self.root, &meta.location) else {
                continue;
            };
            if table == Table::Builds && project.is_none_or(|p| &key.project == p) {
                builds.entry(SortKey(key)).or_insert(None);
            }
        }
        Ok(builds
            .into_iter()
            .map(|(SortKey(key), attempt)| BuildRef { key, attempt })
            .collect())
    }

    /// The projects with builds or an index, sorted: one delimited listing
    /// per layout (a few requests, not one per build).
    pub async fn list_projects(&self) -> Result<Vec<ProjectName>, ArchiveError> {
        let mut projects = std::collections::BTreeSet::new();
        for prefix in [
            ArchiveKey::v2_table_prefix(Table::Builds, None),
            ArchiveKey::index_prefix(None),
            ArchiveKey::table_prefix(Table::Builds, None),
        ] {
            let prefix = paths::join(&self.root, prefix);
            let listed = self
                .store
                .list_with_delimiter(Some(&prefix))
                .await
                .map_err(|e| self.error("list", &prefix, e))?;
            for dir in listed.common_prefixes {
                let parts = paths::decoded_parts(&self.root, &dir).unwrap_or_default();
                let name = parts.last().and_then(|p| p.strip_prefix("project="));
                if let Some(project) = name.and_then(|p| ProjectName::try_from(p).ok()) {
                    projects.insert(project);
                }
            }
        }
        Ok(projects.into_iter().collect())
    }

    /// The objects below `prefix` named after `offset` (S3's `start-after`).
    pub(crate) async fn list_after(
        &self,
        prefix: &Path,
        offset: &Path,
    ) -> Result<Vec<object_store::ObjectMeta>, ArchiveError> {
        self.store
            .list_with_offset(Some(prefix), offset)
            .try_collect()
            .await
            .map_err(|e| self.error("list", prefix, e))
    }

    pub(crate) async fn list_all(
        &self,
        prefix: &Path,
    ) -> Result<Vec<object_store::ObjectMeta>, ArchiveError> {
        self.store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|e| self.error("list", prefix, e))
    }
}

/// Orders keys by project, change, patchset and build.
#[derive(PartialEq, Eq)]
struct SortKey(ArchiveKey);

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (&self.0, &other.0);
        (a.project.as_str(), a.change, a.patchset, a.build.as_str()).cmp(&(
            b.project.as_str(),
            b.change,
            b.patchset,
            b.build.as_str(),
        ))
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
