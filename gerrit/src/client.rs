//! The few Gerrit REST calls `perfkit review` makes (Documentation/
//! rest-api-changes: Get Change, List Change Messages, Set Review;
//! rest-api-accounts: Get Account `self`), with what every client of
//! Gerrit needs: `/a/` paths with HTTP basic auth, the `)]}'` line before
//! JSON stripped, `text/plain` errors turned into one-line messages with a
//! hint, and bounded retries with backoff (perfkit-http's [`RetryPolicy`]).
//! Reads are retried after any failure without an answer, 429 and 5xx.
//! The review POST is not idempotent: it is sent again only when Gerrit
//! provably did not take it (no connection, or 429/503); after a timeout
//! or another 5xx it may still land, so the messages are watched for it
//! instead. The secret never reaches a message or a log line.

use std::collections::BTreeMap;
use std::time::Duration;

use perfkit_http::retry::{Failed, Failure, Repeat, RetryPolicy, Stopped, error_chain};
use perfkit_http::{DisplaySafeUrl, Problem, UrlArgError};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

pub use crate::api::{AccountInfo, ChangeMessageInfo};
use crate::credentials::{Credentials, WHERE};

/// Attempts per request: the first and three retries; backoff before retry
/// n (0-based) 500 ms × 2ⁿ, unless the server says when (`Retry-After`),
/// at most 30 s.
const RETRY: RetryPolicy = RetryPolicy {
    attempts: 4,
    first_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(30),
};
/// Server text quoted in an error, at most.
const QUOTED_CHARS: usize = 300;
/// How long the messages are watched for a review POST that got no answer
/// (in [`CONFIRM_POLLS`] looks, each wait twice the last), unless
/// [`CONFIRM_ENV`] says otherwise.
const CONFIRM_BUDGET: Duration = Duration::from_secs(30);
const CONFIRM_POLLS: u32 = 5;
/// Seconds to watch instead of [`CONFIRM_BUDGET`] (tests set it short).
const CONFIRM_ENV: &str = "PERFKIT_GERRIT_CONFIRM_SECONDS";

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
    /// An attempt got no answer (or a 5xx), and the messages show it
    /// landed anyway: posting again would duplicate it.
    FoundAfterRetry,
}

/// A Gerrit server and the account perfkit acts as.
pub struct Gerrit {
    http: reqwest::Client,
    base: DisplaySafeUrl,
    credentials: Credentials,
    confirm_budget: Duration,
}

/// Whether `--gerrit` may be plain `http://` on another host than this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainHttp {
    /// Refused: the account's password would cross the network in clear.
    Refuse,
    /// The operator said so (`--allow-plain-http`), e.g. behind a TLS proxy.
    Allow,
}

/// `--gerrit` checked: an http(s) URL without credentials, query or
/// fragment; plain `http://` only on the loopback interface, where the
/// password never leaves the machine, or when `plain_http` allows it.
pub fn base_url(raw: &str, plain_http: PlainHttp) -> anyhow::Result<DisplaySafeUrl> {
    let hint = "pass the server's web address, e.g. `--gerrit https://review.opendev.org`";
    let url = DisplaySafeUrl::http_arg("--gerrit", raw).map_err(|e| match e {
        UrlArgError::Credentials { .. } => Problem::new(e.to_string(), WHERE),
        _ => Problem::new(e.to_string(), hint),
    })?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Problem::new("`--gerrit` must not have a query or fragment", hint).into());
    }
    if url.scheme() == "http" && !is_loopback(&url) && plain_http == PlainHttp::Refuse {
        return Err(Problem::new(
            format!(
                "`--gerrit {url}` is plain http: the Gerrit password would cross the network unencrypted"
            ),
            "use the server's https:// address; if the connection is protected otherwise (a local TLS proxy, a VPN), pass --allow-plain-http",
        )
        .into());
    }
    Ok(url)
}

fn is_loopback(url: &DisplaySafeUrl) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One request's outcome: Gerrit's answer, or why there is none and
/// whether sending it again is safe ([`Failure`]).
type Attempt = Result<String, Failed<anyhow::Error>>;

