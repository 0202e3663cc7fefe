//! Reads the `zuul` variables of a build, as Ansible dumps them to YAML or
//! JSON (`{{ zuul | to_yaml }}`), into build metadata. Accepts the bare
//! dict or one wrapped as `{zuul: …}`; a `nodepool` dict beside it (the
//! node's provider and label) is read too.
//!
//! Key presence follows Zuul 14.3.0: `change`/`patchset` exist only for
//! changes, `branch` is missing for tags, `newrev` is set for ref updates
//! (and for dereferencing timers, so it never decides the pipeline).
//!
//! The file comes from a job, which may run untrusted code, so it is
//! bounded before it is believed: at most [`MAX_BYTES`] (a real dump is
//! 2–4 KB, with long `items` lists tens of KB), and at most [`MAX_VALUES`]
//! values once YAML aliases are expanded (a real dump has a few hundred to
//! a few thousand). Aliases can multiply: `b: [*a, *a, …]`, `c: [*b, *b,
//! …]`, … makes a few KB stand for 10^8 values (a "billion laughs"): such
//! a 9 KB file took perfkit 15 s and 6 GB before it was stopped, within
//! yaml_serde's own guard (100 alias expansions per event of the file;
//! its nesting limit of 128 levels holds too). The values are now counted
//! on a first pass that builds nothing and stops at the limit, so such a
//! file is refused in milliseconds.

use std::cell::Cell;
use std::fmt;
use std::io::Read;
use std::path::Path;

use perfkit_schema::ProjectName;
use perfkit_schema::records::{BuildMeta, is_commit_sha};
use serde::de::{self, DeserializeSeed, Visitor};
use yaml_serde::Value;

/// Largest `zuul` variables file read, in bytes.
pub const MAX_BYTES: u64 = 1 << 20;
/// Most values (scalars, lists, maps; an alias counts what it repeats)
/// a `zuul` variables file may hold.
pub const MAX_VALUES: usize = 100_000;

/// What a `zuul` variables file says about a build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZuulBuild {
    pub project: Option<ProjectName>,
    pub meta: BuildMeta,
}

/// Why a `zuul` variables file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VarsError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read Zuul variables from `{}`: {message}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        message: String,
    },
    /// Past [`MAX_BYTES`] or [`MAX_VALUES`]: no Zuul dump comes near.
    #[error("cannot read Zuul variables from `{}`: {message}", path.display())]
    TooLarge {
        path: std::path::PathBuf,
        message: String,
    },
}

impl VarsError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            VarsError::Read { .. } => "check the path; pass the files `rally task report --json` wrote".into(),
            VarsError::Invalid { .. } => "pass the `zuul` variables as Ansible dumps them, e.g. `{{ zuul | to_yaml }}` into a file".into(),
            VarsError::TooLarge { .. } => "pass only the `zuul` variables as Ansible dumps them (`{{ zuul | to_yaml }}`, a few KB without anchors or aliases), not a larger file".into(),
        })
    }
}

/// Reads and interprets a `zuul` variables file.
pub fn read(path: &Path) -> Result<ZuulBuild, VarsError> {
    let read_error = |source| VarsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    let too_large = |size: u64| VarsError::TooLarge {
        path: path.to_path_buf(),
        message: too_many_bytes(size),
    };
    if size > MAX_BYTES {
        return Err(too_large(size));
    }
    let mut text = String::new();
    // `take`: a file that grows, or has no size (a pipe), stops here too.
    file.take(MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(too_large(text.len() as u64));
    }
    load(&text)
        .and_then(interpret_doc)
        .map_err(|problem| match problem {
            Problem::TooLarge(message) => VarsError::TooLarge {
                path: path.to_path_buf(),
                message,
            },
            Problem::Invalid(message) => VarsError::Invalid {
                path: path.to_path_buf(),
                message,
            },
        })
}

/// Interprets the text of a `zuul` variables file (YAML or JSON).
pub fn parse(text: &str) -> Result<ZuulBuild, String> {
    load(text)
        .and_then(interpret_doc)
        .map_err(|problem| match problem {
            Problem::TooLarge(message) | Problem::Invalid(message) => message,
        })
}

/// Why a text is not read.
enum Problem {
    TooLarge(String),
    Invalid(String),
}

fn too_many_bytes(size: u64) -> String {
    format!(
        "the file has {} bytes, more than {} MiB (perfkit's limit; a `zuul` variables dump has a few KB)",
        thousands(size),
        MAX_BYTES >> 20
    )
}

