//! Gerrit credentials: an account name and its HTTP password or token.
//! They come from the environment, a file named by
//! `PERFKIT_GERRIT_CREDENTIALS`, or `~/.netrc` — never from the command
//! line (other users can read it in `ps`) — and are never printed: errors
//! name where a credential came from, not its value.

use std::fmt;
use std::path::{Path, PathBuf};

pub const PERFKIT_GERRIT_USER: &str = "PERFKIT_GERRIT_USER";
pub const PERFKIT_GERRIT_PASSWORD: &str = "PERFKIT_GERRIT_PASSWORD";
pub const PERFKIT_GERRIT_CREDENTIALS: &str = "PERFKIT_GERRIT_CREDENTIALS";

/// Where to look, for `hint:` lines.
pub const WHERE: &str = "set PERFKIT_GERRIT_USER and PERFKIT_GERRIT_PASSWORD, or name a file of those two `KEY=VALUE` lines in PERFKIT_GERRIT_CREDENTIALS, or add `machine <host> login <user> password <secret>` to ~/.netrc";

/// An account and its secret; `Debug` leaves the secret out.
pub struct Credentials {
    pub user: String,
    password: String,
    /// Where they came from, for messages.
    pub source: String,
}

impl Credentials {
    pub fn new(user: String, password: String, source: String) -> Credentials {
        Credentials {
            user,
            password,
            source,
        }
    }

    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// Credentials for `host`, the first found of: `PERFKIT_GERRIT_USER` and
/// `PERFKIT_GERRIT_PASSWORD`; the file named by `PERFKIT_GERRIT_CREDENTIALS`;
/// the `.netrc` entry for `host` (`$NETRC`, else `~/.netrc`). `None` when
/// there are none.
pub fn find(host: &str) -> anyhow::Result<Option<Credentials>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var(PERFKIT_GERRIT_USER), var(PERFKIT_GERRIT_PASSWORD)) {
        (Some(user), Some(password)) => {
            return Ok(Some(Credentials::new(
                user,
                password,
                format!("{PERFKIT_GERRIT_USER}/{PERFKIT_GERRIT_PASSWORD}"),
            )));
        }
        (Some(_), None) => anyhow::bail!(
            "{PERFKIT_GERRIT_USER} is set but {PERFKIT_GERRIT_PASSWORD} is not\nhint: set both, to the account name and its HTTP password or token"
        ),
        (None, Some(_)) => anyhow::bail!(
            "{PERFKIT_GERRIT_PASSWORD} is set but {PERFKIT_GERRIT_USER} is not\nhint: set both, to the account name and its HTTP password or token"
        ),
        (None, None) => {}
    }
    if let Some(file) = std::env::var_os(PERFKIT_GERRIT_CREDENTIALS).filter(|v| !v.is_empty()) {
        return from_file(Path::new(&file)).map(Some);
    }
    let netrc = std::env::var_os("NETRC")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".netrc")));
    match netrc {
        Some(path) if path.is_file() => from_netrc(&path, host),
        _ => Ok(None),
    }
}

/// A `KEY=VALUE` file with `PERFKIT_GERRIT_USER` and `PERFKIT_GERRIT_PASSWORD`.
/// Errors name lines by number only: a line that is no credential may be
/// the wrapped tail of the password.
fn from_file(path: &Path) -> anyhow::Result<Credentials> {
    warn_if_shared(path);
    let mut user = None;
    let mut password = None;
    for entry in perfkit_http::env_file::read_env_entries(path)? {
        match entry.key.as_str() {
            PERFKIT_GERRIT_USER => user = Some(entry.value),
            PERFKIT_GERRIT_PASSWORD => password = Some(entry.value),
            _ => anyhow::bail!(
                "`{}` ({PERFKIT_GERRIT_CREDENTIALS}) line {}: not `{PERFKIT_GERRIT_USER}=…` or `{PERFKIT_GERRIT_PASSWORD}=…` (the line is not shown: it may hold a secret)\nhint: the file holds those two lines and nothing else; a password must not wrap onto the next line",
                path.display(),
                entry.line
            ),
        }
    }
    match (
        user.filter(|u| !u.is_empty()),
        password.filter(|p| !p.is_empty()),
    ) {
        (Some(user), Some(password)) => Ok(Credentials::new(
            user,
            password,
            format!("`{}`", path.display()),
        )),
        _ => anyhow::bail!(
            "`{}` ({PERFKIT_GERRIT_CREDENTIALS}) needs both `{PERFKIT_GERRIT_USER}=…` and `{PERFKIT_GERRIT_PASSWORD}=…`",
            path.display()
        ),
    }
}

fn from_netrc(path: &Path, host: &str) -> anyhow::Result<Option<Credentials>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))?;
    let found =
        netrc_lookup(&text, host).map_err(|why| anyhow::anyhow!("`{}`: {why}", path.display()))?;
    if found.is_some() {
        warn_if_shared(path);
    }
    Ok(found
        .map(|(user, password)| Credentials::new(user, password, format!("`{}`", path.display()))))
}

