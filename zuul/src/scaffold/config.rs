//! Reading a repository's existing Zuul config: which of the four config
//! roots Zuul uses, and what it already holds (jobs, project pipelines).
//! Parsing only, with `yaml_serde` (it keeps `!encrypted/pkcs1-oaep` and
//! `!override` as tagged values and refuses duplicate keys, as Zuul does);
//! edits are made as text elsewhere (`merge`).

use std::path::{Path, PathBuf};

use yaml_serde::Value;

use crate::scaffold::ScaffoldError;

/// Zuul's config roots in the order it tries them (`zuul/configloader.py`
/// `ZUUL_CONF_ROOT`); the first with content wins, the others are ignored.
pub const CONFIG_ROOTS: [&str; 4] = ["zuul.yaml", "zuul.d", ".zuul.yaml", ".zuul.d"];

/// Where the repo's Zuul config lives (paths relative to the repo root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigRoot {
    /// One file: `zuul.yaml` or `.zuul.yaml`.
    File(PathBuf),
    /// A directory: `zuul.d/` or `.zuul.d/`; every `*.yaml` below it is read.
    Dir(PathBuf),
    /// No config yet.
    None,
}

impl ConfigRoot {
    /// How the layout is named in messages.
    pub fn describe(&self) -> String {
        match self {
            ConfigRoot::File(p) => p.display().to_string(),
            ConfigRoot::Dir(p) => format!("{}/", p.display()),
            ConfigRoot::None => "none".into(),
        }
    }
}

/// One config file, parsed.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Relative to the repo root.
    pub path: PathBuf,
    pub text: String,
    /// The top-level list of one-key stanzas.
    pub stanzas: Vec<Value>,
}

/// The config Zuul would load for this branch.
#[derive(Debug, Clone)]
pub struct ExistingConfig {
    pub root: ConfigRoot,
    pub files: Vec<ConfigFile>,
    /// Roots that exist but that Zuul ignores (a second root).
    pub ignored_roots: Vec<PathBuf>,
}

/// Finds the config root the way Zuul does and parses every file in it.
pub fn read(repo_root: &Path) -> Result<ExistingConfig, ScaffoldError> {
    let mut chosen: Option<(ConfigRoot, Vec<PathBuf>)> = None;
    let mut first_present: Option<(ConfigRoot, Vec<PathBuf>)> = None;
    let mut ignored_roots = Vec::new();
    for name in CONFIG_ROOTS {
        let abs = repo_root.join(name);
        // Only `zuul.d` and `.zuul.d` may be directories; Zuul reads the
        // other two names as files only.
        let (root, files) = if name.ends_with(".d") && abs.is_dir() {
            (
                ConfigRoot::Dir(name.into()),
                yaml_files_below(repo_root, Path::new(name))?,
            )
        } else if !name.ends_with(".d") && abs.is_file() {
            (ConfigRoot::File(name.into()), vec![PathBuf::from(name)])
        } else {
            continue;
        };
        let has_content = files
            .iter()
            .any(|f| std::fs::metadata(repo_root.join(f)).is_ok_and(|m| m.len() > 0));
        if chosen.is_some() {
            if has_content {
                ignored_roots.push(PathBuf::from(name));
            }
        } else if has_content {
            chosen = Some((root, files));
        } else if first_present.is_none() {
            first_present = Some((root, files));
        }
    }
    let (root, paths) = chosen
        .or(first_present)
        .unwrap_or((ConfigRoot::None, vec![]));
    let files = paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(repo_root.join(&path)).map_err(|source| {
                ScaffoldError::Read {
                    path: repo_root.join(&path),
                    source,
                }
            })?;
            let stanzas = parse_stanzas(&path, &text)?;
            Ok(ConfigFile {
                path,
                text,
                stanzas,
            })
        })
        .collect::<Result<Vec<_>, ScaffoldError>>()?;
    Ok(ExistingConfig {
        root,
        files,
        ignored_roots,
    })
}

/// Every `*.yaml` below `dir` (not `*.yml`: Zuul's merger skips those),
/// sorted by path as Zuul loads them, pruning directories that hold a
/// `.zuul.ignore` file.
fn yaml_files_below(repo_root: &Path, dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(rel) = stack.pop() {
        let abs = repo_root.join(&rel);
        if abs.join(".zuul.ignore").exists() {
            continue;
        }
        let entries = std::fs::read_dir(&abs).map_err(|source| ScaffoldError::Read {
            path: abs.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ScaffoldError::Read {
                path: abs.clone(),
                source,
            })?;
            let child = rel.join(entry.file_name());
            let kind = entry.file_type().map_err(|source| ScaffoldError::Read {
                path: abs.clone(),
                source,
            })?;
            if kind.is_dir() {
                stack.push(child);
            } else if child.extension().is_some_and(|e| e == "yaml") {
                out.push(child);
            }
        }
    }
    out.sort_by(|a, b| a.to_string_lossy().cmp(&b.to_string_lossy()));
    Ok(out)
}

/// Parses one Zuul config file into its stanzas. An empty file has none.
pub fn parse_stanzas(path: &Path, text: &str) -> Result<Vec<Value>, ScaffoldError> {
    let bad = |message: String| ScaffoldError::ZuulParse {
        path: path.to_path_buf(),
        message,
    };
    let value: Value = yaml_serde::from_str(text).map_err(|e| bad(e.to_string()))?;
    match value {
        Value::Null => Ok(vec![]),
        Value::Sequence(items) => {
            for item in &items {
                match item {
                    Value::Mapping(m) if m.len() == 1 => {}
                    _ => {
                        return Err(bad(
                            "every top-level item must be a one-key mapping such as `- job:`"
                                .into(),
                        ));
                    }
                }
            }
            Ok(items)
        }
        _ => Err(bad("the file must be a YAML list of stanzas".into())),
    }
}

/// The body of a one-key stanza of the given kind (`job`, `project`, …).
pub fn stanza_body<'a>(stanza: &'a Value, kind: &str) -> Option<&'a Value> {
    match stanza {
        Value::Mapping(m) if m.len() == 1 => m.get(kind),
        _ => None,
    }
}

/// The name of a `- job:` stanza.
pub fn job_name(stanza: &Value) -> Option<&str> {
    stanza_body(stanza, "job")?.get("name")?.as_str()
}

/// Job names a project stanza lists in one pipeline (`jobs:` entries are
/// names or one-key mappings of name to attributes).
pub fn pipeline_jobs<'a>(project: &'a Value, pipeline: &str) -> Vec<&'a str> {
    let Some(jobs) = project
        .get(pipeline)
        .and_then(|p| p.get("jobs"))
        .and_then(Value::as_sequence)
    else {
        return vec![];
    };
    jobs.iter()
        .filter_map(|j| match j {
            Value::String(s) => Some(s.as_str()),
            Value::Mapping(m) if m.len() == 1 => m.keys().next().and_then(Value::as_str),
            _ => None,
        })
        .collect()
}
