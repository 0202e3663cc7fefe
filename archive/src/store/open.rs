//! Opening an archive from what the user typed: a directory or a URL. Owns
//! the choice of backend, the bounded retry policy for remote stores, and
//! the URL shown in messages (perfkit-http's [`DisplaySafeUrl`], without
//! query and fragment).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{BackoffConfig, RetryConfig};
use perfkit_http::{DisplaySafeUrl, UserName};
use url::Url;

use super::Archive;
use crate::error::ArchiveError;

/// Schemes that name a remote or special store; anything else with `://` is refused.
const SCHEMES: [&str; 9] = [
    "file", "memory", "s3", "s3a", "gs", "az", "azure", "abfs", "abfss",
];

/// Few, quick retries: a store that is down or unreachable fails within
/// about 15 s (plus one connect timeout, 5 s by default) instead of
/// object_store's 10 retries over 3 minutes. Transient 5xx and dropped
/// connections are still retried. Timeouts themselves are the standard
/// client options (`AWS_CONNECT_TIMEOUT`, `AWS_TIMEOUT`, …).
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(4),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(15),
    }
}

pub(super) fn open<I, K, V>(raw: &str, options: I) -> Result<Archive, ArchiveError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: Into<String>,
{
    let options: Vec<(String, String)> = options
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into()))
        .collect();
    if raw.trim().is_empty() {
        return Err(url_error(raw, "the archive location is empty".into()));
    }
    let Some(scheme) = scheme_of(raw) else {
        if let Some(known) = SCHEMES
            .iter()
            .find(|s| raw.to_ascii_lowercase().starts_with(&format!("{s}:")))
        {
            return Err(url_error(
                &redact_raw(raw),
                format!("write `{known}://…` (with two slashes)"),
            ));
        }
        return open_dir(FsPath::new(raw), raw);
    };
    let parsed = Url::parse(raw).map_err(|e| url_error(&redact_raw(raw), e.to_string()))?;
    let user_name = user_name(&scheme);
    let url = DisplaySafeUrl::checked("--archive", parsed.clone(), user_name).map_err(|e| {
        url_error(
            &display_url(&DisplaySafeUrl::new(parsed, user_name)),
            format!("{e}; set them in the environment (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `GOOGLE_*`, `AZURE_*`) or pass `--env-file`"),
        )
    })?;
    let display = display_url(&url);
    let root = Path::from_url_path(url.path()).map_err(|e| url_error(&display, e.to_string()))?;
    let store: Arc<dyn ObjectStore> = match scheme.as_str() {
        "file" => {
            if url
                .host_str()
                .is_some_and(|h| !h.is_empty() && h != "localhost")
            {
                return Err(url_error(
                    &display,
                    "a `file://` URL cannot name a remote host; write `file:///abs/dir`".into(),
                ));
            }
            let dir = url
                .to_file_path()
                .map_err(|()| url_error(&display, "not a local path".into()))?;
            return open_dir(&dir, &dir.display().to_string());
        }
        "memory" => {
            let display = format!("memory:///{root}");
            return Ok(
                Archive::from_store(Arc::new(InMemory::new()), root, display)
                    .with_trusted_create_only(),
            );
        }
        "s3" | "s3a" => {
            let mut builder = AmazonS3Builder::from_env();
            for (key, value) in options {
                let key: AmazonS3ConfigKey =
                    key.parse().map_err(|_| unknown_option(&display, &key))?;
                builder = builder.with_config(key, value);
            }
            let store = builder.with_url(raw).with_retry(retry_config()).build();
            Arc::new(store.map_err(|e| build_error(&display, raw, e))?)
        }
        "gs" => {
            let mut builder = GoogleCloudStorageBuilder::from_env();
            for (key, value) in options {
                let key: GoogleConfigKey =
                    key.parse().map_err(|_| unknown_option(&display, &key))?;
                builder = builder.with_config(key, value);
            }
            let store = builder.with_url(raw).with_retry(retry_config()).build();
            Arc::new(store.map_err(|e| build_error(&display, raw, e))?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            let mut builder = MicrosoftAzureBuilder::from_env();
            for (key, value) in options {
                let key: AzureConfigKey =
                    key.parse().map_err(|_| unknown_option(&display, &key))?;
                builder = builder.with_config(key, value);
            }
            let store = builder.with_url(raw).with_retry(retry_config()).build();
            Arc::new(store.map_err(|e| build_error(&display, raw, e))?)
        }
        other => {
            return Err(url_error(
                &display,
                format!(
                    "unsupported scheme `{other}://` (for an S3-compatible endpoint use `s3://bucket/prefix` with AWS_ENDPOINT)"
                ),
            ));
        }
    };
    Ok(Archive::from_store(store, root, display))
}