/// The login and password of `host` in a `.netrc` text: its `machine`
/// entry, else the `default` entry. Errors never quote a token.
pub fn netrc_lookup(text: &str, host: &str) -> Result<Option<(String, String)>, String> {
    let tokens = netrc_tokens(text)?;
    let mut entries: Vec<(Option<String>, Option<String>, Option<String>)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let value = |i: usize| {
            tokens
                .get(i + 1)
                .cloned()
                .ok_or_else(|| format!("`{}` at the end without a value", tokens[i]))
        };
        match tokens[i].as_str() {
            "machine" => {
                entries.push((Some(value(i)?), None, None));
                i += 2;
            }
            "default" => {
                entries.push((None, None, None));
                i += 1;
            }
            "login" | "password" | "account" => {
                let v = value(i)?;
                let Some(entry) = entries.last_mut() else {
                    return Err(format!("`{}` before any `machine`", tokens[i]));
                };
                match tokens[i].as_str() {
                    "login" => entry.1 = Some(v),
                    "password" => entry.2 = Some(v),
                    _ => {}
                }
                i += 2;
            }
            _ => return Err("a token that is not a .netrc keyword".to_string()),
        }
    }
    let entry = entries
        .iter()
        .find(|(machine, _, _)| {
            machine
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(host))
        })
        .or_else(|| entries.iter().find(|(machine, _, _)| machine.is_none()));
    match entry {
        None => Ok(None),
        Some((_, Some(login), Some(password))) => Ok(Some((login.clone(), password.clone()))),
        Some((machine, _, _)) => Err(format!(
            "the entry for {} needs both `login` and `password`",
            machine.as_deref().unwrap_or("`default`")
        )),
    }
}

/// Whitespace-separated tokens (double quotes group, `\` escapes inside
/// them); `macdef` bodies, which run to the next empty line, are skipped.
fn netrc_tokens(text: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        if first == '#' {
            while chars.next_if(|&c| c != '\n').is_some() {}
            continue;
        }
        let mut token = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted token without its closing quote".to_string()),
                    Some('"') => break,
                    Some('\\') => token.extend(chars.next()),
                    Some(c) => token.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                token.push(c);
            }
        }
        if token == "macdef" {
            // The macro's name, then its body up to an empty line.
            let mut previous = '\0';
            for c in chars.by_ref() {
                if c == '\n' && previous == '\n' {
                    break;
                }
                if c != '\r' {
                    previous = c;
                }
            }
            continue;
        }
        tokens.push(token);
    }
    Ok(tokens)
}

/// A secret file others can read deserves a warning (not an error: the
/// operator may have reasons, and the run should still report).
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "`{}` holds a Gerrit password and other users can read it; `chmod 600` it",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_machine_entry_wins_over_default() {
        let text = "default login anon password anonpw\n\
                    machine review.opendev.org\n  login perfkit-bot\n  password \"s3 cret\\\"x\"\n";
        assert_eq!(
            netrc_lookup(text, "review.opendev.org").unwrap(),
            Some(("perfkit-bot".into(), "s3 cret\"x".into()))
        );
        assert_eq!(
            netrc_lookup(text, "other.example.org").unwrap(),
            Some(("anon".into(), "anonpw".into()))
        );
    }

    #[test]
    fn netrc_skips_comments_and_macros() {
        let text = "# a comment\nmacdef init\ncd /pub\nbinary\n\nmachine h login u password p\n";
        assert_eq!(
            netrc_lookup(text, "h").unwrap(),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(netrc_lookup(text, "elsewhere").unwrap(), None);
    }

    #[test]
    fn netrc_errors_never_quote_tokens() {
        let err = netrc_lookup("machine h login u password", "h").unwrap_err();
        assert!(err.contains("`password`"), "{err}");
        let err = netrc_lookup("machine h login u hunter2 x", "h").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = netrc_lookup("machine h login u", "h").unwrap_err();
        assert!(err.contains("both"), "{err}");
    }

    /// Found by the netrc fuzz target (its check, not the parser, was
    /// wrong): a token that spells part of the keyword the message names is
    /// still not quoted; the message names the keyword only.
    #[test]
    fn a_token_spelling_part_of_a_keyword_is_not_quoted() {
        let text = "password ot\u{12}cd assword` ```` before `mach";
        let err = netrc_lookup(text, "review.opendev.org").unwrap_err();
        assert_eq!(err, "`password` before any `machine`");
    }

    #[test]
    fn file_errors_name_lines_never_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gerrit.env");
        // The password wrapped after 12 characters: its tail looks like a key.
        std::fs::write(
            &path,
            "PERFKIT_GERRIT_USER=perfkit-bot\nPERFKIT_GERRIT_PASSWORD=Zm9vYmFyYmF6\ncXV4cXV1eA==\n",
        )
        .unwrap();
        let err = from_file(&path).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        for piece in ["cXV4", "cXV4cXV1eA", "Zm9v", "perfkit-bot"] {
            assert!(!err.contains(piece), "{piece:?} in {err}");
        }
        // Not a `KEY=VALUE` line at all: the reader's error, same rule.
        std::fs::write(
            &path,
            "PERFKIT_GERRIT_USER=perfkit-bot\nPERFKIT_GERRIT_PASSWORD=Zm9vYmFy\nYmF6 cXV4\n",
        )
        .unwrap();
        let err = from_file(&path).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        for piece in ["YmF6", "cXV4", "Zm9v"] {
            assert!(!err.contains(piece), "{piece:?} in {err}");
        }
        std::fs::write(
            &path,
            "PERFKIT_GERRIT_USER=perfkit-bot\nPERFKIT_GERRIT_PASSWORD=s3cret\n",
        )
        .unwrap();
        let found = from_file(&path).unwrap();
        assert_eq!(
            (found.user.as_str(), found.password()),
            ("perfkit-bot", "s3cret")
        );
    }

    #[test]
    fn debug_leaves_the_password_out() {
        let c = Credentials::new("bot".into(), "hunter2".into(), "env".into());
        let shown = format!("{c:?}");
        assert!(
            shown.contains("bot") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
