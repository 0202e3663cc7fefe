//! Names parsed once at the edge: Gerrit project names and build ids that
//! end up in object keys, so they are checked here and trusted afterwards.

use std::fmt;

/// Why a name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error(
        "project name `{}` is not valid: use letters, digits, `.`, `_`, `-` and `/` (e.g. `openstack/nova`)",
        .0.escape_debug()
    )]
    Project(String),
    #[error(
        "build id `{}` is not valid: use 1-64 letters, digits, `-` or `_` (a Zuul build uuid)",
        .0.escape_debug()
    )]
    Build(String),
}

/// A Gerrit project such as `openstack/nova`.
///
/// A bare name (`nova`) means the OpenStack namespace, as OpenDev users
/// write it. Path traversal, empty parts and characters that would need
/// escaping in a URL or object key are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectName(String);

impl ProjectName {
    /// The full name, e.g. `openstack/nova`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last part, e.g. `nova`.
    pub fn short_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl TryFrom<&str> for ProjectName {
    type Error = NameError;

    fn try_from(raw: &str) -> Result<Self, NameError> {
        let name = raw.trim().trim_matches('/');
        let name = name.strip_suffix(".git").unwrap_or(name);
        let valid_part = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if name.is_empty() || name.len() > 200 || !name.split('/').all(valid_part) {
            return Err(NameError::Project(raw.to_string()));
        }
        if name.contains('/') {
            Ok(Self(name.to_string()))
        } else {
            Ok(Self(format!("openstack/{name}")))
        }
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of an archived build: a Zuul build uuid, or one derived from the
/// content of the result file when no build is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildId(String);

impl BuildId {
    /// The id as written in keys and columns.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stable id from a content digest (hex), shaped like a uuid so that
    /// tools expecting Zuul's ids still read it.
    pub fn from_digest(hex_digest: &str) -> Self {
        let h = hex_digest.as_bytes();
        let part = |a: usize, b: usize| std::str::from_utf8(&h[a..b]).unwrap_or("0");
        Self(format!(
            "{}-{}-{}-{}-{}",
            part(0, 8),
            part(8, 12),
            part(12, 16),
            part(16, 20),
            part(20, 32)
        ))
    }
}

impl TryFrom<&str> for BuildId {
    type Error = NameError;

    fn try_from(raw: &str) -> Result<Self, NameError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err(NameError::Build(raw.to_string()))
        }
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_openstack_projects() {
        assert_eq!(
            ProjectName::try_from("nova").unwrap().as_str(),
            "openstack/nova"
        );
        assert_eq!(
            ProjectName::try_from("openstack/nova")
                .unwrap()
                .short_name(),
            "nova"
        );
        assert_eq!(
            ProjectName::try_from("x/networking-foo.git")
                .unwrap()
                .as_str(),
            "x/networking-foo"
        );
    }

    #[test]
    fn hostile_project_names_are_refused() {
        for bad in [
            "",
            "../etc",
            "openstack/../x",
            "a//b",
            "nova<script>",
            "a b",
            "n%2Fx",
            "a/b?c",
        ] {
            assert!(ProjectName::try_from(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn refused_names_are_shown_escaped() {
        let err = ProjectName::try_from("nova\u{1b}[2J")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\u{1b}') && err.contains("\\u{1b}"), "{err}");
    }

    #[test]
    fn build_ids_are_key_safe() {
        assert_eq!(BuildId::try_from("5F2C1e0a").unwrap().as_str(), "5f2c1e0a");
        assert!(BuildId::try_from("../x").is_err());
        assert!(BuildId::try_from("a.parquet").is_err());
        let id = BuildId::from_digest("0123456789abcdef0123456789abcdef0123");
        assert_eq!(id.as_str(), "01234567-89ab-cdef-0123-456789abcdef");
    }
}