/// `12345` as `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The YAML document of `text`, if it is within [`MAX_BYTES`] and
/// [`MAX_VALUES`].
fn load(text: &str) -> Result<Value, Problem> {
    if text.len() as u64 > MAX_BYTES {
        return Err(Problem::TooLarge(too_many_bytes(text.len() as u64)));
    }
    let left = Cell::new(MAX_VALUES);
    let counted = Budget { left: &left }.deserialize(yaml_serde::Deserializer::from_str(text));
    if let Err(e) = counted {
        let text = e.to_string();
        // Past the budget the count stops with this message; past
        // yaml_serde's own alias guard with its (after the YAML path).
        let over_budget = left.get() == 0 && text.contains(OVER_BUDGET);
        return Err(
            if over_budget || text.contains("repetition limit exceeded") {
                Problem::TooLarge(format!(
                    "the YAML holds more than {} values once its aliases (`*name`, repeating what an anchor `&name` holds) are expanded (perfkit's limit; a `zuul` variables dump has a few thousand)",
                    thousands(MAX_VALUES as u64)
                ))
            } else {
                Problem::Invalid(text)
            },
        );
    }
    yaml_serde::from_str(text).map_err(|e| Problem::Invalid(e.to_string()))
}

const OVER_BUDGET: &str = "more values than the budget";

/// Counts the values of a YAML document, aliases expanded, without
/// building them; fails as soon as more than the budget were seen.
#[derive(Clone, Copy)]
struct Budget<'a> {
    left: &'a Cell<usize>,
}

impl Budget<'_> {
    fn take<E: de::Error>(self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom(OVER_BUDGET)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budget<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budget<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.take()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.take()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.take()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.take()
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.take()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.take()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.take()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.take()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.take()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.take()?;
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.take()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.take()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    /// A tagged value (`!tag value`): the tag and the value.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use de::VariantAccess;
        self.take()?;
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
}

/// Interprets a loaded `zuul` variables document.
fn interpret_doc(doc: Value) -> Result<ZuulBuild, Problem> {
    interpret_value(&doc).map_err(Problem::Invalid)
}

fn interpret_value(doc: &Value) -> Result<ZuulBuild, String> {
    let zuul = match doc.get("zuul") {
        Some(inner) => inner,
        None => doc,
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
    let nodepool = doc.get("nodepool");
    interpret(ZuulFacts {
        project: zuul
            .get("project")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string),
        change: text_at("change"),
        patchset: text_at("patchset"),
        git_ref: text_at("ref"),
        newrev: revision(zuul.get("newrev")),
        branch: text_at("branch"),
        tag: text_at("tag"),
        pipeline: text_at("pipeline"),
        job: text_at("job"),
        build: text_at("build"),
        buildset: text_at("buildset"),
        tenant: text_at("tenant"),
        change_url: text_at("change_url"),
        // Not known inside the job: the logs are uploaded after it.
        log_url: None,
        result: None,
        node_provider: nodepool.and_then(|n| scalar(n.get("provider"))),
        node_label: nodepool.and_then(|n| scalar(n.get("label"))),
        commits: checked_out(doc, zuul),
    })
}

/// The commits the job checked out, project name → sha: what the
/// post-run recorded (`perfkit_commits`, `git rev-parse HEAD` in each
/// project's `src_dir`), else Zuul's own `zuul.projects.*.commit` where a
/// Zuul version provides it.
fn checked_out(doc: &Value, zuul: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    if let Some(Value::Mapping(projects)) = zuul.get("projects") {
        for project in projects.values() {
            if let (Some(name), Some(sha)) = (
                project.get("name").and_then(Value::as_str),
                scalar(project.get("commit")),
            ) {
                found.push((name.to_string(), sha));
            }
        }
    }
    if let Some(Value::Mapping(recorded)) = doc.get("perfkit_commits") {
        for (name, sha) in recorded {
            if let (Some(name), Some(sha)) = (name.as_str(), scalar(Some(sha))) {
                found.retain(|(n, _)| n != name);
                found.push((name.to_string(), sha));
            }
        }
    }
    found
}

