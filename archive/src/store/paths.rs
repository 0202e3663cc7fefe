//! Archive keys <-> `object_store` paths. Paths are only ever built from
//! unencoded parts ([`ArchiveKey::parts`]), which `object_store` encodes
//! one part at a time (`openstack/nova` → `openstack%2Fnova`); listed paths
//! are decoded part by part before [`ArchiveKey::from_parts`] reads them.

use object_store::path::{Path, PathPart};
use perfkit_schema::key::{ArchiveKey, Table, V2Object};

/// `root` followed by the unencoded `parts`.
pub(super) fn join(root: &Path, parts: Vec<String>) -> Path {
    let mut path = root.clone();
    path.extend(parts.into_iter().map(PathPart::from));
    path
}

/// The encoded key of `table`'s object of `key`, relative to the root.
pub(super) fn relative_path(key: &ArchiveKey, table: Table) -> String {
    join(&Path::default(), key.parts(table)).to_string()
}

/// `path` relative to `root` when below it (for messages), else in full.
pub(super) fn relative_display(root: &Path, path: &Path) -> String {
    match path.prefix_match(root) {
        Some(rest) => rest.collect::<Path>().to_string(),
        None => path.to_string(),
    }
}

/// Reads a listed object's path back into a key; `None` for anything that
/// is not below `root` or not shaped like an archive key.
pub(super) fn parse_key(root: &Path, location: &Path) -> Option<(Table, ArchiveKey)> {
    let parts = location
        .prefix_match(root)?
        .map(|part| percent_decode(part.as_ref()))
        .collect::<Option<Vec<String>>>()?;
    let (table, key) = ArchiveKey::from_parts(&parts)?;
    // A key that does not encode back to the same path (say, a project
    // written with different escaping by another tool) would be read from
    // a different object than the one listed; such objects are foreign.
    (join(root, key.parts(table)) == *location).then_some((table, key))
}

/// Reads a listed v2 object's path back; `None` for anything else.
pub(super) fn parse_v2(root: &Path, location: &Path) -> Option<V2Object> {
    let parts = location
        .prefix_match(root)?
        .map(|part| percent_decode(part.as_ref()))
        .collect::<Option<Vec<String>>>()?;
    let object = ArchiveKey::from_v2_parts(&parts)?;
    let encoded = match &object.token {
        Some(token) => object.key.data_parts(object.table, object.attempt, token),
        None => object.key.commit_parts(object.attempt),
    };
    (join(root, encoded) == *location).then_some(object)
}

/// The decoded parts of `location` below `root`.
pub(super) fn decoded_parts(root: &Path, location: &Path) -> Option<Vec<String>> {
    location
        .prefix_match(root)?
        .map(|part| percent_decode(part.as_ref()))
        .collect()
}

/// Decodes `%XX` escapes; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = (*bytes.get(i + 1)? as char).to_digit(16)?;
            let lo = (*bytes.get(i + 2)? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfkit_schema::names::{BuildId, ProjectName};

    fn key() -> ArchiveKey {
        ArchiveKey {
            project: ProjectName::try_from("openstack/nova").unwrap(),
            change: 912345,
            patchset: 3,
            build: BuildId::try_from("5f2c1e0a").unwrap(),
        }
    }

    #[test]
    fn slash_in_project_is_encoded_once() {
        let root = Path::from("archive/root");
        let path = join(&root, key().parts(Table::Builds));
        assert_eq!(
            path.as_ref(),
            "archive/root/v1/builds/project=openstack%2Fnova/change=912345/patchset=3/build=5f2c1e0a.parquet"
        );
        assert_eq!(parse_key(&root, &path), Some((Table::Builds, key())));
        assert_eq!(
            relative_display(&root, &path),
            "v1/builds/project=openstack%2Fnova/change=912345/patchset=3/build=5f2c1e0a.parquet"
        );
    }

    #[test]
    fn foreign_paths_are_not_keys() {
        let root = Path::default();
        for foreign in [
            "v1/builds/project=openstack%2Fnova/change=1/patchset=1/build=a.parquet.tmp",
            "v1/builds/project=openstack%2Fnova/change=1/patchset=1/build=a.json",
            "v1/builds/project=openstack%252Fnova/change=1/patchset=1/build=a.parquet",
            "v1/builds/project=openstack%ZZnova/change=1/patchset=1/build=a.parquet",
            "v1/builds/project=nova/change=1/patchset=1/build=a.parquet",
            "v2/builds/project=openstack%2Fnova/change=1/patchset=1/build=a.parquet",
            "README",
        ] {
            let path = Path::parse(foreign).unwrap();
            assert_eq!(parse_key(&root, &path), None, "{foreign}");
        }
        let other_root = Path::from("elsewhere");
        let inside = join(&root, key().parts(Table::Samples));
        assert_eq!(parse_key(&other_root, &inside), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%3d").as_deref(), Some("a/b="));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}
