//! `KEY=VALUE` files of settings and secrets (`--env-file`, Gerrit's
//! credentials file): secrets stay off command lines, and errors about
//! such a file name the file and the line number, never any text of the
//! line: a secret wrapped onto a second line (`…==`) looks like a key, and
//! CI consoles are public.

use std::path::Path;

/// One `KEY=VALUE` line of a file.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvEntry {
    /// 1-based line number, for messages about the entry.
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// The value is left out: it may be a secret.
impl std::fmt::Debug for EnvEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvEntry")
            .field("line", &self.line)
            .field("key", &self.key)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Reads a `KEY=VALUE` file (`#` comments, blank lines and an `export `
/// prefix allowed; values may be quoted) into (key, value) pairs. Errors
/// name the file and the line, never its text, since the file holds
/// secrets.
pub fn read_env_file(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    Ok(read_env_entries(path)?
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect())
}

/// Like [`read_env_file`], with each entry's line number, so that a caller
/// refusing a key can say where it is without quoting it.
pub fn read_env_entries(path: &Path) -> anyhow::Result<Vec<EnvEntry>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))?;
    parse_env(&text).map_err(|(line, what)| {
        anyhow::anyhow!(
            "`{}` line {line}: {what}\nhint: one `KEY=VALUE` setting per line, e.g. `AWS_ACCESS_KEY_ID=…`, each on one line (a value must not wrap onto the next line); the line is not shown because it may hold a secret",
            path.display()
        )
    })
}

/// The entries of an env file's text, or (line number, what is wrong
/// with it) — never any of its text.
pub fn parse_env(text: &str) -> Result<Vec<EnvEntry>, (usize, &'static str)> {
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((number + 1, "expected `KEY=VALUE`"));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((
                number + 1,
                "the text before `=` is not a variable name (letters, digits and `_`)",
            ));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        entries.push(EnvEntry {
            line: number + 1,
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.env");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn entries_keep_their_line_numbers() {
        let (_dir, path) = written(
            "# settings\n\nexport PERFKIT_ARCHIVE=s3://b/p\nAWS_SECRET_ACCESS_KEY = \"a b\"\nX='y'\n",
        );
        let entries = read_env_entries(&path).unwrap();
        let got: Vec<(usize, &str, &str)> = entries
            .iter()
            .map(|e| (e.line, e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (3, "PERFKIT_ARCHIVE", "s3://b/p"),
                (4, "AWS_SECRET_ACCESS_KEY", "a b"),
                (5, "X", "y")
            ]
        );
        assert!(!format!("{entries:?}").contains("a b"));
        assert_eq!(read_env_file(&path).unwrap()[2], ("X".into(), "y".into()));
    }

    /// A secret wrapped onto the next line, in every shape a wrap can take:
    /// no `=`, a `=` after text that is no variable name, base64 padding.
    #[test]
    fn rejected_lines_are_never_quoted() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY";
        for (second, third) in [
            ("wJalrXUtnFEMI/K7MDENG", "+bPxRfiCYzEXAMPLEKEY"),
            ("wJalrXUtnFEMI/K7MDENG+bPx", "RfiCYzEXAMPLEKEY"),
            ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYz", "EXAMPLE/KEY==x"),
            ("wJalrXUtnFEMI", "K7 MDENG=bPxRfiCYzEXAMPLEKEY"),
            ("wJalrXUtnFEMI/K7MD", "ENG+bPxRfiCYzEXAMPLEKEY="),
        ] {
            let (_dir, path) = written(&format!(
                "AWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY={second}\n{third}\n"
            ));
            let err = read_env_entries(&path).unwrap_err().to_string();
            assert!(err.contains("line 3"), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
            // No piece of the line (nor of the secret) is in the message.
            for piece in third.split(|c: char| !c.is_ascii_alphanumeric()) {
                if piece.len() >= 4 {
                    assert!(!err.contains(piece), "{piece:?} in {err}");
                }
            }
            for window in secret.as_bytes().windows(4) {
                let piece = std::str::from_utf8(window).unwrap();
                assert!(!err.contains(piece), "{piece:?} in {err}");
            }
            assert!(!err.contains("AKIAEXAMPLE"), "{err}");
        }
    }
}