/// A build's Zuul facts as text, as Zuul hands them out: the job's `zuul`
/// variables ([`parse`]) or one build of Zuul's REST builds API (`perfkit
/// collect`). Both go through [`interpret`], so a build archived from
/// inside its job and one collected later get the same key and columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZuulFacts {
    /// `zuul.project.name` / the API's `ref.project`.
    pub project: Option<String>,
    pub change: Option<String>,
    pub patchset: Option<String>,
    pub git_ref: Option<String>,
    pub newrev: Option<String>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub pipeline: Option<String>,
    pub job: Option<String>,
    /// The build uuid: the archive build id.
    pub build: Option<String>,
    pub buildset: Option<String>,
    pub tenant: Option<String>,
    /// `zuul.change_url` / the API's `ref.ref_url` (both are the item's URL).
    pub change_url: Option<String>,
    pub log_url: Option<String>,
    /// Zuul's result, once the build finished.
    pub result: Option<String>,
    pub node_provider: Option<String>,
    pub node_label: Option<String>,
    /// Commits checked out, (project name, sha): the project under test's
    /// and its required projects'. Names and shas not of the right form
    /// are dropped with a warning.
    pub commits: Vec<(String, String)>,
}

/// The all-zero sha Zuul uses for "no revision" (a created or deleted ref).
const NULL_REVISION: &str = "0000000000000000000000000000000000000000";

/// Turns Zuul's facts into build metadata, following Zuul 14.3.0's own
/// rules (`zuul/model.py` `Ref/Change/Tag.toDict`): a change has no
/// `newrev` (the executor drops it), an all-zero revision means none, a
/// tag build's tag is its ref without `refs/tags/`. Empty text means
/// unknown (Zuul's database stores "" for none).
pub fn interpret(facts: ZuulFacts) -> Result<ZuulBuild, String> {
    let known = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let project = match known(facts.project) {
        Some(name) => {
            Some(ProjectName::try_from(name.as_str()).map_err(|e| format!("`project.name`: {e}"))?)
        }
        None => None,
    };
    let number = |key: &str, value: &Option<String>| -> Result<Option<u64>, String> {
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("`{key}` is `{v}`, expected a number")),
        }
    };
    let change = number("change", &facts.change)?;
    let patchset = number("patchset", &facts.patchset)?;
    if change.is_some() != patchset.is_some() {
        return Err("`change` and `patchset` go together: give both or neither".into());
    }
    let patchset = patchset
        .map(|p| u32::try_from(p).map_err(|_| format!("`patchset` {p} is too large")))
        .transpose()?;
    let git_ref = known(facts.git_ref);
    let newrev = match known(facts.newrev) {
        _ if change.is_some() => None,
        Some(rev) if rev == NULL_REVISION => None,
        Some(rev) if rev.chars().all(|c| c.is_ascii_hexdigit()) => Some(rev.to_ascii_lowercase()),
        Some(rev) => {
            tracing::warn!("ignoring `newrev` {rev:?}: not a hex commit id");
            None
        }
        None => None,
    };
    let tag = known(facts.tag).or_else(|| {
        git_ref
            .as_deref()
            .and_then(|r| r.strip_prefix("refs/tags/"))
            .map(str::to_string)
    });
    let mut meta = BuildMeta {
        change,
        patchset,
        git_ref,
        newrev,
        branch: known(facts.branch),
        tag,
        pipeline: known(facts.pipeline),
        job: known(facts.job),
        zuul_build: known(facts.build),
        buildset: known(facts.buildset),
        tenant: known(facts.tenant),
        change_url: known(facts.change_url),
        log_url: known(facts.log_url),
        node_provider: known(facts.node_provider),
        node_label: known(facts.node_label),
        zuul_result: known(facts.result),
        zuul_buildset_result: None,
        commit: None,
        required_commits: Default::default(),
    };
    for (name, sha) in facts.commits {
        let sha = sha.trim().to_ascii_lowercase();
        let Ok(name) = ProjectName::try_from(name.as_str()) else {
            tracing::warn!("ignoring the commit of {name:?}: not a project name");
            continue;
        };
        if !is_commit_sha(&sha) {
            tracing::warn!("ignoring the commit {sha:?} of {name}: not a hex commit id");
            continue;
        }
        if project.as_ref() == Some(&name) {
            meta.commit = Some(sha);
        } else {
            meta.required_commits.insert(name.to_string(), sha);
        }
    }
    Ok(ZuulBuild { project, meta })
}

