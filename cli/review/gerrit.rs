//! The few Gerrit REST calls `perfkit review` makes (Documentation/
//! rest-api-changes: Get Change, List Change Messages, Set Review), with
//! what every client of Gerrit needs: `/a/` paths with HTTP basic auth,
//! the `)]}'` line before JSON stripped, `text/plain` errors turned into
//! one-line messages with a hint, and bounded retries with backoff for 429
//! and 5xx. The secret never reaches a message or a log line.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::credentials::{Credentials, WHERE};

/// Attempts per request: the first and three retries.
const ATTEMPTS: u32 = 4;
/// Backoff before retry n (0-based): `FIRST_BACKOFF` × 2ⁿ, unless the server
/// says when (`Retry-After`, capped at `MAX_BACKOFF`).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Server text quoted in an error, at most.
const QUOTED_CHARS: usize = 300;

/// A change as Gerrit's preferred id names it: `<project>~<number>`.
#[derive(Debug, Clone)]
pub struct ChangeRef {
    pub project: String,
    pub number: u64,
}

impl std::fmt::Display for ChangeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} change {}", self.project, self.number)
    }
}

/// The fields of ChangeInfo perfkit reads.
#[derive(Debug, Deserialize)]
pub struct ChangeInfo {
    /// `NEW`, `MERGED` or `ABANDONED`.
    pub status: String,
    /// Since Gerrit 3.9; older servers name it through `revisions`.
    pub current_revision_number: Option<u32>,
    pub current_revision: Option<String>,
    #[serde(default)]
    pub revisions: BTreeMap<String, RevisionInfo>,
}

#[derive(Debug, Deserialize)]
pub struct RevisionInfo {
    #[serde(rename = "_number")]
    pub number: Option<u32>,
}

impl ChangeInfo {
    /// Whether the change is merged or abandoned.
    pub fn is_closed(&self) -> bool {
        matches!(self.status.as_str(), "MERGED" | "ABANDONED")
    }

    /// The current patchset's number, when the server said.
    pub fn current_patchset(&self) -> Option<u32> {
        self.current_revision_number.or_else(|| {
            let sha = self.current_revision.as_ref()?;
            self.revisions.get(sha)?.number
        })
    }
}

/// The fields of ChangeMessageInfo perfkit reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangeMessageInfo {
    #[serde(default)]
    pub message: String,
    pub tag: Option<String>,
    #[serde(rename = "_revision_number")]
    pub revision_number: Option<u32>,
}

/// ReviewResult: `labels` echoes the votes applied (absent or `{}` without).
#[derive(Debug, Default, Deserialize)]
pub struct ReviewResult {
    #[serde(default)]
    pub labels: BTreeMap<String, i32>,
}

/// How a posted review ended.
pub enum Posted {
    /// Gerrit accepted it.
    Accepted(ReviewResult),
    /// An attempt failed without an answer, and the messages show it
    /// landed anyway: posting again would duplicate it.
    FoundAfterRetry,
}

/// A Gerrit server and the account perfkit acts as.
pub struct Gerrit {
    http: reqwest::Client,
    base: Url,
    credentials: Credentials,
}

