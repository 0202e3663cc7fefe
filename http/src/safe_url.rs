//! URLs that cannot be printed with credentials in them, and the one
//! check that refuses credentials in a URL given on the command line
//! (`--gerrit`, `--zuul`, `--archive`): there they would show in `ps`, in
//! messages and in logs.

use std::fmt;
use std::ops::{Deref, DerefMut};

use url::Url;

/// Whether the user-name part of a URL is a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserName {
    /// A user name is a credential, like the password: neither is shown,
    /// and [`DisplaySafeUrl::checked`] refuses both.
    Credential,
    /// The user-name part names something that is no secret, as in
    /// object_store's `abfs://container@account…`: it is shown and
    /// accepted; a password is still never shown, and refused.
    NotSecret,
}

/// A URL whose `Display` and `Debug` leave out the password, and the user
/// name unless it was declared [`UserName::NotSecret`]: printing it can
/// never print a credential. The `url::Url` inside is reached through
/// `Deref` (to send a request, read the host, add path segments).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DisplaySafeUrl {
    url: Url,
    user_name: UserName,
}

/// Why a URL given on the command line is refused. The URL itself is never
/// part of the message: it may hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlArgError {
    #[error("`{flag}` is not a URL: {reason}")]
    NotAUrl {
        flag: &'static str,
        reason: url::ParseError,
    },
    #[error("`{flag}` must be an http:// or https:// URL")]
    NotHttp { flag: &'static str },
    #[error(
        "`{flag}` must not contain credentials: they would show in `ps`, in messages and in logs"
    )]
    Credentials { flag: &'static str },
}

impl DisplaySafeUrl {
    /// Wraps `url`, shown without password and, unless `user_name` is
    /// [`UserName::NotSecret`], without user name. Nothing is refused.
    pub fn new(url: Url, user_name: UserName) -> DisplaySafeUrl {
        DisplaySafeUrl { url, user_name }
    }

    /// `url`, given on the command line as `flag`, refused when it
    /// carries credentials: a password always, a user name unless
    /// `user_name` says it is [`UserName::NotSecret`].
    pub fn checked(
        flag: &'static str,
        url: Url,
        user_name: UserName,
    ) -> Result<DisplaySafeUrl, UrlArgError> {
        let user_is_secret = user_name == UserName::Credential && !url.username().is_empty();
        if url.password().is_some() || user_is_secret {
            return Err(UrlArgError::Credentials { flag });
        }
        Ok(DisplaySafeUrl::new(url, user_name))
    }

    /// An http(s) server's address given as `flag`: parsed, and refused
    /// unless it is http:// or https:// with a host and without
    /// credentials (checked in that order).
    pub fn http_arg(flag: &'static str, raw: &str) -> Result<DisplaySafeUrl, UrlArgError> {
        let url = Url::parse(raw).map_err(|reason| UrlArgError::NotAUrl { flag, reason })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(UrlArgError::NotHttp { flag });
        }
        DisplaySafeUrl::checked(flag, url, UserName::Credential)
    }

    /// The URL with its credentials, to send a request with.
    pub fn as_url(&self) -> &Url {
        &self.url
    }

    pub fn into_url(self) -> Url {
        self.url
    }

    /// The URL as it may be shown.
    fn shown(&self) -> std::borrow::Cow<'_, Url> {
        let hide_user = self.user_name == UserName::Credential && !self.url.username().is_empty();
        if self.url.password().is_none() && !hide_user {
            return std::borrow::Cow::Borrowed(&self.url);
        }
        let mut url = self.url.clone();
        // Both fail only for URLs that cannot have credentials (`mailto:`).
        let _ = url.set_password(None);
        if hide_user {
            let _ = url.set_username("");
        }
        std::borrow::Cow::Owned(url)
    }
}

impl From<Url> for DisplaySafeUrl {
    /// Shown without user name and password.
    fn from(url: Url) -> DisplaySafeUrl {
        DisplaySafeUrl::new(url, UserName::Credential)
    }
}

impl Deref for DisplaySafeUrl {
    type Target = Url;

    fn deref(&self) -> &Url {
        &self.url
    }
}

impl DerefMut for DisplaySafeUrl {
    /// Changing the URL cannot make it print a password, or a user name
    /// declared a credential.
    fn deref_mut(&mut self) -> &mut Url {
        &mut self.url
    }
}

impl fmt::Display for DisplaySafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.shown(), f)
    }
}