impl Gerrit {
    pub fn new(base: DisplaySafeUrl, credentials: Credentials) -> anyhow::Result<Gerrit> {
        if base.scheme() == "http" && !is_loopback(&base) {
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
            confirm_budget: confirm_budget(),
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

    /// Get Account `self`: the `_account_id` of the account perfkit acts as.
    pub async fn account_id(&self, change: &ChangeRef) -> anyhow::Result<u64> {
        let url = api_endpoint(&self.base, &["accounts", "self"]);
        let text = self.with_retries(Method::GET, url, None, change).await?;
        parse_json::<AccountInfo>(&text, "AccountInfo")?
            .account_id
            .ok_or_else(|| {
                anyhow::Error::new(Problem::new(
                    format!(
                        "Gerrit's AccountInfo of account `{}` has no `_account_id`",
                        perfkit_schema::shown(&self.credentials.user)
                    ),
                    "is `--gerrit` the Gerrit server's base URL?",
                ))
            })
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

    /// Set Review with `body` (a ReviewInput). A POST is not idempotent:
    /// it is sent again only after Gerrit refused it (429, 503) or could
    /// not be reached, and `landed` (which reads the messages) decides
    /// first whether it is there after all. After an attempt that was sent
    /// but got no answer, it is never sent again: see [`Gerrit::confirm`].
    pub async fn post_review(
        &self,
        change: &ChangeRef,
        patchset: u32,
        body: &str,
        landed: impl Fn(&[ChangeMessageInfo]) -> bool,
    ) -> anyhow::Result<Posted> {
        let ps = patchset.to_string();
        let url = self.endpoint(change, &["revisions", &ps, "review"]);
        let posted = RETRY
            .run(Repeat::NotIdempotent, async |attempt| {
                // Sent again only after Gerrit refused it: is it there after all?
                if attempt > 0 && landed(&self.messages(change).await.map_err(Failed::final_error)?)
                {
                    return Ok(Posted::FoundAfterRetry);
                }
                let text = self
                    .attempt(Method::POST, url.clone(), Some(body), change)
                    .await?;
                let result = parse_json(&text, "ReviewResult").map_err(Failed::final_error)?;
                Ok(Posted::Accepted(result))
            })
            .await;
        match posted {
            Ok(posted) => Ok(posted),
            Err(Stopped::Unsure(why)) => self.confirm(change, &why.to_string(), &landed).await,
            Err(stopped) => Err(gave_up(stopped)),
        }
    }

    /// After a review POST that Gerrit may still act on: look for it in
    /// the messages a few times, each wait twice the last, within the
    /// confirmation budget; if it never shows, stop rather than risk a
    /// second message (and vote). A rerun is safe: it posts only what is
    /// not on the change yet.
    async fn confirm(
        &self,
        change: &ChangeRef,
        why: &str,
        landed: impl Fn(&[ChangeMessageInfo]) -> bool,
    ) -> anyhow::Result<Posted> {
        let url = self.endpoint(change, &["messages"]);
        let mut unread = None;
        for delay in confirm_waits(self.confirm_budget) {
            tracing::info!(
                "{}; looking for the review on {change} in {:.1} s",
                perfkit_schema::shown(why),
                delay.as_secs_f64()
            );
            tokio::time::sleep(delay).await;
            // One look per wait: a failed read is just a look that saw nothing.
            unread = match self.attempt(Method::GET, url.clone(), None, change).await {
                Ok(text) => {
                    match parse_json::<Vec<ChangeMessageInfo>>(&text, "list of ChangeMessageInfo") {
                        Ok(messages) if landed(&messages) => return Ok(Posted::FoundAfterRetry),
                        Ok(_) => None,
                        Err(e) => Some(e.to_string()),
                    }
                }
                Err(failed) => Some(failed.error.to_string()),
            };
        }
        Err(Problem::new(
            format!(
                "{}; the review is not on {change} after {} s{}: the review may have been posted; run perfkit review again to check",
                perfkit_schema::shown(why),
                self.confirm_budget.as_secs_f64(),
                unread
                    .map(|e| format!(
                        " (reading its messages failed: {})",
                        perfkit_schema::shown(&e)
                    ))
                    .unwrap_or_default()
            ),
            "Gerrit may still store it; a new run reads the change's messages and posts only what is not there",
        )
        .into())
    }

    /// A read under [`RETRY`]: sending it again is harmless.
    async fn with_retries(
        &self,
        method: Method,
        url: Url,
        body: Option<&str>,
        change: &ChangeRef,
    ) -> anyhow::Result<String> {
        RETRY
            .run(Repeat::Idempotent, async |_| {
                self.attempt(method.clone(), url.clone(), body, change)
                    .await
            })
            .await
            .map_err(gave_up)
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
                return Err(Failed {
                    failure: Failure::of_error(&e),
                    error: anyhow::anyhow!("{method} failed: {}", error_chain(&e)),
                });
            }
        };
        let status = response.status();
        let failure = Failure::of_status(status, response.headers());
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => {
                return Err(Failed {
                    failure: Failure::Unanswered { retry_after: None },
                    error: anyhow::anyhow!(
                        "{method} {url}: {status}, then reading the answer failed: {e}"
                    ),
                });
            }
        };
        tracing::debug!("{method} {url}: {status}");
        if status.is_success() {
            return Ok(text);
        }
        let quoted = self.quote(&text);
        // Gerrit answers 429 and 503 before doing anything; a 500, or a
        // proxy's 502/504, may come while or after the request is acted on.
        let error = match failure {
            Failure::Final => self.refusal(&method, status, &quoted, location.as_deref(), change),
            _ => anyhow::anyhow!("{method} {url}: {status}: {quoted}"),
        };
        Err(Failed { failure, error })
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
        let user = perfkit_schema::shown(&self.credentials.user);
        let source = &self.credentials.source;
        let base = &self.base;
        match status.as_u16() {
            401 => Problem::new(
                format!("{base} rejected the credentials of account `{user}` (from {source}): {status}"),
                format!("use the account's HTTP password or token (Gerrit: Settings → HTTP Credentials), not its web login password; {WHERE}"),
            ),
            403 => Problem::new(
                format!(
                    "account `{user}` may not {} {change} on {base}: {status}: {quoted}",
                    if posting { "review" } else { "read" },
                ),
                format!(
                    "the account needs permission to comment on the project's changes{}; ask the project's Gerrit administrators",
                    if posting {
                        " (and to vote on the label given with --vote)"
                    } else {
                        ""
                    }
                ),
            ),
            404 => Problem::new(
                format!(
                    "{change}{} not found on {base}: {status}: {quoted}",
                    if posting { " or its patchset" } else { "" }
                ),
                format!("check --gerrit, --project, --change and --patchset; Gerrit also answers 404 for a change account `{user}` may not see"),
            ),
            409 => Problem::new(
                format!("{base} refused the review of {change}: {status}: {quoted}"),
                "the change is closed, or the patchset is a change edit",
            ),
            300..=399 => Problem::new(
                format!(
                    "{base} redirected the request ({status}){}",
                    location
                        .map(|l| format!(" to {}", perfkit_schema::shown(l)))
                        .unwrap_or_default()
                ),
                "pass the Gerrit URL the server redirects to as `--gerrit`",
            ),
            _ => Problem::new(
                format!("{base} refused {method} for {change}: {status}: {quoted}"),
                "Gerrit's answer above says why; `-vv` shows each request",
            ),
        }
        .into()
    }