/// `--gerrit` checked: an http(s) URL without credentials, query or fragment.
pub fn base_url(raw: &str) -> anyhow::Result<Url> {
    let hint = "hint: pass the server's web address, e.g. `--gerrit https://review.opendev.org`";
    // The URL is not echoed: a `user:password@` in it would be printed.
    let url =
        Url::parse(raw).map_err(|e| anyhow::anyhow!("`--gerrit` is not a URL: {e}\n{hint}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
        "`--gerrit` must be an http:// or https:// URL\n{hint}"
    );
    anyhow::ensure!(
        url.username().is_empty() && url.password().is_none(),
        "`--gerrit` must not contain credentials: they would show in `ps` and in logs\nhint: {WHERE}"
    );
    anyhow::ensure!(
        url.query().is_none() && url.fragment().is_none(),
        "`--gerrit` must not have a query or fragment\n{hint}"
    );
    Ok(url)
}

/// One request's outcome before retries are decided.
enum Attempt {
    Answer(String),
    Retry {
        why: String,
        after: Option<Duration>,
    },
    Fail(anyhow::Error),
}

impl Gerrit {
    pub fn new(base: Url, credentials: Credentials) -> anyhow::Result<Gerrit> {
        if base.scheme() == "http"
            && !matches!(base.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
        {
            tracing::warn!(
                "{base} is plain http: the Gerrit password crosses the network unencrypted"
            );
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("perfkit/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // A redirect would turn the POST into a GET or move the
            // password elsewhere; the operator should fix the URL instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Gerrit {
            http,
            base,
            credentials,
        })
    }

    pub fn user(&self) -> &str {
        &self.credentials.user
    }

    /// `<base>/a/changes/<project>~<number>/<tail…>`, each part a path
    /// segment, so the project's `/` is sent as `%2F`.
    pub fn endpoint(&self, change: &ChangeRef, tail: &[&str]) -> Url {
        change_endpoint(&self.base, change, tail)
    }

    /// Get Change, with the current revision so its number is known.
    pub async fn change(&self, change: &ChangeRef) -> anyhow::Result<ChangeInfo> {
        let mut url = self.endpoint(change, &[]);
        url.set_query(Some("o=CURRENT_REVISION"));
        let text = self.with_retries(Method::GET, url, None, change).await?;
        parse_json(&text, "ChangeInfo")
    }

    /// List Change Messages, oldest first.
    pub async fn messages(&self, change: &ChangeRef) -> anyhow::Result<Vec<ChangeMessageInfo>> {
        let url = self.endpoint(change, &["messages"]);
        let text = self.with_retries(Method::GET, url, None, change).await?;
        parse_json(&text, "list of ChangeMessageInfo")
    }

    /// Set Review with `body` (a ReviewInput). A POST is not idempotent, so
    /// before each retry the messages are listed again and `landed` decides
    /// whether an attempt that got no answer went through after all.
    pub async fn post_review(
        &self,
        change: &ChangeRef,
        patchset: u32,
        body: &str,
        landed: impl Fn(&[ChangeMessageInfo]) -> bool,
    ) -> anyhow::Result<Posted> {
        let ps = patchset.to_string();
        let url = self.endpoint(change, &["revisions", &ps, "review"]);
        for attempt in 0..ATTEMPTS {
            match self
                .attempt(Method::POST, url.clone(), Some(body), change)
                .await
            {
                Attempt::Answer(text) => {
                    return Ok(Posted::Accepted(parse_json(&text, "ReviewResult")?));
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { why, after } => {
                    if attempt + 1 < ATTEMPTS {
                        wait(attempt, after, &why).await;
                    }
                    match self.messages(change).await {
                        Ok(messages) if landed(&messages) => return Ok(Posted::FoundAfterRetry),
                        Err(e) if attempt + 1 < ATTEMPTS => return Err(e),
                        _ if attempt + 1 == ATTEMPTS => return Err(gave_up(&why)),
                        _ => {}
                    }
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn with_retries(
        &self,
        method: Method,
        url: Url,
        body: Option<&str>,
        change: &ChangeRef,
    ) -> anyhow::Result<String> {
        for attempt in 0..ATTEMPTS {
            match self
                .attempt(method.clone(), url.clone(), body, change)
                .await
            {
                Attempt::Answer(text) => return Ok(text),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { why, after } => {
                    if attempt + 1 == ATTEMPTS {
                        return Err(gave_up(&why));
                    }
                    wait(attempt, after, &why).await;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn attempt(
        &self,
        method: Method,
        url: Url,
        body: Option<&str>,
        change: &ChangeRef,
    ) -> Attempt {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            // Compact JSON (rest-api.html, "Output Format").
            .header(reqwest::header::ACCEPT, "application/json")
            .basic_auth(&self.credentials.user, Some(self.credentials.password()));
        if let Some(body) = body {
            request = request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=UTF-8",
                )
                .body(body.to_string());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("{method} {url}: {e}");
                let why = format!("{method} failed: {}", error_chain(&e));
                return if e.is_builder() {
                    Attempt::Fail(anyhow::anyhow!(why))
                } else {
                    Attempt::Retry { why, after: None }
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => {
                return Attempt::Retry {
                    why: format!("{method} {url}: reading the answer failed: {e}"),
                    after: None,
                };
            }
        };
        tracing::debug!("{method} {url}: {status}");
        if status.is_success() {
            return Attempt::Answer(text);
        }
        let quoted = self.quote(&text);
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry {
                why: format!("{method} {url}: {status}: {quoted}"),
                after: retry_after,
            };
        }
        Attempt::Fail(self.refusal(&method, status, &quoted, location.as_deref(), change))
    }

    /// A final HTTP error as one line and a hint.
    fn refusal(
        &self,
        method: &Method,
        status: StatusCode,
        quoted: &str,
        location: Option<&str>,
        change: &ChangeRef,
    ) -> anyhow::Error {
        let posting = method == Method::POST;
        let user = crate::shown(&self.credentials.user);
        let source = &self.credentials.source;
        let base = &self.base;
        match status.as_u16() {
            401 => anyhow::anyhow!(
                "{base} rejected the credentials of account `{user}` (from {source}): {status}\nhint: use the account's HTTP password or token (Gerrit: Settings → HTTP Credentials), not its web login password; {WHERE}"
            ),
            403 => anyhow::anyhow!(
                "account `{user}` may not {} {change} on {base}: {status}: {quoted}\nhint: the account needs permission to comment on the project's changes{}; ask the project's Gerrit administrators",
                if posting { "review" } else { "read" },
                if posting {
                    " (and to vote on the label given with --vote)"
                } else {
                    ""
                }
            ),
            404 => anyhow::anyhow!(
                "{change}{} not found on {base}: {status}: {quoted}\nhint: check --gerrit, --project, --change and --patchset; Gerrit also answers 404 for a change account `{user}` may not see",
                if posting { " or its patchset" } else { "" }
            ),
            409 => anyhow::anyhow!(
                "{base} refused the review of {change}: {status}: {quoted}\nhint: the change is closed, or the patchset is a change edit"
            ),
            300..=399 => anyhow::anyhow!(
                "{base} redirected the request ({status}){}\nhint: pass the Gerrit URL the server redirects to as `--gerrit`",
                location
                    .map(|l| format!(" to {}", crate::shown(l)))
                    .unwrap_or_default()
            ),
            _ => anyhow::anyhow!(
                "{base} refused {method} for {change}: {status}: {quoted}\nhint: Gerrit's answer above says why; `-vv` shows each request"
            ),
        }
    }

    /// Server text for an error line: one line, bounded, the password
    /// blanked out should a server ever echo it.
    fn quote(&self, text: &str) -> String {
        let one_line: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(QUOTED_CHARS)
            .collect();
        let secret = self.credentials.password();
        let scrubbed = if secret.is_empty() {
            one_line
        } else {
            one_line.replace(secret, "***")
        };
        if scrubbed.is_empty() {
            "(no text)".to_string()
        } else {
            scrubbed
        }
    }
}

/// See [`Gerrit::endpoint`].
pub fn change_endpoint(base: &Url, change: &ChangeRef, tail: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("an http(s) URL has a path")
        .pop_if_empty()
        .push("a")
        .push("changes")
        .push(&format!("{}~{}", change.project, change.number))
        .extend(tail);
    url
}

/// Gerrit's JSON after its `)]}'` line (which guards against XSSI).
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> anyhow::Result<T> {
    let json = text.strip_prefix(")]}'").unwrap_or(text);
    serde_json::from_str(json).map_err(|e| {
        anyhow::anyhow!(
            "Gerrit's answer is not a {what}: {e}\nhint: is `--gerrit` the Gerrit server's base URL (the one its web UI runs at)?"
        )
    })
}

async fn wait(attempt: u32, after: Option<Duration>, why: &str) {
    let delay = after
        .unwrap_or(FIRST_BACKOFF * 2u32.pow(attempt))
        .min(MAX_BACKOFF);
    tracing::info!(
        "{}; retrying in {:.1} s",
        crate::shown(why),
        delay.as_secs_f64()
    );
    tokio::time::sleep(delay).await;
}

fn gave_up(why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} (gave up after {ATTEMPTS} attempts)\nhint: Gerrit is unavailable or overloaded; run the same command again later, it posts at most once",
        crate::shown(why)
    )
}

/// An error and its causes in one line (reqwest's own says only "error
/// sending request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_slashes_are_encoded_in_the_change_id() {
        let base = base_url("https://review.example.org/gerrit/").unwrap();
        let change = ChangeRef {
            project: "openstack/nova".into(),
            number: 912345,
        };
        assert_eq!(
            change_endpoint(&base, &change, &["revisions", "3", "review"]).as_str(),
            "https://review.example.org/gerrit/a/changes/openstack%2Fnova~912345/revisions/3/review"
        );
        let bare = base_url("https://review.example.org").unwrap();
        assert_eq!(
            change_endpoint(&bare, &change, &["messages"]).as_str(),
            "https://review.example.org/a/changes/openstack%2Fnova~912345/messages"
        );
    }

    #[test]
    fn xssi_prefix_is_stripped() {
        let info: ChangeInfo = parse_json(")]}'\n{\"status\": \"MERGED\"}", "ChangeInfo").unwrap();
        assert!(info.is_closed());
        let info: ChangeInfo = parse_json("{\"status\": \"NEW\"}", "ChangeInfo").unwrap();
        assert!(!info.is_closed());
        let r: ReviewResult = parse_json(")]}'\n{}", "ReviewResult").unwrap();
        assert!(r.labels.is_empty());
    }

    #[test]
    fn current_patchset_from_either_field() {
        let info: ChangeInfo = parse_json(
            ")]}'\n{\"status\":\"NEW\",\"current_revision\":\"abc\",\"revisions\":{\"abc\":{\"_number\":4}}}",
            "ChangeInfo",
        )
        .unwrap();
        assert_eq!(info.current_patchset(), Some(4));
    }

    #[test]
    fn urls_with_credentials_are_refused_without_echoing_them() {
        let err = base_url("https://bot:hunter2@review.example.org")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("credentials") && !err.contains("hunter2"),
            "{err}"
        );
        assert!(base_url("ftp://review.example.org").is_err());
        assert!(base_url("https://review.example.org/?x=1").is_err());
    }
}