impl fmt::Debug for DisplaySafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DisplaySafeUrl")
            .field(&self.shown().as_str())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hunter2";
    const USER: &str = "perfkit-bot";

    fn printed(url: &DisplaySafeUrl) -> [String; 3] {
        [format!("{url}"), format!("{url:?}"), format!("{url:#?}")]
    }

    #[test]
    fn credentials_are_never_printed() {
        for raw in [
            "https://perfkit-bot:hunter2@zuul.example.org/api?x=1#f",
            "https://perfkit-bot@zuul.example.org/",
            "https://:hunter2@zuul.example.org/",
            "s3://perfkit-bot:hunter2@bucket/prefix",
        ] {
            let url = DisplaySafeUrl::from(Url::parse(raw).unwrap());
            for text in printed(&url) {
                assert!(
                    !text.contains(SECRET) && !text.contains(USER),
                    "{raw}: {text}"
                );
                assert!(!text.contains('@'), "{raw}: {text}");
            }
            // The credentials are still there to use.
            assert_eq!(url.as_url().as_str(), raw);
        }
        let url = DisplaySafeUrl::from(Url::parse("https://u:hunter2@h.example/p?q=1").unwrap());
        assert_eq!(url.to_string(), "https://h.example/p?q=1");
        assert_eq!(
            format!("{url:?}"),
            "DisplaySafeUrl(\"https://h.example/p?q=1\")"
        );
    }

    #[test]
    fn a_user_name_that_is_no_secret_is_shown_a_password_never() {
        let raw = "abfss://container:hunter2@account.dfs.core.windows.net/p";
        let url = DisplaySafeUrl::new(Url::parse(raw).unwrap(), UserName::NotSecret);
        for text in printed(&url) {
            assert!(
                text.contains("abfss://container@account") && !text.contains(SECRET),
                "{text}"
            );
        }
    }

    #[test]
    fn changing_the_url_keeps_it_safe() {
        let mut url = DisplaySafeUrl::from(Url::parse("https://h.example/").unwrap());
        url.path_segments_mut().unwrap().push("api");
        url.set_username(USER).unwrap();
        url.set_password(Some(SECRET)).unwrap();
        assert_eq!(url.to_string(), "https://h.example/api");
        assert_eq!(url.host_str(), Some("h.example"));
    }

    #[test]
    fn credentials_on_the_command_line_are_refused_without_echoing_them() {
        for raw in [
            "https://perfkit-bot:hunter2@zuul.example.org/",
            "https://hunter2@zuul.example.org/",
            "https://:hunter2@zuul.example.org/",
        ] {
            let err = DisplaySafeUrl::http_arg("--zuul", raw).unwrap_err();
            assert_eq!(err, UrlArgError::Credentials { flag: "--zuul" });
            assert_eq!(
                err.to_string(),
                "`--zuul` must not contain credentials: they would show in `ps`, in messages and in logs"
            );
        }
        let abfs = |raw: &str| {
            DisplaySafeUrl::checked("--archive", Url::parse(raw).unwrap(), UserName::NotSecret)
        };
        let url = abfs("abfs://container@account.dfs.core.windows.net/p").unwrap();
        assert_eq!(
            url.to_string(),
            "abfs://container@account.dfs.core.windows.net/p"
        );
        assert_eq!(
            abfs("abfs://container:hunter2@account.dfs.core.windows.net/p").unwrap_err(),
            UrlArgError::Credentials { flag: "--archive" }
        );
        let s3 = Url::parse("s3://KEY@bucket/p").unwrap();
        assert!(DisplaySafeUrl::checked("--archive", s3, UserName::Credential).is_err());
    }

    #[test]
    fn only_http_servers_with_a_host() {
        let err = |raw: &str| DisplaySafeUrl::http_arg("--gerrit", raw).unwrap_err();
        assert!(matches!(
            err("hunter2@review.example.org"),
            UrlArgError::NotAUrl { .. }
        ));
        assert_eq!(
            err("hunter2@review.example.org").to_string(),
            "`--gerrit` is not a URL: relative URL without a base"
        );
        // The scheme is checked first: credentials or not, ftp is refused as ftp.
        for raw in [
            "ftp://review.example.org",
            "ftp://u:hunter2@review.example.org",
        ] {
            assert_eq!(err(raw), UrlArgError::NotHttp { flag: "--gerrit" });
        }
        assert_eq!(
            err("ftp://review.example.org").to_string(),
            "`--gerrit` must be an http:// or https:// URL"
        );
        let url = DisplaySafeUrl::http_arg("--gerrit", "https://review.example.org").unwrap();
        assert_eq!(url.to_string(), "https://review.example.org/");
    }
}
