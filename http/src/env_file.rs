//! `KEY=VALUE` files of settings and secrets (`--env-file`, Gerrit's
//! credentials file): secrets stay off command lines, and errors about
//! such a file name the line, never what is on it.

/// Reads a `KEY=VALUE` file (`#` comments, blank lines and an `export `
/// prefix allowed; values may be quoted). Errors name the line, never a
/// value, since the file holds secrets.
pub fn read_env_file(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))?;
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            anyhow::bail!(
                "`{}` line {}: expected `KEY=VALUE`\nhint: one setting per line, e.g. `AWS_ACCESS_KEY_ID=…`",
                path.display(),
                number + 1
            );
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            anyhow::bail!(
                "`{}` line {}: `{}` is not a variable name",
                path.display(),
                number + 1,
                perfkit_schema::shown(key)
            );
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(pairs)
}
