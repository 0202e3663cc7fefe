//! HTTP for the collector: one client with connect and read timeouts, and
//! GETs that are retried by the shared [`RetryPolicy`] (connection errors,
//! timeouts, 5xx, 429 — honouring `Retry-After`), while a 404 or another
//! 4xx answers at once. Redirects are followed only on the origin asked
//! for: a job chooses its log and artifact URLs, and a redirect must not
//! take the collector to other (internal) hosts.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{ACCEPT_ENCODING, HeaderValue, LOCATION};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode, Url};
use tokio::io::AsyncWriteExt;

use crate::retry::{Failed, Failure, Repeat, RetryPolicy, Stopped, error_chain};

/// Redirects followed for one request (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// How the collector talks HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// How often a GET is sent, and the waits between.
    pub retry: RetryPolicy,
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

/// One attempt's failure.
type Attempt<T> = Result<T, Failed<FetchError>>;

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
        self.retrying(async |_| {
            let response = self.send(url).await?;
            match response.bytes().await {
                Ok(body) => Ok(body.to_vec()),
                Err(e) => Err(transport(&e)),
            }
        })
        .await
    }

    /// Streams `url` into `dest` (created or truncated) and returns its size.
    pub async fn download(&self, url: &Url, dest: &Path) -> Result<u64, FetchError> {
        self.retrying(async |_| write_body(self.send(url).await?, dest).await)
            .await
    }

    /// `attempt` under the policy; what stays after the last retry says
    /// how many attempts were made.
    async fn retrying<T>(
        &self,
        attempt: impl AsyncFnMut(u32) -> Attempt<T>,
    ) -> Result<T, FetchError> {
        match self.options.retry.run(Repeat::Idempotent, attempt).await {
            Ok(value) => Ok(value),
            Err(Stopped::Exhausted { error, attempts }) => Err(FetchError::Transport(format!(
                "{error} (after {attempts} attempts)"
            ))),
            Err(Stopped::Final(error) | Stopped::Unsure(error)) => Err(error),
        }
    }

    async fn send(&self, url: &Url) -> Attempt<Response> {
        let request = self
            .client
            .get(url.clone())
            // Log servers may store compressed files; ask for the bytes as they are.
            .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        let response = request.send().await.map_err(|e| transport(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.is_redirection() {
            return Err(Failed::final_error(unfollowed(&response)));
        }
        if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
            return Err(Failed::final_error(FetchError::NotFound));
        }
        Err(Failed {
            failure: Failure::of_status(status, response.headers()),
            error: FetchError::Status(status),
        })
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

async fn write_body(mut response: Response, dest: &Path) -> Attempt<u64> {
    let local = |e: std::io::Error| {
        Failed::final_error(FetchError::Local(format!(
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
            Err(e) => return Err(transport(&e)),
        }
    }
    file.flush().await.map_err(local)?;
    Ok(size)
}

/// A transport error in one line: what went wrong, then the causes below
/// reqwest's own message (which repeats the URL the caller names anyway).
fn transport(e: &reqwest::Error) -> Failed<FetchError> {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transfer failed"
    };
    let detail = std::error::Error::source(e)
        .map(error_chain)
        .unwrap_or_default();
    Failed {
        failure: Failure::of_error(e),
        error: FetchError::Transport(if detail.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {detail}")
        }),
    }
}