    /// Server text for an error line: the password blanked out should a
    /// server ever echo it (first: a cut could leave a piece of it), then
    /// one line, bounded.
    fn quote(&self, text: &str) -> String {
        let secret = self.credentials.password();
        let scrubbed = if secret.is_empty() {
            text.to_string()
        } else {
            text.replace(secret, "***")
        };
        let one_line: String = scrubbed
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(QUOTED_CHARS)
            .collect();
        if one_line.is_empty() {
            "(no text)".to_string()
        } else {
            one_line
        }
    }
}

/// See [`Gerrit::endpoint`].
pub fn change_endpoint(base: &Url, change: &ChangeRef, tail: &[&str]) -> Url {
    let id = format!("{}~{}", change.project, change.number);
    let mut segments = vec!["changes", id.as_str()];
    segments.extend(tail);
    api_endpoint(base, &segments)
}

/// `<base>/a/<segments…>`, each a path segment (so a `/` in one is `%2F`).
fn api_endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("an http(s) URL has a path")
        .pop_if_empty()
        .push("a")
        .extend(segments);
    url
}

/// The confirmation budget: [`CONFIRM_ENV`] seconds, else [`CONFIRM_BUDGET`].
fn confirm_budget() -> Duration {
    let Ok(raw) = std::env::var(CONFIRM_ENV) else {
        return CONFIRM_BUDGET;
    };
    match raw.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.0..=3600.0).contains(&seconds) => {
            Duration::from_secs_f64(seconds)
        }
        _ => {
            tracing::warn!(
                "{CONFIRM_ENV}={} is not a number of seconds (0 to 3600): using {} s",
                perfkit_schema::shown(&raw),
                CONFIRM_BUDGET.as_secs()
            );
            CONFIRM_BUDGET
        }
    }
}

/// [`CONFIRM_POLLS`] waits, each twice the last, adding up to `budget`.
fn confirm_waits(budget: Duration) -> impl Iterator<Item = Duration> {
    let parts = 2u32.pow(CONFIRM_POLLS) - 1;
    (0..CONFIRM_POLLS).map(move |i| budget * 2u32.pow(i) / parts)
}

/// Gerrit's JSON after its `)]}'` line (which guards against XSSI).
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> anyhow::Result<T> {
    let json = text.strip_prefix(")]}'").unwrap_or(text);
    serde_json::from_str(json).map_err(|e| {
        anyhow::Error::new(Problem::new(
            format!("Gerrit's answer is not a {what}: {e}"),
            "is `--gerrit` the Gerrit server's base URL (the one its web UI runs at)?",
        ))
    })
}

