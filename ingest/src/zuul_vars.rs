//! Reads the `zuul` variables of a build, as Ansible dumps them to YAML or
//! JSON (`{{ zuul | to_yaml }}`), into build metadata. Accepts the bare
//! dict or one wrapped as `{zuul: …}`; a `nodepool` dict beside it (the
//! node's provider and label) is read too.
//!
//! Key presence follows Zuul 14.3.0: `change`/`patchset` exist only for
//! changes, `branch` is missing for tags, `newrev` is set for ref updates
//! (and for dereferencing timers, so it never decides the pipeline).

use std::path::Path;

use perfkit_schema::ProjectName;
use perfkit_schema::records::BuildMeta;
use yaml_serde::Value;

use crate::IngestError;

/// What a `zuul` variables file says about a build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZuulBuild {
    pub project: Option<ProjectName>,
    pub meta: BuildMeta,
}

/// Reads and interprets a `zuul` variables file.
pub fn read(path: &Path) -> Result<ZuulBuild, IngestError> {
    let text = std::fs::read_to_string(path).map_err(|source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|message| IngestError::ZuulVars {
        path: path.to_path_buf(),
        message,
    })
}

/// Interprets the text of a `zuul` variables file (YAML or JSON).
pub fn parse(text: &str) -> Result<ZuulBuild, String> {
    let doc: Value = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
    let zuul = match doc.get("zuul") {
        Some(inner) => inner,
        None => &doc,
    };
    if !zuul.is_mapping() {
        return Err("expected a mapping of `zuul` variables".into());
    }
    if zuul.get("build").is_none() && zuul.get("project").is_none() {
        return Err(
            "no `build` or `project` key: this does not look like Zuul's `zuul` variables".into(),
        );
    }
    let text_at = |key: &str| scalar(zuul.get(key));
    let project = match zuul
        .get("project")
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
    {
        Some(name) => {
            Some(ProjectName::try_from(name).map_err(|e| format!("`project.name`: {e}"))?)
        }
        None => None,
    };
    let number = |key: &str| -> Result<Option<u64>, String> {
        match text_at(key) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("`{key}` is `{v}`, expected a number")),
        }
    };
    if number("change")?.is_some() != number("patchset")?.is_some() {
        return Err("`change` and `patchset` go together: give both or neither".into());
    }
    let nodepool = doc.get("nodepool");
    let meta = BuildMeta {
        change: number("change")?,
        patchset: number("patchset")?
            .map(|p| u32::try_from(p).map_err(|_| format!("`patchset` {p} is too large")))
            .transpose()?,
        git_ref: text_at("ref"),
        newrev: revision(zuul.get("newrev")),
        branch: text_at("branch"),
        tag: text_at("tag"),
        pipeline: text_at("pipeline"),
        job: text_at("job"),
        zuul_build: text_at("build"),
        buildset: text_at("buildset"),
        tenant: text_at("tenant"),
        change_url: text_at("change_url"),
        log_url: None,
        node_provider: nodepool.and_then(|n| scalar(n.get("provider"))),
        node_label: nodepool.and_then(|n| scalar(n.get("label"))),
        zuul_result: None,
    };
    Ok(ZuulBuild { project, meta })
}

/// A git commit id. Hand-written YAML may leave an all-digit sha unquoted,
/// which YAML reads as a (lossy) number: such a value is dropped with a
/// warning rather than archived wrong. Zuul's own dumps quote it.
fn revision(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if s.chars().all(|c| c.is_ascii_hexdigit()) => {
            Some(s.to_ascii_lowercase())
        }
        Value::Null => None,
        other => {
            tracing::warn!("ignoring `newrev` {other:?}: not a quoted hex commit id");
            None
        }
    }
}

/// A scalar as text; `None` for null, missing, lists and maps.
fn scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> ZuulBuild {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/zuul-vars")
            .join(name);
        read(&path).unwrap()
    }

    #[test]
    fn change_build() {
        let b = fixture("change.yaml");
        assert_eq!(b.project.unwrap().as_str(), "openstack/nova");
        assert_eq!((b.meta.change, b.meta.patchset), (Some(912345), Some(3)));
        assert_eq!(b.meta.pipeline.as_deref(), Some("check"));
        assert_eq!(b.meta.branch.as_deref(), Some("master"));
        assert_eq!(
            b.meta.zuul_build.as_deref(),
            Some("5f2c1e0a9b8d4c3e8f7a6b5c4d3e2f1a")
        );
        assert_eq!(b.meta.job.as_deref(), Some("nova-rally-task"));
        assert_eq!(b.meta.newrev, None);
    }

    #[test]
    fn builds_without_a_change() {
        for name in ["periodic.yaml", "post.yaml", "tag.yaml"] {
            let b = fixture(name);
            assert_eq!((b.meta.change, b.meta.patchset), (None, None), "{name}");
            assert!(
                b.meta.zuul_build.is_some() && b.meta.git_ref.is_some(),
                "{name}"
            );
        }
        // The hand-written fixture leaves the all-digit sha unquoted: a
        // number to YAML, so it is dropped rather than stored mangled.
        assert_eq!(fixture("post.yaml").meta.newrev, None);
        let quoted =
            parse("zuul: {build: x, newrev: '3333333333333333333333333333333333333333'}").unwrap();
        assert_eq!(
            quoted.meta.newrev.as_deref(),
            Some("3333333333333333333333333333333333333333")
        );
        let tag = fixture("tag.yaml");
        assert_eq!(tag.meta.branch, None);
        assert!(tag.meta.tag.is_some());
    }

    #[test]
    fn json_and_bare_dicts_are_accepted() {
        let b = parse(r#"{"build": "abc", "project": {"name": "openstack/cinder"}, "change": 7, "patchset": 2}"#).unwrap();
        assert_eq!(b.project.unwrap().as_str(), "openstack/cinder");
        assert_eq!((b.meta.change, b.meta.patchset), (Some(7), Some(2)));
    }

    #[test]
    fn wrong_files_are_refused() {
        assert!(parse("- a\n- b\n").is_err());
        assert!(
            parse("tasks: []\n")
                .unwrap_err()
                .contains("does not look like")
        );
        assert!(
            parse("zuul: {build: x, change: abc}")
                .unwrap_err()
                .contains("`change` is `abc`")
        );
        assert!(parse("zuul: {build: x, project: {name: '../etc'}}").is_err());
        assert!(
            parse("zuul: {build: x, change: 5}")
                .unwrap_err()
                .contains("go together")
        );
    }
}