/// A git commit id. Hand-written YAML may leave an all-digit sha unquoted,
/// which YAML reads as a (lossy) number: such a value is dropped with a
/// warning rather than archived wrong. Zuul's own dumps quote it.
fn revision(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
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
    fn checked_out_commits_come_from_the_post_run_or_zuul() {
        let nova = "a".repeat(40);
        let devstack = "b".repeat(40);
        let text = format!(
            "zuul:\n  build: 5f2c\n  project: {{name: openstack/nova}}\n  projects:\n    opendev.org/openstack/nova: {{name: openstack/nova, commit: '{}'}}\n    opendev.org/openstack/devstack: {{name: openstack/devstack, commit: '{devstack}'}}\nperfkit_commits:\n  openstack/nova: '{}'\n  openstack/rally: not-a-sha\n",
            "c".repeat(40),
            nova.to_uppercase()
        );
        let b = parse(&text).unwrap();
        // The post-run's record wins over Zuul's; case is normalised.
        assert_eq!(b.meta.commit.as_deref(), Some(nova.as_str()));
        assert_eq!(
            b.meta.required_commits,
            [("openstack/devstack".to_string(), devstack)].into()
        );
        let none = parse("zuul:\n  build: 5f2c\n  project: {name: openstack/nova}\n").unwrap();
        assert_eq!(
            (none.meta.commit, none.meta.required_commits.len()),
            (None, 0)
        );
    }

    #[test]
    fn zuul_rules_apply_to_every_source() {
        let facts = ZuulFacts {
            project: Some("openstack/nova".into()),
            change: Some("912345".into()),
            patchset: Some("3".into()),
            newrev: Some("ABCDEF".into()),
            build: Some("5f2c".into()),
            branch: Some(String::new()),
            ..ZuulFacts::default()
        };
        let b = interpret(facts).unwrap();
        // Zuul drops newrev for changes; "" is Zuul's database for none.
        assert_eq!((b.meta.newrev, b.meta.branch), (None, None));
        let tag = interpret(ZuulFacts {
            git_ref: Some("refs/tags/32.0.0".into()),
            newrev: Some("4444444444444444444444444444444444444444".into()),
            ..ZuulFacts::default()
        })
        .unwrap();
        assert_eq!(tag.meta.tag.as_deref(), Some("32.0.0"));
        assert!(tag.meta.newrev.is_some());
        let deleted = interpret(ZuulFacts {
            newrev: Some(NULL_REVISION.into()),
            ..ZuulFacts::default()
        })
        .unwrap();
        assert_eq!(deleted.meta.newrev, None);
    }

    /// `levels` lists, each `width` aliases of the one before, the first
    /// `width` scalars: `width^levels` values from a few KB.
    fn laughs(width: usize, levels: usize) -> String {
        let mut text = format!(
            "zuul:\n  build: x\n  l0: &l0 [{}]\n",
            vec!["lol"; width].join(",")
        );
        for level in 1..levels {
            let aliases = vec![format!("*l{}", level - 1); width].join(",");
            text.push_str(&format!("  l{level}: &l{level} [{aliases}]\n"));
        }
        text
    }

    #[test]
    fn alias_bombs_are_refused_before_they_expand() {
        // The classic: 9 levels of 9, 9^9 (~3.9e8) values from 700 bytes.
        // And one within yaml_serde's own guard (100 alias jumps per
        // event): 1,000 scalars, 1,000 aliases of them, 100 of those:
        // 10^8 values from 9 KB.
        let mut wide = laughs(1_000, 2);
        wide.push_str(&format!("  l2: [{}]\n", vec!["*l1"; 100].join(",")));
        for text in [laughs(9, 9), wide] {
            assert!(text.len() < 12_000, "{}", text.len());
            let err = parse(&text).unwrap_err();
            assert!(
                err.contains("more than 100,000 values once its aliases"),
                "{err}"
            );
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("vars.yaml");
            std::fs::write(&path, &text).unwrap();
            let err = read(&path).unwrap_err();
            assert!(matches!(err, VarsError::TooLarge { .. }), "{err}");
            assert!(err.to_string().contains("vars.yaml"), "{err}");
            assert!(err.hint().unwrap().contains("to_yaml"));
        }
        // Aliases as people use them stay fine, up to the budget.
        let fine = laughs(300, 2);
        assert_eq!(parse(&fine).unwrap().meta.zuul_build.as_deref(), Some("x"));
    }

    #[test]
    fn oversized_files_are_refused_before_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vars.yaml");
        let mut text = String::from("zuul:\n  build: x\n  pad: ");
        text.push_str(&"x".repeat(MAX_BYTES as usize));
        std::fs::write(&path, &text).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, VarsError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("bytes, more than 1 MiB"), "{err}");
        assert!(parse(&text).unwrap_err().contains("more than 1 MiB"));
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