/// What stays of a request [`RETRY`] stopped sending: a final error as
/// it is; the last failure with the count of attempts and a hint.
fn gave_up(stopped: Stopped<anyhow::Error>) -> anyhow::Error {
    match stopped {
        Stopped::Final(e) | Stopped::Unsure(e) => e,
        Stopped::Exhausted { error, attempts } => Problem::new(
            format!(
                "{} (gave up after {attempts} attempts)",
                perfkit_schema::shown(&error.to_string())
            ),
            "Gerrit is unavailable or overloaded; run the same command again later, it posts at most once",
        )
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_slashes_are_encoded_in_the_change_id() {
        let base = base_url("https://review.example.org/gerrit/", PlainHttp::Refuse).unwrap();
        let change = ChangeRef {
            project: "openstack/nova".into(),
            number: 912345,
        };
        assert_eq!(
            change_endpoint(&base, &change, &["revisions", "3", "review"]).as_str(),
            "https://review.example.org/gerrit/a/changes/openstack%2Fnova~912345/revisions/3/review"
        );
        let bare = base_url("https://review.example.org", PlainHttp::Refuse).unwrap();
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

    fn client(base: &str, password: &str) -> Gerrit {
        let credentials = Credentials::new("bot".into(), password.into(), "a test".into());
        Gerrit::new(base_url(base, PlainHttp::Refuse).unwrap(), credentials).unwrap()
    }

    #[test]
    fn the_password_is_blanked_before_the_quote_is_cut() {
        let gerrit = client("http://127.0.0.1:1", "Pw-7hX2-never-shown");
        // The password straddles the cut at 300 characters.
        let text = format!("{}\n  Pw-7hX2-never-shown tail", "x".repeat(290));
        let quoted = gerrit.quote(&text);
        assert_eq!(quoted, format!("{} *** tail", "x".repeat(290)));
        assert!(!gerrit.quote(&"y".repeat(400)).contains('\n'));
        assert_eq!(gerrit.quote(&"y".repeat(400)).chars().count(), QUOTED_CHARS);
        assert_eq!(gerrit.quote(" \n"), "(no text)");
    }

    #[tokio::test]
    async fn a_request_that_never_connected_may_be_sent_again() {
        // A port nobody listens on: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let gerrit = client(&format!("http://127.0.0.1:{port}"), "pw");
        let change = ChangeRef {
            project: "p".into(),
            number: 1,
        };
        let url = gerrit.endpoint(&change, &["revisions", "1", "review"]);
        let attempt = gerrit.attempt(Method::POST, url, Some("{}"), &change).await;
        assert!(
            matches!(
                attempt,
                Err(Failed {
                    failure: Failure::NotSent,
                    ..
                })
            ),
            "{attempt:?}"
        );
    }

    #[test]
    fn confirmation_waits_double_within_the_budget() {
        let waits: Vec<Duration> = confirm_waits(Duration::from_secs(31)).collect();
        assert_eq!(waits.len(), CONFIRM_POLLS as usize);
        assert_eq!(waits[0], Duration::from_secs(1));
        assert!(waits.windows(2).all(|w| w[1] == w[0] * 2), "{waits:?}");
        let total: Duration = confirm_waits(CONFIRM_BUDGET).sum();
        assert!(total <= CONFIRM_BUDGET && total > CONFIRM_BUDGET - Duration::from_millis(1));
    }

    #[test]
    fn urls_with_credentials_are_refused_without_echoing_them() {
        let err = base_url("https://bot:hunter2@review.example.org", PlainHttp::Refuse)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("credentials") && !err.contains("hunter2"),
            "{err}"
        );
        assert!(base_url("ftp://review.example.org", PlainHttp::Refuse).is_err());
        assert!(base_url("https://review.example.org/?x=1", PlainHttp::Refuse).is_err());
    }

    #[test]
    fn plain_http_is_refused_off_this_machine_unless_allowed() {
        let err = base_url("http://review.example.org", PlainHttp::Refuse).unwrap_err();
        let problem = err
            .downcast_ref::<Problem>()
            .expect("a Problem with a hint");
        assert!(problem.to_string().contains("plain http"), "{problem}");
        let hint = problem.hint().unwrap_or_default();
        assert!(hint.contains("--allow-plain-http"), "{hint}");
        assert!(base_url("http://review.example.org", PlainHttp::Allow).is_ok());
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
            "http://127.0.0.2",
        ] {
            assert!(base_url(local, PlainHttp::Refuse).is_ok(), "{local}");
        }
        // A name that only starts like the loopback one is another host.
        assert!(base_url("http://localhost.example.org", PlainHttp::Refuse).is_err());
    }
}
