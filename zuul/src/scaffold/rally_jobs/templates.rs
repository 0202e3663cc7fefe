//! The minijinja templates of the rally-jobs tree: shipped in the binary
//! from `rally-jobs-template/`, each one replaceable by a file of the same
//! name under `--templates DIR`.
//!
//! The environment is strict (an undefined variable is an error, never a
//! blank), does no auto-escaping (the outputs are YAML, RST and Python, not
//! HTML), and trims block tags so templates can be laid out readably.

use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use crate::scaffold::ScaffoldError;

/// Template names (relative to the templates root) and their shipped text.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "rally-jobs/README.rst.j2",
        include_str!("../../../../rally-jobs-template/rally-jobs/README.rst.j2"),
    ),
    (
        "rally-jobs/task-PROJECT.yaml.j2",
        include_str!("../../../../rally-jobs-template/rally-jobs/task-PROJECT.yaml.j2"),
    ),
    (
        "rally-jobs/plugins/__init__.py.j2",
        include_str!("../../../../rally-jobs-template/rally-jobs/plugins/__init__.py.j2"),
    ),
    (
        "rally-jobs/plugins/README.rst.j2",
        include_str!("../../../../rally-jobs-template/rally-jobs/plugins/README.rst.j2"),
    ),
    (
        "rally-jobs/plugins/PROJECT_scenarios.py.j2",
        include_str!("../../../../rally-jobs-template/rally-jobs/plugins/PROJECT_scenarios.py.j2"),
    ),
    (
        "rally-jobs/extra/README.rst.j2",
        include_str!("../../../../rally-jobs-template/rally-jobs/extra/README.rst.j2"),
    ),
    (
        "rally-jobs/extra/random_strings.yaml.template.j2",
        include_str!(
            "../../../../rally-jobs-template/rally-jobs/extra/random_strings.yaml.template.j2"
        ),
    ),
    (
        "rally-jobs/extra/updated_random_strings_add.yaml.template.j2",
        include_str!(
            "../../../../rally-jobs-template/rally-jobs/extra/updated_random_strings_add.yaml.template.j2"
        ),
    ),
    (
        "rally-jobs/extra/mistral_wb.yaml.j2",
        include_str!("../../../../rally-jobs-template/rally-jobs/extra/mistral_wb.yaml.j2"),
    ),
];

/// Names of the shipped templates.
pub fn names() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(name, _)| *name)
}

/// A loaded, strict template environment.
pub struct Templates {
    env: Environment<'static>,
    /// Templates taken from `--templates DIR` instead of the binary.
    pub overridden: Vec<String>,
}

impl Templates {
    /// Loads the shipped templates, replacing each one for which `dir` has a
    /// file of the same name. Other files in `dir` are not ours to judge
    /// (the Zuul job templates share the directory).
    pub fn load(dir: Option<&Path>) -> Result<Self, ScaffoldError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("default delimiters are valid"),
        );
        env.add_filter("yaml", super::yaml::filter);
        if let Some(dir) = dir {
            // Reading the directory first turns a wrong path into one clear
            // error instead of silently using every shipped template.
            std::fs::read_dir(dir).map_err(|source| ScaffoldError::Read {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut overridden = Vec::new();
        for (name, shipped) in EMBEDDED {
            let source = match dir.map(|d| d.join(name)) {
                Some(path) if path.is_file() => {
                    overridden.push(name.to_string());
                    std::fs::read_to_string(&path)
                        .map_err(|source| ScaffoldError::Read { path, source })?
                }
                _ => shipped.to_string(),
            };
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| template_error(name, &e))?;
        }
        Ok(Self { env, overridden })
    }

    /// Renders template `name` with `context`.
    pub fn render(&self, name: &str, context: &minijinja::Value) -> Result<String, ScaffoldError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| template_error(name, &e))?;
        template
            .render(context)
            .map_err(|e| template_error(name, &e))
    }
}

fn template_error(name: &str, error: &minijinja::Error) -> ScaffoldError {
    let mut message = error.to_string();
    if let Some(detail) = error.detail()
        && !message.contains(detail)
    {
        message = format!("{message}: {detail}");
    }
    ScaffoldError::Template {
        name: name.to_string(),
        message,
    }
}
