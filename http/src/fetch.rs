//! HTTP for the collector: one client with connect and read timeouts, and
//! GETs that retry with exponential backoff on what is likely to pass
//! (connection errors, timeouts, 5xx, 429 — honouring `Retry-After`),
//! while a 404 or another 4xx answers at once. Redirects are followed
//! only on the origin asked for: a job chooses its log and artifact URLs,
//! and a redirect must not take the collector to other (internal) hosts.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{ACCEPT_ENCODING, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode, Url};
use tokio::io::AsyncWriteExt;

/// Longest wait between two attempts, whatever `Retry-After` asks for.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Redirects followed for one request (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// How the collector talks HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Attempts after the first one.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// Longest silence while waiting for a response or its body.
    pub timeout: Duration,
}

/// Why a GET did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// 404 or 410: the file is not there (answered at once, not retried).
    NotFound,
    /// A status that retrying would not change (e.g. 403).
    Status(StatusCode),
    /// A redirect that was not followed: to another origin, or one too many.
    Redirect(String),
    /// What stayed after every retry: connection errors, timeouts, 5xx, 429.
    Transport(String),
    /// A local file could not be written.
    Local(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::NotFound => write!(f, "not found (404)"),
            FetchError::Status(s) => write!(f, "HTTP {s}"),
            FetchError::Transport(m) | FetchError::Redirect(m) => write!(f, "{m}"),
            FetchError::Local(m) => write!(f, "{m}"),
        }
    }
}

/// What one attempt came to.
enum Step {
    Done(Response),
    Retry(FetchError, Option<Duration>),
    Fail(FetchError),
}

/// A client plus the retry policy.
#[derive(Clone)]
pub struct Fetcher {
    client: Client,
    options: HttpOptions,
}

impl Fetcher {
    pub fn new(options: HttpOptions) -> anyhow::Result<Fetcher> {
        let client = Client::builder()
            .user_agent(concat!("perfkit/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .read_timeout(options.timeout)
            .redirect(same_origin_redirects())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        Ok(Fetcher { client, options })
    }

    /// The whole body of `url`.
    pub async fn get_bytes(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let mut attempt = 0;
        loop {
            let step = match self.send(url).await {
                Step::Done(response) => match response.bytes().await {
                    Ok(body) => return Ok(body.to_vec()),
                    Err(e) => Step::Retry(transport(&e), None),
                },
                other => other,
            };
            self.after(step, &mut attempt).await?;
        }
    }

    /// Streams `url` into `dest` (created or truncated) and returns its size.
    pub async fn download(&self, url: &Url, dest: &Path) -> Result<u64, FetchError> {
        let mut attempt = 0;
        loop {
            let step = match self.send(url).await {
                Step::Done(response) => match write_body(response, dest).await {
                    Ok(size) => return Ok(size),
                    Err(step) => step,
                },
                other => other,
            };
            self.after(step, &mut attempt).await?;
        }
    }

    /// Waits before the next attempt, or gives up with the step's error.
    async fn after(&self, step: Step, attempt: &mut u32) -> Result<(), FetchError> {
        match step {
            Step::Done(_) => Ok(()),
            Step::Fail(e) => Err(e),
            Step::Retry(e, asked) => {
                if *attempt >= self.options.retries {
                    return Err(FetchError::Transport(format!(
                        "{e} (after {} attempts)",
                        *attempt + 1
                    )));
                }
                let backoff = self.options.backoff.saturating_mul(1 << (*attempt).min(16));
                let wait = asked.unwrap_or(backoff).max(backoff).min(MAX_BACKOFF);
                tracing::info!("{e}; retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                *attempt += 1;
                Ok(())
            }
        }
    }

    async fn send(&self, url: &Url) -> Step {
        let request = self
            .client
            .get(url.clone())
            // Log servers may store compressed files; ask for the bytes as they are.
            .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Step::Retry(transport(&e), None),
        };
        let status = response.status();
        if status.is_success() {
            return Step::Done(response);
        }
        if status.is_redirection() {
            return Step::Fail(unfollowed(&response));
        }
        if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
            return Step::Fail(FetchError::NotFound);
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Step::Retry(FetchError::Status(status), retry_after(&response));
        }
        Step::Fail(FetchError::Status(status))
    }
}

/// Follows redirects that stay on the first URL's origin (scheme, host,
/// port); stops at any other, leaving the 3xx answer to [`unfollowed`].
fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt| {
        // `previous` starts with the URL first asked for.
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Why a 3xx answer was not followed, naming the target's origin only.
fn unfollowed(response: &Response) -> FetchError {
    let status = response.status();
    let target = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| response.url().join(l).ok());
    FetchError::Redirect(match target {
        Some(t) if t.origin() != response.url().origin() => format!(
            "HTTP {status}: redirected to {}, another origin (not followed)",
            t.origin().ascii_serialization()
        ),
        Some(_) => format!("HTTP {status}: more than {MAX_REDIRECTS} redirects"),
        None => format!("HTTP {status} without a usable Location"),
    })
}

async fn write_body(mut response: Response, dest: &Path) -> Result<u64, Step> {
    let local = |e: std::io::Error| {
        Step::Fail(FetchError::Local(format!(
            "cannot write `{}`: {e}",
            dest.display()
        )))
    };
    let mut file = tokio::fs::File::create(dest).await.map_err(local)?;
    let mut size = 0u64;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                size += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(local)?;
            }
            Ok(None) => break,
            Err(e) => return Err(Step::Retry(transport(&e), None)),
        }
    }
    file.flush().await.map_err(local)?;
    Ok(size)
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs; ignored).
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A transport error in one line: reqwest's message plus its innermost cause.
fn transport(e: &reqwest::Error) -> FetchError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transfer failed"
    };
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let detail = cause.to_string();
    FetchError::Transport(if detail == e.to_string() || detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    })
}