/// A local directory archive; the directory is created if missing.
/// Writes are staged and renamed (atomic) and fsynced, so that after a
/// crash a visible `builds` object never points at unwritten data.
fn open_dir(dir: &FsPath, display: &str) -> Result<Archive, ArchiveError> {
    let display = match display.trim_end_matches('/') {
        "" => "/".to_string(),
        trimmed => trimmed.to_string(),
    };
    if dir.exists() && !dir.is_dir() {
        return Err(url_error(&display, "exists and is not a directory".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        url_error(
            &display,
            format!("cannot create the archive directory: {e}"),
        )
    })?;
    let store = LocalFileSystem::new_with_prefix(PathBuf::from(dir))
        .map_err(|e| url_error(&display, e.to_string()))?
        .with_fsync(true);
    Ok(
        Archive::from_store(Arc::new(store), Path::default(), display)
            .with_trusted_create_only()
            .with_local_dir(dir.to_path_buf()),
    )
}

/// The lowercase scheme if `raw` looks like `scheme://…`.
fn scheme_of(raw: &str) -> Option<String> {
    let (scheme, _) = raw.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

/// What the user-name part of a `scheme://` URL is: the container in
/// `abfs[s]://container@account…`, a credential anywhere else.
fn user_name(scheme: &str) -> UserName {
    if matches!(scheme, "abfs" | "abfss") {
        UserName::NotSecret
    } else {
        UserName::Credential
    }
}

/// `url` as it may be shown, also without query and fragment (SAS tokens,
/// keys) and without a trailing `/`.
fn display_url(url: &DisplaySafeUrl) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let shown = url.to_string();
    match shown.strip_suffix('/') {
        Some(trimmed) if !trimmed.ends_with('/') => trimmed.to_string(),
        _ => shown,
    }
}

/// Best-effort credential stripping for text that did not parse as a URL.
fn redact_raw(raw: &str) -> String {
    let raw = raw.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = raw.split_once("://") else {
        // `s3:/KEY:SECRET@bucket`: whatever precedes an `@` may be a secret.
        return match raw.rfind('@') {
            Some(at) => format!("[redacted]@{}", &raw[at + 1..]),
            None => raw.to_string(),
        };
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}{path}")
}

fn url_error(display: &str, message: String) -> ArchiveError {
    ArchiveError::Url {
        url: display.to_string(),
        message,
    }
}

/// Whether the store `raw` names takes the option `key` (see `open`).
pub(super) fn takes_option(raw: &str, key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    match scheme_of(raw).as_deref() {
        Some("s3" | "s3a") => key.parse::<AmazonS3ConfigKey>().is_ok(),
        Some("gs") => key.parse::<GoogleConfigKey>().is_ok(),
        Some("az" | "azure" | "abfs" | "abfss") => key.parse::<AzureConfigKey>().is_ok(),
        _ => true,
    }
}

fn unknown_option(display: &str, key: &str) -> ArchiveError {
    url_error(display, format!("unknown store option `{key}`"))
}

fn build_error(display: &str, raw: &str, error: object_store::Error) -> ArchiveError {
    url_error(display, error.to_string().replace(raw, display))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> String {
        let scheme = scheme_of(raw).unwrap();
        display_url(&DisplaySafeUrl::new(
            Url::parse(raw).unwrap(),
            user_name(&scheme),
        ))
    }

    #[test]
    fn credentials_never_shown() {
        assert_eq!(
            url("s3://key:secret@bucket/prefix/?x-amz-security-token=t#f"),
            "s3://bucket/prefix"
        );
        assert_eq!(url("az://container/p?sig=abc"), "az://container/p");
        assert_eq!(
            url("abfss://fs:secret@acct.dfs.core.windows.net/p"),
            "abfss://fs@acct.dfs.core.windows.net/p"
        );
        assert_eq!(redact_raw("s3://k:s@b ad/x?sig=1"), "s3://b ad/x");
        assert_eq!(
            redact_raw("s3:/AKIAKEY:secretpw@bucket"),
            "[redacted]@bucket"
        );
        let err = open(
            "s3:/AKIAKEY:secretpw@bucket",
            std::iter::empty::<(&str, &str)>(),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("secretpw"), "{err}");
    }

    #[test]
    fn credentials_in_urls_are_refused_not_ignored() {
        let err = open(
            "s3://KEY:hunter2@bucket/p",
            std::iter::empty::<(&str, &str)>(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`--archive` must not contain credentials"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("KEY:"),
            "{text}"
        );
    }

    #[test]
    fn an_abfs_container_is_no_credential_but_a_password_is() {
        let err = open(
            "abfss://fs:hunter2@acct.dfs.core.windows.net/p",
            std::iter::empty::<(&str, &str)>(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "cannot open archive `abfss://fs@acct.dfs.core.windows.net/p`: `--archive` must not contain credentials"
            ),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let container = open(
            "abfss://fs@acct.dfs.core.windows.net/p",
            [("azure_storage_account_key", "a2V5")],
        );
        match container {
            Ok(archive) => assert_eq!(
                archive.display_url(),
                "abfss://fs@acct.dfs.core.windows.net/p"
            ),
            Err(e) => assert!(!e.to_string().contains("credentials"), "{e}"),
        }
    }

    #[test]
    fn schemes_and_paths() {
        assert_eq!(scheme_of("S3://bucket").as_deref(), Some("s3"));
        assert_eq!(scheme_of("./dir"), None);
        assert_eq!(scheme_of("./a://b"), None);
        assert!(matches!(
            open("s3:/bucket", [("", "")]),
            Err(ArchiveError::Url { .. })
        ));
        let err = open("ftp://host/x", std::iter::empty::<(&str, &str)>()).unwrap_err();
        assert!(
            err.to_string().contains("unsupported scheme `ftp://`"),
            "{err}"
        );
    }

    #[test]
    fn options_are_known_per_store() {
        assert!(takes_option("s3://b/p", "AWS_SECRET_ACCESS_KEY"));
        assert!(takes_option("s3://b/p", "aws_endpoint"));
        assert!(!takes_option("s3://b/p", "cXV4cXV1eA"));
        assert!(!takes_option("s3://b/p", "AZURE_STORAGE_ACCOUNT_NAME"));
        assert!(takes_option("az://c/p", "AZURE_STORAGE_ACCOUNT_NAME"));
        assert!(!takes_option("gs://b/p", "AWS_REGION"));
        assert!(takes_option("/tmp/archive", "anything"));
        assert!(takes_option("memory://", "anything"));
    }

    #[test]
    fn unknown_options_are_refused_without_echoing_values() {
        let err = open("s3://bucket/p", [("aws_secret_acess_key", "hunter2")]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("unknown store option `aws_secret_acess_key`"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}
